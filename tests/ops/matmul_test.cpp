// MatMul and Gemm: hand-computed values, numpy matmul semantics (1-D operands, batch broadcasting) against a
// naive triple loop over explicitly broadcast indices, Gemm's transposes/alpha/beta/C broadcasting, integer
// types, shape inference with symbols and errors.
#include "conv_naive.h"
#include "ops/channels_last.h"
#include "test_util.h"

namespace normrt::test {
namespace {

// Naive numpy matmul written from the definition: out[b..., i, j] = sum_k a[b'..., i, k] * b[b''..., k, j].
Tensor naive_matmul(const Tensor& a, const Tensor& b) {
  Dims ad = a.dims(), bd = b.dims();
  const bool a_vec = ad.size() == 1, b_vec = bd.size() == 1;
  if (a_vec) ad.insert(ad.begin(), 1);
  if (b_vec) bd.push_back(1);
  const size_t rank = std::max(ad.size(), bd.size());
  ad.insert(ad.begin(), rank - ad.size(), 1);
  bd.insert(bd.begin(), rank - bd.size(), 1);
  Dims od(rank);
  for (size_t i = 0; i + 2 < rank; ++i) od[i] = std::max(ad[i], bd[i]);
  od[rank - 2] = ad[rank - 2];
  od[rank - 1] = bd[rank - 1];
  const int64_t K = ad[rank - 1];
  Tensor out(DataType::kFloat32, od);
  for (int64_t o = 0; o < out.numel(); ++o) {
    std::vector<int64_t> idx = unravel(o, od), ai = idx, bi = idx;
    for (size_t i = 0; i + 2 < rank; ++i) {
      if (ad[i] == 1) ai[i] = 0;
      if (bd[i] == 1) bi[i] = 0;
    }
    double acc = 0;
    for (int64_t k = 0; k < K; ++k) {
      ai[rank - 1] = k;
      bi[rank - 2] = k;
      acc += element_as_double(a, ravel(ai, ad)) * element_as_double(b, ravel(bi, bd));
    }
    out.data<float>()[o] = static_cast<float>(acc);
  }
  Dims final_dims(od.begin(), od.end() - 2);
  if (!a_vec) final_dims.push_back(od[rank - 2]);
  if (!b_vec) final_dims.push_back(od[rank - 1]);
  return out.reshaped(final_dims);
}

TEST(MatMul, HandComputed) {
  Tensor a = float_tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = float_tensor({7, 8, 9, 10, 11, 12}, {3, 2});
  auto y = run(make_node("MatMul", 2), {&a, &b});
  ASSERT_EQ(y[0].dims(), (Dims{2, 2}));
  const float expected[] = {58, 64, 139, 154};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(y[0].data<float>()[i], expected[i]);
  Tensor v = float_tensor({1, 2, 3}, {3});
  auto dot = run(make_node("MatMul", 2), {&v, &v});
  EXPECT_EQ(dot[0].dims(), Dims{});
  EXPECT_EQ(dot[0].data<float>()[0], 14.0f);
}

TEST(MatMul, NumpySemanticsOnRandomShapes) {
  const std::vector<std::pair<Dims, Dims>> cases = {
      {{3}, {3}},
      {{4}, {4, 5}},
      {{2, 3, 4}, {4}},
      {{7, 5}, {5, 1}},
      {{1, 1}, {1, 1}},
      {{2, 3, 4}, {4, 5}},
      {{4, 5}, {3, 5, 2}},
      {{2, 1, 3, 4}, {5, 4, 6}},
      {{1, 13, 7}, {4, 7, 3}},
      {{3, 1, 2, 5}, {1, 4, 5, 3}},
      {{2, 2, 2, 3, 4}, {4, 2}},
      {{6}, {2, 3, 6, 4}},
  };
  for (const auto& [ad, bd] : cases) {
    SCOPED_TRACE(dims_to_string(ad) + " x " + dims_to_string(bd));
    Tensor a = random_tensor(ad), b = random_tensor(bd);
    auto y = run(make_node("MatMul", 2), {&a, &b});
    EXPECT_LT(relative_error(y[0], naive_matmul(a, b)), 1e-6);
  }
}

TEST(MatMul, IntegerAndOtherFloatTypes) {
  Tensor a = int64_tensor({1, -2, 3, 4, 5, -6}, {2, 3});
  Tensor b = int64_tensor({3000000000LL, 1, 2, 3, 4, 5}, {3, 2});
  auto y = run(make_node("MatMul", 2), {&a, &b});
  ASSERT_EQ(y[0].dtype(), DataType::kInt64);
  EXPECT_EQ(y[0].data<int64_t>()[0], 3000000000LL - 4 + 12);
  EXPECT_EQ(y[0].data<int64_t>()[3], 4 + 15 - 30);
  Tensor af = random_tensor({2, 3, 4}), bf = random_tensor({4, 5});
  for (DataType t : {DataType::kFloat64, DataType::kFloat16}) {
    Tensor at = cast_tensor(af, t), bt = cast_tensor(bf, t);
    auto yt = run(make_node("MatMul", 2), {&at, &bt});
    EXPECT_EQ(yt[0].dtype(), t);
    EXPECT_LT(relative_error(yt[0], naive_matmul(af, bf)), t == DataType::kFloat16 ? 1e-2 : 1e-6);
  }
  Tensor bad = int64_tensor({1, 2}, {2});
  Tensor f = random_tensor({2});
  expect_error([&] { run(make_node("MatMul", 2), {&f, &bad}); }, {"MatMul_test", "int64", "float32"});
}

TEST(MatMul, ShapeInference) {
  Node n = make_node("MatMul", 2);
  auto shape = [&](Shape a, Shape b) { return infer_shapes(n, {a, b}, 13)[0].shape.to_string(); };
  const Dim batch = Dim::unknown("batch"), seq = Dim::unknown("seq");
  EXPECT_EQ(shape(Shape({batch, seq, 64}), Shape({64, 32})), "[batch,seq,32]");
  EXPECT_EQ(shape(Shape({batch, 8, seq, 16}), Shape({batch, 8, 16, seq})), "[batch,8,seq,seq]");
  EXPECT_EQ(shape(Shape({batch, 1, 5, 16}), Shape({3, 16, 2})), "[batch,3,5,2]");
  EXPECT_EQ(shape(Shape({16}), Shape({batch, 16, 4})), "[batch,4]");
  EXPECT_EQ(shape(Shape({batch, 5, 16}), Shape({16})), "[batch,5]");
  EXPECT_EQ(shape(Shape(), Shape({16, 4})), "[?]");
  expect_error([&] { shape(Shape({2, 3}), Shape({4, 5})); }, {"inner dimension 3", "has 4"});
  expect_error([&] { shape(Shape({2, 2, 3}), Shape({3, 3, 5})); }, {"cannot broadcast", "2", "3"});
  expect_error([&] { shape(Shape(std::vector<Dim>{}), Shape({3})); }, {"rank >= 1"});
}

Tensor naive_gemm(const Tensor& a, const Tensor& b, const Tensor* c, bool ta, bool tb, double alpha, double beta) {
  const int64_t M = ta ? a.dims()[1] : a.dims()[0], K = ta ? a.dims()[0] : a.dims()[1];
  const int64_t N = tb ? b.dims()[0] : b.dims()[1];
  Tensor y(DataType::kFloat32, {M, N});
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k)
        acc += element_as_double(a, ta ? k * M + i : i * K + k) * element_as_double(b, tb ? j * K + k : k * N + j);
      double cv = 0;
      if (c) {
        const Dims& cd = c->dims();
        const int64_t ci = cd.size() == 2 ? (cd[0] == 1 ? 0 : i) : 0;
        const int64_t cj = cd.empty() ? 0 : (cd.back() == 1 ? 0 : j);
        cv = element_as_double(*c, cd.size() == 2 ? ci * cd[1] + cj : cj);
      }
      y.data<float>()[i * N + j] = static_cast<float>(alpha * acc + beta * cv);
    }
  return y;
}

