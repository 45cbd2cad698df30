// The CUDA DeviceBackend: registered when libnormrt_cuda.so loads (libnormrt dlopens it on first use of device
// "cuda"). Build chooses a CUDA kernel per node (or the CPU) and tunes kernels per profile on this GPU; load checks
// that the engine was planned for this GPU's architecture; contexts are CudaRunners (cuda_runtime.h).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>

#include <cublasLt.h>
#include <cudnn.h>

#include "cuda/cuda_runtime.h"
#include "cuda/launch_timing.h"
#include "engine/device_backend.h"
#include "engine/timing_cache.h"
#include "plugin/plugin_instance.h"

namespace normrt {
namespace cuda {

namespace {

// What tune() may use as scratch (the runtime allocates what the chosen configuration's workspace() asks for).
constexpr size_t kTuneWorkspaceBytes = size_t{256} << 20;

struct GpuInfo {
  int ordinal = 0;
  std::string name;
  std::string architecture;  // "9.0"
  // What a tuned choice is valid for (a timing cache's scope): the GPU, its architecture, the versions of the
  // libraries whose algorithm lists the choices index, and of the tuners here (kTunerVersion).
  std::string tuning_scope;
};

// Raise when a tune() changes what its choices mean or how it makes them: timing caches then time again.
// 2: the corners' cold-cache check times behind a hold (LaunchTimer::time_cold), and keeps other choices.
// 3: MatMulBias's tune() also times split-K variants of cuBLASLt's ranked algorithms, in a 32 MB workspace.
// 4: the convolutions' tune() skips runtime-compiled cuDNN engines and times legacy algorithms with their bias and
//    residual (a cache of version 3 may name a runtime-compiled engine, which run() no longer takes).
constexpr int kTunerVersion = 4;

GpuInfo current_gpu() {
  GpuInfo info;
  check_cuda(cudaGetDevice(&info.ordinal), "cudaGetDevice");
  cudaDeviceProp prop{};
  check_cuda(cudaGetDeviceProperties(&prop, info.ordinal), "cudaGetDeviceProperties");
  info.name = prop.name;
  info.architecture = std::to_string(prop.major) + "." + std::to_string(prop.minor);
  info.tuning_scope = info.name + "; sm " + info.architecture + "; cudnn " + std::to_string(cudnnGetVersion()) +
                      "; cublasLt " + std::to_string(cublasLtGetVersion()) + "; normrt tuners " +
                      std::to_string(kTunerVersion);
  return info;
}

void input_types(const Node& node, const GraphTypes& types, std::vector<TypeShape>* out) {
  out->clear();
  for (const auto& in : node.inputs) out->push_back(in.empty() ? TypeShape{} : types.types.at(in));
}

// What tune() chose per node at one set of input shapes (input 0's element count beside it); nodes without
// tune() or without concrete shapes get nothing.
using CornerConfigs = std::vector<std::optional<std::pair<int64_t, std::string>>>;

// Milliseconds of one run of the node with `config` with the L2 cache flushed (LaunchTimer::time_cold): in a
// network a kernel finds its weights in memory, not in the cache, and at batch 1 they are most of what it reads.
// tune()'s own timings repeat a kernel back to back with everything cached, which at the small corners favours
// configurations that re-read the weights (ResNet-50 at batch 1 ran 11% slower with them).
//
// Timed from the host straight after the flush, a run counted its library call's host work as GPU time (cuDNN's
// legacy API takes tens of microseconds to queue a convolution): the tf32 UNet's batch-1 corner then kept the opt
// corner's graph-API convolutions over its own faster legacy ones, 1.521 against 1.425 ms a run on an H200.
// `timer` runs on ctx.stream and is shared by a corner's checks, so the hold it has grown to carries over.
float cold_cache_ms(const CudaKernel& kernel, CudaKernelContext& ctx, const std::string& config, DeviceBuffer& flush,
                    LaunchTimer& timer) {
  constexpr int kRuns = 7;
  std::any state;
  ctx.state = &state;
  ctx.config = config;
  float ms = -1.0f;
  try {
    kernel.run(ctx);  // plans and warms up
    check_cuda(cudaStreamSynchronize(ctx.stream), "cudaStreamSynchronize");
    ms = timer.time_cold(
        [&] {
          kernel.run(ctx);
          return true;
        },
        flush.data(), flush.bytes(), kRuns);
  } catch (const Error&) {  // a configuration that fails here is not kept (ms stays -1)
    cudaStreamSynchronize(ctx.stream);
    cudaGetLastError();
  }
  ctx.state = nullptr;
  return ms;
}

// Where a build's tuning time went, per kernel: problems timed (not taken from the cache or a twin node) and the
// seconds each took, uploads of its inputs included. The build report says it, so a slow build can be explained.
struct TuningTime {
  int problems = 0;
  double seconds = 0;
};
using TuningTimes = std::map<std::string, TuningTime>;

// Tunes the kernels that have tune() at the given shapes of profile p: random inputs, the real weights. Where
// `reference` (the opt corner's choices) chose differently, the corner's choice is kept only if it is also
// faster than the reference's at these shapes with a cold cache.
CornerConfigs tune_at(Engine& engine, size_t p, const GpuInfo& gpu, const std::map<std::string, Shape>& shapes,
                      const CornerConfigs* reference, TimingCache* cache, TuningTimes* times) {
  CornerConfigs configs(engine.graph.nodes.size());
  GraphTypes types = infer_graph(engine.graph, shapes);
  CudaHandles handles;
  DeviceBuffer workspace(kTuneWorkspaceBytes);
  std::unique_ptr<DeviceBuffer> flush;
  std::unique_ptr<LaunchTimer> cold_timer;
  if (reference) {
    cudaDeviceProp prop{};
    check_cuda(cudaGetDeviceProperties(&prop, gpu.ordinal), "cudaGetDeviceProperties");
    flush = std::make_unique<DeviceBuffer>(2 * static_cast<size_t>(std::max(prop.l2CacheSize, 1 << 20)));
    cold_timer = std::make_unique<LaunchTimer>(handles.stream);
  }
  std::any state;
  std::map<std::string, std::string> tuned_problems;  // tuning_problem_key -> choice, at these shapes
  for (size_t i = 0; i < engine.graph.nodes.size(); ++i) {
    if (!engine.runs_on_device(i)) continue;
    const CudaKernel* kernel = CudaKernelRegistry::global().find(engine.device_plan.kernels[i]);
    if (!kernel || !kernel->tune) continue;
    const Node& node = engine.graph.nodes[i];
    bool shapes_known = true, outputs_known = true;
    for (const auto& out : node.outputs) {
      if (out.empty()) continue;
      if (!types.types.at(out).shape.fully_known()) shapes_known = false;
      if (!types.values.count(out)) outputs_known = false;
    }
    for (const auto& in : node.inputs)
      if (!in.empty() && !types.types.at(in).shape.fully_known()) shapes_known = false;
    if (!shapes_known || outputs_known) continue;  // data-dependent shapes, or shape arithmetic: nothing to tune
    // A problem tuned before at this corner (the same kernel, attributes and shapes; other weights) takes the
    // same choice without measuring again.
    std::vector<DeviceValue> problem;
    for (const auto& in : node.inputs) {
      DeviceValue v;
      if (!in.empty()) {
        v.dtype = types.types.at(in).dtype;
        v.dims = types.types.at(in).shape.concrete();
        auto known = types.values.find(in);
        if (known != types.values.end()) v.host = &known->second;
      }
      problem.push_back(v);
    }
    std::vector<DeviceValue> problem_outputs;
    for (const auto& out : node.outputs) {
      DeviceValue v;
      if (!out.empty()) {
        v.dtype = types.types.at(out).dtype;
        v.dims = types.types.at(out).shape.concrete();
      }
      problem_outputs.push_back(v);
    }
    const std::string problem_key =
        tuning_problem_key(kernel->name, node, engine.steps[i].opset, engine.precision == "tf32",
                           reference && (*reference)[i] ? (*reference)[i]->second : "", problem, problem_outputs);
    const int64_t problem_elements = problem.empty() ? 0 : problem[0].numel();
    if (auto seen = tuned_problems.find(problem_key); !problem_key.empty() && seen != tuned_problems.end()) {
      configs[i] = std::make_pair(problem_elements, seen->second);
      continue;
    }
    if (cache && !problem_key.empty())
      if (auto cached = cache->find(gpu.tuning_scope, problem_key)) {
        configs[i] = std::make_pair(problem_elements, *cached);
        tuned_problems[problem_key] = *cached;
        continue;
      }
    const auto started = std::chrono::steady_clock::now();
    CudaKernelContext ctx(node, engine.steps[i].opset);
    ctx.allow_tf32 = engine.precision == "tf32";
    std::vector<Tensor> host_inputs;
    std::vector<DeviceBuffer> buffers;
    host_inputs.reserve(node.inputs.size());
    for (size_t j = 0; j < node.inputs.size(); ++j) {
      DeviceValue v;
      if (!node.inputs[j].empty()) {
        const TypeShape& ts = types.types.at(node.inputs[j]);
        v.dtype = ts.dtype;
        v.dims = ts.shape.concrete();
        auto known = types.values.find(node.inputs[j]);
        host_inputs.push_back(known != types.values.end() ? known->second
                                                          : random_tensor(ts.dtype, v.dims, static_cast<uint32_t>(j)));
        v.host = known != types.values.end() ? &known->second : nullptr;
        buffers.emplace_back(host_inputs.back().nbytes());
        v.data = buffers.back().data();
        if (host_inputs.back().nbytes())
          check_cuda(cudaMemcpy(v.data, host_inputs.back().raw(), host_inputs.back().nbytes(), cudaMemcpyHostToDevice),
                     "uploading tuning inputs");
      }
      ctx.inputs.push_back(v);
    }
    for (const auto& out : node.outputs) {
      DeviceValue v;
      if (!out.empty()) {
        const TypeShape& ts = types.types.at(out);
        v.dtype = ts.dtype;
        v.dims = ts.shape.concrete();
        buffers.emplace_back(v.nbytes());
        v.data = buffers.back().data();
      }
      ctx.outputs.push_back(v);
    }
    ctx.stream = handles.stream;
    ctx.cudnn = handles.cudnn;
    ctx.cublas = handles.cublas;
    ctx.cublas_lt = handles.cublas_lt;
    ctx.workspace = workspace.data();
    ctx.workspace_bytes = workspace.bytes();
    state.reset();
    ctx.state = &state;
    try {
      const int64_t elements = ctx.inputs.empty() ? 0 : ctx.inputs[0].numel();
      std::string chosen = kernel->tune(ctx);
      if (reference && (*reference)[i] && (*reference)[i]->second != chosen) {
        check_cuda(cudaStreamSynchronize(handles.stream), "tuning " + node.describe());
        const std::string& fallback = (*reference)[i]->second;
        const float own = cold_cache_ms(*kernel, ctx, chosen, *flush, *cold_timer);
        const float other = cold_cache_ms(*kernel, ctx, fallback, *flush, *cold_timer);
        if (own < 0 || (other >= 0 && other <= own)) chosen = fallback;
      }
      configs[i] = std::make_pair(elements, chosen);
      if (!problem_key.empty()) tuned_problems[problem_key] = chosen;
      if (cache && !problem_key.empty()) cache->put(gpu.tuning_scope, problem_key, chosen);
    } catch (const Error& e) {
      throw Error(e.code(), "tuning " + node.describe() + " (kernel " + kernel->name + ") for profile " +
                                std::to_string(p) + " on " + gpu.name + ": " + e.what());
    }
    check_cuda(cudaStreamSynchronize(handles.stream), "tuning " + node.describe());
    TuningTime& t = (*times)[kernel->name];
    ++t.problems;
    t.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  }
  return configs;
}

// Tunes profile p at its opt shapes, then at its min and max corners where those differ (a corner's own choice
// confirmed against the opt choice with a cold cache); a node whose choices differ keeps them all, each taken at run time for the shapes nearest its corner (join_tuned_configs).
void tune_profile(Engine& engine, size_t p, const GpuInfo& gpu, TimingCache* cache, TuningTimes* times) {
  bool any = false;
  for (size_t i = 0; i < engine.graph.nodes.size(); ++i)
    if (engine.runs_on_device(i)) {
      const CudaKernel* k = CudaKernelRegistry::global().find(engine.device_plan.kernels[i]);
      any |= k && k->tune;
    }
  if (!any) return;
  std::vector<std::map<std::string, Dims>> corners;
  for (Dims ShapeRange::*corner : {&ShapeRange::opt, &ShapeRange::min, &ShapeRange::max}) {
    std::map<std::string, Dims> dims;
    for (const auto& [name, range] : engine.profiles[p].inputs) dims[name] = range.*corner;
    if (std::find(corners.begin(), corners.end(), dims) == corners.end()) corners.push_back(std::move(dims));
  }
  std::vector<std::vector<std::pair<int64_t, std::string>>> tuned(engine.graph.nodes.size());
  CornerConfigs opt;
  for (const auto& dims : corners) {
    std::map<std::string, Shape> shapes;
    for (const auto& [name, d] : dims) shapes[name] = Shape::from_dims(d);
    const CornerConfigs at = tune_at(engine, p, gpu, shapes, opt.empty() ? nullptr : &opt, cache, times);
    if (opt.empty()) opt = at;
    for (size_t i = 0; i < at.size(); ++i)
      if (at[i]) tuned[i].push_back(*at[i]);
  }
  std::vector<std::string>& configs = engine.device_plan.configs[p];
  for (size_t i = 0; i < tuned.size(); ++i) configs[i] = join_tuned_configs(tuned[i]);
}

// "62 problems timed in 41.3 s (cudnn_nhwc_conv: 40 in 37.0 s; ...)", slowest kernel first.
std::string tuning_summary(const TuningTimes& times, double total_seconds) {
  std::vector<std::pair<std::string, TuningTime>> kernels(times.begin(), times.end());
  std::sort(kernels.begin(), kernels.end(),
            [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  int problems = 0;
  std::string parts;
  char buffer[64];
  for (const auto& [name, t] : kernels) {
    problems += t.problems;
    std::snprintf(buffer, sizeof buffer, ": %d in %.1f s", t.problems, t.seconds);
    parts += (parts.empty() ? "" : "; ") + name + buffer;
  }
  std::snprintf(buffer, sizeof buffer, " problems timed in %.1f s", total_seconds);
  return std::to_string(problems) + buffer + (parts.empty() ? "" : " (" + parts + ")");
}

class CudaBackend : public DeviceBackend {
 public:
  std::string device() const override { return "cuda"; }

  void require_device() const override {
    int count = 0;
    cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
      cudaGetLastError();
      throw Error(ErrorCode::kDeviceUnavailable,
                  std::string("device 'cuda' is unavailable: no usable NVIDIA GPU (cudaGetDeviceCount: ") +
                      cudaGetErrorString(status) + "); run on a machine with an NVIDIA GPU and its driver, or build "
                      "the engine with --device cpu");
    }
    if (count == 0)
      throw Error(ErrorCode::kDeviceUnavailable, "device 'cuda' is unavailable: the CUDA driver sees no GPU; run on "
                                                 "a machine with an NVIDIA GPU, or build the engine with --device cpu");
  }

  bool has_kernel(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) const override {
    return CudaKernelRegistry::global().choose(node, opset, inputs) != nullptr;
  }

  bool supports_float16(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) const override {
    // View ops (Reshape, Squeeze, Flatten, ...) run no kernel: the runtime hands out their input's memory, of
    // any dtype. Without this the lowering kept them float32 and wrapped each in two Casts.
    const OpSchema* schema = find_schema(node);
    if (schema && schema->output_is_view_of_input) return true;
    return has_kernel(node, opset, inputs);
  }

  void plan(Engine& engine, TimingCache* cache) const override {
    GpuInfo gpu = current_gpu();
    Engine::DevicePlan& plan = engine.device_plan;
    plan.architecture = gpu.architecture;
    plan.device_name = gpu.name;
    plan.kernels.assign(engine.graph.nodes.size(), "");
    GraphTypes symbolic = infer_graph(engine.graph, {});
    std::vector<TypeShape> inputs;
    for (size_t i = 0; i < engine.graph.nodes.size(); ++i) {
      if (const PluginInstance* p = engine.plugin(i)) {
        // A plugin op with a "cuda" kernel runs it on the GPU; one without runs on the CPU.
        if (p->op().kernel(device())) plan.kernels[i] = plugin_device_kernel(device());
        continue;
      }
      const Node& node = engine.graph.nodes[i];
      input_types(node, symbolic, &inputs);
      if (const CudaKernel* k = CudaKernelRegistry::global().choose(node, engine.steps[i].opset, inputs))
        plan.kernels[i] = k->name;
    }
    plan.configs.assign(engine.profiles.size(), std::vector<std::string>(engine.graph.nodes.size()));
    TuningTimes times;
    const auto started = std::chrono::steady_clock::now();
    for (size_t p = 0; p < engine.profiles.size(); ++p) tune_profile(engine, p, gpu, cache, &times);
    engine.build_report.applied("tuning", tuning_summary(times, std::chrono::duration<double>(
                                                                     std::chrono::steady_clock::now() - started)
                                                                     .count()));
  }

  void check(const Engine& engine, const std::string& what) const override {
    const Engine::DevicePlan& plan = engine.device_plan;
    for (size_t i = 0; i < plan.kernels.size(); ++i) {
      if (plan.kernels[i].empty()) continue;
      const Node& node = engine.graph.nodes[i];
      if (const PluginInstance* p = engine.plugin(i)) {
        // The file checks that a plugin node records nothing but plugin_device_kernel(); the library loaded now
        // must still have the kernel the engine was built to use.
        if (!p->op().kernel(device()))
          throw Error(ErrorCode::kUnsupportedOp,
                      what + " runs plugin op " + p->op().describe() + " of " + node.describe() +
                          " with its cuda kernel, and the library loaded now has none (it has: " + p->op().devices() +
                          "); load the plugin library built with CUDA, or rebuild the engine with this one (the op "
                          "then runs on the CPU)");
        continue;
      }
      const CudaKernel* k = CudaKernelRegistry::global().find(plan.kernels[i]);
      if (!k)
        throw Error(ErrorCode::kCorruptEngine, what + " uses CUDA kernel '" + plan.kernels[i] + "' for " +
                                                   node.describe() + ", which this normrt does not have; rebuild the "
                                                   "engine");
      if (k->op_type != node.op_type || k->domain != node.domain)
        throw Error(ErrorCode::kCorruptEngine, what + " uses CUDA kernel '" + plan.kernels[i] + "', which implements " +
                                                   (k->domain.empty() ? "" : k->domain + "::") + k->op_type + ", for " +
                                                   node.describe() + "; rebuild the engine");
    }
    GpuInfo gpu = current_gpu();
    if (plan.architecture != gpu.architecture)
      throw Error(ErrorCode::kDeviceUnavailable,
                  what + " was built for a GPU of compute capability " + plan.architecture + " (" + plan.device_name +
                      "), and this GPU (" + gpu.name + ") has compute capability " + gpu.architecture +
                      "; rebuild the engine on this GPU");
  }

  std::unique_ptr<DeviceRunner> create_runner(std::shared_ptr<const Engine> engine) const override {
    return std::make_unique<CudaRunner>(std::move(engine));
  }

  std::string describe_device() const override {
    GpuInfo gpu = current_gpu();
    return gpu.name + " (compute capability " + gpu.architecture + ")";
  }
};

struct Registration {
  Registration() { register_device_backend(std::make_shared<CudaBackend>()); }
};
const Registration registration;

}  // namespace

}  // namespace cuda
}  // namespace normrt
