// Small graphs for kernel tests: a node with numbered inputs and outputs, its attributes, graph values. Shared by the CPU
// tests (test_util.h) and the GPU tests (tests_cuda/).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"

namespace normrt::test {

// A float32 graph input or output; each Dim a fixed size (fixed_dim) or a named symbol (symbol_dim).
inline ValueInfo float_value(const std::string& name, std::vector<Dim> dims) {
  ValueInfo v;
  v.name = name;
  v.dtype = DataType::kFloat32;
  v.shape.has_rank = true;
  v.shape.dims = std::move(dims);
  return v;
}
inline Dim fixed_dim(int64_t v) {
  Dim d;
  d.value = v;
  return d;
}
inline Dim symbol_dim(const std::string& s) {
  Dim d;
  d.symbol = s;
  return d;
}

// A node of `op_type` with inputs in0.. and outputs out0..
inline Node make_node(const std::string& op_type, size_t inputs, size_t outputs = 1) {
  Node n;
  n.op_type = op_type;
  n.name = op_type + "_test";
  for (size_t i = 0; i < inputs; ++i) n.inputs.push_back("in" + std::to_string(i));
  for (size_t i = 0; i < outputs; ++i) n.outputs.push_back("out" + std::to_string(i));
  return n;
}

inline void set_int(Node& n, const std::string& key, int64_t v) {
  Attribute a;
  a.type = AttributeType::kInt;
  a.i = v;
  n.attributes[key] = a;
}
inline void set_float(Node& n, const std::string& key, float v) {
  Attribute a;
  a.type = AttributeType::kFloat;
  a.f = v;
  n.attributes[key] = a;
}
inline void set_ints(Node& n, const std::string& key, std::vector<int64_t> v) {
  Attribute a;
  a.type = AttributeType::kInts;
  a.ints = std::move(v);
  n.attributes[key] = a;
}
inline void set_floats(Node& n, const std::string& key, std::vector<float> v) {
  Attribute a;
  a.type = AttributeType::kFloats;
  a.floats = std::move(v);
  n.attributes[key] = a;
}
inline void set_string(Node& n, const std::string& key, const std::string& v) {
  Attribute a;
  a.type = AttributeType::kString;
  a.s = v;
  n.attributes[key] = a;
}

}  // namespace normrt::test
