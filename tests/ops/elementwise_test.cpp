// Tests of src/ops/elementwise.cpp: Add, Sub, Mul, Div, Pow, Mod (broadcasting, integer semantics, float16)
// and the variadic Sum, Mean, Max, Min.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "cpu/cpu_kernel.h"
#include "ops/elementwise_test_util.h"
#include "test_util.h"

namespace normrt::test {
namespace {

using namespace elementwise;  // tests/ops/elementwise_test_util.h

// Shape pairs covering same shape, scalar, suffix, middle and two-sided broadcasting, odd sizes and rank 0.
const std::vector<std::pair<Dims, Dims>> kBroadcastCases = {{{2, 3, 4}, {2, 3, 4}},
                                                            {{7}, {}},
                                                            {{}, {13}},
                                                            {{2, 3, 4}, {4}},
                                                            {{3, 1, 5}, {1, 7, 1}},
                                                            {{1}, {13}},
                                                            {{2, 1, 3, 1}, {5, 1, 4}},
                                                            {{4, 3, 2}, {3, 1}},
                                                            {{1, 1}, {1}},
                                                            {{3, 13}, {3, 1}},
                                                            {{2, 0, 3}, {3}},
                                                            {{}, {}}};

bool type_class_is_float(DataType dtype) {
  return dtype == DataType::kFloat32 || dtype == DataType::kFloat64 || dtype == DataType::kFloat16 ||
         dtype == DataType::kBFloat16;
}

template <typename T>
void check_binary_against_naive(const std::string& op, DataType dtype, const std::function<T(T, T)>& expected_fn,
                                bool nonzero_b = false) {
  for (const auto& [da, db] : kBroadcastCases) {
    Tensor a = type_class_is_float(dtype) ? random_of(dtype, da, -4, 4) : int_tensor(dtype, da, -50, 50);
    Tensor b = type_class_is_float(dtype) ? random_of(dtype, db, 0.5f, 3) : int_tensor(dtype, db, 1, 9);
    if (!nonzero_b && !type_class_is_float(dtype)) b = int_tensor(dtype, db, -9, 9);
    auto out = run(make_node(op, 2), {&a, &b});
    const Dims dims = naive_broadcast(da, db);
    ASSERT_EQ(out[0].dims(), dims) << op << " " << dims_to_string(da) << " " << dims_to_string(db);
    ASSERT_EQ(out[0].dtype(), dtype);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    const T* po = out[0].data<T>();
    for (int64_t o = 0; o < out[0].numel(); ++o) {
      T want = expected_fn(pa[source_index(da, dims, o)], pb[source_index(db, dims, o)]);
      ASSERT_EQ(po[o], want) << op << " " << dims_to_string(da) << " op " << dims_to_string(db) << " at " << o;
    }
  }
}

TEST(BinaryArithmetic, HandComputedFloat) {
  Tensor a = float_tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = float_tensor({10, 20, 40}, {3});
  EXPECT_EQ(values_of(run(make_node("Add", 2), {&a, &b})[0]), (std::vector<double>{11, 22, 43, 14, 25, 46}));
  EXPECT_EQ(values_of(run(make_node("Sub", 2), {&a, &b})[0]), (std::vector<double>{-9, -18, -37, -6, -15, -34}));
  EXPECT_EQ(values_of(run(make_node("Mul", 2), {&a, &b})[0]), (std::vector<double>{10, 40, 120, 40, 100, 240}));
  Tensor c = float_tensor({2, 4}, {2, 1});
  EXPECT_EQ(values_of(run(make_node("Div", 2), {&a, &c})[0]), (std::vector<double>{0.5, 1, 1.5, 1, 1.25, 1.5}));
}

TEST(BinaryArithmetic, Float32BroadcastingMatchesNaive) {
  check_binary_against_naive<float>("Add", DataType::kFloat32, [](float x, float y) { return x + y; });
  check_binary_against_naive<float>("Sub", DataType::kFloat32, [](float x, float y) { return x - y; });
  check_binary_against_naive<float>("Mul", DataType::kFloat32, [](float x, float y) { return x * y; });
  check_binary_against_naive<float>("Div", DataType::kFloat32, [](float x, float y) { return x / y; });
}

TEST(BinaryArithmetic, Float64BroadcastingMatchesNaive) {
  check_binary_against_naive<double>("Add", DataType::kFloat64, [](double x, double y) { return x + y; });
  check_binary_against_naive<double>("Div", DataType::kFloat64, [](double x, double y) { return x / y; });
}

TEST(BinaryArithmetic, IntegersBroadcastingMatchNaive) {
  check_binary_against_naive<int64_t>("Add", DataType::kInt64, [](int64_t x, int64_t y) { return x + y; });
  check_binary_against_naive<int64_t>("Sub", DataType::kInt64, [](int64_t x, int64_t y) { return x - y; });
  check_binary_against_naive<int32_t>("Mul", DataType::kInt32, [](int32_t x, int32_t y) { return x * y; });
  check_binary_against_naive<int32_t>(
      "Div", DataType::kInt32, [](int32_t x, int32_t y) { return x / y; }, true);
  check_binary_against_naive<int64_t>(
      "Div", DataType::kInt64, [](int64_t x, int64_t y) { return x / y; }, true);
}

TEST(BinaryArithmetic, IntegerDivTruncatesTowardZero) {
  Tensor a = int64_tensor({7, -7, 7, -7, 0, 6});
  Tensor b = int64_tensor({2, 2, -2, -2, 5, 3});
  EXPECT_EQ(values_of(run(make_node("Div", 2), {&a, &b})[0]), (std::vector<double>{3, -3, -3, 3, 0, 2}));
  Tensor c = typed_tensor<int32_t>(DataType::kInt32, {3}, {-9, 9, -1});
  Tensor d = typed_tensor<int32_t>(DataType::kInt32, {}, {4});
  EXPECT_EQ(values_of(run(make_node("Div", 2), {&c, &d})[0]), (std::vector<double>{-2, 2, 0}));
}

TEST(BinaryArithmetic, IntegerOverflowWraps) {
  Tensor a = typed_tensor<int>(DataType::kUInt8, {2}, {250, 3});
  Tensor b = typed_tensor<int>(DataType::kUInt8, {2}, {10, 5});
  EXPECT_EQ(values_of(run(make_node("Add", 2), {&a, &b})[0]), (std::vector<double>{4, 8}));
  EXPECT_EQ(values_of(run(make_node("Sub", 2), {&b, &a})[0]), (std::vector<double>{16, 2}));
  Tensor big = int64_tensor({std::numeric_limits<int64_t>::max()});
  Tensor one = int64_tensor({1});
  auto sum = run(make_node("Add", 2), {&big, &one});
  EXPECT_EQ(sum[0].data<int64_t>()[0], std::numeric_limits<int64_t>::min());
  Tensor minimum = int64_tensor({std::numeric_limits<int64_t>::min()});
  Tensor minus_one = int64_tensor({-1});
  EXPECT_EQ(run(make_node("Div", 2), {&minimum, &minus_one})[0].data<int64_t>()[0],
            std::numeric_limits<int64_t>::min());
  Tensor h = typed_tensor<int>(DataType::kUInt16, {1}, {65535});
  EXPECT_EQ(values_of(run(make_node("Mul", 2), {&h, &h})[0]), (std::vector<double>{1}));
}

TEST(BinaryArithmetic, IntegerDivisionByZeroFails) {
  Tensor a = int64_tensor({1, 2, 3});
  Tensor b = int64_tensor({1, 0, 1});
  expect_error([&] { run(make_node("Div", 2), {&a, &b}); }, {"Div_test", "division by zero", "input 1"});
}

TEST(BinaryArithmetic, FloatDivisionByZeroGivesInfinity) {
  Tensor a = float_tensor({1, -1, 0}, {3});
  Tensor b = float_tensor({0}, {1});
  auto out = values_of(run(make_node("Div", 2), {&a, &b})[0]);
  EXPECT_EQ(out[0], INFINITY);
  EXPECT_EQ(out[1], -INFINITY);
  EXPECT_TRUE(std::isnan(out[2]));
}

TEST(BinaryArithmetic, Float16AndBfloat16RoundOncePerResult) {
  for (DataType dtype : {DataType::kFloat16, DataType::kBFloat16}) {
    Tensor a = random_of(dtype, {3, 7}, -8, 8);
    Tensor b = random_of(dtype, {7}, -8, 8);
    auto out = run(make_node("Mul", 2), {&a, &b});
    ASSERT_EQ(out[0].dtype(), dtype);
    Tensor expected(dtype, {3, 7});
    for (int64_t o = 0; o < 21; ++o) {
      float want = static_cast<float>(element_as_double(a, o)) * static_cast<float>(element_as_double(b, o % 7));
      set_element_from_double(expected, o, want);
    }
    EXPECT_EQ(std::memcmp(out[0].raw(), expected.raw(), expected.nbytes()), 0) << dtype_name(dtype);
  }
  // 1 + 2^-11 is not a float16: the sum rounds to even (1.0), 1 + 3*2^-11 rounds up to 1 + 2^-9.
  Tensor x = typed_tensor<float>(DataType::kFloat16, {2}, {1, 1});
  Tensor y16(DataType::kFloat16, {2});
  y16.data<uint16_t>()[0] = float_to_half(std::ldexp(1.0f, -11));
  y16.data<uint16_t>()[1] = float_to_half(3 * std::ldexp(1.0f, -11));
  EXPECT_EQ(values_of(run(make_node("Add", 2), {&x, &y16})[0]), (std::vector<double>{1.0, 1.0 + std::ldexp(1.0, -9)}));
}

TEST(BinaryArithmetic, SameSemanticsInEveryOpset) {
  Tensor a = float_tensor({1, 2}, {2});
  Tensor b = float_tensor({3}, {1});
  for (int64_t opset = 11; opset <= 21; ++opset)
    EXPECT_EQ(values_of(run(make_node("Sub", 2), {&a, &b}, opset)[0]), (std::vector<double>{-2, -1})) << opset;
}

TEST(BinaryArithmetic, ShapeInferenceKeepsSymbols) {
  Node add = make_node("Add", 2);
  auto out =
      infer(add, {{DataType::kFloat32, sym({Dim::unknown("batch"), 3, 1})}, {DataType::kFloat32, sym({1, 1, 5})}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].dtype, DataType::kFloat32);
  EXPECT_EQ(out[0].shape.to_string(), "[batch,3,5]");
  out = infer(add, {{DataType::kFloat32, sym({Dim::unknown("batch"), Dim::unknown("seq"), 8})},
                    {DataType::kFloat32, sym({8})}});
  EXPECT_EQ(out[0].shape.to_string(), "[batch,seq,8]");
  out = infer(add, {{DataType::kInt64, Shape()}, {DataType::kInt64, sym({3})}});
  EXPECT_FALSE(out[0].shape.has_rank);
  out = infer(add, {{DataType::kFloat32, sym({Dim::unknown(), 4})}, {DataType::kFloat32, sym({6, 1})}});
  EXPECT_EQ(out[0].shape.to_string(), "[6,4]");
}

TEST(BinaryArithmetic, ShapeErrors) {
  Node mul = make_node("Mul", 2);
  expect_error(
      [&] {
        infer(mul, {{DataType::kFloat32, sym({2, 3})}, {DataType::kFloat32, sym({4})}});
      },
      {"Mul_test", "broadcast", "3", "4"});
  expect_error(
      [&] {
        infer(mul, {{DataType::kFloat32, sym({2})}, {DataType::kInt64, sym({2})}});
      },
      {"Mul_test", "int64", "float32", "one type"});
  expect_error(
      [&] {
        infer(mul, {{DataType::kBool, sym({2})}, {DataType::kBool, sym({2})}});
      },
      {"Mul_test", "bool", "supported"});
  Tensor a = random_tensor({2, 3});
  Tensor b = random_tensor({4});
  expect_error([&] { run(mul, {&a, &b}); }, {"broadcast"});
}

// ---- Pow ------------------------------------------------------------------------------------------------------
TEST(Pow, FloatBaseAndExponentsOfEveryType) {
  Tensor base = float_tensor({2, 3, 4, 9, -2, 0.5f}, {2, 3});
  Tensor two = float_tensor({2}, {});
  EXPECT_EQ(values_of(run(make_node("Pow", 2), {&base, &two})[0]), (std::vector<double>{4, 9, 16, 81, 4, 0.25}));
  Tensor half = float_tensor({0.5f}, {1});
  auto roots = values_of(run(make_node("Pow", 2), {&base, &half})[0]);
  EXPECT_FLOAT_EQ(roots[1], std::sqrt(3.0f));
  EXPECT_EQ(roots[3], 3);
  EXPECT_TRUE(std::isnan(roots[4]));
  // Mixed exponent types (opset 12+): the output keeps the base's type.
  Tensor int_exponent = int64_tensor({3, -1, 0}, {3});
  auto mixed = run(make_node("Pow", 2), {&base, &int_exponent}, 12);
  ASSERT_EQ(mixed[0].dtype(), DataType::kFloat32);
  EXPECT_EQ(values_of(mixed[0]), (std::vector<double>{8, static_cast<float>(1.0 / 3.0), 1, 729, -0.5, 1}));
  Tensor exponent32 = typed_tensor<int>(DataType::kInt32, {1}, {2});
  EXPECT_EQ(values_of(run(make_node("Pow", 2), {&base, &exponent32})[0]), (std::vector<double>{4, 9, 16, 81, 4, 0.25}));
}

TEST(Pow, RandomBroadcastMatchesNaive) {
  for (const auto& [da, db] : kBroadcastCases) {
    Tensor a = random_tensor(da, 0.1f, 3);
    Tensor b = random_tensor(db, -2, 2);
    auto out = run(make_node("Pow", 2), {&a, &b});
    const Dims dims = naive_broadcast(da, db);
    ASSERT_EQ(out[0].dims(), dims);
    for (int64_t o = 0; o < out[0].numel(); ++o) {
      float want = static_cast<float>(std::pow(static_cast<double>(a.data<float>()[source_index(da, dims, o)]),
                                               static_cast<double>(b.data<float>()[source_index(db, dims, o)])));
      ASSERT_EQ(out[0].data<float>()[o], want);
    }
  }
}

TEST(Pow, IntegerBase) {
  Tensor base = int64_tensor({3, 2, -2, 1, -1, 2, 0});
  Tensor exponent = int64_tensor({4, 62, 3, -5, -3, -1, 0});
  EXPECT_EQ(values_of(run(make_node("Pow", 2), {&base, &exponent})[0]),
            (std::vector<double>{81, std::ldexp(1.0, 62), -8, 1, -1, 0, 1}));
  Tensor b32 = typed_tensor<int>(DataType::kInt32, {3}, {4, 2, 10});
  Tensor fexp = float_tensor({0.5f, 1.5f, 2}, {3});
  auto out = run(make_node("Pow", 2), {&b32, &fexp});
  ASSERT_EQ(out[0].dtype(), DataType::kInt32);
  EXPECT_EQ(values_of(out[0]), (std::vector<double>{2, 2, 100}));  // 2^1.5 = 2.83 truncates to 2
  // Exact beyond 2^53, where a double pow would round.
  Tensor b = int64_tensor({3});
  Tensor e = int64_tensor({39});
  int64_t want = 1;
  for (int i = 0; i < 39; ++i) want *= 3;
  EXPECT_EQ(run(make_node("Pow", 2), {&b, &e})[0].data<int64_t>()[0], want);
}

TEST(Pow, Errors) {
  Node pow = make_node("Pow", 2);
  expect_error(
      [&] {
        infer(pow, {{DataType::kFloat32, sym({2})}, {DataType::kBool, sym({2})}});
      },
      {"Pow_test", "input 1", "bool"});
  expect_error([&] { infer(pow, {{DataType::kFloat32, sym({2})}, {DataType::kFloat32, sym({3})}}); }, {"broadcast"});
}

// ---- Mod --------------------------------------------------------------------------------------------------------
TEST(Mod, IntegerPythonSemanticsByDefault) {
  Tensor a = int64_tensor({7, -7, 7, -7, 6, 0});
  Tensor b = int64_tensor({3, 3, -3, -3, 3, 5});
  EXPECT_EQ(values_of(run(make_node("Mod", 2), {&a, &b})[0]), (std::vector<double>{1, 2, -2, -1, 0, 0}));
  Tensor c = typed_tensor<int>(DataType::kInt32, {2, 2}, {-5, 5, 13, -13});
  Tensor d = typed_tensor<int>(DataType::kInt32, {2}, {4, -4});
  EXPECT_EQ(values_of(run(make_node("Mod", 2), {&c, &d})[0]), (std::vector<double>{3, -3, 1, -1}));
  Tensor u = typed_tensor<int>(DataType::kUInt8, {2}, {200, 7});
  Tensor v = typed_tensor<int>(DataType::kUInt8, {1}, {7});
  EXPECT_EQ(values_of(run(make_node("Mod", 2), {&u, &v})[0]), (std::vector<double>{4, 0}));
}

TEST(Mod, FmodFollowsTheDividend) {
  Node mod = make_node("Mod", 2);
  set_int(mod, "fmod", 1);
  Tensor a = int64_tensor({7, -7, 7, -7});
  Tensor b = int64_tensor({3, 3, -3, -3});
  EXPECT_EQ(values_of(run(mod, {&a, &b})[0]), (std::vector<double>{1, -1, 1, -1}));
  Tensor x = random_tensor({3, 13}, -10, 10);
  Tensor y = random_tensor({13}, 0.5f, 3);
  auto out = run(mod, {&x, &y});
  for (int64_t o = 0; o < 39; ++o)
    ASSERT_EQ(out[0].data<float>()[o], std::fmod(x.data<float>()[o], y.data<float>()[o % 13]));
  Tensor xd = typed_tensor<double>(DataType::kFloat64, {2}, {-5.5, 5.5});
  Tensor yd = typed_tensor<double>(DataType::kFloat64, {}, {2});
  EXPECT_EQ(values_of(run(mod, {&xd, &yd})[0]), (std::vector<double>{-1.5, 1.5}));
}

TEST(Mod, Errors) {
  Tensor x = random_tensor({3});
  expect_error([&] { run(make_node("Mod", 2), {&x, &x}); }, {"Mod_test", "fmod=0", "float32", "fmod=1"});
  Node bad = make_node("Mod", 2);
  set_int(bad, "fmod", 2);
  expect_error([&] { run(bad, {&x, &x}); }, {"fmod must be 0 or 1"});
  Tensor a = int64_tensor({1, 2});
  Tensor zero = int64_tensor({0});
  expect_error([&] { run(make_node("Mod", 2), {&a, &zero}); }, {"Mod_test", "modulo by zero"});
}

// ---- Sum, Mean, Max, Min ----------------------------------------------------------------------------------------
TEST(Variadic, HandComputed) {
  Tensor a = float_tensor({1, 5, 3}, {3});
  Tensor b = float_tensor({4, 2, 6}, {3});
  Tensor c = float_tensor({0}, {1});
  EXPECT_EQ(values_of(run(make_node("Sum", 3), {&a, &b, &c})[0]), (std::vector<double>{5, 7, 9}));
  EXPECT_EQ(values_of(run(make_node("Mean", 2), {&a, &b})[0]), (std::vector<double>{2.5, 3.5, 4.5}));
  EXPECT_EQ(values_of(run(make_node("Max", 3), {&a, &b, &c})[0]), (std::vector<double>{4, 5, 6}));
  EXPECT_EQ(values_of(run(make_node("Min", 3), {&a, &b, &c})[0]), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(values_of(run(make_node("Max", 1), {&a})[0]), (std::vector<double>{1, 5, 3}));
}

TEST(Variadic, RandomBroadcastMatchesNaive) {
  const std::vector<std::vector<Dims>> cases = {
      {{2, 3, 4}}, {{2, 3, 4}, {4}, {3, 1}}, {{1}, {13}, {7, 1}, {}}, {{5, 1, 3}, {1, 2, 1}}, {{3, 0}, {1}}};
  for (const auto& shapes : cases) {
    std::vector<Tensor> inputs;
    for (const Dims& d : shapes) inputs.push_back(random_tensor(d, -3, 3));
    std::vector<const Tensor*> pointers;
    for (const Tensor& t : inputs) pointers.push_back(&t);
    Dims dims;
    for (const Dims& d : shapes) dims = naive_broadcast(dims, d);
    for (const std::string& op : std::vector<std::string>{"Sum", "Mean", "Max", "Min"}) {
      auto out = run(make_node(op, shapes.size()), pointers);
      ASSERT_EQ(out[0].dims(), dims) << op;
      for (int64_t o = 0; o < out[0].numel(); ++o) {
        float acc = 0;
        for (size_t k = 0; k < inputs.size(); ++k) {
          float v = inputs[k].data<float>()[source_index(shapes[k], dims, o)];
          if (k == 0)
            acc = v;
          else if (op == "Max")
            acc = std::max(acc, v);
          else if (op == "Min")
            acc = std::min(acc, v);
          else
            acc += v;
        }
        if (op == "Mean") acc /= static_cast<float>(inputs.size());
        ASSERT_EQ(out[0].data<float>()[o], acc) << op << " at " << o;
      }
    }
  }
}

TEST(Variadic, IntegersAndNaN) {
  Tensor a = int64_tensor({1, -5, 9});
  Tensor b = int64_tensor({4});
  EXPECT_EQ(values_of(run(make_node("Max", 2), {&a, &b})[0]), (std::vector<double>{4, 4, 9}));
  EXPECT_EQ(values_of(run(make_node("Min", 2), {&a, &b})[0]), (std::vector<double>{1, -5, 4}));
  EXPECT_EQ(values_of(run(make_node("Sum", 2), {&a, &b})[0]), (std::vector<double>{5, -1, 13}));
  Tensor x = float_tensor({NAN, 1}, {2});
  Tensor y = float_tensor({0, NAN}, {2});
  for (const char* op : {"Max", "Min"}) {
    auto out = values_of(run(make_node(op, 2), {&x, &y})[0]);
    EXPECT_TRUE(std::isnan(out[0]) && std::isnan(out[1])) << op;
  }
}

TEST(Variadic, Float16SumRoundsOnce) {
  // 2048 + 1 + 1 in float16: pairwise rounding would give 2048 twice (ties to even); one rounding gives 2050.
  Tensor a = typed_tensor<float>(DataType::kFloat16, {1}, {2048});
  Tensor b = typed_tensor<float>(DataType::kFloat16, {1}, {1});
  EXPECT_EQ(values_of(run(make_node("Sum", 3), {&a, &b, &b})[0]), (std::vector<double>{2050}));
}

TEST(Variadic, Errors) {
  Tensor a = int64_tensor({1, 2});
  expect_error([&] { run(make_node("Mean", 2), {&a, &a}); }, {"Mean_test", "int64", "float32"});
  Tensor f = random_tensor({2});
  expect_error([&] { run(make_node("Sum", 2), {&f, &a}); }, {"Sum_test", "input 1", "int64"});
  expect_error([&] { run(make_node("Max", 0), {}); }, {"Max_test", "at least one input"});
  Tensor g = random_tensor({3});
  expect_error([&] { run(make_node("Min", 2), {&f, &g}); }, {"Min_test", "broadcast"});
}

// ---- fast float32 kernels (src/cpu/elementwise_fast.cpp) ------------------------------------------------------
const CpuKernel& fast_kernel(const std::string& name) {
  const CpuKernel* kernel = CpuKernelRegistry::global().find(name);
  EXPECT_NE(kernel, nullptr) << name;
  static const CpuKernel kMissing{};
  return kernel ? *kernel : kMissing;
}

TEST(ElementwiseFast, BinaryMatchesReferenceExactly) {
  // Same shape, scalar on either side, suffix on either side, and patterns the fast kernel hands back to the
  // reference ([3,1] x [1,4]); sizes above one parallel block (16K elements) run on several threads.
  const std::vector<std::pair<Dims, Dims>> shapes = {{{2, 3, 13}, {2, 3, 13}},
                                                     {{1}, {1}},
                                                     {{5, 40001}, {5, 40001}},
                                                     {{7, 3}, {}},
                                                     {{}, {7, 3}},
                                                     {{3, 70001}, {1}},
                                                     {{2, 3, 13}, {13}},
                                                     {{13}, {2, 3, 13}},
                                                     {{2, 3, 13}, {1, 3, 13}},
                                                     {{64, 1031}, {1031}},
                                                     {{3, 1}, {1, 4}},
                                                     {{2, 3, 4}, {3, 1}},
                                                     {{0, 3}, {3}},
                                                     {{3, 13}, {1, 1, 3, 13}}};
  for (const auto& [name, op] : std::vector<std::pair<std::string, std::string>>{
           {"fast_add_f32", "Add"}, {"fast_sub_f32", "Sub"}, {"fast_mul_f32", "Mul"}, {"fast_div_f32", "Div"}}) {
    const CpuKernel& kernel = fast_kernel(name);
    ASSERT_NE(kernel.run, nullptr);
    EXPECT_EQ(kernel.op_type, op);
    for (const auto& [da, db] : shapes) {
      Tensor a = random_tensor(da, -3, 3);
      Tensor b = random_tensor(db, 0.5f, 3);
      Node node = make_node(op, 2);
      auto fast = run(node, {&a, &b}, 17, kernel.run);
      auto reference = run(node, {&a, &b}, 17);
      ASSERT_EQ(fast[0].dims(), reference[0].dims());
      ASSERT_EQ(std::memcmp(fast[0].raw(), reference[0].raw(), reference[0].nbytes()), 0)
          << name << " " << dims_to_string(da) << " " << dims_to_string(db);
    }
  }
}

TEST(ElementwiseFast, BinaryAcceptsOnlyProvablePatterns) {
  Node add = make_node("Add", 2);
  auto accepts = [&](Shape a, Shape b, DataType dtype = DataType::kFloat32) {
    const CpuKernel* chosen = CpuKernelRegistry::global().choose(add, 17, {{dtype, a}, {dtype, b}});
    return chosen != nullptr && chosen->name == "fast_add_f32";
  };
  const Dim batch = Dim::unknown("batch"), seq = Dim::unknown("seq");
  EXPECT_TRUE(accepts(sym({batch, seq, 64}), sym({64})));
  EXPECT_TRUE(accepts(sym({64}), sym({batch, seq, 64})));
  EXPECT_TRUE(accepts(sym({batch, 3}), sym({batch, 3})));
  EXPECT_TRUE(accepts(sym({batch, 3}), sym({})));
  EXPECT_TRUE(accepts(sym({1, 1}), Shape()));
  EXPECT_TRUE(accepts(sym({batch, seq, 64}), sym({1, seq, 64})));
  EXPECT_FALSE(accepts(sym({Dim::unknown(), 3}), sym({Dim::unknown(), 3})));  // anonymous dims may differ
  EXPECT_FALSE(accepts(sym({batch, 3}), sym({seq, 3})));
  EXPECT_FALSE(accepts(sym({3, 1}), sym({1, 4})));
  EXPECT_FALSE(accepts(sym({batch, 3, 8, 8}), sym({3, 1, 1})));
  EXPECT_FALSE(accepts(Shape(), sym({4})));
  EXPECT_FALSE(accepts(sym({4}), sym({4}), DataType::kInt64));
  EXPECT_FALSE(accepts(sym({4}), sym({4}), DataType::kFloat16));
}

}  // namespace
}  // namespace normrt::test
