// ai.normrt Attention (attention_fusion's one node for softmax(scale * q k^T) v; src/ops/attention.cpp): flash-attention
// kernels that stream the keys through shared memory and never store the scores, for float16 and (on TF32 tensor
// cores, --tf32 engines only) float32.
//
// A block takes 64 queries of one (batch, head); each of its 4 warps owns 16 of them (float16 heads padded to 48 or
// 64 on large grids: 128 and 32, two m-tiles a warp sharing each K and V fragment). Per tile of 64 keys a warp
// computes its 16x64 scores with mma.sync m16n8k16 (fp16 in, fp32 accumulate), updates each row's running max and
// sum (online softmax in fp32, base 2: exp2(score * scale * log2(e) - max * scale * log2(e)), one FMA), rescales its
// output accumulator, and adds P V with P rounded to fp16 straight from the score accumulators (their layout is the
// next mma's A operand). The next tile's K and V load with cp.async while this one computes (two buffers; three at
// heads padded to 48, which saves a block barrier a tile). Rows are padded to D + 8 halves in shared memory so that
// ldmatrix's eight row addresses fall in distinct banks.
//
// Too few query blocks for the GPU (batch 1): the keys are split over up to 8 blocks per query block, each storing its
// unnormalized rows with their running max and sum in the workspace, and a combine kernel rescales and adds them.
//
// Memory: Q, K and V are read once per block (K and V once per 64 or 128 queries) and Y written once: for SD-1.5's
// 64x64 latent at batch 8 that is 47 MB against 0.5 GB of fp16 scores written and read three times unfused.
// Flops: 4 * N * H * Lq * Lk * D, on tensor cores.
#include <cuda_fp16.h>

#include <algorithm>
#include <cfloat>
#include <climits>
#include <cmath>
#include <mutex>
#include <type_traits>

#include "cuda/attention.h"
#include "cuda/cuda_kernel.h"
#include "cuda/cuda_util.h"

