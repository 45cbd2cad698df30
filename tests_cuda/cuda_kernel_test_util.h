// Runs one registered CUDA kernel on one node, from host tensors to host tensors, so that kernel tests can
// compare it with the op's CPU reference (run_node) on the same random inputs.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cuda/cuda_kernel.h"

namespace normrt {
namespace cuda {
namespace testing {

// Whether a CUDA device is present; tests start with NORMRT_REQUIRE_GPU().
bool gpu_available();
#define NORMRT_REQUIRE_GPU() \
  if (!::normrt::cuda::testing::gpu_available()) GTEST_SKIP() << "no CUDA device"

// Checks that `kernel_name` accepts the node at the inputs' (concrete) shapes, infers the outputs with the
// op's shape function, uploads the inputs (those in host_inputs stay on the host too), runs the kernel (after
// tune() when it has one and `config` is empty) on a fresh stream with fresh cuDNN/cuBLAS handles,
// synchronizes and returns the outputs. Throws normrt::Error for any failure.
// When it tunes and `tuned` is given, *tuned is tune()'s choice.
std::vector<Tensor> run_cuda_node(const std::string& kernel_name, const Node& node, int64_t opset,
                                  const std::vector<const Tensor*>& inputs, const std::string& config = "",
                                  std::string* tuned = nullptr);

// The CPU reference on the same inputs (run_node with the op's reference kernel).
std::vector<Tensor> run_reference(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs);

// Max |a - b| <= atol + rtol * |b| elementwise (any float dtype, compared in double; integers and bools must
// be equal). Returns "" when close, else a description of the worst element.
std::string compare_tensors(const Tensor& got, const Tensor& want, double atol, double rtol);

}  // namespace testing
}  // namespace cuda
}  // namespace normrt
