// GroupNorm / InstanceNorm / LayerNorm forward: see group_norm.h for the contract and README.md for the design.
//
// Vocabulary used below.
//   unit: what one cluster (or, in the split algorithm, one set of blocks) normalizes. NCHW: one group (n, g),
//     Cg*HW contiguous elements. NHWC: k consecutive whole groups of one sample (W = k*Cg channels), HW rows
//     of W channels at a row stride of C elements (W is chosen so that rows hold at least 32 channels, whole
//     16-byte vectors and, where possible, whole 32-byte sectors; see make_group_plan).
//   row: NCHW: one vector of V elements (the unit is a column of rows with stride 1 vector);
//        NHWC: one spatial position, Lv = W / V vectors wide.
//   Each block owns rows [lo, hi) of its unit. Thread t owns vector column t % Lv and rows t / Lv + i * R,
//   so in NHWC every thread always touches the same V channels, hence the same (at most `slots`) groups: a
//   vector may straddle groups (Cg = 10, V = 8), so statistics are kept per element and collapsed per group
//   at the end.
#include "cuda/group_norm.h"

#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda.h>
#include <cuda_runtime.h>
#include <cudaTypedefs.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>

namespace normrt {
namespace cuda {
namespace {

namespace cg = cooperative_groups;

constexpr int kMaxThreads = 1024;
constexpr int kMaxRegisterThreads = 512;  // the registers kernel: 128 registers a thread

// ---------------------------------------------------------------------------------------------------------
// Device helpers

template <int B>
struct RawVec;
template <>
struct RawVec<16> {
  using type = uint4;
};
template <>
struct RawVec<8> {
  using type = uint2;
};
template <>
struct RawVec<4> {
  using type = unsigned int;
};
template <>
struct RawVec<2> {
  using type = unsigned short;
};

template <typename T>
__device__ __forceinline__ float to_float(T v);
template <>
__device__ __forceinline__ float to_float<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ float to_float<__half>(__half v) {
  return __half2float(v);
}
template <>
__device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 v) {
  return __bfloat162float(v);
}

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __half from_float<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

template <typename T, typename Raw, int V>
__device__ __forceinline__ void unpack(const Raw raw, float (&f)[V]) {  // by value: one wide load
  const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
  for (int i = 0; i < V; ++i) f[i] = to_float<T>(e[i]);
}

template <typename T, typename Raw, int V>
__device__ __forceinline__ Raw pack(const float (&f)[V]) {
  Raw raw;
  T* e = reinterpret_cast<T*>(&raw);
#pragma unroll
  for (int i = 0; i < V; ++i) e[i] = from_float<T>(f[i]);
  return raw;
}

// Welford/Chan partial: n elements whose mean is K + o (K: the group's shift, a sample of its data, so o and
// the per-element differences stay small and exact-ish even at mean 1e4, std 1e-2) and whose sum of squared
// deviations from that mean is m2.
struct Partial {
  float n, o, m2;
};

__device__ __forceinline__ Partial merge(const Partial& a, const Partial& b) {
  const float n = a.n + b.n;
  if (n == 0.0f) return a;
  const float delta = b.o - a.o;
  const float fb = __fdividef(b.n, n);
  Partial r;
  r.n = n;
  r.o = fmaf(delta, fb, a.o);
  r.m2 = a.m2 + b.m2 + delta * delta * a.n * fb;
  return r;
}

// Lane 0 ends with the merge of all 32 lanes, always in the same order (deterministic).
__device__ __forceinline__ Partial warp_merge(Partial p) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    Partial q;
    q.n = __shfl_down_sync(0xffffffffu, p.n, offset);
    q.o = __shfl_down_sync(0xffffffffu, p.o, offset);
    q.m2 = __shfl_down_sync(0xffffffffu, p.m2, offset);
    p = merge(p, q);
  }
  return p;
}

__device__ __forceinline__ float4 to_float4(const Partial& p) { return make_float4(p.n, p.o, p.m2, 0.0f); }
__device__ __forceinline__ Partial to_partial(const float4& v) { return Partial{v.x, v.y, v.z}; }

template <int ACT>
__device__ __forceinline__ float activate(float v, float alpha) {
  if constexpr (ACT == static_cast<int>(Activation::kRelu)) {
    return fmaxf(v, 0.0f);
  } else if constexpr (ACT == static_cast<int>(Activation::kSilu)) {
    return __fdividef(v, 1.0f + __expf(-v));
  } else if constexpr (ACT == static_cast<int>(Activation::kElu)) {
    return v > 0.0f ? v : alpha * expm1f(v);
  } else if constexpr (ACT == static_cast<int>(Activation::kGelu)) {
    return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
  } else if constexpr (ACT == static_cast<int>(Activation::kSigmoid)) {
    return __fdividef(1.0f, 1.0f + __expf(-v));
  } else if constexpr (ACT == static_cast<int>(Activation::kTanh)) {
    return tanhf(v);
  } else if constexpr (ACT == static_cast<int>(Activation::kLeakyRelu)) {
    return v >= 0.0f ? v : alpha * v;
  } else {
    return v;
  }
}

template <int ACT, int V>
__device__ __forceinline__ void activate_all(float (&f)[V], float alpha) {
#pragma unroll
  for (int e = 0; e < V; ++e) f[e] = activate<ACT>(f[e], alpha);
}

// One branch per vector (the activation is uniform), not one per element.
template <int V>
__device__ __forceinline__ void activate_vector(float (&f)[V], int act, float alpha) {
  switch (act) {
    case 1:
      activate_all<1>(f, alpha);
      break;
    case 2:
      activate_all<2>(f, alpha);
      break;
    case 3:
      activate_all<3>(f, alpha);
      break;
    case 4:
      activate_all<4>(f, alpha);
      break;
    case 5:
      activate_all<5>(f, alpha);
      break;
    case 6:
      activate_all<6>(f, alpha);
      break;
    case 7:
      activate_all<7>(f, alpha);
      break;
    default:
      break;
  }
}

// V parameters from c on (or `none` for each when there are none): 16-byte loads where the array allows them.
template <int V>
__device__ __forceinline__ void affine_vector(const float* params, uint32_t c, float none, float (&out)[V]) {
  if (!params) {
#pragma unroll
    for (int e = 0; e < V; ++e) out[e] = none;
  } else if (V % 4 == 0 && reinterpret_cast<uintptr_t>(params + c) % 16 == 0) {
#pragma unroll
    for (int e = 0; e < V; e += 4) {
      const float4 v = __ldg(reinterpret_cast<const float4*>(params + c + e));
      out[e] = v.x;
      out[e + 1] = v.y;
      out[e + 2] = v.z;
      out[e + 3] = v.w;
    }
  } else {
#pragma unroll
    for (int e = 0; e < V; ++e) out[e] = __ldg(params + c + e);
  }
}

// The epilogue after the affine: y = act(n) + residual, or act(n + residual) when residual_first (ResNet's
// relu(norm(h) + x)); `residual` is null when there is none.
template <int V>
__device__ __forceinline__ void finish_vector(float (&f)[V], const float* residual, int residual_first, int act,
                                              float alpha) {
  if (residual && residual_first) {
#pragma unroll
    for (int e = 0; e < V; ++e) f[e] += residual[e];
  }
  activate_vector(f, act, alpha);
  if (residual && !residual_first) {
#pragma unroll
    for (int e = 0; e < V; ++e) f[e] += residual[e];
  }
}

// n / d for n < 2^31 with one multiply-high (Granlund-Montgomery); d >= 1.
struct FastDiv {
  uint32_t mul = 1;
  uint32_t shift = 0;
};

__device__ __forceinline__ uint32_t fast_div(uint32_t n, FastDiv d) { return (__umulhi(n, d.mul) + n) >> d.shift; }

FastDiv make_fast_div(uint32_t d) {
  FastDiv f;
  uint32_t l = 0;
  while ((uint64_t{1} << l) < d) ++l;
  f.mul = static_cast<uint32_t>(((uint64_t{1} << 32) * ((uint64_t{1} << l) - d)) / d + 1);
  f.shift = l;
  return f;
}

// Programmatic dependent launch. Every kernel here waits for the kernel before it on the stream after setting
// up and before its first read of a tensor, and lets the next kernel launch once all of its blocks pass
// allow_next_kernel (the next one still waits for this one to finish before reading anything). The one-pass
// kernels allow it after their statistics, so the next kernel's blocks move in while they store; allowing it
// at the start let chains of kernels hold SMs while waiting (H100: up to 25% slower on NHWC fp16). Both are
// no-ops when the launch had no programmatic attribute.
__device__ __forceinline__ void allow_next_kernel() { asm volatile("griddepcontrol.launch_dependents;" ::: "memory"); }
__device__ __forceinline__ void wait_for_previous_kernel() { asm volatile("griddepcontrol.wait;" ::: "memory"); }

// MODE: 0 = fused (cluster), 1 = split statistics, 2 = split normalize.
template <int MODE, typename Raw>
__device__ __forceinline__ Raw load_x(const Raw* p) {
  if constexpr (MODE == 1) {
    return __ldg(p);  // keep it in L2 for the normalize kernel's second read
  } else {
    return __ldcs(p);  // last read of x: evict first
  }
}

struct Params {
  const void* x;
  void* y;
  const float* gamma;
  const float* beta;
  const void* residual;
  float4* workspace;       // split: [units][blocks_per_unit][k] partials
  uint32_t C, HW, Cg, G;
  uint32_t k;              // groups per unit
  uint32_t units_per_sample;
  uint32_t unit_rows;      // rows per unit
  uint32_t row_stride;     // vectors from one row to the next (NCHW 1, NHWC C/V)
  uint32_t Lv;             // vectors per row
  uint32_t R;              // rows per pass of the block (active threads = R * Lv)
  uint32_t rows_per_block;
  uint32_t blocks_per_unit;
  uint32_t tile_bytes;     // fused: bytes of the shared-memory tile
  uint32_t table_channels; // NCHW: channels of the per-block (scale, shift) table (Cg, or 0 when too many)
  uint32_t slots;          // NHWC: the most groups one thread's vector touches
  FastDiv div_hw;          // NCHW: element index within the group -> channel
  FastDiv div_vpc;         // NCHW with HW % V == 0: vector index -> channel (HW / V vectors per channel)
  int nhwc;
  int act;
  int residual_first;  // 1: y = act(n + residual); 0: y = act(n) + residual
  float alpha;
  float eps;
};

// A group's (offset, rstd) from its merged partial.
__device__ __forceinline__ float2 offset_rstd(const Partial& m, float eps) {
  return make_float2(m.o, rsqrtf(fmaxf(m.m2 / m.n, 0.0f) + eps));
}

// Once part[0..k) holds this block's partial of each group of its unit: MODE 1 stores them in the workspace,
// each with its group's shift (xs[g * Cg], the group's first element), and returns false. MODE 0 merges the
// partials of every block of the cluster, MODE 2 those of the workspace, in rank order (identical results in
// every block), into stat[g] = (offset, rstd).
template <typename T, int MODE>
__device__ __forceinline__ bool unit_statistics(const Params& p, float4* part, float2* stat, uint32_t unit,
                                                uint32_t rank, const T* xs) {
  const uint32_t t = threadIdx.x, lane = t & 31u, warp = t >> 5, nwarps = blockDim.x >> 5;
  if constexpr (MODE == 1) {
    __syncthreads();
    for (uint32_t g = t; g < p.k; g += blockDim.x) {
      float4 v = part[g];
      v.w = to_float<T>(xs[static_cast<size_t>(g) * p.Cg]);
      p.workspace[(static_cast<size_t>(unit) * p.blocks_per_unit + rank) * p.k + g] = v;
    }
    return false;
  } else if constexpr (MODE == 0) {
    cg::cluster_group cluster = cg::this_cluster();
    cluster.sync();
    for (uint32_t g = warp; g < p.k; g += nwarps) {
      Partial acc{0.0f, 0.0f, 0.0f};
      for (uint32_t r = lane; r < p.blocks_per_unit; r += 32)
        acc = merge(acc, to_partial(*cluster.map_shared_rank(part + g, static_cast<int>(r))));
      acc = warp_merge(acc);
      if (lane == 0) stat[g] = offset_rstd(acc, p.eps);
    }
    __syncthreads();
    cluster.barrier_arrive();  // done reading the other blocks' shared memory
    return true;
  } else {
    for (uint32_t g = warp; g < p.k; g += nwarps) {
      Partial acc{0.0f, 0.0f, 0.0f};
      const float4* ws = p.workspace + static_cast<size_t>(unit) * p.blocks_per_unit * p.k + g;
      for (uint32_t r = lane; r < p.blocks_per_unit; r += 32) acc = merge(acc, to_partial(ws[r * p.k]));
      acc = warp_merge(acc);
      if (lane == 0) stat[g] = offset_rstd(acc, p.eps);
    }
    __syncthreads();
    return true;
  }
}

// NCHW (rows of one vector; k == 1) for the shapes the bulk-copy kernel does not take, and its split pair.
template <typename T, int VB, int MODE>
__global__ void __launch_bounds__(kMaxThreads) group_norm_kernel(const Params p) {
  constexpr int V = VB / static_cast<int>(sizeof(T));
  constexpr int U = VB >= 16 ? 4 : 8;  // independent loads in flight per thread
  using Raw = typename RawVec<VB>::type;
  extern __shared__ __align__(16) unsigned char smem[];
  wait_for_previous_kernel();
  allow_next_kernel();

  const uint32_t t = threadIdx.x;
  const uint32_t lane = t & 31u;
  const uint32_t warp = t >> 5;
  const uint32_t nwarps = blockDim.x >> 5;
  const uint32_t unit = blockIdx.x / p.blocks_per_unit;
  const uint32_t rank = blockIdx.x % p.blocks_per_unit;

  const uint32_t ch_base = (unit % p.G) * p.Cg;  // channel of the unit's first element
  const int64_t base = static_cast<int64_t>(unit) * p.Cg * p.HW;

  Raw* tile = reinterpret_cast<Raw*>(smem);
  float4* red = reinterpret_cast<float4*>(smem + p.tile_bytes);  // 32 entries, one per warp
  float4* part = red + 32;                                       // the block partial
  float2* stat = reinterpret_cast<float2*>(part + 1);            // (offset, rstd)

  const bool active = t < p.R * p.Lv;
  const uint32_t col = active ? t % p.Lv : 0u;
  const uint32_t row0 = t / p.Lv;
  const uint32_t j = 0;
  const uint32_t lo = rank * p.rows_per_block;
  const uint32_t hi = min(lo + p.rows_per_block, p.unit_rows);
  const uint32_t step = U * p.R;

  const T* xs = static_cast<const T*>(p.x) + base;
  const Raw* xv = reinterpret_cast<const Raw*>(xs);
  // The shift: the group's first element, read by every block of the unit (one cached load) before any
  // block writes y (y may alias x). The split normalize kernel takes it from the workspace instead.
  float K;
  if constexpr (MODE == 2) {
    K = p.workspace[static_cast<size_t>(unit) * p.blocks_per_unit * p.k + j].w;
  } else {
    K = to_float<T>(xs[static_cast<size_t>(j) * p.Cg]);
  }

  if constexpr (MODE != 2) {
    float sum = 0.0f, sq = 0.0f;
    uint32_t cnt = 0;
    if (active) {
      for (uint32_t r = lo + row0; r < hi; r += step) {
        Raw v[U];
#pragma unroll
        for (int u = 0; u < U; ++u) {
          const uint32_t rr = r + u * p.R;
          if (rr < hi) v[u] = load_x<MODE>(xv + static_cast<size_t>(rr) * p.row_stride + col);
        }
#pragma unroll
        for (int u = 0; u < U; ++u) {
          const uint32_t rr = r + u * p.R;
          if (rr < hi) {
            float f[V];
            unpack<T, Raw, V>(v[u], f);
#pragma unroll
            for (int e = 0; e < V; ++e) {
              const float d = f[e] - K;
              sum += d;
              sq = fmaf(d, d, sq);
            }
            cnt += V;
            if constexpr (MODE == 0) tile[(rr - lo) * p.Lv + col] = v[u];
          }
        }
      }
    }
    Partial mine{0.0f, 0.0f, 0.0f};
    if (cnt > 0) {
      mine.n = static_cast<float>(cnt);
      mine.o = sum / mine.n;
      mine.m2 = fmaxf(sq - sum * mine.o, 0.0f);
    }

    // The block partial -> part[0].
    const Partial w = warp_merge(mine);
    if (lane == 0) red[warp] = to_float4(w);
    __syncthreads();
    if (warp == 0) {
      Partial q = lane < nwarps ? to_partial(red[lane]) : Partial{0.0f, 0.0f, 0.0f};
      q = warp_merge(q);
      if (lane == 0) part[0] = to_float4(q);
    }
  }
  if (!unit_statistics<T, MODE>(p, part, stat, unit, rank, xs)) return;

  // Normalize: y = act((x - K) * a + b') + residual, a = rstd * gamma, b' = beta - o * a (o = mean - K is
  // small, so b' keeps its precision even when the mean is large).
  const float2 st = stat[j];
  const float o = st.x;
  const float rstd = st.y;
  Raw* yv = reinterpret_cast<Raw*>(static_cast<T*>(p.y) + base);
  const Raw* rv =
      p.residual ? reinterpret_cast<const Raw*>(static_cast<const T*>(p.residual) + base) : nullptr;
  // One (a, b') per channel of the group in shared memory.
  float2* table = reinterpret_cast<float2*>(stat + p.k);
  for (uint32_t c = t; c < p.table_channels; c += blockDim.x) {
    const float av = p.gamma ? rstd * __ldg(p.gamma + ch_base + c) : rstd;
    table[c] = make_float2(av, fmaf(-o, av, p.beta ? __ldg(p.beta + ch_base + c) : 0.0f));
  }
  __syncthreads();
  auto channel_ab = [&](uint32_t c) -> float2 {  // c: channel within the group
    if (c < p.table_channels) return table[c];
    const float av = p.gamma ? rstd * __ldg(p.gamma + ch_base + c) : rstd;
    return make_float2(av, fmaf(-o, av, p.beta ? __ldg(p.beta + ch_base + c) : 0.0f));
  };
  const bool one_channel_per_vector = (p.HW % V) == 0;
  if (active) {
    for (uint32_t r = lo + row0; r < hi; r += step) {
      // Global loads first (several in flight); the fused kernel reads x from shared memory in the loop below.
      Raw res[U];
      if (rv) {
#pragma unroll
        for (int u = 0; u < U; ++u) {
          const uint32_t rr = r + u * p.R;
          if (rr < hi) res[u] = __ldcs(rv + static_cast<size_t>(rr) * p.row_stride + col);
        }
      }
      Raw xin[MODE == 0 ? 1 : U];
      if constexpr (MODE != 0) {
#pragma unroll
        for (int u = 0; u < U; ++u) {
          const uint32_t rr = r + u * p.R;
          if (rr < hi) xin[u] = load_x<MODE>(xv + static_cast<size_t>(rr) * p.row_stride + col);
        }
      }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const uint32_t rr = r + u * p.R;
        if (rr < hi) {
          float f[V];
          if constexpr (MODE == 0) {
            unpack<T, Raw, V>(tile[(rr - lo) * p.Lv + col], f);
          } else {
            unpack<T, Raw, V>(xin[u], f);
          }
          if (one_channel_per_vector) {
            const float2 ab = channel_ab(fast_div(rr, p.div_vpc));
#pragma unroll
            for (int e = 0; e < V; ++e) f[e] = fmaf(f[e] - K, ab.x, ab.y);
          } else {
#pragma unroll
            for (int e = 0; e < V; ++e) {
              const float2 ab = channel_ab(fast_div(rr * V + e, p.div_hw));
              f[e] = fmaf(f[e] - K, ab.x, ab.y);
            }
          }
          float rf[V];
          if (rv) unpack<T, Raw, V>(res[u], rf);
          finish_vector(f, rv ? rf : nullptr, p.residual_first, p.act, p.alpha);
          yv[static_cast<size_t>(rr) * p.row_stride + col] = pack<T, Raw, V>(f);
        }
      }
    }
  }

  if constexpr (MODE == 0) {
    // Keep this block's shared memory alive until every block of the cluster has read its partial.
    cg::this_cluster().barrier_wait();
  }
}

