// Every PyTorch fixture model (build/fixtures, made by tests/fixtures/make_fixtures.py; the `generate_fixtures`
// test) built for cuda and run against the CPU engine on the same random inputs: batch 1 and 3, another H x W
// where the profile allows one, CUDA-graph replay identical to the eager run, several contexts on several threads,
// and the out-of-profile error. Tolerance: float32 1e-4 absolute + 1e-4 relative; float16 engines (when the
// lowering exists) 5e-2 absolute + 5e-2 relative, printed per model. NORMRT_FIXTURES_DIR overrides where the
// fixtures are (the GPU machine gets them carried beside the binary).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cuda/cuda_runtime.h"
#include "cuda_kernel_test_util.h"
#include "engine/engine.h"
#include "onnx/importer.h"

namespace normrt::cuda {
namespace {

constexpr double kFloat32Tolerance = 1e-4;
constexpr double kFloat16Tolerance = 5e-2;
// TF32 rounds products to a 10-bit mantissa like fp16 but keeps fp32's range and fp32 storage between layers.
constexpr double kTf32Tolerance = 5e-2;

std::string fixtures_dir() {
  const char* env = std::getenv("NORMRT_FIXTURES_DIR");
  return env ? env : NORMRT_FIXTURES_DIR;
}

// One timing cache for every GPU engine these tests build. The opset 11, 13 and 17 exports of a fixture pose the
// same tuning problems in each layout, and several tests build the same model: tuned once, they are taken from
// the cache after that (CudaModels.* took 240 s of the 381 s GPU suite on an H100, tuning each engine afresh).
// The tuning itself is still exercised, by the first engine to meet each problem.
const std::string& shared_timing_cache() {
  static const std::string path = [] {
    char folder[] = "/tmp/normrt_models_test_XXXXXX";
    if (!mkdtemp(folder)) return std::string();
    static const std::string kept_folder = folder;
    std::atexit([] {
      std::remove((kept_folder + "/timing.cache").c_str());
      std::remove(kept_folder.c_str());
    });
    return kept_folder + "/timing.cache";
  }();
  return path;
}

BuildOptions gpu_build_options(const BuildOptions& cpu_options) {
  BuildOptions o = cpu_options;
  o.device = "cuda";
  o.timing_cache = shared_timing_cache();
  return o;
}

Dims to_dims(const nlohmann::json& j) {
  Dims d;
  for (const auto& v : j) d.push_back(v.get<int64_t>());
  return d;
}

struct Fixture {
  std::string dir, name;
  BuildOptions options;
};

std::vector<Fixture> fixtures() {
  std::ifstream f(fixtures_dir() + "/fixtures.json");
  if (!f) return {};
  nlohmann::json j = nlohmann::json::parse(f);
  std::vector<Fixture> out;
  for (const auto& entry : j["models"]) {
    Fixture fx;
    fx.dir = fixtures_dir() + "/" + entry["dir"].get<std::string>();
    fx.name = entry["dir"].get<std::string>();
    Profile profile;
    for (const auto& in : entry["inputs"])
      profile.inputs[in["name"]] =
          ShapeRange{to_dims(in["profile"]["min"]), to_dims(in["profile"]["opt"]), to_dims(in["profile"]["max"])};
    fx.options.profiles.push_back(profile);
    fx.options.source_name = fx.name;
    out.push_back(std::move(fx));
  }
  return out;
}

// Input shapes at batch n (the min shape with dim 0 = n), with the other dynamic dims at their max when
// `other_size`. Empty when n is outside the profile.
std::map<std::string, Dims> shapes_at(const Profile& profile, int64_t n, bool other_size) {
  std::map<std::string, Dims> shapes;
  for (const auto& [name, range] : profile.inputs) {
    Dims d = range.min;
    if (!d.empty() && range.min[0] != range.max[0]) {
      if (n < range.min[0] || n > range.max[0]) return {};
      d[0] = n;
    }
    if (other_size)
      for (size_t i = 1; i < d.size(); ++i) d[i] = range.max[i];
    shapes[name] = d;
  }
  return shapes;
}

bool has_other_size(const Profile& profile) {
  for (const auto& [name, range] : profile.inputs)
    for (size_t i = 1; i < range.min.size(); ++i)
      if (range.min[i] != range.max[i]) return true;
  return false;
}

std::map<std::string, Tensor> inputs_for(const Engine& engine, const std::map<std::string, Dims>& shapes,
                                         uint32_t seed) {
  std::map<std::string, Tensor> in;
  for (const auto& v : engine.graph.inputs) in[v.name] = random_tensor(v.dtype, shapes.at(v.name), seed++);
  return in;
}

std::string compare(const std::vector<std::pair<std::string, Tensor>>& got,
                    const std::vector<std::pair<std::string, Tensor>>& want, double tolerance) {
  if (got.size() != want.size()) return "output count differs";
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].first != want[i].first) return "output " + std::to_string(i) + " is " + got[i].first;
    if (got[i].second.dims() != want[i].second.dims())
      return got[i].first + " is " + dims_to_string(got[i].second.dims()) + ", want " +
             dims_to_string(want[i].second.dims());
    std::string diff = testing::compare_tensors(got[i].second, want[i].second, tolerance, tolerance);
    if (!diff.empty()) return got[i].first + ": " + diff;
  }
  return "";
}

