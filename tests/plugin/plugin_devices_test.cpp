// Which devices a plugin op has kernels for: the C++ layer of normrt/plugin.h gives an op a "cpu" kernel for
// run_cpu and a "cuda" kernel for run_cuda; the example library has both when normrt is built with CUDA. Runs
// without a GPU (the GPU side is tests_cuda/plugin_cuda_test.cpp).
#include <gtest/gtest.h>

#include <algorithm>

#include "engine/device_backend.h"
#include "engine/engine.h"
#include "plugin/plugin_registry.h"

namespace {

// An op with only a GPU kernel (its run_cuda is never called here: no engine of these tests runs on a GPU).
struct CudaOnly {
  static constexpr const char* kDomain = "com.normrt.test.devices";
  static constexpr const char* kName = "CudaOnly";
  static constexpr int32_t kVersion = 1;
  static CudaOnly create(const normrt::plugin::Attributes& attributes) {
    attributes.allow_only({});
    return CudaOnly();
  }
  void serialize(normrt::plugin::FieldWriter&) const {}
  static CudaOnly deserialize(normrt::plugin::FieldReader&) { return CudaOnly(); }
  void infer_shapes(const normrt::plugin::Shapes& inputs, const normrt::plugin::OutputShapes& outputs) const {
    outputs[0] = inputs[0];
  }
  void run_cuda(const normrt_kernel_args&) const {}
};
NORMRT_PLUGIN_REGISTER_OP(CudaOnly);

}  // namespace

namespace normrt::test {
namespace {

bool built_with_cuda() {
  std::vector<std::string> devices = known_devices();
  return std::find(devices.begin(), devices.end(), "cuda") != devices.end();
}

TEST(PluginDevices, ExampleLibraryHasACudaKernelExactlyWhenNormrtIsBuiltWithCuda) {
  PluginRegistry::global().load_library(NORMRT_EXAMPLE_PLUGIN);
  const PluginOp* op = PluginRegistry::global().find("com.example", "Clamp01", 1);
  ASSERT_NE(op, nullptr);
  EXPECT_NE(op->kernel("cpu"), nullptr);
  if (built_with_cuda()) {
    EXPECT_NE(op->kernel("cuda"), nullptr);
    EXPECT_EQ(op->devices(), "cpu, cuda");
  } else {
    EXPECT_EQ(op->kernel("cuda"), nullptr);
    EXPECT_EQ(op->devices(), "cpu");
  }
}

TEST(PluginDevices, AnOpDeclaringOnlyRunCudaHasOnlyACudaKernel) {
  PluginRegistry::global().raise_deferred_errors();
  const PluginOp* op = PluginRegistry::global().find("com.normrt.test.devices", "CudaOnly", 1);
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(op->kernel("cpu"), nullptr);
  ASSERT_NE(op->kernel("cuda"), nullptr);
  EXPECT_EQ(op->devices(), "cuda");
}

TEST(PluginDevices, CpuEngineWithACudaOnlyOpIsRefusedNamingTheDevices) {
  Graph g;
  g.opsets = {{"", 17}, {"com.normrt.test.devices", 1}};
  ValueInfo x;
  x.name = "x";
  x.dtype = DataType::kFloat32;
  x.shape = Shape::from_dims({2, 3});
  ValueInfo y;
  y.name = "y";
  g.inputs = {x};
  g.outputs = {y};
  Node n;
  n.name = "only_gpu";
  n.op_type = "CudaOnly";
  n.domain = "com.normrt.test.devices";
  n.inputs = {"x"};
  n.outputs = {"y"};
  g.nodes = {n};
  BuildOptions options;
  options.device = "cpu";
  Profile p;
  p.inputs["x"] = ShapeRange{{2, 3}, {2, 3}, {2, 3}};
  options.profiles.push_back(p);
  try {
    build_engine(g, options);
    FAIL() << "built a cpu engine for an op without a cpu kernel";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_EQ(e.code(), ErrorCode::kUnsupportedOp) << m;
    EXPECT_NE(m.find("only_gpu"), std::string::npos) << m;
    EXPECT_NE(m.find("no kernel for device 'cpu'"), std::string::npos) << m;
    EXPECT_NE(m.find("(it has: cuda)"), std::string::npos) << m;
  }
}

// The DEVICE section of a cuda engine may record plugin:cuda for a plugin node only, and nothing else for one.
// Made from a cpu engine (no GPU needed): x -> Relu -> com.example::Clamp01 -> y, then given device fields.
TEST(PluginDevices, EngineFileAcceptsPluginCudaOnlyForPluginNodes) {
  if (!built_with_cuda()) GTEST_SKIP() << "normrt is built without CUDA";
  PluginRegistry::global().load_library(NORMRT_EXAMPLE_PLUGIN);
  Graph g;
  g.opsets = {{"", 17}, {"com.example", 1}};
  ValueInfo x;
  x.name = "x";
  x.dtype = DataType::kFloat32;
  x.shape = Shape::from_dims({2, 3});
  ValueInfo y;
  y.name = "y";
  g.inputs = {x};
  g.outputs = {y};
  Node relu;
  relu.name = "relu";
  relu.op_type = "Relu";
  relu.inputs = {"x"};
  relu.outputs = {"r"};
  Node clamp;
  clamp.name = "clamp";
  clamp.op_type = "Clamp01";
  clamp.domain = "com.example";
  clamp.inputs = {"r"};
  clamp.outputs = {"y"};
  g.nodes = {relu, clamp};
  BuildOptions options;
  Profile p;
  p.inputs["x"] = ShapeRange{{2, 3}, {2, 3}, {2, 3}};
  options.profiles.push_back(p);
  auto engine = build_engine(g, options);
  ASSERT_NE(engine->plugin(1), nullptr);
  engine->device = "cuda";
  engine->device_plan.architecture = "9.0";
  engine->device_plan.device_name = "a GPU";
  engine->device_plan.configs = {{"", ""}};
  auto load = [&](std::vector<std::string> kernels) -> std::string {
    engine->device_plan.kernels = std::move(kernels);
    try {
      deserialize_engine(serialize_engine(*engine), "engine 'e.nrt'");
    } catch (const Error& e) {
      return std::string(e.code() == ErrorCode::kCorruptEngine ? "corrupt: " : "other: ") + e.what();
    }
    return "loaded";
  };
  // Well formed: whatever follows (no GPU here, or this GPU's architecture) is not the file's complaint.
  EXPECT_EQ(load({"", "plugin:cuda"}).rfind("corrupt: ", 0), std::string::npos);
  std::string m = load({"plugin:cuda", "plugin:cuda"});
  EXPECT_EQ(m.rfind("corrupt: ", 0), 0u) << m;
  EXPECT_NE(m.find("device kernel 'plugin:cuda' for built-in node 'relu'"), std::string::npos) << m;
  m = load({"", "some_cuda_kernel"});
  EXPECT_EQ(m.rfind("corrupt: ", 0), 0u) << m;
  EXPECT_NE(m.find("device kernel 'some_cuda_kernel' for plugin node 'clamp'"), std::string::npos) << m;
}

}  // namespace
}  // namespace normrt::test
