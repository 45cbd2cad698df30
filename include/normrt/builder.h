// normrt::Builder: parses an ONNX model and builds an Engine for a device and shape profiles.
//
//   normrt::Builder builder = normrt::Builder::from_file("model.onnx");
//   builder.add_profile({{"images", {{1, 3, 224, 224}, {4, 3, 224, 224}, {8, 3, 224, 224}}}});
//   normrt::Engine engine = builder.build();
//   engine.save("model.nrt");
//
// Profiles name inputs; a name that is no input, a dynamic input without a range, or min > opt > max is an
// error naming the input and the fix. Every failure is a normrt::Error (normrt/error.h).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "normrt/engine.h"

namespace normrt {
inline namespace api {

enum class Precision {
  kFloat32,   // the CPU backend's only precision
  kFloat16,   // not available on the CPU: build() fails saying so
  kBFloat16,  // likewise
  kTF32,      // cuda: float32 storage; convolutions and matmuls on TF32 tensor cores
};
const char* precision_name(Precision precision);  // "float32", ...

class Builder {
 public:
  // Parses the model now (errors now). External data is read only from inside the model's folder.
  static Builder from_file(const std::string& path);
  // Parses a serialized model. External data must live inside `base_dir`; with no base_dir it is refused.
  static Builder from_bytes(const void* data, size_t size, const std::string& base_dir = "",
                            const std::string& what = "model in memory");

  // The model's inputs and outputs as declared (TensorInfo::profiles empty).
  const std::vector<TensorInfo>& inputs() const;
  const std::vector<TensorInfo>& outputs() const;

  // Adds a profile: each dynamic input's smallest, typical and largest shape, by input name. Fully static
  // inputs may be left out. A run uses the first profile that holds its input shapes. Without any profile a
  // model whose inputs are all static gets one static profile; one with dynamic inputs is refused.
  Builder& add_profile(const std::map<std::string, ProfileRange>& shapes);
  Builder& clear_profiles();
  Builder& set_device(const std::string& device);  // "cpu" (the default)
  Builder& set_precision(Precision precision);     // kFloat32 (the default)
  // A timing cache file for GPU builds: tuning reuses the choices it holds for this GPU and libraries and adds
  // the ones it makes (the file is created when missing, rewritten after the build). "" (the default): none.
  Builder& set_timing_cache(const std::string& path);

  // Optimizes and plans the model; the builder stays usable (build again with other settings).
  Engine build() const;

  Builder(const Builder&);
  Builder& operator=(const Builder&);
  Builder(Builder&&) noexcept;
  Builder& operator=(Builder&&) noexcept;
  ~Builder();

  struct Impl;

 private:
  explicit Builder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace api
}  // namespace normrt
