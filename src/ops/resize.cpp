// Resize (opsets 11, 13, 18, 19) and Upsample (the opset <= 9 op).
//
// Resize inputs are X, roi, scales, sizes. Opset 11 requires roi and scales as inputs but lets them be empty
// tensors; from opset 13 both are optional. In every opset exactly one of scales and sizes carries values (an
// empty tensor or an omitted input counts as absent). Opset 18 adds the attributes axes, antialias and
// keep_aspect_ratio_policy; opset 19 adds coordinate_transformation_mode half_pixel_symmetric; opset 13 dropped
// tf_half_pixel_for_nn. Output extent per axis: floor(in * scale) with float32 arithmetic as ONNX's shape
// inference does, or the given size (rounded per keep_aspect_ratio_policy).
//
// The reference kernel is separable: per output axis it computes the input taps and weights once, then every
// output element sums the product of its axes' taps. That one formulation covers nearest, linear (bilinear,
// trilinear, ... over whichever axes are resized), cubic, antialias and exclude_outside.
//
// Upsample (opset 9 semantics; ONNX removed it after opset 10): scales from the input (or, opset 7, the
// attribute), each >= 1; mode nearest picks floor(x / scale) and mode linear interpolates at x / scale (the
// asymmetric mapping ONNX Runtime and the ONNX reference use for Upsample).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "ops/shape_util.h"

