// cuDNN Conv and ConvTranspose kernels against the CPU reference on fresh random data: 1-D, 2-D and 3-D; batch 1,
// 2 and 5; odd extents; groups, depthwise; strides, dilations, symmetric, asymmetric and automatic padding;
// output_padding and output_shape; with and without bias; fp32 and fp16 (tolerances in dnn_test_util.h). Also:
// a configuration tuned at one shape used at others, and every stored algorithm number (supported or not).
#include <cuda_runtime_api.h>

#include <memory>

#include "cuda/cudnn_graph.h"
#include "cuda/dnn_util.h"
#include "ops/channels_last.h"
#include "dnn_test_util.h"

namespace normrt {
namespace cuda {
namespace testing {
namespace {

using ::normrt::DataType;

struct ConvCase {
  Dims x;
  int64_t out_channels;  // Conv: M; ConvTranspose: M / group (W's dim 1)
  std::vector<int64_t> kernel, strides, dilations, pads;
  int64_t group = 1;
  bool bias = false;
  std::string auto_pad = "";
  std::vector<int64_t> output_padding = {};
  std::vector<int64_t> output_shape = {};
};

Node conv_node(const std::string& op, const ConvCase& c) {
  Node n = make_node(op, c.bias ? 3 : 2);
  if (!c.strides.empty()) set_ints(n, "strides", c.strides);
  if (!c.dilations.empty()) set_ints(n, "dilations", c.dilations);
  if (!c.pads.empty()) set_ints(n, "pads", c.pads);
  if (c.group != 1) set_int(n, "group", c.group);
  if (!c.auto_pad.empty()) set_string(n, "auto_pad", c.auto_pad);
  if (!c.output_padding.empty()) set_ints(n, "output_padding", c.output_padding);
  if (!c.output_shape.empty()) set_ints(n, "output_shape", c.output_shape);
  return n;
}

Dims weight_dims(bool transpose, const ConvCase& c) {
  Dims w = transpose ? Dims{c.x[1], c.out_channels} : Dims{c.out_channels, c.x[1] / c.group};
  w.insert(w.end(), c.kernel.begin(), c.kernel.end());
  return w;
}

int64_t reduction_terms(const ConvCase& c) {
  int64_t terms = c.x[1] / c.group;  // input channels per group, for both ops
  for (int64_t k : c.kernel) terms *= k;
  return terms;
}

// Checks one case at its own batch and, when `batches` is set, also at batches 1 and 5 (fresh data each time).
void check_case(const std::string& kernel, bool transpose, const ConvCase& c, DataType dtype,
                const std::string& config = "", bool batches = true) {
  std::vector<int64_t> sizes{c.x[0]};
  if (batches)
    for (int64_t b : {int64_t{1}, int64_t{5}})
      if (b != c.x[0]) sizes.push_back(b);
  for (int64_t batch : sizes) {
    ConvCase at = c;
    at.x[0] = batch;
    const Node node = conv_node(transpose ? "ConvTranspose" : "Conv", at);
    Tensor x = random_tensor(dtype, at.x);
    Tensor w = random_tensor(dtype, weight_dims(transpose, at));
    const int64_t m = transpose ? at.out_channels * at.group : at.out_channels;
    Tensor b = random_tensor(dtype, {m});
    std::vector<const Tensor*> inputs{&x, &w};
    if (at.bias) inputs.push_back(&b);
    EXPECT_EQ(check_node(kernel, node, inputs, tolerance_for(dtype, reduction_terms(at)), config), "")
        << node.op_type << " " << dtype_name(dtype) << " batch " << batch;
  }
}

const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases = {
      // 1-D
      {{1, 3, 7}, 4, {3}, {1}, {1}, {0, 0}, 1, true},
      {{2, 4, 13}, 6, {3}, {2}, {2}, {1, 2}, 2},       // asymmetric
      {{5, 5, 9}, 5, {5}, {1}, {1}, {2, 2}, 5, true},  // depthwise
      // 2-D
      {{1, 3, 7, 9}, 8, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1, true},
      {{5, 6, 13, 1}, 4, {3, 1}, {2, 1}, {1, 1}, {1, 0, 1, 0}, 2},
      {{2, 8, 9, 9}, 8, {3, 3}, {2, 2}, {2, 2}, {2, 2, 2, 2}, 8, true},     // depthwise, dilated, strided
      {{2, 16, 7, 9}, 32, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 16, true},  // depthwise, multiplier 2
      {{4, 6, 13, 11}, 4, {3, 2}, {2, 1}, {1, 2}, {0, 1, 2, 0}, 2},         // asymmetric
      {{1, 4, 7, 7}, 8, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}, 1},
      {{3, 6, 5, 8}, 12, {5, 3}, {1, 3}, {1, 1}, {2, 1, 2, 1}, 3, true},
      {{1, 2, 3, 3}, 2, {3, 3}, {1, 1}, {3, 3}, {3, 3, 3, 3}, 1},
      {{2, 64, 14, 14}, 64, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1, true},  // 576-term reductions
      {{2, 32, 15, 17}, 48, {1, 1}, {2, 2}, {1, 1}, {0, 0, 0, 0}, 1, true},
      // automatic padding
      {{2, 3, 8, 7}, 5, {3, 3}, {2, 2}, {}, {}, 1, true, "SAME_UPPER"},
      {{1, 4, 9, 6}, 4, {4, 2}, {1, 1}, {}, {}, 2, false, "SAME_LOWER"},
      {{2, 3, 9, 10}, 4, {3, 4}, {2, 3}, {}, {}, 1, true, "VALID"},
      // 3-D
      {{1, 2, 5, 6, 7}, 4, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1, 1, 1, 1}, 1, true},
      {{2, 4, 7, 5, 6}, 4, {2, 3, 1}, {2, 1, 2}, {1, 2, 1}, {0, 1, 0, 1, 2, 0}, 4},
  };
  return cases;
}

const std::vector<ConvCase>& conv_transpose_cases() {
  static const std::vector<ConvCase> cases = {
      {{1, 3, 5, 5}, 2, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, 1, true, "", {1, 1}},
      {{2, 4, 7, 9}, 3, {3, 2}, {2, 3}, {1, 1}, {1, 0, 0, 1}, 1},  // asymmetric: crop
      {{5, 6, 4, 3}, 2, {3, 3}, {1, 1}, {1, 1}, {0, 0, 0, 0}, 2, true},
      {{2, 8, 5, 5}, 1, {4, 4}, {2, 2}, {1, 1}, {1, 1, 1, 1}, 8, true},               // depthwise
      {{1, 2, 6, 5}, 3, {3, 3}, {2, 2}, {2, 2}, {2, 2, 2, 2}, 1, false, "", {1, 1}},  // dilated
      {{2, 32, 9, 7}, 16, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1, true},
      {{1, 16, 13, 1}, 8, {4, 1}, {2, 1}, {1, 1}, {1, 0, 1, 0}, 2, true},
      // 1-D and 3-D
      {{2, 4, 13}, 2, {3}, {2}, {1}, {1, 2}, 1, true, "", {1}},
      {{1, 2, 3, 4, 5}, 2, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1, 1, 1, 1}, 1, true, "", {1, 0, 1}},
      // output_shape (pads [1, 1] at the beginning: asymmetric) and automatic padding
      {{1, 3, 5, 5}, 2, {3, 3}, {2, 2}, {1, 1}, {}, 1, true, "", {}, {10, 10}},
      {{2, 3, 5, 7}, 2, {3, 3}, {2, 2}, {1, 1}, {}, 1, false, "SAME_UPPER"},
      {{2, 3, 5, 7}, 2, {3, 3}, {2, 2}, {1, 1}, {}, 1, true, "SAME_LOWER"},
  };
  return cases;
}

