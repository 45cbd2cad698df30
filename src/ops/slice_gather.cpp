// Slice, Gather and GatherElements: ops that pick elements of a tensor by position. Slice's parameters follow
// the numpy rules (negative positions count from the end, out-of-range positions clamp, as exporters rely on
// when they write INT64_MAX for "to the end"); Gather's indices may be negative and an index out of range is an
// error, never a clamp. The kernels copy elements by their size in bytes, so every dtype works.
#include <algorithm>
#include <climits>
#include <cstring>
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

int64_t product(const Dims& dims, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= dims[i];
  return p;
}

// ---- Slice ---------------------------------------------------------------------------------------------------

// One axis of a slice after clamping: elements start, start + step, ... (count of them).
struct AxisSlice {
  int64_t start = 0;
  int64_t step = 1;
  int64_t count = 0;
};

// Slice-10+ semantics for one axis of size dim (ONNX Slice, "Inputs" and the numpy rules it cites): negative
// start/end add dim; then for step > 0 both clamp to [0, dim], for step < 0 start clamps to [0, dim-1] and end
// to [-1, dim-1].
AxisSlice clamp_slice(int64_t start, int64_t end, int64_t step, int64_t dim) {
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  AxisSlice s;
  s.step = step;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
    s.start = start;
    // (end - start) / step rounded up, written so that a step near INT64_MAX cannot overflow.
    s.count = end > start ? (end - start - 1) / step + 1 : 0;
  } else {
    start = std::clamp<int64_t>(start, -1, dim - 1);
    end = std::clamp<int64_t>(end, -1, dim - 1);
    s.start = start;
    const uint64_t magnitude = step == INT64_MIN ? uint64_t{1} << 63 : static_cast<uint64_t>(-step);
    s.count = start > end ? static_cast<int64_t>(static_cast<uint64_t>(start - end - 1) / magnitude + 1) : 0;
  }
  // One element or none: the step never moves, and a huge one would only overflow the stride arithmetic of the
  // kernels (a fuzzed step of 6e18 times a stride of 6).
  if (s.count <= 1) s.step = 1;
  return s;
}

// The slice inputs as given: starts, ends and, where known, axes and steps (defaults filled in).
struct SliceParams {
  std::vector<int64_t> starts, ends, axes, steps;
  bool starts_known = false, ends_known = false, axes_known = false, steps_known = false;
};

SliceParams slice_params(const InferContext& ctx) {
  if (ctx.opset < 10 || ctx.node.has_attribute("starts"))
    ctx.fail("takes starts/ends/axes as inputs (Slice-10 and later); the attribute form of Slice-1 is not supported");
  SliceParams p;
  for (size_t i = 1; i < 5; ++i) {
    if (!ctx.has_input(i)) continue;
    const Shape& s = ctx.shape(i);
    if (s.has_rank && s.rank() != 1) {
      static const char* kNames[] = {"data", "starts", "ends", "axes", "steps"};
      ctx.fail("input " + std::to_string(i) + " (" + kNames[i] + ") must be 1-D but has shape " + s.to_string());
    }
  }
  p.starts_known = ctx.value_as_ints(1, &p.starts);
  p.ends_known = ctx.value_as_ints(2, &p.ends);
  if (ctx.has_input(3))
    p.axes_known = ctx.value_as_ints(3, &p.axes);
  else
    p.axes_known = true;  // default filled in below, once the count is known
  if (ctx.has_input(4))
    p.steps_known = ctx.value_as_ints(4, &p.steps);
  else
    p.steps_known = true;
  return p;
}

// Per data axis: the slice, given concrete dims and fully known parameters. Fails naming what is wrong.
template <typename Ctx>
std::vector<AxisSlice> plan_slice(const Ctx& ctx, const Dims& dims, const std::vector<int64_t>& starts,
                                  const std::vector<int64_t>& ends, std::vector<int64_t> axes,
                                  std::vector<int64_t> steps, bool has_axes, bool has_steps) {
  const int64_t rank = static_cast<int64_t>(dims.size());
  if (starts.size() != ends.size())
    ctx.fail("starts " + ints_to_string(starts) + " and ends " + ints_to_string(ends) + " differ in length");
  if (!has_axes) {
    axes.clear();
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (!has_steps) steps.assign(starts.size(), 1);
  if (axes.size() != starts.size())
    ctx.fail("axes " + ints_to_string(axes) + " and starts " + ints_to_string(starts) + " differ in length");
  if (steps.size() != starts.size())
    ctx.fail("steps " + ints_to_string(steps) + " and starts " + ints_to_string(starts) + " differ in length");
  std::vector<AxisSlice> plan(rank);
  std::vector<bool> seen(rank, false);
  for (int64_t a = 0; a < rank; ++a) plan[a] = AxisSlice{0, 1, dims[a]};
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t axis = axes[i];
    if (axis < -rank || axis >= rank)
      ctx.fail("axis " + std::to_string(axis) + " in axes " + ints_to_string(axes) +
               " is out of range for data of rank " + std::to_string(rank));
    if (axis < 0) axis += rank;
    if (seen[axis]) ctx.fail("axes " + ints_to_string(axes) + " name axis " + std::to_string(axis) + " twice");
    seen[axis] = true;
    if (steps[i] == 0) ctx.fail("steps " + ints_to_string(steps) + " has a 0 step for axis " + std::to_string(axis));
    plan[axis] = clamp_slice(starts[i], ends[i], steps[i], dims[axis]);
  }
  return plan;
}

