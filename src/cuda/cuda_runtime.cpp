#include "cuda/cuda_runtime.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <set>
#include <shared_mutex>

#include "engine/memory_plan.h"
#include "ops/shape_util.h"
#include "plugin/plugin_instance.h"

namespace normrt {
namespace cuda {

namespace {

constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;  // cuBLAS asks for 32 MiB on Hopper

[[noreturn]] void fail(const std::string& message) { throw Error(ErrorCode::kInternal, message); }

void check_cudnn(cudnnStatus_t status, const char* what) {
  if (status != CUDNN_STATUS_SUCCESS) fail(std::string(what) + " failed: " + cudnnGetErrorString(status));
}

void check_cublas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) fail(std::string(what) + " failed: " + cublasGetStatusString(status));
}

std::string shapes_key(const std::map<std::string, Dims>& shapes) {
  std::string s;
  for (const auto& [name, dims] : shapes) s += (s.empty() ? "" : ", ") + name + ":" + dims_to_string(dims);
  return s;
}

// CUDA graph capture against everything that may synchronize the device (cudaMalloc/cudaFree, creating and
// destroying streams and library handles): one context's such call while another context's stream is being
// captured invalidates that capture (seen on the H200 with six contexts on six threads: cuBLAS then fails with
// CUBLAS_STATUS_EXECUTION_FAILED). Captures share the lock; the others take it alone.
std::shared_mutex& capture_guard() {
  static std::shared_mutex* m = new std::shared_mutex;
  return *m;
}

}  // namespace

void check_cuda(cudaError_t status, const std::string& what) {
  if (status != cudaSuccess) fail(what + " failed: " + cudaGetErrorString(status));
}

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  void* p = nullptr;
  std::unique_lock<std::shared_mutex> lock(capture_guard());
  cudaError_t status = cudaMalloc(&p, bytes);
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so that later calls do not report it
    throw Error(ErrorCode::kInternal, "cudaMalloc of " + std::to_string(bytes) + " bytes failed: " +
                                          cudaGetErrorString(status) + " (the GPU is out of memory: use smaller "
                                          "shapes, fewer execution contexts or a smaller max shape)");
  }
  data_ = std::shared_ptr<void>(p, [](void* q) {
    std::unique_lock<std::shared_mutex> free_lock(capture_guard());
    cudaFree(q);
  });
}

CudaHandles::CudaHandles() {
  {
    std::unique_lock<std::shared_mutex> lock(capture_guard());
    create();
  }
  cublas_workspace = DeviceBuffer(kCublasWorkspaceBytes);
  check_cublas(cublasSetWorkspace(cublas, cublas_workspace.data(), kCublasWorkspaceBytes), "cublasSetWorkspace");
}

void CudaHandles::create() {
  check_cuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  check_cudnn(cudnnCreate(&cudnn), "cudnnCreate");
  check_cudnn(cudnnSetStream(cudnn, stream), "cudnnSetStream");
  check_cublas(cublasCreate(&cublas), "cublasCreate");
  check_cublas(cublasSetStream(cublas, stream), "cublasSetStream");
  check_cublas(cublasLtCreate(&cublas_lt), "cublasLtCreate");
}

CudaHandles::~CudaHandles() {
  if (stream) cudaStreamSynchronize(stream);
  std::unique_lock<std::shared_mutex> lock(capture_guard());
  if (cublas_lt) cublasLtDestroy(cublas_lt);
  if (cublas) cublasDestroy(cublas);
  if (cudnn) cudnnDestroy(cudnn);
  if (stream) cudaStreamDestroy(stream);
}

// ---- weights ----

DeviceWeights::DeviceWeights(const Engine& engine, int device) {
  check_cuda(cudaSetDevice(device), "cudaSetDevice");
  // Only weights that a device node may read as device data (or a view of them) are uploaded; a weight read
  // only by CPU nodes or as a host input stays on the host.
  std::set<std::string> needed;
  for (size_t i = 0; i < engine.graph.nodes.size(); ++i) {
    const Node& node = engine.graph.nodes[i];
    std::vector<int> host_inputs;
    if (engine.runs_on_device(i))
      if (const CudaKernel* k = CudaKernelRegistry::global().find(engine.device_plan.kernels[i])) host_inputs = k->host_inputs;
    const OpSchema* schema = OpRegistry::global().find_builtin(node.domain, node.op_type);
    bool view = schema && schema->output_is_view_of_input;
    for (size_t j = 0; j < node.inputs.size(); ++j) {
      if (node.inputs[j].empty() || !engine.graph.is_initializer(node.inputs[j])) continue;
      bool device_read = engine.runs_on_device(i) &&
                         std::find(host_inputs.begin(), host_inputs.end(), static_cast<int>(j)) == host_inputs.end();
      if (device_read || (view && j == 0)) needed.insert(node.inputs[j]);
    }
  }
  for (const auto& out : engine.graph.outputs)
    if (engine.graph.is_initializer(out.name)) needed.insert(out.name);
  for (const std::string& name : needed) {
    const Tensor& t = engine.graph.initializers.at(name);
    DeviceBuffer buffer(t.nbytes());
    if (t.nbytes()) check_cuda(cudaMemcpy(buffer.data(), t.raw(), t.nbytes(), cudaMemcpyHostToDevice), "uploading weights");
    buffers_.emplace(name, std::move(buffer));
  }
}

