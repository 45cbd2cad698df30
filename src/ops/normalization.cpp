// Normalization ops: InstanceNormalization, GroupNormalization (18: per-group affine, 21: per-channel affine),
// LayerNormalization, BatchNormalization (inference), and normrt's fused GroupNorm and LayerNorm (domain
// ai.normrt, documented in src/ops/README.md).
//
// The reference kernels compute in double: statistics by two passes over each group (mean, then the mean of
// squared deviations), so that no input, however far its mean lies from zero, loses precision to
// cancellation. Fast float32 kernels (src/cpu/norm_fast.cpp) are tested against these.
#include <cmath>
#include <string>
#include <vector>

#include "ops/activation_math.h"
#include "ops/channels_last.h"
#include "ops/op.h"
#include "ops/shape_util.h"

namespace normrt {
namespace {

bool is_float_dtype(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16 || t == DataType::kFloat64;
}

std::string dim_string(const Dim& d) { return d.known() ? std::to_string(d.value) : (d.symbol.empty() ? "?" : d.symbol); }

void require_float_input(const InferContext& ctx, size_t i, const char* what) {
  if (!is_float_dtype(ctx.dtype(i)))
    ctx.fail(std::string(what) + " (input " + std::to_string(i) + ") is " + dtype_name(ctx.dtype(i)) +
             "; expected float32, float16, bfloat16 or float64");
}

// Input i, when present, must have the dtype of X (the spec's single type parameter T).
void require_same_dtype_as_x(const InferContext& ctx, size_t i, const char* what) {
  if (!ctx.has_input(i)) return;
  if (ctx.dtype(i) != ctx.dtype(0))
    ctx.fail(std::string(what) + " (input " + std::to_string(i) + ") is " + dtype_name(ctx.dtype(i)) +
             " but X is " + dtype_name(ctx.dtype(0)) + "; both must have the same type");
}

// A normalization parameter (scale, bias, mean, variance), when present, has X's dtype, or float32 when X is
// float16 or bfloat16: the float16 lowering (src/passes/float16_precision.cpp) keeps parameters in float32,
// which every kernel here reads as fp32 anyway. A normrt extension of the ONNX type constraints.
void require_param_dtype(const InferContext& ctx, size_t i, const char* what) {
  if (!ctx.has_input(i)) return;
  const DataType x = ctx.dtype(0), p = ctx.dtype(i);
  if (p == x || (p == DataType::kFloat32 && (x == DataType::kFloat16 || x == DataType::kBFloat16))) return;
  ctx.fail(std::string(what) + " (input " + std::to_string(i) + ") is " + dtype_name(p) + " but X is " +
           dtype_name(x) + "; both must have the same type (or the parameter float32 when X is float16 or bfloat16)");
}

// Input i must be a 1-D tensor of `expected` elements (when both are known).
void require_vector_of(const InferContext& ctx, size_t i, const Dim& expected, const char* what,
                       const char* expected_what) {
  const Shape& s = ctx.shape(i);
  if (!s.has_rank) return;
  if (s.rank() != 1)
    ctx.fail(std::string(what) + " (input " + std::to_string(i) + ") has shape " + s.to_string() +
             "; expected a 1-D tensor of " + expected_what + " = " + dim_string(expected) + " elements");
  if (s.dims[0].known() && expected.known() && s.dims[0].value != expected.value)
    ctx.fail(std::string(what) + " (input " + std::to_string(i) + ") has " + std::to_string(s.dims[0].value) +
             " elements; expected " + expected_what + " = " + std::to_string(expected.value));
}

// The residual input of the fused ops must have exactly X's dtype and shape (no broadcasting).
void require_same_shape_as_x(const InferContext& ctx, size_t i, const char* what) {
  if (!ctx.has_input(i)) return;
  require_same_dtype_as_x(ctx, i, what);
  const Shape& x = ctx.shape(0);
  const Shape& r = ctx.shape(i);
  if (!x.has_rank || !r.has_rank) return;
  bool same = x.rank() == r.rank();
  for (size_t d = 0; same && d < x.rank(); ++d)
    if (x.dims[d].known() && r.dims[d].known() && x.dims[d].value != r.dims[d].value) same = false;
  if (!same)
    ctx.fail(std::string(what) + " (input " + std::to_string(i) + ") has shape " + r.to_string() +
             " but X has shape " + x.to_string() + "; they must be equal");
}

int64_t product(const Dims& dims, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= dims[i];
  return p;
}

struct Moments {
  double mean = 0;
  double inv_std = 0;
};

// Mean and 1/sqrt(variance + epsilon) of each of `rows` contiguous rows of `len` values, by two passes.
std::vector<Moments> row_moments(const std::vector<double>& x, int64_t rows, int64_t len, double epsilon) {
  std::vector<Moments> m(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const double* row = x.data() + r * len;
    double sum = 0;
    for (int64_t i = 0; i < len; ++i) sum += row[i];
    const double mean = sum / static_cast<double>(len);
    double squares = 0;
    for (int64_t i = 0; i < len; ++i) squares += (row[i] - mean) * (row[i] - mean);
    m[r].mean = mean;
    m[r].inv_std = 1.0 / std::sqrt(squares / static_cast<double>(len) + epsilon);
  }
  return m;
}

// Group normalization of x viewed as [N, C, S] with G groups of C / G channels:
//   y = act((x - mean_g) * inv_std_g * gamma_c + beta_c) + residual
// (residual_first: y = act(... + residual)). gamma and beta have C entries (empty: 1 and 0). Used by every
// channel-grouped op here.
void group_norm_core(const Tensor& x_tensor, int64_t groups, double epsilon, const std::vector<double>& gamma,
                     const std::vector<double>& beta, FusedActivation act, double alpha, const Tensor* residual,
                     Tensor& y_tensor, bool residual_first = false) {
  const Dims& dims = x_tensor.dims();
  const int64_t N = dims[0], C = dims[1], S = product(dims, 2, dims.size());
  const int64_t channels_per_group = C / groups;
  std::vector<double> x = to_doubles(x_tensor);
  std::vector<double> res = residual ? to_doubles(*residual) : std::vector<double>();
  std::vector<Moments> m = row_moments(x, N * groups, channels_per_group * S, epsilon);
  std::vector<double> y(x.size());
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      const Moments& mo = m[n * groups + c / channels_per_group];
      const double g = gamma.empty() ? 1.0 : gamma[c];
      const double b = beta.empty() ? 0.0 : beta[c];
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = (n * C + c) * S + s;
        double v = (x[i] - mo.mean) * mo.inv_std * g + b;
        if (residual && residual_first) v += res[i];
        v = apply_activation(act, v, alpha);
        if (residual && !residual_first) v += res[i];
        y[i] = v;
      }
    }
  }
  from_doubles(y, y_tensor);
}

