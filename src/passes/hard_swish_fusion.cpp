// HardSwish fusion: the spellings of x * relu6(x + 3) / 6 become one HardSwish node (default domain; ONNX has
// it from opset 14, normrt runs it at every opset and norm_activation_fusion folds it into a normalization it
// follows). `normrt fuse` writes it back as HardSigmoid + Mul where the model's opset has no HardSwish.
//
//   PyTorch's nn.Hardswish below opset 14:
//     h = HardSigmoid(x, alpha = 1/6, beta = 0.5);  z = Mul(x, h) | Mul(h, x)
//   written out (MobileNetV3 code, TF exports):
//     s = Add(x, 3) | Add(3, x);  c = Clip(s, 0, 6)      (min/max: inputs from opset 11, attributes before)
//     z = x * c * (1/6), as any association of two Muls, or a Div by 6      (see match_scaled_product)
//   ==> z = HardSwish(x)
//
// Preconditions, each checked, each refusal recorded with its reason (a HardSigmoid not multiplied by its own
// input, or a Clip of something other than x + 3, is no candidate and is not reported):
//   H1. HardSigmoid's alpha is 1/6 and beta 0.5 (within 1e-5 relative; its default alpha is 0.2, which is
//       not HardSwish);
//   H2. Clip's bounds are known scalars exactly 0 and 6, the Add's constant exactly 3, the factor 1/6 (or a
//       Div by 6);
//   H3. the x the Add (or HardSigmoid) reads is the x the product multiplies;
//   H4. every intermediate value has exactly one reader and is no graph output;
//   H5. x has a float type.
#include "passes/pass.h"
#include "passes/rewrite_util.h"

namespace normrt {
namespace {

constexpr const char* kPass = "hard_swish_fusion";

struct HardSwishMatch {
  std::string x, z;
  std::vector<size_t> nodes;
  bool candidate = false;
};

bool match_hard_sigmoid(const Graph& g, const GraphQuery& q, size_t index, HardSwishMatch* m, std::string* why) {
  const Node& hs = g.nodes[index];
  const std::string& h = hs.outputs[0];
  m->x = hs.input(0);
  size_t mul_index = SIZE_MAX;
  for (size_t r : q.readers(h))
    if (is_op(&g.nodes[r], "Mul") && other_input(g.nodes[r], h) == m->x) mul_index = r;
  if (mul_index == SIZE_MAX) return false;  // not multiplied by its input: a genuine HardSigmoid
  m->candidate = true;
  const float alpha = hs.attr_float("alpha", 0.2f), beta = hs.attr_float("beta", 0.5f);
  if (!close_to(alpha, 1.0 / 6.0) || !close_to(beta, 0.5)) {  // H1
    *why = "alpha " + std::to_string(alpha) + " and beta " + std::to_string(beta) + " are not 1/6 and 1/2";
    return false;
  }
  if (!q.has_single_use(h)) {  // H4
    *why = "'" + h + "' has another reader or is a graph output";
    return false;
  }
  m->nodes = {index, mul_index};
  m->z = g.nodes[mul_index].outputs[0];
  return true;
}

bool match_clip(const Graph& g, const GraphQuery& q, KnownValues& known, size_t index, HardSwishMatch* m,
                std::string* why) {
  const Node& clip = g.nodes[index];
  const std::string& s = clip.input(0);
  const Node* add = q.producer(s);
  double three = 0;
  if (!is_op(add, "Add") || add->inputs.size() != 2) return false;
  for (int side = 0; side < 2 && m->x.empty(); ++side)
    if (known.scalar(add->input(1 - side), &three) && three == 3.0) m->x = add->input(side);
  if (m->x.empty()) return false;  // not x + 3: a genuine Clip
  m->candidate = true;
  double low = 0, high = 0;
  bool bounds_known;
  if (g.opset("") >= 11) {
    bounds_known = known.scalar(clip.input(1), &low) && known.scalar(clip.input(2), &high);
  } else {
    bounds_known = clip.has_attribute("min") && clip.has_attribute("max");
    low = clip.attr_float("min", 0), high = clip.attr_float("max", 0);
  }
  if (!bounds_known || low != 0.0 || high != 6.0) {  // H2
    *why = "its bounds are not the constants 0 and 6";
    return false;
  }
  if (!q.has_single_use(s)) {
    *why = "'" + s + "' has another reader or is a graph output";
    return false;
  }
  m->nodes = {q.producer_index(s), index};
  return match_scaled_product(g, q, known, m->x, clip.outputs[0], 1.0 / 6.0, &m->nodes, &m->z, why);
}

}  // namespace

void fuse_hard_swish(Graph& graph, PassReport& report) {
  std::set<std::string> refused;
  bool changed = true;
  while (changed) {
    changed = false;
    GraphTypes types = infer_types_tolerant(graph);
    KnownValues known(graph, types);
    GraphQuery q(graph);
    for (size_t i = 0; i < graph.nodes.size() && !changed; ++i) {
      const Node& node = graph.nodes[i];
      if (node.inputs.empty() || node.outputs.size() != 1) continue;
      HardSwishMatch m;
      std::string why;
      bool matched;
      if (is_op(&node, "HardSigmoid"))
        matched = match_hard_sigmoid(graph, q, i, &m, &why);
      else if (is_op(&node, "Clip"))
        matched = match_clip(graph, q, known, i, &m, &why);
      else
        continue;
      if (matched && !is_float_type(known.dtype(m.x))) {  // H5
        why = "the input '" + m.x + "' is not of a float type";
        matched = false;
      }
      if (!matched) {
        if (m.candidate && refused.insert(node.name).second)
          report.refused(kPass, node.describe() + ": not a HardSwish: " + why);
        continue;
      }
      Node fused;
      fused.op_type = "HardSwish";
      fused.name = node.name + "_hard_swish";
      fused.inputs = {m.x};
      fused.outputs = {m.z};
      report.applied(kPass, describe_nodes(graph, m.nodes) + " -> HardSwish '" + fused.name + "'");
      replace_nodes(graph, m.nodes, fused);
      changed = true;
    }
  }
}

}  // namespace normrt
