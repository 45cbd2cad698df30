// Expand and Tile: ops that repeat a tensor's elements. Expand broadcasts the input against a shape in both
// directions (a 1 in the shape keeps the input dim); Tile repeats the whole tensor along each axis. Both are a
// walk over the output reading input element (index mapped per axis), by element size, so every dtype works.
#include <string>
#include <vector>

#include "ops/op.h"
#include "ops/shape_util.h"

namespace normrt {
namespace {

std::string ints_to_string(const std::vector<int64_t>& values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) s += (i ? "," : "") + std::to_string(values[i]);
  return s + "]";
}

// Copies out[linear] = in[offset(linear)] where offset advances by in_strides[axis] along each output axis
// (0 where an axis is broadcast) and wraps modulo in_dims[axis] (for Tile; in_dims == out dims for Expand).
template <typename T>
void repeat_typed(const Tensor& in, Tensor& out, const std::vector<int64_t>& in_strides, const Dims& wrap) {
  const T* src = in.data<T>();
  T* dst = out.data<T>();
  const Dims& dims = out.dims();
  const size_t rank = dims.size();
  if (out.numel() == 0) return;
  // index[axis] is the output position, index[rank + axis] the same modulo wrap[axis].
  std::vector<int64_t> counters(2 * rank + 1, 0);
  int64_t* index = counters.data();
  int64_t* wrapped = counters.data() + rank;
  int64_t offset = 0;
  for (int64_t linear = 0; linear < out.numel(); ++linear) {
    dst[linear] = src[offset];
    for (size_t axis = rank; axis-- > 0;) {
      ++index[axis];
      if (++wrapped[axis] == wrap[axis]) {
        offset -= in_strides[axis] * (wrapped[axis] - 1);
        wrapped[axis] = 0;
      } else {
        offset += in_strides[axis];
      }
      if (index[axis] < dims[axis]) break;
      offset -= in_strides[axis] * wrapped[axis];
      index[axis] = 0;
      wrapped[axis] = 0;
    }
  }
}

template <typename Ctx>
void repeat(const Ctx& ctx, const Tensor& in, Tensor& out, const std::vector<int64_t>& in_strides, const Dims& wrap) {
  switch (dtype_size(in.dtype())) {
    case 1: return repeat_typed<uint8_t>(in, out, in_strides, wrap);
    case 2: return repeat_typed<uint16_t>(in, out, in_strides, wrap);
    case 4: return repeat_typed<uint32_t>(in, out, in_strides, wrap);
    case 8: return repeat_typed<uint64_t>(in, out, in_strides, wrap);
    default: ctx.fail(std::string("data type ") + dtype_name(in.dtype()) + " is not supported");
  }
}

// Input 1 of Expand and Tile: a 1-D int64 tensor (shape or repeats).
bool int_vector_input(const InferContext& ctx, size_t i, const char* name, std::vector<int64_t>* values,
                      int64_t* count) {
  const Shape& s = ctx.shape(i);
  if (s.has_rank && s.rank() != 1)
    ctx.fail("input " + std::to_string(i) + " (" + name + ") must be 1-D but has shape " + s.to_string());
  *count = s.has_rank && s.dims[0].known() ? s.dims[0].value : -1;
  return ctx.value_as_ints(i, values);
}

std::vector<int64_t> tensor_ints(const KernelContext& ctx, const Tensor& t, const char* name) {
  if (t.dtype() != DataType::kInt64 && t.dtype() != DataType::kInt32)
    ctx.fail(std::string("input '") + name + "' must be int64 but is " + dtype_name(t.dtype()));
  if (t.rank() != 1)
    ctx.fail(std::string("input '") + name + "' must be 1-D but has shape " + dims_to_string(t.dims()));
  std::vector<int64_t> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i)
    v[i] = t.dtype() == DataType::kInt64 ? t.data<int64_t>()[i] : t.data<int32_t>()[i];
  return v;
}

// ---- Expand --------------------------------------------------------------------------------------------------

