// ai.normrt Attention (attention_fusion's one node for softmax(scale * q k^T) v; src/ops/attention.cpp) in float16:
// a flash-attention kernel that streams the keys through shared memory and never stores the scores.
//
// A block takes 64 queries of one (batch, head); each of its 4 warps owns 16 of them. Per tile of 64 keys a warp
// computes its 16x64 scores with mma.sync m16n8k16 (fp16 in, fp32 accumulate), updates each row's running max and
// sum (online softmax, in fp32, base 2 with scale * log2(e) folded in), rescales its output accumulator, and adds
// P V with P rounded to fp16 straight from the score accumulators (their layout is the next mma's A operand). The
// next tile's K and V load with cp.async while this one computes (two buffers). Rows are padded to D + 8 halves in
// shared memory so that ldmatrix's eight row addresses fall in distinct banks.
//
// Memory: Q, K and V are read once per block (K and V once per 64 queries) and Y written once: for SD-1.5's
// 64x64 latent at batch 8 that is 47 MB against 0.5 GB of fp16 scores written and read three times unfused.
// Flops: 4 * N * H * Lq * Lk * D, on tensor cores.
#include <cuda_fp16.h>

#include <climits>
#include <cmath>
#include <mutex>

#include "cuda/cuda_kernel.h"
#include "cuda/cuda_util.h"

namespace normrt {
namespace cuda {
namespace {

constexpr int kBlockM = 64;  // queries per block
constexpr int kBlockN = 64;  // keys per tile
constexpr int kWarps = kBlockM / 16;
constexpr int kThreads = kWarps * 32;
constexpr int kMaxHeadSize = 160;  // SD-1.5's largest; the accumulators of larger heads would spill

struct AttentionParams {
  const __half* q = nullptr;
  const __half* k = nullptr;
  const __half* v = nullptr;
  __half* y = nullptr;
  int Lq = 0, Lk = 0, H = 0, D = 0;
  float scale_log2 = 0;  // scale * log2(e): the softmax runs in base 2
};

__device__ __forceinline__ uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared without passing through registers; src_bytes 0 writes zeros (rows and columns past the
// tensor's end).
__device__ __forceinline__ void copy_async_16(void* dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address(dst)), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void copy_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int PENDING>
__device__ __forceinline__ void copy_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(PENDING));
}

// Four 8x8 fp16 matrices from shared memory; lane l gives the address of row l % 8 of matrix l / 8.
__device__ __forceinline__ void load_matrix_x4(uint32_t (&r)[4], const __half* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(row)));
}
__device__ __forceinline__ void load_matrix_x4_transposed(uint32_t (&r)[4], const __half* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(row)));
}

// c[16x8] += a[16x16] b[16x8]: fp16 operands, fp32 accumulators.
__device__ __forceinline__ void mma_16x8x16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t pack_half2(float lo, float hi) {
  const __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}

// Rows [row0, row0 + 64) of one head ([L, H, D] with token stride H * D) into shared rows of STRIDE halves,
// columns [0, DPAD); what lies past L or D is zero.
template <int DPAD, int STRIDE>
__device__ __forceinline__ void load_tile_async(__half* dst, const __half* head, int64_t token, int row0, int rows,
                                                int D) {
  constexpr int kChunksPerRow = DPAD / 8;
  for (int c = threadIdx.x; c < 64 * kChunksPerRow; c += kThreads) {
    const int r = c / kChunksPerRow, col = (c % kChunksPerRow) * 8;
    const bool inside = row0 + r < rows && col < D;
    const __half* src = inside ? head + (row0 + r) * token + col : head;
    copy_async_16(dst + r * STRIDE + col, src, inside ? 16 : 0);
  }
}

