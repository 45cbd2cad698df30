// Fast float32 elementwise kernels: OpenMP-parallel binary arithmetic (Add, Sub, Mul, Div) for same-shape,
// scalar and trailing-suffix broadcasts ([B,S,H] + [H]), the unary activations, and Softmax/LogSoftmax over
// contiguous rows.
//
// The binary kernels and the piecewise-linear activations compute exactly what the reference kernels in src/ops/
// compute; the activations built on exp and tanh use the four-lane approximations below, which stay within
// ~2e-7 relative error of the reference. What the kernels add is threads and SIMD. A binary kernel re-checks the
// concrete shapes at run time and hands any pattern it does not cover to the op's reference kernel, so `accepts` only
// decides where it is worth choosing.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cpu/cpu_kernel.h"
#include "ops/op.h"

namespace normrt {
namespace {

// Work is split into blocks of this many elements (64 KiB of float32 per operand, cache-sized); a tensor of one
// block runs on the calling thread, since starting a thread team costs microseconds.
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

// ---- four-lane vector math ---------------------------------------------------------------------------------------
// GCC/Clang generic vectors: explicit SIMD without intrinsics (SSE2 on x86-64, NEON on AArch64). Selects are
// written as vector conditionals, which never branch; plain scalar loops with conditionals do not vectorize here
// because -ftrapping-math forbids the compiler from if-converting them.
using Vec = float __attribute__((vector_size(16)));
using VecInt = int32_t __attribute__((vector_size(16)));
constexpr int64_t kLanes = 4;
static_assert(kBlock % kLanes == 0, "blocks must hold whole vectors");

inline Vec splat(float f) { return Vec{} + f; }
inline Vec vabs(Vec x) { return reinterpret_cast<Vec>(reinterpret_cast<VecInt>(x) & 0x7fffffff); }

// out = f(in) four floats at a time; the tail of a block goes through a zero-padded vector.
template <typename F>
void map_vector(KernelContext& ctx, F f) {
  const Tensor& x = ctx.in(0);
  if (x.dtype() != DataType::kFloat32) return run_reference(ctx);
  const float* in = x.data<float>();
  float* out = ctx.out(0).data<float>();
  parallel_blocks(x.numel(), [&](int64_t begin, int64_t end) {
    int64_t i = begin;
    for (; i + kLanes <= end; i += kLanes) {
      Vec v;
      std::memcpy(&v, in + i, sizeof v);
      v = f(v);
      std::memcpy(out + i, &v, sizeof v);
    }
    if (i < end) {
      const size_t bytes = static_cast<size_t>(end - i) * sizeof(float);
      Vec v{};
      std::memcpy(&v, in + i, bytes);
      v = f(v);
      std::memcpy(out + i, &v, bytes);
    }
  });
}

// e^x for x <= 0 (positive x is treated as 0; NaN passes through). x = n ln2 + r with |r| <= ln2/2, using a
// two-part ln2 (0.693359375 is exact in 9 bits, the rest carries the remainder) so n ln2 is exact; e^r by its
// degree-7 Taylor polynomial, whose truncation error r^8/8! < 6e-9 is below float precision; 2^n is built in
// the exponent bits. Below -87, 2^n would leave the normal range, and the result (< 1.7e-38) becomes 0.
// Measured against double-precision exp on a dense grid: at most 1e-7 relative error.
inline Vec exp_nonpositive(Vec x) {
  Vec c = x >= -87.0f ? x : splat(-87.0f);  // NaN -> -87 too, keeping the int conversion below defined
  c = c <= 0.0f ? c : splat(0.0f);
  const Vec n = (c * 1.44269504f + 12582912.0f) - 12582912.0f;  // adding 1.5 * 2^23 rounds to an integer
  const Vec r = (c - n * 0.693359375f) - n * -2.12194440e-4f;
  Vec p = splat(1.0f / 5040);
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const VecInt exponent = (__builtin_convertvector(n, VecInt) + 127) << 23;
  const Vec y = x < -87.0f ? splat(0.0f) : p * reinterpret_cast<Vec>(exponent);
  return x != x ? x : y;
}

Vec vector_sigmoid(Vec x) {
  const Vec e = exp_nonpositive(-vabs(x));
  const Vec r = 1.0f / (1.0f + e);
  return x >= 0.0f ? r : e * r;
}

// tanh: for |x| < 0.625, x + x^3 q(x^2) with q a degree-5 Chebyshev fit of (tanh(x) - x) / x^3 (fitted for
// normrt with mpmath.chebyfit; max error 1.6e-9); above, (1 - e) / (1 + e) with e = exp(-2|x|), which has no
// cancellation there. At most 1.4e-7 relative error on a dense grid.
Vec vector_tanh(Vec x) {
  const Vec u = x * x;
  Vec q = splat(0.002292744816f);
  q = q * u - 0.008343945516f;
  q = q * u + 0.02176891865f;
  q = q * u - 0.05395925958f;
  q = q * u + 0.1333330356f;
  q = q * u - 0.3333333317f;
  const Vec small = x + x * u * q;
  const Vec a = vabs(x);
  const Vec e = exp_nonpositive(-2.0f * a);
  const Vec large = (1.0f - e) / (1.0f + e);
  return a < 0.625f ? small : (x < 0.0f ? -large : large);
}

// The formulas below follow the reference kernels (src/ops/activation.cpp); where they use exp or tanh the
// vector versions above stand in, within ~2e-7 relative error (tests/ops/activation_test.cpp checks it).
void relu_fast(KernelContext& ctx) {
  map_vector(ctx, [](Vec x) { return x < 0.0f ? splat(0.0f) : x; });
}

void leaky_relu_fast(KernelContext& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 0.01f);
  map_vector(ctx, [alpha](Vec x) { return x < 0.0f ? alpha * x : x; });
}

void elu_fast(KernelContext& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 1.0f);
  map_vector(ctx, [alpha](Vec x) { return x < 0.0f ? alpha * (exp_nonpositive(x) - 1.0f) : x; });
}

