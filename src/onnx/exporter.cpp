#include "onnx/exporter.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "onnx/normrt_functions.h"
#include "onnx/onnx_pb.h"
#include "ops/activation_math.h"
#include "ops/shape_util.h"
#include "passes/rewrite_util.h"

namespace normrt {

namespace {

// protobuf cannot write messages above 2 GiB (the importer reads external data, the exporter does not).
constexpr size_t kMaxModelBytes = (size_t{1} << 31) - 1;

Error cannot_export(const std::string& message) {
  return Error(ErrorCode::kInvalidModel, "cannot write ONNX: " + message);
}

// ---- IR -> protobuf -------------------------------------------------------------------------------------

void write_tensor(const Tensor& t, const std::string& name, onnx::TensorProto* out) {
  out->set_name(name);
  out->set_data_type(static_cast<int32_t>(t.dtype()));
  for (int64_t d : t.dims()) out->add_dims(d);
  // raw_data is little-endian in ONNX, as normrt's host storage is.
  out->set_raw_data(t.raw(), t.nbytes());
}

void write_attribute(const std::string& name, const Attribute& a, const Node& node, onnx::AttributeProto* out) {
  out->set_name(name);
  switch (a.type) {
    case AttributeType::kFloat:
      out->set_type(onnx::AttributeProto::FLOAT);
      out->set_f(a.f);
      break;
    case AttributeType::kInt:
      out->set_type(onnx::AttributeProto::INT);
      out->set_i(a.i);
      break;
    case AttributeType::kString:
      out->set_type(onnx::AttributeProto::STRING);
      out->set_s(a.s);
      break;
    case AttributeType::kTensor:
      out->set_type(onnx::AttributeProto::TENSOR);
      write_tensor(a.t, "", out->mutable_t());
      break;
    case AttributeType::kFloats:
      out->set_type(onnx::AttributeProto::FLOATS);
      for (float v : a.floats) out->add_floats(v);
      break;
    case AttributeType::kInts:
      out->set_type(onnx::AttributeProto::INTS);
      for (int64_t v : a.ints) out->add_ints(v);
      break;
    case AttributeType::kStrings:
      out->set_type(onnx::AttributeProto::STRINGS);
      for (const auto& v : a.strings) out->add_strings(v);
      break;
    case AttributeType::kGraph:
      throw cannot_export(
          node.describe() + " has the subgraph attribute '" + name +
          "'; normrt does not keep control-flow subgraphs (If, Loop, Scan), so it cannot write them back");
  }
}

void write_node(const Node& node, onnx::NodeProto* out) {
  out->set_name(node.name);
  out->set_op_type(node.op_type);
  if (!node.domain.empty()) out->set_domain(node.domain);
  for (const auto& in : node.inputs) out->add_input(in);
  for (const auto& o : node.outputs) out->add_output(o);
  for (const auto& [name, a] : node.attributes) write_attribute(name, a, node, out->add_attribute());
}

void write_value_info(const ValueInfo& vi, onnx::ValueInfoProto* out) {
  out->set_name(vi.name);
  auto* tensor = out->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(static_cast<int32_t>(vi.dtype));
  if (!vi.shape.has_rank) return;
  auto* shape = tensor->mutable_shape();
  for (const Dim& d : vi.shape.dims) {
    auto* dim = shape->add_dim();
    if (d.known())
      dim->set_dim_value(d.value);
    else if (!d.symbol.empty())
      dim->set_dim_param(d.symbol);
  }
}

// ---- where lowered nodes go ------------------------------------------------------------------------------

// A graph (constants become initializers) or a function body (constants become Constant nodes). Every name
// it makes is fresh within its scope.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual std::string constant(const Tensor& value, const std::string& hint) = 0;
  virtual void add(const Node& node) = 0;

  std::string fresh(const std::string& hint) {
    std::string name = hint;
    for (int k = 1; used_.count(name); ++k) name = hint + "_" + std::to_string(k);
    used_.insert(name);
    return name;
  }
  void reserve(const std::string& name) { used_.insert(name); }