template <int DPAD>
__global__ void __launch_bounds__(kThreads) attention_kernel(AttentionParams p) {
  constexpr int kStride = DPAD + 8;  // halves per shared row: 16-byte aligned, ldmatrix rows in distinct banks
  constexpr int kSteps = DPAD / 16;  // k-steps of q k^T over the head size
  constexpr int kTiles = DPAD / 8;   // n-tiles of the output accumulator
  extern __shared__ __align__(16) unsigned char shared_raw[];
  __half* sq = reinterpret_cast<__half*>(shared_raw);
  __half* sk = sq + kBlockM * kStride;  // two buffers of kBlockN rows
  __half* sv = sk + 2 * kBlockN * kStride;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int group = lane / 4, quad_lane = lane % 4;  // mma fragment coordinates
  const int64_t n = blockIdx.z, h = blockIdx.y;
  const int m0 = blockIdx.x * kBlockM;
  const int64_t token = static_cast<int64_t>(p.H) * p.D;
  const __half* q_head = p.q + (n * p.Lq * p.H + h) * p.D;
  const __half* k_head = p.k + (n * p.Lk * p.H + h) * p.D;
  const __half* v_head = p.v + (n * p.Lk * p.H + h) * p.D;
  const int tiles = (p.Lk + kBlockN - 1) / kBlockN;

  load_tile_async<DPAD, kStride>(sq, q_head, token, m0, p.Lq, p.D);
  load_tile_async<DPAD, kStride>(sk, k_head, token, 0, p.Lk, p.D);
  load_tile_async<DPAD, kStride>(sv, v_head, token, 0, p.Lk, p.D);
  copy_async_commit();

  uint32_t qf[kSteps][4];
  float o[kTiles][4];
#pragma unroll
  for (int t = 0; t < kTiles; ++t) o[t][0] = o[t][1] = o[t][2] = o[t][3] = 0.f;
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.f, 0.f};  // rows group and group + 8

  for (int j = 0; j < tiles; ++j) {
    const int buffer = j & 1;
    if (j + 1 < tiles) {  // the next tile's K and V load while this one computes
      load_tile_async<DPAD, kStride>(sk + (buffer ^ 1) * kBlockN * kStride, k_head, token, (j + 1) * kBlockN, p.Lk,
                                     p.D);
      load_tile_async<DPAD, kStride>(sv + (buffer ^ 1) * kBlockN * kStride, v_head, token, (j + 1) * kBlockN, p.Lk,
                                     p.D);
      copy_async_commit();
      copy_async_wait<1>();
    } else {
      copy_async_wait<0>();
    }
    __syncthreads();
    if (j == 0) {  // this warp's 16 queries as A fragments, kept for every tile
#pragma unroll
      for (int s = 0; s < kSteps; ++s)
        load_matrix_x4(qf[s], sq + (warp * 16 + lane % 16) * kStride + s * 16 + (lane / 16) * 8);
    }
    const __half* ks = sk + buffer * kBlockN * kStride;
    const __half* vs = sv + buffer * kBlockN * kStride;

    // Scores: 16 queries x 64 keys, 8 n-tiles of 8 keys.
    float sc[kBlockN / 8][4];
#pragma unroll
    for (int t = 0; t < kBlockN / 8; ++t) sc[t][0] = sc[t][1] = sc[t][2] = sc[t][3] = 0.f;
#pragma unroll
    for (int s = 0; s < kSteps; ++s)
#pragma unroll
      for (int pair = 0; pair < kBlockN / 16; ++pair) {
        uint32_t b[4];  // keys pair*16 .. +15 as B (k = head dim, n = key): K's rows are B's columns
        load_matrix_x4(b, ks + (pair * 16 + (lane / 16) * 8 + lane % 8) * kStride + s * 16 + ((lane / 8) % 2) * 8);
        mma_16x8x16(sc[2 * pair], qf[s], b[0], b[1]);
        mma_16x8x16(sc[2 * pair + 1], qf[s], b[2], b[3]);
      }

    // Online softmax over this tile: keys past Lk count as -inf.
    const int key0 = j * kBlockN + 2 * quad_lane;
#pragma unroll
    for (int t = 0; t < kBlockN / 8; ++t)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        sc[t][e] = key0 + t * 8 + (e & 1) < p.Lk ? sc[t][e] * p.scale_log2 : -INFINITY;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float top = -INFINITY;
#pragma unroll
      for (int t = 0; t < kBlockN / 8; ++t) top = fmaxf(top, fmaxf(sc[t][2 * r], sc[t][2 * r + 1]));
      top = fmaxf(top, __shfl_xor_sync(0xffffffffu, top, 1));
      top = fmaxf(top, __shfl_xor_sync(0xffffffffu, top, 2));
      const float next = fmaxf(row_max[r], top);  // finite: every tile holds at least one key
      const float alpha = exp2f(row_max[r] - next);
      row_max[r] = next;
      row_sum[r] *= alpha;
#pragma unroll
      for (int t = 0; t < kTiles; ++t) o[t][2 * r] *= alpha, o[t][2 * r + 1] *= alpha;
#pragma unroll
      for (int t = 0; t < kBlockN / 8; ++t) {
        sc[t][2 * r] = exp2f(sc[t][2 * r] - next);
        sc[t][2 * r + 1] = exp2f(sc[t][2 * r + 1] - next);
        row_sum[r] += sc[t][2 * r] + sc[t][2 * r + 1];
      }
    }

    // O += P V: two score n-tiles make one A fragment of 16 keys; V's rows are B's k, read transposed.
