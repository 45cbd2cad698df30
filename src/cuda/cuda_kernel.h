// CUDA kernels for graph nodes. Each registers here under a stable name (stored in engine files), says at build
// time which nodes it accepts, and runs one node on device memory the runtime has allocated. Ops without a
// CUDA kernel run their CPU reference kernel through host copies (the runtime's fallback), never silently: the
// engine records the choice per node and `normrt inspect` prints it.
//
// Contract between the runtime (src/cuda/runtime*) and a kernel:
//  - Every value is dense and row-major; outputs are allocated by the runtime with the shapes the op's shape
//    function gives at the run's concrete shapes, and are never aliased with inputs (except view ops, which
//    run no kernel).
//  - Inputs listed in `host_inputs` (Reshape's shape, Slice's starts, Resize's scales, ...) are guaranteed on the
//    host (`DeviceValue::host`); when such a value is not known before running, the runtime runs the node on
//    the CPU instead. Every other present input has device data.
//  - run() is asynchronous on ctx.stream and must not synchronize with the host, allocate device memory or
//    read device memory from the host, so that the runtime can capture the whole network in one CUDA graph.
//    Scratch memory comes from ctx.workspace (sized by `workspace`). Errors are thrown as normrt::Error.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <any>
#include <map>
#include <string>
#include <vector>

#include "ops/op.h"

namespace normrt {
namespace cuda {

// A value as a CUDA kernel sees it.
struct DeviceValue {
  ::normrt::DataType dtype = ::normrt::DataType::kUndefined;  // kUndefined: an omitted input
  Dims dims;
  void* data = nullptr;                      // device memory, dense row-major; null for host-only values
  const ::normrt::Tensor* host = nullptr;    // the value on the host, when known before running
  bool present() const { return dtype != ::normrt::DataType::kUndefined; }
  int64_t numel() const { return element_count(dims); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
};

class CudaKernelContext {
 public:
  CudaKernelContext(const Node& node, int64_t opset) : node(node), opset(opset) {}

  const Node& node;
  int64_t opset;
  std::vector<DeviceValue> inputs;   // one per node input
  std::vector<DeviceValue> outputs;  // one per node output, allocated (dtype kUndefined for an omitted output)
  cudaStream_t stream = nullptr;
  cudnnHandle_t cudnn = nullptr;     // bound to `stream`
  cublasHandle_t cublas = nullptr;   // bound to `stream`
  cublasLtHandle_t cublas_lt = nullptr;
  void* workspace = nullptr;         // at least the kernel's workspace() bytes for these shapes; no init
  size_t workspace_bytes = 0;
  std::string config;                // what the kernel's tune() chose at build time for this profile ("" if none)
  bool allow_tf32 = false;           // precision "tf32": float32 convolutions and matmuls may use TF32 tensor cores
  std::any* state = nullptr;         // per node and execution context, kept across runs (descriptors, plans)
  // Invalid data found on the device (an out-of-range Gather index) cannot throw there: the kernel writes
  // error_code into *error_flag (atomicCAS from 0, so the first node to fail wins) and still finishes. The
  // runtime zeroes the flag before a run and, after it, throws naming the node and the kernel's data_error.
  int* error_flag = nullptr;         // device memory; null: the caller does not check
  int error_code = 0;                // nonzero; the runtime's index of this node plus one

