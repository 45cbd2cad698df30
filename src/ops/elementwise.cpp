// Binary arithmetic with numpy multidirectional broadcasting (Add, Sub, Mul, Div, Pow, Mod) and the variadic
// elementwise ops (Sum, Mean, Max, Min). The semantics are the same in every opset from 11 to 21; later opsets
// only widened the type lists, and normrt accepts the widest list at every opset.
//
// Integer arithmetic wraps (two's complement), integer Div truncates toward zero like C and ONNX Runtime, and
// an integer division or modulo by zero is an error naming the node instead of undefined behaviour.
// float16 and bfloat16 are computed in float32 and rounded once per result.

// Element types and the dtype dispatch: src/ops/element_types.h.
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

// Wrapping integer arithmetic: signed overflow is undefined in C++, so compute in an unsigned type at least as
// wide as `unsigned` (narrower ones would promote to int and overflow there).
template <typename T>
using WrapType = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;
template <typename T>
T wrap_add(T a, T b) {
  return static_cast<T>(static_cast<WrapType<T>>(a) + static_cast<WrapType<T>>(b));
}
template <typename T>
T wrap_sub(T a, T b) {
  return static_cast<T>(static_cast<WrapType<T>>(a) - static_cast<WrapType<T>>(b));
}
template <typename T>
T wrap_mul(T a, T b) {
  return static_cast<T>(static_cast<WrapType<T>>(a) * static_cast<WrapType<T>>(b));
}

// Float to integer: truncate toward zero, NaN -> 0, saturate outside the range (C++ leaves it undefined).
template <typename T>
T saturating_truncate(double v) {
  if (std::isnan(v)) return 0;
  v = std::trunc(v);
  if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

// out[i] = f(a[.], b[.]) with broadcasting; A, B, O are storage types.
template <typename A, typename B, typename O, typename F>
void binary_apply(const Tensor& a, const Tensor& b, Tensor& out, F&& f) {
  const A* pa = a.data<A>();
  const B* pb = b.data<B>();
  O* po = out.data<O>();
  if (a.dims() == out.dims() && b.dims() == out.dims()) {
    for (int64_t i = 0; i < out.numel(); ++i) po[i] = Num<O>::store(f(Num<A>::load(pa[i]), Num<B>::load(pb[i])));
    return;
  }
  broadcast_loop<2>(out.dims(), {&a.dims(), &b.dims()}, [&](int64_t o, const std::array<int64_t, 2>& off) {
    po[o] = Num<O>::store(f(Num<A>::load(pa[off[0]]), Num<B>::load(pb[off[1]])));
  });
}

// ---- shape functions -----------------------------------------------------------------------------------------
template <unsigned Set>
void check_same_types(const InferContext& ctx) {
  const DataType first = ctx.dtype(0);
  if ((type_class(first) & Set) == 0) fail_dtype(ctx, 0, first, Set);
  for (size_t i = 1; i < ctx.num_inputs(); ++i) {
    if (ctx.dtype(i) != first)
      ctx.fail(std::string("input ") + std::to_string(i) + " has type " + dtype_name(ctx.dtype(i)) +
               " but input 0 has " + dtype_name(first) + "; " + ctx.node.op_type + " needs inputs of one type");
  }
}

std::vector<Shape> input_shapes(const InferContext& ctx) {
  std::vector<Shape> shapes;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) shapes.push_back(ctx.shape(i));
  return shapes;
}

template <unsigned Set>
void infer_same_type_broadcast(InferContext& ctx) {
  if (ctx.num_inputs() < 1) ctx.fail("needs at least one input");
  check_same_types<Set>(ctx);
  ctx.set_output(0, ctx.dtype(0), broadcast_shapes(ctx, input_shapes(ctx)));
}

void infer_binary(InferContext& ctx) {
  if (ctx.num_inputs() != 2) ctx.fail("needs 2 inputs, has " + std::to_string(ctx.num_inputs()));
  infer_same_type_broadcast<kNumeric>(ctx);
}

void infer_mod(InferContext& ctx) {
  infer_binary(ctx);
  const int64_t fmod = ctx.node.attr_int("fmod", 0);
  if (fmod != 0 && fmod != 1) ctx.fail("attribute fmod must be 0 or 1 but is " + std::to_string(fmod));
  if (fmod == 0 && type_class(ctx.dtype(0)) == kFloats)
    ctx.fail(std::string("fmod=0 (Python-style modulo) is defined for integer types only, and the inputs are ") +
             dtype_name(ctx.dtype(0)) + "; set fmod=1 for C fmod on floating-point inputs");
}

