// Activations: Relu, LeakyRelu, Elu, Selu, Sigmoid, HardSigmoid, HardSwish, Tanh, Gelu, Softplus, Softsign,
// PRelu and Clip. float16 and bfloat16 are computed in float32.
//
// Opset differences handled here:
//  - Clip takes min and max as attributes before opset 11 and as optional scalar inputs from opset 11 on;
//    integer types are accepted at every opset (ONNX added them in 12).
//  - Relu accepts signed integers (ONNX added them in 14); Gelu (opset 20) and HardSwish (14) are accepted at
//    any opset, since their meaning does not depend on it and fusion passes may emit them into older graphs.
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/element_types.h"
#include "ops/op.h"
#include "ops/shape_util.h"

namespace normrt {
namespace {

using namespace element;  // src/ops/element_types.h

// ---- unary activations ---------------------------------------------------------------------------------------
template <unsigned Set>
void infer_unary(InferContext& ctx) {
  if (ctx.num_inputs() != 1) ctx.fail("needs 1 input, has " + std::to_string(ctx.num_inputs()));
  if ((type_class(ctx.dtype(0)) & Set) == 0) fail_dtype(ctx, 0, ctx.dtype(0), Set);
  ctx.set_output(0, ctx.dtype(0), ctx.shape(0));
}

// out[i] = f(in[i]) in the compute type; f is a generic callable.
template <unsigned Set, typename F>
void apply_unary(KernelContext& ctx, F&& f) {
  const Tensor& x = ctx.in(0);
  bool ok = dispatch<Set>(x.dtype(), [&](auto tag) {
    using S = typename decltype(tag)::type;
    const S* in = x.data<S>();
    S* out = ctx.out(0).template data<S>();
    for (int64_t i = 0; i < x.numel(); ++i) out[i] = Num<S>::store(f(Num<S>::load(in[i])));
  });
  if (!ok) fail_dtype(ctx, 0, x.dtype(), Set);
}

// NaN passes through every activation below (x < 0 is false for NaN), as in PyTorch.
void relu_reference(KernelContext& ctx) {
  apply_unary<kFloats | kSignedInts>(ctx, [](auto x) { return x < 0 ? decltype(x)(0) : x; });
}

void leaky_relu_reference(KernelContext& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 0.01f);
  apply_unary<kFloats>(ctx, [alpha](auto x) { return x < 0 ? decltype(x)(alpha) * x : x; });
}

void elu_reference(KernelContext& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 1.0f);
  apply_unary<kFloats>(ctx, [alpha](auto x) { return x < 0 ? decltype(x)(alpha) * std::expm1(x) : x; });
}

// The ONNX defaults, written as the float32 values the spec gives (1.67326319217681884765625 and
// 1.05070102214813232421875).
constexpr float kSeluAlpha = 1.67326319217681884765625f;
constexpr float kSeluGamma = 1.05070102214813232421875f;

void selu_reference(KernelContext& ctx) {
  const float alpha = ctx.node.attr_float("alpha", kSeluAlpha);
  const float gamma = ctx.node.attr_float("gamma", kSeluGamma);
  apply_unary<kFloats>(ctx, [alpha, gamma](auto x) {
    using C = decltype(x);
    return x <= 0 ? C(gamma) * (C(alpha) * std::exp(x) - C(alpha)) : C(gamma) * x;
  });
}

template <typename C>
C sigmoid(C x) {
  // exp of a large positive argument overflows; use the form whose exp argument is never positive.
  if (x >= 0) return C(1) / (C(1) + std::exp(-x));
  C e = std::exp(x);
  return e / (C(1) + e);
}

void sigmoid_reference(KernelContext& ctx) {
  apply_unary<kFloats>(ctx, [](auto x) { return sigmoid(x); });
}

template <typename C>
C clamp01(C v) {
  return v < 0 ? C(0) : (v > 1 ? C(1) : v);
}

void hard_sigmoid_reference(KernelContext& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 0.2f);
  const float beta = ctx.node.attr_float("beta", 0.5f);
  apply_unary<kFloats>(ctx, [alpha, beta](auto x) {
    using C = decltype(x);
    return clamp01(C(alpha) * x + C(beta));
  });
}

void hard_swish_reference(KernelContext& ctx) {
  // HardSwish(x) = x * HardSigmoid(x) with alpha = 1/6, beta = 0.5 (ONNX HardSwish-14).
  apply_unary<kFloats>(ctx, [](auto x) {
    using C = decltype(x);
    return x * clamp01(x / C(6) + C(0.5));
  });
}