namespace normrt {
namespace cuda {
namespace {

constexpr int kBlockM = 64;  // queries per block of one m-tile a warp
constexpr int kBlockN = 64;  // keys per tile
constexpr int kWarps = kBlockM / 16;
constexpr int kThreads = kWarps * 32;
constexpr int kMaxHeadSize = 160;  // SD-1.5's largest; the accumulators of larger heads would spill
// float16 heads padded to 48 or 64 may run two m-tiles a warp (plan_attention says when and why).
constexpr int kMinTwoTileHead = 48;
constexpr int kMaxTwoTileHead = 64;

template <typename T>
struct AttentionParams {
  const T* q = nullptr;
  const T* k = nullptr;
  const T* v = nullptr;
  T* y = nullptr;
  int Lq = 0, Lk = 0, H = 0, D = 0;
  float scale_log2 = 0;  // |scale| * log2(e), at least the smallest normal float: the softmax runs in base 2
  uint32_t q_sign = 0;   // xored into Q's fragments: the sign bits of their elements for a negative scale
  // Keys split over `splits` blocks per query block (too few blocks for the GPU otherwise): each block's
  // unnormalized output rows go to partial_o [N][H][splits][Lq][D] and their (max, sum) to partial_ml, and
  // attention_combine_kernel merges them into y.
  int splits = 1;
  float* partial_o = nullptr;
  float2* partial_ml = nullptr;
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

// 2^x on the MUFU unit, subnormal results flushed to zero: exp2f's subnormal handling costs three more instructions
// an exponent, and a softmax weight below 2^-126 next to the row's max of weight 1 is zero at any precision kept.
__device__ __forceinline__ float exp2_ftz(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

__device__ __forceinline__ uint32_t pack_half2(float lo, float hi) {
  const __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}

// Rows [row0, row0 + ROWS) of one head ([L, H, D] with token stride H * D) into shared rows of STRIDE elements,
// columns [0, DPAD); what lies past L or D is zero. D is a multiple of the 16-byte chunk.
template <typename T, int ROWS, int DPAD, int STRIDE>
__device__ __forceinline__ void load_tile_async(T* dst, const T* head, int64_t token, int row0, int rows, int D) {
  constexpr int kChunk = 16 / sizeof(T);
  constexpr int kChunksPerRow = DPAD / kChunk;
  constexpr int kChunks = ROWS * kChunksPerRow;
  constexpr int kIterations = (kChunks + kThreads - 1) / kThreads;
  // Unrolled, each chunk's row and column (they depend on the thread only) leave the tile loop: a third fewer
  // instructions in the fp16 kernel at heads of 40. Beyond 6 chunks a thread, they would cost registers the
  // accumulators of large heads need.
#pragma unroll(kIterations <= 6 ? kIterations : 1)
  for (int i = 0; i < kIterations; ++i) {
    const int c = static_cast<int>(threadIdx.x) + i * kThreads;
    if (kChunks % kThreads != 0 && c >= kChunks) break;
    const int r = c / kChunksPerRow, col = (c % kChunksPerRow) * kChunk;
    const bool inside = row0 + r < rows && col < D;
    const T* src = inside ? head + (row0 + r) * token + col : head;
    copy_async_16(dst + r * STRIDE + col, src, inside ? 16 : 0);
  }
}

// A block's (batch, head): where its Q, K, V and Y rows start; consecutive tokens are `token` = H * D apart.
template <typename T>
struct HeadRows {
  const T* q;
  const T* k;
  const T* v;
  T* y;
  int64_t token;
  __device__ explicit HeadRows(const AttentionParams<T>& p) {
    const int64_t n = blockIdx.z, h = blockIdx.y;
    token = static_cast<int64_t>(p.H) * p.D;
    q = p.q + (n * p.Lq * p.H + h) * p.D;
    k = p.k + (n * p.Lk * p.H + h) * p.D;
    v = p.v + (n * p.Lk * p.H + h) * p.D;
    y = p.y + (n * p.Lq * p.H + h) * p.D;
  }
};

// Key/value tile `tile` (ROWS keys) into shared buffer `buffer`, as one cp.async group.
template <typename T, int ROWS, int DPAD, int K_STRIDE, int V_STRIDE>
__device__ __forceinline__ void load_key_tile_async(T* sk, T* sv, const HeadRows<T>& head, int tile, int buffer,
                                                    int Lk, int D) {
  load_tile_async<T, ROWS, DPAD, K_STRIDE>(sk + buffer * ROWS * K_STRIDE, head.k, head.token, tile * ROWS, Lk, D);
  load_tile_async<T, ROWS, DPAD, V_STRIDE>(sv + buffer * ROWS * V_STRIDE, head.v, head.token, tile * ROWS, Lk, D);
  copy_async_commit();
}

// Before computing key tile j: starts tile j + 1's loads into buffer `next`, waits for tile j's (and, at j = 0,
// the queries'), and syncs the block.
template <typename T, int ROWS, int DPAD, int K_STRIDE, int V_STRIDE>
__device__ __forceinline__ void await_key_tile(T* sk, T* sv, const HeadRows<T>& head, int j, int next, int tiles,
                                               int Lk, int D) {
  if (j + 1 < tiles) {
    load_key_tile_async<T, ROWS, DPAD, K_STRIDE, V_STRIDE>(sk, sv, head, j + 1, next, Lk, D);
    copy_async_wait<1>();
  } else {
    copy_async_wait<0>();
  }
  __syncthreads();
}

// One key tile's online softmax for a lane's two query rows (the fragments' group and group + 8), on raw scores
// q.k: keys past Lk count as -inf (only a tile that crosses Lk checks, `tail`); each row's running max stays in raw
// units and the base-2 exponent is one FMA, score * scale_log2 - max * scale_log2. scale_log2 > 0 (the launch
// negates Q for a negative scale and lifts 0 to the smallest normal float, which rounds every exponent to 0 as a
// zero scale does), so the raw max is the scaled max and -inf stays -inf. Updates each row's running max and sum,
// rescales the output accumulator and leaves exp2(scale_log2 * (score - max)) in `sc`. Each row's max is shared by
// the quad of lanes that hold it; its sum stays per lane until store_rows (the rescaling factor is the quad's, so
// partial sums stay consistent).
template <int SCORE_TILES, int OUT_TILES>
__device__ __forceinline__ void online_softmax(float (&sc)[SCORE_TILES][4], float (&o)[OUT_TILES][4],
                                               float (&row_max)[2], float (&row_sum)[2], int key0, int Lk,
                                               float scale_log2, bool tail) {
  if (tail) {
#pragma unroll
    for (int t = 0; t < SCORE_TILES; ++t)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        if (key0 + t * 8 + (e & 1) >= Lk) sc[t][e] = -INFINITY;
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float top = -INFINITY;
#pragma unroll
    for (int t = 0; t < SCORE_TILES; ++t) top = fmaxf(top, fmaxf(sc[t][2 * r], sc[t][2 * r + 1]));
    top = fmaxf(top, __shfl_xor_sync(0xffffffffu, top, 1));
    top = fmaxf(top, __shfl_xor_sync(0xffffffffu, top, 2));
    const float next = fmaxf(row_max[r], top);  // finite: every tile holds at least one key
    const float alpha = exp2_ftz((row_max[r] - next) * scale_log2);
    const float offset = -next * scale_log2;
    row_max[r] = next;
    row_sum[r] *= alpha;
#pragma unroll
    for (int t = 0; t < OUT_TILES; ++t) o[t][2 * r] *= alpha, o[t][2 * r + 1] *= alpha;
#pragma unroll
    for (int t = 0; t < SCORE_TILES; ++t) {
      sc[t][2 * r] = exp2_ftz(fmaf(sc[t][2 * r], scale_log2, offset));
      sc[t][2 * r + 1] = exp2_ftz(fmaf(sc[t][2 * r + 1], scale_log2, offset));
      row_sum[r] += sc[t][2 * r] + sc[t][2 * r + 1];
    }
  }
}

// A row's softmax sum: each lane of the quad that holds the row keeps a part of it.
__device__ __forceinline__ float quad_sum(float part) {
  part += __shfl_xor_sync(0xffffffffu, part, 1);
  return part + __shfl_xor_sync(0xffffffffu, part, 2);
}

__device__ __forceinline__ void store_pair(__half* y, float a, float b) {
  *reinterpret_cast<uint32_t*>(y) = pack_half2(a, b);
}
__device__ __forceinline__ void store_pair(float* y, float a, float b) { *reinterpret_cast<float2*>(y) = make_float2(a, b); }

// The output accumulator's rows (first_row and first_row + 8) divided by their softmax sums, as column pairs; rows
// past Lq and columns past D (the head's padding) are not written.
template <typename T, int OUT_TILES>
__device__ __forceinline__ void store_rows(T* y_head, int64_t token, int first_row, int Lq, int D, int quad_lane,
                                           const float (&o)[OUT_TILES][4], const float (&row_sum)[2]) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float sum = quad_sum(row_sum[r]);
    const float inv = 1.f / sum;
    const int row = first_row + 8 * r;
    if (row >= Lq) continue;
#pragma unroll
    for (int t = 0; t < OUT_TILES; ++t) {
      const int col = t * 8 + 2 * quad_lane;
      if (col < D) store_pair(y_head + row * token + col, o[t][2 * r] * inv, o[t][2 * r + 1] * inv);
    }
  }
}

// A split block's rows (first_row and first_row + 8): unnormalized outputs and each row's (max, quad-summed sum).
template <typename T, int OUT_TILES>
__device__ __forceinline__ void store_partial_rows(const AttentionParams<T>& p, int first_row, int quad_lane,
                                                   const float (&o)[OUT_TILES][4], const float (&row_max)[2],
                                                   const float (&row_sum)[2]) {
  const int64_t split = blockIdx.x % p.splits;
  const int64_t base = ((static_cast<int64_t>(blockIdx.z) * p.H + blockIdx.y) * p.splits + split) * p.Lq;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float sum = quad_sum(row_sum[r]);
    const int row = first_row + 8 * r;
    if (row >= p.Lq) continue;
    if (quad_lane == 0) p.partial_ml[base + row] = make_float2(row_max[r] * p.scale_log2, sum);
    float* out = p.partial_o + (base + row) * p.D;
#pragma unroll
    for (int t = 0; t < OUT_TILES; ++t) {
      const int col = t * 8 + 2 * quad_lane;
      if (col < p.D) *reinterpret_cast<float2*>(out + col) = make_float2(o[t][2 * r], o[t][2 * r + 1]);
    }
  }
}

// Key tiles [first, end) of this block's split, and its query block of `block_rows` queries; splits never exceed the
// tiles, so no split is empty.
struct KeyRange {
  int first, end, m0;
  __device__ KeyRange(int Lk, int rows_per_tile, int splits, int block_rows) {
    const int tiles = (Lk + rows_per_tile - 1) / rows_per_tile;
    const int split = static_cast<int>(blockIdx.x) % splits;
    first = static_cast<int>(static_cast<int64_t>(split) * tiles / splits);
    end = static_cast<int>(static_cast<int64_t>(split + 1) * tiles / splits);
    m0 = static_cast<int>(blockIdx.x) / splits * block_rows;
  }
};

// Shared buffers for K and V tiles in the float16 kernel: three (one block barrier a key tile instead of two) for
// heads padded to 48, else two. Measured on an H100 (bench/results/2026-11-28-session18.md, call 5), three against
// two: heads of 40 1.13-1.20x faster at 1024 and 4096 tokens; heads of 64 2% faster at 4x2048x16x64 but 14% slower
// at 32x197x12x64; heads of 32 3% slower. At 80 and beyond a third buffer would cost a block an SM.
__host__ __device__ constexpr int key_buffers(int dpad) { return dpad == 48 ? 3 : 2; }

// The fp16 kernel's shared memory, in halves: Q's MT * 64 rows, then K's and V's key_buffers buffers of kBlockN rows.
template <int DPAD, int MT>
struct Fp16Layout {
  static constexpr int kStride = DPAD + 8;  // halves per row: 16-byte aligned, ldmatrix rows in distinct banks
  static constexpr int kRows = kBlockM * MT;
  static constexpr int kBuffers = key_buffers(DPAD);
  static constexpr int kQ = 0;
  static constexpr int kK = kRows * kStride;
  static constexpr int kV = kK + kBuffers * kBlockN * kStride;
  static constexpr int kHalves = kV + kBuffers * kBlockN * kStride;
};

// MT m16 tiles a warp (MT * 16 queries, MT * 64 a block): K's and V's fragments, read from shared memory once per
// warp, serve all MT of them, so that shared-memory reads per mma fall by MT (one tile: as many bytes of ldmatrix as
// the mma pipe's time at 16 queries a warp) and each key tile loaded from L2 serves MT * 64 queries.
template <int DPAD, int MT>
__global__ void __launch_bounds__(kThreads) attention_kernel(AttentionParams<__half> p) {
  using L = Fp16Layout<DPAD, MT>;
  constexpr int kStride = L::kStride;
  constexpr int kSteps = DPAD / 16;  // k-steps of q k^T over the head size
  constexpr int kTiles = DPAD / 8;   // n-tiles of the output accumulator
  constexpr int kRows = L::kRows;
  constexpr int kBuffers = L::kBuffers;
  extern __shared__ __align__(16) unsigned char shared_raw[];
  __half* sq = reinterpret_cast<__half*>(shared_raw) + L::kQ;
  __half* sk = reinterpret_cast<__half*>(shared_raw) + L::kK;
  __half* sv = reinterpret_cast<__half*>(shared_raw) + L::kV;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int group = lane / 4, quad_lane = lane % 4;  // mma fragment coordinates
  const KeyRange keys(p.Lk, kBlockN, p.splits, kRows);
  const int m0 = keys.m0;
  const HeadRows<__half> head(p);
  load_tile_async<__half, kRows, DPAD, kStride>(sq, head.q, head.token, m0, p.Lq, p.D);
  load_key_tile_async<__half, kBlockN, DPAD, kStride, kStride>(sk, sv, head, keys.first,
                                                               static_cast<unsigned>(keys.first) % kBuffers, p.Lk, p.D);

  uint32_t qf[MT][kSteps][4];
  float o[MT][kTiles][4];
  float row_max[MT][2], row_sum[MT][2];  // rows group and group + 8 of each m-tile
#pragma unroll
  for (int m = 0; m < MT; ++m) {
#pragma unroll
    for (int t = 0; t < kTiles; ++t) o[m][t][0] = o[m][t][1] = o[m][t][2] = o[m][t][3] = 0.f;
    row_max[m][0] = row_max[m][1] = -INFINITY;
    row_sum[m][0] = row_sum[m][1] = 0.f;
  }

  for (int j = keys.first; j < keys.end; ++j) {
    const int buffer = static_cast<unsigned>(j) % kBuffers, next = static_cast<unsigned>(j + 1) % kBuffers;
    await_key_tile<__half, kBlockN, DPAD, kStride, kStride>(sk, sv, head, j, next, keys.end, p.Lk, p.D);
    if (j == keys.first) {  // this warp's queries as A fragments, kept for every tile; negated for a negative scale
#pragma unroll
      for (int m = 0; m < MT; ++m)
#pragma unroll
        for (int s = 0; s < kSteps; ++s) {
          load_matrix_x4(qf[m][s], sq + ((warp * MT + m) * 16 + lane % 16) * kStride + s * 16 + (lane / 16) * 8);
#pragma unroll
          for (int e = 0; e < 4; ++e) qf[m][s][e] ^= p.q_sign;
        }
    }
    const __half* ks = sk + buffer * kBlockN * kStride;
    const __half* vs = sv + buffer * kBlockN * kStride;

    // Scores: MT x 16 queries x 64 keys, 8 n-tiles of 8 keys.
    float sc[MT][kBlockN / 8][4];
#pragma unroll
    for (int m = 0; m < MT; ++m)
#pragma unroll
      for (int t = 0; t < kBlockN / 8; ++t) sc[m][t][0] = sc[m][t][1] = sc[m][t][2] = sc[m][t][3] = 0.f;
#pragma unroll
    for (int s = 0; s < kSteps; ++s)
#pragma unroll
      for (int pair = 0; pair < kBlockN / 16; ++pair) {
        uint32_t b[4];  // keys pair*16 .. +15 as B (k = head dim, n = key): K's rows are B's columns
        load_matrix_x4(b, ks + (pair * 16 + (lane / 16) * 8 + lane % 8) * kStride + s * 16 + ((lane / 8) % 2) * 8);
#pragma unroll
        for (int m = 0; m < MT; ++m) {
          mma_16x8x16(sc[m][2 * pair], qf[m][s], b[0], b[1]);
          mma_16x8x16(sc[m][2 * pair + 1], qf[m][s], b[2], b[3]);
        }
      }

    const bool tail = (j + 1) * kBlockN > p.Lk;
#pragma unroll
    for (int m = 0; m < MT; ++m)
      online_softmax(sc[m], o[m], row_max[m], row_sum[m], j * kBlockN + 2 * quad_lane, p.Lk, p.scale_log2, tail);

    // O += P V: two score n-tiles make one A fragment of 16 keys; V's rows are B's k, read transposed.
#pragma unroll
    for (int s = 0; s < kBlockN / 16; ++s) {
      uint32_t a[MT][4];
#pragma unroll
      for (int m = 0; m < MT; ++m) {
        a[m][0] = pack_half2(sc[m][2 * s][0], sc[m][2 * s][1]);
        a[m][1] = pack_half2(sc[m][2 * s][2], sc[m][2 * s][3]);
        a[m][2] = pack_half2(sc[m][2 * s + 1][0], sc[m][2 * s + 1][1]);
        a[m][3] = pack_half2(sc[m][2 * s + 1][2], sc[m][2 * s + 1][3]);
      }
#pragma unroll
      for (int pair = 0; pair < kTiles / 2; ++pair) {
        uint32_t b[4];
        load_matrix_x4_transposed(b, vs + (s * 16 + ((lane / 8) % 2) * 8 + lane % 8) * kStride + pair * 16 +
                                         (lane / 16) * 8);
#pragma unroll
        for (int m = 0; m < MT; ++m) {
          mma_16x8x16(o[m][2 * pair], a[m], b[0], b[1]);
          mma_16x8x16(o[m][2 * pair + 1], a[m], b[2], b[3]);
        }
      }
    }
    // Two buffers: every warp is done with this one before the next iteration refills it. Three: the next
    // iteration fills the buffer of iteration j - 1, which every warp left before passing this one's barrier.
    if (kBuffers == 2) __syncthreads();
  }

#pragma unroll
  for (int m = 0; m < MT; ++m) {
    const int first_row = m0 + (warp * MT + m) * 16 + group;
    if (p.splits > 1)
      store_partial_rows(p, first_row, quad_lane, o[m], row_max[m], row_sum[m]);
    else
      store_rows(head.y, head.token, first_row, p.Lq, p.D, quad_lane, o[m], row_sum[m]);
  }
}

// ---- float32 storage with TF32 tensor cores (engines built with --tf32) ----
//
// The same flash loop on mma.sync m16n8k8 tf32 (operands rounded to TF32 as cuBLAS's TF32 GEMMs do, fp32
// accumulate) with 32 keys per tile to keep fp32 tiles small. The m16n8k8 accumulator layout is not the next
// mma's A layout, so P reaches A through quad shuffles. Fragments come from shared memory with scalar loads whose
// row strides are chosen so that the 32 lanes hit 32 banks: Q and K rows are D + 4 words (lanes read (g, t)),
// V rows a multiple of 32 plus 8 (lanes read (t, g)). A warp's Q fragments are read and rounded once, into registers
// (H200, session 16: 1x1024x8x40 42.0 -> 38.9 us, 8x1024x8x40 204 -> 173 us, 1x256x8x80 17.3 -> 18.9 us; the tf32
// UNet at batch 1 1.352 -> 1.337 ms). Rounding K and V once per tile in shared memory instead cost more in barriers
// than it saved in conversions (bench/results/s16/tf32-attention-kv-rounded-in-smem-rejected.diff).

constexpr int kBlockN32 = 32;  // keys per tile for float32

__device__ __forceinline__ uint32_t to_tf32(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
  return r;
}

// c[16x8] += a[16x8] b[8x8]: TF32 operands, fp32 accumulators.
__device__ __forceinline__ void mma_16x8x8_tf32(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <int DPAD>
struct Tf32Layout {
  static constexpr int kQKStride = DPAD + 4;                          // words, = 4 mod 8
  static constexpr int kVStride = DPAD + (40 - DPAD % 32) % 32;        // words, = 8 mod 32
  static constexpr int kQ = 0;
  static constexpr int kK = kBlockM * kQKStride;                       // two buffers of kBlockN32 rows
  static constexpr int kV = kK + 2 * kBlockN32 * kQKStride;            // two buffers
  static constexpr int kWords = kV + 2 * kBlockN32 * kVStride;
};

template <int DPAD>
__global__ void __launch_bounds__(kThreads) attention_tf32_kernel(AttentionParams<float> p) {
  using L = Tf32Layout<DPAD>;
  constexpr int kSteps = DPAD / 8;  // k-steps of q k^T, and n-tiles of the output accumulator
  extern __shared__ __align__(16) unsigned char shared_raw[];
  float* sq = reinterpret_cast<float*>(shared_raw) + L::kQ;
  float* sk = reinterpret_cast<float*>(shared_raw) + L::kK;
  float* sv = reinterpret_cast<float*>(shared_raw) + L::kV;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int group = lane / 4, quad_lane = lane % 4;
  const KeyRange keys(p.Lk, kBlockN32, p.splits, kBlockM);
  const int m0 = keys.m0;
  const HeadRows<float> head(p);
  load_tile_async<float, kBlockM, DPAD, L::kQKStride>(sq, head.q, head.token, m0, p.Lq, p.D);
  load_key_tile_async<float, kBlockN32, DPAD, L::kQKStride, L::kVStride>(sk, sv, head, keys.first, keys.first & 1,
                                                                         p.Lk, p.D);

  float o[kSteps][4];
#pragma unroll
  for (int t = 0; t < kSteps; ++t) o[t][0] = o[t][1] = o[t][2] = o[t][3] = 0.f;
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.f, 0.f};
  const float* qw = sq + warp * 16 * L::kQKStride;  // this warp's 16 queries
  // The lanes holding P(row, t) and P(row, t + 4) of an 8-key score tile, and which of their pair it is.
  const int from_low = group * 4 + quad_lane / 2, from_high = from_low + 2;
  const bool odd = quad_lane & 1;

  uint32_t qa[kSteps][4];  // this warp's queries as TF32 A fragments, read and rounded once for every key tile
  for (int j = keys.first; j < keys.end; ++j) {
    const int buffer = j & 1;
    await_key_tile<float, kBlockN32, DPAD, L::kQKStride, L::kVStride>(sk, sv, head, j, buffer ^ 1, keys.end, p.Lk,
                                                                      p.D);
    const float* ks = sk + buffer * kBlockN32 * L::kQKStride;
    const float* vs = sv + buffer * kBlockN32 * L::kVStride;
    if (j == keys.first) {
#pragma unroll
      for (int s = 0; s < kSteps; ++s) {
        const int c = s * 8 + quad_lane;
        qa[s][0] = to_tf32(qw[group * L::kQKStride + c]) ^ p.q_sign;
        qa[s][1] = to_tf32(qw[(group + 8) * L::kQKStride + c]) ^ p.q_sign;
        qa[s][2] = to_tf32(qw[group * L::kQKStride + c + 4]) ^ p.q_sign;
        qa[s][3] = to_tf32(qw[(group + 8) * L::kQKStride + c + 4]) ^ p.q_sign;
      }
    }

    float sc[kBlockN32 / 8][4];
#pragma unroll
    for (int t = 0; t < kBlockN32 / 8; ++t) sc[t][0] = sc[t][1] = sc[t][2] = sc[t][3] = 0.f;
#pragma unroll
    for (int s = 0; s < kSteps; ++s) {
      const int c = s * 8 + quad_lane;
#pragma unroll
      for (int t = 0; t < kBlockN32 / 8; ++t) {
        const float* key = ks + (t * 8 + group) * L::kQKStride + c;
        mma_16x8x8_tf32(sc[t], qa[s], to_tf32(key[0]), to_tf32(key[4]));
      }
    }

    online_softmax(sc, o, row_max, row_sum, j * kBlockN32 + 2 * quad_lane, p.Lk, p.scale_log2,
                   (j + 1) * kBlockN32 > p.Lk);

    // O += P V, 8 keys per k-step: P's A fragment gathered from the quad that holds each column.
#pragma unroll
    for (int t = 0; t < kBlockN32 / 8; ++t) {
      auto pick = [&](int e, int from) {
        const float even = __shfl_sync(0xffffffffu, sc[t][e], from);
        const float odd_value = __shfl_sync(0xffffffffu, sc[t][e + 1], from);
        return to_tf32(odd ? odd_value : even);
      };
      const uint32_t a[4] = {pick(0, from_low), pick(2, from_low), pick(0, from_high), pick(2, from_high)};
      const float* rows = vs + (t * 8 + quad_lane) * L::kVStride + group;
#pragma unroll
      for (int d = 0; d < kSteps; ++d)
        mma_16x8x8_tf32(o[d], a, to_tf32(rows[d * 8]), to_tf32(rows[4 * L::kVStride + d * 8]));
    }
    __syncthreads();
  }

  if (p.splits > 1)
    store_partial_rows(p, m0 + warp * 16 + group, quad_lane, o, row_max, row_sum);
  else
    store_rows(head.y, head.token, m0 + warp * 16 + group, p.Lq, p.D, quad_lane, o, row_sum);
}

// ---- split keys: the combine ----
//
// One warp per (batch, query, head): y = sum_s o_s 2^(m_s - M) / sum_s l_s 2^(m_s - M), M the largest max, in a
// fixed split order.
template <typename T>
__global__ void __launch_bounds__(128) attention_combine_kernel(AttentionParams<T> p, int N) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * 4 + threadIdx.x / 32;  // (n, query, head)
  const int lane = threadIdx.x % 32;
  if (row >= static_cast<int64_t>(N) * p.Lq * p.H) return;
  const int64_t h = row % p.H, q = row / p.H % p.Lq, n = row / p.H / p.Lq;
  const int64_t first = ((n * p.H + h) * p.splits) * p.Lq + q;  // split s at first + s * Lq
  float top = -INFINITY;
  for (int s = 0; s < p.splits; ++s) top = fmaxf(top, p.partial_ml[first + s * p.Lq].x);
  float total = 0.f;
  for (int s = 0; s < p.splits; ++s) {
    const float2 ml = p.partial_ml[first + s * p.Lq];
    total += ml.y * exp2f(ml.x - top);
  }
  const float inv = 1.f / total;
  T* y = p.y + row * p.D;
  for (int col = 2 * lane; col < p.D; col += 64) {
    float a = 0.f, b = 0.f;
    for (int s = 0; s < p.splits; ++s) {
      const float w = exp2f(p.partial_ml[first + s * p.Lq].x - top);
      const float2 v = *reinterpret_cast<const float2*>(p.partial_o + (first + s * p.Lq) * p.D + col);
      a = fmaf(v.x, w, a);
      b = fmaf(v.y, w, b);
    }
    store_pair(y + col, a * inv, b * inv);
  }
}

// ---- launch ----

static_assert(AttentionPlan{}.block_rows == kBlockM, "attention.h's plain plan is one m-tile a warp");

template <typename Kernel>
void launch_kernel(const CudaKernelContext& ctx, Kernel kernel, size_t shared, const AttentionPlan& plan, int Lq,
                   int H, int N, const void* p, std::once_flag* opted_in, cudaError_t* opt_in_status) {
  // Beyond 48 KB of dynamic shared memory needs asking once per kernel.
  std::call_once(*opted_in, [&] {
    *opt_in_status = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared));
  });
  ctx.check(*opt_in_status, "cudaFuncSetAttribute(attention shared memory)");
  const dim3 grid(static_cast<unsigned>((Lq + plan.block_rows - 1) / plan.block_rows * plan.splits),
                  static_cast<unsigned>(H), static_cast<unsigned>(N));
  void* args[] = {const_cast<void*>(p)};
  ctx.check(cudaLaunchKernel(reinterpret_cast<const void*>(kernel), grid, dim3(kThreads), args, shared, ctx.stream),
            "attention kernel launch");
}

