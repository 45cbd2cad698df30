// Conv and ConvTranspose through cuDNN (the legacy convolution API of cuDNN 9.14): 1-D (lifted to 2-D), 2-D and
// 3-D, groups (depthwise included), strides, dilations, explicit or automatic padding, optional bias.
//
//  - cuDNN pads symmetrically. The symmetric part of an ONNX padding goes to cuDNN; the rest is an explicit copy
//    through the workspace: Conv reads a zero-padded copy of X, ConvTranspose writes an uncropped result that a
//    crop copies into Y. No weight is ever transformed: ONNX ConvTranspose's W [C, M/group, k...] is exactly the
//    filter of cudnnConvolutionBackwardData, which computes ConvTranspose.
//  - tune() runs cuDNN's measured search (cudnnFind*AlgorithmEx) at a profile corner (the builder asks at opt,
//    min and max, and each plan takes the nearest corner's choice) and returns "algo=A;math=M". run() and workspace() use that algorithm at every shape where cuDNN's workspace query accepts
//    it, else cuDNN's heuristic choice, else the implicit-GEMM algorithm (no workspace); a launch that cuDNN
//    refuses is retried with the implicit-GEMM algorithm, so a stored configuration never makes a shape fail.
//    Neither the search nor the heuristics pick a non-deterministic algorithm: an engine gives the same output
//    run after run (backward-data ALGO_0 sums with atomics, in float16 at float16 precision: on the H100 it
//    missed the float16 tolerance of a 72-term ConvTranspose).
//  - 2-D convolutions with one group and symmetric padding also have cuDNN's graph API (cudnn_graph.h): tune()
//    times the first engines its heuristics rank (bias add fused in) beside the legacy algorithms (timed as run()
//    launches them, bias and residual included) and stores "engine=E;rank=R" when one is faster. run() rebuilds
//    the graph at each shape and takes engine E (at rank R when it is there, as at the tuned shape), else the
//    heuristics' first usable engine, else the legacy path; a graph launch cuDNN refuses falls back to the legacy
//    path. Runtime-compiled engines are never timed nor run: cuDNN compiles them for each shape in each process
//    (0.3-2.9 s a convolution), a stall at every first run of a batch size that no deployment expects.
//  - fp32 runs with CUDNN_FMA_MATH: no TF32, whose 10-bit mantissa would break the 1e-4 agreement with the fp32
//    reference, unless the engine's precision is "tf32" (--tf32: CUDNN_DEFAULT_MATH). fp16 storage runs with tensor-core math and fp32 accumulation (compute type float).
//  - ai.normrt NhwcConv (the layout pass's channels-last 2-D Conv: X [N, H, W, C], W [M, kH, kW, C/group], Y
//    [N, oH, oW, M]) runs the same way with NHWC descriptors, where cuDNN's tensor-core kernels need no layout
//    transforms of their own. Its padding must be symmetric (the pass writes no other).
//  - Bias: fused into cudnnConvolutionBiasActivationForward (identity activation) when the algorithm is
//    IMPLICIT_PRECOMP_GEMM, the only one cuDNN fuses identity with; otherwise a cudnnAddTensor after the
//    convolution. normrt's passes produce no fused Conv+activation node, so no activation is fused here.
//  - NhwcConv's residual R (input 3, conv_residual_fusion): the graph API adds it in the engine's epilogue after
//    the bias (fp32 sums, one rounding). The legacy path passes it as cudnnConvolutionBiasActivationForward's z
//    (alpha2 = 1) where that fuses, else copies R into Y and convolves with beta = 1.
#include <algorithm>
#include <memory>
#include <mutex>

#include "cuda/cudnn_graph.h"
#include "cuda/dnn_copy.h"
#include "cuda/dnn_util.h"
#include "cuda/launch_timing.h"
#include "ops/channels_last.h"
#include "ops/conv_geometry.h"

