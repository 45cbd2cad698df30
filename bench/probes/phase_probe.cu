// Probe (not built by CMake): how close to a device-to-device copy can "bulk-load a chunk into shared memory,
// reduce it, store it" get at 5-42 MB, with and without clusters, with 1-4 chunks a block. The skeleton of the
// one-pass GroupNorm kernels without their arithmetic. Results: bench/results/s11/h100-phase-probe.txt.
//   nvcc -std=c++17 -arch=sm_90 -O3 -o phase_probe bench/probes/phase_probe.cu && ./phase_probe
#include <cooperative_groups.h>
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
__device__ float sink;

__global__ void copy_kernel(const uint4* __restrict__ x, uint4* __restrict__ y, size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) y[i] = x[i];
}

// MODE 0: plain stores from smem; 1: bulk store. CL: cluster size (1 = none). Each block handles P chunks
// (chunk b + k*gridDim), all loads issued up front (P*chunk smem), each chunk: wait, reduce, (cluster sync), store.
template <int MODE, int CL>
__global__ void __launch_bounds__(512) chunk_kernel(const uint4* __restrict__ x, uint4* __restrict__ y, uint32_t chunk_vecs, int P, int pieces, int nchunks) {
  extern __shared__ __align__(128) unsigned char smem[];
  uint4* tile = (uint4*)smem;
  __shared__ uint64_t bars[64];
  __shared__ float red[16];
  const int t = threadIdx.x;
  const int np = P * pieces;
  if (t == 0) {
    for (int i = 0; i < np; ++i) asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" :: "r"(sa(bars + i)) : "memory");
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
    const uint32_t pv = chunk_vecs / pieces;
    for (int k = 0; k < P; ++k) {
      const int c = blockIdx.x + k * gridDim.x;
      if (c >= nchunks) break;
      for (int q = 0; q < pieces; ++q) {
        const uint32_t bytes = pv * 16u;
        const uint32_t b = sa(bars + k * pieces + q);
        asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" :: "r"(b), "r"(bytes) : "memory");
        asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" :: "r"(sa(tile + k * chunk_vecs + q * pv)), "l"(x + (size_t)c * chunk_vecs + q * pv), "r"(bytes), "r"(b) : "memory");
      }
    }
  }
  __syncthreads();
  for (int k = 0; k < P; ++k) {
    const int c = blockIdx.x + k * gridDim.x;
    if (c >= nchunks) break;
    uint4* tk = tile + k * chunk_vecs;
    float s = 0.f;
    const uint32_t pv = chunk_vecs / pieces;
    for (int q = 0; q < pieces; ++q) {
      mwait(sa(bars + k * pieces + q), 0);
      for (uint32_t v = q * pv + t; v < (q + 1) * pv; v += blockDim.x) { uint4 r = tk[v]; s += __uint_as_float(r.x) + __uint_as_float(r.w); }
    }
    for (int o = 16; o; o >>= 1) s += __shfl_xor_sync(~0u, s, o);
    if ((t & 31) == 0) red[t >> 5] = s;
    __syncthreads();
    float tot = 0.f;
    for (int w = 0; w < (int)blockDim.x / 32; ++w) tot += red[w];
    if (CL > 1) cg::this_cluster().sync();
    const uint32_t m = __float_as_uint(tot) & 0u;  // data dependency on the reduction, value unchanged
    if (MODE == 0) {
      uint4* yc = y + (size_t)c * chunk_vecs;
      for (uint32_t v = t; v < chunk_vecs; v += blockDim.x) { uint4 r = tk[v]; r.x ^= m; yc[v] = r; }
    } else {
      for (uint32_t v = t; v < chunk_vecs; v += blockDim.x) { tk[v].x ^= m; }
      asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
      __syncthreads();
      if (t == 0) {
        asm volatile("cp.async.bulk.global.shared::cta.bulk_group [%0], [%1], %2;" :: "l"(y + (size_t)c * chunk_vecs), "r"(sa(tk)), "r"(chunk_vecs * 16u) : "memory");
        asm volatile("cp.async.bulk.commit_group;" ::: "memory");
      }
    }
    __syncthreads();
  }
  if (MODE == 1 && t == 0) asm volatile("cp.async.bulk.wait_group.read 0;" ::: "memory");
}

