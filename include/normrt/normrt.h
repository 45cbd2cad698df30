// normrt: an ONNX inference builder and runtime. The whole public C++ API:
//   normrt/error.h    normrt::Error, the one exception type, with a stable ErrorCode
//   normrt/tensor.h   normrt::Tensor, DataType, Dims
//   normrt/builder.h  normrt::Builder: ONNX model -> Engine for a device and shape profiles
//   normrt/engine.h   normrt::Engine (load, save, inputs/outputs), normrt::ExecutionContext (run)
//   normrt/plugin.h   custom ops: the C plugin ABI, its C++ helpers, normrt::load_plugin_library
// With CMake: find_package(normrt REQUIRED) and target_link_libraries(app PRIVATE normrt::normrt).
#pragma once

#include "normrt/builder.h"
#include "normrt/engine.h"
#include "normrt/error.h"
#include "normrt/plugin.h"
#include "normrt/tensor.h"
