// Device copies the cuDNN/cuBLAS kernels need around the library calls: a window copy that pads (explicit
// asymmetric padding cuDNN cannot express) or crops (ConvTranspose with asymmetric pads), and a broadcast of
// Gemm's C to the output. Type-agnostic (2- or 4-byte elements); plain launch API, asynchronous on `stream`.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace normrt {
namespace cuda {

// out[n][c][o0][o1][o2] = in[n][c][o0 + shift0][o1 + shift1][o2 + shift2] where that lies inside `in`, else the
// element whose bits are `fill_bits`. Dims are [N, C, D, H, W] (absent spatial axes have extent 1).
struct WindowCopyArgs {
  const void* in = nullptr;
  void* out = nullptr;
  int64_t in_dims[5] = {1, 1, 1, 1, 1};
  int64_t out_dims[5] = {1, 1, 1, 1, 1};
  int64_t shift[3] = {0, 0, 0};
  uint32_t fill_bits = 0;
  int element_bytes = 4;  // 2 or 4
};
cudaError_t window_copy(const WindowCopyArgs& args, cudaStream_t stream);

// y[i][j] = c[c_rows == 1 ? 0 : i][c_cols == 1 ? 0 : j] for a [rows, cols] row-major y.
cudaError_t broadcast_matrix(const void* c, int64_t c_rows, int64_t c_cols, void* y, int64_t rows, int64_t cols,
                             int element_bytes, cudaStream_t stream);

// The operand addresses of a batched GEMM over up to kMaxGemmBatchAxes batch axes with arbitrary byte strides:
// for batch index i (row-major over `extent`), a[i], b[i] and y[i] get their base plus the strided offsets.
// Written on the device, so a captured graph replays it.
constexpr int kMaxGemmBatchAxes = 4;
struct GemmPointerArgs {
  const char* a = nullptr;
  const char* b = nullptr;
  char* y = nullptr;
  int axes = 0;
  int64_t extent[kMaxGemmBatchAxes] = {};
  int64_t step_a[kMaxGemmBatchAxes] = {}, step_b[kMaxGemmBatchAxes] = {}, step_y[kMaxGemmBatchAxes] = {};  // bytes
};
cudaError_t gemm_pointer_arrays(const GemmPointerArgs& args, const void** a, const void** b, void** y,
                                cudaStream_t stream);

// The operand addresses of a batched GEMM whose operands are unrelated buffers (ai.normrt MatMulGroup's
// weights and outputs), passed by value and written on the device like gemm_pointer_arrays.
constexpr int kMaxGemmPointerList = 8;
struct GemmPointerList {
  int count = 0;
  const void* a[kMaxGemmPointerList] = {};
  const void* b[kMaxGemmPointerList] = {};
  void* y[kMaxGemmPointerList] = {};
};
cudaError_t gemm_pointer_list(const GemmPointerList& list, const void** a, const void** b, void** y,
                              cudaStream_t stream);

}  // namespace cuda
}  // namespace normrt