  // Adds `op_type(inputs)` and returns its output (`output`, or a fresh name).
  std::string op(const std::string& op_type, std::vector<std::string> inputs,
                 std::map<std::string, Attribute> attributes = {}, std::string output = "") {
    const std::string base = prefix_.empty() ? op_type : prefix_ + "/" + op_type;
    Node n;
    n.op_type = op_type;
    n.name = fresh(base);
    n.inputs = std::move(inputs);
    n.outputs = {output.empty() ? fresh(base + "_output") : output};
    n.attributes = std::move(attributes);
    add(n);
    return n.outputs[0];
  }
  void set_prefix(const std::string& prefix) { prefix_ = prefix; }

 protected:
  std::set<std::string> used_;
  std::string prefix_;
};

class GraphSink : public Sink {
 public:
  explicit GraphSink(onnx::GraphProto* graph) : graph_(graph) {}
  std::string constant(const Tensor& value, const std::string& hint) override {
    std::string name = fresh(prefix_ + "/" + hint);
    write_tensor(value, name, graph_->add_initializer());
    return name;
  }
  void add(const Node& node) override { write_node(node, graph_->add_node()); }

 private:
  onnx::GraphProto* graph_;
};

class FunctionSink : public Sink {
 public:
  explicit FunctionSink(onnx::FunctionProto* function) : function_(function) {}
  std::string constant(const Tensor& value, const std::string& hint) override {
    Node n;
    n.op_type = "Constant";
    n.name = fresh(hint + "_constant");
    n.outputs = {fresh(hint)};
    Attribute a;
    a.type = AttributeType::kTensor;
    a.t = value;
    n.attributes["value"] = a;
    add(n);
    return n.outputs[0];
  }
  void add(const Node& node) override { write_node(node, function_->add_node()); }

