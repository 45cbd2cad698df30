#include <algorithm>

#include "ops/tensor_ops_util.h"

namespace normrt::test {
namespace {

Tensor naive_transpose(const Tensor& x, const std::vector<int64_t>& perm) {
  Dims out_dims;
  for (int64_t p : perm) out_dims.push_back(x.dims()[p]);
  return map_elements(x, x.dtype(), out_dims, [&](const Dims& o, Dims* in) {
    in->assign(perm.size(), 0);
    for (size_t a = 0; a < perm.size(); ++a) (*in)[perm[a]] = o[a];
    return true;
  });
}

TEST(Transpose, HandComputed) {
  Tensor x = float_tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  auto out = run(make_node("Transpose", 1), {&x}, 13);  // default: reversed axes
  expect_same(out[0], float_tensor({1, 4, 2, 5, 3, 6}, {3, 2}));
}

TEST(Transpose, MatchesNaiveOnEveryDtypeAndPermutation) {
  const std::vector<Dims> shapes = {{7}, {3, 13}, {2, 3, 5}, {1, 7, 3}, {2, 3, 1, 5}, {3, 2, 4, 1, 3}};
  auto check = [](const Dims& dims, const std::vector<int64_t>& perm) {
    for (DataType dtype : moved_dtypes()) {
      Tensor x = random_of(dtype, dims);
      Node n = make_node("Transpose", 1);
      set_ints(n, "perm", perm);
      expect_same(run(n, {&x}, 21)[0], naive_transpose(x, perm),
                  dims_to_string(dims) + " perm " + ::testing::PrintToString(perm) + " " + dtype_name(dtype));
    }
  };
  for (const Dims& dims : shapes) {
    std::vector<int64_t> perm(dims.size());
    for (size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int64_t>(i);
    if (dims.size() >= 5) {  // a few of the 120
      check(dims, {4, 0, 3, 1, 2});
      check(dims, {0, 1, 2, 4, 3});
      check(dims, {2, 4, 1, 3, 0});
      continue;
    }
    do check(dims, perm);
    while (std::next_permutation(perm.begin(), perm.end()));
  }
  // Default reverses, at rank 4; zero-size and scalar inputs.
  Tensor x = random_tensor({2, 3, 4, 5});
  expect_same(run(make_node("Transpose", 1), {&x}, 11)[0], naive_transpose(x, {3, 2, 1, 0}));
  Tensor empty = random_tensor({2, 0, 3});
  EXPECT_EQ(run(make_node("Transpose", 1), {&empty}, 13)[0].dims(), (Dims{3, 0, 2}));
  Tensor scalar = scalar_of(DataType::kFloat32, 4);
  expect_same(run(make_node("Transpose", 1), {&scalar}, 13)[0], scalar);
}

TEST(Transpose, ErrorsAndSymbolicShapes) {
  Tensor x = random_tensor({2, 3, 4});
  Node n = make_node("Transpose", 1);
  set_ints(n, "perm", {0, 1});
  expect_error([&] { run(n, {&x}, 13); }, {"Transpose_test", "perm [0,1]", "rank 3"});
  set_ints(n, "perm", {0, 1, 1});
  expect_error([&] { run(n, {&x}, 13); }, {"not a permutation"});
  set_ints(n, "perm", {0, 3, 1});
  expect_error([&] { run(n, {&x}, 13); }, {"not a permutation"});
  set_ints(n, "perm", {0, 2, 1, 3});
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat16, "batch,seq,heads,64")}).shape(), "[batch,heads,seq,64]");
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat16, "*")}).shape(), "[?,?,?,?]");
  EXPECT_EQ(infer(make_node("Transpose", 1), 13, {ts(DataType::kFloat16, "*")}).shape(), "[?]");
}

// ---- DepthToSpace / SpaceToDepth -------------------------------------------------------------------------

// The spec's definitions: DCR reshapes to [N, b, b, C/b^2, H, W] and transposes [0, 3, 4, 1, 5, 2]; CRD
// reshapes to [N, C/b^2, b, b, H, W] and transposes [0, 1, 4, 2, 5, 3]; both then reshape to
// [N, C/b^2, H*b, W*b].
Tensor naive_depth_to_space(const Tensor& x, int64_t b, bool crd) {
  const int64_t n = x.dims()[0], c = x.dims()[1], h = x.dims()[2], w = x.dims()[3], oc = c / (b * b);
  Tensor staged = crd ? x.reshaped({n, oc, b, b, h, w}) : x.reshaped({n, b, b, oc, h, w});
  Tensor moved = crd ? naive_transpose(staged, {0, 1, 4, 2, 5, 3}) : naive_transpose(staged, {0, 3, 4, 1, 5, 2});
  return moved.reshaped({n, oc, h * b, w * b});
}

// SpaceToDepth: reshape to [N, C, H/b, b, W/b, b], transpose [0, 3, 5, 1, 2, 4], reshape [N, C*b*b, H/b, W/b].
Tensor naive_space_to_depth(const Tensor& x, int64_t b) {
  const int64_t n = x.dims()[0], c = x.dims()[1], h = x.dims()[2], w = x.dims()[3];
  Tensor moved = naive_transpose(x.reshaped({n, c, h / b, b, w / b, b}), {0, 3, 5, 1, 2, 4});
  return moved.reshaped({n, c * b * b, h / b, w / b});
}

