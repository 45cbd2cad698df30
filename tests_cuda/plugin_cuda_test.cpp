// Plugin ops on the GPU: the example library's com.example::Clamp01 has a "cuda" kernel (examples/plugin/
// clamp01_cuda.cu), so a cuda engine records it as plugin:cuda and runs it on the device, with device pointers and
// the context's stream, captured into the CUDA graph; a plugin op without a cuda kernel (one linked into this
// program) still runs on the CPU through the fallback. Results against the CPU engine at batch 1..8 and odd sizes.
//
// The library is found through $NORMRT_EXAMPLE_PLUGIN, beside this binary, or in the build tree, in that order.
#include <gtest/gtest.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <fstream>

#include "cuda/cuda_runtime.h"
#include "cuda_kernel_test_util.h"
#include "node_builder.h"
#include "engine/engine.h"
#include "plugin/plugin_instance.h"
#include "plugin/plugin_registry.h"

namespace {

// com.normrt.test.cuda::Negate: y = -x, float32, a CPU kernel only.
struct NegateOnCpu {
  static constexpr const char* kDomain = "com.normrt.test.cuda";
  static constexpr const char* kName = "Negate";
  static constexpr int32_t kVersion = 1;
  static NegateOnCpu create(const normrt::plugin::Attributes& attributes) {
    attributes.allow_only({});
    return NegateOnCpu();
  }
  void serialize(normrt::plugin::FieldWriter&) const {}
  static NegateOnCpu deserialize(normrt::plugin::FieldReader&) { return NegateOnCpu(); }
  void infer_shapes(const normrt::plugin::Shapes& inputs, const normrt::plugin::OutputShapes& outputs) const {
    outputs[0] = inputs[0];
  }
  void run_cpu(const normrt_kernel_args& args) const {
    size_t count = 1;
    for (int32_t d = 0; d < args.inputs[0].rank; ++d) count *= static_cast<size_t>(args.inputs[0].dims[d]);
    const float* x = static_cast<const float*>(args.inputs[0].data);
    float* y = static_cast<float*>(args.outputs[0].data);
    for (size_t i = 0; i < count; ++i) y[i] = -x[i];
  }
};
NORMRT_PLUGIN_REGISTER_OP(NegateOnCpu);

}  // namespace

namespace normrt::cuda {
namespace {

using ::normrt::test::float_value;
using ::normrt::test::symbol_dim;
using testing::compare_tensors;

bool exists(const std::string& path) { return std::ifstream(path).good(); }

std::string example_plugin_path() {
  if (const char* env = std::getenv("NORMRT_EXAMPLE_PLUGIN")) return env;
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string dir(self, static_cast<size_t>(n));
    dir = dir.substr(0, dir.rfind('/'));
    if (exists(dir + "/libnormrt_example_plugin.so")) return dir + "/libnormrt_example_plugin.so";
  }
  return NORMRT_EXAMPLE_PLUGIN;
}

void load_example_plugin() { PluginRegistry::global().load_library(example_plugin_path()); }

ValueInfo untyped(const std::string& name) {
  ValueInfo v;
  v.name = name;
  v.shape.has_rank = false;
  return v;
}

Node node(const std::string& op, const std::string& domain, std::vector<std::string> in, std::vector<std::string> out) {
  Node n;
  n.name = out[0] + "_node";
  n.op_type = op;
  n.domain = domain;
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  return n;
}

// t = x * 3 (a built-in op with a CUDA kernel); y = Clamp01(t): every node on the GPU.
Graph clamp_graph(int64_t width) {
  Graph g;
  g.opsets = {{"", 17}, {"com.example", 1}};
  Dim w;
  w.value = width;
  g.inputs = {float_value("x", {symbol_dim("N"), w})};
  g.outputs = {untyped("y")};
  Tensor three(DataType::kFloat32, {});
  three.data<float>()[0] = 3.0f;
  g.initializers["three"] = three;
  g.nodes = {node("Mul", "", {"x", "three"}, {"t"}), node("Clamp01", "com.example", {"t"}, {"y"})};
  return g;
}

// a = Clamp01(x * 3); b = Negate(a) (a plugin op without a cuda kernel: the CPU); y = Clamp01(b + x); out y, a.
Graph mixed_graph(int64_t width) {
  Graph g = clamp_graph(width);
  g.opsets[std::string("com.normrt.test.cuda")] = 1;
  g.outputs = {untyped("y"), untyped("a")};
  g.nodes = {node("Mul", "", {"x", "three"}, {"t"}), node("Clamp01", "com.example", {"t"}, {"a"}),
             node("Negate", "com.normrt.test.cuda", {"a"}, {"b"}), node("Add", "", {"b", "x"}, {"s"}),
             node("Clamp01", "com.example", {"s"}, {"y"})};
  return g;
}

BuildOptions options(const std::string& device, int64_t width) {
  BuildOptions o;
  o.device = device;
  Profile p;
  p.inputs["x"] = ShapeRange{{1, width}, {2, width}, {8, width}};
  o.profiles.push_back(p);
  return o;
}

size_t node_index(const Engine& engine, const std::string& name) {
  for (size_t i = 0; i < engine.graph.nodes.size(); ++i)
    if (engine.graph.nodes[i].name == name) return i;
  ADD_FAILURE() << "no node '" << name << "'";
  return 0;
}

void expect_same(const std::vector<std::pair<std::string, Tensor>>& got,
                 const std::vector<std::pair<std::string, Tensor>>& want, bool bitwise) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].first, want[i].first);
    ASSERT_EQ(got[i].second.dims(), want[i].second.dims()) << got[i].first;
    if (bitwise) {
      EXPECT_EQ(std::memcmp(got[i].second.raw(), want[i].second.raw(), got[i].second.nbytes()), 0) << got[i].first;
    } else {
      std::string diff = compare_tensors(got[i].second, want[i].second, 1e-6, 1e-6);
      EXPECT_TRUE(diff.empty()) << got[i].first << ": " << diff;
    }
  }
}

