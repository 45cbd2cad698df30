// Shape helpers shared by op shape functions and reference kernels.
#pragma once

#include <cstdint>
#include <vector>

#include "ops/op.h"

namespace normrt {

// Numpy-style multidirectional broadcast of the input shapes; unknown dims stay unknown unless another input
// fixes them (a known dim > 1 wins over an unknown one only when the other is known to be 1 or equal).
Shape broadcast_shapes(const InferContext& ctx, const std::vector<Shape>& shapes);
// Fails naming `what` unless input `input` has output 0's dtype and shape: a fused residual does not broadcast
// (dims unknown on either side pass; the run-time check has the concrete ones).
void require_residual_like_output(const InferContext& ctx, size_t input, const std::string& what);
Dims broadcast_dims(const std::vector<Dims>& dims);  // concrete; throws when incompatible

// Maps a possibly negative axis into [0, rank); fails naming the node when out of range.
int64_t normalize_axis(const InferContext& ctx, int64_t axis, int64_t rank);
int64_t normalize_axis(const KernelContext& ctx, int64_t axis, int64_t rank);

// Row-major strides of dims.
std::vector<int64_t> strides_of(const Dims& dims);
// Strides of `dims` seen through a broadcast to `out` (rank-aligned at the right): 0 where broadcast.
std::vector<int64_t> broadcast_strides(const Dims& dims, const Dims& out);

// Walks every index of `out` and calls fn(out_linear, in_offsets...) for inputs with the given broadcast strides.
template <typename Fn>
void for_each_broadcast(const Dims& out, const std::vector<std::vector<int64_t>>& in_strides, Fn&& fn) {
  const size_t rank = out.size();
  const size_t n_in = in_strides.size();
  int64_t total = 1;
  for (int64_t d : out) total *= d;
  if (total == 0) return;
  std::vector<int64_t> index(rank, 0), offsets(n_in, 0);
  for (int64_t linear = 0; linear < total; ++linear) {
    fn(linear, offsets);
    for (size_t axis = rank; axis-- > 0;) {
      ++index[axis];
      for (size_t k = 0; k < n_in; ++k) offsets[k] += in_strides[k][axis];
      if (index[axis] < out[axis]) break;
      for (size_t k = 0; k < n_in; ++k) offsets[k] -= in_strides[k][axis] * index[axis];
      index[axis] = 0;
    }
  }
}

// IEEE half <-> float.
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);

// Reads element i of a numeric tensor of any supported dtype as double / writes it from double.
double element_as_double(const Tensor& t, int64_t i);
void set_element_from_double(Tensor& t, int64_t i, double v);

// Every element as double (the reference kernels that compute in double), and back into t (same count).
std::vector<double> to_doubles(const Tensor& t);
void from_doubles(const std::vector<double>& v, Tensor& t);

}  // namespace normrt
