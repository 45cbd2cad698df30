// Tests of src/ops/compare.cpp: Equal, Less, Greater, LessOrEqual, GreaterOrEqual, And, Or, Xor, Where.
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "ops/elementwise_test_util.h"
#include "test_util.h"

namespace normrt::test {
namespace {

using namespace elementwise;  // tests/ops/elementwise_test_util.h

Tensor bool_tensor(const Dims& dims, const std::vector<int>& values) {
  Tensor t(DataType::kBool, dims);
  for (size_t i = 0; i < values.size(); ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>(values[i]);
  return t;
}

Tensor random_bool(const Dims& dims) {
  Tensor t(DataType::kBool, dims);
  std::bernoulli_distribution coin(0.5);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = coin(rng()) ? 1 : 0;
  return t;
}

const std::vector<std::pair<Dims, Dims>> kBroadcastCases = {
    {{2, 3, 4}, {2, 3, 4}}, {{7}, {}},   {{}, {13}},   {{2, 3, 4}, {4}},
    {{3, 1, 5}, {1, 7, 1}}, {{1}, {13}}, {{2, 0}, {1}}};

struct CompareCase {
  const char* op;
  std::function<bool(double, double)> fn;
};
const std::vector<CompareCase> kCompares = {
    {"Equal", [](double a, double b) { return a == b; }},
    {"Less", [](double a, double b) { return a < b; }},
    {"Greater", [](double a, double b) { return a > b; }},
    {"LessOrEqual", [](double a, double b) { return a <= b; }},
    {"GreaterOrEqual", [](double a, double b) { return a >= b; }},
};

TEST(Compare, HandComputed) {
  Tensor a = float_tensor({1, 2, 3}, {3});
  Tensor b = float_tensor({2}, {});
  EXPECT_EQ(values_of(run(make_node("Equal", 2), {&a, &b})[0]), (std::vector<double>{0, 1, 0}));
  EXPECT_EQ(values_of(run(make_node("Less", 2), {&a, &b})[0]), (std::vector<double>{1, 0, 0}));
  EXPECT_EQ(values_of(run(make_node("Greater", 2), {&a, &b})[0]), (std::vector<double>{0, 0, 1}));
  EXPECT_EQ(values_of(run(make_node("LessOrEqual", 2), {&a, &b})[0]), (std::vector<double>{1, 1, 0}));
  EXPECT_EQ(values_of(run(make_node("GreaterOrEqual", 2), {&a, &b})[0]), (std::vector<double>{0, 1, 1}));
}

TEST(Compare, RandomBroadcastMatchesNaive) {
  for (DataType dtype :
       {DataType::kFloat32, DataType::kInt64, DataType::kInt32, DataType::kFloat16, DataType::kUInt8}) {
    const bool is_float = dtype == DataType::kFloat32 || dtype == DataType::kFloat16;
    for (const auto& [da, db] : kBroadcastCases) {
      // Small integer ranges make equal pairs common.
      Tensor a = is_float ? random_of(dtype, da, -2, 2) : int_tensor(dtype, da, 0, 3);
      Tensor b = is_float ? random_of(dtype, db, -2, 2) : int_tensor(dtype, db, 0, 3);
      if (is_float && a.numel() > 1 && b.numel() > 0) set_element_from_double(a, 1, element_as_double(b, 0));
      const Dims dims = naive_broadcast(da, db);
      for (const auto& c : kCompares) {
        auto out = run(make_node(c.op, 2), {&a, &b});
        ASSERT_EQ(out[0].dtype(), DataType::kBool);
        ASSERT_EQ(out[0].dims(), dims);
        for (int64_t o = 0; o < out[0].numel(); ++o) {
          bool want =
              c.fn(element_as_double(a, source_index(da, dims, o)), element_as_double(b, source_index(db, dims, o)));
          ASSERT_EQ(out[0].data<uint8_t>()[o], want ? 1 : 0) << c.op << " " << dtype_name(dtype) << " at " << o;
        }
      }
    }
  }
}

TEST(Compare, NaNComparesFalse) {
  Tensor a = float_tensor({NAN, NAN, 1}, {3});
  Tensor b = float_tensor({NAN, 1, NAN}, {3});
  for (const auto& c : kCompares)
    EXPECT_EQ(values_of(run(make_node(c.op, 2), {&a, &b})[0]), (std::vector<double>{0, 0, 0})) << c.op;
}

TEST(Compare, EqualOnBoolAndLargeInt64) {
  Tensor a = bool_tensor({4}, {0, 0, 1, 1});
  Tensor b = bool_tensor({4}, {0, 1, 0, 1});
  EXPECT_EQ(values_of(run(make_node("Equal", 2), {&a, &b})[0]), (std::vector<double>{1, 0, 0, 1}));
  // Values that collide when converted to double must still compare exactly.
  Tensor x = int64_tensor({(int64_t{1} << 53) + 1});
  Tensor y = int64_tensor({int64_t{1} << 53});
  EXPECT_EQ(values_of(run(make_node("Equal", 2), {&x, &y})[0]), (std::vector<double>{0}));
  EXPECT_EQ(values_of(run(make_node("Greater", 2), {&x, &y})[0]), (std::vector<double>{1}));
}

TEST(Compare, ShapeInferenceAndErrors) {
  auto out =
      infer(make_node("Less", 2), {{DataType::kInt64, sym({Dim::unknown("n"), 1})}, {DataType::kInt64, sym({5})}});
  EXPECT_EQ(out[0].dtype, DataType::kBool);
  EXPECT_EQ(out[0].shape.to_string(), "[n,5]");
  Tensor f = random_tensor({3});
  Tensor i = int64_tensor({1, 2, 3});
  expect_error([&] { run(make_node("Equal", 2), {&f, &i}); }, {"Equal_test", "int64", "float32", "one type"});
  Tensor bools = bool_tensor({2}, {0, 1});
  expect_error([&] { run(make_node("Less", 2), {&bools, &bools}); }, {"Less_test", "bool", "supported"});
  Tensor g = random_tensor({4});
  expect_error([&] { run(make_node("Greater", 2), {&f, &g}); }, {"Greater_test", "broadcast"});
}

TEST(Logic, TruthTablesWithBroadcast) {
  Tensor a = bool_tensor({2, 1}, {0, 1});
  Tensor b = bool_tensor({2}, {0, 1});
  EXPECT_EQ(values_of(run(make_node("And", 2), {&a, &b})[0]), (std::vector<double>{0, 0, 0, 1}));
  EXPECT_EQ(values_of(run(make_node("Or", 2), {&a, &b})[0]), (std::vector<double>{0, 1, 1, 1}));
  auto xor_out = run(make_node("Xor", 2), {&a, &b});
  ASSERT_EQ(xor_out[0].dims(), (Dims{2, 2}));
  EXPECT_EQ(values_of(xor_out[0]), (std::vector<double>{0, 1, 1, 0}));
  Tensor f = random_tensor({2});
  expect_error([&] { run(make_node("And", 2), {&f, &f}); }, {"And_test", "float32", "supported: bool"});
}

// ---- Where ------------------------------------------------------------------------------------------------------
TEST(Where, BroadcastOfThreeMatchesNaive) {
  const std::vector<std::vector<Dims>> cases = {{{2, 3}, {2, 3}, {2, 3}},
                                                {{3, 1}, {1, 4}, {}},
                                                {{1}, {5, 2, 1}, {2, 7}},
                                                {{13}, {1}, {13}},
                                                {{2, 1, 3}, {4, 1}, {3}}};
  for (DataType dtype : {DataType::kFloat32, DataType::kInt64, DataType::kFloat16, DataType::kBool, DataType::kInt8}) {
    for (const auto& shapes : cases) {
      Tensor condition = random_bool(shapes[0]);
      Tensor x = dtype == DataType::kBool ? random_bool(shapes[1]) : int_tensor(dtype, shapes[1], -100, 100);
      Tensor y = dtype == DataType::kBool ? random_bool(shapes[2]) : int_tensor(dtype, shapes[2], -100, 100);
      auto out = run(make_node("Where", 3), {&condition, &x, &y});
      const Dims dims = naive_broadcast(naive_broadcast(shapes[0], shapes[1]), shapes[2]);
      ASSERT_EQ(out[0].dims(), dims);
      ASSERT_EQ(out[0].dtype(), dtype);
      for (int64_t o = 0; o < out[0].numel(); ++o) {
        bool c = condition.data<uint8_t>()[source_index(shapes[0], dims, o)] != 0;
        double want = c ? element_as_double(x, source_index(shapes[1], dims, o))
                        : element_as_double(y, source_index(shapes[2], dims, o));
        ASSERT_EQ(element_as_double(out[0], o), want) << dtype_name(dtype) << " at " << o;
      }
    }
  }
}

TEST(Where, HandComputedAndErrors) {
  Tensor condition = bool_tensor({3}, {1, 0, 1});
  Tensor x = float_tensor({1, 2, 3}, {3});
  Tensor y = float_tensor({-1}, {});
  EXPECT_EQ(values_of(run(make_node("Where", 3), {&condition, &x, &y})[0]), (std::vector<double>{1, -1, 3}));
  expect_error([&] { run(make_node("Where", 3), {&x, &x, &y}); }, {"Where_test", "condition", "bool", "float32"});
  Tensor i = int64_tensor({1});
  expect_error([&] { run(make_node("Where", 3), {&condition, &x, &i}); }, {"Where_test", "float32", "int64"});
  Tensor four = random_tensor({4});
  expect_error([&] { run(make_node("Where", 3), {&condition, &x, &four}); }, {"Where_test", "broadcast"});
  auto out = infer(make_node("Where", 3), {{DataType::kBool, sym({Dim::unknown("b"), 1})},
                                           {DataType::kFloat32, sym({1, 8})},
                                           {DataType::kFloat32, sym({})}});
  EXPECT_EQ(out[0].shape.to_string(), "[b,8]");
  EXPECT_EQ(out[0].dtype, DataType::kFloat32);
}

}  // namespace
}  // namespace normrt::test
