#include "plugin/plugin_instance.h"

#include <cstring>
#include <map>

namespace normrt {

namespace {

ErrorCode code_of(normrt_status status) {
  switch (status) {
    case NORMRT_STATUS_INVALID_ARGUMENT: return ErrorCode::kInvalidArgument;
    case NORMRT_STATUS_INVALID_MODEL: return ErrorCode::kInvalidModel;
    case NORMRT_STATUS_UNSUPPORTED: return ErrorCode::kUnsupportedOp;
    case NORMRT_STATUS_SHAPE_ERROR: return ErrorCode::kShapeError;
    case NORMRT_STATUS_CORRUPT_FIELDS: return ErrorCode::kCorruptEngine;
    case NORMRT_STATUS_IO: return ErrorCode::kIo;
    default: return ErrorCode::kInternal;
  }
}

// Turns a plugin's failure into a normrt::Error naming where it happened and the op.
void check(normrt_status status, const normrt_error& error, const std::string& where, const PluginOp& op,
           const char* call) {
  if (status == NORMRT_OK) return;
  std::string message(error.message, strnlen(error.message, sizeof(error.message)));
  if (message.empty()) message = "(the plugin gave no message)";
  std::string status_note = code_of(status) == ErrorCode::kInternal && status != NORMRT_STATUS_INTERNAL
                                ? " (status " + std::to_string(status) + ")"
                                : "";
  throw Error(code_of(status),
              where + ": plugin op " + op.describe() + " failed in " + call + status_note + ": " + message);
}

normrt_error fresh_error() {
  normrt_error e;
  e.message[0] = '\0';
  return e;
}

// Node attributes in the C form; owns what the pointers point to.
struct CAttributes {
  std::vector<normrt_attribute> items;
  std::vector<std::vector<const char*>> string_lists;

