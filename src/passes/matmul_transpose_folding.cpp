// Pass "matmul_transpose_folding" (device engines whose backend runs ai.normrt PermutedMatMul; after the layout
// pass): the Transposes that feed a MatMul or read its result join it, so a strided GEMM reads and writes the
// data in place instead of a copy per Transpose. Attention's head split and merge are the case that matters:
//
//   q = Transpose(Reshape(x_q, [B, L, H, d]), (0, 2, 1, 3))    k_t = Transpose(..., (0, 2, 3, 1))
//   s = MatMul(q, k_t)                                          o = Transpose(MatMul(p, v), (0, 2, 1, 3))
//   ==>  s = PermutedMatMul(x_q', x_k', perm_a = (0, 2, 1, 3), perm_b = (0, 2, 3, 1))
//        o = PermutedMatMul(p, x_v', perm_b = (0, 2, 1, 3), perm_y = (0, 2, 1, 3))
//
// A Transpose joins when its output has no other reader and is no graph output (a Transpose of the MatMul's
// output: when the MatMul's output has that Transpose as its only reader and is no graph output), and the
// backend accepts the node with it (a GEMM needs a unit-stride axis in each matrix and Y's last axis last).
// Transposes the backend would not take are left, each recorded.
#include <array>
#include <set>

#include "passes/pass.h"
#include "passes/rewrite_util.h"

namespace normrt {
namespace {

constexpr const char* kPass = "matmul_transpose_folding";

// The Transpose producing `value` when it can join (explicit perm, single reader), else null.
const Node* joining_transpose(const GraphQuery& q, const std::string& value) {
  const Node* t = q.producer(value);
  if (!is_op(t, "Transpose") || !t->has_attribute("perm") || t->outputs.size() != 1) return nullptr;
  return q.has_single_use(value) ? t : nullptr;
}

// One MatMul: joins what it can; false when nothing changed.
bool fold_one(Graph& graph, PassReport& report, const NodeAccept& accept, std::set<std::string>* refused) {
  const GraphTypes types = infer_types_tolerant(graph);
  const GraphQuery q(graph);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& matmul = graph.nodes[i];
    if (!is_op(&matmul, "MatMul") || matmul.inputs.size() != 2 || matmul.outputs.size() != 1 ||
        refused->count(matmul.outputs[0]))
      continue;
    const Node* ta = joining_transpose(q, matmul.input(0));
    const Node* tb = joining_transpose(q, matmul.input(1));
    const Node* ty = nullptr;
    const std::vector<size_t>& readers = q.readers(matmul.outputs[0]);
    if (readers.size() == 1 && !q.is_graph_output(matmul.outputs[0]) && is_op(&graph.nodes[readers[0]], "Transpose") &&
        graph.nodes[readers[0]].has_attribute("perm"))
      ty = &graph.nodes[readers[0]];
    if (!ta && !tb && !ty) continue;
    // The largest set of joins the backend takes: all, then without Y's, then A's or B's alone.
    const std::vector<std::array<bool, 3>> choices = {{true, true, true},   {true, true, false}, {true, false, false},
                                                      {false, true, false}, {false, false, true}};
    Node fused;
    std::array<bool, 3> taken{false, false, false};
    for (const auto& choice : choices) {
      const bool use_a = choice[0] && ta, use_b = choice[1] && tb, use_y = choice[2] && ty;
      if (!use_a && !use_b && !use_y) continue;
      Node candidate;
      candidate.name = matmul.name + "/permuted";
      candidate.op_type = "PermutedMatMul";
      candidate.domain = kNormrtDomain;
      candidate.inputs = {use_a ? ta->input(0) : matmul.input(0), use_b ? tb->input(0) : matmul.input(1)};
      candidate.outputs = {use_y ? ty->outputs[0] : matmul.outputs[0]};
      if (use_a) candidate.attributes["perm_a"] = ints_attribute(ta->attr_ints("perm"));
      if (use_b) candidate.attributes["perm_b"] = ints_attribute(tb->attr_ints("perm"));
      if (use_y) candidate.attributes["perm_y"] = ints_attribute(ty->attr_ints("perm"));
      if (accept(candidate, node_input_types(graph, types, candidate))) {
        fused = candidate;
        taken = {use_a, use_b, use_y};
        break;
      }
    }
    if (fused.op_type.empty()) {
      report.refused(kPass, matmul.describe() + " keeps its Transposes: the device has no strided GEMM for them");
      refused->insert(matmul.outputs[0]);
      continue;
    }
    std::string joined;
    std::set<const Node*> gone;
    if (taken[0]) gone.insert(ta), joined += " A's " + ta->describe();
    if (taken[1]) gone.insert(tb), joined += " B's " + tb->describe();
    if (taken[2]) gone.insert(ty), joined += " Y's " + ty->describe();
    report.applied(kPass, matmul.describe() + " reads/writes in place:" + joined);
    // The fused node takes the MatMul's place, or Y's Transpose's when that joined (it read the MatMul's output,
    // so it came later); A's and B's Transposes go.
    std::vector<Node> nodes;
    for (size_t j = 0; j < graph.nodes.size(); ++j) {
      const Node& n = graph.nodes[j];
      if (j == i) {
        if (!taken[2]) nodes.push_back(fused);
      } else if (taken[2] && &n == ty) {
        nodes.push_back(fused);
      } else if (!gone.count(&n)) {
        nodes.push_back(n);
      }
    }
    if (taken[2]) graph.value_info.erase(matmul.outputs[0]);
    for (const Node* t : {taken[0] ? ta : nullptr, taken[1] ? tb : nullptr})
      if (t) graph.value_info.erase(t->outputs[0]);
    graph.nodes = std::move(nodes);
    return true;
  }
  return false;
}

}  // namespace

void fold_matmul_transposes(Graph& graph, PassReport& report, const NodeAccept& accept) {
  if (!graph.opsets.count(kNormrtDomain)) graph.opsets[kNormrtDomain] = 1;
  std::set<std::string> refused;  // MatMul outputs already decided
  while (fold_one(graph, report, accept, &refused)) {
  }
}

}  // namespace normrt