TEST(Gemm, TransposesAlphaBetaAndBroadcastC) {
  const int64_t M = 5, K = 7, N = 3;
  const std::vector<Dims> c_shapes = {{}, {1}, {N}, {M, 1}, {1, N}, {M, N}};
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (size_t ci = 0; ci <= c_shapes.size(); ++ci) {
        const bool has_c = ci < c_shapes.size();
        for (auto [alpha, beta] : {std::pair<float, float>{1.0f, 1.0f}, {0.5f, 2.0f}, {-1.5f, 0.0f}}) {
          SCOPED_TRACE(std::string("ta=") + std::to_string(ta) + " tb=" + std::to_string(tb) +
                       " c=" + (has_c ? dims_to_string(c_shapes[ci]) : "none") + " alpha=" + std::to_string(alpha));
          Tensor a = random_tensor(ta ? Dims{K, M} : Dims{M, K});
          Tensor b = random_tensor(tb ? Dims{N, K} : Dims{K, N});
          Tensor c = has_c ? random_tensor(c_shapes[ci]) : Tensor();
          Node n = make_node("Gemm", has_c ? 3 : 2);
          set_int(n, "transA", ta);
          set_int(n, "transB", tb);
          set_float(n, "alpha", alpha);
          set_float(n, "beta", beta);
          auto y = run(n, {&a, &b, has_c ? &c : nullptr}, 11);
          EXPECT_LT(relative_error(y[0], naive_gemm(a, b, has_c ? &c : nullptr, ta, tb, alpha, beta)), 1e-6);
        }
      }
}

