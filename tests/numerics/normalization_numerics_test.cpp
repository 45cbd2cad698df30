// Normalization on inputs that break naive statistics, for every normalization op normrt has and every kernel
// that runs it: InstanceNormalization, GroupNormalization (opset 18 per-group and 21 per-channel affine),
// LayerNormalization, and the ai.normrt GroupNorm / LayerNorm reference kernels and fast float32 kernels.
//   - float32 with mean 1e4 and standard deviation 1e-2 (E[x^2] - E[x]^2 in float is noise there);
//   - groups and rows of constant values (zero variance: y must be exactly beta, not NaN, not noise);
//   - float16 near the top of its range (~6e4: sums and squares overflow float16) and in its subnormal range
//     (~1e-6 with epsilon 0: squares underflow float16), and mixed-sign +-6e4 (variance ~3.6e9 > float16 max).
// Each output is compared with a float64 computation written here (two-pass mean and variance over the exact
// input values), and must be finite. tests/ops/normalization_test.cpp and tests/cpu/norm_fast_test.cpp hold the
// functional tests; this file holds only the numerically hostile inputs.
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "cpu/cpu_kernel.h"
#include "engine/engine.h"
#include "onnx/importer.h"
#include "onnx/onnx_builder.h"
#include "test_util.h"

namespace normrt::test {
namespace {

enum class Kind { kGroup, kLayer };

// One op (and opset) with the kernels that run it; the reference kernel always runs.
struct NormOp {
  std::string label;
  std::string domain, op_type;
  int64_t opset;
  Kind kind;
  bool affine_per_group = false;        // GroupNormalization-18
  bool instance = false;                // InstanceNormalization: groups = C
  std::vector<std::string> fast_kernels;  // float32 only
};

const std::vector<NormOp>& group_ops() {
  static const std::vector<NormOp> ops = {
      {"InstanceNormalization", "", "InstanceNormalization", 17, Kind::kGroup, false, true, {}},
      {"GroupNormalization-18", "", "GroupNormalization", 18, Kind::kGroup, true, false, {}},
      {"GroupNormalization-21", "", "GroupNormalization", 21, Kind::kGroup, false, false, {}},
      {"ai.normrt GroupNorm", kNormrtDomain, "GroupNorm", 1, Kind::kGroup, false, false,
       {"norm_group_fused", "norm_group_fused_baseline"}},
  };
  return ops;
}

const std::vector<NormOp>& layer_ops() {
  static const std::vector<NormOp> ops = {
      {"LayerNormalization", "", "LayerNormalization", 17, Kind::kLayer, false, false, {}},
      {"ai.normrt LayerNorm", kNormrtDomain, "LayerNorm", 1, Kind::kLayer, false, false,
       {"norm_layer_fused", "norm_layer_fused_baseline"}},
  };
  return ops;
}

// A tensor of x's dtype holding `values` (rounded to that dtype).
Tensor of_dtype(DataType dtype, const Dims& dims, const std::function<double(int64_t)>& value) {
  Tensor t(dtype, dims);
  for (int64_t i = 0; i < t.numel(); ++i) set_element_from_double(t, i, value(i));
  return t;
}

std::vector<double> doubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = element_as_double(t, i);
  return v;
}

// y = (x - mean) / sqrt(var + epsilon) * gamma + beta over `rows` contiguous rows of `len` values, in double with
// two passes; gamma and beta are per element of x.
Tensor float64_reference(const Tensor& x, int64_t rows, int64_t len, double epsilon, const std::vector<double>& gamma,
                         const std::vector<double>& beta) {
  const std::vector<double> v = doubles(x);
  Tensor y(DataType::kFloat64, x.dims());
  for (int64_t r = 0; r < rows; ++r) {
    double sum = 0;
    for (int64_t k = 0; k < len; ++k) sum += v[r * len + k];
    const double mean = sum / static_cast<double>(len);
    double squares = 0;
    for (int64_t k = 0; k < len; ++k) squares += (v[r * len + k] - mean) * (v[r * len + k] - mean);
    const double inv_std = 1.0 / std::sqrt(squares / static_cast<double>(len) + epsilon);
    for (int64_t k = 0; k < len; ++k) {
      const int64_t i = r * len + k;
      y.data<double>()[i] = (v[i] - mean) * inv_std * gamma[i] + beta[i];
    }
  }
  return y;
}

struct Prepared {
  Node node;
  Tensor scale, bias;
  Tensor expected;  // float64
};

// The node, its affine parameters (random, in x's dtype) and the float64 expectation for input x.
Prepared prepare(const NormOp& op, const Tensor& x, int64_t groups_or_axis, double epsilon) {
  Prepared p;
  p.node = make_node(op.op_type, 3);
  p.node.domain = op.domain;
  set_float(p.node, "epsilon", static_cast<float>(epsilon));
  const Dims& dims = x.dims();
  std::uniform_real_distribution<double> gamma_dist(0.5, 1.5), beta_dist(-1.0, 1.0);
  std::vector<double> gamma(static_cast<size_t>(x.numel())), beta(gamma.size());
  if (op.kind == Kind::kGroup) {
    const int64_t N = dims[0], C = dims[1], S = x.numel() / std::max<int64_t>(1, N * C);
    const int64_t G = op.instance ? C : groups_or_axis;
    if (!op.instance) set_int(p.node, "num_groups", G);
    const int64_t params = op.affine_per_group ? G : C;
    p.scale = of_dtype(x.dtype(), {params}, [&](int64_t) { return gamma_dist(rng()); });
    p.bias = of_dtype(x.dtype(), {params}, [&](int64_t) { return beta_dist(rng()); });
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t c = (i / S) % C, index = op.affine_per_group ? c / (C / G) : c;
      gamma[i] = element_as_double(p.scale, index);
      beta[i] = element_as_double(p.bias, index);
    }
    p.expected = float64_reference(x, N * G, x.numel() / std::max<int64_t>(1, N * G), epsilon, gamma, beta);
  } else {
    const int64_t rank = static_cast<int64_t>(dims.size());
    const int64_t axis = groups_or_axis < 0 ? groups_or_axis + rank : groups_or_axis;
    set_int(p.node, "axis", groups_or_axis);
    const Dims normalized(dims.begin() + axis, dims.end());
    const int64_t len = element_count(normalized);
    p.scale = of_dtype(x.dtype(), normalized, [&](int64_t) { return gamma_dist(rng()); });
    p.bias = of_dtype(x.dtype(), normalized, [&](int64_t) { return beta_dist(rng()); });
    for (int64_t i = 0; i < x.numel(); ++i) {
      gamma[i] = element_as_double(p.scale, i % len);
      beta[i] = element_as_double(p.bias, i % len);
    }
    p.expected = float64_reference(x, x.numel() / std::max<int64_t>(1, len), len, epsilon, gamma, beta);
  }
  return p;
}

