// Tests of src/ops/softmax.cpp: Softmax and LogSoftmax under the opset < 13 (coerce to 2-D) and opset >= 13
// (single axis) definitions.
#include <cmath>
#include <cstring>
#include <limits>

#include "cpu/cpu_kernel.h"
#include "ops/elementwise_test_util.h"
#include "test_util.h"

namespace normrt::test {
namespace {

using namespace elementwise;  // tests/ops/elementwise_test_util.h

// Independent double-precision softmax over the elements {base + k * stride : k < n}.
void naive_softmax(const std::vector<double>& x, std::vector<double>& y, int64_t base, int64_t n, int64_t stride,
                   bool log) {
  double max = -INFINITY;
  for (int64_t k = 0; k < n; ++k) max = std::max(max, x[base + k * stride]);
  double sum = 0;
  for (int64_t k = 0; k < n; ++k) sum += std::exp(x[base + k * stride] - max);
  for (int64_t k = 0; k < n; ++k) {
    double v = x[base + k * stride] - max;
    y[base + k * stride] = log ? v - std::log(sum) : std::exp(v) / sum;
  }
}

// opset >= 13: normalize over the single axis.
std::vector<double> expected_single_axis(const Tensor& t, int64_t axis, bool log) {
  std::vector<double> x = values_of(t), y(x.size());
  const Dims& d = t.dims();
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= d[i];
  for (size_t i = axis + 1; i < d.size(); ++i) inner *= d[i];
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) naive_softmax(x, y, o * d[axis] * inner + i, d[axis], inner, log);
  return y;
}

// opset < 13: coerce to [prod(d[:axis]), prod(d[axis:])] and normalize rows.
std::vector<double> expected_coerced(const Tensor& t, int64_t axis, bool log) {
  std::vector<double> x = values_of(t), y(x.size());
  int64_t rows = 1, cols = 1;
  for (int64_t i = 0; i < static_cast<int64_t>(t.rank()); ++i) (i < axis ? rows : cols) *= t.dims()[i];
  for (int64_t r = 0; r < rows; ++r) naive_softmax(x, y, r * cols, cols, 1, log);
  return y;
}

void expect_close(const Tensor& actual, const std::vector<double>& expected, double tolerance,
                  const std::string& what) {
  ASSERT_EQ(actual.numel(), static_cast<int64_t>(expected.size())) << what;
  for (int64_t i = 0; i < actual.numel(); ++i)
    ASSERT_NEAR(element_as_double(actual, i), expected[i], tolerance * std::max(1.0, std::fabs(expected[i])))
        << what << " at " << i;
}

Node softmax_node(const char* op, int64_t axis, bool set_axis = true) {
  Node n = make_node(op, 1);
  if (set_axis) set_int(n, "axis", axis);
  return n;
}

TEST(Softmax, HandComputed) {
  Tensor x = float_tensor({1, 2, 3}, {1, 3});
  auto y = values_of(run(make_node("Softmax", 1), {&x}, 13)[0]);
  EXPECT_NEAR(y[0], 0.09003057317038046, 1e-7);
  EXPECT_NEAR(y[1], 0.24472847105479767, 1e-7);
  EXPECT_NEAR(y[2], 0.6652409557748219, 1e-7);
  auto log_y = values_of(run(make_node("LogSoftmax", 1), {&x}, 13)[0]);
  EXPECT_NEAR(log_y[0], -2.4076059644443806, 1e-6);
  EXPECT_NEAR(log_y[2], -0.40760596444438035, 1e-6);
}

TEST(Softmax, Opset13SingleAxisMatchesNaive) {
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    const bool log = std::string(op) == "LogSoftmax";
    for (const Dims& dims : std::vector<Dims>{{7}, {2, 3, 4}, {3, 1, 13}, {2, 3, 5, 7}}) {
      const int64_t rank = static_cast<int64_t>(dims.size());
      Tensor x = random_tensor(dims, -5, 5);
      for (int64_t axis = -rank; axis < rank; ++axis) {
        for (int64_t opset : {13, 18, 21}) {
          auto out = run(softmax_node(op, axis), {&x}, opset);
          expect_close(out[0], expected_single_axis(x, axis < 0 ? axis + rank : axis, log), 2e-6,
                       std::string(op) + " axis " + std::to_string(axis) + " " + dims_to_string(dims));
        }
      }
      auto by_default = run(make_node(op, 1), {&x}, 13);  // axis defaults to -1
      expect_close(by_default[0], expected_single_axis(x, rank - 1, log), 2e-6, std::string(op) + " default axis");
    }
  }
}

