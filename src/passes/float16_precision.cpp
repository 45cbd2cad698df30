// Pass "float16_precision": the --fp16 lowering of a float32 graph (see float16_precision.h).
//
//   x (float32 graph input) -> Cast(to float16) -> [nodes in float16] -> Cast(to float32) -> y (graph output)
//   a node the backend cannot run in float16:  ... -> Cast(to float32) -> node -> Cast(to float16) -> ...
//
// Walking the nodes in order, each node that reads or writes float32 values is offered float16 for them:
//   F1. it has a schema and no subgraph attribute;
//   F2. its shape function accepts the float16 input types (normalization parameters, Resize's roi and scales
//       and Upsample's scales stay float32: see kept_float32_inputs);
//   F3. `supported` (the backend's kernel registry) accepts the node with those input types.
// A node passing all three runs in float16: its float32 outputs become float16 (what its shape function
// says with float16 inputs). Cast(to float32), ConstantOfShape and Constant of float32 are offered as their
// float16 form (to = float16, value converted) unless they write a graph output. Any other node keeps float32
// and reads float32 versions of its inputs. Shape and Size read any input type, so they never force a Cast.
//
// Values cross between the two precisions through Casts inserted once per value (before its first reader
// that needs it); initializers are converted at build time instead: a float32 initializer read in float16
// becomes a float16 initializer (round to nearest even; finite values beyond +-65504 saturate there and are
// reported, as are non-zero values that flush to zero), one also read in float32 is kept in both forms.
// Graph inputs and outputs keep their declared types. Every decision is recorded in the PassReport.
//
// One float32 island is inferred: Sin and Cos, and the chain of cheap elementwise and shape nodes that computes
// their input (Mul, Add, Cast, Unsqueeze, ...; stopping at anything else), keep float32. A timestep
// embedding's t * frequency reaches ~1000, where float16's spacing is 0.5: its sine would lose all phase.
// Other delicate chains are not detected; a backend that wants them in float32 says no in `supported`.
#include "passes/float16_precision.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ops/evaluate.h"
#include "ops/shape_util.h"
#include "passes/rewrite_util.h"

namespace normrt {
namespace {

constexpr const char* kPass = "float16_precision";
constexpr uint16_t kLargestHalfBits = 0x7bff;  // 65504

std::string label(const Node& node) {
  return (node.domain.empty() ? "" : node.domain + "::") + node.op_type + " '" + node.name + "'";
}

int64_t node_opset(const Graph& graph, const Node& node) {
  return node.domain.empty() ? graph.opset("") : graph.opset(node.domain);
}

// Inputs that keep float32 in a float16 node: normalization statistics and affine parameters (the kernels read
// them as fp32; float16 would only lose precision), and inputs whose type constraint is float32 only.
std::set<size_t> kept_float32_inputs(const Node& node) {
  if (node.domain == kNormrtDomain && (node.op_type == "GroupNorm" || node.op_type == "LayerNorm")) return {1, 2};
  if (!node.domain.empty()) return {};
  if (node.op_type == "InstanceNormalization" || node.op_type == "GroupNormalization" ||
      node.op_type == "LayerNormalization")
    return {1, 2};
  if (node.op_type == "BatchNormalization") return {1, 2, 3, 4};
  if (node.op_type == "Resize") return {1, 2};
  if (node.op_type == "Upsample") return {1};
  return {};
}

bool reads_only_shape(const Node& node) {
  return node.domain.empty() && (node.op_type == "Shape" || node.op_type == "Size");
}

bool has_subgraph(const Node& node) {
  for (const auto& [key, a] : node.attributes)
    if (a.type == AttributeType::kGraph) return true;
  return false;
}

struct HalfConversion {
  Tensor tensor;
  int64_t saturated = 0;  // finite values beyond the float16 range, now +-65504
  int64_t flushed = 0;    // non-zero values that became (signed) zero
  double largest = 0;     // the largest saturated magnitude
};

HalfConversion to_half(const Tensor& t) {
  HalfConversion c;
  c.tensor = Tensor(DataType::kFloat16, t.dims());
  const float* in = t.data<float>();
  uint16_t* out = c.tensor.data<uint16_t>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    uint16_t h = float_to_half(in[i]);
    if (std::isfinite(in[i]) && (h & 0x7fffu) == 0x7c00u) {
      h = static_cast<uint16_t>((h & 0x8000u) | kLargestHalfBits);
      ++c.saturated;
      c.largest = std::max(c.largest, std::fabs(static_cast<double>(in[i])));
    } else if (in[i] != 0.0f && (h & 0x7fffu) == 0) {
      ++c.flushed;
    }
    out[i] = h;
  }
  return c;
}

// The float16 form of a node whose float32 output type comes from an attribute, or false.
bool float16_variant(const Node& node, Node* variant, const std::set<std::string>& graph_outputs) {
  if (!node.domain.empty() || node.outputs.size() != 1 || graph_outputs.count(node.outputs[0])) return false;
  if (node.op_type == "Cast") {
    if (node.attr_int("to", 0) != static_cast<int64_t>(DataType::kFloat32)) return false;
    *variant = node;
    variant->attributes["to"] = int_attribute(static_cast<int64_t>(DataType::kFloat16));
    return true;
  }
  if (node.op_type == "ConstantOfShape" || node.op_type == "Constant") {
    auto it = node.attributes.find("value");
    if (it == node.attributes.end() || it->second.type != AttributeType::kTensor ||
        it->second.t.dtype() != DataType::kFloat32)
      return false;
    HalfConversion c = to_half(it->second.t);
    if (c.saturated || c.flushed) return false;  // keep such constants exact
    *variant = node;
    variant->attributes["value"].t = c.tensor;
    return true;
  }
  return false;
}

class Float16Lowering {
 public:
  Float16Lowering(Graph& graph, const Float16Support& supported, PassReport& report)
      : graph_(graph), supported_(supported), report_(report) {}

