#include <algorithm>
#include <optional>
#include <set>

#include "cpu/cpu_kernel.h"
#include "engine/device_backend.h"
#include "engine/engine.h"
#include "engine/timing_cache.h"
#include "ops/evaluate.h"
#include "passes/float16_precision.h"
#include "passes/pass.h"
#include "plugin/plugin_instance.h"

#ifndef NORMRT_VERSION
#define NORMRT_VERSION "0.0.0"
#endif

namespace normrt {

void check_supported_ops(const Graph& graph) {
  // op key -> node names, in first-use order
  std::vector<std::pair<std::string, std::vector<std::string>>> missing;
  for (const Node& node : graph.nodes) {
    if (find_schema(node)) continue;
    std::string domain = node.domain.empty() ? "ai.onnx" : node.domain;
    int64_t version = graph.opset(node.domain);
    std::string key = "'" + node.op_type + "' (domain " + domain + ", opset " + std::to_string(version) + ")";
    auto it = std::find_if(missing.begin(), missing.end(), [&](const auto& m) { return m.first == key; });
    if (it == missing.end()) missing.push_back({key, {node.name}});
    else it->second.push_back(node.name);
  }
  if (missing.empty()) return;
  std::string message = missing.size() == 1 ? "the model uses an op normrt does not support: "
                                            : "the model uses " + std::to_string(missing.size()) +
                                                  " ops normrt does not support: ";
  for (size_t i = 0; i < missing.size(); ++i) {
    const auto& [key, nodes] = missing[i];
    message += (i ? "; " : "") + key + " used by " + std::to_string(nodes.size()) + " node" +
               (nodes.size() > 1 ? "s" : "") + " (" + nodes[0] + (nodes.size() > 1 ? ", ..." : "") + ")";
  }
  bool custom = false;
  for (const Node& node : graph.nodes)
    if (!find_schema(node) && node.domain != "" && node.domain != "ai.onnx" && node.domain != "ai.onnx.ml" &&
        node.domain != kNormrtDomain)
      custom = true;
  if (custom)
    message += std::string(". Ops of other domains are custom ops: load the plugin library that provides them first, ") +
               plugin_load_hint();
  else
    message += ". Standard ONNX ops missing here are normrt bugs to report; custom ops can be provided as plugins";
  throw Error(ErrorCode::kUnsupportedOp, message);
}

namespace {

std::map<std::string, Shape> corner_shapes(const Profile& profile, Dims ShapeRange::*corner) {
  std::map<std::string, Shape> shapes;
  for (const auto& [name, range] : profile.inputs) shapes[name] = Shape::from_dims(range.*corner);
  return shapes;
}

std::string describe_shapes(const Profile& profile, Dims ShapeRange::*corner) {
  std::string s;
  for (const auto& [name, range] : profile.inputs) s += (s.empty() ? "" : ", ") + name + ":" + dims_to_string(range.*corner);
  return s;
}

}  // namespace

std::string resolve_layout(const BuildOptions& options) {
  if (options.layout == "nchw" || options.layout == "nhwc") return options.layout;
  if (options.layout != "auto")
    throw Error(ErrorCode::kInvalidArgument,
                "layout '" + options.layout + "' is unknown; use auto, nchw (ONNX's channels-first) or nhwc");
  // Measured (bench/results/h200-2026-11-26-networks-nhwc.md): channels-last is faster for tensor-core
  // convolutions (float16, tf32) and slower for strict float32, whose FMA kernels prefer NCHW.
  return options.device == "cuda" && (options.precision == "float16" || options.precision == "tf32") ? "nhwc" : "nchw";
}

std::shared_ptr<Engine> build_engine(Graph graph, const BuildOptions& options) {
  // The device first: a build for a GPU that cannot run here fails before any work, saying why.
  const DeviceBackend* backend = options.device == "cpu" ? nullptr : &device_backend(options.device);
  if (!backend && options.precision != "float32")
    throw Error(ErrorCode::kInvalidArgument, "precision '" + options.precision + "' is not available on device '" +
                                                 options.device + "': the CPU backend computes in float32 only; "
                                                 "build with precision float32");
  if (backend && options.precision != "float32" && options.precision != "float16" && options.precision != "tf32")
    throw Error(ErrorCode::kInvalidArgument, "precision '" + options.precision + "' is not available on device '" +
                                                 options.device + "': build with precision float32, tf32 (--tf32) "
                                                 "or float16 (--fp16)");
  if (!backend && !options.timing_cache.empty())
    throw Error(ErrorCode::kInvalidArgument, "a timing cache ('" + options.timing_cache + "') is for GPU builds: the "
                                             "CPU backend times nothing; build with --device cuda, or leave out "
                                             "--timing-cache");
  // Read before any work, so that a bad file fails the build at once.
  std::optional<TimingCache> cache;
  if (!options.timing_cache.empty()) cache = TimingCache::load(options.timing_cache);
  const std::string layout = resolve_layout(options);
  PluginRegistry::global().raise_deferred_errors();
  check_supported_ops(graph);
  auto engine = std::make_shared<Engine>();
  engine->device = options.device;
  engine->precision = options.precision;
  engine->normrt_version = NORMRT_VERSION;
  engine->source_name = options.source_name;
  engine->profiles = resolve_profiles(graph, options.profiles);
  optimize(graph, engine->build_report);
  // What the device passes ask before writing a node only a device kernel runs.
  const NodeAccept device_has_kernel = [&](const Node& node, const std::vector<TypeShape>& inputs) {
    return backend && backend->has_kernel(node, graph.opset(node.domain), inputs);
  };
  if (backend) {
    // Linear layers' bias into the GEMM where the device has the kernel (the CPU keeps oneDNN's MatMul).
    fuse_matmul_bias(graph, engine->build_report, device_has_kernel);
    graph.verify();
  }
  if (options.precision == "float16") {
    // Nodes whose float16 form the device has a kernel for compute in float16; the others keep float32.
    lower_to_float16(graph, [backend](const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) {
      return backend->supports_float16(node, opset, inputs);
    }, engine->build_report);
  }
  if (layout == "nhwc") {
    // On the CPU every channels-last node runs its reference kernel (a layout for testing, not for speed).
    convert_to_channels_last(graph, engine->build_report, [&](const Node& node, const std::vector<TypeShape>& inputs) {
      const int64_t opset = graph.opset(node.domain);
      return !backend || backend->has_kernel(node, opset, inputs);
    });
  }
  if (backend) {
    // Attention as one kernel that never stores the scores, where the device has it. Its float32 form computes on
    // TF32 tensor cores, which strict float32 engines do not allow: they keep the GEMMs and the Softmax.
    fuse_attention(graph, engine->build_report, [&](const Node& node, const std::vector<TypeShape>& inputs) {
      const bool float32 = !inputs.empty() && inputs[0].dtype == DataType::kFloat32;
      return (!float32 || options.precision != "float32") && device_has_kernel(node, inputs);
    });
    graph.verify();
    // Attention's head split and merge: read and written in place by strided GEMMs.
    fold_matmul_transposes(graph, engine->build_report, device_has_kernel);
    graph.verify();
    // Residual adds after channels-last convolutions: into the convolution's epilogue.
    fuse_conv_residual(graph, engine->build_report, device_has_kernel);
    graph.verify();
    // Output channels a tensor-core convolution can take: multiples of 8.
    pad_conv_channels(graph, engine->build_report, device_has_kernel);
    graph.verify();
    // Projections of one tensor (q, k, v): one batched GEMM.
    group_matmuls(graph, engine->build_report, device_has_kernel);
    graph.verify();
  }

  // Every profile corner must give consistent, concrete shapes everywhere in the graph.
  const std::pair<const char*, Dims ShapeRange::*> corners[] = {
      {"min", &ShapeRange::min}, {"opt", &ShapeRange::opt}, {"max", &ShapeRange::max}};
  for (size_t p = 0; p < engine->profiles.size(); ++p) {
    for (const auto& [label, corner] : corners) {
      GraphTypes types;
      try {
        types = infer_graph(graph, corner_shapes(engine->profiles[p], corner));
      } catch (const Error& e) {
        throw Error(e.code(), std::string("profile ") + std::to_string(p) + " does not fit the model at its " + label +
                                  " shapes (" + describe_shapes(engine->profiles[p], corner) + "): " + e.what());
      }
      // An output whose shape is still unknown here depends on the value of an input (a Slice whose starts
      // are an input, say): legal, and computed at run time from that value.
    }
  }

  // Symbolic inference with the model's own dim names; it decides which fast kernels apply.
  GraphTypes symbolic = infer_graph(graph, {});
  for (const auto& [name, ts] : symbolic.types) {
    if (graph.is_initializer(name) || graph.find_input(name)) continue;
    graph.value_info[name] = ValueInfo{name, ts.dtype, ts.shape};
  }
  for (auto& out : graph.outputs) {
    const TypeShape& ts = symbolic.types.at(out.name);
    if (out.dtype != DataType::kUndefined && out.dtype != ts.dtype)
      throw Error(ErrorCode::kInvalidModel, "output '" + out.name + "' is declared " + dtype_name(out.dtype) +
                                                " but computes " + dtype_name(ts.dtype));
    out.dtype = ts.dtype;
    // Keep the model's declared dim names where inference lost them.
    if (!out.shape.has_rank || out.shape.rank() != ts.shape.rank()) out.shape = ts.shape;
  }
  const int64_t opset = graph.opset("");
  for (const Node& node : graph.nodes) {
    std::vector<TypeShape> inputs;
    for (const auto& in : node.inputs) inputs.push_back(in.empty() ? TypeShape{} : symbolic.types.at(in));
    const CpuKernel* kernel =
        CpuKernelRegistry::global().choose(node, node.domain.empty() ? opset : graph.opset(node.domain), inputs);
    engine->kernels.push_back(kernel ? kernel->name : "");
  }
  engine->graph = std::move(graph);
  // Plugin nodes: the op instance made from the node's attributes, with a kernel for the device.
  for (size_t i = 0; i < engine->graph.nodes.size(); ++i) {
    const Node& node = engine->graph.nodes[i];
    if (OpRegistry::global().find_builtin(node.domain, node.op_type)) continue;
    const PluginOp* op = PluginRegistry::global().find_for_node(node, engine->graph.opset(node.domain));
    if (!op) {
      check_supported_ops(engine->graph);  // names the op and how to load its plugin
      throw Error(ErrorCode::kInternal, node.describe() + " has no schema");
    }
    // On a GPU, a plugin op runs its "cuda" kernel when it has one (the backend plans it), else on the CPU.
    if (!op->kernel("cpu") && !op->kernel(engine->device))
      throw Error(ErrorCode::kUnsupportedOp, node.describe() + ": plugin op " + op->describe() +
                                                 " has no kernel for device '" + engine->device + "' (it has: " +
                                                 op->devices() + ")");
    engine->plugins.resize(engine->graph.nodes.size());
    engine->plugins[i] = PluginInstance::from_node(*op, node);
  }
  engine->prepare();
  if (backend) backend->plan(*engine, cache ? &*cache : nullptr);  // the device kernel per node, tuned per profile
  if (cache) {
    cache->save(options.timing_cache);
    engine->build_report.applied("timing cache", options.timing_cache + ": " + std::to_string(cache->hits()) +
                                                     " choices reused, " + std::to_string(cache->added()) +
                                                     " timed and added (" + std::to_string(cache->size()) +
                                                     " entries)");
  }
  return engine;
}

void Engine::prepare() {
  steps.clear();
  slots.clear();
  slot_names.clear();
  input_slots.clear();
  output_slots.clear();
  auto slot_of = [&](const std::string& name) {
    auto it = slots.find(name);
    if (it != slots.end()) return it->second;
    int s = static_cast<int>(slot_names.size());
    slots[name] = s;
    slot_names.push_back(name);
    return s;
  };
  for (const auto& in : graph.inputs) input_slots.push_back(slot_of(in.name));
  for (const auto& [name, t] : graph.initializers) slot_of(name);
  if (kernels.size() != graph.nodes.size())
    throw Error(ErrorCode::kCorruptEngine, "the engine lists " + std::to_string(kernels.size()) + " kernels for " +
                                               std::to_string(graph.nodes.size()) + " nodes");
  const int64_t opset = graph.opset("");
  std::map<int, size_t> last_reader;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& node = graph.nodes[i];
    Step step;
    step.opset = node.domain.empty() ? opset : graph.opset(node.domain);
    step.plugin = plugin(i);
    const OpSchema* schema = OpRegistry::global().find_builtin(node.domain, node.op_type);
    if (step.plugin) {
      if (schema)
        throw Error(ErrorCode::kCorruptEngine, node.describe() + " is a built-in op but the engine records plugin "
                                                   "fields for it; rebuild the engine");
      if (!kernels[i].empty())
        throw Error(ErrorCode::kCorruptEngine, "the engine uses kernel '" + kernels[i] + "' for plugin " +
                                                   node.describe() + "; rebuild the engine");
      if (step.plugin->op().domain != node.domain || step.plugin->op().name != node.op_type)
        throw Error(ErrorCode::kCorruptEngine, "the engine records plugin op " + step.plugin->op().describe() +
                                                   " for " + node.describe() + "; rebuild the engine");
    } else if (!schema) {
      check_supported_ops(graph);  // throws naming the op, its domain and how to provide it
      throw Error(ErrorCode::kCorruptEngine, node.describe() + " is a custom op but the engine records no plugin "
                                                 "for it; rebuild the engine");
    }
    if (schema) step.kernel = schema->reference;
    if (!kernels[i].empty()) {
      const CpuKernel* fast = CpuKernelRegistry::global().find(kernels[i]);
      if (!fast)
        throw Error(ErrorCode::kCorruptEngine, "the engine uses kernel '" + kernels[i] + "' for " + node.describe() +
                                                   ", which this normrt does not have; rebuild the engine");
      // A file may name any registered kernel; one written for another op must never run on this node.
      if (fast->op_type != node.op_type || fast->domain != node.domain)
        throw Error(ErrorCode::kCorruptEngine, "the engine uses kernel '" + kernels[i] + "', which implements " +
                                                   (fast->domain.empty() ? "" : fast->domain + "::") + fast->op_type +
                                                   ", for " + node.describe() + "; rebuild the engine");
      step.kernel = fast->run;
    }
    for (const auto& in : node.inputs) {
      int s = in.empty() ? -1 : slot_of(in);
      step.inputs.push_back(s);
      if (s >= 0) last_reader[s] = i;
    }
    for (const auto& out : node.outputs) step.outputs.push_back(out.empty() ? -1 : slot_of(out));
    steps.push_back(std::move(step));
  }
  for (const auto& out : graph.outputs) output_slots.push_back(slot_of(out.name));
  std::set<int> keep(output_slots.begin(), output_slots.end());
  for (const auto& [name, t] : graph.initializers) keep.insert(slots.at(name));
  for (const auto& [slot, step] : last_reader)
    if (!keep.count(slot)) steps[step].release.push_back(slot);
}

}  // namespace normrt
