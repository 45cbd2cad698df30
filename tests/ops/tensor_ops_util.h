// Helpers for the tests of the data-movement ops (reshape, transpose, concat/split, slice/gather, expand/tile,
// shape ops, pad): tensors of every dtype these ops move, an independent element-by-element reference built from
// a per-element index formula, and shape-function calls on symbolic shapes.
#pragma once

#include <cctype>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace normrt::test {

// The dtypes the data-movement ops must handle (they move bytes, so one per element size and then some).
inline const std::vector<DataType>& moved_dtypes() {
  static const std::vector<DataType> kDtypes = {DataType::kFloat32, DataType::kInt64, DataType::kInt32, DataType::kBool,
                                                DataType::kFloat16};
  return kDtypes;
}

// Random values that every dtype represents exactly: integers in [-60, 60] (0/1 for bool).
inline Tensor random_of(DataType dtype, const Dims& dims) {
  Tensor t(dtype, dims);
  std::uniform_int_distribution<int> dist(-60, 60);
  for (int64_t i = 0; i < t.numel(); ++i) {
    int v = dist(rng());
    set_element_from_double(t, i, dtype == DataType::kBool ? (v > 0) : v);
  }
  return t;
}

inline Tensor tensor_of(DataType dtype, const Dims& dims, const std::vector<double>& values) {
  Tensor t(dtype, dims);
  EXPECT_EQ(static_cast<int64_t>(values.size()), t.numel());
  for (int64_t i = 0; i < t.numel() && i < static_cast<int64_t>(values.size()); ++i)
    set_element_from_double(t, i, values[i]);
  return t;
}

inline Tensor ints_tensor(DataType dtype, const std::vector<int64_t>& values) {
  Tensor t(dtype, {static_cast<int64_t>(values.size())});
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DataType::kInt64)
      t.data<int64_t>()[i] = values[i];
    else
      t.data<int32_t>()[i] = static_cast<int32_t>(values[i]);
  }
  return t;
}
inline Tensor i64(const std::vector<int64_t>& values) { return ints_tensor(DataType::kInt64, values); }
inline Tensor i32(const std::vector<int64_t>& values) { return ints_tensor(DataType::kInt32, values); }
inline Tensor scalar_of(DataType dtype, double v) { return tensor_of(dtype, {}, {v}); }

inline std::vector<double> values_of(const Tensor& t) {
  std::vector<double> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = element_as_double(t, i);
  return v;
}

inline Dims unravel(int64_t linear, const Dims& dims) {
  Dims index(dims.size());
  for (size_t a = dims.size(); a-- > 0;) {
    index[a] = linear % dims[a];
    linear /= dims[a];
  }
  return index;
}

inline int64_t ravel(const Dims& index, const Dims& dims) {
  int64_t linear = 0;
  for (size_t a = 0; a < dims.size(); ++a) linear = linear * dims[a] + index[a];
  return linear;
}

// The independent reference: out[i] = x[source(i)] for every output multi-index i, or `fill` where source
// returns false. Copies bytes, so it works for every dtype.
inline Tensor map_elements(const Tensor& x, DataType dtype, const Dims& out_dims,
                           const std::function<bool(const Dims& out_index, Dims* in_index)>& source, double fill = 0) {
  Tensor y(dtype, out_dims);
  const size_t size = dtype_size(dtype);
  for (int64_t i = 0; i < y.numel(); ++i) {
    Dims in_index;
    if (source(unravel(i, out_dims), &in_index)) {
      const int64_t from = ravel(in_index, x.dims());
      EXPECT_TRUE(from >= 0 && from < x.numel()) << "reference reads outside the input";
      std::memcpy(static_cast<unsigned char*>(y.raw()) + i * size,
                  static_cast<const unsigned char*>(x.raw()) + from * size, size);
    } else {
      set_element_from_double(y, i, fill);
    }
  }
  return y;
}

// Same dtype, dims and bytes.
inline void expect_same(const Tensor& actual, const Tensor& expected, const std::string& what = "") {
  ASSERT_EQ(dtype_name(actual.dtype()), std::string(dtype_name(expected.dtype()))) << what;
  ASSERT_EQ(dims_to_string(actual.dims()), dims_to_string(expected.dims())) << what;
  ASSERT_EQ(std::memcmp(actual.raw(), expected.raw(), expected.nbytes()), 0) << what;
}

// "batch,3,?" -> [batch,3,?] ("?" is unknown, a name is a symbol, "" is a scalar); "*" is unknown rank.
inline Shape shape_of(const std::string& spec) {
  if (spec == "*") return Shape();
  std::vector<Dim> dims;
  std::stringstream in(spec);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item == "?")
      dims.push_back(Dim::unknown());
    else if (!item.empty() && (std::isdigit(static_cast<unsigned char>(item[0])) != 0))
      dims.push_back(Dim(std::stoll(item)));
    else
      dims.push_back(Dim::unknown(item));
  }
  return Shape(dims);
}

inline TypeShape ts(DataType dtype, const std::string& spec) { return TypeShape{dtype, shape_of(spec)}; }
inline TypeShape ts_of(const Tensor& t) { return TypeShape{t.dtype(), Shape::from_dims(t.dims())}; }

// Runs the node's shape function on the given (possibly symbolic) input types and the input values that are
// known (nullptr where unknown; missing entries are unknown). A TypeShape with kUndefined marks an omitted input.
struct Inferred {
  std::vector<TypeShape> outputs;
  std::vector<Tensor> values;
  std::string shape(size_t i = 0) const { return outputs.at(i).shape.to_string(); }
  DataType dtype(size_t i = 0) const { return outputs.at(i).dtype; }
  bool has_value(size_t i = 0) const { return i < values.size() && !values[i].empty(); }
};

inline Inferred infer(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs,
                      std::vector<const Tensor*> values = {}) {
  InferContext ctx(node, opset);
  ctx.inputs = inputs;
  values.resize(inputs.size(), nullptr);
  ctx.values = values;
  const OpSchema* schema = find_schema(node);
  if (!schema) throw Error(ErrorCode::kUnsupportedOp, node.describe() + " has no schema");
  schema->infer(ctx);
  return Inferred{ctx.outputs, ctx.output_values};
}

}  // namespace normrt::test
