// Pass "channels_last_layout": moves 2-D convolutions, and the normalizations and elementwise ops between them,
// to channels-last data ([N, H, W, C]) for a device whose kernels are faster so (cuDNN's tensor-core
// convolutions read and write NHWC natively; at NCHW they transpose internally), with as few layout transposes
// as the graph allows. The builder runs it for `--layout nhwc` (the default for CUDA float16 engines).
//
//  1. Conv becomes  Transpose(to NHWC) -> ai.normrt NhwcConv -> Transpose(to NCHW)  when
//       C1. X has rank 4 and W is a constant of rank 4 (written once more as [M, kH, kW, C/group]);
//       C2. padding is explicit and symmetric, or VALID (SAME's split depends on the input extent);
//       C3. the device has a kernel for the NhwcConv (`accept`).
//     ai.normrt GroupNorm of rank-4 X likewise becomes  Transpose -> GroupNorm(channels_last = 1) -> Transpose
//     (its residual transposed too) when C / num_groups <= 1024 and the device has a kernel for it.
//  2. Every to-NCHW Transpose (perm [0, 3, 1, 2]) is then pushed towards the graph's outputs through the ops
//     that do not care about layout, until nothing moves:
//       - a to-NHWC Transpose (perm [0, 2, 3, 1]) of its output cancels it;
//       - a unary elementwise op runs on the NHWC value instead, and the Transpose moves below it (not below a
//         widening Cast that writes a graph output, --fp16's float32 outputs: above it, it moves fewer bytes);
//       - a broadcasting elementwise op (Add, Mul, Where, ...) likewise when each other operand is NHWC already
//         (the input of another to-NCHW Transpose), a constant (permuted here, after its rank is brought to 4)
//         or a value whose two spatial dims are 1 ([N, C, 1, 1]: transposing it moves a few bytes);
//       - Concat over channels when every input is NHWC or a constant (the axis becomes 3);
//       - Resize whose scales / sizes / roi are constants (permuted) and without an `axes` attribute;
//       - Pad (style transfer's reflection pads) whose pads, or axes when given, are constants;
//       - Slice whose axes are constants, or absent with a known number of starts (the axes are renumbered);
//       - 2-D MaxPool (without Indices) and AveragePool become ai.normrt NhwcMaxPool / NhwcAveragePool where the
//         device has a kernel for them (ResNet's stem pool, between its first GroupNorm and first convolution).
//     The Transposes left stand where the layout really changes: at the graph's inputs and outputs and around
//     ops that need channels-first data (Reshape, ...).
//  3. Attention blocks flatten a feature map to tokens and back (x.flatten(2).transpose(1, 2) and its inverse).
//     Around an NHWC map those chains only reshape:
//       Transpose(to NCHW) -> Reshape [N, C, H*W] -> Transpose(0, 2, 1)   is  Reshape(x_nhwc, [0, H*W, C])
//       Transpose(0, 2, 1) -> Reshape [N, C, H, W] -> Transpose(to NHWC)  is  Reshape(tokens, [0, H, W, C])
//     so the chain's last Transpose becomes that Reshape (C, H and W must be known; N stays symbolic); the first
//     two go when nothing else reads them.
//  4. Transposes of the same value with the same perm merge; nodes nobody reads go.
//  5. A layout Transpose that moves only axes of size 1 ([N, C, 1, 1], the time embedding a ResBlock adds) keeps
//     the order of the elements: it becomes a Reshape, which the runtimes run as a view.
// Records: each conversion in step 1 (applied) or why a Conv/GroupNorm stayed (refused), and a summary of step 2.
#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ops/channels_last.h"
#include "passes/pass.h"
#include "passes/rewrite_util.h"
#include "passes/shape_values.h"

