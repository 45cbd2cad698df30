// Reshape, Flatten, Squeeze and Unsqueeze: ops that give the same bytes a new shape. The kernels copy; the
// work is in the shape functions, which keep symbolic dims ("batch") wherever an output dim provably equals an
// input dim, so that shapes stay known through the view/flatten chains exporters emit.
#include <algorithm>
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

int64_t checked_multiply(const InferContext& ctx, int64_t a, int64_t b) {
  int64_t product;
  if (__builtin_mul_overflow(a, b, &product))
    ctx.fail("element count overflows 64 bits (" + std::to_string(a) + " * " + std::to_string(b) + ")");
  return product;
}

// The product of dims as one Dim: known when every dim is known (or one is 0); the one unknown dim itself when
// all the others are 1, so that its symbol survives; unknown otherwise.
Dim product_dim(const InferContext& ctx, const std::vector<Dim>& dims) {
  int64_t known = 1;
  const Dim* unknown = nullptr;
  size_t unknown_count = 0;
  for (const Dim& d : dims) {
    if (!d.known()) {
      ++unknown_count;
      unknown = &d;
    } else if (d.value == 0) {
      return Dim(0);
    } else {
      known = checked_multiply(ctx, known, d.value);
    }
  }
  if (unknown_count == 0) return Dim(known);
  if (unknown_count == 1 && known == 1) return *unknown;
  return Dim::unknown();
}

// A product of dims split into its known factor and its unknown factors.
struct Factored {
  int64_t known = 1;
  std::vector<std::string> symbols;  // named unknown dims, as a multiset
  bool anonymous = false;            // an unknown dim without a symbol: nothing can cancel it
};

Factored factor(const InferContext& ctx, const std::vector<Dim>& dims) {
  Factored f;
  for (const Dim& d : dims) {
    if (d.known())
      f.known = checked_multiply(ctx, f.known, d.value);
    else if (d.symbol.empty())
      f.anonymous = true;
    else
      f.symbols.push_back(d.symbol);
  }
  return f;
}

// Removes the symbols both products share (equal symbols are equal sizes).
void cancel_common_symbols(Factored& a, Factored& b) {
  for (auto it = a.symbols.begin(); it != a.symbols.end();) {
    auto match = std::find(b.symbols.begin(), b.symbols.end(), *it);
    if (match != b.symbols.end()) {
      b.symbols.erase(match);
      it = a.symbols.erase(it);
    } else {
      ++it;
    }
  }
}

void copy_input_reference(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  if (y.nbytes() != x.nbytes())
    ctx.fail("output holds " + std::to_string(y.nbytes()) + " bytes but the input " + std::to_string(x.nbytes()));
  if (x.nbytes() > 0) std::memcpy(y.raw(), x.raw(), x.nbytes());
}

// ---- Reshape -------------------------------------------------------------------------------------------------

