// InstanceNormalization, GroupNormalization (18 and 21), LayerNormalization, BatchNormalization and the
// ai.normrt GroupNorm / LayerNorm reference kernels, against hand-computed values and a naive computation here.
#include <cmath>
#include <functional>
#include <tuple>

#include "ops/activation_math.h"
#include "test_util.h"

namespace normrt::test {
namespace {

// Independent formulas for the fused activations (erf rather than erfc, no shared code with the library).
double naive_activation(const std::string& name, double x, double alpha) {
  if (name.empty()) return x;
  if (name == "Relu") return std::max(x, 0.0);
  if (name == "LeakyRelu") return x < 0 ? alpha * x : x;
  if (name == "Elu") return x <= 0 ? alpha * (std::exp(x) - 1) : x;
  if (name == "Sigmoid") return 1 / (1 + std::exp(-x));
  if (name == "Silu") return x * (1 / (1 + std::exp(-x)));
  if (name == "Gelu") return x * 0.5 * (1 + std::erf(x / std::sqrt(2.0)));
  if (name == "GeluTanh") return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * std::pow(x, 3))));
  if (name == "Tanh") return std::tanh(x);
  if (name == "HardSwish") return x * std::max(0.0, std::min(1.0, x / 6 + 0.5));
  ADD_FAILURE() << "unknown activation " << name;
  return 0;
}

const std::vector<std::string> kActivations = {"",        "Relu", "LeakyRelu", "Elu",  "Sigmoid",
                                               "Silu",    "Gelu", "GeluTanh",  "Tanh", "HardSwish"};

// y[n, c, s] = act((x - mean) / sqrt(var + eps) * gamma(c) + beta(c)) + residual, statistics over the group
// of channel c, computed channel by channel.
Tensor naive_group_norm(const Tensor& x, int64_t groups, double eps, const std::function<double(int64_t)>& gamma,
                        const std::function<double(int64_t)>& beta, const std::string& act = "", double alpha = 0,
                        const Tensor* residual = nullptr) {
  const int64_t N = x.dims()[0], C = x.dims()[1];
  const int64_t S = x.numel() / std::max<int64_t>(1, N * C);
  const int64_t cpg = C / groups;
  Tensor y(x.dtype(), x.dims());
  auto at = [&](int64_t n, int64_t c, int64_t s) { return (n * C + c) * S + s; };
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t g = 0; g < groups; ++g) {
      double sum = 0;
      for (int64_t c = g * cpg; c < (g + 1) * cpg; ++c)
        for (int64_t s = 0; s < S; ++s) sum += element_as_double(x, at(n, c, s));
      const double count = static_cast<double>(cpg * S);
      const double mean = sum / count;
      double var = 0;
      for (int64_t c = g * cpg; c < (g + 1) * cpg; ++c)
        for (int64_t s = 0; s < S; ++s) var += std::pow(element_as_double(x, at(n, c, s)) - mean, 2) / count;
      for (int64_t c = g * cpg; c < (g + 1) * cpg; ++c)
        for (int64_t s = 0; s < S; ++s) {
          const int64_t i = at(n, c, s);
          double v = (element_as_double(x, i) - mean) / std::sqrt(var + eps) * gamma(c) + beta(c);
          v = naive_activation(act, v, alpha);
          if (residual) v += element_as_double(*residual, i);
          set_element_from_double(y, i, v);
        }
    }
  }
  return y;
}

// LayerNorm over dims [axis, rank) with scale / bias given per normalized element (already broadcast).
Tensor naive_layer_norm(const Tensor& x, int64_t axis, double eps, const std::vector<double>& gamma,
                        const std::vector<double>& beta, std::vector<double>* means = nullptr,
                        std::vector<double>* inv_stds = nullptr, const std::string& act = "", double alpha = 0,
                        const Tensor* residual = nullptr) {
  int64_t rows = 1;
  for (int64_t d = 0; d < axis; ++d) rows *= x.dims()[d];
  const int64_t len = x.numel() / rows;
  Tensor y(x.dtype(), x.dims());
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t k = 0; k < len; ++k) mean += element_as_double(x, r * len + k) / len;
    for (int64_t k = 0; k < len; ++k) var += std::pow(element_as_double(x, r * len + k) - mean, 2) / len;
    const double inv_std = 1 / std::sqrt(var + eps);
    if (means) means->push_back(mean);
    if (inv_stds) inv_stds->push_back(inv_std);
    for (int64_t k = 0; k < len; ++k) {
      double v = (element_as_double(x, r * len + k) - mean) * inv_std;
      v = v * (gamma.empty() ? 1 : gamma[k]) + (beta.empty() ? 0 : beta[k]);
      v = naive_activation(act, v, alpha);
      if (residual) v += element_as_double(*residual, r * len + k);
      set_element_from_double(y, r * len + k, v);
    }
  }
  return y;
}