// A configuration naming an engine no GPU has: the graph API's first usable engine where the problem takes the
// graph API (2-D, one group, symmetric padding), the legacy path elsewhere.
const char* kAnyGraphEngine = "engine=999999;rank=0";

// ai.normrt NhwcConv (the layout pass's channels-last Conv): the 2-D cases with symmetric padding, on
// channels-last X and W, against its reference (Conv on the data permuted back; tests/passes checks that one).
void check_nhwc_cases(DataType dtype) {
  int checked = 0;
  for (const ConvCase& c : conv_cases()) {
    if (c.x.size() != 4 || !c.auto_pad.empty() || c.pads[0] != c.pads[2] || c.pads[1] != c.pads[3]) continue;
    for (int64_t batch : {c.x[0], int64_t{1}, int64_t{5}}) {
      ConvCase at = c;
      at.x[0] = batch;
      Node node = conv_node("NhwcConv", at);
      node.domain = kNormrtDomain;
      const Tensor x = permute_tensor(random_tensor(dtype, at.x), to_channels_last_perm(4));
      const Tensor w = permute_tensor(random_tensor(dtype, weight_dims(false, at)), to_channels_last_perm(4));
      const Tensor b = random_tensor(dtype, {at.out_channels});
      std::vector<const Tensor*> inputs{&x, &w};
      if (at.bias) inputs.push_back(&b);
      EXPECT_EQ(check_node("cudnn_nhwc_conv", node, inputs, tolerance_for(dtype, reduction_terms(at))), "")
          << "X " << dims_to_string(at.x) << " " << dtype_name(dtype);
      EXPECT_EQ(check_node("cudnn_nhwc_conv", node, inputs, tolerance_for(dtype, reduction_terms(at)), kAnyGraphEngine),
                "")
          << "graph API, X " << dims_to_string(at.x) << " " << dtype_name(dtype);
      ++checked;
    }
  }
  EXPECT_GE(checked, 24);
}

