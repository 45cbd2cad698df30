// The normalization CudaKernels (src/cuda/norm_kernels.cpp) against the ops' CPU reference kernels
// (src/ops/normalization.cpp), on fresh random data at many shapes: batch 1 to 32, odd sizes, G = 1 and G = C,
// every activation, residuals, per-group affine, fp32 / fp16 / bf16 storage with fp32 or same-type parameters.
//
// Tolerance |y - ref| <= atol + rtol * |ref|: the reference computes in double from the same (already rounded)
// inputs and rounds once to the storage type, the kernel computes in fp32 and rounds once, so the two may
// differ by one unit of the storage type's last place: (1e-4, 1e-4) for fp32, (2e-3, 2e-3) for fp16 (spacing
// 2^-10), (1.6e-2, 1.6e-2) for bf16 (spacing 2^-7).
#include <gtest/gtest.h>

#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cuda/cuda_kernel.h"
#include "cuda_kernel_test_util.h"
#include "ops/evaluate.h"
#include "ops/shape_util.h"
#include "passes/float16_precision.h"

namespace normrt {
namespace cuda {
namespace testing {
namespace {

using IrType = ::normrt::DataType;

std::mt19937& rng() {
  static std::mt19937 generator(20261125);
  return generator;
}

Tensor random_tensor(IrType dtype, const Dims& dims, double low = -2.0, double high = 2.0) {
  Tensor t(dtype, dims);
  std::uniform_real_distribution<double> dist(low, high);
  for (int64_t i = 0; i < t.numel(); ++i) set_element_from_double(t, i, dist(rng()));
  return t;
}

// Per-channel offsets, so that groups have different means (a kernel mixing groups up fails).
Tensor random_activation(IrType dtype, const Dims& dims) {
  Tensor t(dtype, dims);
  std::normal_distribution<double> dist(0.0, 1.0);
  const int64_t channels = dims.size() > 1 ? dims[1] : 1;
  int64_t inner = 1;
  for (size_t d = 2; d < dims.size(); ++d) inner *= dims[d];
  std::vector<double> offset(static_cast<size_t>(channels));
  for (auto& o : offset) o = std::uniform_real_distribution<double>(-1.5, 1.5)(rng());
  for (int64_t i = 0; i < t.numel(); ++i) set_element_from_double(t, i, offset[(i / inner) % channels] + dist(rng()));
  return t;
}

Attribute int_attr(int64_t v) {
  Attribute a;
  a.type = AttributeType::kInt;
  a.i = v;
  return a;
}
Attribute float_attr(float v) {
  Attribute a;
  a.type = AttributeType::kFloat;
  a.f = v;
  return a;
}
Attribute string_attr(const std::string& v) {
  Attribute a;
  a.type = AttributeType::kString;
  a.s = v;
  return a;
}

Node make_node(const std::string& domain, const std::string& op_type, const std::vector<bool>& present,
               size_t outputs = 1) {
  Node n;
  n.name = op_type + "_test";
  n.domain = domain;
  n.op_type = op_type;
  for (size_t i = 0; i < present.size(); ++i) n.inputs.push_back(present[i] ? "in" + std::to_string(i) : "");
  for (size_t i = 0; i < outputs; ++i) n.outputs.push_back("out" + std::to_string(i));
  return n;
}

double atol_of(IrType t) { return t == IrType::kFloat32 ? 1e-4 : t == IrType::kFloat16 ? 2e-3 : 1.6e-2; }

std::string what(const Node& node, const std::vector<const Tensor*>& inputs) {
  std::ostringstream s;
  s << node.describe();
  for (const auto& [key, a] : node.attributes) {
    s << " " << key << "=";
    if (a.type == AttributeType::kInt) s << a.i;
    if (a.type == AttributeType::kFloat) s << a.f;
    if (a.type == AttributeType::kString) s << "'" << a.s << "'";
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    s << " in" << i << "="
      << (inputs[i] ? std::string(dtype_name(inputs[i]->dtype())) + "[" + dims_to_string(inputs[i]->dims()) + "]"
                    : std::string("absent"));
  return s.str();
}

// Runs the kernel and the reference on the same inputs and compares every output. Without a GPU only the
// reference runs (and accepts() is asked), so that CI still checks every case is well formed; the test then
// reports itself skipped.
void expect_matches_reference(const std::string& kernel, const Node& node, int64_t opset,
                              const std::vector<const Tensor*>& inputs, const std::string& config = "",
                              std::string* tuned = nullptr) {
  SCOPED_TRACE(what(node, inputs));
  std::vector<Tensor> got, want;
  try {
    want = run_reference(node, opset, inputs);
  } catch (const Error& e) {
    FAIL() << "reference failed: " << e.what();
  }
  if (!gpu_available()) {  // without a device: the case is valid for the reference and the kernel accepts it
    std::vector<TypeShape> types(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i)
      if (inputs[i]) types[i] = TypeShape{inputs[i]->dtype(), Shape::from_dims(inputs[i]->dims())};
    const CudaKernel* k = CudaKernelRegistry::global().find(kernel);
    ASSERT_NE(k, nullptr);
    EXPECT_TRUE(k->accepts(node, opset, types));
    return;
  }
  try {
    got = run_cuda_node(kernel, node, opset, inputs, config, tuned);
  } catch (const Error& e) {
    FAIL() << "CUDA kernel failed: " << e.what();
  }
  ASSERT_EQ(got.size(), want.size());
  const double tol = atol_of(inputs[0]->dtype());
  for (size_t i = 0; i < got.size(); ++i) {
    if (want[i].empty()) continue;
    EXPECT_EQ(compare_tensors(got[i], want[i], tol, tol), "") << "output " << i;
  }
}

// Called last: marks the test skipped when no device ran the kernels.
void skip_without_gpu() {
  if (!gpu_available()) GTEST_SKIP() << "no CUDA device: only the reference kernels and accepts() were checked";
}

const char* kActivations[] = {"", "Relu", "Silu", "Elu", "Gelu", "Sigmoid", "Tanh", "LeakyRelu"};
constexpr int kActivationCount = 8;
const IrType kStorage[] = {IrType::kFloat32, IrType::kFloat16, IrType::kBFloat16};

struct ChannelCase {
  Dims x;
  int64_t groups;
};

// [N, C, spatial...] and G: batch 1..32, odd sizes, G = 1, G = C, rank 2 to 5, and one group too large for a
// cluster's shared memory (the split algorithm with its workspace).
std::vector<ChannelCase> channel_cases() {
  return {{{1, 4, 3, 5}, 2},     {{2, 6, 7, 7}, 3},      {{3, 8, 1, 1}, 8},      {{5, 16, 9, 11}, 1},
          {{32, 64, 8, 8}, 32},  {{7, 12, 5, 3}, 4},     {{2, 320, 16, 16}, 32}, {{1, 32, 64, 64}, 32},
          {{4, 30, 17}, 10},     {{6, 24}, 6},           {{2, 8, 3, 4, 5}, 4},   {{9, 3, 13, 13}, 3},
          {{1, 4, 512, 512}, 1}, {{16, 1280, 4, 4}, 32}, {{8, 64, 15, 15}, 64},  {{2, 640, 9, 9}, 32}};
}

// ---------------------------------------------------------------------------------------------------------
// ai.normrt GroupNorm: every case with every storage type, cycling activations, parameter types and forms.

TEST(CudaNormKernels, FusedGroupNorm) {
  int variant = 0;
  for (const ChannelCase& c : channel_cases()) {
    for (IrType dtype : kStorage) {
      ++variant;
      const char* act = kActivations[variant % kActivationCount];
      const bool per_group = variant % 3 == 1;
      const bool residual = variant % 2 == 0;
      const bool has_scale = variant % 5 != 4, has_bias = variant % 7 != 6;
      // Parameters: fp32 (what the float16 lowering keeps) or X's own type.
      const IrType param = variant % 4 == 3 ? dtype : IrType::kFloat32;
      const int64_t param_len = per_group ? c.groups : c.x[1];
      Node node = make_node(kNormrtDomain, "GroupNorm", {true, has_scale, has_bias, residual});
      node.attributes["num_groups"] = int_attr(c.groups);
      node.attributes["epsilon"] = float_attr(variant % 2 ? 1e-5f : 1e-3f);
      if (act[0]) node.attributes["activation"] = string_attr(act);
      if (std::string(act) == "LeakyRelu" || std::string(act) == "Elu")
        node.attributes["activation_alpha"] = float_attr(0.2f);
      if (per_group) node.attributes["affine_per_group"] = int_attr(1);
      if (residual && variant % 4 < 2) node.attributes["residual_before_activation"] = int_attr(1);
      Tensor x = random_activation(dtype, c.x), scale = random_tensor(param, {param_len}, 0.5, 1.5),
             bias = random_tensor(param, {param_len}), res = random_tensor(dtype, c.x);
      expect_matches_reference(
          "cuda_norm_group_fused", node, 1,
          {&x, has_scale ? &scale : nullptr, has_bias ? &bias : nullptr, residual ? &res : nullptr});
    }
  }
  skip_without_gpu();
}

// channels_last = 1 (the layout pass's form): X and residual [N, spatial..., C], the NHWC kernels.
TEST(CudaNormKernels, FusedGroupNormChannelsLast) {
  int variant = 0;
  for (const ChannelCase& c : channel_cases()) {
    if (c.x.size() < 3) continue;
    Dims dims{c.x[0]};
    dims.insert(dims.end(), c.x.begin() + 2, c.x.end());
    dims.push_back(c.x[1]);
    for (IrType dtype : kStorage) {
      ++variant;
      const char* act = kActivations[variant % kActivationCount];
      const bool residual = variant % 2 == 0;
      const bool per_group = variant % 3 == 1;
      const int64_t param_len = per_group ? c.groups : c.x[1];
      Node node = make_node(kNormrtDomain, "GroupNorm", {true, true, true, residual});
      node.attributes["num_groups"] = int_attr(c.groups);
      node.attributes["channels_last"] = int_attr(1);
      if (act[0]) node.attributes["activation"] = string_attr(act);
      if (residual && variant % 4 < 2) node.attributes["residual_before_activation"] = int_attr(1);
      if (per_group) node.attributes["affine_per_group"] = int_attr(1);
      Tensor x = random_activation(dtype, dims), scale = random_tensor(IrType::kFloat32, {param_len}, 0.5, 1.5),
             bias = random_tensor(IrType::kFloat32, {param_len}), res = random_tensor(dtype, dims);
      expect_matches_reference("cuda_norm_group_fused", node, 1, {&x, &scale, &bias, residual ? &res : nullptr});
    }
  }
  skip_without_gpu();
}

TEST(CudaNormKernels, FusedGroupNormEveryActivationAtDiffusionShape) {
  for (IrType dtype : {IrType::kFloat32, IrType::kFloat16})
    for (int a = 0; a < kActivationCount; ++a)
      for (bool residual : {false, true}) {
        Node node = make_node(kNormrtDomain, "GroupNorm", {true, true, true, residual});
        node.attributes["num_groups"] = int_attr(32);
        if (kActivations[a][0]) node.attributes["activation"] = string_attr(kActivations[a]);
        Tensor x = random_activation(dtype, {2, 320, 16, 16}), scale = random_tensor(IrType::kFloat32, {320}),
               bias = random_tensor(IrType::kFloat32, {320}), res = random_tensor(dtype, {2, 320, 16, 16});
        expect_matches_reference("cuda_norm_group_fused", node, 1, {&x, &scale, &bias, residual ? &res : nullptr});
      }
  skip_without_gpu();
}

// Build-time tuning: tune() keeps the planner's choice ("") or names knobs that plan at the tuned shape, and the
// node computes the same with them (NCHW and NHWC, fp16 and fp32, the UNet's shapes at batch 8 and odd ones). A
// stored configuration that does not plan at the running shape (a cluster of one block for a 4 MB group, the
// registers kernel for NCHW), or a malformed one, runs the planner's choice.
TEST(CudaNormKernels, TunedConfigurationsComputeTheSame) {
  struct TuneCase {
    Dims x;
    int64_t groups;
    bool channels_last;
  };
  const TuneCase cases[] = {{{8, 640, 16, 16}, 32, true},  {{8, 320, 32, 32}, 32, true},
                            {{8, 320, 32, 32}, 32, false}, {{2, 96, 15, 15}, 8, false},
                            {{3, 13, 9, 7}, 13, true},     {{64, 1280}, 1, false}};
  int tuned_count = 0, cases_run = 0;
  for (const TuneCase& c : cases)
    for (IrType dtype : {IrType::kFloat32, IrType::kFloat16}) {
      Dims dims = c.x;
      if (c.channels_last) {
        dims = {c.x[0]};
        dims.insert(dims.end(), c.x.begin() + 2, c.x.end());
        dims.push_back(c.x[1]);
      }
      Node node = make_node(kNormrtDomain, "GroupNorm", {true, true, true, false});
      node.attributes["num_groups"] = int_attr(c.groups);
      node.attributes["activation"] = string_attr("Silu");
      if (c.channels_last) node.attributes["channels_last"] = int_attr(1);
      Tensor x = random_activation(dtype, dims), scale = random_tensor(IrType::kFloat32, {c.x[1]}, 0.5, 1.5),
             bias = random_tensor(IrType::kFloat32, {c.x[1]});
      std::string tuned;
      expect_matches_reference("cuda_norm_group_fused", node, 1, {&x, &scale, &bias}, "", &tuned);
      if (!gpu_available()) continue;
      ++cases_run;
      if (tuned.empty()) continue;
      ++tuned_count;
      EXPECT_EQ(tuned.find("algo="), 0u) << tuned;
      expect_matches_reference("cuda_norm_group_fused", node, 1, {&x, &scale, &bias}, tuned);
    }
  if (gpu_available()) std::printf("%d of %d cases tuned away from the planner's choice\n", tuned_count, cases_run);

  // Stored configurations that do not plan here, or do not parse: the planner's choice.
  Node node = make_node(kNormrtDomain, "GroupNorm", {true, true, true, false});
  node.attributes["num_groups"] = int_attr(1);
  Tensor x = random_activation(IrType::kFloat32, {1, 4, 512, 512}), scale = random_tensor(IrType::kFloat32, {4}),
         bias = random_tensor(IrType::kFloat32, {4});
  for (const char* config : {"algo=1;cluster=1;threads=0;vectors=0;warps=0", "algo=3;cluster=0;threads=0;vectors=2;warps=0",
                             "algo=1;cluster=8;threads=100;vectors=0;warps=0", "algo=banana", "algo=9", "warps=3"}) {
    SCOPED_TRACE(config);
    expect_matches_reference("cuda_norm_group_fused", node, 1, {&x, &scale, &bias}, config);
  }
  skip_without_gpu();
}

// ---------------------------------------------------------------------------------------------------------
// ai.normrt LayerNorm: axis, broadcasting parameters, activation, residual.

struct RowCase {
  Dims x;
  int64_t axis;
  Dims param;  // the scale's and bias's shape
};

std::vector<RowCase> row_cases() {
  return {{{2, 5, 7}, -1, {7}},   {{3, 4, 6}, 1, {4, 6}},     {{3, 4, 6}, 1, {6}},
          {{3, 4, 6}, 1, {4, 1}}, {{1, 1}, -1, {1}},          {{8, 197, 768}, 2, {768}},
          {{4, 1024}, 1, {1024}}, {{32, 77, 320}, -1, {320}}, {{5, 3, 2, 9}, 2, {1, 9}},
          {{7, 33}, 0, {7, 33}},  {{2, 4096, 40}, -1, {40}},  {{1, 3, 300001}, -1, {300001}}};
}

TEST(CudaNormKernels, FusedLayerNorm) {
  int variant = 0;
  for (const RowCase& c : row_cases()) {
    for (IrType dtype : kStorage) {
      ++variant;
      const char* act = kActivations[variant % kActivationCount];
      const bool residual = variant % 2 == 1, has_bias = variant % 3 != 2, has_scale = variant % 5 != 4;
      const IrType param = variant % 4 == 2 ? dtype : IrType::kFloat32;
      Node node = make_node(kNormrtDomain, "LayerNorm", {true, has_scale, has_bias, residual});
      node.attributes["axis"] = int_attr(c.axis);
      if (act[0]) node.attributes["activation"] = string_attr(act);
      if (residual && variant % 4 == 1) node.attributes["residual_before_activation"] = int_attr(1);
      Tensor x = random_activation(dtype, c.x), scale = random_tensor(param, c.param, 0.5, 1.5),
             bias = random_tensor(param, c.param), res = random_tensor(dtype, c.x);
      expect_matches_reference(
          "cuda_norm_layer_fused", node, 1,
          {&x, has_scale ? &scale : nullptr, has_bias ? &bias : nullptr, residual ? &res : nullptr});
    }
  }
  skip_without_gpu();
}

// ---------------------------------------------------------------------------------------------------------
// The standard ONNX ops.

TEST(CudaNormKernels, InstanceNormalization) {
  for (const Dims& dims : std::vector<Dims>{{2, 3, 5, 5}, {32, 8, 7}, {1, 64, 33, 31}, {3, 5, 2, 3, 4}})
    for (IrType dtype : kStorage)
      for (IrType param : {IrType::kFloat32, dtype}) {
        Node node = make_node("", "InstanceNormalization", {true, true, true});
        node.attributes["epsilon"] = float_attr(1e-4f);
        Tensor x = random_activation(dtype, dims), scale = random_tensor(param, {dims[1]}),
               bias = random_tensor(param, {dims[1]});
        expect_matches_reference("cuda_norm_instance", node, 6, {&x, &scale, &bias});
      }
  skip_without_gpu();
}

TEST(CudaNormKernels, GroupNormalization18And21) {
  for (int64_t opset : {18, 21})
    for (const ChannelCase& c :
         std::vector<ChannelCase>{{{2, 6, 7, 7}, 3}, {{8, 64, 8, 8}, 32}, {{1, 10, 3}, 1}, {{4, 12, 5, 5}, 12}})
      for (IrType dtype : kStorage) {
        Node node = make_node("", "GroupNormalization", {true, true, true});
        node.attributes["num_groups"] = int_attr(c.groups);
        node.attributes["epsilon"] = float_attr(1e-5f);
        const int64_t len = opset < 21 ? c.groups : c.x[1];
        Tensor x = random_activation(dtype, c.x), scale = random_tensor(dtype, {len}),
               bias = random_tensor(dtype, {len});
        expect_matches_reference("cuda_norm_group", node, opset, {&x, &scale, &bias});
      }
  skip_without_gpu();
}

TEST(CudaNormKernels, LayerNormalization) {
  for (const RowCase& c : row_cases())
    for (IrType dtype : kStorage)
      for (bool has_bias : {true, false}) {
        if (c.x.size() > 2 && c.x[2] == 300001 && dtype != IrType::kFloat16) continue;  // one long row is enough
        Node node = make_node("", "LayerNormalization", {true, true, has_bias});
        node.attributes["axis"] = int_attr(c.axis);
        node.attributes["epsilon"] = float_attr(1e-5f);
        Tensor x = random_activation(dtype, c.x), scale = random_tensor(IrType::kFloat32, c.param),
               bias = random_tensor(IrType::kFloat32, c.param);
        expect_matches_reference("cuda_norm_layer", node, 17, {&x, &scale, has_bias ? &bias : nullptr});
      }
  skip_without_gpu();
}

TEST(CudaNormKernels, BatchNormalization) {
  for (const Dims& dims : std::vector<Dims>{{1, 3, 5, 5}, {32, 64, 7, 7}, {4, 10}, {3, 7, 2, 3, 5}, {2, 1, 9}})
    for (IrType dtype : kStorage)
      for (int64_t opset : {9, 15}) {
        // Opset 15 allows scale/bias (T1) and mean/var (T2) of other types than X's.
        const IrType t1 = opset >= 15 ? IrType::kFloat32 : dtype, t2 = opset >= 15 ? IrType::kFloat64 : dtype;
        Node node = make_node("", "BatchNormalization", {true, true, true, true, true});
        node.attributes["epsilon"] = float_attr(1e-3f);
        const Dims c = {dims[1]};
        Tensor x = random_activation(dtype, dims), scale = random_tensor(t1, c), bias = random_tensor(t1, c),
               mean = random_tensor(t2, c), var = random_tensor(t2, c, 0.1, 3.0);
        expect_matches_reference("cuda_norm_batch", node, opset, {&x, &scale, &bias, &mean, &var});
      }
  skip_without_gpu();
}

// ---------------------------------------------------------------------------------------------------------
// What the kernels refuse at build time (such nodes run elsewhere); build-time shapes may be symbolic.

TEST(CudaNormKernels, Acceptance) {
  const CudaKernel* gn = CudaKernelRegistry::global().find("cuda_norm_group_fused");
  const CudaKernel* ln = CudaKernelRegistry::global().find("cuda_norm_layer");
  const CudaKernel* bn = CudaKernelRegistry::global().find("cuda_norm_batch");
  ASSERT_TRUE(gn && ln && bn);
  const Shape symbolic({Dim::unknown("batch"), Dim(64), Dim::unknown("h"), Dim::unknown("w")});
  const TypeShape x16{IrType::kFloat16, symbolic}, x64{IrType::kFloat64, symbolic};
  const TypeShape p32{IrType::kFloat32, Shape({Dim(64)})};
  Node node = make_node(kNormrtDomain, "GroupNorm", {true, true, true});
  node.attributes["num_groups"] = int_attr(32);
  node.attributes["activation"] = string_attr("Silu");
  EXPECT_TRUE(gn->accepts(node, 1, {x16, p32, p32}));
  EXPECT_FALSE(gn->accepts(node, 1, {x64, p32, p32}));
  node.attributes["activation"] = string_attr("GeluTanh");
  EXPECT_FALSE(gn->accepts(node, 1, {x16, p32, p32}));
  node.attributes["activation"] = string_attr("HardSwish");
  EXPECT_FALSE(gn->accepts(node, 1, {x16, p32, p32}));
  EXPECT_EQ(CudaKernelRegistry::global().choose(node, 1, {x16, p32, p32}), nullptr);

  Node layer = make_node("", "LayerNormalization", {true, true}, 1);
  const TypeShape rows{IrType::kFloat32, Shape({Dim::unknown("n"), Dim(77), Dim(768)})};
  const TypeShape lp{IrType::kFloat32, Shape({Dim(768)})};
  EXPECT_TRUE(ln->accepts(layer, 17, {rows, lp}));
  Node with_stats = make_node("", "LayerNormalization", {true, true}, 3);
  EXPECT_FALSE(ln->accepts(with_stats, 17, {rows, lp}));  // Mean and InvStdDev are not written
  with_stats.outputs[1] = with_stats.outputs[2] = "";
  EXPECT_TRUE(ln->accepts(with_stats, 17, {rows, lp}));

  Node batch = make_node("", "BatchNormalization", {true, true, true, true, true});
  batch.attributes["training_mode"] = int_attr(1);
  EXPECT_FALSE(bn->accepts(batch, 15, {x16, p32, p32, p32, p32}));
  batch.attributes["training_mode"] = int_attr(0);
  EXPECT_TRUE(bn->accepts(batch, 15, {x16, p32, p32, p32, p32}));
}

// The float16 lowering asking this registry (as the CUDA builder does): every normalization runs in float16
// on its kernel with float32 parameters; no device needed.
TEST(CudaNormKernels, Float16LoweringKeepsNormalizationsOnTheirKernels) {
  Graph g;
  g.opsets[""] = 17;
  g.opsets[kNormrtDomain] = 1;
  g.inputs.push_back(ValueInfo{"x", IrType::kFloat32, Shape({Dim::unknown("batch"), Dim(64), Dim(8), Dim(8)})});
  g.outputs.push_back(ValueInfo{"z", IrType::kFloat32, Shape()});
  for (const char* name : {"gamma", "beta", "mean", "var"})
    g.initializers[name] = random_tensor(IrType::kFloat32, {64}, 0.5, 1.5);
  g.initializers["ln_scale"] = random_tensor(IrType::kFloat32, {8});
  Node gn = make_node(kNormrtDomain, "GroupNorm", {true, true, true});
  gn.inputs = {"x", "gamma", "beta"};
  gn.outputs = {"y"};
  gn.attributes["num_groups"] = int_attr(32);
  gn.attributes["activation"] = string_attr("Silu");
  Node bn = make_node("", "BatchNormalization", {true, true, true, true, true});
  bn.inputs = {"y", "gamma", "beta", "mean", "var"};
  bn.outputs = {"b"};
  Node ln = make_node("", "LayerNormalization", {true, true});
  ln.inputs = {"b", "ln_scale"};
  ln.outputs = {"z"};
  g.nodes = {gn, bn, ln};
  PassReport report;
  lower_to_float16(
      g,
      [](const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) {
        return CudaKernelRegistry::global().choose(node, opset, inputs) != nullptr;
      },
      report);
  GraphTypes types = infer_graph(g, {});
  int norms = 0;
  for (const Node& node : g.nodes) {
    if (node.op_type == "Cast") continue;
    ++norms;
    std::vector<TypeShape> inputs;
    for (const std::string& in : node.inputs) inputs.push_back(in.empty() ? TypeShape{} : types.types.at(in));
    EXPECT_EQ(inputs[0].dtype, IrType::kFloat16) << node.describe();
    for (size_t i = 1; i < inputs.size(); ++i) EXPECT_EQ(inputs[i].dtype, IrType::kFloat32) << node.describe();
    const CudaKernel* kernel = CudaKernelRegistry::global().choose(node, g.opset(node.domain), inputs);
    ASSERT_NE(kernel, nullptr) << node.describe();
    EXPECT_EQ(kernel->name.rfind("cuda_norm_", 0), 0u) << kernel->name;
  }
  EXPECT_EQ(norms, 3);
  EXPECT_EQ(types.types.at("z").dtype, IrType::kFloat32);
}

}  // namespace
}  // namespace testing
}  // namespace cuda
}  // namespace normrt
