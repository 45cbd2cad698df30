// Helpers for the tests of the elementwise op files (elementwise, unary, activation, compare, cast, softmax):
// tensors of any dtype from values or random ranges, numpy broadcasting written independently of the library,
// and shape-function calls on symbolic shapes. (tests/test_util.h has float32 and int64 helpers only.)
#pragma once

#include <algorithm>
#include <random>
#include <vector>

#include "test_util.h"

namespace normrt::test::elementwise {

template <typename T>
Tensor typed_tensor(DataType dtype, const Dims& dims, const std::vector<T>& values) {
  Tensor t(dtype, dims);
  EXPECT_EQ(static_cast<int64_t>(values.size()), t.numel());
  for (size_t i = 0; i < values.size(); ++i)
    set_element_from_double(t, static_cast<int64_t>(i), static_cast<double>(values[i]));
  return t;
}

inline Tensor int_tensor(DataType dtype, const Dims& dims, int64_t low, int64_t high) {
  Tensor t(dtype, dims);
  std::uniform_int_distribution<int64_t> dist(low, high);
  for (int64_t i = 0; i < t.numel(); ++i) set_element_from_double(t, i, static_cast<double>(dist(rng())));
  return t;
}

inline Tensor random_of(DataType dtype, const Dims& dims, float low = -1.0f, float high = 1.0f) {
  Tensor f = random_tensor(dims, low, high);
  if (dtype == DataType::kFloat32) return f;
  Tensor t(dtype, dims);
  for (int64_t i = 0; i < t.numel(); ++i) set_element_from_double(t, i, f.data<float>()[i]);
  return t;
}

inline std::vector<double> values_of(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(element_as_double(t, i));
  return v;
}

// Numpy broadcast of two shapes, written independently of the library's helpers.
inline Dims naive_broadcast(const Dims& a, const Dims& b) {
  const size_t rank = std::max(a.size(), b.size());
  Dims out(rank);
  for (size_t k = 0; k < rank; ++k) {
    int64_t da = k < a.size() ? a[a.size() - 1 - k] : 1;
    int64_t db = k < b.size() ? b[b.size() - 1 - k] : 1;
    out[rank - 1 - k] = da == 1 ? db : da;
  }
  return out;
}

// The linear index in a tensor of dims `in` that output element `o` (of dims `out`) reads under broadcasting.
inline int64_t source_index(const Dims& in, const Dims& out, int64_t o) {
  int64_t index = 0, stride = 1;
  for (size_t k = 0; k < out.size(); ++k) {
    const size_t axis = out.size() - 1 - k;
    const int64_t coord = o % out[axis];
    o /= out[axis];
    if (k < in.size()) {
      const int64_t d = in[in.size() - 1 - k];
      if (d != 1) index += coord * stride;
      stride *= d;
    }
  }
  return index;
}

// Runs only the shape function, on possibly symbolic shapes.
inline std::vector<TypeShape> infer(const Node& node, const std::vector<TypeShape>& inputs,
                                              int64_t opset = 17) {
  InferContext ctx(node, opset);
  ctx.inputs = inputs;
  ctx.values.assign(inputs.size(), nullptr);
  const OpSchema* schema = find_schema(node);
  EXPECT_NE(schema, nullptr) << node.op_type;
  if (schema) schema->infer(ctx);
  return ctx.outputs;
}

inline Shape sym(std::vector<Dim> dims) { return Shape(std::move(dims)); }

}  // namespace normrt::test::elementwise