void tanh_reference(KernelContext& ctx) {
  apply_unary<kFloats>(ctx, [](auto x) { return std::tanh(x); });
}

void infer_gelu(InferContext& ctx) {
  infer_unary<kFloats>(ctx);
  const std::string approximate = ctx.node.attr_string("approximate", "none");
  if (approximate != "none" && approximate != "tanh")
    ctx.fail("attribute approximate must be \"none\" or \"tanh\" but is \"" + approximate + "\"");
}

void gelu_reference(KernelContext& ctx) {
  if (ctx.node.attr_string("approximate", "none") == "tanh") {
    apply_unary<kFloats>(ctx, [](auto x) {
      using C = decltype(x);
      const C k = C(0.7978845608028654);  // sqrt(2 / pi)
      return C(0.5) * x * (C(1) + std::tanh(k * (x + C(0.044715) * x * x * x)));
    });
  } else {
    apply_unary<kFloats>(ctx, [](auto x) {
      using C = decltype(x);
      return C(0.5) * x * (C(1) + std::erf(x * C(0.7071067811865476)));  // x / sqrt(2)
    });
  }
}

void softplus_reference(KernelContext& ctx) {
  // log(1 + exp(x)) without overflow: x + log1p(exp(-x)) for positive x.
  apply_unary<kFloats>(ctx, [](auto x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); });
}

void softsign_reference(KernelContext& ctx) {
  apply_unary<kFloats>(ctx, [](auto x) {
    using C = decltype(x);
    return x / (C(1) + std::fabs(x));
  });
}

// ---- PRelu: slope broadcasts unidirectionally to X -------------------------------------------------------------
constexpr unsigned kPreluTypes = kFloats | kInts;

void infer_prelu(InferContext& ctx) {
  if (ctx.num_inputs() != 2) ctx.fail("needs 2 inputs (X, slope), has " + std::to_string(ctx.num_inputs()));
  if ((type_class(ctx.dtype(0)) & kPreluTypes) == 0) fail_dtype(ctx, 0, ctx.dtype(0), kPreluTypes);
  if (ctx.dtype(1) != ctx.dtype(0))
    ctx.fail(std::string("slope (input 1) has type ") + dtype_name(ctx.dtype(1)) + " but X has " +
             dtype_name(ctx.dtype(0)));
  const Shape& x = ctx.shape(0);
  const Shape& slope = ctx.shape(1);
  if (x.has_rank && slope.has_rank) {
    if (slope.rank() > x.rank())
      ctx.fail("slope " + slope.to_string() + " has a higher rank than X " + x.to_string() +
               "; it must broadcast to X (unidirectional broadcasting)");
    const size_t offset = x.rank() - slope.rank();
    for (size_t i = 0; i < slope.rank(); ++i) {
      const Dim& s = slope.dims[i];
      const Dim& d = x.dims[offset + i];
      if (s.known() && s.value != 1 && d.known() && d.value != s.value)
        ctx.fail("slope " + slope.to_string() + " does not broadcast to X " + x.to_string() +
                 " (unidirectional broadcasting, dims aligned at the right); for per-channel slopes of NCHW input "
                 "use shape [C,1,1]");
    }
  }
  ctx.set_output(0, ctx.dtype(0), x);
}

void prelu_reference(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& slope = ctx.in(1);
  Tensor& out = ctx.out(0);
  bool ok = dispatch<kPreluTypes>(x.dtype(), [&](auto tag) {
    using S = typename decltype(tag)::type;
    const S* px = x.data<S>();
    const S* ps = slope.data<S>();
    S* po = out.data<S>();
    broadcast_loop<2>(out.dims(), {&x.dims(), &slope.dims()}, [&](int64_t o, const std::array<int64_t, 2>& off) {
      auto v = Num<S>::load(px[off[0]]);
      po[o] = Num<S>::store(v < 0 ? Num<S>::load(ps[off[1]]) * v : v);
    });
  });
  if (!ok) fail_dtype(ctx, 0, x.dtype(), kPreluTypes);
}

// ---- Clip -------------------------------------------------------------------------------------------------------
constexpr unsigned kClipTypes = kFloats | kInts;

