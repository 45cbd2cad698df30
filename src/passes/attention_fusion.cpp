// Pass "attention_fusion" (device engines whose backend runs ai.normrt Attention; after the float16 lowering,
// before matmul_transpose_folding): the scaled dot-product attention that exporters write out becomes one node,
// so the device never stores the [N, H, Lq, Lk] scores (at a 64x64 latent and batch 8 they are 0.5 GB in fp16):
//
//   q = Transpose(q4, (0, 2, 1, 3))   k = Transpose(k4, (0, 2, 3, 1))   v = Transpose(v4, (0, 2, 1, 3))
//   p = Softmax(MatMul(q, k) [* c | / c], axis = last)
//   y = Transpose(MatMul(p, v), (0, 2, 1, 3))
//   ==>  y = Attention(q4, k4, v4, scale = c | 1 / c | 1)       q4, k4, v4, y: [N, L, H, D]
//
// q, k and v may also be slices of one packed projection X5 [N, L, 3, H, D], as `qkv.permute(2, 0, 3, 1, 4)` and
// `qkv[i]` export (timm's ViT, the fixture unet_block): q = Gather(Transpose(X5, (2, 0, 3, 1, 4)), i), k the same
// followed by Transpose (0, 1, 3, 2). The fused form then reads Gather(X5, i, axis = 2) [N, L, H, D].
//
// The scores, the scaled scores, the probabilities and p v must have no other reader and be no graph output. The
// head-split nodes go when nothing else reads them. Chains that differ (other perms, a mask, a Softmax on another
// axis) and nodes the device refuses stay as they are, each recorded.
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

// Where q, k or v comes from, as [N, L, H, D]: a tensor, or slice `packed_index` of a packed X5 [N, L, 3, H, D].
struct Operand {
  std::string tensor;
  int64_t packed_index = -1;
};

// Gather(Transpose(X5, (2, 0, 3, 1, 4)), i) with a constant scalar i in [0, 3): X5 and i, else false.
bool packed_slice(const GraphQuery& q, KnownValues& known, const std::string& value, Operand* out) {
  const Node* gather = q.producer(value);
  if (!is_op(gather, "Gather") || gather->inputs.size() != 2 || gather->attr_int("axis", 0) != 0) return false;
  const Tensor* index = known.value(gather->input(1));
  double i = -1;
  if (!index || index->rank() != 0 || !known.scalar(gather->input(1), &i) || i < 0 || i > 2) return false;
  const Node* t = q.producer(gather->input(0));
  if (!is_op(t, "Transpose") || t->inputs.size() != 1 || t->attr_ints("perm") != std::vector<int64_t>{2, 0, 3, 1, 4})
    return false;
  *out = Operand{t->input(0), static_cast<int64_t>(i)};
  return true;
}

// q or v (head_split (0, 2, 1, 3)), or k transposed for q k^T (key_split (0, 2, 3, 1)): false when neither form.
bool head_operand(const GraphQuery& q, KnownValues& known, const std::string& value, bool is_key, Operand* out) {
  const std::string direct = transposed_from(q, value, is_key ? kKeySplit : kHeadSplit);
  if (!direct.empty()) {
    *out = Operand{direct, -1};
    return true;
  }
  if (!is_key) return packed_slice(q, known, value, out);
  const std::string slice = transposed_from(q, value, {0, 1, 3, 2});
  return !slice.empty() && packed_slice(q, known, slice, out);
}

struct Chain {
  const Node* scores = nullptr;  // MatMul(q, k)
  const Node* scaling = nullptr;  // Mul / Div by a scalar, or null
  const Node* softmax = nullptr;
  const Node* context = nullptr;  // MatMul(p, v)
  const Node* merge = nullptr;    // Transpose(p v, (0, 2, 1, 3))
  Operand q4, k4, v4;
  double scale = 1;
  bool attention_like = false;  // the Softmax reads a (scaled) MatMul
};

