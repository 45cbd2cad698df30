#include "passes/rewrite_util.h"

#include <algorithm>
#include <cmath>

#include "ops/shape_util.h"
#include "passes/shape_values.h"

namespace normrt {

GraphTypes infer_types_tolerant(const Graph& graph) {
  GraphTypes result;
  for (const auto& [name, t] : graph.initializers) {
    result.types[name] = TypeShape{t.dtype(), Shape::from_dims(t.dims())};
    result.values[name] = t;
  }
  for (const auto& in : graph.inputs) result.types[in.name] = TypeShape{in.dtype, in.shape};
  for (const Node& node : graph.nodes) {
    const OpSchema* schema = find_schema(node);
    const int64_t opset = graph.opset(node.domain);
    InferContext ctx(node, opset);
    ctx.inputs.resize(node.inputs.size());
    ctx.values.resize(node.inputs.size(), nullptr);
    bool all_known = true;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const std::string& name = node.inputs[i];
      if (name.empty()) continue;
      auto t = result.types.find(name);
      if (t != result.types.end()) ctx.inputs[i] = t->second;
      auto v = result.values.find(name);
      if (v != result.values.end())
        ctx.values[i] = &v->second;
      else
        all_known = false;
    }
    bool inferred = false;
    if (schema) {
      try {
        schema->infer(ctx);
        inferred = ctx.outputs.size() >= node.outputs.size();
      } catch (const Error&) {
        inferred = false;
      }
    }
    if (!inferred) {
      for (const auto& out : node.outputs)
        if (!out.empty()) result.types[out] = TypeShape{};
      continue;
    }
    ctx.output_values.resize(node.outputs.size());
    bool small = true;
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      const Shape& s = ctx.outputs[i].shape;
      if (!s.fully_known() || element_count(s.concrete()) > kMaxFoldedShapeValue) small = false;
    }
    if (all_known && small) {
      try {
        std::vector<const Tensor*> inputs(ctx.values.begin(), ctx.values.end());
        std::vector<Tensor> outs = run_node(node, opset, inputs);
        for (size_t i = 0; i < outs.size(); ++i) ctx.output_values[i] = std::move(outs[i]);
      } catch (const Error&) {
        // Left unknown: the node fails at run time too, with its own message.
      }
    }
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (node.outputs[i].empty()) continue;
      result.types[node.outputs[i]] = ctx.outputs[i];
      if (!ctx.output_values[i].empty()) result.values[node.outputs[i]] = std::move(ctx.output_values[i]);
    }
  }
  return result;
}

KnownValues::KnownValues(const Graph& graph, const GraphTypes& types) : graph_(graph), types_(types), query_(graph) {
  for (const Node& n : graph.nodes)
    for (const std::string& out : n.outputs) producers_[out] = &n;
}

const Tensor* KnownValues::value(const std::string& name) { return evaluate(name, 0); }

// A small integer value that shape arithmetic (shape_values.h) knows element by element, though Shape(x) itself is
// not known (the batch): PyTorch exports `d ** -0.5` with d = x.shape[-1] // heads this way.
const Tensor* KnownValues::known_from_shapes(const std::string& name) {
  auto type = types_.types.find(name);
  if (type == types_.types.end() || !type->second.shape.has_rank || type->second.shape.rank() > 1 ||
      (type->second.dtype != DataType::kInt64 && type->second.dtype != DataType::kInt32))
    return nullptr;
  const TypeLookup lookup = [&](const std::string& value) -> const TypeShape* {
    auto it = types_.types.find(value);
    return it == types_.types.end() ? nullptr : &it->second;
  };
  const auto elements = shape_value(graph_, producers_, lookup, name);
  if (!elements) return nullptr;
  const Dims dims = type->second.shape.rank() == 0 ? Dims{} : Dims{static_cast<int64_t>(elements->size())};
  if (element_count(dims) != static_cast<int64_t>(elements->size())) return nullptr;
  Tensor t(type->second.dtype, dims);
  for (size_t i = 0; i < elements->size(); ++i) {
    if (!(*elements)[i].known) return nullptr;
    set_element_from_double(t, static_cast<int64_t>(i), static_cast<double>((*elements)[i].value));
  }
  unknown_.erase(name);
  return &(cache_[name] = std::move(t));
}

