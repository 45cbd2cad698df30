// Running one node, and propagating types, shapes and small known values through a whole graph. The builder
// uses these to fold constants and check profiles; the runtime uses run_node for every node it executes.
#pragma once

#include <any>
#include <map>
#include <string>
#include <vector>

#include "ops/op.h"

namespace normrt {

// The schema of node, or nullptr when normrt has none.
const OpSchema* find_schema(const Node& node);

// Infers the node's output shapes from concrete inputs, allocates the outputs and runs `kernel` (the
// schema's reference kernel when null).
std::vector<Tensor> run_node(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                             KernelFunction kernel = nullptr, std::any* state = nullptr);

struct GraphTypes {
  std::map<std::string, TypeShape> types;  // every value's type and (possibly partly unknown) shape
  std::map<std::string, Tensor> values;    // values known before run time: initializers and folded shape math
};

// Propagates types and shapes from the given input shapes (symbolic or concrete) through every node, computing
// the values of small tensors whose inputs are all known (the shape arithmetic exporters emit). Throws on
// the first node whose shape function fails.
GraphTypes infer_graph(const Graph& graph, const std::map<std::string, Shape>& input_shapes);

// Values with at most this many elements are evaluated during shape inference.
constexpr int64_t kMaxFoldedShapeValue = 1 << 12;

}  // namespace normrt
