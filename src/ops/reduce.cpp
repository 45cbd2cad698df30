// Reductions: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceSumSquare,
// ReduceLogSum, ReduceLogSumExp, and ArgMax / ArgMin.
//
// Opset differences handled here: the axes are an attribute up to ReduceSum-11 and the others' opset 17, and
// an optional second input from ReduceSum-13 and the others' opset 18, which also add noop_with_empty_axes
// (empty axes and noop = 1: the input passes through; empty axes otherwise: reduce every axis). ArgMax and
// ArgMin gained select_last_index in opset 12. A reduction over an empty set gives the operation's identity
// (0 for sums, 1 for products, -inf / +inf or the type's lowest / highest value for Max / Min, -inf for the
// logarithms) and NaN for ReduceMean, as the opset-18 spec describes.
//
// Floating-point inputs accumulate in double. Integer inputs (int32 and int64 for Sum and Prod; int8, uint8,
// int32, int64 and bool for Max and Min; all of them for ArgMax / ArgMin) are computed exactly in int64.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "ops/op.h"
#include "ops/shape_util.h"

namespace normrt {
namespace {

enum class ReduceKind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kSumSquare, kLogSum, kLogSumExp };

ReduceKind reduce_kind(const Node& node) {
  const std::string& op = node.op_type;
  if (op == "ReduceSum") return ReduceKind::kSum;
  if (op == "ReduceMean") return ReduceKind::kMean;
  if (op == "ReduceMax") return ReduceKind::kMax;
  if (op == "ReduceMin") return ReduceKind::kMin;
  if (op == "ReduceProd") return ReduceKind::kProd;
  if (op == "ReduceL1") return ReduceKind::kL1;
  if (op == "ReduceL2") return ReduceKind::kL2;
  if (op == "ReduceSumSquare") return ReduceKind::kSumSquare;
  if (op == "ReduceLogSum") return ReduceKind::kLogSum;
  if (op == "ReduceLogSumExp") return ReduceKind::kLogSumExp;
  throw Error(ErrorCode::kInternal, node.describe() + " is not a reduction");
}

bool is_float_dtype(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16 || t == DataType::kFloat64;
}

bool is_integer_dtype(DataType t) {
  return t == DataType::kInt8 || t == DataType::kUInt8 || t == DataType::kInt32 || t == DataType::kInt64 ||
         t == DataType::kBool;
}

// Which integer dtypes a reduction computes exactly.
bool reduce_accepts_integer(ReduceKind kind, DataType t) {
  switch (kind) {
    case ReduceKind::kSum:
    case ReduceKind::kProd: return t == DataType::kInt32 || t == DataType::kInt64;
    case ReduceKind::kMax:
    case ReduceKind::kMin: return is_integer_dtype(t);
    default: return false;
  }
}

// The version from which the axes are an input rather than an attribute.
int64_t axes_input_opset(const Node& node) { return node.op_type == "ReduceSum" ? 13 : 18; }

// The reduced axes, normalized into [0, rank) and sorted; the second member is false when they are not known
// (an axes input whose value is unknown at build time). noop is set when the input passes through unchanged.
struct AxesInfo {
  bool known = true;
  std::vector<int64_t> axes;
  bool noop = false;
  int64_t count_if_unknown = -1;  // the number of axes when the input's length is known but not its values
};

template <typename Ctx>
AxesInfo resolve_axes(const Ctx& ctx, const std::vector<int64_t>& raw, int64_t rank) {
  AxesInfo info;
  const bool from_input = ctx.opset >= axes_input_opset(ctx.node);
  if (raw.empty()) {
    info.noop = from_input && ctx.node.attr_int("noop_with_empty_axes", 0) != 0;
    if (!info.noop)
      for (int64_t a = 0; a < rank; ++a) info.axes.push_back(a);
    return info;
  }
  for (int64_t a : raw) info.axes.push_back(normalize_axis(ctx, a, rank));
  std::sort(info.axes.begin(), info.axes.end());
  if (std::adjacent_find(info.axes.begin(), info.axes.end()) != info.axes.end()) {
    std::string list;
    for (int64_t a : raw) list += (list.empty() ? "" : ",") + std::to_string(a);
    ctx.fail("axes [" + list + "] name the same axis twice (rank " + std::to_string(rank) + ")");
  }
  return info;
}

// The raw axes of the node: the attribute before axes_input_opset, the optional input from then on.
// Returns false when they come from an input whose value is unknown (count_if_unknown: its length, or -1).
bool raw_axes(const InferContext& ctx, std::vector<int64_t>* axes, int64_t* count_if_unknown) {
  const int64_t since = axes_input_opset(ctx.node);
  if (ctx.opset < since) {
    if (ctx.has_input(1))
      ctx.fail("has an axes input, but before opset " + std::to_string(since) + " " + ctx.node.op_type +
               " takes axes as an attribute (the model imports opset " + std::to_string(ctx.opset) + ")");
    *axes = ctx.node.attr_ints("axes");
    return true;
  }
  if (ctx.node.has_attribute("axes"))
    ctx.fail("has an axes attribute, but from opset " + std::to_string(since) + " " + ctx.node.op_type +
             " takes axes as its second input (the model imports opset " + std::to_string(ctx.opset) + ")");
  axes->clear();
  if (!ctx.has_input(1)) return true;
  if (ctx.dtype(1) != DataType::kInt64)
    ctx.fail(std::string("axes (input 1) is ") + dtype_name(ctx.dtype(1)) + "; expected int64");
  const Shape& s = ctx.shape(1);
  if (s.has_rank && s.rank() != 1) ctx.fail("axes (input 1) has shape " + s.to_string() + "; expected a 1-D tensor");
  if (ctx.value_as_ints(1, axes)) return true;
  *count_if_unknown = s.has_rank && s.dims[0].known() ? s.dims[0].value : -1;
  if (*count_if_unknown == 0) return true;  // an empty axes tensor: its value is known to be empty
  return false;
}

void infer_reduce(InferContext& ctx) {
  const ReduceKind kind = reduce_kind(ctx.node);
  const DataType dtype = ctx.dtype(0);
  if (!is_float_dtype(dtype) && !reduce_accepts_integer(kind, dtype)) {
    const char* allowed = (kind == ReduceKind::kSum || kind == ReduceKind::kProd)
                              ? "float32, float16, bfloat16, float64, int32 or int64"
                          : (kind == ReduceKind::kMax || kind == ReduceKind::kMin)
                              ? "float32, float16, bfloat16, float64, int8, uint8, int32, int64 or bool"
                              : "float32, float16, bfloat16 or float64";
    ctx.fail(std::string("input 0 is ") + dtype_name(dtype) + "; " + ctx.node.op_type + " accepts " + allowed);
  }
  const bool keepdims = ctx.node.attr_int("keepdims", 1) != 0;
  std::vector<int64_t> raw;
  int64_t count_if_unknown = -1;
  const bool axes_known = raw_axes(ctx, &raw, &count_if_unknown);
  const Shape& x = ctx.shape(0);
  if (!x.has_rank) {
    ctx.set_output(0, dtype, Shape());
    return;
  }
  const int64_t rank = static_cast<int64_t>(x.rank());
  if (!axes_known) {
    // Which axes are reduced is unknown: with keepdims the rank stays and a dim of 1 stays 1; without, the
    // rank drops by the number of axes when that is known.
    if (keepdims) {
      Shape out = x;
      for (Dim& d : out.dims)
        if (!(d.known() && d.value == 1)) d = Dim::unknown();
      ctx.set_output(0, dtype, out);
    } else if (count_if_unknown > 0) {
      if (count_if_unknown > rank)
        ctx.fail("axes (input 1) has " + std::to_string(count_if_unknown) + " entries but X " + x.to_string() +
                 " has rank " + std::to_string(rank));
      ctx.set_output(0, dtype, Shape(std::vector<Dim>(static_cast<size_t>(rank - count_if_unknown), Dim::unknown())));
    } else {
      ctx.set_output(0, dtype, Shape());
    }
    return;
  }
  const AxesInfo info = resolve_axes(ctx, raw, rank);
  if (info.noop) {
    ctx.set_output(0, dtype, x);
    return;
  }
  std::vector<Dim> out;
  for (int64_t d = 0; d < rank; ++d) {
    const bool reduced = std::binary_search(info.axes.begin(), info.axes.end(), d);
    if (!reduced) out.push_back(x.dims[d]);
    else if (keepdims) out.push_back(Dim(1));
  }
  ctx.set_output(0, dtype, Shape(out));
}

int64_t integer_at(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kInt8: return t.data<int8_t>()[i];
    case DataType::kUInt8: return t.data<uint8_t>()[i];
    case DataType::kBool: return t.data<uint8_t>()[i] ? 1 : 0;
    case DataType::kInt32: return t.data<int32_t>()[i];
    case DataType::kInt64: return t.data<int64_t>()[i];
    default: break;
  }
  throw Error(ErrorCode::kInternal, std::string("integer_at: ") + dtype_name(t.dtype()) + " is not an integer type");
}