TEST(Gemm, HandComputedAndIntegers) {
  Tensor a = float_tensor({1, 2, 3, 4}, {2, 2});
  Tensor b = float_tensor({1, 0, 0, 1}, {2, 2});
  Tensor c = float_tensor({10, 20}, {2});
  Node n = make_node("Gemm", 3);
  set_float(n, "alpha", 2.0f);
  set_float(n, "beta", 0.5f);
  auto y = run(n, {&a, &b, &c});
  const float expected[] = {7, 14, 11, 18};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(y[0].data<float>()[i], expected[i]);
  Tensor ai = int64_tensor({1, 2, 3, 4, 5, 6}, {3, 2});
  Tensor bi = int64_tensor({1, 1, 1, 1, 1, 1}, {3, 2});
  Tensor ci = int64_tensor({100}, {1});
  Node ni = make_node("Gemm", 3);
  set_int(ni, "transA", 1);
  auto yi = run(ni, {&ai, &bi, &ci});
  ASSERT_EQ(yi[0].dims(), (Dims{2, 2}));
  EXPECT_EQ(yi[0].data<int64_t>()[0], 109);
  EXPECT_EQ(yi[0].data<int64_t>()[3], 112);
}

TEST(Gemm, ShapeInferenceAndErrors) {
  Node n = make_node("Gemm", 3);
  set_int(n, "transB", 1);
  const Dim batch = Dim::unknown("batch");
  EXPECT_EQ(infer_shapes(n, {Shape({batch, 64}), Shape({10, 64}), Shape({10})}, 13)[0].shape.to_string(), "[batch,10]");
  EXPECT_EQ(infer_shapes(make_node("Gemm", 2), {Shape({3, 4}), Shape({4, Dim::unknown("n")})}, 11)[0].shape.to_string(),
            "[3,n]");
  expect_error(
      [&] {
        infer_shapes(n, {Shape({2, 64}), Shape({10, 32}), Shape({10})}, 13);
      },
      {"inner dimension 64", "has 32"});
  expect_error(
      [&] {
        infer_shapes(n, {Shape({2, 64}), Shape({10, 64}), Shape({3})}, 13);
      },
      {"input 2 (C)", "cannot be broadcast", "[2,10]"});
  expect_error([&] { infer_shapes(n, {Shape({2, 3, 64}), Shape({10, 64}), Shape({10})}, 13); }, {"rank 3"});
}

// ai.normrt MatMulBias (matmul_bias_fusion's Linear layer) is MatMul then the bias over the last axis.
TEST(MatMulBias, IsMatMulPlusBias) {
  const std::vector<std::pair<Dims, Dims>> cases = {
      {{4, 6}, {6, 9}}, {{2, 5, 7}, {7, 3}}, {{2, 3, 4, 5}, {5, 2}}, {{3, 1, 13}, {13, 1}}};
  for (const auto& [ad, bd] : cases) {
    SCOPED_TRACE(dims_to_string(ad) + " x " + dims_to_string(bd));
    Node n = make_node("MatMulBias", 3);
    n.domain = kNormrtDomain;
    Tensor a = random_tensor(ad), b = random_tensor(bd), bias = random_tensor({bd[1]});
    const Tensor y = run(n, {&a, &b, &bias})[0];
    Tensor expected = naive_matmul(a, b);
    for (int64_t i = 0; i < expected.numel(); ++i) expected.data<float>()[i] += bias.data<float>()[i % bd[1]];
    EXPECT_LT(relative_error(y, expected), 1e-6);
  }
}

TEST(MatMulBias, WithAResidual) {
  Node n = make_node("MatMulBias", 4);
  n.domain = kNormrtDomain;
  Tensor a = random_tensor({2, 5, 7}), b = random_tensor({7, 3}), bias = random_tensor({3}), r = random_tensor({2, 5, 3});
  const Tensor y = run(n, {&a, &b, &bias, &r})[0];
  Tensor expected = naive_matmul(a, b);
  for (int64_t i = 0; i < expected.numel(); ++i)
    expected.data<float>()[i] += bias.data<float>()[i % 3] + r.data<float>()[i];
  EXPECT_LT(relative_error(y, expected), 1e-6);
  expect_error([&] { infer_shapes(n, {Shape({2, 5, 7}), Shape({7, 3}), Shape({3}), Shape({1, 5, 3})}, 1); },
               {"residual [1,5,3] must have Y's shape [2,5,3] (no broadcasting)"});
  Tensor small = random_tensor({1, 5, 3});
  expect_error([&] { run(n, {&a, &b, &bias, &small}); }, {"must have Y's shape"});
}

