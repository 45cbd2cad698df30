// float32 Conv ("onednn_conv") and ConvTranspose ("onednn_conv_transpose") on oneDNN's convolution_forward and
// deconvolution_forward: 1-D to 3-D, groups (depthwise included), strides, dilations (oneDNN counts the gaps:
// ONNX dilation - 1), asymmetric and automatic padding, optional bias; ConvTranspose output_padding and
// output_shape (output_padding is folded into the end padding, which oneDNN's size rule then matches).
//
// Per input shape the node's cache keeps the primitive, the reorders between normrt's plain NC[D]HW tensors
// and the layouts the primitive prefers, and the reordered weights, which are reused while the weights tensor
// keeps its address and content fingerprint. Activations in the preferred layouts live in per-thread scratch.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "cpu/cpu_kernel.h"
#include "cpu/onednn_util.h"
#include "ops/conv_geometry.h"

namespace normrt {
namespace {

using dnnl::memory;

struct ConvEntry {
  bool fallback = false;  // oneDNN declined this configuration: the reference kernel runs
  dnnl::primitive primitive;
  memory::desc user_src, user_weights, user_dst;
  memory::desc chosen_src, chosen_dst;  // the primitive's layouts; where they differ, the data goes through scratch
  bool reorder_src = false, reorder_weights = false, reorder_dst = false;
  dnnl::reorder src_reorder, weights_reorder, dst_reorder;
  memory weights_buffer;  // the weights in the primitive's layout: the cache
  // ConvTranspose whose output_padding exceeds the end padding: the output tail past what any input reaches
  // holds only the bias. oneDNN computes the reached part into a view of Y; Y is first filled with the bias.
  bool fill_bias = false;
  // The weights that weights_buffer holds, by address and content.
  bool weights_ready = false;
  const void* weights_source = nullptr;
  uint64_t weights_fingerprint = 0;
};

using ConvCache = onednn::ShapeCache<ConvEntry>;

memory::desc any_desc(const memory::dims& dims) {
  return memory::desc(dims, memory::data_type::f32, memory::format_tag::any);
}

// Weights descriptor of the tensor as ONNX lays it out. Conv: [M, C/g, k...] which reads as oneDNN's
// [g, M/g, C/g, k...]. ConvTranspose: [C, M/g, k...] i.e. [g, C/g, M/g, k...] physically, while oneDNN's logical
// order is [g, M/g, C/g, k...] (output channels first): a strided view swaps the two channel axes.
memory::desc user_weights_desc(const Tensor& W, int64_t group, bool transpose) {
  const Dims& w = W.dims();
  const memory::dims kernel(w.begin() + 2, w.end());
  int64_t k_size = 1;
  for (int64_t k : kernel) k_size *= k;
  memory::dims kernel_strides(kernel.size(), 1);
  for (size_t i = kernel.size(); i-- > 1;) kernel_strides[i - 1] = kernel_strides[i] * kernel[i];
  memory::dims dims, strides;
  if (!transpose) {
    const int64_t M = w[0], Cg = w[1];
    if (group == 1)
      dims = {M, Cg};
    else
      dims = {group, M / group, Cg};
    dims.insert(dims.end(), kernel.begin(), kernel.end());
    return onednn::plain_desc(dims);
  }
  const int64_t C = w[0], Mg = w[1], Cg = C / group;
  if (group == 1) {
    dims = {Mg, C};
    strides = {k_size, Mg * k_size};
  } else {
    dims = {group, Mg, Cg};
    strides = {Cg * Mg * k_size, k_size, Mg * k_size};
  }
  dims.insert(dims.end(), kernel.begin(), kernel.end());
  strides.insert(strides.end(), kernel_strides.begin(), kernel_strides.end());
  return onednn::strided_desc(dims, strides);
}

// The reorder for one argument whose preferred layout may differ from the tensor's.
void plan_reorder(const memory::desc& user, const memory::desc& chosen, bool from_user, bool* needed,
                  dnnl::reorder* reorder) {
  *needed = user != chosen;
  if (!*needed) return;
  dnnl::engine& engine = onednn::engine();
  *reorder = from_user ? dnnl::reorder(dnnl::reorder::primitive_desc(engine, user, engine, chosen))
                       : dnnl::reorder(dnnl::reorder::primitive_desc(engine, chosen, engine, user));
}

std::unique_ptr<ConvEntry> build_entry(const KernelContext& ctx, bool transpose) {
  auto entry = std::make_unique<ConvEntry>();
  const Tensor& X = ctx.in(0);
  const Tensor& W = ctx.in(1);
  const Tensor& Y = ctx.out(0);
  const size_t spatial = X.rank() - 2;
  const int64_t group = ctx.node.attr_int("group", 1);
  const std::vector<int64_t> kernel(W.dims().begin() + 2, W.dims().end());
  const WindowAttrs a = read_window_attrs(ctx, spatial, kernel);
  memory::dims strides, dilates, pad_l, pad_r;
  std::vector<int64_t> output_padding, output_shape;
  if (transpose) {
    output_padding = transpose_output_padding(ctx, spatial);
    output_shape = transpose_output_shape(ctx, spatial);
  }
  for (size_t i = 0; i < spatial; ++i) {
    strides.push_back(a.strides[i]);
    dilates.push_back(a.dilations[i] - 1);
    if (transpose) {
      const TransposeAxis t = resolve_transpose_axis(a, i, X.dims()[2 + i], output_padding[i], output_shape);
      pad_l.push_back(t.pad_begin);
      pad_r.push_back(t.pad_end - output_padding[i]);
    } else {
      const AxisWindow w = resolve_window_axis(a, i, X.dims()[2 + i]);
      pad_l.push_back(w.pad_begin);
      pad_r.push_back(w.pad_end);
    }
  }
  // oneDNN has no negative padding. A negative end padding of ConvTranspose (output_padding past the end pad)
  // only appends bias-only positions: oneDNN computes the rest with end padding 0 into a view of Y.
  memory::dims reached = onednn::to_dims(Y.dims());
  for (size_t i = 0; i < spatial; ++i) {
    if (transpose && pad_r[i] < 0) {
      reached[2 + i] += pad_r[i];
      pad_r[i] = 0;
      entry->fill_bias = true;
    }
    if (pad_l[i] < 0 || pad_r[i] < 0 || reached[2 + i] < 1) {
      entry->fallback = true;
      return entry;
    }
  }
  entry->user_src = onednn::plain_desc(onednn::to_dims(X.dims()));
  entry->user_dst = onednn::strided_desc(reached, onednn::plain_strides(onednn::to_dims(Y.dims())));
  entry->user_weights = user_weights_desc(W, group, transpose);
  // A pointwise convolution is a plain matrix product on NC[D]HW data: measured on AVX2, oneDNN's gemm path on
  // the tensors as they are beats the blocked layout by about 15% once the two reorders are counted. Every other
  // convolution gets the layouts oneDNN prefers (blocked: 1.5-5x faster for 3x3, depthwise and 7x7 stride 2).
  bool pointwise = !transpose && group == 1;
  for (size_t i = 0; i < spatial; ++i)
    pointwise = pointwise && kernel[i] == 1 && strides[i] == 1 && pad_l[i] == 0 && pad_r[i] == 0;
  const memory::desc src_any = pointwise ? entry->user_src : any_desc(entry->user_src.dims());
  const memory::desc dst_any = pointwise ? entry->user_dst : any_desc(reached);
  const memory::desc weights_any = any_desc(entry->user_weights.dims());
  const bool has_bias = ctx.has_input(2);
  const memory::desc bias = has_bias ? onednn::plain_desc({Y.dims()[1]}) : memory::desc();
  dnnl::engine& engine = onednn::engine();
  try {
    memory::desc chosen_weights;
    if (transpose) {
      dnnl::deconvolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
                                             src_any, weights_any, bias, dst_any, strides, dilates, pad_l, pad_r);
      dnnl::deconvolution_forward::primitive_desc pd(desc, engine);
      entry->primitive = dnnl::deconvolution_forward(pd);
      entry->chosen_src = pd.src_desc();
      chosen_weights = pd.weights_desc();
      entry->chosen_dst = pd.dst_desc();
    } else {
      dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                           src_any, weights_any, bias, dst_any, strides, dilates, pad_l, pad_r);
      dnnl::convolution_forward::primitive_desc pd(desc, engine);
      entry->primitive = dnnl::convolution_forward(pd);
      entry->chosen_src = pd.src_desc();
      chosen_weights = pd.weights_desc();
      entry->chosen_dst = pd.dst_desc();
    }
    plan_reorder(entry->user_src, entry->chosen_src, true, &entry->reorder_src, &entry->src_reorder);
    plan_reorder(entry->user_weights, chosen_weights, true, &entry->reorder_weights, &entry->weights_reorder);
    if (entry->reorder_weights) entry->weights_buffer = memory(chosen_weights, engine);
    plan_reorder(entry->user_dst, entry->chosen_dst, false, &entry->reorder_dst, &entry->dst_reorder);
  } catch (const dnnl::error&) {
    // dnnl_unimplemented or an attribute combination oneDNN rejects: the reference kernel is exact for all.
    entry = std::make_unique<ConvEntry>();
    entry->fallback = true;
  }
  return entry;
}

