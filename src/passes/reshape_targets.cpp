// Pass "reshape_targets": a Reshape whose target the exporter computes from shapes at run time
// (Shape -> Gather -> Unsqueeze -> Concat, for x.view(b, c, h * w) with a dynamic batch) gets that target as a
// constant when every element is known or is the reshaped input's own dim in the same place (written as 0, which
// Reshape copies; allowzero = 0 only). The shape arithmetic then goes, so engines run fewer host nodes per
// inference, and later inference sees the reshape's output dims.
// Records how many targets became constants.
#include "passes/pass.h"
#include "passes/rewrite_util.h"
#include "passes/shape_values.h"

namespace normrt {

namespace {

// Rounds at most: SD-1.5's UNet (16 transformer blocks) needs about 50; a bound keeps a hostile chain of
// thousands of reshapes from running type inference thousands of times.
constexpr int kMaxRounds = 128;

// One round: the targets provable with the types as inferred now. Returns how many became constants.
size_t fold_round(Graph& graph) {
  const GraphTypes types = infer_types_tolerant(graph);
  const TypeLookup lookup = [&](const std::string& value) -> const TypeShape* {
    auto it = types.types.find(value);
    return it == types.types.end() ? nullptr : &it->second;
  };
  std::map<std::string, const Node*> producers;
  for (const Node& n : graph.nodes)
    for (const auto& out : n.outputs) producers[out] = &n;
  // Targets to write, decided before any node changes (producers points into graph.nodes).
  std::vector<std::pair<size_t, std::vector<int64_t>>> folds;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& node = graph.nodes[i];
    if (!node.domain.empty() || node.op_type != "Reshape" || node.inputs.size() != 2 || node.input(1).empty() ||
        graph.is_initializer(node.input(1)))
      continue;
    const auto target = shape_value(graph, producers, lookup, node.input(1));
    const TypeShape* in = lookup(node.input(0));
    if (!target || !in || !in->shape.has_rank) continue;
    const bool allowzero = node.attr_int("allowzero", 0) != 0;
    std::vector<int64_t> values;
    for (size_t k = 0; k < target->size(); ++k) {
      const SymbolicInt& e = (*target)[k];
      if (e.known) {
        values.push_back(e.value);  // the same number the shape arithmetic computes
        continue;
      }
      const bool own_dim = k < in->shape.rank() && is_dim_of(e, node.input(0), k, in->shape.dims);
      if (allowzero || !own_dim) break;
      values.push_back(0);
    }
    if (values.size() == target->size()) folds.emplace_back(i, std::move(values));
  }
  for (auto& [i, values] : folds) {
    Node& node = graph.nodes[i];
    const std::string name = fresh_value_name(graph, node.input(1) + "/constant");
    graph.initializers[name] = int64_vector(values);
    node.inputs[1] = name;
  }
  return folds.size();
}

}  // namespace

void fold_reshape_targets(Graph& graph, PassReport& report) {
  size_t folded = 0;
  for (int round = 0; round < kMaxRounds; ++round) {
    const size_t n = fold_round(graph);
    if (n == 0) break;
    folded += n;
  }
  if (folded > 0)
    report.applied("reshape_targets", std::to_string(folded) + " Reshape targets computed from shapes are constants");
  eliminate_dead_nodes(graph, report);
}

}  // namespace normrt