TEST(PluginCuda, ExampleLibraryHasACudaKernel) {
  load_example_plugin();
  const PluginOp* op = PluginRegistry::global().find("com.example", "Clamp01", 1);
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(op->devices(), "cpu, cuda");
}

TEST(PluginCuda, Clamp01RunsOnTheDeviceMatchesTheCpuAndReplaysBitForBit) {
  NORMRT_REQUIRE_GPU();
  load_example_plugin();
  for (int64_t width : {int64_t{7}, int64_t{1000}, int64_t{300001}}) {  // 300001 * 8: more than one grid's worth
    SCOPED_TRACE("width " + std::to_string(width));
    auto cpu = build_engine(clamp_graph(width), options("cpu", width));
    auto gpu = build_engine(clamp_graph(width), options("cuda", width));
    const size_t clamp = node_index(*gpu, "y_node");
    EXPECT_EQ(gpu->device_plan.kernels[clamp], "plugin:cuda") << "what `normrt inspect` prints";
    ASSERT_TRUE(gpu->runs_on_device(clamp));
    ExecutionContext reference(cpu);
    CudaRunner runner(gpu);
    uint32_t seed = 1;
    for (int64_t n : {1, 3, 8, 5, 2}) {
      std::map<std::string, Tensor> in = {{"x", random_tensor(DataType::kFloat32, {n, width}, seed++)}};
      auto want = reference.run(in);
      auto eager = runner.run(in);
      const SignaturePlan& plan = *runner.last_plan();
      EXPECT_EQ(plan.modes[clamp], NodeMode::kDevice);
      EXPECT_FALSE(plan.has_cpu_nodes);
      expect_same(eager, want, /*bitwise=*/true);  // a clamp is exact
      auto captured = runner.run(in);
      EXPECT_NE(runner.last_plan()->graph, nullptr) << "the second run captures a CUDA graph with the plugin kernel";
      auto replayed = runner.run(in);
      expect_same(captured, eager, true);
      expect_same(replayed, eager, true);
      // New data through the same graph.
      std::map<std::string, Tensor> other = {{"x", random_tensor(DataType::kFloat32, {n, width}, seed++)}};
      expect_same(runner.run(other), reference.run(other), true);
    }
  }
}

TEST(PluginCuda, APluginOpWithoutACudaKernelRunsOnTheCpuBesideOnesWithIt) {
  NORMRT_REQUIRE_GPU();
  load_example_plugin();
  PluginRegistry::global().raise_deferred_errors();
  auto cpu = build_engine(mixed_graph(33), options("cpu", 33));
  auto gpu = build_engine(mixed_graph(33), options("cuda", 33));
  const size_t negate = node_index(*gpu, "b_node"), first = node_index(*gpu, "a_node"),
               last = node_index(*gpu, "y_node");
  EXPECT_FALSE(gpu->runs_on_device(negate));
  EXPECT_EQ(gpu->device_plan.kernels[first], "plugin:cuda");
  EXPECT_EQ(gpu->device_plan.kernels[last], "plugin:cuda");
  ExecutionContext reference(cpu);
  CudaRunner runner(gpu);
  for (int64_t n : {1, 4, 7}) {
    std::map<std::string, Tensor> in = {{"x", random_tensor(DataType::kFloat32, {n, 33}, static_cast<uint32_t>(n))}};
    auto got = runner.run(in);
    EXPECT_EQ(runner.last_plan()->modes[negate], NodeMode::kCpu);
    EXPECT_EQ(runner.last_plan()->modes[first], NodeMode::kDevice);
    EXPECT_EQ(runner.last_plan()->modes[last], NodeMode::kDevice);
    expect_same(got, reference.run(in), false);
    expect_same(runner.run(in), got, true);
  }
}

TEST(PluginCuda, EngineFileKeepsThePluginOnTheDeviceAndDevicePointersWork) {
  NORMRT_REQUIRE_GPU();
  load_example_plugin();
  auto gpu = build_engine(clamp_graph(16), options("cuda", 16));
  std::string bytes = serialize_engine(*gpu);
  auto loaded = deserialize_engine(bytes, "engine 'clamp.nrt'");
  EXPECT_EQ(loaded->device_plan.kernels, gpu->device_plan.kernels);
  ExecutionContext a(gpu), b(loaded);
  std::map<std::string, Tensor> in = {{"x", random_tensor(DataType::kFloat32, {6, 16}, 9)}};
  auto want = a.run(in);
  expect_same(b.run(in), want, true);

  DeviceBuffer dx(in.at("x").nbytes());
  ASSERT_EQ(cudaMemcpy(dx.data(), in.at("x").raw(), in.at("x").nbytes(), cudaMemcpyHostToDevice), cudaSuccess);
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  for (int round = 0; round < 3; ++round) {
    auto outs = b.run_on_device({{"x", DeviceTensor{DataType::kFloat32, {6, 16}, dx.data(), 0, nullptr}}}, stream);
    ASSERT_EQ(outs.size(), 1u);
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    Tensor host(outs[0].second.dtype, outs[0].second.dims);
    ASSERT_EQ(cudaMemcpy(host.raw(), outs[0].second.data, host.nbytes(), cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(std::memcmp(host.raw(), want[0].second.raw(), host.nbytes()), 0);
  }
  cudaStreamDestroy(stream);
}

}  // namespace
}  // namespace normrt::cuda
