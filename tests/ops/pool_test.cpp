// MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool: cases from the ONNX operator documents, random problems
// against a naive pooling that enumerates windows by their start position (a different derivation of the
// ceil_mode rule than the reference's), Indices in both storage orders, opset-specific attributes and types,
// shape inference.
#include <cmath>
#include <limits>

#include "conv_naive.h"
#include "test_util.h"

namespace normrt::test {
namespace {

struct PoolCase {
  Dims x;
  std::vector<int64_t> kernel, strides, dilations, pads;
  bool ceil_mode = false;
};

// Windows start at o * s - pad_begin. Floor mode keeps the windows that end inside the padded input; ceil mode
// keeps those that start before the padded end minus (kernel - stride), except windows that would start in the
// end padding.
std::vector<int64_t> naive_window_starts(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe,
                                         bool ceil_mode) {
  std::vector<int64_t> starts;
  const int64_t dk = (k - 1) * d + 1, padded = in + pb + pe;
  for (int64_t o = 0;; ++o) {
    const bool keep = ceil_mode ? (o * s < padded - dk + s && o * s < in + pb) : (o * s + dk <= padded);
    if (!keep) break;
    starts.push_back(o * s - pb);
  }
  return starts;
}

// mode "max" fills `indices` (row-major over the whole tensor); mode "avg" divides by the count of taps inside the
// input, or (include_pad) inside input plus padding.
Tensor naive_pool(const Tensor& x, const PoolCase& c, const std::string& mode, bool include_pad,
                  std::vector<int64_t>* indices) {
  const size_t spatial = x.rank() - 2;
  std::vector<std::vector<int64_t>> starts;
  Dims od{x.dims()[0], x.dims()[1]};
  for (size_t i = 0; i < spatial; ++i) {
    starts.push_back(naive_window_starts(x.dims()[2 + i], c.kernel[i], c.strides[i], c.dilations[i], c.pads[i],
                                         c.pads[spatial + i], c.ceil_mode));
    od.push_back(static_cast<int64_t>(starts.back().size()));
  }
  Tensor y(DataType::kFloat32, od);
  if (indices) indices->assign(static_cast<size_t>(y.numel()), -1);
  const Dims kdims(c.kernel.begin(), c.kernel.end());
  for (int64_t o = 0; o < y.numel(); ++o) {
    const std::vector<int64_t> oi = unravel(o, od);
    double best = -std::numeric_limits<double>::infinity(), sum = 0;
    int64_t count = 0, best_index = -1;
    for (int64_t t = 0; t < element_count(kdims); ++t) {
      const std::vector<int64_t> ki = unravel(t, kdims);
      std::vector<int64_t> xi{oi[0], oi[1]};
      bool inside = true, in_padded = true;
      for (size_t i = 0; i < spatial; ++i) {
        const int64_t p = starts[i][static_cast<size_t>(oi[2 + i])] + ki[i] * c.dilations[i];
        xi.push_back(p);
        if (p < 0 || p >= x.dims()[2 + i]) inside = false;
        if (p >= x.dims()[2 + i] + c.pads[spatial + i]) in_padded = false;
      }
      if (inside) {
        const int64_t flat = ravel(xi, x.dims());
        const double v = element_as_double(x, flat);
        sum += v;
        if (v > best) {
          best = v;
          best_index = flat;
        }
      }
      if (include_pad ? in_padded : inside) ++count;
    }
    y.data<float>()[o] = static_cast<float>(mode == "max" ? best : sum / static_cast<double>(count));
    if (indices) (*indices)[static_cast<size_t>(o)] = best_index;
  }
  return y;
}

Node pool_node(const std::string& op, const PoolCase& c, size_t outputs = 1) {
  Node n = make_node(op, 1, outputs);
  set_ints(n, "kernel_shape", c.kernel);
  set_ints(n, "strides", c.strides);
  set_ints(n, "pads", c.pads);
  if (op == "MaxPool") set_ints(n, "dilations", c.dilations);
  if (c.ceil_mode) set_int(n, "ceil_mode", 1);
  return n;
}

Tensor iota(const Dims& dims, float start = 1.0f) {
  Tensor t(DataType::kFloat32, dims);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = start + static_cast<float>(i);
  return t;
}

void expect_values(const Tensor& t, const Dims& dims, const std::vector<double>& values) {
  ASSERT_EQ(t.dims(), dims);
  ASSERT_EQ(t.numel(), static_cast<int64_t>(values.size()));
  for (size_t i = 0; i < values.size(); ++i)
    EXPECT_NEAR(element_as_double(t, static_cast<int64_t>(i)), values[i], 1e-4) << i;
}

TEST(MaxPool, HandComputedFromOnnxDocs) {
  Tensor x = iota({1, 1, 5, 5});
  Node padded = make_node("MaxPool", 1, 2);
  set_ints(padded, "kernel_shape", {5, 5});
  set_ints(padded, "pads", {2, 2, 2, 2});
  auto out = run(padded, {&x});
  const std::vector<double> y = {13, 14, 15, 15, 15, 18, 19, 20, 20, 20, 23, 24, 25,
                                 25, 25, 23, 24, 25, 25, 25, 23, 24, 25, 25, 25};
  expect_values(out[0], {1, 1, 5, 5}, y);
  std::vector<double> z = y;
  for (double& v : z) v -= 1;  // x holds 1..25, so the row-major index is the value minus one
  ASSERT_EQ(out[1].dtype(), DataType::kInt64);
  expect_values(out[1], {1, 1, 5, 5}, z);
  Node column = make_node("MaxPool", 1, 2);
  set_ints(column, "kernel_shape", {2, 2});
  set_ints(column, "strides", {2, 2});
  set_int(column, "storage_order", 1);
  auto col = run(column, {&x});
  expect_values(col[0], {1, 1, 2, 2}, {7, 9, 17, 19});
  expect_values(col[1], {1, 1, 2, 2}, {6, 16, 8, 18});
  Tensor x4 = iota({1, 1, 4, 4});
  Node ceil = make_node("MaxPool", 1);
  set_ints(ceil, "kernel_shape", {3, 3});
  set_ints(ceil, "strides", {2, 2});
  set_int(ceil, "ceil_mode", 1);
  expect_values(run(ceil, {&x4})[0], {1, 1, 2, 2}, {11, 12, 15, 16});
  Tensor x8 = iota({1, 1, 8});
  Node dilated = make_node("MaxPool", 1);
  set_ints(dilated, "kernel_shape", {2});
  set_ints(dilated, "dilations", {3});
  expect_values(run(dilated, {&x8})[0], {1, 1, 5}, {4, 5, 6, 7, 8});
}

TEST(MaxPool, MatchesNaiveWithIndices) {
  const std::vector<PoolCase> cases = {
      {{1, 1, 7}, {3}, {1}, {1}, {0, 0}},
      {{2, 3, 11}, {3}, {2}, {2}, {1, 2}, true},
      {{3, 2, 7, 9}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}},
      {{2, 4, 13, 8}, {2, 3}, {2, 1}, {2, 1}, {0, 1, 1, 0}, true},
      {{1, 2, 6, 6}, {3, 3}, {2, 2}, {1, 1}, {0, 0, 0, 0}, true},
      {{4, 1, 5, 5}, {5, 5}, {1, 1}, {1, 1}, {2, 2, 2, 2}},
      {{1, 2, 5, 6, 7}, {2, 3, 2}, {2, 1, 2}, {1, 1, 2}, {0, 1, 1, 1, 1, 0}, true},
  };
  for (const PoolCase& c : cases) {
    SCOPED_TRACE(dims_to_string(c.x) + (c.ceil_mode ? " ceil" : ""));
    Tensor x = random_tensor(c.x);
    auto out = run(pool_node("MaxPool", c, 2), {&x});
    std::vector<int64_t> indices;
    Tensor expected = naive_pool(x, c, "max", false, &indices);
    EXPECT_EQ(relative_error(out[0], expected), 0.0);
    ASSERT_EQ(out[1].numel(), static_cast<int64_t>(indices.size()));
    for (size_t i = 0; i < indices.size(); ++i) EXPECT_EQ(out[1].data<int64_t>()[i], indices[i]) << i;
  }
}

TEST(MaxPool, TypesPerOpset) {
  Tensor x = iota({1, 2, 4, 4}, -10.0f);
  Node n = make_node("MaxPool", 1);
  set_ints(n, "kernel_shape", {2, 2});
  for (DataType t : {DataType::kInt8, DataType::kUInt8, DataType::kFloat16, DataType::kFloat64}) {
    const Tensor base = t == DataType::kUInt8 ? iota({1, 2, 4, 4}) : x;
    Tensor xt = cast_tensor(base, t);
    auto out = run(n, {&xt}, 12);
    EXPECT_EQ(out[0].dtype(), t);
    EXPECT_EQ(relative_error(out[0], run(n, {&base})[0]), 0.0);
  }
  Tensor x8 = cast_tensor(x, DataType::kInt8);
  expect_error([&] { run(n, {&x8}, 11); }, {"MaxPool_test", "int8", "opset 12"});
  Node avg = make_node("AveragePool", 1);
  set_ints(avg, "kernel_shape", {2, 2});
  expect_error([&] { run(avg, {&x8}, 13); }, {"AveragePool_test", "int8"});
}

TEST(AveragePool, HandComputed) {
  Tensor x4 = iota({1, 1, 4, 4});
  Node ceil = make_node("AveragePool", 1);
  set_ints(ceil, "kernel_shape", {3, 3});
  set_ints(ceil, "strides", {2, 2});
  set_int(ceil, "ceil_mode", 1);
  expect_values(run(ceil, {&x4})[0], {1, 1, 2, 2}, {6, 7.5, 12, 13.5});
  Tensor x3 = iota({1, 1, 3, 3});
  Node pad = make_node("AveragePool", 1);
  set_ints(pad, "kernel_shape", {3, 3});
  set_ints(pad, "pads", {1, 1, 1, 1});
  auto excluded = run(pad, {&x3});
  EXPECT_NEAR(excluded[0].data<float>()[0], 12.0 / 4, 1e-6);
  set_int(pad, "count_include_pad", 1);
  auto included = run(pad, {&x3});
  EXPECT_NEAR(included[0].data<float>()[0], 12.0 / 9, 1e-6);
  EXPECT_NEAR(included[0].data<float>()[4], 45.0 / 9, 1e-6);
  // ceil_mode: the last window sticks out past the (unpadded) end; only the taps inside are counted, even with
  // count_include_pad (PyTorch and ONNX Runtime agree).
  Tensor x6 = iota({1, 1, 6});
  Node tail = make_node("AveragePool", 1);
  set_ints(tail, "kernel_shape", {3});
  set_ints(tail, "strides", {2});
  set_int(tail, "ceil_mode", 1);
  set_int(tail, "count_include_pad", 1);
  expect_values(run(tail, {&x6})[0], {1, 1, 3}, {2, 4, 5.5});
  // ceil_mode never starts a window in the end padding: in 5, kernel 2, stride 2, pads 1/1 gives 3 outputs, not 4.
  Tensor x5 = iota({1, 1, 5});
  Node drop = make_node("AveragePool", 1);
  set_ints(drop, "kernel_shape", {2});
  set_ints(drop, "strides", {2});
  set_ints(drop, "pads", {1, 1});
  set_int(drop, "ceil_mode", 1);
  expect_values(run(drop, {&x5})[0], {1, 1, 3}, {1, 2.5, 4.5});
}

TEST(AveragePool, MatchesNaive) {
  const std::vector<PoolCase> cases = {
      {{1, 1, 7}, {3}, {1}, {1}, {0, 0}},
      {{2, 3, 11}, {3}, {2}, {1}, {1, 2}, true},
      {{3, 2, 7, 9}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}},
      {{2, 4, 13, 8}, {2, 3}, {2, 1}, {1, 1}, {0, 1, 1, 0}, true},
      {{1, 2, 6, 6}, {3, 3}, {2, 2}, {1, 1}, {0, 0, 0, 0}, true},
      {{1, 2, 5, 6, 7}, {2, 3, 2}, {2, 1, 2}, {1, 1, 1}, {0, 1, 1, 1, 1, 0}, true},
  };
  for (const PoolCase& c : cases)
    for (bool include_pad : {false, true}) {
      SCOPED_TRACE(dims_to_string(c.x) + (c.ceil_mode ? " ceil" : "") + (include_pad ? " include_pad" : ""));
      Tensor x = random_tensor(c.x);
      Node n = pool_node("AveragePool", c);
      set_int(n, "count_include_pad", include_pad);
      EXPECT_LT(relative_error(run(n, {&x})[0], naive_pool(x, c, "avg", include_pad, nullptr)), 1e-6);
    }
}

