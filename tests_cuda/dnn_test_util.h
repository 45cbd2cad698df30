// Helpers of the cuDNN / cuBLAS kernel tests (dnn_*_test.cpp): random tensors in a storage type, nodes, and one
// check that runs a CUDA kernel and the CPU reference on the same inputs.
//
// Tolerances (|got - want| <= atol + rtol * |want|):
//  - fp32: atol = rtol = 1e-4 for reductions up to 64 terms, atol growing with sqrt(terms / 64) beyond (a sum of
//    R terms of O(1) values has O(sqrt(R)) magnitude; fp32 rounding, and cuDNN's Winograd/FFT transforms, err in
//    proportion to that magnitude).
//  - fp16 storage: inputs are fp16 values (the reference sees the same values), the kernels accumulate in fp32, and
//    the output is rounded to fp16 (relative spacing 2^-10): rtol = 4e-3 and atol = 4e-3 * max(1, sqrt(R / 64)),
//    about 8 half-ulps, which also covers algorithms that keep transformed operands in fp16.
#pragma once

#include <cmath>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cuda_kernel_test_util.h"
#include "node_builder.h"
#include "ops/shape_util.h"

namespace normrt {
namespace cuda {
namespace testing {

inline std::mt19937& dnn_rng() {
  static std::mt19937 generator(std::random_device{}());
  return generator;
}

inline Tensor random_tensor(::normrt::DataType dtype, const Dims& dims, double low = -1.0, double high = 1.0) {
  Tensor t(dtype, dims);
  std::uniform_real_distribution<double> dist(low, high);
  for (int64_t i = 0; i < t.numel(); ++i) set_element_from_double(t, i, dist(dnn_rng()));
  return t;
}

using namespace ::normrt::test;  // make_node, set_int, ... (node_builder.h)

struct Tolerance {
  double atol, rtol;
};

// The tolerance for a reduction over `terms` products in `dtype` (see the file comment).
inline Tolerance tolerance_for(::normrt::DataType dtype, int64_t terms) {
  const double growth = std::max(1.0, std::sqrt(static_cast<double>(terms) / 64.0));
  if (dtype == ::normrt::DataType::kFloat16) return {4e-3 * growth, 4e-3};
  return {1e-4 * growth, 1e-4};
}

inline std::string describe_inputs(const std::vector<const Tensor*>& inputs) {
  std::ostringstream s;
  for (const Tensor* t : inputs) s << (t ? "[" + dims_to_string(t->dims()) + "] " : "- ");
  return s.str();
}

// Runs `kernel` (tuned first unless `config` is given) and the reference; "" when they agree.
inline std::string check_node(const std::string& kernel, const Node& node, const std::vector<const Tensor*>& inputs,
                              Tolerance tol, const std::string& config = "", int64_t opset = 17) {
  std::vector<Tensor> got, want;
  try {
    got = run_cuda_node(kernel, node, opset, inputs, config);
  } catch (const std::exception& e) {
    return "CUDA kernel failed on " + describe_inputs(inputs) + ": " + e.what();
  }
  want = run_reference(node, opset, inputs);
  for (size_t i = 0; i < want.size(); ++i) {
    const std::string diff = compare_tensors(got[i], want[i], tol.atol, tol.rtol);
    if (!diff.empty()) return "inputs " + describe_inputs(inputs) + "config '" + config + "': " + diff;
  }
  return "";
}

}  // namespace testing
}  // namespace cuda
}  // namespace normrt
