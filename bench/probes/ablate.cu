// Probe (not built by CMake): the skeleton of the NCHW bulk GroupNorm kernel (bulk-load a slice, reduce, cluster
// barrier, store) plus, one by one, the steps the real kernel adds (shift, fp16 statistics, DSMEM merge, affine,
// SiLU, PDL), at 2x320x64x64 fp16 in clusters of 1-8. Results: bench/results/s11/h100-ablate.txt.
//   nvcc -std=c++17 -arch=sm_90 -O3 -o ablate bench/probes/ablate.cu && ./ablate
#include <cooperative_groups.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "probe_timing.h"
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <algorithm>
namespace cg = cooperative_groups;
__device__ __forceinline__ uint32_t sa(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }
__device__ __forceinline__ void mwait(uint32_t bar, uint32_t par) {
  uint32_t done = 0;
  while (!done) asm volatile("{\n\t.reg .pred p;\n\tmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n\tselp.u32 %0,1,0,p;\n\t}" : "=r"(done) : "r"(bar), "r"(par) : "memory");
}
enum { F_K = 1, F_STATS = 2, F_DSMEM = 4, F_NORM = 8, F_SILU = 16, F_PDL = 32, F_PLAINSTORE = 64, F_GAMMA = 128 };

__global__ void __launch_bounds__(512) k(const uint4* __restrict__ x, uint4* __restrict__ y, const float* gamma, uint32_t cv, int feat, int hw_vecs) {
  extern __shared__ __align__(128) unsigned char smem[];
  uint4* tile = (uint4*)smem;
  __shared__ uint64_t bar;
  __shared__ float2 red[16];
  __shared__ float2 part;
  __shared__ float2 stat;
  __shared__ float2 table[64];
  const int t = threadIdx.x, nw = blockDim.x / 32;
  const size_t base = (size_t)blockIdx.x * cv;
  if (t == 0) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" :: "r"(sa(&bar)) : "memory");
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
  }
  if (feat & F_PDL) asm volatile("griddepcontrol.wait;" ::: "memory");
  if (t == 0) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" :: "r"(sa(&bar)), "r"(cv * 16u) : "memory");
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" :: "r"(sa(tile)), "l"(x + base), "r"(cv * 16u), "r"(sa(&bar)) : "memory");
  }
  float K = 0.f;
  if (feat & F_K) K = __half2float(*reinterpret_cast<const __half*>(x + (blockIdx.x / 8) * 8 * cv));
  float g0 = 1.f;
  if ((feat & F_GAMMA) && t < 10) g0 = __ldg(gamma + (blockIdx.x % 32) * 10 + t);
  __syncthreads();
  mwait(sa(&bar), 0);
  float s = 0.f, q = 0.f;
  for (uint32_t v = t; v < cv; v += blockDim.x) {
    uint4 r = tile[v];
    if (feat & F_STATS) {
      const __half2* h = reinterpret_cast<const __half2*>(&r);
#pragma unroll
      for (int e = 0; e < 4; ++e) { float2 f = __half22float2(h[e]); float a = f.x - K, b = f.y - K; s += a + b; q = fmaf(a, a, fmaf(b, b, q)); }
    } else s += __uint_as_float(r.x);
  }
  for (int o = 16; o; o >>= 1) { s += __shfl_xor_sync(~0u, s, o); q += __shfl_xor_sync(~0u, q, o); }
  if ((t & 31) == 0) red[t >> 5] = make_float2(s, q);
  __syncthreads();
  if (t < 32) {
    float2 a = t < nw ? red[t] : make_float2(0.f, 0.f);
    for (int o = 16; o; o >>= 1) { a.x += __shfl_xor_sync(~0u, a.x, o); a.y += __shfl_xor_sync(~0u, a.y, o); }
    if (t == 0) { part = a; stat = a; }
  }
  cg::cluster_group cl = cg::this_cluster();
  cl.sync();
  if (feat & F_DSMEM) {
    if (t < 32) {
      float2 a = t < (int)cl.num_blocks() ? *cl.map_shared_rank(&part, t) : make_float2(0.f, 0.f);
      for (int o = 16; o; o >>= 1) { a.x += __shfl_xor_sync(~0u, a.x, o); a.y += __shfl_xor_sync(~0u, a.y, o); }
      if (t == 0) { const float n = 8.f * cv * cl.num_blocks(); const float m = a.x / n; stat = make_float2(m, rsqrtf(fmaxf(a.y / n - m * m, 0.f) + 1e-5f)); }
    }
    __syncthreads();
    cl.barrier_arrive();
  }
  if (feat & F_PDL) asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
  if (t < 10) { const float2 st = stat; table[t] = make_float2(st.y * g0, -st.x * st.y * g0); }
  __syncthreads();
  const uint32_t m = (feat & F_NORM) ? 0u : (__float_as_uint(stat.x) & 0u);
  for (uint32_t v = t; v < cv; v += blockDim.x) {
    uint4 r = tile[v];
    if (feat & F_NORM) {
      const float2 ab = table[((blockIdx.x % 8) * cv + v) / hw_vecs % 10];
      __half2* h = reinterpret_cast<__half2*>(&r);
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float2 f = __half22float2(h[e]);
        f.x = fmaf(f.x - K, ab.x, ab.y); f.y = fmaf(f.y - K, ab.x, ab.y);
        if (feat & F_SILU) { f.x = __fdividef(f.x, 1.f + __expf(-f.x)); f.y = __fdividef(f.y, 1.f + __expf(-f.y)); }
        h[e] = __float22half2_rn(f);
      }
    } else r.x ^= m;
    if (feat & F_PLAINSTORE) y[base + v] = r; else tile[v] = r;
  }
  if (!(feat & F_PLAINSTORE)) {
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
    __syncthreads();
    if (t == 0) {
      asm volatile("cp.async.bulk.global.shared::cta.bulk_group [%0], [%1], %2;" :: "l"(y + base), "r"(sa(tile)), "r"(cv * 16u) : "memory");
      asm volatile("cp.async.bulk.commit_group;" ::: "memory");
      asm volatile("cp.async.bulk.wait_group.read 0;" ::: "memory");
    }
  }
  if (feat & F_DSMEM) cl.barrier_wait();
}

