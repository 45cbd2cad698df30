// Unary math: Sqrt, Erf, Exp, Log, Neg, Abs, Reciprocal, Floor, Ceil, Round, Sin, Cos, Not. Their semantics are
// the same in every opset from 11 to 21 (later versions only added bfloat16), so ctx.opset is not consulted.
// float16 and bfloat16 are computed in float32.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "ops/element_types.h"
#include "ops/op.h"
#include "ops/shape_util.h"

namespace normrt {
namespace {

using namespace element;  // src/ops/element_types.h

template <unsigned Set>
void infer_unary(InferContext& ctx) {
  if (ctx.num_inputs() != 1) ctx.fail("needs 1 input, has " + std::to_string(ctx.num_inputs()));
  if ((type_class(ctx.dtype(0)) & Set) == 0) fail_dtype(ctx, 0, ctx.dtype(0), Set);
  ctx.set_output(0, ctx.dtype(0), ctx.shape(0));
}

// out[i] = Op{}(in[i]) in the compute type of the input's dtype.
template <unsigned Set, typename Op>
void unary_reference(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  bool ok = dispatch<Set>(x.dtype(), [&](auto tag) {
    using S = typename decltype(tag)::type;
    const S* in = x.data<S>();
    S* out = ctx.out(0).template data<S>();
    const Op op;
    for (int64_t i = 0; i < x.numel(); ++i) out[i] = Num<S>::store(op(Num<S>::load(in[i])));
  });
  if (!ok) fail_dtype(ctx, 0, x.dtype(), Set);
}

// Two's-complement negation without signed overflow (-INT_MIN wraps to INT_MIN, as in numpy).
template <typename T>
T wrap_negate(T x) {
  using W = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;
  return static_cast<T>(W{0} - static_cast<W>(x));
}

struct SqrtOp {
  template <typename C>
  C operator()(C x) const {
    return std::sqrt(x);
  }
};
struct ErfOp {
  template <typename C>
  C operator()(C x) const {
    return std::erf(x);
  }
};
struct ExpOp {
  template <typename C>
  C operator()(C x) const {
    return std::exp(x);
  }
};
struct LogOp {
  template <typename C>
  C operator()(C x) const {
    return std::log(x);
  }
};
struct SinOp {
  template <typename C>
  C operator()(C x) const {
    return std::sin(x);
  }
};
struct CosOp {
  template <typename C>
  C operator()(C x) const {
    return std::cos(x);
  }
};
struct ReciprocalOp {
  template <typename C>
  C operator()(C x) const {
    return C(1) / x;
  }
};
struct FloorOp {
  template <typename C>
  C operator()(C x) const {
    return std::floor(x);
  }
};
struct CeilOp {
  template <typename C>
  C operator()(C x) const {
    return std::ceil(x);
  }
};
// Round halves to even (ONNX Round, numpy.round); written out so that it does not depend on the FPU's current
// rounding mode the way std::nearbyint does.
struct RoundOp {
  template <typename C>
  C operator()(C x) const {
    C r = std::round(x);  // halves away from zero
    if (std::fabs(x - std::trunc(x)) == C(0.5)) r = C(2) * std::round(x / C(2));
    return r;
  }
};
struct NegOp {
  template <typename C>
  C operator()(C x) const {
    if constexpr (std::is_integral_v<C>)
      return wrap_negate(x);
    else
      return -x;
  }
};
struct AbsOp {
  template <typename C>
  C operator()(C x) const {
    if constexpr (std::is_unsigned_v<C>)
      return x;
    else if constexpr (std::is_integral_v<C>)
      return x < 0 ? wrap_negate(x) : x;
    else
      return std::fabs(x);
  }
};
struct NotOp {
  bool operator()(bool x) const { return !x; }
};

}  // namespace

NORMRT_REGISTER_OP("", "Sqrt", infer_unary<kFloats>, (unary_reference<kFloats, SqrtOp>));
NORMRT_REGISTER_OP("", "Erf", infer_unary<kFloats>, (unary_reference<kFloats, ErfOp>));
NORMRT_REGISTER_OP("", "Exp", infer_unary<kFloats>, (unary_reference<kFloats, ExpOp>));
NORMRT_REGISTER_OP("", "Log", infer_unary<kFloats>, (unary_reference<kFloats, LogOp>));
NORMRT_REGISTER_OP("", "Sin", infer_unary<kFloats>, (unary_reference<kFloats, SinOp>));
NORMRT_REGISTER_OP("", "Cos", infer_unary<kFloats>, (unary_reference<kFloats, CosOp>));
NORMRT_REGISTER_OP("", "Reciprocal", infer_unary<kFloats>, (unary_reference<kFloats, ReciprocalOp>));
NORMRT_REGISTER_OP("", "Floor", infer_unary<kFloats>, (unary_reference<kFloats, FloorOp>));
NORMRT_REGISTER_OP("", "Ceil", infer_unary<kFloats>, (unary_reference<kFloats, CeilOp>));
NORMRT_REGISTER_OP("", "Round", infer_unary<kFloats>, (unary_reference<kFloats, RoundOp>));
NORMRT_REGISTER_OP("", "Neg", infer_unary<kFloats | kSignedInts>, (unary_reference<kFloats | kSignedInts, NegOp>));
NORMRT_REGISTER_OP("", "Abs", infer_unary<kNumeric>, (unary_reference<kNumeric, AbsOp>));
NORMRT_REGISTER_OP("", "Not", infer_unary<kBool>, (unary_reference<kBool, NotOp>));

}  // namespace normrt