 private:
  onnx::FunctionProto* function_;
};

Tensor scalar(DataType dtype, double v) {
  Tensor t(dtype, {});
  set_element_from_double(t, 0, v);
  return t;
}

Tensor filled(DataType dtype, const Dims& dims, double v) {
  Tensor t(dtype, dims);
  for (int64_t i = 0; i < t.numel(); ++i) set_element_from_double(t, i, v);
  return t;
}

Tensor int64s(const std::vector<int64_t>& values) {
  Tensor t(DataType::kInt64, {static_cast<int64_t>(values.size())});
  std::memcpy(t.raw(), values.data(), values.size() * sizeof(int64_t));
  return t;
}

// ReduceMean over `axes` with keepdims = 1: the axes are an attribute before opset 18 and an input from it.
std::string reduce_mean(Sink& sink, const std::string& x, const std::vector<int64_t>& axes, int64_t opset) {
  if (opset >= 18)
    return sink.op("ReduceMean", {x, sink.constant(int64s(axes), "axes")}, {{"keepdims", int_attribute(1)}});
  return sink.op("ReduceMean", {x}, {{"axes", ints_attribute(axes)}, {"keepdims", int_attribute(1)}});
}

// The activation in standard ops of `opset`, reading `in` and writing `out`.
void emit_activation(Sink& sink, FusedActivation kind, float alpha, const std::string& in, const std::string& out,
                     int64_t opset, DataType dtype) {
  auto c = [&](double v, const char* hint) { return sink.constant(scalar(dtype, v), hint); };
  switch (kind) {
    case FusedActivation::kNone:
      sink.op("Identity", {in}, {}, out);
      return;
    case FusedActivation::kRelu:
      sink.op("Relu", {in}, {}, out);
      return;
    case FusedActivation::kLeakyRelu:
      sink.op("LeakyRelu", {in}, {{"alpha", float_attribute(alpha)}}, out);
      return;
    case FusedActivation::kElu:
      sink.op("Elu", {in}, {{"alpha", float_attribute(alpha)}}, out);
      return;
    case FusedActivation::kSigmoid:
      sink.op("Sigmoid", {in}, {}, out);
      return;
    case FusedActivation::kTanh:
      sink.op("Tanh", {in}, {}, out);
      return;
    case FusedActivation::kSilu:
      sink.op("Mul", {in, sink.op("Sigmoid", {in})}, {}, out);
      return;
    case FusedActivation::kHardSwish:
      if (opset >= 14) {
        sink.op("HardSwish", {in}, {}, out);
      } else {
        std::string h =
            sink.op("HardSigmoid", {in}, {{"alpha", float_attribute(1.0f / 6.0f)}, {"beta", float_attribute(0.5f)}});
        sink.op("Mul", {in, h}, {}, out);
      }
      return;
    case FusedActivation::kGelu:
      if (opset >= 20) {
        sink.op("Gelu", {in}, {}, out);
      } else {  // x * (1 + erf(x / sqrt 2)) * 0.5, PyTorch's spelling
        std::string e = sink.op("Erf", {sink.op("Div", {in, c(std::sqrt(2.0), "sqrt2")})});
        std::string a = sink.op("Add", {e, c(1.0, "one")});
        sink.op("Mul", {sink.op("Mul", {in, a}), c(0.5, "half")}, {}, out);
      }
      return;
    case FusedActivation::kGeluTanh:
      if (opset >= 20) {
        sink.op("Gelu", {in}, {{"approximate", string_attribute("tanh")}}, out);
      } else {  // x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) * 0.5
        std::string cube = sink.op("Mul", {in, sink.op("Mul", {in, in})});
        std::string inner = sink.op("Add", {in, sink.op("Mul", {cube, c(0.044715, "cubic")})});
        std::string t = sink.op("Tanh", {sink.op("Mul", {inner, c(0.7978845608028654, "sqrt_2_over_pi")})});
        std::string a = sink.op("Add", {t, c(1.0, "one")});
        sink.op("Mul", {sink.op("Mul", {in, a}), c(0.5, "half")}, {}, out);
      }
      return;
  }
}

// Whether a fused node has neither activation nor residual, so that its normalization writes its output.
bool plain(const Node& node) {
  return read_fused_activation(node).kind == FusedActivation::kNone && !node.has_input(3);
}

// act(v) then + residual, into `out`.
void emit_epilogue(Sink& sink, const Node& node, const std::string& v, const std::string& residual,
                   const std::string& out, int64_t opset, DataType dtype) {
  const ActivationSpec act = read_fused_activation(node);
  if (residual.empty()) {
    emit_activation(sink, act.kind, act.alpha, v, out, opset, dtype);
    return;
  }
  std::string a = v;
  if (act.kind != FusedActivation::kNone) {
    a = sink.fresh(v + "_activated");
    emit_activation(sink, act.kind, act.alpha, v, a, opset, dtype);
  }
  sink.op("Add", {a, residual}, {}, out);
}

// The body of GroupNorm_*: Reshape(X, [0, G, -1]) -> InstanceNormalization(ones, zeros) -> per-channel affine
// in [N, C, -1] -> activation -> Reshape(Shape(X)) -> + residual. Per-group affine is the InstanceNorm's own.
void emit_group_norm_body(Sink& sink, const Node& node, DataType dtype, int64_t opset, bool residual) {
  const int64_t groups = node.attr_int("num_groups");
  const bool per_group = node.attr_int("affine_per_group", 0) != 0;
  const float epsilon = node.attr_float("epsilon", 1e-5f);
  std::string grouped = sink.op("Reshape", {"X", sink.constant(int64s({0, groups, -1}), "group_shape")});
  std::string normalized;
  if (per_group) {
    normalized = sink.op("InstanceNormalization", {grouped, "scale", "bias"}, {{"epsilon", float_attribute(epsilon)}});
  } else {
    std::string n = sink.op("InstanceNormalization",
                            {grouped, sink.constant(filled(dtype, {groups}, 1.0), "ones"),
                             sink.constant(filled(dtype, {groups}, 0.0), "zeros")},
                            {{"epsilon", float_attribute(epsilon)}});
    std::string channel_shape =
        sink.op("Concat",
                {sink.constant(int64s({0}), "zero"), sink.op("Shape", {"scale"}), sink.constant(int64s({-1}), "rest")},
                {{"axis", int_attribute(0)}});
    std::string column = sink.constant(int64s({-1, 1}), "column");
    std::string scaled =
        sink.op("Mul", {sink.op("Reshape", {n, channel_shape}), sink.op("Reshape", {"scale", column})});
    normalized = sink.op("Add", {scaled, sink.op("Reshape", {"bias", column})});
  }
  const ActivationSpec act = read_fused_activation(node);
  std::string activated = normalized;
  if (act.kind != FusedActivation::kNone) {
    activated = sink.fresh("activated");
    emit_activation(sink, act.kind, act.alpha, normalized, activated, opset, dtype);
  }
  std::string back = sink.op("Reshape", {activated, sink.op("Shape", {"X"})}, {}, residual ? "" : "Y");
  if (residual) sink.op("Add", {back, "residual"}, {}, "Y");
}

// The body of LayerNorm_*: statistics over Flatten(X, axis)'s rows (any rank, any axis sign), normalize,
// Reshape(Shape(X)), then scale, bias, activation and residual.
void emit_layer_norm_body(Sink& sink, const Node& node, DataType dtype, int64_t opset, bool residual) {
  const int64_t axis = node.attr_int("axis", -1);
  std::string rows = sink.op("Flatten", {"X"}, {{"axis", int_attribute(axis)}});
  std::string centered = sink.op("Sub", {rows, reduce_mean(sink, rows, {1}, opset)});
  std::string variance = reduce_mean(sink, sink.op("Mul", {centered, centered}), {1}, opset);
  std::string deviation = sink.op(
      "Sqrt", {sink.op("Add", {variance, sink.constant(scalar(dtype, node.attr_float("epsilon", 1e-5f)), "epsilon")})});
  std::string normalized = sink.op("Reshape", {sink.op("Div", {centered, deviation}), sink.op("Shape", {"X"})});
  std::string affine = sink.op("Add", {sink.op("Mul", {normalized, "scale"}), "bias"});
  emit_epilogue(sink, node, affine, residual ? "residual" : "", "Y", opset, dtype);
}

class Exporter {
 public:
  explicit Exporter(const Graph& graph) : graph_(graph), types_(infer_types_tolerant(graph)), opset_(graph.opset("")) {}

