// Engine: an optimized graph planned for a device and a set of shape profiles, with the kernel chosen for
// every node. ExecutionContext runs it; several contexts may run one engine concurrently.
#pragma once

#include <any>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/profile.h"
#include "ir/graph.h"
#include "ops/op.h"
#include "passes/pass.h"

namespace normrt {

class PluginInstance;
class DeviceRunner;
struct DeviceTensor;

struct BuildOptions {
  std::string device = "cpu";         // "cpu" or "cuda"
  // "float32"; on cuda also "float16" (fp16 storage) and "tf32" (fp32 storage; convolutions and matmuls on TF32
  // tensor cores, 10-bit mantissa products). The CPU backend computes in float32 only.
  std::string precision = "float32";
  std::vector<Profile> profiles;  // by input name; validated against the model
  std::string source_name;        // the model file, recorded in the engine
  // "nchw" keeps ONNX's channels-first layout; "nhwc" runs 2-D convolutions, GroupNorms and the elementwise ops
  // between them channels-last (src/passes/channels_last_layout.cpp); "auto" is nhwc for cuda float16 and tf32
  // engines (tensor-core convolutions want it) and nchw otherwise.
  std::string layout = "auto";
  // A timing cache file (engine/timing_cache.h) for a GPU build: tuning takes the choices it holds and the file
  // gets the ones it makes; created when missing. "" for none. The CPU backend tunes nothing and refuses one.
  std::string timing_cache;
};

// The layout "auto" resolves to for these options, or the one asked for; throws on an unknown name.
std::string resolve_layout(const BuildOptions& options);

class Engine {
 public:
  std::string device = "cpu";
  std::string normrt_version;
  std::string source_name;
  Graph graph;                       // after optimization
  std::vector<Profile> profiles;     // complete: every input appears in every profile
  std::vector<std::string> kernels;  // per node: the fast CPU kernel's name, "" for the reference kernel
  std::string precision = "float32";  // "float16": the graph was lowered to float16 storage (--fp16)

  // Devices other than the CPU (the DEVICE section of the file; empty for cpu engines). Nodes the device has
  // no kernel for run on the CPU with the kernel in `kernels` (the engine records the choice, inspect prints it).
  struct DevicePlan {
    std::string architecture;  // "9.0": the compute capability the engine was planned and tuned for
    std::string device_name;   // "NVIDIA H100 80GB HBM3"
    std::vector<std::string> kernels;               // per node: the device kernel's name, "" for a CPU fallback
    std::vector<std::vector<std::string>> configs;  // per profile, per node: what the kernel's tune() chose
  };
  DevicePlan device_plan;
  bool runs_on_device(size_t node) const {
    return node < device_plan.kernels.size() && !device_plan.kernels[node].empty();
  }
  // Per device ordinal, what a backend keeps for this engine across contexts (uploaded weights).
  struct DeviceResources {
    std::mutex mutex;
    std::map<int, std::shared_ptr<void>> by_device;
  };
  std::shared_ptr<DeviceResources> device_resources = std::make_shared<DeviceResources>();
  // Per node: the plugin op instance of a plugin node, null for built-in ops (empty: no plugin nodes). Saved
  // as the PLUGINS section (domain, name, version and fields per node); made from it again on load.
  std::vector<std::shared_ptr<const PluginInstance>> plugins;
  PassReport build_report;           // not saved: what the passes did in this build

  const PluginInstance* plugin(size_t node) const { return node < plugins.size() ? plugins[node].get() : nullptr; }

  // Resolves kernels and value slots; called by build and by load. Throws when a recorded kernel is unknown.
  void prepare();

  // Per node: the function to run and its input/output value slots; per value: its last reader.
  struct Step {
    KernelFunction kernel = nullptr;
    const PluginInstance* plugin = nullptr;  // set for plugin nodes, which run through it instead of `kernel`
    int64_t opset = 0;
    std::vector<int> inputs;   // -1 for omitted inputs
    std::vector<int> outputs;  // -1 for omitted outputs
    std::vector<int> release;  // slots whose last reader is this step
  };
  std::vector<Step> steps;
  std::vector<std::string> slot_names;
  std::map<std::string, int> slots;
  std::vector<int> input_slots, output_slots;
};

// Imports nothing: takes an imported graph, checks it, optimizes it and plans it for the profiles.
std::shared_ptr<Engine> build_engine(Graph graph, const BuildOptions& options);

// Checks the inputs' names, dtypes and ranks against the engine, and selects the profile they fit.
size_t check_run_inputs(const Engine& engine, const std::map<std::string, Tensor>& inputs);
size_t check_run_input_shapes(const Engine& engine, const std::map<std::string, std::pair<DataType, Dims>>& inputs);

// Every op in the graph without a schema, all at once, in one error naming op, domain, opset and nodes.
void check_supported_ops(const Graph& graph);

class ExecutionContext {
 public:
  // A device engine runs on its device unless `on_cpu`: then every node runs its CPU kernel (the device runner
  // does so for runs whose shapes depend on input values).
  explicit ExecutionContext(std::shared_ptr<const Engine> engine, bool on_cpu = false);

  // Runs with named inputs; returns the outputs in the order the model declares them, with their names.
  std::vector<std::pair<std::string, Tensor>> run(const std::map<std::string, Tensor>& inputs);

  // Per-node timing of every run while enabled (for `normrt bench --profile`): wall clock on the CPU, device
  // events on a device.
  struct NodeTiming {
    double total_ms = 0;
    int64_t calls = 0;
  };
  void set_profiling(bool enabled);
  const std::vector<NodeTiming>& node_timings() const { return timings_; }
  // Whether the last profiled device run replayed a CUDA graph with its events (else it ran eagerly, and the
  // host's time to queue each node shows in the timings).
  bool profile_replayed() const;

  // Device engines only: device memory in and out, no host copies (see DeviceRunner::run_on_device).
  std::vector<std::pair<std::string, DeviceTensor>> run_on_device(const std::map<std::string, DeviceTensor>& inputs,
                                                                  void* stream);
  // Device engines: the last run's time measured by device events; 0 for the CPU.
  double last_run_device_ms() const;
  double last_run_compute_ms() const;  // the network alone, without host copies (device engines)

  ExecutionContext(ExecutionContext&&) noexcept;
  ~ExecutionContext();

 private:
  std::vector<std::pair<std::string, Tensor>> run_on_cpu(const std::map<std::string, Tensor>& inputs);

  std::shared_ptr<const Engine> engine_;
  std::unique_ptr<DeviceRunner> device_;  // set for engines of devices other than the CPU
  std::vector<std::any> node_state_;  // one cache slot per node (oneDNN primitives, ...)
  bool profiling_ = false;
  std::vector<NodeTiming> timings_;
};

// Engine files (src/engine/engine_file.cpp).
std::string serialize_engine(const Engine& engine);
std::shared_ptr<Engine> deserialize_engine(const std::string& bytes, const std::string& what);
// The same from a copy of `size` bytes at `data` that the engine keeps: its weights are views of that copy (one
// copy of the bytes, not two).
std::shared_ptr<Engine> deserialize_engine_copy(const void* data, size_t size, const std::string& what);
void save_engine(const Engine& engine, const std::string& path);
std::shared_ptr<Engine> load_engine(const std::string& path);
// Whether the bytes start like an engine file (to tell engines from ONNX models on the command line).
bool looks_like_engine(const std::string& path);

}  // namespace normrt