TEST(AveragePool, DilationsFromOpset19) {
  PoolCase c{{2, 3, 9, 8}, {2, 3}, {1, 2}, {2, 2}, {1, 0, 1, 1}, true};
  Tensor x = random_tensor(c.x);
  Node n = pool_node("AveragePool", c);
  set_ints(n, "dilations", c.dilations);
  EXPECT_LT(relative_error(run(n, {&x}, 19)[0], naive_pool(x, c, "avg", false, nullptr)), 1e-6);
  expect_error([&] { run(n, {&x}, 18); }, {"AveragePool_test", "dilations", "opset 19"});
  // Dilations of one are harmless at any opset.
  Node ones = pool_node("AveragePool", PoolCase{{1, 1, 4, 4}, {2, 2}, {1, 1}, {1, 1}, {0, 0, 0, 0}});
  set_ints(ones, "dilations", {1, 1});
  EXPECT_EQ(run(ones, {&x}, 11)[0].dims(), (Dims{2, 3, 8, 7}));
}

TEST(Pool, AutoPadMatchesExplicitPads) {
  for (std::string mode : {"SAME_UPPER", "SAME_LOWER", "VALID"})
    for (const std::string op : {"MaxPool", "AveragePool"}) {
      SCOPED_TRACE(op + " " + mode);
      ConvCase geometry{{2, 3, 7, 10}, 3, {3, 4}, {2, 3}, {1, 1}, {}};
      PoolCase c{geometry.x, geometry.kernel, geometry.strides, geometry.dilations, auto_pads(mode, geometry)};
      Tensor x = random_tensor(c.x);
      Node n = make_node(op, 1);
      set_ints(n, "kernel_shape", c.kernel);
      set_ints(n, "strides", c.strides);
      set_string(n, "auto_pad", mode);
      auto out = run(n, {&x});
      EXPECT_LT(relative_error(out[0], naive_pool(x, c, op == "MaxPool" ? "max" : "avg", false, nullptr)), 1e-6);
    }
}