// Per-group parameters (GroupNormalization-18) repeated for each channel of their group.
std::vector<double> expand_per_group(const std::vector<double>& per_group, int64_t channels) {
  std::vector<double> per_channel(static_cast<size_t>(channels));
  const int64_t channels_per_group = channels / static_cast<int64_t>(per_group.size());
  for (int64_t c = 0; c < channels; ++c) per_channel[c] = per_group[c / channels_per_group];
  return per_channel;
}

// Expands a parameter that broadcasts (right-aligned) over `normalized` dims to one value per element.
std::vector<double> expand_over(const Tensor& param, const Dims& normalized) {
  Dims out = normalized;
  std::vector<double> values = to_doubles(param);
  std::vector<double> expanded(static_cast<size_t>(element_count(normalized)));
  for_each_broadcast(out, {broadcast_strides(param.dims(), out)},
                     [&](int64_t linear, const std::vector<int64_t>& offsets) { expanded[linear] = values[offsets[0]]; });
  return expanded;
}

// Shared checks of every channel-grouped op: X float and of rank >= min_rank; returns C (maybe unknown).
Dim check_channel_input(const InferContext& ctx, size_t min_rank) {
  require_float_input(ctx, 0, "X");
  ctx.require_rank(0, min_rank, 64);
  const Shape& x = ctx.shape(0);
  return x.has_rank ? x.dims[1] : Dim::unknown();
}

