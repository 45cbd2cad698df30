#include "cuda/cuda_kernel.h"

#include <algorithm>
#include <cmath>

namespace normrt {
namespace cuda {

std::string join_tuned_configs(const std::vector<std::pair<int64_t, std::string>>& by_elements) {
  if (by_elements.empty()) return "";
  bool same = true;
  for (const auto& [elements, config] : by_elements) same &= config == by_elements.front().second;
  if (same) return by_elements.front().second;
  std::string joined;
  std::vector<int64_t> seen;
  for (const auto& [elements, config] : by_elements) {
    if (std::find(seen.begin(), seen.end(), elements) != seen.end()) continue;  // the first corner at a count wins
    seen.push_back(elements);
    if (!joined.empty()) joined += "|";
    joined += "@" + std::to_string(elements) + ":" + config;
  }
  return joined;
}

std::string tuned_config_for(const std::string& stored, int64_t elements) {
  if (stored.empty() || stored[0] != '@') return stored;
  std::string best;
  double best_distance = -1.0;
  size_t start = 0;
  while (start <= stored.size()) {
    size_t end = stored.find('|', start);
    if (end == std::string::npos) end = stored.size();
    const std::string entry = stored.substr(start, end - start);
    const size_t colon = entry.find(':');
    if (entry.size() < 2 || entry[0] != '@' || colon == std::string::npos) return "";
    int64_t at = 0;
    try {
      size_t used = 0;
      const std::string count = entry.substr(1, colon - 1);
      at = std::stoll(count, &used);
      if (used != count.size() || at < 1) return "";
    } catch (const std::exception&) {
      return "";
    }
    const double distance = std::abs(std::log(static_cast<double>(at)) - std::log(std::max<double>(1.0, elements)));
    if (best_distance < 0 || distance < best_distance) {
      best_distance = distance;
      best = entry.substr(colon + 1);
    }
    start = end + 1;
  }
  return best;
}

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