// NHWC: thread t's vector starts at channel c0 of its unit, in group j0. Element e's group, relative to j0, goes
// in bits [3e, 3e + 3) of the result (slots <= V <= 8; packed to save registers), and K[e] gets accumulator
// e's shift: its group's first value (MODE 2: the one the statistics kernel stored).
template <typename T, int S, int MODE>
__device__ __forceinline__ uint32_t nhwc_slots(const Params& p, uint32_t c0, uint32_t j0, uint32_t unit, const T* xs,
                                               float (&K)[S]) {
  uint32_t slots = 0;
#pragma unroll
  for (int e = 0; e < S; ++e) {
    const uint32_t s = (c0 + e) / p.Cg - j0;
    slots |= s << (3 * e);
    if (e > 0 && s == ((slots >> (3 * (e - 1))) & 7u)) {
      K[e] = K[e - 1];  // one load per group, not per element
    } else if constexpr (MODE == 2) {
      K[e] = p.workspace[static_cast<size_t>(unit) * p.blocks_per_unit * p.k + j0 + s].w;
    } else {
      K[e] = to_float<T>(xs[static_cast<size_t>(j0 + s) * p.Cg]);
    }
  }
  return slots;
}

// NHWC: adds one vector's elements, each minus its accumulator's shift, to the accumulators' sums and sums of
// squares. S accumulators: 1 when the whole vector is in one group, V (one per element) when it may straddle.
template <typename T, int V, int S, typename Raw>
__device__ __forceinline__ void accumulate_shifted(const Raw raw, const float (&K)[S], float (&sum)[S],
                                                   float (&sq)[S]) {
  float f[V];
  unpack<T, Raw, V>(raw, f);
#pragma unroll
  for (int e = 0; e < V; ++e) {
    const int a = S == 1 ? 0 : e;
    const float d = f[e] - K[a];
    sum[a] += d;
    sq[a] = fmaf(d, d, sq[a]);
  }
}

// NHWC: collapses each thread's shifted sums per group (inactive threads write zeros) into red, then one warp
// per group adds the entries of every row slot and every column that touches the group, in a fixed order, into
// part[g], the block's partial over `rows` rows.
template <int S, int V>
__device__ __forceinline__ void nhwc_block_partials(const Params& p, const float (&sum)[S], const float (&sq)[S],
                                                    uint32_t slots, uint32_t rows, float2* red, float4* part) {
  const uint32_t t = threadIdx.x, lane = t & 31u, warp = t >> 5, nwarps = blockDim.x >> 5;
  for (uint32_t s = 0; s < p.slots; ++s) {
    float a = 0.0f, b = 0.0f;
#pragma unroll
    for (int e = 0; e < S; ++e) {
      if (((slots >> (3 * e)) & 7u) == s) {
        a += sum[e];
        b += sq[e];
      }
    }
    red[t * p.slots + s] = make_float2(a, b);
  }
  __syncthreads();
  const float count = static_cast<float>(rows) * static_cast<float>(p.Cg);
  for (uint32_t g = warp; g < p.k; g += nwarps) {
    const uint32_t col_lo = g * p.Cg / V, col_hi = ((g + 1) * p.Cg - 1) / V;
    const uint32_t ncols = col_hi - col_lo + 1;
    float a = 0.0f, b = 0.0f;
    for (uint32_t m = lane; m < p.R * ncols; m += 32) {
      const uint32_t r = m / ncols, c = col_lo + m % ncols;
      const float2 v = red[(r * p.Lv + c) * p.slots + (g - c * V / p.Cg)];
      a += v.x;
      b += v.y;
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
      a += __shfl_down_sync(0xffffffffu, a, offset);
      b += __shfl_down_sync(0xffffffffu, b, offset);
    }
    if (lane == 0) {
      Partial q{0.0f, 0.0f, 0.0f};
      if (count > 0.0f) {
        q.n = count;
        q.o = a / count;
        q.m2 = fmaxf(b - a * q.o, 0.0f);
      }
      part[g] = to_float4(q);
    }
  }
}

// NHWC: rows of W = k*Cg channels (Lv vectors) at a stride of C. A thread's V channels, and so their groups,
// are the same in every row it handles: per-element shifted sums stay in registers (each element shifted by
// its own group's first value, so sums of one group add up directly), then collapse through shared memory into
// one partial per group of the unit. The normalize loop keeps each element's scale, shift and K in registers.
// STRADDLE: a vector may hold several groups (slots > 1). Without it every element of a thread's vector is
// in one group, and one sum, one sum of squares and one shift do.
template <typename T, int VB, int MODE, bool STRADDLE>
__global__ void __launch_bounds__(kMaxThreads) group_norm_nhwc_kernel(const Params p) {
  constexpr int V = VB / static_cast<int>(sizeof(T));
  // Independent loads in flight per thread. Straddling vectors keep fewer, since their per-element sums and
  // shifts take registers (64 at 1024 threads; U = 4 spilled 416 bytes at fp16), and so does the split
  // normalize kernel, which holds x and the residual (U = 4 spilled 132 bytes at fp16).
  constexpr int U = STRADDLE || MODE == 2 ? (VB >= 16 ? 2 : 4) : (VB >= 16 ? 4 : 8);
  constexpr int S = STRADDLE ? V : 1;  // accumulators per thread
  using Raw = typename RawVec<VB>::type;
  extern __shared__ __align__(16) unsigned char smem[];
  wait_for_previous_kernel();
  allow_next_kernel();

  const uint32_t t = threadIdx.x;
  const uint32_t unit = blockIdx.x / p.blocks_per_unit;
  const uint32_t rank = blockIdx.x % p.blocks_per_unit;
  const uint32_t n = unit / p.units_per_sample;
  const uint32_t ch_base = (unit % p.units_per_sample) * p.k * p.Cg;  // the unit's first channel
  const int64_t base = static_cast<int64_t>(n) * p.HW * p.C + ch_base;

  Raw* tile = reinterpret_cast<Raw*>(smem);
  float4* part = reinterpret_cast<float4*>(smem + p.tile_bytes);  // k block partials
  float2* stat = reinterpret_cast<float2*>(part + p.k);           // k (offset, rstd)
  float2* red = stat + p.k;                                       // blockDim.x * slots (sum, sum of squares)

  const bool active = t < p.R * p.Lv;
  const uint32_t col = active ? t % p.Lv : 0u;
  const uint32_t row0 = t / p.Lv;
  const uint32_t c0 = col * V;       // this thread's first channel within the unit
  const uint32_t j0 = c0 / p.Cg;     // ... and its group
  const uint32_t lo = rank * p.rows_per_block;
  const uint32_t hi = min(lo + p.rows_per_block, p.unit_rows);
  const uint32_t step = U * p.R;

  const T* xs = static_cast<const T*>(p.x) + base;
  const Raw* xv = reinterpret_cast<const Raw*>(xs);
  float K[S];  // accumulator e's shift: its group's first value (read before any block writes y)
  const uint32_t slots = nhwc_slots<T, S, MODE>(p, c0, j0, unit, xs, K);
  // Element e's accumulator (and group slot).
  auto acc = [](int e) { return STRADDLE ? e : 0; };
  auto slot = [&](int e) { return (slots >> (3 * acc(e))) & 7u; };

  if constexpr (MODE != 2) {
    float sum[S], sq[S];
#pragma unroll
    for (int e = 0; e < S; ++e) sum[e] = sq[e] = 0.0f;
    if (active) {
      for (uint32_t r = lo + row0; r < hi; r += step) {
        Raw v[U];
#pragma unroll
        for (int u = 0; u < U; ++u) {
          const uint32_t rr = r + u * p.R;
          if (rr < hi) v[u] = load_x<MODE>(xv + static_cast<size_t>(rr) * p.row_stride + col);
        }
#pragma unroll
        for (int u = 0; u < U; ++u) {
          const uint32_t rr = r + u * p.R;
          if (rr < hi) {
            accumulate_shifted<T, V>(v[u], K, sum, sq);
            if constexpr (MODE == 0) tile[(rr - lo) * p.Lv + col] = v[u];
          }
        }
      }
    }
    nhwc_block_partials<S, V>(p, sum, sq, slots, hi > lo ? hi - lo : 0u, red, part);
  }
  if (!unit_statistics<T, MODE>(p, part, stat, unit, rank, xs)) return;

  // Normalize: y = act((x - K) * a + b') + residual per element, with its own group's (offset, rstd).
  float a[V], b[V];
#pragma unroll
  for (int e = 0; e < V; ++e) {
    const float2 st = stat[j0 + slot(e)];
    const uint32_t ch = ch_base + c0 + e;
    a[e] = p.gamma ? st.y * __ldg(p.gamma + ch) : st.y;
    b[e] = fmaf(-st.x, a[e], p.beta ? __ldg(p.beta + ch) : 0.0f);
  }
  Raw* yv = reinterpret_cast<Raw*>(static_cast<T*>(p.y) + base);
  const Raw* rv =
      p.residual ? reinterpret_cast<const Raw*>(static_cast<const T*>(p.residual) + base) : nullptr;
  if (active) {
    for (uint32_t r = lo + row0; r < hi; r += step) {
      Raw res[U];
      if (rv) {
#pragma unroll
        for (int u = 0; u < U; ++u) {
          const uint32_t rr = r + u * p.R;
          if (rr < hi) res[u] = __ldcs(rv + static_cast<size_t>(rr) * p.row_stride + col);
        }
      }
      Raw xin[MODE == 0 ? 1 : U];
      if constexpr (MODE != 0) {
#pragma unroll
        for (int u = 0; u < U; ++u) {
          const uint32_t rr = r + u * p.R;
          if (rr < hi) xin[u] = load_x<MODE>(xv + static_cast<size_t>(rr) * p.row_stride + col);
        }
      }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const uint32_t rr = r + u * p.R;
        if (rr < hi) {
          float f[V];
          if constexpr (MODE == 0) {
            unpack<T, Raw, V>(tile[(rr - lo) * p.Lv + col], f);
          } else {
            unpack<T, Raw, V>(xin[u], f);
          }
#pragma unroll
          for (int e = 0; e < V; ++e) f[e] = fmaf(f[e] - K[acc(e)], a[e], b[e]);
          float rf[V];
          if (rv) unpack<T, Raw, V>(res[u], rf);
          finish_vector(f, rv ? rf : nullptr, p.residual_first, p.act, p.alpha);
          yv[static_cast<size_t>(rr) * p.row_stride + col] = pack<T, Raw, V>(f);
        }
      }
    }
  }

  if constexpr (MODE == 0) {
    // Keep this block's shared memory alive until every block of the cluster has read its partials.
    cg::this_cluster().barrier_wait();
  }
}

// ---------------------------------------------------------------------------------------------------------
// NCHW with 16-byte vectors: the one-pass kernel on Hopper's bulk-copy engine.
//
// A block owns a contiguous byte range of x: a slice of one group (clusters of `cs` blocks split a group), or
// `upb` whole small groups (one team of warps per group). One thread starts the whole range's loads at once as
// up to kMaxChunks bulk copies into shared memory, each completing on its own mbarrier, so the statistics of
// chunk 0 run while the later chunks are still in flight. After the (cluster-wide) merge, every chunk is
// normalized in place in shared memory and written back by a bulk store, which overlaps the next chunk's
// arithmetic. Global loads and stores cost no thread instructions and no registers.

constexpr uint32_t kMaxChunks = 8;

struct BulkParams {
  const void* x;
  void* y;
  const float* gamma;
  const float* beta;
  const void* residual;
  uint32_t HW, Cg, G;
  uint32_t unit_vecs;       // 16-byte vectors per group
  uint32_t units;           // N * G
  uint32_t upb;             // groups per block (1 when a cluster splits a group)
  uint32_t cs;              // blocks per group (cluster size)
  uint32_t vecs_per_block;  // cs > 1: slice length in vectors
  uint32_t chunks;          // bulk copies per block (cs > 1; 1 otherwise)
  uint32_t tile_bytes;
  uint32_t table_channels;  // upb * Cg when that fits the table, else 0
  FastDiv div_hw;
  FastDiv div_vpc;
  int act;
  int residual_first;
  float alpha;
  float eps;
};

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  uint32_t done = 0;
  while (!done) {
    asm volatile(
        "{\n\t.reg .pred p;\n\t"
        "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n\t"
        "selp.u32 %0, 1, 0, p;\n\t}"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
  }
}