namespace normrt {
namespace {

constexpr const char* kPass = "channels_last_layout";
const std::vector<int64_t> kToNhwc{0, 2, 3, 1};
const std::vector<int64_t> kToNchw{0, 3, 1, 2};
constexpr int64_t kMaxChannelsPerGroup = 1024;

const std::set<std::string> kUnary{"Relu", "Sigmoid", "Tanh", "Exp", "Log", "Abs", "Neg", "Sqrt", "Reciprocal",
                                   "Erf", "Cast", "LeakyRelu", "Elu", "Selu", "Celu", "HardSigmoid", "HardSwish",
                                   "Softplus", "Softsign", "Gelu", "Clip", "Identity", "Sin", "Cos", "Floor", "Ceil",
                                   "Round", "Sign", "Not", "IsNaN", "IsInf", "Mish", "ThresholdedRelu", "Dropout"};
const std::set<std::string> kBroadcasting{"Add", "Sub", "Mul", "Div", "Pow", "PRelu", "Max", "Min", "Sum", "Mean",
                                          "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or",
                                          "Xor", "Where", "Mod", "BitShift"};

bool is_transpose(const Node& node, const std::vector<int64_t>& perm) {
  return node.domain.empty() && node.op_type == "Transpose" && node.inputs.size() == 1 && node.outputs.size() == 1 &&
         node.has_attribute("perm") && node.attr_ints("perm") == perm;
}

using Producers = std::map<std::string, const Node*>;

// The NHWC value behind `value` when a to-NCHW Transpose produces it, else "".
std::string nhwc_source(const Producers& producers, const std::string& value) {
  auto p = producers.find(value);
  return p != producers.end() && is_transpose(*p->second, kToNchw) ? p->second->inputs[0] : std::string();
}

class LayoutRewriter {
 public:
  LayoutRewriter(Graph& graph, PassReport& report, const ChannelsLastAccept& accept)
      : graph_(graph), report_(report), accept_(accept), used_(used_value_names(graph)) {
    const GraphTypes types = infer_types_tolerant(graph);
    for (const auto& [name, ts] : types.types) types_[name] = ts;
  }

  void run() {
    convert_nodes();
    size_t moves = 0;
    while (push_one()) ++moves;
    // A folded chain into the tokens makes their types known downstream (the exporter's dynamic reshape left
    // them unknown), which the chain back out of them needs: infer again after each round.
    size_t folded = 0;
    for (size_t round = fold_token_reshapes(); round > 0; round = fold_token_reshapes()) {
      folded += round;
      graph_.sort_topologically();
      for (const auto& [name, ts] : infer_types_tolerant(graph_).types) types_[name] = ts;
    }
    merge_transposes();
    graph_.sort_topologically();  // moved nodes went to the end; dead-code elimination wants graph order
    eliminate_dead_nodes(graph_, report_);
    const size_t views = transposes_to_reshapes();
    size_t left = 0;
    for (const Node& node : graph_.nodes)
      if (is_transpose(node, kToNchw) || is_transpose(node, kToNhwc)) ++left;
    if (converted_)
      report_.applied(kPass, std::to_string(converted_) + " nodes run channels-last; " + std::to_string(moves) +
                                 " layout moves; " + std::to_string(folded) + " token reshapes without transposes; " +
                                 std::to_string(views) + " transposes of size-1 axes become views; " +
                                 std::to_string(left) + " layout transposes remain");
  }

 private:
  std::string fresh(const std::string& base) {
    std::string name = base;
    for (int k = 1; used_.count(name); ++k) name = base + "_" + std::to_string(k);
    used_.insert(name);
    return name;
  }

  const TypeShape* type_of(const std::string& value) const {
    auto it = types_.find(value);
    return it == types_.end() ? nullptr : &it->second;
  }

  Node transpose(const std::string& name, const std::string& in, const std::string& out,
                 const std::vector<int64_t>& perm) {
    Node t;
    t.name = fresh(name);
    t.op_type = "Transpose";
    t.inputs = {in};
    t.outputs = {out};
    t.attributes["perm"] = ints_attribute(perm);
    if (const TypeShape* ts = type_of(in)) types_[out] = TypeShape{ts->dtype, permute_shape(ts->shape, perm)};
    return t;
  }

  // The NHWC form of an NCHW value for a converted node's input: one Transpose per value, shared.
  std::string to_nhwc(const std::string& value, std::vector<Node>* added) {
    auto it = nhwc_of_.find(value);
    if (it != nhwc_of_.end()) return it->second;
    const std::string out = fresh(value + "/nhwc");
    added->push_back(transpose(value + "/to_nhwc", value, out, kToNhwc));
    nhwc_of_[value] = out;
    return out;
  }