void infer_pow(InferContext& ctx) {
  if (ctx.num_inputs() != 2) ctx.fail("needs 2 inputs, has " + std::to_string(ctx.num_inputs()));
  // Since opset 12 the exponent may have its own type; earlier models always use one type, which is a subset.
  if ((type_class(ctx.dtype(0)) & kNumeric) == 0) fail_dtype(ctx, 0, ctx.dtype(0), kNumeric);
  if ((type_class(ctx.dtype(1)) & kNumeric) == 0) fail_dtype(ctx, 1, ctx.dtype(1), kNumeric);
  ctx.set_output(0, ctx.dtype(0), broadcast_shapes(ctx, {ctx.shape(0), ctx.shape(1)}));
}

// ---- reference kernels ---------------------------------------------------------------------------------------
enum class BinaryOp { kAdd, kSub, kMul, kDiv };

template <BinaryOp Op>
void arithmetic_reference(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  bool ok = dispatch<kNumeric>(a.dtype(), [&](auto tag) {
    using S = typename decltype(tag)::type;
    using C = typename Num<S>::C;
    if constexpr (std::is_integral_v<C>) {
      binary_apply<S, S, S>(a, b, ctx.out(0), [&](C x, C y) -> C {
        if constexpr (Op == BinaryOp::kAdd) {
          return wrap_add(x, y);
        } else if constexpr (Op == BinaryOp::kSub) {
          return wrap_sub(x, y);
        } else if constexpr (Op == BinaryOp::kMul) {
          return wrap_mul(x, y);
        } else {
          if (y == 0) ctx.fail("integer division by zero (input 1 holds a 0)");
          if constexpr (std::is_signed_v<C>) {
            if (y == -1) return wrap_sub(C{0}, x);  // INT_MIN / -1 overflows; wrap like the other ops
          }
          return static_cast<C>(x / y);  // C++ truncates toward zero, as ONNX Runtime does
        }
      });
    } else {
      binary_apply<S, S, S>(a, b, ctx.out(0), [](C x, C y) -> C {
        if constexpr (Op == BinaryOp::kAdd) {
          return x + y;
        } else if constexpr (Op == BinaryOp::kSub) {
          return x - y;
        } else if constexpr (Op == BinaryOp::kMul) {
          return x * y;
        } else {
          return x / y;
        }
      });
    }
  });
  if (!ok) fail_dtype(ctx, 0, a.dtype(), kNumeric);
}

void mod_reference(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  const bool c_fmod = ctx.node.attr_int("fmod", 0) == 1;
  bool ok = dispatch<kNumeric>(a.dtype(), [&](auto tag) {
    using S = typename decltype(tag)::type;
    using C = typename Num<S>::C;
    binary_apply<S, S, S>(a, b, ctx.out(0), [&](C x, C y) -> C {
      if constexpr (std::is_floating_point_v<C>) {
        if (!c_fmod) ctx.fail("fmod=0 is defined for integer types only; set fmod=1 for floating-point inputs");
        return std::fmod(x, y);
      } else {
        if (y == 0) ctx.fail("integer modulo by zero (input 1 holds a 0)");
        C r = 0;
        if constexpr (std::is_signed_v<C>) {
          if (y == -1) return 0;  // INT_MIN % -1 overflows in C++; the remainder is 0
        }
        r = static_cast<C>(x % y);  // sign of the dividend (C fmod)
        if constexpr (std::is_signed_v<C>) {
          if (!c_fmod && r != 0 && ((r < 0) != (y < 0))) r = static_cast<C>(r + y);  // sign of the divisor (Python)
        }
        return r;
      }
    });
  });
  if (!ok) fail_dtype(ctx, 0, a.dtype(), kNumeric);
}

// Integer base to an integer power: exact (wrapping) by repeated squaring for exponents >= 0; a negative exponent
// goes through double like a floating exponent, truncated toward zero (2^-1 -> 0, (-1)^-3 -> -1).
template <typename T>
T integer_power(T base, double exponent_as_double, bool exponent_is_nonnegative_int, uint64_t exponent) {
  if (!exponent_is_nonnegative_int)
    return saturating_truncate<T>(std::pow(static_cast<double>(base), exponent_as_double));
  T result = 1;
  while (exponent) {
    if (exponent & 1) result = wrap_mul(result, base);
    base = wrap_mul(base, base);
    exponent >>= 1;
  }
  return result;
}

template <typename CB, typename CE>
CB power(CB x, CE e) {
  if constexpr (std::is_floating_point_v<CB>) {
    // double keeps float32 results correctly rounded for the common x^2 and x^0.5
    return static_cast<CB>(std::pow(static_cast<double>(x), static_cast<double>(e)));
  } else if constexpr (std::is_integral_v<CE>) {
    bool nonnegative = true;
    if constexpr (std::is_signed_v<CE>) nonnegative = e >= 0;
    return integer_power<CB>(x, static_cast<double>(e), nonnegative, nonnegative ? static_cast<uint64_t>(e) : 0);
  } else {
    return saturating_truncate<CB>(std::pow(static_cast<double>(x), static_cast<double>(e)));
  }
}