void require_groups_divide(const InferContext& ctx, int64_t groups, const Dim& channels) {
  if (groups <= 0) ctx.fail("attribute num_groups is " + std::to_string(groups) + "; it must be positive");
  if (channels.known() && channels.value % groups != 0)
    ctx.fail("the channel count C = " + std::to_string(channels.value) + " of X " + ctx.shape(0).to_string() +
             " is not divisible by num_groups = " + std::to_string(groups));
}

// ---------------------------------------------------------------------------------------------------------
// InstanceNormalization (opset 6 on, unchanged through 21): per (n, c) statistics; scale and B have C entries.

void infer_instance_norm(InferContext& ctx) {
  const Dim channels = check_channel_input(ctx, 3);
  require_param_dtype(ctx, 1, "scale");
  require_param_dtype(ctx, 2, "B");
  require_vector_of(ctx, 1, channels, "scale", "C");
  require_vector_of(ctx, 2, channels, "B", "C");
  ctx.set_output(0, ctx.dtype(0), ctx.shape(0));
}

void instance_norm_reference(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  group_norm_core(x, x.dims()[1], ctx.node.attr_float("epsilon", 1e-5f), to_doubles(ctx.in(1)),
                  to_doubles(ctx.in(2)), FusedActivation::kNone, 0.0, nullptr, ctx.out(0));
}

// ---------------------------------------------------------------------------------------------------------
// GroupNormalization: opset 18 takes scale and bias per group ([num_groups]); opset 21 takes them per channel
// ([C]) and adds stash_type (the precision of the statistics: always at least float32 here, double in the
// reference). The node's opset decides which.

bool group_norm_affine_per_group(int64_t opset) { return opset < 21; }

void infer_group_normalization(InferContext& ctx) {
  if (ctx.opset < 18)
    ctx.fail("GroupNormalization exists from opset 18; the model imports opset " + std::to_string(ctx.opset));
  const Dim channels = check_channel_input(ctx, 2);
  const int64_t groups = ctx.node.attr_int("num_groups");
  require_groups_divide(ctx, groups, channels);
  require_param_dtype(ctx, 1, "scale");
  require_param_dtype(ctx, 2, "bias");
  if (group_norm_affine_per_group(ctx.opset)) {
    require_vector_of(ctx, 1, Dim(groups), "scale", "num_groups (opset < 21: one per group)");
    require_vector_of(ctx, 2, Dim(groups), "bias", "num_groups (opset < 21: one per group)");
  } else {
    require_vector_of(ctx, 1, channels, "scale", "C (opset >= 21: one per channel)");
    require_vector_of(ctx, 2, channels, "bias", "C (opset >= 21: one per channel)");
    const int64_t stash = ctx.node.attr_int("stash_type", 1);
    if (!is_known_dtype(static_cast<int32_t>(stash)) || !is_float_dtype(static_cast<DataType>(stash)))
      ctx.fail("attribute stash_type is " + std::to_string(stash) +
               "; expected a floating-point TensorProto type (1 float32, 10 float16, 11 float64, 16 bfloat16)");
  }
  ctx.set_output(0, ctx.dtype(0), ctx.shape(0));
}

void group_normalization_reference(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t channels = x.dims()[1];
  std::vector<double> gamma = to_doubles(ctx.in(1)), beta = to_doubles(ctx.in(2));
  if (group_norm_affine_per_group(ctx.opset)) {
    gamma = expand_per_group(gamma, channels);
    beta = expand_per_group(beta, channels);
  }
  group_norm_core(x, ctx.node.attr_int("num_groups"), ctx.node.attr_float("epsilon", 1e-5f), gamma, beta,
                  FusedActivation::kNone, 0.0, nullptr, ctx.out(0));
}