TEST(GlobalPool, AveragesAndMaxima) {
  for (const Dims& dims : {Dims{2, 3, 5}, Dims{1, 4, 3, 7}, Dims{3, 2, 2, 3, 4}, Dims{2, 2, 1, 1}}) {
    SCOPED_TRACE(dims_to_string(dims));
    Tensor x = random_tensor(dims);
    auto avg = run(make_node("GlobalAveragePool", 1), {&x});
    auto mx = run(make_node("GlobalMaxPool", 1), {&x});
    Dims od{dims[0], dims[1]};
    od.resize(dims.size(), 1);
    ASSERT_EQ(avg[0].dims(), od);
    ASSERT_EQ(mx[0].dims(), od);
    const int64_t planes = dims[0] * dims[1], size = x.numel() / planes;
    for (int64_t p = 0; p < planes; ++p) {
      double sum = 0, best = -INFINITY;
      for (int64_t i = 0; i < size; ++i) {
        sum += x.data<float>()[p * size + i];
        best = std::max<double>(best, x.data<float>()[p * size + i]);
      }
      EXPECT_NEAR(avg[0].data<float>()[p], sum / size, 1e-6);
      EXPECT_EQ(mx[0].data<float>()[p], static_cast<float>(best));
    }
  }
}

// A zero-sized spatial axis with planes left (found by the onnx_import fuzzer: the reference indexed an empty
// buffer): every plane gets the empty window's value.
TEST(GlobalPool, EmptySpatialAxis) {
  Tensor x = random_tensor({2, 3, 0});
  auto avg = run(make_node("GlobalAveragePool", 1), {&x});
  auto mx = run(make_node("GlobalMaxPool", 1), {&x});
  ASSERT_EQ(mx[0].dims(), (Dims{2, 3, 1}));
  for (int64_t p = 0; p < 6; ++p) {
    EXPECT_EQ(avg[0].data<float>()[p], 0.0f);
    EXPECT_EQ(mx[0].data<float>()[p], -INFINITY);
  }
}

