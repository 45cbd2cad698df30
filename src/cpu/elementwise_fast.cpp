// Fast float32 elementwise kernels: OpenMP-parallel binary arithmetic (Add, Sub, Mul, Div) for same-shape,
// scalar and trailing-suffix broadcasts ([B,S,H] + [H]), and the unary activations.
//
// Each kernel computes exactly what the reference kernel in src/ops/ computes, with the same float32 formulas;
// what it adds is threads and loops simple enough to vectorize. A binary kernel re-checks the concrete shapes
// at run time and hands any pattern it does not cover to the op's reference kernel, so `accepts` only decides
// where it is worth choosing.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cpu/cpu_kernel.h"
#include "ops/op.h"

namespace normrt {
namespace {

// Below this many elements a thread team costs more than it saves (measured on the 2-core build machine, where
// 16K floats take ~5 us for the cheapest ops).
constexpr int64_t kBlock = int64_t{1} << 14;

// Calls fn(begin, end) over [0, n) in blocks, in parallel when there is more than one block.
template <typename Fn>
void parallel_blocks(int64_t n, Fn&& fn) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (blocks > 1)
  for (int64_t b = 0; b < blocks; ++b) fn(b * kBlock, std::min(n, (b + 1) * kBlock));
}

// ---- shape patterns --------------------------------------------------------------------------------------------
// Two dims are provably equal for every shape a profile allows: both known and equal, or the same named symbol
// (two anonymous unknown dims may differ at run time).
bool same_dim(const Dim& a, const Dim& b) {
  if (a.known() || b.known()) return a.known() && b.known() && a.value == b.value;
  return !a.symbol.empty() && a.symbol == b.symbol;
}

bool is_single_element(const Shape& s) {
  if (!s.fully_known()) return false;
  for (const Dim& d : s.dims)
    if (d.value != 1) return false;
  return true;
}

// `small`, without leading 1s, equals the trailing dims of `big`: then out = big and small repeats along it.
bool is_suffix_of(const Shape& small, const Shape& big) {
  if (!small.has_rank || !big.has_rank) return false;
  size_t first = 0;
  while (first < small.rank() && small.dims[first].known() && small.dims[first].value == 1) ++first;
  const size_t tail = small.rank() - first;
  if (tail > big.rank()) return false;
  for (size_t i = 0; i < tail; ++i)
    if (!same_dim(small.dims[first + i], big.dims[big.rank() - tail + i])) return false;
  return small.rank() <= big.rank();
}

bool binary_accepts(const Node&, int64_t, const std::vector<TypeShape>& inputs) {
  if (inputs.size() != 2) return false;
  if (inputs[0].dtype != DataType::kFloat32 || inputs[1].dtype != DataType::kFloat32) return false;
  const Shape& a = inputs[0].shape;
  const Shape& b = inputs[1].shape;
  return is_single_element(a) || is_single_element(b) || is_suffix_of(b, a) || is_suffix_of(a, b);
}

// Concrete version of is_suffix_of: small's dims without leading 1s equal big's trailing dims.
bool concrete_suffix(const Dims& small, const Dims& big) {
  size_t first = 0;
  while (first < small.size() && small[first] == 1) ++first;
  const size_t tail = small.size() - first;
  if (tail > big.size() || small.size() > big.size()) return false;
  return std::equal(small.begin() + static_cast<std::ptrdiff_t>(first), small.end(),
                    big.end() - static_cast<std::ptrdiff_t>(tail));
}

// ---- binary arithmetic -----------------------------------------------------------------------------------------
struct AddOp {
  float operator()(float x, float y) const { return x + y; }
};
struct SubOp {
  float operator()(float x, float y) const { return x - y; }
};
struct MulOp {
  float operator()(float x, float y) const { return x * y; }
};
struct DivOp {
  float operator()(float x, float y) const { return x / y; }
};

void run_reference(KernelContext& ctx) {
  const OpSchema* schema = OpRegistry::global().find(ctx.node.domain, ctx.node.op_type);
  if (!schema || !schema->reference) ctx.fail("internal: no reference kernel to fall back to");
  schema->reference(ctx);
}

template <typename Op>
void binary_fast(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  Tensor& out = ctx.out(0);
  if (a.dtype() != DataType::kFloat32 || b.dtype() != DataType::kFloat32) return run_reference(ctx);
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* po = out.data<float>();
  const int64_t n = out.numel();
  const Op op;
  // Equal element counts mean no element repeats, so a and b line up with out in row-major order.
  if (a.numel() == n && b.numel() == n) {
    parallel_blocks(n, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) po[i] = op(pa[i], pb[i]);
    });
  } else if (a.numel() == n && b.numel() == 1) {
    const float y = pb[0];
    parallel_blocks(n, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) po[i] = op(pa[i], y);
    });
  } else if (b.numel() == n && a.numel() == 1) {
    const float x = pa[0];
    parallel_blocks(n, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) po[i] = op(x, pb[i]);
    });
  } else if (a.numel() == n && b.numel() > 0 && concrete_suffix(b.dims(), out.dims())) {
    const int64_t row = b.numel();
    parallel_blocks(n / row, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r)
        for (int64_t j = 0; j < row; ++j) po[r * row + j] = op(pa[r * row + j], pb[j]);
    });
  } else if (b.numel() == n && a.numel() > 0 && concrete_suffix(a.dims(), out.dims())) {
    const int64_t row = a.numel();
    parallel_blocks(n / row, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r)
        for (int64_t j = 0; j < row; ++j) po[r * row + j] = op(pa[j], pb[r * row + j]);
    });
  } else {
    run_reference(ctx);
  }
}

