#include "engine/core_test_ops.h"

#include "cpu/cpu_kernel.h"
#include "ops/op.h"

namespace normrt::test {

std::atomic<int>& scale_fast_calls() {
  static std::atomic<int> calls{0};
  return calls;
}
std::atomic<int>& add_fast_calls() {
  static std::atomic<int> calls{0};
  return calls;
}

namespace {

void infer_scale(InferContext& ctx) {
  ctx.node.attr_float("alpha", 1.0f);  // a wrong attribute type fails here, at build time
  if (ctx.dtype(0) != DataType::kFloat32) ctx.fail("input 0 must be float32");
  ctx.set_output(0, DataType::kFloat32, ctx.shape(0));
}

void scale_reference(KernelContext& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 1.0f);
  const Tensor& x = ctx.in(0);
  for (int64_t i = 0; i < x.numel(); ++i) ctx.out(0).data<float>()[i] = x.data<float>()[i] * alpha;
}

void scale_fast(KernelContext& ctx) {
  ++scale_fast_calls();
  scale_reference(ctx);
}

void infer_add(InferContext& ctx) {
  if (ctx.dtype(0) != DataType::kFloat32 || ctx.dtype(1) != DataType::kFloat32) ctx.fail("inputs must be float32");
  const Shape& a = ctx.shape(0);
  const Shape& b = ctx.shape(1);
  if (a.has_rank && b.has_rank) {
    if (a.rank() != b.rank()) ctx.fail("inputs have ranks " + std::to_string(a.rank()) + " and " + std::to_string(b.rank()));
    for (size_t i = 0; i < a.rank(); ++i)
      if (a.dims[i].known() && b.dims[i].known() && a.dims[i].value != b.dims[i].value)
        ctx.fail("inputs have shapes " + a.to_string() + " and " + b.to_string());
  }
  ctx.set_output(0, DataType::kFloat32, a.fully_known() ? a : b);
}

void add_reference(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  for (int64_t i = 0; i < a.numel(); ++i) ctx.out(0).data<float>()[i] = a.data<float>()[i] + b.data<float>()[i];
}

void add_fast(KernelContext& ctx) {
  ++add_fast_calls();
  add_reference(ctx);
}

bool accepts_float(const Node&, int64_t, const std::vector<TypeShape>& inputs) {
  for (const auto& in : inputs)
    if (in.dtype != DataType::kFloat32) return false;
  return true;
}

}  // namespace

NORMRT_REGISTER_OP("test.normrt", "CoreScale", infer_scale, scale_reference);
NORMRT_REGISTER_OP("test.normrt", "CoreAdd", infer_add, add_reference);
NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"core_test_scale_fast", "test.normrt", "CoreScale", accepts_float, scale_fast, 1});
NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"core_test_add_fast", "test.normrt", "CoreAdd", accepts_float, add_fast, 1});

}  // namespace normrt::test
