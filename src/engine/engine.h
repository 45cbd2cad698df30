// Engine: an optimized graph planned for a device and a set of shape profiles, with the kernel chosen for
// every node. ExecutionContext runs it; several contexts may run one engine concurrently.
#pragma once

#include <any>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/profile.h"
#include "ir/graph.h"
#include "ops/op.h"
#include "passes/pass.h"

namespace normrt {

struct BuildOptions {
  std::string device = "cpu";
  std::vector<Profile> profiles;  // by input name; validated against the model
  std::string source_name;        // the model file, recorded in the engine
};

class Engine {
 public:
  std::string device = "cpu";
  std::string normrt_version;
  std::string source_name;
  Graph graph;                       // after optimization
  std::vector<Profile> profiles;     // complete: every input appears in every profile
  std::vector<std::string> kernels;  // per node: the fast kernel's name, "" for the reference kernel
  PassReport build_report;           // not saved: what the passes did in this build

  // Resolves kernels and value slots; called by build and by load. Throws when a recorded kernel is unknown.
  void prepare();

  // Per node: the function to run and its input/output value slots; per value: its last reader.
  struct Step {
    KernelFunction kernel = nullptr;
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

// Every op in the graph without a schema, all at once, in one error naming op, domain, opset and nodes.
void check_supported_ops(const Graph& graph);

class ExecutionContext {
 public:
  explicit ExecutionContext(std::shared_ptr<const Engine> engine);

  // Runs with named inputs; returns the outputs in the order the model declares them, with their names.
  std::vector<std::pair<std::string, Tensor>> run(const std::map<std::string, Tensor>& inputs);

  // Per-node wall-clock timing of every run while enabled (for `normrt bench --profile`).
  struct NodeTiming {
    double total_ms = 0;
    int64_t calls = 0;
  };
  void set_profiling(bool enabled) { profiling_ = enabled; }
  const std::vector<NodeTiming>& node_timings() const { return timings_; }

 private:
  std::shared_ptr<const Engine> engine_;
  std::vector<std::any> node_state_;  // one cache slot per node (oneDNN primitives, ...)
  bool profiling_ = false;
  std::vector<NodeTiming> timings_;
};

// Engine files (src/engine/engine_file.cpp).
std::string serialize_engine(const Engine& engine);
std::shared_ptr<Engine> deserialize_engine(const std::string& bytes, const std::string& what);
void save_engine(const Engine& engine, const std::string& path);
std::shared_ptr<Engine> load_engine(const std::string& path);
// Whether the bytes start like an engine file (to tell engines from ONNX models on the command line).
bool looks_like_engine(const std::string& path);

}  // namespace normrt
