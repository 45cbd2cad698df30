// Naive convolution helpers for the Conv/ConvTranspose/pooling tests and the oneDNN kernel tests. They are written
// differently from the reference kernels on purpose: the input is padded explicitly into a new tensor, indices
// are unravelled generically for any number of spatial axes, and ConvTranspose is computed as a stride-1
// convolution of the zero-stuffed input with the flipped, channel-swapped kernel.
#pragma once

#include <string>
#include <vector>

#include "test_util.h"

namespace normrt::test {

struct ConvCase {
  Dims x;                       // [N, C, spatial...]
  int64_t m = 1;                // output channels
  std::vector<int64_t> kernel;  // spatial kernel extents
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pads;  // begins then ends
  int64_t group = 1;
  std::vector<int64_t> output_padding;  // ConvTranspose only

  ConvCase(Dims x_dims, int64_t out_channels, std::vector<int64_t> k, std::vector<int64_t> s, std::vector<int64_t> d,
           std::vector<int64_t> p, int64_t g = 1, std::vector<int64_t> op = {})
      : x(std::move(x_dims)),
        m(out_channels),
        kernel(std::move(k)),
        strides(std::move(s)),
        dilations(std::move(d)),
        pads(std::move(p)),
        group(g),
        output_padding(std::move(op)) {}

