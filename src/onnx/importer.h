// ONNX import: protobuf in, normrt IR out. No ONNX type leaves this folder.
#pragma once

#include <string>

#include "ir/graph.h"

namespace normrt {

// The default-domain opsets whose semantics normrt implements.
constexpr int64_t kMinOpset = 11;
constexpr int64_t kMaxOpset = 21;

// Reads and imports `path`; external data is read only from inside the model's folder.
Graph import_onnx_file(const std::string& path);
// Imports a serialized model. `base_dir` is the folder external data must live in; empty refuses external data.
Graph import_onnx_bytes(const std::string& bytes, const std::string& base_dir, const std::string& what = "model");
// Imports one serialized TensorProto (an ONNX backend test's input_0.pb) with the same checks as an initializer;
// external data is refused. `what` names the file in messages.
Tensor import_onnx_tensor(const std::string& bytes, const std::string& what);

}  // namespace normrt
