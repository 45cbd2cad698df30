// Pass "norm_activation_fusion": normalization nodes become normrt's fused ops (domain ai.normrt, see
// src/ops/README.md) so that the fast kernels of src/cpu/norm_fast.cpp run for all of them, taking along an
// activation that only they feed.
//
//   X -> InstanceNormalization | GroupNormalization | LayerNormalization -> y -> Act -> z
//   X -> ai.normrt GroupNorm | LayerNorm (no activation, no residual)  -> y -> Act -> z
//        Act: Relu, LeakyRelu, Elu, Sigmoid, Tanh, HardSwish, Gelu (opset 20, approximate none | tanh),
//             or SiLU written as  y -> Sigmoid -> s,  Mul(y, s) | Mul(s, y) -> z
//   ==>
//   X -> ai.normrt GroupNorm | LayerNorm (activation = Act) -> z
//
// With FusionTarget::kOnnx (`normrt fuse`) only ai.normrt nodes and GroupNormalization-18 are candidates:
// InstanceNormalization, LayerNormalization and GroupNormalization-21 are standard ops every runtime runs
// and stay as they are (genuine InstanceNorms stay InstanceNorms in the fused file).
//
// The normalization converts when:
//   N1. it is InstanceNormalization, GroupNormalization at opset >= 18, or LayerNormalization, in the default
//       domain (or already an ai.normrt op, which only takes an activation);
//   N2. InstanceNormalization: the channel count C is known (the length of scale, or dim 1 of X), since it
//       becomes num_groups;
//   N3. LayerNormalization: its Mean and InvStdDev outputs are absent or read by nobody (nor graph outputs).
// GroupNormalization-18's per-group scale and bias carry over as affine_per_group = 1; -21's are per channel.
// The activation fuses in as well when:
//   A1. y is not a graph output;
//   A2. y has exactly one reader (SiLU: exactly two, its Sigmoid and its Mul);
//   A3. that reader is one of the activations above, in the default domain, with one input and one output,
//       and attributes the fused op represents (Gelu: approximate "none" or "tanh"; at any opset, since
//       gelu_fusion writes Gelu into graphs older than opset 20 and normrt runs it there);
//   A4. SiLU: the Sigmoid reads y, its output s is read by the Mul alone and is not a graph output, and the
//       Mul's two inputs are y and s.
// The first failing condition is recorded with report.refused; each rewrite with report.applied. The fused
// node keeps the normalization's name and writes the activation's output, so graph outputs keep their names.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ops/activation_math.h"
#include "ops/op.h"
#include "passes/pass.h"

namespace normrt {
namespace {

constexpr const char* kPass = "norm_activation_fusion";

// Who reads each value: node indices (one entry per input slot that names it) and whether it is a graph output.
struct Readers {
  std::map<std::string, std::vector<size_t>> nodes;
  std::set<std::string> graph_outputs;