template <typename T>
__global__ void __launch_bounds__(512, 2) group_norm_nchw_bulk_kernel(const BulkParams p) {
  constexpr int V = 16 / static_cast<int>(sizeof(T));
  using Raw = uint4;
  extern __shared__ __align__(128) unsigned char smem[];
  const uint32_t t = threadIdx.x;
  const uint32_t nthreads = blockDim.x;
  const uint32_t lane = t & 31u;
  const uint32_t warp = t >> 5;
  const uint32_t team_size = nthreads / p.upb;  // a multiple of 32
  const uint32_t team = t / team_size;
  const uint32_t tt = t % team_size;
  const uint32_t warps_per_team = team_size >> 5;

  Raw* tile = reinterpret_cast<Raw*>(smem);
  float4* red = reinterpret_cast<float4*>(smem + p.tile_bytes);  // 16 entries (one per warp)
  float4* part = red + 16;                                       // upb
  float2* stat = reinterpret_cast<float2*>(part + p.upb);        // upb
  float2* table = stat + p.upb;                                  // table_channels
  uint64_t* bars = reinterpret_cast<uint64_t*>(table + p.table_channels);

  // This block's vectors [gv0, gv1) of x (flat), and this team's group.
  uint32_t unit, vlo;  // vlo: unit-local index of the block's first vector (cs > 1)
  uint64_t gv0, gv1;
  if (p.cs > 1) {
    unit = blockIdx.x / p.cs;
    vlo = (blockIdx.x % p.cs) * p.vecs_per_block;
    const uint32_t vhi = min(vlo + p.vecs_per_block, p.unit_vecs);
    gv0 = static_cast<uint64_t>(unit) * p.unit_vecs + vlo;
    gv1 = static_cast<uint64_t>(unit) * p.unit_vecs + max(vhi, vlo);
  } else {
    const uint32_t unit0 = blockIdx.x * p.upb;
    unit = unit0 + team;
    vlo = 0;
    gv0 = static_cast<uint64_t>(unit0) * p.unit_vecs;
    gv1 = static_cast<uint64_t>(min(unit0 + p.upb, p.units)) * p.unit_vecs;
  }
  const uint32_t nv = static_cast<uint32_t>(gv1 - gv0);
  const bool team_active = unit < p.units;
  // The team's vectors in the tile.
  const uint32_t team_lo = p.cs > 1 ? 0u : team * p.unit_vecs;
  const uint32_t team_hi = p.cs > 1 ? nv : team_lo + p.unit_vecs;
  uint32_t cv = 0, nchunks = 0;
  if (nv > 0) {
    const uint32_t want = p.cs > 1 ? min(p.chunks, nv) : 1u;
    cv = (nv + want - 1) / want;
    nchunks = (nv + cv - 1) / cv;
  }

  const Raw* xg = reinterpret_cast<const Raw*>(p.x) + gv0;
  if (t == 0 && nchunks > 0) {
    for (uint32_t c = 0; c < nchunks; ++c)
      asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(smem_addr(bars + c)) : "memory");
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
  }
  wait_for_previous_kernel();
  if (t == 0 && nchunks > 0) {
    for (uint32_t c = 0; c < nchunks; ++c) {
      const uint32_t lo = c * cv, bytes = (min(lo + cv, nv) - lo) * 16u;
      asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(bars + c)), "r"(bytes)
                   : "memory");
      asm volatile(
          "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
              smem_addr(tile + lo)),
          "l"(xg + lo), "r"(bytes), "r"(smem_addr(bars + c))
          : "memory");
    }
  }
  // Table entry i (below) is channel i % Cg of the block's unit or of its team i / Cg's unit.
  auto table_unit = [&](uint32_t i) { return p.cs > 1 ? unit : blockIdx.x * p.upb + i / p.Cg; };
  auto table_channel = [&](uint32_t i, uint32_t u) { return (u % p.G) * p.Cg + i % p.Cg; };
  float first_gamma = 1.0f, first_beta = 0.0f;  // table entry t's parameters
  if (t < p.table_channels && table_unit(t) < p.units) {
    const uint32_t ch = table_channel(t, table_unit(t));
    if (p.gamma) first_gamma = __ldg(p.gamma + ch);
    if (p.beta) first_beta = __ldg(p.beta + ch);
  }
  // The shift: the group's first element (read before any block writes y, which may alias x).
  const T* xunit = static_cast<const T*>(p.x) + static_cast<uint64_t>(team_active ? unit : 0u) * p.unit_vecs * V;
  const float K = to_float<T>(*xunit);
  __syncthreads();  // the mbarriers are initialized

  float sum = 0.0f, sq = 0.0f;
  uint32_t cnt = 0;
  for (uint32_t c = 0; c < nchunks; ++c) {
    mbar_wait(smem_addr(bars + c), 0);
    const uint32_t lo = max(c * cv, team_lo), hi = min(min(c * cv + cv, nv), team_hi);
#pragma unroll 4
    for (uint32_t v = lo + tt; v < hi; v += team_size) {
      float f[V];
      unpack<T, Raw, V>(tile[v], f);
#pragma unroll
      for (int e = 0; e < V; ++e) {
        const float d = f[e] - K;
        sum += d;
        sq = fmaf(d, d, sq);
      }
      cnt += V;
    }
  }
  Partial mine{0.0f, 0.0f, 0.0f};
  if (cnt > 0) {
    mine.n = static_cast<float>(cnt);
    mine.o = sum / mine.n;
    mine.m2 = fmaxf(sq - sum * mine.o, 0.0f);
  }
  {
    const Partial w = warp_merge(mine);
    if (lane == 0) red[warp] = to_float4(w);
  }
  __syncthreads();
  if (warp < p.upb) {  // warp g merges team g's warps
    Partial q = lane < warps_per_team ? to_partial(red[warp * warps_per_team + lane]) : Partial{0.0f, 0.0f, 0.0f};
    q = warp_merge(q);
    if (lane == 0) {
      part[warp] = to_float4(q);
      if (p.cs == 1) stat[warp] = make_float2(q.o, rsqrtf(fmaxf(q.m2 / fmaxf(q.n, 1.0f), 0.0f) + p.eps));
    }
  }
  if (p.cs > 1) {
    cg::cluster_group cluster = cg::this_cluster();
    cluster.sync();
    if (warp == 0) {
      Partial acc{0.0f, 0.0f, 0.0f};
      if (lane < p.cs) acc = to_partial(*cluster.map_shared_rank(part, static_cast<int>(lane)));
      acc = warp_merge(acc);
      if (lane == 0) stat[0] = offset_rstd(acc, p.eps);
    }
    __syncthreads();
    cluster.barrier_arrive();  // done reading the other blocks' shared memory
  } else {
    __syncthreads();
  }

  allow_next_kernel();  // the next kernel's blocks take the place of ours as they finish storing

  // (a, b') per channel: y = act((x - K) * a + b') + residual. The first entry's gamma and beta were loaded
  // while the data was in flight.
  for (uint32_t i = t; i < p.table_channels; i += nthreads) {
    const uint32_t u = table_unit(i);
    if (u >= p.units) continue;
    const float2 s = stat[i / p.Cg];
    const uint32_t ch = table_channel(i, u);
    const float gv = i == t ? first_gamma : p.gamma ? __ldg(p.gamma + ch) : 1.0f;
    const float bv = i == t ? first_beta : p.beta ? __ldg(p.beta + ch) : 0.0f;
    const float av = s.y * gv;
    table[i] = make_float2(av, fmaf(-s.x, av, bv));
  }
  __syncthreads();

  const float2 st = stat[team];
  const uint32_t ch_base = (unit % p.G) * p.Cg;
  auto channel_ab = [&](uint32_t c) -> float2 {  // c: channel within the group
    if (p.table_channels) return table[team * p.Cg + c];
    const float av = p.gamma ? st.y * __ldg(p.gamma + ch_base + c) : st.y;
    return make_float2(av, fmaf(-st.x, av, p.beta ? __ldg(p.beta + ch_base + c) : 0.0f));
  };
  const bool one_channel_per_vector = (p.HW % V) == 0;
  Raw* yg = reinterpret_cast<Raw*>(p.y) + gv0;
  const Raw* rg = p.residual ? reinterpret_cast<const Raw*>(p.residual) + gv0 : nullptr;
  for (uint32_t c = 0; c < nchunks; ++c) {
    const uint32_t clo = c * cv, chi = min(clo + cv, nv);
    if (team_active) {
      const uint32_t lo = max(clo, team_lo), hi = min(chi, team_hi);
#pragma unroll 2
      for (uint32_t v = lo + tt; v < hi; v += team_size) {
        Raw res;
        if (rg) res = __ldcs(rg + v);
        float f[V];
        unpack<T, Raw, V>(tile[v], f);
        const uint32_t local = vlo + v - team_lo;  // vector index within the group
        if (one_channel_per_vector) {
          const float2 ab = channel_ab(fast_div(local, p.div_vpc));
#pragma unroll
          for (int e = 0; e < V; ++e) f[e] = fmaf(f[e] - K, ab.x, ab.y);
        } else {
#pragma unroll
          for (int e = 0; e < V; ++e) {
            const float2 ab = channel_ab(fast_div(local * V + e, p.div_hw));
            f[e] = fmaf(f[e] - K, ab.x, ab.y);
          }
        }
        float rf[V];
        if (rg) unpack<T, Raw, V>(res, rf);
        finish_vector(f, rg ? rf : nullptr, p.residual_first, p.act, p.alpha);
        tile[v] = pack<T, Raw, V>(f);
      }
    }
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");  // our writes, visible to the bulk store
    __syncthreads();
    if (t == 0) {
      asm volatile("cp.async.bulk.global.shared::cta.bulk_group [%0], [%1], %2;" ::"l"(yg + clo),
                   "r"(smem_addr(tile + clo)), "r"((chi - clo) * 16u)
                   : "memory");
      asm volatile("cp.async.bulk.commit_group;" ::: "memory");
    }
  }
  if (t == 0) asm volatile("cp.async.bulk.wait_group.read 0;" ::: "memory");  // smem stays valid until read
  if (p.cs > 1) cg::this_cluster().barrier_wait();
}

// ---------------------------------------------------------------------------------------------------------
// The one-pass NHWC tile kernels (TMA and grid) share these three steps. A thread owns vector column `col` of
// the block's rows and the rows row0, row0 + R, ...; the tile lands in pieces of piece_rows rows, piece b
// completing on mbarrier bars[b].
//
// This thread's shifted sums over its rows, each piece as soon as it lands.
template <typename T, int V, int S>
__device__ __forceinline__ void accumulate_landed_rows(const Params& p, const uint4* tile, const uint64_t* bars,
                                                       uint32_t piece_rows, uint32_t rows, bool active, uint32_t row0,
                                                       uint32_t col, const float (&K)[S], float (&sum)[S],
                                                       float (&sq)[S]) {
#pragma unroll
  for (int e = 0; e < S; ++e) sum[e] = sq[e] = 0.0f;
  if (!active) return;
  const uint32_t pieces = (rows + piece_rows - 1) / piece_rows;
  uint32_t r = row0;
  for (uint32_t b = 0; b < pieces; ++b) {
    const uint32_t end = min((b + 1) * piece_rows, rows);
    if (r >= end) continue;
    mbar_wait(smem_addr(bars + b), 0);
#pragma unroll 4
    for (; r < end; r += p.R) accumulate_shifted<T, V>(tile[r * p.Lv + col], K, sum, sq);
  }
}

// Per element of this thread's vector: y = (x - K) * a + b with a = rstd * gamma, b = beta - offset * a (stat[j] is
// group j's (offset, rstd); element e is in group j0 + its slot).
template <int V, int S>
__device__ __forceinline__ void element_scale_shift(const float2* stat, uint32_t j0, uint32_t slots,
                                                    const float (&gamma)[V], const float (&beta)[V], float (&a)[V],
                                                    float (&b)[V]) {
#pragma unroll
  for (int e = 0; e < V; ++e) {
    const float2 st = stat[j0 + ((slots >> (3 * (S == 1 ? 0 : e))) & 7u)];
    a[e] = st.y * gamma[e];
    b[e] = fmaf(-st.x, a[e], beta[e]);
  }
}

// Normalizes this thread's rows in [r, end) of the tile in place (residual: the block's first row of it, at a row
// stride of p.row_stride vectors, or null); returns the thread's next row.
template <typename T, int V, int S>
__device__ __forceinline__ uint32_t normalize_tile_rows(const Params& p, uint4* tile, uint32_t r, uint32_t end,
                                                        uint32_t col, const uint4* residual, const float (&K)[S],
                                                        const float (&a)[V], const float (&b)[V]) {
#pragma unroll 2
  for (; r < end; r += p.R) {
    float f[V];
    unpack<T, uint4, V>(tile[r * p.Lv + col], f);
#pragma unroll
    for (int e = 0; e < V; ++e) f[e] = fmaf(f[e] - K[S == 1 ? 0 : e], a[e], b[e]);
    float rf[V];
    if (residual) unpack<T, uint4, V>(__ldcs(residual + static_cast<size_t>(r) * p.row_stride + col), rf);
    finish_vector(f, residual ? rf : nullptr, p.residual_first, p.act, p.alpha);
    tile[r * p.Lv + col] = pack<T, uint4, V>(f);
  }
  return r;
}

// NHWC with 16-byte vectors, one pass: the unit's rows move between global and shared memory as 2-D boxes of
// the tensor memory accelerator (rows x W channels, at most 256 rows each), so a block's whole share is in
// flight at once and costs no thread instructions. Box b completes on mbarrier b: the statistics of the first
// boxes run while the later ones still arrive. After the cluster-wide merge each box is normalized in place and
// stored by the TMA while the next box is computed. The tensor maps are 3-D (C, HW, N): boxes are clipped at a
// sample's last row, and blocks' row ranges are whole boxes, so a store never touches another block's rows.
struct NhwcTmaParams {
  CUtensorMap x_map;
  CUtensorMap y_map;
  Params p;
  uint32_t box_rows;
};

template <typename T, bool STRADDLE>
__global__ void __launch_bounds__(kMaxThreads) group_norm_nhwc_tma_kernel(const __grid_constant__ NhwcTmaParams q) {
  constexpr int V = 16 / static_cast<int>(sizeof(T));
  constexpr int S = STRADDLE ? V : 1;
  using Raw = uint4;
  const Params& p = q.p;
  extern __shared__ __align__(128) unsigned char smem[];

  const uint32_t t = threadIdx.x;
  const uint32_t unit = blockIdx.x / p.blocks_per_unit;
  const uint32_t rank = blockIdx.x % p.blocks_per_unit;
  const uint32_t n = unit / p.units_per_sample;
  const uint32_t ch_base = (unit % p.units_per_sample) * p.k * p.Cg;
  const int64_t base = static_cast<int64_t>(n) * p.HW * p.C + ch_base;

  Raw* tile = reinterpret_cast<Raw*>(smem);
  float4* part = reinterpret_cast<float4*>(smem + p.tile_bytes);
  float2* stat = reinterpret_cast<float2*>(part + p.k);
  float2* red = stat + p.k;
  uint64_t* bars = reinterpret_cast<uint64_t*>(red + blockDim.x * p.slots);

  const uint32_t lo = min(rank * p.rows_per_block, p.unit_rows);
  const uint32_t rows = min(lo + p.rows_per_block, p.unit_rows) - lo;
  const uint32_t boxes = (rows + q.box_rows - 1) / q.box_rows;
  const uint32_t box_vecs = q.box_rows * p.Lv;
  if (t == 0 && boxes > 0) {
    // The maps are kernel parameters, not tensors: fetching them may overlap the kernel before.
    asm volatile("prefetch.tensormap [%0];" ::"l"(reinterpret_cast<uint64_t>(&q.x_map)) : "memory");
    asm volatile("prefetch.tensormap [%0];" ::"l"(reinterpret_cast<uint64_t>(&q.y_map)) : "memory");
    for (uint32_t b = 0; b < boxes; ++b)
      asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(smem_addr(bars + b)) : "memory");
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
  }
  wait_for_previous_kernel();
  if (t == 0 && boxes > 0) {
    for (uint32_t b = 0; b < boxes; ++b) {
      // A clipped box still fills (with zeros) and counts all of its bytes.
      asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(bars + b)),
                   "r"(box_vecs * 16u)
                   : "memory");
      asm volatile(
          "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], "
          "[%5];" ::"r"(smem_addr(tile + b * box_vecs)),
          "l"(reinterpret_cast<uint64_t>(&q.x_map)), "r"(ch_base), "r"(lo + b * q.box_rows), "r"(n),
          "r"(smem_addr(bars + b))
          : "memory");
    }
  }

  const bool active = t < p.R * p.Lv;
  const uint32_t col = active ? t % p.Lv : 0u;
  const uint32_t row0 = t / p.Lv;
  const uint32_t c0 = col * V;
  const uint32_t j0 = c0 / p.Cg;
  const T* xs = static_cast<const T*>(p.x) + base;
  float K[S];  // read before any block of the cluster writes y (which may alias x)
  const uint32_t slots = nhwc_slots<T, S, 0>(p, c0, j0, unit, xs, K);
  // This thread's gamma and beta, loaded while the boxes are in flight rather than after the statistics.
  float g[V], be[V];
  affine_vector<V>(p.gamma, ch_base + c0, 1.0f, g);
  affine_vector<V>(p.beta, ch_base + c0, 0.0f, be);
  __syncthreads();  // the mbarriers are initialized

  float sum[S], sq[S];
  accumulate_landed_rows<T, V, S>(p, tile, bars, q.box_rows, rows, active, row0, col, K, sum, sq);
  nhwc_block_partials<S, V>(p, sum, sq, slots, rows, red, part);
  unit_statistics<T, 0>(p, part, stat, unit, rank, xs);
  allow_next_kernel();  // the next kernel's blocks take the place of ours as they finish storing

  float a[V], bb[V];
  element_scale_shift<V, S>(stat, j0, slots, g, be, a, bb);
  const Raw* rv = p.residual ? reinterpret_cast<const Raw*>(static_cast<const T*>(p.residual) + base) +
                                   static_cast<size_t>(lo) * p.row_stride
                             : nullptr;
  uint32_t r = row0;
  for (uint32_t b = 0; b < boxes; ++b) {
    const uint32_t end = min((b + 1) * q.box_rows, rows);
    if (active) r = normalize_tile_rows<T, V, S>(p, tile, r, end, col, rv, K, a, bb);
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");  // our writes, visible to the TMA store
    __syncthreads();
    if (t == 0) {
      asm volatile("cp.async.bulk.tensor.3d.global.shared::cta.bulk_group [%0, {%1, %2, %3}], [%4];" ::"l"(
                       reinterpret_cast<uint64_t>(&q.y_map)),
                   "r"(ch_base), "r"(lo + b * q.box_rows), "r"(n), "r"(smem_addr(tile + b * box_vecs))
                   : "memory");
      asm volatile("cp.async.bulk.commit_group;" ::: "memory");
    }
  }
  if (t == 0) asm volatile("cp.async.bulk.wait_group.read 0;" ::: "memory");  // smem stays valid until read
  cg::this_cluster().barrier_wait();
}

// ---------------------------------------------------------------------------------------------------------
// NHWC with 16-byte vectors, one pass over a whole grid (kGrid): for tensors that fit the shared memory of
// the GPU at once but whose groups would need clusters larger than the GPCs schedule in one wave. Every block
// owns whole rows (all C channels, so its share of x is one contiguous range) of one sample: the loads are
// bulk copies in up to kMaxChunks chunks, each on its own mbarrier, statistics of the first chunks overlap the
// later ones. Each block stores its partial per group in the workspace; after a grid-wide barrier (a
// cooperative launch: the device holds every block at once) the blocks of a sample share out its groups, each
// merging one group's partials in rank order, and after a second barrier every block reads its sample's
// statistics and normalizes its tile in place, stored back by bulk copies.
struct NhwcGridParams {
  Params p;  // k = G (a unit is a sample), Lv = C / V, workspace: [N][blocks_per_unit][G] partials, [N][G] stats
  uint32_t chunk_rows;
};