// Y[n, m, ...] = B[m] (or 0 without bias).
void fill_with_bias(KernelContext& ctx) {
  Tensor& Y = ctx.out(0);
  const int64_t N = Y.dims()[0], M = Y.dims()[1], plane = Y.numel() / std::max<int64_t>(N * M, 1);
  float* y = Y.data<float>();
  const float* b = ctx.has_input(2) ? ctx.in(2).data<float>() : nullptr;
  for (int64_t nm = 0; nm < N * M; ++nm) std::fill(y + nm * plane, y + (nm + 1) * plane, b ? b[nm % M] : 0.0f);
}

void execute(KernelContext& ctx, ConvEntry& e) {
  const Tensor& X = ctx.in(0);
  const Tensor& W = ctx.in(1);
  Tensor& Y = ctx.out(0);
  dnnl::stream& stream = onednn::stream();
  memory src = onednn::wrap(e.user_src, X);
  memory dst = onednn::wrap(e.user_dst, Y);
  memory weights = onednn::wrap(e.user_weights, W);
  if (e.reorder_src) {
    memory blocked(e.chosen_src, onednn::engine(), onednn::scratch(0, e.chosen_src.get_size()));
    e.src_reorder.execute(stream, src, blocked);
    src = blocked;
  }
  if (e.reorder_weights) {
    const uint64_t print = onednn::fingerprint(W.raw(), W.nbytes());
    if (!e.weights_ready || e.weights_source != W.raw() || e.weights_fingerprint != print) {
      e.weights_reorder.execute(stream, weights, e.weights_buffer);
      e.weights_ready = true;
      e.weights_source = W.raw();
      e.weights_fingerprint = print;
    }
    weights = e.weights_buffer;
  }
  if (e.fill_bias) fill_with_bias(ctx);
  memory out =
      e.reorder_dst ? memory(e.chosen_dst, onednn::engine(), onednn::scratch(1, e.chosen_dst.get_size())) : dst;
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, out}};
  if (ctx.has_input(2)) args[DNNL_ARG_BIAS] = onednn::wrap(onednn::plain_desc({Y.dims()[1]}), ctx.in(2));
  e.primitive.execute(stream, args);
  if (e.reorder_dst) e.dst_reorder.execute(stream, out, dst);
  stream.wait();
}

