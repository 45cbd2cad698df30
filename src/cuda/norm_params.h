// Small device kernels around the fused normalization kernels (group_norm.h), used by norm_kernels.cpp:
//  - widen a normalization's scale or bias (fp16, bf16, fp64, or a per-group or broadcasting shape) into the
//    per-channel fp32 array group_norm_forward takes, in the node's workspace (run() may not allocate);
//  - BatchNormalization in inference form, a per-channel affine y = x * a[c] + b[c] with a and b folded from
//    (scale, bias, mean, var) on the device.
// All are asynchronous on the given stream and capturable into a CUDA graph.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "cuda/group_norm.h"
#include "normrt/tensor.h"

namespace normrt {
namespace cuda {

// out[i], i in [0, count), is src at the offset sum_k index_k(i) * strides[k], where index(i) is i's
// row-major index in dims[0..rank). A stride of 0 repeats the source along that dim (a [G] per-group parameter
// seen as [G, C/G] with strides {1, 0}; a LayerNorm scale broadcast over the normalized dims).
struct ParamBroadcast {
  static constexpr int kMaxRank = 8;
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t strides[kMaxRank] = {};
};

// Converts src (float32, float16, bfloat16 or float64) to count = prod(dims) fp32 values through `map`.
Status broadcast_param_to_float(const void* src, ::normrt::DataType src_dtype, const ParamBroadcast& map, float* out,
                                cudaStream_t stream);

// A per-channel parameter of any float dtype, [C] elements.
struct ChannelParam {
  const void* data = nullptr;
  ::normrt::DataType dtype = ::normrt::DataType::kFloat32;
};

struct BatchNormArgs {
  const void* x = nullptr;  // [N, C, spatial]
  void* y = nullptr;        // same shape and dtype as x
  DataType dtype = DataType::kFloat32;
  int64_t N = 0, C = 0, spatial = 0;
  ChannelParam scale, bias, mean, var;
  float epsilon = 1e-5f;
  float* folded = nullptr;  // 2 * C floats of device scratch (batch_norm_workspace_bytes)
};

size_t batch_norm_workspace_bytes(int64_t channels);
// y = (x - mean[c]) / sqrt(var[c] + epsilon) * scale[c] + bias[c], computed as x * a[c] + b[c] in fp32.
Status batch_norm_inference_forward(const BatchNormArgs& args, cudaStream_t stream);

}  // namespace cuda
}  // namespace normrt
