// Resize (opsets 11-19) and Upsample on the GPU, with the semantics of src/ops/resize.cpp: nearest (every
// nearest_mode), linear and cubic over any axes, every coordinate_transformation_mode, antialias,
// exclude_outside, extrapolation_value, keep_aspect_ratio_policy and the axes attribute.
//
// The host turns scales / sizes (host inputs) into per-axis extents, scales and lengths exactly as the reference
// does. An axis whose mapping is the identity (same extent, scale 1, a mode that maps x to x) is copied; the
// others ("active", at most kMaxActive of them) are resampled: each output element computes its source
// coordinate per active axis in double, as the reference does, so nearest picks the same element and the
// filter weights agree; linear and cubic accumulate the separable taps in double. Nearest moves elements as
// words (every dtype), 16 bytes at a time when the last axis is not resized and holds whole 16-byte words;
// linear and cubic take float32 / float16.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cuda/cuda_util.h"

namespace normrt {
namespace cuda {
namespace {

constexpr int kMaxActive = 4;

enum Mode : int { kNearest, kLinear, kCubic };
enum Coord : int {
  kHalfPixel,
  kHalfPixelSymmetric,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfHalfPixelForNn,
  kTfCropAndResize
};
enum Rounding : int { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };
enum Policy : int { kStretch, kNotLarger, kNotSmaller };

struct ResizeParams {
  int rank;
  int active;
  int mode, coord, rounding;
  bool exclude_outside, antialias;
  double cubic_a;
  int64_t out_dims[kMaxRank];
  int64_t in_strides[kMaxRank];
  int slot[kMaxRank];  // index into the active arrays, -1 for an identity axis
  int64_t in[kMaxActive], out[kMaxActive];
  double scale[kMaxActive], length[kMaxActive], roi_start[kMaxActive], roi_end[kMaxActive];
};

// ---- device: the reference's coordinate mapping and filters ----
__device__ double original_coordinate(const ResizeParams& p, int s, int64_t x) {
  const double xr = static_cast<double>(x), in = static_cast<double>(p.in[s]), length = p.length[s];
  const double scale = p.scale[s];
  switch (p.coord) {
    case kHalfPixel:
      return (xr + 0.5) / scale - 0.5;
    case kHalfPixelSymmetric: {
      const double adjustment = static_cast<double>(p.out[s]) / length;
      const double center = in / 2;
      return center * (1 - adjustment) + (xr + 0.5) / scale - 0.5;
    }
    case kPytorchHalfPixel:
      return length > 1 ? (xr + 0.5) / scale - 0.5 : 0.0;
    case kAlignCorners:
      return length == 1 ? 0.0 : xr * (in - 1) / (length - 1);
    case kAsymmetric:
      return xr / scale;
    case kTfHalfPixelForNn:
      return (xr + 0.5) / scale;
    default:  // tf_crop_and_resize
      return length > 1 ? p.roi_start[s] * (in - 1) + xr * (p.roi_end[s] - p.roi_start[s]) * (in - 1) / (length - 1)
                        : 0.5 * (p.roi_start[s] + p.roi_end[s]) * (in - 1);
  }
}

__device__ int64_t round_nearest(int rounding, double x) {
  const double f = floor(x), frac = x - f;
  switch (rounding) {
    case kRoundPreferFloor:
      return static_cast<int64_t>(frac <= 0.5 ? f : f + 1);
    case kRoundPreferCeil:
      return static_cast<int64_t>(frac < 0.5 ? f : f + 1);
    case kFloor:
      return static_cast<int64_t>(f);
    default:
      return static_cast<int64_t>(ceil(x));
  }
}

__device__ __forceinline__ int64_t clamp_index(int64_t i, int64_t n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

__device__ bool outside_roi(const ResizeParams& p, int s, double xo) {
  return p.coord == kTfCropAndResize && (xo < 0 || xo > static_cast<double>(p.in[s] - 1));
}

// Splits output element i into the input offset of its identity axes and its active-axis coordinates.
__device__ int64_t decompose(const ResizeParams& p, int64_t i, int64_t (&coordinate)[kMaxActive]) {
  int64_t base = 0;
  for (int d = p.rank - 1; d >= 0; --d) {
    const int64_t q = i / p.out_dims[d];
    const int64_t c = i - q * p.out_dims[d];
    i = q;
    if (p.slot[d] < 0)
      base += c * p.in_strides[d];
    else
      coordinate[p.slot[d]] = c;
  }
  return base;
}

template <typename W>
__global__ void resize_nearest_kernel(const W* __restrict__ x, W* __restrict__ y, int64_t n, ResizeParams p,
                                      W extrapolation) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    int64_t coordinate[kMaxActive] = {};
    int64_t offset = decompose(p, i, coordinate);
    bool outside = false;
    for (int d = 0; d < p.rank; ++d) {
      const int s = p.slot[d];
      if (s < 0) continue;
      const double xo = original_coordinate(p, s, coordinate[s]);
      if (outside_roi(p, s, xo)) {
        outside = true;
        break;
      }
      offset += clamp_index(round_nearest(p.rounding, xo), p.in[s]) * p.in_strides[d];
    }
    y[i] = outside ? extrapolation : x[offset];
  }
}

__device__ double cubic_kernel(double t, double a) {
  t = fabs(t);
  if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0;
}

// The filter of one active axis at one output coordinate: taps j in [start, 1 - start] at input floor + j.
struct AxisFilter {
  int64_t floor_index;
  double frac, filter_scale, divisor;
  int start;
};

__device__ double raw_weight(const ResizeParams& p, const AxisFilter& f, int j) {
  const double dist = (static_cast<double>(j) - f.frac) * f.filter_scale;
  return p.mode == kLinear ? fmax(0.0, 1.0 - fabs(dist)) : cubic_kernel(dist, p.cubic_a);
}

__device__ AxisFilter make_filter(const ResizeParams& p, int s, double xo) {
  AxisFilter f;
  const double support = p.mode == kLinear ? 1.0 : 2.0;
  f.filter_scale = p.antialias ? fmin(p.scale[s], 1.0) : 1.0;
  const double fl = floor(xo);
  f.floor_index = static_cast<int64_t>(fl);
  f.frac = xo - fl;
  f.start = static_cast<int>(floor(-support / f.filter_scale)) + 1;
  double sum = 0;
  for (int j = f.start; j <= 1 - f.start; ++j) sum += raw_weight(p, f, j);
  const double antialias_divisor = (p.antialias && sum != 0) ? sum : 1.0;
  f.divisor = antialias_divisor;
  if (p.exclude_outside) {
    double inside = 0;
    for (int j = f.start; j <= 1 - f.start; ++j) {
      const int64_t index = f.floor_index + j;
      if (index >= 0 && index < p.in[s]) inside += raw_weight(p, f, j) / antialias_divisor;
    }
    if (inside != 0) f.divisor = antialias_divisor * inside;
  }
  return f;
}

__device__ double tap_weight(const ResizeParams& p, int s, const AxisFilter& f, int j) {
  const int64_t index = f.floor_index + j;
  if (p.exclude_outside && (index < 0 || index >= p.in[s])) return 0;
  return raw_weight(p, f, j) / f.divisor;
}

template <typename T>
__global__ void resize_filter_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, ResizeParams p,
                                     double extrapolation) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    int64_t coordinate[kMaxActive] = {};
    const int64_t base = decompose(p, i, coordinate);
    AxisFilter filter[kMaxActive];
    int64_t axis_stride[kMaxActive];
    bool outside = false;
    for (int d = 0; d < p.rank; ++d) {
      const int s = p.slot[d];
      if (s < 0) continue;
      axis_stride[s] = p.in_strides[d];
      const double xo = original_coordinate(p, s, coordinate[s]);
      if (outside_roi(p, s, xo)) outside = true;
      filter[s] = make_filter(p, s, xo);
    }
    if (outside) {
      y[i] = store_as<T>(static_cast<float>(extrapolation));
      continue;
    }
    int j[kMaxActive];
    for (int s = 0; s < p.active; ++s) j[s] = filter[s].start;
    double acc = 0;
    while (true) {
      double w = 1;
      int64_t offset = base;
      for (int s = 0; s < p.active && w != 0; ++s) {
        w *= tap_weight(p, s, filter[s], j[s]);
        offset += clamp_index(filter[s].floor_index + j[s], p.in[s]) * axis_stride[s];
      }
      if (w != 0) acc += w * static_cast<double>(load_as<T>(x[offset]));
      int s = p.active - 1;
      for (; s >= 0; --s) {
        if (++j[s] <= 1 - filter[s].start) break;
        j[s] = filter[s].start;
      }
      if (s < 0) break;
    }
    y[i] = store_as<T>(static_cast<float>(acc));
  }
}

