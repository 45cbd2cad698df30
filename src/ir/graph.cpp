#include "ir/graph.h"

#include <set>

namespace normrt {

Shape Shape::from_dims(const Dims& d) {
  std::vector<Dim> dims(d.begin(), d.end());
  return Shape(std::move(dims));
}

bool Shape::fully_known() const {
  if (!has_rank) return false;
  for (const Dim& d : dims)
    if (!d.known()) return false;
  return true;
}

Dims Shape::concrete() const {
  if (!fully_known()) throw Error(ErrorCode::kInternal, "shape " + to_string() + " is not fully known");
  Dims out;
  for (const Dim& d : dims) out.push_back(d.value);
  return out;
}

std::string Shape::to_string() const {
  if (!has_rank) return "[?]";
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ",";
    if (dims[i].known())
      s += std::to_string(dims[i].value);
    else
      s += dims[i].symbol.empty() ? "?" : dims[i].symbol;
  }
  return s + "]";
}

const char* attribute_type_name(AttributeType type) {
  switch (type) {
    case AttributeType::kFloat: return "FLOAT";
    case AttributeType::kInt: return "INT";
    case AttributeType::kString: return "STRING";
    case AttributeType::kTensor: return "TENSOR";
    case AttributeType::kFloats: return "FLOATS";
    case AttributeType::kInts: return "INTS";
    case AttributeType::kStrings: return "STRINGS";
    case AttributeType::kGraph: return "GRAPH";
  }
  return "?";
}

std::string Node::describe() const {
  std::string d = "node '" + name + "' (";
  if (!domain.empty()) d += domain + "::";
  return d + op_type + ")";
}

namespace {
const Attribute* find_typed(const Node& node, const std::string& key, AttributeType type) {
  auto it = node.attributes.find(key);
  if (it == node.attributes.end()) return nullptr;
  if (it->second.type != type)
    throw Error(ErrorCode::kInvalidModel, "attribute '" + key + "' of " + node.describe() + " must be " +
                                              attribute_type_name(type) + " but is " +
                                              attribute_type_name(it->second.type));
  return &it->second;
}
}  // namespace

int64_t Node::attr_int(const std::string& key, int64_t fallback) const {
  const Attribute* a = find_typed(*this, key, AttributeType::kInt);
  return a ? a->i : fallback;
}

int64_t Node::attr_int(const std::string& key) const {
  const Attribute* a = find_typed(*this, key, AttributeType::kInt);
  if (!a) throw Error(ErrorCode::kInvalidModel, describe() + " is missing its required attribute '" + key + "'");
  return a->i;
}

float Node::attr_float(const std::string& key, float fallback) const {
  const Attribute* a = find_typed(*this, key, AttributeType::kFloat);
  return a ? a->f : fallback;
}

std::string Node::attr_string(const std::string& key, const std::string& fallback) const {
  const Attribute* a = find_typed(*this, key, AttributeType::kString);
  return a ? a->s : fallback;
}

std::vector<int64_t> Node::attr_ints(const std::string& key, const std::vector<int64_t>& fallback) const {
  const Attribute* a = find_typed(*this, key, AttributeType::kInts);
  return a ? a->ints : fallback;
}

std::vector<float> Node::attr_floats(const std::string& key, const std::vector<float>& fallback) const {
  const Attribute* a = find_typed(*this, key, AttributeType::kFloats);
  return a ? a->floats : fallback;
}

const Tensor& Node::attr_tensor(const std::string& key) const {
  const Attribute* a = find_typed(*this, key, AttributeType::kTensor);
  if (!a) throw Error(ErrorCode::kInvalidModel, describe() + " is missing its required attribute '" + key + "'");
  return a->t;
}

const std::string& Node::input(size_t i) const {
  static const std::string kNone;
  return i < inputs.size() ? inputs[i] : kNone;
}

int64_t Graph::opset(const std::string& domain) const {
  auto it = opsets.find(domain);
  return it == opsets.end() ? 0 : it->second;
}

const ValueInfo* Graph::find_input(const std::string& n) const {
  for (const auto& in : inputs)
    if (in.name == n) return &in;
  return nullptr;
}

void Graph::verify() const {
  std::set<std::string> available;
  for (const auto& in : inputs) {
    if (!available.insert(in.name).second)
      throw Error(ErrorCode::kInvalidModel, "graph input '" + in.name + "' is declared twice");
  }
  for (const auto& [n, t] : initializers) available.insert(n);
  for (const Node& node : nodes) {
    for (const auto& in : node.inputs)
      if (!in.empty() && !available.count(in))
        throw Error(ErrorCode::kInvalidModel, node.describe() + " reads '" + in +
                                                  "', which no graph input, initializer or earlier node produces");
    for (const auto& out : node.outputs) {
      if (out.empty()) continue;
      if (!available.insert(out).second)
        throw Error(ErrorCode::kInvalidModel, "value '" + out + "' is produced twice (again by " + node.describe() + ")");
    }
  }
  std::set<std::string> seen_outputs;
  for (const auto& out : outputs) {
    if (!available.count(out.name))
      throw Error(ErrorCode::kInvalidModel, "graph output '" + out.name + "' is never produced");
    if (!seen_outputs.insert(out.name).second)
      throw Error(ErrorCode::kInvalidModel, "graph output '" + out.name + "' is declared twice");
  }
}

void Graph::sort_topologically() {
  // Kahn's algorithm, iterative so that deep graphs cannot overflow the stack.
  std::map<std::string, size_t> producer;
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const auto& out : nodes[i].outputs)
      if (!out.empty()) producer[out] = i;
  std::vector<size_t> pending(nodes.size(), 0);
  std::vector<std::vector<size_t>> users(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    std::set<size_t> deps;
    for (const auto& in : nodes[i].inputs) {
      auto it = producer.find(in);
      if (!in.empty() && it != producer.end()) deps.insert(it->second);
    }
    pending[i] = deps.size();
    for (size_t d : deps) users[d].push_back(i);
  }
  std::vector<size_t> ready, order;
  for (size_t i = nodes.size(); i-- > 0;)
    if (pending[i] == 0) ready.push_back(i);
  while (!ready.empty()) {
    size_t i = ready.back();
    ready.pop_back();
    order.push_back(i);
    for (auto it = users[i].rbegin(); it != users[i].rend(); ++it)
      if (--pending[*it] == 0) ready.push_back(*it);
  }
  if (order.size() != nodes.size()) {
    for (size_t i = 0; i < nodes.size(); ++i)
      if (pending[i] != 0)
        throw Error(ErrorCode::kInvalidModel, "the graph has a cycle through " + nodes[i].describe());
  }
  std::vector<Node> sorted;
  sorted.reserve(nodes.size());
  for (size_t i : order) sorted.push_back(std::move(nodes[i]));
  nodes = std::move(sorted);
}

}  // namespace normrt