namespace normrt {
namespace cuda {
namespace {

using ElementType = ::normrt::DataType;

constexpr int kDefaultForwardAlgo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
constexpr int kDefaultBackwardDataAlgo = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;

// One convolution at concrete shapes in cuDNN's terms (spatial axes lifted to at least two).
struct ConvProblem {
  bool transpose = false;
  bool channels_last = false;  // NhwcConv: x, y and w are described in NCHW terms but stored channels-last
  ElementType dtype = ElementType::kFloat32;
  int64_t group = 1;
  int64_t out_channels = 0;
  // Conv: x is what cuDNN reads (the padded copy when `window`), y the output. ConvTranspose: x is the input
  // (cuDNN's dy), y what cuDNN writes (cuDNN's dx: the uncropped output when `window`).
  Dims x, w, y;
  Dims out;  // the ONNX output, lifted like y
  std::vector<int> pad, stride, dilation;
  bool window = false;  // the explicit pad (Conv) or crop (ConvTranspose) copy is needed
  WindowCopyArgs copy;  // its geometry; pointers are set by run()
  size_t copy_bytes = 0;
};

// NhwcConv's channels-last dims in the NCHW order the geometry and cuDNN's descriptors use; other ops' as they are.
Dims channels_first(const Node& node, const Dims& dims) {
  if (node.op_type != "NhwcConv" || dims.size() < 3) return dims;
  Dims out{dims[0], dims.back()};
  out.insert(out.end(), dims.begin() + 1, dims.end() - 1);
  return out;
}

Dims lift(const Dims& dims, size_t spatial) {
  Dims out = dims;
  if (spatial == 1) out.insert(out.begin() + 2, 1);
  return out;
}

void set_copy_dims(int64_t* target, const Dims& onnx) {
  // [N, C, spatial...] right-aligned into [N, C, D, H, W].
  const size_t spatial = onnx.size() - 2;
  target[0] = onnx[0];
  target[1] = onnx[1];
  for (size_t i = 0; i < spatial; ++i) target[2 + 3 - spatial + i] = onnx[2 + i];
}

template <typename Ctx>
ConvProblem make_problem(const Ctx& ctx, ElementType dtype, const Dims& x, const Dims& w) {
  const Node& node = ctx.node;
  ConvProblem p;
  p.transpose = node.op_type == "ConvTranspose";
  p.channels_last = node.op_type == "NhwcConv";
  p.dtype = dtype;
  if (x.size() < 3 || x.size() > 5 || w.size() != x.size())
    ctx.fail("X [" + dims_to_string(x) + "] and W [" + dims_to_string(w) + "] must both have rank 3 to 5");
  const size_t spatial = x.size() - 2;
  p.group = node.attr_int("group", 1);
  const std::vector<int64_t> kernel(w.begin() + 2, w.end());
  if (node.has_attribute("kernel_shape") && node.attr_ints("kernel_shape") != kernel)
    ctx.fail("attribute 'kernel_shape' does not match W [" + dims_to_string(w) + "]");
  const WindowAttrs a = read_window_attrs(ctx, spatial, kernel);
  const int64_t N = x[0], C = x[1];
  if (p.group < 1 || C % p.group != 0) ctx.fail("group " + std::to_string(p.group) + " does not divide C");
  if (!p.transpose) {
    p.out_channels = w[0];
    if (w[1] * p.group != C || p.out_channels % p.group != 0) ctx.fail("W does not fit X and group");
  } else {
    if (w[0] != C) ctx.fail("W's dim 0 must equal X's channels");
    p.out_channels = w[1] * p.group;
  }
  std::vector<int64_t> output_padding, output_shape;
  if (p.transpose) {
    output_padding = transpose_output_padding(ctx, spatial);
    output_shape = transpose_output_shape(ctx, spatial);
  }
  Dims full{N, p.transpose ? p.out_channels : C}, out{N, p.out_channels};
  for (size_t i = 0; i < spatial; ++i) {
    const int64_t in = x[2 + i];
    int64_t pad_begin, pad_end;
    if (!p.transpose) {
      const AxisWindow win = resolve_window_axis(a, i, in);
      if (win.out < 1) ctx.fail("the kernel does not fit the padded input on spatial axis " + std::to_string(i));
      pad_begin = win.pad_begin;
      pad_end = win.pad_end;
      out.push_back(win.out);
    } else {
      const TransposeAxis t = resolve_transpose_axis(a, i, in, output_padding[i], output_shape);
      if (t.out < 1) ctx.fail("empty output on spatial axis " + std::to_string(i));
      // cuDNN's backward data has no negative padding, and its output extent must map back onto X's.
      if (t.pad_begin < 0 || t.pad_end < 0) ctx.fail("negative padding (output larger than the natural extent)");
      if (output_padding[i] >= a.strides[i]) ctx.fail("output_padding must be smaller than the stride");
      pad_begin = t.pad_begin;
      pad_end = t.pad_end;
      out.push_back(t.out);
    }
    const int64_t symmetric = std::min(pad_begin, pad_end);
    const int64_t extra = pad_begin + pad_end - 2 * symmetric;
    // Conv: a padded copy of X of extent in + extra; ConvTranspose: an uncropped output of extent out + extra.
    full.push_back((p.transpose ? out.back() : in) + extra);
    if (extra > 0) p.window = true;
    p.pad.push_back(static_cast<int>(symmetric));
    p.stride.push_back(static_cast<int>(a.strides[i]));
    p.dilation.push_back(static_cast<int>(a.dilations[i]));
    const size_t copy_axis = 3 - spatial + i;
    // Conv: padded[o] = x[o - (pad_begin - symmetric)]; ConvTranspose: y[o] = uncropped[o + (pad_begin - symmetric)].
    p.copy.shift[copy_axis] = p.transpose ? pad_begin - symmetric : symmetric - pad_begin;
  }
  if (spatial == 1) {
    p.pad.insert(p.pad.begin(), 0);
    p.stride.insert(p.stride.begin(), 1);
    p.dilation.insert(p.dilation.begin(), 1);
  }
  p.w = lift(w, spatial);
  p.out = lift(out, spatial);
  if (!p.transpose) {
    p.x = lift(full, spatial);
    p.y = p.out;
    set_copy_dims(p.copy.in_dims, x);
    set_copy_dims(p.copy.out_dims, full);
  } else {
    p.x = lift(x, spatial);
    p.y = lift(full, spatial);
    set_copy_dims(p.copy.in_dims, full);
    set_copy_dims(p.copy.out_dims, out);
  }
  if (p.channels_last && (p.window || spatial != 2))
    ctx.fail("NhwcConv needs rank-4 tensors and symmetric padding (the layout pass writes no other)");
  p.copy.element_bytes = element_bytes(dtype);
  p.copy_bytes = p.window ? static_cast<size_t>(element_count(full)) * element_bytes(dtype) : 0;
  return p;
}

cudnnMathType_t run_math(ElementType dtype, int64_t stored, bool tf32) {
  // float32: TF32 only in "tf32" engines (CUDNN_DEFAULT_MATH permits it, as PyTorch's allow_tf32 does).
  if (dtype == ElementType::kFloat32) return tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
  if (stored == CUDNN_DEFAULT_MATH || stored == CUDNN_TENSOR_OP_MATH || stored == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)
    return static_cast<cudnnMathType_t>(stored);
  return CUDNN_TENSOR_OP_MATH;
}

bool allowed_math(ElementType dtype, cudnnMathType_t math, bool tf32) {
  return dtype != ElementType::kFloat32 || tf32 ||
         (math != CUDNN_TENSOR_OP_MATH && math != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION);
}

// The per-node state: the problem and its descriptors at the last shapes seen, and the algorithm for them.
struct ConvPlan {
  bool ready = false;
  Dims x_dims, w_dims;
  ElementType dtype = ElementType::kUndefined;
  bool has_bias = false;
  bool has_residual = false;
  std::string config;

