// Graph passes: each rewrite lives in its own file, checks every precondition explicitly and records what it
// did (and, for candidates it refused, why). The records feed `normrt fuse --report` and build logs.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ops/op.h"

namespace normrt {

struct PassRecord {
  std::string pass;         // "constant_folding", "norm_activation_fusion", ...
  bool applied = false;     // false: a candidate that was refused
  std::string description;  // which nodes became which, or why the candidate was refused
};

struct PassReport {
  std::vector<PassRecord> records;
  void applied(const std::string& pass, const std::string& description) { records.push_back({pass, true, description}); }
  void refused(const std::string& pass, const std::string& description) { records.push_back({pass, false, description}); }
};

// Counts how many nodes read each value, graph outputs counting as readers too.
std::map<std::string, int> count_uses(const Graph& graph);

// Folds every node whose inputs are all known into initializers (shape arithmetic included, through the ops'
// shape functions); removes nodes whose outputs nobody reads.
void fold_constants(Graph& graph, PassReport& report);
// Constants larger than this are not folded (they stay nodes and are computed at run time).
constexpr int64_t kMaxFoldedBytes = int64_t{1} << 30;
// Nor is a constant that would grow the model by more than this beyond its inputs' bytes (ConstantOfShape,
// Expand, Tile or Range writing hundreds of MB from a few bytes): weight transforms fold, generated data does not.
constexpr int64_t kMaxFoldedGrowthBytes = int64_t{64} << 20;
void eliminate_dead_nodes(Graph& graph, PassReport& report);
// Replaces PyTorch's exported GroupNorm subgraph (Reshape -> InstanceNormalization -> Reshape -> Mul -> Add)
// by one ai.normrt::GroupNorm node (src/passes/group_norm_fusion.cpp).
void fuse_group_norm(Graph& graph, PassReport& report);
// Replaces LayerNorm written out as ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add by one
// ai.normrt::LayerNorm, and InstanceNorm written out the same way by InstanceNormalization
// (src/passes/layer_norm_fusion.cpp).
void fuse_layer_norm(Graph& graph, PassReport& report);
// Replaces the erf and tanh formulas of GELU by one Gelu node (src/passes/gelu_fusion.cpp).
void fuse_gelu(Graph& graph, PassReport& report);
// Replaces x * HardSigmoid(x) and x * clip(x + 3, 0, 6) / 6 by one HardSwish node (src/passes/hard_swish_fusion.cpp).
void fuse_hard_swish(Graph& graph, PassReport& report);

// What the fused graph is for.
enum class FusionTarget {
  // The engine builder: every normalization becomes an ai.normrt op, which the fast kernels run.
  kEngine,
  // `normrt fuse`, an ONNX file for any runtime: standard normalizations that exist at the model's opset stay
  // standard (InstanceNormalization, LayerNormalization, GroupNormalization-21); only ai.normrt ops take an
  // activation, and GroupNormalization-18 (deprecated, per-group affine) becomes ai.normrt::GroupNorm.
  kOnnx,
};
// Fuses an activation that is the only reader of a normalization's output into the normalization node.
void fuse_norm_activation(Graph& graph, PassReport& report, FusionTarget target = FusionTarget::kEngine);

// Makes a residual Add after an ai.normrt GroupNorm / LayerNorm the node's residual input (engines only;
// src/passes/norm_residual_fusion.cpp).
void fuse_norm_residual(Graph& graph, PassReport& report);

// Folds a multiplication by a scalar constant into the constant weight a chain of MatMul / view ops leads back
// to (engines only; attention's q k^T * d^-0.5; src/passes/scalar_folding.cpp).
void fold_scalars_into_weights(Graph& graph, PassReport& report);

// The semantic fusions, in order: GroupNorm, LayerNorm, GELU, HardSwish, then activations into norms; for
// engines also residual adds into norms and the activations after them. The builder (through optimize) and
// `normrt fuse` both run this, so a model and its fused file plan the same kernels. The graph is verified after
// each pass.
void fuse_normalizations(Graph& graph, PassReport& report, FusionTarget target);

// Moves the default-domain opset (11..20) to 21, rewriting the nodes whose form changed (axes attributes that
// became inputs, Softmax-11's 2-D coercion, ...). All or nothing: throws naming every node that cannot move
// (src/passes/opset_upgrade.cpp). `normrt fuse --opset21` runs it so that GroupNorm can be written as the
// standard GroupNormalization-21.
void upgrade_to_opset21(Graph& graph, PassReport& report);

// Whether the device has a kernel for a node a pass would write (NhwcConv, channels-last GroupNorm, MatMulBias)
// at these input types.
using NodeAccept = std::function<bool(const Node& node, const std::vector<TypeShape>& inputs)>;
using ChannelsLastAccept = NodeAccept;
// Moves 2-D convolutions, the GroupNorms and the elementwise ops between them to channels-last data with as few
// layout transposes as the graph allows (src/passes/channels_last_layout.cpp).
void convert_to_channels_last(Graph& graph, PassReport& report, const ChannelsLastAccept& accept);

// Joins a bias Add to the MatMul by a constant matrix it follows: ai.normrt MatMulBias, where `accept` says the
// device has a kernel for it (device engines; src/passes/matmul_bias_fusion.cpp).
void fuse_matmul_bias(Graph& graph, PassReport& report, const NodeAccept& accept);

// Replaces attention written out (head-split Transposes, MatMul, an optional scalar scale, Softmax over the keys,
// MatMul, head-merge Transpose) by one ai.normrt Attention where `accept` says the device has the kernel (device
// engines, before matmul_transpose_folding; src/passes/attention_fusion.cpp).
void fuse_attention(Graph& graph, PassReport& report, const NodeAccept& accept);

// Joins the Transposes around a MatMul to it as ai.normrt PermutedMatMul where `accept` says the device reads
// them in place (device engines, after the layout pass; src/passes/matmul_transpose_folding.cpp).
void fold_matmul_transposes(Graph& graph, PassReport& report, const NodeAccept& accept);

// Pads a float16 ai.normrt NhwcConv's output channels to a multiple of 8 with zero filters and slices them back,
// where `accept` says the device runs both (device engines; src/passes/conv_channel_padding.cpp).
void pad_conv_channels(Graph& graph, PassReport& report, const NodeAccept& accept);

// Joins the MatMuls of one tensor by constant matrices of one shape (attention's q, k, v) into ai.normrt
// MatMulGroup where `accept` says the device has the kernel (device engines; src/passes/matmul_grouping.cpp).
void group_matmuls(Graph& graph, PassReport& report, const NodeAccept& accept);

// Joins the residual Add after an ai.normrt NhwcConv to it as the convolution's fourth input where `accept` says
// the device has the kernel (device engines, after the layout pass; src/passes/conv_residual_fusion.cpp).
void fuse_conv_residual(Graph& graph, PassReport& report, const NodeAccept& accept);

// Gives a Reshape whose target is computed from shapes at run time that target as a constant, where every element
// is known or the input's own dim in place (src/passes/reshape_targets.cpp).
void fold_reshape_targets(Graph& graph, PassReport& report);

// Everything the builder runs, in order.
void optimize(Graph& graph, PassReport& report);

}  // namespace normrt
