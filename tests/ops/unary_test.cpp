// Tests of src/ops/unary.cpp: Sqrt, Erf, Exp, Log, Neg, Abs, Reciprocal, Floor, Ceil, Round, Sin, Cos, Not.
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "ops/elementwise_test_util.h"
#include "test_util.h"

namespace normrt::test {
namespace {

using namespace elementwise;  // tests/ops/elementwise_test_util.h

const std::vector<Dims> kShapes = {{1}, {3, 7}, {2, 13, 5}, {}, {4, 0}};

struct UnaryCase {
  const char* op;
  double (*fn)(double);
  float low, high;
};

const std::vector<UnaryCase> kFloatCases = {
    {"Sqrt", [](double x) { return std::sqrt(x); }, 0, 100},
    {"Erf", [](double x) { return std::erf(x); }, -3, 3},
    {"Exp", [](double x) { return std::exp(x); }, -10, 10},
    {"Log", [](double x) { return std::log(x); }, 0.001f, 100},
    {"Sin", [](double x) { return std::sin(x); }, -7, 7},
    {"Cos", [](double x) { return std::cos(x); }, -7, 7},
    {"Reciprocal", [](double x) { return 1 / x; }, 0.1f, 10},
    {"Floor", [](double x) { return std::floor(x); }, -10, 10},
    {"Ceil", [](double x) { return std::ceil(x); }, -10, 10},
    {"Neg", [](double x) { return -x; }, -10, 10},
    {"Abs", [](double x) { return std::fabs(x); }, -10, 10},
};

TEST(UnaryMath, Float32MatchesDoublePrecisionMath) {
  for (const auto& c : kFloatCases) {
    for (const Dims& dims : kShapes) {
      Tensor x = random_tensor(dims, c.low, c.high);
      auto out = run(make_node(c.op, 1), {&x});
      ASSERT_EQ(out[0].dims(), dims);
      ASSERT_EQ(out[0].dtype(), DataType::kFloat32);
      for (int64_t i = 0; i < x.numel(); ++i) {
        const double want = c.fn(x.data<float>()[i]);
        ASSERT_NEAR(out[0].data<float>()[i], want, 2e-7 * std::max(1.0, std::fabs(want)))
            << c.op << " at " << x.data<float>()[i];
      }
    }
  }
}

TEST(UnaryMath, Float64AndHalfTypes) {
  for (const auto& c : kFloatCases) {
    Tensor x64 = random_of(DataType::kFloat64, {3, 5}, c.low, c.high);
    auto out = run(make_node(c.op, 1), {&x64});
    ASSERT_EQ(out[0].dtype(), DataType::kFloat64);
    for (int64_t i = 0; i < x64.numel(); ++i) {
      const double want = c.fn(x64.data<double>()[i]);
      ASSERT_NEAR(out[0].data<double>()[i], want, 1e-15 * std::max(1.0, std::fabs(want))) << c.op;
    }
    for (DataType dtype : {DataType::kFloat16, DataType::kBFloat16}) {
      Tensor x = random_of(dtype, {13}, c.low, c.high);
      auto half_out = run(make_node(c.op, 1), {&x});
      ASSERT_EQ(half_out[0].dtype(), dtype);
      const double tolerance = dtype == DataType::kFloat16 ? 1e-3 : 8e-3;
      for (int64_t i = 0; i < x.numel(); ++i) {
        const double want = c.fn(element_as_double(x, i));
        ASSERT_NEAR(element_as_double(half_out[0], i), want, tolerance * std::max(1.0, std::fabs(want))) << c.op;
      }
    }
  }
}

TEST(UnaryMath, RoundHalvesToEven) {
  Tensor x = float_tensor({0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 2.4f, 2.6f, -2.6f, 3.0f, 1e8f}, {11});
  EXPECT_EQ(values_of(run(make_node("Round", 1), {&x})[0]),
            (std::vector<double>{0, 2, 2, 0, -2, -2, 2, 3, -3, 3, 1e8}));
  Tensor d = typed_tensor<double>(DataType::kFloat64, {3}, {4.5, 5.5, -4.5});
  EXPECT_EQ(values_of(run(make_node("Round", 1), {&d})[0]), (std::vector<double>{4, 6, -4}));
}

TEST(UnaryMath, SpecialValues) {
  Tensor x = float_tensor({-1, 0, INFINITY}, {3});
  auto sqrt = values_of(run(make_node("Sqrt", 1), {&x})[0]);
  EXPECT_TRUE(std::isnan(sqrt[0]));
  EXPECT_EQ(sqrt[2], INFINITY);
  auto log = values_of(run(make_node("Log", 1), {&x})[0]);
  EXPECT_EQ(log[1], -INFINITY);
  auto reciprocal = values_of(run(make_node("Reciprocal", 1), {&x})[0]);
  EXPECT_EQ(reciprocal[1], INFINITY);
  EXPECT_EQ(reciprocal[2], 0);
}

TEST(UnaryMath, IntegerNegAndAbs) {
  Tensor x = typed_tensor<int64_t>(DataType::kInt32, {4}, {-3, 0, 7, std::numeric_limits<int32_t>::min()});
  auto neg = run(make_node("Neg", 1), {&x});
  ASSERT_EQ(neg[0].dtype(), DataType::kInt32);
  EXPECT_EQ(values_of(neg[0]), (std::vector<double>{3, 0, -7, std::numeric_limits<int32_t>::min()}));  // wraps
  EXPECT_EQ(values_of(run(make_node("Abs", 1), {&x})[0]),
            (std::vector<double>{3, 0, 7, std::numeric_limits<int32_t>::min()}));
  Tensor i8 = typed_tensor<int>(DataType::kInt8, {3}, {-128, -5, 5});
  EXPECT_EQ(values_of(run(make_node("Abs", 1), {&i8})[0]), (std::vector<double>{-128, 5, 5}));
  Tensor u8 = typed_tensor<int>(DataType::kUInt8, {2}, {0, 255});
  EXPECT_EQ(values_of(run(make_node("Abs", 1), {&u8})[0]), (std::vector<double>{0, 255}));
  Tensor i64 = int64_tensor({-(int64_t{1} << 60), 5});
  EXPECT_EQ(run(make_node("Abs", 1), {&i64})[0].data<int64_t>()[0], int64_t{1} << 60);
}

TEST(UnaryMath, Not) {
  Tensor b(DataType::kBool, {2, 2});
  b.data<uint8_t>()[0] = 1;
  b.data<uint8_t>()[3] = 1;
  auto out = run(make_node("Not", 1), {&b});
  ASSERT_EQ(out[0].dtype(), DataType::kBool);
  EXPECT_EQ(values_of(out[0]), (std::vector<double>{0, 1, 1, 0}));
}

TEST(UnaryMath, SameInEveryOpset) {
  Tensor x = float_tensor({2.5f}, {1});
  for (int64_t opset = 11; opset <= 21; ++opset)
    EXPECT_EQ(values_of(run(make_node("Round", 1), {&x}, opset)[0]), (std::vector<double>{2})) << opset;
}

TEST(UnaryMath, ShapeInferenceKeepsSymbols) {
  auto out = infer(make_node("Exp", 1), {{DataType::kFloat16, sym({Dim::unknown("batch"), 7})}});
  EXPECT_EQ(out[0].dtype, DataType::kFloat16);
  EXPECT_EQ(out[0].shape.to_string(), "[batch,7]");
  out = infer(make_node("Not", 1), {{DataType::kBool, Shape()}});
  EXPECT_FALSE(out[0].shape.has_rank);
}

TEST(UnaryMath, UnsupportedTypesFail) {
  Tensor i = int64_tensor({4});
  expect_error([&] { run(make_node("Sqrt", 1), {&i}); }, {"Sqrt_test", "int64", "supported: float32"});
  Tensor f = random_tensor({2});
  expect_error([&] { run(make_node("Not", 1), {&f}); }, {"Not_test", "float32", "supported: bool"});
  Tensor u = typed_tensor<int>(DataType::kUInt8, {1}, {3});
  expect_error([&] { run(make_node("Neg", 1), {&u}); }, {"Neg_test", "uint8"});
  expect_error([&] { run(make_node("Exp", 2), {&f, &f}); }, {"Exp_test", "needs 1 input"});
}

}  // namespace
}  // namespace normrt::test