// The chain around `softmax`, or why it is not one ("" with *chain filled when it is).
std::string match(const Graph& graph, const GraphQuery& q, KnownValues& known, const Node& softmax, Chain* chain) {
  const int64_t opset = graph.opset("");
  if (softmax.inputs.size() != 1 || softmax.outputs.size() != 1) return "not a one-input Softmax";
  const int64_t axis = softmax.attr_int("axis", opset >= 13 ? -1 : 1);
  if (axis != -1 && axis != 3) return "the Softmax is not over the last axis of [N, H, Lq, Lk]";
  chain->softmax = &softmax;
  std::string s = softmax.input(0);
  const Node* producer = q.producer(s);
  // Worth a record when refused: the Softmax reads a MatMul, or a MatMul times or over something.
  const bool scaled = (is_op(producer, "Mul") || is_op(producer, "Div")) && producer->inputs.size() == 2;
  chain->attention_like = is_op(producer, "MatMul") || (scaled && (is_op(q.producer(producer->input(0)), "MatMul") ||
                                                                   is_op(q.producer(producer->input(1)), "MatMul")));
  if (!q.has_single_use(s)) return "its scores have another reader";
  if (is_op(producer, "Mul") || is_op(producer, "Div")) {
    const bool is_div = is_op(producer, "Div");
    // The scale may be computed from static dims (PyTorch exports `d ** -0.5` with d read from a shape).
    double c = 0;
    int scalar_input = -1;
    for (int i = 0; i < 2 && producer->inputs.size() == 2 && scalar_input < 0; ++i)
      if ((!is_div || i == 1) && known.scalar(producer->input(i), &c)) scalar_input = i;
    if (scalar_input < 0) return "the scores are scaled by something other than a scalar known before run time";
    if (is_div && c == 0) return "the scores are divided by zero";
    chain->scale = is_div ? 1.0 / c : c;
    chain->scaling = producer;
    s = producer->input(1 - scalar_input);
    if (!q.has_single_use(s)) return "its unscaled scores have another reader";
    producer = q.producer(s);
  }
  if (!is_op(producer, "MatMul") || producer->inputs.size() != 2) return "the scores do not come from a MatMul";
  chain->scores = producer;
  if (!head_operand(q, known, producer->input(0), false, &chain->q4) ||
      !head_operand(q, known, producer->input(1), true, &chain->k4))
    return "q and k do not come from the head split (Transposes (0, 2, 1, 3) and (0, 2, 3, 1), or slices of a "
           "packed [N, L, 3, H, D] projection)";
  const std::string& p = softmax.outputs[0];
  if (!q.has_single_use(p)) return "its probabilities have another reader";
  const Node* context = &graph.nodes[q.readers(p)[0]];
  if (!is_op(context, "MatMul") || context->inputs.size() != 2 || context->input(0) != p)
    return "its probabilities are not the left operand of a MatMul";
  chain->context = context;
  if (!head_operand(q, known, context->input(1), false, &chain->v4))
    return "v does not come from the head split (Transpose (0, 2, 1, 3), or a slice of a packed projection)";
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
  const GraphTypes types = infer_types_tolerant(graph);
  KnownValues known(graph, types);
  for (const Node& softmax : graph.nodes) {
    if (!is_op(&softmax, "Softmax") || softmax.outputs.size() != 1 || decided->count(softmax.outputs[0])) continue;
    decided->insert(softmax.outputs[0]);
    Chain chain;
    const std::string why = match(graph, q, known, softmax, &chain);
    if (!why.empty()) {
      // Only chains that start like attention are worth a record; a classifier's Softmax is not a candidate.
      if (chain.attention_like) report.refused(kPass, softmax.describe() + " stays unfused: " + why);
      continue;
    }
    Node fused;
    fused.name = softmax.name + "/attention";
    fused.op_type = "Attention";
    fused.domain = kNormrtDomain;
    fused.outputs = {chain.merge->outputs[0]};
    fused.attributes["scale"] = float_attribute(static_cast<float>(chain.scale));
    // Packed operands become Gather(X5, i, axis = 2) nodes placed just before the fused node.
    std::vector<Node> slices;
    std::vector<std::pair<std::string, int64_t>> slice_indices;  // each slice's index initializer, written on success
    std::vector<TypeShape> operand_types;
    bool slices_accepted = true;
    const char* names[] = {"q", "k", "v"};
    const Operand* operands[] = {&chain.q4, &chain.k4, &chain.v4};
    for (int i = 0; i < 3; ++i) {
      Node probe;
      probe.inputs = {operands[i]->tensor};
      TypeShape type = node_input_types(graph, types, probe)[0];
      if (operands[i]->packed_index < 0) {
        fused.inputs.push_back(operands[i]->tensor);
        operand_types.push_back(type);
        continue;
      }
      Node gather;
      gather.name = fused.name + "/" + names[i];
      gather.op_type = "Gather";
      gather.inputs = {operands[i]->tensor, gather.name + "_index"};
      gather.outputs = {gather.name};
      gather.attributes["axis"] = int_attribute(2);
      const TypeShape index_type{DataType::kInt64, Shape(std::vector<Dim>{})};
      slices_accepted = slices_accepted && accept(gather, {type, index_type});
      if (type.shape.has_rank && type.shape.rank() == 5) type.shape.dims.erase(type.shape.dims.begin() + 2);
      fused.inputs.push_back(gather.outputs[0]);
      operand_types.push_back(type);
      slices.push_back(gather);
      slice_indices.emplace_back(gather.input(1), operands[i]->packed_index);
    }
    if (!slices_accepted || !accept(fused, operand_types)) {
      report.refused(kPass, softmax.describe() + " stays unfused: the device has no attention kernel for these "
                                                 "types and head sizes");
      continue;
    }
    for (const auto& [name, value] : slice_indices) {
      Tensor index(DataType::kInt64, {});
      index.data<int64_t>()[0] = value;
      graph.initializers[name] = index;
    }
    const std::set<const Node*> gone{chain.scores, chain.scaling, chain.softmax, chain.context, chain.merge};
    std::vector<Node> nodes;
    std::vector<std::string> erased;
    for (const Node& n : graph.nodes) {
      if (&n == chain.merge) {  // the last node of the chain: every input of the fused node is defined before it
        nodes.insert(nodes.end(), slices.begin(), slices.end());
        nodes.push_back(fused);
      } else if (gone.count(&n)) {
        erased.insert(erased.end(), n.outputs.begin(), n.outputs.end());
      } else {
        nodes.push_back(n);
      }
    }
    report.applied(kPass, softmax.describe() + " with " + chain.scores->describe() + " and " +
                              chain.context->describe() + " -> " + fused.describe() + " (scale " +
                              std::to_string(chain.scale) + (slices.empty() ? "" : ", q/k/v sliced from a packed "
                                                                                   "projection") + ")");
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
  bool fused = false;
  while (fuse_one(graph, report, accept, &decided)) fused = true;
  // The head-split Transposes and slices nothing reads any more.
  if (fused) eliminate_dead_nodes(graph, report);
}

}  // namespace normrt
