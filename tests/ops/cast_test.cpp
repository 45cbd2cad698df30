// Tests of src/ops/cast.cpp: Cast and CastLike between every normrt dtype.
#include <cmath>
#include <cstring>
#include <limits>

#include "ops/elementwise_test_util.h"
#include "test_util.h"

namespace normrt::test {
namespace {

using namespace elementwise;  // tests/ops/elementwise_test_util.h

const std::vector<DataType> kAllTypes = {
    DataType::kFloat32, DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16, DataType::kInt8,
    DataType::kInt16,   DataType::kInt32,   DataType::kInt64,   DataType::kUInt8,    DataType::kUInt16,
    DataType::kUInt32,  DataType::kUInt64,  DataType::kBool};

Node cast_to(DataType dtype) {
  Node n = make_node("Cast", 1);
  set_int(n, "to", static_cast<int64_t>(dtype));
  return n;
}

std::vector<double> cast_values(const Tensor& x, DataType to, int64_t opset = 13) {
  auto out = run(cast_to(to), {&x}, opset);
  EXPECT_EQ(out[0].dtype(), to);
  EXPECT_EQ(out[0].dims(), x.dims());
  return values_of(out[0]);
}

TEST(Cast, EveryPairOnValuesEveryTypeHolds) {
  const std::vector<double> values = {0, 1, 2, 5, 100, 127};
  for (DataType from : kAllTypes) {
    std::vector<double> source = from == DataType::kBool ? std::vector<double>{0, 1, 1, 0, 1, 0} : values;
    Tensor x = typed_tensor<double>(from, {2, 3}, source);
    for (DataType to : kAllTypes) {
      std::vector<double> want = source;
      if (to == DataType::kBool)
        for (double& v : want) v = v != 0;
      EXPECT_EQ(cast_values(x, to), want) << dtype_name(from) << " -> " << dtype_name(to);
    }
  }
}

TEST(Cast, FloatToIntegerTruncatesTowardZero) {
  Tensor x = float_tensor({1.7f, -1.7f, 2.5f, -0.5f, 0.99f, -3.0f}, {6});
  for (DataType to : {DataType::kInt8, DataType::kInt16, DataType::kInt32, DataType::kInt64})
    EXPECT_EQ(cast_values(x, to), (std::vector<double>{1, -1, 2, 0, 0, -3})) << dtype_name(to);
  Tensor d = typed_tensor<double>(DataType::kFloat64, {2}, {-7.9, 7.9});
  EXPECT_EQ(cast_values(d, DataType::kInt64), (std::vector<double>{-7, 7}));
  Tensor h = typed_tensor<double>(DataType::kFloat16, {2}, {-2.75, 2.75});
  EXPECT_EQ(cast_values(h, DataType::kInt32), (std::vector<double>{-2, 2}));
}

TEST(Cast, NaNAndOutOfRangeAreDefined) {
  Tensor x = float_tensor({NAN, 1e10f, -1e10f, INFINITY, -INFINITY, 300, -1.5f}, {7});
  EXPECT_EQ(cast_values(x, DataType::kInt32),
            (std::vector<double>{0, 2147483647.0, -2147483648.0, 2147483647.0, -2147483648.0, 300, -1}));
  EXPECT_EQ(cast_values(x, DataType::kUInt8), (std::vector<double>{0, 255, 0, 255, 0, 255, 0}));
  auto i64 = run(cast_to(DataType::kInt64), {&x}, 13);
  EXPECT_EQ(i64[0].data<int64_t>()[1], 10000000000);
  EXPECT_EQ(i64[0].data<int64_t>()[3], std::numeric_limits<int64_t>::max());
  EXPECT_EQ(i64[0].data<int64_t>()[4], std::numeric_limits<int64_t>::min());
}

TEST(Cast, IntegerNarrowingWraps) {
  Tensor x = int64_tensor({300, -1, -129, (int64_t{1} << 53) + 1});
  EXPECT_EQ(cast_values(x, DataType::kInt8), (std::vector<double>{44, -1, 127, 1}));
  EXPECT_EQ(cast_values(x, DataType::kUInt8), (std::vector<double>{44, 255, 127, 1}));
  auto i32 = run(cast_to(DataType::kInt32), {&x}, 13);
  EXPECT_EQ(i32[0].data<int32_t>()[3], 1);
  // int64 -> uint64 -> int64 keeps every bit (no detour through double).
  auto u64 = run(cast_to(DataType::kUInt64), {&x}, 13);
  EXPECT_EQ(u64[0].data<uint64_t>()[1], std::numeric_limits<uint64_t>::max());
  auto back = run(cast_to(DataType::kInt64), {&u64[0]}, 13);
  EXPECT_EQ(std::memcmp(back[0].raw(), x.raw(), x.nbytes()), 0);
}

TEST(Cast, BoolConversions) {
  Tensor x = float_tensor({0, 0.5f, -1, NAN, -0.0f}, {5});
  EXPECT_EQ(cast_values(x, DataType::kBool), (std::vector<double>{0, 1, 1, 1, 0}));
  Tensor b(DataType::kBool, {3});
  b.data<uint8_t>()[1] = 1;
  b.data<uint8_t>()[2] = 7;  // any nonzero byte reads as true
  EXPECT_EQ(cast_values(b, DataType::kFloat32), (std::vector<double>{0, 1, 1}));
  EXPECT_EQ(cast_values(b, DataType::kInt64), (std::vector<double>{0, 1, 1}));
  auto as_bool = run(cast_to(DataType::kBool), {&b}, 13);
  EXPECT_EQ(as_bool[0].data<uint8_t>()[2], 7);  // same type: bits pass through
  auto as_int8 = run(cast_to(DataType::kInt8), {&b}, 13);
  EXPECT_EQ(as_int8[0].data<int8_t>()[2], 1);
}

TEST(Cast, HalfPrecisionRounding) {
  // 1 + 2^-11 is halfway between float16 neighbours 1 and 1 + 2^-10: ties to even gives 1.
  Tensor x = float_tensor({1 + std::ldexp(1.0f, -11), 1 + 3 * std::ldexp(1.0f, -11), 65504, 70000, -1e-8f, NAN}, {6});
  auto h = cast_values(x, DataType::kFloat16);
  EXPECT_EQ(h[0], 1);
  EXPECT_EQ(h[1], 1 + std::ldexp(1.0, -9));
  EXPECT_EQ(h[2], 65504);
  EXPECT_EQ(h[3], INFINITY);
  EXPECT_EQ(h[4], 0);
  EXPECT_TRUE(std::isnan(h[5]));
  // bfloat16 keeps 8 mantissa bits: 1 + 2^-8 ties to 1, 1 + 3 * 2^-8 rounds up to 1 + 2^-6.
  Tensor y = float_tensor({1 + std::ldexp(1.0f, -8), 1 + 3 * std::ldexp(1.0f, -8), 3e38f, NAN}, {4});
  auto bf = cast_values(y, DataType::kBFloat16);
  EXPECT_EQ(bf[0], 1);
  EXPECT_EQ(bf[1], 1 + std::ldexp(1.0, -6));
  EXPECT_NEAR(bf[2], 3e38, 3e36);
  EXPECT_TRUE(std::isnan(bf[3]));
  // float16 -> float32 -> float16 round-trips every finite value exactly.
  Tensor all(DataType::kFloat16, {1 << 15});
  for (int i = 0; i < (1 << 15); ++i) all.data<uint16_t>()[i] = static_cast<uint16_t>(i < 0x7c00 ? i : 0);
  auto wide = run(cast_to(DataType::kFloat32), {&all}, 13);
  auto narrow = run(cast_to(DataType::kFloat16), {&wide[0]}, 13);
  EXPECT_EQ(std::memcmp(narrow[0].raw(), all.raw(), all.nbytes()), 0);
  auto bf_from_half = cast_values(typed_tensor<double>(DataType::kFloat16, {2}, {0.5, -3}), DataType::kBFloat16);
  EXPECT_EQ(bf_from_half, (std::vector<double>{0.5, -3}));
}

TEST(Cast, Int64ToFloat64IsExactAndToFloat32Rounds) {
  Tensor x = int64_tensor({(int64_t{1} << 52) + 1, (int64_t{1} << 24) + 1});
  auto d = run(cast_to(DataType::kFloat64), {&x}, 13);
  EXPECT_EQ(d[0].data<double>()[0], std::ldexp(1.0, 52) + 1);
  auto f = run(cast_to(DataType::kFloat32), {&x}, 13);
  EXPECT_EQ(f[0].data<float>()[1], std::ldexp(1.0f, 24));
}

TEST(Cast, SaturateAttributeIsAcceptedAndHasNoEffectWithoutFloat8) {
  Node n = cast_to(DataType::kFloat16);
  set_int(n, "saturate", 0);
  Tensor x = float_tensor({70000}, {1});
  EXPECT_EQ(values_of(run(n, {&x}, 19)[0]), (std::vector<double>{INFINITY}));
  set_int(n, "saturate", 1);
  EXPECT_EQ(values_of(run(n, {&x}, 21)[0]), (std::vector<double>{INFINITY}));
}

TEST(Cast, UnsupportedTargetsFailClearly) {
  Tensor x = random_tensor({2});
  Node f8 = make_node("Cast", 1);
  set_int(f8, "to", 17);
  expect_error([&] { run(f8, {&x}, 19); }, {"Cast_test", "float8e4m3fn", "not supported", "float8"});
  set_int(f8, "to", 19);
  expect_error([&] { run(f8, {&x}, 21); }, {"float8e5m2"});
  Node s = make_node("Cast", 1);
  set_int(s, "to", 8);
  expect_error([&] { run(s, {&x}); }, {"string"});
  Node i4 = make_node("Cast", 1);
  set_int(i4, "to", 22);
  expect_error([&] { run(i4, {&x}, 21); }, {"int4"});
  Node bad = make_node("Cast", 1);
  set_int(bad, "to", 999);
  expect_error([&] { run(bad, {&x}); }, {"to=999", "not an ONNX data type"});
  set_int(bad, "to", 0);
  expect_error([&] { run(bad, {&x}); }, {"to=0"});
  expect_error([&] { run(make_node("Cast", 1), {&x}); }, {"Cast_test", "'to'"});
}

TEST(Cast, ShapeInferenceKeepsSymbols) {
  auto out = infer(cast_to(DataType::kInt64), {{DataType::kFloat32, sym({Dim::unknown("batch"), 3})}});
  EXPECT_EQ(out[0].dtype, DataType::kInt64);
  EXPECT_EQ(out[0].shape.to_string(), "[batch,3]");
}

TEST(CastLike, TakesTheTypeOfInputOne) {
  Tensor x = float_tensor({1.9f, -2.9f}, {2});
  Tensor like = int64_tensor({0}, {});
  auto out = run(make_node("CastLike", 2), {&x, &like}, 15);
  ASSERT_EQ(out[0].dtype(), DataType::kInt64);
  EXPECT_EQ(values_of(out[0]), (std::vector<double>{1, -2}));
  Tensor half(DataType::kFloat16, {1, 1});
  auto h = run(make_node("CastLike", 2), {&x, &half}, 21);
  ASSERT_EQ(h[0].dtype(), DataType::kFloat16);
  EXPECT_EQ(h[0].dims(), (Dims{2}));
  auto shapes =
      infer(make_node("CastLike", 2), {{DataType::kInt32, sym({Dim::unknown("n")})}, {DataType::kBool, Shape()}}, 15);
  EXPECT_EQ(shapes[0].dtype, DataType::kBool);
  EXPECT_EQ(shapes[0].shape.to_string(), "[n]");
  expect_error([&] { run(make_node("CastLike", 1), {&x}, 15); }, {"CastLike_test", "needs 2 inputs"});
}

}  // namespace
}  // namespace normrt::test