TEST(CudnnNhwcConv, MatchesReferenceFp32) {
  NORMRT_REQUIRE_GPU();
  check_nhwc_cases(DataType::kFloat32);
}
TEST(CudnnNhwcConv, MatchesReferenceFp16) {
  NORMRT_REQUIRE_GPU();
  check_nhwc_cases(DataType::kFloat16);
}

// NhwcConv with a residual R (conv_residual_fusion's form): Y = Conv(X, W, B) + R on every path that adds it:
// the graph API's epilogue (where cuDNN has a precompiled engine for it; else the graph configuration runs the
// legacy path), the legacy fused-bias call with z = R (IMPLICIT_PRECOMP_GEMM), and R copied into Y then convolved
// with beta = 1 (IMPLICIT_GEMM, and any algorithm without a bias); what tune() picks, too.
void check_nhwc_residual_cases(DataType dtype) {
  int checked = 0;
  for (const ConvCase& c : conv_cases()) {
    if (c.x.size() != 4 || !c.auto_pad.empty() || c.pads[0] != c.pads[2] || c.pads[1] != c.pads[3]) continue;
    for (int64_t batch : {int64_t{1}, int64_t{3}})
      for (bool bias : {true, false}) {
        ConvCase at = c;
        at.x[0] = batch;
        at.bias = true;  // four inputs; B's name is cleared below when the case has none
        Node node = conv_node("NhwcConv", at);
        node.domain = kNormrtDomain;
        node.inputs.push_back("in3");
        if (!bias) node.inputs[2].clear();
        const Tensor x = permute_tensor(random_tensor(dtype, at.x), to_channels_last_perm(4));
        const Tensor w = permute_tensor(random_tensor(dtype, weight_dims(false, at)), to_channels_last_perm(4));
        const Tensor b = random_tensor(dtype, {at.out_channels});
        // R has Y's shape: the reference output's dims.
        Node plain = node;
        plain.inputs.resize(3);
        const Dims y_dims = run_reference(plain, 17, {&x, &w, bias ? &b : nullptr})[0].dims();
        const Tensor r = random_tensor(dtype, y_dims);
        const std::vector<const Tensor*> inputs{&x, &w, bias ? &b : nullptr, &r};
        const Tolerance tol = tolerance_for(dtype, reduction_terms(at) + 1);
        for (const char* config : {"", kAnyGraphEngine, "algo=1", "algo=0"})
          EXPECT_EQ(check_node("cudnn_nhwc_conv", node, inputs, tol, config), "")
              << "X " << dims_to_string(at.x) << " " << dtype_name(dtype) << (bias ? " bias" : "") << " config '"
              << config << "'";
        ++checked;
      }
  }
  EXPECT_GE(checked, 24);
}