// ---------------------------------------------------------------------------------------------------------
// LayerNormalization (opset 17): statistics over dims [axis, rank); Scale (required) and B (optional)
// broadcast over those dims; optional outputs Mean and InvStdDev have X's shape with the normalized dims
// set to 1 and the type stash_type names (float32 or bfloat16).

int64_t layer_norm_axis(const InferContext& ctx, int64_t rank) {
  return normalize_axis(ctx, ctx.node.attr_int("axis", -1), rank);
}

// A parameter of the normalized dims X[axis:] must broadcast to them (right-aligned, rank not larger).
void require_broadcasts_over_normalized(const InferContext& ctx, size_t i, int64_t axis, const char* what) {
  if (!ctx.has_input(i)) return;
  const Shape& x = ctx.shape(0);
  const Shape& p = ctx.shape(i);
  if (!x.has_rank || !p.has_rank) return;
  const size_t normalized_rank = x.rank() - static_cast<size_t>(axis);
  std::string normalized = "[";
  for (size_t d = static_cast<size_t>(axis); d < x.rank(); ++d)
    normalized += (d > static_cast<size_t>(axis) ? "," : "") + dim_string(x.dims[d]);
  normalized += "]";
  if (p.rank() > normalized_rank)
    ctx.fail(std::string(what) + " (input " + std::to_string(i) + ") has shape " + p.to_string() +
             ", of higher rank than the normalized dims " + normalized + " of X " + x.to_string() + " (axis " +
             std::to_string(axis) + ")");
  for (size_t k = 0; k < p.rank(); ++k) {
    const Dim& pd = p.dims[p.rank() - 1 - k];
    const Dim& xd = x.dims[x.rank() - 1 - k];
    if (pd.known() && pd.value != 1 && xd.known() && pd.value != xd.value)
      ctx.fail(std::string(what) + " (input " + std::to_string(i) + ") has shape " + p.to_string() +
               ", which does not broadcast to the normalized dims " + normalized + " of X " + x.to_string() +
               " (axis " + std::to_string(axis) + ")");
  }
}

DataType layer_norm_stash_type(const InferContext& ctx) {
  const int64_t stash = ctx.node.attr_int("stash_type", 1);
  if (stash != static_cast<int64_t>(DataType::kFloat32) && stash != static_cast<int64_t>(DataType::kBFloat16))
    ctx.fail("attribute stash_type is " + std::to_string(stash) +
             "; LayerNormalization allows 1 (float32) or 16 (bfloat16)");
  return static_cast<DataType>(stash);
}

void infer_layer_normalization(InferContext& ctx) {
  require_float_input(ctx, 0, "X");
  require_param_dtype(ctx, 1, "Scale");
  require_param_dtype(ctx, 2, "B");
  const DataType stash = layer_norm_stash_type(ctx);
  const Shape& x = ctx.shape(0);
  ctx.set_output(0, ctx.dtype(0), x);
  Shape stats;  // unknown rank unless X's rank is known
  if (x.has_rank) {
    if (x.rank() == 0) ctx.fail("X is a scalar; LayerNormalization needs rank >= 1");
    const int64_t axis = layer_norm_axis(ctx, static_cast<int64_t>(x.rank()));
    ctx.input(1);  // Scale is required
    require_broadcasts_over_normalized(ctx, 1, axis, "Scale");
    require_broadcasts_over_normalized(ctx, 2, axis, "B");
    stats = x;
    for (size_t d = static_cast<size_t>(axis); d < x.rank(); ++d) stats.dims[d] = Dim(1);
  } else {
    ctx.input(1);
  }
  for (size_t o = 1; o < ctx.node.outputs.size() && o < 3; ++o) ctx.set_output(o, stash, stats);
  if (ctx.node.outputs.size() > 3)
    ctx.fail("has " + std::to_string(ctx.node.outputs.size()) + " outputs; LayerNormalization has at most 3");
}

