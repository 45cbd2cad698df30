#include "ops/op.h"

namespace normrt {

const TypeShape& InferContext::input(size_t i) const {
  if (!has_input(i)) fail("input " + std::to_string(i) + " is required but missing");
  return inputs[i];
}

bool InferContext::value_as_ints(size_t i, std::vector<int64_t>* out) const {
  const Tensor* t = value(i);
  if (!t) return false;
  out->clear();
  if (t->dtype() == DataType::kInt64) {
    out->assign(t->data<int64_t>(), t->data<int64_t>() + t->numel());
  } else if (t->dtype() == DataType::kInt32) {
    out->assign(t->data<int32_t>(), t->data<int32_t>() + t->numel());
  } else {
    fail("input " + std::to_string(i) + " must be int64 or int32 but is " + dtype_name(t->dtype()));
  }
  return true;
}

void InferContext::set_output(size_t i, DataType dtype, Shape shape) {
  if (outputs.size() <= i) outputs.resize(i + 1);
  outputs[i] = TypeShape{dtype, std::move(shape)};
}

void InferContext::set_output_value(size_t i, Tensor value) {
  if (output_values.size() <= i) output_values.resize(i + 1);
  set_output(i, value.dtype(), Shape::from_dims(value.dims()));
  output_values[i] = std::move(value);
}

void InferContext::fail(const std::string& message) const {
  throw Error(ErrorCode::kShapeError, node.describe() + ": " + message);
}

void InferContext::require_rank(size_t i, size_t min_rank, size_t max_rank) const {
  const Shape& s = shape(i);
  if (!s.has_rank) return;
  if (s.rank() < min_rank || s.rank() > max_rank)
    fail("input " + std::to_string(i) + " has rank " + std::to_string(s.rank()) + " " + s.to_string() +
         "; expected rank " + (min_rank == max_rank ? std::to_string(min_rank)
                                                     : std::to_string(min_rank) + " to " + std::to_string(max_rank)));
}

const Tensor& KernelContext::in(size_t i) const {
  if (!has_input(i)) fail("input " + std::to_string(i) + " is required but missing");
  return *inputs[i];
}

Tensor& KernelContext::out(size_t i) const {
  if (i >= outputs.size() || !outputs[i])
    throw Error(ErrorCode::kInvalidModel, node.describe() + ": has " + std::to_string(node.outputs.size()) +
                                              " outputs but its kernel writes output " + std::to_string(i) +
                                              "; the model leaves out an output this op requires");
  return *outputs[i];
}

void KernelContext::fail(const std::string& message) const {
  throw Error(ErrorCode::kShapeError, node.describe() + ": " + message);
}

OpRegistry& OpRegistry::global() {
  static OpRegistry registry;
  return registry;
}

void OpRegistry::add(const OpSchema& schema) { schemas_[{schema.domain, schema.op_type}] = schema; }

const OpSchema* OpRegistry::find(const std::string& domain, const std::string& op_type) const {
  const OpSchema* builtin = find_builtin(domain, op_type);
  if (builtin || !fallback_) return builtin;
  return fallback_(domain, op_type);
}

const OpSchema* OpRegistry::find_builtin(const std::string& domain, const std::string& op_type) const {
  // "ai.onnx" and "" name the same domain.
  std::string d = domain == "ai.onnx" ? "" : domain;
  auto it = schemas_.find({d, op_type});
  return it == schemas_.end() ? nullptr : &it->second;
}

std::vector<std::string> OpRegistry::op_names() const {
  std::vector<std::string> names;
  for (const auto& [key, schema] : schemas_) names.push_back(key.first.empty() ? key.second : key.first + "::" + key.second);
  return names;
}

}  // namespace normrt