template <int DPAD, int MT>
void launch_fp16(const CudaKernelContext& ctx, const AttentionParams<__half>& p, const AttentionPlan& plan, int N) {
  static std::once_flag opted_in;
  static cudaError_t status = cudaSuccess;
  const size_t shared = static_cast<size_t>(Fp16Layout<DPAD, MT>::kHalves) * sizeof(__half);
  launch_kernel(ctx, attention_kernel<DPAD, MT>, shared, plan, p.Lq, p.H, N, &p, &opted_in, &status);
}

template <int DPAD>
void launch(const CudaKernelContext& ctx, const AttentionParams<__half>& p, const AttentionPlan& plan, int N) {
  if constexpr (DPAD >= kMinTwoTileHead && DPAD <= kMaxTwoTileHead) {
    if (plan.m_tiles == 2) return launch_fp16<DPAD, 2>(ctx, p, plan, N);
  }
  launch_fp16<DPAD, 1>(ctx, p, plan, N);
}

template <int DPAD>
void launch(const CudaKernelContext& ctx, const AttentionParams<float>& p, const AttentionPlan& plan, int N) {
  static std::once_flag opted_in;
  static cudaError_t status = cudaSuccess;
  const size_t shared = static_cast<size_t>(Tf32Layout<DPAD>::kWords) * sizeof(float);
  launch_kernel(ctx, attention_tf32_kernel<DPAD>, shared, plan, p.Lq, p.H, N, &p, &opted_in, &status);
}

