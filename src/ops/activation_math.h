// The activations a normalization kernel can fuse into its write pass (the ai.normrt GroupNorm and LayerNorm
// ops, see src/ops/README.md), and their scalar definitions. The reference kernels use apply_activation
// directly; fast kernels implement the same functions in vectorizable form and are tested against these.
#pragma once

#include <string>

#include "ir/graph.h"

namespace normrt {

enum class FusedActivation {
  kNone,       // identity
  kRelu,       // max(x, 0)
  kLeakyRelu,  // x >= 0 ? x : alpha * x (alpha defaults to 0.01, as ONNX LeakyRelu)
  kElu,        // x > 0 ? x : alpha * (exp(x) - 1) (alpha defaults to 1, as ONNX Elu)
  kSigmoid,    // 1 / (1 + exp(-x))
  kSilu,       // x * sigmoid(x)
  kGelu,       // x / 2 * (1 + erf(x / sqrt(2))), ONNX Gelu approximate="none"
  kGeluTanh,   // x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))), ONNX Gelu approximate="tanh"
  kTanh,       // tanh(x)
  kHardSwish,  // x * clamp(x / 6 + 1 / 2, 0, 1), ONNX HardSwish
};
constexpr int kFusedActivationCount = 10;

// The spelling used in the ai.normrt ops' "activation" attribute: "" for kNone, else "Relu", "LeakyRelu",
// "Elu", "Sigmoid", "Silu", "Gelu", "GeluTanh", "Tanh", "HardSwish".
const char* fused_activation_name(FusedActivation kind);
// Parses fused_activation_name's spelling; false for anything else.
bool parse_fused_activation(const std::string& name, FusedActivation* kind);
// Every accepted spelling, for error messages: "'' (none), Relu, LeakyRelu, ...".
std::string fused_activation_names();
// The alpha an activation uses when the node gives none (LeakyRelu 0.01, Elu 1; unused by the others).
float default_activation_alpha(FusedActivation kind);

// A fused node's activation: its "activation" attribute ("" when absent), "activation_alpha" (the
// activation's default when absent) and "residual_before_activation" (0 when absent: y = act(n) + residual; 1:
// y = act(n + residual), ResNet's relu(norm(h) + x)). Throws normrt::Error naming the node for an unknown
// activation or a residual_before_activation other than 0 or 1.
struct ActivationSpec {
  FusedActivation kind = FusedActivation::kNone;
  float alpha = 0.0f;
  bool residual_before_activation = false;
};
ActivationSpec read_fused_activation(const Node& node);
inline bool residual_before_activation(const Node& node) { return read_fused_activation(node).residual_before_activation; }

// The activation of x, computed in double; `alpha` is used by LeakyRelu and Elu only.
double apply_activation(FusedActivation kind, double x, double alpha);

}  // namespace normrt
