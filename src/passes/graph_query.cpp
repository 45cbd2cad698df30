#include "passes/graph_query.h"

#include "ops/shape_util.h"

namespace normrt {

GraphQuery::GraphQuery(const Graph& graph) : graph_(graph) {
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    for (const auto& out : graph.nodes[i].outputs)
      if (!out.empty()) producer_[out] = i;
    for (const auto& in : graph.nodes[i].inputs)
      if (!in.empty()) readers_[in].push_back(i);
  }
  for (const auto& out : graph.outputs) ++output_uses_[out.name];
}

const Node* GraphQuery::producer(const std::string& value) const {
  size_t i = producer_index(value);
  return i == SIZE_MAX ? nullptr : &graph_.nodes[i];
}

size_t GraphQuery::producer_index(const std::string& value) const {
  auto it = producer_.find(value);
  return it == producer_.end() ? SIZE_MAX : it->second;
}

const std::vector<size_t>& GraphQuery::readers(const std::string& value) const {
  static const std::vector<size_t> kNone;
  auto it = readers_.find(value);
  return it == readers_.end() ? kNone : it->second;
}

bool GraphQuery::is_graph_output(const std::string& value) const { return output_uses_.count(value) != 0; }

bool GraphQuery::has_single_use(const std::string& value) const {
  return readers(value).size() == 1 && !is_graph_output(value);
}

const Tensor* GraphQuery::constant(const std::string& value) const {
  auto it = graph_.initializers.find(value);
  return it == graph_.initializers.end() ? nullptr : &it->second;
}

bool GraphQuery::constant_values(const std::string& value, std::vector<double>* out) const {
  const Tensor* t = constant(value);
  if (!t) return false;
  out->resize(static_cast<size_t>(t->numel()));
  for (int64_t i = 0; i < t->numel(); ++i) (*out)[static_cast<size_t>(i)] = element_as_double(*t, i);
  return true;
}

}  // namespace normrt