// plan_attention (below, outside this file's private namespace) on the device the call runs on.
AttentionPlan plan_here(int64_t N, int64_t H, int64_t Lq, int64_t Lk, int64_t D, DataType dtype) {
  return plan_attention(N, H, Lq, Lk, D, dtype, multiprocessor_count());
}

// Scratch of a split: unnormalized rows [N][H][splits][Lq][D] floats, then their (max, sum) pairs.
struct SplitScratch {
  size_t rows_bytes = 0, total = 0;
};
SplitScratch split_scratch(int64_t N, int64_t H, int64_t Lq, int64_t D, int splits) {
  SplitScratch s;
  if (splits <= 1) return s;
  const size_t rows = static_cast<size_t>(N * H * splits * Lq);
  s.rows_bytes = (rows * static_cast<size_t>(D) * sizeof(float) + 255) / 256 * 256;
  s.total = s.rows_bytes + rows * sizeof(float2);
  return s;
}

size_t attention_workspace(const CudaKernelContext& ctx) {
  if (ctx.inputs.size() != 3 || !ctx.inputs[0].present() || ctx.inputs[0].dims.size() != 4 ||
      ctx.inputs[1].dims.size() != 4)
    return 0;
  const Dims& q = ctx.inputs[0].dims;
  const int64_t Lk = ctx.inputs[1].dims[1];
  if (q[0] <= 0 || q[1] <= 0 || q[2] <= 0 || Lk <= 0) return 0;
  return split_scratch(q[0], q[2], q[1], q[3], plan_here(q[0], q[2], q[1], Lk, q[3], ctx.inputs[0].dtype).splits)
      .total;
}

