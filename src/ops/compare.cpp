// Comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual -> bool), logic (And, Or, Xor on bool) and
// Where, all with numpy multidirectional broadcasting. Semantics are the same in opsets 11 to 21; later versions
// only widened the type lists (LessOrEqual and GreaterOrEqual appeared in 12 and are accepted at 11 too).
// Equal on strings (opset 19) is not supported: normrt tensors hold no strings.
#include <array>
#include <cmath>
#include <cstring>
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

// ---- comparisons and logic ------------------------------------------------------------------------------------
template <unsigned Set>
void infer_binary_to_bool(InferContext& ctx) {
  if (ctx.num_inputs() != 2) ctx.fail("needs 2 inputs, has " + std::to_string(ctx.num_inputs()));
  if ((type_class(ctx.dtype(0)) & Set) == 0) fail_dtype(ctx, 0, ctx.dtype(0), Set);
  if (ctx.dtype(1) != ctx.dtype(0))
    ctx.fail(std::string("input 1 has type ") + dtype_name(ctx.dtype(1)) + " but input 0 has " +
             dtype_name(ctx.dtype(0)) + "; " + ctx.node.op_type + " needs inputs of one type");
  ctx.set_output(0, DataType::kBool, broadcast_shapes(ctx, {ctx.shape(0), ctx.shape(1)}));
}

// out[i] = Op{}(a[.], b[.]) as bool. Comparisons with NaN are false (Equal too), as in IEEE and numpy.
template <unsigned Set, typename Op>
void binary_to_bool_reference(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  Tensor& out = ctx.out(0);
  bool ok = dispatch<Set>(a.dtype(), [&](auto tag) {
    using S = typename decltype(tag)::type;
    const S* pa = a.data<S>();
    const S* pb = b.data<S>();
    uint8_t* po = out.data<uint8_t>();
    const Op op;
    broadcast_loop<2>(out.dims(), {&a.dims(), &b.dims()}, [&](int64_t o, const std::array<int64_t, 2>& off) {
      po[o] = op(Num<S>::load(pa[off[0]]), Num<S>::load(pb[off[1]])) ? 1 : 0;
    });
  });
  if (!ok) fail_dtype(ctx, 0, a.dtype(), Set);
}

struct EqualOp {
  template <typename C>
  bool operator()(C x, C y) const {
    return x == y;
  }
};
struct LessOp {
  template <typename C>
  bool operator()(C x, C y) const {
    return x < y;
  }
};
struct GreaterOp {
  template <typename C>
  bool operator()(C x, C y) const {
    return x > y;
  }
};
struct LessOrEqualOp {
  template <typename C>
  bool operator()(C x, C y) const {
    return x <= y;
  }
};
struct GreaterOrEqualOp {
  template <typename C>
  bool operator()(C x, C y) const {
    return x >= y;
  }
};
struct AndOp {
  bool operator()(bool x, bool y) const { return x && y; }
};
struct OrOp {
  bool operator()(bool x, bool y) const { return x || y; }
};
struct XorOp {
  bool operator()(bool x, bool y) const { return x != y; }
};

// ---- Where ------------------------------------------------------------------------------------------------------
void infer_where(InferContext& ctx) {
  if (ctx.num_inputs() != 3) ctx.fail("needs 3 inputs (condition, X, Y), has " + std::to_string(ctx.num_inputs()));
  if (ctx.dtype(0) != DataType::kBool)
    ctx.fail(std::string("condition (input 0) must be bool but is ") + dtype_name(ctx.dtype(0)));
  if (ctx.dtype(1) != ctx.dtype(2))
    ctx.fail(std::string("X (input 1) has type ") + dtype_name(ctx.dtype(1)) + " but Y (input 2) has " +
             dtype_name(ctx.dtype(2)) + "; they must match");
  if (dtype_size(ctx.dtype(1)) == 0) ctx.fail("X (input 1) has an undefined type");
  ctx.set_output(0, ctx.dtype(1), broadcast_shapes(ctx, {ctx.shape(0), ctx.shape(1), ctx.shape(2)}));
}

// Where only moves elements, so it works on raw words of the element size and supports every dtype.
template <typename Word>
void where_words(const Tensor& condition, const Tensor& x, const Tensor& y, Tensor& out) {
  const uint8_t* pc = condition.data<uint8_t>();
  const Word* px = static_cast<const Word*>(x.raw());
  const Word* py = static_cast<const Word*>(y.raw());
  Word* po = static_cast<Word*>(out.raw());
  broadcast_loop<3>(
      out.dims(), {&condition.dims(), &x.dims(), &y.dims()},
      [&](int64_t o, const std::array<int64_t, 3>& off) { po[o] = pc[off[0]] ? px[off[1]] : py[off[2]]; });
}

void where_reference(KernelContext& ctx) {
  const Tensor& condition = ctx.in(0);
  const Tensor& x = ctx.in(1);
  const Tensor& y = ctx.in(2);
  if (condition.dtype() != DataType::kBool)
    ctx.fail(std::string("condition (input 0) must be bool but is ") + dtype_name(condition.dtype()));
  if (x.dtype() != y.dtype() || x.dtype() != ctx.out(0).dtype())
    ctx.fail(std::string("X and Y must have one type; they are ") + dtype_name(x.dtype()) + " and " +
             dtype_name(y.dtype()));
  switch (dtype_size(x.dtype())) {
    case 1:
      where_words<uint8_t>(condition, x, y, ctx.out(0));
      return;
    case 2:
      where_words<uint16_t>(condition, x, y, ctx.out(0));
      return;
    case 4:
      where_words<uint32_t>(condition, x, y, ctx.out(0));
      return;
    case 8:
      where_words<uint64_t>(condition, x, y, ctx.out(0));
      return;
    default:
      ctx.fail(std::string("X has unsupported type ") + dtype_name(x.dtype()));
  }
}

constexpr unsigned kEqualTypes = kNumeric | kBool;

}  // namespace

NORMRT_REGISTER_OP("", "Equal", infer_binary_to_bool<kEqualTypes>, (binary_to_bool_reference<kEqualTypes, EqualOp>));
NORMRT_REGISTER_OP("", "Less", infer_binary_to_bool<kNumeric>, (binary_to_bool_reference<kNumeric, LessOp>));
NORMRT_REGISTER_OP("", "Greater", infer_binary_to_bool<kNumeric>, (binary_to_bool_reference<kNumeric, GreaterOp>));
NORMRT_REGISTER_OP("", "LessOrEqual", infer_binary_to_bool<kNumeric>,
                   (binary_to_bool_reference<kNumeric, LessOrEqualOp>));
NORMRT_REGISTER_OP("", "GreaterOrEqual", infer_binary_to_bool<kNumeric>,
                   (binary_to_bool_reference<kNumeric, GreaterOrEqualOp>));
NORMRT_REGISTER_OP("", "And", infer_binary_to_bool<kBool>, (binary_to_bool_reference<kBool, AndOp>));
NORMRT_REGISTER_OP("", "Or", infer_binary_to_bool<kBool>, (binary_to_bool_reference<kBool, OrOp>));
NORMRT_REGISTER_OP("", "Xor", infer_binary_to_bool<kBool>, (binary_to_bool_reference<kBool, XorOp>));
NORMRT_REGISTER_OP("", "Where", infer_where, where_reference);

}  // namespace normrt