std::vector<double> values_of(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(element_as_double(t, i));
  return v;
}

// Runs the node's shape function on the given (possibly symbolic) input types.
std::vector<TypeShape> infer(const Node& node, const std::vector<TypeShape>& inputs, int64_t opset,
                             const std::vector<const Tensor*>& values = {}) {
  InferContext ctx(node, opset);
  ctx.inputs = inputs;
  ctx.values = values;
  ctx.values.resize(inputs.size(), nullptr);
  find_schema(node)->infer(ctx);
  return ctx.outputs;
}

Shape symbolic(std::vector<Dim> dims) { return Shape(std::move(dims)); }

Node fused_node(const std::string& op, size_t inputs) {
  Node n = make_node(op, inputs);
  n.domain = kNormrtDomain;
  return n;
}

Tensor to_float16(const Tensor& t) {
  Tensor h(DataType::kFloat16, t.dims());
  for (int64_t i = 0; i < t.numel(); ++i) set_element_from_double(h, i, element_as_double(t, i));
  return h;
}

// ---------------------------------------------------------------------------------------------------------
// InstanceNormalization

TEST(InstanceNormalization, HandComputed) {
  // Channel 0 holds {1, 3}: mean 2, variance 1; channel 1 holds {2, 6}: mean 4, variance 4.
  Tensor x = float_tensor({1, 3, 2, 6}, {1, 2, 1, 2});
  Tensor scale = float_tensor({2, 1}, {2});
  Tensor bias = float_tensor({0.5f, 0}, {2});
  Node node = make_node("InstanceNormalization", 3);
  set_float(node, "epsilon", 0.0f);
  auto out = run(node, {&x, &scale, &bias}, 11);
  const std::vector<float> expected = {-1.5f, 2.5f, -1.0f, 1.0f};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(out[0].data<float>()[i], expected[i], 1e-6) << i;
}

TEST(InstanceNormalization, MatchesNaiveAtManyShapes) {
  const std::vector<Dims> shapes = {{1, 1, 1}, {2, 3, 7}, {3, 7, 13}, {1, 4, 3, 5}, {2, 2, 2, 3, 2}, {4, 13, 1, 1}};
  for (const Dims& dims : shapes) {
    Tensor x = random_tensor(dims, -3, 5);
    Tensor scale = random_tensor({dims[1]});
    Tensor bias = random_tensor({dims[1]});
    Node node = make_node("InstanceNormalization", 3);
    set_float(node, "epsilon", 1e-3f);
    for (int64_t opset : {11, 17, 21}) {
      auto out = run(node, {&x, &scale, &bias}, opset);
      Tensor expected = naive_group_norm(x, dims[1], 1e-3, [&](int64_t c) { return scale.data<float>()[c]; },
                                         [&](int64_t c) { return bias.data<float>()[c]; });
      EXPECT_LT(relative_error(out[0], expected), 1e-6) << dims_to_string(dims) << " opset " << opset;
    }
  }
}

TEST(InstanceNormalization, Float16ComputesStatisticsInFloat) {
  Tensor x32 = random_tensor({2, 3, 50}, 100, 101);  // mean ~100: half precision alone would lose the variance
  Tensor x = to_float16(x32);
  Tensor scale = to_float16(random_tensor({3}));
  Tensor bias = to_float16(random_tensor({3}));
  auto out = run(make_node("InstanceNormalization", 3), {&x, &scale, &bias});
  ASSERT_EQ(out[0].dtype(), DataType::kFloat16);
  Tensor expected = naive_group_norm(x, 3, 1e-5, [&](int64_t c) { return element_as_double(scale, c); },
                                     [&](int64_t c) { return element_as_double(bias, c); });
  EXPECT_LT(relative_error(out[0], expected), 2e-3);
}

