#include "ops/activation_math.h"

#include <cmath>

namespace normrt {

namespace {
constexpr FusedActivation kAll[kFusedActivationCount] = {
    FusedActivation::kNone,    FusedActivation::kRelu, FusedActivation::kLeakyRelu, FusedActivation::kElu,
    FusedActivation::kSigmoid, FusedActivation::kSilu, FusedActivation::kGelu,      FusedActivation::kGeluTanh,
    FusedActivation::kTanh,    FusedActivation::kHardSwish};
}  // namespace

const char* fused_activation_name(FusedActivation kind) {
  switch (kind) {
    case FusedActivation::kNone: return "";
    case FusedActivation::kRelu: return "Relu";
    case FusedActivation::kLeakyRelu: return "LeakyRelu";
    case FusedActivation::kElu: return "Elu";
    case FusedActivation::kSigmoid: return "Sigmoid";
    case FusedActivation::kSilu: return "Silu";
    case FusedActivation::kGelu: return "Gelu";
    case FusedActivation::kGeluTanh: return "GeluTanh";
    case FusedActivation::kTanh: return "Tanh";
    case FusedActivation::kHardSwish: return "HardSwish";
  }
  return "?";
}

bool parse_fused_activation(const std::string& name, FusedActivation* kind) {
  for (FusedActivation k : kAll) {
    if (name == fused_activation_name(k)) {
      *kind = k;
      return true;
    }
  }
  return false;
}

std::string fused_activation_names() {
  std::string names = "'' (none)";
  for (FusedActivation k : kAll)
    if (k != FusedActivation::kNone) names += std::string(", ") + fused_activation_name(k);
  return names;
}

float default_activation_alpha(FusedActivation kind) {
  switch (kind) {
    case FusedActivation::kLeakyRelu: return 0.01f;  // ONNX LeakyRelu's default alpha
    case FusedActivation::kElu: return 1.0f;         // ONNX Elu's default alpha
    default: return 0.0f;
  }
}

ActivationSpec read_fused_activation(const Node& node) {
  ActivationSpec spec;
  const std::string name = node.attr_string("activation", "");
  if (!parse_fused_activation(name, &spec.kind))
    throw Error(ErrorCode::kInvalidModel, node.describe() + ": attribute 'activation' is '" + name +
                                              "'; expected one of " + fused_activation_names());
  spec.alpha = node.attr_float("activation_alpha", default_activation_alpha(spec.kind));
  const int64_t order = node.attr_int("residual_before_activation", 0);
  if (order != 0 && order != 1)
    throw Error(ErrorCode::kInvalidModel, node.describe() + ": attribute 'residual_before_activation' is " +
                                              std::to_string(order) + "; expected 0 (act(n) + residual) or 1 "
                                              "(act(n + residual))");
  spec.residual_before_activation = order == 1;
  return spec;
}

double apply_activation(FusedActivation kind, double x, double alpha) {
  switch (kind) {
    case FusedActivation::kNone: return x;
    case FusedActivation::kRelu: return x > 0 ? x : 0.0;
    case FusedActivation::kLeakyRelu: return x >= 0 ? x : alpha * x;
    case FusedActivation::kElu: return x > 0 ? x : alpha * std::expm1(x);
    case FusedActivation::kSigmoid: return 1.0 / (1.0 + std::exp(-x));
    case FusedActivation::kSilu: return x / (1.0 + std::exp(-x));
    case FusedActivation::kGelu: return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
    case FusedActivation::kGeluTanh: {
      const double k = std::sqrt(2.0 / M_PI);
      return 0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x)));
    }
    case FusedActivation::kTanh: return std::tanh(x);
    case FusedActivation::kHardSwish: return x * std::fmin(std::fmax(x / 6.0 + 0.5, 0.0), 1.0);
  }
  return x;
}

}  // namespace normrt
