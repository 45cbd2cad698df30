#include "onnx/normrt_functions.h"

#include <cstdio>
#include <cstdlib>

#include "ops/activation_math.h"

namespace normrt {

std::string exact_float_text(float value) {
  char text[32];
  for (int digits = 1; digits <= 9; ++digits) {
    std::snprintf(text, sizeof text, "%.*g", digits, static_cast<double>(value));
    if (std::strtof(text, nullptr) == value) break;
  }
  return text;
}

std::string normrt_function_name(const Node& node, DataType dtype) {
  std::string name = node.op_type;
  if (node.op_type == "GroupNorm")
    name += "_G" + std::to_string(node.attr_int("num_groups"));
  else
    name += "_axis" + std::to_string(node.attr_int("axis", -1));
  name += "_eps" + exact_float_text(node.attr_float("epsilon", 1e-5f));
  const ActivationSpec activation = read_fused_activation(node);
  if (activation.kind != FusedActivation::kNone) name += std::string("_") + fused_activation_name(activation.kind);
  if (activation.kind == FusedActivation::kLeakyRelu || activation.kind == FusedActivation::kElu)
    name += "_alpha" + exact_float_text(activation.alpha);
  if (node.op_type == "GroupNorm" && node.attr_int("affine_per_group", 0) != 0) name += "_pergroup";
  if (node.has_input(3)) name += "_residual";
  if (dtype != DataType::kFloat32) name += std::string("_") + dtype_name(dtype);
  return name;
}

bool matches_normrt_function_name(const std::string& op_type, const Node& node, std::string* base) {
  *base = op_type.substr(0, op_type.find('_'));
  if (*base != "GroupNorm" && *base != "LayerNorm") {
    base->clear();
    return false;
  }
  Node native = node;
  native.op_type = *base;
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kFloat64}) {
    try {
      if (normrt_function_name(native, dtype) == op_type) return true;
    } catch (const Error&) {
      return false;  // an attribute of the wrong type or an unknown activation
    }
  }
  return false;
}

}  // namespace normrt
