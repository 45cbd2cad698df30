// Opset upgrade to 21 (`normrt fuse --opset21`): moves every default-domain node of an opset 11-20 graph to
// the form opset 21 gives it the same meaning in, so that the exporter can write GroupNorm as the standard
// GroupNormalization-21. It is all or nothing: when one node cannot move, the graph is left unchanged and the
// error lists every such node and why.
//
// What changed between opsets 11 and 21 for the ops normrt knows (onnx/docs/Changelog.md), and what is done:
//   - ReduceSum (13) and the other Reduce* ops (18) take axes as an input instead of an attribute: the
//     attribute becomes an int64 initializer;
//   - Squeeze and Unsqueeze (13): the same;
//   - Split (13) takes split as an input; from 18 an even split needs num_outputs: set from the outputs;
//   - Dropout (12) takes ratio as an input (inference ignores it): the attribute becomes an initializer;
//   - Softmax, LogSoftmax and Hardmax (13) normalize over one axis instead of coercing the input to 2-D at
//     `axis`: written as Flatten(axis) -> op(axis = -1) -> Reshape(Shape(x)), which is the old meaning
//     (kept as one node when axis is the last axis already);
//   - Resize: mode tf_half_pixel_for_nn exists only in opsets 11-12: refused;
//   - GridSample (20) renames modes bilinear -> linear and bicubic -> cubic;
//   - BatchNormalization with training outputs (changed in 14): refused; inference form unchanged;
//   - GroupNormalization-18 has per-group scale where -21's is per channel: refused here (`fuse` turns it
//     into ai.normrt::GroupNorm first);
//   - Upsample (removed in 10) and Scatter (deprecated in 11): refused.
// Every other op in kUnchanged keeps its inputs, attributes and meaning from 11 to 21 (later versions only
// added types or attributes whose defaults are the old behaviour). An op in none of these lists is refused:
// normrt does not claim to know it. Nodes of other domains keep their own opsets.
#include <set>

#include "passes/pass.h"
#include "passes/rewrite_util.h"

namespace normrt {
namespace {

constexpr const char* kPass = "opset_upgrade";
constexpr int64_t kTarget = 21;

const std::set<std::string> kUnchanged = {"Abs",
                                          "Acos",
                                          "Acosh",
                                          "Add",
                                          "And",
                                          "ArgMax",
                                          "ArgMin",
                                          "Asin",
                                          "Asinh",
                                          "Atan",
                                          "Atanh",
                                          "AveragePool",
                                          "BatchNormalization",
                                          "BitShift",
                                          "Cast",
                                          "CastLike",
                                          "Ceil",
                                          "Celu",
                                          "Clip",
                                          "Concat",
                                          "ConstantOfShape",
                                          "Conv",
                                          "ConvTranspose",
                                          "Cos",
                                          "Cosh",
                                          "CumSum",
                                          "DepthToSpace",
                                          "Div",
                                          "Einsum",
                                          "Elu",
                                          "Equal",
                                          "Erf",
                                          "Exp",
                                          "Expand",
                                          "Flatten",
                                          "Floor",
                                          "Gather",
                                          "GatherElements",
                                          "GatherND",
                                          "Gelu",
                                          "Gemm",
                                          "GlobalAveragePool",
                                          "GlobalMaxPool",
                                          "Greater",
                                          "GreaterOrEqual",
                                          "HardSigmoid",
                                          "HardSwish",
                                          "Identity",
                                          "InstanceNormalization",
                                          "IsInf",
                                          "IsNaN",
                                          "LayerNormalization",
                                          "LeakyRelu",
                                          "Less",
                                          "LessOrEqual",
                                          "Log",
                                          "LpNormalization",
                                          "LRN",
                                          "MatMul",
                                          "Max",
                                          "MaxPool",
                                          "Mean",
                                          "Min",
                                          "Mish",
                                          "Mod",
                                          "Mul",
                                          "Neg",
                                          "NonZero",
                                          "Not",
                                          "OneHot",
                                          "Or",
                                          "Pad",
                                          "Pow",
                                          "PRelu",
                                          "Range",
                                          "Reciprocal",
                                          "Relu",
                                          "Reshape",
                                          "Resize",
                                          "Round",
                                          "ScatterElements",
                                          "ScatterND",
                                          "Selu",
                                          "Shape",
                                          "Sigmoid",
                                          "Sign",
                                          "Sin",
                                          "Sinh",
                                          "Size",
                                          "Slice",
                                          "Softplus",
                                          "Softsign",
                                          "SpaceToDepth",
                                          "Sqrt",
                                          "Sub",
                                          "Sum",
                                          "Tan",
                                          "Tanh",
                                          "ThresholdedRelu",
                                          "Tile",
                                          "TopK",
                                          "Transpose",
                                          "Trilu",
                                          "Where",
                                          "Xor"};

const std::set<std::string> kReduce = {"ReduceL1",   "ReduceL2",  "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
                                       "ReduceMean", "ReduceMin", "ReduceProd",   "ReduceSum",       "ReduceSumSquare"};

class Upgrade {
 public:
  explicit Upgrade(Graph& graph) : graph_(graph), from_(graph.opset("")) {}