  std::string permuted_constant(const std::string& name) {
    auto it = permuted_constants_.find(name);
    if (it != permuted_constants_.end()) return it->second;
    const Tensor& t = graph_.initializers.at(name);
    Dims dims = t.dims();
    while (dims.size() < 4) dims.insert(dims.begin(), 1);
    const std::string out = fresh(name + "/nhwc");
    graph_.initializers[out] = permute_tensor(t.reshaped(dims), kToNhwc);
    types_[out] = TypeShape{t.dtype(), Shape::from_dims(graph_.initializers[out].dims())};
    permuted_constants_[name] = out;
    return out;
  }

  bool rank4(const std::string& value) const {
    const TypeShape* ts = type_of(value);
    return ts && ts->shape.has_rank && ts->shape.rank() == 4;
  }

  bool widens(const Node& cast) const {
    const TypeShape* from = type_of(cast.input(0));
    const TypeShape* to = type_of(cast.outputs[0]);
    return from && to && from->dtype != DataType::kUndefined && to->dtype != DataType::kUndefined &&
           dtype_size(to->dtype) > dtype_size(from->dtype);
  }

  bool float_value(const std::string& value) const {
    const TypeShape* ts = type_of(value);
    return ts && (ts->dtype == DataType::kFloat32 || ts->dtype == DataType::kFloat16 || ts->dtype == DataType::kBFloat16);
  }

  std::vector<TypeShape> input_types(const Node& node) const {
    std::vector<TypeShape> out;
    for (const auto& in : node.inputs) {
      const TypeShape* ts = in.empty() ? nullptr : type_of(in);
      out.push_back(ts ? *ts : TypeShape{});
    }
    return out;
  }

  // Why a Conv cannot become NhwcConv, or "" when it can.
  std::string conv_refusal(const Node& node) const {
    if (node.inputs.size() < 2 || node.outputs.size() != 1) return "not a plain Conv";
    if (!rank4(node.input(0))) return "X is not known to have rank 4 (only 2-D convolutions move)";
    if (!float_value(node.input(0))) return "X is not a float tensor";
    if (!graph_.is_initializer(node.input(1)) || graph_.initializers.at(node.input(1)).rank() != 4)
      return "W is not a rank-4 constant";
    const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
    if (auto_pad != "NOTSET" && auto_pad != "VALID") return "auto_pad " + auto_pad + " (the split depends on X's extent)";
    const std::vector<int64_t> pads = node.attr_ints("pads", {0, 0, 0, 0});
    if (auto_pad == "NOTSET" && (pads.size() != 4 || pads[0] != pads[2] || pads[1] != pads[3]))
      return "asymmetric padding";
    return "";
  }

  std::string group_norm_refusal(const Node& node) const {
    if (node.attr_int("channels_last", 0) != 0) return "already channels-last";
    if (!rank4(node.input(0))) return "X is not known to have rank 4";
    const Dim& c = type_of(node.input(0))->shape.dims[1];
    const int64_t groups = node.attr_int("num_groups", 0);
    if (!c.known() || groups <= 0 || c.value % groups != 0) return "C is unknown";
    if (c.value / groups > kMaxChannelsPerGroup) return "more than 1024 channels per group";
    return "";
  }