namespace normrt {
namespace {

enum class Mode { kNearest, kLinear, kCubic };
enum class Coord {
  kHalfPixel,
  kHalfPixelSymmetric,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfHalfPixelForNn,
  kTfCropAndResize
};
enum class Rounding { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };
enum class AspectPolicy { kStretch, kNotLarger, kNotSmaller };

struct ResizeAttrs {
  Mode mode = Mode::kNearest;
  Coord coord = Coord::kHalfPixel;
  Rounding rounding = Rounding::kRoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation = 0.0;
  bool antialias = false;
  AspectPolicy policy = AspectPolicy::kStretch;
  std::vector<int64_t> axes;  // resized axes, normalized, in the attribute's order; all axes when absent
};

std::string ints_text(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

template <typename Ctx>
void require_opset(const Ctx& ctx, int64_t since, const std::string& what) {
  if (ctx.opset < since)
    ctx.fail(what + " needs opset " + std::to_string(since) + " or later; the model has opset " +
             std::to_string(ctx.opset));
}

template <typename Ctx>
ResizeAttrs read_resize_attrs(const Ctx& ctx, size_t rank) {
  const Node& node = ctx.node;
  ResizeAttrs a;
  const std::string mode = node.attr_string("mode", "nearest");
  if (mode == "nearest")
    a.mode = Mode::kNearest;
  else if (mode == "linear")
    a.mode = Mode::kLinear;
  else if (mode == "cubic")
    a.mode = Mode::kCubic;
  else
    ctx.fail("attribute 'mode' is '" + mode + "'; expected nearest, linear or cubic");

  const std::string coord = node.attr_string("coordinate_transformation_mode", "half_pixel");
  if (coord == "half_pixel")
    a.coord = Coord::kHalfPixel;
  else if (coord == "pytorch_half_pixel")
    a.coord = Coord::kPytorchHalfPixel;
  else if (coord == "align_corners")
    a.coord = Coord::kAlignCorners;
  else if (coord == "asymmetric")
    a.coord = Coord::kAsymmetric;
  else if (coord == "tf_crop_and_resize")
    a.coord = Coord::kTfCropAndResize;
  else if (coord == "half_pixel_symmetric") {
    require_opset(ctx, 19, "coordinate_transformation_mode 'half_pixel_symmetric'");
    a.coord = Coord::kHalfPixelSymmetric;
  } else if (coord == "tf_half_pixel_for_nn") {
    if (ctx.opset >= 13)
      ctx.fail(
          "coordinate_transformation_mode 'tf_half_pixel_for_nn' exists only in opsets 11 and 12; the model has "
          "opset " +
          std::to_string(ctx.opset));
    a.coord = Coord::kTfHalfPixelForNn;
  } else {
    ctx.fail("attribute 'coordinate_transformation_mode' is '" + coord +
             "'; expected half_pixel, half_pixel_symmetric, pytorch_half_pixel, align_corners, asymmetric, "
             "tf_crop_and_resize or (opset 11) tf_half_pixel_for_nn");
  }

  const std::string rounding = node.attr_string("nearest_mode", "round_prefer_floor");
  if (rounding == "round_prefer_floor")
    a.rounding = Rounding::kRoundPreferFloor;
  else if (rounding == "round_prefer_ceil")
    a.rounding = Rounding::kRoundPreferCeil;
  else if (rounding == "floor")
    a.rounding = Rounding::kFloor;
  else if (rounding == "ceil")
    a.rounding = Rounding::kCeil;
  else
    ctx.fail("attribute 'nearest_mode' is '" + rounding +
             "'; expected round_prefer_floor, round_prefer_ceil, floor or ceil");

  a.cubic_a = node.attr_float("cubic_coeff_a", -0.75f);
  a.exclude_outside = node.attr_int("exclude_outside", 0) != 0;
  a.extrapolation = node.attr_float("extrapolation_value", 0.0f);

  if (node.has_attribute("antialias")) {
    require_opset(ctx, 18, "attribute 'antialias'");
    a.antialias = node.attr_int("antialias") != 0;
  }
  if (node.has_attribute("keep_aspect_ratio_policy")) {
    require_opset(ctx, 18, "attribute 'keep_aspect_ratio_policy'");
    const std::string policy = node.attr_string("keep_aspect_ratio_policy", "stretch");
    if (policy == "stretch")
      a.policy = AspectPolicy::kStretch;
    else if (policy == "not_larger")
      a.policy = AspectPolicy::kNotLarger;
    else if (policy == "not_smaller")
      a.policy = AspectPolicy::kNotSmaller;
    else
      ctx.fail("attribute 'keep_aspect_ratio_policy' is '" + policy + "'; expected stretch, not_larger or not_smaller");
  }
  if (node.has_attribute("axes")) {
    require_opset(ctx, 18, "attribute 'axes'");
    std::vector<bool> seen(rank, false);
    for (int64_t axis : node.attr_ints("axes")) {
      const int64_t r = static_cast<int64_t>(rank);
      if (axis < -r || axis >= r)
        ctx.fail("attribute 'axes' " + ints_text(node.attr_ints("axes")) + " is out of range for rank " +
                 std::to_string(rank));
      const int64_t d = axis < 0 ? axis + r : axis;
      if (seen[static_cast<size_t>(d)])
        ctx.fail("attribute 'axes' " + ints_text(node.attr_ints("axes")) + " repeats an axis");
      seen[static_cast<size_t>(d)] = true;
      a.axes.push_back(d);
    }
  } else {
    for (size_t d = 0; d < rank; ++d) a.axes.push_back(static_cast<int64_t>(d));
  }
  return a;
}

// Which of scales and sizes carries values. At build time a value may be unknown; an input whose shape is
// known to be empty counts as absent.
enum class Presence { kAbsent, kPresent, kUnknown };

Presence input_presence(const InferContext& ctx, size_t i) {
  if (!ctx.has_input(i)) return Presence::kAbsent;
  if (const Tensor* v = ctx.value(i)) return v->numel() == 0 ? Presence::kAbsent : Presence::kPresent;
  const Shape& s = ctx.shape(i);
  if (s.has_rank) {
    bool unknown = false;
    for (const Dim& d : s.dims) {
      if (d.known() && d.value == 0) return Presence::kAbsent;
      if (!d.known()) unknown = true;
    }
    if (!unknown) return Presence::kPresent;
  }
  return Presence::kUnknown;
}

template <typename Ctx>
void check_scales_sizes(const Ctx& ctx, Presence scales, Presence sizes) {
  if (scales == Presence::kPresent && sizes == Presence::kPresent)
    ctx.fail("both 'scales' (input 2) and 'sizes' (input 3) are given; exactly one of them may carry values");
  if (scales == Presence::kAbsent && sizes == Presence::kAbsent)
    ctx.fail("neither 'scales' (input 2) nor 'sizes' (input 3) is given; exactly one of them must carry values");
}

std::vector<double> doubles_of(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = element_as_double(t, i);
  return v;
}

template <typename Ctx>
std::vector<int64_t> ints_of(const Ctx& ctx, const Tensor& t, const char* what) {
  if (t.dtype() != DataType::kInt64 && t.dtype() != DataType::kInt32)
    ctx.fail(std::string("input '") + what + "' must be int64 but is " + dtype_name(t.dtype()));
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i)
    v[static_cast<size_t>(i)] = t.dtype() == DataType::kInt64 ? t.data<int64_t>()[i] : t.data<int32_t>()[i];
  return v;
}

// Per-axis scales (1 for axes not resized) from the scales input, checked.
template <typename Ctx>
std::vector<double> full_scales(const Ctx& ctx, const ResizeAttrs& a, const Tensor& scales, size_t rank) {
  if (!(scales.dtype() == DataType::kFloat32 || scales.dtype() == DataType::kFloat16 ||
        scales.dtype() == DataType::kFloat64))
    ctx.fail(std::string("input 'scales' must be float32 but is ") + dtype_name(scales.dtype()));
  const std::vector<double> v = doubles_of(scales);
  if (v.size() != a.axes.size())
    ctx.fail("input 'scales' has " + std::to_string(v.size()) + " values; expected " + std::to_string(a.axes.size()) +
             (a.axes.size() == rank ? " (the rank of X)" : " (one per entry of 'axes')"));
  std::vector<double> full(rank, 1.0);
  for (size_t i = 0; i < v.size(); ++i) {
    if (!(v[i] > 0)) ctx.fail("input 'scales' must be positive but has " + std::to_string(v[i]));
    full[static_cast<size_t>(a.axes[i])] = v[i];
  }
  if (a.policy != AspectPolicy::kStretch)
    ctx.fail("keep_aspect_ratio_policy other than 'stretch' applies to 'sizes' only, but 'scales' is given");
  return full;
}

// floor(in * scale) in float32, as ONNX shape inference and ONNX Runtime compute it: 10 * 0.7f is 7 in float32
// but 6.99999988 in double, which would floor to 6.
// An extent beyond 2^62 (a hostile scale; float overflow to inf included) is refused: converting it to int64
// would be undefined behaviour.
int64_t scaled_extent(const InferContext& ctx, int64_t in, double scale) {
  const double extent = std::floor(static_cast<float>(in) * static_cast<float>(scale));
  if (!(extent < 4.611686018427387904e18))
    ctx.fail("scale " + std::to_string(scale) + " makes an output extent of " + std::to_string(extent) +
             " from " + std::to_string(in) + ", which does not fit int64; fix the scales input");
  return static_cast<int64_t>(extent);
}

// The sizes input resolved for all axes: out extent per axis and, for keep_aspect_ratio_policy, the one scale
// every resized axis uses (0 when the policy is stretch). `in` may hold -1 for unknown dims; then extents that
// depend on it come back -1.
template <typename Ctx>
std::vector<int64_t> full_sizes(const Ctx& ctx, const ResizeAttrs& a, const std::vector<int64_t>& sizes,
                                const std::vector<int64_t>& in, double* uniform_scale) {
  const size_t rank = in.size();
  if (sizes.size() != a.axes.size())
    ctx.fail("input 'sizes' has " + std::to_string(sizes.size()) + " values; expected " +
             std::to_string(a.axes.size()) +
             (a.axes.size() == rank ? " (the rank of X)" : " (one per entry of 'axes')"));
  for (int64_t s : sizes)
    if (s < 0) ctx.fail("input 'sizes' " + ints_text(sizes) + " must not be negative");
  std::vector<int64_t> out = in;
  *uniform_scale = 0;
  if (a.policy == AspectPolicy::kStretch) {
    for (size_t i = 0; i < sizes.size(); ++i) out[static_cast<size_t>(a.axes[i])] = sizes[i];
    return out;
  }
  bool known = true;
  double scale = a.policy == AspectPolicy::kNotLarger ? std::numeric_limits<double>::infinity() : 0.0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const int64_t extent = in[static_cast<size_t>(a.axes[i])];
    if (extent < 0) {
      known = false;
      continue;
    }
    const double s = static_cast<double>(sizes[i]) / static_cast<double>(extent);
    scale = a.policy == AspectPolicy::kNotLarger ? std::min(scale, s) : std::max(scale, s);
  }
  for (size_t i = 0; i < sizes.size(); ++i) {
    const size_t d = static_cast<size_t>(a.axes[i]);
    // round_int of the spec: nearest integer, halfway cases up.
    const double extent = std::floor(scale * static_cast<double>(in[d]) + 0.5);
    if (known && !(extent < 4.611686018427387904e18))
      ctx.fail("keep_aspect_ratio_policy makes an output extent of " + std::to_string(extent) + " from " +
               std::to_string(in[d]) + ", which does not fit int64; fix the sizes input");
    out[d] = known ? static_cast<int64_t>(extent) : -1;
  }
  *uniform_scale = known ? scale : 0;
  return out;
}

void infer_resize(InferContext& ctx) {
  const DataType dtype = ctx.dtype(0);
  const Shape& x = ctx.shape(0);
  if (ctx.opset < 13 && ctx.node.op_type == "Resize" && (!ctx.has_input(1) || !ctx.has_input(2)))
    ctx.fail("opset " + std::to_string(ctx.opset) + " requires inputs 'roi' and 'scales' (they may be empty tensors)");
  const Presence scales = input_presence(ctx, 2), sizes = input_presence(ctx, 3);
  check_scales_sizes(ctx, scales, sizes);
  if (!x.has_rank) {
    ctx.set_output(0, dtype, Shape());
    return;
  }
  const size_t rank = x.rank();
  const ResizeAttrs a = read_resize_attrs(ctx, rank);
  if (dtype == DataType::kBool && a.mode != Mode::kNearest)
    ctx.fail("mode linear and cubic need a numeric input, not bool");
  std::vector<Dim> out(rank, Dim::unknown());
  // Axes that are not resized keep their dim whatever happens.
  std::vector<bool> resized(rank, false);
  for (int64_t d : a.axes) resized[static_cast<size_t>(d)] = true;
  for (size_t d = 0; d < rank; ++d)
    if (!resized[d]) out[d] = x.dims[d];
  if (scales == Presence::kPresent && ctx.value(2)) {
    const std::vector<double> s = full_scales(ctx, a, *ctx.value(2), rank);
    for (size_t d = 0; d < rank; ++d) {
      if (x.dims[d].known())
        out[d] = Dim(scaled_extent(ctx, x.dims[d].value, s[d]));
      else if (s[d] == 1.0)
        out[d] = x.dims[d];
    }
  } else if (sizes == Presence::kPresent && ctx.value(3)) {
    std::vector<int64_t> in(rank);
    for (size_t d = 0; d < rank; ++d) in[d] = x.dims[d].value;
    double uniform = 0;
    const std::vector<int64_t> o = full_sizes(ctx, a, ints_of(ctx, *ctx.value(3), "sizes"), in, &uniform);
    for (size_t d = 0; d < rank; ++d) {
      if (!resized[d]) continue;
      if (o[d] >= 0) out[d] = Dim(o[d]);
    }
  }
  ctx.set_output(0, dtype, Shape(out));
}

void infer_upsample(InferContext& ctx) {
  const DataType dtype = ctx.dtype(0);
  const Shape& x = ctx.shape(0);
  const std::string mode = ctx.node.attr_string("mode", "nearest");
  if (mode != "nearest" && mode != "linear" && mode != "bilinear")
    ctx.fail("attribute 'mode' is '" + mode + "'; expected nearest or linear");
  if (!x.has_rank) {
    ctx.set_output(0, dtype, Shape());
    return;
  }
  std::vector<double> scales;
  if (ctx.has_input(1)) {
    if (const Tensor* v = ctx.value(1)) scales = doubles_of(*v);
  } else if (ctx.node.has_attribute("scales")) {
    for (float f : ctx.node.attr_floats("scales")) scales.push_back(f);
  } else {
    ctx.fail("needs the 'scales' input (or, opset 7, the 'scales' attribute)");
  }
  std::vector<Dim> out(x.rank(), Dim::unknown());
  if (!scales.empty() || (ctx.has_input(1) && ctx.value(1))) {
    if (scales.size() != x.rank())
      ctx.fail("'scales' has " + std::to_string(scales.size()) + " values; expected " + std::to_string(x.rank()) +
               " (the rank of X)");
    for (size_t d = 0; d < x.rank(); ++d) {
      if (!(scales[d] >= 1.0)) ctx.fail("'scales' must be >= 1 for Upsample but has " + std::to_string(scales[d]));
      if (x.dims[d].known())
        out[d] = Dim(scaled_extent(ctx, x.dims[d].value, scales[d]));
      else if (scales[d] == 1.0)
        out[d] = x.dims[d];
    }
  }
  ctx.set_output(0, dtype, Shape(out));
}

// ---- reference kernel ----

// The input coordinate an output coordinate maps to (the spec's x_original). `length` is the spec's
// length_resized/output_width: the fractional in * scale when scales were given (as the ONNX reference
// implementation, whose outputs are the conformance data, computes it), the integer size when sizes were.
// `out` is the integer output extent (output_width_int).
double original_coordinate(Coord c, int64_t x, int64_t in, int64_t out, double length, double scale, double roi_start,
                           double roi_end) {
  const double xr = static_cast<double>(x);
  const double in_minus_1 = static_cast<double>(in - 1);
  switch (c) {
    case Coord::kHalfPixel:
      return (xr + 0.5) / scale - 0.5;
    case Coord::kHalfPixelSymmetric: {
      const double adjustment = static_cast<double>(out) / length;
      const double center = static_cast<double>(in) / 2;
      return center * (1 - adjustment) + (xr + 0.5) / scale - 0.5;
    }
    case Coord::kPytorchHalfPixel:
      return length > 1 ? (xr + 0.5) / scale - 0.5 : 0.0;
    case Coord::kAlignCorners:
      return length == 1 ? 0.0 : xr * in_minus_1 / (length - 1);
    case Coord::kAsymmetric:
      return xr / scale;
    case Coord::kTfHalfPixelForNn:
      return (xr + 0.5) / scale;
    case Coord::kTfCropAndResize:
      return length > 1 ? roi_start * in_minus_1 + xr * (roi_end - roi_start) * in_minus_1 / (length - 1)
                        : 0.5 * (roi_start + roi_end) * in_minus_1;
  }
  return 0;
}

int64_t round_nearest(Rounding r, double x) {
  const double f = std::floor(x);
  const double frac = x - f;
  switch (r) {
    case Rounding::kRoundPreferFloor:
      return static_cast<int64_t>(frac <= 0.5 ? f : f + 1);
    case Rounding::kRoundPreferCeil:
      return static_cast<int64_t>(frac < 0.5 ? f : f + 1);
    case Rounding::kFloor:
      return static_cast<int64_t>(f);
    case Rounding::kCeil:
      return static_cast<int64_t>(std::ceil(x));
  }
  return 0;
}

double cubic_kernel(double t, double A) {
  t = std::fabs(t);
  if (t <= 1) return ((A + 2) * t - (A + 3)) * t * t + 1;
  if (t < 2) return ((A * t - 5 * A) * t + 8 * A) * t - 4 * A;
  return 0;
}

// Taps of one axis: for output coordinate o, taps [begin[o], begin[o+1]) of index/weight; outside[o] marks a
// coordinate that tf_crop_and_resize sends outside the input (the output takes extrapolation_value).
struct AxisTaps {
  std::vector<size_t> begin;
  std::vector<int64_t> index;
  std::vector<double> weight;
  std::vector<uint8_t> outside;
};

AxisTaps axis_taps(const ResizeAttrs& a, int64_t in, int64_t out, double length, double scale, double roi_start,
                   double roi_end) {
  AxisTaps t;
  t.begin.push_back(0);
  t.outside.assign(static_cast<size_t>(out), 0);
  std::vector<int64_t> idx;
  std::vector<double> w;
  for (int64_t o = 0; o < out; ++o) {
    const double xo = original_coordinate(a.coord, o, in, out, length, scale, roi_start, roi_end);
    if (a.coord == Coord::kTfCropAndResize && (xo < 0 || xo > static_cast<double>(in - 1))) {
      t.outside[static_cast<size_t>(o)] = 1;
      t.begin.push_back(t.index.size());
      continue;
    }
    if (a.mode == Mode::kNearest) {
      t.index.push_back(std::clamp<int64_t>(round_nearest(a.rounding, xo), 0, in - 1));
      t.weight.push_back(1.0);
      t.begin.push_back(t.index.size());
      continue;
    }
    const double support = a.mode == Mode::kLinear ? 1.0 : 2.0;
    // Antialias widens the filter by 1/scale when downsampling (ONNX Resize-18).
    const double filter_scale = a.antialias ? std::min(scale, 1.0) : 1.0;
    const double f = std::floor(xo), r = xo - f;
    const int64_t start = static_cast<int64_t>(std::floor(-support / filter_scale)) + 1;
    idx.clear();
    w.clear();
    double sum = 0;
    for (int64_t j = start; j <= 1 - start; ++j) {
      const double dist = (static_cast<double>(j) - r) * filter_scale;
      const double weight =
          a.mode == Mode::kLinear ? std::max(0.0, 1.0 - std::fabs(dist)) : cubic_kernel(dist, a.cubic_a);
      idx.push_back(static_cast<int64_t>(f) + j);
      w.push_back(weight);
      sum += weight;
    }
    if (a.antialias && sum != 0)
      for (double& v : w) v /= sum;
    if (a.exclude_outside) {
      double inside = 0;
      for (size_t k = 0; k < idx.size(); ++k) {
        if (idx[k] < 0 || idx[k] >= in) w[k] = 0;
        inside += w[k];
      }
      if (inside != 0)
        for (double& v : w) v /= inside;
    }
    for (size_t k = 0; k < idx.size(); ++k) {
      if (w[k] == 0) continue;
      t.index.push_back(std::clamp<int64_t>(idx[k], 0, in - 1));  // edge values stand in for outside taps
      t.weight.push_back(w[k]);
    }
    t.begin.push_back(t.index.size());
  }
  return t;
}

// Everything the kernel needs: per-axis extents, scales and roi.
struct ResizePlan {
  ResizeAttrs attrs;
  Dims in, out;
  std::vector<double> scale, length, roi_start, roi_end;  // length: see original_coordinate
};

void run_resize(const KernelContext& ctx, const ResizePlan& plan, const Tensor& X, Tensor& Y) {
  const size_t rank = plan.in.size();
  if (Y.numel() == 0) return;
  for (size_t d = 0; d < rank; ++d)
    if (plan.in[d] == 0)
      ctx.fail("cannot resize axis " + std::to_string(d) + " of extent 0 to extent " + std::to_string(plan.out[d]));
  std::vector<AxisTaps> taps;
  for (size_t d = 0; d < rank; ++d)
    taps.push_back(axis_taps(plan.attrs, plan.in[d], plan.out[d], plan.length[d], plan.scale[d], plan.roi_start[d],
                             plan.roi_end[d]));
  const std::vector<int64_t> in_strides = strides_of(plan.in);
  const int64_t last_out = plan.out[rank - 1];
  const int64_t rows = Y.numel() / last_out;
  const AxisTaps& last = taps[rank - 1];
  const size_t elem = dtype_size(X.dtype());
  const bool nearest = plan.attrs.mode == Mode::kNearest;
  const bool is_float = X.dtype() == DataType::kFloat32;
  const bool is_integer = !(is_float || X.dtype() == DataType::kFloat16 || X.dtype() == DataType::kFloat64 ||
                            X.dtype() == DataType::kBFloat16);
  auto load = [&](int64_t i) { return is_float ? static_cast<double>(X.data<float>()[i]) : element_as_double(X, i); };
  auto store = [&](int64_t i, double v) {
    if (is_float) {
      Y.data<float>()[i] = static_cast<float>(v);
      return;
    }
    if (is_integer && !nearest) {
      v = std::nearbyint(v);
      if (X.dtype() == DataType::kUInt8) v = std::clamp(v, 0.0, 255.0);
      if (X.dtype() == DataType::kInt8) v = std::clamp(v, -128.0, 127.0);
    }
    set_element_from_double(Y, i, v);
  };
  std::vector<int64_t> row_index(rank, 0);  // index of the current row over axes 0..rank-2
  std::vector<std::pair<int64_t, double>> combos, next;
  for (int64_t row = 0; row < rows; ++row) {
    // The (input offset, weight) pairs of this row over the leading axes.
    combos.assign(1, {0, 1.0});
    bool outside = false;
    for (size_t d = 0; d + 1 < rank && !outside; ++d) {
      const AxisTaps& t = taps[d];
      const size_t o = static_cast<size_t>(row_index[d]);
      if (t.outside[o]) {
        outside = true;
        break;
      }
      next.clear();
      for (const auto& [offset, weight] : combos)
        for (size_t k = t.begin[o]; k < t.begin[o + 1]; ++k)
          next.push_back({offset + t.index[k] * in_strides[d], weight * t.weight[k]});
      combos.swap(next);
    }
    const int64_t y_base = row * last_out;
    for (int64_t o = 0; o < last_out; ++o) {
      const size_t ou = static_cast<size_t>(o);
      if (outside || last.outside[ou]) {
        set_element_from_double(Y, y_base + o, plan.attrs.extrapolation);
        continue;
      }
      if (nearest) {  // exact copy, any dtype
        const int64_t src = combos[0].first + last.index[last.begin[ou]];
        std::memcpy(static_cast<unsigned char*>(Y.raw()) + (y_base + o) * elem,
                    static_cast<const unsigned char*>(X.raw()) + src * elem, elem);
        continue;
      }
      double acc = 0;
      for (const auto& [offset, weight] : combos)
        for (size_t k = last.begin[ou]; k < last.begin[ou + 1]; ++k)
          acc += weight * last.weight[k] * load(offset + last.index[k]);
      store(y_base + o, acc);
    }
    for (size_t d = rank - 1; d-- > 0;) {
      if (++row_index[d] < plan.out[d]) break;
      row_index[d] = 0;
    }
  }
}

void resize_reference(KernelContext& ctx) {
  const Tensor& X = ctx.in(0);
  Tensor& Y = ctx.out(0);
  const size_t rank = X.rank();
  if (rank == 0) ctx.fail("input 0 must have rank >= 1");
  ResizePlan plan;
  plan.attrs = read_resize_attrs(ctx, rank);
  plan.in = X.dims();
  plan.out = Y.dims();
  plan.roi_start.assign(rank, 0.0);
  plan.roi_end.assign(rank, 1.0);
  const Tensor* scales = ctx.has_input(2) && ctx.in(2).numel() > 0 ? &ctx.in(2) : nullptr;
  const Tensor* sizes = ctx.has_input(3) && ctx.in(3).numel() > 0 ? &ctx.in(3) : nullptr;
  check_scales_sizes(ctx, scales ? Presence::kPresent : Presence::kAbsent,
                     sizes ? Presence::kPresent : Presence::kAbsent);
  if (scales) {
    plan.scale = full_scales(ctx, plan.attrs, *scales, rank);
  } else {
    double uniform = 0;
    full_sizes(ctx, plan.attrs, ints_of(ctx, *sizes, "sizes"), plan.in, &uniform);
    plan.scale.assign(rank, 1.0);
    for (int64_t d : plan.attrs.axes) {
      const size_t du = static_cast<size_t>(d);
      plan.scale[du] =
          uniform > 0 ? uniform
                      : (plan.in[du] > 0 ? static_cast<double>(plan.out[du]) / static_cast<double>(plan.in[du]) : 1.0);
    }
  }
  if (plan.attrs.coord == Coord::kTfCropAndResize) {
    if (!ctx.has_input(1) || ctx.in(1).numel() == 0)
      ctx.fail("coordinate_transformation_mode 'tf_crop_and_resize' needs the 'roi' input (input 1)");
    const std::vector<double> roi = doubles_of(ctx.in(1));
    const size_t n = plan.attrs.axes.size();
    if (roi.size() != 2 * n)
      ctx.fail("input 'roi' has " + std::to_string(roi.size()) + " values; expected " + std::to_string(2 * n) +
               " (starts then ends of each resized axis)");
    for (size_t i = 0; i < n; ++i) {
      plan.roi_start[static_cast<size_t>(plan.attrs.axes[i])] = roi[i];
      plan.roi_end[static_cast<size_t>(plan.attrs.axes[i])] = roi[n + i];
    }
  }
  for (size_t d = 0; d < rank; ++d) {
    if (!(plan.scale[d] > 0)) plan.scale[d] = 1.0;  // only for extent-0 outputs, which compute nothing
    const bool integer_length = sizes && plan.attrs.policy == AspectPolicy::kStretch;
    plan.length.push_back(integer_length ? static_cast<double>(plan.out[d])
                                         : plan.scale[d] * static_cast<double>(plan.in[d]));
  }
  run_resize(ctx, plan, X, Y);
}

void upsample_reference(KernelContext& ctx) {
  const Tensor& X = ctx.in(0);
  Tensor& Y = ctx.out(0);
  const size_t rank = X.rank();
  if (rank == 0) ctx.fail("input 0 must have rank >= 1");
  ResizePlan plan;
  const std::string mode = ctx.node.attr_string("mode", "nearest");
  plan.attrs.mode = mode == "nearest" ? Mode::kNearest : Mode::kLinear;
  plan.attrs.coord = Coord::kAsymmetric;
  plan.attrs.rounding = Rounding::kFloor;
  plan.in = X.dims();
  plan.out = Y.dims();
  if (ctx.has_input(1)) {
    plan.scale = doubles_of(ctx.in(1));
  } else {
    for (float f : ctx.node.attr_floats("scales")) plan.scale.push_back(f);
  }
  if (plan.scale.size() != rank)
    ctx.fail("'scales' has " + std::to_string(plan.scale.size()) + " values; expected " + std::to_string(rank));
  plan.roi_start.assign(rank, 0.0);
  plan.roi_end.assign(rank, 1.0);
  for (size_t d = 0; d < rank; ++d) plan.length.push_back(plan.scale[d] * static_cast<double>(plan.in[d]));
  run_resize(ctx, plan, X, Y);
}

}  // namespace

NORMRT_REGISTER_OP("", "Resize", infer_resize, resize_reference);
NORMRT_REGISTER_OP("", "Upsample", infer_upsample, upsample_reference);

}  // namespace normrt