#pragma unroll
    for (int s = 0; s < kBlockN / 16; ++s) {
      const uint32_t a[4] = {pack_half2(sc[2 * s][0], sc[2 * s][1]), pack_half2(sc[2 * s][2], sc[2 * s][3]),
                             pack_half2(sc[2 * s + 1][0], sc[2 * s + 1][1]),
                             pack_half2(sc[2 * s + 1][2], sc[2 * s + 1][3])};
#pragma unroll
      for (int pair = 0; pair < kTiles / 2; ++pair) {
        uint32_t b[4];
        load_matrix_x4_transposed(b, vs + (s * 16 + ((lane / 8) % 2) * 8 + lane % 8) * kStride + pair * 16 +
                                         (lane / 16) * 8);
        mma_16x8x16(o[2 * pair], a, b[0], b[1]);
        mma_16x8x16(o[2 * pair + 1], a, b[2], b[3]);
      }
    }
    __syncthreads();  // every warp is done with this buffer before the next iteration refills it
  }

  __half* y_head = p.y + (n * p.Lq * p.H + h) * p.D;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float sum = row_sum[r];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    const float inv = 1.f / sum;
    const int row = m0 + warp * 16 + group + 8 * r;
    if (row >= p.Lq) continue;
#pragma unroll
    for (int t = 0; t < kTiles; ++t) {
      const int col = t * 8 + 2 * quad_lane;
      if (col < p.D)
        *reinterpret_cast<uint32_t*>(y_head + row * token + col) = pack_half2(o[t][2 * r] * inv, o[t][2 * r + 1] * inv);
    }
  }
}

constexpr size_t shared_bytes(int dpad) { return static_cast<size_t>(kBlockM + 4 * kBlockN) * (dpad + 8) * 2; }

template <int DPAD>
void launch(const CudaKernelContext& ctx, const AttentionParams& p, int N) {
  static std::once_flag opted_in;  // beyond 48 KB of dynamic shared memory needs asking once per kernel
  static cudaError_t opt_in_status = cudaSuccess;
  std::call_once(opted_in, [] {
    opt_in_status = cudaFuncSetAttribute(attention_kernel<DPAD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(shared_bytes(DPAD)));
  });
  ctx.check(opt_in_status, "cudaFuncSetAttribute(attention_kernel shared memory)");
  const dim3 grid(static_cast<unsigned>((p.Lq + kBlockM - 1) / kBlockM), static_cast<unsigned>(p.H),
                  static_cast<unsigned>(N));
  attention_kernel<DPAD><<<grid, kThreads, shared_bytes(DPAD), ctx.stream>>>(p);
  check_launch(ctx, "attention_kernel");
}