TEST(Pool, ShapeInference) {
  const Dim batch = Dim::unknown("batch"), ch = Dim::unknown("C");
  Node n = make_node("MaxPool", 1, 2);
  set_ints(n, "kernel_shape", {3, 3});
  set_ints(n, "strides", {2, 2});
  set_ints(n, "pads", {1, 1, 1, 1});
  auto out = infer_shapes(n, {Shape({batch, ch, 112, Dim::unknown("w")})}, 13);
  EXPECT_EQ(out[0].shape.to_string(), "[batch,C,56,?]");
  EXPECT_EQ(out[1].dtype, DataType::kInt64);
  EXPECT_EQ(out[1].shape.to_string(), "[batch,C,56,?]");
  EXPECT_EQ(infer_shapes(n, {Shape()}, 13)[0].shape.to_string(), "[?]");
  Node g = make_node("GlobalAveragePool", 1);
  EXPECT_EQ(infer_shapes(g, {Shape({batch, 64, Dim::unknown(), 7})}, 13)[0].shape.to_string(), "[batch,64,1,1]");
  Node no_kernel = make_node("AveragePool", 1);
  expect_error([&] { infer_shapes(no_kernel, {Shape({1, 3, 8, 8})}, 13); }, {"AveragePool_test", "kernel_shape"});
  Node big = make_node("MaxPool", 1);
  set_ints(big, "kernel_shape", {9, 9});
  expect_error([&] { infer_shapes(big, {Shape({1, 3, 8, 8})}, 13); }, {"kernel extent 9", "padded input extent 8"});
  Node order = make_node("MaxPool", 1);
  set_ints(order, "kernel_shape", {2, 2});
  set_int(order, "storage_order", 2);
  expect_error([&] { infer_shapes(order, {Shape({1, 3, 8, 8})}, 13); }, {"storage_order"});
  expect_error([&] { infer_shapes(g, {Shape({3, 8})}, 13); }, {"rank 2", "rank >= 3"});
  Node avg_two = make_node("AveragePool", 1, 2);
  set_ints(avg_two, "kernel_shape", {2, 2});
  expect_error([&] { infer_shapes(avg_two, {Shape({1, 3, 8, 8})}, 13); }, {"2 outputs"});
}

}  // namespace
}  // namespace normrt::test
