// Graph passes: each rewrite lives in its own file, checks every precondition explicitly and records what it
// did (and, for candidates it refused, why). The records feed `normrt fuse --report` and build logs.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace normrt {

struct PassRecord {
  std::string pass;         // "constant_folding", "norm_activation_fusion", ...
  bool applied = false;     // false: a candidate that was refused
  std::string description;  // which nodes became which, or why the candidate was refused
};

struct PassReport {
  std::vector<PassRecord> records;
  void applied(const std::string& pass, const std::string& description) { records.push_back({pass, true, description}); }
  void refused(const std::string& pass, const std::string& description) { records.push_back({pass, false, description}); }
};

// Counts how many nodes read each value, graph outputs counting as readers too.
std::map<std::string, int> count_uses(const Graph& graph);

// Folds every node whose inputs are all known into initializers (shape arithmetic included, through the ops'
// shape functions); removes nodes whose outputs nobody reads.
void fold_constants(Graph& graph, PassReport& report);
void eliminate_dead_nodes(Graph& graph, PassReport& report);
// Replaces PyTorch's exported GroupNorm subgraph (Reshape -> InstanceNormalization -> Reshape -> Mul -> Add)
// by one ai.normrt::GroupNorm node (src/passes/group_norm_fusion.cpp).
void fuse_group_norm(Graph& graph, PassReport& report);
// Fuses an activation that is the only reader of a normalization's output into the normalization node.
void fuse_norm_activation(Graph& graph, PassReport& report);

// Everything the builder runs, in order.
void optimize(Graph& graph, PassReport& report);

}  // namespace normrt