TEST(MatMulBias, ShapeInferenceAndErrors) {
  Node n = make_node("MatMulBias", 3);
  n.domain = kNormrtDomain;
  const Dim batch = Dim::unknown("batch");
  EXPECT_EQ(infer_shapes(n, {Shape({batch, 7, 64}), Shape({64, 10}), Shape({10})}, 1)[0].shape.to_string(),
            "[batch,7,10]");
  expect_error([&] { infer_shapes(n, {Shape({2, 64}), Shape({64, 10}), Shape({3})}, 1); },
               {"bias [3] must have N = 10 elements"});
  expect_error([&] { infer_shapes(n, {Shape({2, 2, 64}), Shape({2, 64, 10}), Shape({10})}, 1); },
               {"must be a matrix [K, N]"});
  expect_error([&] { infer_shapes(n, {Shape({2, 64}), Shape({64, 10}), Shape({1, 10})}, 1); }, {"must have rank 1"});
  Node two = make_node("MatMulBias", 2);
  two.domain = kNormrtDomain;
  expect_error([&] { infer_shapes(two, {Shape({2, 64}), Shape({64, 10})}, 1); }, {"takes three or four inputs"});
  // The reference kernel checks the bias against the concrete shapes too.
  Tensor a = random_tensor({2, 4}), b = random_tensor({4, 3}), bias = random_tensor({5});
  expect_error([&] { run(n, {&a, &b, &bias}); }, {"must have N = 3 elements"});
}

// ai.normrt PermutedMatMul (matmul_transpose_folding's attention GEMMs) is the Transposes and the MatMul written out.
TEST(PermutedMatMul, IsTransposesAroundAMatMul) {
  struct Case {
    Dims a, b;
    std::vector<int64_t> pa, pb, py;
  };
  const Case cases[] = {
      {{2, 5, 3, 4}, {2, 5, 3, 4}, {0, 2, 1, 3}, {0, 2, 3, 1}, {}},            // scores = q k^T, heads split
      {{2, 3, 5, 5}, {2, 5, 3, 4}, {}, {0, 2, 1, 3}, {0, 2, 1, 3}},            // p v, heads merged
      {{3, 4, 6}, {3, 4, 2}, {0, 2, 1}, {}, {}},                               // A transposed (op T)
      {{6, 4}, {2, 6, 5}, {1, 0}, {0, 1, 2}, {2, 0, 1}},                       // broadcast batch, Y's last moved
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(dims_to_string(c.a) + " x " + dims_to_string(c.b));
    Node n = make_node("PermutedMatMul", 2);
    n.domain = kNormrtDomain;
    if (!c.pa.empty()) set_ints(n, "perm_a", c.pa);
    if (!c.pb.empty()) set_ints(n, "perm_b", c.pb);
    if (!c.py.empty()) set_ints(n, "perm_y", c.py);
    const Tensor a = random_tensor(c.a), b = random_tensor(c.b);
    const Tensor ap = c.pa.empty() ? a : permute_tensor(a, c.pa), bp = c.pb.empty() ? b : permute_tensor(b, c.pb);
    Tensor expected = naive_matmul(ap, bp);
    if (!c.py.empty()) expected = permute_tensor(expected, c.py);
    EXPECT_LT(relative_error(run(n, {&a, &b})[0], expected), 1e-6);
  }
}

TEST(PermutedMatMul, ShapeInferenceAndErrors) {
  Node n = make_node("PermutedMatMul", 2);
  n.domain = kNormrtDomain;
  set_ints(n, "perm_a", {0, 2, 1, 3});
  set_ints(n, "perm_b", {0, 2, 3, 1});
  const Dim batch = Dim::unknown("batch");
  EXPECT_EQ(infer_shapes(n, {Shape({batch, 1024, 8, 40}), Shape({batch, 1024, 8, 40})}, 1)[0].shape.to_string(),
            "[batch,8,1024,1024]");
  set_ints(n, "perm_b", {0, 2, 1, 1});
  expect_error([&] { infer_shapes(n, {Shape({2, 5, 3, 4}), Shape({2, 5, 3, 4})}, 1); },
               {"perm_b is not a permutation of the 4 axes"});
  set_ints(n, "perm_b", {0, 2, 1, 3});
  expect_error([&] { infer_shapes(n, {Shape({2, 5, 3, 4}), Shape({2, 6, 3, 4})}, 1); },
               {"inner dimension 4", "has 6"});
  Node one = make_node("PermutedMatMul", 1);
  one.domain = kNormrtDomain;
  expect_error([&] { infer_shapes(one, {Shape({2, 5})}, 1); }, {"takes two inputs, A and B"});
}

}  // namespace
}  // namespace normrt::test
