// normrt::Engine and normrt::ExecutionContext: a built engine (from Builder::build or an engine file) and the
// object that runs it.
//
//   normrt::Engine engine = normrt::Engine::load("model.nrt");
//   normrt::ExecutionContext context = engine.create_execution_context();
//   normrt::NamedTensors outputs = context.run({{"images", images}});  // in the model's output order
//
// An Engine is an immutable, cheaply copyable handle; copies share one engine. Run one engine from several
// threads with one ExecutionContext per thread: contexts of the same engine run concurrently, a single context
// runs one call at a time. Every failure is a normrt::Error with a stable code (normrt/error.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "normrt/error.h"
#include "normrt/tensor.h"

namespace normrt {
// The public classes live in this inline namespace: users write normrt::Engine, and their symbols can never
// collide with the library's internal types of the same short name.
inline namespace api {

// One dimension as the model declares it: a size, or unknown before run time (size -1), often with a name.
struct DimInfo {
  int64_t size = -1;
  std::string symbol;  // "batch"; empty for a fixed size or an unnamed dynamic dim
  bool known() const { return size >= 0; }
};

// The shapes one input may take in one profile.
struct ProfileRange {
  Dims min, opt, max;
};

// An input or output of a model or engine.
struct TensorInfo {
  std::string name;
  DataType dtype = DataType::kUndefined;
  bool has_rank = true;       // false when the model does not say the rank (outputs of some models)
  std::vector<DimInfo> dims;  // one per axis
  // Inputs of an engine: the range in each profile (index = profile). Empty for outputs and for a Builder.
  std::vector<ProfileRange> profiles;

  // "[batch,3,224,224]"
  std::string shape_string() const;
};

// Outputs (and, optionally, inputs) with their names, in order.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// A dense row-major tensor in GPU memory, for engines built for device "cuda". Inputs: memory the caller owns.
// Outputs: fresh device memory that `owner` keeps alive (it is freed when the last copy of `owner` goes).
struct GpuTensor {
  DataType dtype = DataType::kUndefined;
  Dims dims;
  void* data = nullptr;
  int device = 0;  // the CUDA device ordinal
  std::shared_ptr<void> owner;
};
using NamedGpuTensors = std::vector<std::pair<std::string, GpuTensor>>;

// A plugin op an engine uses (see normrt/plugin.h).
struct EnginePluginOp {
  std::string domain;
  std::string name;
  int64_t version = 0;
  size_t nodes = 0;  // how many nodes use it
};

class ExecutionContext;

class Engine {
 public:
  // Reads and verifies an engine file (checksum first). An engine that uses plugin ops fails here, naming each
  // op, its domain and version, unless the plugins are registered (normrt::load_plugin_library).
  static Engine load(const std::string& path);
  // The same from bytes in memory (e.g. from serialize()); `what` names them in messages.
  static Engine load_from_memory(const void* data, size_t size, const std::string& what = "engine in memory");

  void save(const std::string& path) const;
  std::string serialize() const;

  const std::vector<TensorInfo>& inputs() const;
  const std::vector<TensorInfo>& outputs() const;  // in the order run() returns them
  size_t num_profiles() const;
  const std::string& device() const;
  const std::string& precision() const;  // "float32", or "float16" for --fp16 engines
  const std::string& normrt_version() const;  // of the normrt that built it
  const std::vector<EnginePluginOp>& plugin_ops() const;

  // A new context: its own caches, so that several can run this engine at the same time.
  ExecutionContext create_execution_context() const;

  Engine(const Engine&) = default;
  Engine& operator=(const Engine&) = default;
  Engine(Engine&&) noexcept = default;
  Engine& operator=(Engine&&) noexcept = default;
  ~Engine();

  struct Impl;

 private:
  explicit Engine(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
  friend class Builder;
  friend class ExecutionContext;
};

class ExecutionContext {
 public:
  // Runs with every input given by name (the dtype must match; the shapes must fit one of the profiles).
  // Returns the outputs in the order the model declares them, with their names. Inputs are read, never
  // written, and not kept after the call; outputs are new tensors the caller owns.
  NamedTensors run(const std::map<std::string, Tensor>& inputs);

  // cuda engines: inputs and outputs in GPU memory, no host copies. `cuda_stream` (a cudaStream_t, or null for
  // the default stream) is where the caller produced the inputs and will read the outputs: the run waits for
  // the stream's work so far, and work queued on it afterwards waits for the run. Returns before the GPU is done.
  NamedGpuTensors run_on_device(const std::map<std::string, GpuTensor>& inputs, void* cuda_stream = nullptr);
  // The last run's time measured on the GPU by events (copies included), in milliseconds; 0 for cpu engines.
  double last_run_device_ms() const;

  const Engine& engine() const;

  ExecutionContext(ExecutionContext&&) noexcept;
  ExecutionContext& operator=(ExecutionContext&&) noexcept;
  ~ExecutionContext();

  struct Impl;

 private:
  explicit ExecutionContext(const Engine& engine);
  std::unique_ptr<Impl> impl_;
  friend class Engine;
};

// This library's version, e.g. "0.1.0". Engines record it; an engine built by another version is refused.
const char* version();

}  // namespace api
}  // namespace normrt
