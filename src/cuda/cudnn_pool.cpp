// MaxPool and AveragePool through cudnnPoolingForward, 1-D (lifted to 2-D), 2-D and 3-D, fp32 and fp16.
//
// Where cuDNN's semantics match ONNX's and where they do not:
//  - cuDNN pads symmetrically and rounds the output extent down. MaxPool pads explicitly instead: a copy of X
//    padded with -inf on each side (and further at the end where ceil_mode adds a window) through the workspace,
//    then cuDNN pools without padding, so padded taps can never win whatever cuDNN does with its own padding.
//  - AveragePool with count_include_pad=1 divides by the whole window (CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING);
//    asymmetric padding is an explicit zero padding. ONNX does not count taps past the end padding, which only
//    a ceil_mode window can reach: accepts() refuses those cases.
//  - AveragePool with count_include_pad=0 counts only taps inside X (..._EXCLUDE_PADDING), which needs symmetric
//    padding done by cuDNN itself and no ceil_mode window past the end padding: accepts() refuses the rest.
//  - No dilations (cuDNN pooling has none) and no MaxPool Indices output: accepts() refuses those nodes.
// accepts() decides at the shapes it knows; with an unknown spatial extent it accepts only what holds at every
// extent (ceil_mode windows can only pass the padding when the stride is above 1).
#include <memory>

#include "cuda/dnn_copy.h"
#include "cuda/dnn_util.h"
#include "ops/conv_geometry.h"