bool identical(const std::vector<std::pair<std::string, Tensor>>& a,
               const std::vector<std::pair<std::string, Tensor>>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].second.nbytes() != b[i].second.nbytes() ||
        std::memcmp(a[i].second.raw(), b[i].second.raw(), a[i].second.nbytes()) != 0)
      return false;
  return true;
}

}  // namespace

TEST(CudaModels, EveryFixtureMatchesTheCpuEngine) {
  NORMRT_REQUIRE_GPU();
  auto all = fixtures();
  if (all.empty()) GTEST_SKIP() << "no fixtures in " << fixtures_dir() << " (run ctest -R generate_fixtures)";
  for (const Fixture& fx : all) {
    SCOPED_TRACE(fx.name);
    Graph graph = import_onnx_file(fx.dir + "/model.onnx");
    auto cpu = build_engine(graph, fx.options);
    for (const char* layout : {"nchw", "nhwc"}) {
    SCOPED_TRACE(std::string("layout ") + layout);
    BuildOptions gpu_options = gpu_build_options(fx.options);
    gpu_options.layout = layout;
    auto gpu = build_engine(graph, gpu_options);
    size_t on_device = 0, channels_last = 0;
    for (size_t i = 0; i < gpu->graph.nodes.size(); ++i) {
      on_device += gpu->runs_on_device(i);
      channels_last += gpu->graph.nodes[i].op_type == "NhwcConv" && gpu->runs_on_device(i);
    }
    std::printf("[ %s %s ] %zu of %zu nodes on CUDA kernels, %zu channels-last convolutions\n", fx.name.c_str(), layout,
                on_device, gpu->graph.nodes.size(), channels_last);
    if (std::string(layout) == "nhwc" && fx.name.find("audio1d") == std::string::npos) {
      EXPECT_GT(channels_last, 0u) << "the layout pass moved no convolution";
    }
    ExecutionContext reference(cpu), context(gpu);
    const Profile& profile = fx.options.profiles[0];
    std::vector<std::map<std::string, Dims>> cases = {shapes_at(profile, 1, false), shapes_at(profile, 3, false)};
    if (has_other_size(profile)) cases.push_back(shapes_at(profile, 2, true));
    for (const auto& shapes : cases) {
      if (shapes.empty()) continue;
      std::map<std::string, Tensor> in = inputs_for(*gpu, shapes, 42);
      auto want = reference.run(in);
      auto eager = context.run(in);
      std::string diff = compare(eager, want, kFloat32Tolerance);
      EXPECT_EQ(diff, "") << "shapes " << shapes.begin()->first << ":" << dims_to_string(shapes.begin()->second);
      auto captured = context.run(in);
      auto replayed = context.run(in);
      EXPECT_TRUE(identical(captured, eager)) << "second run (graph capture) differs from the eager run";
      EXPECT_TRUE(identical(replayed, eager)) << "graph replay differs from the eager run";
    }
    // Out of the profile: the CPU's error.
    std::map<std::string, Dims> too_big;
    for (const auto& [name, range] : profile.inputs) {
      Dims d = range.max;
      d[0] += 1;
      too_big[name] = d;
    }
    try {
      context.run(inputs_for(*gpu, too_big, 1));
      ADD_FAILURE() << "ran a shape past the profile";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kShapeError) << e.what();
    }
    }
  }
}

