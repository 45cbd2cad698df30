// Concat and Split: joining tensors along an axis and cutting one apart. Seen as [outer, axis, inner], each
// input/output is a run of axis*inner contiguous elements per outer index, so the kernels are memcpy loops over
// bytes and every dtype works.
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

// ---- Concat --------------------------------------------------------------------------------------------------

void infer_concat(InferContext& ctx) {
  if (ctx.num_inputs() == 0) ctx.fail("needs at least one input");
  const int64_t axis_attr = ctx.node.attr_int("axis");
  const DataType dtype = ctx.dtype(0);
  int64_t ranked = -1;  // the first input of known rank
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (ctx.dtype(i) != dtype)
      ctx.fail("input " + std::to_string(i) + " is " + dtype_name(ctx.dtype(i)) + " but input 0 is " +
               dtype_name(dtype));
    if (ranked < 0 && ctx.shape(i).has_rank) ranked = static_cast<int64_t>(i);
  }
  if (ranked < 0) {
    ctx.set_output(0, dtype, Shape());
    return;
  }
  const int64_t rank = static_cast<int64_t>(ctx.shape(ranked).rank());
  if (rank == 0) ctx.fail("cannot concatenate scalars (rank 0); inputs must have rank >= 1");
  const int64_t axis = normalize_axis(ctx, axis_attr, rank);
  std::vector<const Shape*> shapes;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Shape& s = ctx.shape(i);
    if (!s.has_rank) continue;
    if (static_cast<int64_t>(s.rank()) != rank)
      ctx.fail("input " + std::to_string(i) + " " + s.to_string() + " has rank " + std::to_string(s.rank()) +
               " but input " + std::to_string(ranked) + " " + ctx.shape(ranked).to_string() + " has rank " +
               std::to_string(rank));
    shapes.push_back(&s);
  }
  std::vector<Dim> out(rank);
  for (int64_t a = 0; a < rank; ++a) {
    if (a == axis) continue;
    // Off the axis the inputs must agree: any known dim fixes the output (and must equal every other known
    // one); with none known, a symbol every input shares survives.
    const Dim* known = nullptr;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      const Shape& s = ctx.shape(i);
      if (!s.has_rank || !s.dims[a].known()) continue;
      if (known && known->value != s.dims[a].value)
        ctx.fail("input " + std::to_string(i) + " " + s.to_string() + " differs from another input in dim " +
                 std::to_string(a) + " (" + std::to_string(s.dims[a].value) + " vs " + std::to_string(known->value) +
                 "); only the concat axis " + std::to_string(axis) + " may differ");
      known = &s.dims[a];
    }
    if (known) {
      out[a] = *known;
      continue;
    }
    bool shared = shapes.size() == ctx.num_inputs() && !shapes[0]->dims[a].symbol.empty();
    for (const Shape* s : shapes) shared = shared && s->dims[a].symbol == shapes[0]->dims[a].symbol;
    out[a] = shared ? shapes[0]->dims[a] : Dim::unknown();
  }
  // Along the axis: the sum when every part is known; one unknown part beside known zeros is that part.
  int64_t known_sum = 0;
  size_t unknown_parts = 0;
  Dim unknown_part = Dim::unknown();
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Shape& s = ctx.shape(i);
    if (s.has_rank && s.dims[axis].known()) {
      if (__builtin_add_overflow(known_sum, s.dims[axis].value, &known_sum))
        ctx.fail("the inputs' dims along axis " + std::to_string(axis) + " sum beyond the largest int64");
    } else {
      ++unknown_parts;
      unknown_part = s.has_rank ? s.dims[axis] : Dim::unknown();
    }
  }
  if (unknown_parts == 0)
    out[axis] = Dim(known_sum);
  else if (unknown_parts == 1 && known_sum == 0)
    out[axis] = unknown_part;
  else
    out[axis] = Dim::unknown();
  ctx.set_output(0, dtype, Shape(out));
}

