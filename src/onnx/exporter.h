// ONNX export: normrt IR out to an ONNX model any runtime can run (what `normrt fuse` writes). No ONNX type
// leaves this folder.
//
// The model keeps its default-domain opset. Each node is written as it is, except normrt's own forms, which
// become what that opset has (src/onnx/README.md):
//   - ai.normrt::GroupNorm: GroupNormalization-21 plus standard activation nodes at opset 21; below it, a node
//     of domain ai.normrt calling a local function with the original computation as its body;
//   - ai.normrt::LayerNorm: LayerNormalization-17 plus activation nodes from opset 17 when its scale and bias
//     have the normalized shape; otherwise a local function likewise;
//   - Gelu below opset 20 and HardSwish below opset 14 (which normrt's passes write into older graphs): their
//     formulas in standard ops.
// The IR version is the lowest that has local functions and the opset (8; 9 from opset 19; 10 at 21).
#pragma once

#include <string>

#include "ir/graph.h"

namespace normrt {

// The serialized ModelProto. Throws normrt::Error naming the node for what cannot be written (control flow,
// whose subgraphs the importer does not keep; a GroupNorm whose channel count is unknown where it must be
// materialized).
std::string export_onnx_bytes(const Graph& graph);
// Writes export_onnx_bytes to `path`.
void export_onnx_file(const Graph& graph, const std::string& path);

}  // namespace normrt