void infer_reshape(InferContext& ctx) {
  const DataType dtype = ctx.dtype(0);
  const Shape& in = ctx.shape(0);
  const Shape& target_shape = ctx.shape(1);
  if (target_shape.has_rank && target_shape.rank() != 1)
    ctx.fail("input 1 (shape) must be 1-D but has shape " + target_shape.to_string());
  // allowzero arrived in opset 14; before it a 0 always copies the input dim.
  const bool allow_zero = ctx.opset >= 14 && ctx.node.attr_int("allowzero", 0) != 0;

  std::vector<int64_t> target;
  if (!ctx.value_as_ints(1, &target)) {
    if (target_shape.has_rank && target_shape.dims[0].known())
      ctx.set_output(0, dtype, Shape(std::vector<Dim>(target_shape.dims[0].value, Dim::unknown())));
    else
      ctx.set_output(0, dtype, Shape());
    return;
  }

  std::vector<Dim> out(target.size());
  int64_t inferred_axis = -1;
  bool has_zero = false;
  for (size_t i = 0; i < target.size(); ++i) {
    const int64_t v = target[i];
    if (v == -1) {
      if (inferred_axis >= 0)
        ctx.fail("shape " + ints_to_string(target) + " has more than one -1; at most one dim can be inferred");
      inferred_axis = static_cast<int64_t>(i);
    } else if (v == 0 && !allow_zero) {
      if (!in.has_rank) {
        out[i] = Dim::unknown();
      } else if (i >= in.rank()) {
        ctx.fail("shape " + ints_to_string(target) + " has 0 at index " + std::to_string(i) +
                 ", which copies input dim " + std::to_string(i) + ", but the input " + in.to_string() + " has rank " +
                 std::to_string(in.rank()));
      } else {
        out[i] = in.dims[i];
      }
    } else if (v < 0) {
      ctx.fail("shape " + ints_to_string(target) + " has " + std::to_string(v) + " at index " + std::to_string(i) +
               "; dims must be >= 0 or -1");
    } else {
      if (v == 0) has_zero = true;
      out[i] = Dim(v);
    }
  }
  if (allow_zero && has_zero && inferred_axis >= 0)
    ctx.fail("shape " + ints_to_string(target) + " has both 0 and -1 while allowzero=1; the -1 cannot be inferred");

  if (!in.has_rank) {
    ctx.set_output(0, dtype, Shape(out));
    return;
  }
  // A dim copied by 0 is the same size on both sides, even when unknown and unnamed, so it divides out of both
  // products (unless it is known to be 0: then the products are 0 and a -1 beside it is ambiguous, an error
  // as in ONNX Runtime and PyTorch); the remaining unknown dims cancel by symbol.
  auto copied = [&](size_t i) {
    return i < target.size() && target[i] == 0 && !allow_zero && !(in.dims[i].known() && in.dims[i].value == 0);
  };
  std::vector<Dim> input_rest, output_rest;
  for (size_t i = 0; i < in.rank(); ++i)
    if (!copied(i)) input_rest.push_back(in.dims[i]);
  for (size_t i = 0; i < out.size(); ++i)
    if (static_cast<int64_t>(i) != inferred_axis && !copied(i)) output_rest.push_back(out[i]);
  Factored input = factor(ctx, input_rest), output = factor(ctx, output_rest);
  cancel_common_symbols(input, output);
  const bool input_known = input.symbols.empty() && !input.anonymous;
  const bool output_known = output.symbols.empty() && !output.anonymous;
  // Element counts for messages: whole when everything is known, else those of the dims that do not cancel.
  auto describe = [&](const Factored& f, const Shape& shape) {
    if (shape.fully_known())
      return shape.to_string() + " (" + std::to_string(factor(ctx, shape.dims).known) + " elements)";
    return shape.to_string() + " (" + std::to_string(f.known) + " elements apart from the dims both sides share)";
  };
  if (inferred_axis < 0) {
    if (input_known && output_known && input.known != output.known)
      ctx.fail("cannot reshape input " + describe(input, in) + " into shape " + ints_to_string(target) + " = " +
               describe(output, Shape(out)));
  } else if (output_known) {
    Dim& inferred = out[inferred_axis];
    if (output.known == 0) {
      if (input_known)
        ctx.fail("cannot infer the -1 in shape " + ints_to_string(target) + " for input " + describe(input, in) +
                 ": the other dims multiply to 0");
      inferred = Dim::unknown();
    } else if (input_known) {
      if (input.known % output.known != 0)
        ctx.fail("cannot reshape input " + describe(input, in) + " into shape " + ints_to_string(target) + ": " +
                 std::to_string(input.known) + " elements do not divide by the " + std::to_string(output.known) +
                 " of the other dims");
      inferred = Dim(input.known / output.known);
    } else if (!input.anonymous && input.symbols.size() == 1 && input.known == output.known) {
      inferred = Dim::unknown(input.symbols[0]);
    } else {
      inferred = Dim::unknown();
    }
  } else {
    out[inferred_axis] = Dim::unknown();
  }
  ctx.set_output(0, dtype, Shape(out));
}

// ---- Flatten -------------------------------------------------------------------------------------------------

void infer_flatten(InferContext& ctx) {
  const Shape& in = ctx.shape(0);
  int64_t axis = ctx.node.attr_int("axis", 1);
  if (!in.has_rank) {
    ctx.set_output(0, ctx.dtype(0), Shape({Dim::unknown(), Dim::unknown()}));
    return;
  }
  const int64_t rank = static_cast<int64_t>(in.rank());
  if (axis < -rank || axis > rank)
    ctx.fail("axis " + std::to_string(axis) + " is out of range [" + std::to_string(-rank) + ", " +
             std::to_string(rank) + "] for input " + in.to_string());
  if (axis < 0) axis += rank;
  std::vector<Dim> outer(in.dims.begin(), in.dims.begin() + axis), inner(in.dims.begin() + axis, in.dims.end());
  ctx.set_output(0, ctx.dtype(0), Shape({product_dim(ctx, outer), product_dim(ctx, inner)}));
}

// ---- Squeeze / Unsqueeze -------------------------------------------------------------------------------------

// The axes of Squeeze/Unsqueeze: an attribute before opset 13, input 1 from opset 13. Returns false when they
// come from an input whose value is unknown (then *count is their number when that is known, else -1).
bool axes_of(const InferContext& ctx, bool* present, std::vector<int64_t>* axes, int64_t* count) {
  *count = -1;
  if (ctx.opset < 13) {
    if (ctx.num_inputs() > 1 && ctx.has_input(1))
      ctx.fail("takes its axes as an attribute before opset 13, not as input 1 (the model's opset is " +
               std::to_string(ctx.opset) + ")");
    *present = ctx.node.has_attribute("axes");
    *axes = ctx.node.attr_ints("axes");
    return true;
  }
  if (ctx.node.has_attribute("axes"))
    ctx.fail("takes its axes as input 1 from opset 13, not as an attribute (the model's opset is " +
             std::to_string(ctx.opset) + ")");
  *present = ctx.has_input(1);
  if (!*present) return true;
  const Shape& s = ctx.shape(1);
  if (s.has_rank && s.rank() > 1) ctx.fail("input 1 (axes) must be 1-D but has shape " + s.to_string());
  if (ctx.value_as_ints(1, axes)) return true;
  if (s.has_rank && s.rank() == 1 && s.dims[0].known()) *count = s.dims[0].value;
  if (s.has_rank && s.rank() == 0) *count = 1;
  return false;
}