// The head size D (= Dv) the kernel takes: a multiple of 8 (16-byte rows) up to kMaxHeadSize.
bool head_size_ok(int64_t d) { return d >= 8 && d <= kMaxHeadSize && d % 8 == 0; }

bool attention_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  if (inputs.size() != 3 || node.outputs.size() != 1) return false;
  for (const TypeShape& in : inputs)
    if (in.dtype != DataType::kFloat16 || !in.shape.has_rank || in.shape.rank() != 4) return false;
  const Dim& d = inputs[0].shape.dims[3];
  const Dim& dv = inputs[2].shape.dims[3];
  return d.known() && dv.known() && d.value == dv.value && head_size_ok(d.value) &&
         std::isfinite(node.attr_float("scale", 1.0f));
}

void attention_run(CudaKernelContext& ctx) {
  const DeviceValue &q = ctx.in(0), &k = ctx.in(1), &v = ctx.in(2);
  DeviceValue& y = ctx.out(0);
  for (const DeviceValue* t : {&q, &k, &v})
    if (t->dtype != DataType::kFloat16 || t->dims.size() != 4)
      ctx.fail("Q, K and V must be float16 [N, L, H, D]");
  const int64_t N = q.dims[0], Lq = q.dims[1], H = q.dims[2], D = q.dims[3], Lk = k.dims[1];
  if (k.dims != Dims{N, Lk, H, D} || v.dims != Dims{N, Lk, H, D} || y.dims != Dims{N, Lq, H, D})
    ctx.fail("Q [" + dims_to_string(q.dims) + "], K [" + dims_to_string(k.dims) + "], V [" + dims_to_string(v.dims) +
             "] and Y [" + dims_to_string(y.dims) + "] do not agree");
  if (!head_size_ok(D)) ctx.fail("head size " + std::to_string(D) + " is not a multiple of 8 up to 160");
  if (y.numel() == 0) return;
  if (Lk == 0) ctx.fail("K and V have no tokens (length 0): a softmax over no keys is undefined");
  if (N > 65535 || H > 65535 || Lq > INT_MAX || Lk > INT_MAX)
    ctx.fail("[" + dims_to_string(q.dims) + "] x [" + dims_to_string(k.dims) +
             "] is beyond the grid (batch and heads up to 65535, lengths up to 2^31 - 1)");
  for (const void* ptr : {q.data, k.data, v.data, y.data})
    if (!aligned_to(ptr, 16)) ctx.fail("Q, K, V and Y must start on 16-byte boundaries");
  AttentionParams p;
  p.q = static_cast<const __half*>(q.data);
  p.k = static_cast<const __half*>(k.data);
  p.v = static_cast<const __half*>(v.data);
  p.y = static_cast<__half*>(y.data);
  p.Lq = static_cast<int>(Lq), p.Lk = static_cast<int>(Lk), p.H = static_cast<int>(H), p.D = static_cast<int>(D);
  p.scale_log2 = static_cast<float>(ctx.node.attr_float("scale", 1.0f) * 1.4426950408889634);
  const int n = static_cast<int>(N);
  switch ((D + 15) / 16) {
    case 1: return launch<16>(ctx, p, n);
    case 2: return launch<32>(ctx, p, n);
    case 3: return launch<48>(ctx, p, n);
    case 4: return launch<64>(ctx, p, n);
    case 5: return launch<80>(ctx, p, n);
    case 6: return launch<96>(ctx, p, n);
    case 7:
    case 8: return launch<128>(ctx, p, n);
    default: return launch<160>(ctx, p, n);
  }
}

}  // namespace

NORMRT_REGISTER_CUDA_KERNEL(CudaKernel{"cuda_attention", kNormrtDomain, "Attention", attention_accepts, attention_run,
                                       nullptr, nullptr, {}, 0});

}  // namespace cuda
}  // namespace normrt