void pow_reference(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  bool ok = dispatch<kNumeric>(a.dtype(), [&](auto base_tag) {
    using SB = typename decltype(base_tag)::type;
    using CB = typename Num<SB>::C;
    bool ok_exponent = dispatch<kNumeric>(b.dtype(), [&](auto exponent_tag) {
      using SE = typename decltype(exponent_tag)::type;
      using CE = typename Num<SE>::C;
      binary_apply<SB, SE, SB>(a, b, ctx.out(0), [](CB x, CE e) { return power<CB, CE>(x, e); });
    });
    if (!ok_exponent) fail_dtype(ctx, 1, b.dtype(), kNumeric);
  });
  if (!ok) fail_dtype(ctx, 0, a.dtype(), kNumeric);
}

// ---- variadic: Sum, Mean, Max, Min ---------------------------------------------------------------------------
enum class VariadicOp { kSum, kMean, kMax, kMin };

template <VariadicOp Op>
constexpr unsigned variadic_types() {
  return Op == VariadicOp::kMean ? kFloats : kNumeric;  // a mean of integers has no rounding rule in ONNX
}

template <VariadicOp Op>
void infer_variadic(InferContext& ctx) {
  infer_same_type_broadcast<variadic_types<Op>()>(ctx);
}

template <typename C>
C max_of(C x, C y) {
  if constexpr (std::is_floating_point_v<C>) {
    if (std::isnan(x) || std::isnan(y)) return std::numeric_limits<C>::quiet_NaN();  // like numpy.maximum
  }
  return x < y ? y : x;
}
template <typename C>
C min_of(C x, C y) {
  if constexpr (std::is_floating_point_v<C>) {
    if (std::isnan(x) || std::isnan(y)) return std::numeric_limits<C>::quiet_NaN();
  }
  return y < x ? y : x;
}

template <VariadicOp Op>
void variadic_reference(KernelContext& ctx) {
  constexpr unsigned kTypes = variadic_types<Op>();
  Tensor& out = ctx.out(0);
  const size_t count = ctx.inputs.size();
  bool ok = dispatch<kTypes>(ctx.in(0).dtype(), [&](auto tag) {
    using S = typename decltype(tag)::type;
    using C = typename Num<S>::C;
    // Accumulate in the compute type so that float16 sums round once, not once per input.
    std::vector<C> acc(static_cast<size_t>(out.numel()));
    for (size_t k = 0; k < count; ++k) {
      const Tensor& in = ctx.in(k);
      const S* p = in.data<S>();
      broadcast_loop<1>(out.dims(), {&in.dims()}, [&](int64_t o, const std::array<int64_t, 1>& off) {
        C v = Num<S>::load(p[off[0]]);
        C& r = acc[static_cast<size_t>(o)];
        if (k == 0) {
          r = v;
        } else if constexpr (Op == VariadicOp::kMax) {
          r = max_of(r, v);
        } else if constexpr (Op == VariadicOp::kMin) {
          r = min_of(r, v);
        } else if constexpr (std::is_integral_v<C>) {
          r = wrap_add(r, v);
        } else {
          r = r + v;
        }
      });
    }
    S* po = out.data<S>();
    for (int64_t i = 0; i < out.numel(); ++i) {
      C v = acc[static_cast<size_t>(i)];
      if constexpr (Op == VariadicOp::kMean) v = v / static_cast<C>(count);
      po[i] = Num<S>::store(v);
    }
  });
  if (!ok) fail_dtype(ctx, 0, ctx.in(0).dtype(), kTypes);
}

}  // namespace

NORMRT_REGISTER_OP("", "Add", infer_binary, arithmetic_reference<BinaryOp::kAdd>);
NORMRT_REGISTER_OP("", "Sub", infer_binary, arithmetic_reference<BinaryOp::kSub>);
NORMRT_REGISTER_OP("", "Mul", infer_binary, arithmetic_reference<BinaryOp::kMul>);
NORMRT_REGISTER_OP("", "Div", infer_binary, arithmetic_reference<BinaryOp::kDiv>);
NORMRT_REGISTER_OP("", "Pow", infer_pow, pow_reference);
NORMRT_REGISTER_OP("", "Mod", infer_mod, mod_reference);
NORMRT_REGISTER_OP("", "Sum", infer_variadic<VariadicOp::kSum>, variadic_reference<VariadicOp::kSum>);
NORMRT_REGISTER_OP("", "Mean", infer_variadic<VariadicOp::kMean>, variadic_reference<VariadicOp::kMean>);
NORMRT_REGISTER_OP("", "Max", infer_variadic<VariadicOp::kMax>, variadic_reference<VariadicOp::kMax>);
NORMRT_REGISTER_OP("", "Min", infer_variadic<VariadicOp::kMin>, variadic_reference<VariadicOp::kMin>);

}  // namespace normrt