  // Step 1.
  void convert_nodes() {
    std::vector<Node> nodes;
    for (const Node& node : graph_.nodes) {
      const bool conv = node.domain.empty() && node.op_type == "Conv";
      const bool group_norm = node.domain == kNormrtDomain && node.op_type == "GroupNorm";
      if (!conv && !group_norm) {
        nodes.push_back(node);
        continue;
      }
      std::string why = conv ? conv_refusal(node) : group_norm_refusal(node);
      std::vector<Node> added;
      Node converted = node;
      converted.name = node.name + "/nhwc";
      if (why.empty()) {
        if (conv) {
          converted.op_type = "NhwcConv";
          converted.domain = kNormrtDomain;
          converted.inputs[1] = permuted_constant(node.input(1));
        } else {
          converted.attributes["channels_last"] = int_attribute(1);
        }
        std::vector<TypeShape> types = input_types(node);
        for (size_t i : {size_t{0}, size_t{1}, size_t{3}})
          if (i < types.size() && types[i].shape.has_rank && types[i].shape.rank() == 4 && (conv || i != 1))
            types[i].shape = permute_shape(types[i].shape, kToNhwc);
        if (!accept_(converted, types)) why = "the device has no channels-last kernel for it";
      }
      if (!why.empty()) {
        report_.refused(kPass, node.describe() + " stays channels-first: " + why);
        nodes.push_back(node);
        continue;
      }
      converted.inputs[0] = to_nhwc(node.input(0), &added);
      if (group_norm && node.has_input(3)) converted.inputs[3] = to_nhwc(node.input(3), &added);
      const std::string y = node.outputs[0];
      converted.outputs[0] = fresh(y + "/nhwc");
      if (const TypeShape* ts = type_of(y)) types_[converted.outputs[0]] = TypeShape{ts->dtype, permute_shape(ts->shape, kToNhwc)};
      added.push_back(converted);
      added.push_back(transpose(y + "/to_nchw", converted.outputs[0], y, kToNchw));
      nodes.insert(nodes.end(), added.begin(), added.end());
      ++converted_;
    }
    graph_.nodes = std::move(nodes);
  }

  // The NHWC form of operand `value` of a node a to-NCHW Transpose is pushed into, or "" when it has none.
  std::string nhwc_operand(const std::string& value, const Producers& producers, std::vector<Node>* added) {
    if (std::string source = nhwc_source(producers, value); !source.empty()) return source;
    if (graph_.is_initializer(value)) {
      if (graph_.initializers.at(value).rank() > 4) return "";
      return permuted_constant(value);
    }
    const TypeShape* ts = type_of(value);
    if (!ts || !ts->shape.has_rank) return "";
    bool ones = true;
    for (const Dim& d : ts->shape.dims) ones = ones && d.known() && d.value == 1;
    if (ones) return value;  // broadcasts the same in either layout
    if (ts->shape.rank() == 4 && ts->shape.dims[2].known() && ts->shape.dims[2].value == 1 &&
        ts->shape.dims[3].known() && ts->shape.dims[3].value == 1)
      return to_nhwc(value, added);
    return "";
  }

  // Replaces node `index` (whose inputs become `inputs`, attributes `attributes`) by its NHWC form followed by
  // a to-NCHW Transpose that writes its old output.
  void move_below(size_t index, const std::vector<std::string>& inputs, std::map<std::string, Attribute> attributes,
                  std::vector<Node> added) {
    const Node old = graph_.nodes[index];
    Node moved = old;
    moved.name = fresh(old.name + "/nhwc");
    moved.inputs = inputs;
    moved.attributes = std::move(attributes);
    const std::string y = old.outputs[0];
    moved.outputs[0] = fresh(y + "/nhwc");
    if (const TypeShape* ts = type_of(y)) types_[moved.outputs[0]] = TypeShape{ts->dtype, permute_shape(ts->shape, kToNhwc)};
    added.push_back(moved);
    added.push_back(transpose(y + "/to_nchw", moved.outputs[0], y, kToNchw));
    graph_.nodes.erase(graph_.nodes.begin() + static_cast<std::ptrdiff_t>(index));
    graph_.nodes.insert(graph_.nodes.end(), added.begin(), added.end());
  }

