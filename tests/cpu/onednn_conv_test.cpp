// onednn_conv and onednn_conv_transpose against the reference kernels on random data over many shapes, the
// per-node cache (reuse per shape, weights changed in place), what accepts() declines and the fallback.
#include <any>

#include "../ops/conv_naive.h"
#include "cpu/cpu_kernel.h"
#include "test_util.h"

namespace normrt::test {
namespace {

const CpuKernel& kernel(const std::string& name) {
  const CpuKernel* k = CpuKernelRegistry::global().find(name);
  if (!k) throw Error(ErrorCode::kInternal, "kernel " + name + " is not registered");
  return *k;
}

Node node_for(const std::string& op, const ConvCase& c, bool bias, const std::string& auto_pad = "") {
  Node n = make_node(op, bias ? 3 : 2);
  set_ints(n, "strides", c.strides);
  set_ints(n, "dilations", c.dilations);
  if (auto_pad.empty())
    set_ints(n, "pads", c.pads);
  else
    set_string(n, "auto_pad", auto_pad);
  set_int(n, "group", c.group);
  if (!c.output_padding.empty()) set_ints(n, "output_padding", c.output_padding);
  return n;
}

std::vector<TypeShape> types_of(const std::vector<const Tensor*>& inputs) {
  std::vector<TypeShape> t;
  for (const Tensor* i : inputs) t.push_back(i ? TypeShape{i->dtype(), Shape::from_dims(i->dims())} : TypeShape{});
  return t;
}

// Fast vs reference for one node; also checks that accepts() takes it.
void compare(const std::string& op, const Node& n, const ConvCase& c, bool bias) {
  const bool transpose = op == "ConvTranspose";
  Tensor x = random_tensor(c.x);
  Tensor w = random_tensor(c.weight_dims(transpose));
  Tensor b = random_tensor({c.m});
  std::vector<const Tensor*> inputs{&x, &w};
  if (bias) inputs.push_back(&b);
  const CpuKernel& k = kernel(transpose ? "onednn_conv_transpose" : "onednn_conv");
  EXPECT_TRUE(k.accepts(n, 17, types_of(inputs)));
  auto expected = run(n, inputs, 17);
  auto actual = run(n, inputs, 17, k.run);
  EXPECT_LT(relative_error(actual[0], expected[0]), 1e-4);
}

std::vector<ConvCase> conv_cases() {
  return {
      // 1-D
      {{1, 3, 7}, 4, {3}, {1}, {1}, {0, 0}},
      {{2, 4, 13}, 6, {3}, {2}, {2}, {1, 2}, 2},
      {{3, 5, 9}, 5, {5}, {1}, {1}, {2, 2}, 5},
      {{4, 16, 31}, 8, {1}, {1}, {1}, {0, 0}},
      // 2-D
      {{1, 1, 1, 1}, 1, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}},
      {{2, 3, 7, 9}, 8, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {{4, 6, 13, 11}, 4, {3, 2}, {2, 1}, {1, 2}, {0, 1, 2, 0}, 2},
      {{2, 8, 9, 9}, 8, {3, 3}, {2, 2}, {2, 2}, {2, 2, 2, 2}, 8},
      {{3, 32, 15, 15}, 32, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 32},
      {{1, 16, 14, 14}, 32, {3, 3}, {2, 2}, {1, 1}, {0, 0, 1, 1}},
      {{1, 4, 7, 7}, 8, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}},
      {{2, 64, 7, 5}, 16, {1, 1}, {2, 2}, {1, 1}, {0, 0, 0, 0}},
      {{3, 6, 5, 8}, 12, {5, 3}, {1, 3}, {1, 1}, {2, 1, 2, 1}, 3},
      {{1, 3, 23, 19}, 16, {7, 7}, {2, 2}, {1, 1}, {3, 3, 3, 3}},
      {{2, 24, 11, 13}, 48, {3, 3}, {1, 1}, {3, 3}, {3, 3, 3, 3}, 24},
      // 3-D
      {{1, 2, 5, 6, 7}, 4, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1, 1, 1, 1}},
      {{2, 4, 7, 5, 6}, 4, {2, 3, 1}, {2, 1, 2}, {1, 2, 1}, {0, 1, 0, 1, 2, 0}, 4},
      {{3, 8, 5, 5, 5}, 16, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1, 1, 1, 1}, 2},
  };
}

TEST(OnednnConv, MatchesReferenceOnManyShapes) {
  for (const ConvCase& c : conv_cases())
    for (bool bias : {false, true}) {
      SCOPED_TRACE(c.describe() + (bias ? " bias" : ""));
      compare("Conv", node_for("Conv", c, bias), c, bias);
    }
}

