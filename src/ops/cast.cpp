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

#include "ops/element_types.h"
#include "ops/op.h"
#include "ops/shape_util.h"

namespace normrt {
namespace {

using namespace element;  // src/ops/element_types.h

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
