// The normrt IR: a graph of nodes that name their input and output values. No ONNX types appear here; the
// importer translates protobuf into these structures and everything after import works on them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "normrt/error.h"
#include "normrt/tensor.h"

namespace normrt {

// One dimension of a shape that may not be known before run time. A known dim has value >= 0; an unknown
// dim has value -1 and, when the model named it ("batch", "height"), that symbol.
struct Dim {
  int64_t value = -1;
  std::string symbol;

  Dim() = default;
  Dim(int64_t v) : value(v) {}  // NOLINT: a plain number is a known dim
  static Dim unknown(std::string symbol = {}) {
    Dim d;
    d.symbol = std::move(symbol);
    return d;
  }
  bool known() const { return value >= 0; }
  bool operator==(const Dim& o) const { return value == o.value && (known() || symbol == o.symbol); }
  bool operator!=(const Dim& o) const { return !(*this == o); }
};

// A shape whose rank may itself be unknown (has_rank == false).
struct Shape {
  bool has_rank = false;
  std::vector<Dim> dims;

  Shape() = default;
  explicit Shape(std::vector<Dim> d) : has_rank(true), dims(std::move(d)) {}
  static Shape from_dims(const Dims& d);
  size_t rank() const { return dims.size(); }
  bool fully_known() const;
  Dims concrete() const;           // requires fully_known()
  std::string to_string() const;  // "[batch,3,224,224]" or "[?]" for unknown rank
};

struct ValueInfo {
  std::string name;
  DataType dtype = DataType::kUndefined;
  Shape shape;
};

enum class AttributeType { kFloat, kInt, kString, kTensor, kFloats, kInts, kStrings, kGraph };
const char* attribute_type_name(AttributeType type);

struct Attribute {
  AttributeType type = AttributeType::kInt;
  float f = 0;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
};

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;  // "" is the default ONNX domain
  std::vector<std::string> inputs;  // "" marks an omitted optional input
  std::vector<std::string> outputs;
  std::map<std::string, Attribute> attributes;

  // "node 'conv1' (Conv)" for messages.
  std::string describe() const;

  bool has_attribute(const std::string& key) const { return attributes.count(key) != 0; }
  // Typed getters: a present attribute of the wrong type is an error that names node and attribute.
  int64_t attr_int(const std::string& key, int64_t fallback) const;
  int64_t attr_int(const std::string& key) const;  // required
  float attr_float(const std::string& key, float fallback) const;
  std::string attr_string(const std::string& key, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(const std::string& key, const std::vector<int64_t>& fallback = {}) const;
  std::vector<float> attr_floats(const std::string& key, const std::vector<float>& fallback = {}) const;
  const Tensor& attr_tensor(const std::string& key) const;

  // Input i when present, "" otherwise.
  const std::string& input(size_t i) const;
  bool has_input(size_t i) const { return i < inputs.size() && !inputs[i].empty(); }
};

struct Graph {
  std::string name;
  std::vector<ValueInfo> inputs;   // model inputs, initializers excluded, in declared order
  std::vector<ValueInfo> outputs;  // in declared order: this is the order results come back in
  std::vector<Node> nodes;         // topologically sorted
  std::map<std::string, Tensor> initializers;
  std::map<std::string, ValueInfo> value_info;  // inferred or declared types of intermediate values
  std::map<std::string, int64_t> opsets;        // domain -> version; "" is ai.onnx

  int64_t opset(const std::string& domain = "") const;
  const ValueInfo* find_input(const std::string& name) const;
  bool is_initializer(const std::string& name) const { return initializers.count(name) != 0; }

  // Checks that every node input is produced before it is used (by a graph input, an initializer or an
  // earlier node), that no value is produced twice and that every graph output is produced.
  void verify() const;
  // Reorders nodes topologically; throws on a cycle naming a node on it.
  void sort_topologically();
};

}  // namespace normrt