  // Step 2: one move; false when none is left.
  bool push_one() {
    Producers producers;
    for (const Node& n : graph_.nodes)
      for (const auto& out : n.outputs) producers[out] = &n;
    std::set<std::string> graph_outputs;
    for (const auto& out : graph_.outputs) graph_outputs.insert(out.name);
    for (size_t r = 0; r < graph_.nodes.size(); ++r) {
      const Node& reader = graph_.nodes[r];
      // Does the reader read the output of a to-NCHW Transpose?
      bool reads_nchw_transpose = false;
      for (const auto& in : reader.inputs) reads_nchw_transpose |= !in.empty() && !nhwc_source(producers, in).empty();
      if (!reads_nchw_transpose || reader.outputs.size() != 1 || reader.outputs[0].empty()) continue;
      const std::string& y = reader.outputs[0];
      if (is_transpose(reader, kToNhwc)) {  // cancels
        const std::string x = nhwc_source(producers, reader.inputs[0]);
        if (graph_outputs.count(y)) {
          Node identity = graph_.nodes[r];
          identity.op_type = "Identity";
          identity.attributes.clear();
          identity.inputs = {x};
          graph_.nodes[r] = identity;
        } else {
          for (Node& n : graph_.nodes)
            for (auto& in : n.inputs)
              if (in == y) in = x;
          graph_.nodes.erase(graph_.nodes.begin() + static_cast<std::ptrdiff_t>(r));
          graph_.value_info.erase(y);
        }
        return true;
      }
      if (!reader.domain.empty()) continue;
      std::vector<Node> added;
      if (kUnary.count(reader.op_type)) {
        // A widening Cast that writes a graph output (float16 -> float32 after --fp16) keeps the Transpose above
        // it: there it moves the narrower elements, and nothing below could cancel it.
        if (reader.op_type == "Cast" && graph_outputs.count(y) && widens(reader)) continue;
        std::vector<std::string> inputs = reader.inputs;
        inputs[0] = nhwc_source(producers, reader.inputs[0]);
        if (inputs[0].empty()) continue;
        move_below(r, inputs, reader.attributes, added);
        return true;
      }
      if (kBroadcasting.count(reader.op_type)) {
        if (!rank4(y)) continue;
        std::vector<std::string> inputs;
        bool ok = true;
        for (const auto& in : reader.inputs) {
          const std::string mapped = in.empty() ? in : nhwc_operand(in, producers, &added);
          ok = ok && (in.empty() || !mapped.empty());
          inputs.push_back(mapped);
        }
        if (!ok) {  // constants permuted on the way stay unused and are dropped at the end
          discard(added);
          continue;
        }
        move_below(r, inputs, reader.attributes, added);
        return true;
      }
      if ((reader.op_type == "MaxPool" || reader.op_type == "AveragePool") && rank4(y) &&
          reader.inputs.size() == 1) {
        // Its channels-last form, where the device runs it (the Transpose then moves below it).
        const std::string source = nhwc_source(producers, reader.inputs[0]);
        const TypeShape* source_type = source.empty() ? nullptr : type_of(source);
        if (!source_type) continue;
        Node pooled = reader;
        pooled.op_type = "Nhwc" + reader.op_type;
        pooled.domain = kNormrtDomain;
        if (!accept_(pooled, {*source_type})) continue;
        const auto attributes = reader.attributes;
        graph_.nodes[r].op_type = pooled.op_type;
        graph_.nodes[r].domain = pooled.domain;
        move_below(r, {source}, attributes, added);
        return true;
      }
      if (reader.op_type == "Concat" && rank4(y)) {
        int64_t axis = reader.attr_int("axis", 0);
        if (axis < 0) axis += 4;
        if (axis < 0 || axis > 3) continue;
        std::vector<std::string> inputs;
        bool ok = true;
        for (const auto& in : reader.inputs) {
          if (std::string source = nhwc_source(producers, in); !source.empty()) inputs.push_back(source);
          else if (graph_.is_initializer(in) && graph_.initializers.at(in).rank() == 4) inputs.push_back(permuted_constant(in));
          else ok = false;
        }
        if (!ok) continue;
        auto attributes = reader.attributes;
        const int64_t new_axis[] = {0, 3, 1, 2};
        attributes["axis"] = int_attribute(new_axis[axis]);
        move_below(r, inputs, attributes, added);
        return true;
      }
      if (reader.op_type == "Pad" && rank4(y) && reader.inputs.size() >= 2 && !reader.has_attribute("pads")) {
        std::vector<std::string> inputs = reader.inputs;
        inputs[0] = nhwc_source(producers, reader.inputs[0]);
        if (inputs[0].empty() || !graph_.is_initializer(inputs[1])) continue;
        if (inputs.size() > 3 && !inputs[3].empty()) {  // opset 18 axes: the pads stay, the axes move
          inputs[3] = renumbered_axes(inputs[3], 0, DataType::kUndefined);
          if (inputs[3].empty()) continue;
        } else {
          if (graph_.initializers.at(inputs[1]).numel() != 8) continue;
          inputs[1] = permuted_vector(inputs[1], 2);  // begins, then ends
        }
        move_below(r, inputs, reader.attributes, added);
        return true;
      }
      if (reader.op_type == "Slice" && rank4(y) && reader.inputs.size() >= 3 && !reader.has_attribute("starts")) {
        std::vector<std::string> inputs = reader.inputs;
        inputs[0] = nhwc_source(producers, reader.inputs[0]);
        const TypeShape* starts = type_of(inputs[1]);
        if (inputs[0].empty() || !starts || !starts->shape.has_rank || starts->shape.rank() != 1 ||
            !starts->shape.dims[0].known())
          continue;
        if (inputs.size() < 4) inputs.resize(4);
        // Absent axes are 0, 1, ... for each start; written out, then renumbered like given ones.
        inputs[3] = renumbered_axes(inputs[3], starts->shape.dims[0].value, starts->dtype);
        if (inputs[3].empty()) continue;
        move_below(r, inputs, reader.attributes, added);
        return true;
      }
      if (reader.op_type == "Resize" && rank4(y) && !reader.has_attribute("axes")) {
        std::vector<std::string> inputs = reader.inputs;
        inputs[0] = nhwc_source(producers, reader.inputs[0]);
        if (inputs[0].empty()) continue;
        bool ok = true;
        for (size_t i = 1; i < inputs.size() && ok; ++i) {
          if (inputs[i].empty()) continue;
          if (!graph_.is_initializer(inputs[i])) {
            ok = false;
            break;
          }
          const Tensor& t = graph_.initializers.at(inputs[i]);
          if (t.numel() == 0) continue;  // an empty roi or scales: absent
          const int64_t per_axis = i == 1 ? 2 : 1;  // roi holds starts then ends
          if (t.rank() != 1 || t.numel() != 4 * per_axis) {
            ok = false;
            break;
          }
          inputs[i] = permuted_vector(inputs[i], per_axis);
        }
        if (!ok) continue;
        move_below(r, inputs, reader.attributes, added);
        return true;
      }
    }
    return false;
  }

