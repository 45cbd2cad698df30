// The CUDA backend's runtime: what an ExecutionContext of a cuda engine does. Weights are uploaded once per
// engine and device and shared by every context; each context owns a stream, cuDNN/cuBLAS handles bound to it,
// one device arena and a workspace. Each distinct set of input shapes (a signature) is planned once: every value's
// shape, the host values of shape arithmetic (nodes that only compute those run no kernel), which nodes run on the
// GPU, through aliases (view ops) or on the CPU (fallback, through host copies), and the arena offset of every
// device value by lifetime (src/engine/memory_plan.h). A signature's second run is captured into a CUDA graph and
// later runs replay it, unless it has CPU nodes.
#pragma once

#include <cuda_runtime_api.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cuda/cuda_kernel.h"
#include "engine/device_backend.h"
#include "engine/engine.h"
#include "engine/memory_plan.h"
#include "ops/evaluate.h"

namespace normrt {
namespace cuda {

// Throws kInternal "<what> failed: <CUDA's message>" unless status is cudaSuccess.
void check_cuda(cudaError_t status, const std::string& what);

// Device memory from cudaMalloc, freed when the last owner goes.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);
  void* data() const { return data_.get(); }
  size_t bytes() const { return bytes_; }

 private:
  std::shared_ptr<void> data_;
  size_t bytes_ = 0;
};

// Streams, handles and events of one context (or of the builder's tuning).
struct CudaHandles {
  CudaHandles();
  ~CudaHandles();
  CudaHandles(const CudaHandles&) = delete;
  CudaHandles& operator=(const CudaHandles&) = delete;
  cudaStream_t stream = nullptr;
  cudnnHandle_t cudnn = nullptr;
  cublasHandle_t cublas = nullptr;
  cublasLtHandle_t cublas_lt = nullptr;
  DeviceBuffer cublas_workspace;  // given to cuBLAS so that it never allocates while a graph is captured

 private:
  void create();
};

// The engine's weights on one device, uploaded once (every context of the engine shares them).
class DeviceWeights {
 public:
  DeviceWeights(const Engine& engine, int device);
  const void* find(const std::string& name) const;  // null for a weight no device node reads

 private:
  std::map<std::string, DeviceBuffer> buffers_;
};
std::shared_ptr<const DeviceWeights> device_weights(const Engine& engine, int device);

// How a signature runs each node.
enum class NodeMode {
  kSkip,    // every output is a host value (shape arithmetic): computed while planning
  kDevice,  // the engine's CUDA kernel
  kView,    // a view op: its output aliases its input's memory
  kCpu,     // the CPU kernel, through host copies
};

// One value at one signature.
struct ValuePlace {
  DataType dtype = DataType::kUndefined;
  Dims dims;
  const Tensor* host = nullptr;  // the value on the host when known before running (weights, shape arithmetic)
  bool on_device = false;        // whether it has device memory (below)
  int arena_root = -1;           // the slot whose arena buffer holds it (itself, or a view's source); -1: none
  const void* fixed = nullptr;   // device memory outside the arena: a weight or an uploaded host value
  size_t nbytes() const { return static_cast<size_t>(element_count(dims)) * dtype_size(dtype); }
};

struct SignaturePlan {
  size_t profile = 0;
  bool shapes_depend_on_values = false;  // some shape is unknown before running: the run goes to the CPU
  GraphTypes types;                      // owns the host values that `values[..].host` point to
  std::vector<ValuePlace> values;        // per slot
  std::vector<NodeMode> modes;           // per node
  std::vector<std::unique_ptr<CudaKernelContext>> contexts;  // per node, for kDevice nodes
  std::vector<size_t> arena_offsets;     // per slot, for arena roots
  std::vector<int> arena_roots;          // the slots with arena buffers, and their lifetimes (for tests)
  std::vector<BufferLifetime> lifetimes;
  std::vector<DeviceBuffer> uploads;     // host values read as device data
  size_t arena_bytes = 0;
  size_t workspace_bytes = 0;
  bool has_cpu_nodes = false;
  bool checks_data = false;  // some device kernel may raise the error flag (CudaKernel::data_error)
  int runs = 0;
  bool capture_failed = false;
  cudaGraphExec_t graph = nullptr;
  // Profiling: the same graph with an event recorded before each device node (node_ms), replayed while
  // profiling is on; eager timing where it cannot be captured.
  cudaGraphExec_t profiled_graph = nullptr;
  bool profiled_capture_failed = false;
  ~SignaturePlan();
};

// Plans a signature for the engine (no device memory but uploads of host values read as device data).
std::unique_ptr<SignaturePlan> plan_signature(const Engine& engine, const std::map<std::string, Dims>& shapes,
                                              size_t profile, const DeviceWeights& weights);

class CudaRunner : public DeviceRunner {
 public:
  explicit CudaRunner(std::shared_ptr<const Engine> engine);
  ~CudaRunner() override;

