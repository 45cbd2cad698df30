#include <algorithm>
#include <set>

#include "cpu/cpu_kernel.h"
#include "engine/engine.h"
#include "ops/evaluate.h"

#ifndef NORMRT_VERSION
#define NORMRT_VERSION "0.0.0"
#endif

namespace normrt {

void check_supported_ops(const Graph& graph) {
  // op key -> node names, in first-use order
  std::vector<std::pair<std::string, std::vector<std::string>>> missing;
  for (const Node& node : graph.nodes) {
    if (find_schema(node)) continue;
    std::string domain = node.domain.empty() ? "ai.onnx" : node.domain;
    int64_t version = graph.opset(node.domain);
    std::string key = "'" + node.op_type + "' (domain " + domain + ", opset " + std::to_string(version) + ")";
    auto it = std::find_if(missing.begin(), missing.end(), [&](const auto& m) { return m.first == key; });
    if (it == missing.end()) missing.push_back({key, {node.name}});
    else it->second.push_back(node.name);
  }
  if (missing.empty()) return;
  std::string message = missing.size() == 1 ? "the model uses an op normrt does not support: "
                                            : "the model uses " + std::to_string(missing.size()) +
                                                  " ops normrt does not support: ";
  for (size_t i = 0; i < missing.size(); ++i) {
    const auto& [key, nodes] = missing[i];
    message += (i ? "; " : "") + key + " used by " + std::to_string(nodes.size()) + " node" +
               (nodes.size() > 1 ? "s" : "") + " (" + nodes[0] + (nodes.size() > 1 ? ", ..." : "") + ")";
  }
  message += ". Custom ops can be provided as plugins; standard ONNX ops missing here are normrt bugs to report";
  throw Error(ErrorCode::kUnsupportedOp, message);
}

namespace {

std::map<std::string, Shape> corner_shapes(const Profile& profile, Dims ShapeRange::*corner) {
  std::map<std::string, Shape> shapes;
  for (const auto& [name, range] : profile.inputs) shapes[name] = Shape::from_dims(range.*corner);
  return shapes;
}

std::string describe_shapes(const Profile& profile, Dims ShapeRange::*corner) {
  std::string s;
  for (const auto& [name, range] : profile.inputs) s += (s.empty() ? "" : ", ") + name + ":" + dims_to_string(range.*corner);
  return s;
}

}  // namespace

std::shared_ptr<Engine> build_engine(Graph graph, const BuildOptions& options) {
  if (options.device != "cpu")
    throw Error(ErrorCode::kInvalidArgument, "device '" + options.device +
                                                 "' is not available in this build; use --device cpu");
  check_supported_ops(graph);
  auto engine = std::make_shared<Engine>();
  engine->device = options.device;
  engine->normrt_version = NORMRT_VERSION;
  engine->source_name = options.source_name;
  engine->profiles = resolve_profiles(graph, options.profiles);
  optimize(graph, engine->build_report);

  // Every profile corner must give consistent, concrete shapes everywhere in the graph.
  const std::pair<const char*, Dims ShapeRange::*> corners[] = {
      {"min", &ShapeRange::min}, {"opt", &ShapeRange::opt}, {"max", &ShapeRange::max}};
  for (size_t p = 0; p < engine->profiles.size(); ++p) {
    for (const auto& [label, corner] : corners) {
      GraphTypes types;
      try {
        types = infer_graph(graph, corner_shapes(engine->profiles[p], corner));
      } catch (const Error& e) {
        throw Error(e.code(), std::string("profile ") + std::to_string(p) + " does not fit the model at its " + label +
                                  " shapes (" + describe_shapes(engine->profiles[p], corner) + "): " + e.what());
      }
      // An output whose shape is still unknown here depends on the value of an input (a Slice whose starts
      // are an input, say): legal, and computed at run time from that value.
    }
  }

  // Symbolic inference with the model's own dim names; it decides which fast kernels apply.
  GraphTypes symbolic = infer_graph(graph, {});
  for (const auto& [name, ts] : symbolic.types) {
    if (graph.is_initializer(name) || graph.find_input(name)) continue;
    graph.value_info[name] = ValueInfo{name, ts.dtype, ts.shape};
  }
  for (auto& out : graph.outputs) {
    const TypeShape& ts = symbolic.types.at(out.name);
    if (out.dtype != DataType::kUndefined && out.dtype != ts.dtype)
      throw Error(ErrorCode::kInvalidModel, "output '" + out.name + "' is declared " + dtype_name(out.dtype) +
                                                " but computes " + dtype_name(ts.dtype));
    out.dtype = ts.dtype;
    // Keep the model's declared dim names where inference lost them.
    if (!out.shape.has_rank || out.shape.rank() != ts.shape.rank()) out.shape = ts.shape;
  }
  const int64_t opset = graph.opset("");
  for (const Node& node : graph.nodes) {
    std::vector<TypeShape> inputs;
    for (const auto& in : node.inputs) inputs.push_back(in.empty() ? TypeShape{} : symbolic.types.at(in));
    const CpuKernel* kernel =
        CpuKernelRegistry::global().choose(node, node.domain.empty() ? opset : graph.opset(node.domain), inputs);
    engine->kernels.push_back(kernel ? kernel->name : "");
  }
  engine->graph = std::move(graph);
  engine->prepare();
  return engine;
}

void Engine::prepare() {
  steps.clear();
  slots.clear();
  slot_names.clear();
  input_slots.clear();
  output_slots.clear();
  auto slot_of = [&](const std::string& name) {
    auto it = slots.find(name);
    if (it != slots.end()) return it->second;
    int s = static_cast<int>(slot_names.size());
    slots[name] = s;
    slot_names.push_back(name);
    return s;
  };
  for (const auto& in : graph.inputs) input_slots.push_back(slot_of(in.name));
  for (const auto& [name, t] : graph.initializers) slot_of(name);
  if (kernels.size() != graph.nodes.size())
    throw Error(ErrorCode::kCorruptEngine, "the engine lists " + std::to_string(kernels.size()) + " kernels for " +
                                               std::to_string(graph.nodes.size()) + " nodes");
  const int64_t opset = graph.opset("");
  std::map<int, size_t> last_reader;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& node = graph.nodes[i];
    Step step;
    step.opset = node.domain.empty() ? opset : graph.opset(node.domain);
    const OpSchema* schema = OpRegistry::global().find(node.domain, node.op_type);
    if (!schema) {
      check_supported_ops(graph);
      throw Error(ErrorCode::kInternal, node.describe() + " has no schema");
    }
    step.kernel = schema->reference;
    if (!kernels[i].empty()) {
      const CpuKernel* fast = CpuKernelRegistry::global().find(kernels[i]);
      if (!fast)
        throw Error(ErrorCode::kCorruptEngine, "the engine uses kernel '" + kernels[i] + "' for " + node.describe() +
                                                   ", which this normrt does not have; rebuild the engine");
      // A file may name any registered kernel; one written for another op must never run on this node.
      if (fast->op_type != node.op_type || fast->domain != node.domain)
        throw Error(ErrorCode::kCorruptEngine, "the engine uses kernel '" + kernels[i] + "', which implements " +
                                                   (fast->domain.empty() ? "" : fast->domain + "::") + fast->op_type +
                                                   ", for " + node.describe() + "; rebuild the engine");
      step.kernel = fast->run;
    }
    for (const auto& in : node.inputs) {
      int s = in.empty() ? -1 : slot_of(in);
      step.inputs.push_back(s);
      if (s >= 0) last_reader[s] = i;
    }
    for (const auto& out : node.outputs) step.outputs.push_back(out.empty() ? -1 : slot_of(out));
    steps.push_back(std::move(step));
  }
  for (const auto& out : graph.outputs) output_slots.push_back(slot_of(out.name));
  std::set<int> keep(output_slots.begin(), output_slots.end());
  for (const auto& [name, t] : graph.initializers) keep.insert(slots.at(name));
  for (const auto& [slot, step] : last_reader)
    if (!keep.count(slot)) steps[step].release.push_back(slot);
}

}  // namespace normrt