// ---- host: attributes and the per-axis plan ----
struct Plan {
  int mode = kNearest, coord = kHalfPixel, rounding = kRoundPreferFloor, policy = kStretch;
  double cubic_a = -0.75, extrapolation = 0;
  bool exclude_outside = false, antialias = false;
  std::vector<int64_t> axes;
  Dims in, out;
  std::vector<double> scale, length, roi_start, roi_end;
};

bool parse_attributes(const Node& node, int64_t opset, size_t rank, Plan* plan) {
  const std::string mode = node.attr_string("mode", "nearest");
  if (node.op_type == "Upsample") {
    if (mode != "nearest" && mode != "linear" && mode != "bilinear") return false;
    plan->mode = mode == "nearest" ? kNearest : kLinear;
    plan->coord = kAsymmetric;
    plan->rounding = kFloor;
    for (size_t d = 0; d < rank; ++d) plan->axes.push_back(static_cast<int64_t>(d));
    return true;
  }
  if (mode == "nearest")
    plan->mode = kNearest;
  else if (mode == "linear")
    plan->mode = kLinear;
  else if (mode == "cubic")
    plan->mode = kCubic;
  else
    return false;
  const std::string coord = node.attr_string("coordinate_transformation_mode", "half_pixel");
  if (coord == "half_pixel")
    plan->coord = kHalfPixel;
  else if (coord == "half_pixel_symmetric" && opset >= 19)
    plan->coord = kHalfPixelSymmetric;
  else if (coord == "pytorch_half_pixel")
    plan->coord = kPytorchHalfPixel;
  else if (coord == "align_corners")
    plan->coord = kAlignCorners;
  else if (coord == "asymmetric")
    plan->coord = kAsymmetric;
  else if (coord == "tf_half_pixel_for_nn" && opset < 13)
    plan->coord = kTfHalfPixelForNn;
  else if (coord == "tf_crop_and_resize")
    plan->coord = kTfCropAndResize;
  else
    return false;
  const std::string rounding = node.attr_string("nearest_mode", "round_prefer_floor");
  if (rounding == "round_prefer_floor")
    plan->rounding = kRoundPreferFloor;
  else if (rounding == "round_prefer_ceil")
    plan->rounding = kRoundPreferCeil;
  else if (rounding == "floor")
    plan->rounding = kFloor;
  else if (rounding == "ceil")
    plan->rounding = kCeil;
  else
    return false;
  plan->cubic_a = node.attr_float("cubic_coeff_a", -0.75f);
  plan->exclude_outside = node.attr_int("exclude_outside", 0) != 0;
  plan->extrapolation = node.attr_float("extrapolation_value", 0.0f);
  if (node.has_attribute("antialias")) {
    if (opset < 18) return false;
    plan->antialias = node.attr_int("antialias", 0) != 0;
  }
  if (node.has_attribute("keep_aspect_ratio_policy")) {
    if (opset < 18) return false;
    const std::string policy = node.attr_string("keep_aspect_ratio_policy", "stretch");
    if (policy == "stretch")
      plan->policy = kStretch;
    else if (policy == "not_larger")
      plan->policy = kNotLarger;
    else if (policy == "not_smaller")
      plan->policy = kNotSmaller;
    else
      return false;
  }
  if (node.has_attribute("axes")) {
    if (opset < 18) return false;
    const int64_t r = static_cast<int64_t>(rank);
    std::vector<bool> seen(rank, false);
    for (int64_t axis : node.attr_ints("axes")) {
      if (axis < -r || axis >= r) return false;
      const int64_t d = axis < 0 ? axis + r : axis;
      if (seen[d]) return false;
      seen[d] = true;
      plan->axes.push_back(d);
    }
  } else {
    for (size_t d = 0; d < rank; ++d) plan->axes.push_back(static_cast<int64_t>(d));
  }
  return true;
}