// The head size D (= Dv) the kernels take: a multiple of 8 (whole 16-byte rows in either type) up to kMaxHeadSize.
bool head_size_ok(int64_t d) { return d >= 8 && d <= kMaxHeadSize && d % 8 == 0; }

// float32 inputs run on TF32 tensor cores: the builder offers them only to --tf32 engines.
bool attention_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  if (inputs.size() != 3 || node.outputs.size() != 1) return false;
  const DataType t = inputs[0].dtype;
  if (t != DataType::kFloat16 && t != DataType::kFloat32) return false;
  for (const TypeShape& in : inputs)
    if (in.dtype != t || !in.shape.has_rank || in.shape.rank() != 4) return false;
  const Dim& d = inputs[0].shape.dims[3];
  const Dim& dv = inputs[2].shape.dims[3];
  return d.known() && dv.known() && d.value == dv.value && head_size_ok(d.value) &&
         std::isfinite(node.attr_float("scale", 1.0f));
}

template <typename T>
void launch_head(const CudaKernelContext& ctx, const AttentionParams<T>& p, const AttentionPlan& plan, int n);

template <typename T>
void run_typed(CudaKernelContext& ctx, const DeviceValue& q, const DeviceValue& k, const DeviceValue& v,
               DeviceValue& y) {
  AttentionParams<T> p;
  p.q = static_cast<const T*>(q.data);
  p.k = static_cast<const T*>(k.data);
  p.v = static_cast<const T*>(v.data);
  p.y = static_cast<T*>(y.data);
  p.Lq = static_cast<int>(q.dims[1]), p.Lk = static_cast<int>(k.dims[1]), p.H = static_cast<int>(q.dims[2]);
  p.D = static_cast<int>(q.dims[3]);
  // The kernels take a positive scale: a negative one negates Q instead (exact), and 0, a uniform softmax, becomes
  // the smallest normal float, whose products with fp16-range scores round the exponents to 0 as well.
  const double scale = ctx.node.attr_float("scale", 1.0f);
  p.scale_log2 = std::max(static_cast<float>(std::fabs(scale) * 1.4426950408889634), FLT_MIN);
  if (scale < 0) p.q_sign = std::is_same_v<T, __half> ? 0x80008000u : 0x80000000u;
  const int n = static_cast<int>(q.dims[0]);
  const AttentionPlan plan = plan_here(n, p.H, p.Lq, p.Lk, p.D, q.dtype);
  p.splits = plan.splits;
  const SplitScratch scratch = split_scratch(n, p.H, p.Lq, p.D, p.splits);
  if (p.splits > 1) {
    if (!ctx.workspace || ctx.workspace_bytes < scratch.total || !aligned_to(ctx.workspace, 256))
      ctx.fail("a workspace of " + std::to_string(scratch.total) + " bytes (256-byte aligned) for " +
               std::to_string(p.splits) + " key splits; got " + std::to_string(ctx.workspace_bytes));
    p.partial_o = static_cast<float*>(ctx.workspace);
    p.partial_ml = reinterpret_cast<float2*>(static_cast<char*>(ctx.workspace) + scratch.rows_bytes);
  }
  launch_head(ctx, p, plan, n);
  if (p.splits > 1) {
    const int64_t rows = static_cast<int64_t>(n) * p.Lq * p.H;
    attention_combine_kernel<T><<<static_cast<unsigned>((rows + 3) / 4), 128, 0, ctx.stream>>>(p, n);
    ctx.check(cudaGetLastError(), "attention combine kernel launch");
  }
}

