// How normrt's own ops appear in an ONNX file that `normrt fuse` writes (src/onnx/README.md): a node of domain
// ai.normrt whose op_type names one local function (FunctionProto) per distinct attribute combination, e.g.
// GroupNorm_G32_eps1e-05_Silu, with the original computation in standard ops as the body, so that any runtime
// runs it. The node also carries the op's attributes; the importer maps it back to the native op and checks
// that the name and the attributes agree.
#pragma once

#include <string>

#include "ir/graph.h"

namespace normrt {

// The function name for an ai.normrt GroupNorm or LayerNorm node whose X has type `dtype`:
//   GroupNorm_G<num_groups>_eps<epsilon>[_<activation>[_alpha<alpha>]][_pergroup][_residual][_<dtype>]
//   LayerNorm_axis<axis>_eps<epsilon>[_<activation>[_alpha<alpha>]][_residual][_<dtype>]
// The dtype suffix is left out for float32; alpha appears for LeakyRelu and Elu only.
std::string normrt_function_name(const Node& node, DataType dtype);

// Whether `op_type` is the function name of a native ai.normrt op for the attributes `node` carries (for any
// float dtype); `*base` gets the native op type ("GroupNorm") when the prefix names one, even on mismatch.
bool matches_normrt_function_name(const std::string& op_type, const Node& node, std::string* base);

// The shortest decimal spelling that reads back as the same float ("1e-05" for 1e-5f).
std::string exact_float_text(float value);

}  // namespace normrt