  explicit CAttributes(const Node& node) {
    string_lists.reserve(node.attributes.size());
    for (const auto& [name, a] : node.attributes) {
      normrt_attribute c;
      std::memset(&c, 0, sizeof c);
      c.name = name.c_str();
      switch (a.type) {
        case AttributeType::kFloat:
          c.type = NORMRT_ATTRIBUTE_FLOAT;
          c.f = a.f;
          break;
        case AttributeType::kInt:
          c.type = NORMRT_ATTRIBUTE_INT;
          c.i = a.i;
          break;
        case AttributeType::kString:
          c.type = NORMRT_ATTRIBUTE_STRING;
          c.s = a.s.data();
          c.s_length = a.s.size();
          break;
        case AttributeType::kFloats:
          c.type = NORMRT_ATTRIBUTE_FLOATS;
          c.floats = a.floats.data();
          c.count = a.floats.size();
          break;
        case AttributeType::kInts:
          c.type = NORMRT_ATTRIBUTE_INTS;
          c.ints = a.ints.data();
          c.count = a.ints.size();
          break;
        case AttributeType::kStrings: {
          std::vector<const char*> list;
          for (const auto& s : a.strings) list.push_back(s.c_str());
          string_lists.push_back(std::move(list));
          c.type = NORMRT_ATTRIBUTE_STRINGS;
          c.strings = string_lists.back().data();
          c.count = a.strings.size();
          break;
        }
        case AttributeType::kTensor:
        case AttributeType::kGraph:
          throw Error(ErrorCode::kInvalidModel, node.describe() + ": attribute '" + name + "' is a " +
                                                    attribute_type_name(a.type) +
                                                    ", which plugin ops cannot take (numbers, strings and lists only)");
      }
      items.push_back(c);
    }
  }
};

struct Destroyer {
  const PluginOp* op;
  void operator()(void* handle) const {
    if (handle) op->table.destroy(handle);
  }
};

}  // namespace

PluginInstance::~PluginInstance() {
  if (handle_) op_->table.destroy(handle_);
}

std::shared_ptr<const PluginInstance> PluginInstance::from_node(const PluginOp& op, const Node& node) {
  CAttributes attributes(node);
  const std::string where = node.describe();
  void* raw = nullptr;
  normrt_error error = fresh_error();
  check(op.table.create(op.table.op_data, attributes.items.data(), attributes.items.size(), &raw, &error), error, where,
        op, "create");
  if (!raw) throw Error(ErrorCode::kInternal, where + ": plugin op " + op.describe() + ": create returned no instance");
  std::unique_ptr<void, Destroyer> created(raw, Destroyer{&op});
  size_t size = op.table.serialized_size(raw);
  if (size > kMaxPluginFieldBytes)
    throw Error(ErrorCode::kInternal, where + ": plugin op " + op.describe() + " wants " + std::to_string(size) +
                                          " bytes of fields, more than the limit of " +
                                          std::to_string(kMaxPluginFieldBytes));
  std::string fields(size, '\0');
  error = fresh_error();
  check(op.table.serialize(raw, fields.data(), size, &error), error, where, op, "serialize");
  return from_fields(op, fields, where);
}

std::shared_ptr<const PluginInstance> PluginInstance::from_fields(const PluginOp& op, const std::string& fields,
                                                                  const std::string& where) {
  if (fields.size() > kMaxPluginFieldBytes)
    throw Error(ErrorCode::kCorruptEngine, where + ": plugin fields of " + std::to_string(fields.size()) +
                                               " bytes exceed the limit of " + std::to_string(kMaxPluginFieldBytes));
  void* raw = nullptr;
  normrt_error error = fresh_error();
  check(op.table.deserialize(op.table.op_data, fields.data(), fields.size(), &raw, &error), error, where, op,
        "deserialize");
  if (!raw)
    throw Error(ErrorCode::kInternal, where + ": plugin op " + op.describe() + ": deserialize returned no instance");
  std::shared_ptr<PluginInstance> instance(new PluginInstance(&op, raw));
  instance->fields_ = fields;
  return instance;
}

void PluginInstance::infer(InferContext& ctx) const {
  const std::string where = ctx.node.describe();
  // Symbol ids for named unknown dims, so that an output dim copied from an input keeps its name.
  std::map<std::string, int64_t> ids;
  std::vector<std::string> names{""};
  std::vector<normrt_shape> inputs(ctx.inputs.size());
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    normrt_shape& s = inputs[i];
    std::memset(&s, 0, sizeof s);
    const TypeShape& ts = ctx.inputs[i];
    s.dtype = static_cast<int32_t>(ts.dtype);
    if (ts.dtype == DataType::kUndefined) continue;
    if (!ts.shape.has_rank) {
      s.rank = -1;
      continue;
    }
    if (ts.shape.rank() > NORMRT_PLUGIN_MAX_RANK)
      ctx.fail("input " + std::to_string(i) + " has rank " + std::to_string(ts.shape.rank()) +
               "; plugin ops take tensors of rank " + std::to_string(NORMRT_PLUGIN_MAX_RANK) + " at most");
    s.rank = static_cast<int32_t>(ts.shape.rank());
    for (size_t d = 0; d < ts.shape.rank(); ++d) {
      const Dim& dim = ts.shape.dims[d];
      s.dims[d].value = dim.known() ? dim.value : -1;
      if (!dim.known() && !dim.symbol.empty()) {
        auto [it, added] = ids.emplace(dim.symbol, static_cast<int64_t>(names.size()));
        if (added) names.push_back(dim.symbol);
        s.dims[d].symbol = it->second;
      }
    }
  }
  const size_t count = ctx.node.outputs.size();
  std::vector<normrt_shape> outputs(count);
  for (auto& s : outputs) {
    std::memset(&s, 0, sizeof s);
    s.rank = -1;
  }
  normrt_error error = fresh_error();
  check(op_->table.infer_shapes(handle_, inputs.data(), inputs.size(), outputs.data(), count, &error), error, where,
        *op_, "infer_shapes");
  for (size_t o = 0; o < count; ++o) {
    const normrt_shape& s = outputs[o];
    auto bad = [&](const std::string& what) {
      throw Error(ErrorCode::kInternal,
                  where + ": plugin op " + op_->describe() + " gave output " + std::to_string(o) + " " + what);
    };
    if (s.dtype == 0 || !is_known_dtype(s.dtype)) bad("an invalid data type (" + std::to_string(s.dtype) + ")");
    if (s.rank < 0 || s.rank > NORMRT_PLUGIN_MAX_RANK) bad("an invalid rank (" + std::to_string(s.rank) + ")");
    std::vector<Dim> dims;
    for (int32_t d = 0; d < s.rank; ++d) {
      const normrt_dim& dim = s.dims[d];
      if (dim.value < -1) bad("a negative size at axis " + std::to_string(d));
      if (dim.symbol < 0 || dim.symbol >= static_cast<int64_t>(names.size()))
        bad("an unknown dim symbol at axis " + std::to_string(d));
      dims.push_back(dim.value >= 0 ? Dim(dim.value) : Dim::unknown(names[static_cast<size_t>(dim.symbol)]));
    }
    ctx.set_output(o, static_cast<DataType>(s.dtype), Shape(std::move(dims)));
  }
}