void set_integer_at(Tensor& t, int64_t i, int64_t v) {
  switch (t.dtype()) {
    case DataType::kInt8: t.data<int8_t>()[i] = static_cast<int8_t>(v); return;
    case DataType::kUInt8: t.data<uint8_t>()[i] = static_cast<uint8_t>(v); return;
    case DataType::kBool: t.data<uint8_t>()[i] = v != 0; return;
    case DataType::kInt32: t.data<int32_t>()[i] = static_cast<int32_t>(v); return;
    case DataType::kInt64: t.data<int64_t>()[i] = v; return;
    default: break;
  }
  throw Error(ErrorCode::kInternal, std::string("set_integer_at: ") + dtype_name(t.dtype()) + " is not an integer type");
}

// The lowest and highest value of an integer dtype (the identities of Max and Min over an empty set).
std::pair<int64_t, int64_t> integer_range(DataType t) {
  switch (t) {
    case DataType::kInt8: return {std::numeric_limits<int8_t>::min(), std::numeric_limits<int8_t>::max()};
    case DataType::kUInt8: return {0, std::numeric_limits<uint8_t>::max()};
    case DataType::kBool: return {0, 1};
    case DataType::kInt32: return {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()};
    default: return {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()};
  }
}

// The reduced axes of a node at run time (shapes and values all known).
AxesInfo runtime_axes(const KernelContext& ctx, int64_t rank) {
  std::vector<int64_t> raw;
  if (ctx.opset < axes_input_opset(ctx.node)) {
    raw = ctx.node.attr_ints("axes");
  } else if (ctx.has_input(1)) {
    const Tensor& a = ctx.in(1);
    raw.assign(a.data<int64_t>(), a.data<int64_t>() + a.numel());
  }
  return resolve_axes(ctx, raw, rank);
}