void concat_reference(KernelContext& ctx) {
  Tensor& y = ctx.out(0);
  const int64_t axis = normalize_axis(ctx, ctx.node.attr_int("axis"), static_cast<int64_t>(y.rank()));
  const size_t element = dtype_size(y.dtype());
  const int64_t outer = product(y.dims(), 0, axis), inner = product(y.dims(), axis + 1, y.rank());
  const size_t out_row = static_cast<size_t>(y.dims()[axis] * inner) * element;
  auto* dst = static_cast<unsigned char*>(y.raw());
  size_t column = 0;  // byte offset of the current input within an output row
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    const Tensor& x = ctx.in(i);
    if (x.rank() != y.rank() || product(x.dims(), 0, axis) != outer || product(x.dims(), axis + 1, x.rank()) != inner)
      ctx.fail("input " + std::to_string(i) + " of shape " + dims_to_string(x.dims()) + " does not fit output " +
               dims_to_string(y.dims()));
    const size_t row = static_cast<size_t>(x.dims()[axis] * inner) * element;
    if (column + row > out_row) ctx.fail("inputs are larger than the output " + dims_to_string(y.dims()));
    const auto* src = static_cast<const unsigned char*>(x.raw());
    if (row > 0)
      for (int64_t o = 0; o < outer; ++o) std::memcpy(dst + o * out_row + column, src + o * row, row);
    column += row;
  }
  if (column != out_row) ctx.fail("inputs do not fill the output " + dims_to_string(y.dims()));
}

// ---- Split ---------------------------------------------------------------------------------------------------

// The sizes of the parts along the axis, from (by opset) the 'split' attribute (< 13), the 'split' input
// (>= 13) or the 'num_outputs' attribute (>= 18), else an equal split into as many parts as the node has
// outputs. `dim` is the axis dim, -1 when unknown. Returns false when the sizes are not knowable yet.
template <typename Ctx>
bool split_sizes(const Ctx& ctx, int64_t dim, bool split_known, const std::vector<int64_t>& split_input,
                 bool split_given, std::vector<int64_t>* sizes) {
  const int64_t outputs = static_cast<int64_t>(ctx.node.outputs.size());
  std::vector<int64_t> split;
  bool have_split = false;
  if (ctx.opset < 13) {
    if (split_given) ctx.fail("takes 'split' as an attribute before opset 13, not as input 1");
    if (ctx.node.has_attribute("split")) {
      split = ctx.node.attr_ints("split");
      have_split = true;
    }
  } else {
    if (ctx.node.has_attribute("split"))
      ctx.fail("takes 'split' as input 1 from opset 13, not as an attribute (the model's opset is " +
               std::to_string(ctx.opset) + ")");
    if (split_given) {
      if (!split_known) return false;
      split = split_input;
      have_split = true;
    }
  }
  const bool has_num_outputs = ctx.node.has_attribute("num_outputs");
  if (has_num_outputs && ctx.opset < 18)
    ctx.fail("attribute 'num_outputs' needs opset 18; the model's opset is " + std::to_string(ctx.opset));
  if (has_num_outputs && have_split) ctx.fail("has both input 'split' and attribute 'num_outputs'; give one");
  if (have_split) {
    if (static_cast<int64_t>(split.size()) != outputs)
      ctx.fail("split " + ints_to_string(split) + " has " + std::to_string(split.size()) + " parts but the node has " +
               std::to_string(outputs) + " outputs");
    int64_t sum = 0;
    for (int64_t s : split) {
      if (s < 0) ctx.fail("split " + ints_to_string(split) + " has a negative size");
      if (__builtin_add_overflow(sum, s, &sum))
        ctx.fail("split " + ints_to_string(split) + " sums beyond the largest int64; the split input is likely corrupt");
    }
    if (dim >= 0 && sum != dim)
      ctx.fail("split " + ints_to_string(split) + " sums to " + std::to_string(sum) + " but the axis dim is " +
               std::to_string(dim));
    *sizes = split;
    return true;
  }
  int64_t parts = outputs;
  if (has_num_outputs) {
    parts = ctx.node.attr_int("num_outputs");
    if (parts != outputs)
      ctx.fail("num_outputs is " + std::to_string(parts) + " but the node has " + std::to_string(outputs) + " outputs");
  }
  if (parts < 1) ctx.fail("needs at least one output");
  if (dim < 0) return false;
  if (dim % parts == 0) {
    sizes->assign(parts, dim / parts);
    return true;
  }
  // Split-18's num_outputs allows parts of ceil(dim / n) with a smaller last one; without it (and before
  // opset 18) the split must be even.
  if (!has_num_outputs)
    ctx.fail("cannot split axis dim " + std::to_string(dim) + " into " + std::to_string(parts) +
             " equal parts; give 'split' sizes (or, from opset 18, 'num_outputs' for a smaller last part)");
  const int64_t chunk = dim / parts + 1;
  const int64_t last = dim - chunk * (parts - 1);
  if (last < 0)
    ctx.fail("cannot split axis dim " + std::to_string(dim) + " into " + std::to_string(parts) + " parts of " +
             std::to_string(chunk) + " (the spec's ceil(dim/num_outputs)): the last part would be negative");
  sizes->assign(parts, chunk);
  sizes->back() = last;
  return true;
}