TEST(CudaModels, SeveralContextsOnSeveralThreadsAgree) {
  NORMRT_REQUIRE_GPU();
  auto all = fixtures();
  if (all.empty()) GTEST_SKIP() << "no fixtures";
  for (const Fixture& fx : all) {
    if (fx.name.find("_op17") == std::string::npos) continue;
    SCOPED_TRACE(fx.name);
    Graph graph = import_onnx_file(fx.dir + "/model.onnx");
    auto cpu = build_engine(graph, fx.options);
    BuildOptions gpu_options = gpu_build_options(fx.options);
    auto gpu = build_engine(graph, gpu_options);
    const Profile& profile = fx.options.profiles[0];
    std::vector<std::string> failures(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        try {
          ExecutionContext reference(cpu), context(gpu);
          for (int i = 0; i < 4; ++i) {
            auto shapes = shapes_at(profile, 1 + (t + i) % 3, false);
            if (shapes.empty()) continue;
            auto in = inputs_for(*gpu, shapes, static_cast<uint32_t>(100 * t + i));
            std::string diff = compare(context.run(in), reference.run(in), kFloat32Tolerance);
            if (!diff.empty()) throw std::runtime_error(diff);
          }
        } catch (const std::exception& e) {
          failures[t] = e.what();
        }
      });
    for (auto& th : threads) th.join();
    for (const auto& f : failures) EXPECT_EQ(f, "");
  }
}

// The accuracy each reduced-precision engine reaches against the float32 CPU engine, per fixture and layout: the
// largest absolute error over all outputs, and the largest |reference| beside it for scale. The log of a GPU run
// documents it (README, "--fp16").
void print_accuracy(const std::string& fixture, const std::string& layout, const std::string& precision,
                    const std::vector<std::pair<std::string, Tensor>>& got,
                    const std::vector<std::pair<std::string, Tensor>>& want) {
  double worst = 0, scale = 0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    const Tensor& g = got[i].second;
    const Tensor& w = want[i].second;
    if (g.dtype() != DataType::kFloat32 || w.dtype() != DataType::kFloat32 || g.numel() != w.numel()) continue;
    for (int64_t k = 0; k < g.numel(); ++k) {
      worst = std::max(worst, std::fabs(static_cast<double>(g.data<float>()[k]) - w.data<float>()[k]));
      scale = std::max(scale, std::fabs(static_cast<double>(w.data<float>()[k])));
    }
  }
  std::printf("[ accuracy %s %s %s ] worst |error| %.2e, largest |reference| %.2e\n", fixture.c_str(),
              layout.c_str(), precision.c_str(), worst, scale);
}

// Every opset-17 fixture built at `precision` in both layouts against the float32 CPU engine; `check` looks at
// each engine first.
template <typename Check>
void against_float32_cpu(const std::string& precision, double tolerance, Check check) {
  auto all = fixtures();
  if (all.empty()) GTEST_SKIP() << "no fixtures";
  for (const Fixture& fx : all) {
    if (fx.name.find("_op17") == std::string::npos) continue;
    SCOPED_TRACE(fx.name);
    Graph graph = import_onnx_file(fx.dir + "/model.onnx");
    auto cpu = build_engine(graph, fx.options);
    for (const char* layout : {"nchw", "nhwc"}) {
      SCOPED_TRACE(std::string("layout ") + layout);
      BuildOptions gpu_options = gpu_build_options(fx.options);
      gpu_options.precision = precision;
      gpu_options.layout = layout;
      auto gpu = build_engine(graph, gpu_options);
      EXPECT_EQ(gpu->precision, precision);
      check(*gpu);
      ExecutionContext reference(cpu), context(gpu);
      auto in = inputs_for(*gpu, shapes_at(fx.options.profiles[0], 3, false), 7);
      auto got = context.run(in);
      for (const auto& [name, t] : got) EXPECT_EQ(t.dtype(), DataType::kFloat32) << "outputs stay float32";
      const auto want = reference.run(in);
      EXPECT_EQ(compare(got, want, tolerance), "");
      print_accuracy(fx.name, layout, precision, got, want);
    }
  }
}

TEST(CudaModels, Tf32AgainstTheFloat32Cpu) {
  NORMRT_REQUIRE_GPU();
  against_float32_cpu("tf32", kTf32Tolerance, [](const Engine&) {});
}

TEST(CudaModels, Float16AgainstTheFloat32Cpu) {
  NORMRT_REQUIRE_GPU();
  against_float32_cpu("float16", kFloat16Tolerance, [](const Engine& gpu) {
    // View ops move no data: they take float16 as it comes (no Casts around them).
    for (const Node& node : gpu.graph.nodes) {
      const OpSchema* schema = find_schema(node);
      if (!schema || !schema->output_is_view_of_input) continue;
      auto it = gpu.graph.value_info.find(node.outputs[0]);
      if (it != gpu.graph.value_info.end()) {
        EXPECT_NE(it->second.dtype, DataType::kFloat32) << node.describe() << " stayed float32";
      }
    }
  });
}

}  // namespace normrt::cuda
