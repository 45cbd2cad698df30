// Removes nodes none of whose outputs is read, and initializers nobody reads.
#include <set>

#include "passes/pass.h"

namespace normrt {

std::map<std::string, int> count_uses(const Graph& graph) {
  std::map<std::string, int> uses;
  for (const Node& node : graph.nodes)
    for (const auto& in : node.inputs)
      if (!in.empty()) ++uses[in];
  for (const auto& out : graph.outputs) ++uses[out.name];
  return uses;
}

void eliminate_dead_nodes(Graph& graph, PassReport& report) {
  std::set<std::string> needed;
  for (const auto& out : graph.outputs) needed.insert(out.name);
  std::vector<bool> keep(graph.nodes.size(), false);
  size_t removed = 0;
  for (size_t i = graph.nodes.size(); i-- > 0;) {
    const Node& node = graph.nodes[i];
    for (const auto& out : node.outputs)
      if (!out.empty() && needed.count(out)) keep[i] = true;
    if (!keep[i]) {
      ++removed;
      continue;
    }
    for (const auto& in : node.inputs)
      if (!in.empty()) needed.insert(in);
  }
  std::vector<Node> kept;
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (keep[i]) kept.push_back(std::move(graph.nodes[i]));
  graph.nodes = std::move(kept);
  for (auto it = graph.initializers.begin(); it != graph.initializers.end();) {
    if (!needed.count(it->first)) it = graph.initializers.erase(it);
    else ++it;
  }
  if (removed) report.applied("dead_code", "removed " + std::to_string(removed) + " nodes whose results are unused");
}

}  // namespace normrt
