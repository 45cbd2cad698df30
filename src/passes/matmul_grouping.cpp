// Pass "matmul_grouping" (device engines whose backend runs ai.normrt MatMulGroup): the MatMuls that multiply one
// tensor by constant matrices of one shape (attention's q, k and v projections, Linear layers without a bias)
// become one node with an output per MatMul, which the device runs as one batched GEMM.
//
//   y_i = MatMul(a, W_i)      W_i: initializers [K, N] of one shape and a's type, i = 1..n, n >= 2
//   ==>  y_1, ..., y_n = ai.normrt::MatMulGroup(a, W_1, ..., W_n)
//
// The group node takes the place of its first MatMul (a and the W_i exist by then; every reader of a y_i comes
// after its own MatMul). At most 8 MatMuls join one group (the kernel's pointer list); more form further groups.
// A group the backend refuses is recorded and its MatMuls stay.
#include "passes/pass.h"
#include "passes/rewrite_util.h"

namespace normrt {
namespace {

constexpr const char* kPass = "matmul_grouping";
constexpr size_t kMaxGroup = 8;

// The key MatMuls must share to join: the input, and the matrix's shape and type.
std::string group_key(const Graph& graph, const GraphTypes& types, const Node& n) {
  if (!is_op(&n, "MatMul") || n.inputs.size() != 2 || n.outputs.size() != 1 || n.input(0).empty()) return "";
  if (!graph.is_initializer(n.input(1))) return "";
  const Tensor& w = graph.initializers.at(n.input(1));
  auto a = types.types.find(n.input(0));
  if (w.rank() != 2 || a == types.types.end() || a->second.dtype != w.dtype() || !is_float_type(w.dtype()) ||
      !a->second.shape.has_rank || a->second.shape.rank() < 2)
    return "";
  return n.input(0) + "\n" + dims_to_string(w.dims()) + "\n" + dtype_name(w.dtype());
}

}  // namespace

void group_matmuls(Graph& graph, PassReport& report, const NodeAccept& accept) {
  if (!graph.opsets.count(kNormrtDomain)) graph.opsets[kNormrtDomain] = 1;  // before `accept` asks for its kernel
  const GraphTypes types = infer_types_tolerant(graph);
  std::map<std::string, std::vector<size_t>> groups;  // key -> MatMul indices, in graph order
  std::vector<std::string> order;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const std::string key = group_key(graph, types, graph.nodes[i]);
    if (key.empty()) continue;
    if (!groups.count(key)) order.push_back(key);
    groups[key].push_back(i);
  }
  std::vector<bool> erased(graph.nodes.size(), false);
  for (const std::string& key : order) {
    const std::vector<size_t>& all = groups[key];
    for (size_t start = 0; start + 1 < all.size(); start += kMaxGroup) {
      const std::vector<size_t> members(all.begin() + static_cast<std::ptrdiff_t>(start),
                                        all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), start + kMaxGroup)));
      if (members.size() < 2) break;
      const Node& first = graph.nodes[members[0]];
      Node group;
      group.name = first.name + "/group";
      group.op_type = "MatMulGroup";
      group.domain = kNormrtDomain;
      group.inputs = {first.input(0)};
      std::string described;
      for (size_t m : members) {
        group.inputs.push_back(graph.nodes[m].input(1));
        group.outputs.push_back(graph.nodes[m].outputs[0]);
        described += (described.empty() ? "" : ", ") + graph.nodes[m].describe();
      }
      if (!accept(group, node_input_types(graph, types, group))) {
        report.refused(kPass, described + " stay apart: the device has no kernel for their group");
        continue;
      }
      report.applied(kPass, described + " -> " + group.describe() + " (one batched GEMM)");
      graph.nodes[members[0]] = std::move(group);
      for (size_t k = 1; k < members.size(); ++k) erased[members[k]] = true;
    }
  }
  std::vector<Node> kept;
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (!erased[i]) kept.push_back(std::move(graph.nodes[i]));
  graph.nodes = std::move(kept);
}

}  // namespace normrt