void reduce_reference(KernelContext& ctx) {
  const ReduceKind kind = reduce_kind(ctx.node);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int64_t rank = static_cast<int64_t>(x.rank());
  const AxesInfo info = runtime_axes(ctx, rank);
  if (info.noop) {
    std::memcpy(y.raw(), x.raw(), x.nbytes());
    return;
  }
  // The output seen with reduced axes kept as 1, broadcast back over the input: every input element finds
  // the output element it contributes to.
  Dims kept = x.dims();
  for (int64_t a : info.axes) kept[a] = 1;
  const std::vector<std::vector<int64_t>> strides = {broadcast_strides(kept, x.dims())};
  const int64_t outputs = y.numel();
  const int64_t count = outputs == 0 ? 0 : x.numel() / outputs;

  if (!is_float_dtype(x.dtype())) {
    const auto [lowest, highest] = integer_range(x.dtype());
    std::vector<int64_t> acc(static_cast<size_t>(outputs));
    const int64_t init = kind == ReduceKind::kProd ? 1 : kind == ReduceKind::kMax ? lowest
                         : kind == ReduceKind::kMin ? highest : 0;
    std::fill(acc.begin(), acc.end(), init);
    for_each_broadcast(x.dims(), strides, [&](int64_t i, const std::vector<int64_t>& o) {
      const int64_t v = integer_at(x, i);
      int64_t& a = acc[o[0]];
      // Sums and products wrap around like the int64 arithmetic of other runtimes (unsigned: no UB).
      switch (kind) {
        case ReduceKind::kSum: a = static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(v)); break;
        case ReduceKind::kProd: a = static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(v)); break;
        case ReduceKind::kMax: a = std::max(a, v); break;
        case ReduceKind::kMin: a = std::min(a, v); break;
        default: ctx.fail(std::string("does not support ") + dtype_name(x.dtype()) + " input");
      }
    });
    for (int64_t i = 0; i < outputs; ++i) set_integer_at(y, i, acc[i]);
    return;
  }

  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> acc(static_cast<size_t>(outputs));
  std::vector<double> max_of(kind == ReduceKind::kLogSumExp ? outputs : 0, -inf);
  const double init = kind == ReduceKind::kProd ? 1.0 : kind == ReduceKind::kMax ? -inf
                      : kind == ReduceKind::kMin ? inf : 0.0;
  std::fill(acc.begin(), acc.end(), init);
  if (kind == ReduceKind::kLogSumExp) {
    // log(sum(exp(x))) = m + log(sum(exp(x - m))) with m the maximum, so that exp cannot overflow.
    for_each_broadcast(x.dims(), strides, [&](int64_t i, const std::vector<int64_t>& o) {
      const double v = element_as_double(x, i);
      double& m = max_of[o[0]];
      if (!std::isnan(m) && (std::isnan(v) || v > m)) m = v;  // a NaN, once seen, stays
    });
  }
  for_each_broadcast(x.dims(), strides, [&](int64_t i, const std::vector<int64_t>& o) {
    const double v = element_as_double(x, i);
    double& a = acc[o[0]];
    switch (kind) {
      case ReduceKind::kSum:
      case ReduceKind::kMean:
      case ReduceKind::kLogSum: a += v; break;
      case ReduceKind::kMax: a = (std::isnan(v) || std::isnan(a)) ? NAN : std::max(a, v); break;
      case ReduceKind::kMin: a = (std::isnan(v) || std::isnan(a)) ? NAN : std::min(a, v); break;
      case ReduceKind::kProd: a *= v; break;
      case ReduceKind::kL1: a += std::fabs(v); break;
      case ReduceKind::kL2:
      case ReduceKind::kSumSquare: a += v * v; break;
      case ReduceKind::kLogSumExp: {
        const double m = max_of[o[0]];
        if (!std::isinf(m)) a += std::exp(v - m);
        break;
      }
    }
  });
  for (int64_t i = 0; i < outputs; ++i) {
    double r = acc[i];
    switch (kind) {
      case ReduceKind::kMean: r = r / static_cast<double>(count); break;  // 0 / 0 = NaN for an empty set
      case ReduceKind::kL2: r = std::sqrt(r); break;
      case ReduceKind::kLogSum: r = std::log(r); break;
      case ReduceKind::kLogSumExp: {
        const double m = max_of[i];
        r = std::isinf(m) || std::isnan(m) ? m : m + std::log(r);
        break;
      }
      default: break;
    }
    set_element_from_double(y, i, r);
  }
}