std::vector<double> host_doubles(const CudaKernelContext& ctx, size_t input) {
  const DeviceValue& v = ctx.in(input);
  if (!v.host) ctx.fail("input " + std::to_string(input) + " is not known on the host");
  std::vector<double> out;
  for (int64_t i = 0; i < v.host->numel(); ++i) out.push_back(element_as_double(*v.host, i));
  return out;
}

bool present_on_host(const CudaKernelContext& ctx, size_t input) {
  return ctx.has_input(input) && ctx.in(input).numel() > 0;
}

// The reference's plan (resize_reference / upsample_reference) at the run's shapes.
Plan make_plan(const CudaKernelContext& ctx) {
  const DeviceValue& x = ctx.in(0);
  const size_t rank = x.dims.size();
  Plan plan;
  if (!parse_attributes(ctx.node, ctx.opset, rank, &plan)) ctx.fail("unsupported attributes");
  plan.in = x.dims;
  plan.out = ctx.outputs[0].dims;
  plan.roi_start.assign(rank, 0.0);
  plan.roi_end.assign(rank, 1.0);
  bool integer_length = false;
  if (ctx.node.op_type == "Upsample") {
    if (ctx.has_input(1)) {
      plan.scale = host_doubles(ctx, 1);
    } else {
      for (float f : ctx.node.attr_floats("scales")) plan.scale.push_back(f);
    }
    if (plan.scale.size() != rank) ctx.fail("'scales' does not match the rank");
  } else {
    const bool scales = present_on_host(ctx, 2), sizes = present_on_host(ctx, 3);
    if (scales == sizes) ctx.fail("exactly one of 'scales' and 'sizes' must carry values");
    plan.scale.assign(rank, 1.0);
    if (scales) {
      const std::vector<double> v = host_doubles(ctx, 2);
      if (v.size() != plan.axes.size()) ctx.fail("'scales' does not match the axes");
      for (size_t i = 0; i < v.size(); ++i) plan.scale[plan.axes[i]] = v[i];
    } else {
      const std::vector<int64_t> v = host_ints(ctx, 3);
      if (v.size() != plan.axes.size()) ctx.fail("'sizes' does not match the axes");
      double uniform = 0;
      if (plan.policy != kStretch) {
        uniform = plan.policy == kNotLarger ? INFINITY : 0.0;
        for (size_t i = 0; i < v.size(); ++i) {
          const double s = static_cast<double>(v[i]) / static_cast<double>(plan.in[plan.axes[i]]);
          uniform = plan.policy == kNotLarger ? std::min(uniform, s) : std::max(uniform, s);
        }
      }
      for (int64_t d : plan.axes)
        plan.scale[d] = uniform > 0 ? uniform : (plan.in[d] > 0 ? static_cast<double>(plan.out[d]) / plan.in[d] : 1.0);
      integer_length = plan.policy == kStretch;
    }
    if (plan.coord == kTfCropAndResize) {
      if (!present_on_host(ctx, 1)) ctx.fail("tf_crop_and_resize needs the 'roi' input");
      const std::vector<double> roi = host_doubles(ctx, 1);
      const size_t n = plan.axes.size();
      if (roi.size() != 2 * n) ctx.fail("'roi' does not match the axes");
      for (size_t i = 0; i < n; ++i) {
        plan.roi_start[plan.axes[i]] = roi[i];
        plan.roi_end[plan.axes[i]] = roi[n + i];
      }
    }
  }
  for (size_t d = 0; d < rank; ++d) {
    if (!(plan.scale[d] > 0)) plan.scale[d] = 1.0;
    plan.length.push_back(integer_length ? static_cast<double>(plan.out[d])
                                         : plan.scale[d] * static_cast<double>(plan.in[d]));
  }
  return plan;
}