// Y = act(normalize(X over [axis, rank)) * scale + bias) + residual (residual_first: the residual is added
// before the activation); fills mean / inv_std outputs if given.
void layer_norm_core(const Tensor& x_tensor, int64_t axis, double epsilon, const Tensor* scale, const Tensor* bias,
                     FusedActivation act, double alpha, const Tensor* residual, Tensor& y_tensor, Tensor* mean_out,
                     Tensor* inv_std_out, bool residual_first = false) {
  const Dims& dims = x_tensor.dims();
  const int64_t rows = product(dims, 0, static_cast<size_t>(axis));
  const int64_t len = product(dims, static_cast<size_t>(axis), dims.size());
  const Dims normalized(dims.begin() + axis, dims.end());
  std::vector<double> x = to_doubles(x_tensor);
  std::vector<double> res = residual ? to_doubles(*residual) : std::vector<double>();
  std::vector<double> gamma = scale ? expand_over(*scale, normalized) : std::vector<double>();
  std::vector<double> beta = bias ? expand_over(*bias, normalized) : std::vector<double>();
  std::vector<Moments> m = row_moments(x, rows, len, epsilon);
  std::vector<double> y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < len; ++k) {
      const int64_t i = r * len + k;
      double v = (x[i] - m[r].mean) * m[r].inv_std;
      if (scale) v *= gamma[k];
      if (bias) v += beta[k];
      if (residual && residual_first) v += res[i];
      v = apply_activation(act, v, alpha);
      if (residual && !residual_first) v += res[i];
      y[i] = v;
    }
    if (mean_out) set_element_from_double(*mean_out, r, m[r].mean);
    if (inv_std_out) set_element_from_double(*inv_std_out, r, m[r].inv_std);
  }
  from_doubles(y, y_tensor);
}

void layer_normalization_reference(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t axis = normalize_axis(ctx, ctx.node.attr_int("axis", -1), static_cast<int64_t>(x.rank()));
  Tensor* mean = ctx.outputs.size() > 1 && !ctx.node.outputs[1].empty() ? ctx.outputs[1] : nullptr;
  Tensor* inv_std = ctx.outputs.size() > 2 && !ctx.node.outputs[2].empty() ? ctx.outputs[2] : nullptr;
  layer_norm_core(x, axis, ctx.node.attr_float("epsilon", 1e-5f), &ctx.in(1), ctx.has_input(2) ? &ctx.in(2) : nullptr,
                  FusedActivation::kNone, 0.0, nullptr, ctx.out(0), mean, inv_std);
}

// ---------------------------------------------------------------------------------------------------------
// BatchNormalization, inference only: y = (x - input_mean) / sqrt(input_var + epsilon) * scale + B per
// channel. Opsets 9-13 mark training by extra outputs; 14 adds training_mode; 15 lets scale, B (T1) and the
// mean and variance (T2) have types other than X's.

void infer_batch_normalization(InferContext& ctx) {
  if (ctx.opset >= 14 && ctx.node.attr_int("training_mode", 0) != 0)
    throw Error(ErrorCode::kUnsupportedOp,
                ctx.node.describe() + ": training_mode = 1 is not supported: normrt runs inference only; export the "
                                      "model in eval mode (model.eval()) so that BatchNormalization uses its running "
                                      "statistics");
  size_t extra_outputs = 0;
  for (size_t o = 1; o < ctx.node.outputs.size(); ++o)
    if (!ctx.node.outputs[o].empty()) ++extra_outputs;
  if (extra_outputs > 0)
    throw Error(ErrorCode::kUnsupportedOp,
                ctx.node.describe() + ": has " + std::to_string(extra_outputs + 1) +
                    " outputs: the running/saved mean and variance outputs exist in training mode only, which normrt "
                    "does not support; export the model in eval mode (model.eval())");
  const Dim channels = check_channel_input(ctx, 2);
  const char* names[] = {"X", "scale", "B", "input_mean", "input_var"};
  for (size_t i = 1; i < 5; ++i) {
    require_float_input(ctx, i, names[i]);
    if (ctx.opset < 15) require_param_dtype(ctx, i, names[i]);
    require_vector_of(ctx, i, channels, names[i], "C");
  }
  if (ctx.opset >= 15) {
    if (ctx.dtype(2) != ctx.dtype(1))
      ctx.fail(std::string("B is ") + dtype_name(ctx.dtype(2)) + " but scale is " + dtype_name(ctx.dtype(1)) +
               "; both must have the same type (T1)");
    if (ctx.dtype(4) != ctx.dtype(3))
      ctx.fail(std::string("input_var is ") + dtype_name(ctx.dtype(4)) + " but input_mean is " +
               dtype_name(ctx.dtype(3)) + "; both must have the same type (T2)");
  }
  ctx.set_output(0, ctx.dtype(0), ctx.shape(0));
  // Omitted (empty-named) training outputs still need a type for the node's output list.
  for (size_t o = 1; o < ctx.node.outputs.size(); ++o) ctx.set_output(o, ctx.dtype(3), Shape::from_dims({0}));
}