void PluginInstance::run_kernel(const KernelContext& ctx, const std::string& device) const {
  auto describe = [](const Tensor* t, void* data) {
    normrt_tensor c;
    std::memset(&c, 0, sizeof c);
    if (!t || t->empty()) return c;
    c.dtype = static_cast<int32_t>(t->dtype());
    c.rank = static_cast<int32_t>(t->rank());
    c.dims = t->dims().data();
    c.data = data;
    return c;
  };
  std::vector<normrt_tensor> inputs, outputs;
  for (const Tensor* t : ctx.inputs) inputs.push_back(describe(t, t ? const_cast<void*>(t->raw()) : nullptr));
  for (Tensor* t : ctx.outputs) outputs.push_back(describe(t, t ? t->raw() : nullptr));
  run_kernel(ctx.node.describe(), device, inputs, outputs, nullptr);
}

void PluginInstance::run_kernel(const std::string& where, const std::string& device,
                                const std::vector<normrt_tensor>& inputs, const std::vector<normrt_tensor>& outputs,
                                void* stream) const {
  const normrt_plugin_kernel* kernel = op_->kernel(device);
  if (!kernel)
    throw Error(ErrorCode::kUnsupportedOp, where + ": plugin op " + op_->describe() + " has no kernel for device '" +
                                               device + "' (it has: " + op_->devices() + ")");
  normrt_kernel_args args{inputs.data(), inputs.size(), outputs.data(), outputs.size(), stream};
  normrt_error error = fresh_error();
  check(kernel->run(handle_, &args, &error), error, where, *op_, ("the " + device + " kernel").c_str());
}

std::vector<Tensor> PluginInstance::run(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                                        const std::string& device) const {
  InferContext infer(node, opset);
  infer.inputs.resize(inputs.size());
  infer.values = inputs;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i]) infer.inputs[i] = TypeShape{inputs[i]->dtype(), Shape::from_dims(inputs[i]->dims())};
  this->infer(infer);
  std::vector<Tensor> outputs(node.outputs.size());
  KernelContext ctx(node, opset);
  ctx.inputs = inputs;
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    const TypeShape& ts = infer.outputs[i];
    if (!ts.shape.fully_known())
      throw Error(ErrorCode::kInternal, node.describe() + ": plugin op " + op_->describe() + " gave output " +
                                            std::to_string(i) + " the shape " + ts.shape.to_string() +
                                            ", which is not concrete although every input shape is");
    outputs[i] = Tensor(ts.dtype, ts.shape.concrete());
    ctx.outputs.push_back(&outputs[i]);
  }
  run_kernel(ctx, device);
  return outputs;
}

namespace {
const PluginOp& require_plugin(const Node& node, int64_t opset) {
  const PluginOp* op = PluginRegistry::global().find_for_node(node, opset);
  if (!op)  // the schema was found through the registry, so this is only a race with nothing: report it plainly
    throw Error(ErrorCode::kUnsupportedOp, node.describe() + " has no registered plugin op");
  return *op;
}
}  // namespace

void plugin_schema_infer(InferContext& ctx) {
  PluginInstance::from_node(require_plugin(ctx.node, ctx.opset), ctx.node)->infer(ctx);
}

void plugin_schema_reference(KernelContext& ctx) {
  PluginInstance::from_node(require_plugin(ctx.node, ctx.opset), ctx.node)->run_kernel(ctx, "cpu");
}

}  // namespace normrt
