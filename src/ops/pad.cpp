// Pad (opset 11+: pads and constant_value are inputs; opset 18 adds the axes input; opset 19 adds mode "wrap").
// Negative pads crop. As in ONNX Runtime, cropping happens first and the padding modes then read the cropped
// tensor: reflect mirrors about its edges (so a pad must be smaller than the cropped dim), edge repeats them and
// wrap reads it as a torus. The kernel maps each output coordinate to an input coordinate per axis and copies
// elements by size, so every dtype works.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "ops/conv_geometry.h"
#include "ops/op.h"
#include "ops/shape_util.h"

namespace normrt {
namespace {

std::string ints_to_string(const std::vector<int64_t>& values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) s += (i ? "," : "") + std::to_string(values[i]);
  return s + "]";
}

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

template <typename Ctx>
PadMode pad_mode(const Ctx& ctx) {
  if (ctx.opset < 11 || ctx.node.has_attribute("pads"))
    ctx.fail("takes pads as input 1 (Pad-11 and later); the attribute form of Pad-2 is not supported");
  const std::string mode = ctx.node.attr_string("mode", "constant");
  if (mode == "constant") return PadMode::kConstant;
  if (mode == "reflect") return PadMode::kReflect;
  if (mode == "edge") return PadMode::kEdge;
  if (mode == "wrap") {
    if (ctx.opset < 19) ctx.fail("mode \"wrap\" needs opset 19; the model's opset is " + std::to_string(ctx.opset));
    return PadMode::kWrap;
  }
  ctx.fail("mode must be \"constant\", \"reflect\", \"edge\" or \"wrap\" but is \"" + mode + "\"");
}

const char* mode_name(PadMode mode) {
  switch (mode) {
    case PadMode::kConstant: return "constant";
    case PadMode::kReflect: return "reflect";
    case PadMode::kEdge: return "edge";
    case PadMode::kWrap: return "wrap";
  }
  return "?";
}

// Begin and end pads per data axis from the pads input ([x1_begin, x2_begin, ..., x1_end, x2_end, ...] over
// the axes input, or over every axis when axes is absent).
template <typename Ctx>
void per_axis_pads(const Ctx& ctx, int64_t rank, const std::vector<int64_t>& pads, bool has_axes,
                   const std::vector<int64_t>& axes_in, std::vector<int64_t>* begin, std::vector<int64_t>* end) {
  std::vector<int64_t> axes = axes_in;
  if (!has_axes) {
    axes.clear();
    for (int64_t a = 0; a < rank; ++a) axes.push_back(a);
  }
  if (pads.size() != 2 * axes.size())
    ctx.fail("pads " + ints_to_string(pads) + " has " + std::to_string(pads.size()) + " entries; expected " +
             std::to_string(2 * axes.size()) + " (begin and end for each of " + std::to_string(axes.size()) +
             (has_axes ? " axes)" : " axes of the input)"));
  // No axis holds more than 2^36 elements (conv_geometry.h), so no pad needs more either: bounding each keeps
  // dim + begin + end far inside int64.
  for (int64_t pad : pads)
    if (pad > kMaxWindowExtent || pad < -kMaxWindowExtent)
      ctx.fail("pads " + ints_to_string(pads) + " has the value " + std::to_string(pad) +
               ", beyond the largest axis a tensor can have (" + std::to_string(kMaxWindowExtent) +
               " elements); the pads input is likely corrupt");
  begin->assign(rank, 0);
  end->assign(rank, 0);
  std::vector<bool> seen(rank, false);
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t axis = axes[i];
    if (axis < -rank || axis >= rank)
      ctx.fail("axis " + std::to_string(axis) + " in axes " + ints_to_string(axes) + " is out of range for rank " +
               std::to_string(rank));
    if (axis < 0) axis += rank;
    if (seen[axis]) ctx.fail("axes " + ints_to_string(axes) + " name axis " + std::to_string(axis) + " twice");
    seen[axis] = true;
    (*begin)[axis] = pads[i];
    (*end)[axis] = pads[i + axes.size()];
  }
}