  // Turns `node` into Reshape(source, target), the target a new int64 constant.
  void become_reshape(Node& node, const std::string& source, const std::vector<int64_t>& target) {
    const std::string shape = fresh(node.name + "/shape");
    Tensor t(DataType::kInt64, {static_cast<int64_t>(target.size())});
    for (size_t i = 0; i < target.size(); ++i) t.data<int64_t>()[i] = target[i];
    graph_.initializers[shape] = t;
    types_[shape] = TypeShape{DataType::kInt64, Shape::from_dims(t.dims())};
    node.op_type = "Reshape";
    node.attributes.clear();
    node.inputs = {source, shape};
  }

  // Step 3: the chain's last Transpose becomes a Reshape of the chain's input; returns how many.
  size_t fold_token_reshapes() {
    const std::vector<int64_t> kSwapLast{0, 2, 1};
    Producers producers;
    for (const Node& n : graph_.nodes)
      for (const auto& out : n.outputs) producers[out] = &n;
    auto producer = [&](const std::string& value) -> const Node* {
      auto it = producers.find(value);
      return it == producers.end() ? nullptr : it->second;
    };
    auto known = [](const Dim& d) { return d.known() && d.value > 0; };
    auto product_is = [](const Dim& a, const Dim& b, const Dim& c) {  // a * b == c, without overflow
      int64_t p = 0;
      return !__builtin_mul_overflow(a.value, b.value, &p) && p == c.value;
    };
    const TypeLookup lookup = [this](const std::string& value) { return type_of(value); };
    size_t folded = 0;
    for (Node& last : graph_.nodes) {
      const bool to_tokens = is_transpose(last, kSwapLast);
      if (!to_tokens && !is_transpose(last, kToNhwc)) continue;
      const Node* reshape = producer(last.inputs[0]);
      if (!reshape || !reshape->domain.empty() || reshape->op_type != "Reshape" || reshape->inputs.size() != 2 ||
          reshape->attr_int("allowzero", 0) != 0)
        continue;
      const Node* first = producer(reshape->inputs[0]);
      if (!first || !is_transpose(*first, to_tokens ? kToNchw : kSwapLast)) continue;
      const std::string source = first->inputs[0];
      const TypeShape* in = type_of(source);
      const TypeShape* fed = type_of(reshape->inputs[0]);
      if (!in || !in->shape.has_rank || !fed || !fed->shape.has_rank) continue;
      const std::vector<Dim>& s = in->shape.dims;
      // The reshape's output dims. Exporters compute a dynamic batch's target from Shape at run time, which
      // leaves the inferred type unknown: follow that arithmetic instead.
      std::vector<Dim> m;
      if (auto target = shape_value(graph_, producers, lookup, reshape->inputs[1]))
        if (auto dims = reshape_dims(reshape->inputs[0], fed->shape.dims, *target)) m = *dims;
      if (m.empty()) {
        const TypeShape* mid = type_of(reshape->outputs[0]);
        if (!mid || !mid->shape.has_rank) continue;
        m = mid->shape.dims;
      }
      std::vector<int64_t> target;  // 0: N, copied from the source by Reshape
      if (to_tokens) {  // s = [N, H, W, C], m = [N, C, H*W]
        if (s.size() != 4 || m.size() != 3 || !known(s[1]) || !known(s[2]) || !known(s[3]) || !known(m[1]) ||
            !known(m[2]) || m[1].value != s[3].value || !product_is(s[1], s[2], m[2]))
          continue;
        target = {0, m[2].value, m[1].value};
      } else {  // s = [N, S, C], m = [N, C, H, W]
        if (s.size() != 3 || m.size() != 4 || !known(s[1]) || !known(s[2]) || !known(m[1]) || !known(m[2]) ||
            !known(m[3]) || m[1].value != s[2].value || !product_is(m[2], m[3], s[1]))
          continue;
        target = {0, m[2].value, m[3].value, m[1].value};
      }
      become_reshape(last, source, target);
      ++folded;
    }
    return folded;
  }