const void* DeviceWeights::find(const std::string& name) const {
  auto it = buffers_.find(name);
  return it == buffers_.end() ? nullptr : it->second.data();
}

std::shared_ptr<const DeviceWeights> device_weights(const Engine& engine, int device) {
  Engine::DeviceResources& resources = *engine.device_resources;
  std::lock_guard<std::mutex> lock(resources.mutex);
  std::shared_ptr<void>& slot = resources.by_device[device];
  if (!slot) slot = std::make_shared<DeviceWeights>(engine, device);
  return std::static_pointer_cast<const DeviceWeights>(slot);
}

// ---- planning ----

SignaturePlan::~SignaturePlan() {
  if (graph) cudaGraphExecDestroy(graph);
  if (profiled_graph) cudaGraphExecDestroy(profiled_graph);
}

std::unique_ptr<SignaturePlan> plan_signature(const Engine& engine, const std::map<std::string, Dims>& shapes,
                                              size_t profile, const DeviceWeights& weights) {
  auto plan = std::make_unique<SignaturePlan>();
  plan->profile = profile;
  const Graph& graph = engine.graph;
  std::map<std::string, Shape> input_shapes;
  for (const auto& [name, dims] : shapes) input_shapes[name] = Shape::from_dims(dims);
  plan->types = infer_graph(graph, input_shapes);
  const size_t slot_count = engine.slot_names.size(), node_count = graph.nodes.size();
  plan->values.resize(slot_count);
  for (size_t s = 0; s < slot_count; ++s) {
    const std::string& name = engine.slot_names[s];
    auto t = plan->types.types.find(name);
    if (t == plan->types.types.end()) continue;
    if (!t->second.shape.fully_known()) {
      plan->shapes_depend_on_values = true;
      return plan;
    }
    ValuePlace& v = plan->values[s];
    v.dtype = t->second.dtype;
    v.dims = t->second.shape.concrete();
    auto known = plan->types.values.find(name);
    if (known != plan->types.values.end()) v.host = &known->second;
  }

  // How each node runs.
  plan->modes.resize(node_count);
  plan->contexts.resize(node_count);
  for (size_t i = 0; i < node_count; ++i) {
    const Node& node = graph.nodes[i];
    const Engine::Step& step = engine.steps[i];
    bool all_host = true;
    for (int out : step.outputs)
      if (out >= 0 && !plan->values[out].host) all_host = false;
    const OpSchema* schema = OpRegistry::global().find_builtin(node.domain, node.op_type);
    NodeMode mode = NodeMode::kCpu;
    if (all_host) {
      mode = NodeMode::kSkip;
    } else if (schema && schema->output_is_view_of_input && !step.plugin && !step.inputs.empty() &&
               step.inputs[0] >= 0 && step.outputs.size() == 1 && step.outputs[0] >= 0) {
      mode = NodeMode::kView;
    } else if (engine.runs_on_device(i) && step.plugin) {
      // The plugin's cuda kernel: device pointers and the stream through the same context as CUDA kernels.
      mode = NodeMode::kDevice;
      plan->contexts[i] = std::make_unique<CudaKernelContext>(node, step.opset);
    } else if (engine.runs_on_device(i)) {
      const CudaKernel* kernel = CudaKernelRegistry::global().find(engine.device_plan.kernels[i]);
      if (!kernel) fail("CUDA kernel '" + engine.device_plan.kernels[i] + "' is not registered");
      bool hosts_known = true;
      for (int h : kernel->host_inputs)
        if (h >= 0 && static_cast<size_t>(h) < step.inputs.size() && step.inputs[h] >= 0 &&
            !plan->values[step.inputs[h]].host)
          hosts_known = false;
      if (hosts_known) {
        mode = NodeMode::kDevice;
        auto ctx = std::make_unique<CudaKernelContext>(node, step.opset);
        ctx->config = engine.device_plan.configs.at(profile).at(i);
        ctx->allow_tf32 = engine.precision == "tf32";
        plan->contexts[i] = std::move(ctx);
        if (kernel->data_error) plan->checks_data = true;
      }
    }
    plan->modes[i] = mode;
    plan->has_cpu_nodes |= mode == NodeMode::kCpu;
  }

  // Which values need device memory, and where it lives: graph inputs and what running nodes produce get arena
  // buffers; views alias their source; host values read as device data are weights or uploads.
  std::vector<bool> device_read(slot_count, false);
  for (size_t i = 0; i < node_count; ++i) {
    const Engine::Step& step = engine.steps[i];
    if (plan->modes[i] == NodeMode::kView) device_read[step.inputs[0]] = true;
    if (plan->modes[i] != NodeMode::kDevice) continue;
    const CudaKernel* kernel = CudaKernelRegistry::global().find(engine.device_plan.kernels[i]);  // null: plugin
    for (size_t j = 0; j < step.inputs.size(); ++j)
      if (step.inputs[j] >= 0 && (!kernel || std::find(kernel->host_inputs.begin(), kernel->host_inputs.end(),
                                                       static_cast<int>(j)) == kernel->host_inputs.end()))
        device_read[step.inputs[j]] = true;
  }
  std::vector<int64_t> first(slot_count, 0), last(slot_count, -1);
  auto root_of = [&](int slot) { return plan->values[slot].arena_root; };
  for (int s : engine.input_slots) {
    plan->values[s].on_device = true;
    plan->values[s].arena_root = s;
    first[s] = -1;
    last[s] = -1;
  }
  auto place_host_value = [&](int s) {
    ValuePlace& v = plan->values[s];
    if (v.on_device || !v.host) return;
    v.on_device = true;
    if (const void* w = weights.find(engine.slot_names[s])) {
      v.fixed = w;
      return;
    }
    DeviceBuffer buffer(v.host->nbytes());
    if (v.host->nbytes())
      check_cuda(cudaMemcpy(buffer.data(), v.host->raw(), v.host->nbytes(), cudaMemcpyHostToDevice),
                 "uploading a host value");
    v.fixed = buffer.data();
    plan->uploads.push_back(std::move(buffer));
  };
  const int64_t end = static_cast<int64_t>(node_count);
  for (size_t i = 0; i < node_count; ++i) {
    const Engine::Step& step = engine.steps[i];
    const NodeMode mode = plan->modes[i];
    if (mode == NodeMode::kSkip) continue;
    for (size_t j = 0; j < step.inputs.size(); ++j) {
      int s = step.inputs[j];
      if (s < 0) continue;
      if (device_read[s]) place_host_value(s);
      if (root_of(s) >= 0) last[root_of(s)] = std::max<int64_t>(last[root_of(s)], static_cast<int64_t>(i));
    }
    if (mode == NodeMode::kView) {
      ValuePlace& in = plan->values[step.inputs[0]];
      ValuePlace& out = plan->values[step.outputs[0]];
      out.on_device = true;
      out.arena_root = in.arena_root;
      out.fixed = in.fixed;
      continue;
    }
    for (int s : step.outputs) {
      if (s < 0) continue;
      ValuePlace& v = plan->values[s];
      v.on_device = true;
      v.arena_root = s;
      v.fixed = nullptr;
      first[s] = static_cast<int64_t>(i);
      last[s] = std::max<int64_t>(last[s], static_cast<int64_t>(i));
    }
  }
  for (int s : engine.output_slots)
    if (root_of(s) >= 0) last[root_of(s)] = end;

  // Arena offsets by lifetime.
  std::vector<int> roots;
  std::vector<BufferLifetime> lifetimes;
  for (size_t s = 0; s < slot_count; ++s)
    if (plan->values[s].arena_root == static_cast<int>(s)) {
      roots.push_back(static_cast<int>(s));
      lifetimes.push_back(BufferLifetime{plan->values[s].nbytes(), first[s], std::max(first[s], last[s])});
    }
  MemoryPlan memory = plan_memory(lifetimes);
  plan->arena_offsets.assign(slot_count, 0);
  for (size_t r = 0; r < roots.size(); ++r) plan->arena_offsets[roots[r]] = memory.offsets[r];
  plan->arena_bytes = memory.arena_bytes;
  plan->arena_roots = std::move(roots);
  plan->lifetimes = std::move(lifetimes);

  // Kernel contexts: shapes and host values now; device pointers when bound to an arena.
  for (size_t i = 0; i < node_count; ++i) {
    CudaKernelContext* ctx = plan->contexts[i].get();
    if (!ctx) continue;
    const Engine::Step& step = engine.steps[i];
    for (int s : step.inputs) {
      DeviceValue v;
      if (s >= 0) {
        v.dtype = plan->values[s].dtype;
        v.dims = plan->values[s].dims;
        v.host = plan->values[s].host;
      }
      ctx->inputs.push_back(v);
    }
    for (int s : step.outputs) {
      DeviceValue v;
      if (s >= 0) {
        v.dtype = plan->values[s].dtype;
        v.dims = plan->values[s].dims;
      }
      ctx->outputs.push_back(v);
    }
    // Configurations tuned at several corners: the one nearest these shapes.
    if (!ctx->inputs.empty()) ctx->config = tuned_config_for(ctx->config, ctx->inputs[0].numel());
    const CudaKernel* kernel = CudaKernelRegistry::global().find(engine.device_plan.kernels[i]);
    if (kernel && kernel->workspace) plan->workspace_bytes = std::max(plan->workspace_bytes, kernel->workspace(*ctx));
  }
  return plan;
}

