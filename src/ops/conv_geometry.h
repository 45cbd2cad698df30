// Sliding-window geometry shared by Conv, ConvTranspose, MaxPool, AveragePool and their fast kernels: the
// attributes (kernel_shape, strides, dilations, pads, auto_pad) read and checked in one place, the output extent
// of each spatial axis and the padding that auto_pad implies. Formulas follow the ONNX operator documents.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "ops/op.h"

namespace normrt {

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

// No tensor axis holds more than 2^36 elements (a tensor holds at most 64 GiB), so no window attribute, input
// extent or dilated kernel needs to exceed it either. Bounding each by it keeps every product and sum below
// (stride * extent, (k - 1) * d, extent + pads) far inside int64.
constexpr int64_t kMaxWindowExtent = int64_t{1} << 36;

struct WindowAttrs {
  std::vector<int64_t> kernel;     // one per spatial axis; -1 where unknown (Conv without kernel_shape)
  std::vector<int64_t> strides;    // >= 1
  std::vector<int64_t> dilations;  // >= 1
  std::vector<int64_t> pads;       // begin values of every axis, then end values (ONNX order)
  AutoPad auto_pad = AutoPad::kNotSet;

  size_t spatial() const { return strides.size(); }
  int64_t pad_begin(size_t axis) const { return pads[axis]; }
  int64_t pad_end(size_t axis) const { return pads[spatial() + axis]; }
  // Extent of the dilated kernel: (k - 1) * d + 1.
  int64_t dilated_kernel(size_t axis) const { return (kernel[axis] - 1) * dilations[axis] + 1; }
};

inline std::string ints_to_string(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

// Reads strides, dilations, pads and auto_pad for `spatial` axes; `kernel` comes from kernel_shape or the
// weights. Fails (through ctx) on a wrong attribute length, a non-positive stride/dilation/kernel or an
// unknown auto_pad value. `allow_dilations` is false for ops whose opset has no dilations attribute.
template <typename Ctx>
WindowAttrs read_window_attrs(const Ctx& ctx, size_t spatial, std::vector<int64_t> kernel,
                              bool allow_dilations = true) {
  const Node& node = ctx.node;
  WindowAttrs a;
  a.kernel = std::move(kernel);
  a.strides = node.attr_ints("strides", std::vector<int64_t>(spatial, 1));
  a.dilations = node.attr_ints("dilations", std::vector<int64_t>(spatial, 1));
  a.pads = node.attr_ints("pads", std::vector<int64_t>(2 * spatial, 0));
  auto check_len = [&](const char* name, const std::vector<int64_t>& v, size_t expected) {
    if (v.size() != expected)
      ctx.fail(std::string("attribute '") + name + "' has " + std::to_string(v.size()) + " values " +
               ints_to_string(v) + "; expected " + std::to_string(expected) + " for " + std::to_string(spatial) +
               " spatial axes");
  };
  check_len("kernel_shape", a.kernel, spatial);
  check_len("strides", a.strides, spatial);
  check_len("dilations", a.dilations, spatial);
  check_len("pads", a.pads, 2 * spatial);
  const std::string bound = " (2^36: no tensor axis is longer)";
  for (size_t i = 0; i < spatial; ++i) {
    if (a.strides[i] < 1) ctx.fail("attribute 'strides' must be >= 1 but is " + ints_to_string(a.strides));
    if (a.dilations[i] < 1) ctx.fail("attribute 'dilations' must be >= 1 but is " + ints_to_string(a.dilations));
    if (a.kernel[i] == 0 || a.kernel[i] < -1) ctx.fail("kernel shape must be >= 1 but is " + ints_to_string(a.kernel));
    if (a.strides[i] > kMaxWindowExtent)
      ctx.fail("attribute 'strides' " + ints_to_string(a.strides) + " has a value above " + std::to_string(kMaxWindowExtent) + bound);
    if (a.dilations[i] > kMaxWindowExtent)
      ctx.fail("attribute 'dilations' " + ints_to_string(a.dilations) + " has a value above " + std::to_string(kMaxWindowExtent) + bound);
    if (a.kernel[i] > kMaxWindowExtent)
      ctx.fail("attribute 'kernel_shape' (or W's spatial dims) " + ints_to_string(a.kernel) + " has a value above " +
               std::to_string(kMaxWindowExtent) + bound);
    if (a.kernel[i] > 0 && a.kernel[i] - 1 > (kMaxWindowExtent - 1) / a.dilations[i])
      ctx.fail("the dilated kernel extent (kernel " + ints_to_string(a.kernel) + " with 'dilations' " +
               ints_to_string(a.dilations) + ") exceeds " + std::to_string(kMaxWindowExtent) + bound);
    if (!allow_dilations && a.dilations[i] != 1)
      ctx.fail("attribute 'dilations' " + ints_to_string(a.dilations) +
               " needs opset 19 or later; the model has opset " + std::to_string(ctx.opset));
  }
  for (int64_t p : a.pads)
    if (p < 0 || p > kMaxWindowExtent)
      ctx.fail("attribute 'pads' " + ints_to_string(a.pads) + " must hold values from 0 to " +
               std::to_string(kMaxWindowExtent) + bound);
  const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  if (auto_pad == "NOTSET")
    a.auto_pad = AutoPad::kNotSet;
  else if (auto_pad == "SAME_UPPER")
    a.auto_pad = AutoPad::kSameUpper;
  else if (auto_pad == "SAME_LOWER")
    a.auto_pad = AutoPad::kSameLower;
  else if (auto_pad == "VALID")
    a.auto_pad = AutoPad::kValid;
  else
    ctx.fail("attribute 'auto_pad' is '" + auto_pad + "'; expected NOTSET, SAME_UPPER, SAME_LOWER or VALID");
  // With auto_pad set, explicit pads are ignored by the spec ("pads ... can't be used simultaneously with
  // auto_pad"); they are recomputed per input size by resolve_window.
  if (a.auto_pad != AutoPad::kNotSet) a.pads.assign(2 * spatial, 0);
  return a;
}

// Output extent and padding of one spatial axis of a forward window (Conv, pooling) over `in` elements.
struct AxisWindow {
  int64_t out = 0;
  int64_t pad_begin = 0;
  int64_t pad_end = 0;
};

// ceil_mode (pooling only): the output extent rounds up, but a window that would start in the end padding is
// dropped (ONNX MaxPool/AveragePool: "sliding windows that would start in the right padded region are
// ignored", which is also PyTorch's rule). Returns out < 0 when the dilated kernel does not fit.
inline AxisWindow resolve_window_axis(const WindowAttrs& a, size_t axis, int64_t in, bool ceil_mode = false) {
  AxisWindow w;
  const int64_t s = a.strides[axis];
  const int64_t dk = a.dilated_kernel(axis);
  if (a.auto_pad == AutoPad::kSameUpper || a.auto_pad == AutoPad::kSameLower) {
    w.out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>(0, (w.out - 1) * s + dk - in);
    w.pad_begin = a.auto_pad == AutoPad::kSameUpper ? total / 2 : total - total / 2;
    w.pad_end = total - w.pad_begin;
    return w;
  }
  w.pad_begin = a.auto_pad == AutoPad::kValid ? 0 : a.pad_begin(axis);
  w.pad_end = a.auto_pad == AutoPad::kValid ? 0 : a.pad_end(axis);
  const int64_t span = in + w.pad_begin + w.pad_end - dk;
  if (span < 0) {
    w.out = -1;
    return w;
  }
  if (!ceil_mode) {
    w.out = span / s + 1;
  } else {
    w.out = (span + s - 1) / s + 1;
    if ((w.out - 1) * s >= in + w.pad_begin) --w.out;
  }
  return w;
}

// Refuses an input extent longer than any tensor axis (a model may declare one; the geometry must not overflow).
template <typename Ctx>
void check_window_extent(const Ctx& ctx, size_t axis, int64_t in) {
  if (in > kMaxWindowExtent)
    ctx.fail("spatial axis " + std::to_string(axis) + " has input extent " + std::to_string(in) + ", above " +
             std::to_string(kMaxWindowExtent) + " (2^36: no tensor axis is longer)");
}

// The output Dim of a forward window over `in`; keeps the input's symbol where the window preserves the extent
// whatever it is (stride 1 with SAME padding, or stride 1 with pads that exactly cover the dilated kernel).
template <typename Ctx>
Dim window_output_dim(const Ctx& ctx, const WindowAttrs& a, size_t axis, const Dim& in, bool ceil_mode = false) {
  const int64_t s = a.strides[axis];
  if (in.known()) check_window_extent(ctx, axis, in.value);
  if (a.auto_pad == AutoPad::kSameUpper || a.auto_pad == AutoPad::kSameLower) {
    if (in.known()) return Dim((in.value + s - 1) / s);
    return s == 1 ? in : Dim::unknown();
  }
  if (!in.known() || a.kernel[axis] < 0) {
    if (s == 1 && a.kernel[axis] > 0) {
      const int64_t pads = a.auto_pad == AutoPad::kValid ? 0 : a.pad_begin(axis) + a.pad_end(axis);
      if (pads == a.dilated_kernel(axis) - 1) return in;
    }
    return Dim::unknown();
  }
  AxisWindow w = resolve_window_axis(a, axis, in.value, ceil_mode);
  if (w.out < 0)
    ctx.fail("spatial axis " + std::to_string(axis) + ": the dilated kernel extent " +
             std::to_string(a.dilated_kernel(axis)) + " exceeds the padded input extent " +
             std::to_string(in.value + w.pad_begin + w.pad_end));
  return Dim(w.out);
}

// ConvTranspose: output extent and padding of one spatial axis (ONNX ConvTranspose, opsets 11-21):
//   natural extent  out = stride * (in - 1) + output_padding + dilated_kernel - pad_begin - pad_end
//   SAME_UPPER/LOWER: out = in * stride; an explicit output_shape gives out directly; in both cases
//   total = stride * (in - 1) + output_padding + dilated_kernel - out is split with the odd element at the end
//   for SAME_UPPER and at the beginning otherwise.
struct TransposeAxis {
  int64_t out = 0;
  int64_t pad_begin = 0;
  int64_t pad_end = 0;
};

inline int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// output_shape: the spatial part of the attribute, empty when absent.
inline TransposeAxis resolve_transpose_axis(const WindowAttrs& a, size_t axis, int64_t in, int64_t output_padding,
                                            const std::vector<int64_t>& output_shape) {
  TransposeAxis t;
  const int64_t s = a.strides[axis];
  const int64_t natural = s * (in - 1) + output_padding + a.dilated_kernel(axis);
  const bool same = a.auto_pad == AutoPad::kSameUpper || a.auto_pad == AutoPad::kSameLower;
  if (output_shape.empty() && !same) {
    t.pad_begin = a.auto_pad == AutoPad::kValid ? 0 : a.pad_begin(axis);
    t.pad_end = a.auto_pad == AutoPad::kValid ? 0 : a.pad_end(axis);
    t.out = natural - t.pad_begin - t.pad_end;
    return t;
  }
  t.out = output_shape.empty() ? in * s : output_shape[axis];
  const int64_t total = natural - t.out;
  const int64_t half = floor_div(total, 2);
  if (a.auto_pad == AutoPad::kSameUpper) {
    t.pad_begin = half;
    t.pad_end = total - half;
  } else {
    t.pad_begin = total - half;
    t.pad_end = half;
  }
  return t;
}

// The spatial part of ConvTranspose's output_shape attribute (which may also carry N and C), or empty.
template <typename Ctx>
std::vector<int64_t> transpose_output_shape(const Ctx& ctx, size_t spatial) {
  std::vector<int64_t> v = ctx.node.attr_ints("output_shape", {});
  if (v.empty()) return v;
  if (v.size() == spatial + 2) v.erase(v.begin(), v.begin() + 2);
  if (v.size() != spatial)
    ctx.fail("attribute 'output_shape' " + ints_to_string(v) + " must have " + std::to_string(spatial) +
             " values (or " + std::to_string(spatial + 2) + " with N and C)");
  for (int64_t d : v)
    if (d < 1 || d > kMaxWindowExtent)
      ctx.fail("attribute 'output_shape' " + ints_to_string(v) + " must hold values from 1 to " +
               std::to_string(kMaxWindowExtent));
  return v;
}

template <typename Ctx>
std::vector<int64_t> transpose_output_padding(const Ctx& ctx, size_t spatial) {
  std::vector<int64_t> v = ctx.node.attr_ints("output_padding", std::vector<int64_t>(spatial, 0));
  if (v.size() != spatial)
    ctx.fail("attribute 'output_padding' " + ints_to_string(v) + " must have " + std::to_string(spatial) + " values");
  for (int64_t d : v)
    if (d < 0 || d > kMaxWindowExtent)
      ctx.fail("attribute 'output_padding' " + ints_to_string(v) + " must hold values from 0 to " +
               std::to_string(kMaxWindowExtent));
  return v;
}

}  // namespace normrt