void infer_slice(InferContext& ctx) {
  const Shape& in = ctx.shape(0);
  const DataType dtype = ctx.dtype(0);
  SliceParams p = slice_params(ctx);
  if (!in.has_rank) {
    ctx.set_output(0, dtype, Shape());
    return;
  }
  const int64_t rank = static_cast<int64_t>(in.rank());
  std::vector<Dim> out = in.dims;
  if (!p.axes_known || !p.starts_known || !p.ends_known || !p.steps_known) {
    // Unknown parameters: the rank stays; the axes that may be sliced become unknown.
    std::vector<int64_t> axes = p.axes;
    if (!ctx.has_input(3) && p.starts_known) {
      axes.clear();
      for (size_t i = 0; i < p.starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    }
    const bool axes_listed = p.axes_known && (ctx.has_input(3) || p.starts_known);
    for (int64_t a = 0; a < rank; ++a) {
      bool sliced = !axes_listed;
      for (int64_t axis : axes) sliced = sliced || axis == a || axis + rank == a;
      if (sliced) out[a] = Dim::unknown();
    }
    ctx.set_output(0, dtype, Shape(out));
    return;
  }
  // Known parameters over partly unknown dims: plan with the known dims and substitute each unknown dim by a
  // stand-in; an axis whose dim is unknown keeps it only when its slice provably takes the whole axis.
  Dims stand_in(rank);
  for (int64_t a = 0; a < rank; ++a) stand_in[a] = in.dims[a].known() ? in.dims[a].value : 1;
  std::vector<AxisSlice> plan =
      plan_slice(ctx, stand_in, p.starts, p.ends, p.axes, p.steps, ctx.has_input(3), ctx.has_input(4));
  std::vector<int64_t> axes = p.axes;
  if (!ctx.has_input(3)) {
    axes.clear();
    for (size_t i = 0; i < p.starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  for (int64_t a = 0; a < rank; ++a) {
    if (in.dims[a].known()) {
      out[a] = Dim(plan[a].count);
      continue;
    }
    for (size_t i = 0; i < axes.size(); ++i) {
      if (axes[i] != a && axes[i] + rank != a) continue;
      const int64_t step = ctx.has_input(4) ? p.steps[i] : 1;
      // The slice keeps an unknown dim only when it provably takes the whole axis: forwards from 0 with step 1
      // to an end of INT32_MAX or more, the "to the end" exporters write (INT64_MAX from PyTorch, INT32_MAX
      // from int32 exporters), or backwards from -1 (or past the end) with step -1 to INT32_MIN or less (a
      // flip). An axis longer than INT32_MAX elements is beyond what normrt plans for.
      const bool forwards = step == 1 && p.starts[i] == 0 && p.ends[i] >= INT32_MAX;
      const bool backwards = step == -1 && (p.starts[i] == -1 || p.starts[i] >= INT32_MAX) && p.ends[i] <= INT32_MIN;
      const bool whole = forwards || backwards;
      out[a] = whole ? in.dims[a] : Dim::unknown();
    }
  }
  ctx.set_output(0, dtype, Shape(out));
}

template <typename T>
void slice_typed(const unsigned char* in, unsigned char* out, const Dims& in_dims, const std::vector<AxisSlice>& plan) {
  const T* src = reinterpret_cast<const T*>(in);
  T* dst = reinterpret_cast<T*>(out);
  const size_t rank = in_dims.size();
  const std::vector<int64_t> strides = strides_of(in_dims);
  int64_t total = 1;
  for (const AxisSlice& s : plan) total *= s.count;
  if (total == 0) return;
  int64_t base = 0;  // input offset of the output index (0, ..., 0)
  for (size_t a = 0; a < rank; ++a) base += plan[a].start * strides[a];
  if (rank == 0) {
    dst[0] = src[0];
    return;
  }
  std::vector<int64_t> index(rank, 0);
  const int64_t inner = plan[rank - 1].count, inner_stride = plan[rank - 1].step * strides[rank - 1];
  int64_t offset = base;
  for (int64_t linear = 0; linear < total; linear += inner) {
    for (int64_t i = 0; i < inner; ++i) dst[linear + i] = src[offset + i * inner_stride];
    for (size_t axis = rank - 1; axis-- > 0;) {
      const int64_t stride = plan[axis].step * strides[axis];
      offset += stride;
      if (++index[axis] < plan[axis].count) break;
      offset -= stride * index[axis];
      index[axis] = 0;
    }
  }
}

template <typename Ctx>
void check_integer_input(const Ctx& ctx, const Tensor& t, const char* name) {
  if (t.dtype() != DataType::kInt64 && t.dtype() != DataType::kInt32)
    ctx.fail(std::string("input '") + name + "' must be int64 or int32 but is " + dtype_name(t.dtype()));
}

std::vector<int64_t> tensor_ints(const Tensor& t) {
  std::vector<int64_t> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i)
    v[i] = t.dtype() == DataType::kInt64 ? t.data<int64_t>()[i] : t.data<int32_t>()[i];
  return v;
}

void slice_reference(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  static const char* kNames[] = {"data", "starts", "ends", "axes", "steps"};
  std::vector<int64_t> params[5];
  for (size_t i = 1; i < 5; ++i) {
    if (!ctx.has_input(i)) continue;
    check_integer_input(ctx, ctx.in(i), kNames[i]);
    params[i] = tensor_ints(ctx.in(i));
  }
  std::vector<AxisSlice> plan =
      plan_slice(ctx, x.dims(), params[1], params[2], params[3], params[4], ctx.has_input(3), ctx.has_input(4));
  Tensor& y = ctx.out(0);
  for (size_t a = 0; a < plan.size(); ++a)
    if (plan[a].count != y.dims()[a])
      ctx.fail("output shape " + dims_to_string(y.dims()) + " does not match the slice");
  const auto* src = static_cast<const unsigned char*>(x.raw());
  auto* dst = static_cast<unsigned char*>(y.raw());
  switch (dtype_size(x.dtype())) {
    case 1: return slice_typed<uint8_t>(src, dst, x.dims(), plan);
    case 2: return slice_typed<uint16_t>(src, dst, x.dims(), plan);
    case 4: return slice_typed<uint32_t>(src, dst, x.dims(), plan);
    case 8: return slice_typed<uint64_t>(src, dst, x.dims(), plan);
    default: ctx.fail(std::string("data type ") + dtype_name(x.dtype()) + " is not supported");
  }
}

// ---- Gather --------------------------------------------------------------------------------------------------

template <typename Ctx>
void check_indices_dtype(const Ctx& ctx, DataType dtype) {
  if (dtype != DataType::kInt64 && dtype != DataType::kInt32)
    ctx.fail(std::string("indices must be int64 or int32 but are ") + dtype_name(dtype));
}

// Gather-11+: indices in [-dim, dim - 1]; anything else is an error naming the index.
template <typename Ctx>
int64_t checked_index(const Ctx& ctx, int64_t index, int64_t dim, int64_t axis) {
  if (index < -dim || index >= dim)
    ctx.fail("index " + std::to_string(index) + " is out of range [" + std::to_string(-dim) + ", " +
             std::to_string(dim - 1) + "] for axis " + std::to_string(axis) + " of size " + std::to_string(dim));
  return index < 0 ? index + dim : index;
}

void infer_gather(InferContext& ctx) {
  const Shape& data = ctx.shape(0);
  const Shape& indices = ctx.shape(1);
  check_indices_dtype(ctx, ctx.dtype(1));
  if (!data.has_rank || !indices.has_rank) {
    ctx.set_output(0, ctx.dtype(0), Shape());
    return;
  }
  if (data.rank() == 0) ctx.fail("data must have rank >= 1 but is a scalar");
  const int64_t axis = normalize_axis(ctx, ctx.node.attr_int("axis", 0), static_cast<int64_t>(data.rank()));
  std::vector<int64_t> values;
  if (data.dims[axis].known() && ctx.value_as_ints(1, &values))
    for (int64_t v : values) checked_index(ctx, v, data.dims[axis].value, axis);
  std::vector<Dim> out(data.dims.begin(), data.dims.begin() + axis);
  out.insert(out.end(), indices.dims.begin(), indices.dims.end());
  out.insert(out.end(), data.dims.begin() + axis + 1, data.dims.end());
  ctx.set_output(0, ctx.dtype(0), Shape(out));
}

void gather_reference(KernelContext& ctx) {
  const Tensor& data = ctx.in(0);
  const Tensor& indices = ctx.in(1);
  check_indices_dtype(ctx, indices.dtype());
  if (data.rank() == 0) ctx.fail("data must have rank >= 1 but is a scalar");
  const int64_t axis = normalize_axis(ctx, ctx.node.attr_int("axis", 0), static_cast<int64_t>(data.rank()));
  const int64_t outer = product(data.dims(), 0, axis), dim = data.dims()[axis];
  const size_t row = static_cast<size_t>(product(data.dims(), axis + 1, data.rank())) * dtype_size(data.dtype());
  const int64_t count = indices.numel();
  const auto* src = static_cast<const unsigned char*>(data.raw());
  auto* dst = static_cast<unsigned char*>(ctx.out(0).raw());
  std::vector<int64_t> positions = tensor_ints(indices);
  for (int64_t& p : positions) p = checked_index(ctx, p, dim, axis);
  if (row == 0) return;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < count; ++k)
      std::memcpy(dst + (o * count + k) * row, src + (o * dim + positions[k]) * row, row);
}

// ---- GatherElements ------------------------------------------------------------------------------------------

void infer_gather_elements(InferContext& ctx) {
  const Shape& data = ctx.shape(0);
  const Shape& indices = ctx.shape(1);
  check_indices_dtype(ctx, ctx.dtype(1));
  if (data.has_rank && indices.has_rank) {
    if (data.rank() != indices.rank())
      ctx.fail("indices " + indices.to_string() + " must have the rank of data " + data.to_string());
    if (data.rank() == 0) ctx.fail("data must have rank >= 1 but is a scalar");
    const int64_t axis = normalize_axis(ctx, ctx.node.attr_int("axis", 0), static_cast<int64_t>(data.rank()));
    for (size_t a = 0; a < data.rank(); ++a) {
      const Dim &d = data.dims[a], &i = indices.dims[a];
      if (static_cast<int64_t>(a) != axis && d.known() && i.known() && i.value > d.value)
        ctx.fail("indices " + indices.to_string() + " exceed data " + data.to_string() + " in dim " +
                 std::to_string(a) + ", which is not the gather axis " + std::to_string(axis));
    }
  }
  ctx.set_output(0, ctx.dtype(0), indices);
}

template <typename T>
void gather_elements_typed(KernelContext& ctx, const Tensor& data, const std::vector<int64_t>& positions,
                           const Dims& out_dims, int64_t axis, Tensor& out) {
  const T* src = data.data<T>();
  T* dst = out.data<T>();
  const std::vector<int64_t> strides = strides_of(data.dims());
  const size_t rank = out_dims.size();
  const int64_t dim = data.dims()[axis];
  std::vector<int64_t> index(rank, 0);
  for (int64_t linear = 0; linear < out.numel(); ++linear) {
    int64_t offset = 0;
    for (size_t a = 0; a < rank; ++a)
      offset +=
          (static_cast<int64_t>(a) == axis ? checked_index(ctx, positions[linear], dim, axis) : index[a]) * strides[a];
    dst[linear] = src[offset];
    for (size_t a = rank; a-- > 0;) {
      if (++index[a] < out_dims[a]) break;
      index[a] = 0;
    }
  }
}

void gather_elements_reference(KernelContext& ctx) {
  const Tensor& data = ctx.in(0);
  const Tensor& indices = ctx.in(1);
  check_indices_dtype(ctx, indices.dtype());
  if (data.rank() == 0 || data.rank() != indices.rank())
    ctx.fail("indices " + dims_to_string(indices.dims()) + " must have the rank (>= 1) of data " +
             dims_to_string(data.dims()));
  const int64_t axis = normalize_axis(ctx, ctx.node.attr_int("axis", 0), static_cast<int64_t>(data.rank()));
  for (size_t a = 0; a < data.rank(); ++a)
    if (static_cast<int64_t>(a) != axis && indices.dims()[a] > data.dims()[a])
      ctx.fail("indices " + dims_to_string(indices.dims()) + " exceed data " + dims_to_string(data.dims()) +
               " in dim " + std::to_string(a));
  std::vector<int64_t> positions = tensor_ints(indices);
  Tensor& y = ctx.out(0);
  switch (dtype_size(data.dtype())) {
    case 1: return gather_elements_typed<uint8_t>(ctx, data, positions, indices.dims(), axis, y);
    case 2: return gather_elements_typed<uint16_t>(ctx, data, positions, indices.dims(), axis, y);
    case 4: return gather_elements_typed<uint32_t>(ctx, data, positions, indices.dims(), axis, y);
    case 8: return gather_elements_typed<uint64_t>(ctx, data, positions, indices.dims(), axis, y);
    default: ctx.fail(std::string("data type ") + dtype_name(data.dtype()) + " is not supported");
  }
}

}  // namespace

NORMRT_REGISTER_OP("", "Slice", infer_slice, slice_reference);
NORMRT_REGISTER_OP("", "Gather", infer_gather, gather_reference);
NORMRT_REGISTER_OP("", "GatherElements", infer_gather_elements, gather_elements_reference);

}  // namespace normrt