// ---- running ----

CudaRunner::CudaRunner(std::shared_ptr<const Engine> engine)
    : engine_(std::move(engine)),
      device_state_(engine_->graph.nodes.size()),
      cpu_state_(engine_->graph.nodes.size()) {
  check_cuda(cudaGetDevice(&device_), "cudaGetDevice");
  weights_ = device_weights(*engine_, device_);
  check_cuda(cudaEventCreate(&start_), "cudaEventCreate");
  check_cuda(cudaEventCreate(&stop_), "cudaEventCreate");
  check_cuda(cudaEventCreate(&compute_start_), "cudaEventCreate");
  check_cuda(cudaEventCreate(&compute_stop_), "cudaEventCreate");
  error_flag_ = DeviceBuffer(sizeof(int));
  // The arena is sized once for the largest plan over the profiles' max shapes.
  for (size_t p = 0; p < engine_->profiles.size(); ++p) {
    std::map<std::string, Dims> shapes;
    for (const auto& [name, range] : engine_->profiles[p].inputs) shapes[name] = range.max;
    SignaturePlan& plan = plan_for(shapes);
    if (!plan.shapes_depend_on_values) reserve(plan);
  }
}

CudaRunner::~CudaRunner() {
  if (handles_.stream) cudaStreamSynchronize(handles_.stream);
  plans_.clear();
  if (start_) cudaEventDestroy(start_);
  if (stop_) cudaEventDestroy(stop_);
  if (compute_start_) cudaEventDestroy(compute_start_);
  if (compute_stop_) cudaEventDestroy(compute_stop_);
  for (cudaEvent_t e : node_events_) cudaEventDestroy(e);
}

