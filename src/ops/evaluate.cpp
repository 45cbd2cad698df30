#include "ops/evaluate.h"

namespace normrt {

const OpSchema* find_schema(const Node& node) { return OpRegistry::global().find(node.domain, node.op_type); }

namespace {
const OpSchema& require_schema(const Node& node) {
  const OpSchema* schema = find_schema(node);
  if (!schema) throw Error(ErrorCode::kUnsupportedOp, node.describe() + " is not supported by normrt");
  return *schema;
}
}  // namespace

std::vector<Tensor> run_node(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                             KernelFunction kernel, std::any* state) {
  const OpSchema& schema = require_schema(node);
  InferContext infer(node, opset);
  infer.inputs.resize(inputs.size());
  infer.values = inputs;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i]) infer.inputs[i] = TypeShape{inputs[i]->dtype(), Shape::from_dims(inputs[i]->dims())};
  schema.infer(infer);
  if (infer.outputs.size() < node.outputs.size())
    throw Error(ErrorCode::kInternal, node.describe() + ": shape function set " + std::to_string(infer.outputs.size()) +
                                          " outputs, the node has " + std::to_string(node.outputs.size()));
  std::vector<Tensor> outputs(node.outputs.size());
  if (schema.output_is_view_of_input && (!kernel || kernel == schema.reference) && outputs.size() == 1 &&
      !inputs.empty() && inputs[0]) {
    outputs[0] = inputs[0]->reshaped(infer.outputs[0].shape.concrete());
    return outputs;
  }
  KernelContext ctx(node, opset);
  ctx.inputs = inputs;
  ctx.state = state;
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    const TypeShape& ts = infer.outputs[i];
    if (!ts.shape.fully_known())
      throw Error(ErrorCode::kInternal, node.describe() + ": output " + std::to_string(i) + " shape " +
                                            ts.shape.to_string() + " is not concrete at run time");
    outputs[i] = Tensor(ts.dtype, ts.shape.concrete());
    ctx.outputs.push_back(&outputs[i]);
  }
  (kernel ? kernel : schema.reference)(ctx);
  return outputs;
}

GraphTypes infer_graph(const Graph& graph, const std::map<std::string, Shape>& input_shapes) {
  GraphTypes result;
  for (const auto& [name, t] : graph.initializers) {
    result.types[name] = TypeShape{t.dtype(), Shape::from_dims(t.dims())};
    result.values[name] = t;
  }
  for (const auto& in : graph.inputs) {
    auto it = input_shapes.find(in.name);
    result.types[in.name] = TypeShape{in.dtype, it != input_shapes.end() ? it->second : in.shape};
  }
  const int64_t opset = graph.opset("");
  for (const Node& node : graph.nodes) {
    const OpSchema& schema = require_schema(node);
    InferContext ctx(node, node.domain.empty() ? opset : graph.opset(node.domain));
    ctx.inputs.resize(node.inputs.size());
    ctx.values.resize(node.inputs.size(), nullptr);
    bool all_known = true;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const std::string& name = node.inputs[i];
      if (name.empty()) continue;
      auto t = result.types.find(name);
      if (t == result.types.end())
        throw Error(ErrorCode::kInvalidModel, node.describe() + " reads '" + name + "', which has no type");
      ctx.inputs[i] = t->second;
      auto v = result.values.find(name);
      if (v != result.values.end()) ctx.values[i] = &v->second;
      else all_known = false;
    }
    schema.infer(ctx);
    ctx.output_values.resize(node.outputs.size());
    bool small = true;
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (i >= ctx.outputs.size())
        throw Error(ErrorCode::kInternal, node.describe() + ": shape function did not set output " + std::to_string(i));
      const Shape& s = ctx.outputs[i].shape;
      if (!s.fully_known() || element_count(s.concrete()) > kMaxFoldedShapeValue) small = false;
    }
    if (all_known && small) {
      std::vector<const Tensor*> inputs(ctx.values.begin(), ctx.values.end());
      std::vector<Tensor> outs = run_node(node, ctx.opset, inputs);
      for (size_t i = 0; i < outs.size(); ++i) ctx.output_values[i] = std::move(outs[i]);
    }
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (node.outputs[i].empty()) continue;
      result.types[node.outputs[i]] = ctx.outputs[i];
      if (!ctx.output_values[i].empty()) result.values[node.outputs[i]] = std::move(ctx.output_values[i]);
    }
  }
  return result;
}

}  // namespace normrt
