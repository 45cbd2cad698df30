// What an op is to normrt: a schema with a shape function and a reference CPU kernel, registered by one line
// in the op's own file (NORMRT_REGISTER_OP). The shape function runs at build time on partly unknown shapes
// and at run time on concrete ones; the reference kernel is the plain implementation every fast kernel is
// tested against.
#pragma once

#include <any>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"

namespace normrt {

struct TypeShape {
  DataType dtype = DataType::kUndefined;
  Shape shape;
};

class InferContext {
 public:
  InferContext(const Node& node, int64_t opset) : node(node), opset(opset) {}

  const Node& node;
  int64_t opset;
  std::vector<TypeShape> inputs;      // one per node input; dtype kUndefined where the input is omitted
  std::vector<const Tensor*> values;  // the input's value where it is known (constants; everything at run time)
  std::vector<TypeShape> outputs;     // filled by the shape function, one per node output
  // Optional: a shape function may compute an output's value when it follows from shapes alone (Shape, Size
  // of a known shape). Shape arithmetic folds through these at build time.
  std::vector<Tensor> output_values;

  size_t num_inputs() const { return inputs.size(); }
  bool has_input(size_t i) const { return i < inputs.size() && inputs[i].dtype != DataType::kUndefined; }
  const TypeShape& input(size_t i) const;  // throws naming the node when input i is missing
  const Shape& shape(size_t i) const { return input(i).shape; }
  DataType dtype(size_t i) const { return input(i).dtype; }
  const Tensor* value(size_t i) const { return i < values.size() ? values[i] : nullptr; }
  // The value of input i as int64s (int32 and int64 accepted), or nullopt when unknown.
  bool value_as_ints(size_t i, std::vector<int64_t>* out) const;

  void set_output(size_t i, DataType dtype, Shape shape);
  void set_output_value(size_t i, Tensor value);
  // Throws a kShapeError that names the node.
  [[noreturn]] void fail(const std::string& message) const;
  // Requires input i to have a known rank in [min_rank, max_rank].
  void require_rank(size_t i, size_t min_rank, size_t max_rank) const;
};

class KernelContext {
 public:
  KernelContext(const Node& node, int64_t opset) : node(node), opset(opset) {}

  const Node& node;
  int64_t opset;
  std::vector<const Tensor*> inputs;  // nullptr where the input is omitted
  std::vector<Tensor*> outputs;       // allocated with the shapes the shape function gave
  std::any* state = nullptr;          // per node and execution context: a kernel's cache (oneDNN primitives)

  const Tensor& in(size_t i) const;
  bool has_input(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  Tensor& out(size_t i) const;  // fails (a normrt::Error) when the node has no output i
  [[noreturn]] void fail(const std::string& message) const;
};

using InferFunction = void (*)(InferContext&);
using KernelFunction = void (*)(KernelContext&);

struct OpSchema {
  std::string domain;  // "" for ai.onnx
  std::string op_type;
  InferFunction infer = nullptr;
  KernelFunction reference = nullptr;
  // A view op (Reshape, Squeeze, ...): its single output holds input 0's elements in the same order, so the
  // runtime hands out input 0's storage under the new shape instead of running the kernel. Tensors are never
  // written after they are produced, which makes the sharing safe.
  bool output_is_view_of_input = false;
};

class OpRegistry {
 public:
  static OpRegistry& global();
  void add(const OpSchema& schema);
  // A built-in op, else what the fallback finds (plugin ops, src/plugin/), else nullptr.
  const OpSchema* find(const std::string& domain, const std::string& op_type) const;
  // Built-in ops only.
  const OpSchema* find_builtin(const std::string& domain, const std::string& op_type) const;
  std::vector<std::string> op_names() const;

  // Where ops that are not built in are looked up (set once, by the plugin registry when libnormrt loads).
  using Fallback = const OpSchema* (*)(const std::string& domain, const std::string& op_type);
  void set_fallback(Fallback fallback) { fallback_ = fallback; }

 private:
  std::map<std::pair<std::string, std::string>, OpSchema> schemas_;
  Fallback fallback_ = nullptr;
};

struct OpRegistrar {
  explicit OpRegistrar(const OpSchema& schema) { OpRegistry::global().add(schema); }
};

#define NORMRT_CONCAT_INNER(a, b) a##b
#define NORMRT_CONCAT(a, b) NORMRT_CONCAT_INNER(a, b)
// NORMRT_REGISTER_OP("", "Relu", infer_unary, relu_reference);
#define NORMRT_REGISTER_OP(domain, op_type, infer, reference)                           \
  static const ::normrt::OpRegistrar NORMRT_CONCAT(normrt_op_registrar_, __COUNTER__)( \
      ::normrt::OpSchema{domain, op_type, infer, reference})
// A view op: see OpSchema::output_is_view_of_input. The reference kernel (a copy) is what tests compare with.
#define NORMRT_REGISTER_VIEW_OP(domain, op_type, infer, reference)                      \
  static const ::normrt::OpRegistrar NORMRT_CONCAT(normrt_op_registrar_, __COUNTER__)( \
      ::normrt::OpSchema{domain, op_type, infer, reference, true})

// The domain of normrt's own ops (fused normalization with activation, ...). Documented in src/ops/README.md.
inline const char* kNormrtDomain = "ai.normrt";

}  // namespace normrt