SignaturePlan& CudaRunner::plan_for(const std::map<std::string, Dims>& shapes) {
  std::vector<Dims> key;
  for (const auto& [name, dims] : shapes) key.push_back(dims);
  auto it = plans_.find(key);
  if (it != plans_.end()) return *it->second;
  size_t profile = select_profile(engine_->profiles, shapes);
  std::unique_ptr<SignaturePlan> plan;
  try {
    plan = plan_signature(*engine_, shapes, profile, *weights_);
  } catch (const Error& e) {
    throw Error(e.code(), "planning the CUDA run for shapes " + shapes_key(shapes) + ": " + e.what());
  }
  return *plans_.emplace(std::move(key), std::move(plan)).first->second;
}

void CudaRunner::reserve(const SignaturePlan& plan) {
  bool grow_arena = plan.arena_bytes > arena_.bytes(), grow_workspace = plan.workspace_bytes > workspace_.bytes();
  if (!grow_arena && !grow_workspace) return;
  check_cuda(cudaStreamSynchronize(handles_.stream), "cudaStreamSynchronize");
  if (grow_arena) arena_ = DeviceBuffer(plan.arena_bytes);
  if (grow_workspace) workspace_ = DeviceBuffer(plan.workspace_bytes);
  // Captured graphs hold the old addresses.
  for (auto& [key, p] : plans_) {
    if (p->graph) {
      cudaGraphExecDestroy(p->graph);
      p->graph = nullptr;
      p->runs = std::min(p->runs, 1);
    }
    if (p->profiled_graph) {
      cudaGraphExecDestroy(p->profiled_graph);
      p->profiled_graph = nullptr;
    }
  }
}

void* CudaRunner::device_pointer(const SignaturePlan& plan, int slot) const {
  const ValuePlace& v = plan.values[slot];
  if (v.arena_root >= 0) return static_cast<char*>(arena_.data()) + plan.arena_offsets[v.arena_root];
  return const_cast<void*>(v.fixed);
}

void CudaRunner::bind(SignaturePlan& plan) {
  for (size_t i = 0; i < plan.contexts.size(); ++i) {
    CudaKernelContext* ctx = plan.contexts[i].get();
    if (!ctx) continue;
    const Engine::Step& step = engine_->steps[i];
    for (size_t j = 0; j < step.inputs.size(); ++j)
      ctx->inputs[j].data = step.inputs[j] >= 0 && plan.values[step.inputs[j]].on_device
                                ? device_pointer(plan, step.inputs[j])
                                : nullptr;
    for (size_t j = 0; j < step.outputs.size(); ++j)
      ctx->outputs[j].data = step.outputs[j] >= 0 ? device_pointer(plan, step.outputs[j]) : nullptr;
    ctx->stream = handles_.stream;
    ctx->cudnn = handles_.cudnn;
    ctx->cublas = handles_.cublas;
    ctx->cublas_lt = handles_.cublas_lt;
    ctx->workspace = workspace_.data();
    ctx->workspace_bytes = workspace_.bytes();
    ctx->state = &device_state_[i];
    ctx->error_flag = static_cast<int*>(error_flag_.data());
    ctx->error_code = static_cast<int>(i) + 1;
  }
}

