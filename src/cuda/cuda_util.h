// Shared helpers of the CUDA op kernels (elementwise, data movement, reductions, resize): element types and
// their fp32 compute type, broadcast/strided index plans collapsed to the fewest axes, and launch sizes.
// Included by .cu files only.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cuda/cuda_kernel.h"
#include "ops/shape_util.h"

namespace normrt {
namespace cuda {

// Index plans hold at most this many axes after collapsing (accepts() refuses higher ranks).
constexpr int kMaxRank = 8;

// ---- element types -----------------------------------------------------------------------------------------
// Storage type T computes in Compute<T>: fp16 in fp32, everything else in itself. Bool is stored as uint8_t.
template <typename T>
struct ComputeOf {
  using type = T;
};
template <>
struct ComputeOf<__half> {
  using type = float;
};
template <typename T>
using Compute = typename ComputeOf<T>::type;

template <typename T>
__device__ __forceinline__ Compute<T> load_as(T v) {
  return v;
}
template <>
__device__ __forceinline__ float load_as<__half>(__half v) {
  return __half2float(v);
}
template <typename T>
__device__ __forceinline__ T store_as(Compute<T> v) {
  return v;
}
template <>
__device__ __forceinline__ __half store_as<__half>(float v) {
  return __float2half_rn(v);
}

// ONNX bool: one byte, 0 or 1; computes as bool. (uint8_t is ONNX uint8.)
struct Bool8 {
  uint8_t value;
};
template <>
struct ComputeOf<Bool8> {
  using type = bool;
};
template <>
__device__ __forceinline__ bool load_as<Bool8>(Bool8 v) {
  return v.value != 0;
}
template <>
__device__ __forceinline__ Bool8 store_as<Bool8>(bool v) {
  return Bool8{static_cast<uint8_t>(v ? 1 : 0)};
}

// A word of `Bytes` bytes, for kernels that only move elements (every dtype of that size works).
template <int Bytes>
struct Word;
template <>
struct Word<1> {
  using type = uint8_t;
};
template <>
struct Word<2> {
  using type = uint16_t;
};
template <>
struct Word<4> {
  using type = uint32_t;
};
template <>
struct Word<8> {
  using type = uint64_t;
};

// Vector of V elements loaded and stored as one access (16 bytes at most).
template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

inline bool aligned_to(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// ---- index plans -------------------------------------------------------------------------------------------
// out element `linear` (row-major over dims) reads element sum_d index_d * strides[k][d] of operand k.
template <int N, typename I>
struct Indexer {
  int rank = 0;
  I dims[kMaxRank];
  I strides[N][kMaxRank];

  __device__ __forceinline__ void offsets(I linear, I (&off)[N]) const {
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = 0;
#pragma unroll
    for (int d = kMaxRank - 1; d >= 0; --d) {
      if (d >= rank) continue;
      const I q = linear / dims[d];
      const I r = linear - q * dims[d];
#pragma unroll
      for (int k = 0; k < N; ++k) off[k] += r * strides[k][d];
      linear = q;
    }
  }
};

// A strided view plan on the host: output dims and, per operand, the stride of each output axis (in elements,
// 0 where broadcast, negative for reversed slices).
struct StridePlan {
  Dims dims;
  std::vector<std::vector<int64_t>> strides;
};

// Drops axes of extent 1 and merges neighbours that every operand walks contiguously. The result indexes the
// same elements in the same order with the fewest axes (rank 0 when there is one element).
StridePlan collapse(const Dims& dims, const std::vector<std::vector<int64_t>>& strides);

// Numpy broadcast of `inputs` to `out`, collapsed.
StridePlan broadcast_plan(const Dims& out, const std::vector<Dims>& inputs);

// Whether every index and offset of the plan fits 32-bit unsigned arithmetic (offsets are never negative there).
bool fits_32bit(const StridePlan& plan, const std::vector<int64_t>& operand_sizes);

template <int N, typename I>
Indexer<N, I> make_indexer(const StridePlan& plan) {
  Indexer<N, I> ix;
  ix.rank = static_cast<int>(plan.dims.size());
  for (int d = 0; d < kMaxRank; ++d) {
    ix.dims[d] = d < ix.rank ? static_cast<I>(plan.dims[d]) : I(1);
    for (int k = 0; k < N; ++k) ix.strides[k][d] = d < ix.rank ? static_cast<I>(plan.strides[k][d]) : I(0);
  }
  return ix;
}

// ---- launching ---------------------------------------------------------------------------------------------
constexpr int kBlock = 256;

// The current device's SMs; 0 when the runtime cannot say.
int multiprocessor_count();

// Blocks for a grid-stride loop over `work` items of kBlock threads: enough to fill the GPU a few times over.
unsigned grid_for(int64_t work, int block = kBlock);

// Throws naming the node when the last launch failed.
inline void check_launch(const CudaKernelContext& ctx, const char* what) { ctx.check(cudaGetLastError(), what); }

// A kernel of the default ONNX domain with no workspace and no tuning.
inline CudaKernel make_kernel(const std::string& name, const std::string& op_type,
                              bool (*accepts)(const Node&, int64_t, const std::vector<TypeShape>&),
                              void (*run)(CudaKernelContext&), std::vector<int> host_inputs = {}) {
  CudaKernel kernel;
  kernel.name = name;
  kernel.op_type = op_type;
  kernel.accepts = accepts;
  kernel.run = run;
  kernel.host_inputs = std::move(host_inputs);
  return kernel;
}

// ---- accepts() helpers -------------------------------------------------------------------------------------
bool is_float_type(DataType t);  // float32 or float16: the float types these kernels compute
// Every present input has a known rank <= kMaxRank.
bool ranks_ok(const std::vector<TypeShape>& inputs);
bool rank_ok(const TypeShape& input);

// Host-side value of a host input as int64s (int32 and int64 tensors).
std::vector<int64_t> host_ints(const CudaKernelContext& ctx, size_t input);

}  // namespace cuda
}  // namespace normrt
