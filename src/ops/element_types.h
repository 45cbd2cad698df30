// The element types and dtype dispatch the elementwise op files share (elementwise, unary, activation,
// compare, cast): storage type S and compute type Num<S>::C (float16 and bfloat16 compute in float32, bool is
// stored as one byte), type classes for the ONNX type lists, dispatch from a DataType to its storage type, the
// error for a type an op does not take, and the numpy-broadcasting loop.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "ops/op.h"
#include "ops/shape_util.h"

namespace normrt {
namespace element {

struct Half {
  uint16_t bits;
};
struct BHalf {
  uint16_t bits;
};
struct Bool8 {
  uint8_t value;
};

inline float bfloat16_to_float(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t float_to_bfloat16(float f) {
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

inline unsigned type_class(DataType dtype) {
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

inline std::string type_list(unsigned set) {
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

}  // namespace element
}  // namespace normrt