void CudaRunner::check_data_errors(const SignaturePlan& plan) {
  if (!plan.checks_data || !host_error_flag_) return;
  const size_t i = static_cast<size_t>(host_error_flag_ - 1);
  host_error_flag_ = 0;
  if (i >= engine_->graph.nodes.size()) fail("the error flag names node " + std::to_string(i) + ", which does not exist");
  const CudaKernel* kernel = CudaKernelRegistry::global().find(engine_->device_plan.kernels[i]);
  throw Error(ErrorCode::kInvalidArgument,
              engine_->graph.nodes[i].describe() + ": " +
                  (kernel && kernel->data_error ? kernel->data_error : "the CUDA kernel found invalid input data"));
}

void CudaRunner::run_cpu_node(SignaturePlan& plan, size_t i) {
  const Engine::Step& step = engine_->steps[i];
  const Node& node = engine_->graph.nodes[i];
  check_cuda(cudaStreamSynchronize(handles_.stream), "cudaStreamSynchronize before CPU node " + node.describe());
  keep_alive_.clear();
  std::vector<Tensor> inputs(step.inputs.size());
  std::vector<const Tensor*> pointers(step.inputs.size(), nullptr);
  for (size_t j = 0; j < step.inputs.size(); ++j) {
    int s = step.inputs[j];
    if (s < 0) continue;
    const ValuePlace& v = plan.values[s];
    if (v.host) {
      pointers[j] = v.host;
      continue;
    }
    inputs[j] = Tensor(v.dtype, v.dims);
    if (inputs[j].nbytes())
      check_cuda(cudaMemcpyAsync(inputs[j].raw(), device_pointer(plan, s), inputs[j].nbytes(), cudaMemcpyDeviceToHost,
                                 handles_.stream),
                 "copying an input of CPU node " + node.describe() + " to the host");
    pointers[j] = &inputs[j];
  }
  check_cuda(cudaStreamSynchronize(handles_.stream), "cudaStreamSynchronize");
  std::vector<Tensor> outputs;
  try {
    outputs = step.plugin ? step.plugin->run(node, step.opset, pointers, "cpu")
                          : run_node(node, step.opset, pointers, step.kernel, &cpu_state_[i]);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kInternal, node.describe() + " failed: " + e.what());
  }
  for (size_t o = 0; o < outputs.size() && o < step.outputs.size(); ++o) {
    int s = step.outputs[o];
    if (s < 0) continue;
    const ValuePlace& v = plan.values[s];
    if (outputs[o].dtype() != v.dtype || outputs[o].dims() != v.dims)
      fail(node.describe() + " output " + std::to_string(o) + " is " + dims_to_string(outputs[o].dims()) +
           " on the CPU, the plan says " + dims_to_string(v.dims));
    if (outputs[o].nbytes())
      check_cuda(cudaMemcpyAsync(device_pointer(plan, s), outputs[o].raw(), outputs[o].nbytes(),
                                 cudaMemcpyHostToDevice, handles_.stream),
                 "copying an output of CPU node " + node.describe() + " to the device");
    keep_alive_.push_back(std::move(outputs[o]));
  }
}

namespace {

// A plugin node's cuda kernel on the context's device pointers and stream (outputs are in the arena with the
// shapes the plugin's infer_shapes gave when the signature was planned).
void run_plugin_on_device(const PluginInstance& plugin, const CudaKernelContext& ctx) {
  auto describe = [](const DeviceValue& v) {
    normrt_tensor t;
    std::memset(&t, 0, sizeof t);
    if (v.dtype == DataType::kUndefined) return t;
    t.dtype = static_cast<int32_t>(v.dtype);
    t.rank = static_cast<int32_t>(v.dims.size());
    t.dims = v.dims.data();
    t.data = v.data;
    return t;
  };
  std::vector<normrt_tensor> inputs, outputs;
  for (const DeviceValue& v : ctx.inputs) inputs.push_back(describe(v));
  for (const DeviceValue& v : ctx.outputs) outputs.push_back(describe(v));
  plugin.run_kernel(ctx.node.describe(), "cuda", inputs, outputs, static_cast<void*>(ctx.stream));
}

// Which nodes profiling records an event before: those that run something (each event a graph records costs the
// GPU a little time).
std::vector<bool> timed_nodes(const SignaturePlan& plan) {
  std::vector<bool> timed(plan.modes.size());
  for (size_t i = 0; i < plan.modes.size(); ++i)
    timed[i] = plan.modes[i] == NodeMode::kDevice || plan.modes[i] == NodeMode::kCpu;
  return timed;
}

}  // namespace