const CpuKernel& kernel(const std::string& name) {
  const CpuKernel* k = CpuKernelRegistry::global().find(name);
  if (!k) throw Error(ErrorCode::kInternal, "no CPU kernel " + name);
  return *k;
}

::testing::AssertionResult all_finite(const Tensor& t) {
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(element_as_double(t, i)))
      return ::testing::AssertionFailure() << "element " << i << " is " << element_as_double(t, i);
  return ::testing::AssertionSuccess();
}

// Runs the op's reference kernel and every fast kernel that takes x's dtype; each output must be finite and
// within `tolerance` (max |y - expected| / (1 + max |expected|)) of the float64 expectation.
void check(const NormOp& op, const Tensor& x, int64_t groups_or_axis, double epsilon, double tolerance,
           const std::string& what) {
  Prepared p = prepare(op, x, groups_or_axis, epsilon);
  const std::vector<const Tensor*> inputs = {&x, &p.scale, &p.bias};
  std::vector<std::pair<std::string, KernelFunction>> runs = {{"reference", nullptr}};
  if (x.dtype() == DataType::kFloat32)
    for (const std::string& name : op.fast_kernels) runs.emplace_back(name, kernel(name).run);
  for (const auto& [name, fn] : runs) {
    const std::string where = op.label + " (" + name + ") on " + what + " " + dims_to_string(x.dims());
    const Tensor y = run(p.node, inputs, op.opset, fn)[0];
    ASSERT_EQ(y.dtype(), x.dtype()) << where;
    EXPECT_TRUE(all_finite(y)) << where;
    EXPECT_LT(relative_error(y, p.expected), tolerance) << where;
  }
}

