// Unary math: Sqrt, Erf, Exp, Log, Neg, Abs, Reciprocal, Floor, Ceil, Round, Sin, Cos, Not. Their semantics are
// the same in every opset from 11 to 21 (later versions only added bfloat16), so ctx.opset is not consulted.
// float16 and bfloat16 are computed in float32.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

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
