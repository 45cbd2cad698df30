// Backends for devices other than the CPU. libnormrt never links a GPU library: a backend lives in its own
// shared library (libnormrt_cuda.so for "cuda"), registers itself when loaded, and libnormrt loads it from its
// own directory the first time an engine names its device. The CLI and the Python module therefore need no GPU
// link, and a machine without one gets an error that says why, never a crash.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ops/op.h"

namespace normrt {

class Engine;
struct BuildOptions;
class TimingCache;

// A tensor in device memory that the caller owns (inputs) or receives (outputs, `owner` frees it).
struct DeviceTensor {
  DataType dtype = DataType::kUndefined;
  Dims dims;
  void* data = nullptr;
  int device = 0;                 // the device ordinal
  std::shared_ptr<void> owner;    // outputs: keeps `data` alive; frees it when the last copy goes
  size_t nbytes() const { return static_cast<size_t>(element_count(dims)) * dtype_size(dtype); }
};

// What one execution context does on a device; made by DeviceBackend::create_runner.
class DeviceRunner {
 public:
  virtual ~DeviceRunner() = default;
  // Host tensors in, host tensors out, in the model's output order (the inputs are already checked).
  virtual std::vector<std::pair<std::string, Tensor>> run(const std::map<std::string, Tensor>& inputs) = 0;
  // Device memory in and out; `stream` (a cudaStream_t for CUDA, may be null) is the caller's stream that
  // produced the inputs and will consume the outputs: the run is ordered after it and it after the run.
  virtual std::vector<std::pair<std::string, DeviceTensor>> run_on_device(
      const std::map<std::string, DeviceTensor>& inputs, void* stream) = 0;
  // The time of the last run on the device, from events around its work (copies included), in milliseconds.
  virtual double last_run_device_ms() const = 0;
  // The device time of the last run's network alone (host copies excluded: what a CUDA-graph replay of the same
  // network in another framework measures), in milliseconds; 0 when unknown.
  virtual double last_run_compute_ms() const { return 0.0; }
  // Per-node device times (for `normrt bench --profile`): while on, runs record an event before every node (in a
  // replayed CUDA graph where the runner can capture one, else eagerly); node_ms() gives the last run's time per
  // node in milliseconds, and profile_replayed() which of the two it was.
  virtual void set_profiling(bool) {}
  virtual std::vector<double> node_ms() const { return {}; }
  virtual bool profile_replayed() const { return false; }
};

class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;
  virtual std::string device() const = 0;  // "cuda"
  // Throws (kDeviceUnavailable) when the device cannot be used here: no GPU, a driver error.
  virtual void require_device() const = 0;
  // Build: whether the device has a kernel for the node at these input types (for the layout pass).
  virtual bool has_kernel(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) const = 0;
  // Build: whether a node can run with these float16 input types (for the --fp16 lowering).
  virtual bool supports_float16(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) const = 0;
  // Build: the device fields of the engine (device name and architecture, the kernel per node and the tuned
  // configuration per node and profile). The graph is final; engine.kernels holds the CPU kernels. With a timing
  // cache, tuning takes the choices it holds and adds the ones it makes.
  virtual void plan(Engine& engine, TimingCache* cache) const = 0;
  // Load: refuses an engine this device cannot run (another architecture, an unknown kernel).
  virtual void check(const Engine& engine, const std::string& what) const = 0;
  virtual std::unique_ptr<DeviceRunner> create_runner(std::shared_ptr<const Engine> engine) const = 0;
  // "NVIDIA H100 80GB HBM3 (compute capability 9.0)": the device this process runs on.
  virtual std::string describe_device() const = 0;
};

// Called by a backend library when it loads (a static initializer); a second backend for a device replaces
// nothing and is ignored.
void register_device_backend(std::shared_ptr<const DeviceBackend> backend);

// The backend for `device`, loading its library on first use. Throws a kDeviceUnavailable error that names the
// problem and the fix: a device normrt has no backend for, a build without it (NORMRT_CUDA=OFF), a library that
// fails to load (with dlerror's message), or no usable GPU.
const DeviceBackend& device_backend(const std::string& device);

// For tests: loads `path` as the backend library of `device` and reports failures as device_backend() would.
void load_device_backend_library(const std::string& device, const std::string& path);

// The devices engines can be built for: "cpu", and "cuda" in builds with the CUDA backend.
std::vector<std::string> known_devices();

}  // namespace normrt
