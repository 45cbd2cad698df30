#include "cuda/cuda_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstring>

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

namespace {

// FNV-1a over raw bytes: tensor contents in a tuning key.
uint64_t fnv1a(const void* data, size_t bytes, uint64_t h = 1469598103934665603ull) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

void append_dims(std::string& key, const Dims& dims) {
  key += "[";
  for (size_t i = 0; i < dims.size(); ++i) key += (i ? "," : "") + std::to_string(dims[i]);
  key += "]";
}

void append_float(std::string& key, float f) {
  uint32_t bits = 0;
  std::memcpy(&bits, &f, sizeof(bits));
  key += std::to_string(bits);
}

bool is_floating(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16 || t == DataType::kFloat64;
}

// Strings go in with their length, so that no choice of names and values can make two keys alike.
void append_string(std::string& key, const std::string& s) { key += std::to_string(s.size()) + ":" + s; }

}  // namespace

std::string tuning_problem_key(const std::string& kernel, const Node& node, int64_t opset, bool allow_tf32,
                               const std::string& reference, const std::vector<DeviceValue>& inputs,
                               const std::vector<DeviceValue>& outputs) {
  std::string key;
  append_string(key, kernel);
  append_string(key, node.domain);
  append_string(key, node.op_type);
  key += "|opset " + std::to_string(opset) + (allow_tf32 ? "|tf32" : "|fp32") + "|ref ";
  append_string(key, reference);
  for (const auto& [name, a] : node.attributes) {  // a std::map: always in the same order
    key += "|attr ";
    append_string(key, name);
    key += " " + std::to_string(static_cast<int>(a.type)) + " ";
    switch (a.type) {
      case AttributeType::kFloat:
        append_float(key, a.f);
        break;
      case AttributeType::kInt:
        key += std::to_string(a.i);
        break;
      case AttributeType::kString:
        append_string(key, a.s);
        break;
      case AttributeType::kFloats:
        for (float f : a.floats) {
          append_float(key, f);
          key += ",";
        }
        break;
      case AttributeType::kInts:
        for (int64_t i : a.ints) key += std::to_string(i) + ",";
        break;
      case AttributeType::kStrings:
        for (const std::string& s : a.strings) append_string(key, s);
        break;
      case AttributeType::kTensor:
        key += std::string(dtype_name(a.t.dtype()));
        append_dims(key, a.t.dims());
        key += std::to_string(fnv1a(a.t.raw(), a.t.nbytes()));
        break;
      case AttributeType::kGraph:
        return "";
    }
  }
  for (const DeviceValue& v : inputs) {
    key += "|in ";
    if (!v.present()) {
      key += "-";
      continue;
    }
    key += dtype_name(v.dtype);
    append_dims(key, v.dims);
    if (v.host && !is_floating(v.dtype)) key += " = " + std::to_string(fnv1a(v.host->raw(), v.host->nbytes()));
    else if (v.host) key += " weights";
  }
  for (const DeviceValue& v : outputs) {
    key += "|out ";
    if (!v.present()) {
      key += "-";
      continue;
    }
    key += dtype_name(v.dtype);
    append_dims(key, v.dims);
  }
  return key;
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
