#include "ops/shape_util.h"

#include <cmath>
#include <cstring>

namespace normrt {

Shape broadcast_shapes(const InferContext& ctx, const std::vector<Shape>& shapes) {
  size_t rank = 0;
  for (const Shape& s : shapes) {
    if (!s.has_rank) return Shape();
    rank = std::max(rank, s.rank());
  }
  std::vector<Dim> out(rank, Dim(1));
  for (size_t axis = 0; axis < rank; ++axis) {
    bool have = false;
    Dim result(1);
    for (const Shape& s : shapes) {
      size_t offset = rank - s.rank();
      if (axis < offset) continue;
      const Dim& d = s.dims[axis - offset];
      if (d.known() && d.value == 1) continue;
      if (!have) {
        result = d;
        have = true;
      } else if (d.known() && result.known()) {
        if (d.value != result.value)
          ctx.fail("cannot broadcast dimension " + std::to_string(result.value) + " with " + std::to_string(d.value));
      } else if (!result.known() && d.known()) {
        result = d;  // an unknown dim must match the known one (or be 1, which broadcasting allows)
      } else if (!result.known() && !d.known() && result.symbol != d.symbol) {
        result = Dim::unknown();
      }
    }
    out[axis] = result;
  }
  return Shape(out);
}

Dims broadcast_dims(const std::vector<Dims>& dims) {
  size_t rank = 0;
  for (const Dims& d : dims) rank = std::max(rank, d.size());
  Dims out(rank, 1);
  for (const Dims& d : dims) {
    size_t offset = rank - d.size();
    for (size_t i = 0; i < d.size(); ++i) {
      int64_t& o = out[offset + i];
      if (d[i] == 1) continue;
      if (o == 1) o = d[i];
      else if (o != d[i])
        throw Error(ErrorCode::kShapeError, "cannot broadcast shapes: dimension " + std::to_string(o) + " vs " +
                                                std::to_string(d[i]));
    }
  }
  return out;
}

namespace {
template <typename Ctx>
int64_t normalize_axis_impl(const Ctx& ctx, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
    ctx.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}
}  // namespace

int64_t normalize_axis(const InferContext& ctx, int64_t axis, int64_t rank) { return normalize_axis_impl(ctx, axis, rank); }
int64_t normalize_axis(const KernelContext& ctx, int64_t axis, int64_t rank) { return normalize_axis_impl(ctx, axis, rank); }

std::vector<int64_t> strides_of(const Dims& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) s[i - 1] = s[i] * dims[i];
  return s;
}

std::vector<int64_t> broadcast_strides(const Dims& dims, const Dims& out) {
  std::vector<int64_t> s(out.size(), 0);
  std::vector<int64_t> own = strides_of(dims);
  size_t offset = out.size() - dims.size();
  for (size_t i = 0; i < dims.size(); ++i) s[offset + i] = dims[i] == 1 ? 0 : own[i];
  return s;
}

float half_to_float(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff, bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      exponent = 127 - 15 + 1;
      while (!(mantissa & 0x400)) {
        mantissa <<= 1;
        --exponent;
      }
      bits = sign | (exponent << 23) | ((mantissa & 0x3ff) << 13);
    }
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_half(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  uint32_t sign = (bits >> 16) & 0x8000u;
  uint32_t exponent = (bits >> 23) & 0xff;
  uint32_t mantissa = bits & 0x7fffff;
  if (exponent == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mantissa ? 0x200u : 0));
  int32_t e = static_cast<int32_t>(exponent) - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  if (e <= 0) {
    if (e < -10) return static_cast<uint16_t>(sign);
    mantissa |= 0x800000u;
    uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t half_mantissa = mantissa >> shift;
    uint32_t remainder = mantissa & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (remainder > halfway || (remainder == halfway && (half_mantissa & 1))) ++half_mantissa;
    return static_cast<uint16_t>(sign | half_mantissa);
  }
  uint32_t half = sign | (static_cast<uint32_t>(e) << 10) | (mantissa >> 13);
  uint32_t remainder = mantissa & 0x1fff;
  if (remainder > 0x1000 || (remainder == 0x1000 && (half & 1))) ++half;  // round to nearest even
  return static_cast<uint16_t>(half);
}