  void run() {
    GraphTypes original = infer_types_tolerant(graph_);
    types_ = original.types;
    values_ = original.values;
    for (const auto& in : graph_.inputs) used_names_.insert(in.name);
    for (const auto& out : graph_.outputs) {
      used_names_.insert(out.name);
      graph_outputs_.insert(out.name);
    }
    for (const auto& [name, t] : graph_.initializers) used_names_.insert(name);
    for (const auto& [name, vi] : graph_.value_info) used_names_.insert(name);
    for (const Node& n : graph_.nodes) {
      used_names_.insert(n.name);
      for (const auto& out : n.outputs) used_names_.insert(out);
    }
    for (const auto& [name, ts] : types_) available_[name][ts.dtype] = name;

    std::vector<Node> nodes = std::move(graph_.nodes);
    graph_.nodes.clear();
    mark_phase_chains(nodes);
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (phase_chain_.count(i)) {
        report_.refused(kPass, label(nodes[i]) + " keeps float32: it computes the argument of a Sin / Cos");
        emit(nodes[i], false, {});
      } else {
        lower(nodes[i]);
      }
    }
    finish_initializers();
    refresh_value_info();
    graph_.verify();
  }

 private:
  // The name under which `value` is available in `dtype`, inserting a Cast (or converting an initializer)
  // the first time.
  std::string in_dtype(const std::string& value, DataType dtype, const Node& reader) {
    auto& forms = available_[value];
    auto it = forms.find(dtype);
    if (it != forms.end()) return it->second;
    auto init = graph_.initializers.find(value);
    if (init != graph_.initializers.end() && init->second.dtype() == DataType::kFloat32 &&
        dtype == DataType::kFloat16) {
      HalfConversion c = to_half(init->second);
      const std::string name = fresh(value + "_fp16");
      std::string note;
      if (c.saturated) {
        char largest[32];
        std::snprintf(largest, sizeof largest, "%g", c.largest);
        note += "; " + std::to_string(c.saturated) + " value(s) beyond the float16 range (largest magnitude " +
                largest + ") saturated to +-65504";
      }
      if (c.flushed) note += "; " + std::to_string(c.flushed) + " non-zero value(s) flushed to zero";
      report_.applied(kPass, "initializer '" + value + "' " + dims_to_string(init->second.dims()) +
                                 " converted to float16 for " + label(reader) + note);
      graph_.initializers[name] = c.tensor;
      types_[name] = TypeShape{DataType::kFloat16, Shape::from_dims(c.tensor.dims())};
      converted_initializers_[name] = value;
      return forms[dtype] = name;
    }
    // A Cast from the form that exists (there is exactly one other: float32 or float16).
    if (forms.empty()) throw Error(ErrorCode::kInternal, "float16_precision: '" + value + "' has no type");
    const std::string source = forms.begin()->second;
    const std::string name = fresh(value + (dtype == DataType::kFloat16 ? "_fp16" : "_fp32"));
    Node cast;
    cast.name = fresh(name + "_cast");
    cast.op_type = "Cast";
    cast.inputs = {source};
    cast.outputs = {name};
    cast.attributes["to"] = int_attribute(static_cast<int64_t>(dtype));
    graph_.nodes.push_back(cast);
    TypeShape ts = types_[source];
    ts.dtype = dtype;
    types_[name] = ts;
    report_.applied(kPass, "Cast '" + source + "' to " + dtype_name(dtype) + " for " + label(reader));
    return forms[dtype] = name;
  }