int main() {
  cudaDeviceProp prop; CHECK(cudaGetDeviceProperties(&prop, 0));
  cudaStream_t s; CHECK(cudaStreamCreate(&s));
  const int sms = prop.multiProcessorCount;
  printf("# %s %d SMs\n", prop.name, sms);
  const size_t sizes[] = {5242880, 8388608, 20971520, 41943040};
  for (size_t B : sizes) {
    const size_t n = B / 16;
    const int sets = std::max(2, (int)(3.0 * prop.l2CacheSize / (2.0 * B)) + 1);
    std::vector<uint4*> xs(sets), ys(sets);
    for (int i = 0; i < sets; ++i) { CHECK(cudaMalloc(&xs[i], B)); CHECK(cudaMalloc(&ys[i], B)); CHECK(cudaMemset(xs[i], 1, B)); }
    const int iters = 200;
    double memcpy_us = time_graph(s, iters, [&](int i) { CHECK(cudaMemcpyAsync(ys[i % sets], xs[i % sets], B, cudaMemcpyDeviceToDevice, s)); });
    double ck_us = time_graph(s, iters, [&](int i) { copy_kernel<<<sms * 4, 512, 0, s>>>(xs[i % sets], ys[i % sets], n); });
    printf("\n%.1f MB: memcpy %.2f us, copy kernel %.2f us (%.0f%%)\n", B / 1e6, memcpy_us, ck_us, 100 * memcpy_us / ck_us);
    printf("  chunkKB thr P pieces mode cl | blocks | us  %%memcpy\n");
    for (int chunk_kb : {10, 20, 40, 80}) for (int P : {1, 2, 4}) for (int pieces : {1, 4}) for (int mode : {0, 1}) for (int cl : {1, 8}) for (int thr : {256, 512}) {
      const uint32_t cv = chunk_kb * 1024 / 16;
      const int nchunks = (int)(n / cv);
      if ((size_t)nchunks * cv != n) continue;
      const size_t smem = (size_t)P * cv * 16;
      if (smem > 200 * 1024) continue;
      int blocks = (nchunks + P - 1) / P;
      if (cl > 1) { if (P != 1 || nchunks % cl) continue; }
      if (P > 1 && (nchunks % P)) continue;
      void (*k)(const uint4*, uint4*, uint32_t, int, int, int) =
          mode == 0 ? (cl == 1 ? chunk_kernel<0, 1> : chunk_kernel<0, 8>) : (cl == 1 ? chunk_kernel<1, 1> : chunk_kernel<1, 8>);
      CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
      if (cl > 1) CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeNonPortableClusterSizeAllowed, 1));
      cudaLaunchConfig_t cfg = {};
      cfg.gridDim = blocks; cfg.blockDim = thr; cfg.dynamicSmemBytes = smem; cfg.stream = s;
      cudaLaunchAttribute at[1]; at[0].id = cudaLaunchAttributeClusterDimension; at[0].val.clusterDim.x = cl; at[0].val.clusterDim.y = 1; at[0].val.clusterDim.z = 1;
      cfg.attrs = at; cfg.numAttrs = cl > 1 ? 1 : 0;
      double us = time_graph(s, iters, [&](int i) { CHECK(cudaLaunchKernelEx(&cfg, k, (const uint4*)xs[i % sets], ys[i % sets], cv, P, pieces, nchunks)); });
      CHECK(cudaGetLastError());
      printf("  %3d %3d %d %d %d %d | %5d | %6.2f %4.0f%%\n", chunk_kb, thr, P, pieces, mode, cl, blocks, us, 100 * memcpy_us / us);
    }
    for (int i = 0; i < sets; ++i) { CHECK(cudaFree(xs[i])); CHECK(cudaFree(ys[i])); }
  }
  CHECK(cudaDeviceSynchronize());
}
