// The fast kernels norm_group_fused and norm_layer_fused (and their baseline-ISA twins) against the ai.normrt
// reference kernels: many shapes, every activation, with and without affine and residual, thread counts that
// force the split-row path, and inputs that break naive float statistics.
#include <omp.h>

#include <cmath>

#include "cpu/cpu_kernel.h"
#include "test_util.h"

namespace normrt::test {
namespace {

const std::vector<std::string> kActivations = {"",        "Relu", "LeakyRelu", "Elu",  "Sigmoid",
                                               "Silu",    "Gelu", "GeluTanh",  "Tanh", "HardSwish"};

const CpuKernel& kernel(const std::string& name) {
  const CpuKernel* k = CpuKernelRegistry::global().find(name);
  if (!k) throw Error(ErrorCode::kInternal, "no CPU kernel " + name);
  return *k;
}

// The kernel and its baseline-ISA twin: both must match the reference.
const std::vector<std::string> kGroupKernels = {"norm_group_fused", "norm_group_fused_baseline"};
const std::vector<std::string> kLayerKernels = {"norm_layer_fused", "norm_layer_fused_baseline"};

Node group_node(int64_t groups, const std::string& activation, bool residual) {
  Node n = make_node("GroupNorm", residual ? 4 : 3);
  n.domain = kNormrtDomain;
  set_int(n, "num_groups", groups);
  set_string(n, "activation", activation);
  return n;
}

Node layer_node(int64_t axis, const std::string& activation, bool residual) {
  Node n = make_node("LayerNorm", residual ? 4 : 3);
  n.domain = kNormrtDomain;
  set_int(n, "axis", axis);
  set_string(n, "activation", activation);
  return n;
}

// Runs `node` with the reference and with every kernel in `kernels`; returns the largest relative error.
double worst_error(const Node& node, const std::vector<const Tensor*>& inputs, const std::vector<std::string>& kernels) {
  const Tensor expected = run(node, inputs)[0];
  double worst = 0;
  for (const std::string& name : kernels) {
    const Tensor actual = run(node, inputs, 1, kernel(name).run)[0];
    worst = std::max(worst, relative_error(actual, expected));
  }
  return worst;
}

// Restores the OpenMP thread count when a test changes it.
class ThreadCount {
 public:
  explicit ThreadCount(int n) : saved_(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~ThreadCount() { omp_set_num_threads(saved_); }

 private:
  int saved_;
};

TEST(NormGroupFused, MatchesReferenceAtManyShapes) {
  int counter = 0;
  for (int64_t N : {1, 2, 3, 4}) {
    for (int64_t C : {1, 4, 6, 32}) {
      for (int64_t G : {int64_t{1}, int64_t{2}, C / 2, C}) {
        if (G < 1 || C % G != 0) continue;
        for (int64_t S : {1, 7, 49, 1000}) {
          const std::string& act = kActivations[counter % kActivations.size()];
          const bool affine = counter % 2 == 0, residual = (counter / 2) % 2 == 0;
          ++counter;
          Tensor x = random_tensor({N, C, S}, -3, 5);
          Tensor scale = random_tensor({C}, -2, 2), bias = random_tensor({C});
          Tensor res = random_tensor({N, C, S});
          std::vector<const Tensor*> inputs = {&x, affine ? &scale : nullptr, affine ? &bias : nullptr};
          if (residual) inputs.push_back(&res);
          EXPECT_LT(worst_error(group_node(G, act, residual), inputs, kGroupKernels), 2e-6)
              << "N=" << N << " C=" << C << " G=" << G << " S=" << S << " act='" << act << "' affine=" << affine
              << " residual=" << residual;
        }
      }
    }
  }
}

TEST(NormGroupFused, EveryActivationWithAndWithoutAffineAndResidual) {
  for (const Dims& dims : std::vector<Dims>{{2, 6, 7, 7}, {3, 4, 1}, {1, 2, 3, 2, 5}, {2, 3}}) {
    Tensor x = random_tensor(dims, -4, 4);
    Tensor scale = random_tensor({dims[1]}, -3, 3), bias = random_tensor({dims[1]}, -1, 1), res = random_tensor(dims);
    for (const std::string& act : kActivations) {
      for (int variant = 0; variant < 6; ++variant) {
        // Variants 4 and 5: the residual added before the activation (residual_before_activation = 1).
        const bool affine = variant & 1, residual = (variant & 2) || variant >= 4, first = variant >= 4;
        Node node = group_node(dims[1] > 2 ? dims[1] / 2 : 1, act, residual);
        if (first) set_int(node, "residual_before_activation", 1);
        if (act == "LeakyRelu" || act == "Elu") set_float(node, "activation_alpha", 0.7f);
        std::vector<const Tensor*> inputs = {&x, affine ? &scale : nullptr, affine ? &bias : nullptr};
        if (residual) inputs.push_back(&res);
        EXPECT_LT(worst_error(node, inputs, kGroupKernels), 2e-6)
            << dims_to_string(dims) << " act='" << act << "' variant " << variant;
      }
    }
  }
}

TEST(NormGroupFused, AffinePerGroup) {
  Tensor x = random_tensor({2, 12, 5, 3}), scale = random_tensor({4}), bias = random_tensor({4});
  Node node = group_node(4, "Silu", false);
  set_int(node, "affine_per_group", 1);
  EXPECT_LT(worst_error(node, {&x, &scale, &bias}, kGroupKernels), 2e-6);
}

TEST(NormGroupFused, ActivationsStayAccurateOverAWideRange) {
  // A gamma of 30 spreads the pre-activation values over about [-60, 60], through the clamps of exp.
  Tensor x = random_tensor({2, 4, 2000}, -2, 2);
  Tensor scale = float_tensor({30, -30, 10, 1}, {4}), bias = float_tensor({0, 1, -5, 5}, {4});
  for (const std::string& act : kActivations)
    EXPECT_LT(worst_error(group_node(4, act, false), {&x, &scale, &bias}, kGroupKernels), 2e-6) << act;
}

TEST(NormGroupFused, SplitsFewLongRowsAcrossThreads) {
  // rows = N * G; long rows with fewer than 4 rows per thread take the split path.
  const std::vector<std::pair<Dims, int64_t>> cases = {
      {{1, 4, 64, 64}, 1}, {{2, 2, 100, 100}, 2}, {{1, 3, 5000}, 3}, {{1, 32, 40, 40}, 1}, {{3, 8, 1021}, 2}};
  for (int threads : {1, 2, 3, 4, 7}) {
    ThreadCount scoped(threads);
    for (const auto& [dims, groups] : cases) {
      Tensor x = random_tensor(dims, -1, 3), scale = random_tensor({dims[1]}), bias = random_tensor({dims[1]});
      Tensor res = random_tensor(dims);
      EXPECT_LT(worst_error(group_node(groups, "Gelu", true), {&x, &scale, &bias, &res}, kGroupKernels), 2e-6)
          << dims_to_string(dims) << " G=" << groups << " threads=" << threads;
    }
  }
}

// Values with mean 1e4 and deviation 1e-2: a float E[x^2] - E[x]^2 cancels to noise, and y = x * a + b with
// b = beta - mean * a loses about 1e-2 of absolute accuracy in the output.
Tensor far_from_zero(const Dims& dims) {
  Tensor x = random_tensor(dims, -1, 1);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = 1e4f + 1e-2f * x.data<float>()[i];
  return x;
}

TEST(NormGroupFused, LargeMeanSmallDeviationMatchesDoubleReference) {
  for (int threads : {1, 4}) {
    ThreadCount scoped(threads);
    for (const Dims& dims : std::vector<Dims>{{2, 8, 1000}, {1, 4, 10000}, {4, 6, 49}}) {
      Tensor x = far_from_zero(dims);
      Node node = group_node(2, "", false);
      set_float(node, "epsilon", 1e-12f);  // keep the variance (~3e-5) dominant
      EXPECT_LT(worst_error(node, {&x}, kGroupKernels), 1e-5) << dims_to_string(dims) << " threads " << threads;
    }
  }
}

TEST(NormGroupFused, ZeroVarianceGroupsStayFinite) {
  Tensor x(DataType::kFloat32, {2, 4, 300});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = (i / 600) % 2 ? 1e4f : -3.0f;  // constant groups
  Tensor scale = random_tensor({4}), bias = random_tensor({4});
  for (const std::string& act : kActivations) {
    Node node = group_node(2, act, false);
    for (const std::string& name : kGroupKernels) {
      Tensor y = run(node, {&x, &scale, &bias}, 1, kernel(name).run)[0];
      for (int64_t i = 0; i < y.numel(); ++i) ASSERT_TRUE(std::isfinite(y.data<float>()[i])) << name << " " << act;
    }
    // x - mean is exactly 0, so y = act(beta) per channel.
    EXPECT_LT(worst_error(node, {&x, &scale, &bias}, kGroupKernels), 1e-6) << act;
  }
}

TEST(NormGroupFused, EmptyTensors) {
  for (const Dims& dims : std::vector<Dims>{{0, 4, 5}, {2, 4, 0}, {2, 4, 0, 3}}) {
    Tensor x(DataType::kFloat32, dims);
    for (const std::string& name : kGroupKernels)
      EXPECT_EQ(run(group_node(2, "Relu", false), {&x}, 1, kernel(name).run)[0].dims(), dims) << name;
  }
}

TEST(NormGroupFused, AcceptsFloat32Only) {
  const CpuKernel& k = kernel("norm_group_fused");
  Node node = group_node(2, "Relu", false);
  const Shape s({Dim::unknown("n"), 4, 8});
  EXPECT_TRUE(k.accepts(node, 1, {{DataType::kFloat32, s}}));
  EXPECT_TRUE(k.accepts(node, 1, {{DataType::kFloat32, Shape()}, {DataType::kFloat32, Shape({4})}}));
  EXPECT_FALSE(k.accepts(node, 1, {{DataType::kFloat16, s}}));
  EXPECT_FALSE(k.accepts(node, 1, {{DataType::kFloat32, s}, {DataType::kFloat64, Shape({4})}}));
  EXPECT_FALSE(k.accepts(node, 1, {{DataType::kFloat32, Shape({5})}}));
  Node unknown_activation = group_node(2, "Mish", false);
  EXPECT_FALSE(k.accepts(unknown_activation, 1, {{DataType::kFloat32, s}}));
  Node float_groups = group_node(2, "Relu", false);
  set_float(float_groups, "num_groups", 2.0f);  // a malformed attribute: left to the reference to report
  EXPECT_FALSE(k.accepts(float_groups, 1, {{DataType::kFloat32, s}}));
  // The builder picks the fast kernel, not its baseline twin.
  EXPECT_EQ(CpuKernelRegistry::global().choose(node, 1, {{DataType::kFloat32, s}})->name, "norm_group_fused");
}

// ---------------------------------------------------------------------------------------------------------
// LayerNorm

TEST(NormLayerFused, MatchesReferenceAtManyShapes) {
  int counter = 0;
  for (int64_t rows : {1, 3, 64}) {
    for (int64_t D : {1, 7, 49, 1000, 20000}) {
      if (rows * D > 200000) continue;
      const std::string& act = kActivations[counter % kActivations.size()];
      const bool affine = counter % 2 == 0, residual = (counter / 2) % 2 == 0;
      ++counter;
      Tensor x = random_tensor({rows, D}, -2, 6), scale = random_tensor({D}), bias = random_tensor({D});
      Tensor res = random_tensor({rows, D});
      std::vector<const Tensor*> inputs = {&x, affine ? &scale : nullptr, affine ? &bias : nullptr};
      if (residual) inputs.push_back(&res);
      EXPECT_LT(worst_error(layer_node(-1, act, residual), inputs, kLayerKernels), 2e-6)
          << rows << "x" << D << " act='" << act << "' affine=" << affine << " residual=" << residual;
    }
  }
}

TEST(NormLayerFused, EveryActivationAndAxisWithBroadcastParameters) {
  const Dims dims = {3, 5, 24};
  Tensor x = random_tensor(dims, -3, 3), res = random_tensor(dims);
  for (const std::string& act : kActivations) {
    for (int64_t axis : {-1, 1, -3}) {
      const int64_t a = axis < 0 ? axis + 3 : axis;
      const Dims normalized(dims.begin() + a, dims.end());
      Tensor full_scale = random_tensor(normalized), last_bias = random_tensor({dims.back()});
      for (int variant = 0; variant < 6; ++variant) {
        const bool affine = variant & 1, residual = (variant & 2) || variant >= 4, first = variant >= 4;
        std::vector<const Tensor*> inputs = {&x, affine ? &full_scale : nullptr, affine ? &last_bias : nullptr};
        if (residual) inputs.push_back(&res);
        Node node = layer_node(axis, act, residual);
        if (first) set_int(node, "residual_before_activation", 1);
        EXPECT_LT(worst_error(node, inputs, kLayerKernels), 2e-6)
            << "act='" << act << "' axis " << axis << " variant " << variant;
      }
    }
  }
}

TEST(NormLayerFused, SplitsFewLongRowsAcrossThreads) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadCount scoped(threads);
    for (const Dims& dims : std::vector<Dims>{{1, 50000}, {2, 3, 9000}, {5, 8193}}) {
      Tensor x = random_tensor(dims, 1, 2), scale = random_tensor({dims.back()}), bias = random_tensor({dims.back()});
      EXPECT_LT(worst_error(layer_node(-1, "Tanh", false), {&x, &scale, &bias}, kLayerKernels), 2e-6)
          << dims_to_string(dims) << " threads " << threads;
    }
  }
}

TEST(NormLayerFused, LargeMeanSmallDeviationAndConstantRows) {
  for (int threads : {1, 4}) {
    ThreadCount scoped(threads);
    Tensor x = far_from_zero({3, 20000});
    Node node = layer_node(-1, "", false);
    set_float(node, "epsilon", 1e-12f);
    EXPECT_LT(worst_error(node, {&x}, kLayerKernels), 1e-5) << "threads " << threads;
  }
  Tensor constant(DataType::kFloat32, {4, 777});
  for (int64_t i = 0; i < constant.numel(); ++i) constant.data<float>()[i] = 123.25f;
  Tensor scale = random_tensor({777}), bias = random_tensor({777});
  for (const std::string& name : kLayerKernels) {
    Tensor y = run(layer_node(-1, "Elu", false), {&constant, &scale, &bias}, 1, kernel(name).run)[0];
    for (int64_t i = 0; i < y.numel(); ++i) ASSERT_TRUE(std::isfinite(y.data<float>()[i])) << name;
  }
  EXPECT_LT(worst_error(layer_node(-1, "Elu", false), {&constant, &scale, &bias}, kLayerKernels), 1e-6);
}

TEST(NormLayerFused, Accepts) {
  const CpuKernel& k = kernel("norm_layer_fused");
  Node node = layer_node(-1, "", false);
  EXPECT_TRUE(k.accepts(node, 1, {{DataType::kFloat32, Shape({Dim::unknown("b"), 768})}}));
  EXPECT_FALSE(k.accepts(node, 1, {{DataType::kBFloat16, Shape({Dim::unknown("b"), 768})}}));
  EXPECT_FALSE(k.accepts(node, 1, {{DataType::kFloat32, Shape(std::vector<Dim>{})}}));
}

}  // namespace
}  // namespace normrt::test
