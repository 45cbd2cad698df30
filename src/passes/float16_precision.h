// Lowers a float32 graph to float16 storage for `--fp16` engines (the CUDA backend): activations and weights
// become float16 where the chosen kernels compute in float16; normalization statistics and scale/bias stay
// float32; the graph's inputs and outputs keep their declared float32 type (Casts at the boundary).
#pragma once

#include <functional>
#include <vector>

#include "ops/op.h"
#include "passes/pass.h"

namespace normrt {

// Whether a node can run with float16 inputs of these types (the backend's kernel registry answers).
using Float16Support = std::function<bool(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs)>;

// Nodes for which `supported` says no keep float32, with Casts around them. Records what it did in `report`.
void lower_to_float16(Graph& graph, const Float16Support& supported, PassReport& report);

}  // namespace normrt