  ConvProblem p;
  TensorDescriptor x_desc, y_desc, out_desc, bias_desc;
  FilterDescriptor w_desc;
  ConvolutionDescriptor conv_desc;
  ActivationDescriptor identity;
  std::unique_ptr<ConvGraph> graph;             // the graph API form, when the configuration names an engine
  std::unique_ptr<ConvGraph::Plan> graph_plan;  // its plan at these shapes (null: the legacy path)
  int algo = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t algo_bytes = 0;
  bool try_fused_bias = true;
};

// cuDNN queries need a handle; workspace() may be asked without one (a plan made before any stream exists).
cudnnHandle_t query_handle(const CudaKernelContext& ctx) {
  if (ctx.cudnn) return ctx.cudnn;
  static std::mutex mutex;
  static cudnnHandle_t handle = nullptr;
  std::lock_guard<std::mutex> lock(mutex);
  if (!handle) ctx.check(cudnnCreate(&handle), "cudnnCreate");
  return handle;
}

bool algo_workspace(const CudaKernelContext& ctx, ConvPlan& plan, int algo, cudnnMathType_t math, size_t* bytes) {
  cudnnConvolutionDescriptor_t conv = plan.conv_desc.get(ctx);
  if (cudnnSetConvolutionMathType(conv, math) != CUDNN_STATUS_SUCCESS) return false;
  cudnnStatus_t status;
  if (!plan.p.transpose)
    status = cudnnGetConvolutionForwardWorkspaceSize(query_handle(ctx), plan.x_desc.get(ctx), plan.w_desc.get(ctx),
                                                     conv, plan.y_desc.get(ctx),
                                                     static_cast<cudnnConvolutionFwdAlgo_t>(algo), bytes);
  else
    status = cudnnGetConvolutionBackwardDataWorkspaceSize(query_handle(ctx), plan.w_desc.get(ctx), plan.x_desc.get(ctx),
                                                          conv, plan.y_desc.get(ctx),
                                                          static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), bytes);
  return status == CUDNN_STATUS_SUCCESS;
}

void use_algo(ConvPlan& plan, int algo, cudnnMathType_t math, size_t bytes) {
  plan.algo = algo;
  plan.math = math;
  plan.algo_bytes = bytes;
}

void use_default_algo(const CudaKernelContext& ctx, ConvPlan& plan) {
  const int algo = plan.p.transpose ? kDefaultBackwardDataAlgo : kDefaultForwardAlgo;
  const cudnnMathType_t math = run_math(plan.dtype, -1, ctx.allow_tf32);
  size_t bytes = 0;
  if (!algo_workspace(ctx, plan, algo, math, &bytes)) bytes = 0;
  use_algo(plan, algo, math, bytes);
}

// The stored algorithm if cuDNN accepts it at these shapes, else cuDNN's heuristic choice, else the default.
void choose_algo(const CudaKernelContext& ctx, ConvPlan& plan) {
  const auto config = parse_config(plan.config);
  size_t bytes = 0;
  if (config.count("algo")) {
    const int algo = static_cast<int>(config.at("algo"));
    const cudnnMathType_t math = run_math(plan.dtype, config.count("math") ? config.at("math") : -1, ctx.allow_tf32);
    if (algo >= 0 && algo_workspace(ctx, plan, algo, math, &bytes)) return use_algo(plan, algo, math, bytes);
  }
  cudnnConvolutionDescriptor_t conv = plan.conv_desc.get(ctx);
  ctx.check(cudnnSetConvolutionMathType(conv, run_math(plan.dtype, -1, ctx.allow_tf32)), "cudnnSetConvolutionMathType");
  int returned = 0;
  if (!plan.p.transpose) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    if (cudnnGetConvolutionForwardAlgorithm_v7(query_handle(ctx), plan.x_desc.get(ctx), plan.w_desc.get(ctx), conv,
                                               plan.y_desc.get(ctx), CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned,
                                               perf) == CUDNN_STATUS_SUCCESS)
      for (int i = 0; i < returned; ++i) {
        if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].determinism != CUDNN_DETERMINISTIC ||
            !allowed_math(plan.dtype, perf[i].mathType, ctx.allow_tf32))
          continue;
        const cudnnMathType_t math = run_math(plan.dtype, perf[i].mathType, ctx.allow_tf32);
        if (algo_workspace(ctx, plan, perf[i].algo, math, &bytes)) return use_algo(plan, perf[i].algo, math, bytes);
      }
  } else {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    if (cudnnGetConvolutionBackwardDataAlgorithm_v7(query_handle(ctx), plan.w_desc.get(ctx), plan.x_desc.get(ctx), conv,
                                                    plan.y_desc.get(ctx), CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                                    &returned, perf) == CUDNN_STATUS_SUCCESS)
      for (int i = 0; i < returned; ++i) {
        if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].determinism != CUDNN_DETERMINISTIC ||
            !allowed_math(plan.dtype, perf[i].mathType, ctx.allow_tf32))
          continue;
        const cudnnMathType_t math = run_math(plan.dtype, perf[i].mathType, ctx.allow_tf32);
        if (algo_workspace(ctx, plan, perf[i].algo, math, &bytes)) return use_algo(plan, perf[i].algo, math, bytes);
      }
  }
  use_default_algo(ctx, plan);
}