struct ShapeCase {
  Dims dims;
  int64_t groups_or_axis;
};

const std::vector<ShapeCase> kGroupShapes = {{{2, 8, 13, 7}, 4}, {{1, 6, 1000}, 3}, {{3, 4, 5}, 2}, {{1, 2, 40000}, 1}};
const std::vector<ShapeCase> kLayerShapes = {{{2, 3, 50}, -1}, {{4, 7, 33}, 1}, {{1, 10000}, -1}, {{3, 1}, -1}};

template <typename Fn>
void for_every_op(Fn&& fn) {
  for (const NormOp& op : group_ops())
    for (const ShapeCase& s : kGroupShapes) fn(op, s);
  for (const NormOp& op : layer_ops())
    for (const ShapeCase& s : kLayerShapes) fn(op, s);
}

}  // namespace

// Mean 1e4, standard deviation 1e-2: float32 holds x to about 1e-3 (a tenth of the deviation), so the float64
// expectation is computed from the float32 values themselves. With epsilon 1e-12 the variance (1e-4) dominates.
TEST(NormalizationNumerics, LargeMeanSmallDeviationFloat32) {
  for (double epsilon : {1e-5, 1e-12}) {
    for_every_op([&](const NormOp& op, const ShapeCase& s) {
      std::normal_distribution<double> dist(1e4, 1e-2);
      Tensor x = of_dtype(DataType::kFloat32, s.dims, [&](int64_t) { return dist(rng()); });
      check(op, x, s.groups_or_axis, epsilon, 2e-5, "mean 1e4 std 1e-2, epsilon " + std::to_string(epsilon));
    });
  }
}

// The same far from zero on the negative side, with a deviation so small that only a few float32 steps
// separate the values (mean -3e4, std 3e-3: the float32 spacing there is 2e-3).
TEST(NormalizationNumerics, NegativeMeanFewDistinctValuesFloat32) {
  for_every_op([&](const NormOp& op, const ShapeCase& s) {
    std::normal_distribution<double> dist(-3e4, 3e-3);
    Tensor x = of_dtype(DataType::kFloat32, s.dims, [&](int64_t) { return dist(rng()); });
    check(op, x, s.groups_or_axis, 1e-12, 2e-5, "mean -3e4 std 3e-3");
  });
}

// Every group (row) holds one value repeated: the variance is exactly 0, so x - mean must be exactly 0 and
// y = beta. Values include ones whose float32 sums round (1e4 + 0.1) and the float32 extremes of the test above.
TEST(NormalizationNumerics, ZeroVarianceGroupsGiveBeta) {
  const double constants[] = {10000.1, -3.3, 0.0, 6.5e4, -1.17e-5, 3.0e7};
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16}) {
    for_every_op([&](const NormOp& op, const ShapeCase& s) {
      // Each run of equal values is exactly one group (one row): the value changes with the row index.
      const int64_t numel = element_count(s.dims);
      int64_t len;
      if (op.kind == Kind::kGroup) {
        const int64_t G = op.instance ? s.dims[1] : s.groups_or_axis;
        len = numel / (s.dims[0] * G);
      } else {
        const int64_t axis = s.groups_or_axis < 0 ? s.groups_or_axis + static_cast<int64_t>(s.dims.size()) : s.groups_or_axis;
        len = element_count(Dims(s.dims.begin() + axis, s.dims.end()));
      }
      // 3e7 is past float16's range: 3e4 there.
      Tensor x = of_dtype(dtype, s.dims, [&](int64_t i) {
        const int64_t k = (i / len) % 6;
        return constants[k] * (dtype == DataType::kFloat16 && k == 5 ? 1e-3 : 1.0);
      });
      check(op, x, s.groups_or_axis, 1e-5, dtype == DataType::kFloat16 ? 1e-3 : 1e-6,
            std::string("constant groups, ") + dtype_name(dtype));
    });
  }
}

// float16 just under its largest finite value (65504): sums and squares in float16 overflow; the statistics
// must be kept in float32 or wider.
TEST(NormalizationNumerics, Float16NearItsLargestValue) {
  for_every_op([&](const NormOp& op, const ShapeCase& s) {
    std::uniform_real_distribution<double> dist(5.6e4, 65504.0);
    Tensor x = of_dtype(DataType::kFloat16, s.dims, [&](int64_t) { return dist(rng()); });
    check(op, x, s.groups_or_axis, 1e-5, 2e-3, "float16 in [5.6e4, 65504]");
  });
}