void infer_split(InferContext& ctx) {
  const Shape& in = ctx.shape(0);
  const DataType dtype = ctx.dtype(0);
  const bool split_given = ctx.num_inputs() > 1 && ctx.has_input(1);
  std::vector<int64_t> split_input;
  const bool split_known = split_given && ctx.value_as_ints(1, &split_input);
  const size_t outputs = ctx.node.outputs.size();
  if (!in.has_rank) {
    std::vector<int64_t> sizes;
    split_sizes(ctx, -1, split_known, split_input, split_given, &sizes);  // checks the attributes
    for (size_t i = 0; i < outputs; ++i) ctx.set_output(i, dtype, Shape());
    return;
  }
  const int64_t axis = normalize_axis(ctx, ctx.node.attr_int("axis", 0), static_cast<int64_t>(in.rank()));
  if (in.rank() == 0) ctx.fail("cannot split a scalar");
  const Dim& d = in.dims[axis];
  std::vector<int64_t> sizes;
  const bool known = split_sizes(ctx, d.known() ? d.value : -1, split_known, split_input, split_given, &sizes);
  for (size_t i = 0; i < outputs; ++i) {
    std::vector<Dim> out = in.dims;
    if (known)
      out[axis] = Dim(sizes[i]);
    else if (outputs == 1)
      out[axis] = d;
    else
      out[axis] = Dim::unknown();
    ctx.set_output(i, dtype, Shape(out));
  }
}

void split_reference(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t axis = normalize_axis(ctx, ctx.node.attr_int("axis", 0), static_cast<int64_t>(x.rank()));
  const size_t element = dtype_size(x.dtype());
  const int64_t outer = product(x.dims(), 0, axis), inner = product(x.dims(), axis + 1, x.rank());
  const size_t in_row = static_cast<size_t>(x.dims()[axis] * inner) * element;
  const auto* src = static_cast<const unsigned char*>(x.raw());
  size_t column = 0;
  for (size_t i = 0; i < ctx.outputs.size(); ++i) {
    Tensor& y = ctx.out(i);
    const size_t row = static_cast<size_t>(y.dims()[axis] * inner) * element;
    if (column + row > in_row) ctx.fail("outputs are larger than the input " + dims_to_string(x.dims()));
    auto* dst = static_cast<unsigned char*>(y.raw());
    if (row > 0)
      for (int64_t o = 0; o < outer; ++o) std::memcpy(dst + o * row, src + o * in_row + column, row);
    column += row;
  }
  if (column != in_row) ctx.fail("outputs do not cover the input " + dims_to_string(x.dims()));
}

}  // namespace

NORMRT_REGISTER_OP("", "Concat", infer_concat, concat_reference);
NORMRT_REGISTER_OP("", "Split", infer_split, split_reference);

}  // namespace normrt
