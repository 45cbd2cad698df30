// Conv and ConvTranspose (opsets 11-21; their semantics did not change in that range): 1-D, 2-D and 3-D, groups,
// strides, dilations, explicit or automatic padding, optional bias; ConvTranspose also output_padding and
// output_shape. The reference kernels lift every problem to three spatial axes and accumulate in double.
#include <vector>

#include "ops/channels_last.h"
#include "ops/conv_geometry.h"
#include "ops/evaluate.h"
#include "ops/shape_util.h"

namespace normrt {
namespace {

bool is_float_type(DataType t) { return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kFloat64; }

void check_float_inputs(const InferContext& ctx, size_t count) {
  const DataType t = ctx.dtype(0);
  if (!is_float_type(t))
    ctx.fail(std::string("input 0 has type ") + dtype_name(t) + "; expected float32, float16 or float64");
  for (size_t i = 1; i < count; ++i)
    if (ctx.has_input(i) && ctx.dtype(i) != t)
      ctx.fail("input " + std::to_string(i) + " has type " + dtype_name(ctx.dtype(i)) + " but input 0 has type " +
               dtype_name(t));
}

int64_t read_group(const Node& node, const InferContext& ctx) {
  const int64_t group = node.attr_int("group", 1);
  if (group < 1 || group > kMaxWindowExtent)
    ctx.fail("attribute 'group' must be from 1 to " + std::to_string(kMaxWindowExtent) + " but is " +
             std::to_string(group));
  return group;
}

// W's dim 1 (channels per group) is multiplied by group: both are bounded so that the product cannot overflow.
void check_channels_per_group(const InferContext& ctx, const Shape& w) {
  if (w.has_rank && w.rank() > 1 && w.dims[1].known() && w.dims[1].value > kMaxWindowExtent)
    ctx.fail("input 1 (W) " + w.to_string() + " has dim 1 above " + std::to_string(kMaxWindowExtent) +
             " (2^36: no tensor axis is longer)");
}

// Rank of the problem from X or, when X's rank is unknown, from W. 0 when neither is known.
size_t problem_rank(const InferContext& ctx) {
  const Shape& x = ctx.shape(0);
  const Shape& w = ctx.shape(1);
  size_t rank = x.has_rank ? x.rank() : (w.has_rank ? w.rank() : 0);
  if (rank == 0) return 0;
  if (rank < 3 || rank > 5)
    ctx.fail("input " + std::string(x.has_rank ? "0 (X)" : "1 (W)") + " has rank " + std::to_string(rank) +
             "; expected rank 3 to 5 (N, C, then 1 to 3 spatial axes)");
  if (x.has_rank && w.has_rank && x.rank() != w.rank())
    ctx.fail("input 0 (X) " + x.to_string() + " and input 1 (W) " + w.to_string() + " must have the same rank");
  return rank;
}

// kernel_shape from the attribute, checked against W's spatial dims, or W's spatial dims (-1 where unknown).
std::vector<int64_t> kernel_from(const InferContext& ctx, size_t spatial) {
  const Shape& w = ctx.shape(1);
  std::vector<int64_t> from_w(spatial, -1);
  if (w.has_rank)
    for (size_t i = 0; i < spatial; ++i) from_w[i] = w.dims[2 + i].value;
  if (!ctx.node.has_attribute("kernel_shape")) return from_w;
  std::vector<int64_t> k = ctx.node.attr_ints("kernel_shape");
  if (k.size() == spatial)
    for (size_t i = 0; i < spatial; ++i)
      if (from_w[i] >= 0 && k[i] != from_w[i])
        ctx.fail("attribute 'kernel_shape' " + ints_to_string(k) + " does not match the spatial dims of input 1 (W) " +
                 w.to_string());
  return k;
}

void check_bias(const InferContext& ctx, const Dim& channels) {
  if (!ctx.has_input(2)) return;
  ctx.require_rank(2, 1, 1);
  const Shape& b = ctx.shape(2);
  if (b.has_rank && b.dims[0].known() && channels.known() && b.dims[0].value != channels.value)
    ctx.fail("input 2 (B) " + b.to_string() + " must have " + std::to_string(channels.value) +
             " values, one per output channel");
}

void infer_conv(InferContext& ctx) {
  check_float_inputs(ctx, 3);
  const DataType dtype = ctx.dtype(0);
  const size_t rank = problem_rank(ctx);
  if (rank == 0) {
    ctx.set_output(0, dtype, Shape());
    return;
  }
  const size_t spatial = rank - 2;
  const int64_t group = read_group(ctx.node, ctx);
  WindowAttrs a = read_window_attrs(ctx, spatial, kernel_from(ctx, spatial));
  const Shape& x = ctx.shape(0);
  const Shape& w = ctx.shape(1);
  const Dim c = x.has_rank ? x.dims[1] : Dim::unknown();
  const Dim m = w.has_rank ? w.dims[0] : Dim::unknown();
  check_channels_per_group(ctx, w);
  if (w.has_rank && c.known() && w.dims[1].known() && c.value != w.dims[1].value * group)
    ctx.fail("input 0 (X) " + x.to_string() + " has " + std::to_string(c.value) + " channels but input 1 (W) " +
             w.to_string() + " with group " + std::to_string(group) + " expects " +
             std::to_string(w.dims[1].value * group));
  if (m.known() && m.value % group != 0)
    ctx.fail("input 1 (W) " + w.to_string() + " has " + std::to_string(m.value) + " output channels, which group " +
             std::to_string(group) + " does not divide");
  if (c.known() && c.value % group != 0)
    ctx.fail("input 0 (X) " + x.to_string() + " has " + std::to_string(c.value) + " channels, which group " +
             std::to_string(group) + " does not divide");
  check_bias(ctx, m);
  std::vector<Dim> out;
  out.push_back(x.has_rank ? x.dims[0] : Dim::unknown());
  out.push_back(m);
  for (size_t i = 0; i < spatial; ++i)
    out.push_back(window_output_dim(ctx, a, i, x.has_rank ? x.dims[2 + i] : Dim::unknown()));
  ctx.set_output(0, dtype, Shape(out));
}

void infer_conv_transpose(InferContext& ctx) {
  check_float_inputs(ctx, 3);
  const DataType dtype = ctx.dtype(0);
  const size_t rank = problem_rank(ctx);
  if (rank == 0) {
    ctx.set_output(0, dtype, Shape());
    return;
  }
  const size_t spatial = rank - 2;
  const int64_t group = read_group(ctx.node, ctx);
  WindowAttrs a = read_window_attrs(ctx, spatial, kernel_from(ctx, spatial));
  const std::vector<int64_t> output_padding = transpose_output_padding(ctx, spatial);
  const std::vector<int64_t> output_shape = transpose_output_shape(ctx, spatial);
  const Shape& x = ctx.shape(0);
  const Shape& w = ctx.shape(1);
  const Dim c = x.has_rank ? x.dims[1] : Dim::unknown();
  if (w.has_rank && c.known() && w.dims[0].known() && c.value != w.dims[0].value)
    ctx.fail("input 0 (X) " + x.to_string() + " has " + std::to_string(c.value) + " channels but input 1 (W) " +
             w.to_string() + " expects " + std::to_string(w.dims[0].value) + " (W is [C, M/group, k...])");
  if (c.known() && c.value % group != 0)
    ctx.fail("input 0 (X) " + x.to_string() + " has " + std::to_string(c.value) + " channels, which group " +
             std::to_string(group) + " does not divide");
  check_channels_per_group(ctx, w);
  Dim m = Dim::unknown();
  if (w.has_rank && w.dims[1].known()) m = Dim(w.dims[1].value * group);
  check_bias(ctx, m);
  std::vector<Dim> out;
  out.push_back(x.has_rank ? x.dims[0] : Dim::unknown());
  out.push_back(m);
  for (size_t i = 0; i < spatial; ++i) {
    const Dim in = x.has_rank ? x.dims[2 + i] : Dim::unknown();
    if (in.known()) {
      check_window_extent(ctx, i, in.value);
      // stride * (in - 1) is the natural output extent's main term (also computed with output_shape).
      if (in.value > 1 && in.value - 1 > kMaxWindowExtent / a.strides[i])
        ctx.fail("spatial axis " + std::to_string(i) + ": input extent " + std::to_string(in.value) + " with stride " +
                 std::to_string(a.strides[i]) + " gives an output extent above " + std::to_string(kMaxWindowExtent));
    }
    if (!output_shape.empty()) {
      out.push_back(Dim(output_shape[i]));
      continue;
    }
    if (!in.known() || a.kernel[i] < 0) {
      out.push_back(Dim::unknown());
      continue;
    }
    TransposeAxis t = resolve_transpose_axis(a, i, in.value, output_padding[i], output_shape);
    if (t.out < 1)
      ctx.fail("spatial axis " + std::to_string(i) + " would have output extent " + std::to_string(t.out) + " (input " +
               std::to_string(in.value) + ", pads " + ints_to_string(a.pads) + ")");
    out.push_back(Dim(t.out));
  }
  ctx.set_output(0, dtype, Shape(out));
}

// A convolution problem lifted to three spatial axes (D, H, W); absent leading axes have extent 1.
struct Lifted {
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1};
  int64_t pb[3] = {0, 0, 0};
};

void check_kernel_rank(const KernelContext& ctx, const Tensor& x, const Tensor& w) {
  if (x.rank() < 3 || x.rank() > 5 || w.rank() != x.rank())
    ctx.fail("inputs X [" + dims_to_string(x.dims()) + "] and W [" + dims_to_string(w.dims()) +
             "] must both have rank 3 to 5");
}

void conv_reference(KernelContext& ctx) {
  const Tensor& X = ctx.in(0);
  const Tensor& W = ctx.in(1);
  Tensor& Y = ctx.out(0);
  check_kernel_rank(ctx, X, W);
  const size_t spatial = X.rank() - 2;
  const int64_t group = ctx.node.attr_int("group", 1);
  std::vector<int64_t> kernel(W.dims().begin() + 2, W.dims().end());
  WindowAttrs a = read_window_attrs(ctx, spatial, kernel);
  Lifted p;
  const size_t off = 3 - spatial;
  for (size_t i = 0; i < spatial; ++i) {
    AxisWindow win = resolve_window_axis(a, i, X.dims()[2 + i]);
    p.in[off + i] = X.dims()[2 + i];
    p.out[off + i] = Y.dims()[2 + i];
    p.k[off + i] = kernel[i];
    p.s[off + i] = a.strides[i];
    p.d[off + i] = a.dilations[i];
    p.pb[off + i] = win.pad_begin;
  }
  const int64_t N = X.dims()[0], C = X.dims()[1], M = W.dims()[0];
  const int64_t Cg = C / group, Mg = M / group;
  const std::vector<double> x = to_doubles(X), w = to_doubles(W);
  std::vector<double> b(static_cast<size_t>(M), 0.0);
  if (ctx.has_input(2)) b = to_doubles(ctx.in(2));
  const int64_t in_size = p.in[0] * p.in[1] * p.in[2];
  const int64_t out_size = p.out[0] * p.out[1] * p.out[2];
  const int64_t k_size = p.k[0] * p.k[1] * p.k[2];
  std::vector<double> y(static_cast<size_t>(Y.numel()));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m) {
      const int64_t g = m / Mg;
      double* yp = y.data() + ((n * M + m) * out_size);
      for (int64_t od = 0; od < p.out[0]; ++od)
        for (int64_t oh = 0; oh < p.out[1]; ++oh)
          for (int64_t ow = 0; ow < p.out[2]; ++ow) {
            double acc = b[static_cast<size_t>(m)];
            for (int64_t c = 0; c < Cg; ++c) {
              const double* xp = x.data() + ((n * C + g * Cg + c) * in_size);
              const double* wp = w.data() + ((m * Cg + c) * k_size);
              for (int64_t kd = 0; kd < p.k[0]; ++kd) {
                const int64_t id = od * p.s[0] - p.pb[0] + kd * p.d[0];
                if (id < 0 || id >= p.in[0]) continue;
                for (int64_t kh = 0; kh < p.k[1]; ++kh) {
                  const int64_t ih = oh * p.s[1] - p.pb[1] + kh * p.d[1];
                  if (ih < 0 || ih >= p.in[1]) continue;
                  for (int64_t kw = 0; kw < p.k[2]; ++kw) {
                    const int64_t iw = ow * p.s[2] - p.pb[2] + kw * p.d[2];
                    if (iw < 0 || iw >= p.in[2]) continue;
                    acc += xp[(id * p.in[1] + ih) * p.in[2] + iw] * wp[(kd * p.k[1] + kh) * p.k[2] + kw];
                  }
                }
              }
            }
            yp[(od * p.out[1] + oh) * p.out[2] + ow] = acc;
          }
    }
  from_doubles(y, Y);
}