// Mixed signs at the top of the float16 range: the variance (~3.6e9) itself exceeds float16's range.
TEST(NormalizationNumerics, Float16MixedSignsAtTheRangeLimit) {
  for_every_op([&](const NormOp& op, const ShapeCase& s) {
    std::uniform_real_distribution<double> dist(5e4, 65504.0);
    std::bernoulli_distribution sign(0.5);
    Tensor x = of_dtype(DataType::kFloat16, s.dims, [&](int64_t) { return sign(rng()) ? dist(rng()) : -dist(rng()); });
    check(op, x, s.groups_or_axis, 1e-5, 2e-3, "float16 +-[5e4, 65504]");
  });
}

// float16 subnormals (below 6.1e-5) with epsilon 0: squares of the deviations (~1e-10) underflow float16 to 0,
// which would make 1 / sqrt(var) infinite; in float32 or wider they are ordinary numbers.
TEST(NormalizationNumerics, Float16SubnormalInputsWithZeroEpsilon) {
  for_every_op([&](const NormOp& op, const ShapeCase& s) {
    std::uniform_real_distribution<double> dist(-6e-5, 6e-5);
    Tensor x = of_dtype(DataType::kFloat16, s.dims, [&](int64_t) { return dist(rng()); });
    // Rows of one value have zero variance; with epsilon 0 the formula gives 0 / 0 there.
    if (s.dims.back() == 1 && op.kind == Kind::kLayer) return;
    check(op, x, s.groups_or_axis, 0.0, 2e-3, "float16 subnormals, epsilon 0");
  });
}

// The same hostile inputs through a built engine, so that whatever the builder does (fusion into ai.normrt ops,
// the fast kernel it picks) keeps them: GroupNormalization-18 and LayerNormalization on mean 1e4 std 1e-2.
TEST(NormalizationNumerics, BuiltEngineKeepsLargeMeanSmallDeviation) {
  ModelBuilder m(18);
  m.input("x", {"2", "8", "50"}).output("g").output("l");
  m.initializer("gs", {4}, {1.5f, 0.5f, 1.0f, 2.0f});
  m.initializer("gb", {4}, {0.1f, -0.2f, 0.3f, 0.0f});
  m.initializer("ls", {50}, std::vector<float>(50, 1.25f));
  m.initializer("lb", {50}, std::vector<float>(50, -0.5f));
  add_attribute(m.node("GroupNormalization", {"x", "gs", "gb"}, {"g"}, "", "gn"), "num_groups", int64_t{4});
  add_attribute(m.node("LayerNormalization", {"x", "ls", "lb"}, {"l"}, "", "ln"), "axis", int64_t{-1});
  auto engine = build_engine(import_onnx_bytes(m.bytes(), ""), {});
  std::normal_distribution<double> dist(1e4, 1e-2);
  Tensor x = of_dtype(DataType::kFloat32, {2, 8, 50}, [&](int64_t) { return dist(rng()); });
  ExecutionContext context(engine);
  auto out = context.run({{"x", x}});
  ASSERT_EQ(out.size(), 2u);
  std::vector<double> gamma(x.numel()), beta(x.numel()), lgamma(x.numel(), 1.25), lbeta(x.numel(), -0.5);
  const double gs[] = {1.5, 0.5, 1.0, 2.0}, gb[] = {0.1, -0.2, 0.3, 0.0};
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t group = ((i / 50) % 8) / 2;
    gamma[i] = static_cast<double>(static_cast<float>(gs[group]));
    beta[i] = static_cast<double>(static_cast<float>(gb[group]));
  }
  const double eps = static_cast<double>(1e-5f);
  EXPECT_TRUE(all_finite(out[0].second));
  EXPECT_TRUE(all_finite(out[1].second));
  EXPECT_LT(relative_error(out[0].second, float64_reference(x, 8, 100, eps, gamma, beta)), 2e-5);
  EXPECT_LT(relative_error(out[1].second, float64_reference(x, 16, 50, eps, lgamma, lbeta)), 2e-5);
}

}  // namespace normrt::test