// The output dim of one axis, checking what the mode requires of the (cropped) input.
template <typename Ctx>
int64_t padded_dim(const Ctx& ctx, int64_t axis, int64_t dim, int64_t begin, int64_t end, PadMode mode) {
  const int64_t cropped = dim + std::min<int64_t>(begin, 0) + std::min<int64_t>(end, 0);
  const int64_t out = dim + begin + end;
  if (cropped < 0 || out < 0)
    ctx.fail("pads " + std::to_string(begin) + ", " + std::to_string(end) + " crop more than the " +
             std::to_string(dim) + " elements of axis " + std::to_string(axis));
  const int64_t pad = std::max<int64_t>(std::max<int64_t>(begin, 0), std::max<int64_t>(end, 0));
  if (pad == 0) return out;
  if (mode == PadMode::kReflect && pad >= cropped)
    ctx.fail("reflect pad " + std::to_string(pad) + " on axis " + std::to_string(axis) +
             " must be smaller than its dim " + std::to_string(cropped) + (cropped != dim ? " (after cropping)" : ""));
  if ((mode == PadMode::kEdge || mode == PadMode::kWrap) && cropped == 0)
    ctx.fail(std::string(mode_name(mode)) + " pad on axis " + std::to_string(axis) +
             " needs a non-empty dim but it is 0");
  return out;
}

void infer_pad(InferContext& ctx) {
  const PadMode mode = pad_mode(ctx);
  const Shape& in = ctx.shape(0);
  const DataType dtype = ctx.dtype(0);
  if (ctx.has_input(2) && ctx.dtype(2) != dtype)
    ctx.fail(std::string("constant_value is ") + dtype_name(ctx.dtype(2)) + " but the data is " + dtype_name(dtype));
  if (ctx.has_input(2) && ctx.shape(2).fully_known() && element_count(ctx.shape(2).concrete()) > 1)
    ctx.fail("constant_value must be a scalar but has shape " + ctx.shape(2).to_string());
  const bool has_axes = ctx.num_inputs() > 3 && ctx.has_input(3);
  if (has_axes && ctx.opset < 18)
    ctx.fail("input 3 (axes) needs opset 18; the model's opset is " + std::to_string(ctx.opset));
  const Shape& pads_shape = ctx.shape(1);
  if (pads_shape.has_rank && pads_shape.rank() != 1)
    ctx.fail("input 1 (pads) must be 1-D but has shape " + pads_shape.to_string());
  if (!in.has_rank) {
    ctx.set_output(0, dtype, Shape());
    return;
  }
  const int64_t rank = static_cast<int64_t>(in.rank());
  std::vector<int64_t> pads, axes;
  const bool pads_known = ctx.value_as_ints(1, &pads);
  const bool axes_known = !has_axes || ctx.value_as_ints(3, &axes);
  if (!pads_known || !axes_known) {
    ctx.set_output(0, dtype, Shape(std::vector<Dim>(rank, Dim::unknown())));
    return;
  }
  std::vector<int64_t> begin, end;
  per_axis_pads(ctx, rank, pads, has_axes, axes, &begin, &end);
  std::vector<Dim> out = in.dims;
  for (int64_t a = 0; a < rank; ++a) {
    if (in.dims[a].known())
      out[a] = Dim(padded_dim(ctx, a, in.dims[a].value, begin[a], end[a], mode));
    else if (begin[a] != 0 || end[a] != 0)
      out[a] = Dim::unknown();
  }
  ctx.set_output(0, dtype, Shape(out));
}

std::vector<int64_t> tensor_ints(const KernelContext& ctx, const Tensor& t, const char* name) {
  if (t.dtype() != DataType::kInt64 && t.dtype() != DataType::kInt32)
    ctx.fail(std::string("input '") + name + "' must be int64 but is " + dtype_name(t.dtype()));
  std::vector<int64_t> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i)
    v[i] = t.dtype() == DataType::kInt64 ? t.data<int64_t>()[i] : t.data<int32_t>()[i];
  return v;
}

// For each output coordinate of one axis, the input coordinate it reads, or -1 for the constant.
std::vector<int64_t> axis_map(int64_t dim, int64_t begin, int64_t end, int64_t out_dim, PadMode mode) {
  const int64_t low = std::max<int64_t>(-begin, 0), high = dim - std::max<int64_t>(-end, 0);  // the cropped range
  const int64_t n = high - low;
  std::vector<int64_t> map(out_dim);
  for (int64_t o = 0; o < out_dim; ++o) {
    const int64_t c = o - begin;  // coordinate in the uncropped input
    if (c >= low && c < high) {
      map[o] = c;
      continue;
    }
    int64_t r = c - low;  // relative to the cropped range, outside [0, n)
    switch (mode) {
      case PadMode::kConstant: map[o] = -1; continue;
      case PadMode::kEdge: r = r < 0 ? 0 : n - 1; break;
      case PadMode::kReflect: r = r < 0 ? -r : 2 * (n - 1) - r; break;
      case PadMode::kWrap: r = ((r % n) + n) % n; break;
    }
    map[o] = low + r;
  }
  return map;
}

