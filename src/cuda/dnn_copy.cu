#include <algorithm>
#include <cstring>

#include "cuda/dnn_copy.h"

namespace normrt {
namespace cuda {
namespace {

template <typename T>
__global__ void window_copy_kernel(const T* __restrict__ in, T* __restrict__ out, int64_t total, int64_t planes_in,
                                   int64_t in_d, int64_t in_h, int64_t in_w, int64_t out_d, int64_t out_h,
                                   int64_t out_w, int64_t shift_d, int64_t shift_h, int64_t shift_w, T fill) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t rest = i;
    const int64_t ow = rest % out_w;
    rest /= out_w;
    const int64_t oh = rest % out_h;
    rest /= out_h;
    const int64_t od = rest % out_d;
    const int64_t plane = rest / out_d;
    const int64_t id = od + shift_d, ih = oh + shift_h, iw = ow + shift_w;
    const bool inside = plane < planes_in && id >= 0 && id < in_d && ih >= 0 && ih < in_h && iw >= 0 && iw < in_w;
    out[i] = inside ? in[((plane * in_d + id) * in_h + ih) * in_w + iw] : fill;
  }
}

template <typename T>
__global__ void broadcast_matrix_kernel(const T* __restrict__ c, int64_t c_rows, int64_t c_cols, T* __restrict__ y,
                                        int64_t rows, int64_t cols) {
  const int64_t total = rows * cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / cols, k = i % cols;
    y[i] = c[(c_rows == 1 ? 0 : r) * c_cols + (c_cols == 1 ? 0 : k)];
  }
}

constexpr int kThreads = 256;

unsigned blocks_for(int64_t total) {
  // Grid-stride loops: 8192 blocks of 256 threads cover any size while filling the GPU.
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>((total + kThreads - 1) / kThreads, 8192)));
}

template <typename T>
cudaError_t launch_window_copy(const WindowCopyArgs& a, cudaStream_t stream) {
  const int64_t total = a.out_dims[0] * a.out_dims[1] * a.out_dims[2] * a.out_dims[3] * a.out_dims[4];
  if (total == 0) return cudaSuccess;
  T fill;
  static_assert(sizeof(T) <= sizeof(uint32_t), "element size");
  if (sizeof(T) == 2) {
    const uint16_t bits = static_cast<uint16_t>(a.fill_bits);
    std::memcpy(&fill, &bits, 2);
  } else {
    std::memcpy(&fill, &a.fill_bits, sizeof(T));
  }
  window_copy_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(
      static_cast<const T*>(a.in), static_cast<T*>(a.out), total, a.in_dims[0] * a.in_dims[1], a.in_dims[2],
      a.in_dims[3], a.in_dims[4], a.out_dims[2], a.out_dims[3], a.out_dims[4], a.shift[0], a.shift[1], a.shift[2],
      fill);
  return cudaGetLastError();
}

}  // namespace

cudaError_t window_copy(const WindowCopyArgs& args, cudaStream_t stream) {
  if (args.in_dims[0] != args.out_dims[0] || args.in_dims[1] != args.out_dims[1]) return cudaErrorInvalidValue;
  if (args.element_bytes == 2) return launch_window_copy<uint16_t>(args, stream);
  if (args.element_bytes == 4) return launch_window_copy<uint32_t>(args, stream);
  return cudaErrorInvalidValue;
}

__global__ void gemm_pointer_arrays_kernel(const GemmPointerArgs p, int64_t count, const void** a, const void** b,
                                           void** y) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t rest = i, off_a = 0, off_b = 0, off_y = 0;
    for (int d = p.axes - 1; d >= 0; --d) {
      const int64_t c = rest % p.extent[d];
      rest /= p.extent[d];
      off_a += c * p.step_a[d];
      off_b += c * p.step_b[d];
      off_y += c * p.step_y[d];
    }
    a[i] = p.a + off_a;
    b[i] = p.b + off_b;
    y[i] = p.y + off_y;
  }
}

cudaError_t gemm_pointer_arrays(const GemmPointerArgs& args, const void** a, const void** b, void** y,
                                cudaStream_t stream) {
  if (args.axes < 0 || args.axes > kMaxGemmBatchAxes) return cudaErrorInvalidValue;
  int64_t count = 1;
  for (int d = 0; d < args.axes; ++d) count *= args.extent[d];
  if (count == 0) return cudaSuccess;
  gemm_pointer_arrays_kernel<<<blocks_for(count), kThreads, 0, stream>>>(args, count, a, b, y);
  return cudaGetLastError();
}

__global__ void gemm_pointer_list_kernel(const GemmPointerList list, const void** a, const void** b, void** y) {
  const int i = threadIdx.x;
  if (i >= list.count) return;
  a[i] = list.a[i];
  b[i] = list.b[i];
  y[i] = list.y[i];
}

cudaError_t gemm_pointer_list(const GemmPointerList& list, const void** a, const void** b, void** y,
                              cudaStream_t stream) {
  if (list.count < 0 || list.count > kMaxGemmPointerList) return cudaErrorInvalidValue;
  if (list.count == 0) return cudaSuccess;
  gemm_pointer_list_kernel<<<1, kMaxGemmPointerList, 0, stream>>>(list, a, b, y);
  return cudaGetLastError();
}

cudaError_t broadcast_matrix(const void* c, int64_t c_rows, int64_t c_cols, void* y, int64_t rows, int64_t cols,
                             int element_bytes, cudaStream_t stream) {
  const int64_t total = rows * cols;
  if (total == 0) return cudaSuccess;
  if (element_bytes == 2)
    broadcast_matrix_kernel<uint16_t><<<blocks_for(total), kThreads, 0, stream>>>(
        static_cast<const uint16_t*>(c), c_rows, c_cols, static_cast<uint16_t*>(y), rows, cols);
  else if (element_bytes == 4)
    broadcast_matrix_kernel<uint32_t><<<blocks_for(total), kThreads, 0, stream>>>(
        static_cast<const uint32_t*>(c), c_rows, c_cols, static_cast<uint32_t*>(y), rows, cols);
  else
    return cudaErrorInvalidValue;
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace normrt
