// normrt bench ENGINE --shapes=name:DxDxD,... [--iterations N] [--warmup N]: latency on random inputs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>

#include "commands.h"
#include "engine/device_backend.h"
#include "engine/engine.h"
#include "ops/shape_util.h"

namespace normrt::cli {

namespace {
struct BenchArgs {
  std::string engine, shapes;
  std::vector<std::string> plugins;
  int iterations = 50, warmup = 5;
  bool json = false;
  bool profile = false;
  int profile_nodes = 15;
};

Tensor random_input(DataType dtype, const Dims& dims, std::mt19937& rng) {
  Tensor t(dtype, dims);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (int64_t i = 0; i < t.numel(); ++i) set_element_from_double(t, i, dist(rng));
  return t;
}

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t index = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(index, v.size() - 1)];
}
// Runs again with per-node timing and prints the share of each (op, kernel) pair, largest first.
void print_profile(const std::shared_ptr<Engine>& engine, const std::map<std::string, Tensor>& inputs, int iterations,
                   int slowest) {
  ExecutionContext context(engine);
  context.run(inputs);
  context.set_profiling(true);
  for (int i = 0; i < iterations; ++i) context.run(inputs);
  std::map<std::string, std::pair<double, int>> by_kind;
  double total = 0;
  for (size_t s = 0; s < context.node_timings().size(); ++s) {
    const Node& node = engine->graph.nodes[s];
    std::string kernel = engine->kernels[s].empty() ? "reference" : engine->kernels[s];
    if (engine->device != "cpu") kernel = engine->runs_on_device(s) ? engine->device_plan.kernels[s] : "cpu " + kernel;
    std::string kind = (node.domain.empty() ? "" : node.domain + "::") + node.op_type + " [" + kernel + "]";
    by_kind[kind].first += context.node_timings()[s].total_ms / iterations;
    by_kind[kind].second += 1;
    total += context.node_timings()[s].total_ms / iterations;
  }
  std::vector<std::pair<double, std::string>> rows;
  for (const auto& [kind, v] : by_kind) rows.push_back({v.first, kind});
  std::sort(rows.rbegin(), rows.rend());
  const char* clock = engine->device == "cpu"   ? "wall clock"
                      : context.profile_replayed() ? "device events in a replayed CUDA graph, one before each node"
                                                   : "device events in eager runs (the host's queueing time included)";
  std::printf("profile: %.3f ms per run in nodes (%s)\n", total, clock);
  for (const auto& [ms, kind] : rows)
    std::printf("  %8.3f ms  %5.1f%%  %s x%d\n", ms, 100.0 * ms / total, kind.c_str(), by_kind[kind].second);
  // The slowest nodes by name: which layer of an op kind costs most.
  std::vector<std::pair<double, size_t>> nodes;
  for (size_t s = 0; s < context.node_timings().size(); ++s)
    nodes.push_back({context.node_timings()[s].total_ms / iterations, s});
  std::sort(nodes.rbegin(), nodes.rend());
  std::printf("slowest nodes:\n");
  for (size_t i = 0; i < nodes.size() && i < static_cast<size_t>(slowest); ++i) {
    const size_t s = nodes[i].second;
    const Node& node = engine->graph.nodes[s];
    // What tuning chose (first profile), so that a slow node's algorithm can be read beside its time.
    std::string config;
    if (engine->device != "cpu" && engine->runs_on_device(s) && !engine->device_plan.configs.empty() &&
        s < engine->device_plan.configs[0].size() && !engine->device_plan.configs[0][s].empty())
      config = "  [" + engine->device_plan.configs[0][s] + "]";
    std::printf("  %8.3f ms  %s%s\n", nodes[i].first, node.describe().c_str(), config.c_str());
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Measure an engine's latency on random inputs of the given shapes");
  auto args = std::make_shared<BenchArgs>();
  cmd->add_option("engine", args->engine, "a normrt engine (.nrt)")->required();
  cmd->add_option("--shapes", args->shapes, "input shapes, name:DxDxD,... (every input)")->required();
  cmd->add_option("--iterations", args->iterations, "timed runs")->check(CLI::Range(1, 1000000));
  cmd->add_option("--warmup", args->warmup,
                  "untimed runs first (the first run always happens and is reported as the cold start)")
      ->check(CLI::Range(0, 1000000));
  cmd->add_flag("--json", args->json, "print one JSON line");
  cmd->add_flag("--profile", args->profile, "also print where the time goes, per op and kernel");
  cmd->add_option("--profile-nodes", args->profile_nodes, "with --profile: how many of the slowest nodes to list")
      ->check(CLI::Range(0, 1000000));
  add_plugins_option(cmd, args->plugins);
  cmd->callback([args] {
    load_plugins(args->plugins);
    const auto load_start = std::chrono::steady_clock::now();
    auto engine = load_engine(args->engine);
    const double load_ms = ms_since(load_start);
    auto shapes = parse_shape_list(args->shapes, "--shapes");
    std::mt19937 rng(1234);
    std::map<std::string, Tensor> inputs;
    for (const auto& in : engine->graph.inputs) {
      auto it = shapes.find(in.name);
      if (it == shapes.end())
        throw Error(ErrorCode::kInvalidArgument, "--shapes gives no shape for input '" + in.name + "' " +
                                                     in.shape.to_string() + "; every input needs one");
      inputs[in.name] = random_input(in.dtype, it->second, rng);
    }
    for (const auto& [name, dims] : shapes)
      if (!inputs.count(name)) inputs[name] = Tensor(DataType::kFloat32, dims);  // run() names the unknown input
    // The first run at a shape plans it (memory, kernels, cuDNN plans): a deployment's time to first answer.
    const auto first_start = std::chrono::steady_clock::now();
    ExecutionContext context(engine);
    context.run(inputs);
    const double first_run_ms = ms_since(first_start);
    for (int i = 1; i < args->warmup; ++i) context.run(inputs);
    // On a GPU the latency is the device's, from events around the network (a replayed CUDA graph once a shape
    // has run twice), like a framework's graph replay; the end-to-end time with the host copies of inputs and
    // outputs (pageable memory) is reported beside it.
    const bool on_device = engine->device != "cpu";
    std::vector<double> ms, end_to_end;
    for (int i = 0; i < args->iterations; ++i) {
      auto start = std::chrono::steady_clock::now();
      context.run(inputs);
      double wall = ms_since(start);
      double compute = on_device ? context.last_run_compute_ms() : 0.0;
      ms.push_back(compute > 0 ? compute : wall);
      if (on_device) end_to_end.push_back(context.last_run_device_ms());
    }
    const std::string clock = on_device ? device_backend(engine->device).describe_device() + ", device events" : "host CPU, wall clock";
    double median = percentile(ms, 0.5), p90 = percentile(ms, 0.9), p99 = percentile(ms, 0.99);
    double e2e_median = on_device ? percentile(end_to_end, 0.5) : median;
    int64_t batch = inputs.begin()->second.rank() ? inputs.at(engine->graph.inputs[0].name).dims()[0] : 1;
    double throughput = 1000.0 * static_cast<double>(batch) / median;
    char line[1024];
    if (args->json)
      std::snprintf(line, sizeof line,
                    "{\"engine\": \"%s\", \"device\": \"%s\", \"clock\": \"%s\", \"median_ms\": %.4f, \"p90_ms\": %.4f, \"p99_ms\": %.4f, "
                    "\"min_ms\": %.4f, \"with_host_copies_median_ms\": %.4f, \"throughput_per_s\": %.2f, \"iterations\": %d, "
                    "\"load_ms\": %.1f, \"first_run_ms\": %.1f}",
                    args->engine.c_str(), engine->device.c_str(), clock.c_str(), median, p90, p99, *std::min_element(ms.begin(), ms.end()),
                    e2e_median, throughput, args->iterations, load_ms, first_run_ms);
    else
      std::snprintf(line, sizeof line,
                    "device %s (%s)\nlatency: median %.3f ms, p90 %.3f ms, p99 %.3f ms over %d runs%s\n"
                    "throughput: %.1f samples/s at batch %lld\n"
                    "cold start: engine load %.1f ms, first run %.1f ms (wall clock)",
                    engine->device.c_str(), clock.c_str(), median, p90, p99, args->iterations,
                    on_device ? (" (the network; with host copies of inputs and outputs: median " +
                                 std::to_string(e2e_median).substr(0, 6) + " ms)").c_str()
                              : "",
                    throughput, static_cast<long long>(batch), load_ms, first_run_ms);
    std::cout << line << "\n";
    // On a GPU the profile runs eagerly with an event before every node (a CUDA graph would time as one).
    if (args->profile) print_profile(engine, inputs, args->iterations, args->profile_nodes);
  });
}

}  // namespace normrt::cli