template <typename T, bool STRADDLE>
__global__ void __launch_bounds__(512, 2) group_norm_nhwc_grid_kernel(const NhwcGridParams q) {
  constexpr int V = 16 / static_cast<int>(sizeof(T));
  constexpr int S = STRADDLE ? V : 1;
  using Raw = uint4;
  const Params& p = q.p;
  extern __shared__ __align__(128) unsigned char smem[];

  const uint32_t t = threadIdx.x, lane = t & 31u, warp = t >> 5, nwarps = blockDim.x >> 5;
  const uint32_t unit = blockIdx.x / p.blocks_per_unit;  // the sample
  const uint32_t rank = blockIdx.x % p.blocks_per_unit;
  const int64_t base = static_cast<int64_t>(unit) * p.HW * p.C;

  Raw* tile = reinterpret_cast<Raw*>(smem);
  float4* part = reinterpret_cast<float4*>(smem + p.tile_bytes);
  float2* stat = reinterpret_cast<float2*>(part + p.k);
  float2* red = stat + p.k;
  uint64_t* bars = reinterpret_cast<uint64_t*>(red + blockDim.x * p.slots);

  const uint32_t lo = min(rank * p.rows_per_block, p.unit_rows);
  const uint32_t rows = min(lo + p.rows_per_block, p.unit_rows) - lo;
  const uint32_t chunks = (rows + q.chunk_rows - 1) / q.chunk_rows;
  const uint32_t chunk_vecs = q.chunk_rows * p.Lv;
  const Raw* xg = reinterpret_cast<const Raw*>(static_cast<const T*>(p.x) + base) + static_cast<size_t>(lo) * p.Lv;
  if (t == 0 && chunks > 0) {
    for (uint32_t c = 0; c < chunks; ++c)
      asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(smem_addr(bars + c)) : "memory");
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
  }
  wait_for_previous_kernel();
  if (t == 0 && chunks > 0) {
    for (uint32_t c = 0; c < chunks; ++c) {
      const uint32_t v0 = c * chunk_vecs, bytes = (min((c + 1) * q.chunk_rows, rows) * p.Lv - v0) * 16u;
      asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(bars + c)), "r"(bytes)
                   : "memory");
      asm volatile(
          "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
              smem_addr(tile + v0)),
          "l"(xg + v0), "r"(bytes), "r"(smem_addr(bars + c))
          : "memory");
    }
  }

  const bool active = t < p.R * p.Lv;
  const uint32_t col = active ? t % p.Lv : 0u;
  const uint32_t row0 = t / p.Lv;
  const uint32_t c0 = col * V;
  const uint32_t j0 = c0 / p.Cg;
  const T* xs = static_cast<const T*>(p.x) + base;
  float K[S];  // read before any block writes y (which may alias x): the barrier below comes first
  const uint32_t slots = nhwc_slots<T, S, 0>(p, c0, j0, unit, xs, K);
  float g[V], be[V];
  affine_vector<V>(p.gamma, c0, 1.0f, g);
  affine_vector<V>(p.beta, c0, 0.0f, be);
  __syncthreads();  // the mbarriers are initialized

  float sum[S], sq[S];
  accumulate_landed_rows<T, V, S>(p, tile, bars, q.chunk_rows, rows, active, row0, col, K, sum, sq);
  nhwc_block_partials<S, V>(p, sum, sq, slots, rows, red, part);
  __syncthreads();
  const uint32_t bpu = p.blocks_per_unit;
  if (bpu == 1) {
    for (uint32_t j = t; j < p.k; j += blockDim.x) stat[j] = offset_rstd(to_partial(part[j]), p.eps);
  } else {
    // Two steps, each after a grid-wide barrier (which also fences memory): block `rank` of a sample merges the
    // partials of groups rank, rank + bpu, ... over the sample's blocks in rank order; then every block reads
    // its sample's statistics. Each partial is read once: with every block merging every group, all blocks read
    // the same few lines of the L2 at once (H100: 1x512x64x64 fp16 took 45 us against a 4.7 us copy).
    float4* ws = p.workspace + static_cast<size_t>(unit) * bpu * p.k;
    float2* stats = reinterpret_cast<float2*>(p.workspace + static_cast<size_t>(gridDim.x) * p.k) +
                    static_cast<size_t>(unit) * p.k;
    for (uint32_t j = t; j < p.k; j += blockDim.x) __stcg(ws + static_cast<size_t>(rank) * p.k + j, part[j]);
    cg::grid_group grid = cg::this_grid();
    grid.sync();
    if (bpu >= p.k) {
      // At most one group a block: the whole block merges it, thread t the ranks t, t + blockDim.x, ..., then
      // the warps in order (through `red`, free again).
      float* warp_part = reinterpret_cast<float*>(red);
      if (rank < p.k) {
        Partial m{0.0f, 0.0f, 0.0f};
        for (uint32_t r = t; r < bpu; r += blockDim.x)
          m = merge(m, to_partial(__ldcg(ws + static_cast<size_t>(r) * p.k + rank)));  // L2: other SMs wrote them
        m = warp_merge(m);
        if (lane == 0) {
          warp_part[3 * warp] = m.n;
          warp_part[3 * warp + 1] = m.o;
          warp_part[3 * warp + 2] = m.m2;
        }
        __syncthreads();
        if (warp == 0) {
          m = lane < nwarps ? Partial{warp_part[3 * lane], warp_part[3 * lane + 1], warp_part[3 * lane + 2]}
                            : Partial{0.0f, 0.0f, 0.0f};
          m = warp_merge(m);
          if (lane == 0) __stcg(stats + rank, offset_rstd(m, p.eps));
        }
      }
    } else {
      // Several groups a block: a warp each.
      for (uint32_t j = rank + warp * bpu; j < p.k; j += nwarps * bpu) {
        Partial m{0.0f, 0.0f, 0.0f};
#pragma unroll 4
        for (uint32_t r = lane; r < bpu; r += 32) m = merge(m, to_partial(__ldcg(ws + static_cast<size_t>(r) * p.k + j)));
        m = warp_merge(m);
        if (lane == 0) __stcg(stats + j, offset_rstd(m, p.eps));
      }
    }
    grid.sync();
    for (uint32_t j = t; j < p.k; j += blockDim.x) stat[j] = __ldcg(stats + j);
  }
  __syncthreads();
  allow_next_kernel();  // the next kernel's blocks take the place of ours as they finish storing

  float a[V], bb[V];
  element_scale_shift<V, S>(stat, j0, slots, g, be, a, bb);
  const Raw* rv = p.residual ? reinterpret_cast<const Raw*>(static_cast<const T*>(p.residual) + base) +
                                   static_cast<size_t>(lo) * p.row_stride
                             : nullptr;
  Raw* yg = reinterpret_cast<Raw*>(static_cast<T*>(p.y) + base) + static_cast<size_t>(lo) * p.Lv;
  uint32_t r = row0;
  for (uint32_t c = 0; c < chunks; ++c) {
    const uint32_t end = min((c + 1) * q.chunk_rows, rows);
    if (active) r = normalize_tile_rows<T, V, S>(p, tile, r, end, col, rv, K, a, bb);
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");  // our writes, visible to the bulk store
    __syncthreads();
    if (t == 0) {
      const uint32_t v0 = c * chunk_vecs;
      asm volatile("cp.async.bulk.global.shared::cta.bulk_group [%0], [%1], %2;" ::"l"(yg + v0),
                   "r"(smem_addr(tile + v0)), "r"((end * p.Lv - v0) * 16u)
                   : "memory");
      asm volatile("cp.async.bulk.commit_group;" ::: "memory");
    }
  }
  if (t == 0) asm volatile("cp.async.bulk.wait_group.read 0;" ::: "memory");  // smem stays valid until read
}

// ---------------------------------------------------------------------------------------------------------
// NHWC, kRegisters: each thread loads its (at most VPT) vectors of the block's rows into registers, the
// statistics merge across the cluster, and the normalize works from the same registers. No shared-memory tile,
// no TMA, no mbarriers: for small tensors (ResNet-50 at batch 1: 50-800 KB per GroupNorm) a kernel's time is
// its chain of latencies, not its bytes, and this is the shortest chain (one load round trip, one cluster
// barrier, one store round trip). Rows, columns and slots follow the cluster kernels' vocabulary above.
template <typename T, bool STRADDLE, int VPT>
__global__ void __launch_bounds__(kMaxRegisterThreads, 1) group_norm_nhwc_registers_kernel(const Params p) {
  constexpr int V = 16 / static_cast<int>(sizeof(T));
  constexpr int S = STRADDLE ? V : 1;
  using Raw = uint4;
  extern __shared__ __align__(16) unsigned char smem[];
  float4* part = reinterpret_cast<float4*>(smem);  // k block partials
  float2* stat = reinterpret_cast<float2*>(part + p.k);
  float2* red = stat + p.k;

  const uint32_t t = threadIdx.x;
  const uint32_t unit = blockIdx.x / p.blocks_per_unit;
  const uint32_t rank = blockIdx.x % p.blocks_per_unit;
  const uint32_t n = unit / p.units_per_sample;
  const uint32_t ch_base = (unit % p.units_per_sample) * p.k * p.Cg;
  const int64_t base = static_cast<int64_t>(n) * p.HW * p.C + ch_base;
  const bool active = t < p.R * p.Lv;
  const uint32_t col = active ? t % p.Lv : 0u;
  const uint32_t row0 = t / p.Lv;
  const uint32_t c0 = col * V;
  const uint32_t j0 = c0 / p.Cg;
  const uint32_t lo = min(rank * p.rows_per_block, p.unit_rows);
  const uint32_t hi = min(lo + p.rows_per_block, p.unit_rows);
  const T* xs = static_cast<const T*>(p.x) + base;
  const Raw* xv = reinterpret_cast<const Raw*>(xs) + static_cast<size_t>(lo) * p.row_stride + col;
  const Raw* rv = p.residual ? reinterpret_cast<const Raw*>(static_cast<const T*>(p.residual) + base) +
                                   static_cast<size_t>(lo) * p.row_stride + col
                             : nullptr;
  auto here = [&](int i) { return active && lo + row0 + i * p.R < hi; };
  auto offset = [&](int i) { return static_cast<size_t>(row0 + i * p.R) * p.row_stride; };

  wait_for_previous_kernel();
  // Every load this thread will make, x and residual, is in flight before anything waits for one. Both are
  // read before the cluster barrier, so y may alias either.
  Raw v[VPT], res[VPT];
#pragma unroll
  for (int i = 0; i < VPT; ++i)
    if (here(i)) v[i] = __ldcs(xv + offset(i));
  if (rv) {
#pragma unroll
    for (int i = 0; i < VPT; ++i)
      if (here(i)) res[i] = __ldcs(rv + offset(i));
  }
  float K[S];
  const uint32_t slots = nhwc_slots<T, S, 0>(p, c0, j0, unit, xs, K);
  auto acc = [](int e) { return STRADDLE ? e : 0; };
  // gamma and beta too: after the statistics they would be a second round trip on the critical path.
  float a[V], b[V];
  affine_vector<V>(p.gamma, ch_base + c0, 1.0f, a);
  affine_vector<V>(p.beta, ch_base + c0, 0.0f, b);

  float sum[S], sq[S];
#pragma unroll
  for (int e = 0; e < S; ++e) sum[e] = sq[e] = 0.0f;
#pragma unroll
  for (int i = 0; i < VPT; ++i) {
    if (!here(i)) continue;
    accumulate_shifted<T, V>(v[i], K, sum, sq);
  }
  nhwc_block_partials<S, V>(p, sum, sq, slots, hi - lo, red, part);
  unit_statistics<T, 0>(p, part, stat, unit, rank, xs);
  allow_next_kernel();

  element_scale_shift<V, S>(stat, j0, slots, a, b, a, b);  // a and b held gamma and beta
  Raw* yv = reinterpret_cast<Raw*>(static_cast<T*>(p.y) + base) + static_cast<size_t>(lo) * p.row_stride + col;
#pragma unroll
  for (int i = 0; i < VPT; ++i) {
    if (!here(i)) continue;
    float f[V];
    unpack<T, Raw, V>(v[i], f);
#pragma unroll
    for (int e = 0; e < V; ++e) f[e] = fmaf(f[e] - K[acc(e)], a[e], b[e]);
    float rf[V];
    if (rv) unpack<T, Raw, V>(res[i], rf);
    finish_vector(f, rv ? rf : nullptr, p.residual_first, p.act, p.alpha);
    yv[offset(i)] = pack<T, Raw, V>(f);
  }
  cg::this_cluster().barrier_wait();  // unit_statistics arrived: our partials stay until the cluster read them
}

// ---------------------------------------------------------------------------------------------------------
// Rows (LayerNorm: spatial = 1, one group per sample) of at most 32 * 16 16-byte vectors: one warp per row, which
// it reads once into registers. Mean, then the sum of squared deviations from it, both exact in fp32 from the
// registers (no shift needed); then the affine, activation and residual as everywhere else.
struct RowParams {
  const void* x;
  void* y;
  const float* gamma;
  const float* beta;
  const void* residual;
  int64_t rows;
  uint32_t nv;  // vectors per row
  uint32_t cols;
  int act;
  int residual_first;
  float alpha;
  float eps;
};

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// This thread's sum of squared deviations from `mean` over its vectors k whose row index(k) is below nv.
template <int VECS, int V, typename Index>
__device__ __forceinline__ float squared_deviations(const float (&f)[VECS][V], float mean, uint32_t nv, Index index) {
  float sq = 0.0f;
#pragma unroll
  for (int k = 0; k < VECS; ++k)
    if (index(k) < nv) {
#pragma unroll
      for (int e = 0; e < V; ++e) {
        const float d = f[k][e] - mean;
        sq = fmaf(d, d, sq);
      }
    }
  return sq;
}

template <typename T, int VECS>
__global__ void __launch_bounds__(256) layer_norm_rows_kernel(const RowParams p) {
  constexpr int V = 16 / static_cast<int>(sizeof(T));
  using Raw = uint4;
  const uint32_t lane = threadIdx.x % 32;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  wait_for_previous_kernel();
  allow_next_kernel();
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; r < p.rows; r += warps) {
    const Raw* xr = reinterpret_cast<const Raw*>(p.x) + r * p.nv;
    float f[VECS][V];
    float sum = 0.0f;
#pragma unroll
    for (int k = 0; k < VECS; ++k) {
      const uint32_t i = lane + 32u * k;
      if (i < p.nv) {
        unpack<T, Raw, V>(__ldcs(xr + i), f[k]);
#pragma unroll
        for (int e = 0; e < V; ++e) sum += f[k][e];
      }
    }
    const float mean = warp_sum(sum) / static_cast<float>(p.cols);
    const float sq = warp_sum(squared_deviations(f, mean, p.nv, [&](int k) { return lane + 32u * k; }));
    const float rstd = rsqrtf(sq / static_cast<float>(p.cols) + p.eps);
    Raw* yr = reinterpret_cast<Raw*>(p.y) + r * p.nv;
    const Raw* rr = p.residual ? reinterpret_cast<const Raw*>(p.residual) + r * p.nv : nullptr;
#pragma unroll
    for (int k = 0; k < VECS; ++k) {
      const uint32_t i = lane + 32u * k;
      if (i < p.nv) {
        float rf[V];
        if (rr) unpack<T, Raw, V>(__ldcs(rr + i), rf);
        float g[V], b[V];
        affine_vector<V>(p.gamma, i * V, 1.0f, g);
        affine_vector<V>(p.beta, i * V, 0.0f, b);
#pragma unroll
        for (int e = 0; e < V; ++e) f[k][e] = fmaf((f[k][e] - mean) * rstd, g[e], b[e]);
        finish_vector(f[k], rr ? rf : nullptr, p.residual_first, p.act, p.alpha);
        yr[i] = pack<T, Raw, V>(f[k]);
      }
    }
  }
}


// Few rows: one row per block of W warps (blockDim.x = 32 * W, W <= 16), VECS vectors a thread (at most 4), so a
// row of 1280 fp32 is five warps' loads in flight at once rather than one warp's chain of ten vectors a lane.
// gamma and beta are loaded once per block, beside x, to keep them off the chain between the statistics and the
// store. The two block reductions use separate slots: two barriers a row, none between rows.
constexpr int kMaxTeamVectors = 4;  // per thread, when a block takes a row