TEST(CudnnNhwcConv, ResidualMatchesReferenceFp32) {
  NORMRT_REQUIRE_GPU();
  check_nhwc_residual_cases(DataType::kFloat32);
}
TEST(CudnnNhwcConv, ResidualMatchesReferenceFp16) {
  NORMRT_REQUIRE_GPU();
  check_nhwc_residual_cases(DataType::kFloat16);
}

TEST(CudnnNhwcConv, ResidualAcceptedOnlyOfItsType) {
  ConvCase c{{1, 4, 7, 7}, 4, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}};
  Node node = conv_node("NhwcConv", c);
  node.domain = kNormrtDomain;
  node.inputs = {"x", "w", "", "r"};
  const CudaKernel* k = CudaKernelRegistry::global().find("cudnn_nhwc_conv");
  ASSERT_NE(k, nullptr);
  const TypeShape x{DataType::kFloat32, Shape::from_dims({1, 7, 7, 4})}, w{DataType::kFloat32, Shape::from_dims({4, 3, 3, 4})};
  EXPECT_TRUE(k->accepts(node, 17, {x, w, TypeShape{}, x}));
  EXPECT_FALSE(k->accepts(node, 17, {x, w, TypeShape{}, TypeShape{DataType::kFloat16, x.shape}}));
  Node plain = node;
  plain.op_type = "Conv";
  plain.domain = "";
  const CudaKernel* conv = CudaKernelRegistry::global().find("cudnn_conv");
  ASSERT_NE(conv, nullptr);
  EXPECT_FALSE(conv->accepts(plain, 17, {x, w, TypeShape{}, x})) << "ONNX Conv has no fourth input";
}

TEST(CudnnNhwcConv, RefusesAsymmetricPadding) {
  ConvCase c{{1, 4, 7, 7}, 4, {3, 3}, {1, 1}, {1, 1}, {0, 0, 2, 2}};
  Node node = conv_node("NhwcConv", c);
  node.domain = kNormrtDomain;
  const CudaKernel* k = CudaKernelRegistry::global().find("cudnn_nhwc_conv");
  ASSERT_NE(k, nullptr);
  std::vector<TypeShape> types{{DataType::kFloat32, Shape::from_dims({1, 7, 7, 4})},
                               {DataType::kFloat32, Shape::from_dims({4, 3, 3, 4})}};
  EXPECT_FALSE(k->accepts(node, 17, types));
  set_ints(node, "pads", {1, 1, 1, 1});
  EXPECT_TRUE(k->accepts(node, 17, types));
}

TEST(CudnnConv, GraphApiEnginesMatchReference) {
  NORMRT_REQUIRE_GPU();
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
    for (const ConvCase& c : conv_cases()) check_case("cudnn_conv", false, c, dtype, kAnyGraphEngine);
}

TEST(CudnnConv, MatchesReferenceFp32) {
  NORMRT_REQUIRE_GPU();
  for (const ConvCase& c : conv_cases()) check_case("cudnn_conv", false, c, DataType::kFloat32);
}

TEST(CudnnConv, MatchesReferenceFp16) {
  NORMRT_REQUIRE_GPU();
  for (const ConvCase& c : conv_cases()) check_case("cudnn_conv", false, c, DataType::kFloat16);
}

TEST(CudnnConvTranspose, MatchesReferenceFp32) {
  NORMRT_REQUIRE_GPU();
  for (const ConvCase& c : conv_transpose_cases()) check_case("cudnn_conv_transpose", true, c, DataType::kFloat32);
}

TEST(CudnnConvTranspose, MatchesReferenceFp16) {
  NORMRT_REQUIRE_GPU();
  for (const ConvCase& c : conv_transpose_cases()) check_case("cudnn_conv_transpose", true, c, DataType::kFloat16);
}