  const std::vector<size_t>& of(const std::string& value) const {
    static const std::vector<size_t> kNone;
    auto it = nodes.find(value);
    return it == nodes.end() ? kNone : it->second;
  }
  bool unused(const std::string& value) const { return of(value).empty() && !graph_outputs.count(value); }
};

Readers find_readers(const Graph& graph) {
  Readers r;
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    for (const std::string& in : graph.nodes[i].inputs)
      if (!in.empty()) r.nodes[in].push_back(i);
  for (const ValueInfo& out : graph.outputs) r.graph_outputs.insert(out.name);
  return r;
}

std::string label(const Node& node) {
  return (node.domain.empty() ? "" : node.domain + "::") + node.op_type + " '" + node.name + "'";
}

Attribute int_attribute(int64_t v) {
  Attribute a;
  a.type = AttributeType::kInt;
  a.i = v;
  return a;
}
Attribute float_attribute(float v) {
  Attribute a;
  a.type = AttributeType::kFloat;
  a.f = v;
  return a;
}
Attribute string_attribute(const std::string& v) {
  Attribute a;
  a.type = AttributeType::kString;
  a.s = v;
  return a;
}

// The channel count of an InstanceNormalization, from scale's length or X's dim 1; -1 when unknown.
int64_t known_channels(const Graph& graph, const Node& norm) {
  auto dim_of = [&](const std::string& name, size_t axis) -> int64_t {
    auto init = graph.initializers.find(name);
    if (init != graph.initializers.end())
      return init->second.rank() > axis ? init->second.dims()[axis] : -1;
    const Shape* shape = nullptr;
    if (const ValueInfo* in = graph.find_input(name)) shape = &in->shape;
    auto vi = graph.value_info.find(name);
    if (!shape && vi != graph.value_info.end()) shape = &vi->second.shape;
    if (!shape || !shape->has_rank || shape->rank() <= axis) return -1;
    return shape->dims[axis].known() ? shape->dims[axis].value : -1;
  };
  const int64_t from_scale = dim_of(norm.input(1), 0);
  return from_scale >= 0 ? from_scale : dim_of(norm.input(0), 1);
}

// The ai.normrt node a normalization becomes (without activation), or an empty op_type and `why` not.
Node convert_norm(const Graph& graph, const Readers& readers, const Node& norm, std::string* why) {
  Node fused;
  fused.name = norm.name;
  fused.domain = kNormrtDomain;
  fused.outputs = {norm.outputs.at(0)};
  auto copy_epsilon = [&]() {
    if (norm.has_attribute("epsilon")) fused.attributes["epsilon"] = float_attribute(norm.attr_float("epsilon", 1e-5f));
  };
  if (norm.domain == kNormrtDomain) {
    fused = norm;
    return fused;
  }
  if (norm.op_type == "InstanceNormalization") {
    const int64_t channels = known_channels(graph, norm);
    if (channels <= 0) {
      *why = "its channel count is unknown (scale '" + norm.input(1) +
             "' is not an initializer and neither it nor X '" + norm.input(0) +
             "' has a known shape), and it becomes GroupNorm with num_groups = C";
      return Node();
    }
    fused.op_type = "GroupNorm";
    fused.inputs = {norm.input(0), norm.input(1), norm.input(2)};
    fused.attributes["num_groups"] = int_attribute(channels);
    copy_epsilon();
    return fused;
  }
  if (norm.op_type == "GroupNormalization") {
    const int64_t opset = graph.opset("");
    if (opset < 18) {
      *why = "GroupNormalization exists from opset 18, and the model imports opset " + std::to_string(opset);
      return Node();
    }
    fused.op_type = "GroupNorm";
    fused.inputs = {norm.input(0), norm.input(1), norm.input(2)};
    fused.attributes["num_groups"] = int_attribute(norm.attr_int("num_groups"));
    if (opset < 21) fused.attributes["affine_per_group"] = int_attribute(1);
    copy_epsilon();
    return fused;
  }
  // LayerNormalization
  for (size_t o = 1; o < norm.outputs.size(); ++o) {
    const std::string& extra = norm.outputs[o];
    if (extra.empty() || readers.unused(extra)) continue;
    *why = std::string("its ") + (o == 1 ? "Mean" : "InvStdDev") + " output '" + extra +
           "' is used, and the fused LayerNorm has one output";
    return Node();
  }
  fused.op_type = "LayerNorm";
  fused.inputs = {norm.input(0), norm.input(1)};
  if (norm.has_input(2)) fused.inputs.push_back(norm.input(2));
  if (norm.has_attribute("axis")) fused.attributes["axis"] = int_attribute(norm.attr_int("axis", -1));
  copy_epsilon();
  return fused;
}

bool is_candidate(const Node& node, const Graph& graph, FusionTarget target) {
  if (node.domain.empty() && target == FusionTarget::kOnnx)
    return node.op_type == "GroupNormalization" && graph.opset("") < 21;
  if (node.domain.empty())
    return node.op_type == "InstanceNormalization" || node.op_type == "GroupNormalization" ||
           node.op_type == "LayerNormalization";
  // An ai.normrt node with a residual (norm_residual_fusion's, engines only) takes an activation that follows
  // it as act(norm + residual): residual_before_activation = 1.
  if (node.domain == kNormrtDomain && (node.op_type == "GroupNorm" || node.op_type == "LayerNorm"))
    return node.attr_string("activation", "").empty() && (!node.has_input(3) || target == FusionTarget::kEngine);
  return false;
}

struct ActivationMatch {
  FusedActivation kind = FusedActivation::kNone;
  float alpha = 0;
  std::vector<size_t> removed;  // the activation's nodes
  std::string output;           // the value the fused node writes
  std::vector<std::string> dropped_values;  // intermediate values that disappear
};

// Matches y's activation per A1-A4; false with `why` on the first failing condition.
bool match_activation(const Graph& graph, const Readers& readers, const std::string& y, ActivationMatch* m,
                      std::string* why) {
  if (readers.graph_outputs.count(y)) {
    *why = "its output '" + y + "' is a graph output";
    return false;
  }
  const std::vector<size_t>& users = readers.of(y);
  if (users.empty()) {
    *why = "its output '" + y + "' has no reader";
    return false;
  }
  std::set<size_t> distinct(users.begin(), users.end());
  auto list_users = [&]() {
    std::string s;
    for (size_t u : distinct) s += (s.empty() ? "" : ", ") + label(graph.nodes[u]);
    return s;
  };
  auto simple = [](const Node& n) { return n.domain.empty() && n.inputs.size() == 1 && n.outputs.size() == 1; };

  // SiLU: exactly a Sigmoid and a Mul read y.
  if (distinct.size() == 2 && users.size() == 2) {
    const Node* sigmoid = nullptr;
    const Node* mul = nullptr;
    size_t sigmoid_index = 0, mul_index = 0;
    for (size_t u : distinct) {
      const Node& n = graph.nodes[u];
      if (n.domain.empty() && n.op_type == "Sigmoid") sigmoid = &n, sigmoid_index = u;
      if (n.domain.empty() && n.op_type == "Mul") mul = &n, mul_index = u;
    }
    if (!sigmoid || !mul) {
      *why = "its output '" + y + "' has 2 readers (" + list_users() + "), which are not a Sigmoid and a Mul (SiLU)";
      return false;
    }
    if (!simple(*sigmoid)) {
      *why = "the Sigmoid " + label(*sigmoid) + " of the SiLU pattern does not have exactly one input and output";
      return false;
    }
    const std::string& s = sigmoid->outputs[0];
    if (readers.graph_outputs.count(s)) {
      *why = "the Sigmoid output '" + s + "' of the SiLU pattern is a graph output";
      return false;
    }
    const std::vector<size_t>& s_users = readers.of(s);
    if (s_users.size() != 1 || s_users[0] != mul_index) {
      *why = "the Sigmoid output '" + s + "' of the SiLU pattern is read by " + std::to_string(s_users.size()) +
             " input(s), not by the Mul " + label(*mul) + " alone";
      return false;
    }
    if (mul->inputs.size() != 2 || mul->outputs.size() != 1 ||
        !((mul->inputs[0] == y && mul->inputs[1] == s) || (mul->inputs[0] == s && mul->inputs[1] == y))) {
      *why = "the Mul " + label(*mul) + " does not multiply '" + y + "' by its Sigmoid '" + s + "'";
      return false;
    }
    m->kind = FusedActivation::kSilu;
    m->removed = {sigmoid_index, mul_index};
    m->output = mul->outputs[0];
    m->dropped_values = {y, s};
    return true;
  }
  if (users.size() != 1) {
    *why = "its output '" + y + "' has " + std::to_string(users.size()) + " readers (" + list_users() +
           "); an activation fuses only into a normalization it alone reads";
    return false;
  }
  const Node& act = graph.nodes[users[0]];
  if (!act.domain.empty()) {
    *why = "its reader " + label(act) + " is not in the default domain";
    return false;
  }
  static const std::map<std::string, FusedActivation> kSimple = {
      {"Relu", FusedActivation::kRelu},       {"LeakyRelu", FusedActivation::kLeakyRelu},
      {"Elu", FusedActivation::kElu},         {"Sigmoid", FusedActivation::kSigmoid},
      {"Tanh", FusedActivation::kTanh},       {"HardSwish", FusedActivation::kHardSwish},
      {"Gelu", FusedActivation::kGelu}};
  auto it = kSimple.find(act.op_type);
  if (it == kSimple.end()) {
    *why = "its only reader " + label(act) + " is not a fusable activation";
    return false;
  }
  if (!simple(act)) {
    *why = "its reader " + label(act) + " does not have exactly one input and one output";
    return false;
  }
  m->kind = it->second;
  if (act.op_type == "Gelu") {
    const std::string approximate = act.attr_string("approximate", "none");
    if (approximate == "tanh") m->kind = FusedActivation::kGeluTanh;
    else if (approximate != "none") {
      *why = "its reader " + label(act) + " has approximate = '" + approximate + "'; expected 'none' or 'tanh'";
      return false;
    }
  }
  m->alpha = act.attr_float("alpha", default_activation_alpha(m->kind));
  m->removed = {users[0]};
  m->output = act.outputs[0];
  m->dropped_values = {y};
  return true;
}

}  // namespace

void fuse_norm_activation(Graph& graph, PassReport& report, FusionTarget target) {
  const Readers readers = find_readers(graph);
  std::map<size_t, Node> replacements;
  std::set<size_t> removed;
  std::vector<std::string> dropped_values;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& norm = graph.nodes[i];
    if (!is_candidate(norm, graph, target) || removed.count(i)) continue;
    std::string why;
    Node fused = convert_norm(graph, readers, norm, &why);
    if (fused.op_type.empty()) {
      report.refused(kPass, label(norm) + " stays as it is: " + why);
      continue;
    }
    ActivationMatch match;
    const std::string& y = norm.outputs.at(0);
    const bool with_activation = match_activation(graph, readers, y, &match, &why);
    if (!with_activation) report.refused(kPass, "no activation fused into " + label(norm) + ": " + why);
    if (!with_activation && norm.domain == kNormrtDomain) continue;  // already fused, nothing to change

    std::string description = label(norm);
    if (with_activation) {
      fused.outputs = {match.output};
      fused.attributes["activation"] = string_attribute(fused_activation_name(match.kind));
      if (match.kind == FusedActivation::kLeakyRelu || match.kind == FusedActivation::kElu)
        fused.attributes["activation_alpha"] = float_attribute(match.alpha);
      if (fused.has_input(3)) fused.attributes["residual_before_activation"] = int_attribute(1);
      for (size_t r : match.removed) {
        removed.insert(r);
        description += " + " + label(graph.nodes[r]);
      }
      dropped_values.insert(dropped_values.end(), match.dropped_values.begin(), match.dropped_values.end());
    }
    for (size_t o = 1; o < norm.outputs.size(); ++o)
      if (!norm.outputs[o].empty()) dropped_values.push_back(norm.outputs[o]);
    description += " -> " + label(fused) + " writing '" + fused.outputs[0] + "'";
    if (fused.has_attribute("num_groups")) description += ", num_groups = " + std::to_string(fused.attr_int("num_groups"));
    if (with_activation) description += ", activation " + std::string(fused_activation_name(match.kind));
    if (with_activation && fused.has_input(3)) description += " after the residual add";
    report.applied(kPass, description);
    replacements[i] = std::move(fused);
  }
  if (replacements.empty()) return;

  std::vector<Node> nodes;
  nodes.reserve(graph.nodes.size());
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (removed.count(i)) continue;
    auto it = replacements.find(i);
    nodes.push_back(it != replacements.end() ? std::move(it->second) : std::move(graph.nodes[i]));
  }
  graph.nodes = std::move(nodes);
  for (const std::string& v : dropped_values) graph.value_info.erase(v);
  if (!graph.opsets.count(kNormrtDomain)) graph.opsets[kNormrtDomain] = 1;
}

}  // namespace normrt