  // Step 5; returns how many.
  size_t transposes_to_reshapes() {
    size_t count = 0;
    for (Node& node : graph_.nodes) {
      if (!is_transpose(node, kToNchw) && !is_transpose(node, kToNhwc)) continue;
      const TypeShape* in = type_of(node.inputs[0]);
      if (!in || !in->shape.has_rank || in->shape.rank() != 4) continue;
      const std::vector<int64_t> perm = node.attr_ints("perm");
      const std::vector<Dim>& d = in->shape.dims;
      auto one = [&](int64_t axis) { return d[static_cast<size_t>(axis)].known() && d[static_cast<size_t>(axis)].value == 1; };
      std::vector<int64_t> order;  // the axes of size other than 1, in output order
      for (int64_t axis : perm)
        if (!one(axis)) order.push_back(axis);
      if (!std::is_sorted(order.begin(), order.end())) continue;
      // The target: known dims as numbers, an unknown one in its own place as 0 (copied), at most one other
      // unknown as -1.
      std::vector<int64_t> target;
      int unknowns = 0;
      for (size_t i = 0; i < perm.size(); ++i) {
        const Dim& dim = d[static_cast<size_t>(perm[i])];
        if (dim.known()) target.push_back(dim.value);
        else if (perm[i] == static_cast<int64_t>(i)) target.push_back(0);
        else if (++unknowns == 1) target.push_back(-1);
      }
      if (target.size() != perm.size()) continue;
      if (std::find(target.begin(), target.end(), int64_t{0}) != target.end() &&
          std::any_of(d.begin(), d.end(), [](const Dim& x) { return x.known() && x.value == 0; }))
        continue;  // a known 0 would read as "copy" (allowzero = 0)
      become_reshape(node, node.inputs[0], target);
      ++count;
    }
    return count;
  }

  // Forgets the to-NHWC Transposes a refused move made.
  void discard(const std::vector<Node>& added) {
    for (const Node& node : added)
      for (auto it = nhwc_of_.begin(); it != nhwc_of_.end();)
        it = it->second == node.outputs[0] ? nhwc_of_.erase(it) : std::next(it);
  }

