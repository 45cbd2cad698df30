// Tests of src/ops/unary.cpp: Sqrt, Erf, Exp, Log, Neg, Abs, Reciprocal, Floor, Ceil, Round, Sin, Cos, Not.
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "test_util.h"

namespace normrt::test {
namespace {

// ---- helpers local to this file (tests/test_util.h has float32/int64 ones only) ---------------------------------
template <typename T>
Tensor typed_tensor(DataType dtype, const Dims& dims, const std::vector<T>& values) {
  Tensor t(dtype, dims);
  EXPECT_EQ(static_cast<int64_t>(values.size()), t.numel());
  for (size_t i = 0; i < values.size(); ++i)
    set_element_from_double(t, static_cast<int64_t>(i), static_cast<double>(values[i]));
  return t;
}

[[maybe_unused]] Tensor int_tensor(DataType dtype, const Dims& dims, int64_t low, int64_t high) {
  Tensor t(dtype, dims);
  std::uniform_int_distribution<int64_t> dist(low, high);
  for (int64_t i = 0; i < t.numel(); ++i) set_element_from_double(t, i, static_cast<double>(dist(rng())));
  return t;
}

[[maybe_unused]] Tensor random_of(DataType dtype, const Dims& dims, float low = -1.0f, float high = 1.0f) {
  Tensor f = random_tensor(dims, low, high);
  if (dtype == DataType::kFloat32) return f;
  Tensor t(dtype, dims);
  for (int64_t i = 0; i < t.numel(); ++i) set_element_from_double(t, i, f.data<float>()[i]);
  return t;
}

[[maybe_unused]] std::vector<double> values_of(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(element_as_double(t, i));
  return v;
}

// Numpy broadcast of two shapes, written independently of the library's helpers.
[[maybe_unused]] Dims naive_broadcast(const Dims& a, const Dims& b) {
  const size_t rank = std::max(a.size(), b.size());
  Dims out(rank);
  for (size_t k = 0; k < rank; ++k) {
    int64_t da = k < a.size() ? a[a.size() - 1 - k] : 1;
    int64_t db = k < b.size() ? b[b.size() - 1 - k] : 1;
    out[rank - 1 - k] = da == 1 ? db : da;
  }
  return out;
}

// The linear index in a tensor of dims `in` that output element `o` (of dims `out`) reads under broadcasting.
[[maybe_unused]] int64_t source_index(const Dims& in, const Dims& out, int64_t o) {
  int64_t index = 0, stride = 1;
  for (size_t k = 0; k < out.size(); ++k) {
    const size_t axis = out.size() - 1 - k;
    const int64_t coord = o % out[axis];
    o /= out[axis];
    if (k < in.size()) {
      const int64_t d = in[in.size() - 1 - k];
      if (d != 1) index += coord * stride;
      stride *= d;
    }
  }
  return index;
}

// Runs only the shape function, on possibly symbolic shapes.
[[maybe_unused]] std::vector<TypeShape> infer(const Node& node, const std::vector<TypeShape>& inputs,
                                              int64_t opset = 17) {
  InferContext ctx(node, opset);
  ctx.inputs = inputs;
  ctx.values.assign(inputs.size(), nullptr);
  const OpSchema* schema = find_schema(node);
  EXPECT_NE(schema, nullptr) << node.op_type;
  if (schema) schema->infer(ctx);
  return ctx.outputs;
}

[[maybe_unused]] Shape sym(std::vector<Dim> dims) { return Shape(std::move(dims)); }

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