void batch_normalization_reference(KernelContext& ctx) {
  const Tensor& x_tensor = ctx.in(0);
  const Dims& dims = x_tensor.dims();
  const int64_t N = dims[0], C = dims[1], S = product(dims, 2, dims.size());
  const double epsilon = ctx.node.attr_float("epsilon", 1e-5f);
  std::vector<double> x = to_doubles(x_tensor), scale = to_doubles(ctx.in(1)), bias = to_doubles(ctx.in(2)),
                      mean = to_doubles(ctx.in(3)), var = to_doubles(ctx.in(4));
  std::vector<double> y(x.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const double inv_std = 1.0 / std::sqrt(var[c] + epsilon);
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = (n * C + c) * S + s;
        y[i] = (x[i] - mean[c]) * inv_std * scale[c] + bias[c];
      }
    }
  from_doubles(y, ctx.out(0));
}

// ---------------------------------------------------------------------------------------------------------
// ai.normrt GroupNorm: inputs X [N, C, ...], scale and bias (optional; [C], or [num_groups] with
// affine_per_group = 1), residual (optional, X's shape);
//   Y = act((X - mean_g) / sqrt(var_g + epsilon) * scale + bias) + residual

// With channels_last = 1, X and residual are [N, spatial..., C] (src/ops/channels_last.h): the same op on
// permuted data, which the layout pass writes for devices that prefer it.
const std::vector<bool> kGroupNormLayouts{true, false, false, true};

Node channels_first_group_norm(const Node& node) {
  Node twin = node;
  twin.attributes.erase("channels_last");
  return twin;
}

bool is_channels_last(const Node& node) {
  const int64_t v = node.attr_int("channels_last", 0);
  if (v != 0 && v != 1)
    throw Error(ErrorCode::kInvalidModel, node.describe() + ": attribute channels_last is " + std::to_string(v) +
                                              "; expected 0 or 1");
  return v == 1;
}

void infer_fused_group_norm(InferContext& ctx) {
  if (is_channels_last(ctx.node))
    return infer_channels_last(ctx, channels_first_group_norm(ctx.node), kGroupNormLayouts, infer_fused_group_norm);
  const Dim channels = check_channel_input(ctx, 2);
  const int64_t groups = ctx.node.attr_int("num_groups");
  require_groups_divide(ctx, groups, channels);
  read_fused_activation(ctx.node);
  const bool per_group = ctx.node.attr_int("affine_per_group", 0) != 0;
  const char* names[] = {"X", "scale", "bias"};
  for (size_t i = 1; i < 3; ++i) {
    if (!ctx.has_input(i)) continue;
    require_param_dtype(ctx, i, names[i]);
    if (per_group)
      require_vector_of(ctx, i, Dim(groups), names[i], "num_groups (affine_per_group = 1)");
    else
      require_vector_of(ctx, i, channels, names[i], "C");
  }
  require_same_shape_as_x(ctx, 3, "residual");
  if (ctx.node.outputs.size() != 1) ctx.fail("has " + std::to_string(ctx.node.outputs.size()) + " outputs; expected 1");
  ctx.set_output(0, ctx.dtype(0), ctx.shape(0));
}