  std::string fresh(const std::string& base) {
    std::string name = base;
    for (int k = 1; used_names_.count(name); ++k) name = base + "_" + std::to_string(k);
    used_names_.insert(name);
    return name;
  }

  bool known(const std::string& value) const { return types_.count(value) != 0; }

  // Runs the node's shape function with these input types; false (and why) when it refuses.
  bool infer(const Node& node, const std::vector<TypeShape>& inputs, std::vector<TypeShape>* outputs,
             std::string* why) {
    const OpSchema* schema = find_schema(node);
    if (!schema) {
      *why = "no schema";
      return false;
    }
    InferContext ctx(node, node_opset(graph_, node));
    ctx.inputs = inputs;
    ctx.values.assign(node.inputs.size(), nullptr);
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (node.inputs[i].empty()) continue;
      auto v = values_.find(node.inputs[i]);
      if (v != values_.end() && v->second.dtype() == inputs[i].dtype) ctx.values[i] = &v->second;
    }
    try {
      schema->infer(ctx);
    } catch (const Error& e) {
      *why = e.what();
      return false;
    }
    if (ctx.outputs.size() < node.outputs.size()) {
      *why = "its shape function sets too few outputs";
      return false;
    }
    *outputs = ctx.outputs;
    return true;
  }

  // Sin / Cos nodes and, backwards through their float32 inputs, the cheap nodes computing them.
  void mark_phase_chains(const std::vector<Node>& nodes) {
    static const std::set<std::string> kChain = {
        "Mul",    "Add",      "Sub",    "Div",   "Neg",    "Cast",      "Unsqueeze", "Squeeze", "Reshape", "Flatten",
        "Expand", "Identity", "Gather", "Slice", "Concat", "Transpose", "Exp",       "Sin",     "Cos"};
    std::map<std::string, size_t> producer;
    for (size_t i = 0; i < nodes.size(); ++i)
      for (const std::string& out : nodes[i].outputs) producer[out] = i;
    std::vector<size_t> work;
    for (size_t i = 0; i < nodes.size(); ++i)
      if (nodes[i].domain.empty() && (nodes[i].op_type == "Sin" || nodes[i].op_type == "Cos")) work.push_back(i);
    while (!work.empty()) {
      const size_t i = work.back();
      work.pop_back();
      if (!phase_chain_.insert(i).second) continue;
      for (const std::string& in : nodes[i].inputs) {
        auto p = producer.find(in);
        if (p == producer.end() || !known(in) || types_.at(in).dtype != DataType::kFloat32) continue;
        const Node& n = nodes[p->second];
        if (n.domain.empty() && kChain.count(n.op_type)) work.push_back(p->second);
      }
    }
  }

  void lower(Node node) {
    const std::set<size_t> kept = kept_float32_inputs(node);
    bool touches_float32 = false, all_known = true;
    std::vector<TypeShape> half_inputs(node.inputs.size());
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const std::string& in = node.inputs[i];
      if (in.empty()) continue;
      if (!known(in)) {
        all_known = false;
        continue;
      }
      half_inputs[i] = original_type(in);
      if (half_inputs[i].dtype == DataType::kFloat32 && !kept.count(i)) {
        half_inputs[i].dtype = DataType::kFloat16;
        touches_float32 = true;
      }
    }
    for (const std::string& out : node.outputs)
      if (!out.empty() && types_.count(out) && types_[out].dtype == DataType::kFloat32) touches_float32 = true;

    if (!touches_float32 || !all_known) {
      emit(node, false, {});
      return;
    }
    if (reads_only_shape(node)) {  // Shape/Size of whatever form the value has
      emit(node, true, {});
      return;
    }
    Node candidate = node;
    const bool is_variant = float16_variant(node, &candidate, graph_outputs_);
    std::string why;
    std::vector<TypeShape> outputs;
    if (has_subgraph(node)) {
      why = "it has a subgraph";
    } else if (!infer(candidate, half_inputs, &outputs, &why)) {
      why = "its shape function refuses float16 inputs: " + why;
    } else if (!supported_(candidate, node_opset(graph_, node), half_inputs)) {
      why = "the backend has no float16 kernel for it";
    } else {
      report_.applied(kPass,
                      label(node) + " runs in float16" + (is_variant ? " (its float32 output now float16)" : ""));
      emit(candidate, true, outputs);
      return;
    }
    report_.refused(kPass, label(node) + " keeps float32: " + why);
    emit(node, false, {});
  }

  TypeShape original_type(const std::string& value) const { return types_.at(value); }

  // Appends the node reading the forms its precision needs. `half` nodes get their outputs' new types.
  void emit(Node node, bool half, const std::vector<TypeShape>& outputs) {
    const std::set<size_t> kept = kept_float32_inputs(node);
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const std::string in = node.inputs[i];
      if (in.empty() || !known(in)) continue;
      const DataType declared = original_type(in).dtype;
      if (reads_only_shape(node)) {  // the float16 form when there is one: it exists before any Cast of it
        const auto& forms = available_[in];
        auto half_form = forms.find(DataType::kFloat16);
        node.inputs[i] = half_form != forms.end() ? half_form->second : forms.begin()->second;
        continue;
      }
      if (declared != DataType::kFloat32) continue;
      const DataType want = half && !kept.count(i) ? DataType::kFloat16 : DataType::kFloat32;
      node.inputs[i] = in_dtype(in, want, node);
    }
    const size_t position = graph_.nodes.size();
    graph_.nodes.push_back(node);
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      const std::string out = node.outputs[o];
      if (out.empty()) continue;
      const bool became_half = half && o < outputs.size() && outputs[o].dtype == DataType::kFloat16 &&
                               types_.count(out) && types_[out].dtype == DataType::kFloat32;
      if (!became_half) {
        if (types_.count(out)) available_[out] = {{types_[out].dtype, out}};
        continue;
      }
      if (!graph_outputs_.count(out)) {
        available_[out] = {{DataType::kFloat16, out}};
        retyped_[out] = DataType::kFloat16;
        continue;
      }
      // A graph output keeps its float32 name: the node writes a float16 value that a Cast converts.
      const std::string half_name = fresh(out + "_fp16");
      graph_.nodes[position].outputs[o] = half_name;
      TypeShape ts = types_[out];
      ts.dtype = DataType::kFloat16;
      types_[half_name] = ts;
      Node cast;
      cast.name = fresh(out + "_cast");
      cast.op_type = "Cast";
      cast.inputs = {half_name};
      cast.outputs = {out};
      cast.attributes["to"] = int_attribute(static_cast<int64_t>(DataType::kFloat32));
      graph_.nodes.push_back(cast);
      available_[out] = {{DataType::kFloat16, half_name}, {DataType::kFloat32, out}};
      report_.applied(kPass, "graph output '" + out + "' stays float32: Cast after " + label(node));
    }
  }

  // Float32 initializers nobody reads any more are replaced by their float16 form under the original name;
  // those still read in float32 stay beside their float16 copy.
  void finish_initializers() {
    std::map<std::string, int> uses = count_uses(graph_);
    std::map<std::string, std::string> renames;
    for (const auto& [half_name, original] : converted_initializers_) {
      if (uses[original] > 0) {
        report_.applied(kPass, "initializer '" + original +
                                   "' is read in float32 and in float16: kept in both forms ('" + half_name + "')");
        continue;
      }
      graph_.initializers.erase(original);
      graph_.value_info.erase(original);
      graph_.initializers[original] = std::move(graph_.initializers[half_name]);
      graph_.initializers.erase(half_name);
      renames[half_name] = original;
    }
    if (renames.empty()) return;
    for (Node& node : graph_.nodes)
      for (std::string& in : node.inputs) {
        auto it = renames.find(in);
        if (it != renames.end()) in = it->second;
      }
  }

  // value_info entries keep their names; their types follow what the values now are.
  void refresh_value_info() {
    for (auto& [name, vi] : graph_.value_info) {
      auto it = retyped_.find(name);
      if (it != retyped_.end()) vi.dtype = it->second;
    }
  }

  Graph& graph_;
  const Float16Support& supported_;
  PassReport& report_;
  std::map<std::string, TypeShape> types_;
  std::map<std::string, Tensor> values_;
  std::map<std::string, std::map<DataType, std::string>> available_;  // value -> dtype -> name holding it
  std::map<std::string, std::string> converted_initializers_;         // float16 copy -> float32 original
  std::map<std::string, DataType> retyped_;                           // values whose type changed in place
  std::set<std::string> used_names_;
  std::set<std::string> graph_outputs_;
  std::set<size_t> phase_chain_;  // nodes (by index in the original order) that keep float32
};

}  // namespace

void lower_to_float16(Graph& graph, const Float16Support& supported, PassReport& report) {
  if (!supported) throw Error(ErrorCode::kInvalidArgument, "lower_to_float16: no float16 support predicate given");
  Float16Lowering(graph, supported, report).run();
}

}  // namespace normrt