// The kernel instance for the head size: float32 pads it to 8, float16 to 16 (one mma k-step).
template <typename T>
void launch_head(const CudaKernelContext& ctx, const AttentionParams<T>& p, const AttentionPlan& plan, int n) {
  if constexpr (std::is_same_v<T, float>) {
    switch ((p.D + 7) / 8) {  // float32: the head padded to 8
      case 1: return launch<8>(ctx, p, plan, n);
      case 2: return launch<16>(ctx, p, plan, n);
      case 3: return launch<24>(ctx, p, plan, n);
      case 4: return launch<32>(ctx, p, plan, n);
      case 5: return launch<40>(ctx, p, plan, n);
      case 6: return launch<48>(ctx, p, plan, n);
      case 7:
      case 8: return launch<64>(ctx, p, plan, n);
      case 9:
      case 10: return launch<80>(ctx, p, plan, n);
      case 11:
      case 12: return launch<96>(ctx, p, plan, n);
      case 13:
      case 14:
      case 15:
      case 16: return launch<128>(ctx, p, plan, n);
      default: return launch<160>(ctx, p, plan, n);
    }
  } else {
    switch ((p.D + 15) / 16) {  // float16: the head padded to 16, one mma k-step
      case 1: return launch<16>(ctx, p, plan, n);
      case 2: return launch<32>(ctx, p, plan, n);
      case 3: return launch<48>(ctx, p, plan, n);
      case 4: return launch<64>(ctx, p, plan, n);
      case 5: return launch<80>(ctx, p, plan, n);
      case 6: return launch<96>(ctx, p, plan, n);
      case 7:
      case 8: return launch<128>(ctx, p, plan, n);
      default: return launch<160>(ctx, p, plan, n);
    }
  }
}