// ---------------------------------------------------------------------------------------------------------
// ArgMax / ArgMin: the index (int64) of the first (or, with select_last_index = 1, the last) extreme value
// along `axis` (default 0); keepdims (default 1) keeps that axis as 1.

void infer_arg_reduce(InferContext& ctx) {
  const DataType dtype = ctx.dtype(0);
  if (!is_float_dtype(dtype) && !is_integer_dtype(dtype))
    ctx.fail(std::string("input 0 is ") + dtype_name(dtype) + "; " + ctx.node.op_type +
             " accepts float32, float16, bfloat16, float64, int8, uint8, int32, int64 or bool");
  const Shape& x = ctx.shape(0);
  if (!x.has_rank) {
    ctx.set_output(0, DataType::kInt64, Shape());
    return;
  }
  const int64_t axis = normalize_axis(ctx, ctx.node.attr_int("axis", 0), static_cast<int64_t>(x.rank()));
  if (x.dims[axis].known() && x.dims[axis].value == 0)
    ctx.fail("axis " + std::to_string(axis) + " of X " + x.to_string() + " is empty; " + ctx.node.op_type +
             " needs at least one element");
  Shape out = x;
  if (ctx.node.attr_int("keepdims", 1) != 0) out.dims[axis] = Dim(1);
  else out.dims.erase(out.dims.begin() + axis);
  ctx.set_output(0, DataType::kInt64, out);
}