template <typename T, int VECS>
__global__ void __launch_bounds__(512) layer_norm_row_team_kernel(const RowParams p) {
  constexpr int V = 16 / static_cast<int>(sizeof(T));
  using Raw = uint4;
  __shared__ float red_sum[16], red_sq[16];
  const uint32_t t = threadIdx.x, lane = t % 32, warp = t / 32, warps = blockDim.x / 32;
  wait_for_previous_kernel();  // gamma and beta too may be a kernel's output
  allow_next_kernel();
  float g[VECS][V], b[VECS][V];
#pragma unroll
  for (int k = 0; k < VECS; ++k) {
    const uint32_t i = t + blockDim.x * k;
    if (i < p.nv) {
      affine_vector<V>(p.gamma, i * V, 1.0f, g[k]);
      affine_vector<V>(p.beta, i * V, 0.0f, b[k]);
    }
  }
  for (int64_t r = blockIdx.x; r < p.rows; r += gridDim.x) {
    const Raw* xr = reinterpret_cast<const Raw*>(p.x) + r * p.nv;
    const Raw* rr = p.residual ? reinterpret_cast<const Raw*>(p.residual) + r * p.nv : nullptr;
    float f[VECS][V], rf[VECS][V];
    float sum = 0.0f;
#pragma unroll
    for (int k = 0; k < VECS; ++k) {
      const uint32_t i = t + blockDim.x * k;
      if (i < p.nv) {
        unpack<T, Raw, V>(__ldcs(xr + i), f[k]);
        if (rr) unpack<T, Raw, V>(__ldcs(rr + i), rf[k]);
#pragma unroll
        for (int e = 0; e < V; ++e) sum += f[k][e];
      }
    }
    sum = warp_sum(sum);
    if (lane == 0) red_sum[warp] = sum;
    __syncthreads();
    sum = 0.0f;
    for (uint32_t w = 0; w < warps; ++w) sum += red_sum[w];
    const float mean = sum / static_cast<float>(p.cols);
    float sq = warp_sum(squared_deviations(f, mean, p.nv, [&](int k) { return t + blockDim.x * k; }));
    if (lane == 0) red_sq[warp] = sq;
    __syncthreads();
    sq = 0.0f;
    for (uint32_t w = 0; w < warps; ++w) sq += red_sq[w];
    const float rstd = rsqrtf(sq / static_cast<float>(p.cols) + p.eps);
    Raw* yr = reinterpret_cast<Raw*>(p.y) + r * p.nv;
#pragma unroll
    for (int k = 0; k < VECS; ++k) {
      const uint32_t i = t + blockDim.x * k;
      if (i < p.nv) {
#pragma unroll
        for (int e = 0; e < V; ++e) f[k][e] = fmaf((f[k][e] - mean) * rstd, g[k][e], b[k][e]);
        finish_vector(f[k], rr ? rf[k] : nullptr, p.residual_first, p.act, p.alpha);
        yr[i] = pack<T, Raw, V>(f[k]);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Host side

Status cuda_status(cudaError_t e, const std::string& what) {
  Status s;
  if (e != cudaSuccess) {
    s.cuda = e;
    s.message = what + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
  }
  return s;
}

Status invalid(const std::string& message) {
  Status s;
  s.cuda = cudaErrorInvalidValue;
  s.message = "group_norm: " + message;
  return s;
}

// 16 where the device schedules clusters of 16 blocks (beyond the portable 8; an H100 SXM or H200 does, a GPU
// with fewer SMs per GPC may not), else 8. Asked of the registers kernel, the one kernel that launches them.
int largest_cluster() {
  auto kernel = group_norm_nhwc_registers_kernel<__half, false, 1>;
  if (cudaFuncSetAttribute(kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1) != cudaSuccess) {
    cudaGetLastError();
    return 8;
  }
  cudaLaunchAttribute cluster[1];
  cluster[0].id = cudaLaunchAttributeClusterDimension;
  cluster[0].val.clusterDim.x = 16;
  cluster[0].val.clusterDim.y = 1;
  cluster[0].val.clusterDim.z = 1;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(16);
  cfg.blockDim = dim3(128);
  cfg.attrs = cluster;
  cfg.numAttrs = 1;
  int resident = 0;
  if (cudaOccupancyMaxActiveClusters(&resident, kernel, &cfg) != cudaSuccess) {
    cudaGetLastError();
    return 8;
  }
  return resident >= 1 ? 16 : 8;
}

Status device_info(DeviceProperties* info) {
  static std::mutex mutex;
  static DeviceProperties cache[64];
  static bool cached[64] = {};
  int dev = 0;
  cudaError_t e = cudaGetDevice(&dev);
  if (e != cudaSuccess) return cuda_status(e, "group_norm: cudaGetDevice");
  if (dev < 0 || dev >= 64) return invalid("device ordinal " + std::to_string(dev) + " out of range");
  std::lock_guard<std::mutex> lock(mutex);
  if (!cached[dev]) {
    DeviceProperties d;
    e = cudaDeviceGetAttribute(&d.sms, cudaDevAttrMultiProcessorCount, dev);
    if (e == cudaSuccess) e = cudaDeviceGetAttribute(&d.smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
    if (e == cudaSuccess) e = cudaDeviceGetAttribute(&d.major, cudaDevAttrComputeCapabilityMajor, dev);
    if (e != cudaSuccess) return cuda_status(e, "group_norm: cudaDeviceGetAttribute");
    d.max_cluster = largest_cluster();
    cache[dev] = d;
    cached[dev] = true;
  }
  *info = cache[dev];
  return Status{};
}

size_t dtype_size(DataType t) { return t == DataType::kFloat32 ? 4 : 2; }

struct LaunchPlan {
  GroupNormPlan info;
  bool bulk = false;  // NCHW one-pass kernel on the bulk-copy engine
  BulkParams bp{};
  bool tma = false;   // NHWC one-pass kernel on the tensor memory accelerator (p below, plus box_rows)
  bool rows = false;  // LayerNorm-shaped: one warp per row, or a block of info.row_warps warps per row (rp)
  bool registers = false;  // NHWC kRegisters kernel (p), vectors_per_thread its template
  bool grid = false;       // NHWC kGrid kernel (p, chunk_rows), launched cooperatively
  uint32_t chunk_rows = 0;
  uint32_t vectors_per_thread = 0;
  RowParams rp{};
  uint32_t box_rows = 0;
  Params p{};
  int vector_bytes = 0;
  uint32_t threads = 0;
  uint32_t blocks = 0;
  size_t smem = 0;
  bool programmatic = false;  // launched with programmatic stream serialization (the kernels wait themselves)
};

uint32_t ceil_div(uint64_t a, uint64_t b) { return static_cast<uint32_t>((a + b - 1) / b); }
uint32_t round_up(uint32_t a, uint32_t b) { return (a + b - 1) / b * b; }

bool aligned(const void* ptr, int bytes) { return reinterpret_cast<uintptr_t>(ptr) % bytes == 0; }

// allow_grid false: kAuto never picks kGrid (the device cannot hold the grid at once after all).
Status make_group_plan(const GroupNormArgs& a, const DeviceProperties& dev, LaunchPlan* out, bool allow_grid);

// The plan; rows of at most 512 whole 16-byte vectors with one group and no spatial extent (LayerNorm, and
// GroupNorm(1) over [N, C]) take the rows kernels (a warp or a block per row) unless an algorithm or cluster size
// is asked for.
constexpr int64_t kMaxRowVectors = 32 * 16;
constexpr int64_t kMaxRowWarps = 16;
Status make_plan(const GroupNormArgs& a, const DeviceProperties& dev, LaunchPlan* out, bool allow_grid = true) {
  *out = LaunchPlan{};  // plan_here plans again into the same object: no flag of the last plan may survive
  if (a.register_vectors != 0 && a.register_vectors != 1 && a.register_vectors != 2 && a.register_vectors != 4 &&
      a.register_vectors != 8)
    return invalid("register_vectors must be 0 (the planner's choice), 1, 2, 4 or 8, got " +
                   std::to_string(a.register_vectors));
  if (a.row_warps < 0 || a.row_warps > kMaxRowWarps)
    return invalid("row_warps must be 0 (the planner's choice) or 1.." + std::to_string(kMaxRowWarps) + ", got " +
                   std::to_string(a.row_warps));
  if (a.block_threads != 0 && (a.block_threads < 64 || a.block_threads > 512 || a.block_threads % 32 != 0))
    return invalid("block_threads must be 0 (the planner's choice) or a multiple of 32 in 64..512, got " +
                   std::to_string(a.block_threads));
  Status s = make_group_plan(a, dev, out, allow_grid);
  if (!s.ok()) return s;
  if (a.block_threads != 0 && !out->bulk && !out->tma)
    return invalid(std::string("block_threads applies to the one-pass kernels on the copy engines (NCHW bulk copy; "
                               "NHWC TMA, rows of at most 256 elements): 16-byte aligned vectors, kAuto or kCluster, "
                               "a block's share on chip; this call takes the ") +
                   to_string(out->info.algorithm) + " kernel: leave it 0");
  out->programmatic = a.programmatic_launch;
  const int esize = static_cast<int>(dtype_size(a.dtype));
  const int64_t V = 16 / esize;
  if (a.spatial != 1 || a.groups != 1 || a.algorithm != NormAlgorithm::kAuto || a.cluster_size != 0 ||
      a.block_threads != 0 || a.C % V != 0 || a.C / V > kMaxRowVectors || !aligned(a.x, 16) || !aligned(a.y, 16) ||
      (a.residual && !aligned(a.residual, 16))) {
    if (a.row_warps != 0)
      return invalid("row_warps applies to the rows kernel (spatial 1, one group, kAuto, no cluster_size, at most " +
                     std::to_string(kMaxRowVectors) + " 16-byte aligned vectors a row); this call takes the " +
                     to_string(out->info.algorithm) + " kernel: leave row_warps 0");
    return s;
  }
  RowParams& rp = out->rp;
  rp = RowParams{};
  rp.x = a.x;
  rp.y = a.y;
  rp.gamma = a.gamma;
  rp.beta = a.beta;
  rp.residual = a.residual;
  rp.rows = a.N;
  rp.nv = static_cast<uint32_t>(a.C / V);
  rp.cols = static_cast<uint32_t>(a.C);
  rp.act = static_cast<int>(a.activation);
  rp.residual_first = a.residual_before_activation ? 1 : 0;
  rp.alpha = a.alpha;
  rp.eps = a.epsilon;
  out->rows = true;
  out->bulk = out->tma = false;
  // Rows of more than one vector a lane take a block of warps each, one vector a thread, while those warps stay
  // within 48 an SM (of the 64 it holds); more rows keep a warp each, looping over its vectors. H100, data in L2:
  // 64 rows of 1280 fp32 5.55 us with a warp a row, 1.97 us with 10; 2048 rows of 640 fp32 4.13 us with one,
  // 4.70 with 3 (bench/results/2026-11-27-session16.md).
  const int64_t nv = a.C / V;
  int64_t row_warps = a.row_warps;
  if (row_warps == 0) {
    const int64_t team = std::min(kMaxRowWarps, (nv + 31) / 32);
    row_warps = a.N * team <= 48 * static_cast<int64_t>(dev.sms) ? team : 1;
  }
  if (row_warps > 1 && (nv + 32 * row_warps - 1) / (32 * row_warps) > kMaxTeamVectors)
    return invalid("row_warps " + std::to_string(row_warps) + " leaves more than " + std::to_string(kMaxTeamVectors) +
                   " vectors a thread for rows of " + std::to_string(nv) + " vectors: ask for at least " +
                   std::to_string((nv + 32 * kMaxTeamVectors - 1) / (32 * kMaxTeamVectors)) + " warps, or 1");
  if (row_warps > 1) {
    out->threads = static_cast<uint32_t>(32 * row_warps);
    out->blocks = static_cast<uint32_t>(std::min<int64_t>(a.N, static_cast<int64_t>(dev.sms) * 8));
  } else {
    // Up to eight warps (rows in flight) per block, fewer where that spreads the rows over more SMs, up to 16
    // blocks per SM; each warp loops over further rows. (H100, UNet at batch 1: 64 rows of 1280 fp32 had taken
    // the cluster kernel, 14 us under ncu.)
    const int64_t warps = std::clamp<int64_t>((a.N + dev.sms - 1) / dev.sms, 1, 8);
    out->threads = static_cast<uint32_t>(32 * warps);
    out->blocks =
        static_cast<uint32_t>(std::min<int64_t>((a.N + warps - 1) / warps, static_cast<int64_t>(dev.sms) * 16));
  }
  out->smem = 0;
  out->vector_bytes = 16;
  GroupNormPlan& info = out->info;
  info = GroupNormPlan{};
  info.algorithm = NormAlgorithm::kCluster;
  info.cluster_size = 1;
  info.threads = static_cast<int>(out->threads);
  info.vector_bytes = 16;
  info.groups_per_unit = 1;
  info.groups_per_vector = 1;
  info.blocks = out->blocks;
  info.rows = true;
  info.row_warps = static_cast<int>(row_warps);
  return s;
}

Status make_group_plan(const GroupNormArgs& a, const DeviceProperties& dev, LaunchPlan* out, bool allow_grid) {
  if (!a.x) return invalid("x is null");
  if (!a.y) return invalid("y is null");
  if (a.N <= 0 || a.C <= 0 || a.spatial <= 0)
    return invalid("N, C and spatial must be positive, got N=" + std::to_string(a.N) +
                   " C=" + std::to_string(a.C) + " spatial=" + std::to_string(a.spatial));
  if (a.groups <= 0 || a.C % a.groups != 0)
    return invalid("groups must divide C, got groups=" + std::to_string(a.groups) +
                   " C=" + std::to_string(a.C));
  if (a.dtype != DataType::kFloat32 && a.dtype != DataType::kFloat16 && a.dtype != DataType::kBFloat16)
    return invalid("unknown dtype");
  if (a.layout != Layout::kNCHW && a.layout != Layout::kNHWC) return invalid("unknown layout");
  if (static_cast<int>(a.activation) < 0 || static_cast<int>(a.activation) > 7)
    return invalid("unknown activation");
  if (!(a.epsilon >= 0.0f)) return invalid("epsilon must be >= 0");
  const int64_t Cg = a.C / a.groups;
  const int64_t unit_limit = int64_t{1} << 31;
  int64_t sample = 0, all_groups = 0;
  if (__builtin_mul_overflow(a.spatial, a.C, &sample) || __builtin_mul_overflow(a.N, a.groups, &all_groups) ||
      sample >= unit_limit || all_groups >= unit_limit)
    return invalid("tensor too large: one sample must have fewer than 2^31 elements and N*groups < 2^31");

  if (dev.major < 9) return invalid("needs a compute capability 9.0 GPU (Hopper) or newer");

  const int esize = static_cast<int>(dtype_size(a.dtype));
  const bool nhwc = a.layout == Layout::kNHWC;
  const uint32_t C = static_cast<uint32_t>(a.C), HW = static_cast<uint32_t>(a.spatial);
  const uint32_t G = static_cast<uint32_t>(a.groups), cg_ = static_cast<uint32_t>(Cg);

  // Widest vector that keeps every unit's rows aligned and never crosses a unit. NCHW: V divides Cg*HW. NHWC:
  // V divides C, and a row of whole groups and whole vectors (lcm(Cg, V) channels) fits one block.
  auto lcm = [](uint64_t x, uint64_t y) {
    uint64_t g = x, h = y;
    while (h != 0) {
      const uint64_t r = g % h;
      g = h;
      h = r;
    }
    return x / g * y;
  };
  int vb = 16;
  for (; vb > esize; vb /= 2) {
    const uint32_t V = static_cast<uint32_t>(vb / esize);
    const bool fits = nhwc ? C % V == 0 && lcm(cg_, V) / V <= static_cast<uint64_t>(kMaxThreads)
                           : (static_cast<uint64_t>(cg_) * HW) % V == 0;
    if (fits && aligned(a.x, vb) && aligned(a.y, vb) && (!a.residual || aligned(a.residual, vb))) break;
  }
  const uint32_t V = static_cast<uint32_t>(vb / esize);
  // NHWC: the most groups one vector touches in rows of lv vectors (a vector straddles groups when V does not
  // divide Cg).
  auto groups_per_vector = [&](uint32_t lv) {
    uint32_t most = 1;
    for (uint32_t c = 0; c < lv; ++c) most = std::max(most, ((c + 1) * V - 1) / cg_ - c * V / cg_ + 1);
    return most;
  };
  if (!aligned(a.x, esize) || !aligned(a.y, esize) || (a.residual && !aligned(a.residual, esize)))
    return invalid("x, y and residual must be aligned to their element size");

  Params& p = out->p;
  p = Params{};
  p.x = a.x;
  p.y = a.y;
  p.gamma = a.gamma;
  p.beta = a.beta;
  p.residual = a.residual;
  p.C = C;
  p.HW = HW;
  p.Cg = cg_;
  p.G = G;
  p.nhwc = nhwc ? 1 : 0;
  p.act = static_cast<int>(a.activation);
  p.residual_first = a.residual_before_activation ? 1 : 0;
  p.alpha = a.alpha;
  p.eps = a.epsilon;

  uint32_t k = 1;
  if (nhwc) {
    // Row width W: the narrowest multiple of lcm(Cg, V) channels that divides C and holds at least 32
    // channels, within one thread per vector of a row. When a unit of such rows would not fit an 8-block
    // cluster, rows of at least 32 bytes instead: the split path merges blocks * k partials in every block, so
    // it wants small units. (H200, 2026-11-26: in fp32, 128-byte rows beat 32 and 64 bytes on every cluster
    // shape of gpu_norm_bench, up to 1.4x; fp16 engines of ResNet-50-GN were 5-9% slower with 128-byte rows
    // than with 64; on the split shape 1x64x256x256, 32-byte rows were 1.6-2x faster than 128.)
    const uint64_t step = lcm(cg_, V);
    if (step / V > static_cast<uint64_t>(kMaxThreads))
      return invalid("NHWC with more than " + std::to_string(kMaxThreads) + " vectors per group is not supported");
    // Rows also start and end on 32-byte sectors where a width allows it (Cg = 10 at fp16: 80 channels, not
    // 40): a row of 80 bytes at a stride of C shares a sector with its neighbour unit, whose blocks write it at
    // another time, so the L2 merges partial sectors.
    auto width_for = [&](uint64_t min_channels) {
      uint64_t w = 0, any = step;
      for (uint64_t cand = step; cand <= C && cand / V <= static_cast<uint64_t>(kMaxThreads); cand += step) {
        if (C % cand != 0) continue;
        if (any < min_channels) any = cand;
        if (cand >= min_channels && cand * esize % 32 == 0) {
          w = cand;
          break;
        }
      }
      return w ? w : any;
    };
    uint64_t W = width_for(32);
    // 16-bit groups of at most 4 channels: rows of 16 channels, so that a sample has twice the units. (H100,
    // 2026-11-26, ResNet-50's GroupNorms at batch 1 and 8 with the data in L2: 64 and 128 channels in 32
    // groups, Cg = 2 and 4, ran 1.2-1.3x faster; Cg = 8 and 16 ran up to 12% slower, so they keep 32.)
    if (esize == 2 && cg_ <= 4) W = width_for(16);
    if (static_cast<uint64_t>(ceil_div(HW, 8)) * W * esize > 200 * 1024) W = width_for(32 / esize);
    k = static_cast<uint32_t>(W / cg_);
    p.k = k;
    p.units_per_sample = static_cast<uint32_t>(C / W);
    p.unit_rows = HW;
    p.row_stride = C / V;
    p.Lv = static_cast<uint32_t>(W / V);
    p.slots = groups_per_vector(p.Lv);
  } else {
    p.k = 1;
    p.units_per_sample = G;
    p.unit_rows = static_cast<uint32_t>(static_cast<uint64_t>(cg_) * HW / V);
    p.row_stride = 1;
    p.Lv = 1;
  }
  const uint64_t units = static_cast<uint64_t>(a.N) * p.units_per_sample;
  const uint64_t row_bytes = static_cast<uint64_t>(p.Lv) * vb;
  const uint64_t target_blocks = 2ull * dev.sms;
  constexpr uint64_t kPreferredTile = 100 * 1024;  // two blocks per SM
  constexpr uint64_t kMinTile = 8 * 1024;
  const int U = vb >= 16 ? 4 : 8;

  auto threads_for = [&](uint32_t rows_per_block, uint32_t* R) {
    uint32_t r;
    if (p.Lv == 1) {
      r = std::min<uint32_t>(512, std::max<uint32_t>(64, round_up(ceil_div(rows_per_block, U), 32)));
    } else {
      const uint32_t r_max = std::max<uint32_t>(1, 512 / p.Lv);
      r = std::max<uint32_t>(1, std::min<uint32_t>(r_max, ceil_div(rows_per_block, U)));
    }
    *R = r;
    return round_up(r * p.Lv, 32);
  };
  // NCHW: a (scale, shift) table entry per channel of the group, when the group has at most 2048 channels.
  p.table_channels = nhwc ? 0u : (cg_ <= 2048 ? cg_ : 0u);
  p.div_hw = make_fast_div(HW);
  p.div_vpc = make_fast_div(HW % V == 0 ? HW / V : 1u);
  auto extra_smem = [&](uint32_t threads) {
    if (nhwc) return static_cast<size_t>(k) * 24 + static_cast<size_t>(threads) * p.slots * 8;
    return size_t{32} * 16 + 16 + 8 + static_cast<size_t>(p.table_channels) * 8;
  };

  // Cluster size: split a unit over more blocks while its tile is too large or the GPU has too few blocks.
  uint32_t cs = 1;
  auto tile_of = [&](uint32_t c) { return static_cast<uint64_t>(ceil_div(p.unit_rows, c)) * row_bytes; };
  // The NHWC TMA kernel and the registers kernel launch clusters beyond the portable 8 (16 where the device does).
  const bool tma_shape = nhwc && vb == 16 && p.Lv * V <= 256 &&
                         (a.algorithm == NormAlgorithm::kAuto || a.algorithm == NormAlgorithm::kCluster);
  if (a.cluster_size != 0) {
    if ((a.cluster_size != 1 && a.cluster_size != 2 && a.cluster_size != 4 && a.cluster_size != 8 &&
         a.cluster_size != 16) ||
        (a.cluster_size == 16 && a.algorithm != NormAlgorithm::kRegisters && !tma_shape))
      return invalid("cluster_size must be 0 (the planner's choice), 1, 2, 4 or 8 (or 16 with kRegisters or the "
                     "NHWC TMA kernel), got " + std::to_string(a.cluster_size));
    if (a.algorithm == NormAlgorithm::kSplit) return invalid("cluster_size applies to the one-pass kernels, not kSplit");
    if (a.cluster_size > dev.max_cluster)
      return invalid("cluster_size " + std::to_string(a.cluster_size) + ": this GPU schedules clusters of at most " +
                     std::to_string(dev.max_cluster) + " blocks");
    cs = static_cast<uint32_t>(a.cluster_size);
  }
  while (a.cluster_size == 0 && cs < 8) {
    const bool too_big = tile_of(cs) > kPreferredTile;
    // Clusters cost several microseconds (H100, 2026-11-25: 8x640x32x32 fp16 with cs=2 took 17.9 us where
    // 16x1280x16x16 with cs=1, the same bytes and block count, took 14.0 us): split only when there are fewer
    // units than SMs.
    // NHWC splits only until there is about one block per SM. (H200, 2026-11-26, sector-aligned rows included:
    // 8x640x32x32 fp16 ran 1.36x faster as 64 units in 2-block clusters than as 128 units in 4-block clusters.
    // The same rule cost NCHW 13% at 1x512x64x64 fp16, where two blocks per SM stay better.)
    const uint64_t enough = nhwc ? static_cast<uint64_t>(dev.sms) * 9 / 10 : target_blocks;
    const bool too_few = (nhwc || units < static_cast<uint64_t>(dev.sms)) && units * cs < enough &&
                         tile_of(cs * 2) >= kMinTile;
    if (!too_big && !too_few) break;
    cs *= 2;
  }
  const uint32_t cluster_rows = ceil_div(p.unit_rows, cs);
  uint32_t R = 0;
  const uint32_t cluster_threads = threads_for(cluster_rows, &R);
  const uint64_t cluster_tile = (tile_of(cs) + 15) / 16 * 16;
  const uint64_t cluster_smem = cluster_tile + extra_smem(cluster_threads);
  const bool cluster_fits = cluster_smem <= static_cast<uint64_t>(dev.smem_optin);

  // kRegisters (NHWC, 16-byte vectors): a block's rows fit its threads' registers, at most kRegisterVectors
  // vectors a thread and about 4 (independent loads in flight). registers_shape(c) is the block for a unit split
  // over c blocks (R rows a pass, the vectors a thread holds as a power of two: the kernel's template), or
  // nothing when it does not fit.
  constexpr uint32_t kRegisterVectors = 8;
  // About 4 vectors a thread. (H100, 2026-11-27, the UNet's and ResNet-50's batch-1 shapes forced to 1, 2, 4 and 8:
  // 4 within 10% of the fastest at every shape, fp32 and fp16, hot and cold; unlike LayerNorm's rows, more
  // threads with fewer vectors each gained nothing. bench/results/2026-11-27-session16.md.)
  const uint32_t register_vectors = a.register_vectors ? static_cast<uint32_t>(a.register_vectors) : 4;
  struct RegisterBlock {
    uint32_t R, vectors, threads;
    uint64_t smem;
  };
  auto registers_shape = [&](uint32_t c) -> std::optional<RegisterBlock> {
    if (!nhwc || vb != 16 || p.Lv > static_cast<uint32_t>(kMaxRegisterThreads)) return std::nullopt;
    const uint32_t rows = ceil_div(p.unit_rows, c);
    const uint32_t r_max = kMaxRegisterThreads / p.Lv;
    RegisterBlock b;
    b.R = std::min(r_max, std::max<uint32_t>(1, ceil_div(rows, register_vectors)));
    b.threads = round_up(b.R * p.Lv, 32);
    b.smem = static_cast<uint64_t>(k) * 24 + static_cast<uint64_t>(b.threads) * p.slots * 8;
    const uint32_t need = ceil_div(rows, b.R);
    // 16-bit vectors that straddle groups keep 16 sums, shifts and affine terms a thread: 8 vectors spill.
    const uint32_t most = p.slots > 1 && esize == 2 ? kRegisterVectors / 2 : kRegisterVectors;
    if (need > most || b.smem > static_cast<uint64_t>(dev.smem_optin)) return std::nullopt;
    for (b.vectors = 1; b.vectors < need;) b.vectors *= 2;
    return b;
  };
  // Blocks per unit: the fewest (up to 8) that leave each block at most 8K elements, then more while a block's
  // share does not fit its registers. (H100, 2026-11-26, ResNet-50's GroupNorms at batch 1 and 8 with the data
  // in L2, every cluster size forced: each doubling of the cluster costs 0.5-1 us, so one block per unit wins
  // up to about 12 KB of fp16 and 25 KB of fp32; 8K elements a block was within 10% of the best size at every
  // shape. Clusters of 16 were slower than 8 wherever both fit, up to 3x.)
  constexpr uint64_t kRegisterBlockElements = 8192;
  uint32_t reg_cs = static_cast<uint32_t>(a.cluster_size);
  if (reg_cs == 0) {
    reg_cs = 1;
    while (reg_cs < 8 && static_cast<uint64_t>(ceil_div(p.unit_rows, reg_cs)) * p.Lv * V > kRegisterBlockElements)
      reg_cs *= 2;
    while (reg_cs < static_cast<uint32_t>(dev.max_cluster) && !registers_shape(reg_cs)) reg_cs *= 2;
  }
  const std::optional<RegisterBlock> reg = registers_shape(reg_cs);

  // kGrid (NHWC, 16-byte vectors): blocks of whole rows (all C channels, at most 512 threads), as many per
  // sample as the device holds at once with one or two blocks per SM, each block's rows in its shared memory.
  struct GridBlock {
    uint32_t blocks_per_sample, rows, R, threads, slots, chunk_rows;
    uint64_t tile, smem;
  };
  auto grid_shape = [&]() -> std::optional<GridBlock> {
    const uint32_t lv = C / V;
    if (!nhwc || vb != 16 || lv > 512) return std::nullopt;
    GridBlock b;
    b.slots = groups_per_vector(lv);
    // One block per SM while its tile stays within about 96 KB (fewer partials to merge, fewer blocks at each
    // barrier), else two, else one with a larger tile. (H100, 2026-11-27: 1x64x256x256 fp16 16.7 us with 132
    // blocks against 20.1 us with 264; 8x320x64x64 fp16 25.8 us with 264 blocks of 80 KB against 26.8 us with
    // 128 of 160 KB.)
    std::optional<GridBlock> larger;
    for (uint64_t per_sm : {1u, 2u}) {
      const uint64_t capacity = per_sm * static_cast<uint64_t>(dev.sms);
      if (capacity < static_cast<uint64_t>(a.N)) continue;
      const uint64_t most = std::min<uint64_t>(capacity / static_cast<uint64_t>(a.N), HW);
      b.rows = ceil_div(HW, most);
      b.blocks_per_sample = ceil_div(HW, b.rows);
      b.R = std::max<uint32_t>(1, std::min<uint32_t>(512 / lv, ceil_div(b.rows, 4)));
      b.threads = round_up(b.R * lv, 32);
      b.tile = (static_cast<uint64_t>(b.rows) * C * esize + 127) / 128 * 128;
      const uint32_t chunks =
          static_cast<uint32_t>(std::min<uint64_t>(kMaxChunks, std::max<uint64_t>(1, b.tile / (8 * 1024))));
      b.chunk_rows = ceil_div(b.rows, chunks);
      b.smem = b.tile + static_cast<uint64_t>(G) * 24 + static_cast<uint64_t>(b.threads) * b.slots * 8 +
               kMaxChunks * 8;
      // Each resident block also holds 1 KB the system reserves.
      const uint64_t limit = (static_cast<uint64_t>(dev.smem_optin) + 1024) / per_sm - 1024;
      if (b.smem > limit) continue;
      if (per_sm == 1 && b.tile > 96 * 1024 && !larger) {
        larger = b;  // unless two smaller blocks per SM fit
        continue;
      }
      return b;
    }
    return larger;
  };
  const std::optional<GridBlock> grid = grid_shape();
  NormAlgorithm algo = a.algorithm;
  if (algo == NormAlgorithm::kGrid && a.cluster_size != 0)
    return invalid("cluster_size applies to kCluster and kRegisters, not kGrid");
  if (algo == NormAlgorithm::kGrid && !grid)
    return invalid("kGrid needs NHWC, C and the pointers aligned to 16 bytes, at most 512 vectors a row, and x small "
                   "enough for the shared memory of every SM at once (" +
                   std::to_string(static_cast<uint64_t>(dev.sms) * dev.smem_optin) +
                   " bytes here); use kAuto, kCluster or kSplit");
  // Small tensors take the registers kernel when its blocks fit the GPU at once: without clusters, up to two
  // blocks of at most 256 threads per SM; clusters of 2, a block per SM; larger clusters, half the SMs (the
  // GPCs do not pack clusters of 4 to 16 to the last SM). (H100 and H200, 2026-11-26: 8x2048x7x7 fp16, 256
  // one-block units, ran 1.15x faster than on the TMA kernel; 128 blocks in clusters of 4 and 8 (fp32 8x128x28x28
  // and 8x64x56x56) ran 1.2x slower, 128 blocks in clusters of 2 (fp16 8x128x28x28) 1.2x faster.)
  if (algo == NormAlgorithm::kAuto && reg) {
    const uint64_t blocks = units * reg_cs, sms = static_cast<uint64_t>(dev.sms);
    const bool fits = reg_cs == 1   ? blocks <= sms || (blocks <= 2 * sms && reg->R * p.Lv <= 256)
                      : reg_cs == 2 ? blocks <= sms
                                    : blocks <= sms / 2;
    if (fits) algo = NormAlgorithm::kRegisters;
  }
  // Where the one-pass kernels do not fit and two passes would read x twice, one grid reads it once. (Where the
  // cluster kernels would run in several waves, plan_here, which can ask the device, also takes kGrid.)
  if (algo == NormAlgorithm::kAuto && a.cluster_size == 0 && allow_grid && grid && !cluster_fits)
    algo = NormAlgorithm::kGrid;
  if (algo == NormAlgorithm::kAuto)
    algo = cluster_fits || a.cluster_size ? NormAlgorithm::kCluster : NormAlgorithm::kSplit;
  if (algo == NormAlgorithm::kRegisters && !reg)
    return invalid(std::string("kRegisters needs NHWC, C and the pointers aligned to 16 bytes, and a unit of at "
                               "most 8 vectors a thread over ") +
                   std::to_string(a.cluster_size ? a.cluster_size : dev.max_cluster) +
                   " blocks of " + std::to_string(kMaxRegisterThreads) + " threads; use " +
                   (a.cluster_size && a.cluster_size < dev.max_cluster ? "a larger cluster_size or " : "") +
                   "kAuto, kCluster or kSplit");
  if (algo == NormAlgorithm::kCluster && !cluster_fits)
    return invalid("a group of " + std::to_string(tile_of(1)) + " bytes does not fit the shared memory of " +
                   (a.cluster_size ? "a " + std::to_string(cs) + "-block" : std::string("an 8-block")) +
                   " cluster; use " + (a.cluster_size && a.cluster_size < 8 ? "a larger cluster_size or " : "") +
                   "NormAlgorithm::kSplit or kAuto");

  GroupNormPlan& info = out->info;
  info = GroupNormPlan{};
  info.algorithm = algo;
  info.vector_bytes = vb;
  info.groups_per_unit = static_cast<int>(k);
  info.groups_per_vector = nhwc ? static_cast<int>(p.slots) : 1;
  out->vector_bytes = vb;
  if (algo == NormAlgorithm::kGrid) {
    p.k = G;
    p.units_per_sample = 1;
    p.unit_rows = HW;
    p.Lv = C / V;
    p.row_stride = p.Lv;
    p.slots = grid->slots;
    p.R = grid->R;
    p.rows_per_block = grid->rows;
    p.blocks_per_unit = grid->blocks_per_sample;
    p.tile_bytes = static_cast<uint32_t>(grid->tile);
    out->grid = true;
    out->chunk_rows = grid->chunk_rows;
    out->threads = grid->threads;
    out->smem = static_cast<size_t>(grid->smem);
    out->blocks = static_cast<uint32_t>(static_cast<uint64_t>(a.N) * grid->blocks_per_sample);
    info.groups_per_unit = static_cast<int>(G);
    info.groups_per_vector = static_cast<int>(grid->slots);
    info.cluster_size = 1;
    info.threads = static_cast<int>(out->threads);
    info.blocks = static_cast<int64_t>(out->blocks);
    info.shared_bytes = out->smem;
    // Partials [N][blocks per sample][G], then statistics [N][G].
    info.workspace_bytes = (static_cast<size_t>(out->blocks) * G + static_cast<size_t>(a.N) * G / 2 + 1) * sizeof(float4);
    return Status{};
  }
  if (algo == NormAlgorithm::kRegisters) {
    p.rows_per_block = ceil_div(p.unit_rows, reg_cs);
    p.blocks_per_unit = reg_cs;
    p.R = reg->R;
    p.tile_bytes = 0;
    out->registers = true;
    out->vectors_per_thread = reg->vectors;
    out->threads = reg->threads;
    out->smem = static_cast<size_t>(reg->smem);
    out->blocks = static_cast<uint32_t>(units * reg_cs);
    info.cluster_size = static_cast<int>(reg_cs);
    info.threads = static_cast<int>(out->threads);
    info.blocks = static_cast<int64_t>(out->blocks);
    info.shared_bytes = out->smem;
    return Status{};
  }
  if (algo == NormAlgorithm::kCluster) {
    p.rows_per_block = cluster_rows;
    p.blocks_per_unit = cs;
    p.R = R;
    p.tile_bytes = static_cast<uint32_t>(cluster_tile);
    out->threads = cluster_threads;
    out->smem = static_cast<size_t>(cluster_smem);
  } else {
    // Split: about 32 KB per block, and enough blocks to fill the GPU twice.
    uint64_t rows = std::max<uint64_t>(1, (32 * 1024) / row_bytes);
    const uint64_t fill = std::max<uint64_t>(1, units * p.unit_rows / target_blocks);
    rows = std::max<uint64_t>(1, std::min(rows, fill));
    const uint32_t bpu = ceil_div(p.unit_rows, rows);
    p.blocks_per_unit = bpu;
    p.rows_per_block = ceil_div(p.unit_rows, bpu);
    out->threads = threads_for(p.rows_per_block, &R);
    p.R = R;
    p.tile_bytes = 0;
    out->smem = extra_smem(out->threads);
    info.workspace_bytes = units * bpu * k * sizeof(float4);
  }
  if (algo == NormAlgorithm::kCluster && nhwc && vb == 16 && p.Lv * V <= 256) {
    // NHWC, 16-byte vectors, rows of at most 256 elements (a TMA box's limit): the TMA kernel. A block's rows
    // are whole boxes of at most 256 rows, each a multiple of 8 rows (so every box starts 128-byte aligned in
    // shared memory); the last block of a unit may hold fewer.
    const uint32_t share = ceil_div(HW, cs);
    const uint32_t boxes = ceil_div(share, 256);
    const uint32_t box_rows = round_up(ceil_div(share, boxes), 8);
    const uint32_t rows = box_rows * boxes;
    uint32_t R_tma = 0;
    uint32_t threads = threads_for(rows, &R_tma);
    if (a.block_threads != 0) {  // at most that many: whole rows of Lv vectors, rounded up to whole warps
      const uint32_t asked = static_cast<uint32_t>(a.block_threads);
      R_tma = p.Lv == 1 ? asked
                        : std::clamp<uint32_t>(asked / p.Lv, 1u, std::min<uint32_t>(rows, std::max(1u, 512 / p.Lv)));
      threads = round_up(R_tma * p.Lv, 32);
    }
    const uint64_t tile = static_cast<uint64_t>(rows) * p.Lv * 16;
    const uint64_t smem = tile + static_cast<uint64_t>(k) * 24 + static_cast<uint64_t>(threads) * p.slots * 8 +
                          static_cast<uint64_t>(boxes) * 8;
    if (smem <= static_cast<uint64_t>(dev.smem_optin)) {
      out->tma = true;
      out->box_rows = box_rows;
      p.rows_per_block = rows;
      p.blocks_per_unit = cs;
      p.R = R_tma;
      p.tile_bytes = static_cast<uint32_t>(tile);
      out->threads = threads;
      out->smem = static_cast<size_t>(smem);
      info.tma = true;
    }
  }
  if (algo == NormAlgorithm::kCluster && cs > 8 && !out->tma)
    return invalid("cluster_size " + std::to_string(cs) + " needs the NHWC TMA kernel, and a block's share of this "
                   "shape does not fit it: use cluster_size 8 or less");
  if (algo == NormAlgorithm::kCluster && !nhwc && vb == 16) {
    // NCHW, 16-byte vectors: the bulk-copy kernel. Small groups are packed several to a block (one team of
    // warps each, up to 16 KB a block while at least one block per SM remains); larger groups keep the
    // cluster split chosen above.
    BulkParams& bp = out->bp;
    bp = BulkParams{};
    bp.x = a.x;
    bp.y = a.y;
    bp.gamma = a.gamma;
    bp.beta = a.beta;
    bp.residual = a.residual;
    bp.HW = HW;
    bp.Cg = cg_;
    bp.G = G;
    bp.unit_vecs = p.unit_rows;
    bp.units = static_cast<uint32_t>(units);
    bp.div_hw = p.div_hw;
    bp.div_vpc = p.div_vpc;
    bp.act = p.act;
    bp.residual_first = p.residual_first;
    bp.alpha = p.alpha;
    bp.eps = p.eps;
    const uint64_t unit_bytes = static_cast<uint64_t>(bp.unit_vecs) * 16;
    uint32_t threads;
    uint64_t tile;
    uint64_t blocks_b;
    if (cs == 1 && unit_bytes <= 8 * 1024) {
      uint32_t upb = 1;
      while (upb < 16 && 2 * upb * unit_bytes <= 16 * 1024 &&
             (units + 2 * upb - 1) / (2 * upb) >= static_cast<uint64_t>(dev.sms))
        upb *= 2;
      uint32_t team = std::min<uint32_t>(
          512 / upb, std::max<uint32_t>(32, round_up(ceil_div(static_cast<uint32_t>(bp.unit_vecs), 4), 32)));
      if (a.block_threads != 0) {
        if (a.block_threads % (32 * upb) != 0)
          return invalid("block_threads " + std::to_string(a.block_threads) + " does not split into " +
                         std::to_string(upb) + " teams of whole warps (the plan packs " + std::to_string(upb) +
                         " small groups a block): ask for a multiple of " + std::to_string(32 * upb));
        team = static_cast<uint32_t>(a.block_threads) / upb;
      }
      bp.upb = upb;
      bp.cs = 1;
      bp.vecs_per_block = upb * bp.unit_vecs;
      bp.chunks = 1;
      threads = upb * team;
      tile = upb * unit_bytes;
      blocks_b = (units + upb - 1) / upb;
    } else {
      bp.upb = 1;
      bp.cs = cs;
      bp.vecs_per_block = cluster_rows;
      bp.chunks = static_cast<uint32_t>(
          std::min<uint64_t>(kMaxChunks, std::max<uint64_t>(1, tile_of(cs) / (8 * 1024))));
      threads = a.block_threads != 0
                    ? static_cast<uint32_t>(a.block_threads)
                    : std::min<uint32_t>(512, std::max<uint32_t>(64, round_up(ceil_div(cluster_rows, 4), 32)));
      tile = static_cast<uint64_t>(cluster_rows) * 16;
      blocks_b = units * cs;
    }
    bp.tile_bytes = static_cast<uint32_t>((tile + 127) / 128 * 128);
    bp.table_channels = static_cast<uint64_t>(bp.upb) * cg_ <= 2048 ? bp.upb * cg_ : 0u;
    const uint64_t smem = bp.tile_bytes + 16 * 16 + bp.upb * 16 + bp.upb * 8 + bp.table_channels * 8 + kMaxChunks * 8;
    if (smem <= static_cast<uint64_t>(dev.smem_optin) && blocks_b < (1ull << 31)) {
      out->bulk = true;
      out->threads = threads;
      out->blocks = static_cast<uint32_t>(blocks_b);
      out->smem = static_cast<size_t>(smem);
      info.cluster_size = static_cast<int>(bp.cs);
      info.groups_per_unit = static_cast<int>(bp.upb);
      info.threads = static_cast<int>(threads);
      info.blocks = static_cast<int64_t>(blocks_b);
      info.shared_bytes = out->smem;
      info.bulk_copy = true;
      return Status{};
    }
  }

  const uint64_t blocks = units * p.blocks_per_unit;
  if (blocks >= (1ull << 31)) return invalid("too many blocks");
  out->blocks = static_cast<uint32_t>(blocks);
  info.cluster_size = static_cast<int>(p.blocks_per_unit);
  info.threads = static_cast<int>(out->threads);
  info.blocks = static_cast<int64_t>(blocks);
  info.shared_bytes = out->smem;
  return Status{};
}

// KIND: 0 NCHW, 1 NHWC with one group per vector, 2 NHWC with vectors that straddle groups.
template <typename Kernel>
cudaError_t resident_clusters(Kernel kernel, cudaLaunchConfig_t cfg, uint32_t cluster_size, int* resident) {
  cudaLaunchAttribute cluster[1];
  cluster[0].id = cudaLaunchAttributeClusterDimension;
  cluster[0].val.clusterDim.x = cluster_size;
  cluster[0].val.clusterDim.y = 1;
  cluster[0].val.clusterDim.z = 1;
  cfg.attrs = cluster;
  cfg.numAttrs = 1;
  cfg.gridDim = dim3(cluster_size);
  return cudaOccupancyMaxActiveClusters(resident, kernel, &cfg);
}

// Raises the kernel's dynamic shared-memory limit to the device maximum and asks for the largest carveout (the
// tiles are the data: more blocks stay resident). Callers keep the result in a static, once per kernel.
template <typename Kernel>
cudaError_t prepare_kernel(Kernel kernel) {
  int dev = 0, optin = 0;
  cudaError_t e = cudaGetDevice(&dev);
  if (e == cudaSuccess) e = cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
  if (e == cudaSuccess) e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, optin);
  if (e == cudaSuccess)
    e = cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout, cudaSharedmemCarveoutMaxShared);
  return e;
}

// The registers and NHWC TMA kernels may run clusters of 16 blocks, beyond the portable 8 (H100 and H200 take 16).
template <typename Kernel>
cudaError_t prepare_large_cluster_kernel(Kernel kernel) {
  const cudaError_t e = prepare_kernel(kernel);
  return e == cudaSuccess ? cudaFuncSetAttribute(kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1) : e;
}

// Launches `kernel` with the plan's grid in clusters of `cluster` blocks, or, with `resident` set, asks how many
// such clusters the device holds at once. A cluster of 0 or 1 launches without a cluster attribute: the
// kernels' cluster barriers then act on the implicit one-block cluster, and the launch skips the cluster
// scheduling (H100, ncu: a 1x512x7x7 GroupNorm took 2.8 us with 0.45 us of it on the SMs when launched as
// clusters of one).
template <typename Kernel, typename Args>
cudaError_t launch_planned(Kernel kernel, const Args& args, const LaunchPlan& plan, uint32_t cluster,
                           cudaStream_t stream, int* resident) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(plan.blocks);
  cfg.blockDim = dim3(plan.threads);
  cfg.dynamicSmemBytes = plan.smem;
  cfg.stream = stream;
  if (resident) return resident_clusters(kernel, cfg, std::max<uint32_t>(cluster, 1), resident);
  cudaLaunchAttribute attrs[3];
  cfg.attrs = attrs;
  if (plan.grid) {  // the grid-wide barrier needs every block resident at once
    attrs[cfg.numAttrs].id = cudaLaunchAttributeCooperative;
    attrs[cfg.numAttrs].val.cooperative = 1;
    ++cfg.numAttrs;
  }
  if (cluster > 1) {
    attrs[cfg.numAttrs].id = cudaLaunchAttributeClusterDimension;
    attrs[cfg.numAttrs].val.clusterDim.x = cluster;
    attrs[cfg.numAttrs].val.clusterDim.y = 1;
    attrs[cfg.numAttrs].val.clusterDim.z = 1;
    ++cfg.numAttrs;
  }
  if (plan.programmatic) {
    attrs[cfg.numAttrs].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attrs[cfg.numAttrs].val.programmaticStreamSerializationAllowed = 1;
    ++cfg.numAttrs;
  }
  return cudaLaunchKernelEx(&cfg, kernel, args);
}

// With `resident` set, each launcher asks how many clusters of its kernel the device holds at once instead of
// launching.
template <typename T, int VB, int MODE, int KIND>
cudaError_t launch_one(const LaunchPlan& plan, cudaStream_t stream, int* resident) {
  auto kernel = KIND == 0 ? group_norm_kernel<T, VB, MODE> : group_norm_nhwc_kernel<T, VB, MODE, KIND == 2>;
  static const cudaError_t attr = prepare_kernel(kernel);
  if (attr != cudaSuccess) return attr;
  return launch_planned(kernel, plan.p, plan, MODE == 0 ? plan.p.blocks_per_unit : 0u, stream, resident);
}

template <typename T, int MODE, int KIND>
cudaError_t launch_vb(const LaunchPlan& plan, cudaStream_t stream, int* resident) {
  switch (plan.vector_bytes) {
    case 16:
      return launch_one<T, 16, MODE, KIND>(plan, stream, resident);
    case 8:
      return launch_one<T, 8, MODE, KIND>(plan, stream, resident);
    case 4:
      return launch_one<T, 4, MODE, KIND>(plan, stream, resident);
    default:
      if constexpr (sizeof(T) == 2) return launch_one<T, 2, MODE, KIND>(plan, stream, resident);
      return cudaErrorInvalidValue;
  }
}

template <typename T, int MODE>
cudaError_t launch_layout(const LaunchPlan& plan, cudaStream_t stream, int* resident) {
  if (!plan.p.nhwc) return launch_vb<T, MODE, 0>(plan, stream, resident);
  return plan.p.slots > 1 ? launch_vb<T, MODE, 2>(plan, stream, resident)
                          : launch_vb<T, MODE, 1>(plan, stream, resident);
}

template <typename T>
cudaError_t launch_bulk(const LaunchPlan& plan, cudaStream_t stream, int* resident) {
  auto kernel = group_norm_nchw_bulk_kernel<T>;
  static const cudaError_t attr = prepare_kernel(kernel);
  if (attr != cudaSuccess) return attr;
  return launch_planned(kernel, plan.bp, plan, plan.bp.cs, stream, resident);
}

template <typename T, bool STRADDLE>
cudaError_t launch_registers_vpt(const LaunchPlan& plan, cudaStream_t stream, int* resident) {
  constexpr int kMost = STRADDLE && sizeof(T) == 2 ? 4 : 8;  // as the planner's registers_shape
  auto kernel = plan.vectors_per_thread <= 1   ? group_norm_nhwc_registers_kernel<T, STRADDLE, 1>
                : plan.vectors_per_thread <= 2 ? group_norm_nhwc_registers_kernel<T, STRADDLE, 2>
                : plan.vectors_per_thread <= 4 ? group_norm_nhwc_registers_kernel<T, STRADDLE, 4>
                                               : group_norm_nhwc_registers_kernel<T, STRADDLE, kMost>;
  static const cudaError_t attr[4] = {
      prepare_large_cluster_kernel(group_norm_nhwc_registers_kernel<T, STRADDLE, 1>),
      prepare_large_cluster_kernel(group_norm_nhwc_registers_kernel<T, STRADDLE, 2>),
      prepare_large_cluster_kernel(group_norm_nhwc_registers_kernel<T, STRADDLE, 4>),
      prepare_large_cluster_kernel(group_norm_nhwc_registers_kernel<T, STRADDLE, kMost>)};
  for (cudaError_t e : attr)
    if (e != cudaSuccess) return e;
  return launch_planned(kernel, plan.p, plan, plan.p.blocks_per_unit, stream, resident);
}

template <typename T>
cudaError_t launch_registers(const LaunchPlan& plan, cudaStream_t stream, int* resident) {
  return plan.p.slots > 1 ? launch_registers_vpt<T, true>(plan, stream, resident)
                          : launch_registers_vpt<T, false>(plan, stream, resident);
}

// Calls f with a value of dtype's storage type (float, __half or __nv_bfloat16): the one dtype switch of the
// launchers.
template <typename F>
cudaError_t with_storage_type(DataType dtype, F&& f) {
  switch (dtype) {
    case DataType::kFloat32:
      return f(float{});
    case DataType::kFloat16:
      return f(__half{});
    case DataType::kBFloat16:
      return f(__nv_bfloat16{});
  }
  return cudaErrorInvalidValue;
}

cudaError_t launch_registers_dtype(const LaunchPlan& plan, DataType dtype, cudaStream_t stream,
                                   int* resident = nullptr) {
  return with_storage_type(dtype, [&](auto t) { return launch_registers<decltype(t)>(plan, stream, resident); });
}

// LayerNorm rows: the plan's grid of blocks of whole warps, no shared memory, no clusters.
template <typename T>
cudaError_t launch_rows(const LaunchPlan& plan, cudaStream_t stream) {
  if (plan.info.row_warps > 1) {
    const uint32_t vecs = (plan.rp.nv + plan.threads - 1) / plan.threads;
    auto kernel = vecs <= 1   ? layer_norm_row_team_kernel<T, 1>
                  : vecs <= 2 ? layer_norm_row_team_kernel<T, 2>
                              : layer_norm_row_team_kernel<T, kMaxTeamVectors>;
    return launch_planned(kernel, plan.rp, plan, 0u, stream, nullptr);
  }
  const uint32_t vecs = (plan.rp.nv + 31) / 32;
  auto kernel = vecs <= 1   ? layer_norm_rows_kernel<T, 1>
                : vecs <= 2 ? layer_norm_rows_kernel<T, 2>
                : vecs <= 4 ? layer_norm_rows_kernel<T, 4>
                : vecs <= 8 ? layer_norm_rows_kernel<T, 8>
                            : layer_norm_rows_kernel<T, 16>;
  return launch_planned(kernel, plan.rp, plan, 0u, stream, nullptr);
}

// cuTensorMapEncodeTiled from the driver, found once through the runtime (no link to libcuda).
PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder() {
  static const PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &found) !=
            cudaSuccess ||
        found != cudaDriverEntryPointSuccess)
      f = nullptr;
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(f);
  }();
  return fn;
}