TEST(InstanceNormalization, ShapeErrors) {
  Node node = make_node("InstanceNormalization", 3);
  Tensor x = random_tensor({2, 3, 4}), scale = random_tensor({4}), bias = random_tensor({3}), x2 = random_tensor({2, 3});
  expect_error([&] { run(node, {&x, &scale, &bias}); }, {"scale", "4 elements", "C = 3"});
  expect_error([&] { run(node, {&x2, &bias, &bias}); }, {"rank 2", "expected rank 3"});
  Tensor ints = int64_tensor({1, 2, 3, 4, 5, 6}, {1, 2, 3});
  expect_error([&] { run(node, {&ints, &bias, &bias}); }, {"X", "int64", "float32"});
  Tensor scale64(DataType::kFloat64, {3});
  expect_error([&] { run(node, {&x, &scale64, &bias}); }, {"scale", "float64", "same type"});
}

TEST(InstanceNormalization, KeepsSymbolicDims) {
  Node node = make_node("InstanceNormalization", 3);
  auto out = infer(node,
                   {{DataType::kFloat32, symbolic({Dim::unknown("batch"), 8, Dim::unknown("h"), 5})},
                    {DataType::kFloat32, symbolic({8})},
                    {DataType::kFloat32, symbolic({Dim::unknown()})}},
                   17);
  EXPECT_EQ(out[0].shape.to_string(), "[batch,8,h,5]");
  expect_error([&] { infer(node, {{DataType::kFloat32, symbolic({Dim::unknown("b"), 8, 4})},
                                  {DataType::kFloat32, symbolic({7})},
                                  {DataType::kFloat32, symbolic({8})}}, 17); },
               {"InstanceNormalization_test", "scale", "7 elements", "C = 8"});
}

// ---------------------------------------------------------------------------------------------------------
// GroupNormalization

TEST(GroupNormalization, Opset18ScalesPerGroup) {
  for (const Dims& dims : std::vector<Dims>{{1, 6, 5}, {3, 4, 2, 3}, {2, 8, 7}, {2, 6}}) {
    for (int64_t groups : {int64_t{1}, int64_t{2}, dims[1]}) {
      Tensor x = random_tensor(dims, -2, 3);
      Tensor scale = random_tensor({groups});
      Tensor bias = random_tensor({groups});
      Node node = make_node("GroupNormalization", 3);
      set_int(node, "num_groups", groups);
      const int64_t cpg = dims[1] / groups;
      auto out = run(node, {&x, &scale, &bias}, 18);
      Tensor expected = naive_group_norm(x, groups, 1e-5, [&](int64_t c) { return scale.data<float>()[c / cpg]; },
                                         [&](int64_t c) { return bias.data<float>()[c / cpg]; });
      EXPECT_LT(relative_error(out[0], expected), 1e-6) << dims_to_string(dims) << " G=" << groups;
    }
  }
}

TEST(GroupNormalization, Opset21ScalesPerChannel) {
  for (const Dims& dims : std::vector<Dims>{{1, 6, 5}, {3, 4, 2, 3}, {2, 8, 7}}) {
    for (int64_t groups : {int64_t{1}, int64_t{2}, dims[1]}) {
      Tensor x = random_tensor(dims, -2, 3);
      Tensor scale = random_tensor({dims[1]});
      Tensor bias = random_tensor({dims[1]});
      Node node = make_node("GroupNormalization", 3);
      set_int(node, "num_groups", groups);
      set_float(node, "epsilon", 0.01f);
      auto out = run(node, {&x, &scale, &bias}, 21);
      Tensor expected = naive_group_norm(x, groups, 0.01, [&](int64_t c) { return scale.data<float>()[c]; },
                                         [&](int64_t c) { return bias.data<float>()[c]; });
      EXPECT_LT(relative_error(out[0], expected), 1e-6) << dims_to_string(dims) << " G=" << groups;
    }
  }
}

TEST(GroupNormalization, OpsetDecidesTheAffineShape) {
  Node node = make_node("GroupNormalization", 3);
  set_int(node, "num_groups", 2);
  Tensor x = random_tensor({1, 6, 4});
  Tensor per_channel = random_tensor({6}), per_group = random_tensor({2});
  expect_error([&] { run(node, {&x, &per_channel, &per_channel}, 18); },
               {"scale", "6 elements", "num_groups (opset < 21: one per group) = 2"});
  expect_error([&] { run(node, {&x, &per_group, &per_group}, 21); },
               {"scale", "2 elements", "C (opset >= 21: one per channel) = 6"});
  expect_error([&] { run(node, {&x, &per_group, &per_group}, 17); }, {"exists from opset 18", "opset 17"});
}

