// Pass "norm_residual_fusion" (engines only): a residual add after a normalization becomes the fused op's
// residual input, so that the sum costs no pass over the tensor of its own.
//
//   X -> ai.normrt GroupNorm | LayerNorm (no residual; any activation) -> y -> Add(y, r) | Add(r, y) -> z
//   ==>
//   X, r -> ai.normrt GroupNorm | LayerNorm (residual = r) -> z            z = act(norm(X)) + r
//
// when
//   R1. y is not a graph output and the Add (default domain, two inputs) is its only reader;
//   R2. r is not y, and has exactly y's dtype and shape (each dim known and equal, or unknown with the same
//       name): the fused residual does not broadcast.
// norm_activation_fusion runs again afterwards and takes an activation that follows the Add into the node as
// act(norm(X) + r) (residual_before_activation = 1): ResNet's relu(bn3(h) + identity) becomes one node.
// `normrt fuse` does not run this pass (its ONNX functions write the residual after the activation only).
#include "passes/pass.h"
#include "passes/rewrite_util.h"

namespace normrt {
namespace {

constexpr const char* kPass = "norm_residual_fusion";

// One rewrite; false when no candidate is left.
bool fuse_one(Graph& graph, PassReport& report, std::set<std::string>* refused) {
  const GraphTypes types = infer_types_tolerant(graph);
  const GraphQuery query(graph);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& norm = graph.nodes[i];
    if (norm.domain != kNormrtDomain || (norm.op_type != "GroupNorm" && norm.op_type != "LayerNorm")) continue;
    if (norm.has_input(3) || norm.outputs.size() != 1 || refused->count(norm.name)) continue;
    const std::string& y = norm.outputs[0];
    const std::vector<size_t>& readers = query.readers(y);
    if (query.is_graph_output(y) || readers.size() != 1) continue;  // R1 (most norms: no residual add follows)
    const Node& add = graph.nodes[readers[0]];
    if (!is_op(&add, "Add") || add.inputs.size() != 2 || add.outputs.size() != 1) continue;
    const std::string& r = other_input(add, y);
    auto ty = types.types.find(y);
    auto tr = types.types.find(r);
    std::string why;
    if (r == y) why = "it adds y to itself";
    else if (ty == types.types.end() || tr == types.types.end()) why = "the types of y or of the residual are unknown";
    else if (ty->second.dtype != tr->second.dtype) why = "the residual's dtype differs from y's";
    else if (!provably_same_shape(ty->second.shape, tr->second.shape))
      why = "the residual " + tr->second.shape.to_string() + " does not have y's shape " +
            ty->second.shape.to_string() + " (the fused residual does not broadcast)";
    if (!why.empty()) {
      report.refused(kPass, norm.describe() + " keeps " + add.describe() + ": " + why);
      refused->insert(norm.name);
      continue;
    }
    Node fused = norm;
    fused.inputs.resize(4);
    fused.inputs[3] = r;
    fused.outputs = {add.outputs[0]};
    report.applied(kPass, norm.describe() + " + " + add.describe() + " -> one node with residual '" + r + "' writing '" +
                              fused.outputs[0] + "'");
    replace_nodes(graph, {i, readers[0]}, fused);
    return true;
  }
  return false;
}

}  // namespace

void fuse_norm_residual(Graph& graph, PassReport& report) {
  std::set<std::string> refused;
  while (fuse_one(graph, report, &refused)) {
  }
}

}  // namespace normrt
