#include "ops/tensor_ops_util.h"

namespace normrt::test {
namespace {

// Broadcast by definition: output index i (right-aligned) reads input index i where the input dim is not 1,
// and 0 where it is.
Tensor naive_expand(const Tensor& x, const Dims& out_dims) {
  const size_t offset = out_dims.size() - x.rank();
  return map_elements(x, x.dtype(), out_dims, [&](const Dims& o, Dims* in) {
    in->resize(x.rank());
    for (size_t a = 0; a < x.rank(); ++a) (*in)[a] = x.dims()[a] == 1 ? 0 : o[a + offset];
    return true;
  });
}

Tensor naive_tile(const Tensor& x, const std::vector<int64_t>& repeats) {
  Dims out_dims;
  for (size_t a = 0; a < x.rank(); ++a) out_dims.push_back(x.dims()[a] * repeats[a]);
  return map_elements(x, x.dtype(), out_dims, [&](const Dims& o, Dims* in) {
    in->resize(x.rank());
    for (size_t a = 0; a < x.rank(); ++a) (*in)[a] = o[a] % x.dims()[a];
    return true;
  });
}

TEST(Expand, HandComputedFromTheSpec) {
  Tensor x = float_tensor({1, 2, 3}, {3, 1});
  Tensor shape = i64({2, 1, 6});  // bidirectional: [3,1] with [2,1,6] gives [2,3,6]
  auto out = run(make_node("Expand", 2), {&x, &shape}, 13);
  ASSERT_EQ(out[0].dims(), (Dims{2, 3, 6}));
  EXPECT_EQ(values_of(out[0])[0], 1);
  EXPECT_EQ(values_of(out[0])[6], 2);
  EXPECT_EQ(values_of(out[0])[18 + 17], 3);
  Tensor smaller = i64({3, 1});  // a shape smaller than the input keeps the input
  expect_same(run(make_node("Expand", 2), {&x, &smaller}, 13)[0], x);
  Tensor one = i64({1});
  expect_same(run(make_node("Expand", 2), {&x, &one}, 13)[0], x);
}

TEST(Expand, MatchesNaiveAtManyShapes) {
  const std::vector<std::pair<Dims, std::vector<int64_t>>> cases = {
      {{1}, {7}},       {{3, 1}, {3, 5}},          {{1, 5}, {4, 1}},    {{2, 1, 3}, {2, 7, 3}}, {{1, 1}, {3, 1, 13}},
      {{5}, {2, 3, 1}}, {{3, 1, 1}, {1, 1, 4, 2}}, {{2, 3}, {0, 2, 3}}, {{}, {2, 3}},           {{4, 1, 2}, {1}}};
  for (const auto& [dims, target] : cases) {
    for (DataType dtype : moved_dtypes()) {
      Tensor x = random_of(dtype, dims);
      Tensor shape = i64(target);
      auto out = run(make_node("Expand", 2), {&x, &shape}, 13);
      expect_same(out[0], naive_expand(x, broadcast_dims({dims, Dims(target.begin(), target.end())})),
                  dims_to_string(dims) + " to " + ::testing::PrintToString(target) + " " + dtype_name(dtype));
    }
  }
}

TEST(Expand, ErrorsAndSymbolicShapes) {
  Tensor x = random_tensor({3, 4});
  Tensor bad = i64({2, 5});
  expect_error(
      [&] {
        run(make_node("Expand", 2), {&x, &bad}, 13);
      },
      {"Expand_test", "[3,4]", "[2,5]", "dim 3 is neither 1 nor 2"});
  Tensor negative = i64({-1, 4});
  expect_error([&] { run(make_node("Expand", 2), {&x, &negative}, 13); }, {"negative"});
  Tensor matrix = tensor_of(DataType::kInt64, {1, 2}, {3, 4});
  expect_error([&] { run(make_node("Expand", 2), {&x, &matrix}, 13); }, {"must be 1-D"});
  Node n = make_node("Expand", 2);
  Tensor target = i64({1, 1, 64});
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,seq,1"), ts_of(target)}, {nullptr, &target}).shape(),
            "[batch,seq,64]");
  Tensor lead = i64({2, 1, 1, 1});
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,seq,1"), ts_of(lead)}, {nullptr, &lead}).shape(),
            "[2,batch,seq,1]");
  // Unknown target values: input dims > 1 survive, the rest are unknown.
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "1,seq,8"), ts(DataType::kInt64, "4")}).shape(), "[?,?,?,8]");
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "1,8"), ts(DataType::kInt64, "?")}).shape(), "[?]");
}

TEST(Tile, HandComputedAndNaive) {
  Tensor x = float_tensor({1, 2, 3, 4}, {2, 2});
  Tensor repeats = i64({1, 2});
  expect_same(run(make_node("Tile", 2), {&x, &repeats}, 13)[0], float_tensor({1, 2, 1, 2, 3, 4, 3, 4}, {2, 4}));
  const std::vector<std::pair<Dims, std::vector<int64_t>>> cases = {
      {{3}, {4}}, {{2, 3}, {3, 1}}, {{1, 5}, {7, 2}}, {{2, 1, 3}, {1, 13, 2}}, {{3, 2}, {0, 2}}, {{2, 3}, {1, 1}}};
  for (const auto& [dims, reps] : cases) {
    for (DataType dtype : moved_dtypes()) {
      Tensor t = random_of(dtype, dims);
      Tensor r = i64(reps);
      expect_same(run(make_node("Tile", 2), {&t, &r}, 13)[0], naive_tile(t, reps),
                  dims_to_string(dims) + " x " + ::testing::PrintToString(reps) + " " + dtype_name(dtype));
    }
  }
}

TEST(Tile, ErrorsAndSymbolicShapes) {
  Tensor x = random_tensor({2, 3});
  Tensor short_repeats = i64({2});
  expect_error([&] { run(make_node("Tile", 2), {&x, &short_repeats}, 13); }, {"Tile_test", "1 entries", "rank 2"});
  Tensor negative = i64({1, -1});
  expect_error([&] { run(make_node("Tile", 2), {&x, &negative}, 13); }, {"negative"});
  Node n = make_node("Tile", 2);
  Tensor reps = i64({1, 3, 2});
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,seq,4"), ts_of(reps)}, {nullptr, &reps}).shape(),
            "[batch,?,8]");
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,0,4"), ts(DataType::kInt64, "3")}).shape(), "[?,0,?]");
}

}  // namespace
}  // namespace normrt::test
