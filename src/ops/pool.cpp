// MaxPool (with its optional Indices output), AveragePool, GlobalAveragePool and GlobalMaxPool, and the
// channels-last NhwcMaxPool / NhwcAveragePool the layout pass writes.
// Opset differences handled: AveragePool's dilations exist from opset 19 (an earlier model that sets them is
// refused); MaxPool has dilations, ceil_mode and storage_order throughout 11-21 and int8/uint8 from opset 12.
// The reference kernels lift windows to three spatial axes and compute in double.
#include <cmath>
#include <limits>
#include <vector>

#include "ops/channels_last.h"
#include "ops/conv_geometry.h"
#include "ops/shape_util.h"

namespace normrt {
namespace {

bool is_float_type(DataType t) { return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kFloat64; }

void check_pool_dtype(const InferContext& ctx) {
  const DataType t = ctx.dtype(0);
  if (is_float_type(t)) return;
  if (ctx.node.op_type == "MaxPool" && (t == DataType::kInt8 || t == DataType::kUInt8)) {
    if (ctx.opset >= 12) return;
    ctx.fail(std::string("input 0 has type ") + dtype_name(t) +
             ", which MaxPool accepts from opset 12; the model has opset " + std::to_string(ctx.opset));
  }
  ctx.fail(std::string("input 0 has type ") + dtype_name(t) + "; expected float32, float16 or float64" +
           (ctx.node.op_type == "MaxPool" ? " (or int8/uint8)" : ""));
}

std::vector<int64_t> required_kernel(const InferContext& ctx) {
  if (!ctx.node.has_attribute("kernel_shape")) ctx.fail("the required attribute 'kernel_shape' is missing");
  return ctx.node.attr_ints("kernel_shape");
}

bool pool_has_dilations(const Node& node, int64_t opset) { return node.op_type == "MaxPool" || opset >= 19; }

void infer_pool(InferContext& ctx) {
  check_pool_dtype(ctx);
  const DataType dtype = ctx.dtype(0);
  const Shape& x = ctx.shape(0);
  const bool indices = ctx.node.outputs.size() > 1;
  if (indices && ctx.node.op_type != "MaxPool")
    ctx.fail("has " + std::to_string(ctx.node.outputs.size()) + " outputs; expected 1");
  if (!x.has_rank) {
    ctx.set_output(0, dtype, Shape());
    if (indices) ctx.set_output(1, DataType::kInt64, Shape());
    return;
  }
  ctx.require_rank(0, 3, 5);
  const size_t spatial = x.rank() - 2;
  WindowAttrs a = read_window_attrs(ctx, spatial, required_kernel(ctx), pool_has_dilations(ctx.node, ctx.opset));
  const bool ceil_mode = ctx.node.attr_int("ceil_mode", 0) != 0;
  const int64_t storage_order = ctx.node.attr_int("storage_order", 0);
  if (storage_order != 0 && storage_order != 1)
    ctx.fail("attribute 'storage_order' must be 0 (row major) or 1 (column major) but is " +
             std::to_string(storage_order));
  std::vector<Dim> out{x.dims[0], x.dims[1]};
  for (size_t i = 0; i < spatial; ++i) out.push_back(window_output_dim(ctx, a, i, x.dims[2 + i], ceil_mode));
  ctx.set_output(0, dtype, Shape(out));
  if (indices) ctx.set_output(1, DataType::kInt64, Shape(out));
}

void infer_global_pool(InferContext& ctx) {
  check_pool_dtype(ctx);
  const Shape& x = ctx.shape(0);
  if (!x.has_rank) {
    ctx.set_output(0, ctx.dtype(0), Shape());
    return;
  }
  if (x.rank() < 3)
    ctx.fail("input 0 has rank " + std::to_string(x.rank()) + " " + x.to_string() +
             "; expected rank >= 3 (N, C, spatial...)");
  std::vector<Dim> out{x.dims[0], x.dims[1]};
  for (size_t i = 2; i < x.rank(); ++i) out.push_back(Dim(1));
  ctx.set_output(0, ctx.dtype(0), Shape(out));
}

// A pooling window problem lifted to three spatial axes (D, H, W); absent leading axes have extent 1.
struct Lifted {
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1};
  int64_t pb[3] = {0, 0, 0}, pe[3] = {0, 0, 0};
};

Lifted lift_pool(const KernelContext& ctx, const Tensor& X, const Tensor& Y) {
  if (X.rank() < 3 || X.rank() > 5) ctx.fail("input 0 [" + dims_to_string(X.dims()) + "] must have rank 3 to 5");
  const size_t spatial = X.rank() - 2;
  const bool dilations = ctx.node.op_type == "MaxPool" || ctx.opset >= 19;
  WindowAttrs a = read_window_attrs(ctx, spatial, ctx.node.attr_ints("kernel_shape"), dilations);
  const bool ceil_mode = ctx.node.attr_int("ceil_mode", 0) != 0;
  Lifted p;
  const size_t off = 3 - spatial;
  for (size_t i = 0; i < spatial; ++i) {
    AxisWindow w = resolve_window_axis(a, i, X.dims()[2 + i], ceil_mode);
    p.in[off + i] = X.dims()[2 + i];
    p.out[off + i] = Y.dims()[2 + i];
    p.k[off + i] = a.kernel[i];
    p.s[off + i] = a.strides[i];
    p.d[off + i] = a.dilations[i];
    p.pb[off + i] = w.pad_begin;
    p.pe[off + i] = w.pad_end;
  }
  return p;
}

void max_pool_reference(KernelContext& ctx) {
  const Tensor& X = ctx.in(0);
  Tensor& Y = ctx.out(0);
  const Lifted p = lift_pool(ctx, X, Y);
  const bool column_major = ctx.node.attr_int("storage_order", 0) == 1;
  int64_t* indices = ctx.outputs.size() > 1 ? ctx.out(1).data<int64_t>() : nullptr;
  const std::vector<double> x = to_doubles(X);
  std::vector<double> y(static_cast<size_t>(Y.numel()));
  const int64_t planes = X.dims()[0] * X.dims()[1];
  const int64_t in_size = p.in[0] * p.in[1] * p.in[2], out_size = p.out[0] * p.out[1] * p.out[2];
  for (int64_t plane = 0; plane < planes; ++plane) {
    const double* xp = &x[static_cast<size_t>(plane * in_size)];
    for (int64_t od = 0; od < p.out[0]; ++od)
      for (int64_t oh = 0; oh < p.out[1]; ++oh)
        for (int64_t ow = 0; ow < p.out[2]; ++ow) {
          double best = -std::numeric_limits<double>::infinity();
          int64_t best_index = -1;
          for (int64_t kd = 0; kd < p.k[0]; ++kd) {
            const int64_t id = od * p.s[0] - p.pb[0] + kd * p.d[0];
            if (id < 0 || id >= p.in[0]) continue;
            for (int64_t kh = 0; kh < p.k[1]; ++kh) {
              const int64_t ih = oh * p.s[1] - p.pb[1] + kh * p.d[1];
              if (ih < 0 || ih >= p.in[1]) continue;
              for (int64_t kw = 0; kw < p.k[2]; ++kw) {
                const int64_t iw = ow * p.s[2] - p.pb[2] + kw * p.d[2];
                if (iw < 0 || iw >= p.in[2]) continue;
                const double v = xp[(id * p.in[1] + ih) * p.in[2] + iw];
                // The first maximum wins; a NaN propagates (as in PyTorch).
                if (best_index < 0 || v > best || (std::isnan(v) && !std::isnan(best))) {
                  best = v;
                  best_index = column_major ? id + (ih + iw * p.in[1]) * p.in[0] : (id * p.in[1] + ih) * p.in[2] + iw;
                }
              }
            }
          }
          const int64_t o = plane * out_size + (od * p.out[1] + oh) * p.out[2] + ow;
          y[static_cast<size_t>(o)] = best;
          // Indices count over the whole tensor (batch and channel included), as ONNX Runtime and PyTorch do.
          if (indices) indices[o] = best_index < 0 ? -1 : plane * in_size + best_index;
        }
  }
  from_doubles(y, Y);
}

// Number of window taps along one axis that lie inside the input, and inside input plus padding.
void count_axis(const Lifted& p, int axis, int64_t o, int64_t* inside, int64_t* with_pad) {
  *inside = 0;
  *with_pad = 0;
  for (int64_t k = 0; k < p.k[axis]; ++k) {
    const int64_t i = o * p.s[axis] - p.pb[axis] + k * p.d[axis];
    if (i >= 0 && i < p.in[axis]) ++*inside;
    // Taps past the end padding (from ceil_mode) are never counted, as in ONNX Runtime and PyTorch.
    if (i < p.in[axis] + p.pe[axis]) ++*with_pad;
  }
}

void average_pool_reference(KernelContext& ctx) {
  const Tensor& X = ctx.in(0);
  Tensor& Y = ctx.out(0);
  const Lifted p = lift_pool(ctx, X, Y);
  const bool include_pad = ctx.node.attr_int("count_include_pad", 0) != 0;
  const std::vector<double> x = to_doubles(X);
  std::vector<double> y(static_cast<size_t>(Y.numel()));
  const int64_t planes = X.dims()[0] * X.dims()[1];
  const int64_t in_size = p.in[0] * p.in[1] * p.in[2], out_size = p.out[0] * p.out[1] * p.out[2];
  for (int64_t plane = 0; plane < planes; ++plane) {
    const double* xp = &x[static_cast<size_t>(plane * in_size)];
    for (int64_t od = 0; od < p.out[0]; ++od)
      for (int64_t oh = 0; oh < p.out[1]; ++oh)
        for (int64_t ow = 0; ow < p.out[2]; ++ow) {
          double sum = 0;
          for (int64_t kd = 0; kd < p.k[0]; ++kd) {
            const int64_t id = od * p.s[0] - p.pb[0] + kd * p.d[0];
            if (id < 0 || id >= p.in[0]) continue;
            for (int64_t kh = 0; kh < p.k[1]; ++kh) {
              const int64_t ih = oh * p.s[1] - p.pb[1] + kh * p.d[1];
              if (ih < 0 || ih >= p.in[1]) continue;
              for (int64_t kw = 0; kw < p.k[2]; ++kw) {
                const int64_t iw = ow * p.s[2] - p.pb[2] + kw * p.d[2];
                if (iw >= 0 && iw < p.in[2]) sum += xp[(id * p.in[1] + ih) * p.in[2] + iw];
              }
            }
          }
          int64_t count = 1;
          const int64_t o[3] = {od, oh, ow};
          for (int axis = 0; axis < 3; ++axis) {
            int64_t inside, with_pad;
            count_axis(p, axis, o[axis], &inside, &with_pad);
            count *= include_pad ? with_pad : inside;
          }
          y[static_cast<size_t>(plane * out_size + (od * p.out[1] + oh) * p.out[2] + ow)] =
              count > 0 ? sum / count : 0.0;
        }
  }
  from_doubles(y, Y);
}

void global_pool_reference(KernelContext& ctx) {
  const Tensor& X = ctx.in(0);
  Tensor& Y = ctx.out(0);
  const bool is_max = ctx.node.op_type == "GlobalMaxPool";
  const int64_t planes = X.dims()[0] * X.dims()[1];
  const int64_t size = planes == 0 ? 0 : X.numel() / planes;
  const std::vector<double> x = to_doubles(X);
  std::vector<double> y(static_cast<size_t>(planes));
  for (int64_t plane = 0; plane < planes; ++plane) {
    const double* xp = x.data() + plane * size;  // not &x[...]: x is empty when the spatial size is 0
    double acc = is_max ? -std::numeric_limits<double>::infinity() : 0.0;
    for (int64_t i = 0; i < size; ++i) {
      if (!is_max)
        acc += xp[i];
      else if (xp[i] > acc || std::isnan(xp[i]))
        acc = std::isnan(acc) ? acc : xp[i];
    }
    // An empty window: Max gives its identity, -inf (as ReduceMax does); the average is written as 0, as
    // AveragePool does for a window with no elements, and the CUDA kernel matches both.
    y[static_cast<size_t>(plane)] = is_max ? acc : (size > 0 ? acc / static_cast<double>(size) : 0.0);
  }
  from_doubles(y, Y);
}

// ai.normrt NhwcMaxPool / NhwcAveragePool: the channels-last forms of a 2-D MaxPool / AveragePool
// (src/ops/channels_last.h) with their twins' attributes: X [N, H, W, C] -> Y [N, oH, oW, C]. No Indices output.
Node channels_first_pool(const Node& node) {
  Node twin = node;
  twin.op_type = node.op_type == "NhwcMaxPool" ? "MaxPool" : "AveragePool";
  twin.domain = "";
  return twin;
}

const std::vector<bool> kNhwcPoolLayouts{true};

void infer_nhwc_pool(InferContext& ctx) {
  if (ctx.num_inputs() != 1 || ctx.node.outputs.size() != 1)
    ctx.fail("takes one input X and gives one output Y (no Indices)");
  if (ctx.has_input(0) && ctx.shape(0).has_rank && ctx.shape(0).rank() != 4)
    ctx.fail("input 0 " + ctx.shape(0).to_string() + " must have rank 4 ([N, H, W, C]: channels-last pooling is 2-D)");
  infer_channels_last(ctx, channels_first_pool(ctx.node), kNhwcPoolLayouts, infer_pool);
}

void nhwc_pool_reference(KernelContext& ctx) {
  run_channels_last(ctx, channels_first_pool(ctx.node), kNhwcPoolLayouts);
}

}  // namespace

NORMRT_REGISTER_OP("", "MaxPool", infer_pool, max_pool_reference);
NORMRT_REGISTER_OP(kNormrtDomain, "NhwcMaxPool", infer_nhwc_pool, nhwc_pool_reference);
NORMRT_REGISTER_OP(kNormrtDomain, "NhwcAveragePool", infer_nhwc_pool, nhwc_pool_reference);
NORMRT_REGISTER_OP("", "AveragePool", infer_pool, average_pool_reference);
NORMRT_REGISTER_OP("", "GlobalAveragePool", infer_global_pool, global_pool_reference);
NORMRT_REGISTER_OP("", "GlobalMaxPool", infer_global_pool, global_pool_reference);

}  // namespace normrt