const Tensor* KnownValues::evaluate(const std::string& name, int depth) {
  if (name.empty()) return nullptr;
  auto known = types_.values.find(name);
  if (known != types_.values.end()) return &known->second;
  auto cached = cache_.find(name);
  if (cached != cache_.end()) return &cached->second;
  // Deep chains are not constants anyone writes around a normalization; the limit also bounds the recursion.
  if (unknown_.count(name) || depth > 16) return nullptr;
  unknown_.insert(name);  // until proven known; also stops cycles in a malformed graph
  const Node* producer = query_.producer(name);
  if (!producer) return nullptr;
  if (const Tensor* from_shapes = known_from_shapes(name)) return from_shapes;
  const OpSchema* schema = find_schema(*producer);
  if (!schema) return nullptr;
  Node node = *producer;
  std::vector<const Tensor*> inputs;
  if (is_op(producer, "CastLike")) {
    // CastLike(v, like): v's value in like's type, whatever like's value is.
    const DataType target = dtype(producer->input(1));
    const Tensor* v = evaluate(producer->input(0), depth + 1);
    if (!v || target == DataType::kUndefined) return nullptr;
    node.op_type = "Cast";
    node.inputs = {producer->input(0)};
    node.attributes = {{"to", int_attribute(static_cast<int64_t>(target))}};
    inputs = {v};
  } else {
    for (const std::string& in : producer->inputs) {
      if (in.empty()) {
        inputs.push_back(nullptr);
        continue;
      }
      const Tensor* v = evaluate(in, depth + 1);
      if (!v) return nullptr;
      inputs.push_back(v);
    }
  }
  std::vector<Tensor> outs;
  try {
    outs = run_node(node, graph_.opset(node.domain), inputs);
  } catch (const Error&) {
    return nullptr;
  }
  for (size_t i = 0; i < outs.size() && i < producer->outputs.size(); ++i) {
    if (producer->outputs[i].empty() || outs[i].numel() > kMaxFoldedShapeValue) continue;
    unknown_.erase(producer->outputs[i]);
    cache_[producer->outputs[i]] = std::move(outs[i]);
  }
  cached = cache_.find(name);
  return cached == cache_.end() ? nullptr : &cached->second;
}

bool KnownValues::doubles(const std::string& name, std::vector<double>* out) {
  const Tensor* t = value(name);
  if (!t) return false;
  out->resize(static_cast<size_t>(t->numel()));
  try {
    for (int64_t i = 0; i < t->numel(); ++i) (*out)[static_cast<size_t>(i)] = element_as_double(*t, i);
  } catch (const Error&) {
    return false;  // a dtype with no numeric reading
  }
  return true;
}

bool KnownValues::scalar(const std::string& name, double* out) {
  std::vector<double> v;
  if (!doubles(name, &v) || v.size() != 1) return false;
  *out = v[0];
  return true;
}

DataType KnownValues::dtype(const std::string& name) const {
  auto it = types_.types.find(name);
  return it == types_.types.end() ? DataType::kUndefined : it->second.dtype;
}

Shape KnownValues::shape(const std::string& name) const {
  auto it = types_.types.find(name);
  return it == types_.types.end() ? Shape() : it->second.shape;
}

bool is_op(const Node* node, const char* op_type) { return node && node->domain.empty() && node->op_type == op_type; }

bool is_float_type(DataType dtype) {
  return dtype == DataType::kFloat32 || dtype == DataType::kFloat16 || dtype == DataType::kBFloat16 ||
         dtype == DataType::kFloat64;
}

bool provably_same_shape(const Shape& a, const Shape& b) {
  if (!a.has_rank || !b.has_rank || a.rank() != b.rank()) return false;
  for (size_t d = 0; d < a.rank(); ++d) {
    const Dim& x = a.dims[d];
    const Dim& y = b.dims[d];
    if (x.known() != y.known() || (x.known() ? x.value != y.value : x.symbol.empty() || x.symbol != y.symbol))
      return false;
  }
  return true;
}

bool close_to(double a, double b, double relative_tolerance) {
  return std::fabs(a - b) <= relative_tolerance * std::fabs(b);
}

Tensor int64_vector(const std::vector<int64_t>& values) {
  Tensor t(DataType::kInt64, {static_cast<int64_t>(values.size())});
  for (size_t i = 0; i < values.size(); ++i) t.data<int64_t>()[i] = values[i];
  return t;
}

Attribute int_attribute(int64_t value) {
  Attribute a;
  a.type = AttributeType::kInt;
  a.i = value;
  return a;
}

Attribute float_attribute(float value) {
  Attribute a;
  a.type = AttributeType::kFloat;
  a.f = value;
  return a;
}

Attribute string_attribute(const std::string& value) {
  Attribute a;
  a.type = AttributeType::kString;
  a.s = value;
  return a;
}

Attribute ints_attribute(const std::vector<int64_t>& value) {
  Attribute a;
  a.type = AttributeType::kInts;
  a.ints = value;
  return a;
}

std::set<std::string> used_value_names(const Graph& graph) {
  std::set<std::string> used;
  for (const auto& in : graph.inputs) used.insert(in.name);
  for (const auto& out : graph.outputs) used.insert(out.name);
  for (const auto& [name, t] : graph.initializers) used.insert(name);
  for (const auto& [name, vi] : graph.value_info) used.insert(name);
  for (const Node& n : graph.nodes)
    for (const auto& out : n.outputs) used.insert(out);
  return used;
}

std::string fresh_value_name(const Graph& graph, const std::string& base) {
  const std::set<std::string> used = used_value_names(graph);
  std::string name = base;
  for (int k = 1; used.count(name); ++k) name = base + "_" + std::to_string(k);
  return name;
}

