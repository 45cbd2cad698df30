// Parameter preparation for the normalization kernels and BatchNormalization (inference); see norm_params.h.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <string>

#include "cuda/norm_params.h"

namespace normrt {
namespace cuda {
namespace {

using IrType = ::normrt::DataType;

constexpr int kThreads = 256;

__device__ __forceinline__ float load_as_float(const void* p, IrType t, int64_t i) {
  switch (t) {
    case IrType::kFloat16:
      return __half2float(static_cast<const __half*>(p)[i]);
    case IrType::kBFloat16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    case IrType::kFloat64:
      return static_cast<float>(static_cast<const double*>(p)[i]);
    default:
      return static_cast<const float*>(p)[i];
  }
}

__global__ void broadcast_param_kernel(const void* src, IrType src_dtype, ParamBroadcast map, int64_t count,
                                       float* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t rest = i, offset = 0;
    for (int k = map.rank - 1; k >= 0; --k) {
      offset += (rest % map.dims[k]) * map.strides[k];
      rest /= map.dims[k];
    }
    out[i] = load_as_float(src, src_dtype, offset);
  }
}

// folded = [a (C), mean (C), bias (C)] with a = scale / sqrt(var + epsilon): y = (x - mean) * a + bias keeps
// the subtraction first, as the reference does, so a large mean does not cancel against x * a.
__global__ void batch_norm_fold_kernel(ChannelParam scale, ChannelParam bias, ChannelParam mean, ChannelParam var,
                                       int64_t C, float epsilon, float* folded) {
  for (int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; c < C;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float v = load_as_float(var.data, var.dtype, c);
    folded[c] = load_as_float(scale.data, scale.dtype, c) / sqrtf(v + epsilon);
    folded[C + c] = load_as_float(mean.data, mean.dtype, c);
    folded[2 * C + c] = load_as_float(bias.data, bias.dtype, c);
  }
}

template <typename T>
__device__ __forceinline__ float to_f(T v) {
  return static_cast<float>(v);
}
template <>
__device__ __forceinline__ float to_f<__half>(__half v) {
  return __half2float(v);
}
template <>
__device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 v) {
  return __bfloat162float(v);
}
template <typename T>
__device__ __forceinline__ T from_f(float v);
template <>
__device__ __forceinline__ float from_f<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __half from_f<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

template <typename T>
__global__ void batch_norm_apply_kernel(const T* __restrict__ x, T* __restrict__ y, const float* __restrict__ folded,
                                        int64_t C, int64_t spatial, int64_t count) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c = (i / spatial) % C;
    y[i] = from_f<T>((to_f(x[i]) - folded[C + c]) * folded[c] + folded[2 * C + c]);
  }
}

Status status_of(cudaError_t e, const char* what) {
  Status s;
  if (e != cudaSuccess) {
    s.cuda = e;
    s.message = std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
  }
  return s;
}

Status invalid(const std::string& message) {
  Status s;
  s.cuda = cudaErrorInvalidValue;
  s.message = message;
  return s;
}

bool is_param_dtype(IrType t) {
  return t == IrType::kFloat32 || t == IrType::kFloat16 || t == IrType::kBFloat16 || t == IrType::kFloat64;
}

unsigned int blocks_for(int64_t count) {
  // Grid-stride loops: a few waves are plenty for these bandwidth-bound kernels.
  return static_cast<unsigned int>(std::max<int64_t>(1, std::min<int64_t>((count + kThreads - 1) / kThreads, 4096)));
}

}  // namespace

Status broadcast_param_to_float(const void* src, IrType src_dtype, const ParamBroadcast& map, float* out,
                                cudaStream_t stream) {
  if (!src || !out) return invalid("broadcast_param_to_float: null pointer");
  if (!is_param_dtype(src_dtype)) return invalid("broadcast_param_to_float: the parameter is not a float type");
  if (map.rank < 1 || map.rank > ParamBroadcast::kMaxRank) return invalid("broadcast_param_to_float: bad rank");
  int64_t count = 1;
  for (int k = 0; k < map.rank; ++k) {
    if (map.dims[k] <= 0) return invalid("broadcast_param_to_float: dims must be positive");
    count *= map.dims[k];
  }
  broadcast_param_kernel<<<blocks_for(count), kThreads, 0, stream>>>(src, src_dtype, map, count, out);
  return status_of(cudaGetLastError(), "broadcast_param_to_float launch");
}

size_t batch_norm_workspace_bytes(int64_t channels) { return static_cast<size_t>(3 * channels) * sizeof(float); }

Status batch_norm_inference_forward(const BatchNormArgs& a, cudaStream_t stream) {
  if (!a.x || !a.y || !a.folded) return invalid("batch_norm: null x, y or workspace");
  for (const ChannelParam* p : {&a.scale, &a.bias, &a.mean, &a.var})
    if (!p->data || !is_param_dtype(p->dtype)) return invalid("batch_norm: a parameter is null or not a float type");
  if (a.N < 0 || a.C <= 0 || a.spatial < 0) return invalid("batch_norm: bad shape");
  const int64_t count = a.N * a.C * a.spatial;
  batch_norm_fold_kernel<<<blocks_for(a.C), kThreads, 0, stream>>>(a.scale, a.bias, a.mean, a.var, a.C, a.epsilon,
                                                                   a.folded);
  Status s = status_of(cudaGetLastError(), "batch_norm fold launch");
  if (!s.ok() || count == 0) return s;
  switch (a.dtype) {
    case DataType::kFloat32:
      batch_norm_apply_kernel<float><<<blocks_for(count), kThreads, 0, stream>>>(
          static_cast<const float*>(a.x), static_cast<float*>(a.y), a.folded, a.C, a.spatial, count);
      break;
    case DataType::kFloat16:
      batch_norm_apply_kernel<__half><<<blocks_for(count), kThreads, 0, stream>>>(
          static_cast<const __half*>(a.x), static_cast<__half*>(a.y), a.folded, a.C, a.spatial, count);
      break;
    case DataType::kBFloat16:
      batch_norm_apply_kernel<__nv_bfloat16><<<blocks_for(count), kThreads, 0, stream>>>(
          static_cast<const __nv_bfloat16*>(a.x), static_cast<__nv_bfloat16*>(a.y), a.folded, a.C, a.spatial, count);
      break;
  }
  return status_of(cudaGetLastError(), "batch_norm apply launch");
}

}  // namespace cuda
}  // namespace normrt