  std::string run() {
    model_.set_ir_version(opset_ >= 21 ? 10 : opset_ >= 19 ? 9 : 8);
    model_.set_producer_name("normrt");
#ifdef NORMRT_VERSION
    model_.set_producer_version(NORMRT_VERSION);
#endif
    onnx::GraphProto* g = model_.mutable_graph();
    g->set_name(graph_.name.empty() ? "normrt" : graph_.name);
    GraphSink sink(g);
    for (const auto& in : graph_.inputs) sink.reserve(in.name);
    for (const auto& [name, t] : graph_.initializers) sink.reserve(name);
    for (const Node& n : graph_.nodes) {
      sink.reserve(n.name);
      for (const auto& o : n.outputs) sink.reserve(o);
    }
    for (const auto& in : graph_.inputs) write_value_info(in, g->add_input());
    for (const auto& out : graph_.outputs) {
      ValueInfo vi = out;
      auto t = types_.types.find(out.name);
      if (t != types_.types.end()) {
        if (vi.dtype == DataType::kUndefined) vi.dtype = t->second.dtype;
        if (!vi.shape.has_rank) vi.shape = t->second.shape;
      }
      if (vi.dtype == DataType::kUndefined)
        throw cannot_export("the type of graph output '" + out.name + "' is unknown");
      write_value_info(vi, g->add_output());
    }
    for (const auto& [name, t] : graph_.initializers) write_tensor(t, name, g->add_initializer());
    for (const Node& n : graph_.nodes) {
      sink.set_prefix(n.name);
      lower(sink, n);
    }
    bool uses_normrt_domain = false;
    for (const auto& n : g->node()) uses_normrt_domain |= n.domain() == kNormrtDomain;
    for (const auto& [domain, version] : graph_.opsets) {
      if (domain == kNormrtDomain && !uses_normrt_domain) continue;
      if (domain.empty() && version == 0) continue;  // no default-domain op at all
      auto* op = model_.add_opset_import();
      op->set_domain(domain);
      op->set_version(version);
    }
    if (uses_normrt_domain && !graph_.opsets.count(kNormrtDomain)) {
      auto* op = model_.add_opset_import();
      op->set_domain(kNormrtDomain);
      op->set_version(1);
    }
    std::string bytes;
    if (model_.ByteSizeLong() > kMaxModelBytes)
      throw cannot_export("the model is larger than protobuf's 2 GiB limit; normrt does not write external data");
    if (!model_.SerializeToString(&bytes)) throw cannot_export("protobuf could not serialize the model");
    return bytes;
  }

