// Builds with a timing cache (BuildOptions::timing_cache, `normrt build --timing-cache`): the first build times
// and fills the file, the next reuses every choice without timing and makes the same engine, another GPU's
// entries are neither used nor lost, and a hostile choice in the file still runs correctly (the kernels check a
// choice before use, as they do one read from an engine file).
#include <gtest/gtest.h>

#include <regex>

#include "cuda/cuda_runtime.h"
#include "cuda_kernel_test_util.h"
#include "engine/engine.h"
#include "engine/timing_cache.h"
#include "node_builder.h"
#include "ops/evaluate.h"
#include "temp_files.h"

namespace normrt::cuda {
namespace {

using ::normrt::test::fixed_dim;
using ::normrt::test::float_value;
using ::normrt::test::symbol_dim;

using ::normrt::test::TempDir;

// y = Conv(Conv(x, w1, b1), w2, b2), 3x3, padding 1: x [N, 4, 12, 12].
Graph conv_graph() {
  Graph g;
  g.opsets = {{"", 17}};
  g.inputs = {float_value("x", {symbol_dim("N"), fixed_dim(4), fixed_dim(12), fixed_dim(12)})};
  ValueInfo y;
  y.name = "y";
  y.shape.has_rank = false;
  g.outputs = {y};
  g.initializers["w1"] = random_tensor(DataType::kFloat32, {8, 4, 3, 3}, 1);
  g.initializers["b1"] = random_tensor(DataType::kFloat32, {8}, 2);
  g.initializers["w2"] = random_tensor(DataType::kFloat32, {8, 8, 3, 3}, 3);
  g.initializers["b2"] = random_tensor(DataType::kFloat32, {8}, 4);
  Node c1 = test::make_node("Conv", 3);
  c1.inputs = {"x", "w1", "b1"};
  c1.outputs = {"h"};
  Node c2 = test::make_node("Conv", 3);
  c2.inputs = {"h", "w2", "b2"};
  c2.outputs = {"y"};
  for (Node* c : {&c1, &c2}) {
    c->name = c->outputs[0] + "_conv";
    test::set_ints(*c, "pads", {1, 1, 1, 1});
  }
  g.nodes = {c1, c2};
  return g;
}

BuildOptions options(const std::string& device, const std::string& cache) {
  BuildOptions o;
  o.device = device;
  o.timing_cache = cache;
  Profile p;
  p.inputs["x"] = ShapeRange{{1, 4, 12, 12}, {2, 4, 12, 12}, {4, 4, 12, 12}};
  o.profiles.push_back(p);
  return o;
}

// (reused, added) from the build's report line "PATH: R choices reused, A timed and added (E entries)".
std::pair<int, int> cache_counts(const Engine& engine) {
  for (const auto& r : engine.build_report.records)
    if (r.pass == "timing cache") {
      std::smatch m;
      if (std::regex_search(r.description, m, std::regex("(\\d+) choices reused, (\\d+) timed and added")))
        return {std::stoi(m[1]), std::stoi(m[2])};
    }
  ADD_FAILURE() << "no timing cache line in the build report";
  return {-1, -1};
}

// The build report's "tuning" line: problems timed by each kernel ("N problems timed in S s (kernel: N in S s)").
int problems_timed(const Engine& engine, const std::string& kernel) {
  for (const auto& r : engine.build_report.records)
    if (r.pass == "tuning") {
      std::smatch m;
      if (!std::regex_search(r.description, m, std::regex("^(\\d+) problems timed in [0-9.]+ s"))) break;
      if (kernel.empty()) return std::stoi(m[1]);
      if (std::regex_search(r.description, m, std::regex(kernel + ": (\\d+) in [0-9.]+ s"))) return std::stoi(m[1]);
      return 0;
    }
  ADD_FAILURE() << "no tuning line in the build report";
  return -1;
}

TEST(CudaTimingCache, TheSecondBuildReusesEveryChoiceAndMakesTheSameEngine) {
  NORMRT_REQUIRE_GPU();
  TempDir dir;
  const std::string path = dir.file("t.cache");
  auto first = build_engine(conv_graph(), options("cuda", path));
  const auto [reused1, added1] = cache_counts(*first);
  EXPECT_EQ(reused1, 0);
  EXPECT_GE(added1, 3) << "a problem per corner (min, opt, max) at least";
  EXPECT_EQ(TimingCache::load(path).size(), static_cast<size_t>(added1));
  EXPECT_EQ(problems_timed(*first, ""), added1) << "every problem timed went into the cache";
  EXPECT_EQ(problems_timed(*first, "cudnn_(?:nhwc_)?conv"), added1);

  auto second = build_engine(conv_graph(), options("cuda", path));
  const auto [reused2, added2] = cache_counts(*second);
  EXPECT_EQ(reused2, added1);
  EXPECT_EQ(added2, 0);
  EXPECT_EQ(second->device_plan.configs, first->device_plan.configs);
  EXPECT_EQ(problems_timed(*second, ""), 0) << "nothing timed again";
  EXPECT_EQ(TimingCache::load(path).size(), static_cast<size_t>(added1));
}

TEST(CudaTimingCache, AnotherGpusEntriesAreNeitherUsedNorLost) {
  NORMRT_REQUIRE_GPU();
  TempDir dir;
  const std::string path = dir.file("t.cache");
  auto first = build_engine(conv_graph(), options("cuda", path));
  const int added = cache_counts(*first).second;
  // The same problems under another GPU's name only.
  std::string text = test::read_bytes(path);
  const std::string gpu = first->device_plan.device_name;
  ASSERT_FALSE(gpu.empty());
  const std::string other = "Another GPU";
  for (size_t at = text.find(gpu); at != std::string::npos; at = text.find(gpu, at + other.size()))
    text.replace(at, gpu.size(), other);
  test::write_bytes(path, text);

  auto second = build_engine(conv_graph(), options("cuda", path));
  EXPECT_EQ(cache_counts(*second), std::make_pair(0, added));
  EXPECT_EQ(TimingCache::load(path).size(), static_cast<size_t>(2 * added));
}

TEST(CudaTimingCache, HostileChoicesStillRunCorrectly) {
  NORMRT_REQUIRE_GPU();
  TempDir dir;
  const std::string path = dir.file("t.cache");
  auto first = build_engine(conv_graph(), options("cuda", path));
  // Every choice replaced: engines and algorithms that do not exist, and garbage.
  const std::string original = test::read_bytes(path);
  std::string text = "normrt timing cache 1\n";
  const std::vector<std::string> hostile = {"engine=99999;rank=77", "algo=1234;math=9", "@@@|x=", "engine=-3"};
  size_t i = 0;
  for (size_t start = original.find('\n') + 1; start < original.size();) {
    const size_t end = original.find('\n', start);
    const std::string row = original.substr(start, end - start);
    text += row.substr(0, row.rfind('\t') + 1) + hostile[i++ % hostile.size()] + "\n";
    start = end + 1;
  }
  test::write_bytes(path, text);
  auto gpu = build_engine(conv_graph(), options("cuda", path));
  // The opt corner takes the hostile choices (one per convolution); the min and max corners, whose problems
  // include the opt corner's choice, are timed again.
  EXPECT_GE(cache_counts(*gpu).first, 2);
  bool hostile_in_plan = false;
  for (const std::string& config : gpu->device_plan.configs[0])
    for (const std::string& h : hostile) hostile_in_plan |= config.find(h) != std::string::npos;
  EXPECT_TRUE(hostile_in_plan) << "the engine should carry the hostile choices for this test to mean anything";
  auto cpu = build_engine(conv_graph(), options("cpu", ""));
  ExecutionContext reference(cpu);
  CudaRunner runner(gpu);
  for (int64_t n : {1, 3, 4}) {
    std::map<std::string, Tensor> in = {{"x", random_tensor(DataType::kFloat32, {n, 4, 12, 12}, 9)}};
    const auto want = reference.run(in);
    const auto got = runner.run(in);
    ASSERT_EQ(got.size(), 1u);
    const std::string diff = testing::compare_tensors(got[0].second, want[0].second, 1e-4, 1e-4);
    EXPECT_TRUE(diff.empty()) << "batch " << n << ": " << diff;
  }
}

}  // namespace
}  // namespace normrt::cuda
