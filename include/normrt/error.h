// normrt::Error: the one exception type of the library. Every error carries a stable code and a message that
// names the thing at fault and, where there is one, the fix.
#pragma once

#include <stdexcept>
#include <string>

namespace normrt {

enum class ErrorCode : int {
  kInvalidArgument = 1,  // a caller passed something wrong (unknown input name, bad flag)
  kInvalidModel = 2,     // the ONNX file is malformed or inconsistent
  kUnsupportedOp = 3,    // the model uses an op normrt does not implement
  kShapeError = 4,       // shapes do not fit together, or do not fit a profile
  kCorruptEngine = 5,    // an engine file failed verification
  kIo = 6,               // a file could not be read or written
  kPluginMissing = 7,    // an engine needs a plugin that is not loaded
  kInternal = 8,         // a bug in normrt
  kDeviceUnavailable = 9,  // the engine's device cannot be used here (no GPU, no driver, a build without it)
};

const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace normrt
