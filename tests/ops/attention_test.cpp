// ai.normrt Attention (attention_fusion's one node): the reference equals the head-split Transposes, MatMul, scale,
// Softmax, MatMul and head-merge Transpose written out, at odd sizes, Lq != Lk, batch > 1 and peaked softmaxes;
// shape inference and its errors.
#include "conv_naive.h"
#include "test_util.h"

namespace normrt::test {
namespace {

Node attention_node(float scale) {
  Node n = make_node("Attention", 3);
  n.domain = kNormrtDomain;
  set_float(n, "scale", scale);
  return n;
}

// The chain attention_fusion replaces, op by op on the reference kernels.
Tensor written_out(const Tensor& q, const Tensor& k, const Tensor& v, float scale) {
  auto transpose = [](const Tensor& t, std::vector<int64_t> perm) {
    Node n = make_node("Transpose", 1);
    set_ints(n, "perm", perm);
    return run(n, {&t})[0];
  };
  const Tensor qt = transpose(q, {0, 2, 1, 3}), kt = transpose(k, {0, 2, 3, 1}), vt = transpose(v, {0, 2, 1, 3});
  const Tensor scores = run(make_node("MatMul", 2), {&qt, &kt})[0];
  const Tensor c = float_tensor({scale}, {});
  const Tensor scaled = run(make_node("Mul", 2), {&scores, &c})[0];
  Node softmax = make_node("Softmax", 1);
  set_int(softmax, "axis", -1);
  const Tensor p = run(softmax, {&scaled})[0];
  const Tensor o = run(make_node("MatMul", 2), {&p, &vt})[0];
  return transpose(o, {0, 2, 1, 3});
}

TEST(Attention, IsTheChainWrittenOut) {
  struct Case {
    int64_t n, lq, lk, h, d, dv;
    float scale;
  };
  const Case cases[] = {
      {1, 1, 1, 1, 1, 1, 1.0f},    {2, 7, 5, 3, 4, 4, 0.5f},   {3, 16, 33, 2, 8, 5, 0.35f},
      {1, 9, 9, 4, 16, 16, 4.0f},  // peaked: scores of tens, the max subtraction matters
      {2, 1, 40, 1, 3, 7, -1.0f},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::to_string(c.n) + "x" + std::to_string(c.lq) + "x" + std::to_string(c.lk) + " heads " +
                 std::to_string(c.h) + " d " + std::to_string(c.d) + " scale " + std::to_string(c.scale));
    const Tensor q = random_tensor({c.n, c.lq, c.h, c.d}, -2, 2), k = random_tensor({c.n, c.lk, c.h, c.d}, -2, 2);
    const Tensor v = random_tensor({c.n, c.lk, c.h, c.dv}, -2, 2);
    const Tensor y = run(attention_node(c.scale), {&q, &k, &v})[0];
    EXPECT_EQ(y.dims(), (Dims{c.n, c.lq, c.h, c.dv}));
    EXPECT_LT(relative_error(y, written_out(q, k, v, c.scale)), 1e-5);
  }
}

TEST(Attention, ShapeInferenceAndErrors) {
  const Node n = attention_node(0.125f);
  const Dim batch = Dim::unknown("batch");
  EXPECT_EQ(infer_shapes(n, {Shape({batch, 1024, 8, 40}), Shape({batch, 77, 8, 40}), Shape({batch, 77, 8, 64})}, 1)[0]
                .shape.to_string(),
            "[batch,1024,8,64]");
  expect_error([&] { infer_shapes(n, {Shape({2, 5, 3}), Shape({2, 5, 3, 4}), Shape({2, 5, 3, 4})}, 1); },
               {"Q [2,5,3] must have rank 4 ([N, L, H, D])"});
  expect_error([&] { infer_shapes(n, {Shape({2, 5, 3, 4}), Shape({2, 5, 3, 8}), Shape({2, 5, 3, 4})}, 1); },
               {"Q's head size is 4 but K's is 8"});
  expect_error([&] { infer_shapes(n, {Shape({2, 5, 3, 4}), Shape({2, 6, 3, 4}), Shape({2, 5, 3, 4})}, 1); },
               {"K's length is 6 but V's is 5"});
  expect_error([&] { infer_shapes(n, {Shape({2, 5, 3, 4}), Shape({2, 5, 2, 4}), Shape({2, 5, 3, 4})}, 1); },
               {"Q's heads is 3 but K's is 2"});
  expect_error([&] { infer_shapes(n, {Shape({2, 5, 3, 4}), Shape({2, 0, 3, 4}), Shape({2, 0, 3, 4})}, 1); },
               {"K and V have no tokens", "undefined"});
  expect_error([&] {
    infer_shapes(n, {Shape({2, 5, 3, 4}), Shape({2, 5, 3, 4}), Shape({2, 5, 3, 4})}, 1, {},
                 {DataType::kFloat16, DataType::kFloat32, DataType::kFloat16});
  }, {"K has type float32 but Q has type float16"});
  expect_error([&] {
    infer_shapes(n, {Shape({2, 5, 3, 4}), Shape({2, 5, 3, 4}), Shape({2, 5, 3, 4})}, 1, {},
                 {DataType::kInt64, DataType::kInt64, DataType::kInt64});
  }, {"Q has type int64", "expected float32, float16"});
  Node two = make_node("Attention", 2);
  two.domain = kNormrtDomain;
  expect_error([&] { infer_shapes(two, {Shape({2, 5, 3, 4}), Shape({2, 5, 3, 4})}, 1); }, {"takes three inputs"});
}

}  // namespace
}  // namespace normrt::test