TEST(OnednnConv, AutoPadMatchesReference) {
  for (std::string mode : {"SAME_UPPER", "SAME_LOWER", "VALID"})
    for (const ConvCase& c :
         {ConvCase{{2, 3, 7, 10}, 4, {3, 4}, {2, 3}, {1, 1}, {}},
          ConvCase{{1, 4, 9, 8}, 4, {3, 3}, {1, 2}, {2, 1}, {}, 2}, ConvCase{{3, 2, 11}, 3, {4}, {2}, {1}, {}},
          ConvCase{{1, 2, 5, 6, 4}, 2, {2, 3, 2}, {2, 1, 1}, {1, 1, 2}, {}}}) {
      SCOPED_TRACE(mode + " " + c.describe());
      compare("Conv", node_for("Conv", c, true, mode), c, true);
    }
}

TEST(OnednnConv, RandomShapes) {
  std::mt19937 gen(1234);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(gen); };
  for (int trial = 0; trial < 40; ++trial) {
    const size_t spatial = static_cast<size_t>(pick(1, 3));
    const int64_t group = std::vector<int64_t>{1, 1, 2, 3}[static_cast<size_t>(pick(0, 3))];
    const int64_t c = group * pick(1, 4), m = group * pick(1, 4);
    Dims x{pick(1, 4), c};
    std::vector<int64_t> k, s, d, pads(2 * spatial);
    for (size_t i = 0; i < spatial; ++i) {
      k.push_back(pick(1, 3));
      s.push_back(pick(1, 2));
      d.push_back(pick(1, 2));
      pads[i] = pick(0, 2);
      pads[spatial + i] = pick(0, 2);
      const int64_t dk = (k.back() - 1) * d.back() + 1;
      x.push_back(std::max<int64_t>(dk, pick(1, spatial == 3 ? 6 : 12)));
    }
    ConvCase cc(x, m, k, s, d, pads, group);
    const bool bias = pick(0, 1) == 1;
    SCOPED_TRACE(cc.describe());
    compare("Conv", node_for("Conv", cc, bias), cc, bias);
  }
}

TEST(OnednnConvTranspose, MatchesReferenceOnManyShapes) {
  const std::vector<ConvCase> cases = {
      {{1, 3, 5}, 2, {3}, {1}, {1}, {0, 0}},
      {{2, 4, 7}, 6, {3}, {2}, {2}, {1, 2}, 2, {1}},
      {{2, 3, 4, 5}, 4, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, 1, {1, 1}},
      {{3, 4, 5, 3}, 8, {2, 3}, {3, 1}, {1, 2}, {0, 2, 2, 0}, 2, {2, 0}},
      {{1, 6, 4, 4}, 6, {3, 3}, {2, 2}, {2, 1}, {2, 1, 2, 1}, 6},
      {{4, 16, 7, 7}, 8, {4, 4}, {2, 2}, {1, 1}, {1, 1, 1, 1}},
      {{1, 2, 3, 4, 3}, 4, {2, 3, 2}, {2, 1, 2}, {1, 1, 2}, {0, 1, 1, 1, 1, 1}, 1, {1, 0, 1}},
      {{2, 4, 3, 3, 3}, 4, {3, 3, 3}, {1, 2, 1}, {1, 1, 1}, {1, 1, 1, 1, 1, 1}, 4},
      // output_padding beyond the end padding: a bias-only tail
      {{2, 3, 4, 5}, 4, {3, 3}, {2, 2}, {1, 1}, {0, 0, 0, 0}, 1, {1, 1}},
      {{1, 4, 5}, 2, {2}, {3}, {2}, {1, 0}, 2, {2}},
      {{2, 2, 3, 2, 3}, 4, {1, 2, 2}, {2, 2, 3}, {1, 1, 1}, {0, 1, 0, 0, 0, 1}, 1, {1, 0, 2}},
  };
  for (const ConvCase& c : cases)
    for (bool bias : {false, true}) {
      SCOPED_TRACE(c.describe() + (bias ? " bias" : ""));
      compare("ConvTranspose", node_for("ConvTranspose", c, bias), c, bias);
    }
}

TEST(OnednnConvTranspose, OutputShapeAndAutoPad) {
  ConvCase c{{2, 3, 4, 5}, 4, {3, 3}, {2, 2}, {1, 1}, {0, 0, 0, 0}};
  for (std::string mode : {"SAME_UPPER", "SAME_LOWER", "VALID"}) {
    SCOPED_TRACE(mode);
    compare("ConvTranspose", node_for("ConvTranspose", c, true, mode), c, true);
  }
  Node shaped = node_for("ConvTranspose", c, false);
  set_ints(shaped, "output_shape", {8, 10});
  compare("ConvTranspose", shaped, c, false);
}