// ---- unary activations -----------------------------------------------------------------------------------------
bool unary_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  if (inputs.empty() || inputs[0].dtype != DataType::kFloat32) return false;
  if (node.op_type == "Gelu") {
    const std::string approximate = node.attr_string("approximate", "none");
    return approximate == "none" || approximate == "tanh";
  }
  if (node.op_type == "Clip") {
    for (size_t i = 1; i < inputs.size(); ++i)
      if (inputs[i].dtype != DataType::kUndefined && inputs[i].dtype != DataType::kFloat32) return false;
  }
  return true;
}

template <typename F>
void map_unary(KernelContext& ctx, F f) {
  const Tensor& x = ctx.in(0);
  if (x.dtype() != DataType::kFloat32) return run_reference(ctx);
  const float* in = x.data<float>();
  float* out = ctx.out(0).data<float>();
  parallel_blocks(x.numel(), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = f(in[i]);
  });
}

// The formulas below are the reference kernels' (src/ops/activation.cpp) for float32, kept term for term.
void relu_fast(KernelContext& ctx) {
  map_unary(ctx, [](float x) { return x < 0 ? 0.0f : x; });
}

void leaky_relu_fast(KernelContext& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 0.01f);
  map_unary(ctx, [alpha](float x) { return x < 0 ? alpha * x : x; });
}

void elu_fast(KernelContext& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 1.0f);
  map_unary(ctx, [alpha](float x) { return x < 0 ? alpha * std::expm1(x) : x; });
}

void selu_fast(KernelContext& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 1.67326319217681884765625f);
  const float gamma = ctx.node.attr_float("gamma", 1.05070102214813232421875f);
  map_unary(ctx, [alpha, gamma](float x) { return x <= 0 ? gamma * (alpha * std::exp(x) - alpha) : gamma * x; });
}

float sigmoid(float x) {
  if (x >= 0) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

void sigmoid_fast(KernelContext& ctx) { map_unary(ctx, sigmoid); }

float clamp01(float v) { return v < 0 ? 0.0f : (v > 1 ? 1.0f : v); }

void hard_sigmoid_fast(KernelContext& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 0.2f);
  const float beta = ctx.node.attr_float("beta", 0.5f);
  map_unary(ctx, [alpha, beta](float x) { return clamp01(alpha * x + beta); });
}

void hard_swish_fast(KernelContext& ctx) {
  map_unary(ctx, [](float x) { return x * clamp01(x / 6.0f + 0.5f); });
}

void tanh_fast(KernelContext& ctx) {
  map_unary(ctx, [](float x) { return std::tanh(x); });
}

void gelu_fast(KernelContext& ctx) {
  if (ctx.node.attr_string("approximate", "none") == "tanh") {
    map_unary(ctx, [](float x) {
      const float k = 0.7978845608028654f;  // sqrt(2 / pi)
      return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
    });
  } else {
    map_unary(ctx, [](float x) { return 0.5f * x * (1.0f + std::erf(x * 0.7071067811865476f)); });
  }
}

void softplus_fast(KernelContext& ctx) {
  map_unary(ctx, [](float x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); });
}

void softsign_fast(KernelContext& ctx) {
  map_unary(ctx, [](float x) { return x / (1.0f + std::fabs(x)); });
}

void clip_fast(KernelContext& ctx) {
  // Before opset 11 the bounds are attributes; leave that form (and any odd bound) to the reference kernel.
  if (ctx.opset < 11) return run_reference(ctx);
  float lo = -INFINITY, hi = INFINITY;
  for (size_t i = 1; i < 3; ++i) {
    if (!ctx.has_input(i)) continue;
    const Tensor& t = ctx.in(i);
    if (t.dtype() != DataType::kFloat32 || t.numel() != 1) return run_reference(ctx);
    (i == 1 ? lo : hi) = t.data<float>()[0];
  }
  map_unary(ctx, [lo, hi](float x) {
    float v = x < lo ? lo : x;
    return v > hi ? hi : v;
  });
}

}  // namespace

NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"fast_add_f32", "", "Add", binary_accepts, binary_fast<AddOp>, 10});
NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"fast_sub_f32", "", "Sub", binary_accepts, binary_fast<SubOp>, 10});
NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"fast_mul_f32", "", "Mul", binary_accepts, binary_fast<MulOp>, 10});
NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"fast_div_f32", "", "Div", binary_accepts, binary_fast<DivOp>, 10});
NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"fast_relu_f32", "", "Relu", unary_accepts, relu_fast, 10});
NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"fast_leaky_relu_f32", "", "LeakyRelu", unary_accepts, leaky_relu_fast, 10});
NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"fast_elu_f32", "", "Elu", unary_accepts, elu_fast, 10});
NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"fast_selu_f32", "", "Selu", unary_accepts, selu_fast, 10});
NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"fast_sigmoid_f32", "", "Sigmoid", unary_accepts, sigmoid_fast, 10});
NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"fast_hard_sigmoid_f32", "", "HardSigmoid", unary_accepts, hard_sigmoid_fast, 10});
NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"fast_hard_swish_f32", "", "HardSwish", unary_accepts, hard_swish_fast, 10});
NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"fast_tanh_f32", "", "Tanh", unary_accepts, tanh_fast, 10});
NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"fast_gelu_f32", "", "Gelu", unary_accepts, gelu_fast, 10});
NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"fast_softplus_f32", "", "Softplus", unary_accepts, softplus_fast, 10});
NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"fast_softsign_f32", "", "Softsign", unary_accepts, softsign_fast, 10});
NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"fast_clip_f32", "", "Clip", unary_accepts, clip_fast, 10});

}  // namespace normrt