  // A constant list of NCHW axes (negative ones count from the end) as the same axes of the NHWC value, in the
  // list's own dtype; `name` empty: the default axes 0 .. count - 1, in `dtype`. "" when the axes are not a
  // constant or not valid axes of rank 4.
  std::string renumbered_axes(const std::string& name, int64_t count, DataType dtype) {
    // One constant per list, however many Pads and Slices share it (like the other permuted constants).
    const std::string key = name.empty() ? "#default_axes/" + std::to_string(count) + "/" + dtype_name(dtype)
                                         : name + "#axes";
    auto cached = permuted_constants_.find(key);
    if (cached != permuted_constants_.end()) return cached->second;
    std::vector<int64_t> axes;
    if (name.empty()) {
      if (dtype != DataType::kInt32 && dtype != DataType::kInt64) return "";
      for (int64_t i = 0; i < count; ++i) axes.push_back(i);
    } else {
      if (!graph_.is_initializer(name)) return "";
      const Tensor& t = graph_.initializers.at(name);
      dtype = t.dtype();
      if (t.rank() != 1 || (dtype != DataType::kInt32 && dtype != DataType::kInt64)) return "";
      for (int64_t i = 0; i < t.numel(); ++i)
        axes.push_back(dtype == DataType::kInt64 ? t.data<int64_t>()[i] : t.data<int32_t>()[i]);
    }
    const int64_t nhwc_position[] = {0, 3, 1, 2};  // NCHW axis -> NHWC axis
    Tensor out(dtype, {static_cast<int64_t>(axes.size())});
    for (size_t i = 0; i < axes.size(); ++i) {
      int64_t a = axes[i] < 0 ? axes[i] + 4 : axes[i];
      if (a < 0 || a > 3) return "";
      a = nhwc_position[a];
      if (dtype == DataType::kInt64) out.data<int64_t>()[i] = a;
      else out.data<int32_t>()[i] = static_cast<int32_t>(a);
    }
    const std::string out_name = fresh((name.empty() ? std::string("axes") : name) + "/nhwc");
    graph_.initializers[out_name] = out;
    types_[out_name] = TypeShape{dtype, Shape::from_dims(out.dims())};
    permuted_constants_[key] = out_name;
    return out_name;
  }

  // A per-axis vector constant (roi: starts then ends) in NHWC axis order.
  std::string permuted_vector(const std::string& name, int64_t per_axis) {
    const std::string key = name + "#vector";
    auto it = permuted_constants_.find(key);
    if (it != permuted_constants_.end()) return it->second;
    const Tensor& t = graph_.initializers.at(name);
    const size_t bytes = dtype_size(t.dtype());
    Tensor out(t.dtype(), t.dims());
    for (int64_t half = 0; half < per_axis; ++half)
      for (size_t i = 0; i < 4; ++i)
        std::memcpy(static_cast<char*>(out.raw()) + (half * 4 + static_cast<int64_t>(i)) * bytes,
                    static_cast<const char*>(t.raw()) + (half * 4 + kToNhwc[i]) * bytes, bytes);
    const std::string out_name = fresh(name + "/nhwc");
    graph_.initializers[out_name] = out;
    permuted_constants_[key] = out_name;
    return out_name;
  }

  // Step 4: Transposes of one value with one perm become one.
  void merge_transposes() {
    std::map<std::pair<std::string, std::vector<int64_t>>, std::string> first;
    std::map<std::string, std::string> rename;
    std::set<std::string> graph_outputs;
    for (const auto& out : graph_.outputs) graph_outputs.insert(out.name);
    for (const Node& node : graph_.nodes) {
      if (!(node.domain.empty() && node.op_type == "Transpose" && node.has_attribute("perm") && node.inputs.size() == 1))
        continue;
      const auto key = std::make_pair(node.inputs[0], node.attr_ints("perm"));
      auto it = first.find(key);
      if (it == first.end()) first[key] = node.outputs[0];
      else if (!graph_outputs.count(node.outputs[0])) rename[node.outputs[0]] = it->second;
    }
    for (Node& node : graph_.nodes)
      for (auto& in : node.inputs)
        if (rename.count(in)) in = rename.at(in);
  }

  Graph& graph_;
  PassReport& report_;
  const ChannelsLastAccept& accept_;
  std::set<std::string> used_;
  std::map<std::string, TypeShape> types_;
  std::map<std::string, std::string> nhwc_of_;
  std::map<std::string, std::string> permuted_constants_;
  size_t converted_ = 0;
};

}  // namespace

void convert_to_channels_last(Graph& graph, PassReport& report, const ChannelsLastAccept& accept) {
  LayoutRewriter(graph, report, accept).run();
  graph.verify();
}

}  // namespace normrt