 private:
  DataType dtype_of(const Node& node, const std::string& value) const {
    auto t = types_.types.find(value);
    if (t == types_.types.end() || t->second.dtype == DataType::kUndefined)
      throw cannot_export(node.describe() + ": the type of its input '" + value + "' is unknown");
    return t->second.dtype;
  }

  Shape shape_of(const std::string& value) const {
    auto t = types_.types.find(value);
    return t == types_.types.end() ? Shape() : t->second.shape;
  }

  const Tensor* constant(const std::string& value) const {
    auto it = graph_.initializers.find(value);
    return it == graph_.initializers.end() ? nullptr : &it->second;
  }

  // A GroupNorm's scale or bias, materialized (ones or zeros) when the node omits it: functions and
  // GroupNormalization-21 take both. Per-group affine has G values; per channel, C.
  std::string affine_input(Sink& sink, const Node& node, size_t index, double fill, DataType dtype) {
    if (node.has_input(index)) return node.input(index);
    int64_t length = -1;
    if (node.op_type == "GroupNorm" && node.attr_int("affine_per_group", 0) != 0) {
      length = node.attr_int("num_groups");
    } else if (node.op_type == "GroupNorm") {
      const Shape xs = shape_of(node.input(0));
      if (xs.has_rank && xs.rank() >= 2 && xs.dims[1].known()) length = xs.dims[1].value;
      const std::string& other = node.input(index == 1 ? 2 : 1);
      if (length < 0 && constant(other)) length = constant(other)->numel();
      if (length < 0)
        throw cannot_export(node.describe() + " has no " + (index == 1 ? "scale" : "bias") +
                            " and its channel count is unknown, so none can be written for it");
    } else {
      length = 1;  // LayerNorm: a one-element scale broadcasts
    }
    return sink.constant(filled(dtype, {length}, fill), index == 1 ? "ones" : "zeros");
  }

  void lower(GraphSink& sink, const Node& node) {
    const bool normrt = node.domain == kNormrtDomain;
    if (normrt && node.op_type == "GroupNorm") return lower_group_norm(sink, node);
    if (normrt && node.op_type == "LayerNorm") return lower_layer_norm(sink, node);
    if (node.domain.empty() && node.op_type == "Gelu" && opset_ < 20) {
      const std::string approximate = node.attr_string("approximate", "none");
      emit_activation(sink, approximate == "tanh" ? FusedActivation::kGeluTanh : FusedActivation::kGelu, 0,
                      node.input(0), node.outputs.at(0), opset_, dtype_of(node, node.input(0)));
      return;
    }
    if (node.domain.empty() && node.op_type == "HardSwish" && opset_ < 14) {
      emit_activation(sink, FusedActivation::kHardSwish, 0, node.input(0), node.outputs.at(0), opset_,
                      dtype_of(node, node.input(0)));
      return;
    }
    sink.add(node);
  }

  void lower_group_norm(GraphSink& sink, const Node& node) {
    const DataType dtype = dtype_of(node, node.input(0));
    std::string scale = affine_input(sink, node, 1, 1.0, dtype), bias = affine_input(sink, node, 2, 0.0, dtype);
    if (opset_ >= 21) {
      if (node.attr_int("affine_per_group", 0) != 0) {
        // GroupNormalization-21 is per channel: repeat each group's value over its C / G channels.
        const Shape xs = shape_of(node.input(0));
        const Tensor* s = constant(scale);
        const Tensor* b = constant(bias);
        if (!s || !b || !xs.has_rank || xs.rank() < 2 || !xs.dims[1].known())
          throw cannot_export(node.describe() +
                              " has a per-group scale and bias that are not constants (or an unknown "
                              "channel count); GroupNormalization-21 needs them per channel");
        const int64_t channels = xs.dims[1].value, groups = node.attr_int("num_groups");
        auto expand = [&](const Tensor& t, const char* hint) {
          Tensor out(dtype, {channels});
          for (int64_t c = 0; c < channels; ++c)
            set_element_from_double(out, c, element_as_double(t, c / (channels / groups)));
          return sink.constant(out, hint);
        };
        scale = expand(*s, "scale_per_channel");
        bias = expand(*b, "bias_per_channel");
      }
      std::string normalized = sink.op("GroupNormalization", {node.input(0), scale, bias},
                                       {{"num_groups", int_attribute(node.attr_int("num_groups"))},
                                        {"epsilon", float_attribute(node.attr_float("epsilon", 1e-5f))}},
                                       plain(node) ? node.outputs.at(0) : "");
      if (!plain(node)) emit_epilogue(sink, node, normalized, node.input(3), node.outputs.at(0), opset_, dtype);
      return;
    }
    call_function(sink, node, {node.input(0), scale, bias}, dtype);
  }

