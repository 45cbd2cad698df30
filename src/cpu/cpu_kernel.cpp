#include "cpu/cpu_kernel.h"

namespace normrt {

CpuKernelRegistry& CpuKernelRegistry::global() {
  static CpuKernelRegistry registry;
  return registry;
}

void CpuKernelRegistry::add(const CpuKernel& kernel) { kernels_[kernel.name] = kernel; }

const CpuKernel* CpuKernelRegistry::choose(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) const {
  const CpuKernel* best = nullptr;
  for (const auto& [name, kernel] : kernels_) {
    if (kernel.op_type != node.op_type || kernel.domain != node.domain) continue;
    if (best && best->priority >= kernel.priority) continue;
    if (kernel.accepts(node, opset, inputs)) best = &kernel;
  }
  return best;
}

const CpuKernel* CpuKernelRegistry::find(const std::string& name) const {
  auto it = kernels_.find(name);
  return it == kernels_.end() ? nullptr : &it->second;
}

}  // namespace normrt