  // Returns the rewritten nodes, or throws with every refusal.
  std::vector<Node> run(PassReport& report) {
    std::vector<Node> nodes;
    std::vector<std::string> refusals;
    for (const Node& node : graph_.nodes) {
      if (!node.domain.empty()) {
        nodes.push_back(node);
        continue;
      }
      std::string why;
      const size_t before = nodes.size();
      if (!convert(node, &nodes, &why)) {
        refusals.push_back(node.describe() + ": " + why);
        nodes.resize(before);
        continue;
      }
      if (!done_.empty()) report.applied(kPass, node.describe() + " rewritten for opset 21: " + done_);
    }
    if (!refusals.empty()) {
      std::string message = "the model cannot move from opset " + std::to_string(from_) + " to 21:";
      for (const auto& r : refusals) message += "\n  " + r;
      throw Error(ErrorCode::kUnsupportedOp, message);
    }
    return nodes;
  }

 private:
  std::string constant(const Node& node, const std::string& what, const Tensor& value) {
    std::string name = fresh_value_name(graph_, node.name + "_" + what);
    graph_.initializers[name] = value;
    return name;
  }

  // An attribute of `node` that became input `index`: moved when present.
  void attribute_to_input(Node& node, const std::string& key, size_t index, const Tensor& value) {
    if (!node.has_attribute(key)) return;
    node.attributes.erase(key);
    if (node.inputs.size() <= index) node.inputs.resize(index + 1);
    node.inputs[index] = constant(node, key, value);
    done_ = "attribute '" + key + "' became input " + std::to_string(index);
  }

