// Helpers of the op kernel tests (ops_*_test.cpp): nodes, random tensors of any dtype, and one check that runs
// a CUDA kernel and the CPU reference on the same inputs and compares them with a tolerance per output dtype.
//
// Tolerances: float32 |got - want| <= 1e-5 + 1e-5 |want| by default (transcendentals and fp32 accumulation
// differ from the reference's double by a few ulps); float16 2e-3 + 2e-3 |want| (two half-ulps: both sides
// compute in fp32 and round once, so a 1-ulp difference remains where the fp32 results straddle a rounding
// boundary); integers and bools exactly. The fp16 reference runs on the same fp16 inputs.
#pragma once

#include <gtest/gtest.h>

#include <any>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "cuda_kernel_test_util.h"
#include "node_builder.h"
#include "ops/evaluate.h"
#include "ops/shape_util.h"

namespace normrt {
namespace cuda {
namespace testing {

// NORMRT_OPS_REFERENCE_ONLY=1 runs every case without a GPU as far as it can: the reference on the inputs and
// the kernel's accepts(), which catches malformed cases and refusals on the build machine.
inline bool reference_only() { return std::getenv("NORMRT_OPS_REFERENCE_ONLY") != nullptr; }
#define NORMRT_OPS_REQUIRE_GPU()                                                               \
  if (!::normrt::cuda::testing::gpu_available() && !::normrt::cuda::testing::reference_only()) \
  GTEST_SKIP() << "no CUDA device"

inline std::mt19937& test_rng() {
  static std::mt19937 generator(20261125);
  return generator;
}

using namespace ::normrt::test;  // make_node, set_int, ... (node_builder.h)

inline bool is_float(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kFloat64 || t == DataType::kBFloat16;
}

// Uniform in [low, high]: real for float dtypes (rounded to the dtype), integers otherwise, 0/1 for bool.
inline Tensor random_tensor(DataType dtype, const Dims& dims, double low = -1.0, double high = 1.0) {
  Tensor t(dtype, dims);
  std::uniform_real_distribution<double> real(low, high);
  std::uniform_int_distribution<int64_t> integer(static_cast<int64_t>(std::ceil(low)),
                                                 static_cast<int64_t>(std::floor(high)));
  std::bernoulli_distribution coin(0.5);
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v;
    if (dtype == DataType::kBool)
      v = coin(test_rng()) ? 1 : 0;
    else if (is_float(dtype))
      v = real(test_rng());
    else
      v = static_cast<double>(integer(test_rng()));
    set_element_from_double(t, i, v);
  }
  return t;
}

// Integer values in [low, high] stored in any dtype (float dtypes too: ties for comparisons and ArgMax).
inline Tensor random_integers(DataType dtype, const Dims& dims, int64_t low, int64_t high) {
  Tensor t(dtype, dims);
  std::uniform_int_distribution<int64_t> integer(low, high);
  for (int64_t i = 0; i < t.numel(); ++i) set_element_from_double(t, i, static_cast<double>(integer(test_rng())));
  return t;
}

inline Tensor ints_tensor(const std::vector<int64_t>& values, DataType dtype = DataType::kInt64) {
  Tensor t(dtype, {static_cast<int64_t>(values.size())});
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DataType::kInt64)
      t.data<int64_t>()[i] = values[i];  // exact: INT64_MAX does not survive a trip through double
    else
      set_element_from_double(t, static_cast<int64_t>(i), static_cast<double>(values[i]));
  }
  return t;
}

inline Tensor floats_tensor(const std::vector<double>& values, DataType dtype = DataType::kFloat32) {
  Tensor t(dtype, {static_cast<int64_t>(values.size())});
  for (size_t i = 0; i < values.size(); ++i) set_element_from_double(t, static_cast<int64_t>(i), values[i]);
  return t;
}

inline Tensor scalar_tensor(DataType dtype, double value) {
  Tensor t(dtype, {});
  set_element_from_double(t, 0, value);
  return t;
}

struct Tolerance {
  double f32_abs = 1e-5, f32_rel = 1e-5, f16_abs = 2e-3, f16_rel = 2e-3;
};

inline std::string describe_inputs(const std::vector<const Tensor*>& inputs) {
  std::string s;
  for (const Tensor* t : inputs) {
    s += s.empty() ? "" : ", ";
    s += t ? std::string(dtype_name(t->dtype())) + "[" + dims_to_string(t->dims()) + "]" : "-";
  }
  return s;
}

// compare_tensors, except that equal values always match: the shared helper computes |inf - inf| = NaN and so
// reports equal infinities (Cast of inf, the -inf identity of an empty ReduceMax) as a mismatch.
inline std::string compare_outputs(const Tensor& got, const Tensor& want, double atol, double rtol) {
  if (got.dtype() != want.dtype() || got.dims() != want.dims()) return compare_tensors(got, want, atol, rtol);
  const bool exact = !is_float(want.dtype());
  for (int64_t i = 0; i < want.numel(); ++i) {
    if (want.dtype() == DataType::kInt64 && got.data<int64_t>()[i] != want.data<int64_t>()[i])
      return "element " + std::to_string(i) + ": got " + std::to_string(got.data<int64_t>()[i]) + ", want " +
             std::to_string(want.data<int64_t>()[i]);
    const double g = element_as_double(got, i), w = element_as_double(want, i);
    if (g == w || (std::isnan(g) && std::isnan(w))) continue;
    const bool finite = std::isfinite(g) && std::isfinite(w);
    if (!exact && finite && std::fabs(g - w) <= atol + rtol * std::fabs(w)) continue;
    return "element " + std::to_string(i) + " of " + dims_to_string(want.dims()) + ": got " + std::to_string(g) +
           ", want " + std::to_string(w);
  }
  return "";
}

