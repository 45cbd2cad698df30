// Pass "attention_fusion" (device engines whose backend runs ai.normrt Attention; after the float16 lowering,
// before matmul_transpose_folding): the scaled dot-product attention that exporters write out becomes one node,
// so the device never stores the [N, H, Lq, Lk] scores (at a 64x64 latent and batch 8 they are 0.5 GB in fp16):
//
//   q = Transpose(q4, (0, 2, 1, 3))   k = Transpose(k4, (0, 2, 3, 1))   v = Transpose(v4, (0, 2, 1, 3))
//   p = Softmax(MatMul(q, k) [* c | / c], axis = last)
//   y = Transpose(MatMul(p, v), (0, 2, 1, 3))
//   ==>  y = Attention(q4, k4, v4, scale = c | 1 / c | 1)       q4, k4, v4, y: [N, L, H, D]
//
// The scores, the scaled scores, the probabilities and p v must have no other reader and be no graph output. The
// head-split Transposes go when the Attention was their only reader. Chains that differ (other perms, a mask, a
// Softmax on another axis) and nodes the device refuses stay as they are, each recorded.
#include <set>

#include "passes/graph_query.h"
#include "passes/pass.h"
#include "passes/rewrite_util.h"

namespace normrt {
namespace {

constexpr const char* kPass = "attention_fusion";
const std::vector<int64_t> kHeadSplit{0, 2, 1, 3};
const std::vector<int64_t> kKeySplit{0, 2, 3, 1};

// The input of the Transpose with exactly `perm` producing `value`, or "".
std::string transposed_from(const GraphQuery& q, const std::string& value, const std::vector<int64_t>& perm) {
  const Node* t = q.producer(value);
  if (!is_op(t, "Transpose") || t->inputs.size() != 1 || t->attr_ints("perm") != perm) return "";
  return t->input(0);
}

struct Chain {
  const Node* scores = nullptr;  // MatMul(q, k)
  const Node* scaling = nullptr;  // Mul / Div by a scalar, or null
  const Node* softmax = nullptr;
  const Node* context = nullptr;  // MatMul(p, v)
  const Node* merge = nullptr;    // Transpose(p v, (0, 2, 1, 3))
  std::string q4, k4, v4;
  double scale = 1;
};

// The chain around `softmax`, or why it is not one ("" with *chain filled when it is).
std::string match(const Graph& graph, const GraphQuery& q, const Node& softmax, Chain* chain) {
  const int64_t opset = graph.opset("");
  if (softmax.inputs.size() != 1 || softmax.outputs.size() != 1) return "not a one-input Softmax";
  const int64_t axis = softmax.attr_int("axis", opset >= 13 ? -1 : 1);
  if (axis != -1 && axis != 3) return "the Softmax is not over the last axis of [N, H, Lq, Lk]";
  chain->softmax = &softmax;
  std::string s = softmax.input(0);
  if (!q.has_single_use(s)) return "its scores have another reader";
  const Node* producer = q.producer(s);
  if (is_op(producer, "Mul") || is_op(producer, "Div")) {
    const bool is_div = is_op(producer, "Div");
    double c = 0;
    std::vector<double> values;
    int scalar_input = -1;
    for (int i = 0; i < 2 && producer->inputs.size() == 2; ++i)
      if (q.constant_values(producer->input(i), &values) && values.size() == 1 && (!is_div || i == 1)) scalar_input = i;
    if (scalar_input < 0) return "the scores are scaled by something other than a scalar constant";
    q.constant_values(producer->input(scalar_input), &values);
    c = values[0];
    if (is_div && c == 0) return "the scores are divided by zero";
    chain->scale = is_div ? 1.0 / c : c;
    chain->scaling = producer;
    s = producer->input(1 - scalar_input);
    if (!q.has_single_use(s)) return "its unscaled scores have another reader";
    producer = q.producer(s);
  }
  if (!is_op(producer, "MatMul") || producer->inputs.size() != 2) return "the scores do not come from a MatMul";
  chain->scores = producer;
  chain->q4 = transposed_from(q, producer->input(0), kHeadSplit);
  chain->k4 = transposed_from(q, producer->input(1), kKeySplit);
  if (chain->q4.empty() || chain->k4.empty())
    return "q and k do not come from the head split (Transposes (0, 2, 1, 3) and (0, 2, 3, 1))";
  const std::string& p = softmax.outputs[0];
  if (!q.has_single_use(p)) return "its probabilities have another reader";
  const Node* context = &graph.nodes[q.readers(p)[0]];
  if (!is_op(context, "MatMul") || context->inputs.size() != 2 || context->input(0) != p)
    return "its probabilities are not the left operand of a MatMul";
  chain->context = context;
  chain->v4 = transposed_from(q, context->input(1), kHeadSplit);
  if (chain->v4.empty()) return "v does not come from the head split (Transpose (0, 2, 1, 3))";
  const std::string& o = context->outputs[0];
  if (!q.has_single_use(o)) return "p v has another reader";
  const Node* merge = &graph.nodes[q.readers(o)[0]];
  if (!is_op(merge, "Transpose") || merge->attr_ints("perm") != kHeadSplit)
    return "p v is not merged back by a Transpose (0, 2, 1, 3)";
  chain->merge = merge;
  return "";
}

// One chain fused; false when none is left to try.
bool fuse_one(Graph& graph, PassReport& report, const NodeAccept& accept, std::set<std::string>* decided) {
  const GraphQuery q(graph);
  for (const Node& softmax : graph.nodes) {
    if (!is_op(&softmax, "Softmax") || softmax.outputs.size() != 1 || decided->count(softmax.outputs[0])) continue;
    decided->insert(softmax.outputs[0]);
    Chain chain;
    const std::string why = match(graph, q, softmax, &chain);
    if (!why.empty()) {
      // Only chains that start like attention are worth a record; a classifier's Softmax is not a candidate.
      if (chain.scores) report.refused(kPass, softmax.describe() + " stays unfused: " + why);
      continue;
    }
    Node fused;
    fused.name = softmax.name + "/attention";
    fused.op_type = "Attention";
    fused.domain = kNormrtDomain;
    fused.inputs = {chain.q4, chain.k4, chain.v4};
    fused.outputs = {chain.merge->outputs[0]};
    fused.attributes["scale"] = float_attribute(static_cast<float>(chain.scale));
    const GraphTypes types = infer_types_tolerant(graph);
    if (!accept(fused, node_input_types(graph, types, fused))) {
      report.refused(kPass, softmax.describe() + " stays unfused: the device has no attention kernel for these "
                                                 "types and head sizes");
      continue;
    }
    std::set<const Node*> gone{chain.scores, chain.scaling, chain.softmax, chain.context, chain.merge};
    // The head-split Transposes go when the chain was their only reader.
    for (const std::string& operand : {chain.scores->input(0), chain.scores->input(1), chain.context->input(1)})
      if (q.has_single_use(operand)) gone.insert(q.producer(operand));
    std::vector<Node> nodes;
    std::vector<std::string> erased;
    for (const Node& n : graph.nodes) {
      if (&n == chain.merge) {
        nodes.push_back(fused);  // the last node of the chain: every input of the fused node is defined before it
      } else if (gone.count(&n)) {
        erased.insert(erased.end(), n.outputs.begin(), n.outputs.end());
      } else {
        nodes.push_back(n);
      }
    }
    report.applied(kPass, softmax.describe() + " with " + chain.scores->describe() + " and " +
                              chain.context->describe() + " -> " + fused.describe() + " (scale " +
                              std::to_string(chain.scale) + ")");
    for (const std::string& v : erased)
      if (v != fused.outputs[0]) graph.value_info.erase(v);
    graph.nodes = std::move(nodes);
    return true;
  }
  return false;
}

}  // namespace

void fuse_attention(Graph& graph, PassReport& report, const NodeAccept& accept) {
  if (!graph.opsets.count(kNormrtDomain)) graph.opsets[kNormrtDomain] = 1;
  std::set<std::string> decided;  // Softmax outputs already tried
  while (fuse_one(graph, report, accept, &decided)) {
  }
}

}  // namespace normrt