TEST(Softmax, BeforeOpset13CoercesTo2D) {
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    const bool log = std::string(op) == "LogSoftmax";
    for (const Dims& dims : std::vector<Dims>{{2, 3, 4}, {3, 1, 13}, {2, 3, 5, 7}, {5, 6}}) {
      const int64_t rank = static_cast<int64_t>(dims.size());
      Tensor x = random_tensor(dims, -5, 5);
      for (int64_t axis = -rank; axis < rank; ++axis) {
        for (int64_t opset : {11, 12}) {
          auto out = run(softmax_node(op, axis), {&x}, opset);
          expect_close(out[0], expected_coerced(x, axis < 0 ? axis + rank : axis, log), 2e-6,
                       std::string(op) + " opset " + std::to_string(opset) + " axis " + std::to_string(axis));
        }
      }
      auto by_default = run(make_node(op, 1), {&x}, 11);  // axis defaults to 1: everything but the batch dim
      expect_close(by_default[0], expected_coerced(x, 1, log), 2e-6, std::string(op) + " default axis opset 11");
    }
  }
}

TEST(Softmax, TheTwoDefinitionsDifferOnTheSameNode) {
  Tensor x = random_tensor({2, 3, 4}, -3, 3);
  Node n = make_node("Softmax", 1);
  auto old_result = run(n, {&x}, 12);
  auto new_result = run(n, {&x}, 13);
  // Opset 12 sums to 1 over each batch of 12 elements; opset 13 over each row of 4.
  double batch_sum = 0, row_sum = 0;
  for (int i = 0; i < 12; ++i) batch_sum += old_result[0].data<float>()[i];
  for (int i = 0; i < 4; ++i) row_sum += new_result[0].data<float>()[i];
  EXPECT_NEAR(batch_sum, 1, 1e-6);
  EXPECT_NEAR(row_sum, 1, 1e-6);
  EXPECT_GT(relative_error(old_result[0], new_result[0]), 1e-3);
  // With axis = rank - 1 both definitions agree.
  Node last = softmax_node("Softmax", 2);
  EXPECT_LT(relative_error(run(last, {&x}, 11)[0], run(last, {&x}, 13)[0]), 1e-7);
}

TEST(Softmax, LargeInputsAreStable) {
  Tensor x = float_tensor({1000, 1001, 1002, -1000, -1001, -1002}, {2, 3});
  Tensor shifted = float_tensor({0, 1, 2, 2, 1, 0}, {2, 3});
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    auto big = run(make_node(op, 1), {&x}, 13);
    auto small = run(make_node(op, 1), {&shifted}, 13);
    EXPECT_LT(relative_error(big[0], small[0]), 1e-6) << op;
  }
  Tensor ninf = float_tensor({-INFINITY, 0}, {2});
  EXPECT_EQ(values_of(run(make_node("Softmax", 1), {&ninf}, 13)[0]), (std::vector<double>{0, 1}));
}

TEST(Softmax, OtherFloatTypes) {
  for (DataType dtype : {DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16}) {
    Tensor x = random_of(dtype, {3, 7}, -4, 4);
    for (const char* op : {"Softmax", "LogSoftmax"}) {
      auto out = run(make_node(op, 1), {&x}, 13);
      ASSERT_EQ(out[0].dtype(), dtype);
      const double tolerance = dtype == DataType::kFloat64 ? 1e-14 : dtype == DataType::kFloat16 ? 1e-3 : 8e-3;
      expect_close(out[0], expected_single_axis(x, 1, std::string(op) == "LogSoftmax"), tolerance, dtype_name(dtype));
    }
  }
}

TEST(Softmax, EmptyAndSizeOneAxes) {
  Tensor empty = random_tensor({0, 3});
  EXPECT_EQ(run(make_node("Softmax", 1), {&empty}, 13)[0].dims(), (Dims{0, 3}));
  Tensor zero_axis = random_tensor({2, 0});
  EXPECT_EQ(run(make_node("LogSoftmax", 1), {&zero_axis}, 13)[0].dims(), (Dims{2, 0}));
  Tensor single = random_tensor({4, 1});
  EXPECT_EQ(values_of(run(make_node("Softmax", 1), {&single}, 13)[0]), (std::vector<double>{1, 1, 1, 1}));
  EXPECT_EQ(values_of(run(make_node("LogSoftmax", 1), {&single}, 13)[0]), (std::vector<double>{0, 0, 0, 0}));
}

TEST(Softmax, ShapeInferenceAndErrors) {
  auto out = infer(make_node("Softmax", 1), {{DataType::kFloat32, sym({Dim::unknown("b"), 8})}}, 13);
  EXPECT_EQ(out[0].shape.to_string(), "[b,8]");
  out = infer(make_node("LogSoftmax", 1), {{DataType::kFloat16, Shape()}}, 11);
  EXPECT_FALSE(out[0].shape.has_rank);
  Tensor x = random_tensor({2, 3, 4});
  expect_error([&] { run(softmax_node("Softmax", 3), {&x}, 13); }, {"Softmax_test", "axis 3", "rank 3"});
  expect_error([&] { run(softmax_node("LogSoftmax", -4), {&x}, 11); }, {"LogSoftmax_test", "axis -4"});
  Tensor v = random_tensor({5});
  expect_error([&] { run(make_node("Softmax", 1), {&v}, 11); }, {"axis 1", "rank 1"});  // default axis 1 needs rank 2
  Tensor i = int64_tensor({1, 2});
  expect_error([&] { run(make_node("Softmax", 1), {&i}, 13); }, {"Softmax_test", "int64"});
  Tensor scalar = float_tensor({1}, {});
  expect_error([&] { run(make_node("Softmax", 1), {&scalar}, 13); }, {"scalar"});
}