  void lower_layer_norm(GraphSink& sink, const Node& node) {
    const DataType dtype = dtype_of(node, node.input(0));
    if (opset_ >= 17 && standard_layer_norm_fits(node)) {
      std::vector<std::string> inputs = {node.input(0), node.input(1)};
      if (node.has_input(2)) inputs.push_back(node.input(2));
      std::string normalized = sink.op("LayerNormalization", inputs,
                                       {{"axis", int_attribute(node.attr_int("axis", -1))},
                                        {"epsilon", float_attribute(node.attr_float("epsilon", 1e-5f))}},
                                       plain(node) ? node.outputs.at(0) : "");
      if (!plain(node)) emit_epilogue(sink, node, normalized, node.input(3), node.outputs.at(0), opset_, dtype);
      return;
    }
    call_function(sink, node,
                  {node.input(0), affine_input(sink, node, 1, 1.0, dtype), affine_input(sink, node, 2, 0.0, dtype)},
                  dtype);
  }

  // LayerNormalization-17 takes scale (required) and bias of the normalized shape X.shape[axis:].
  bool standard_layer_norm_fits(const Node& node) const {
    if (!node.has_input(1)) return false;
    const Shape xs = shape_of(node.input(0));
    if (!xs.has_rank) return false;
    int64_t axis = node.attr_int("axis", -1);
    const int64_t rank = static_cast<int64_t>(xs.rank());
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) return false;
    for (size_t i = 1; i <= 2; ++i) {
      if (i == 2 && !node.has_input(2)) continue;
      const Shape ps = shape_of(node.input(i));
      if (!ps.has_rank || static_cast<int64_t>(ps.rank()) != rank - axis) return false;
      for (size_t d = 0; d < ps.rank(); ++d) {
        const Dim& xd = xs.dims[static_cast<size_t>(axis) + d];
        if (!ps.dims[d].known() || !xd.known() || ps.dims[d].value != xd.value) return false;
      }
    }
    return true;
  }

  void call_function(GraphSink& sink, const Node& node, std::vector<std::string> inputs, DataType dtype) {
    const bool residual = node.has_input(3);
    if (residual) inputs.push_back(node.input(3));
    Node call = node;
    call.op_type = normrt_function_name(node, dtype);
    call.inputs = inputs;
    if (functions_.insert(call.op_type).second) {
      onnx::FunctionProto* f = model_.add_functions();
      f->set_name(call.op_type);
      f->set_domain(kNormrtDomain);
      f->set_doc_string("normrt " + node.op_type + " (src/ops/README.md) written in standard ops of opset " +
                        std::to_string(opset_) + "; normrt runs the node natively");
      for (const char* in : {"X", "scale", "bias"}) f->add_input(in);
      if (residual) f->add_input("residual");
      f->add_output("Y");
      for (const auto& [name, a] : node.attributes) f->add_attribute(name);
      auto* op = f->add_opset_import();
      op->set_domain("");
      op->set_version(opset_);
      FunctionSink body(f);
      for (const char* name : {"X", "scale", "bias", "residual", "Y"}) body.reserve(name);
      if (node.op_type == "GroupNorm")
        emit_group_norm_body(body, node, dtype, opset_, residual);
      else
        emit_layer_norm_body(body, node, dtype, opset_, residual);
    }
    sink.add(call);
  }

  const Graph& graph_;
  GraphTypes types_;
  int64_t opset_;
  onnx::ModelProto model_;
  std::set<std::string> functions_;
};

}  // namespace

std::string export_onnx_bytes(const Graph& graph) {
  graph.verify();
  return Exporter(graph).run();
}

void export_onnx_file(const Graph& graph, const std::string& path) {
  const std::string bytes = export_onnx_bytes(graph);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) throw Error(ErrorCode::kIo, "cannot write '" + path + "'");
}

}  // namespace normrt