TEST(GroupNormalization, Errors) {
  Node node = make_node("GroupNormalization", 3);
  set_int(node, "num_groups", 4);
  Tensor x = random_tensor({1, 6, 4}), p = random_tensor({4});
  expect_error([&] { run(node, {&x, &p, &p}, 18); }, {"C = 6", "not divisible by num_groups = 4"});
  set_int(node, "num_groups", 0);
  expect_error([&] { run(node, {&x, &p, &p}, 18); }, {"num_groups is 0", "positive"});
  Node missing = make_node("GroupNormalization", 3);
  expect_error([&] { run(missing, {&x, &p, &p}, 18); }, {"required attribute 'num_groups'"});
  Node stash = make_node("GroupNormalization", 3);
  set_int(stash, "num_groups", 2);
  set_int(stash, "stash_type", 7);
  Tensor q = random_tensor({6});
  expect_error([&] { run(stash, {&x, &q, &q}, 21); }, {"stash_type is 7"});
  set_int(stash, "stash_type", 1);
  EXPECT_NO_THROW(run(stash, {&x, &q, &q}, 21));
}

TEST(GroupNormalization, SymbolicShapes) {
  Node node = make_node("GroupNormalization", 3);
  set_int(node, "num_groups", 4);
  auto out = infer(node,
                   {{DataType::kFloat32, symbolic({Dim::unknown("n"), Dim::unknown("c"), 9})},
                    {DataType::kFloat32, symbolic({4})},
                    {DataType::kFloat32, symbolic({4})}},
                   18);
  EXPECT_EQ(out[0].shape.to_string(), "[n,c,9]");
  auto unknown_rank = infer(node, {{DataType::kFloat32, Shape()}, {DataType::kFloat32, Shape()}, {DataType::kFloat32, Shape()}}, 18);
  EXPECT_FALSE(unknown_rank[0].shape.has_rank);
}

// ---------------------------------------------------------------------------------------------------------
// LayerNormalization

TEST(LayerNormalization, HandComputed) {
  Tensor x = float_tensor({1, 2, 3, 4, 10, 10, 10, 10}, {2, 4});
  Tensor scale = float_tensor({1, 1, 2, 2}, {4});
  Tensor bias = float_tensor({0, 0, 0, 1}, {4});
  Node node = make_node("LayerNormalization", 3, 3);
  set_float(node, "epsilon", 0.0f);
  auto out = run(node, {&x, &scale, &bias}, 17);
  // Row 0: mean 2.5, variance 1.25.
  const double s = 1 / std::sqrt(1.25);
  const std::vector<double> expected = {-1.5 * s, -0.5 * s, 2 * 0.5 * s, 2 * 1.5 * s + 1};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(out[0].data<float>()[i], expected[i], 1e-6);
  EXPECT_EQ(out[1].dims(), (Dims{2, 1}));
  EXPECT_FLOAT_EQ(out[1].data<float>()[0], 2.5f);
  EXPECT_FLOAT_EQ(out[1].data<float>()[1], 10.0f);
  EXPECT_NEAR(out[2].data<float>()[0], s, 1e-6);
  // Row 1 is constant: variance 0, epsilon 0, so 1 / sqrt(0) = inf, as the spec's formula gives.
  EXPECT_TRUE(std::isinf(out[2].data<float>()[1]));
}

TEST(LayerNormalization, MatchesNaiveForEveryAxis) {
  const Dims dims = {2, 3, 5, 7};
  for (int64_t axis = -4; axis < 4; ++axis) {
    const int64_t a = axis < 0 ? axis + 4 : axis;
    const Dims normalized(dims.begin() + a, dims.end());
    Tensor x = random_tensor(dims, -2, 4);
    Tensor scale = random_tensor(normalized);
    Tensor bias = random_tensor(normalized);
    Node node = make_node("LayerNormalization", 3, 3);
    set_int(node, "axis", axis);
    auto out = run(node, {&x, &scale, &bias}, 17);
    std::vector<double> means, inv_stds;
    Tensor expected = naive_layer_norm(x, a, 1e-5, values_of(scale), values_of(bias), &means, &inv_stds);
    EXPECT_LT(relative_error(out[0], expected), 1e-6) << "axis " << axis;
    Dims stats_dims = dims;
    for (int64_t d = a; d < 4; ++d) stats_dims[d] = 1;
    EXPECT_EQ(out[1].dims(), stats_dims);
    EXPECT_EQ(out[2].dims(), stats_dims);
    for (size_t r = 0; r < means.size(); ++r) {
      EXPECT_NEAR(out[1].data<float>()[r], means[r], 1e-5);
      EXPECT_NEAR(out[2].data<float>()[r], inv_stds[r], 1e-4 * inv_stds[r]);
    }
  }
}