// The (C, HW, N) map of an NHWC tensor at `data`, in boxes of W channels x box_rows rows.
Status encode_nhwc_map(CUtensorMap* map, const void* data, DataType dtype, const Params& p, uint32_t N,
                       uint32_t box_rows) {
  const auto encode = tensor_map_encoder();
  if (!encode) return invalid("the driver has no cuTensorMapEncodeTiled");
  const uint64_t esize = dtype_size(dtype);
  const cuuint64_t dims[3] = {p.C, p.HW, N};
  const cuuint64_t strides[2] = {p.C * esize, static_cast<uint64_t>(p.HW) * p.C * esize};
  const cuuint32_t box[3] = {static_cast<cuuint32_t>(p.k * p.Cg), box_rows, 1};
  const cuuint32_t element_strides[3] = {1, 1, 1};
  const CUtensorMapDataType type = dtype == DataType::kFloat32   ? CU_TENSOR_MAP_DATA_TYPE_FLOAT32
                                   : dtype == DataType::kFloat16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16
                                                                 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  const CUresult r = encode(map, type, 3, const_cast<void*>(data), dims, strides, box, element_strides,
                            CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_NONE,
                            CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) return invalid("cuTensorMapEncodeTiled failed with CUresult " + std::to_string(r));
  return Status{};
}