std::string describe_nodes(const Graph& graph, std::vector<size_t> indices) {
  std::sort(indices.begin(), indices.end());
  indices.erase(std::unique(indices.begin(), indices.end()), indices.end());
  std::string s;
  for (size_t i : indices) s += (s.empty() ? "" : ", ") + graph.nodes[i].describe();
  return s;
}

const std::string& other_input(const Node& node, const std::string& value) {
  return node.input(0) == value ? node.input(1) : node.input(0);
}

namespace {
// Whether `node` multiplies `value` by `factor` (Mul, either order) or divides it by 1 / factor.
bool scales_by(const Node& node, KnownValues& known, const std::string& value, double factor) {
  double c = 0;
  if (is_op(&node, "Mul") && node.inputs.size() == 2 && (node.input(0) == value || node.input(1) == value))
    return known.scalar(other_input(node, value), &c) && close_to(c, factor);
  if (is_op(&node, "Div") && node.input(0) == value)
    return known.scalar(node.input(1), &c) && close_to(c, 1.0 / factor);
  return false;
}
}  // namespace

bool match_scaled_product(const Graph& graph, const GraphQuery& q, KnownValues& known, const std::string& x,
                          const std::string& a, double factor, std::vector<size_t>* nodes, std::string* z,
                          std::string* why) {
  auto single_reader = [&](const std::string& v, size_t* index) {
    if (!q.has_single_use(v)) {
      *why = "'" + v + "' has another reader or is a graph output";
      return false;
    }
    *index = q.readers(v)[0];
    return true;
  };
  size_t first = 0, second = 0;
  if (!single_reader(a, &first)) return false;
  const Node& m1 = graph.nodes[first];
  const std::string factor_text = std::to_string(factor);
  if (is_op(&m1, "Mul") && m1.inputs.size() == 2) {
    const std::string& o = other_input(m1, a);
    double c = 0;
    if (o == x || (known.scalar(o, &c) && close_to(c, factor))) {
      // (x * a) * f  or  (a * f) * x
      if (!single_reader(m1.outputs[0], &second)) return false;
      const Node& f = graph.nodes[second];
      const bool ok = o == x ? scales_by(f, known, m1.outputs[0], factor)
                             : is_op(&f, "Mul") && f.inputs.size() == 2 && other_input(f, m1.outputs[0]) == x;
      if (!ok) {
        *why = f.describe() + " does not complete the product with " +
               (o == x ? "the factor " + factor_text : "the input");
        return false;
      }
      nodes->insert(nodes->end(), {first, second});
      *z = f.outputs[0];
      return true;
    }
    // a * (x * f)
    const Node* scaled = q.producer(o);
    if (scaled && q.has_single_use(o) && scales_by(*scaled, known, x, factor)) {
      nodes->insert(nodes->end(), {q.producer_index(o), first});
      *z = m1.outputs[0];
      return true;
    }
    *why = m1.describe() + " multiplies by '" + o + "', which is neither the input nor a factor " + factor_text;
    return false;
  }
  if (scales_by(m1, known, a, factor)) {  // (a / (1/f)) * x
    if (!single_reader(m1.outputs[0], &second)) return false;
    const Node& f = graph.nodes[second];
    if (!is_op(&f, "Mul") || f.inputs.size() != 2 || other_input(f, m1.outputs[0]) != x) {
      *why = f.describe() + " does not multiply by the input";
      return false;
    }
    nodes->insert(nodes->end(), {first, second});
    *z = f.outputs[0];
    return true;
  }
  *why = "'" + a + "' is read by " + m1.describe() + ", not by a Mul or a scaling Div";
  return false;
}

void replace_nodes(Graph& graph, const std::vector<size_t>& matched, Node replacement) {
  const std::set<size_t> gone(matched.begin(), matched.end());
  const size_t last = *gone.rbegin();
  std::set<std::string> kept_outputs(replacement.outputs.begin(), replacement.outputs.end());
  std::vector<Node> nodes;
  nodes.reserve(graph.nodes.size() - gone.size() + 1);
  for (size_t k = 0; k < graph.nodes.size(); ++k) {
    if (k == last) nodes.push_back(replacement);
    if (!gone.count(k)) {
      nodes.push_back(std::move(graph.nodes[k]));
      continue;
    }
    for (const auto& out : graph.nodes[k].outputs)
      if (!kept_outputs.count(out)) graph.value_info.erase(out);
  }
  graph.nodes = std::move(nodes);
}

std::vector<TypeShape> node_input_types(const Graph& graph, const GraphTypes& types, const Node& node) {
  std::vector<TypeShape> out;
  for (const auto& in : node.inputs) {
    auto it = types.types.find(in);
    if (it != types.types.end()) {
      out.push_back(it->second);
    } else if (graph.is_initializer(in)) {
      const Tensor& t = graph.initializers.at(in);
      out.push_back(TypeShape{t.dtype(), Shape::from_dims(t.dims())});
    } else {
      out.push_back(TypeShape{});
    }
  }
  return out;
}

}  // namespace normrt