void CudaRunner::execute_nodes(SignaturePlan& plan, bool capturing, bool timed) {
  timed = timed && node_events_.size() == plan.modes.size() + 1;
  if (timed) node_recorded_ = timed_nodes(plan);
  // Captured, a plain record is only a dependency marker within the capture; the external flag makes it an event
  // record node that the replay records.
  const auto record = [&](cudaEvent_t event) {
    check_cuda(capturing ? cudaEventRecordWithFlags(event, handles_.stream, cudaEventRecordExternal)
                         : cudaEventRecord(event, handles_.stream),
               "cudaEventRecord");
  };
  for (size_t i = 0; i < plan.modes.size(); ++i) {
    if (timed && node_recorded_[i]) record(node_events_[i]);
    switch (plan.modes[i]) {
      case NodeMode::kSkip:
      case NodeMode::kView: break;
      case NodeMode::kCpu:
        if (capturing) fail("a CPU node cannot be captured");
        run_cpu_node(plan, i);
        break;
      case NodeMode::kDevice: {
        const CudaKernel* kernel = CudaKernelRegistry::global().find(engine_->device_plan.kernels[i]);
        try {
          if (const PluginInstance* plugin = engine_->steps[i].plugin)
            run_plugin_on_device(*plugin, *plan.contexts[i]);
          else
            kernel->run(*plan.contexts[i]);
        } catch (const Error&) {
          throw;
        } catch (const std::exception& e) {
          throw Error(ErrorCode::kInternal, engine_->graph.nodes[i].describe() + " (CUDA) failed: " + e.what());
        }
        if (!capturing) {
          cudaError_t launch = cudaGetLastError();
          if (launch != cudaSuccess)
            fail(engine_->graph.nodes[i].describe() + " (CUDA kernel " + engine_->device_plan.kernels[i] +
                 ") failed to launch: " +
                 cudaGetErrorString(launch));
        }
        break;
      }
    }
  }
  if (timed) record(node_events_.back());
}

void CudaRunner::execute(SignaturePlan& plan) {
  ++plan.runs;
  if (plan.checks_data)
    check_cuda(cudaMemsetAsync(error_flag_.data(), 0, sizeof(int), handles_.stream), "cudaMemsetAsync");
  if (profiling_) {
    // An event before every node. Eager runs would time the host as much as the GPU (the GPU waits while a
    // library call is queued), so once the signature has run eagerly, a graph with the events in it is replayed,
    // as the network runs. The events cost a little and keep a kernel from starting early under programmatic
    // dependent launch, so the nodes sum to somewhat more than a plain replay.
    if (node_events_.empty()) {
      node_events_.resize(plan.modes.size() + 1);
      for (cudaEvent_t& e : node_events_) check_cuda(cudaEventCreate(&e), "cudaEventCreate");
    }
    if (!plan.has_cpu_nodes && !plan.profiled_capture_failed && plan.runs >= 2 && !plan.profiled_graph &&
        !capture(plan, true, &plan.profiled_graph))
      plan.profiled_capture_failed = true;
    profile_replayed_ = plan.profiled_graph != nullptr;
    if (plan.profiled_graph) {
      node_recorded_ = timed_nodes(plan);  // as the capture recorded them
      check_cuda(cudaGraphLaunch(plan.profiled_graph, handles_.stream), "cudaGraphLaunch");
    } else {
      execute_nodes(plan, false, true);
    }
    return;
  }
  // First run eager (it validates the kernels); the second captures a graph; later runs replay it.
  if (!plan.has_cpu_nodes && !plan.capture_failed && plan.runs >= 2 && !plan.graph &&
      !capture(plan, false, &plan.graph))
    plan.capture_failed = true;  // the signature stays eager (correct, only slower)
  if (plan.graph) {
    check_cuda(cudaGraphLaunch(plan.graph, handles_.stream), "cudaGraphLaunch");
  } else {
    execute_nodes(plan, false, false);
  }
}