void run_conv_common(KernelContext& ctx, bool transpose) {
  const Tensor& X = ctx.in(0);
  const Tensor& W = ctx.in(1);
  Tensor& Y = ctx.out(0);
  if (X.numel() == 0 || W.numel() == 0 || Y.numel() == 0) {
    onednn::run_reference(ctx);
    return;
  }
  std::vector<Dims> key{X.dims(), W.dims(), ctx.has_input(2) ? ctx.in(2).dims() : Dims{-1}};
  std::shared_ptr<ConvCache> cache = ConvCache::from(ctx.state);
  ConvEntry* entry = cache->find(key);
  if (!entry) entry = cache->insert(key, build_entry(ctx, transpose));
  if (entry->fallback) {
    onednn::run_reference(ctx);
    return;
  }
  try {
    execute(ctx, *entry);
  } catch (const dnnl::error& e) {
    throw Error(ErrorCode::kInternal, ctx.node.describe() + ": oneDNN failed: " + e.what());
  }
}

void conv_run(KernelContext& ctx) { run_conv_common(ctx, false); }
void conv_transpose_run(KernelContext& ctx) { run_conv_common(ctx, true); }

// What every runtime shape of the node can use oneDNN for: float32 data, 1 to 3 spatial axes, no negative pads.
// Anything oneDNN still declines once shapes are concrete falls back to the reference kernel (see build_entry).
bool accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  if (inputs.size() < 2 || inputs.size() > 3) return false;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].dtype != DataType::kFloat32 && !(i == 2 && inputs[i].dtype == DataType::kUndefined)) return false;
  const Shape& x = inputs[0].shape;
  const Shape& w = inputs[1].shape;
  const size_t rank = x.has_rank ? x.rank() : (w.has_rank ? w.rank() : 0);
  if (rank < 3 || rank > 5) return false;
  try {
    if (node.attr_int("group", 1) < 1) return false;
    for (int64_t p : node.attr_ints("pads", {}))
      if (p < 0) return false;
    const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
    if (auto_pad != "NOTSET" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER" && auto_pad != "VALID")
      return false;
  } catch (const Error&) {
    return false;  // a malformed attribute: the reference kernel reports it
  }
  return true;
}

}  // namespace

NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"onednn_conv", "", "Conv", accepts, conv_run, 10});
NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"onednn_conv_transpose", "", "ConvTranspose", accepts, conv_transpose_run, 10});

}  // namespace normrt