void conv_transpose_reference(KernelContext& ctx) {
  const Tensor& X = ctx.in(0);
  const Tensor& W = ctx.in(1);
  Tensor& Y = ctx.out(0);
  check_kernel_rank(ctx, X, W);
  const size_t spatial = X.rank() - 2;
  const int64_t group = ctx.node.attr_int("group", 1);
  std::vector<int64_t> kernel(W.dims().begin() + 2, W.dims().end());
  WindowAttrs a = read_window_attrs(ctx, spatial, kernel);
  const std::vector<int64_t> output_padding = transpose_output_padding(ctx, spatial);
  const std::vector<int64_t> output_shape = transpose_output_shape(ctx, spatial);
  Lifted p;
  const size_t off = 3 - spatial;
  for (size_t i = 0; i < spatial; ++i) {
    TransposeAxis t = resolve_transpose_axis(a, i, X.dims()[2 + i], output_padding[i], output_shape);
    p.in[off + i] = X.dims()[2 + i];
    p.out[off + i] = Y.dims()[2 + i];
    p.k[off + i] = kernel[i];
    p.s[off + i] = a.strides[i];
    p.d[off + i] = a.dilations[i];
    p.pb[off + i] = t.pad_begin;
  }
  const int64_t N = X.dims()[0], C = X.dims()[1], Mg = W.dims()[1];
  const int64_t M = Mg * group, Cg = C / group;
  const std::vector<double> x = to_doubles(X), w = to_doubles(W);
  std::vector<double> b(static_cast<size_t>(M), 0.0);
  if (ctx.has_input(2)) b = to_doubles(ctx.in(2));
  const int64_t in_size = p.in[0] * p.in[1] * p.in[2];
  const int64_t out_size = p.out[0] * p.out[1] * p.out[2];
  const int64_t k_size = p.k[0] * p.k[1] * p.k[2];
  std::vector<double> y(static_cast<size_t>(Y.numel()));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t i = 0; i < out_size; ++i)
        y[static_cast<size_t>((n * M + m) * out_size + i)] = b[static_cast<size_t>(m)];
  // Scatter form of the definition: input element (c, i) adds x * w[c, m, k] to output position i * s - pb + k * d.
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t g = c / Cg;
      const double* xp = x.data() + ((n * C + c) * in_size);
      for (int64_t mg = 0; mg < Mg; ++mg) {
        const int64_t m = g * Mg + mg;
        double* yp = y.data() + ((n * M + m) * out_size);
        const double* wp = w.data() + ((c * Mg + mg) * k_size);
        for (int64_t id = 0; id < p.in[0]; ++id)
          for (int64_t ih = 0; ih < p.in[1]; ++ih)
            for (int64_t iw = 0; iw < p.in[2]; ++iw) {
              const double v = xp[(id * p.in[1] + ih) * p.in[2] + iw];
              for (int64_t kd = 0; kd < p.k[0]; ++kd) {
                const int64_t od = id * p.s[0] - p.pb[0] + kd * p.d[0];
                if (od < 0 || od >= p.out[0]) continue;
                for (int64_t kh = 0; kh < p.k[1]; ++kh) {
                  const int64_t oh = ih * p.s[1] - p.pb[1] + kh * p.d[1];
                  if (oh < 0 || oh >= p.out[1]) continue;
                  for (int64_t kw = 0; kw < p.k[2]; ++kw) {
                    const int64_t ow = iw * p.s[2] - p.pb[2] + kw * p.d[2];
                    if (ow < 0 || ow >= p.out[2]) continue;
                    yp[(od * p.out[1] + oh) * p.out[2] + ow] += v * wp[(kd * p.k[1] + kh) * p.k[2] + kw];
                  }
                }
              }
            }
      }
    }
  from_doubles(y, Y);
}