void infer_clip(InferContext& ctx) {
  if (ctx.num_inputs() < 1 || ctx.num_inputs() > 3)
    ctx.fail("needs 1 to 3 inputs (input, min, max), has " + std::to_string(ctx.num_inputs()));
  if ((type_class(ctx.dtype(0)) & kClipTypes) == 0) fail_dtype(ctx, 0, ctx.dtype(0), kClipTypes);
  for (size_t i = 1; i < 3; ++i) {
    if (!ctx.has_input(i)) continue;
    const char* name = i == 1 ? "min" : "max";
    if (ctx.opset < 11) ctx.fail(std::string("takes ") + name + " as an attribute before opset 11, not as an input");
    if (ctx.dtype(i) != ctx.dtype(0))
      ctx.fail(std::string(name) + " (input " + std::to_string(i) + ") has type " + dtype_name(ctx.dtype(i)) +
               " but the input has " + dtype_name(ctx.dtype(0)));
    const Shape& s = ctx.shape(i);
    if (s.fully_known() && element_count(s.concrete()) != 1)
      ctx.fail(std::string(name) + " (input " + std::to_string(i) + ") must be a scalar but has shape " +
               s.to_string());
  }
  ctx.set_output(0, ctx.dtype(0), ctx.shape(0));
}

template <typename S>
typename Num<S>::C clip_bound(const KernelContext& ctx, size_t input, const char* attribute, bool lower) {
  using C = typename Num<S>::C;
  if (ctx.opset < 11) {
    if (ctx.node.has_attribute(attribute)) return static_cast<C>(ctx.node.attr_float(attribute, 0.0f));
  } else if (ctx.has_input(input)) {
    const Tensor& t = ctx.in(input);
    if (t.numel() != 1)
      ctx.fail(std::string(attribute) + " (input " + std::to_string(input) + ") must be a scalar but has shape " +
               dims_to_string(t.dims()));
    return Num<S>::load(t.data<S>()[0]);
  }
  if constexpr (std::is_floating_point_v<C>)
    return lower ? -std::numeric_limits<C>::infinity() : std::numeric_limits<C>::infinity();
  else
    return lower ? std::numeric_limits<C>::lowest() : std::numeric_limits<C>::max();
}

void clip_reference(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  bool ok = dispatch<kClipTypes>(x.dtype(), [&](auto tag) {
    using S = typename decltype(tag)::type;
    using C = typename Num<S>::C;
    const C lo = clip_bound<S>(ctx, 1, "min", true);
    const C hi = clip_bound<S>(ctx, 2, "max", false);
    const S* in = x.data<S>();
    S* out = ctx.out(0).template data<S>();
    // max first, then min: when min > max every element becomes max, as the ONNX spec says. NaN stays NaN.
    for (int64_t i = 0; i < x.numel(); ++i) {
      C v = Num<S>::load(in[i]);
      if (v < lo) v = lo;
      if (v > hi) v = hi;
      out[i] = Num<S>::store(v);
    }
  });
  if (!ok) fail_dtype(ctx, 0, x.dtype(), kClipTypes);
}

}  // namespace

NORMRT_REGISTER_OP("", "Relu", infer_unary<kFloats | kSignedInts>, relu_reference);
NORMRT_REGISTER_OP("", "LeakyRelu", infer_unary<kFloats>, leaky_relu_reference);
NORMRT_REGISTER_OP("", "Elu", infer_unary<kFloats>, elu_reference);
NORMRT_REGISTER_OP("", "Selu", infer_unary<kFloats>, selu_reference);
NORMRT_REGISTER_OP("", "Sigmoid", infer_unary<kFloats>, sigmoid_reference);
NORMRT_REGISTER_OP("", "HardSigmoid", infer_unary<kFloats>, hard_sigmoid_reference);
NORMRT_REGISTER_OP("", "HardSwish", infer_unary<kFloats>, hard_swish_reference);
NORMRT_REGISTER_OP("", "Tanh", infer_unary<kFloats>, tanh_reference);
NORMRT_REGISTER_OP("", "Gelu", infer_gelu, gelu_reference);
NORMRT_REGISTER_OP("", "Softplus", infer_unary<kFloats>, softplus_reference);
NORMRT_REGISTER_OP("", "Softsign", infer_unary<kFloats>, softsign_reference);
NORMRT_REGISTER_OP("", "PRelu", infer_prelu, prelu_reference);
NORMRT_REGISTER_OP("", "Clip", infer_clip, clip_reference);

}  // namespace normrt