// Whether axis d maps every output coordinate to the same input coordinate with weight 1.
bool identity_axis(const Plan& plan, size_t d) {
  return plan.in[d] == plan.out[d] && plan.scale[d] == 1.0 && plan.length[d] == static_cast<double>(plan.in[d]) &&
         plan.coord != kTfCropAndResize && plan.coord != kTfHalfPixelForNn;
}

bool resize_accepts(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) {
  if (inputs.empty() || node.outputs.size() != 1 || !rank_ok(inputs[0]) || inputs[0].shape.rank() == 0) return false;
  Plan plan;
  if (!parse_attributes(node, opset, inputs[0].shape.rank(), &plan)) return false;
  if (node.op_type == "Resize" && opset < 11) return false;
  const DataType t = inputs[0].dtype;
  if (plan.mode != kNearest) return is_float_type(t);
  const size_t size = dtype_size(t);
  return size == 1 || size == 2 || size == 4 || size == 8;
}

void resize_run(CudaKernelContext& ctx) {
  const DeviceValue& x = ctx.in(0);
  const DeviceValue& y = ctx.outputs[0];
  const int64_t n = y.numel();
  if (n == 0) return;
  const Plan plan = make_plan(ctx);
  const size_t rank = x.dims.size();
  for (size_t d = 0; d < rank; ++d)
    if (plan.in[d] == 0) ctx.fail("cannot resize an axis of extent 0");
  ResizeParams p{};
  p.rank = static_cast<int>(rank);
  p.mode = plan.mode;
  p.coord = plan.coord;
  p.rounding = plan.rounding;
  p.exclude_outside = plan.exclude_outside;
  p.antialias = plan.antialias;
  p.cubic_a = plan.cubic_a;
  const std::vector<int64_t> strides = strides_of(x.dims);
  for (size_t d = 0; d < rank; ++d) {
    p.out_dims[d] = y.dims[d];
    p.in_strides[d] = strides[d];
    p.slot[d] = -1;
    if (identity_axis(plan, d)) continue;
    if (p.active == kMaxActive) ctx.fail("resizes more than " + std::to_string(kMaxActive) + " axes");
    const int s = p.active++;
    p.slot[d] = s;
    p.in[s] = plan.in[d];
    p.out[s] = plan.out[d];
    p.scale[s] = plan.scale[d];
    p.length[s] = plan.length[d];
    p.roi_start[s] = plan.roi_start[d];
    p.roi_end[s] = plan.roi_end[d];
  }
  if (p.active == 0) {
    ctx.check(cudaMemcpyAsync(y.data, x.data, x.nbytes(), cudaMemcpyDeviceToDevice, ctx.stream), "cudaMemcpyAsync");
    return;
  }
  if (plan.mode == kNearest) {
    // extrapolation_value converted to the element type the way the reference stores it
    Tensor fill(x.dtype, {1});
    set_element_from_double(fill, 0, plan.extrapolation);
    auto launch = [&](auto word) {
      using W = decltype(word);
      W extrapolation;
      std::memcpy(&extrapolation, fill.raw(), sizeof(W));
      resize_nearest_kernel<W><<<grid_for(n), kBlock, 0, ctx.stream>>>(static_cast<const W*>(x.data),
                                                                       static_cast<W*>(y.data), n, p, extrapolation);
    };
    // A last axis that is not resized (channels-last upsampling) and holds whole 16-byte words moves as such:
    // one coordinate computation per 16 bytes, not per element.
    const size_t esize = dtype_size(x.dtype);
    const int64_t last = x.dims[rank - 1];
    if (p.slot[rank - 1] < 0 && esize > 0 && esize < 16 && (last * static_cast<int64_t>(esize)) % 16 == 0 &&
        reinterpret_cast<uintptr_t>(x.data) % 16 == 0 && reinterpret_cast<uintptr_t>(y.data) % 16 == 0) {
      const int64_t per_word = 16 / static_cast<int64_t>(esize);
      ResizeParams words = p;
      words.out_dims[rank - 1] /= per_word;
      for (size_t d = 0; d + 1 < rank; ++d) words.in_strides[d] /= per_word;  // multiples of the last extent
      words.in_strides[rank - 1] = 1;
      uint4 extrapolation;
      for (int64_t e = 0; e < per_word; ++e)
        std::memcpy(reinterpret_cast<char*>(&extrapolation) + e * esize, fill.raw(), esize);
      const int64_t n_words = n / per_word;
      resize_nearest_kernel<uint4><<<grid_for(n_words), kBlock, 0, ctx.stream>>>(
          static_cast<const uint4*>(x.data), static_cast<uint4*>(y.data), n_words, words, extrapolation);
      check_launch(ctx, "resize kernel");
      return;
    }
    switch (dtype_size(x.dtype)) {
      case 1:
        launch(uint8_t{});
        break;
      case 2:
        launch(uint16_t{});
        break;
      case 4:
        launch(uint32_t{});
        break;
      case 8:
        launch(uint64_t{});
        break;
      default:
        ctx.fail("unsupported element size");
    }
  } else if (x.dtype == DataType::kFloat32) {
    resize_filter_kernel<float><<<grid_for(n), kBlock, 0, ctx.stream>>>(
        static_cast<const float*>(x.data), static_cast<float*>(y.data), n, p, plan.extrapolation);
  } else if (x.dtype == DataType::kFloat16) {
    resize_filter_kernel<__half><<<grid_for(n), kBlock, 0, ctx.stream>>>(
        static_cast<const __half*>(x.data), static_cast<__half*>(y.data), n, p, plan.extrapolation);
  } else {
    ctx.fail(std::string("linear and cubic modes need float input, not ") + dtype_name(x.dtype));
  }
  check_launch(ctx, "resize kernel");
}

[[maybe_unused]] const bool registered = [] {
  CudaKernelRegistry& r = CudaKernelRegistry::global();
  r.add(make_kernel("cuda_Resize", "Resize", resize_accepts, resize_run, {1, 2, 3}));
  r.add(make_kernel("cuda_Upsample", "Upsample", resize_accepts, resize_run, {1}));
  return true;
}();

}  // namespace
}  // namespace cuda
}  // namespace normrt
