// cuBLAS MatMul and Gemm kernels against the CPU reference on fresh random data: 2-D, batched, broadcast batch dims
// (folded into M, strided-batched, and looped), 1-D operands; Gemm with every transA/transB, alpha, beta and every C
// broadcast; fp32 and fp16 (tolerances in dnn_test_util.h, scaled with K).
#include "dnn_test_util.h"

namespace normrt {
namespace cuda {
namespace testing {
namespace {

using ::normrt::DataType;

void check_matmul(const Dims& a_dims, const Dims& b_dims, DataType dtype) {
  Tensor a = random_tensor(dtype, a_dims), b = random_tensor(dtype, b_dims);
  const int64_t k = a_dims.back();
  EXPECT_EQ(check_node("cublas_matmul", make_node("MatMul", 2), {&a, &b}, tolerance_for(dtype, k)), "")
      << "MatMul " << dtype_name(dtype) << " [" << dims_to_string(a_dims) << "] x [" << dims_to_string(b_dims) << "]";
}

TEST(CublasMatMul, MatchesReference) {
  NORMRT_REQUIRE_GPU();
  const std::vector<std::pair<Dims, Dims>> cases = {
      {{7, 5}, {5, 9}},
      {{1, 3}, {3, 1}},
      {{6}, {6}},  // both 1-D: a scalar
      {{6}, {6, 4}},
      {{3, 4, 6}, {6}},
      {{2, 3, 4, 5}, {5, 7}},        // shared B: folded into M
      {{5, 4, 5}, {5, 5, 7}},        // same batch: strided-batched
      {{2, 3, 4, 5}, {3, 5, 7}},     // B broadcast over the outer dim: a host loop of strided-batched calls
      {{2, 1, 4, 5}, {1, 3, 5, 7}},  // both broadcast
      {{1, 4, 5}, {3, 5, 2}},        // A broadcast
      {{3, 1, 5}, {5, 1}},
      {{13, 300}, {300, 3}},  // a long reduction
      {{2, 64, 96}, {96, 128}},
      {{5, 8, 33, 17}, {5, 8, 17, 9}},
  };
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
    for (const auto& [a, b] : cases) check_matmul(a, b, dtype);
}

// ai.normrt MatMulBias: one cublasLt GEMM with the bias in its epilogue; batch dims fold into M (odd sizes,
// a long reduction, a Linear layer of the UNet at batch 2). With no config given, check_node tunes first, so the
// algorithm tune() measured fastest is the one checked.
TEST(CublasLtMatMulBias, MatchesReference) {
  NORMRT_REQUIRE_GPU();
  const std::vector<std::pair<Dims, Dims>> cases = {
      {{7, 5}, {5, 9}},     {{2, 3, 4, 5}, {5, 7}}, {{3, 1, 13}, {13, 1}}, {{13, 300}, {300, 3}},
      {{2, 64, 96}, {96, 128}}, {{5, 33, 17}, {17, 31}}, {{2, 1024, 320}, {320, 1280}}, {{1, 1, 8}, {8, 8}}};
  Node node = make_node("MatMulBias", 3);
  node.domain = kNormrtDomain;
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
    for (const auto& [a_dims, w_dims] : cases) {
      Tensor a = random_tensor(dtype, a_dims), w = random_tensor(dtype, w_dims), bias = random_tensor(dtype, {w_dims[1]});
      EXPECT_EQ(check_node("cublaslt_matmul_bias", node, {&a, &w, &bias}, tolerance_for(dtype, a_dims.back())), "")
          << "MatMulBias " << dtype_name(dtype) << " [" << dims_to_string(a_dims) << "] x [" << dims_to_string(w_dims)
          << "]";
      // With the residual stream as the GEMM's C.
      Dims y_dims = a_dims;
      y_dims.back() = w_dims[1];
      Tensor r = random_tensor(dtype, y_dims);
      Node with_residual = make_node("MatMulBias", 4);
      with_residual.domain = kNormrtDomain;
      EXPECT_EQ(check_node("cublaslt_matmul_bias", with_residual, {&a, &w, &bias, &r}, tolerance_for(dtype, a_dims.back())),
                "")
          << "MatMulBias + residual " << dtype_name(dtype) << " [" << dims_to_string(a_dims) << "]";
    }
}

// A stored cuBLASLt algorithm this GPU or problem cannot take (another version's id, a tile that does not exist,
// a missing attribute, garbage) falls back to the heuristic's choice and still computes the right answer.
TEST(CublasLtMatMulBias, AnyStoredAlgorithmWorks) {
  NORMRT_REQUIRE_GPU();
  Node node = make_node("MatMulBias", 3);
  node.domain = kNormrtDomain;
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16}) {
    Tensor a = random_tensor(dtype, {2, 33, 64}), w = random_tensor(dtype, {64, 40}), bias = random_tensor(dtype, {40});
    for (const char* config :
         {"lt_algo=99999;lt_tile=0;lt_splitk=1;lt_reduction=0;lt_swizzle=0;lt_custom=0;lt_stages=0;lt_inner=0;lt_cluster=0",
          "lt_algo=0;lt_tile=4000000000;lt_splitk=1;lt_reduction=0;lt_swizzle=0;lt_custom=0;lt_stages=0;lt_inner=0;lt_cluster=0",
          "lt_algo=0", "lt_algo=-3;lt_tile=-1", "garbage", "@5:lt_algo=1|junk"})
      EXPECT_EQ(check_node("cublaslt_matmul_bias", node, {&a, &w, &bias}, tolerance_for(dtype, 64), config), "")
          << dtype_name(dtype) << " config '" << config << "'";
  }
}

// `config` ("k=v;k=v") with key set to value.
std::string with_value(const std::string& config, const std::string& key, int64_t value) {
  std::string out;
  bool found = false;
  size_t start = 0;
  while (start <= config.size()) {
    size_t end = config.find(';', start);
    if (end == std::string::npos) end = config.size();
    std::string item = config.substr(start, end - start);
    if (item.rfind(key + "=", 0) == 0) {
      item = key + "=" + std::to_string(value);
      found = true;
    }
    if (!item.empty()) out += (out.empty() ? "" : ";") + item;
    start = end + 1;
  }
  if (!found) out += (out.empty() ? "" : ";") + key + "=" + std::to_string(value);
  return out;
}

// tune() also times split-K variants of cuBLASLt's algorithms (batch 1: a few dozen tokens, weights to stream).
// At the SD-1.5 UNet's batch-1 Linear shapes its choice computes the reference, and so does the chosen algorithm
// with K split 2, 3, 8 and 16 ways, its parts added in fp32 (the reduction scheme tune() offers), with and
// without the residual as C.
TEST(CublasLtMatMulBias, SplitKVariantsMatchReference) {
  NORMRT_REQUIRE_GPU();
  const std::vector<std::pair<Dims, Dims>> cases = {
      {{1, 64, 1280}, {1280, 1280}}, {{1, 64, 1280}, {1280, 5120}}, {{1, 64, 5120}, {5120, 1280}},
      {{1, 77, 768}, {768, 320}}, {{2, 33, 200}, {200, 72}}};
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
    for (const auto& [a_dims, w_dims] : cases)
      for (bool residual : {false, true}) {
        Node node = make_node("MatMulBias", residual ? 4 : 3);
        node.domain = kNormrtDomain;
        Tensor a = random_tensor(dtype, a_dims), w = random_tensor(dtype, w_dims);
        Tensor bias = random_tensor(dtype, {w_dims[1]});
        Dims y_dims = a_dims;
        y_dims.back() = w_dims[1];
        Tensor r = random_tensor(dtype, y_dims);
        std::vector<const Tensor*> inputs{&a, &w, &bias};
        if (residual) inputs.push_back(&r);
        const Tolerance tol = tolerance_for(dtype, a_dims.back());
        const std::string what = std::string(dtype_name(dtype)) + " [" + dims_to_string(a_dims) + "] x [" +
                                 dims_to_string(w_dims) + "]" + (residual ? " + residual" : "");
        std::string tuned;
        ASSERT_NO_THROW(run_cuda_node("cublaslt_matmul_bias", node, 17, inputs, "", &tuned)) << what;
        EXPECT_NE(tuned.find("lt_splitk="), std::string::npos) << what << ": tuned '" << tuned << "'";
        EXPECT_EQ(check_node("cublaslt_matmul_bias", node, inputs, tol, tuned), "") << what;
        for (int64_t splits : {2, 3, 8, 16}) {
          const std::string config = with_value(with_value(tuned, "lt_splitk", splits), "lt_reduction", 2);
          EXPECT_EQ(check_node("cublaslt_matmul_bias", node, inputs, tol, config), "") << what << " '" << config << "'";
        }
      }
}

// ai.normrt MatMulGroup: n projections of one tensor as one pointer-array GEMM (q, k, v of the UNet at batch 1 and
// 3, odd sizes, a single row, the most the pointer list takes, an empty reduction).
TEST(CublasMatMulGroup, MatchesReference) {
  NORMRT_REQUIRE_GPU();
  struct Case {
    Dims a, w;
    size_t count;
  };
  const std::vector<Case> cases = {{{1, 1024, 320}, {320, 320}, 3}, {{3, 256, 64}, {64, 64}, 3}, {{5, 33, 17}, {17, 31}, 2},
                                   {{7, 5}, {5, 9}, 8},              {{1, 1, 8}, {8, 3}, 4},      {{2, 3, 0}, {0, 5}, 2}};
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
    for (const Case& c : cases) {
      Node node = make_node("MatMulGroup", c.count + 1, c.count);
      node.domain = kNormrtDomain;
      const Tensor a = random_tensor(dtype, c.a);
      std::vector<Tensor> ws;
      for (size_t i = 0; i < c.count; ++i) ws.push_back(random_tensor(dtype, c.w));
      std::vector<const Tensor*> inputs{&a};
      for (const Tensor& w : ws) inputs.push_back(&w);
      EXPECT_EQ(check_node("cublas_matmul_group", node, inputs, tolerance_for(dtype, std::max<int64_t>(1, c.a.back()))), "")
          << "MatMulGroup x" << c.count << " " << dtype_name(dtype) << " [" << dims_to_string(c.a) << "] x ["
          << dims_to_string(c.w) << "]";
    }
}

// ai.normrt PermutedMatMul: the transposes read and written in place by strided GEMMs (attention's head split
// and merge at batch 1 and 3, an operand through op T, a broadcast batch, float16 with d = 40 as in SD-1.5).
TEST(CublasPermutedMatMul, MatchesReference) {
  NORMRT_REQUIRE_GPU();
  struct Case {
    Dims a, b;
    std::vector<int64_t> pa, pb, py;
  };
  const std::vector<Case> cases = {
      {{1, 64, 8, 40}, {1, 64, 8, 40}, {0, 2, 1, 3}, {0, 2, 3, 1}, {}},
      {{3, 33, 5, 16}, {3, 33, 5, 16}, {0, 2, 1, 3}, {0, 2, 3, 1}, {}},
      {{3, 5, 33, 33}, {3, 33, 5, 16}, {}, {0, 2, 1, 3}, {0, 2, 1, 3}},
      {{2, 8, 64, 64}, {2, 64, 8, 40}, {}, {0, 2, 1, 3}, {0, 2, 1, 3}},
      {{3, 7, 6}, {3, 7, 2}, {0, 2, 1}, {}, {}},
      {{6, 4}, {2, 6, 5}, {1, 0}, {}, {}},
      {{2, 9, 4}, {5, 4}, {}, {1, 0}, {}},
  };
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
    for (const Case& c : cases) {
      Node node = make_node("PermutedMatMul", 2);
      node.domain = kNormrtDomain;
      if (!c.pa.empty()) set_ints(node, "perm_a", c.pa);
      if (!c.pb.empty()) set_ints(node, "perm_b", c.pb);
      if (!c.py.empty()) set_ints(node, "perm_y", c.py);
      Tensor a = random_tensor(dtype, c.a), b = random_tensor(dtype, c.b);
      const int64_t k = c.pa.empty() ? c.a.back() : c.a[static_cast<size_t>(c.pa.back())];
      EXPECT_EQ(check_node("cublas_permuted_matmul", node, {&a, &b}, tolerance_for(dtype, k)), "")
          << "PermutedMatMul " << dtype_name(dtype) << " [" << dims_to_string(c.a) << "] x [" << dims_to_string(c.b)
          << "]";
    }
}

TEST(CublasGemm, MatchesReference) {
  NORMRT_REQUIRE_GPU();
  const int64_t M = 7, K = 5, N = 9;
  const std::vector<Dims> c_shapes = {{}, {N}, {1, N}, {M, 1}, {M, N}, {1, 1}};
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
    for (int trans_a = 0; trans_a < 2; ++trans_a)
      for (int trans_b = 0; trans_b < 2; ++trans_b)
        for (int c_case = -1; c_case < static_cast<int>(c_shapes.size()); ++c_case)
          for (const auto& [alpha, beta] :
               std::vector<std::pair<float, float>>{{1.0f, 1.0f}, {0.5f, -2.0f}, {1.5f, 0.0f}}) {
            Node node = make_node("Gemm", c_case < 0 ? 2 : 3);
            set_int(node, "transA", trans_a);
            set_int(node, "transB", trans_b);
            set_float(node, "alpha", alpha);
            set_float(node, "beta", beta);
            Tensor a = random_tensor(dtype, trans_a ? Dims{K, M} : Dims{M, K});
            Tensor b = random_tensor(dtype, trans_b ? Dims{N, K} : Dims{K, N});
            std::vector<const Tensor*> inputs{&a, &b};
            Tensor c;
            if (c_case >= 0) {
              c = random_tensor(dtype, c_shapes[c_case]);
              inputs.push_back(&c);
            }
            EXPECT_EQ(check_node("cublas_gemm", node, inputs, tolerance_for(dtype, K)), "")
                << dtype_name(dtype) << " transA " << trans_a << " transB " << trans_b << " C case " << c_case
                << " alpha " << alpha << " beta " << beta;
          }
}

TEST(CublasGemm, LargerShapes) {
  NORMRT_REQUIRE_GPU();
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
    for (const auto& [m, k, n] :
         std::vector<std::tuple<int64_t, int64_t, int64_t>>{{1, 2048, 1000}, {5, 512, 33}, {64, 96, 128}}) {
      Node node = make_node("Gemm", 3);
      set_int(node, "transB", 1);  // a Linear layer as PyTorch exports it
      Tensor a = random_tensor(dtype, {m, k}), b = random_tensor(dtype, {n, k}), c = random_tensor(dtype, {n});
      EXPECT_EQ(check_node("cublas_gemm", node, {&a, &b, &c}, tolerance_for(dtype, k)), "") << dtype_name(dtype);
    }
}

}  // namespace
}  // namespace testing
}  // namespace cuda
}  // namespace normrt