void infer_expand(InferContext& ctx) {
  const Shape& in = ctx.shape(0);
  std::vector<int64_t> target;
  int64_t count = -1;
  if (!int_vector_input(ctx, 1, "shape", &target, &count)) {
    // Unknown target: each output dim is the input dim if that is known > 1 (the target must then be 1 or
    // equal), else unknown.
    if (!in.has_rank || count < 0) {
      ctx.set_output(0, ctx.dtype(0), Shape());
      return;
    }
    ctx.set_output(0, ctx.dtype(0), broadcast_shapes(ctx, {in, Shape(std::vector<Dim>(count, Dim::unknown()))}));
    return;
  }
  for (int64_t v : target)
    if (v < 0) ctx.fail("shape " + ints_to_string(target) + " has a negative dim");
  if (!in.has_rank) {
    ctx.set_output(0, ctx.dtype(0), Shape());
    return;
  }
  std::vector<Dim> target_dims(target.begin(), target.end());
  const size_t rank = std::max(in.rank(), target_dims.size());
  for (size_t a = 0; a < rank; ++a) {
    // Report incompatible known dims in Expand's terms before broadcast_shapes does in general ones.
    if (a + in.rank() < rank || a + target_dims.size() < rank) continue;
    const Dim &d = in.dims[a + in.rank() - rank], &t = target_dims[a + target_dims.size() - rank];
    if (d.known() && d.value != 1 && t.value != 1 && d.value != t.value)
      ctx.fail("cannot expand input " + in.to_string() + " to shape " + ints_to_string(target) + ": dim " +
               std::to_string(d.value) + " is neither 1 nor " + std::to_string(t.value));
  }
  ctx.set_output(0, ctx.dtype(0), broadcast_shapes(ctx, {in, Shape(target_dims)}));
}

void expand_reference(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  tensor_ints(ctx, ctx.in(1), "shape");  // type check; the output shape already holds the result
  if (y.rank() < x.rank()) ctx.fail("output " + dims_to_string(y.dims()) + " has a lower rank than the input");
  for (size_t a = 0; a < x.rank(); ++a) {
    const int64_t d = x.dims()[a], o = y.dims()[a + y.rank() - x.rank()];
    if (d != 1 && d != o)
      ctx.fail("input " + dims_to_string(x.dims()) + " does not broadcast to " + dims_to_string(y.dims()));
  }
  repeat(ctx, x, y, broadcast_strides(x.dims(), y.dims()), y.dims());
}

// ---- Tile ----------------------------------------------------------------------------------------------------

void infer_tile(InferContext& ctx) {
  const Shape& in = ctx.shape(0);
  std::vector<int64_t> repeats;
  int64_t count = -1;
  const bool known = int_vector_input(ctx, 1, "repeats", &repeats, &count);
  if (in.has_rank && count >= 0 && count != static_cast<int64_t>(in.rank()))
    ctx.fail("repeats has " + std::to_string(count) + " entries but the input " + in.to_string() + " has rank " +
             std::to_string(in.rank()));
  if (!in.has_rank) {
    ctx.set_output(0, ctx.dtype(0), known ? Shape(std::vector<Dim>(repeats.size(), Dim::unknown())) : Shape());
    return;
  }
  std::vector<Dim> out = in.dims;
  for (size_t a = 0; a < out.size(); ++a) {
    if (!known) {
      if (!(out[a].known() && out[a].value == 0)) out[a] = Dim::unknown();
      continue;
    }
    const int64_t r = repeats[a];
    if (r < 0) ctx.fail("repeats " + ints_to_string(repeats) + " has a negative entry");
    if (r == 1) continue;
    if (out[a].known()) {
      int64_t product;
      if (__builtin_mul_overflow(out[a].value, r, &product))
        ctx.fail("dim " + std::to_string(out[a].value) + " times repeat " + std::to_string(r) + " overflows");
      out[a] = Dim(product);
    } else {
      out[a] = r == 0 ? Dim(0) : Dim::unknown();
    }
  }
  ctx.set_output(0, ctx.dtype(0), Shape(out));
}

void tile_reference(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  std::vector<int64_t> repeats = tensor_ints(ctx, ctx.in(1), "repeats");
  if (repeats.size() != x.rank() || y.rank() != x.rank())
    ctx.fail("repeats " + ints_to_string(repeats) + " must have one entry per input axis (rank " +
             std::to_string(x.rank()) + ")");
  for (size_t a = 0; a < x.rank(); ++a)
    if (y.dims()[a] != x.dims()[a] * repeats[a])
      ctx.fail("output " + dims_to_string(y.dims()) + " does not match the tiling");
  repeat(ctx, x, y, strides_of(x.dims()), x.dims());
}

}  // namespace

NORMRT_REGISTER_OP("", "Expand", infer_expand, expand_reference);
NORMRT_REGISTER_OP("", "Tile", infer_tile, tile_reference);

}  // namespace normrt