void attention_run(CudaKernelContext& ctx) {
  const DeviceValue &q = ctx.in(0), &k = ctx.in(1), &v = ctx.in(2);
  DeviceValue& y = ctx.out(0);
  const DataType t = q.dtype;
  for (const DeviceValue* x : {&q, &k, &v})
    if ((t != DataType::kFloat16 && t != DataType::kFloat32) || x->dtype != t || x->dims.size() != 4)
      ctx.fail("Q, K and V must be float16 or float32 [N, L, H, D] of one type");
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
  if (t == DataType::kFloat16)
    run_typed<__half>(ctx, q, k, v, y);
  else
    run_typed<float>(ctx, q, k, v, y);
}

}  // namespace

// Two m-tiles a warp (128 queries a block) for float16 heads padded to 48 or 64 where the query blocks of 128 alone
// give the GPU two blocks per SM; else one. Measured on an H100 (bench/results/2026-11-28-session18.md, call 3),
// two m-tiles against one: heads of 64 0.260 against 0.316 ms (4x2048x16x64); heads of 40 3-6% faster at batch 2 of
// 4096 tokens and batches 8 and 32 of 1024, but 7% slower at batch 1 of 4096 (256 blocks of 128: the keys split);
// heads of 32 13% slower (8x1024x8x32). Their accumulators take registers: 179 at heads of 48, 237 at 64 (2 blocks
// an SM), against 99 and 130 with one m-tile; heads of 80 and more would spill.
// Then the key splits: 1 while the query blocks alone give the GPU two blocks per SM, else
// enough for about four (a block's 4 warps walk all the keys in sequence: at batch 1 the SD-1.5 UNet's 1024-token
// attentions had 128 blocks for 132 SMs), at most 8, and each split at least a few key tiles: a split costs its
// partial rows' round trip through memory and the combine kernel. The minimum is per kernel:
// the fp16 kernel's tiles are cheap (measured on an H100 at the UNet's batch-1 shapes, 8 tiles of 64 keys was
// fastest: fp16 UNet 0.991 ms a run against 1.002 ms with 1 tile), the TF32 kernel's dearer (2 tiles of 32 keys:
// tf32 UNet 1.486 against 1.490-1.497 ms with 1 tile and 1.511 ms with 8; bench/results/s13).
AttentionPlan plan_attention(int64_t N, int64_t H, int64_t Lq, int64_t Lk, int64_t D, DataType dtype,
                             int multiprocessors) {
  AttentionPlan plan;
  const int64_t sms = multiprocessors;
  if (sms <= 0) return plan;
  const bool fp16 = dtype == DataType::kFloat16;
  const int64_t padded_head = (D + 15) / 16 * 16;
  if (fp16 && padded_head >= kMinTwoTileHead && padded_head <= kMaxTwoTileHead &&
      (Lq + 2 * kBlockM - 1) / (2 * kBlockM) * H * N >= 2 * sms) {
    plan.m_tiles = 2;
    plan.block_rows = 2 * kBlockM;
  }
  const int64_t keys_per_tile = fp16 ? kBlockN : kBlockN32;
  const int64_t min_tiles = fp16 ? 8 : 2;
  const int64_t blocks = (Lq + plan.block_rows - 1) / plan.block_rows * H * N;
  const int64_t tiles = (Lk + keys_per_tile - 1) / keys_per_tile;
  if (blocks <= 0 || blocks >= 2 * sms) return plan;
  plan.splits = static_cast<int>(
      std::max<int64_t>(1, std::min<int64_t>({(4 * sms + blocks - 1) / blocks, tiles / min_tiles, int64_t{8}})));
  return plan;
}

NORMRT_REGISTER_CUDA_KERNEL(CudaKernel{"cuda_attention", kNormrtDomain, "Attention", attention_accepts, attention_run,
                                       attention_workspace, nullptr, {}, 0});

}  // namespace cuda
}  // namespace normrt