// Every algorithm number stored in a config, whether cuDNN supports it for the problem or not, still gives the
// right answer (the kernel falls back), and so does a malformed config.
TEST(CudnnConv, AnyStoredAlgorithmWorks) {
  NORMRT_REQUIRE_GPU();
  const std::vector<ConvCase> cases = {
      {{2, 8, 9, 11}, 16, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1, true},
      {{3, 6, 13, 7}, 6, {5, 3}, {2, 1}, {1, 2}, {2, 0, 1, 2}, 3, true},
      {{1, 4, 7}, 4, {3}, {1}, {1}, {1, 1}, 4, true},
  };
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
    for (const ConvCase& c : cases) {
      for (int algo = 0; algo < CUDNN_CONVOLUTION_FWD_ALGO_COUNT; ++algo)
        check_case("cudnn_conv", false, c, dtype, "algo=" + std::to_string(algo) + ";math=1", false);
      check_case("cudnn_conv", false, c, dtype, "garbage", false);
      ConvCase t = c;
      t.out_channels = 3;
      t.pads.assign(t.pads.size(), 0);
      for (int algo = 0; algo < CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT; ++algo) {
        // ALGO_0 adds partial sums with atomics in the output type: float16 accumulation, which tune() never
        // stores (it skips non-deterministic algorithms); run() still honours it, checked in float32.
        if (algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_0 && dtype == DataType::kFloat16) continue;
        check_case("cudnn_conv_transpose", true, t, dtype, "algo=" + std::to_string(algo) + ";math=1", false);
      }
    }
}

// tune() at one shape (the profile's opt shape), then run() at other batches and extents with that config.
std::string tune_at(const std::string& kernel_name, const Node& node, const std::vector<const Tensor*>& inputs) {
  std::vector<Tensor> out = run_reference(node, 17, inputs);  // only for the output shape
  const CudaKernel* kernel = CudaKernelRegistry::global().find(kernel_name);
  CudaKernelContext ctx(node, 17);
  std::vector<void*> buffers;
  auto upload = [&](const Tensor& t) {
    void* p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, t.nbytes()), cudaSuccess);
    cudaMemcpy(p, t.raw(), t.nbytes(), cudaMemcpyHostToDevice);
    buffers.push_back(p);
    DeviceValue v;
    v.dtype = t.dtype();
    v.dims = t.dims();
    v.data = p;
    return v;
  };
  for (const Tensor* t : inputs) ctx.inputs.push_back(upload(*t));
  ctx.outputs.push_back(upload(out[0]));
  cudnnHandle_t cudnn;
  cudnnCreate(&cudnn);
  ctx.cudnn = cudnn;
  std::any state;
  ctx.state = &state;
  void* workspace = nullptr;
  ctx.workspace_bytes = size_t(64) << 20;
  cudaMalloc(&workspace, ctx.workspace_bytes);
  ctx.workspace = workspace;
  const std::string config = kernel->tune(ctx);
  cudaDeviceSynchronize();
  cudaFree(workspace);
  for (void* p : buffers) cudaFree(p);
  cudnnDestroy(cudnn);
  return config;
}

TEST(CudnnConv, TunedConfigWorksAtOtherShapes) {
  NORMRT_REQUIRE_GPU();
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
    for (bool transpose : {false, true}) {
      const std::string kernel = transpose ? "cudnn_conv_transpose" : "cudnn_conv";
      ConvCase opt = {{8, 32, 28, 28}, 32, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1, true};
      const Node node = conv_node(transpose ? "ConvTranspose" : "Conv", opt);
      Tensor x = random_tensor(dtype, opt.x), w = random_tensor(dtype, weight_dims(transpose, opt));
      Tensor b = random_tensor(dtype, {32});
      const std::string config = tune_at(kernel, node, {&x, &w, &b});
      // A legacy algorithm, or an engine of the graph API (2-D forward convolutions only).
      const bool chose = config.find("algo=") != std::string::npos ||
                         (!transpose && config.find("engine=") != std::string::npos);
      EXPECT_TRUE(chose) << "tune() chose nothing: '" << config << "'";
      for (const Dims& at : std::vector<Dims>{{1, 32, 28, 28}, {3, 32, 7, 9}, {2, 32, 1, 1}, {5, 32, 31, 13}}) {
        ConvCase c = opt;
        c.x = at;
        check_case(kernel, transpose, c, dtype, config, false);
      }
    }
}

