// Binary arithmetic with numpy multidirectional broadcasting (Add, Sub, Mul, Div, Pow, Mod) and the variadic
// elementwise ops (Sum, Mean, Max, Min). The semantics are the same in every opset from 11 to 21; later opsets
// only widened the type lists, and normrt accepts the widest list at every opset.
//
// Integer arithmetic wraps (two's complement), integer Div truncates toward zero like C and ONNX Runtime, and
// an integer division or modulo by zero is an error naming the node instead of undefined behaviour.
// float16 and bfloat16 are computed in float32 and rounded once per result.
//
// The element-type block below (storage/compute types and the dtype dispatch) is repeated at the top of each
// elementwise op file because the family owns no shared header; it belongs in one (src/ops/element_types.h).
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/op.h"
#include "ops/shape_util.h"

namespace normrt {
namespace {

// ---- element types: storage type S, compute type Num<S>::C ------------------------------------------------
// The same small block opens each elementwise op file (elementwise, unary, activation, compare, cast); see the
// note in src/ops/elementwise.cpp.
struct Half {
  uint16_t bits;
};
struct BHalf {
  uint16_t bits;
};
struct Bool8 {
  uint8_t value;
};

float bfloat16_to_float(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_bfloat16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if (std::isnan(f)) return static_cast<uint16_t>((bits >> 16) | 0x40);  // stay a (quiet) NaN
  bits += 0x7fff + ((bits >> 16) & 1);                                   // round to nearest even
  return static_cast<uint16_t>(bits >> 16);
}

template <typename S>
struct Num {
  using C = S;
  static C load(S s) { return s; }
  static S store(C c) { return c; }
};
template <>
struct Num<Half> {
  using C = float;
  static float load(Half h) { return half_to_float(h.bits); }
  static Half store(float f) { return Half{float_to_half(f)}; }
};
template <>
struct Num<BHalf> {
  using C = float;
  static float load(BHalf h) { return bfloat16_to_float(h.bits); }
  static BHalf store(float f) { return BHalf{float_to_bfloat16(f)}; }
};
template <>
struct Num<Bool8> {
  using C = bool;
  static bool load(Bool8 b) { return b.value != 0; }
  static Bool8 store(bool b) { return Bool8{static_cast<uint8_t>(b ? 1 : 0)}; }
};

template <typename T>
struct Tag {
  using type = T;
};

enum TypeClass : unsigned { kFloats = 1, kSignedInts = 2, kUnsignedInts = 4, kBool = 8 };
constexpr unsigned kInts = kSignedInts | kUnsignedInts;
constexpr unsigned kNumeric = kFloats | kInts;

unsigned type_class(DataType dtype) {
  switch (dtype) {
    case DataType::kFloat32:
    case DataType::kFloat64:
    case DataType::kFloat16:
    case DataType::kBFloat16:
      return kFloats;
    case DataType::kInt8:
    case DataType::kInt16:
    case DataType::kInt32:
    case DataType::kInt64:
      return kSignedInts;
    case DataType::kUInt8:
    case DataType::kUInt16:
    case DataType::kUInt32:
    case DataType::kUInt64:
      return kUnsignedInts;
    case DataType::kBool:
      return kBool;
    default:
      return 0;
  }
}

std::string type_list(unsigned set) {
  std::string s;
  auto add = [&](const char* names) { s += s.empty() ? names : std::string(", ") + names; };
  if (set & kFloats) add("float32, float64, float16, bfloat16");
  if (set & kSignedInts) add("int8, int16, int32, int64");
  if (set & kUnsignedInts) add("uint8, uint16, uint32, uint64");
  if (set & kBool) add("bool");
  return s;
}

// Calls fn(Tag<S>) when the type class Class is in Set; compiles to nothing otherwise.
template <unsigned Set, unsigned Class, typename S, typename Fn>
bool call_if(Fn& fn) {
  if constexpr ((Set & Class) != 0) {
    fn(Tag<S>{});
    return true;
  } else {
    return false;
  }
}

// Calls fn(Tag<S>{}) for the storage type S of dtype when dtype is in Set; returns whether it did.
template <unsigned Set, typename Fn>
bool dispatch(DataType dtype, Fn&& fn) {
  switch (dtype) {
    case DataType::kFloat32:
      return call_if<Set, kFloats, float>(fn);
    case DataType::kFloat64:
      return call_if<Set, kFloats, double>(fn);
    case DataType::kFloat16:
      return call_if<Set, kFloats, Half>(fn);
    case DataType::kBFloat16:
      return call_if<Set, kFloats, BHalf>(fn);
    case DataType::kInt8:
      return call_if<Set, kSignedInts, int8_t>(fn);
    case DataType::kInt16:
      return call_if<Set, kSignedInts, int16_t>(fn);
    case DataType::kInt32:
      return call_if<Set, kSignedInts, int32_t>(fn);
    case DataType::kInt64:
      return call_if<Set, kSignedInts, int64_t>(fn);
    case DataType::kUInt8:
      return call_if<Set, kUnsignedInts, uint8_t>(fn);
    case DataType::kUInt16:
      return call_if<Set, kUnsignedInts, uint16_t>(fn);
    case DataType::kUInt32:
      return call_if<Set, kUnsignedInts, uint32_t>(fn);
    case DataType::kUInt64:
      return call_if<Set, kUnsignedInts, uint64_t>(fn);
    case DataType::kBool:
      return call_if<Set, kBool, Bool8>(fn);
    default:
      return false;
  }
}

template <typename Ctx>
[[noreturn]] void fail_dtype(const Ctx& ctx, size_t input, DataType dtype, unsigned set) {
  ctx.fail("input " + std::to_string(input) + " has type " + dtype_name(dtype) + ", which " + ctx.node.op_type +
           " does not support; supported: " + type_list(set));
}

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

// ---- broadcasting loop ---------------------------------------------------------------------------------------
// Calls fn(out_index, offsets) for every element of `out`, where offsets[k] indexes input k (of dims *ins[k])
// seen through numpy broadcasting. The innermost axis runs as a tight strided loop.
template <size_t N, typename Fn>
void broadcast_loop(const Dims& out, const std::array<const Dims*, N>& ins, Fn&& fn) {
  const int64_t total = element_count(out);
  if (total == 0) return;
  const size_t rank = out.size();
  if (rank == 0) {
    fn(int64_t{0}, std::array<int64_t, N>{});
    return;
  }
  std::array<std::vector<int64_t>, N> strides;
  std::array<int64_t, N> inner_stride{}, base{};
  for (size_t k = 0; k < N; ++k) {
    strides[k] = broadcast_strides(*ins[k], out);
    inner_stride[k] = strides[k][rank - 1];
  }
  const int64_t inner = out[rank - 1];
  std::vector<int64_t> index(rank - 1, 0);
  for (int64_t o = 0; o < total; o += inner) {
    std::array<int64_t, N> offsets = base;
    for (int64_t j = 0; j < inner; ++j) {
      fn(o + j, offsets);
      for (size_t k = 0; k < N; ++k) offsets[k] += inner_stride[k];
    }
    for (size_t axis = rank - 1; axis-- > 0;) {
      ++index[axis];
      for (size_t k = 0; k < N; ++k) base[k] += strides[k][axis];
      if (index[axis] < out[axis]) break;
      for (size_t k = 0; k < N; ++k) base[k] -= strides[k][axis] * index[axis];
      index[axis] = 0;
    }
  }
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