// ai.normrt NhwcConv: the channels-last form of a 2-D Conv (src/ops/channels_last.h), with Conv's attributes.
// X [N, H, W, C], W [M, kH, kW, C / group] (cuDNN's KRSC filter layout), B [M] (optional) -> Y [N, oH, oW, M].
// An optional fourth input R of Y's shape exactly (no broadcasting) is added: Y = Conv(X, W, B) + R, rounded once
// to the output type (conv_residual_fusion writes it for a residual Add after a convolution).
Node channels_first_conv(const Node& node) {
  Node twin = node;
  twin.op_type = "Conv";
  twin.domain = "";
  if (twin.inputs.size() > 3) twin.inputs.resize(3);  // the residual is NhwcConv's own
  return twin;
}

const std::vector<bool> kNhwcConvLayouts{true, true, false};

bool has_residual(const Node& node) { return node.inputs.size() > 3 && !node.inputs[3].empty(); }

void infer_nhwc_conv(InferContext& ctx) {
  if (ctx.num_inputs() < 2 || ctx.num_inputs() > 4)
    ctx.fail("takes two to four inputs: X, W, an optional B and an optional residual R of Y's shape");
  for (size_t i = 0; i < 2 && i < ctx.num_inputs(); ++i)
    if (ctx.has_input(i) && ctx.shape(i).has_rank && ctx.shape(i).rank() != 4)
      ctx.fail("input " + std::to_string(i) + " " + ctx.shape(i).to_string() + " must have rank 4 (NhwcConv is 2-D)");
  infer_channels_last(ctx, channels_first_conv(ctx.node), kNhwcConvLayouts, infer_conv);
  if (has_residual(ctx.node) && ctx.has_input(3)) require_residual_like_output(ctx, 3, "residual R");
}

