#include <chrono>
#include <set>

#include "engine/device_backend.h"
#include "engine/engine.h"
#include "ops/evaluate.h"
#include "plugin/plugin_instance.h"

namespace normrt {

ExecutionContext::ExecutionContext(std::shared_ptr<const Engine> engine, bool on_cpu)
    : engine_(std::move(engine)), node_state_(engine_->steps.size()) {
  if (engine_->device != "cpu" && !on_cpu) device_ = device_backend(engine_->device).create_runner(engine_);
}

ExecutionContext::ExecutionContext(ExecutionContext&&) noexcept = default;
ExecutionContext::~ExecutionContext() = default;

size_t check_run_input_shapes(const Engine& engine, const std::map<std::string, std::pair<DataType, Dims>>& inputs) {
  std::vector<std::string> names;
  std::string listing;
  for (const auto& in : engine.graph.inputs) {
    names.push_back(in.name);
    listing += (listing.empty() ? "" : ", ") + in.name + " " + in.shape.to_string() + " " + dtype_name(in.dtype);
  }
  for (const auto& [name, t] : inputs)
    if (!engine.graph.find_input(name))
      throw Error(ErrorCode::kInvalidArgument, "input '" + name + "' was given, but the engine has no input of that "
                                                   "name; did you mean '" + nearest_name(name, names) +
                                                   "'? The inputs are: " + listing);
  for (const auto& in : engine.graph.inputs) {
    auto it = inputs.find(in.name);
    if (it == inputs.end())
      throw Error(ErrorCode::kInvalidArgument, "input '" + in.name + "' " + in.shape.to_string() + " " +
                                                   dtype_name(in.dtype) + " was not given; the inputs are: " + listing);
    const auto& [dtype, dims] = it->second;
    if (dtype != in.dtype)
      throw Error(ErrorCode::kInvalidArgument, "input '" + in.name + "' must be " + dtype_name(in.dtype) + " but is " +
                                                   dtype_name(dtype) + "; convert it (numpy: x.astype(numpy." +
                                                   dtype_name(in.dtype) + "))");
    if (dims.size() != in.shape.rank())
      throw Error(ErrorCode::kShapeError, "input '" + in.name + "' must have rank " + std::to_string(in.shape.rank()) +
                                              " " + in.shape.to_string() + " but has rank " +
                                              std::to_string(dims.size()) + " (" + dims_to_string(dims) + ")");
  }
  std::map<std::string, Dims> shapes;
  for (const auto& [name, t] : inputs) shapes[name] = t.second;
  return select_profile(engine.profiles, shapes);
}

size_t check_run_inputs(const Engine& engine, const std::map<std::string, Tensor>& inputs) {
  std::map<std::string, std::pair<DataType, Dims>> shapes;
  for (const auto& [name, t] : inputs) shapes[name] = {t.dtype(), t.dims()};
  return check_run_input_shapes(engine, shapes);
}

std::vector<std::pair<std::string, DeviceTensor>> ExecutionContext::run_on_device(
    const std::map<std::string, DeviceTensor>& inputs, void* stream) {
  if (!device_)
    throw Error(ErrorCode::kInvalidArgument, "run_on_device needs an engine built for a GPU; this engine is for "
                                             "device '" + engine_->device + "': pass host tensors to run()");
  std::map<std::string, std::pair<DataType, Dims>> shapes;
  for (const auto& [name, t] : inputs) shapes[name] = {t.dtype, t.dims};
  check_run_input_shapes(*engine_, shapes);
  return device_->run_on_device(inputs, stream);
}

double ExecutionContext::last_run_device_ms() const { return device_ ? device_->last_run_device_ms() : 0.0; }
double ExecutionContext::last_run_compute_ms() const { return device_ ? device_->last_run_compute_ms() : 0.0; }

bool ExecutionContext::profile_replayed() const { return device_ && device_->profile_replayed(); }

void ExecutionContext::set_profiling(bool enabled) {
  profiling_ = enabled;
  if (device_) device_->set_profiling(enabled);
}

std::vector<std::pair<std::string, Tensor>> ExecutionContext::run(const std::map<std::string, Tensor>& inputs) {
  if (!device_) return run_on_cpu(inputs);
  check_run_inputs(*engine_, inputs);
  auto outputs = device_->run(inputs);
  if (profiling_) {
    const std::vector<double> ms = device_->node_ms();
    timings_.resize(engine_->steps.size());
    for (size_t s = 0; s < ms.size() && s < timings_.size(); ++s) {
      timings_[s].total_ms += ms[s];
      ++timings_[s].calls;
    }
  }
  return outputs;
}

// The CPU engine, and device engines' runs whose shapes depend on input values (the device runner calls it).
std::vector<std::pair<std::string, Tensor>> ExecutionContext::run_on_cpu(const std::map<std::string, Tensor>& inputs) {
  const Engine& engine = *engine_;
  check_run_inputs(engine, inputs);
  std::vector<Tensor> values(engine.slot_names.size());
  for (size_t i = 0; i < engine.graph.inputs.size(); ++i)
    values[engine.input_slots[i]] = inputs.at(engine.graph.inputs[i].name);
  for (const auto& [name, t] : engine.graph.initializers) values[engine.slots.at(name)] = t;

  std::vector<const Tensor*> in_ptrs;
  if (profiling_) timings_.resize(engine.steps.size());
  for (size_t s = 0; s < engine.steps.size(); ++s) {
    auto start = profiling_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    const Engine::Step& step = engine.steps[s];
    const Node& node = engine.graph.nodes[s];
    in_ptrs.clear();
    for (int slot : step.inputs) in_ptrs.push_back(slot < 0 ? nullptr : &values[slot]);
    std::vector<Tensor> outs;
    try {
      outs = step.plugin ? step.plugin->run(node, step.opset, in_ptrs, engine.device)
                         : run_node(node, step.opset, in_ptrs, step.kernel, &node_state_[s]);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      // Nothing but normrt::Error leaves the library (a bad_alloc, ...): name the node so that the failure can be
      // traced.
      throw Error(ErrorCode::kInternal, node.describe() + " failed: " + e.what());
    }
    for (size_t o = 0; o < outs.size(); ++o)
      if (step.outputs[o] >= 0) values[step.outputs[o]] = std::move(outs[o]);
    for (int slot : step.release) values[slot] = Tensor();
    if (profiling_) {
      timings_[s].total_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      ++timings_[s].calls;
    }
  }
  // Outputs are the caller's own: never the memory of an input (which may be the caller's buffer, wrapped), a
  // weight (shared by every context) or another output. A value returned twice, an initializer or input
  // returned as is, or a view of one (view ops such as Reshape hand out their input's storage) is copied.
  std::vector<std::pair<const char*, const char*>> taken;
  auto add = [&](const Tensor& t) {
    const char* p = static_cast<const char*>(t.raw());
    if (p && t.nbytes()) taken.emplace_back(p, p + t.nbytes());
  };
  auto overlaps = [&](const Tensor& t) {
    const char* p = static_cast<const char*>(t.raw());
    if (!p || !t.nbytes()) return false;
    for (const auto& [begin, end] : taken)
      if (p < end && begin < p + t.nbytes()) return true;
    return false;
  };
  for (const auto& [name, t] : inputs) add(t);
  for (const auto& [name, t] : engine.graph.initializers) add(t);
  std::vector<std::pair<std::string, Tensor>> outputs;
  std::set<int> returned;
  for (size_t i = 0; i < engine.graph.outputs.size(); ++i) {
    int slot = engine.output_slots[i];
    bool shared = !returned.insert(slot).second || engine.graph.is_initializer(engine.slot_names[slot]) ||
                  engine.graph.find_input(engine.slot_names[slot]) || overlaps(values[slot]);
    outputs.emplace_back(engine.graph.outputs[i].name, shared ? values[slot].clone() : values[slot]);
    add(outputs.back().second);
  }
  return outputs;
}

}  // namespace normrt
