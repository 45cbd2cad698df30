// ai.normrt Attention on CUDA (cuda_attention: the float16 and the TF32 flash kernels) against the CPU reference on
// fresh random data: batch 1 to 5, one to eight heads, every head-size class up to 160 (SD-1.5's 40, 80 and 160
// among them), query and key lengths off the tiles (1, 33, 77, 130, 255, ...), mild and peaked softmaxes; what it
// refuses; and float16, tf32 and float32 engines of a written-out attention against the float32 CPU engine.
#include <cmath>
#include <tuple>

#include "cuda/attention.h"
#include "cuda_kernel_test_util.h"
#include "dnn_test_util.h"
#include "engine/engine.h"

namespace normrt {
namespace cuda {
namespace testing {
namespace {

Node attention_node(float scale) {
  Node n = make_node("Attention", 3);
  n.domain = kNormrtDomain;
  set_float(n, "scale", scale);
  return n;
}

// Q [n, lq, h, d], K and V [n, lk, h, d] of fresh random data through cuda_attention against the CPU reference.
// P is rounded to fp16 (float32: Q, K, P and V to TF32, 10 mantissa bits as well) before its product, as every
// flash kernel does: about 5e-4 of each weight, averaged out.
void expect_matches_reference(DataType dtype, int64_t n, int64_t lq, int64_t lk, int64_t h, int64_t d, float scale) {
  Tensor q = random_tensor(dtype, {n, lq, h, d});
  Tensor k = random_tensor(dtype, {n, lk, h, d});
  Tensor v = random_tensor(dtype, {n, lk, h, d});
  EXPECT_EQ(check_node("cuda_attention", attention_node(scale), {&q, &k, &v}, Tolerance{3e-3, 3e-3}), "")
      << dtype_name(dtype) << " " << n << "x" << lq << "x" << lk << " heads " << h << " d " << d << " scale " << scale;
}

TEST(CudaAttention, MatchesReference) {
  NORMRT_REQUIRE_GPU();
  struct Case {
    int64_t n, lq, lk, h, d;
    float scale;  // 0: 1 / sqrt(d)
  };
  const Case cases[] = {
      {1, 1, 1, 1, 8, 0},      {2, 64, 64, 8, 40, 0},    {3, 77, 130, 2, 80, 0},  {1, 100, 33, 3, 160, 0},
      {2, 65, 1, 1, 16, 0},    {4, 257, 255, 5, 72, 1},  {1, 1024, 1024, 2, 40, 0}, {2, 64, 64, 8, 160, 1},
      {1, 63, 200, 1, 112, 0}, {5, 3, 70, 7, 24, -0.5f}, {1, 300, 64, 1, 8, 0},   {2, 129, 191, 3, 96, 0},
      {1, 40, 50, 2, 136, 0},  {1, 17, 300, 1, 56, 2},
      // Few query blocks: the keys split over up to 8 blocks, unevenly here (700 keys: 11 tiles of 64 for float16,
      // 22 of 32 for float32, in 8 splits), and a combine merges them; so do most of the small cases above.
      {1, 100, 700, 3, 64, 0},
      // Enough query blocks (320) for the GPU: one block per query block.
      {4, 512, 512, 10, 64, 0},
      // float16 heads of 48 and 64 with two blocks of 128 queries per SM (360 and 336 blocks: up to 168 SMs): two
      // m-tiles a warp, queries off the 128-query block.
      {8, 600, 130, 9, 64, 0}, {7, 700, 77, 8, 40, 0},
  };
  for (DataType dtype : {DataType::kFloat16, DataType::kFloat32})
    for (const Case& c : cases)
      expect_matches_reference(dtype, c.n, c.lq, c.lk, c.h, c.d,
                               c.scale != 0 ? c.scale : 1.0f / std::sqrt(static_cast<float>(c.d)));
}

// The kernels take a positive scale: a negative one negates Q, and 0 (every key weighs the same, the output is the
// mean of V) runs as the smallest normal float. Both against the reference, at one and two m-tiles a warp (the last
// shape, float16).
TEST(CudaAttention, ZeroAndNegativeScalesMatchReference) {
  NORMRT_REQUIRE_GPU();
  const int64_t shapes[][5] = {{1, 70, 90, 2, 40}, {4, 1000, 300, 8, 40}, {2, 33, 129, 3, 80}, {7, 700, 77, 8, 40}};
  for (DataType dtype : {DataType::kFloat16, DataType::kFloat32})
    for (const auto& s : shapes)
      for (float scale : {0.0f, -0.125f, -1.0f}) expect_matches_reference(dtype, s[0], s[1], s[2], s[3], s[4], scale);
}

// The planner on its own, for devices that need not be present (this runs without a GPU, in CI too): two m-tiles a
// warp only for float16 heads padded to 48 or 64 whose 128-query blocks give every SM two; key splits only where
// the query blocks are too few, within 1..8 and never more than the key tiles allow.
TEST(CudaAttentionPlan, TwoMTilesAndKeySplitsWhereTheyWereMeasuredFaster) {
  struct Want {
    int64_t n, l, h, d;
    DataType dtype;
    int m_tiles, splits;
  };
  const Want wants[] = {
      {8, 1024, 8, 40, DataType::kFloat16, 2, 1},   // 512 blocks of 128 on 132 SMs
      {2, 4096, 8, 40, DataType::kFloat16, 2, 1},
      {1, 4096, 8, 40, DataType::kFloat16, 1, 1},   // 256 blocks of 128 would split the keys; 512 of 64 do not
      {4, 2048, 16, 64, DataType::kFloat16, 2, 1},
      {8, 1024, 8, 32, DataType::kFloat16, 1, 1},   // heads of 32: one m-tile was faster
      {8, 1024, 8, 80, DataType::kFloat16, 1, 1},   // heads of 80: the registers of two would spill
      {8, 1024, 8, 40, DataType::kFloat32, 1, 1},   // the TF32 kernel has one m-tile
      {1, 1024, 8, 40, DataType::kFloat16, 1, 2},   // SD-1.5's batch 1: 128 blocks, 16 key tiles of 64
      {1, 1024, 8, 40, DataType::kFloat32, 1, 5},   // 32 key tiles of 32: about four blocks an SM
      {1, 64, 8, 160, DataType::kFloat16, 1, 1},    // one key tile: nothing to split
  };
  for (const Want& w : wants) {
    const AttentionPlan plan = plan_attention(w.n, w.h, w.l, w.l, w.d, w.dtype, 132);
    EXPECT_EQ(plan.m_tiles, w.m_tiles) << w.n << "x" << w.l << "x" << w.h << "x" << w.d << " " << dtype_name(w.dtype);
    EXPECT_EQ(plan.block_rows, 64 * plan.m_tiles);
    EXPECT_EQ(plan.splits, w.splits) << w.n << "x" << w.l << "x" << w.h << "x" << w.d << " " << dtype_name(w.dtype);
  }
  // No device count: the plain plan.
  const AttentionPlan plain = plan_attention(8, 8, 1024, 1024, 40, DataType::kFloat16, 0);
  EXPECT_EQ(plain.m_tiles, 1);
  EXPECT_EQ(plain.splits, 1);
  // Every plan of a sweep: splits within 1..8 and at most the key tiles; two m-tiles only for float16 heads of 48
  // and 64.
  for (int sms : {16, 114, 132})
    for (DataType dtype : {DataType::kFloat16, DataType::kFloat32})
      for (int64_t n : {1, 2, 8, 32})
        for (int64_t l : {1, 63, 64, 65, 197, 1024, 4096})
          for (int64_t d : {8, 40, 64, 72, 160}) {
            const AttentionPlan plan = plan_attention(n, 8, l, l, d, dtype, sms);
            const int64_t keys_per_tile = dtype == DataType::kFloat16 ? 64 : 32;
            const int64_t tiles = (l + keys_per_tile - 1) / keys_per_tile;
            EXPECT_GE(plan.splits, 1);
            EXPECT_LE(plan.splits, std::max<int64_t>(1, std::min<int64_t>(8, tiles)));
            if (plan.m_tiles == 2) {
              EXPECT_TRUE(dtype == DataType::kFloat16 && (d + 15) / 16 * 16 >= 48 && d <= 64);
            }
          }
}

TEST(CudaAttention, RefusesWhatItCannotRun) {
  NORMRT_REQUIRE_GPU();
  Tensor q = random_tensor(DataType::kFloat16, {1, 4, 2, 12});  // head size 12: not a multiple of 8
  EXPECT_THROW(run_cuda_node("cuda_attention", attention_node(1), 1, {&q, &q, &q}), std::exception);
  Tensor big = random_tensor(DataType::kFloat16, {1, 4, 1, 168});  // beyond 160
  EXPECT_THROW(run_cuda_node("cuda_attention", attention_node(1), 1, {&big, &big, &big}), std::exception);
  Tensor f64 = random_tensor(DataType::kFloat64, {1, 4, 2, 16});
  EXPECT_THROW(run_cuda_node("cuda_attention", attention_node(1), 1, {&f64, &f64, &f64}), std::exception);
  Tensor none = random_tensor(DataType::kFloat16, {1, 0, 2, 16});
  Tensor some = random_tensor(DataType::kFloat16, {1, 4, 2, 16});
  try {
    run_cuda_node("cuda_attention", attention_node(1), 1, {&some, &none, &none});
    ADD_FAILURE() << "no keys ran";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("K and V have no tokens"), std::string::npos) << e.what();
  }
}

// x [N, L, C] -> q, k, v heads [N, 2, L, 40] -> softmax(q k^T / sqrt(40)) v -> [N, L, C], as PyTorch exports it.
Graph attention_graph(int64_t length) {
  const int64_t heads = 2, d = 40, c = heads * d;
  Graph g;
  g.name = "attention";
  g.opsets[""] = 17;
  g.inputs.push_back(ValueInfo{"x", DataType::kFloat32, Shape({Dim::unknown("batch"), length, c})});
  auto ints = [](std::vector<int64_t> v) {
    Tensor t(DataType::kInt64, {static_cast<int64_t>(v.size())});
    for (size_t i = 0; i < v.size(); ++i) t.data<int64_t>()[i] = v[i];
    return t;
  };
  g.initializers["split"] = ints({0, length, heads, d});
  g.initializers["merge"] = ints({0, length, c});
  Tensor scale(DataType::kFloat32, {});
  scale.data<float>()[0] = 1.0f / std::sqrt(static_cast<float>(d));
  g.initializers["c"] = scale;
  auto add = [&](const std::string& op, std::vector<std::string> in, const std::string& out) -> Node& {
    Node n;
    n.op_type = op;
    n.name = op + "_" + out;
    n.inputs = std::move(in);
    n.outputs = {out};
    g.nodes.push_back(std::move(n));
    return g.nodes.back();
  };
  for (const std::string s : {"q", "k", "v"}) {
    // About twice nn.Linear's initial range: scores with a standard deviation near 1.4 after the scale. At +-0.3
    // (3 to 4) fp16 alone (x, the projections and P rounded) put the unfused fp16 chain over 1e-2 in a numpy
    // simulation; the kernel's own tolerance is tested above on peaked scores.
    g.initializers["w" + s] = random_tensor(DataType::kFloat32, {c, c}, -0.2, 0.2);
    add("MatMul", {"x", "w" + s}, s + "_lin");
    add("Reshape", {s + "_lin", "split"}, s + "_heads");
    set_ints(add("Transpose", {s + "_heads"}, s + "_t"), "perm", s == "k" ? std::vector<int64_t>{0, 2, 3, 1}
                                                                       : std::vector<int64_t>{0, 2, 1, 3});
  }
  add("MatMul", {"q_t", "k_t"}, "scores");
  add("Mul", {"scores", "c"}, "scaled");
  set_int(add("Softmax", {"scaled"}, "probs"), "axis", -1);
  add("MatMul", {"probs", "v_t"}, "o");
  set_ints(add("Transpose", {"o"}, "o_t"), "perm", {0, 2, 1, 3});
  add("Reshape", {"o_t", "merge"}, "y");
  g.outputs.push_back(ValueInfo{"y", DataType::kUndefined, Shape()});
  return g;
}

TEST(CudaAttention, EnginesFuseTheWrittenOutAttention) {
  NORMRT_REQUIRE_GPU();
  const int64_t length = 200;
  auto options = [&](const std::string& device, const std::string& precision) {
    BuildOptions o;
    o.device = device;
    o.precision = precision;
    o.profiles.push_back(Profile{{{"x", ShapeRange{{1, length, 80}, {2, length, 80}, {4, length, 80}}}}});
    return o;
  };
  const Graph graph = attention_graph(length);  // one set of random weights for every engine
  auto cpu = build_engine(graph, options("cpu", "float32"));
  ExecutionContext on_cpu(cpu);
  // float16 and tf32 engines run the written-out attention as one node; strict float32 keeps the GEMMs (the
  // fused float32 kernel computes in TF32).
  for (const auto& [precision, fused_nodes, tolerance] :
       {std::tuple<const char*, int, double>{"float16", 1, 1e-2}, {"tf32", 1, 1e-2}, {"float32", 0, 1e-5}}) {
    auto gpu = build_engine(graph, options("cuda", precision));
    int fused = 0;
    for (const Node& n : gpu->graph.nodes) fused += n.op_type == "Attention";
    EXPECT_EQ(fused, fused_nodes) << precision;
    ExecutionContext on_gpu(gpu);
    for (int64_t batch : {1, 3, 4}) {
      std::map<std::string, Tensor> in = {{"x", random_tensor(DataType::kFloat32, {batch, length, 80}, -2, 2)}};
      const auto got = on_gpu.run(in), want = on_cpu.run(in);
      ASSERT_EQ(got.size(), 1u);
      EXPECT_EQ(compare_tensors(got[0].second, want[0].second, tolerance, tolerance), "")
          << precision << " batch " << batch;
    }
  }
}

}  // namespace
}  // namespace testing
}  // namespace cuda
}  // namespace normrt
