// Pass "conv_residual_fusion" (device engines, after the layout pass): the residual Add after a channels-last
// convolution joins it, so that the sum costs no pass over the tensor of its own (a ResNet or UNet block's
// `skip(x) + conv2(h)`, an attention block's `x + proj_out(h)`: 14 Adds in the SD-1.5-width UNet).
//
//   y = ai.normrt::NhwcConv(X, W[, B])      z = Add(y, r) | Add(r, y)
//   ==>  z = ai.normrt::NhwcConv(X, W, B | "", r)      Y = Conv(X, W, B) + r, rounded once
//
// when y has no other reader and is no graph output, r is not y and not a constant, r has exactly y's dtype and
// a provably equal shape (the fused add does not broadcast), and the backend accepts the node. When both of an
// Add's operands are such convolutions, the one later in the graph joins (the other is then computed before it).
// Each refusal of a candidate is recorded.
#include "passes/pass.h"
#include "passes/rewrite_util.h"

namespace normrt {
namespace {

constexpr const char* kPass = "conv_residual_fusion";

bool is_plain_nhwc_conv(const Node& n) {
  return n.domain == kNormrtDomain && n.op_type == "NhwcConv" && n.inputs.size() >= 2 && n.inputs.size() <= 3 &&
         n.outputs.size() == 1;
}

}  // namespace

void fuse_conv_residual(Graph& graph, PassReport& report, const NodeAccept& accept) {
  const GraphTypes types = infer_types_tolerant(graph);
  const GraphQuery q(graph);
  std::map<std::string, size_t> producer;
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    for (const std::string& out : graph.nodes[i].outputs) producer[out] = i;
  std::vector<bool> erased(graph.nodes.size(), false);
  size_t joined = 0;
  for (size_t a = 0; a < graph.nodes.size(); ++a) {
    const Node& add = graph.nodes[a];
    if (!is_op(&add, "Add") || add.inputs.size() != 2 || add.outputs.size() != 1) continue;
    // The operand convolutions, latest first.
    std::vector<size_t> convs;
    for (const std::string& in : add.inputs) {
      auto p = producer.find(in);
      if (p != producer.end() && !erased[p->second] && is_plain_nhwc_conv(graph.nodes[p->second]))
        convs.push_back(p->second);
    }
    if (convs.size() == 2 && convs[0] < convs[1]) std::swap(convs[0], convs[1]);
    std::string why;
    for (size_t c : convs) {
      const Node& conv = graph.nodes[c];
      const std::string& y = conv.outputs[0];
      const std::string r = other_input(add, y);
      auto yt = types.types.find(y), rt = types.types.find(r);
      if (r.empty() || r == y) {
        why = "it adds the convolution's output to itself";
      } else if (!q.has_single_use(y)) {
        why = "the convolution's output has another reader or is a graph output";
      } else if (graph.is_initializer(r)) {
        why = "the added value is a constant (a bias, not a residual)";
      } else if (yt == types.types.end() || rt == types.types.end() || yt->second.dtype != rt->second.dtype ||
                 !provably_same_shape(yt->second.shape, rt->second.shape)) {
        why = "the added value is not provably of the convolution output's type and shape (the Add may broadcast)";
      } else {
        Node fused = conv;
        fused.name = add.name.empty() ? conv.name + "/residual" : add.name;
        fused.inputs.resize(3);  // an absent bias stays an empty name
        fused.inputs.push_back(r);
        fused.outputs = {add.outputs[0]};
        if (!accept(fused, node_input_types(graph, types, fused))) {
          why = "the device has no kernel for the fused convolution";
          continue;
        }
        report.applied(kPass, add.describe() + " joins " + conv.describe() + " as its residual");
        // The fused node takes the Add's place: r may be computed after the convolution.
        graph.value_info.erase(y);
        graph.nodes[a] = std::move(fused);
        erased[c] = true;
        ++joined;
        why.clear();
        break;
      }
    }
    if (!why.empty()) report.refused(kPass, add.describe() + " stays after its convolution: " + why);
  }
  if (joined == 0) return;
  std::vector<Node> kept;
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (!erased[i]) kept.push_back(std::move(graph.nodes[i]));
  graph.nodes = std::move(kept);
}

}  // namespace normrt
