// Helpers shared by the tests: random tensors, single-node execution, comparison against a reference.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "node_builder.h"
#include "ops/evaluate.h"
#include "ops/shape_util.h"

namespace normrt::test {

inline std::mt19937& rng() {
  static std::mt19937 generator(std::random_device{}());
  return generator;
}

inline Tensor random_tensor(const Dims& dims, float low = -1.0f, float high = 1.0f) {
  Tensor t(DataType::kFloat32, dims);
  std::uniform_real_distribution<float> dist(low, high);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng());
  return t;
}

inline Tensor int64_tensor(const std::vector<int64_t>& values, Dims dims = {}) {
  if (dims.empty() && values.size() != 1) dims = {static_cast<int64_t>(values.size())};
  Tensor t(DataType::kInt64, dims);
  for (size_t i = 0; i < values.size(); ++i) t.data<int64_t>()[i] = values[i];
  return t;
}

inline Tensor float_tensor(const std::vector<float>& values, Dims dims) {
  Tensor t(DataType::kFloat32, dims);
  for (size_t i = 0; i < values.size(); ++i) t.data<float>()[i] = values[i];
  return t;
}

// Runs the node's reference kernel (or `kernel`) on the given inputs; nullptr marks an omitted input.
inline std::vector<Tensor> run(const Node& node, const std::vector<const Tensor*>& inputs, int64_t opset = 17,
                               KernelFunction kernel = nullptr) {
  return run_node(node, opset, inputs, kernel);
}

// max |a - b| / (1 + max |b|), the error measure of the model tests.
inline double relative_error(const Tensor& actual, const Tensor& expected) {
  EXPECT_EQ(actual.dims(), expected.dims());
  if (actual.dims() != expected.dims()) return INFINITY;
  double max_diff = 0, max_ref = 0;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    double a = element_as_double(actual, i), b = element_as_double(expected, i);
    if (std::isnan(a) != std::isnan(b)) return INFINITY;
    if (std::isnan(a)) continue;
    max_diff = std::max(max_diff, std::fabs(a - b));
    max_ref = std::max(max_ref, std::fabs(b));
  }
  return max_diff / (1.0 + max_ref);
}

// Expects `fn` to throw normrt::Error whose message contains every one of `parts`.
template <typename Fn>
void expect_error(Fn&& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected a normrt::Error mentioning '" << (parts.empty() ? "" : parts[0]) << "'";
  } catch (const Error& e) {
    std::string message = e.what();
    for (const auto& p : parts) EXPECT_NE(message.find(p), std::string::npos) << "message: " << message << "\nmissing: " << p;
  }
}

}  // namespace normrt::test
