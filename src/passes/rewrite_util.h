// What the pattern passes share: types and values known before run time (tolerant of ops normrt cannot run,
// since `normrt fuse` rewrites models it may never execute), attribute builders, fresh names, and the one
// way a matched set of nodes is replaced by a single node.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "ops/evaluate.h"
#include "passes/graph_query.h"

namespace normrt {

// Like infer_graph, but a node without a schema, or whose shape function fails, leaves its outputs unknown
// instead of stopping: pattern matching needs what can be known, not a complete inference.
GraphTypes infer_types_tolerant(const Graph& graph);

// The types of `node`'s inputs, for a backend's accept(): from `types`, else an initializer's own, else unknown.
std::vector<TypeShape> node_input_types(const Graph& graph, const GraphTypes& types, const Node& node);

// Values known before run time: initializers, the shape arithmetic infer_types_tolerant folded, small integer values
// whose every element shape_value (shape_values.h) knows though the batch is not (Gather(Shape(x), i) of a static
// dim), and what follows from those through small nodes, CastLike included (its value depends only on the type of its second
// input, which the exporters' `CastLike(1.0, x)` relies on). Evaluations are cached.
class KnownValues {
 public:
  KnownValues(const Graph& graph, const GraphTypes& types);
  // The value, or nullptr when it is not known before run time.
  const Tensor* value(const std::string& name);
  // The values as doubles; false when unknown.
  bool doubles(const std::string& name, std::vector<double>* out);
  // One element (of any rank, [1] or [] or [1,1]); false when unknown or larger.
  bool scalar(const std::string& name, double* out);
  DataType dtype(const std::string& name) const;
  // The static shape of a value, or a shape without rank.
  Shape shape(const std::string& name) const;

 private:
  const Tensor* evaluate(const std::string& name, int depth);
  const Tensor* known_from_shapes(const std::string& name);
  const Graph& graph_;
  const GraphTypes& types_;
  GraphQuery query_;
  std::map<std::string, const Node*> producers_;  // for shape_value
  std::map<std::string, Tensor> cache_;
  std::set<std::string> unknown_;
};

bool is_op(const Node* node, const char* op_type);  // default domain, this op type
// Whether two shapes are provably equal before run time: the same rank, each dim known and equal or unknown with
// the same name. A residual that joins a fused node must pass this, since the fused add does not broadcast.
bool provably_same_shape(const Shape& a, const Shape& b);
bool is_float_type(DataType dtype);
// |a - b| <= tolerance * |b|: exporters print constants like 1/sqrt(2) at float32 precision or fewer digits.
bool close_to(double a, double b, double relative_tolerance = 1e-5);

// A 1-D int64 tensor of `values`: the index inputs passes write (Slice bounds, Reshape targets, axes inputs).
Tensor int64_vector(const std::vector<int64_t>& values);

Attribute int_attribute(int64_t value);
Attribute float_attribute(float value);
Attribute string_attribute(const std::string& value);
Attribute ints_attribute(const std::vector<int64_t>& value);

// Every value name the graph uses: inputs, outputs, initializers, value_info and node outputs.
std::set<std::string> used_value_names(const Graph& graph);
// A value name no graph input, initializer, value_info or node output uses yet, derived from `base`.
std::string fresh_value_name(const Graph& graph, const std::string& base);
// "node 'a' (Mul), node 'b' (Add)" in graph order.
std::string describe_nodes(const Graph& graph, std::vector<size_t> indices);
// Matches z = x * a * factor written as any association of two Muls (operands in either order), with a Div
// by 1 / factor in place of a Mul by factor: Mul(Mul(x, a), f), Mul(x, Mul(a, f)), Mul(a, Mul(x, f)),
// Div(Mul(x, a), 1/f), Mul(Div(a, 1/f), x), ... Intermediate products must have one reader and be no graph
// output. Appends the product's nodes to `nodes` and sets `z`; false with `why` otherwise.
bool match_scaled_product(const Graph& graph, const GraphQuery& q, KnownValues& known, const std::string& x,
                          const std::string& a, double factor, std::vector<size_t>* nodes, std::string* z,
                          std::string* why);
// The input of a two-input node that is not `value` (the first input when both are).
const std::string& other_input(const Node& node, const std::string& value);

// Replaces the matched nodes by `replacement`, placed where the last of them was: its inputs exist before
// every matched node and the readers of its outputs all come after the last. Values only the matched nodes
// produced lose their value_info.
void replace_nodes(Graph& graph, const std::vector<size_t>& matched, Node replacement);

}  // namespace normrt
