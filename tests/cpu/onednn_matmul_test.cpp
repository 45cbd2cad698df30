// onednn_matmul and onednn_gemm against the reference kernels on random data: 1-D operands, batch broadcasting
// on either side, odd sizes, Gemm transposes/alpha/beta/C shapes, the per-shape cache and accepts().
#include <any>

#include "cpu/cpu_kernel.h"
#include "test_util.h"

namespace normrt::test {
namespace {

const CpuKernel& kernel(const std::string& name) {
  const CpuKernel* k = CpuKernelRegistry::global().find(name);
  if (!k) throw Error(ErrorCode::kInternal, "kernel " + name + " is not registered");
  return *k;
}

std::vector<TypeShape> types_of(const std::vector<const Tensor*>& inputs) {
  std::vector<TypeShape> t;
  for (const Tensor* i : inputs) t.push_back(i ? TypeShape{i->dtype(), Shape::from_dims(i->dims())} : TypeShape{});
  return t;
}

TEST(OnednnMatMul, MatchesReferenceOnManyShapes) {
  const CpuKernel& k = kernel("onednn_matmul");
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
      {{4, 33, 65}, {65, 17}},
      {{2, 8, 31, 16}, {2, 8, 16, 31}},
      {{128, 256}, {256, 64}},
      {{1, 768}, {768, 3072}},
  };
  for (const auto& [ad, bd] : cases) {
    SCOPED_TRACE(dims_to_string(ad) + " x " + dims_to_string(bd));
    Tensor a = random_tensor(ad), b = random_tensor(bd);
    Node n = make_node("MatMul", 2);
    EXPECT_TRUE(k.accepts(n, 17, types_of({&a, &b})));
    EXPECT_LT(relative_error(run(n, {&a, &b}, 17, k.run)[0], run(n, {&a, &b})[0]), 1e-4);
  }
}

TEST(OnednnMatMul, CacheAndAccepts) {
  const CpuKernel& k = kernel("onednn_matmul");
  Node n = make_node("MatMul", 2);
  std::any state;
  Tensor b = random_tensor({16, 8});
  for (int64_t batch : {1, 3, 1, 4}) {
    Tensor a = random_tensor({batch, 5, 16});
    EXPECT_LT(relative_error(run_node(n, 17, {&a, &b}, k.run, &state)[0], run(n, {&a, &b})[0]), 1e-4);
  }
  EXPECT_TRUE(state.has_value());
  const Shape dyn({Dim::unknown("batch"), Dim::unknown("seq"), 64});
  EXPECT_TRUE(k.accepts(n, 17, {{DataType::kFloat32, dyn}, {DataType::kFloat32, Shape({64, 32})}}));
  EXPECT_TRUE(k.accepts(n, 17, {{DataType::kFloat32, Shape()}, {DataType::kFloat32, Shape({64, 32})}}));
  EXPECT_FALSE(k.accepts(n, 17, {{DataType::kFloat16, dyn}, {DataType::kFloat16, Shape({64, 32})}}));
  EXPECT_FALSE(k.accepts(n, 17, {{DataType::kInt64, dyn}, {DataType::kInt64, Shape({64, 32})}}));
  // Beyond oneDNN's 12 dims the kernel declines at build time and falls back if run anyway.
  Dims big(13, 1);
  big.back() = 3;
  EXPECT_FALSE(k.accepts(n, 17, {{DataType::kFloat32, Shape::from_dims(big)}, {DataType::kFloat32, Shape({3, 2})}}));
  Tensor a13 = random_tensor(big), b2 = random_tensor({3, 2});
  EXPECT_LT(relative_error(run(n, {&a13, &b2}, 17, k.run)[0], run(n, {&a13, &b2})[0]), 1e-6);
}

TEST(OnednnGemm, MatchesReference) {
  const CpuKernel& k = kernel("onednn_gemm");
  for (auto [M, K, N] :
       {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {5, 7, 3}, {4, 64, 10}, {33, 17, 65}, {1, 512, 1000}}) {
    // Every C shape and scale for one size; the common Linear form (C = [N]) for the others.
    const bool full = M == 5;
    const std::vector<Dims> c_shapes =
        full ? std::vector<Dims>{{}, {1}, {N}, {M, 1}, {1, N}, {M, N}} : std::vector<Dims>{{N}};
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (size_t ci = 0; ci <= c_shapes.size(); ++ci)
          for (auto [alpha, beta] : {std::pair<float, float>{1.0f, 1.0f}, {0.5f, 2.0f}, {1.0f, 0.0f}, {-1.5f, 1.0f}}) {
            if (!full && alpha != 1.0f && beta != 1.0f) continue;
            const bool has_c = ci < c_shapes.size();
            SCOPED_TRACE("M=" + std::to_string(M) + " K=" + std::to_string(K) + " N=" + std::to_string(N) +
                         " ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) +
                         " c=" + (has_c ? dims_to_string(c_shapes[ci]) : "none") + " alpha=" + std::to_string(alpha) +
                         " beta=" + std::to_string(beta));
            Tensor a = random_tensor(ta ? Dims{K, M} : Dims{M, K});
            Tensor b = random_tensor(tb ? Dims{N, K} : Dims{K, N});
            Tensor c = has_c ? random_tensor(c_shapes[ci]) : Tensor();
            Node n = make_node("Gemm", has_c ? 3 : 2);
            set_int(n, "transA", ta);
            set_int(n, "transB", tb);
            set_float(n, "alpha", alpha);
            set_float(n, "beta", beta);
            std::vector<const Tensor*> inputs{&a, &b};
            if (has_c) inputs.push_back(&c);
            EXPECT_TRUE(k.accepts(n, 13, types_of(inputs)));
            EXPECT_LT(relative_error(run(n, inputs, 13, k.run)[0], run(n, inputs, 13)[0]), 1e-4);
          }
  }
  Node n = make_node("Gemm", 2);
  EXPECT_FALSE(k.accepts(n, 13, {{DataType::kFloat64, Shape({2, 2})}, {DataType::kFloat64, Shape({2, 2})}}));
}

}  // namespace
}  // namespace normrt::test