  std::vector<std::pair<std::string, Tensor>> run(const std::map<std::string, Tensor>& inputs) override;
  std::vector<std::pair<std::string, DeviceTensor>> run_on_device(const std::map<std::string, DeviceTensor>& inputs,
                                                                  void* stream) override;
  double last_run_device_ms() const override;
  double last_run_compute_ms() const override;
  void set_profiling(bool enabled) override { profiling_ = enabled; }
  std::vector<double> node_ms() const override;
  bool profile_replayed() const override { return profile_replayed_; }

  // For tests: the plan of the last run, and how many signatures were captured into graphs.
  const SignaturePlan* last_plan() const { return last_plan_; }
  size_t arena_bytes() const { return arena_.bytes(); }

 private:
  SignaturePlan& plan_for(const std::map<std::string, Dims>& shapes);
  void reserve(const SignaturePlan& plan);
  void bind(SignaturePlan& plan);
  void* device_pointer(const SignaturePlan& plan, int slot) const;
  // Runs the nodes on the stream (capturing or replaying when it can). Inputs are in the arena already.
  void execute(SignaturePlan& plan);
  // `timed`: an event before each node that runs something (profiling).
  void execute_nodes(SignaturePlan& plan, bool capturing, bool timed);
  // Captures execute_nodes into *graph; false (and no graph) when a kernel or the capture fails.
  bool capture(SignaturePlan& plan, bool timed, cudaGraphExec_t* graph);
  void run_cpu_node(SignaturePlan& plan, size_t node);

  std::shared_ptr<const Engine> engine_;
  int device_ = 0;
  std::shared_ptr<const DeviceWeights> weights_;
  CudaHandles handles_;
  DeviceBuffer arena_, workspace_;
  std::map<std::vector<Dims>, std::unique_ptr<SignaturePlan>> plans_;
  SignaturePlan* last_plan_ = nullptr;
  std::vector<std::any> device_state_, cpu_state_;  // per node
  std::unique_ptr<ExecutionContext> cpu_context_;   // for runs whose shapes depend on input values
  std::vector<Tensor> keep_alive_;                  // host memory of copies in flight
  // The flag kernels raise on invalid data (CudaKernelContext::error_flag), zeroed before each run and read after.
  DeviceBuffer error_flag_;
  int host_error_flag_ = 0;
  void check_data_errors(const SignaturePlan& plan);
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
  cudaEvent_t compute_start_ = nullptr, compute_stop_ = nullptr;  // around the network alone
  bool profiling_ = false;
  std::vector<cudaEvent_t> node_events_;  // profiling: one before each node and one after the last
  std::vector<bool> node_recorded_;       // which of them the last profiled run recorded
  bool profile_replayed_ = false;         // the last profiled run replayed a graph (else it ran eagerly)
  bool timed_ = false;
};

// Random data for a tensor (uniform in [-1, 1] for floats, zeros for integers and bools), for tuning.
Tensor random_tensor(DataType dtype, const Dims& dims, uint32_t seed);

}  // namespace cuda
}  // namespace normrt
