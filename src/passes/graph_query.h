// Small read-only queries passes use to match patterns: who produces a value, who reads it, what constant
// it holds. Built once per pass run; a pass that rewrites rebuilds it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace normrt {

class GraphQuery {
 public:
  explicit GraphQuery(const Graph& graph);

  // The node that produces `value`, or nullptr for graph inputs and initializers.
  const Node* producer(const std::string& value) const;
  size_t producer_index(const std::string& value) const;  // SIZE_MAX when none
  // The nodes that read `value` (a node reading it twice appears twice).
  const std::vector<size_t>& readers(const std::string& value) const;
  bool is_graph_output(const std::string& value) const;
  // Read by exactly one node input and not a graph output: safe to fold into that reader.
  bool has_single_use(const std::string& value) const;
  const Tensor* constant(const std::string& value) const;
  // A constant's values as doubles (any numeric dtype), false if `value` is not a constant.
  bool constant_values(const std::string& value, std::vector<double>* out) const;

 private:
  const Graph& graph_;
  std::map<std::string, size_t> producer_;
  std::map<std::string, std::vector<size_t>> readers_;
  std::map<std::string, int> output_uses_;
};

}  // namespace normrt