template <typename T, bool STRADDLE>
cudaError_t launch_nhwc_tma_kernel(const NhwcTmaParams& q, const LaunchPlan& plan, cudaStream_t stream,
                                   int* resident) {
  auto kernel = group_norm_nhwc_tma_kernel<T, STRADDLE>;
  static const cudaError_t attr = prepare_large_cluster_kernel(kernel);
  if (attr != cudaSuccess) return attr;
  return launch_planned(kernel, q, plan, plan.p.blocks_per_unit, stream, resident);
}

// The NHWC TMA kernel for x and y (the plan's own pointers when querying occupancy).
Status launch_nhwc_tma(const LaunchPlan& plan, const GroupNormArgs& a, cudaStream_t stream, int* resident = nullptr) {
  NhwcTmaParams q{};
  q.p = plan.p;
  q.box_rows = plan.box_rows;
  if (!resident) {
    const uint32_t N = static_cast<uint32_t>(a.N);
    Status s = encode_nhwc_map(&q.x_map, a.x, a.dtype, plan.p, N, plan.box_rows);
    if (s.ok()) s = encode_nhwc_map(&q.y_map, a.y, a.dtype, plan.p, N, plan.box_rows);
    if (!s.ok()) return s;
  }
  const bool straddle = plan.p.slots > 1;
  const cudaError_t e = with_storage_type(a.dtype, [&](auto t) {
    using T = decltype(t);
    return straddle ? launch_nhwc_tma_kernel<T, true>(q, plan, stream, resident)
                    : launch_nhwc_tma_kernel<T, false>(q, plan, stream, resident);
  });
  return cuda_status(e, resident ? "group_norm: occupancy query" : "group_norm: TMA kernel launch");
}