TEST(OnednnConv, CachesPerShapeAndNoticesNewWeights) {
  ConvCase c{{2, 4, 9, 9}, 8, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}};
  Node n = node_for("Conv", c, true);
  const CpuKernel& k = kernel("onednn_conv");
  std::any state;
  Tensor x = random_tensor(c.x), w = random_tensor(c.weight_dims(false)), b = random_tensor({8});
  auto first = run_node(n, 17, {&x, &w, &b}, k.run, &state);
  ASSERT_TRUE(state.has_value());
  auto again = run_node(n, 17, {&x, &w, &b}, k.run, &state);
  EXPECT_EQ(relative_error(again[0], first[0]), 0.0);
  // Same weights buffer, new values: the cached reordered weights must not be used.
  for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] *= -2.0f;
  auto changed = run_node(n, 17, {&x, &w, &b}, k.run, &state);
  EXPECT_LT(relative_error(changed[0], run(n, {&x, &w, &b})[0]), 1e-4);
  // Another batch size and another spatial size get their own primitives; the first shape still works.
  Tensor x2 = random_tensor({3, 4, 7, 11});
  EXPECT_LT(relative_error(run_node(n, 17, {&x2, &w, &b}, k.run, &state)[0], run(n, {&x2, &w, &b})[0]), 1e-4);
  EXPECT_LT(relative_error(run_node(n, 17, {&x, &w, &b}, k.run, &state)[0], run(n, {&x, &w, &b})[0]), 1e-4);
}

TEST(OnednnConv, ManyShapesThroughOneStateAndEmptyBatch) {
  // More shapes than the cache holds: old entries are evicted and rebuilt, results stay right.
  ConvCase c{{1, 3, 6, 6}, 4, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}};
  Node n = node_for("Conv", c, false);
  const CpuKernel& k = kernel("onednn_conv");
  std::any state;
  Tensor w = random_tensor(c.weight_dims(false));
  for (int round = 0; round < 2; ++round)
    for (int64_t h = 3; h < 15; ++h) {
      Tensor x = random_tensor({1 + h % 3, 3, h, 20 - h});
      EXPECT_LT(relative_error(run_node(n, 17, {&x, &w}, k.run, &state)[0], run(n, {&x, &w})[0]), 1e-4) << h;
    }
  Tensor empty = random_tensor({0, 3, 6, 6});
  auto out = run_node(n, 17, {&empty, &w}, k.run, &state);
  EXPECT_EQ(out[0].dims(), (Dims{0, 4, 3, 3}));
}

TEST(OnednnConv, AcceptsOnlyWhatItRuns) {
  ConvCase c{{1, 4, 8, 8}, 4, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}};
  const CpuKernel& conv = kernel("onednn_conv");
  const Shape x = Shape({Dim::unknown("batch"), 4, 8, 8}), w = Shape::from_dims(c.weight_dims(false));
  Node n = node_for("Conv", c, false);
  EXPECT_TRUE(conv.accepts(n, 17, {{DataType::kFloat32, x}, {DataType::kFloat32, w}}));
  EXPECT_TRUE(conv.accepts(n, 17, {{DataType::kFloat32, Shape()}, {DataType::kFloat32, w}}));
  EXPECT_FALSE(conv.accepts(n, 17, {{DataType::kFloat16, x}, {DataType::kFloat16, w}}));
  EXPECT_FALSE(conv.accepts(n, 17, {{DataType::kFloat32, Shape()}, {DataType::kFloat32, Shape()}}));
  Node negative = n;
  set_ints(negative, "pads", {-1, 0, 0, 0});
  EXPECT_FALSE(conv.accepts(negative, 17, {{DataType::kFloat32, x}, {DataType::kFloat32, w}}));
  // ConvTranspose with SAME padding and a kernel shorter than the stride needs negative padding, which oneDNN
  // lacks: the kernel falls back to the reference and stays exact.
  const CpuKernel& deconv = kernel("onednn_conv_transpose");
  ConvCase t{{2, 3, 4, 5}, 4, {1, 1}, {2, 3}, {1, 1}, {0, 0, 0, 0}};
  Node tn = node_for("ConvTranspose", t, true, "SAME_UPPER");
  Tensor x5 = random_tensor(t.x), w5 = random_tensor(t.weight_dims(true)), b5 = random_tensor({4});
  EXPECT_EQ(relative_error(run(tn, {&x5, &w5, &b5}, 17, deconv.run)[0], run(tn, {&x5, &w5, &b5})[0]), 0.0);
}

}  // namespace
}  // namespace normrt::test