double element_as_double(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kFloat32: return t.data<float>()[i];
    case DataType::kFloat64: return t.data<double>()[i];
    case DataType::kFloat16: return half_to_float(t.data<uint16_t>()[i]);
    case DataType::kBFloat16: {
      uint32_t bits = static_cast<uint32_t>(t.data<uint16_t>()[i]) << 16;
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    }
    case DataType::kInt64: return static_cast<double>(t.data<int64_t>()[i]);
    case DataType::kInt32: return t.data<int32_t>()[i];
    case DataType::kInt16: return t.data<int16_t>()[i];
    case DataType::kInt8: return t.data<int8_t>()[i];
    case DataType::kUInt8: return t.data<uint8_t>()[i];
    case DataType::kUInt16: return t.data<uint16_t>()[i];
    case DataType::kUInt32: return t.data<uint32_t>()[i];
    case DataType::kUInt64: return static_cast<double>(t.data<uint64_t>()[i]);
    case DataType::kBool: return t.data<uint8_t>()[i] ? 1.0 : 0.0;
    case DataType::kUndefined: break;
  }
  throw Error(ErrorCode::kInternal, "element_as_double: undefined tensor");
}

void set_element_from_double(Tensor& t, int64_t i, double v) {
  switch (t.dtype()) {
    case DataType::kFloat32: t.data<float>()[i] = static_cast<float>(v); return;
    case DataType::kFloat64: t.data<double>()[i] = v; return;
    case DataType::kFloat16: t.data<uint16_t>()[i] = float_to_half(static_cast<float>(v)); return;
    case DataType::kBFloat16: {
      float f = static_cast<float>(v);
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      bits += 0x7fff + ((bits >> 16) & 1);  // round to nearest even
      t.data<uint16_t>()[i] = static_cast<uint16_t>(bits >> 16);
      return;
    }
    case DataType::kInt64: t.data<int64_t>()[i] = static_cast<int64_t>(v); return;
    case DataType::kInt32: t.data<int32_t>()[i] = static_cast<int32_t>(v); return;
    case DataType::kInt16: t.data<int16_t>()[i] = static_cast<int16_t>(v); return;
    case DataType::kInt8: t.data<int8_t>()[i] = static_cast<int8_t>(v); return;
    case DataType::kUInt8: t.data<uint8_t>()[i] = static_cast<uint8_t>(v); return;
    case DataType::kUInt16: t.data<uint16_t>()[i] = static_cast<uint16_t>(v); return;
    case DataType::kUInt32: t.data<uint32_t>()[i] = static_cast<uint32_t>(v); return;
    case DataType::kUInt64: t.data<uint64_t>()[i] = static_cast<uint64_t>(v); return;
    case DataType::kBool: t.data<uint8_t>()[i] = v != 0.0; return;
    case DataType::kUndefined: break;
  }
  throw Error(ErrorCode::kInternal, "set_element_from_double: undefined tensor");
}

std::vector<double> to_doubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  if (t.dtype() == DataType::kFloat32) {
    const float* p = t.data<float>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = p[i];
  } else {
    for (size_t i = 0; i < v.size(); ++i) v[i] = element_as_double(t, static_cast<int64_t>(i));
  }
  return v;
}

void from_doubles(const std::vector<double>& v, Tensor& t) {
  if (t.dtype() == DataType::kFloat32) {
    float* p = t.data<float>();
    for (size_t i = 0; i < v.size(); ++i) p[i] = static_cast<float>(v[i]);
  } else {
    for (size_t i = 0; i < v.size(); ++i) set_element_from_double(t, static_cast<int64_t>(i), v[i]);
  }
}

void require_residual_like_output(const InferContext& ctx, size_t input, const std::string& what) {
  const TypeShape& y = ctx.outputs.at(0);
  if (ctx.dtype(input) != y.dtype)
    ctx.fail(what + " has type " + dtype_name(ctx.dtype(input)) + " but Y has type " + dtype_name(y.dtype));
  const Shape& r = ctx.shape(input);
  bool same = !y.shape.has_rank || !r.has_rank || y.shape.rank() == r.rank();
  for (size_t d = 0; same && y.shape.has_rank && r.has_rank && d < r.rank(); ++d)
    same = !y.shape.dims[d].known() || !r.dims[d].known() || y.shape.dims[d].value == r.dims[d].value;
  if (!same) ctx.fail(what + " " + r.to_string() + " must have Y's shape " + y.shape.to_string() + " (no broadcasting)");
}

}  // namespace normrt
