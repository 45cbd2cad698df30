// Shared pieces of the cuDNN / cuBLAS kernels (cudnn_conv.cpp, cudnn_pool.cpp, cublas_matmul.cpp): the storage
// types they take, RAII cuDNN descriptors, tensor descriptors for dense row-major values, the window geometry
// checks build-time accepts() runs without a kernel context, and the "key=value;..." config strings tune() stores.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cuda/cuda_kernel.h"

namespace normrt {
namespace cuda {

// fp32 and fp16: the storage types these kernels take (fp16 computes in fp32 everywhere).
bool is_dnn_float(::normrt::DataType t);
cudnnDataType_t cudnn_type(::normrt::DataType t);
cudaDataType_t cuda_type(::normrt::DataType t);
// Bits of -infinity in the storage type (MaxPool's explicit padding) and the element size.
uint32_t negative_infinity_bits(::normrt::DataType t);
int element_bytes(::normrt::DataType t);

template <typename T, cudnnStatus_t (*Create)(T*), cudnnStatus_t (*Destroy)(T)>
class DnnDescriptor {
 public:
  DnnDescriptor() = default;
  ~DnnDescriptor() {
    if (handle_) Destroy(handle_);
  }
  DnnDescriptor(const DnnDescriptor&) = delete;
  DnnDescriptor& operator=(const DnnDescriptor&) = delete;
  // Creates the descriptor on first use.
  T get(const CudaKernelContext& ctx) {
    if (!handle_) ctx.check(Create(&handle_), "cudnnCreate*Descriptor");
    return handle_;
  }

 private:
  T handle_ = nullptr;
};

using TensorDescriptor =
    DnnDescriptor<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor>;
using FilterDescriptor =
    DnnDescriptor<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor>;
using ConvolutionDescriptor =
    DnnDescriptor<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor, cudnnDestroyConvolutionDescriptor>;
using PoolingDescriptor =
    DnnDescriptor<cudnnPoolingDescriptor_t, cudnnCreatePoolingDescriptor, cudnnDestroyPoolingDescriptor>;
using ActivationDescriptor =
    DnnDescriptor<cudnnActivationDescriptor_t, cudnnCreateActivationDescriptor, cudnnDestroyActivationDescriptor>;

// Dims as the int cuDNN takes; fails (through ctx) on an extent above INT32_MAX.
std::vector<int> int_dims(const CudaKernelContext& ctx, const std::vector<int64_t>& dims);
// A packed row-major descriptor of `dims` (rank 4 or 5: cuDNN's Nd descriptors want at least 4 for convolution).
void set_packed_tensor(const CudaKernelContext& ctx, cudnnTensorDescriptor_t desc, ::normrt::DataType t,
                       const std::vector<int>& dims);
// The same for a channels-last tensor: `dims` are the logical [N, C, H, W], the memory is [N, H, W, C].
void set_channels_last_tensor(const CudaKernelContext& ctx, cudnnTensorDescriptor_t desc, ::normrt::DataType t,
                              const std::vector<int>& dims);

// What read_window_attrs and the geometry functions (ops/conv_geometry.h) need of a context when accepts() checks a
// node at build time: its failures become a "no".
struct AcceptContext {
  const Node& node;
  int64_t opset;
  [[noreturn]] void fail(const std::string& message) const;
};

// "algo=1;math=2" <-> {algo: 1, math: 2}. Unknown or malformed entries read as absent.
std::string format_config(const std::map<std::string, int64_t>& values);
std::map<std::string, int64_t> parse_config(const std::string& config);

inline size_t align_bytes(size_t bytes) { return (bytes + 255) / 256 * 256; }

}  // namespace cuda
}  // namespace normrt
