// Shape, Size, ConstantOfShape and Range: ops that make tensors out of shapes and numbers. Shape and Size give
// their value to the shape function whenever the dims they read are known, which lets the shape arithmetic of
// exported models (Shape -> Gather -> Concat -> Reshape) fold at build time.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "ops/op.h"
#include "ops/shape_util.h"

namespace normrt {
namespace {

// ---- Shape ---------------------------------------------------------------------------------------------------

// The [start, end) range of dims that Shape returns: everything before opset 15; from 15 the 'start' and 'end'
// attributes, negative counting from the back, clamped to [0, rank].
template <typename Ctx>
void shape_range(const Ctx& ctx, int64_t rank, int64_t* start, int64_t* end) {
  const bool has_range = ctx.node.has_attribute("start") || ctx.node.has_attribute("end");
  if (has_range && ctx.opset < 15)
    ctx.fail("attributes 'start'/'end' need opset 15; the model's opset is " + std::to_string(ctx.opset));
  *start = ctx.node.attr_int("start", 0);
  *end = ctx.node.attr_int("end", rank);
  for (int64_t* p : {start, end}) {
    if (*p < 0) *p += rank;
    *p = std::clamp<int64_t>(*p, 0, rank);
  }
  if (*end < *start) *end = *start;
}

void infer_shape(InferContext& ctx) {
  const Shape& in = ctx.shape(0);
  if (!in.has_rank) {
    int64_t start = 0, end = 0;
    shape_range(ctx, 0, &start, &end);  // checks the opset
    ctx.set_output(0, DataType::kInt64, Shape({Dim::unknown()}));
    return;
  }
  int64_t start = 0, end = 0;
  shape_range(ctx, static_cast<int64_t>(in.rank()), &start, &end);
  Tensor value(DataType::kInt64, {end - start});
  for (int64_t a = start; a < end; ++a) {
    if (!in.dims[a].known()) {
      ctx.set_output(0, DataType::kInt64, Shape({Dim(end - start)}));
      return;
    }
    value.data<int64_t>()[a - start] = in.dims[a].value;
  }
  ctx.set_output_value(0, std::move(value));
}

void shape_reference(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  int64_t start = 0, end = 0;
  shape_range(ctx, static_cast<int64_t>(x.rank()), &start, &end);
  for (int64_t a = start; a < end; ++a) ctx.out(0).data<int64_t>()[a - start] = x.dims()[a];
}

// ---- Size ----------------------------------------------------------------------------------------------------

void infer_size(InferContext& ctx) {
  const Shape& in = ctx.shape(0);
  if (!in.fully_known()) {
    ctx.set_output(0, DataType::kInt64, Shape(std::vector<Dim>{}));
    return;
  }
  Tensor value(DataType::kInt64, {});
  value.data<int64_t>()[0] = element_count(in.concrete());
  ctx.set_output_value(0, std::move(value));
}

void size_reference(KernelContext& ctx) { ctx.out(0).data<int64_t>()[0] = ctx.in(0).numel(); }

// ---- ConstantOfShape -----------------------------------------------------------------------------------------

// The fill value: the 'value' attribute (a one-element tensor of any type), float32 0 by default.
template <typename Ctx>
Tensor fill_value(const Ctx& ctx) {
  if (!ctx.node.has_attribute("value")) return Tensor(DataType::kFloat32, {1});
  const Tensor& t = ctx.node.attr_tensor("value");
  if (t.empty() || t.numel() != 1)
    ctx.fail("attribute 'value' must be a tensor of one element but has shape " + dims_to_string(t.dims()));
  return t;
}

void infer_constant_of_shape(InferContext& ctx) {
  const DataType dtype = fill_value(ctx).dtype();
  const Shape& s = ctx.shape(0);
  if (s.has_rank && s.rank() != 1) ctx.fail("input 0 (shape) must be 1-D but has shape " + s.to_string());
  std::vector<int64_t> dims;
  if (!ctx.value_as_ints(0, &dims)) {
    if (s.has_rank && s.dims[0].known())
      ctx.set_output(0, dtype, Shape(std::vector<Dim>(s.dims[0].value, Dim::unknown())));
    else
      ctx.set_output(0, dtype, Shape());
    return;
  }
  for (int64_t d : dims)
    if (d < 0) ctx.fail("shape has a negative dim " + std::to_string(d));
  ctx.set_output(0, dtype, Shape::from_dims(dims));
}

void constant_of_shape_reference(KernelContext& ctx) {
  const Tensor value = fill_value(ctx);
  Tensor& y = ctx.out(0);
  if (y.dtype() != value.dtype()) ctx.fail("output type differs from the type of attribute 'value'");
  const size_t element = dtype_size(y.dtype());
  auto* dst = static_cast<unsigned char*>(y.raw());
  for (int64_t i = 0; i < y.numel(); ++i) std::memcpy(dst + i * element, value.raw(), element);
}

// ---- Range ---------------------------------------------------------------------------------------------------

bool is_range_dtype(DataType dtype) {
  return dtype == DataType::kFloat32 || dtype == DataType::kFloat64 || dtype == DataType::kInt16 ||
         dtype == DataType::kInt32 || dtype == DataType::kInt64;
}

bool is_integer(DataType dtype) {
  return dtype == DataType::kInt16 || dtype == DataType::kInt32 || dtype == DataType::kInt64;
}

int64_t integer_element(const Tensor& t) {
  switch (t.dtype()) {
    case DataType::kInt16: return t.data<int16_t>()[0];
    case DataType::kInt32: return t.data<int32_t>()[0];
    default: return t.data<int64_t>()[0];
  }
}

// Number of elements: max(ceil((limit - start) / delta), 0) (ONNX Range), exact for integer types.
template <typename Ctx>
int64_t range_count(const Ctx& ctx, const Tensor& start, const Tensor& limit, const Tensor& delta) {
  if (is_integer(start.dtype())) {
    const __int128 s = integer_element(start), l = integer_element(limit), d = integer_element(delta);
    if (d == 0) ctx.fail("delta is 0");
    const __int128 span = l - s;
    // Ceiling division for either sign of delta.
    __int128 count = span / d;
    if (span % d != 0 && ((span > 0) == (d > 0))) ++count;
    return count > 0 ? static_cast<int64_t>(count) : 0;
  }
  const double s = element_as_double(start, 0), l = element_as_double(limit, 0), d = element_as_double(delta, 0);
  if (d == 0) ctx.fail("delta is 0");
  const double count = std::ceil((l - s) / d);
  if (!std::isfinite(count))
    ctx.fail("the number of elements is not finite (start " + std::to_string(s) + ", limit " + std::to_string(l) +
             ", delta " + std::to_string(d) + ")");
  if (count > 9e18) ctx.fail("the number of elements " + std::to_string(count) + " is too large");
  return count > 0 ? static_cast<int64_t>(count) : 0;
}

template <typename Ctx>
void check_range_input(const Ctx& ctx, size_t i, DataType dtype, DataType first, const Shape& shape) {
  static const char* kNames[] = {"start", "limit", "delta"};
  if (!is_range_dtype(dtype))
    ctx.fail(std::string("input '") + kNames[i] + "' is " + dtype_name(dtype) +
             "; Range supports float32, float64, int16, int32 and int64");
  if (dtype != first)
    ctx.fail(std::string("input '") + kNames[i] + "' is " + dtype_name(dtype) + " but 'start' is " + dtype_name(first));
  // A scalar; a one-element 1-D tensor is accepted too, as ONNX Runtime does.
  if (shape.has_rank && (shape.rank() > 1 || (shape.rank() == 1 && shape.dims[0].known() && shape.dims[0].value != 1)))
    ctx.fail(std::string("input '") + kNames[i] + "' must be a scalar but has shape " + shape.to_string());
}

void infer_range(InferContext& ctx) {
  const DataType dtype = ctx.dtype(0);
  for (size_t i = 0; i < 3; ++i) check_range_input(ctx, i, ctx.dtype(i), dtype, ctx.shape(i));
  if (ctx.value(0) && ctx.value(1) && ctx.value(2)) {
    const int64_t count = range_count(ctx, *ctx.value(0), *ctx.value(1), *ctx.value(2));
    ctx.set_output(0, dtype, Shape({Dim(count)}));
    return;
  }
  ctx.set_output(0, dtype, Shape({Dim::unknown()}));
}

void range_reference(KernelContext& ctx) {
  const Tensor &start = ctx.in(0), &limit = ctx.in(1), &delta = ctx.in(2);
  for (size_t i = 0; i < 3; ++i)
    check_range_input(ctx, i, ctx.in(i).dtype(), start.dtype(), Shape::from_dims(ctx.in(i).dims()));
  Tensor& y = ctx.out(0);
  const int64_t count = range_count(ctx, start, limit, delta);
  if (y.numel() != count)
    ctx.fail("output has " + std::to_string(y.numel()) + " elements, expected " + std::to_string(count));
  // output[i] = start + i * delta (the spec's definition), exact for integers.
  if (is_integer(y.dtype())) {
    // In 128 bits: start + i * delta stays between start and limit, so it fits the type, but i * delta
    // alone may not.
    const __int128 s = integer_element(start), d = integer_element(delta);
    for (int64_t i = 0; i < count; ++i) {
      const int64_t v = static_cast<int64_t>(s + i * d);
      switch (y.dtype()) {
        case DataType::kInt16: y.data<int16_t>()[i] = static_cast<int16_t>(v); break;
        case DataType::kInt32: y.data<int32_t>()[i] = static_cast<int32_t>(v); break;
        default: y.data<int64_t>()[i] = v; break;
      }
    }
    return;
  }
  const double s = element_as_double(start, 0), d = element_as_double(delta, 0);
  for (int64_t i = 0; i < count; ++i) set_element_from_double(y, i, s + static_cast<double>(i) * d);
}

}  // namespace

NORMRT_REGISTER_OP("", "Shape", infer_shape, shape_reference);
NORMRT_REGISTER_OP("", "Size", infer_size, size_reference);
NORMRT_REGISTER_OP("", "ConstantOfShape", infer_constant_of_shape, constant_of_shape_reference);
NORMRT_REGISTER_OP("", "Range", infer_range, range_reference);

}  // namespace normrt