TEST(LayerNormalization, ScaleBroadcastsOverNormalizedDims) {
  Tensor x = random_tensor({3, 4, 6});
  Tensor scale = random_tensor({6});     // broadcast over [4, 6]
  Tensor bias = random_tensor({4, 1});   // broadcast along the last dim
  Node node = make_node("LayerNormalization", 3);
  set_int(node, "axis", 1);
  auto out = run(node, {&x, &scale, &bias}, 17);
  std::vector<double> gamma, beta;
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 6; ++j) {
      gamma.push_back(scale.data<float>()[j]);
      beta.push_back(bias.data<float>()[i]);
    }
  EXPECT_LT(relative_error(out[0], naive_layer_norm(x, 1, 1e-5, gamma, beta)), 1e-6);
}

TEST(LayerNormalization, BiasIsOptionalAndOutputsMayBeOmitted) {
  Tensor x = random_tensor({5, 13});
  Tensor scale = random_tensor({13});
  Node node = make_node("LayerNormalization", 2, 1);
  auto out = run(node, {&x, &scale}, 17);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_LT(relative_error(out[0], naive_layer_norm(x, 1, 1e-5, values_of(scale), {})), 1e-6);
  Node only_inv_std = make_node("LayerNormalization", 2, 3);
  only_inv_std.outputs[1] = "";
  auto out3 = run(only_inv_std, {&x, &scale}, 17);
  std::vector<double> inv_stds;
  naive_layer_norm(x, 1, 1e-5, {}, {}, nullptr, &inv_stds);
  EXPECT_NEAR(out3[2].data<float>()[4], inv_stds[4], 1e-4 * inv_stds[4]);
}

TEST(LayerNormalization, StashTypeBFloat16GivesBFloat16Statistics) {
  Tensor x = random_tensor({2, 8});
  Tensor scale = random_tensor({8});
  Node node = make_node("LayerNormalization", 2, 3);
  set_int(node, "stash_type", 16);
  auto out = run(node, {&x, &scale}, 17);
  EXPECT_EQ(out[0].dtype(), DataType::kFloat32);
  EXPECT_EQ(out[1].dtype(), DataType::kBFloat16);
  EXPECT_EQ(out[2].dtype(), DataType::kBFloat16);
  set_int(node, "stash_type", 11);
  expect_error([&] { run(node, {&x, &scale}, 17); }, {"stash_type is 11", "1 (float32) or 16 (bfloat16)"});
}

TEST(LayerNormalization, Errors) {
  Tensor x = random_tensor({2, 3, 4});
  Tensor bad = random_tensor({3});
  Node node = make_node("LayerNormalization", 2);
  expect_error([&] { run(node, {&x, &bad}, 17); }, {"Scale", "[3]", "does not broadcast", "[4]"});
  Tensor too_big = random_tensor({2, 3, 4});
  set_int(node, "axis", 1);
  expect_error([&] { run(node, {&x, &too_big}, 17); }, {"Scale", "higher rank", "[3,4]"});
  set_int(node, "axis", 3);
  Tensor s = random_tensor({4});
  expect_error([&] { run(node, {&x, &s}, 17); }, {"axis"});
  Node no_scale = make_node("LayerNormalization", 1);
  expect_error([&] { run(no_scale, {&x}, 17); }, {"input 1 is required"});
}

TEST(LayerNormalization, SymbolicShapes) {
  Node node = make_node("LayerNormalization", 3, 3);
  set_int(node, "axis", -1);
  auto out = infer(node,
                   {{DataType::kFloat32, symbolic({Dim::unknown("batch"), Dim::unknown("seq"), 768})},
                    {DataType::kFloat32, symbolic({768})},
                    {DataType::kFloat32, symbolic({768})}},
                   17);
  EXPECT_EQ(out[0].shape.to_string(), "[batch,seq,768]");
  EXPECT_EQ(out[1].shape.to_string(), "[batch,seq,1]");
  EXPECT_EQ(out[2].dtype, DataType::kFloat32);
  auto unknown = infer(node, {{DataType::kFloat32, Shape()}, {DataType::kFloat32, Shape()}, {DataType::kFloat32, Shape()}}, 17);
  EXPECT_FALSE(unknown[0].shape.has_rank);
  EXPECT_FALSE(unknown[1].shape.has_rank);
}