int main(int argc, char** argv) {
  cudaDeviceProp prop; CHECK(cudaGetDeviceProperties(&prop, 0));
  cudaStream_t s; CHECK(cudaStreamCreate(&s));
  // 2x320x64x64 fp16: 64 groups of 10 channels x 4096 = 40960 halves = 5120 vectors.
  const size_t B = 2ull * 320 * 4096 * 2;
  const int sets = std::max(2, (int)(3.0 * prop.l2CacheSize / (2.0 * B)) + 1);
  std::vector<uint4*> xs(sets), ys(sets);
  for (int i = 0; i < sets; ++i) { CHECK(cudaMalloc(&xs[i], B)); CHECK(cudaMalloc(&ys[i], B)); CHECK(cudaMemset(xs[i], 0x3c, B)); }
  float* gamma; CHECK(cudaMalloc(&gamma, 4096)); CHECK(cudaMemset(gamma, 0, 4096));
  const int iters = 200;
  double mc = time_graph(s, iters, [&](int i) { CHECK(cudaMemcpyAsync(ys[i % sets], xs[i % sets], B, cudaMemcpyDeviceToDevice, s)); }, 7);
  printf("# %s; 2x320x64x64 fp16 %.1f MB: memcpy %.2f us\n", prop.name, B / 1e6, mc);
  printf("cl thr feat            | us    %%memcpy\n");
  const char* names[] = {"K", "stats", "dsmem", "norm", "silu", "pdl", "plainstore", "gamma"};
  CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, 200 * 1024));
  CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeNonPortableClusterSizeAllowed, 1));
  std::vector<int> feats = {0, F_K, F_STATS, F_DSMEM, F_NORM, F_GAMMA, F_PDL, F_PLAINSTORE,
                            F_K | F_STATS | F_DSMEM | F_NORM | F_GAMMA,
                            F_K | F_STATS | F_DSMEM | F_NORM | F_GAMMA | F_PDL,
                            F_K | F_STATS | F_DSMEM | F_NORM | F_GAMMA | F_PDL | F_SILU,
                            F_K | F_STATS | F_DSMEM | F_NORM | F_GAMMA | F_PLAINSTORE};
  for (int cl : {1, 2, 4, 8}) for (int thr : {128, 160, 256, 512}) for (int f : feats) {
    const uint32_t cv = 5120 / cl;
    const int blocks = 64 * cl;
    if (thr == 160 && cl != 8) continue;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = blocks; cfg.blockDim = thr; cfg.dynamicSmemBytes = cv * 16; cfg.stream = s;
    cudaLaunchAttribute at[2]; at[0].id = cudaLaunchAttributeClusterDimension; at[0].val.clusterDim.x = cl; at[0].val.clusterDim.y = 1; at[0].val.clusterDim.z = 1;
    at[1].id = cudaLaunchAttributeProgrammaticStreamSerialization; at[1].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = at; cfg.numAttrs = (f & F_PDL) ? 2 : 1;
    double us = time_graph(s, iters, [&](int i) { CHECK(cudaLaunchKernelEx(&cfg, k, (const uint4*)xs[i % sets], ys[i % sets], (const float*)gamma, cv, f, 512)); }, 7);
    CHECK(cudaGetLastError());
    char fs[128] = ""; for (int b = 0; b < 8; ++b) if (f & (1 << b)) { strcat(fs, names[b]); strcat(fs, "+"); }
    printf("%d %3d %-40s | %6.2f %4.0f%%\n", cl, thr, fs[0] ? fs : "skeleton", us, 100 * mc / us);
  }
}