  size_t spatial() const { return x.size() - 2; }
  // Conv: [M, C/g, k...]; ConvTranspose: [C, M/g, k...].
  Dims weight_dims(bool transpose) const {
    Dims d = transpose ? Dims{x[1], m / group} : Dims{m, x[1] / group};
    d.insert(d.end(), kernel.begin(), kernel.end());
    return d;
  }
  std::string describe() const {
    auto text = [](const std::vector<int64_t>& v) {
      std::string s = "[";
      for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
      return s + "]";
    };
    return "x" + text(x) + " m=" + std::to_string(m) + " k" + text(kernel) + " s" + text(strides) + " d" +
           text(dilations) + " p" + text(pads) + " g=" + std::to_string(group) + " op" + text(output_padding);
  }
};

// Unravels a flat row-major index.
inline std::vector<int64_t> unravel(int64_t flat, const Dims& dims) {
  std::vector<int64_t> idx(dims.size());
  for (size_t i = dims.size(); i-- > 0;) {
    idx[i] = flat % dims[i];
    flat /= dims[i];
  }
  return idx;
}

inline int64_t ravel(const std::vector<int64_t>& idx, const Dims& dims) {
  int64_t flat = 0;
  for (size_t i = 0; i < dims.size(); ++i) flat = flat * dims[i] + idx[i];
  return flat;
}

// A copy of x [N, C, spatial...] with `begin`/`end` elements of `fill` added on each spatial axis (negative values
// crop instead).
inline std::vector<double> pad_spatial(const Tensor& x, const std::vector<int64_t>& begin,
                                       const std::vector<int64_t>& end, double fill, Dims* padded_dims) {
  Dims pd = x.dims();
  for (size_t i = 0; i < begin.size(); ++i) pd[2 + i] += begin[i] + end[i];
  std::vector<double> out(static_cast<size_t>(element_count(pd)), fill);
  for (int64_t o = 0; o < static_cast<int64_t>(out.size()); ++o) {
    std::vector<int64_t> idx = unravel(o, pd);
    bool inside = true;
    for (size_t i = 0; i < begin.size(); ++i) {
      idx[2 + i] -= begin[i];
      if (idx[2 + i] < 0 || idx[2 + i] >= x.dims()[2 + i]) inside = false;
    }
    if (inside) out[static_cast<size_t>(o)] = element_as_double(x, ravel(idx, x.dims()));
  }
  *padded_dims = pd;
  return out;
}

// Convolution without padding (the input already padded) with strides, dilations and groups.
inline Tensor naive_conv_padded(const std::vector<double>& xp, const Dims& pd, const Tensor& w, const Tensor* b,
                                const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations,
                                int64_t group) {
  const size_t spatial = pd.size() - 2;
  const int64_t M = w.dims()[0], Cg = w.dims()[1];
  Dims kernel(w.dims().begin() + 2, w.dims().end());
  Dims od{pd[0], M};
  for (size_t i = 0; i < spatial; ++i)
    od.push_back((pd[2 + i] - ((kernel[i] - 1) * dilations[i] + 1)) / strides[i] + 1);
  Tensor y(DataType::kFloat32, od);
  Dims kdims{Cg};
  kdims.insert(kdims.end(), kernel.begin(), kernel.end());
  const int64_t taps = element_count(kdims);
  for (int64_t o = 0; o < y.numel(); ++o) {
    const std::vector<int64_t> oi = unravel(o, od);
    const int64_t n = oi[0], m = oi[1], g = m / (M / group);
    double acc = b ? element_as_double(*b, m) : 0.0;
    for (int64_t t = 0; t < taps; ++t) {
      const std::vector<int64_t> ki = unravel(t, kdims);  // [c, k...]
      std::vector<int64_t> xi{n, g * Cg + ki[0]};
      for (size_t i = 0; i < spatial; ++i) xi.push_back(oi[2 + i] * strides[i] + ki[1 + i] * dilations[i]);
      std::vector<int64_t> wi{m};
      wi.insert(wi.end(), ki.begin(), ki.end());
      acc += xp[static_cast<size_t>(ravel(xi, pd))] * element_as_double(w, ravel(wi, w.dims()));
    }
    y.data<float>()[o] = static_cast<float>(acc);
  }
  return y;
}

inline Tensor naive_conv(const Tensor& x, const Tensor& w, const Tensor* b, const ConvCase& c) {
  const size_t spatial = c.spatial();
  std::vector<int64_t> begin(c.pads.begin(), c.pads.begin() + spatial), end(c.pads.begin() + spatial, c.pads.end());
  Dims pd;
  std::vector<double> xp = pad_spatial(x, begin, end, 0.0, &pd);
  return naive_conv_padded(xp, pd, w, b, c.strides, c.dilations, c.group);
}

// ConvTranspose as a convolution: stuff (stride - 1) zeros between input elements, pad by
// dilated_kernel - 1 - pad (plus output_padding at the end), convolve with stride 1 and the kernel flipped in
// every spatial axis with input/output channels swapped per group.
inline Tensor naive_conv_transpose(const Tensor& x, const Tensor& w, const Tensor* b, const ConvCase& c) {
  const size_t spatial = c.spatial();
  const int64_t N = x.dims()[0], C = x.dims()[1], Mg = w.dims()[1], M = Mg * c.group, Cg = C / c.group;
  const Dims kernel(w.dims().begin() + 2, w.dims().end());
  Dims sd{N, C};
  for (size_t i = 0; i < spatial; ++i) sd.push_back((x.dims()[2 + i] - 1) * c.strides[i] + 1);
  Tensor stuffed(DataType::kFloat32, sd);
  for (int64_t i = 0; i < x.numel(); ++i) {
    std::vector<int64_t> idx = unravel(i, x.dims());
    for (size_t a = 0; a < spatial; ++a) idx[2 + a] *= c.strides[a];
    stuffed.data<float>()[ravel(idx, sd)] = static_cast<float>(element_as_double(x, i));
  }
  std::vector<int64_t> begin, end;
  for (size_t i = 0; i < spatial; ++i) {
    const int64_t dk = (kernel[i] - 1) * c.dilations[i] + 1;
    const int64_t op = c.output_padding.empty() ? 0 : c.output_padding[i];
    begin.push_back(dk - 1 - c.pads[i]);
    end.push_back(dk - 1 - c.pads[spatial + i] + op);
  }
  Dims wd{M, Cg};
  wd.insert(wd.end(), kernel.begin(), kernel.end());
  Tensor wc(DataType::kFloat32, wd);
  for (int64_t i = 0; i < wc.numel(); ++i) {
    const std::vector<int64_t> idx = unravel(i, wd);  // [m, c_in_group, k...]
    const int64_t g = idx[0] / Mg;
    std::vector<int64_t> src{g * Cg + idx[1], idx[0] % Mg};
    for (size_t a = 0; a < spatial; ++a) src.push_back(kernel[a] - 1 - idx[2 + a]);
    wc.data<float>()[i] = static_cast<float>(element_as_double(w, ravel(src, w.dims())));
  }
  Dims pd;
  std::vector<double> xp = pad_spatial(stuffed, begin, end, 0.0, &pd);
  return naive_conv_padded(xp, pd, wc, b, std::vector<int64_t>(spatial, 1), c.dilations, c.group);
}

// The explicit pads auto_pad implies for a forward window (Conv, pooling), computed from the spec text.
inline std::vector<int64_t> auto_pads(const std::string& mode, const ConvCase& c) {
  const size_t spatial = c.spatial();
  std::vector<int64_t> pads(2 * spatial, 0);
  if (mode == "VALID") return pads;
  for (size_t i = 0; i < spatial; ++i) {
    const int64_t in = c.x[2 + i], s = c.strides[i], dk = (c.kernel[i] - 1) * c.dilations[i] + 1;
    const int64_t out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>(0, (out - 1) * s + dk - in);
    const int64_t small = total / 2, large = total - small;
    pads[i] = mode == "SAME_UPPER" ? small : large;
    pads[spatial + i] = mode == "SAME_UPPER" ? large : small;
  }
  return pads;
}

// Runs the node's shape function on the given input shapes (float32 unless `dtypes` says otherwise).
inline std::vector<TypeShape> infer_shapes(const Node& node, const std::vector<Shape>& shapes, int64_t opset,
                                           const std::vector<const Tensor*>& values = {},
                                           const std::vector<DataType>& dtypes = {}) {
  const OpSchema* schema = find_schema(node);
  if (!schema) throw Error(ErrorCode::kUnsupportedOp, node.op_type + " has no schema");
  InferContext ctx(node, opset);
  for (size_t i = 0; i < shapes.size(); ++i) {
    DataType t = i < dtypes.size() ? dtypes[i] : DataType::kFloat32;
    if (i < node.inputs.size() && node.inputs[i].empty()) t = DataType::kUndefined;
    ctx.inputs.push_back(TypeShape{t, shapes[i]});
  }
  ctx.values = values;
  ctx.values.resize(shapes.size(), nullptr);
  schema->infer(ctx);
  return ctx.outputs;
}

inline Tensor cast_tensor(const Tensor& t, DataType dtype) {
  Tensor out(dtype, t.dims());
  for (int64_t i = 0; i < t.numel(); ++i) set_element_from_double(out, i, element_as_double(t, i));
  return out;
}

}  // namespace normrt::test