void arg_reduce_reference(KernelContext& ctx) {
  const bool is_max = ctx.node.op_type == "ArgMax";
  const Tensor& x = ctx.in(0);
  const Dims& dims = x.dims();
  const int64_t axis = normalize_axis(ctx, ctx.node.attr_int("axis", 0), static_cast<int64_t>(dims.size()));
  const bool last = ctx.node.attr_int("select_last_index", 0) != 0;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= dims[d];
  for (size_t d = static_cast<size_t>(axis) + 1; d < dims.size(); ++d) inner *= dims[d];
  const int64_t extent = dims[axis];
  const bool is_float = is_float_dtype(x.dtype());
  int64_t* y = ctx.out(0).data<int64_t>();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      int64_t best = 0;
      for (int64_t k = 1; k < extent; ++k) {
        const int64_t at = (o * extent + k) * inner + i, best_at = (o * extent + best) * inner + i;
        bool better;
        if (is_float) {
          const double v = element_as_double(x, at), b = element_as_double(x, best_at);
          better = is_max ? (last ? v >= b : v > b) : (last ? v <= b : v < b);
        } else {
          const int64_t v = integer_at(x, at), b = integer_at(x, best_at);
          better = is_max ? (last ? v >= b : v > b) : (last ? v <= b : v < b);
        }
        if (better) best = k;
      }
      y[o * inner + i] = best;
    }
  }
}

}  // namespace

NORMRT_REGISTER_OP("", "ReduceSum", infer_reduce, reduce_reference);
NORMRT_REGISTER_OP("", "ReduceMean", infer_reduce, reduce_reference);
NORMRT_REGISTER_OP("", "ReduceMax", infer_reduce, reduce_reference);
NORMRT_REGISTER_OP("", "ReduceMin", infer_reduce, reduce_reference);
NORMRT_REGISTER_OP("", "ReduceProd", infer_reduce, reduce_reference);
NORMRT_REGISTER_OP("", "ReduceL1", infer_reduce, reduce_reference);
NORMRT_REGISTER_OP("", "ReduceL2", infer_reduce, reduce_reference);
NORMRT_REGISTER_OP("", "ReduceSumSquare", infer_reduce, reduce_reference);
NORMRT_REGISTER_OP("", "ReduceLogSum", infer_reduce, reduce_reference);
NORMRT_REGISTER_OP("", "ReduceLogSumExp", infer_reduce, reduce_reference);
NORMRT_REGISTER_OP("", "ArgMax", infer_arg_reduce, arg_reduce_reference);
NORMRT_REGISTER_OP("", "ArgMin", infer_arg_reduce, arg_reduce_reference);

}  // namespace normrt
