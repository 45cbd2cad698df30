#include "cuda/cuda_kernel.h"

#include <algorithm>

namespace normrt {
namespace cuda {

const DeviceValue& CudaKernelContext::in(size_t i) const {
  if (!has_input(i)) fail("input " + std::to_string(i) + " is missing");
  return inputs[i];
}

DeviceValue& CudaKernelContext::out(size_t i) {
  if (i >= outputs.size() || !outputs[i].present()) fail("output " + std::to_string(i) + " is not allocated");
  return outputs[i];
}

void CudaKernelContext::fail(const std::string& message) const {
  throw Error(ErrorCode::kInternal, node.describe() + " (CUDA): " + message);
}

void CudaKernelContext::check(cudaError_t status, const char* call) const {
  if (status != cudaSuccess) fail(std::string(call) + " failed: " + cudaGetErrorString(status));
}

void CudaKernelContext::check(cudnnStatus_t status, const char* call) const {
  if (status != CUDNN_STATUS_SUCCESS) fail(std::string(call) + " failed: " + cudnnGetErrorString(status));
}

void CudaKernelContext::check(cublasStatus_t status, const char* call) const {
  if (status != CUBLAS_STATUS_SUCCESS)
    fail(std::string(call) + " failed: " + cublasGetStatusName(status) + " (" + cublasGetStatusString(status) + ")");
}

CudaKernelRegistry& CudaKernelRegistry::global() {
  static CudaKernelRegistry registry;
  return registry;
}

void CudaKernelRegistry::add(const CudaKernel& kernel) {
  if (!kernels_.emplace(kernel.name, kernel).second)
    throw Error(ErrorCode::kInternal, "CUDA kernel '" + kernel.name + "' is registered twice");
}

const CudaKernel* CudaKernelRegistry::choose(const Node& node, int64_t opset,
                                             const std::vector<TypeShape>& inputs) const {
  const CudaKernel* best = nullptr;
  for (const auto& [name, kernel] : kernels_) {
    if (kernel.op_type != node.op_type || kernel.domain != node.domain) continue;
    if (best && kernel.priority <= best->priority) continue;
    if (kernel.accepts && !kernel.accepts(node, opset, inputs)) continue;
    best = &kernel;
  }
  return best;
}

const CudaKernel* CudaKernelRegistry::find(const std::string& name) const {
  auto it = kernels_.find(name);
  return it == kernels_.end() ? nullptr : &it->second;
}

std::vector<const CudaKernel*> CudaKernelRegistry::all() const {
  std::vector<const CudaKernel*> out;
  for (const auto& [name, kernel] : kernels_) out.push_back(&kernel);
  return out;
}

}  // namespace cuda
}  // namespace normrt