// The fp16 NHWC 3x3 convolution (64 -> 64 channels, 2x16x16, padding 1) of a UNet residual block, as
// cudnn_conv.cpp describes it to the graph API.
ConvGraphSpec residual_block_spec(bool residual) {
  ConvGraphSpec spec;
  spec.io_type = CUDNN_DATA_HALF;
  const int64_t x[4] = {2, 64, 16, 16}, w[4] = {64, 64, 3, 3};
  for (int i = 0; i < 4; ++i) {
    spec.x[i] = spec.y[i] = x[i];
    spec.w[i] = w[i];
  }
  spec.channels_last = true;
  spec.pre_pad[0] = spec.pre_pad[1] = spec.post_pad[0] = spec.post_pad[1] = 1;
  spec.bias = true;
  spec.residual = residual;
  return spec;
}

// choose() never finalizes a runtime-compiled engine (a compile for each shape in each process): asked for one
// by its engine and rank, it takes a precompiled engine or none (the legacy path). cuDNN 9.14 on the H100 offers
// only runtime-compiled engines for conv + bias + residual, and precompiled ones for conv + bias.
TEST(CudnnGraph, RuntimeCompiledEnginesAreNeverChosen) {
  NORMRT_REQUIRE_GPU();
  cudnnHandle_t cudnn;
  ASSERT_EQ(cudnnCreate(&cudnn), CUDNN_STATUS_SUCCESS);
  for (bool residual : {true, false}) {
    ConvGraph graph;
    std::string error;
    ASSERT_TRUE(graph.build(cudnn, residual_block_spec(residual), &error)) << error;
    size_t precompiled = 0;
    for (size_t rank = 0; rank < graph.candidates(); ++rank) {
      const ConvGraph::Candidate c = graph.candidate(rank);
      if (c.acceptable && !c.runtime_compiled) ++precompiled;
      const auto plan = graph.choose(c.engine, rank);
      if (!plan) continue;
      const ConvGraph::Candidate chosen = graph.candidate(plan->rank);
      EXPECT_EQ(chosen.engine, plan->engine);
      EXPECT_FALSE(chosen.runtime_compiled) << "rank " << rank << " engine " << plan->engine;
      if (!c.runtime_compiled && c.acceptable) {
        EXPECT_EQ(plan->engine, c.engine) << "rank " << rank;
      }
      if (c.runtime_compiled) {
        EXPECT_NE(plan->engine, c.engine) << "rank " << rank;
      }
    }
    // Without any precompiled engine choose() has nothing to offer; with one it always offers a plan.
    const auto any = graph.choose(-1, 0);
    EXPECT_EQ(any != nullptr, precompiled > 0) << (residual ? "with" : "without") << " a residual";
    if (!residual) {
      EXPECT_GT(precompiled, 0u) << "conv + bias: cuDNN has precompiled engines for it";
    }
  }
  cudnnDestroy(cudnn);
}

