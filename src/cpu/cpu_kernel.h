// Fast CPU kernels. Each op has a reference kernel in src/ops/; a fast kernel registers here under a stable
// name, says at build time which nodes it accepts, and the engine records the name it chose per node.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ops/op.h"

namespace normrt {

struct CpuKernel {
  std::string name;     // stable: stored in engine files ("onednn_conv", "norm_group_fused", ...)
  std::string domain;   // of the op it implements; "" for ai.onnx
  std::string op_type;
  // Whether the kernel handles this node with these input types and (possibly partly unknown) shapes, for
  // every shape the profile allows. Called at build time only.
  bool (*accepts)(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) = nullptr;
  KernelFunction run = nullptr;
  int priority = 0;  // among kernels that accept a node, the highest priority wins
};

class CpuKernelRegistry {
 public:
  static CpuKernelRegistry& global();
  void add(const CpuKernel& kernel);
  // The best kernel that accepts the node, or nullptr (then the reference kernel runs).
  const CpuKernel* choose(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) const;
  const CpuKernel* find(const std::string& name) const;

 private:
  std::map<std::string, CpuKernel> kernels_;
};

struct CpuKernelRegistrar {
  explicit CpuKernelRegistrar(const CpuKernel& kernel) { CpuKernelRegistry::global().add(kernel); }
};

// NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"onednn_conv", "", "Conv", conv_accepts, conv_run, 10});
#define NORMRT_REGISTER_CPU_KERNEL(...) \
  static const ::normrt::CpuKernelRegistrar NORMRT_CONCAT(normrt_cpu_kernel_registrar_, __COUNTER__)(__VA_ARGS__)

}  // namespace normrt
