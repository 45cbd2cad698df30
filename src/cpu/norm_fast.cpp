// Fast float32 kernels for normrt's fused normalization ops (domain ai.normrt, see src/ops/README.md):
//   norm_group_fused  GroupNorm over [N, C, spatial...] (InstanceNorm is GroupNorm with num_groups = C)
//   norm_layer_fused  LayerNorm over the dims [axis, rank)
// Both see their input as rows of contiguous values (a row is one (n, group), or one outer index of the
// LayerNorm), compute each row's statistics, then write y = act((x - mean) * rstd * gamma + beta) + residual in
// one pass.
//
// Statistics: each chunk of kChunk values (in L1) is summed twice in float, once for its approximate mean mc and
// once for the sums of d = x - mc and d^2 (the corrected two-pass formula: M2 = sum d^2 - (sum d)^2 / n), so
// that an input with mean 1e4 and deviation 1e-2 keeps its variance. Chunks combine in double (Chan et al.'s
// pairwise update). The write pass subtracts the double mean as a float pair (hi + lo) before scaling:
// x * a + b with b = beta - mean * a would cancel catastrophically on exactly such inputs.
//
// Threads (OpenMP): one row per task when there are at least 4 rows per thread; otherwise every row is cut into
// pieces, the pieces' statistics are combined per row, and the same thread then writes the piece it read (still
// in its cache). Inner loops are written for the auto-vectorizer; an AVX2+FMA build of the leaves is chosen at
// run time where the CPU has it.

// GCC 12 will not if-convert a select whose arms it sinks into branches (max(v, 0) * g becomes a branch) while
// -ftrapping-math is on, which leaves every activation loop scalar. These kernels never read FP exception
// flags, so trapping math buys nothing here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "cpu/cpu_kernel.h"
#include "ops/activation_math.h"
#include "ops/shape_util.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define NORMRT_HAVE_AVX2_PATH 1
#define NORMRT_TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define NORMRT_HAVE_AVX2_PATH 0
#define NORMRT_TARGET_AVX2
#endif
#define NORMRT_INLINE inline __attribute__((always_inline))

