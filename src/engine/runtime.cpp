#include <chrono>
#include <set>

#include "engine/engine.h"
#include "ops/evaluate.h"

namespace normrt {

ExecutionContext::ExecutionContext(std::shared_ptr<const Engine> engine)
    : engine_(std::move(engine)), node_state_(engine_->steps.size()) {}

namespace {

void check_inputs(const Engine& engine, const std::map<std::string, Tensor>& inputs) {
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
    const Tensor& t = it->second;
    if (t.dtype() != in.dtype)
      throw Error(ErrorCode::kInvalidArgument, "input '" + in.name + "' must be " + dtype_name(in.dtype) + " but is " +
                                                   dtype_name(t.dtype()) + "; convert it (numpy: x.astype(numpy." +
                                                   dtype_name(in.dtype) + "))");
    if (t.rank() != in.shape.rank())
      throw Error(ErrorCode::kShapeError, "input '" + in.name + "' must have rank " + std::to_string(in.shape.rank()) +
                                              " " + in.shape.to_string() + " but has rank " + std::to_string(t.rank()) +
                                              " (" + dims_to_string(t.dims()) + ")");
  }
  std::map<std::string, Dims> shapes;
  for (const auto& [name, t] : inputs) shapes[name] = t.dims();
  select_profile(engine.profiles, shapes);
}

}  // namespace

std::vector<std::pair<std::string, Tensor>> ExecutionContext::run(const std::map<std::string, Tensor>& inputs) {
  const Engine& engine = *engine_;
  check_inputs(engine, inputs);
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
      outs = run_node(node, step.opset, in_ptrs, step.kernel, &node_state_[s]);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      // Nothing but normrt::Error leaves the library (an std::out_of_range from a node with fewer outputs than
      // its kernel writes, a bad_alloc, ...): name the node so that the failure can be traced.
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
  std::vector<std::pair<std::string, Tensor>> outputs;
  std::set<int> returned;
  for (size_t i = 0; i < engine.graph.outputs.size(); ++i) {
    int slot = engine.output_slots[i];
    // A value returned twice, or an initializer or input returned as is, is copied so that callers own it.
    bool shared = !returned.insert(slot).second || engine.graph.is_initializer(engine.slot_names[slot]) ||
                  engine.graph.find_input(engine.slot_names[slot]);
    outputs.emplace_back(engine.graph.outputs[i].name, shared ? values[slot].clone() : values[slot]);
  }
  return outputs;
}

}  // namespace normrt