template <typename T, bool STRADDLE>
cudaError_t launch_nhwc_grid_kernel(const NhwcGridParams& q, const LaunchPlan& plan, cudaStream_t stream,
                                    int* resident) {
  auto kernel = group_norm_nhwc_grid_kernel<T, STRADDLE>;
  static const cudaError_t attr = prepare_kernel(kernel);
  if (attr != cudaSuccess) return attr;
  if (resident) {  // blocks, not clusters: the whole grid must be resident
    DeviceProperties dev;
    if (!device_info(&dev).ok()) return cudaErrorInvalidDevice;
    int per_sm = 0;
    const cudaError_t e =
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, static_cast<int>(plan.threads), plan.smem);
    *resident = per_sm * dev.sms;
    return e;
  }
  return launch_planned(kernel, q, plan, 0u, stream, nullptr);
}

// The NHWC grid kernel, or with `resident` set, how many of its blocks the device holds at once.
Status launch_nhwc_grid(const LaunchPlan& plan, const GroupNormArgs& a, cudaStream_t stream, int* resident = nullptr) {
  NhwcGridParams q{};
  q.p = plan.p;
  q.chunk_rows = plan.chunk_rows;
  const bool straddle = plan.p.slots > 1;
  const cudaError_t e = with_storage_type(a.dtype, [&](auto t) {
    using T = decltype(t);
    return straddle ? launch_nhwc_grid_kernel<T, true>(q, plan, stream, resident)
                    : launch_nhwc_grid_kernel<T, false>(q, plan, stream, resident);
  });
  return cuda_status(e, resident ? "group_norm: occupancy query" : "group_norm: grid kernel launch");
}

template <int MODE>
cudaError_t launch_mode(const LaunchPlan& plan, DataType dtype, cudaStream_t stream, int* resident = nullptr) {
  return with_storage_type(dtype, [&](auto t) { return launch_layout<decltype(t), MODE>(plan, stream, resident); });
}

cudaError_t launch_bulk_dtype(const LaunchPlan& plan, DataType dtype, cudaStream_t stream, int* resident = nullptr) {
  return with_storage_type(dtype, [&](auto t) { return launch_bulk<decltype(t)>(plan, stream, resident); });
}

// How many units (clusters; kGrid: blocks) of the plan's one-pass kernel the device holds at once; 0 for the
// kernels that never wait on another block.
Status resident_units(const LaunchPlan& lp, const GroupNormArgs& args, int* resident) {
  *resident = 0;
  if (lp.rows) return Status{};
  if (lp.registers)
    return cuda_status(launch_registers_dtype(lp, args.dtype, nullptr, resident), "group_norm: occupancy query");
  if (lp.tma) return launch_nhwc_tma(lp, args, nullptr, resident);
  if (lp.grid) return launch_nhwc_grid(lp, args, nullptr, resident);
  if (lp.bulk) return cuda_status(launch_bulk_dtype(lp, args.dtype, nullptr, resident), "group_norm: occupancy query");
  if (lp.info.algorithm == NormAlgorithm::kCluster)
    return cuda_status(launch_mode<0>(lp, args.dtype, nullptr, resident), "group_norm: occupancy query");
  return Status{};
}

// Rounds a one-pass plan's units take on this device (units: clusters, or blocks where cs is 1); 0 if unknown.
int64_t one_pass_waves(const LaunchPlan& lp, const GroupNormArgs& args) {
  int resident = 0;
  if (!resident_units(lp, args, &resident).ok() || resident <= 0) return 0;
  const int64_t units = lp.info.blocks / std::max(1, lp.info.cluster_size);
  return (units + resident - 1) / resident;
}

// A one-pass plan on the copy engines (the NCHW bulk kernel with one group a block or a cluster a group, the NHWC
// TMA kernel) that the device runs in several waves takes fewer threads a block where that holds more blocks at
// once (the kernels' registers allow 1024 / threads blocks an SM): the most threads of the fewest waves, at the
// same cluster size. (H100, 2026-11-27 session 17, cold. NCHW: 16x1280x16x16 fp16 13.8 us in two waves of 320
// threads, 10.6 us in one of 256; 32x256x56x56 fp16 43.6 us in four waves of 512, 39.0 in two of 256; 1x64x256x256
// fp32 24.9 us in two waves of clusters of 8 x 512, 19.0 in one of 8 x 256. NHWC: 16x1280x16x16 fp32 22.8 us in two
// waves of 512, 17.4 in one of 256. Fewer threads where the grid already ran in one wave were slower: 8x640x32x32
// fp16 11.4 us at 512, 13.9 at 256.)
// Returns the plan's waves; 0 if unknown, or without asking the device where the rule does not apply (plan_here
// runs on every call: the registers and rows kernels must not pay an occupancy query for it).
int64_t fewer_block_threads_for_fewer_waves(const GroupNormArgs& args, const DeviceProperties& dev, LaunchPlan* plan) {
  if (args.block_threads != 0 || !(plan->tma || (plan->bulk && plan->bp.upb == 1))) return 0;
  int64_t waves = one_pass_waves(*plan, args);
  for (int threads : {320, 256, 192, 128}) {
    if (waves <= 1) return waves;
    if (threads >= static_cast<int>(plan->threads)) continue;
    GroupNormArgs fewer = args;
    fewer.block_threads = threads;
    fewer.cluster_size = plan->info.cluster_size;
    LaunchPlan candidate;
    if (!make_plan(fewer, dev, &candidate).ok() || candidate.bulk != plan->bulk || candidate.tma != plan->tma)
      return waves;
    const int64_t candidate_waves = one_pass_waves(candidate, args);
    if (candidate_waves > 0 && candidate_waves < waves) {
      *plan = candidate;
      waves = candidate_waves;
    }
  }
  return waves;
}

// The plan on the current device.
Status plan_here(const GroupNormArgs& args, LaunchPlan* plan) {
  DeviceProperties dev;
  Status s = device_info(&dev);
  if (s.ok()) s = make_plan(args, dev, plan);
  if (!s.ok()) return s;
  int resident = 0;
  if (plan->grid) {
    // The planner counted shared memory only; a grid the device cannot hold at once would never pass its barrier.
    s = resident_units(*plan, args, &resident);
    if (!s.ok() || static_cast<int64_t>(resident) >= static_cast<int64_t>(plan->blocks)) return s;
    if (args.algorithm == NormAlgorithm::kGrid)
      return invalid("kGrid: the device holds " + std::to_string(resident) + " blocks of this kernel at once, the "
                     "grid has " + std::to_string(plan->blocks) + "; use kAuto, kCluster or kSplit");
    return make_plan(args, dev, plan, false);
  }
  if (args.algorithm != NormAlgorithm::kAuto || args.cluster_size != 0 || plan->info.algorithm != NormAlgorithm::kCluster ||
      plan->info.cluster_size <= 1) {
    fewer_block_threads_for_fewer_waves(args, dev, plan);
    return s;
  }
  s = resident_units(*plan, args, &resident);
  if (!s.ok() || static_cast<int64_t>(resident) * plan->info.cluster_size >= plan->info.blocks) return s;
  if (plan->bulk) {
    // NCHW clusters the device runs in several waves: fewer threads a block at the same cluster size where that
    // runs in one, else the largest smaller cluster (of at least 2 blocks) that does. (H100, 2026-11-27, cold, GN /
    // GN+SiLU: session 11, 2x320x64x64 fp32 13.8 us in clusters of 2 against 17.3 us in two waves of 8; session 17,
    // every cluster and block size forced (bench/results/s17/h100-call6-nchw-cluster-threads.txt), one wave of 8
    // with fewer threads beat the smaller clusters: 1x64x256x256 fp16 12.5 / 15.2 us at 8 x 320 against 14.0 / 17.2
    // at 4 x 512, 1x512x64x64 fp32 12.2 / 12.7 against 13.1 / 14.5, 2x320x64x64 fp32 13.7 / 14.0 at 8 x 192
    // against 13.7 / 15.4 at 2 x 512.)
    LaunchPlan fewer = *plan;
    if (fewer_block_threads_for_fewer_waves(args, dev, &fewer) == 1) {
      *plan = fewer;
      return s;
    }
    for (int cs = plan->info.cluster_size / 2; cs >= 2; cs /= 2) {
      GroupNormArgs smaller = args;
      smaller.cluster_size = cs;
      LaunchPlan candidate;
      if (!make_plan(smaller, dev, &candidate).ok() || !candidate.bulk) break;
      const int64_t waves = one_pass_waves(candidate, args);
      if (waves == 0) break;
      if (waves == 1) {
        *plan = candidate;
        break;
      }
    }
    fewer_block_threads_for_fewer_waves(args, dev, plan);  // where no smaller cluster runs in one wave
    return s;
  }
  // NHWC clusters the device runs in several waves: the whole grid at once instead, where it fits. (H100,
  // 2026-11-27: 8x320x64x64 fp16, 32 units of 8 blocks where 30 fit at once, 31.6 us as clusters, 25.7 us on
  // kGrid; where the clusters fit one wave they stayed faster: 1x512x64x64 fp16 9.6 us against 12.9 us.)
  if (args.layout != Layout::kNHWC) return s;
  GroupNormArgs grid_args = args;
  grid_args.algorithm = NormAlgorithm::kGrid;
  LaunchPlan grid;
  if (!make_plan(grid_args, dev, &grid).ok() || !resident_units(grid, args, &resident).ok() ||
      static_cast<int64_t>(resident) < static_cast<int64_t>(grid.blocks)) {
    fewer_block_threads_for_fewer_waves(args, dev, plan);  // the grid does not fit at once
    return s;
  }
  *plan = grid;
  return s;
}

}  // namespace

Status group_norm_plan(const GroupNormArgs& args, GroupNormPlan* plan) {
  LaunchPlan lp;
  Status s = plan_here(args, &lp);
  if (!s.ok() || !plan) return s;
  *plan = lp.info;
  int resident = 0;
  s = resident_units(lp, args, &resident);  // warps over rows and the split kernels wait on no other block: 0
  plan->resident_clusters = resident;
  return s;
}

Status group_norm_plan_for(const GroupNormArgs& args, const DeviceProperties& device, GroupNormPlan* plan) {
  LaunchPlan lp;
  Status s = make_plan(args, device, &lp);
  if (s.ok() && plan) *plan = lp.info;
  return s;
}

size_t group_norm_workspace_bytes(const GroupNormArgs& args) {
  LaunchPlan lp;
  return plan_here(args, &lp).ok() ? lp.info.workspace_bytes : 0;
}

Status group_norm_forward(const GroupNormArgs& args, cudaStream_t stream) {
  LaunchPlan plan;
  Status s = plan_here(args, &plan);
  if (!s.ok()) return s;
  if (plan.rows) {
    const cudaError_t e =
        with_storage_type(args.dtype, [&](auto t) { return launch_rows<decltype(t)>(plan, stream); });
    return cuda_status(e, "group_norm: row kernel launch");
  }
  if (plan.bulk) return cuda_status(launch_bulk_dtype(plan, args.dtype, stream), "group_norm: bulk-copy kernel launch");
  if (plan.tma) return launch_nhwc_tma(plan, args, stream);
  if (plan.registers)
    return cuda_status(launch_registers_dtype(plan, args.dtype, stream), "group_norm: registers kernel launch");
  if (plan.info.algorithm == NormAlgorithm::kCluster) {
    return cuda_status(launch_mode<0>(plan, args.dtype, stream), "group_norm: cluster kernel launch");
  }
  if (args.workspace_bytes < plan.info.workspace_bytes || !args.workspace)
    return invalid(std::string("the ") + to_string(plan.info.algorithm) + " algorithm needs a workspace of " + std::to_string(plan.info.workspace_bytes) +
                   " bytes, got " + std::to_string(args.workspace_bytes) +
                   (args.workspace ? "" : " (null)") + "; see group_norm_workspace_bytes");
  if (!aligned(args.workspace, 16)) return invalid("workspace must be 16-byte aligned");
  plan.p.workspace = static_cast<float4*>(args.workspace);
  if (plan.grid) return launch_nhwc_grid(plan, args, stream);
  s = cuda_status(launch_mode<1>(plan, args.dtype, stream), "group_norm: statistics kernel launch");
  if (!s.ok()) return s;
  return cuda_status(launch_mode<2>(plan, args.dtype, stream), "group_norm: normalize kernel launch");
}

GroupNormArgs layer_norm_as_group_norm(const LayerNormArgs& a) {
  GroupNormArgs g;
  g.x = a.x;
  g.y = a.y;
  g.gamma = a.gamma;
  g.beta = a.beta;
  g.residual = a.residual;
  g.N = a.rows;
  g.C = a.cols;
  g.spatial = 1;
  g.groups = 1;
  g.layout = Layout::kNCHW;
  g.dtype = a.dtype;
  g.epsilon = a.epsilon;
  g.activation = a.activation;
  g.residual_before_activation = a.residual_before_activation;
  g.alpha = a.alpha;
  g.workspace = a.workspace;
  g.workspace_bytes = a.workspace_bytes;
  g.algorithm = a.algorithm;
  g.row_warps = a.row_warps;
  g.programmatic_launch = a.programmatic_launch;
  return g;
}

Status layer_norm_forward(const LayerNormArgs& args, cudaStream_t stream) {
  return group_norm_forward(layer_norm_as_group_norm(args), stream);
}

const char* to_string(NormAlgorithm algorithm) {
  switch (algorithm) {
    case NormAlgorithm::kAuto:
      return "auto";
    case NormAlgorithm::kCluster:
      return "cluster";
    case NormAlgorithm::kSplit:
      return "split";
    case NormAlgorithm::kRegisters:
      return "registers";
    case NormAlgorithm::kGrid:
      return "grid";
  }
  return "?";
}

const char* to_string(Activation activation) {
  switch (activation) {
    case Activation::kNone:
      return "none";
    case Activation::kRelu:
      return "relu";
    case Activation::kSilu:
      return "silu";
    case Activation::kElu:
      return "elu";
    case Activation::kGelu:
      return "gelu";
    case Activation::kSigmoid:
      return "sigmoid";
    case Activation::kTanh:
      return "tanh";
    case Activation::kLeakyRelu:
      return "leaky_relu";
  }
  return "?";
}

}  // namespace cuda
}  // namespace normrt