// One output row: element i reads source element offset + map[i], or the constant where map[i] < 0 or the row
// lies in the padding of an outer axis.
template <typename Word>
void copy_row(unsigned char* out, const unsigned char* src, int64_t offset, const std::vector<int64_t>& map,
              bool inside, const unsigned char* constant) {
  Word fill, *o = reinterpret_cast<Word*>(out);
  std::memcpy(&fill, constant, sizeof(Word));
  const Word* s = reinterpret_cast<const Word*>(src) + offset;
  const int64_t n = static_cast<int64_t>(map.size());
  if (!inside) {
    for (int64_t i = 0; i < n; ++i) o[i] = fill;
    return;
  }
  for (int64_t i = 0; i < n; ++i) o[i] = map[i] >= 0 ? s[map[i]] : fill;
}

void pad_reference(KernelContext& ctx) {
  const PadMode mode = pad_mode(ctx);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int64_t rank = static_cast<int64_t>(x.rank());
  const bool has_axes = ctx.has_input(3);
  std::vector<int64_t> begin, end;
  per_axis_pads(ctx, rank, tensor_ints(ctx, ctx.in(1), "pads"), has_axes,
                has_axes ? tensor_ints(ctx, ctx.in(3), "axes") : std::vector<int64_t>{}, &begin, &end);
  const size_t element = dtype_size(x.dtype());
  std::vector<unsigned char> constant(element, 0);  // 0, false by default
  if (ctx.has_input(2) && ctx.in(2).numel() > 0) {
    if (ctx.in(2).dtype() != x.dtype())
      ctx.fail(std::string("constant_value is ") + dtype_name(ctx.in(2).dtype()) + " but the data is " +
               dtype_name(x.dtype()));
    std::memcpy(constant.data(), ctx.in(2).raw(), element);
  }
  std::vector<std::vector<int64_t>> maps(rank);
  for (int64_t a = 0; a < rank; ++a) {
    const int64_t out_dim = padded_dim(ctx, a, x.dims()[a], begin[a], end[a], mode);
    if (out_dim != y.dims()[a]) ctx.fail("output " + dims_to_string(y.dims()) + " does not match the pads");
    maps[a] = axis_map(x.dims()[a], begin[a], end[a], out_dim, mode);
  }
  const std::vector<int64_t> strides = strides_of(x.dims());
  const auto* src = static_cast<const unsigned char*>(x.raw());
  auto* dst = static_cast<unsigned char*>(y.raw());
  if (y.numel() == 0) return;
  // Row by row along the last axis: the outer axes give the source row (or the constant), the last axis map
  // gives each element of the row.
  const int64_t row_length = rank ? y.dims()[rank - 1] : 1;
  const int64_t rows = y.numel() / row_length;
  const std::vector<int64_t>& last_map = rank ? maps[rank - 1] : std::vector<int64_t>{0};
#pragma omp parallel for schedule(static) if (y.numel() > (1 << 16))
  for (int64_t row = 0; row < rows; ++row) {
    int64_t offset = 0, rest = row;
    bool inside = true;
    for (int64_t a = rank - 1; a-- > 0;) {
      const int64_t c = maps[a][rest % y.dims()[a]];
      rest /= y.dims()[a];
      inside = inside && c >= 0;
      offset += c * strides[a];
    }
    unsigned char* out = dst + row * row_length * static_cast<int64_t>(element);
    switch (element) {  // a fixed element size lets the copy compile to one load and store
      case 1: copy_row<uint8_t>(out, src, offset, last_map, inside, constant.data()); break;
      case 2: copy_row<uint16_t>(out, src, offset, last_map, inside, constant.data()); break;
      case 4: copy_row<uint32_t>(out, src, offset, last_map, inside, constant.data()); break;
      default: copy_row<uint64_t>(out, src, offset, last_map, inside, constant.data()); break;
    }
  }
}

}  // namespace

NORMRT_REGISTER_OP("", "Pad", infer_pad, pad_reference);

}  // namespace normrt