// What tune() stores for a residual NhwcConv names a legacy algorithm or a precompiled graph engine.
TEST(CudnnNhwcConv, TuneNeverPicksARuntimeCompiledEngine) {
  NORMRT_REQUIRE_GPU();
  ConvCase c = {{2, 64, 16, 16}, 64, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1, true};
  Node node = conv_node("NhwcConv", c);
  node.domain = kNormrtDomain;
  node.inputs.push_back("in3");
  const Tensor x = permute_tensor(random_tensor(DataType::kFloat16, c.x), to_channels_last_perm(4));
  const Tensor w = permute_tensor(random_tensor(DataType::kFloat16, weight_dims(false, c)), to_channels_last_perm(4));
  const Tensor b = random_tensor(DataType::kFloat16, {64});
  const Tensor r = random_tensor(DataType::kFloat16, {2, 16, 16, 64});
  const std::string config = tune_at("cudnn_nhwc_conv", node, {&x, &w, &b, &r});
  ASSERT_FALSE(config.empty());
  const size_t at = config.find("engine=");
  if (at == std::string::npos) {
    EXPECT_NE(config.find("algo="), std::string::npos) << config;
    return;
  }
  const int64_t engine = std::stoll(config.substr(at + 7));
  cudnnHandle_t cudnn;
  ASSERT_EQ(cudnnCreate(&cudnn), CUDNN_STATUS_SUCCESS);
  ConvGraph graph;
  std::string error;
  ASSERT_TRUE(graph.build(cudnn, residual_block_spec(true), &error)) << error;
  for (size_t rank = 0; rank < graph.candidates(); ++rank)
    if (graph.candidate(rank).engine == engine) {
      EXPECT_FALSE(graph.candidate(rank).runtime_compiled) << config;
    }
  cudnnDestroy(cudnn);
}

TEST(CudnnConv, AcceptsAndRefuses) {
  auto types = [](DataType t, const Dims& x, const Dims& w) {
    return std::vector<TypeShape>{{t, Shape::from_dims(x)}, {t, Shape::from_dims(w)}};
  };
  const CudaKernel* conv = CudaKernelRegistry::global().find("cudnn_conv");
  const CudaKernel* transpose = CudaKernelRegistry::global().find("cudnn_conv_transpose");
  ASSERT_TRUE(conv && transpose);
  Node n = make_node("Conv", 2);
  EXPECT_TRUE(conv->accepts(n, 17, types(DataType::kFloat32, {1, 3, 7, 9}, {4, 3, 3, 3})));
  EXPECT_TRUE(conv->accepts(n, 17, types(DataType::kFloat16, {1, 3, 7, 9}, {4, 3, 3, 3})));
  EXPECT_FALSE(conv->accepts(n, 17, types(DataType::kFloat64, {1, 3, 7, 9}, {4, 3, 3, 3})));
  // Unknown batch and extents are fine.
  std::vector<TypeShape> symbolic = types(DataType::kFloat32, {1, 3, 7, 9}, {4, 3, 3, 3});
  symbolic[0].shape.dims[0] = Dim::unknown();
  symbolic[0].shape.dims[3] = Dim::unknown();
  EXPECT_TRUE(conv->accepts(n, 17, symbolic));
  // ConvTranspose: output_padding >= stride, and output_shape with unknown extents, are refused.
  Node t = make_node("ConvTranspose", 2);
  set_ints(t, "strides", {2, 2});
  EXPECT_TRUE(transpose->accepts(t, 17, types(DataType::kFloat32, {1, 3, 5, 5}, {3, 2, 3, 3})));
  Node big_padding = t;
  set_ints(big_padding, "output_padding", {2, 2});
  EXPECT_FALSE(transpose->accepts(big_padding, 17, types(DataType::kFloat32, {1, 3, 5, 5}, {3, 2, 3, 3})));
  Node shaped = t;
  set_ints(shaped, "output_shape", {10, 10});
  std::vector<TypeShape> unknown_extent = types(DataType::kFloat32, {1, 3, 5, 5}, {3, 2, 3, 3});
  unknown_extent[0].shape.dims[2] = Dim::unknown();
  EXPECT_FALSE(transpose->accepts(shaped, 17, unknown_extent));
  EXPECT_TRUE(transpose->accepts(shaped, 17, types(DataType::kFloat32, {1, 3, 5, 5}, {3, 2, 3, 3})));
  // output_shape larger than the natural extent needs negative padding.
  Node too_big = t;
  set_ints(too_big, "output_shape", {14, 14});
  EXPECT_FALSE(transpose->accepts(too_big, 17, types(DataType::kFloat32, {1, 3, 5, 5}, {3, 2, 3, 3})));
}

}  // namespace
}  // namespace testing
}  // namespace cuda
}  // namespace normrt