  const DeviceValue& in(size_t i) const;  // throws naming the node when input i is missing
  bool has_input(size_t i) const { return i < inputs.size() && inputs[i].present(); }
  DeviceValue& out(size_t i);
  // Throws a normrt::Error (kInternal) naming the node and the failing call.
  [[noreturn]] void fail(const std::string& message) const;
  void check(cudaError_t status, const char* call) const;
  void check(cudnnStatus_t status, const char* call) const;
  void check(cublasStatus_t status, const char* call) const;
};

struct CudaKernel {
  std::string name;     // stable: stored in engine files ("cudnn_conv", "cuda_binary", ...)
  std::string domain;   // of the op it implements; "" for ai.onnx
  std::string op_type;
  // Whether the kernel handles this node with these input types and (possibly partly unknown) shapes for
  // every shape the profile allows. Build time only.
  bool (*accepts)(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) = nullptr;
  void (*run)(CudaKernelContext& ctx) = nullptr;
  // Optional: scratch bytes for the concrete shapes in ctx (data pointers may be null; ctx.config is set).
  size_t (*workspace)(const CudaKernelContext& ctx) = nullptr;
  // Optional, build time on the GPU: measures and chooses a configuration (a cuDNN algorithm, say) with
  // ctx at one corner of the profile (opt, then min and max; inputs hold random data or the real weights;
  // workspace is the largest the runtime allows). The result must work for every shape of the profile; the
  // engine stores each corner's (join_tuned_configs) and each plan gets the nearest corner's as ctx.config.
  std::string (*tune)(CudaKernelContext& ctx) = nullptr;
  std::vector<int> host_inputs;  // inputs read on the host (see the contract above)
  int priority = 0;              // among kernels that accept a node, the highest priority wins
  // What it means when the kernel raised ctx.error_flag ("an index is outside the data's axis"), or null.
  const char* data_error = nullptr;
};

// Configurations tuned at several shapes of one profile (its opt, min and max corners) share the one string the
// engine stores per node and profile: "@E:config|@E:config..." with E input 0's element count at that corner. A
// plan takes the configuration tuned nearest (in ratio) to its own count: cuDNN's fastest engine for a batch of 32
// is not the fastest for a batch of 1 (split-K, tile shapes). A plain string is one configuration for every shape.
std::string join_tuned_configs(const std::vector<std::pair<int64_t, std::string>>& by_elements);
// The configuration for a node whose input 0 has `elements` elements; a malformed string reads as "" (the kernel
// then takes its safe default).
std::string tuned_config_for(const std::string& stored, int64_t elements);

// What tune() measures for a node, as a string: kernel, op, opset, TF32, the configuration it is compared with
// (`reference`, the opt corner's choice, or ""), every attribute and every input's and output's dtype and shape. Known
// floating-point inputs (weights) count by dtype and shape only, since two nodes that differ in their weights
// alone time the same; other known inputs (shapes, axes) count by value. A build tunes each distinct problem once
// (ResNet-50's repeated blocks, the UNet's mid block). "" for a node that cannot be keyed (a graph attribute),
// which is tuned on its own.
std::string tuning_problem_key(const std::string& kernel, const Node& node, int64_t opset, bool allow_tf32,
                               const std::string& reference, const std::vector<DeviceValue>& inputs,
                               const std::vector<DeviceValue>& outputs);

class CudaKernelRegistry {
 public:
  static CudaKernelRegistry& global();
  void add(const CudaKernel& kernel);  // throws on a duplicate name
  // The best kernel that accepts the node, or nullptr (the node then runs on the CPU).
  const CudaKernel* choose(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) const;
  const CudaKernel* find(const std::string& name) const;
  std::vector<const CudaKernel*> all() const;

 private:
  std::map<std::string, CudaKernel> kernels_;
};

struct CudaKernelRegistrar {
  explicit CudaKernelRegistrar(const CudaKernel& kernel) { CudaKernelRegistry::global().add(kernel); }
};

// NORMRT_REGISTER_CUDA_KERNEL(CudaKernel{"cudnn_conv", "", "Conv", conv_accepts, conv_run, ...});
#define NORMRT_REGISTER_CUDA_KERNEL(...)                                                                 \
  static const ::normrt::cuda::CudaKernelRegistrar NORMRT_CONCAT(normrt_cuda_kernel_registrar_, __COUNTER__)( \
      __VA_ARGS__)

}  // namespace cuda
}  // namespace normrt