void selu_fast(KernelContext& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 1.67326319217681884765625f);
  const float gamma = ctx.node.attr_float("gamma", 1.05070102214813232421875f);
  map_vector(ctx,
             [alpha, gamma](Vec x) { return x <= 0.0f ? gamma * (alpha * exp_nonpositive(x) - alpha) : gamma * x; });
}

void sigmoid_fast(KernelContext& ctx) { map_vector(ctx, vector_sigmoid); }

Vec clamp01(Vec v) {
  const Vec low = v < 0.0f ? splat(0.0f) : v;
  return low > 1.0f ? splat(1.0f) : low;
}

void hard_sigmoid_fast(KernelContext& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 0.2f);
  const float beta = ctx.node.attr_float("beta", 0.5f);
  map_vector(ctx, [alpha, beta](Vec x) { return clamp01(alpha * x + beta); });
}

void hard_swish_fast(KernelContext& ctx) {
  map_vector(ctx, [](Vec x) { return x * clamp01(x / 6.0f + 0.5f); });
}

void tanh_fast(KernelContext& ctx) { map_vector(ctx, vector_tanh); }

void gelu_fast(KernelContext& ctx) {
  if (ctx.node.attr_string("approximate", "none") == "tanh") {
    map_vector(ctx, [](Vec x) {
      const float k = 0.7978845608028654f;  // sqrt(2 / pi)
      return 0.5f * x * (1.0f + vector_tanh(k * (x + 0.044715f * x * x * x)));
    });
  } else {
    // glibc's scalar erff beat every vector erf/erfc tried here (a Chebyshev erfc fit with one exp was 2x slower
    // on N(0, 1.5) data), so the exact form runs threaded with the reference's formula.
    map_unary(ctx, [](float x) { return 0.5f * x * (1.0f + std::erf(x * 0.7071067811865476f)); });
  }
}

void softplus_fast(KernelContext& ctx) {
  // log1p has no vector version here; the scalar formula runs threaded.
  map_unary(ctx, [](float x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); });
}