// Normalizes axes into [0, rank) and rejects duplicates.
std::vector<int64_t> normalize_axes(const InferContext& ctx, const std::vector<int64_t>& axes, int64_t rank) {
  std::vector<int64_t> out;
  for (int64_t a : axes) {
    if (a < -rank || a >= rank)
      ctx.fail("axis " + std::to_string(a) + " in axes " + ints_to_string(axes) + " is out of range [" +
               std::to_string(-rank) + ", " + std::to_string(rank - 1) + "]");
    const int64_t n = a < 0 ? a + rank : a;
    if (std::find(out.begin(), out.end(), n) != out.end())
      ctx.fail("axes " + ints_to_string(axes) + " name axis " + std::to_string(n) + " twice");
    out.push_back(n);
  }
  return out;
}

void infer_squeeze(InferContext& ctx) {
  const Shape& in = ctx.shape(0);
  const DataType dtype = ctx.dtype(0);
  bool present = false;
  std::vector<int64_t> axes;
  int64_t count = -1;
  const bool known = axes_of(ctx, &present, &axes, &count);
  if (!in.has_rank) {
    ctx.set_output(0, dtype, Shape());
    return;
  }
  const int64_t rank = static_cast<int64_t>(in.rank());
  if (!known) {
    if (count >= 0 && count <= rank)
      ctx.set_output(0, dtype, Shape(std::vector<Dim>(rank - count, Dim::unknown())));
    else
      ctx.set_output(0, dtype, Shape());
    return;
  }
  std::vector<Dim> out;
  if (!present || axes.empty()) {
    // No axes (or an empty list, which ONNX Runtime reads the same way): every dim of size 1 goes, so an
    // unknown dim leaves the output rank unknown.
    for (const Dim& d : in.dims) {
      if (!d.known()) {
        ctx.set_output(0, dtype, Shape());
        return;
      }
      if (d.value != 1) out.push_back(d);
    }
    ctx.set_output(0, dtype, Shape(out));
    return;
  }
  std::vector<int64_t> normalized = normalize_axes(ctx, axes, rank);
  for (int64_t a : normalized) {
    const Dim& d = in.dims[a];
    if (d.known() && d.value != 1)
      ctx.fail("cannot squeeze axis " + std::to_string(a) + " of input " + in.to_string() + ": its dim is " +
               std::to_string(d.value) + ", not 1");
  }
  for (int64_t i = 0; i < rank; ++i)
    if (std::find(normalized.begin(), normalized.end(), i) == normalized.end()) out.push_back(in.dims[i]);
  ctx.set_output(0, dtype, Shape(out));
}

void infer_unsqueeze(InferContext& ctx) {
  const Shape& in = ctx.shape(0);
  const DataType dtype = ctx.dtype(0);
  bool present = false;
  std::vector<int64_t> axes;
  int64_t count = -1;
  const bool known = axes_of(ctx, &present, &axes, &count);
  if (!present) ctx.fail("requires axes (the " + std::string(ctx.opset < 13 ? "attribute" : "input 1") + ")");
  if (!in.has_rank) {
    ctx.set_output(0, dtype, Shape());
    return;
  }
  if (!known) {
    if (count >= 0)
      ctx.set_output(0, dtype, Shape(std::vector<Dim>(in.rank() + count, Dim::unknown())));
    else
      ctx.set_output(0, dtype, Shape());
    return;
  }
  const int64_t out_rank = static_cast<int64_t>(in.rank() + axes.size());
  std::vector<int64_t> normalized = normalize_axes(ctx, axes, out_rank);
  std::vector<Dim> out;
  size_t next = 0;
  for (int64_t i = 0; i < out_rank; ++i) {
    if (std::find(normalized.begin(), normalized.end(), i) != normalized.end())
      out.push_back(Dim(1));
    else
      out.push_back(in.dims[next++]);
  }
  ctx.set_output(0, dtype, Shape(out));
}

}  // namespace

NORMRT_REGISTER_VIEW_OP("", "Reshape", infer_reshape, copy_input_reference);
NORMRT_REGISTER_VIEW_OP("", "Flatten", infer_flatten, copy_input_reference);
NORMRT_REGISTER_VIEW_OP("", "Squeeze", infer_squeeze, copy_input_reference);
NORMRT_REGISTER_VIEW_OP("", "Unsqueeze", infer_unsqueeze, copy_input_reference);

}  // namespace normrt
