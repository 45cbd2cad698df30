// Resize (opsets 11, 13, 18, 19) and Upsample: values from the ONNX operator documents and backend tests, random
// problems against a naive implementation in the style of the ONNX reference (recursive 1-D interpolation per
// axis, neighbours chosen as the n nearest indices of an edge-padded line, coefficients from the ratio in
// (0, 1]), input optionality per opset, opset-specific attributes, shape inference.
#include <algorithm>
#include <cmath>

#include "conv_naive.h"
#include "test_util.h"

namespace normrt::test {
namespace {

struct Config {
  std::string mode = "nearest", coord = "half_pixel", nearest_mode = "round_prefer_floor";
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation = 0;
};

double naive_coordinate(const Config& c, int64_t x, int64_t in, double out_length, double scale, double rs, double re) {
  const double xr = static_cast<double>(x), l_in = static_cast<double>(in);
  if (c.coord == "half_pixel") return (xr + 0.5) / scale - 0.5;
  if (c.coord == "asymmetric") return xr / scale;
  if (c.coord == "pytorch_half_pixel") return out_length > 1 ? (xr + 0.5) / scale - 0.5 : 0;
  if (c.coord == "align_corners") return out_length == 1 ? 0 : xr * (l_in - 1) / (out_length - 1);
  if (c.coord == "tf_crop_and_resize")
    return out_length > 1 ? rs * (l_in - 1) + xr * (re - rs) * (l_in - 1) / (out_length - 1)
                          : 0.5 * (rs + re) * (l_in - 1);
  ADD_FAILURE() << "naive resize has no " << c.coord;
  return 0;
}

double interp_1d(const Config& c, const std::vector<double>& v, double xo) {
  const int64_t L = static_cast<int64_t>(v.size());
  if (c.coord == "tf_crop_and_resize" && (xo < 0 || xo > static_cast<double>(L - 1))) return c.extrapolation;
  const double xi = std::floor(xo);
  const double r = xo == xi ? 1.0 : xo - xi;
  std::vector<double> coeffs;
  if (c.mode == "nearest") {
    if (r == 1.0)
      coeffs = {0, 1};
    else if (c.nearest_mode == "round_prefer_floor")
      coeffs = {double(r <= 0.5), double(r > 0.5)};
    else if (c.nearest_mode == "round_prefer_ceil")
      coeffs = {double(r < 0.5), double(r >= 0.5)};
    else if (c.nearest_mode == "floor")
      coeffs = {1, 0};
    else
      coeffs = {0, 1};
  } else if (c.mode == "linear") {
    coeffs = {1 - r, r};
  } else {
    const double A = c.cubic_a, s = 1 - r;
    coeffs = {((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A, ((A + 2) * r - (A + 3)) * r * r + 1,
              ((A + 2) * s - (A + 3)) * s * s + 1, ((A * (s + 1) - 5 * A) * (s + 1) + 8 * A) * (s + 1) - 4 * A};
  }
  const int64_t n = static_cast<int64_t>(coeffs.size()), pad = (n + 1) / 2;
  std::vector<int64_t> candidates;
  for (int64_t i = -pad; i < L + pad; ++i) candidates.push_back(i);
  std::stable_sort(candidates.begin(), candidates.end(),
                   [&](int64_t a, int64_t b) { return std::fabs(xo - double(a)) < std::fabs(xo - double(b)); });
  std::vector<int64_t> idx(candidates.begin(), candidates.begin() + n);
  std::sort(idx.begin(), idx.end());
  if (c.exclude_outside) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (idx[static_cast<size_t>(i)] < 0 || idx[static_cast<size_t>(i)] >= L) coeffs[static_cast<size_t>(i)] = 0;
      sum += coeffs[static_cast<size_t>(i)];
    }
    for (double& k : coeffs) k /= sum;
  }
  double acc = 0;
  for (int64_t i = 0; i < n; ++i)
    acc += coeffs[static_cast<size_t>(i)] *
           v[static_cast<size_t>(std::clamp<int64_t>(idx[static_cast<size_t>(i)], 0, L - 1))];
  return acc;
}

double naive_at(const Config& c, const std::vector<double>& data, const Dims& in, size_t axis, int64_t offset,
                const std::vector<double>& xo) {
  int64_t stride = 1;
  for (size_t d = axis + 1; d < in.size(); ++d) stride *= in[d];
  std::vector<double> line;
  for (int64_t i = 0; i < in[axis]; ++i)
    line.push_back(axis + 1 == in.size() ? data[static_cast<size_t>(offset + i)]
                                         : naive_at(c, data, in, axis + 1, offset + i * stride, xo));
  return interp_1d(c, line, xo[axis]);
}

// `scales` per axis; lengths are in * scale (scales given) or the output sizes (sizes given).
Tensor naive_resize(const Config& c, const Tensor& x, const Dims& out, const std::vector<double>& scales,
                    const std::vector<double>& lengths, const std::vector<double>& roi = {}) {
  std::vector<double> data(static_cast<size_t>(x.numel()));
  for (int64_t i = 0; i < x.numel(); ++i) data[static_cast<size_t>(i)] = element_as_double(x, i);
  Tensor y(DataType::kFloat32, out);
  const size_t rank = out.size();
  for (int64_t o = 0; o < y.numel(); ++o) {
    const std::vector<int64_t> oi = unravel(o, out);
    std::vector<double> xo;
    for (size_t d = 0; d < rank; ++d)
      xo.push_back(naive_coordinate(c, oi[d], x.dims()[d], lengths[d], scales[d], roi.empty() ? 0 : roi[d],
                                    roi.empty() ? 1 : roi[rank + d]));
    y.data<float>()[o] = static_cast<float>(naive_at(c, data, x.dims(), 0, 0, xo));
  }
  return y;
}

Node resize_node(const Config& c, size_t inputs = 3) {
  Node n = make_node("Resize", inputs);
  set_string(n, "mode", c.mode);
  set_string(n, "coordinate_transformation_mode", c.coord);
  set_string(n, "nearest_mode", c.nearest_mode);
  set_float(n, "cubic_coeff_a", static_cast<float>(c.cubic_a));
  set_int(n, "exclude_outside", c.exclude_outside);
  set_float(n, "extrapolation_value", static_cast<float>(c.extrapolation));
  return n;
}

// Runs Resize with scales (inputs X, roi, scales) or sizes (X, roi, scales = "", sizes).
Tensor resize_scales(const Node& node, const Tensor& x, const std::vector<float>& scales, int64_t opset = 13,
                     const Tensor* roi = nullptr) {
  Tensor s = float_tensor(scales, {static_cast<int64_t>(scales.size())});
  Tensor empty_roi(DataType::kFloat32, {0});
  return run(node, {&x, roi ? roi : &empty_roi, &s}, opset)[0];
}

Tensor resize_sizes(Node node, const Tensor& x, const std::vector<int64_t>& sizes, int64_t opset = 13,
                    const Tensor* roi = nullptr) {
  node.inputs = {"x", "roi", "", "sizes"};
  Tensor s = int64_tensor(sizes, {static_cast<int64_t>(sizes.size())});
  Tensor empty_roi(DataType::kFloat32, {0});
  return run(node, {&x, roi ? roi : &empty_roi, nullptr, &s}, opset)[0];
}

void expect_values(const Tensor& t, const Dims& dims, const std::vector<double>& values, double tol = 1e-5) {
  ASSERT_EQ(t.dims(), dims);
  ASSERT_EQ(t.numel(), static_cast<int64_t>(values.size()));
  for (size_t i = 0; i < values.size(); ++i)
    EXPECT_NEAR(element_as_double(t, static_cast<int64_t>(i)), values[i], tol) << i;
}

Tensor iota(const Dims& dims) {
  Tensor t(DataType::kFloat32, dims);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i + 1);
  return t;
}

TEST(Resize, NearestFromOnnxDocs) {
  Tensor x = iota({1, 1, 2, 2});
  Config c;
  expect_values(resize_scales(resize_node(c), x, {1, 1, 2, 3}), {1, 1, 4, 6},
                {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4});
  Tensor x24 = iota({1, 1, 2, 4});
  expect_values(resize_scales(resize_node(c), x24, {1, 1, 0.6f, 0.6f}), {1, 1, 1, 2}, {1, 3});
  Tensor out = resize_sizes(resize_node(c), x, {1, 1, 7, 8});
  ASSERT_EQ(out.dims(), (Dims{1, 1, 7, 8}));
  const int rows[] = {0, 0, 0, 0, 1, 1, 1}, cols[] = {0, 0, 0, 0, 1, 1, 1, 1};
  for (int r = 0; r < 7; ++r)
    for (int q = 0; q < 8; ++q) EXPECT_EQ(out.data<float>()[r * 8 + q], 1 + 2 * rows[r] + cols[q]);
  Tensor x44 = iota({1, 1, 4, 4});
  auto first_row = [](const Tensor& t) { return std::vector<float>(t.data<float>(), t.data<float>() + 8); };
  Config ceil_half{"nearest", "half_pixel", "ceil"};
  EXPECT_EQ(first_row(resize_sizes(resize_node(ceil_half), x44, {1, 1, 8, 8})),
            (std::vector<float>{1, 2, 2, 3, 3, 4, 4, 4}));
  Config floor_align{"nearest", "align_corners", "floor"};
  EXPECT_EQ(first_row(resize_sizes(resize_node(floor_align), x44, {1, 1, 8, 8})),
            (std::vector<float>{1, 1, 1, 2, 2, 3, 3, 4}));
  Config ceil_asym{"nearest", "asymmetric", "round_prefer_ceil"};
  EXPECT_EQ(first_row(resize_sizes(resize_node(ceil_asym), x44, {1, 1, 8, 8})),
            (std::vector<float>{1, 2, 2, 3, 3, 4, 4, 4}));
}

TEST(Resize, LinearAndCubicFromOnnxDocs) {
  Tensor x = iota({1, 1, 2, 2});
  Config linear{"linear"};
  expect_values(resize_scales(resize_node(linear), x, {1, 1, 2, 2}), {1, 1, 4, 4},
                {1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4});
  Config align{"linear", "align_corners"};
  expect_values(resize_scales(resize_node(align), x, {1, 1, 2, 2}), {1, 1, 4, 4},
                {1, 4 / 3., 5 / 3., 2, 5 / 3., 2, 7 / 3., 8 / 3., 7 / 3., 8 / 3., 3, 10 / 3., 3, 10 / 3., 11 / 3., 4});
  Tensor x24 = iota({1, 1, 2, 4});
  expect_values(resize_scales(resize_node(linear), x24, {1, 1, 0.6f, 0.6f}), {1, 1, 1, 2}, {2.6666665, 4.3333331});
  // align_corners with scales uses the fractional output length in * scale (2.4 here), as the ONNX reference does.
  expect_values(resize_scales(resize_node(align), x24, {1, 1, 0.6f, 0.6f}), {1, 1, 1, 2}, {1, 3.142857});
  Tensor x44 = iota({1, 1, 4, 4});
  Config cubic{"cubic"};
  expect_values(
      resize_scales(resize_node(cubic), x44, {1, 1, 0.8f, 0.8f}), {1, 1, 3, 3},
      {1.47119141, 2.78125, 4.08251953, 6.71142578, 8.02148438, 9.32275391, 11.91650391, 13.2265625, 14.52783203});
  // tf_crop_and_resize, inside the image and with extrapolation.
  Config crop{"linear", "tf_crop_and_resize"};
  Tensor roi = float_tensor({0, 0, 0.4f, 0.6f, 1, 1, 0.6f, 0.8f}, {8});
  expect_values(resize_sizes(resize_node(crop, 4), x44, {1, 1, 3, 3}, 13, &roi), {1, 1, 3, 3},
                {7.6, 7.9, 8.2, 8.8, 9.1, 9.4, 10, 10.3, 10.6});
  crop.extrapolation = 10;
  Tensor roi_out = float_tensor({0, 0, 0.4f, 0.6f, 1, 1, 1.2f, 1.7f}, {8});
  expect_values(resize_sizes(resize_node(crop, 4), x44, {1, 1, 3, 3}, 13, &roi_out), {1, 1, 3, 3},
                {7.6, 10, 10, 12.4, 10, 10, 10, 10, 10});
}

TEST(Resize, MatchesNaiveOnRandomProblems) {
  struct Case {
    Dims x;
    std::vector<float> scales;
    std::vector<int64_t> sizes;
  };
  const std::vector<Case> cases = {
      {{2, 3, 4, 5}, {1, 1, 2, 1.5f}, {}},
      {{1, 2, 5, 3}, {1, 1, 0.6f, 1.7f}, {}},
      {{3, 7}, {1, 2.5f}, {}},
      {{1, 1, 3, 4, 2}, {1, 1, 1.5f, 0.75f, 2}, {}},
      {{2, 3, 4, 5}, {}, {2, 3, 7, 3}},
      {{2, 1, 6, 1}, {}, {2, 1, 3, 4}},
      {{9}, {}, {4}},
  };
  const std::vector<std::string> coords = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"};
  const std::vector<std::string> roundings = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
  int variant = 0;
  for (const Case& k : cases)
    for (const std::string& mode : {std::string("nearest"), std::string("linear"), std::string("cubic")})
      for (const std::string& coord : coords)
        for (bool exclude : {false, true}) {
          if (mode == "nearest" && exclude) continue;
          Config c{mode, coord, roundings[static_cast<size_t>(variant++) % roundings.size()]};
          c.exclude_outside = exclude;
          c.cubic_a = mode == "cubic" && exclude ? -0.5 : -0.75;
          SCOPED_TRACE(dims_to_string(k.x) + " " + mode + " " + coord + " " + c.nearest_mode +
                       (exclude ? " exclude" : ""));
          Tensor x = random_tensor(k.x);
          std::vector<double> scales, lengths;
          Dims out;
          for (size_t d = 0; d < k.x.size(); ++d) {
            if (!k.scales.empty()) {
              out.push_back(static_cast<int64_t>(std::floor(static_cast<float>(k.x[d]) * k.scales[d])));
              scales.push_back(k.scales[d]);
              lengths.push_back(static_cast<double>(k.scales[d]) * static_cast<double>(k.x[d]));
            } else {
              out.push_back(k.sizes[d]);
              scales.push_back(static_cast<double>(k.sizes[d]) / static_cast<double>(k.x[d]));
              lengths.push_back(static_cast<double>(k.sizes[d]));
            }
          }
          Tensor y = k.scales.empty() ? resize_sizes(resize_node(c, 4), x, k.sizes)
                                      : resize_scales(resize_node(c), x, k.scales);
          EXPECT_LT(relative_error(y, naive_resize(c, x, out, scales, lengths)), 1e-5);
        }
}

TEST(Resize, TfCropAndResizeMatchesNaive) {
  Config c{"linear", "tf_crop_and_resize"};
  c.extrapolation = -3;
  for (std::string mode : {"nearest", "linear", "cubic"}) {
    c.mode = mode;
    Tensor x = random_tensor({2, 3, 5, 6});
    const std::vector<double> roi = {0, 0, 0.1, -0.2, 1, 1, 0.8, 1.3};
    Tensor roi_t = float_tensor(std::vector<float>(roi.begin(), roi.end()), {8});
    Tensor y = resize_sizes(resize_node(c, 4), x, {2, 3, 4, 9}, 13, &roi_t);
    EXPECT_LT(relative_error(y, naive_resize(c, x, {2, 3, 4, 9}, {1, 1, 0.8, 1.5}, {2, 3, 4, 9}, roi)), 1e-5) << mode;
  }
}

TEST(Resize, Opset18AxesAntialiasAndAspectRatio) {
  Tensor x44 = iota({1, 1, 4, 4});
  Node aa = resize_node(Config{"linear"});
  set_int(aa, "antialias", 1);
  expect_values(resize_scales(aa, x44, {1, 1, 0.6f, 0.6f}, 18), {1, 1, 2, 2}, {2.875, 4.5, 9.375, 11.0});
  Node aa_cubic = resize_node(Config{"cubic"});
  set_int(aa_cubic, "antialias", 1);
  expect_values(resize_scales(aa_cubic, x44, {1, 1, 0.6f, 0.6f}, 18), {1, 1, 2, 2},
                {2.5180721, 4.2858863, 9.589329, 11.357142});
  // Antialias changes nothing when upsampling.
  Node plain = resize_node(Config{"linear"});
  EXPECT_EQ(relative_error(resize_scales(aa, x44, {1, 1, 1.5f, 2}, 18), resize_scales(plain, x44, {1, 1, 1.5f, 2}, 18)),
            0.0);
  // axes: scales and sizes name only the resized axes (negative axes allowed).
  Tensor x = random_tensor({2, 3, 4, 5});
  Node axes = resize_node(Config{"linear"});
  set_ints(axes, "axes", {-1, 2});
  Tensor with_axes = resize_scales(axes, x, {2, 0.5f}, 18);
  Tensor full = resize_scales(resize_node(Config{"linear"}), x, {1, 1, 0.5f, 2}, 18);
  EXPECT_EQ(relative_error(with_axes, full), 0.0);
  EXPECT_EQ(relative_error(resize_sizes(axes, x, {10, 2}, 18),
                           resize_sizes(resize_node(Config{"linear"}, 4), x, {2, 3, 2, 10}, 18)),
            0.0);
  // keep_aspect_ratio_policy (ONNX backend tests resize_upsample_sizes_nearest_not_larger / _not_smaller).
  Tensor x22 = iota({1, 1, 2, 2});
  Node not_larger = resize_node(Config{});
  set_ints(not_larger, "axes", {2, 3});
  set_string(not_larger, "keep_aspect_ratio_policy", "not_larger");
  Tensor nl = resize_sizes(not_larger, x22, {7, 8}, 18);
  EXPECT_EQ(nl.dims(), (Dims{1, 1, 7, 7}));
  EXPECT_EQ(nl.data<float>()[0], 1);
  EXPECT_EQ(nl.data<float>()[3], 1);  // scale 3.5: (3 + 0.5) / 3.5 - 0.5 = 0.5 rounds down to 0
  EXPECT_EQ(nl.data<float>()[4], 2);
  Node not_smaller = not_larger;
  set_string(not_smaller, "keep_aspect_ratio_policy", "not_smaller");
  EXPECT_EQ(resize_sizes(not_smaller, x22, {7, 8}, 18).dims(), (Dims{1, 1, 8, 8}));
  // Before opset 18 these attributes do not exist.
  expect_error([&] { resize_scales(aa, x44, {1, 1, 0.6f, 0.6f}, 17); }, {"Resize_test", "antialias", "opset 18"});
  expect_error([&] { resize_scales(axes, x, {2, 0.5f}, 13); }, {"axes", "opset 18"});
  expect_error([&] { resize_scales(not_larger, x22, {2, 2}, 18); }, {"keep_aspect_ratio_policy", "sizes"});
}

TEST(Resize, HalfPixelSymmetricFromOpset19) {
  Tensor x = iota({1, 1, 1, 4});
  Node n = resize_node(Config{"linear", "half_pixel_symmetric"});
  expect_values(resize_scales(n, x, {1, 1, 1, 0.6f}, 19), {1, 1, 1, 2}, {1.6666666, 3.3333333});
  Tensor x22 = iota({1, 1, 2, 2});
  expect_values(resize_scales(n, x22, {1, 1, 2.3f, 2.94f}, 19), {1, 1, 4, 5},
                {1,          1.15986395, 1.5,        1.84013605, 2,          1.56521738, 1.72508133,
                 2.06521738, 2.40535343, 2.56521738, 2.43478262, 2.59464657, 2.93478262, 3.27491867,
                 3.43478262, 3,          3.15986395, 3.5,        3.84013605, 4},
                1e-4);
  expect_error([&] { resize_scales(n, x, {1, 1, 1, 0.6f}, 18); }, {"half_pixel_symmetric", "opset 19"});
}

TEST(Resize, InputOptionalityPerOpset) {
  Tensor x = iota({1, 1, 2, 2});
  Tensor scales = float_tensor({1, 1, 2, 2}, {4});
  Tensor sizes = int64_tensor({1, 1, 4, 4});
  Tensor empty(DataType::kFloat32, {0});
  Config c{"linear"};
  Node node = resize_node(c);
  // Opset 11: roi and scales are required inputs, possibly empty tensors.
  Tensor y11 = run(node, {&x, &empty, &scales}, 11)[0];
  Node sizes11 = resize_node(c, 4);
  EXPECT_EQ(relative_error(run(sizes11, {&x, &empty, &empty, &sizes}, 11)[0], y11), 0.0);
  Node no_roi = resize_node(c, 3);
  no_roi.inputs = {"x", "", "scales"};
  expect_error([&] { run(no_roi, {&x, nullptr, &scales}, 11); }, {"opset 11", "'roi' and 'scales'"});
  // Opset 13+: both optional, omitted or empty.
  EXPECT_EQ(relative_error(run(no_roi, {&x, nullptr, &scales}, 13)[0], y11), 0.0);
  Node only_sizes = resize_node(c, 4);
  only_sizes.inputs = {"x", "", "", "sizes"};
  EXPECT_EQ(relative_error(run(only_sizes, {&x, nullptr, nullptr, &sizes}, 13)[0], y11), 0.0);
  expect_error([&] { run(sizes11, {&x, &empty, &scales, &sizes}, 13); }, {"both 'scales'", "'sizes'"});
  expect_error([&] { run(sizes11, {&x, &empty, &empty, &empty}, 13); }, {"neither 'scales'", "'sizes'"});
  Tensor wrong = float_tensor({1, 2}, {2});
  expect_error([&] { run(node, {&x, &empty, &wrong}, 13); }, {"'scales' has 2 values", "expected 4"});
  Tensor zero = float_tensor({1, 1, 0, 2}, {4});
  expect_error([&] { run(node, {&x, &empty, &zero}, 13); }, {"'scales' must be positive"});
  // tf_half_pixel_for_nn only in opsets 11-12; tf_crop_and_resize needs a roi.
  Node tf = resize_node(Config{"nearest", "tf_half_pixel_for_nn"});
  expect_values(run(tf, {&x, &empty, &scales}, 11)[0], {1, 1, 4, 4}, {1, 2, 2, 2, 3, 4, 4, 4, 3, 4, 4, 4, 3, 4, 4, 4});
  expect_error([&] { run(tf, {&x, &empty, &scales}, 13); }, {"tf_half_pixel_for_nn", "opsets 11 and 12"});
  Node crop = resize_node(Config{"linear", "tf_crop_and_resize"});
  expect_error([&] { run(crop, {&x, &empty, &scales}, 13); }, {"tf_crop_and_resize", "'roi'"});
  Node bad = resize_node(Config{"bilinear"});
  expect_error([&] { run(bad, {&x, &empty, &scales}, 13); }, {"mode", "bilinear"});
}

TEST(Resize, IntegerAndHalfTypes) {
  Tensor x = iota({1, 2, 3, 3});
  Tensor xi = cast_tensor(x, DataType::kInt64);
  Tensor xu = cast_tensor(x, DataType::kUInt8);
  Tensor xh = cast_tensor(x, DataType::kFloat16);
  Node nearest = resize_node(Config{});
  Tensor ref = resize_scales(nearest, x, {1, 1, 2, 1.5f});
  EXPECT_EQ(relative_error(resize_scales(nearest, xi, {1, 1, 2, 1.5f}), ref), 0.0);
  EXPECT_EQ(resize_scales(nearest, xi, {1, 1, 2, 1.5f}).dtype(), DataType::kInt64);
  Node cubic = resize_node(Config{"cubic"});
  Tensor cubic_ref = resize_scales(cubic, x, {1, 1, 2, 2});
  Tensor cubic_u8 = resize_scales(cubic, xu, {1, 1, 2, 2});
  for (int64_t i = 0; i < cubic_ref.numel(); ++i)
    EXPECT_EQ(cubic_u8.data<uint8_t>()[i],
              static_cast<uint8_t>(std::clamp(std::nearbyint(cubic_ref.data<float>()[i]), 0.0f, 255.0f)));
  EXPECT_LT(relative_error(resize_scales(cubic, xh, {1, 1, 2, 2}), cubic_ref), 1e-3);
}

TEST(Resize, ShapeInference) {
  const Dim batch = Dim::unknown("batch");
  Tensor scales = float_tensor({1, 1, 2, 0.6f}, {4});
  Tensor sizes = int64_tensor({1, 3, 7, 9});
  Node n = resize_node(Config{"linear"}, 3);
  auto infer = [&](const Node& node, std::vector<Shape> shapes, std::vector<const Tensor*> values, int64_t opset) {
    std::vector<DataType> types{DataType::kFloat32, DataType::kFloat32, DataType::kFloat32, DataType::kInt64};
    return infer_shapes(node, shapes, opset, values, types)[0].shape.to_string();
  };
  EXPECT_EQ(infer(n, {Shape({batch, 3, 32, 5}), Shape({0}), Shape({4})}, {nullptr, nullptr, &scales}, 13),
            "[batch,3,64,3]");
  // Scales known only by shape: the rank is known, the resized extents are not.
  EXPECT_EQ(infer(n, {Shape({batch, 3, 32, 5}), Shape({0}), Shape({4})}, {}, 13), "[?,?,?,?]");
  Node s = resize_node(Config{"linear"}, 4);
  s.inputs = {"x", "", "", "sizes"};
  EXPECT_EQ(infer(s, {Shape({batch, 3, 32, 5}), Shape(), Shape(), Shape({4})}, {nullptr, nullptr, nullptr, &sizes}, 13),
            "[1,3,7,9]");
  Node axes = resize_node(Config{"linear"}, 3);
  set_ints(axes, "axes", {2, 3});
  Tensor two = float_tensor({2, 2}, {2});
  EXPECT_EQ(
      infer(axes, {Shape({batch, 3, Dim::unknown("h"), 5}), Shape({0}), Shape({2})}, {nullptr, nullptr, &two}, 18),
      "[batch,3,?,10]");
  EXPECT_EQ(infer(axes, {Shape({batch, 3, Dim::unknown("h"), 5}), Shape({0}), Shape({2})}, {}, 18), "[batch,3,?,?]");
  Tensor keep = float_tensor({1, 2}, {2});
  Node keep_h = resize_node(Config{"linear"}, 3);
  set_ints(keep_h, "axes", {2, 3});
  EXPECT_EQ(
      infer(keep_h, {Shape({batch, 3, Dim::unknown("h"), 5}), Shape({0}), Shape({2})}, {nullptr, nullptr, &keep}, 18),
      "[batch,3,h,10]");
  // floor(in * scale) in float32: 5 * 0.6 = 3.0000001 -> 3, 4 * 0.6 = 2.4 -> 2.
  EXPECT_EQ(infer(n, {Shape({1, 1, 4, 5}), Shape({0}), Shape({4})}, {nullptr, nullptr, &scales}, 13), "[1,1,8,3]");
  // 10 * 0.7f is 7 in float32 (6.99999988 in double).
  Tensor seven = float_tensor({1, 0.7f}, {2});
  EXPECT_EQ(infer(n, {Shape({2, 10}), Shape({0}), Shape({2})}, {nullptr, nullptr, &seven}, 13), "[2,7]");
  Tensor x10 = random_tensor({2, 10});
  EXPECT_EQ(resize_scales(n, x10, {1, 0.7f}).dims(), (Dims{2, 7}));
  expect_error(
      [&] {
        infer(n, {Shape({1, 3, 4}), Shape({0}), Shape({4})}, {nullptr, nullptr, &scales}, 13);
      },
      {"'scales' has 4 values", "expected 3"});
  // A scale that makes an extent beyond int64 (float overflow to inf too) is refused, never converted (UB; found
  // by the engine fuzzer).
  for (float huge : {1e30f, 3e38f}) {
    Tensor big = float_tensor({1, 1, huge, 1}, {4});
    expect_error([&] { infer(n, {Shape({1, 1, 1000, 5}), Shape({0}), Shape({4})}, {nullptr, nullptr, &big}, 13); },
                 {"does not fit int64", "fix the scales input"});
  }
}

TEST(Upsample, Opset9Semantics) {
  Tensor x = iota({1, 1, 2, 2});
  Tensor scales = float_tensor({1, 1, 2, 3}, {4});
  Node n = make_node("Upsample", 2);
  expect_values(run(n, {&x, &scales}, 9)[0], {1, 1, 4, 6},
                {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4});
  // linear at x / scale (asymmetric), edges clamped.
  Node linear = make_node("Upsample", 2);
  set_string(linear, "mode", "linear");
  Tensor s22 = float_tensor({1, 1, 2, 2}, {4});
  expect_values(run(linear, {&x, &s22}, 9)[0], {1, 1, 4, 4}, {1, 1.5, 2, 2, 2, 2.5, 3, 3, 3, 3.5, 4, 4, 3, 3.5, 4, 4});
  // Non-integer scales: floor(in * scale) outputs, nearest is floor(x / scale).
  Tensor x5 = iota({1, 5});
  Tensor s = float_tensor({1, 1.5f}, {2});
  expect_values(run(n, {&x5, &s}, 9)[0], {1, 7}, {1, 1, 2, 3, 3, 4, 5});
  Tensor down = float_tensor({1, 0.5f}, {2});
  expect_error([&] { run(n, {&x5, &down}, 9); }, {"Upsample_test", ">= 1"});
  // Opset 7 kept the scales in an attribute.
  Node attr = make_node("Upsample", 1);
  Attribute a;
  a.type = AttributeType::kFloats;
  a.floats = {1, 1, 2, 3};
  attr.attributes["scales"] = a;
  expect_values(run(attr, {&x}, 7)[0], {1, 1, 4, 6},
                {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4});
}

}  // namespace
}  // namespace normrt::test