  bool convert(const Node& original, std::vector<Node>* out, std::string* why) {
    Node node = original;
    const std::string& op = node.op_type;
    done_.clear();
    if (kUnchanged.count(op)) {
      if (op == "Resize" &&
          node.attr_string("coordinate_transformation_mode", "half_pixel") == "tf_half_pixel_for_nn") {
        *why = "coordinate_transformation_mode 'tf_half_pixel_for_nn' exists only in opsets 11 and 12";
        return false;
      }
      if (op == "BatchNormalization" && (node.outputs.size() > 1 || node.attr_int("training_mode", 0) != 0)) {
        *why = "it computes training statistics, whose outputs changed in opset 14";
        return false;
      }
      out->push_back(node);
      return true;
    }
    if (kReduce.count(op)) {
      if (from_ < (op == "ReduceSum" ? 13 : 18) && node.has_attribute("axes"))
        attribute_to_input(node, "axes", 1, int64_vector(node.attr_ints("axes")));
      out->push_back(node);
      return true;
    }
    if (op == "Squeeze" || op == "Unsqueeze") {
      if (from_ < 13) attribute_to_input(node, "axes", 1, int64_vector(node.attr_ints("axes")));
      out->push_back(node);
      return true;
    }
    if (op == "Split") {
      if (from_ < 13) attribute_to_input(node, "split", 1, int64_vector(node.attr_ints("split")));
      if (!node.has_input(1) && !node.has_attribute("num_outputs")) {
        node.attributes["num_outputs"] = int_attribute(static_cast<int64_t>(node.outputs.size()));
        done_ += std::string(done_.empty() ? "" : "; ") + "num_outputs set to " + std::to_string(node.outputs.size());
      }
      out->push_back(node);
      return true;
    }
    if (op == "Dropout") {
      if (from_ < 12 && node.has_attribute("ratio")) {
        Tensor ratio(DataType::kFloat32, {});
        *ratio.data<float>() = node.attr_float("ratio", 0.5f);
        attribute_to_input(node, "ratio", 1, ratio);
      }
      out->push_back(node);
      return true;
    }
    if (op == "GridSample") {
      const std::string mode = node.attr_string("mode", "bilinear");
      if (mode == "bilinear" || mode == "bicubic") {
        node.attributes["mode"] = string_attribute(mode == "bilinear" ? "linear" : "cubic");
        done_ = "mode '" + mode + "' is spelled '" + node.attr_string("mode", "") + "' from opset 20";
      }
      out->push_back(node);
      return true;
    }
    if (op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") return convert_softmax(node, out);
    if (op == "GroupNormalization") {
      *why =
          "GroupNormalization-18's scale and bias are per group, -21's per channel (normrt fuse turns it into "
          "ai.normrt::GroupNorm, which moves)";
      return false;
    }
    if (op == "Upsample" || op == "Scatter") {
      *why = op + " was removed from ONNX (use Resize / ScatterElements)";
      return false;
    }
    *why = "normrt does not know whether " + op + " means the same at opset 21 as at opset " + std::to_string(from_);
    return false;
  }

  // Softmax-1..12 normalizes the input coerced to 2-D at `axis` (default 1); from 13, the one axis `axis`
  // (default -1). The old meaning is Flatten(axis) -> op(axis = -1) -> Reshape(Shape(x)).
  bool convert_softmax(Node node, std::vector<Node>* out) {
    if (from_ >= 13) {
      out->push_back(node);
      return true;
    }
    const int64_t axis = node.attr_int("axis", 1);
    GraphTypes types = infer_types_tolerant(graph_);
    auto t = types.types.find(node.input(0));
    const bool rank_known = t != types.types.end() && t->second.shape.has_rank;
    const int64_t rank = rank_known ? static_cast<int64_t>(t->second.shape.rank()) : -1;
    if (axis == -1 || (rank_known && axis == rank - 1)) {
      node.attributes["axis"] = int_attribute(-1);
      done_ = "axis " + std::to_string(axis) + " is the last axis, written -1";
      out->push_back(node);
      return true;
    }
    const std::string y = node.outputs.at(0);
    Node flatten;
    flatten.op_type = "Flatten";
    flatten.name = node.name + "_flatten";
    flatten.inputs = {node.input(0)};
    flatten.outputs = {fresh_value_name(graph_, node.name + "_rows")};
    flatten.attributes["axis"] = int_attribute(axis);
    Node shape;
    shape.op_type = "Shape";
    shape.name = node.name + "_shape";
    shape.inputs = {node.input(0)};
    shape.outputs = {fresh_value_name(graph_, node.name + "_input_shape")};
    node.inputs = {flatten.outputs[0]};
    node.outputs = {fresh_value_name(graph_, node.name + "_normalized_rows")};
    node.attributes["axis"] = int_attribute(-1);
    Node reshape;
    reshape.op_type = "Reshape";
    reshape.name = node.name + "_reshape";
    reshape.inputs = {node.outputs[0], shape.outputs[0]};
    reshape.outputs = {y};
    // The new value names are claimed in value_info so that later fresh names differ.
    for (const auto& v : {flatten.outputs[0], shape.outputs[0], node.outputs[0]})
      graph_.value_info[v] = ValueInfo{v, DataType::kUndefined, Shape()};
    out->insert(out->end(), {flatten, shape, node, reshape});
    done_ = "the 2-D coercion at axis " + std::to_string(axis) + " is written as Flatten -> " + node.op_type +
            "(axis = -1) -> Reshape";
    return true;
  }

  Graph& graph_;
  int64_t from_;
  std::string done_;
};

}  // namespace

void upgrade_to_opset21(Graph& graph, PassReport& report) {
  const int64_t from = graph.opset("");
  if (from == kTarget) return;
  if (from > kTarget || from < 11)
    throw Error(ErrorCode::kUnsupportedOp,
                "the model imports opset " + std::to_string(from) + "; normrt moves opsets 11 to 20 to opset 21");
  Graph copy = graph;
  PassReport records;
  std::vector<Node> nodes = Upgrade(copy).run(records);
  copy.nodes = std::move(nodes);
  copy.opsets[""] = kTarget;
  // The placeholders for fresh names are no real types.
  for (auto it = copy.value_info.begin(); it != copy.value_info.end();) {
    if (it->second.dtype == DataType::kUndefined && !it->second.shape.has_rank)
      it = copy.value_info.erase(it);
    else
      ++it;
  }
  copy.verify();
  graph = std::move(copy);
  report.records.insert(report.records.end(), records.records.begin(), records.records.end());
  report.applied(kPass, "default-domain opset " + std::to_string(from) + " -> 21");
}

}  // namespace normrt
