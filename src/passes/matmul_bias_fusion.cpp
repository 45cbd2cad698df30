// Pass "matmul_bias_fusion" (device engines whose backend runs ai.normrt MatMulBias): a Linear layer as
// PyTorch exports it for inputs of rank 3 and more, MatMul then a bias Add, becomes one node, so the bias joins
// in the GEMM's epilogue instead of a second pass over the output (21 such Adds in the SD-1.5 UNet).
//
//   y = MatMul(a, W)      W: a float initializer [K, N]
//   z = Add(y, bias) | Add(bias, y)      bias: a float initializer [N] (or [1, ..., 1, N] of rank <= y's)
//   ==>  z = ai.normrt::MatMulBias(a, W, bias [N])
//   and then  Add(z, r) | Add(r, z)  with r of z's shape exactly (the residual stream of a transformer block)
//   ==>  ai.normrt::MatMulBias(a, W, bias, r): the GEMM adds r as its C (beta 1), so the Add costs no pass either
//
// when y has no other reader and is no graph output, a has rank >= 2, W, bias and a have one float type, and the
// backend accepts the node. Each refusal of a candidate (a MatMul by a constant matrix read by an Add) is recorded.
#include "passes/pass.h"
#include "passes/rewrite_util.h"

namespace normrt {
namespace {

constexpr const char* kPass = "matmul_bias_fusion";

// Why the Add `add` of y = MatMul(...) cannot join it, or "" when it can; *bias gets the bias initializer.
std::string refusal(const Graph& g, const GraphQuery& q, const GraphTypes& types, const Node& matmul, const Node& add,
                    std::string* bias) {
  const std::string& y = matmul.outputs[0];
  const std::string other = other_input(add, y);
  if (other.empty() || !g.is_initializer(other)) return "the added value is not a constant";
  if (!q.has_single_use(y)) return "the MatMul's output has another reader or is a graph output";
  const Tensor& w = g.initializers.at(matmul.input(1));
  const Tensor& b = g.initializers.at(other);
  if (w.rank() != 2) return "W is not a matrix";
  for (size_t d = 0; d + 1 < b.dims().size(); ++d)
    if (b.dims()[d] != 1) return "the added constant is not a bias over the last axis";
  if (b.rank() == 0 || b.dims().back() != w.dims()[1]) return "the added constant is not a bias over the last axis";
  auto it = types.types.find(matmul.input(0));
  if (it == types.types.end() || !it->second.shape.has_rank || it->second.shape.rank() < 2)
    return "A is not known to have rank >= 2";
  if (it->second.shape.rank() < b.rank()) return "the bias has a higher rank than the product";
  const DataType t = it->second.dtype;
  if (!is_float_type(t) || w.dtype() != t || b.dtype() != t) return "A, W and the bias are not of one float type";
  *bias = other;
  return "";
}

// z = MatMulBias(a, W, bias) read only by Add(z, r) | Add(r, z), r of z's shape exactly and not a constant:
// the residual joins as input 3 (the GEMM adds it as C with beta 1). One join per call; false when none.
bool fuse_one_residual(Graph& graph, PassReport& report, const NodeAccept& accept) {
  const GraphTypes types = infer_types_tolerant(graph);
  const GraphQuery q(graph);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& linear = graph.nodes[i];
    if (linear.domain != kNormrtDomain || linear.op_type != "MatMulBias" || linear.inputs.size() != 3) continue;
    const std::string& z = linear.outputs[0];
    const std::vector<size_t>& readers = q.readers(z);
    if (readers.size() != 1 || q.is_graph_output(z) || !is_op(&graph.nodes[readers[0]], "Add")) continue;
    const Node& add = graph.nodes[readers[0]];
    const std::string r = other_input(add, z);
    auto zt = types.types.find(z), rt = types.types.find(r);
    if (r.empty() || r == z || graph.is_initializer(r) || zt == types.types.end() || rt == types.types.end() ||
        zt->second.dtype != rt->second.dtype || !provably_same_shape(zt->second.shape, rt->second.shape))
      continue;  // a broadcast or constant add: not a residual
    Node fused = linear;
    fused.name = add.name.empty() ? linear.name + "/residual" : add.name;
    fused.inputs.push_back(r);
    fused.outputs = {add.outputs[0]};
    if (!accept(fused, node_input_types(graph, types, fused))) {
      report.refused(kPass, add.describe() + " stays after " + linear.describe() + ": the device has no kernel for it");
      continue;
    }
    report.applied(kPass, add.describe() + " joins " + linear.describe() + " as its residual");
    // The fused node takes the Add's place: r may be computed after the MatMulBias.
    const size_t at = readers[0];
    graph.nodes[at] = fused;
    graph.value_info.erase(z);
    graph.nodes.erase(graph.nodes.begin() + static_cast<std::ptrdiff_t>(i));
    return true;
  }
  return false;
}

}  // namespace

void fuse_matmul_bias(Graph& graph, PassReport& report, const NodeAccept& accept) {
  if (!graph.opsets.count(kNormrtDomain)) graph.opsets[kNormrtDomain] = 1;  // before `accept` asks for its kernel
  const GraphTypes types = infer_types_tolerant(graph);
  const GraphQuery q(graph);
  std::vector<bool> erased(graph.nodes.size(), false);
  std::vector<std::pair<size_t, Node>> replaced;  // Add index -> fused node
  std::vector<std::string> dropped;               // the fused MatMuls' outputs
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& matmul = graph.nodes[i];
    if (!is_op(&matmul, "MatMul") || matmul.inputs.size() != 2 || matmul.outputs.size() != 1) continue;
    if (!graph.is_initializer(matmul.input(1))) continue;
    const std::vector<size_t>& readers = q.readers(matmul.outputs[0]);
    if (readers.empty() || !is_op(&graph.nodes[readers[0]], "Add")) continue;
    const Node& add = graph.nodes[readers[0]];
    std::string bias;
    std::string why = refusal(graph, q, types, matmul, add, &bias);
    Node fused;
    if (why.empty()) {
      fused.name = add.name.empty() ? matmul.name + "/bias" : add.name;
      fused.op_type = "MatMulBias";
      fused.domain = kNormrtDomain;
      std::string flat = bias;
      const Tensor& b = graph.initializers.at(bias);
      if (b.rank() != 1) {  // [1, ..., 1, N] -> [N]
        flat = bias + "/flat";
        if (!graph.is_initializer(flat)) graph.initializers[flat] = b.reshaped({b.dims().back()});
      }
      fused.inputs = {matmul.input(0), matmul.input(1), flat};
      fused.outputs = {add.outputs[0]};
      if (!accept(fused, node_input_types(graph, types, fused))) why = "the device has no kernel for it";
    }
    if (!why.empty()) {
      report.refused(kPass, matmul.describe() + " + " + add.describe() + " stay apart: " + why);
      continue;
    }
    report.applied(kPass, matmul.describe() + " + " + add.describe() + " -> ai.normrt::MatMulBias");
    erased[i] = true;
    replaced.emplace_back(readers[0], fused);
    dropped.push_back(matmul.outputs[0]);
  }
  if (replaced.empty()) return;
  for (auto& [index, node] : replaced) graph.nodes[index] = node;
  for (const std::string& value : dropped) graph.value_info.erase(value);
  std::vector<Node> kept;
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (!erased[i]) kept.push_back(std::move(graph.nodes[i]));
  graph.nodes = std::move(kept);
  eliminate_dead_nodes(graph, report);
  while (fuse_one_residual(graph, report, accept)) {
  }
}

}  // namespace normrt