// Whether cuDNN's graph API takes this problem (its engines are tried): 2-D (or 1-D lifted), one group, no
// explicit padding copy, a forward convolution.
bool graph_eligible(const ConvProblem& p) {
  return !p.transpose && p.group == 1 && p.x.size() == 4 && !p.window;
}

ConvGraphSpec graph_spec(const ConvPlan& plan, bool allow_tf32) {
  const ConvProblem& p = plan.p;
  ConvGraphSpec spec;
  spec.io_type = cudnn_type(p.dtype);
  for (int i = 0; i < 4; ++i) {
    spec.x[i] = p.x[i];
    spec.w[i] = p.w[i];
    spec.y[i] = p.y[i];
  }
  spec.channels_last = p.channels_last;
  for (int i = 0; i < 2; ++i) {
    spec.pre_pad[i] = spec.post_pad[i] = p.pad[i];
    spec.stride[i] = p.stride[i];
    spec.dilation[i] = p.dilation[i];
  }
  spec.bias = plan.has_bias;
  spec.residual = plan.has_residual;
  spec.allow_tf32 = allow_tf32;
  return spec;
}

// The graph API plan the configuration asks for, at the plan's shapes; else the plan stays on the legacy path.
void choose_graph_plan(const CudaKernelContext& ctx, ConvPlan& plan) {
  plan.graph_plan.reset();
  const auto config = parse_config(plan.config);
  if (!config.count("engine") || !graph_eligible(plan.p)) return;
  plan.graph = std::make_unique<ConvGraph>();
  std::string error;
  if (!plan.graph->build(query_handle(ctx), graph_spec(plan, ctx.allow_tf32), &error)) return;
  const int64_t rank = config.count("rank") ? config.at("rank") : 0;
  plan.graph_plan = plan.graph->choose(config.at("engine"), rank < 0 ? 0 : static_cast<size_t>(rank));
  if (!plan.graph_plan) return;
  // The legacy fallback takes the algorithm that needs no workspace; the workspace is the graph plan's.
  use_default_algo(ctx, plan);
  plan.algo_bytes = std::max(plan.algo_bytes, static_cast<size_t>(plan.graph_plan->workspace_bytes));
}