void fused_group_norm_reference(KernelContext& ctx) {
  if (is_channels_last(ctx.node))
    return run_channels_last(ctx, channels_first_group_norm(ctx.node), kGroupNormLayouts);
  const Tensor& x = ctx.in(0);
  const int64_t channels = x.dims()[1];
  const int64_t groups = ctx.node.attr_int("num_groups");
  const bool per_group = ctx.node.attr_int("affine_per_group", 0) != 0;
  std::vector<double> gamma, beta;
  if (ctx.has_input(1)) gamma = to_doubles(ctx.in(1));
  if (ctx.has_input(2)) beta = to_doubles(ctx.in(2));
  if (per_group) {
    if (!gamma.empty()) gamma = expand_per_group(gamma, channels);
    if (!beta.empty()) beta = expand_per_group(beta, channels);
  }
  const ActivationSpec act = read_fused_activation(ctx.node);
  group_norm_core(x, groups, ctx.node.attr_float("epsilon", 1e-5f), gamma, beta, act.kind, act.alpha,
                  ctx.has_input(3) ? &ctx.in(3) : nullptr, ctx.out(0), act.residual_before_activation);
}

// ai.normrt LayerNorm: inputs X, scale and bias (optional, broadcasting over X's dims [axis, rank)),
// residual (optional, X's shape); Y = act(normalize(X) * scale + bias) + residual. One output.

void infer_fused_layer_norm(InferContext& ctx) {
  require_float_input(ctx, 0, "X");
  require_param_dtype(ctx, 1, "scale");
  require_param_dtype(ctx, 2, "bias");
  read_fused_activation(ctx.node);
  const Shape& x = ctx.shape(0);
  if (x.has_rank) {
    if (x.rank() == 0) ctx.fail("X is a scalar; LayerNorm needs rank >= 1");
    const int64_t axis = layer_norm_axis(ctx, static_cast<int64_t>(x.rank()));
    require_broadcasts_over_normalized(ctx, 1, axis, "scale");
    require_broadcasts_over_normalized(ctx, 2, axis, "bias");
  }
  require_same_shape_as_x(ctx, 3, "residual");
  if (ctx.node.outputs.size() != 1) ctx.fail("has " + std::to_string(ctx.node.outputs.size()) + " outputs; expected 1");
  ctx.set_output(0, ctx.dtype(0), x);
}

void fused_layer_norm_reference(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t axis = normalize_axis(ctx, ctx.node.attr_int("axis", -1), static_cast<int64_t>(x.rank()));
  const ActivationSpec act = read_fused_activation(ctx.node);
  layer_norm_core(x, axis, ctx.node.attr_float("epsilon", 1e-5f), ctx.has_input(1) ? &ctx.in(1) : nullptr,
                  ctx.has_input(2) ? &ctx.in(2) : nullptr, act.kind, act.alpha,
                  ctx.has_input(3) ? &ctx.in(3) : nullptr, ctx.out(0), nullptr, nullptr, act.residual_before_activation);
}

}  // namespace

NORMRT_REGISTER_OP("", "InstanceNormalization", infer_instance_norm, instance_norm_reference);
NORMRT_REGISTER_OP("", "GroupNormalization", infer_group_normalization, group_normalization_reference);
NORMRT_REGISTER_OP("", "LayerNormalization", infer_layer_normalization, layer_normalization_reference);
NORMRT_REGISTER_OP("", "BatchNormalization", infer_batch_normalization, batch_normalization_reference);
NORMRT_REGISTER_OP(kNormrtDomain, "GroupNorm", infer_fused_group_norm, fused_group_norm_reference);
NORMRT_REGISTER_OP(kNormrtDomain, "LayerNorm", infer_fused_layer_norm, fused_layer_norm_reference);

}  // namespace normrt