// run_cuda_node without the cuDNN / cuBLAS handles (these kernels use none) and with one stream for the whole
// binary: thousands of cases stay fast. Same contract: accepts() must say yes, outputs are poisoned first.
inline std::vector<Tensor> run_op_kernel(const std::string& kernel_name, const Node& node, int64_t opset,
                                         const std::vector<const Tensor*>& inputs) {
  auto check = [](cudaError_t status, const char* what) {
    if (status != cudaSuccess) throw Error(ErrorCode::kInternal, std::string(what) + ": " + cudaGetErrorString(status));
  };
  static cudaStream_t stream = [&] {
    cudaStream_t s = nullptr;
    check(cudaStreamCreate(&s), "cudaStreamCreate");
    return s;
  }();
  const CudaKernel* kernel = CudaKernelRegistry::global().find(kernel_name);
  if (!kernel) throw Error(ErrorCode::kInternal, "no CUDA kernel named '" + kernel_name + "'");
  const OpSchema* schema = find_schema(node);
  if (!schema) throw Error(ErrorCode::kInternal, node.describe() + " has no schema");
  InferContext infer(node, opset);
  infer.inputs.resize(inputs.size());
  infer.values = inputs;
  std::vector<TypeShape> types(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i]) types[i] = infer.inputs[i] = TypeShape{inputs[i]->dtype(), Shape::from_dims(inputs[i]->dims())};
  if (kernel->accepts && !kernel->accepts(node, opset, types))
    throw Error(ErrorCode::kInternal, "CUDA kernel '" + kernel_name + "' does not accept " + node.describe());
  schema->infer(infer);
  std::vector<void*> buffers;
  struct Free {
    std::vector<void*>* buffers;
    ~Free() {
      for (void* p : *buffers) cudaFree(p);
    }
  } free_buffers{&buffers};
  auto allocate = [&](size_t bytes) {
    void* p = nullptr;
    check(cudaMalloc(&p, bytes ? bytes : 1), "cudaMalloc");
    buffers.push_back(p);
    return p;
  };
  CudaKernelContext ctx(node, opset);
  for (const Tensor* t : inputs) {
    DeviceValue v;
    if (t) {
      v.dtype = t->dtype();
      v.dims = t->dims();
      v.host = t;
      v.data = allocate(t->nbytes());
      check(cudaMemcpy(v.data, t->raw(), t->nbytes(), cudaMemcpyHostToDevice), "upload");
    }
    ctx.inputs.push_back(v);
  }
  std::vector<Tensor> outputs(node.outputs.size());
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    DeviceValue v;
    if (!node.outputs[i].empty()) {
      outputs[i] = Tensor(infer.outputs[i].dtype, infer.outputs[i].shape.concrete());
      v.dtype = outputs[i].dtype();
      v.dims = outputs[i].dims();
      v.data = allocate(outputs[i].nbytes());
      check(cudaMemset(v.data, 0xff, outputs[i].nbytes()), "cudaMemset");  // unwritten elements fail the check
    }
    ctx.outputs.push_back(v);
  }
  ctx.stream = stream;
  std::any state;
  ctx.state = &state;
  kernel->run(ctx);
  check(cudaStreamSynchronize(stream), "kernel execution");
  check(cudaGetLastError(), "kernel launch");
  for (size_t i = 0; i < outputs.size(); ++i)
    if (!outputs[i].empty())
      check(cudaMemcpy(outputs[i].raw(), ctx.outputs[i].data, outputs[i].nbytes(), cudaMemcpyDeviceToHost), "download");
  return outputs;
}

// Runs `kernel` and the reference on the inputs (nullptr: omitted) and expects every output to match.
inline void expect_match(const std::string& kernel, const Node& node, int64_t opset,
                         const std::vector<const Tensor*>& inputs, Tolerance tol = {}) {
  SCOPED_TRACE(kernel + " opset " + std::to_string(opset) + " on " + describe_inputs(inputs));
  std::vector<Tensor> want, got;
  try {
    want = run_reference(node, opset, inputs);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "reference failed: " << e.what();
    return;
  }
  if (reference_only() && !gpu_available()) {
    const CudaKernel* k = CudaKernelRegistry::global().find(kernel);
    ASSERT_NE(k, nullptr) << kernel;
    std::vector<TypeShape> types(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i)
      if (inputs[i]) types[i] = TypeShape{inputs[i]->dtype(), Shape::from_dims(inputs[i]->dims())};
    EXPECT_TRUE(k->accepts(node, opset, types)) << "accepts() refuses";
    return;
  }
  try {
    got = run_op_kernel(kernel, node, opset, inputs);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "CUDA kernel failed: " << e.what();
    return;
  }
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i].empty()) continue;
    const bool half = want[i].dtype() == DataType::kFloat16;
    const std::string diff =
        compare_outputs(got[i], want[i], half ? tol.f16_abs : tol.f32_abs, half ? tol.f16_rel : tol.f32_rel);
    EXPECT_EQ(diff, "") << "output " << i;
  }
}

inline void expect_match(const std::string& kernel, const Node& node, int64_t opset, const std::vector<Tensor>& inputs,
                         Tolerance tol = {}) {
  std::vector<const Tensor*> pointers;
  for (const Tensor& t : inputs) pointers.push_back(t.empty() ? nullptr : &t);
  expect_match(kernel, node, opset, pointers, tol);
}

}  // namespace testing
}  // namespace cuda
}  // namespace normrt