// ---------------------------------------------------------------------------------------------------------
// BatchNormalization

Tensor naive_batch_norm(const Tensor& x, const Tensor& scale, const Tensor& bias, const Tensor& mean,
                        const Tensor& var, double eps) {
  const int64_t C = x.dims()[1];
  const int64_t S = x.numel() / (x.dims()[0] * C);
  Tensor y(x.dtype(), x.dims());
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t c = (i / S) % C;
    const double v = (element_as_double(x, i) - element_as_double(mean, c)) /
                         std::sqrt(element_as_double(var, c) + eps) * element_as_double(scale, c) +
                     element_as_double(bias, c);
    set_element_from_double(y, i, v);
  }
  return y;
}

TEST(BatchNormalization, MatchesNaiveAtEveryOpset) {
  for (const Dims& dims : std::vector<Dims>{{2, 3}, {1, 5, 7}, {3, 4, 2, 3}, {2, 1, 1, 1, 3}}) {
    const int64_t C = dims[1];
    Tensor x = random_tensor(dims, -2, 2), scale = random_tensor({C}), bias = random_tensor({C});
    Tensor mean = random_tensor({C}), var = random_tensor({C}, 0.1f, 2.0f);
    Node node = make_node("BatchNormalization", 5);
    set_float(node, "epsilon", 1e-3f);
    set_float(node, "momentum", 0.9f);
    for (int64_t opset : {11, 14, 15, 21}) {
      auto out = run(node, {&x, &scale, &bias, &mean, &var}, opset);
      EXPECT_LT(relative_error(out[0], naive_batch_norm(x, scale, bias, mean, var, 1e-3)), 1e-6)
          << dims_to_string(dims) << " opset " << opset;
    }
  }
}

TEST(BatchNormalization, TrainingModeFails) {
  Tensor x = random_tensor({2, 3, 4}), p = random_tensor({3}), var = random_tensor({3}, 0.5f, 1.0f);
  Node node = make_node("BatchNormalization", 5);
  set_int(node, "training_mode", 1);
  expect_error([&] { run(node, {&x, &p, &p, &p, &var}, 14); }, {"training_mode = 1 is not supported", "eval mode"});
  Node training_outputs = make_node("BatchNormalization", 5, 5);
  expect_error([&] { run(training_outputs, {&x, &p, &p, &p, &var}, 11); }, {"5 outputs", "training mode"});
  Node omitted_outputs = make_node("BatchNormalization", 5, 3);
  omitted_outputs.outputs[1] = omitted_outputs.outputs[2] = "";
  EXPECT_NO_THROW(run(omitted_outputs, {&x, &p, &p, &p, &var}, 15));
}

TEST(BatchNormalization, Opset15AllowsOtherParameterTypes) {
  Tensor x = to_float16(random_tensor({2, 3, 4}));
  Tensor p = random_tensor({3}), var = random_tensor({3}, 0.5f, 1.0f);
  Node node = make_node("BatchNormalization", 5);
  auto out = run(node, {&x, &p, &p, &p, &var}, 15);
  EXPECT_EQ(out[0].dtype(), DataType::kFloat16);
  EXPECT_LT(relative_error(out[0], naive_batch_norm(x, p, p, p, var, 1e-5)), 2e-3);
  // Before 15 the parameters have X's type, or float32 for a 16-bit X (normrt's extension for the float16
  // lowering, which keeps normalization parameters in float32); any other type is an error.
  EXPECT_EQ(run(node, {&x, &p, &p, &p, &var}, 14)[0].dtype(), DataType::kFloat16);
  Tensor p64(DataType::kFloat64, {3});
  expect_error([&] { run(node, {&x, &p64, &p, &p, &var}, 14); }, {"scale", "float64", "X is float16"});
  Tensor wrong = random_tensor({4});
  expect_error([&] { run(node, {&x, &p, &p, &p, &wrong}, 15); }, {"input_var", "4 elements", "C = 3"});
}

