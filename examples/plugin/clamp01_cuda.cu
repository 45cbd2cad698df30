// Clamp01's GPU kernel (see clamp01.cpp). Plain CUDA runtime calls only: the library links the shared CUDA
// runtime, not normrt.
#include <cuda_runtime.h>

#include <cstddef>

namespace {

__global__ void clamp01_kernel(const float* __restrict__ x, float* __restrict__ y, size_t count) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) {
    const float v = x[i];
    y[i] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;  // NaN stays NaN, as on the CPU
  }
}

}  // namespace

const char* clamp01_cuda(const float* x, float* y, size_t count, void* stream) {
  if (count == 0) return nullptr;
  constexpr unsigned kThreads = 256;
  // Enough blocks to fill a large GPU; the grid-stride loop covers the rest.
  const size_t wanted = (count + kThreads - 1) / kThreads;
  const unsigned blocks = static_cast<unsigned>(wanted < 4096 ? wanted : 4096);
  clamp01_kernel<<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(x, y, count);
  cudaError_t status = cudaGetLastError();
  return status == cudaSuccess ? nullptr : cudaGetErrorString(status);
}