TEST(DepthToSpace, HandComputedDcrAndCrd) {
  // [1, 8, 1, 1] with b=2, so C/b^2 = 2.
  std::vector<float> v(8);
  for (int i = 0; i < 8; ++i) v[i] = static_cast<float>(i);
  Tensor x = float_tensor(v, {1, 8, 1, 1});
  Node n = make_node("DepthToSpace", 1);
  set_int(n, "blocksize", 2);
  // DCR, C' = 2: out[c, i, j] = x[(i*2 + j)*2 + c].
  expect_same(run(n, {&x}, 13)[0], float_tensor({0, 2, 4, 6, 1, 3, 5, 7}, {1, 2, 2, 2}));
  set_string(n, "mode", "CRD");  // out[c, i, j] = x[c*4 + i*2 + j]
  expect_same(run(n, {&x}, 13)[0], float_tensor({0, 1, 2, 3, 4, 5, 6, 7}, {1, 2, 2, 2}));
}

TEST(DepthToSpace, MatchesSpecDefinitionAtManyShapes) {
  const std::vector<std::pair<Dims, int64_t>> cases = {
      {{1, 4, 1, 1}, 2}, {{2, 8, 3, 5}, 2}, {{3, 18, 1, 7}, 3}, {{2, 12, 2, 3}, 2}, {{1, 3, 4, 4}, 1}};
  for (const auto& [dims, b] : cases) {
    for (bool crd : {false, true}) {
      for (DataType dtype : moved_dtypes()) {
        Tensor x = random_of(dtype, dims);
        Node n = make_node("DepthToSpace", 1);
        set_int(n, "blocksize", b);
        if (crd) set_string(n, "mode", "CRD");
        expect_same(run(n, {&x}, 13)[0], naive_depth_to_space(x, b, crd),
                    dims_to_string(dims) + (crd ? " CRD " : " DCR ") + dtype_name(dtype));
      }
    }
  }
}

TEST(DepthToSpace, ErrorsAndSymbolicShapes) {
  Node n = make_node("DepthToSpace", 1);
  set_int(n, "blocksize", 2);
  Tensor x = random_tensor({1, 6, 2, 2});
  expect_error([&] { run(n, {&x}, 13); }, {"DepthToSpace_test", "channels 6", "blocksize^2 = 4"});
  Tensor rank3 = random_tensor({4, 2, 2});
  expect_error([&] { run(n, {&rank3}, 13); }, {"rank 3", "expected rank 4"});
  set_string(n, "mode", "RDC");
  expect_error([&] { run(n, {&x}, 13); }, {"\"DCR\" or \"CRD\"", "RDC"});
  Node missing = make_node("DepthToSpace", 1);
  expect_error([&] { run(missing, {&x}, 13); }, {"blocksize"});
  set_string(n, "mode", "DCR");
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,16,h,5")}).shape(), "[batch,4,?,10]");
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "*")}).shape(), "[?,?,?,?]");
}

TEST(SpaceToDepth, MatchesSpecDefinitionAndInvertsDcr) {
  const std::vector<std::pair<Dims, int64_t>> cases = {
      {{1, 1, 2, 2}, 2}, {{2, 3, 4, 6}, 2}, {{3, 2, 3, 9}, 3}, {{1, 5, 7, 7}, 1}};
  for (const auto& [dims, b] : cases) {
    for (DataType dtype : moved_dtypes()) {
      Tensor x = random_of(dtype, dims);
      Node n = make_node("SpaceToDepth", 1);
      set_int(n, "blocksize", b);
      auto out = run(n, {&x}, 13);
      expect_same(out[0], naive_space_to_depth(x, b), dims_to_string(dims) + " " + dtype_name(dtype));
      Node back = make_node("DepthToSpace", 1);
      set_int(back, "blocksize", b);
      expect_same(run(back, {&out[0]}, 13)[0], x);
    }
  }
}

TEST(SpaceToDepth, ErrorsAndSymbolicShapes) {
  Node n = make_node("SpaceToDepth", 1);
  set_int(n, "blocksize", 2);
  Tensor x = random_tensor({1, 2, 3, 4});
  expect_error([&] { run(n, {&x}, 13); }, {"SpaceToDepth_test", "dim 2", "not divisible by blocksize 2"});
  set_int(n, "blocksize", 0);
  expect_error([&] { run(n, {&x}, 13); }, {"blocksize must be positive"});
  set_int(n, "blocksize", 2);
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,3,h,8")}).shape(), "[batch,12,?,4]");
  // A hostile blocksize whose square, or the channels times it, leaves int64 (found by the engine fuzzer).
  set_int(n, "blocksize", int64_t{1} << 50);
  expect_error([&] { infer(n, 13, {ts(DataType::kFloat32, "1,3,8,8")}); }, {"blocksize", "must fit int64"});
  set_int(n, "blocksize", int64_t{1} << 30);
  expect_error([&] { infer(n, 13, {ts(DataType::kFloat32, "1,1000000,8,8")}); }, {"does not fit int64"});
  Node d = make_node("DepthToSpace", 1);
  set_int(d, "blocksize", int64_t{1} << 32);
  expect_error([&] { infer(d, 13, {ts(DataType::kFloat32, "1,4,8,8")}); }, {"blocksize", "must fit int64"});
}

}  // namespace
}  // namespace normrt::test