// Brings the plan to the context's shapes and configuration (descriptors are re-set in place).
void prepare(const CudaKernelContext& ctx, ConvPlan& plan) {
  const DeviceValue& x = ctx.in(0);
  const DeviceValue& w = ctx.in(1);
  const bool has_bias = ctx.has_input(2);
  const bool has_residual = ctx.has_input(3);
  if (plan.ready && plan.x_dims == x.dims && plan.w_dims == w.dims && plan.dtype == x.dtype &&
      plan.has_bias == has_bias && plan.has_residual == has_residual && plan.config == ctx.config)
    return;
  plan.ready = false;
  if (!is_dnn_float(x.dtype) || w.dtype != x.dtype || (has_bias && ctx.in(2).dtype != x.dtype) ||
      (has_residual && ctx.in(3).dtype != x.dtype))
    ctx.fail("X, W, B and R must all be float32 or all float16");
  if (has_residual && ctx.node.op_type != "NhwcConv") ctx.fail("only NhwcConv takes a residual input");
  plan.p = make_problem(ctx, x.dtype, channels_first(ctx.node, x.dims), channels_first(ctx.node, w.dims));
  const ConvProblem& p = plan.p;
  plan.x_dims = x.dims;
  plan.w_dims = w.dims;
  plan.dtype = x.dtype;
  plan.has_bias = has_bias;
  plan.has_residual = has_residual;
  plan.config = ctx.config;
  const auto set_tensor = p.channels_last ? set_channels_last_tensor : set_packed_tensor;
  set_tensor(ctx, plan.x_desc.get(ctx), p.dtype, int_dims(ctx, p.x));
  set_tensor(ctx, plan.y_desc.get(ctx), p.dtype, int_dims(ctx, p.y));
  set_tensor(ctx, plan.out_desc.get(ctx), p.dtype, int_dims(ctx, p.out));
  std::vector<int> bias_dims(p.out.size(), 1);
  bias_dims[1] = static_cast<int>(p.out_channels);
  set_packed_tensor(ctx, plan.bias_desc.get(ctx), p.dtype, bias_dims);
  const std::vector<int> w_dims = int_dims(ctx, p.w);
  ctx.check(cudnnSetFilterNdDescriptor(plan.w_desc.get(ctx), cudnn_type(p.dtype),
                                       p.channels_last ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW,
                                       static_cast<int>(w_dims.size()), w_dims.data()),
            "cudnnSetFilterNdDescriptor");
  cudnnConvolutionDescriptor_t conv = plan.conv_desc.get(ctx);
  // Compute type float for fp16 storage too: fp32 accumulation.
  ctx.check(cudnnSetConvolutionNdDescriptor(conv, static_cast<int>(p.pad.size()), p.pad.data(), p.stride.data(),
                                            p.dilation.data(), CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
            "cudnnSetConvolutionNdDescriptor");
  ctx.check(cudnnSetConvolutionGroupCount(conv, static_cast<int>(p.group)), "cudnnSetConvolutionGroupCount");
  // Guard: cuDNN's own forward output extent must be the one the geometry expects (X for ConvTranspose).
  std::vector<int> forward(p.x.size());
  if (!p.transpose)
    ctx.check(cudnnGetConvolutionNdForwardOutputDim(conv, plan.x_desc.get(ctx), plan.w_desc.get(ctx),
                                                    static_cast<int>(forward.size()), forward.data()),
              "cudnnGetConvolutionNdForwardOutputDim");
  else
    ctx.check(cudnnGetConvolutionNdForwardOutputDim(conv, plan.y_desc.get(ctx), plan.w_desc.get(ctx),
                                                    static_cast<int>(forward.size()), forward.data()),
              "cudnnGetConvolutionNdForwardOutputDim");
  const Dims& expected = p.transpose ? p.x : p.y;
  for (size_t i = 0; i < forward.size(); ++i)
    if (forward[i] != expected[i]) ctx.fail("cuDNN's convolution geometry disagrees with ONNX's (internal error)");
  ctx.check(cudnnSetActivationDescriptor(plan.identity.get(ctx), CUDNN_ACTIVATION_IDENTITY, CUDNN_PROPAGATE_NAN, 0.0),
            "cudnnSetActivationDescriptor");
  choose_algo(ctx, plan);
  choose_graph_plan(ctx, plan);
  plan.ready = true;
}

// The plan kept in the node's state (a fresh one when the context has no state).
std::shared_ptr<ConvPlan> plan_for(const CudaKernelContext& ctx) {
  if (ctx.state) {
    if (auto* kept = std::any_cast<std::shared_ptr<ConvPlan>>(ctx.state)) return *kept;
    auto plan = std::make_shared<ConvPlan>();
    *ctx.state = plan;
    return plan;
  }
  return std::make_shared<ConvPlan>();
}

size_t conv_workspace(const CudaKernelContext& ctx) {
  auto plan = plan_for(ctx);
  prepare(ctx, *plan);
  return align_bytes(plan->p.copy_bytes) + plan->algo_bytes;
}

bool launch(CudaKernelContext& ctx, ConvPlan& plan, const void* x, void* y, void* workspace, size_t workspace_bytes,
            cudnnStatus_t* status) {
  const float one = 1.0f, zero = 0.0f;
  cudnnConvolutionDescriptor_t conv = plan.conv_desc.get(ctx);
  ctx.check(cudnnSetConvolutionMathType(conv, plan.math), "cudnnSetConvolutionMathType");
  if (!plan.p.transpose) {
    const void* r = plan.has_residual ? ctx.in(3).data : nullptr;
    if (plan.has_bias && plan.try_fused_bias && plan.algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM) {
      // z is the residual with alpha2 = 1; without one, z = y with alpha2 = 0 (cuDNN wants a z).
      *status = cudnnConvolutionBiasActivationForward(
          ctx.cudnn, &one, plan.x_desc.get(ctx), x, plan.w_desc.get(ctx), ctx.in(1).data, conv,
          static_cast<cudnnConvolutionFwdAlgo_t>(plan.algo), workspace, workspace_bytes, r ? &one : &zero,
          plan.y_desc.get(ctx), r ? r : y, plan.bias_desc.get(ctx), ctx.in(2).data, plan.identity.get(ctx),
          plan.y_desc.get(ctx), y);
      if (*status == CUDNN_STATUS_SUCCESS) return true;
      plan.try_fused_bias = false;  // this configuration does not fuse: convolve, then add the bias
    }
    if (r && r != y)  // y = conv + 1 * y, with y holding R
      ctx.check(cudaMemcpyAsync(y, r, static_cast<size_t>(element_count(plan.p.y)) * element_bytes(plan.dtype),
                                cudaMemcpyDeviceToDevice, ctx.stream),
                "cudaMemcpyAsync (residual)");
    *status = cudnnConvolutionForward(ctx.cudnn, &one, plan.x_desc.get(ctx), x, plan.w_desc.get(ctx), ctx.in(1).data,
                                      conv, static_cast<cudnnConvolutionFwdAlgo_t>(plan.algo), workspace,
                                      workspace_bytes, r ? &one : &zero, plan.y_desc.get(ctx), y);
  } else {
    *status = cudnnConvolutionBackwardData(ctx.cudnn, &one, plan.w_desc.get(ctx), ctx.in(1).data, plan.x_desc.get(ctx),
                                           x, conv, static_cast<cudnnConvolutionBwdDataAlgo_t>(plan.algo), workspace,
                                           workspace_bytes, &zero, plan.y_desc.get(ctx), y);
  }
  if (*status != CUDNN_STATUS_SUCCESS) return false;
  if (plan.has_bias && !plan.p.transpose)
    ctx.check(cudnnAddTensor(ctx.cudnn, &one, plan.bias_desc.get(ctx), ctx.in(2).data, &one, plan.out_desc.get(ctx), y),
              "cudnnAddTensor");
  return true;
}

void conv_run(CudaKernelContext& ctx) {
  auto plan_ptr = plan_for(ctx);
  ConvPlan& plan = *plan_ptr;
  prepare(ctx, plan);
  const ConvProblem& p = plan.p;
  DeviceValue& out = ctx.out(0);
  if (lift(channels_first(ctx.node, out.dims), out.dims.size() - 2) != p.out)
    ctx.fail("output [" + dims_to_string(out.dims) + "] does not have the shape the geometry gives");
  if (plan.has_residual && ctx.in(3).dims != out.dims)
    ctx.fail("residual R [" + dims_to_string(ctx.in(3).dims) + "] must have Y's shape [" + dims_to_string(out.dims) + "]");
  if (out.numel() == 0) return;
  const size_t copy_region = align_bytes(p.copy_bytes);
  if (ctx.workspace_bytes < copy_region) ctx.fail("the workspace is smaller than workspace() asked for");
  if (copy_region + plan.algo_bytes > ctx.workspace_bytes) use_default_algo(ctx, plan);
  char* base = static_cast<char*>(ctx.workspace);
  void* algo_workspace_ptr = plan.algo_bytes ? base + copy_region : nullptr;
  const size_t algo_workspace_bytes = plan.algo_bytes ? ctx.workspace_bytes - copy_region : 0;

  const void* x = ctx.in(0).data;
  void* y = out.data;
  WindowCopyArgs copy = p.copy;
  if (p.window && !p.transpose) {
    copy.in = x;
    copy.out = base;
    copy.fill_bits = 0;
    ctx.check(window_copy(copy, ctx.stream), "window_copy (padding)");
    x = base;
  } else if (p.window) {
    y = base;
  }
  if (plan.graph_plan && plan.graph_plan->workspace_bytes <= static_cast<int64_t>(algo_workspace_bytes)) {
    const void* w = ctx.in(1).data;
    const void* b = plan.has_bias ? ctx.in(2).data : nullptr;
    const void* r = plan.has_residual ? ctx.in(3).data : nullptr;
    if (ConvGraph::aligned(x) && ConvGraph::aligned(w) && ConvGraph::aligned(y) && (!b || ConvGraph::aligned(b)) &&
        (!r || ConvGraph::aligned(r)) &&
        ConvGraph::execute(ctx.cudnn, *plan.graph_plan, x, w, b, r, y, algo_workspace_ptr) == CUDNN_STATUS_SUCCESS)
      return;  // the bias is fused in; no window copies on this path
    plan.graph_plan.reset();  // cuDNN refused it before launching: the legacy path from now on
  }
  cudnnStatus_t status;
  if (!launch(ctx, plan, x, y, algo_workspace_ptr, algo_workspace_bytes, &status)) {
    const int category = CUDNN_STATUS_CATEGORY(status);
    if (category != CUDNN_STATUS_NOT_SUPPORTED && category != CUDNN_STATUS_BAD_PARAM)
      ctx.check(status, p.transpose ? "cudnnConvolutionBackwardData" : "cudnnConvolutionForward");
    // cuDNN refused the chosen algorithm before launching anything: the default one handles every problem.
    use_default_algo(ctx, plan);
    if (copy_region + plan.algo_bytes > ctx.workspace_bytes) ctx.fail("no workspace for the default algorithm");
    if (!launch(ctx, plan, x, y, plan.algo_bytes ? base + copy_region : nullptr, plan.algo_bytes, &status))
      ctx.check(status, p.transpose ? "cudnnConvolutionBackwardData" : "cudnnConvolutionForward");
  }
  if (p.window && p.transpose) {
    copy.in = base;
    copy.out = out.data;
    copy.fill_bits = 0;
    ctx.check(window_copy(copy, ctx.stream), "window_copy (crop)");
  }
  if (plan.has_bias && p.transpose) {
    const float one = 1.0f;
    ctx.check(cudnnAddTensor(ctx.cudnn, &one, plan.bias_desc.get(ctx), ctx.in(2).data, &one, plan.out_desc.get(ctx),
                             out.data),
              "cudnnAddTensor");
  }
}

// How many of the graph API's ranked engines tune() times (PyTorch's cudnn.benchmark tries 10 by default), and
// how many of the legacy algorithms cuDNN's own search ranks first (timed again here, so that both kinds are
// compared on the same clock).
constexpr size_t kTimedEngines = 10;
constexpr int kTimedLegacyAlgorithms = 4;

// Whether a legacy algorithm cuDNN's search returned may run here: it ran, fits the workspace, is deterministic
// and computes in the precision normrt promises.
template <typename Perf>
bool usable(const Perf& perf, const ConvProblem& p, size_t workspace_bytes, bool allow_tf32) {
  return perf.status == CUDNN_STATUS_SUCCESS && perf.memory <= workspace_bytes &&
         perf.determinism == CUDNN_DETERMINISTIC && allowed_math(p.dtype, perf.mathType, allow_tf32);
}

// Chooses among cuDNN's first legacy algorithms and the graph API's first engines by timing them all the same
// way (LaunchTimer: back to back on the GPU, the three fastest compared by the median of three timings).
std::string conv_tune(CudaKernelContext& ctx) {
  auto plan_ptr = plan_for(ctx);
  ConvPlan& plan = *plan_ptr;
  prepare(ctx, plan);
  const ConvProblem& p = plan.p;
  const size_t copy_region = align_bytes(p.copy_bytes);
  if (ctx.workspace_bytes < copy_region || ctx.outputs.empty() || !ctx.out(0).data) return "";
  char* base = static_cast<char*>(ctx.workspace);
  // The search only times the algorithms: the padded copy / uncropped output may hold anything.
  const void* x = p.window && !p.transpose ? base : ctx.in(0).data;
  void* y = p.window && p.transpose ? base : ctx.out(0).data;
  const void* w = ctx.in(1).data;
  void* search_workspace = ctx.workspace_bytes > copy_region ? base + copy_region : nullptr;
  const size_t search_bytes = ctx.workspace_bytes - copy_region;
  cudnnConvolutionDescriptor_t conv = plan.conv_desc.get(ctx);
  ctx.check(cudnnSetConvolutionMathType(conv, run_math(p.dtype, -1, ctx.allow_tf32)), "cudnnSetConvolutionMathType");

  // Candidates: (algo, math) of the legacy API, then graph plans; launches[i] runs candidate i.
  std::vector<std::pair<int, cudnnMathType_t>> legacy;
  int returned = 0;
  if (!p.transpose) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    // A failed search is no error: run() then takes cuDNN's heuristic choice at each shape.
    if (cudnnFindConvolutionForwardAlgorithmEx(ctx.cudnn, plan.x_desc.get(ctx), x, plan.w_desc.get(ctx), w, conv,
                                               plan.y_desc.get(ctx), y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned,
                                               perf, search_workspace, search_bytes) != CUDNN_STATUS_SUCCESS)
      returned = 0;
    for (int i = 0; i < returned && static_cast<int>(legacy.size()) < kTimedLegacyAlgorithms; ++i)
      if (usable(perf[i], p, search_bytes, ctx.allow_tf32)) legacy.emplace_back(perf[i].algo, perf[i].mathType);
  } else {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    if (cudnnFindConvolutionBackwardDataAlgorithmEx(ctx.cudnn, plan.w_desc.get(ctx), w, plan.x_desc.get(ctx), x, conv,
                                                    plan.y_desc.get(ctx), y, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                                    &returned, perf, search_workspace,
                                                    search_bytes) != CUDNN_STATUS_SUCCESS)
      returned = 0;
    for (int i = 0; i < returned && static_cast<int>(legacy.size()) < kTimedLegacyAlgorithms; ++i)
      if (usable(perf[i], p, search_bytes, ctx.allow_tf32)) legacy.emplace_back(perf[i].algo, perf[i].mathType);
  }
  // Each legacy algorithm is timed as run() launches it, bias and residual included (fused for
  // IMPLICIT_PRECOMP_GEMM, else an add and a copy): the graph engines below include both too.
  std::vector<LaunchTimer::Launch> launches;
  const int kept_algo = plan.algo;
  const cudnnMathType_t kept_math = plan.math;
  const size_t kept_bytes = plan.algo_bytes;
  const bool kept_fused_bias = plan.try_fused_bias;
  for (const auto& [algo, math] : legacy)
    launches.push_back([&, algo = algo, math = math] {
      use_algo(plan, algo, math, search_bytes);
      plan.try_fused_bias = true;
      cudnnStatus_t status;
      return launch(ctx, plan, x, y, search_workspace, search_bytes, &status);
    });
  // The graph API's engines (bias and residual fused, as run() launches them), without the runtime-compiled ones
  // (ConvGraph::Candidate: a compile at every new shape in every process, which run() never accepts).
  ConvGraph graph;
  std::vector<std::unique_ptr<ConvGraph::Plan>> graph_plans;
  std::vector<size_t> graph_ranks;
  const void* b = plan.has_bias ? ctx.in(2).data : nullptr;
  const void* r = plan.has_residual ? ctx.in(3).data : nullptr;
  std::string error;
  if (graph_eligible(p) && ConvGraph::aligned(x) && ConvGraph::aligned(w) && ConvGraph::aligned(y) &&
      (!b || ConvGraph::aligned(b)) && (!r || ConvGraph::aligned(r)) &&
      graph.build(ctx.cudnn, graph_spec(plan, ctx.allow_tf32), &error)) {
    for (size_t rank = 0; rank < graph.candidates() && graph_plans.size() < kTimedEngines; ++rank) {
      const ConvGraph::Candidate c = graph.candidate(rank);
      if (!c.acceptable || c.runtime_compiled) continue;
      auto candidate = graph.plan(rank);
      if (!candidate || candidate->workspace_bytes > static_cast<int64_t>(search_bytes) ||
          (candidate->workspace_bytes > 0 && !search_workspace))
        continue;
      const ConvGraph::Plan* graph_plan = candidate.get();
      graph_plans.push_back(std::move(candidate));
      graph_ranks.push_back(rank);
      launches.push_back([&, graph_plan] {
        return ConvGraph::execute(ctx.cudnn, *graph_plan, x, w, b, r, y, search_workspace) == CUDNN_STATUS_SUCCESS;
      });
    }
  }
  LaunchTimer timer(ctx.stream);
  const LaunchTimer::Fastest best = timer.fastest(launches);
  use_algo(plan, kept_algo, kept_math, kept_bytes);
  plan.try_fused_bias = kept_fused_bias;
  ctx.check(cudnnSetConvolutionMathType(conv, run_math(p.dtype, -1, ctx.allow_tf32)), "cudnnSetConvolutionMathType");
  if (best.index < 0) return "";  // run() then takes cuDNN's heuristic choice at each shape
  const size_t chosen = static_cast<size_t>(best.index);
  if (chosen < legacy.size())
    return format_config({{"algo", legacy[chosen].first},
                          {"math", run_math(p.dtype, legacy[chosen].second, ctx.allow_tf32)}});
  const size_t g = chosen - legacy.size();
  return format_config({{"engine", graph_plans[g]->engine}, {"rank", static_cast<int64_t>(graph_ranks[g])}});
}