// Float16 X with float32 parameters (what the float16 lowering produces) runs on every normalization's reference.
TEST(Normalization, Float16InputWithFloat32Parameters) {
  Tensor x = to_float16(random_tensor({2, 4, 3, 5})), p4 = random_tensor({4}, 0.5f, 1.5f), p2 = random_tensor({2});
  Tensor p5 = random_tensor({5});
  Node instance = make_node("InstanceNormalization", 3), group = make_node("GroupNormalization", 3),
       layer = make_node("LayerNormalization", 3), fused = fused_node("GroupNorm", 3);
  set_int(group, "num_groups", 2);
  set_int(fused, "num_groups", 2);
  for (auto [node, inputs, opset] : std::vector<std::tuple<Node, std::vector<const Tensor*>, int64_t>>{
           {instance, {&x, &p4, &p4}, 6}, {group, {&x, &p2, &p2}, 18}, {group, {&x, &p4, &p4}, 21},
           {layer, {&x, &p5, &p5}, 17}, {fused, {&x, &p4, &p4}, 1}}) {
    SCOPED_TRACE(node.op_type + " opset " + std::to_string(opset));
    auto out = run(node, inputs, opset);
    EXPECT_EQ(out[0].dtype(), DataType::kFloat16);
    Tensor x32 = random_tensor(x.dims());
    for (int64_t i = 0; i < x.numel(); ++i) x32.data<float>()[i] = static_cast<float>(element_as_double(x, i));
    std::vector<const Tensor*> inputs32 = inputs;
    inputs32[0] = &x32;
    EXPECT_LT(relative_error(out[0], run(node, inputs32, opset)[0]), 2e-3);
  }
  Tensor bf = Tensor(DataType::kBFloat16, {4});
  expect_error([&] { run(instance, {&x, &bf, &p4}, 6); }, {"scale", "bfloat16", "X is float16"});
}

// ---------------------------------------------------------------------------------------------------------
// ai.normrt GroupNorm and LayerNorm reference kernels

TEST(FusedGroupNorm, EveryActivationWithAffineAndResidual) {
  const Dims dims = {2, 6, 3, 5};
  Tensor x = random_tensor(dims, -3, 3), scale = random_tensor({6}), bias = random_tensor({6});
  Tensor residual = random_tensor(dims);
  for (const std::string& act : kActivations) {
    for (int variant = 0; variant < 4; ++variant) {
      const bool affine = variant & 1, with_residual = variant & 2;
      Node node = fused_node("GroupNorm", with_residual ? 4 : 3);
      set_int(node, "num_groups", 3);
      set_string(node, "activation", act);
      if (act == "LeakyRelu" || act == "Elu") set_float(node, "activation_alpha", 0.3f);
      const double alpha = (act == "LeakyRelu" || act == "Elu") ? 0.3 : 0;
      std::vector<const Tensor*> inputs = {&x, affine ? &scale : nullptr, affine ? &bias : nullptr};
      if (with_residual) inputs.push_back(&residual);
      auto out = run(node, inputs);
      Tensor expected = naive_group_norm(
          x, 3, 1e-5, [&](int64_t c) { return affine ? scale.data<float>()[c] : 1.0; },
          [&](int64_t c) { return affine ? bias.data<float>()[c] : 0.0; }, act, alpha,
          with_residual ? &residual : nullptr);
      EXPECT_LT(relative_error(out[0], expected), 1e-6) << act << " variant " << variant;
    }
  }
}

TEST(FusedGroupNorm, DefaultAlphasFollowOnnx) {
  Tensor x = random_tensor({1, 2, 9}, -2, 2);
  for (const auto& [act, alpha] : std::vector<std::pair<std::string, double>>{{"LeakyRelu", 0.01}, {"Elu", 1.0}}) {
    Node node = fused_node("GroupNorm", 1);
    set_int(node, "num_groups", 1);
    set_string(node, "activation", act);
    auto out = run(node, {&x});
    Tensor expected = naive_group_norm(x, 1, 1e-5, [](int64_t) { return 1.0; }, [](int64_t) { return 0.0; }, act, alpha);
    EXPECT_LT(relative_error(out[0], expected), 1e-6) << act;
  }
}

TEST(FusedGroupNorm, AffinePerGroup) {
  Tensor x = random_tensor({2, 8, 5}), scale = random_tensor({4}), bias = random_tensor({4});
  Node node = fused_node("GroupNorm", 3);
  set_int(node, "num_groups", 4);
  set_int(node, "affine_per_group", 1);
  auto out = run(node, {&x, &scale, &bias});
  Tensor expected = naive_group_norm(x, 4, 1e-5, [&](int64_t c) { return scale.data<float>()[c / 2]; },
                                     [&](int64_t c) { return bias.data<float>()[c / 2]; });
  EXPECT_LT(relative_error(out[0], expected), 1e-6);
}

