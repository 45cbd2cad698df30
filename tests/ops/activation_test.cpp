// Tests of src/ops/activation.cpp: Relu, LeakyRelu, Elu, Selu, Sigmoid, HardSigmoid, HardSwish, Tanh, Gelu,
// Softplus, Softsign, PRelu, Clip.
#include <cctype>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "cpu/cpu_kernel.h"
#include "ops/elementwise_test_util.h"
#include "test_util.h"

namespace normrt::test {
namespace {

using namespace elementwise;  // tests/ops/elementwise_test_util.h

// Independent double-precision formulas straight from the ONNX operator definitions.
const double kSeluAlpha = 1.67326319217681884765625;
const double kSeluGamma = 1.05070102214813232421875;
double gelu_exact(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double gelu_tanh(double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }

struct ActivationCase {
  const char* op;
  std::function<double(double)> fn;
  std::function<void(Node&)> configure;
};

const std::vector<ActivationCase>& cases() {
  static const std::vector<ActivationCase> all = {
      {"Relu", [](double x) { return x > 0 ? x : 0; }, nullptr},
      {"LeakyRelu", [](double x) { return x >= 0 ? x : 0.01f * x; }, nullptr},
      {"LeakyRelu", [](double x) { return x >= 0 ? x : 0.3f * x; }, [](Node& n) { set_float(n, "alpha", 0.3f); }},
      {"Elu", [](double x) { return x >= 0 ? x : std::exp(x) - 1; }, nullptr},
      {"Elu", [](double x) { return x >= 0 ? x : 0.5f * (std::exp(x) - 1); },
       [](Node& n) { set_float(n, "alpha", 0.5f); }},
      {"Selu", [](double x) { return x > 0 ? kSeluGamma * x : kSeluGamma * (kSeluAlpha * std::exp(x) - kSeluAlpha); },
       nullptr},
      {"Sigmoid", [](double x) { return 1 / (1 + std::exp(-x)); }, nullptr},
      {"HardSigmoid", [](double x) { return std::max(0.0, std::min(1.0, 0.2f * x + 0.5)); }, nullptr},
      {"HardSigmoid", [](double x) { return std::max(0.0, std::min(1.0, 0.5 * x + 0.25)); },
       [](Node& n) {
         set_float(n, "alpha", 0.5f);
         set_float(n, "beta", 0.25f);
       }},
      {"HardSwish", [](double x) { return x * std::max(0.0, std::min(1.0, x / 6 + 0.5)); }, nullptr},
      {"Tanh", [](double x) { return std::tanh(x); }, nullptr},
      {"Gelu", gelu_exact, nullptr},
      {"Gelu", gelu_exact, [](Node& n) { set_string(n, "approximate", "none"); }},
      {"Gelu", gelu_tanh, [](Node& n) { set_string(n, "approximate", "tanh"); }},
      {"Softplus", [](double x) { return std::log(1 + std::exp(x)); }, nullptr},
      {"Softsign", [](double x) { return x / (1 + std::fabs(x)); }, nullptr},
  };
  return all;
}

Node activation_node(const ActivationCase& c) {
  Node n = make_node(c.op, 1);
  if (c.configure) c.configure(n);
  return n;
}

TEST(Activation, RandomDataMatchesFormulas) {
  for (const auto& c : cases()) {
    for (const Dims& dims : std::vector<Dims>{{1}, {3, 7}, {2, 3, 13}, {}, {0, 5}}) {
      Tensor x = random_tensor(dims, -6, 6);
      auto out = run(activation_node(c), {&x}, 20);
      ASSERT_EQ(out[0].dims(), dims);
      for (int64_t i = 0; i < x.numel(); ++i) {
        const double want = c.fn(x.data<float>()[i]);
        ASSERT_NEAR(out[0].data<float>()[i], want, 1e-6 * std::max(1.0, std::fabs(want)))
            << c.op << " at " << x.data<float>()[i];
      }
    }
  }
}

TEST(Activation, Float64AndHalfTypes) {
  for (const auto& c : cases()) {
    Tensor x64 = random_of(DataType::kFloat64, {2, 7}, -6, 6);
    auto out = run(activation_node(c), {&x64}, 20);
    ASSERT_EQ(out[0].dtype(), DataType::kFloat64);
    for (int64_t i = 0; i < x64.numel(); ++i) {
      const double want = c.fn(x64.data<double>()[i]);
      ASSERT_NEAR(out[0].data<double>()[i], want, 1e-7 * std::max(1.0, std::fabs(want))) << c.op;  // float alphas
    }
    for (DataType dtype : {DataType::kFloat16, DataType::kBFloat16}) {
      Tensor x = random_of(dtype, {3, 5}, -6, 6);
      auto half_out = run(activation_node(c), {&x}, 20);
      ASSERT_EQ(half_out[0].dtype(), dtype);
      const double tolerance = dtype == DataType::kFloat16 ? 2e-3 : 1e-2;
      for (int64_t i = 0; i < x.numel(); ++i) {
        const double want = c.fn(element_as_double(x, i));
        ASSERT_NEAR(element_as_double(half_out[0], i), want, tolerance * std::max(1.0, std::fabs(want))) << c.op;
      }
    }
  }
}

TEST(Activation, HandComputedValues) {
  Tensor x = float_tensor({-3, -1, 0, 1, 3}, {5});
  auto v = [&](const char* op) { return values_of(run(make_node(op, 1), {&x}, 20)[0]); };
  EXPECT_EQ(v("Relu"), (std::vector<double>{0, 0, 0, 1, 3}));
  EXPECT_EQ(v("LeakyRelu"), (std::vector<double>{-0.03f, -0.01f, 0, 1, 3}));
  EXPECT_EQ(v("HardSigmoid"), (std::vector<double>{0, 0.3f, 0.5, 0.7f, 1}));
  auto hard_swish = v("HardSwish");
  EXPECT_EQ(hard_swish[0], 0);
  EXPECT_FLOAT_EQ(hard_swish[3], 2.0f / 3.0f);
  EXPECT_EQ(hard_swish[4], 3);
  auto selu = v("Selu");
  EXPECT_FLOAT_EQ(selu[3], 1.0507009873554805f);
  EXPECT_FLOAT_EQ(selu[1], -1.1113307378125625f);
  auto sigmoid = v("Sigmoid");
  EXPECT_EQ(sigmoid[2], 0.5);
  EXPECT_FLOAT_EQ(sigmoid[3], 0.7310585786300049f);
  auto gelu = v("Gelu");
  EXPECT_FLOAT_EQ(gelu[3], 0.8413447460685429f);
  EXPECT_FLOAT_EQ(gelu[1], -0.15865525393145707f);
  Node tanh_gelu = make_node("Gelu", 1);
  set_string(tanh_gelu, "approximate", "tanh");
  EXPECT_FLOAT_EQ(values_of(run(tanh_gelu, {&x}, 20)[0])[3], 0.8411919906082768f);
  EXPECT_FLOAT_EQ(v("Softplus")[2], std::log(2.0f));
  EXPECT_EQ(v("Softsign"), (std::vector<double>{-0.75, -0.5, 0, 0.5, 0.75}));
  EXPECT_FLOAT_EQ(v("Elu")[1], std::exp(-1.0f) - 1);
}

TEST(Activation, ExtremeInputsStayFinite) {
  Tensor x = float_tensor({-1000, -100, 100, 1000}, {4});
  auto sigmoid = values_of(run(make_node("Sigmoid", 1), {&x})[0]);
  EXPECT_EQ(sigmoid[0], 0);
  EXPECT_GT(sigmoid[1], 0);
  EXPECT_EQ(sigmoid[3], 1);
  auto softplus = values_of(run(make_node("Softplus", 1), {&x})[0]);
  EXPECT_EQ(softplus[0], 0);
  EXPECT_EQ(softplus[2], 100);
  EXPECT_EQ(softplus[3], 1000);
  auto tanh = values_of(run(make_node("Tanh", 1), {&x})[0]);
  EXPECT_EQ(tanh[0], -1);
  EXPECT_EQ(tanh[3], 1);
}

TEST(Activation, NaNPassesThrough) {
  Tensor x = float_tensor({NAN}, {1});
  for (const auto& c : cases()) {
    auto out = values_of(run(activation_node(c), {&x}, 20)[0]);
    EXPECT_TRUE(std::isnan(out[0])) << c.op;
  }
}

TEST(Activation, ReluOnIntegers) {
  Tensor x = typed_tensor<int>(DataType::kInt32, {4}, {-5, 0, 7, -1});
  auto out = run(make_node("Relu", 1), {&x}, 14);
  ASSERT_EQ(out[0].dtype(), DataType::kInt32);
  EXPECT_EQ(values_of(out[0]), (std::vector<double>{0, 0, 7, 0}));
  Tensor i8 = typed_tensor<int>(DataType::kInt8, {2}, {-128, 127});
  EXPECT_EQ(values_of(run(make_node("Relu", 1), {&i8}, 14)[0]), (std::vector<double>{0, 127}));
}

TEST(Activation, Errors) {
  Node gelu = make_node("Gelu", 1);
  set_string(gelu, "approximate", "erf");
  Tensor x = random_tensor({3});
  expect_error([&] { run(gelu, {&x}, 20); }, {"Gelu_test", "approximate", "\"erf\""});
  Tensor i = int64_tensor({1, 2});
  expect_error([&] { run(make_node("Sigmoid", 1), {&i}); }, {"Sigmoid_test", "int64", "supported: float32"});
  Node leaky = make_node("LeakyRelu", 1);
  set_int(leaky, "alpha", 1);
  expect_error([&] { run(leaky, {&x}); }, {"alpha", "FLOAT"});
  auto out = infer(make_node("Tanh", 1), {{DataType::kFloat32, sym({Dim::unknown("n"), 3})}});
  EXPECT_EQ(out[0].shape.to_string(), "[n,3]");
}

// ---- PRelu ------------------------------------------------------------------------------------------------------
TEST(PRelu, SlopeBroadcastsUnidirectionally) {
  const std::vector<std::pair<Dims, Dims>> shapes = {
      {{2, 3, 4, 5}, {3, 1, 1}}, {{2, 3, 4, 5}, {5}}, {{2, 3, 4, 5}, {}}, {{2, 3, 4, 5}, {1, 3, 1, 1}},
      {{1, 7}, {1, 7}},          {{13}, {1}},         {{3, 5}, {3, 1}}};
  for (const auto& [dx, ds] : shapes) {
    Tensor x = random_tensor(dx, -2, 2);
    Tensor slope = random_tensor(ds, 0, 1);
    auto out = run(make_node("PRelu", 2), {&x, &slope});
    ASSERT_EQ(out[0].dims(), dx);
    for (int64_t o = 0; o < x.numel(); ++o) {
      float v = x.data<float>()[o];
      float want = v < 0 ? slope.data<float>()[source_index(ds, dx, o)] * v : v;
      ASSERT_EQ(out[0].data<float>()[o], want) << dims_to_string(dx) << " " << dims_to_string(ds);
    }
  }
  Tensor xi = int64_tensor({-4, 4});
  Tensor si = int64_tensor({3});
  EXPECT_EQ(values_of(run(make_node("PRelu", 2), {&xi, &si})[0]), (std::vector<double>{-12, 4}));
}

TEST(PRelu, Errors) {
  Node prelu = make_node("PRelu", 2);
  Tensor x = random_tensor({2, 3, 4, 5});
  Tensor per_channel = random_tensor({3});
  expect_error([&] { run(prelu, {&x, &per_channel}); }, {"PRelu_test", "[3]", "[2,3,4,5]", "[C,1,1]"});
  expect_error(
      [&] {
        infer(prelu, {{DataType::kFloat32, sym({3})}, {DataType::kFloat32, sym({2, 3})}});
      },
      {"higher rank"});
  expect_error(
      [&] {
        infer(prelu, {{DataType::kFloat32, sym({3})}, {DataType::kFloat16, sym({1})}});
      },
      {"slope", "float16"});
  // A slope that would broadcast X up (X dim 1, slope dim 4) is not unidirectional.
  expect_error(
      [&] {
        infer(prelu, {{DataType::kFloat32, sym({2, 1})}, {DataType::kFloat32, sym({4})}});
      },
      {"does not broadcast"});
  auto out =
      infer(prelu, {{DataType::kFloat32, sym({Dim::unknown("b"), 3, 8, 8})}, {DataType::kFloat32, sym({3, 1, 1})}});
  EXPECT_EQ(out[0].shape.to_string(), "[b,3,8,8]");
}

// ---- Clip -------------------------------------------------------------------------------------------------------
Node clip_node() { return make_node("Clip", 3); }

TEST(Clip, OptionalMinAndMaxInputs) {
  Tensor x = float_tensor({-5, -1, 0, 2, 9}, {5});
  Tensor lo = float_tensor({-2}, {});
  Tensor hi = float_tensor({3}, {});
  for (int64_t opset : {11, 12, 13, 21}) {
    EXPECT_EQ(values_of(run(clip_node(), {&x, &lo, &hi}, opset)[0]), (std::vector<double>{-2, -1, 0, 2, 3}));
    EXPECT_EQ(values_of(run(clip_node(), {&x, &lo, nullptr}, opset)[0]), (std::vector<double>{-2, -1, 0, 2, 9}));
    EXPECT_EQ(values_of(run(clip_node(), {&x, nullptr, &hi}, opset)[0]), (std::vector<double>{-5, -1, 0, 2, 3}));
    EXPECT_EQ(values_of(run(make_node("Clip", 1), {&x}, opset)[0]), (std::vector<double>{-5, -1, 0, 2, 9}));
    EXPECT_EQ(values_of(run(make_node("Clip", 2), {&x, &lo}, opset)[0]), (std::vector<double>{-2, -1, 0, 2, 9}));
  }
  // min > max: every element becomes max.
  EXPECT_EQ(values_of(run(clip_node(), {&x, &hi, &lo})[0]), (std::vector<double>{-2, -2, -2, -2, -2}));
  Tensor nan = float_tensor({NAN}, {1});
  EXPECT_TRUE(std::isnan(values_of(run(clip_node(), {&nan, &lo, &hi})[0])[0]));
  Tensor one_element = float_tensor({1}, {1});
  EXPECT_EQ(values_of(run(clip_node(), {&x, nullptr, &one_element})[0]), (std::vector<double>{-5, -1, 0, 1, 1}));
}

TEST(Clip, RandomMatchesNaive) {
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16}) {
    for (const Dims& dims : std::vector<Dims>{{1}, {3, 7}, {2, 13, 5}}) {
      Tensor x = random_of(dtype, dims, -3, 3);
      Tensor lo = random_of(dtype, {}, -1, 0);
      Tensor hi = random_of(dtype, {}, 0, 1);
      auto out = run(clip_node(), {&x, &lo, &hi}, 13);
      for (int64_t i = 0; i < x.numel(); ++i)
        ASSERT_EQ(element_as_double(out[0], i),
                  std::min(std::max(element_as_double(x, i), element_as_double(lo, 0)), element_as_double(hi, 0)));
    }
  }
}

TEST(Clip, IntegerTypes) {
  Tensor x = int64_tensor({-100, 5, 100});
  Tensor lo = int64_tensor({0}, {});
  Tensor hi = int64_tensor({10}, {});
  EXPECT_EQ(values_of(run(clip_node(), {&x, &lo, &hi}, 12)[0]), (std::vector<double>{0, 5, 10}));
  Tensor u = typed_tensor<int>(DataType::kUInt8, {3}, {0, 100, 255});
  Tensor uhi = typed_tensor<int>(DataType::kUInt8, {}, {200});
  EXPECT_EQ(values_of(run(clip_node(), {&u, nullptr, &uhi}, 12)[0]), (std::vector<double>{0, 100, 200}));
}

TEST(Clip, AttributesBeforeOpset11) {
  Node clip = make_node("Clip", 1);
  set_float(clip, "min", -1);
  set_float(clip, "max", 0.5f);
  Tensor x = float_tensor({-5, 0.25f, 9}, {3});
  EXPECT_EQ(values_of(run(clip, {&x}, 10)[0]), (std::vector<double>{-1, 0.25, 0.5}));
  Tensor lo = float_tensor({-2}, {});
  expect_error([&] { run(make_node("Clip", 2), {&x, &lo}, 10); }, {"Clip_test", "attribute before opset 11"});
}

TEST(Clip, Errors) {
  Tensor x = random_tensor({4});
  Tensor two = random_tensor({2});
  expect_error([&] { run(clip_node(), {&x, &two, nullptr}); }, {"Clip_test", "min", "scalar", "[2]"});
  Tensor i = int64_tensor({1}, {});
  expect_error([&] { run(clip_node(), {&x, nullptr, &i}); }, {"Clip_test", "max", "int64", "float32"});
  Tensor b(DataType::kBool, {2});
  expect_error([&] { run(make_node("Clip", 1), {&b}); }, {"Clip_test", "bool"});
  auto out = infer(clip_node(), {{DataType::kFloat32, sym({Dim::unknown("n"), 2})}, {DataType::kFloat32, Shape()}, {}});
  EXPECT_EQ(out[0].shape.to_string(), "[n,2]");
}

// ---- fast float32 kernels (src/cpu/elementwise_fast.cpp) ------------------------------------------------------
std::string fast_kernel_name(const std::string& op) {
  std::string snake;
  for (char c : op) {
    if (std::isupper(static_cast<unsigned char>(c)) && !snake.empty()) snake += '_';
    snake += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return "fast_" + snake + "_f32";
}

TEST(ActivationFast, MatchesReference) {
  for (const auto& c : cases()) {
    const CpuKernel* kernel = CpuKernelRegistry::global().find(fast_kernel_name(c.op));
    ASSERT_NE(kernel, nullptr) << fast_kernel_name(c.op);
    const Node node = activation_node(c);
    EXPECT_EQ(CpuKernelRegistry::global().choose(node, 20, {{DataType::kFloat32, sym({Dim::unknown(), 3})}}), kernel);
    EXPECT_EQ(CpuKernelRegistry::global().choose(node, 20, {{DataType::kFloat16, sym({3})}}), nullptr);
    for (const Dims& dims : std::vector<Dims>{{1}, {3, 7}, {2, 13, 5}, {}, {0, 4}, {3, 40001}}) {
      Tensor x = random_tensor(dims, -8, 8);
      if (x.numel() >= 5) {
        float* p = x.data<float>();
        p[0] = NAN, p[1] = INFINITY, p[2] = -INFINITY, p[3] = 0, p[4] = -0.0f;
      }
      auto fast = run(node, {&x}, 20, kernel->run);
      auto reference = run(node, {&x}, 20);
      EXPECT_LE(relative_error(fast[0], reference[0]), 1e-6) << c.op << " " << dims_to_string(dims);
    }
  }
}

TEST(ActivationFast, AccurateOnADenseGridAndAtSpecialValues) {
  // Every x in [-20, 20] at steps of 2^-10, and values around the exp range limits.
  std::vector<float> grid;
  for (int i = -20 * 1024; i <= 20 * 1024; ++i) grid.push_back(static_cast<float>(i) / 1024);
  for (float v : {-87.5f, -87.0f, -86.9f, -44.0f, 1e-30f, -1e-30f, 1e-6f, -1e-6f, 88.0f, -100.0f, 1000.0f, -1000.0f})
    grid.push_back(v);
  Tensor x = float_tensor(grid, {static_cast<int64_t>(grid.size())});
  for (const auto& c : cases()) {
    const CpuKernel* kernel = CpuKernelRegistry::global().find(fast_kernel_name(c.op));
    ASSERT_NE(kernel, nullptr);
    const Node node = activation_node(c);
    for (bool fast : {true, false}) {  // the same bound holds for the reference kernel
      auto out = run(node, {&x}, 20, fast ? kernel->run : nullptr);
      for (size_t i = 0; i < grid.size(); ++i) {
        const double want = c.fn(grid[i]);
        const double got = out[0].data<float>()[i];
        // ~2 ulp of the result plus the rounding of intermediates of magnitude ~max(1, |x|); Selu's
        // alpha * e^x - alpha cancels near 0 (in the reference too), so its intermediates round at ~alpha.
        const double absolute = std::string(c.op) == "Selu" ? 1.5e-7 : 6e-8;
        const double tolerance =
            2.5e-7 * std::fabs(want) + absolute * std::max(1.0, std::fabs(static_cast<double>(grid[i])));
        ASSERT_NEAR(got, want, tolerance) << c.op << (fast ? " fast" : " reference") << " at x = " << grid[i];
      }
    }
  }
}

TEST(ActivationFast, InfinitiesAndNaNMatchTheReference) {
  Tensor x = float_tensor({INFINITY, -INFINITY, NAN, 0.0f, -0.0f}, {5});
  for (const auto& c : cases()) {
    const CpuKernel* kernel = CpuKernelRegistry::global().find(fast_kernel_name(c.op));
    ASSERT_NE(kernel, nullptr);
    const Node node = activation_node(c);
    auto fast = values_of(run(node, {&x}, 20, kernel->run)[0]);
    auto reference = values_of(run(node, {&x}, 20)[0]);
    for (size_t i = 0; i < fast.size(); ++i) {
      if (std::isnan(reference[i])) {
        EXPECT_TRUE(std::isnan(fast[i])) << c.op << " at " << x.data<float>()[i];
      } else {
        EXPECT_EQ(fast[i], reference[i]) << c.op << " at " << x.data<float>()[i];
      }
    }
  }
}

TEST(ActivationFast, ClipMatchesReference) {
  const CpuKernel* kernel = CpuKernelRegistry::global().find("fast_clip_f32");
  ASSERT_NE(kernel, nullptr);
  Tensor x = random_tensor({3, 40001}, -3, 3);
  x.data<float>()[0] = NAN;
  Tensor lo = float_tensor({-1}, {});
  Tensor hi = float_tensor({0.5f}, {});
  const std::vector<std::vector<const Tensor*>> variants = {
      {&x, &lo, &hi}, {&x, nullptr, &hi}, {&x, &lo, nullptr}, {&x, nullptr, nullptr}, {&x, &hi, &lo}};
  for (const auto& inputs : variants) {
    Node clip = make_node("Clip", 3);
    EXPECT_LE(relative_error(run(clip, inputs, 13, kernel->run)[0], run(clip, inputs, 13)[0]), 0.0);
  }
  Node old_clip = make_node("Clip", 1);
  set_float(old_clip, "min", -0.25f);
  EXPECT_LE(relative_error(run(old_clip, {&x}, 10, kernel->run)[0], run(old_clip, {&x}, 10)[0]), 0.0);
  Node bad_gelu = make_node("Gelu", 1);
  set_string(bad_gelu, "approximate", "fast");
  EXPECT_EQ(CpuKernelRegistry::global().choose(bad_gelu, 20, {{DataType::kFloat32, sym({3})}}), nullptr);
}

}  // namespace
}  // namespace normrt::test
