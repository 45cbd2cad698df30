// Cast and CastLike between every dtype of include/normrt/tensor.h (float32/64, float16, bfloat16, signed and
// unsigned 8..64-bit integers, bool).
//
// Conversion rules (ONNX leaves several of them to the implementation; these are normrt's, and tested):
//  - float -> integer truncates toward zero; NaN becomes 0 and values outside the target range saturate
//    (C++ leaves both undefined, and a runtime must not compute garbage).
//  - integer -> narrower integer wraps (two's complement), as numpy and ONNX Runtime do.
//  - anything -> bool is "!= 0" (NaN -> true); bool -> anything is 0 or 1.
//  - -> float16/bfloat16 rounds to nearest even (float64 goes through float32 first).
// Opset differences: opset 19 added the `saturate` attribute, which only affects float8 targets; opset 19 and
// 21 added float8, int4/uint4 and float4 types, which normrt does not support: casting to them fails naming the
// type. Strings (supported by ONNX Cast) are not normrt tensor types either.
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

constexpr unsigned kCastTypes = kNumeric | kBool;

// The ONNX TensorProto.DataType values normrt has no tensor type for.
const char* unsupported_type_name(int64_t onnx_type) {
  switch (onnx_type) {
    case 8:
      return "string";
    case 14:
      return "complex64";
    case 15:
      return "complex128";
    case 17:
      return "float8e4m3fn";
    case 18:
      return "float8e4m3fnuz";
    case 19:
      return "float8e5m2";
    case 20:
      return "float8e5m2fnuz";
    case 21:
      return "uint4";
    case 22:
      return "int4";
    case 23:
      return "float4e2m1";
    default:
      return nullptr;
  }
}

DataType cast_target(const InferContext& ctx) {
  const int64_t to = ctx.node.attr_int("to");
  if (const char* name = unsupported_type_name(to)) {
    std::string message = std::string("casting to ") + name + " (to=" + std::to_string(to) + ") is not supported";
    if (to >= 17 && to <= 20) message += "; normrt has no float8 types, so the saturate attribute has no effect either";
    ctx.fail(message + "; supported targets: " + type_list(kCastTypes));
  }
  if (to < 0 || to > std::numeric_limits<int32_t>::max() || !is_known_dtype(static_cast<int32_t>(to)) ||
      to == static_cast<int64_t>(DataType::kUndefined))
    ctx.fail("attribute to=" + std::to_string(to) + " is not an ONNX data type");
  return static_cast<DataType>(to);
}

void check_source(const InferContext& ctx) {
  if ((type_class(ctx.dtype(0)) & kCastTypes) == 0) fail_dtype(ctx, 0, ctx.dtype(0), kCastTypes);
}

void infer_cast(InferContext& ctx) {
  if (ctx.num_inputs() != 1) ctx.fail("needs 1 input, has " + std::to_string(ctx.num_inputs()));
  check_source(ctx);
  ctx.set_output(0, cast_target(ctx), ctx.shape(0));
}

void infer_cast_like(InferContext& ctx) {
  if (ctx.num_inputs() != 2) ctx.fail("needs 2 inputs (input, target_type), has " + std::to_string(ctx.num_inputs()));
  check_source(ctx);
  if ((type_class(ctx.dtype(1)) & kCastTypes) == 0) fail_dtype(ctx, 1, ctx.dtype(1), kCastTypes);
  ctx.set_output(0, ctx.dtype(1), ctx.shape(0));
}

// Float to integer: truncate toward zero, NaN -> 0, saturate outside the range.
template <typename T>
T saturating_truncate(double v) {
  if (std::isnan(v)) return 0;
  v = std::trunc(v);
  if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

// One element from compute type CS to compute type CD.
template <typename CD, typename CS>
CD convert(CS v) {
  if constexpr (std::is_same_v<CD, bool>) {
    return v != CS(0);
  } else if constexpr (std::is_integral_v<CD> && std::is_floating_point_v<CS>) {
    return saturating_truncate<CD>(static_cast<double>(v));
  } else {
    return static_cast<CD>(v);
  }
}

void cast_tensor(const KernelContext& ctx, const Tensor& in, Tensor& out) {
  if (in.dtype() == out.dtype()) {
    std::memcpy(out.raw(), in.raw(), in.nbytes());
    return;
  }
  bool ok_source = dispatch<kCastTypes>(in.dtype(), [&](auto source_tag) {
    using SS = typename decltype(source_tag)::type;
    bool ok_target = dispatch<kCastTypes>(out.dtype(), [&](auto target_tag) {
      using SD = typename decltype(target_tag)::type;
      using CD = typename Num<SD>::C;
      const SS* src = in.data<SS>();
      SD* dst = out.data<SD>();
      for (int64_t i = 0; i < in.numel(); ++i) dst[i] = Num<SD>::store(convert<CD>(Num<SS>::load(src[i])));
    });
    if (!ok_target) ctx.fail(std::string("cannot cast to ") + dtype_name(out.dtype()));
  });
  if (!ok_source) fail_dtype(ctx, 0, in.dtype(), kCastTypes);
}

void cast_reference(KernelContext& ctx) { cast_tensor(ctx, ctx.in(0), ctx.out(0)); }

}  // namespace

NORMRT_REGISTER_OP("", "Cast", infer_cast, cast_reference);
NORMRT_REGISTER_OP("", "CastLike", infer_cast_like, cast_reference);

}  // namespace normrt