Tensor as_float64(const Tensor& t) {
  Tensor d(DataType::kFloat64, t.dims());
  for (int64_t i = 0; i < t.numel(); ++i) d.data<double>()[i] = element_as_double(t, i);
  return d;
}

void nhwc_conv_reference(KernelContext& ctx) {
  const Node twin = channels_first_conv(ctx.node);
  if (!has_residual(ctx.node) || !ctx.has_input(3)) return run_channels_last(ctx, twin, kNhwcConvLayouts);
  // With a residual: the convolution in float64, R added, one rounding to Y's type (as the fused kernels do).
  Tensor& Y = ctx.out(0);
  const Tensor& R = ctx.in(3);
  if (R.dims() != Y.dims())
    ctx.fail("residual R [" + dims_to_string(R.dims()) + "] must have Y's shape [" + dims_to_string(Y.dims()) + "]");
  std::vector<Tensor> held;
  held.push_back(permute_tensor(as_float64(ctx.in(0)), to_channels_first_perm(4)));
  held.push_back(permute_tensor(as_float64(ctx.in(1)), to_channels_first_perm(4)));
  if (ctx.has_input(2)) held.push_back(as_float64(ctx.in(2)));
  std::vector<const Tensor*> inputs;
  for (const Tensor& t : held) inputs.push_back(&t);
  if (!ctx.has_input(2)) inputs.push_back(nullptr);
  const std::vector<Tensor> outputs = run_node(twin, ctx.opset, inputs);
  const Tensor conv = permute_tensor(outputs.at(0), to_channels_last_perm(4));
  if (conv.dims() != Y.dims()) ctx.fail("the convolution came back as [" + dims_to_string(conv.dims()) + "] (internal error)");
  for (int64_t i = 0; i < Y.numel(); ++i)
    set_element_from_double(Y, i, conv.data<double>()[i] + element_as_double(R, i));
}

}  // namespace

NORMRT_REGISTER_OP("", "Conv", infer_conv, conv_reference);
NORMRT_REGISTER_OP(kNormrtDomain, "NhwcConv", infer_nhwc_conv, nhwc_conv_reference);
NORMRT_REGISTER_OP("", "ConvTranspose", infer_conv_transpose, conv_transpose_reference);

}  // namespace normrt