// ---- fast float32 kernels (src/cpu/elementwise_fast.cpp) ------------------------------------------------------
TEST(SoftmaxFast, MatchesReferenceOnContiguousRows) {
  struct Case {
    Dims dims;
    int64_t axis;
    int64_t opset;
  };
  const std::vector<Case> cases = {{{1, 3}, -1, 13},    {{7, 13}, -1, 13},     {{2, 3, 1000}, 2, 13}, {{40001}, 0, 13},
                                   {{64, 257}, -1, 21}, {{2, 3, 5, 7}, 1, 11}, {{4, 9, 3}, 0, 12},    {{3, 1}, -1, 13},
                                   {{2, 3, 5}, 1, 13},  {{2, 3, 5}, 0, 17}};  // the last two: strided, reference
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    const CpuKernel* kernel =
        CpuKernelRegistry::global().find(std::string(op) == "Softmax" ? "fast_softmax_f32" : "fast_log_softmax_f32");
    ASSERT_NE(kernel, nullptr);
    for (const Case& c : cases) {
      Tensor x = random_tensor(c.dims, -10, 10);
      Node node = softmax_node(op, c.axis);
      auto fast = run(node, {&x}, c.opset, kernel->run);
      auto reference = run(node, {&x}, c.opset);
      // ~3 ulp: the kernel's exp (1e-7), its rounded row scale and the reference's own final rounding.
      for (int64_t i = 0; i < x.numel(); ++i) {
        const double want = reference[0].data<float>()[i];
        ASSERT_NEAR(fast[0].data<float>()[i], want,
                    4e-7 * std::fabs(want) + (std::string(op) == "Softmax" ? 0.0 : 4e-6))
            << op << " " << dims_to_string(c.dims) << " axis " << c.axis << " opset " << c.opset << " at " << i;
      }
    }
  }
}

TEST(SoftmaxFast, SpecialValuesMatchReference) {
  Tensor x = float_tensor(
      {1000, 1001, 1002, -INFINITY, 0, -INFINITY, NAN, 1, 2, -INFINITY, -INFINITY, -INFINITY, INFINITY, 0, 1}, {5, 3});
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    const CpuKernel* kernel =
        CpuKernelRegistry::global().find(std::string(op) == "Softmax" ? "fast_softmax_f32" : "fast_log_softmax_f32");
    ASSERT_NE(kernel, nullptr);
    auto fast = values_of(run(make_node(op, 1), {&x}, 13, kernel->run)[0]);
    auto reference = values_of(run(make_node(op, 1), {&x}, 13)[0]);
    for (size_t i = 0; i < fast.size(); ++i) {
      if (std::isnan(reference[i]) || std::isinf(reference[i])) {
        EXPECT_EQ(std::isnan(fast[i]), std::isnan(reference[i])) << op << " at " << i;
        if (std::isinf(reference[i])) {
          EXPECT_EQ(fast[i], reference[i]) << op << " at " << i;
        }
      } else {
        EXPECT_NEAR(fast[i], reference[i], 1e-6 * std::max(1.0, std::fabs(reference[i]))) << op << " at " << i;
      }
    }
  }
}

TEST(SoftmaxFast, AcceptsContiguousAxesOnly) {
  auto chosen = [](const Node& node, int64_t opset, Shape shape) {
    const CpuKernel* kernel = CpuKernelRegistry::global().choose(node, opset, {{DataType::kFloat32, shape}});
    return kernel ? kernel->name : std::string("reference");
  };
  const Shape symbolic = sym({Dim::unknown("b"), 8, 16});
  EXPECT_EQ(chosen(make_node("Softmax", 1), 13, symbolic), "fast_softmax_f32");
  EXPECT_EQ(chosen(make_node("Softmax", 1), 13, Shape()), "fast_softmax_f32");  // axis -1 needs no rank
  EXPECT_EQ(chosen(softmax_node("LogSoftmax", 2), 13, symbolic), "fast_log_softmax_f32");
  EXPECT_EQ(chosen(softmax_node("Softmax", 1), 13, symbolic), "reference");
  EXPECT_EQ(chosen(softmax_node("Softmax", 1), 11, symbolic), "fast_softmax_f32");  // coerced rows
  EXPECT_EQ(chosen(softmax_node("Softmax", -2), 13, Shape()), "reference");
  Node node = make_node("Softmax", 1);
  EXPECT_EQ(CpuKernelRegistry::global().choose(node, 13, {{DataType::kFloat16, symbolic}}), nullptr);
}

}  // namespace
}  // namespace normrt::test