namespace normrt {
namespace {

// Values per statistics chunk: 4 KiB, so a chunk's second pass reads L1.
constexpr int64_t kChunk = 1024;
// Independent float accumulators per sum (4 AVX2 registers): a single one would chain every add on its latency.
constexpr int kLanes = 32;
// Below this many elements the kernel runs on the calling thread: ~3e4 floats are ~15 us of work on one core,
// where an OpenMP fork/join costs a few us.
constexpr int64_t kSerialElements = 1 << 15;
// Pieces of a split row hold at least this many values.
constexpr int64_t kMinPiece = 4096;

// ---------------------------------------------------------------------------------------------------------
// Scalar math in forms the vectorizer accepts (no calls into libm, selects instead of branches).

NORMRT_INLINE float max_f(float a, float b) { return a > b ? a : b; }
NORMRT_INLINE float min_f(float a, float b) { return a < b ? a : b; }

// exp(x) for float: x = n ln2 + r with |r| <= ln2 / 2 (Cody-Waite split of ln2), a degree-6 polynomial for
// exp(r), and 2^n assembled in the exponent bits. Relative error < 1e-7 over [-87, 88] (checked against
// std::exp in tests/cpu/norm_fast_test.cpp); inputs are clamped to that range.
NORMRT_INLINE float exp_f(float x) {
  x = min_f(max_f(x, -87.0f), 88.0f);
  const float shifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float n = (x * 1.44269504088896341f + shifter) - shifter;
  float r = x - n * 0.693145751953125f;   // ln2, high bits (exact product for |n| < 2^9)
  r = r - n * 1.428606765330187045e-06f;  // ln2, low bits
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// erfc(z) for z >= 0 by the Chebyshev fit of Numerical Recipes (erfcc, fractional error < 1.2e-7).
NORMRT_INLINE float erfc_nonnegative(float z) {
  const float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  return t * exp_f(p - z * z);
}

template <FusedActivation K>
NORMRT_INLINE float activate(float v, float alpha) {
  if constexpr (K == FusedActivation::kNone) {
    (void)alpha;
    return v;
  } else if constexpr (K == FusedActivation::kRelu) {
    (void)alpha;
    return max_f(v, 0.0f);
  } else if constexpr (K == FusedActivation::kLeakyRelu) {
    return v * (v >= 0.0f ? 1.0f : alpha);
  } else if constexpr (K == FusedActivation::kElu) {
    // exp(min(v, 0)) - 1 is exactly 0 for v >= 0, so both arms add without a select.
    return max_f(v, 0.0f) + alpha * (exp_f(min_f(v, 0.0f)) - 1.0f);
  } else if constexpr (K == FusedActivation::kSigmoid) {
    (void)alpha;
    return 1.0f / (1.0f + exp_f(-v));
  } else if constexpr (K == FusedActivation::kSilu) {
    // v * (1 / (1 + e)) rather than v / (1 + e): GCC 12 turns the latter into two divisions and three blends
    // (1.5x slower per element on Zen 3, measured).
    (void)alpha;
    const float sigmoid = 1.0f / (1.0f + exp_f(-v));
    return v * sigmoid;
  } else if constexpr (K == FusedActivation::kGelu) {
    // x/2 * (1 + erf(x / sqrt2)) = x/2 * erfc(-x / sqrt2): with erfc of |x| / sqrt2, no cancellation for x < 0.
    (void)alpha;
    const float c = erfc_nonnegative(std::fabs(v) * 0.70710678118654752f);
    return 0.5f * v * (v >= 0.0f ? 2.0f - c : c);
  } else if constexpr (K == FusedActivation::kGeluTanh) {
    // x/2 * (1 + tanh(u)) = x * sigmoid(2u).
    (void)alpha;
    const float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
    const float sigmoid = 1.0f / (1.0f + exp_f(-2.0f * u));
    return v * sigmoid;
  } else if constexpr (K == FusedActivation::kTanh) {
    // tanh(v) = sign(v) * (1 - 2 / (exp(2|v|) + 1)).
    (void)alpha;
    const float t = 1.0f - 2.0f / (exp_f(2.0f * std::fabs(v)) + 1.0f);
    return v >= 0.0f ? t : -t;
  } else {
    static_assert(K == FusedActivation::kHardSwish, "every FusedActivation needs a fast form");
    (void)alpha;
    return v * min_f(max_f(v * (1.0f / 6.0f) + 0.5f, 0.0f), 1.0f);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Statistics.

struct Moments {
  double count = 0;
  double mean = 0;
  double m2 = 0;  // sum of squared deviations from the mean
};

// Chan, Golub and LeVeque's update for the moments of the union of two disjoint sets.
Moments combine(const Moments& a, const Moments& b) {
  if (a.count == 0) return b;
  if (b.count == 0) return a;
  Moments m;
  m.count = a.count + b.count;
  const double delta = b.mean - a.mean;
  m.mean = a.mean + delta * (b.count / m.count);
  m.m2 = a.m2 + b.m2 + delta * delta * (a.count * b.count / m.count);
  return m;
}

NORMRT_INLINE float lane_sum(const float* acc) {
  float s = 0;
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  return s;
}

// The moments of at most kChunk values: their float mean mc, then the sums of d = x - mc and of d^2.
NORMRT_INLINE Moments chunk_moments(const float* __restrict x, int64_t n) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += x[i + j];
  float sum = lane_sum(acc);
  for (; i < n; ++i) sum += x[i];
  const float mc = sum / static_cast<float>(n);

  float dacc[kLanes] = {}, qacc[kLanes] = {};
  for (i = 0; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      const float d = x[i + j] - mc;
      dacc[j] += d;
      qacc[j] += d * d;
    }
  float dsum = lane_sum(dacc), qsum = lane_sum(qacc);
  for (; i < n; ++i) {
    const float d = x[i] - mc;
    dsum += d;
    qsum += d * d;
  }
  Moments m;
  m.count = static_cast<double>(n);
  m.mean = static_cast<double>(mc) + static_cast<double>(dsum) / m.count;
  m.m2 = std::max(0.0, static_cast<double>(qsum) - static_cast<double>(dsum) * dsum / m.count);
  return m;
}

NORMRT_INLINE Moments piece_moments(const float* x, int64_t n) {
  Moments m;
  for (int64_t i = 0; i < n; i += kChunk) m = combine(m, chunk_moments(x + i, std::min(kChunk, n - i)));
  return m;
}

// ---------------------------------------------------------------------------------------------------------
// The write pass.

// The row's mean as a float pair (hi + lo carries ~48 bits) and its rstd.
struct RowScale {
  float mean_hi;
  float mean_lo;
  float rstd;
};

RowScale row_scale(double mean, double rstd) {
  RowScale s;
  s.mean_hi = static_cast<float>(mean);
  s.mean_lo = static_cast<float>(mean - static_cast<double>(s.mean_hi));
  s.rstd = static_cast<float>(rstd);
  return s;
}

struct GroupWrite {
  const float* x;
  const float* residual;  // nullptr when absent
  float* y;
  const float* gamma;  // per channel, C entries
  const float* beta;
  int64_t channels, groups, spatial;  // C, G, S
  float alpha;
};

// Writes values [begin, end) of row `row` (= n * G + g) of a GroupNorm.
// kResidual: 0 none; 1 added after the activation (the ops' default); 2 added before it
// (residual_before_activation = 1: ResNet's relu(norm(h) + x)).
template <FusedActivation K, int kResidual>
NORMRT_INLINE void group_write_body(const GroupWrite& w, int64_t row, int64_t begin, int64_t end, double mean,
                                    double rstd) {
  const int64_t channels_per_group = w.channels / w.groups;
  const int64_t g = row % w.groups;
  const int64_t row_start = row * channels_per_group * w.spatial;
  const RowScale s = row_scale(mean, rstd);
  const float alpha = w.alpha;
  for (int64_t p = begin; p < end;) {
    const int64_t local_channel = p / w.spatial;
    const int64_t segment_end = std::min(end, (local_channel + 1) * w.spatial);
    const int64_t c = g * channels_per_group + local_channel;
    const float a = s.rstd * w.gamma[c];
    const float b = w.beta[c];
    const float* __restrict x = w.x + row_start;
    float* __restrict y = w.y + row_start;
    const float* __restrict r = kResidual ? w.residual + row_start : nullptr;
    for (int64_t i = p; i < segment_end; ++i) {
      float v = ((x[i] - s.mean_hi) - s.mean_lo) * a + b;
      if constexpr (kResidual == 2) v += r[i];
      v = activate<K>(v, alpha);
      if constexpr (kResidual == 1) v += r[i];
      y[i] = v;
    }
    p = segment_end;
  }
}

struct LayerWrite {
  const float* x;
  const float* residual;
  float* y;
  const float* gamma;  // one per normalized element (row_length entries)
  const float* beta;
  int64_t row_length;
  float alpha;
};

template <FusedActivation K, int kResidual>
NORMRT_INLINE void layer_write_body(const LayerWrite& w, int64_t row, int64_t begin, int64_t end, double mean,
                                    double rstd) {
  const int64_t row_start = row * w.row_length;
  const RowScale s = row_scale(mean, rstd);
  const float alpha = w.alpha;
  const float* __restrict x = w.x + row_start;
  float* __restrict y = w.y + row_start;
  const float* __restrict r = kResidual ? w.residual + row_start : nullptr;
  const float* __restrict gamma = w.gamma;
  const float* __restrict beta = w.beta;
  for (int64_t i = begin; i < end; ++i) {
    float v = ((x[i] - s.mean_hi) - s.mean_lo) * s.rstd * gamma[i] + beta[i];
    if constexpr (kResidual == 2) v += r[i];
    v = activate<K>(v, alpha);
    if constexpr (kResidual == 1) v += r[i];
    y[i] = v;
  }
}

// ---------------------------------------------------------------------------------------------------------
// The leaves, compiled once for the baseline ISA and once for AVX2+FMA; chosen once per process.

using MomentsFn = Moments (*)(const float*, int64_t);
using GroupWriteFn = void (*)(const GroupWrite&, int64_t, int64_t, int64_t, double, double);
using LayerWriteFn = void (*)(const LayerWrite&, int64_t, int64_t, int64_t, double, double);

#define NORMRT_DEFINE_NORM_LEAVES(NAME, TARGET)                                                                 \
  struct NAME {                                                                                                  \
    TARGET static Moments moments(const float* x, int64_t n) { return piece_moments(x, n); }                    \
    template <FusedActivation K, int kResidual>                                                                 \
    TARGET static void group_write(const GroupWrite& w, int64_t row, int64_t begin, int64_t end, double mean,   \
                                   double rstd) {                                                                \
      group_write_body<K, kResidual>(w, row, begin, end, mean, rstd);                                           \
    }                                                                                                            \
    template <FusedActivation K, int kResidual>                                                                 \
    TARGET static void layer_write(const LayerWrite& w, int64_t row, int64_t begin, int64_t end, double mean,   \
                                   double rstd) {                                                                \
      layer_write_body<K, kResidual>(w, row, begin, end, mean, rstd);                                           \
    }                                                                                                            \
  }

NORMRT_DEFINE_NORM_LEAVES(BaselineLeaves, );
#if NORMRT_HAVE_AVX2_PATH
NORMRT_DEFINE_NORM_LEAVES(Avx2Leaves, NORMRT_TARGET_AVX2);
#endif

struct Leaves {
  MomentsFn moments = nullptr;
  GroupWriteFn group_write[kFusedActivationCount][3] = {};  // [activation][kResidual]
  LayerWriteFn layer_write[kFusedActivationCount][3] = {};
};

template <typename Isa, int... I>
Leaves make_leaves(std::integer_sequence<int, I...>) {
  Leaves l;
  l.moments = &Isa::moments;
  ((l.group_write[I][0] = &Isa::template group_write<static_cast<FusedActivation>(I), 0>), ...);
  ((l.group_write[I][1] = &Isa::template group_write<static_cast<FusedActivation>(I), 1>), ...);
  ((l.group_write[I][2] = &Isa::template group_write<static_cast<FusedActivation>(I), 2>), ...);
  ((l.layer_write[I][0] = &Isa::template layer_write<static_cast<FusedActivation>(I), 0>), ...);
  ((l.layer_write[I][1] = &Isa::template layer_write<static_cast<FusedActivation>(I), 1>), ...);
  ((l.layer_write[I][2] = &Isa::template layer_write<static_cast<FusedActivation>(I), 2>), ...);
  return l;
}

const Leaves& baseline_leaves() {
  static const Leaves leaves = make_leaves<BaselineLeaves>(std::make_integer_sequence<int, kFusedActivationCount>());
  return leaves;
}

const Leaves& best_leaves() {
#if NORMRT_HAVE_AVX2_PATH
  static const Leaves leaves = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
                                   ? make_leaves<Avx2Leaves>(std::make_integer_sequence<int, kFusedActivationCount>())
                                   : baseline_leaves();
  return leaves;
#else
  return baseline_leaves();
#endif
}

// ---------------------------------------------------------------------------------------------------------
// The row driver shared by both ops: statistics per row, then write(row, begin, end, mean, rstd).

template <typename Write>
void normalize_rows(const Leaves& leaves, const float* x, int64_t rows, int64_t row_length, double epsilon,
                    const Write& write) {
  if (rows == 0 || row_length == 0) return;
  const int64_t total = rows * row_length;
  const int threads = total < kSerialElements ? 1 : std::max(1, omp_get_max_threads());
  const double inverse_length = 1.0 / static_cast<double>(row_length);
  auto rstd_of = [&](const Moments& m) { return 1.0 / std::sqrt(m.m2 * inverse_length + epsilon); };

  if (threads == 1 || rows >= 4 * static_cast<int64_t>(threads) || row_length < 2 * kMinPiece) {
    // One row per task: the row's second read (the write pass) comes from cache when the row fits in L2.
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int64_t r = 0; r < rows; ++r) {
      const Moments m = leaves.moments(x + r * row_length, row_length);
      write(r, 0, row_length, m.mean, rstd_of(m));
    }
    return;
  }

  // Few long rows: cut each into `pieces` so that every thread gets about four pieces in all.
  const int64_t pieces = std::min((4 * static_cast<int64_t>(threads) + rows - 1) / rows, row_length / kMinPiece);
  const int64_t items = rows * pieces;
  auto piece_bounds = [&](int64_t k) {
    // Boundaries on multiples of 16 values keep pieces 64-byte aligned where the row is.
    auto at = [&](int64_t j) { return j == pieces ? row_length : (row_length * j / pieces) / 16 * 16; };
    return std::pair<int64_t, int64_t>(at(k), at(k + 1));
  };
  std::vector<Moments> partial(static_cast<size_t>(items));
  std::vector<double> mean(static_cast<size_t>(rows)), rstd(static_cast<size_t>(rows));
#pragma omp parallel num_threads(threads)
  {
#pragma omp for schedule(static)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t r = item / pieces;
      const auto [begin, end] = piece_bounds(item % pieces);
      partial[item] = leaves.moments(x + r * row_length + begin, end - begin);
    }
#pragma omp single
    for (int64_t r = 0; r < rows; ++r) {
      Moments m;
      for (int64_t k = 0; k < pieces; ++k) m = combine(m, partial[r * pieces + k]);
      mean[r] = m.mean;
      rstd[r] = rstd_of(m);
    }
    // The same static schedule hands each thread the pieces it just read.
#pragma omp for schedule(static)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t r = item / pieces;
      const auto [begin, end] = piece_bounds(item % pieces);
      write(r, begin, end, mean[r], rstd[r]);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// The kernels.

bool all_float32(const std::vector<TypeShape>& inputs) {
  if (inputs.empty() || inputs[0].dtype != DataType::kFloat32) return false;
  for (size_t i = 1; i < inputs.size(); ++i)
    if (inputs[i].dtype != DataType::kUndefined && inputs[i].dtype != DataType::kFloat32) return false;
  return true;
}

// Whether the node's attributes have the types and values the kernel reads (a malformed node is left to the
// reference kernel, whose shape function reports it).
bool attributes_are_usable(const Node& node, bool group) {
  try {
    FusedActivation kind;
    if (!parse_fused_activation(node.attr_string("activation", ""), &kind)) return false;
    node.attr_float("activation_alpha", 0.0f);
    node.attr_float("epsilon", 1e-5f);
    if (group) {
      node.attr_int("affine_per_group", 0);
      if (node.attr_int("channels_last", 0) != 0) return false;  // channels-last data: the reference kernel
      return node.attr_int("num_groups", 0) > 0;
    }
    node.attr_int("axis", -1);
    return true;
  } catch (const Error&) {
    return false;
  }
}

bool group_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  if (inputs.size() > 4 || !all_float32(inputs) || !attributes_are_usable(node, true)) return false;
  return !(inputs[0].shape.has_rank && inputs[0].shape.rank() < 2);
}

// The leaves' kResidual for a node: 0 without a residual, 2 when it is added before the activation, else 1.
int residual_mode(const Node& node, const float* residual) {
  if (!residual) return 0;
  return residual_before_activation(node) ? 2 : 1;
}

const float* optional_float_input(const KernelContext& ctx, size_t i) {
  return ctx.has_input(i) ? ctx.in(i).data<float>() : nullptr;
}

void group_run_with(KernelContext& ctx, const Leaves& leaves) {
  const Tensor& x = ctx.in(0);
  const Dims& dims = x.dims();
  if (dims.size() < 2) ctx.fail("X has shape " + dims_to_string(dims) + "; GroupNorm needs rank >= 2");
  const int64_t N = dims[0], C = dims[1];
  int64_t S = 1;
  for (size_t d = 2; d < dims.size(); ++d) S *= dims[d];
  const int64_t G = ctx.node.attr_int("num_groups");
  if (G <= 0 || C % G != 0)
    ctx.fail("num_groups = " + std::to_string(G) + " does not divide the channel count C = " + std::to_string(C));
  const ActivationSpec act = read_fused_activation(ctx.node);
  // Per-channel gamma and beta (ones and zeros when absent; repeated per group for affine_per_group = 1).
  const bool per_group = ctx.node.attr_int("affine_per_group", 0) != 0;
  const int64_t params = per_group ? G : C;
  std::vector<float> gamma(static_cast<size_t>(C), 1.0f), beta(static_cast<size_t>(C), 0.0f);
  const float* scale = optional_float_input(ctx, 1);
  const float* bias = optional_float_input(ctx, 2);
  for (int i = 1; i <= 2; ++i)
    if (ctx.has_input(i) && ctx.in(i).numel() != params)
      ctx.fail(std::string(i == 1 ? "scale" : "bias") + " has " + std::to_string(ctx.in(i).numel()) +
               " elements; expected " + std::to_string(params));
  for (int64_t c = 0; c < C; ++c) {
    const int64_t p = per_group ? c / (C / G) : c;
    if (scale) gamma[c] = scale[p];
    if (bias) beta[c] = bias[p];
  }
  const float* residual = optional_float_input(ctx, 3);
  if (residual && ctx.in(3).dims() != dims)
    ctx.fail("residual has shape " + dims_to_string(ctx.in(3).dims()) + " but X has " + dims_to_string(dims));
  const GroupWrite w{x.data<float>(), residual, ctx.out(0).data<float>(), gamma.data(), beta.data(), C, G, S,
                     act.alpha};
  const GroupWriteFn fn = leaves.group_write[static_cast<int>(act.kind)][residual_mode(ctx.node, residual)];
  normalize_rows(leaves, x.data<float>(), N * G, (C / G) * S, ctx.node.attr_float("epsilon", 1e-5f),
                 [&](int64_t row, int64_t begin, int64_t end, double mean, double rstd) {
                   fn(w, row, begin, end, mean, rstd);
                 });
}

void group_run(KernelContext& ctx) { group_run_with(ctx, best_leaves()); }
void group_run_baseline(KernelContext& ctx) { group_run_with(ctx, baseline_leaves()); }

bool layer_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  if (inputs.size() > 4 || !all_float32(inputs) || !attributes_are_usable(node, false)) return false;
  return !(inputs[0].shape.has_rank && inputs[0].shape.rank() < 1);
}

// A parameter broadcast (right-aligned) over the normalized dims, one float per normalized element.
std::vector<float> expand_parameter(const KernelContext& ctx, size_t i, const Dims& normalized, float absent) {
  std::vector<float> out(static_cast<size_t>(element_count(normalized)), absent);
  if (!ctx.has_input(i)) return out;
  const Tensor& p = ctx.in(i);
  if (p.dims().size() > normalized.size())
    ctx.fail("input " + std::to_string(i) + " has shape " + dims_to_string(p.dims()) +
             ", of higher rank than the normalized dims " + dims_to_string(normalized));
  for (size_t k = 0; k < p.dims().size(); ++k) {
    const int64_t pd = p.dims()[p.dims().size() - 1 - k], nd = normalized[normalized.size() - 1 - k];
    if (pd != 1 && pd != nd)
      ctx.fail("input " + std::to_string(i) + " has shape " + dims_to_string(p.dims()) +
               ", which does not broadcast to the normalized dims " + dims_to_string(normalized));
  }
  const float* values = p.data<float>();
  if (p.numel() == static_cast<int64_t>(out.size())) {
    std::memcpy(out.data(), values, out.size() * sizeof(float));
  } else {
    for_each_broadcast(normalized, {broadcast_strides(p.dims(), normalized)},
                       [&](int64_t linear, const std::vector<int64_t>& offsets) { out[linear] = values[offsets[0]]; });
  }
  return out;
}

void layer_run_with(KernelContext& ctx, const Leaves& leaves) {
  const Tensor& x = ctx.in(0);
  const Dims& dims = x.dims();
  const int64_t axis = normalize_axis(ctx, ctx.node.attr_int("axis", -1), static_cast<int64_t>(dims.size()));
  const Dims normalized(dims.begin() + axis, dims.end());
  int64_t rows = 1;
  for (int64_t d = 0; d < axis; ++d) rows *= dims[d];
  const int64_t row_length = element_count(normalized);
  const ActivationSpec act = read_fused_activation(ctx.node);
  const std::vector<float> gamma = expand_parameter(ctx, 1, normalized, 1.0f);
  const std::vector<float> beta = expand_parameter(ctx, 2, normalized, 0.0f);
  const float* residual = optional_float_input(ctx, 3);
  if (residual && ctx.in(3).dims() != dims)
    ctx.fail("residual has shape " + dims_to_string(ctx.in(3).dims()) + " but X has " + dims_to_string(dims));
  const LayerWrite w{x.data<float>(), residual, ctx.out(0).data<float>(), gamma.data(), beta.data(), row_length,
                     act.alpha};
  const LayerWriteFn fn = leaves.layer_write[static_cast<int>(act.kind)][residual_mode(ctx.node, residual)];
  normalize_rows(leaves, x.data<float>(), rows, row_length, ctx.node.attr_float("epsilon", 1e-5f),
                 [&](int64_t row, int64_t begin, int64_t end, double mean, double rstd) {
                   fn(w, row, begin, end, mean, rstd);
                 });
}

void layer_run(KernelContext& ctx) { layer_run_with(ctx, best_leaves()); }
void layer_run_baseline(KernelContext& ctx) { layer_run_with(ctx, baseline_leaves()); }

}  // namespace

// The kernels the builder chooses. The "_baseline" twins run the same code without the AVX2 path, so that tests
// cover it on any machine; their negative priority keeps the builder from choosing them.
NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"norm_group_fused", kNormrtDomain, "GroupNorm", group_accepts, group_run, 10});
NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"norm_layer_fused", kNormrtDomain, "LayerNorm", layer_accepts, layer_run, 10});
NORMRT_REGISTER_CPU_KERNEL(
    CpuKernel{"norm_group_fused_baseline", kNormrtDomain, "GroupNorm", group_accepts, group_run_baseline, -1});
NORMRT_REGISTER_CPU_KERNEL(
    CpuKernel{"norm_layer_fused_baseline", kNormrtDomain, "LayerNorm", layer_accepts, layer_run_baseline, -1});

}  // namespace normrt