namespace normrt {
namespace cuda {
namespace {

using ElementType = ::normrt::DataType;

struct PoolProblem {
  Dims x, y;  // what cuDNN reads (the padded copy when `window`) and writes (lifted to >= 2 spatial axes)
  std::vector<int> window, pad, stride;
  cudnnPoolingMode_t mode = CUDNN_POOLING_MAX;
  bool copy = false;
  WindowCopyArgs copy_args;
  size_t copy_bytes = 0;
};

Dims lift(const Dims& dims, size_t spatial) {
  Dims out = dims;
  if (spatial == 1) out.insert(out.begin() + 2, 1);
  return out;
}

template <typename Ctx>
PoolProblem make_problem(const Ctx& ctx, ElementType dtype, const Dims& x) {
  const Node& node = ctx.node;
  if (x.size() < 3 || x.size() > 5) ctx.fail("X [" + dims_to_string(x) + "] must have rank 3 to 5");
  const size_t spatial = x.size() - 2;
  const bool is_max = node.op_type == "MaxPool";
  const WindowAttrs a = read_window_attrs(ctx, spatial, node.attr_ints("kernel_shape"), is_max || ctx.opset >= 19);
  const bool ceil_mode = node.attr_int("ceil_mode", 0) != 0;
  const bool include_pad = node.attr_int("count_include_pad", 0) != 0;
  PoolProblem p;
  p.mode = is_max ? CUDNN_POOLING_MAX
                  : (include_pad ? CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING
                                 : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING);
  Dims padded{x[0], x[1]}, out{x[0], x[1]};
  for (size_t i = 0; i < spatial; ++i) {
    if (a.dilations[i] != 1) ctx.fail("cuDNN pooling has no dilations");
    const int64_t in = x[2 + i], k = a.kernel[i], s = a.strides[i];
    const AxisWindow w = resolve_window_axis(a, i, in, ceil_mode);
    if (w.out < 1) ctx.fail("the window does not fit the padded input on spatial axis " + std::to_string(i));
    // How far the last window reaches past the end padding (ceil_mode only).
    const int64_t overhang = std::max<int64_t>(0, (w.out - 1) * s + k - (in + w.pad_begin + w.pad_end));
    int64_t symmetric = 0, extra_begin = 0, extra_end = 0;
    if (is_max) {
      extra_begin = w.pad_begin;
      extra_end = w.pad_end + overhang;
    } else {
      if (overhang > 0) ctx.fail("a ceil_mode window passes the end padding, whose taps ONNX does not count");
      if (!include_pad && w.pad_begin != w.pad_end)
        ctx.fail("count_include_pad=0 with asymmetric padding (cuDNN excludes only its own symmetric padding)");
      symmetric = std::min(w.pad_begin, w.pad_end);
      extra_begin = w.pad_begin - symmetric;
      extra_end = w.pad_end - symmetric;
    }
    if (symmetric >= k) ctx.fail("padding must be smaller than the window");
    if (extra_begin + extra_end > 0) p.copy = true;
    padded.push_back(in + extra_begin + extra_end);
    out.push_back(w.out);
    p.window.push_back(static_cast<int>(k));
    p.pad.push_back(static_cast<int>(symmetric));
    p.stride.push_back(static_cast<int>(s));
    p.copy_args.shift[3 - spatial + i] = -extra_begin;
    p.copy_args.in_dims[2 + 3 - spatial + i] = in;
    p.copy_args.out_dims[2 + 3 - spatial + i] = padded.back();
  }
  if (spatial == 1) {
    p.window.insert(p.window.begin(), 1);
    p.pad.insert(p.pad.begin(), 0);
    p.stride.insert(p.stride.begin(), 1);
  }
  p.copy_args.in_dims[0] = p.copy_args.out_dims[0] = x[0];
  p.copy_args.in_dims[1] = p.copy_args.out_dims[1] = x[1];
  p.copy_args.element_bytes = element_bytes(dtype);
  p.copy_args.fill_bits = is_max ? negative_infinity_bits(dtype) : 0;
  p.x = lift(p.copy ? padded : x, spatial);
  p.y = lift(out, spatial);
  p.copy_bytes = p.copy ? static_cast<size_t>(element_count(padded)) * element_bytes(dtype) : 0;
  return p;
}

struct PoolPlan {
  bool ready = false;
  Dims x_dims;
  ElementType dtype = ElementType::kUndefined;
  PoolProblem p;
  TensorDescriptor x_desc, y_desc;
  PoolingDescriptor pool_desc;
};

void prepare(const CudaKernelContext& ctx, PoolPlan& plan) {
  const DeviceValue& x = ctx.in(0);
  if (plan.ready && plan.x_dims == x.dims && plan.dtype == x.dtype) return;
  plan.ready = false;
  if (!is_dnn_float(x.dtype)) ctx.fail("X must be float32 or float16");
  plan.p = make_problem(ctx, x.dtype, x.dims);
  const PoolProblem& p = plan.p;
  set_packed_tensor(ctx, plan.x_desc.get(ctx), x.dtype, int_dims(ctx, p.x));
  set_packed_tensor(ctx, plan.y_desc.get(ctx), x.dtype, int_dims(ctx, p.y));
  ctx.check(
      cudnnSetPoolingNdDescriptor(plan.pool_desc.get(ctx), p.mode, CUDNN_PROPAGATE_NAN,
                                  static_cast<int>(p.window.size()), p.window.data(), p.pad.data(), p.stride.data()),
      "cudnnSetPoolingNdDescriptor");
  std::vector<int> cudnn_out(p.y.size());
  ctx.check(cudnnGetPoolingNdForwardOutputDim(plan.pool_desc.get(ctx), plan.x_desc.get(ctx),
                                              static_cast<int>(cudnn_out.size()), cudnn_out.data()),
            "cudnnGetPoolingNdForwardOutputDim");
  for (size_t i = 0; i < cudnn_out.size(); ++i)
    if (cudnn_out[i] != p.y[i]) ctx.fail("cuDNN's pooling geometry disagrees with ONNX's (internal error)");
  plan.x_dims = x.dims;
  plan.dtype = x.dtype;
  plan.ready = true;
}

std::shared_ptr<PoolPlan> plan_for(const CudaKernelContext& ctx) {
  if (ctx.state) {
    if (auto* kept = std::any_cast<std::shared_ptr<PoolPlan>>(ctx.state)) return *kept;
    auto plan = std::make_shared<PoolPlan>();
    *ctx.state = plan;
    return plan;
  }
  return std::make_shared<PoolPlan>();
}

size_t pool_workspace(const CudaKernelContext& ctx) {
  // The geometry alone decides the copy's size: no cuDNN call is needed.
  return align_bytes(make_problem(ctx, ctx.in(0).dtype, ctx.in(0).dims).copy_bytes);
}

void pool_run(CudaKernelContext& ctx) {
  auto plan_ptr = plan_for(ctx);
  PoolPlan& plan = *plan_ptr;
  prepare(ctx, plan);
  const PoolProblem& p = plan.p;
  DeviceValue& out = ctx.out(0);
  if (lift(out.dims, out.dims.size() - 2) != p.y)
    ctx.fail("output [" + dims_to_string(out.dims) + "] does not have the shape the geometry gives");
  if (out.numel() == 0) return;
  const void* x = ctx.in(0).data;
  if (p.copy) {
    if (ctx.workspace_bytes < p.copy_bytes) ctx.fail("the workspace is smaller than workspace() asked for");
    WindowCopyArgs copy = p.copy_args;
    copy.in = x;
    copy.out = ctx.workspace;
    ctx.check(window_copy(copy, ctx.stream), "window_copy (padding)");
    x = ctx.workspace;
  }
  const float one = 1.0f, zero = 0.0f;
  ctx.check(cudnnPoolingForward(ctx.cudnn, plan.pool_desc.get(ctx), &one, plan.x_desc.get(ctx), x, &zero,
                                plan.y_desc.get(ctx), out.data),
            "cudnnPoolingForward");
}

bool pool_accepts(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) {
  try {
    if (inputs.size() != 1 || node.outputs.size() != 1) return false;  // MaxPool's Indices: not here
    if (!is_dnn_float(inputs[0].dtype)) return false;
    const Shape& xs = inputs[0].shape;
    if (!xs.has_rank || xs.rank() < 3 || xs.rank() > 5) return false;
    const size_t spatial = xs.rank() - 2;
    AcceptContext ctx{node, opset};
    const bool is_max = node.op_type == "MaxPool";
    const WindowAttrs a = read_window_attrs(ctx, spatial, node.attr_ints("kernel_shape"), is_max || opset >= 19);
    const bool ceil_mode = node.attr_int("ceil_mode", 0) != 0;
    const bool include_pad = node.attr_int("count_include_pad", 0) != 0;
    const bool same = a.auto_pad == AutoPad::kSameUpper || a.auto_pad == AutoPad::kSameLower;
    Dims x;
    bool known = true;
    for (const Dim& d : xs.dims) {
      known = known && d.known();
      x.push_back(d.known() ? d.value : -1);
    }
    for (size_t i = 0; i < spatial; ++i) {
      if (a.dilations[i] != 1 || a.kernel[i] > INT32_MAX || a.strides[i] > INT32_MAX) return false;
      if (a.pad_begin(i) >= a.kernel[i] || a.pad_end(i) >= a.kernel[i]) return false;
      if (is_max || known) continue;
      // Unknown extent: accept only what holds at every extent.
      if (ceil_mode && !same && a.strides[i] > 1) return false;
      if (!include_pad && same && (a.strides[i] > 1 || (a.dilated_kernel(i) - 1) % 2 != 0)) return false;
      if (!include_pad && !same && a.auto_pad != AutoPad::kValid && a.pad_begin(i) != a.pad_end(i)) return false;
    }
    if (known) make_problem(ctx, inputs[0].dtype, x);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

NORMRT_REGISTER_CUDA_KERNEL(CudaKernel{
    "cudnn_max_pool", "", "MaxPool", pool_accepts, pool_run, pool_workspace, nullptr, {}, 0});
NORMRT_REGISTER_CUDA_KERNEL(CudaKernel{
    "cudnn_average_pool", "", "AveragePool", pool_accepts, pool_run, pool_workspace, nullptr, {}, 0});

}  // namespace
}  // namespace cuda
}  // namespace normrt