void softsign_fast(KernelContext& ctx) {
  map_vector(ctx, [](Vec x) { return x / (1.0f + vabs(x)); });
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
  map_vector(ctx, [lo, hi](Vec x) {
    const Vec v = x < lo ? splat(lo) : x;
    return v > hi ? splat(hi) : v;
  });
}

// ---- Softmax and LogSoftmax over contiguous rows ----------------------------------------------------------------
// Before opset 13 the normalized groups are the rows of the coerced 2-D view, always contiguous; from 13 on they
// are contiguous when the axis is the last one. Other axes go to the reference kernel.
int64_t softmax_axis(const Node& node, int64_t opset) { return node.attr_int("axis", opset < 13 ? 1 : -1); }

bool softmax_accepts(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) {
  if (inputs.size() != 1 || inputs[0].dtype != DataType::kFloat32) return false;
  if (opset < 13) return true;
  const int64_t axis = softmax_axis(node, opset);
  const Shape& shape = inputs[0].shape;
  return axis == -1 || (shape.has_rank && axis == static_cast<int64_t>(shape.rank()) - 1);
}

// One row: max, then e = exp(x - max) (argument <= 0, where exp_nonpositive is exact to ~1e-7) summed in double
// lanes, then a scale (Softmax) or a shift (LogSoftmax).
template <bool Log>
void softmax_row(const float* in, float* out, int64_t n) {
  Vec vector_max = splat(-INFINITY);
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    Vec v;
    std::memcpy(&v, in + i, sizeof v);
    vector_max = v > vector_max ? v : vector_max;  // a NaN is skipped here but still makes the sum NaN below
  }
  float max = -INFINITY;
  for (int lane = 0; lane < kLanes; ++lane) max = vector_max[lane] > max ? vector_max[lane] : max;
  for (; i < n; ++i) max = in[i] > max ? in[i] : max;

  // The sum runs in double lanes, as in the reference: float lanes over a 1000-element row lose ~1e-6.
  using VecDouble = double __attribute__((vector_size(4 * sizeof(double))));
  VecDouble lanes = VecDouble{} + 0.0;
  for (i = 0; i + kLanes <= n; i += kLanes) {
    Vec v;
    std::memcpy(&v, in + i, sizeof v);
    const Vec e = exp_nonpositive(v - max);
    if (!Log) std::memcpy(out + i, &e, sizeof e);
    lanes += __builtin_convertvector(e, VecDouble);
  }
  double sum = 0;
  for (int lane = 0; lane < kLanes; ++lane) sum += lanes[lane];
  for (; i < n; ++i) {
    const float e = exp_nonpositive(splat(in[i] - max))[0];
    if (!Log) out[i] = e;
    sum += e;
  }

  if (Log) {
    const float log_sum = static_cast<float>(std::log(sum));
    for (i = 0; i < n; ++i) out[i] = in[i] - max - log_sum;
  } else {
    const float scale = static_cast<float>(1.0 / sum);
    for (i = 0; i < n; ++i) out[i] *= scale;
  }
}

template <bool Log>
void softmax_fast(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t rank = static_cast<int64_t>(x.rank());
  int64_t axis = softmax_axis(ctx.node, ctx.opset);
  if (axis < 0) axis += rank;
  // Anything unusual (another dtype, a bad axis, a strided axis) is the reference kernel's to run or report.
  if (x.dtype() != DataType::kFloat32 || axis < 0 || axis >= rank || (ctx.opset >= 13 && axis != rank - 1))
    return run_reference(ctx);
  int64_t rows = 1;
  for (int64_t d = 0; d < axis; ++d) rows *= x.dims()[d];
  if (x.numel() == 0) return;
  const int64_t n = x.numel() / rows;
  const float* in = x.data<float>();
  float* out = ctx.out(0).data<float>();
#pragma omp parallel for schedule(static) if (x.numel() > kBlock && rows > 1)
  for (int64_t r = 0; r < rows; ++r) softmax_row<Log>(in + r * n, out + r * n, n);
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

NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"fast_softmax_f32", "", "Softmax", softmax_accepts, softmax_fast<false>, 10});
NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"fast_log_softmax_f32", "", "LogSoftmax", softmax_accepts, softmax_fast<true>,
                                     10});

}  // namespace normrt