bool conv_accepts(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) {
  try {
    if (inputs.size() < 2 || node.outputs.size() != 1) return false;
    const ElementType dtype = inputs[0].dtype;
    if (!is_dnn_float(dtype) || inputs[1].dtype != dtype) return false;
    if (inputs.size() > 2 && inputs[2].dtype != ElementType::kUndefined && inputs[2].dtype != dtype) return false;
    const bool channels_last = node.op_type == "NhwcConv";
    if (inputs.size() > 4 || (inputs.size() == 4 && (!channels_last || inputs[3].dtype != dtype))) return false;
    if (channels_last && (!inputs[0].shape.has_rank || inputs[0].shape.rank() != 4)) return false;
    const Shape xs = channels_last ? permute_shape(inputs[0].shape, to_channels_first_perm(4)) : inputs[0].shape;
    const Shape ws = channels_last ? permute_shape(inputs[1].shape, to_channels_first_perm(4)) : inputs[1].shape;
    if (!xs.has_rank || !ws.has_rank || xs.rank() < 3 || xs.rank() > 5 || ws.rank() != xs.rank()) return false;
    Dims w;
    for (const Dim& d : ws.dims) {
      if (!d.known()) return false;
      w.push_back(d.value);
    }
    const size_t spatial = xs.rank() - 2;
    AcceptContext ctx{node, opset};
    const WindowAttrs a = read_window_attrs(ctx, spatial, std::vector<int64_t>(w.begin() + 2, w.end()));
    for (size_t i = 0; i < spatial; ++i)
      if (a.strides[i] > INT32_MAX || a.dilations[i] > INT32_MAX || a.kernel[i] > INT32_MAX) return false;
    if (channels_last) {  // symmetric explicit padding only (SAME's split depends on the input extent)
      if (a.auto_pad != AutoPad::kNotSet && a.auto_pad != AutoPad::kValid) return false;
      const std::vector<int64_t> pads = node.attr_ints("pads", std::vector<int64_t>(2 * spatial, 0));
      for (size_t i = 0; i < spatial; ++i)
        if (pads.size() != 2 * spatial || pads[i] != pads[i + spatial]) return false;
    }
    if (node.op_type == "ConvTranspose") {
      const std::vector<int64_t> output_padding = transpose_output_padding(ctx, spatial);
      const std::vector<int64_t> output_shape = transpose_output_shape(ctx, spatial);
      const bool same = a.auto_pad == AutoPad::kSameUpper || a.auto_pad == AutoPad::kSameLower;
      for (size_t i = 0; i < spatial; ++i) {
        if (output_padding[i] >= a.strides[i]) return false;
        // The padding SAME or output_shape imply must not be negative; with output_shape it depends on X's extent.
        if (!output_shape.empty()) {
          if (!xs.dims[2 + i].known()) return false;
          const TransposeAxis t = resolve_transpose_axis(a, i, xs.dims[2 + i].value, output_padding[i], output_shape);
          if (t.pad_begin < 0 || t.pad_end < 0) return false;
        }
        if (output_shape.empty() && same && output_padding[i] + a.dilated_kernel(i) < a.strides[i]) return false;
      }
    }
    Dims x;
    for (const Dim& d : xs.dims) x.push_back(d.known() ? d.value : -1);
    if (std::find(x.begin(), x.end(), -1) == x.end()) make_problem(ctx, dtype, x, w);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

NORMRT_REGISTER_CUDA_KERNEL(CudaKernel{
    "cudnn_conv", "", "Conv", conv_accepts, conv_run, conv_workspace, conv_tune, {}, 0});
NORMRT_REGISTER_CUDA_KERNEL(CudaKernel{
    "cudnn_nhwc_conv", kNormrtDomain, "NhwcConv", conv_accepts, conv_run, conv_workspace, conv_tune, {}, 0});
NORMRT_REGISTER_CUDA_KERNEL(CudaKernel{
    "cudnn_conv_transpose", "", "ConvTranspose", conv_accepts, conv_run, conv_workspace, conv_tune, {}, 0});

}  // namespace
}  // namespace cuda
}  // namespace normrt