bool CudaRunner::capture(SignaturePlan& plan, bool timed, cudaGraphExec_t* out) {
  std::shared_lock<std::shared_mutex> lock(capture_guard());
  check_cuda(cudaStreamBeginCapture(handles_.stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
  cudaGraph_t graph = nullptr;
  cudaError_t status = cudaSuccess;
  try {
    execute_nodes(plan, true, timed);
  } catch (const Error&) {
    status = cudaErrorStreamCaptureInvalidated;  // a kernel failed while capturing: run eagerly instead
  }
  cudaError_t end = cudaStreamEndCapture(handles_.stream, &graph);
  if (status == cudaSuccess) status = end;
  if (status == cudaSuccess) status = cudaGraphInstantiate(out, graph, 0);
  if (graph) cudaGraphDestroy(graph);
  if (status == cudaSuccess) return true;
  cudaGetLastError();  // a kernel that fails eagerly too reports it there
  *out = nullptr;
  return false;
}

std::vector<std::pair<std::string, Tensor>> CudaRunner::run(const std::map<std::string, Tensor>& inputs) {
  check_cuda(cudaSetDevice(device_), "cudaSetDevice");
  std::map<std::string, Dims> shapes;
  for (const auto& [name, t] : inputs) shapes[name] = t.dims();
  SignaturePlan& plan = plan_for(shapes);
  last_plan_ = &plan;
  if (plan.shapes_depend_on_values) {
    // Some shape follows from an input's values (a Slice whose ends are an input, say): run on the CPU.
    if (!cpu_context_) cpu_context_ = std::make_unique<ExecutionContext>(engine_, /*on_cpu=*/true);
    timed_ = false;
    return cpu_context_->run(inputs);
  }
  reserve(plan);
  bind(plan);
  const Graph& graph = engine_->graph;
  check_cuda(cudaEventRecord(start_, handles_.stream), "cudaEventRecord");
  for (size_t i = 0; i < graph.inputs.size(); ++i) {
    const Tensor& t = inputs.at(graph.inputs[i].name);
    if (t.nbytes())
      check_cuda(cudaMemcpyAsync(device_pointer(plan, engine_->input_slots[i]), t.raw(), t.nbytes(),
                                 cudaMemcpyHostToDevice, handles_.stream),
                 "copying input '" + graph.inputs[i].name + "' to the GPU");
  }
  check_cuda(cudaEventRecord(compute_start_, handles_.stream), "cudaEventRecord");
  execute(plan);
  check_cuda(cudaEventRecord(compute_stop_, handles_.stream), "cudaEventRecord");
  std::vector<std::pair<std::string, Tensor>> outputs;
  for (size_t i = 0; i < graph.outputs.size(); ++i) {
    int s = engine_->output_slots[i];
    const ValuePlace& v = plan.values[s];
    if (!v.on_device) {
      if (!v.host) fail("output '" + graph.outputs[i].name + "' has neither device memory nor a host value");
      outputs.emplace_back(graph.outputs[i].name, v.host->clone());
      continue;
    }
    Tensor t(v.dtype, v.dims);
    if (t.nbytes())
      check_cuda(cudaMemcpyAsync(t.raw(), device_pointer(plan, s), t.nbytes(), cudaMemcpyDeviceToHost, handles_.stream),
                 "copying output '" + graph.outputs[i].name + "' from the GPU");
    outputs.emplace_back(graph.outputs[i].name, std::move(t));
  }
  if (plan.checks_data)
    check_cuda(cudaMemcpyAsync(&host_error_flag_, error_flag_.data(), sizeof(int), cudaMemcpyDeviceToHost,
                               handles_.stream),
               "reading the error flag");
  check_cuda(cudaEventRecord(stop_, handles_.stream), "cudaEventRecord");
  check_cuda(cudaStreamSynchronize(handles_.stream), "running the engine on the GPU");
  keep_alive_.clear();
  timed_ = true;
  check_data_errors(plan);
  return outputs;
}

std::vector<std::pair<std::string, DeviceTensor>> CudaRunner::run_on_device(
    const std::map<std::string, DeviceTensor>& inputs, void* stream) {
  check_cuda(cudaSetDevice(device_), "cudaSetDevice");
  cudaStream_t caller = static_cast<cudaStream_t>(stream);
  std::map<std::string, Dims> shapes;
  for (const auto& [name, t] : inputs) {
    if (t.device != device_)
      throw Error(ErrorCode::kInvalidArgument, "input '" + name + "' is on GPU " + std::to_string(t.device) +
                                                   ", the execution context runs on GPU " + std::to_string(device_));
    if (!t.data && t.nbytes())
      throw Error(ErrorCode::kInvalidArgument, "input '" + name + "' has a null device pointer");
    shapes[name] = t.dims;
  }
  SignaturePlan& plan = plan_for(shapes);
  last_plan_ = &plan;
  if (plan.shapes_depend_on_values)
    throw Error(ErrorCode::kUnsupportedOp, "this engine's output shapes depend on input values at shapes " +
                                               shapes_key(shapes) + "; run it with host tensors (run())");
  reserve(plan);
  bind(plan);
  // Ordered after the caller's work on its stream.
  check_cuda(cudaEventRecord(start_, caller), "cudaEventRecord");
  check_cuda(cudaStreamWaitEvent(handles_.stream, start_, 0), "cudaStreamWaitEvent");
  const Graph& graph = engine_->graph;
  for (size_t i = 0; i < graph.inputs.size(); ++i) {
    const DeviceTensor& t = inputs.at(graph.inputs[i].name);
    if (t.nbytes())
      check_cuda(cudaMemcpyAsync(device_pointer(plan, engine_->input_slots[i]), t.data, t.nbytes(),
                                 cudaMemcpyDeviceToDevice, handles_.stream),
                 "copying input '" + graph.inputs[i].name + "'");
  }
  check_cuda(cudaEventRecord(compute_start_, handles_.stream), "cudaEventRecord");
  execute(plan);
  check_cuda(cudaEventRecord(compute_stop_, handles_.stream), "cudaEventRecord");
  std::vector<std::pair<std::string, DeviceTensor>> outputs;
  for (size_t i = 0; i < graph.outputs.size(); ++i) {
    int s = engine_->output_slots[i];
    const ValuePlace& v = plan.values[s];
    DeviceTensor out;
    out.dtype = v.dtype;
    out.dims = v.dims;
    out.device = device_;
    DeviceBuffer buffer(std::max<size_t>(v.nbytes(), 1));
    out.data = buffer.data();
    out.owner = std::shared_ptr<void>(buffer.data(), [buffer](void*) {});
    if (v.nbytes()) {
      if (v.on_device)
        check_cuda(cudaMemcpyAsync(out.data, device_pointer(plan, s), v.nbytes(), cudaMemcpyDeviceToDevice,
                                   handles_.stream),
                   "copying output '" + graph.outputs[i].name + "'");
      else
        check_cuda(cudaMemcpyAsync(out.data, v.host->raw(), v.nbytes(), cudaMemcpyHostToDevice, handles_.stream),
                   "copying output '" + graph.outputs[i].name + "'");
    }
    outputs.emplace_back(graph.outputs[i].name, std::move(out));
  }
  if (plan.checks_data)
    check_cuda(cudaMemcpyAsync(&host_error_flag_, error_flag_.data(), sizeof(int), cudaMemcpyDeviceToHost,
                               handles_.stream),
               "reading the error flag");
  check_cuda(cudaEventRecord(stop_, handles_.stream), "cudaEventRecord");
  if (caller) check_cuda(cudaStreamWaitEvent(caller, stop_, 0), "cudaStreamWaitEvent");
  else check_cuda(cudaStreamSynchronize(handles_.stream), "running the engine on the GPU");
  // A plan whose kernels may find invalid data waits for the flag: outputs are never handed over unchecked.
  if (plan.has_cpu_nodes || plan.checks_data)
    check_cuda(cudaStreamSynchronize(handles_.stream), "cudaStreamSynchronize");
  keep_alive_.clear();
  timed_ = true;
  check_data_errors(plan);
  return outputs;
}

std::vector<double> CudaRunner::node_ms() const {
  std::vector<double> ms;
  if (!profiling_ || node_events_.empty()) return ms;
  check_cuda(cudaEventSynchronize(node_events_.back()), "cudaEventSynchronize");
  // A node's time runs from its event to the next recorded one (the last event follows every node); nodes that
  // ran nothing have none.
  ms.assign(node_events_.size() - 1, 0.0);
  size_t next = ms.size();
  for (size_t i = ms.size(); i-- > 0;) {
    if (i >= node_recorded_.size() || !node_recorded_[i]) continue;
    float t = 0;
    check_cuda(cudaEventElapsedTime(&t, node_events_[i], node_events_[next]), "cudaEventElapsedTime");
    ms[i] = t;
    next = i;
  }
  return ms;
}

double CudaRunner::last_run_compute_ms() const {
  if (!timed_) return 0.0;
  check_cuda(cudaEventSynchronize(compute_stop_), "cudaEventSynchronize");
  float ms = 0;
  check_cuda(cudaEventElapsedTime(&ms, compute_start_, compute_stop_), "cudaEventElapsedTime");
  return ms;
}

double CudaRunner::last_run_device_ms() const {
  if (!timed_) return 0.0;
  check_cuda(cudaEventSynchronize(stop_), "cudaEventSynchronize");
  float ms = 0;
  check_cuda(cudaEventElapsedTime(&ms, start_, stop_), "cudaEventElapsedTime");
  return ms;
}

Tensor random_tensor(DataType dtype, const Dims& dims, uint32_t seed) {
  Tensor t(dtype, dims);
  if (t.nbytes()) std::memset(t.raw(), 0, t.nbytes());
  if (dtype == DataType::kFloat32 || dtype == DataType::kFloat16 || dtype == DataType::kBFloat16 ||
      dtype == DataType::kFloat64) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (int64_t i = 0; i < t.numel(); ++i) set_element_from_double(t, i, dist(rng));
  }
  return t;
}

}  // namespace cuda
}  // namespace normrt