TEST(FusedGroupNorm, Errors) {
  Tensor x = random_tensor({2, 6, 5}), p = random_tensor({6}), r = random_tensor({2, 6, 4});
  Node node = fused_node("GroupNorm", 4);
  set_int(node, "num_groups", 3);
  set_string(node, "activation", "Swish");
  expect_error([&] { run(node, {&x, &p, &p}); }, {"activation", "'Swish'", "Relu", "HardSwish"});
  set_string(node, "activation", "Relu");
  expect_error([&] { run(node, {&x, &p, &p, &r}); }, {"residual", "[2,6,4]", "[2,6,5]"});
  set_int(node, "num_groups", 4);
  expect_error([&] { run(node, {&x, &p, &p}); }, {"not divisible by num_groups = 4"});
  Tensor q = random_tensor({3});
  set_int(node, "num_groups", 3);
  expect_error([&] { run(node, {&x, &q, &q}); }, {"scale", "3 elements", "C = 6"});
}

TEST(FusedLayerNorm, EveryActivationWithAffineAndResidual) {
  const Dims dims = {3, 4, 7};
  Tensor x = random_tensor(dims, -3, 3), scale = random_tensor({4, 7}), bias = random_tensor({7});
  Tensor residual = random_tensor(dims);
  std::vector<double> gamma = values_of(scale), beta;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 7; ++j) beta.push_back(bias.data<float>()[j]);
  for (const std::string& act : kActivations) {
    for (int variant = 0; variant < 4; ++variant) {
      const bool affine = variant & 1, with_residual = variant & 2;
      Node node = fused_node("LayerNorm", with_residual ? 4 : 3);
      set_int(node, "axis", -2);
      set_string(node, "activation", act);
      std::vector<const Tensor*> inputs = {&x, affine ? &scale : nullptr, affine ? &bias : nullptr};
      if (with_residual) inputs.push_back(&residual);
      auto out = run(node, inputs);
      const double alpha = act == "LeakyRelu" ? 0.01 : act == "Elu" ? 1.0 : 0;
      Tensor expected = naive_layer_norm(x, 1, 1e-5, affine ? gamma : std::vector<double>(),
                                         affine ? beta : std::vector<double>(), nullptr, nullptr, act, alpha,
                                         with_residual ? &residual : nullptr);
      EXPECT_LT(relative_error(out[0], expected), 1e-6) << act << " variant " << variant;
    }
  }
}

TEST(FusedLayerNorm, HasOneOutput) {
  Tensor x = random_tensor({2, 4});
  Node node = fused_node("LayerNorm", 1);
  node.outputs.push_back("mean");
  expect_error([&] { run(node, {&x}); }, {"2 outputs", "expected 1"});
}

TEST(ReferenceNumerics, LargeMeanSmallDeviationKeepsItsVariance) {
  // mean 1e4, deviation 1e-2: a variance computed as E[x^2] - E[x]^2 in float would be noise.
  Tensor x = random_tensor({2, 4, 300});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = 1e4f + 0.01f * x.data<float>()[i];
  Node node = fused_node("GroupNorm", 1);
  set_int(node, "num_groups", 2);
  auto out = run(node, {&x});
  Tensor expected = naive_group_norm(x, 2, 1e-5, [](int64_t) { return 1.0; }, [](int64_t) { return 0.0; });
  EXPECT_LT(relative_error(out[0], expected), 1e-6);
}

TEST(ActivationMath, ParsesEveryName) {
  for (const std::string& name : kActivations) {
    FusedActivation kind;
    ASSERT_TRUE(parse_fused_activation(name, &kind)) << name;
    EXPECT_EQ(fused_activation_name(kind), name);
    for (double x : {-3.0, -0.5, 0.0, 0.25, 2.0})
      EXPECT_NEAR(apply_activation(kind, x, default_activation_alpha(kind)),
                  naive_activation(name, x, default_activation_alpha(kind)), 1e-12)
          << name << " at " << x;
  }
  FusedActivation kind;
  EXPECT_FALSE(parse_fused_activation("relu", &kind));
}

}  // namespace
}  // namespace normrt::test
