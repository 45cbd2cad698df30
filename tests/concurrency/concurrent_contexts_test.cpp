// One engine, many execution contexts on many threads: every run must give, bit for bit, what a run of the same
// inputs on one thread gives. The engines use the real kernels (oneDNN convolution and matmul with their
// per-context primitive caches, the fused norm kernels, the fast elementwise and softmax kernels) over a range
// of batch sizes, so that contexts build and evict cache entries while other threads run.
//
// This file is also built alone as normrt_concurrency_tests, which scripts/test.sh runs under ThreadSanitizer
// (build-tsan; see tests/concurrency/README.md for why OMP_NUM_THREADS=1 there).
#include <atomic>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "onnx/importer.h"
#include "onnx/onnx_builder.h"
#include "test_util.h"

namespace normrt::test {
namespace {

constexpr int kThreads = 8;
constexpr int kRunsPerThread = 24;
constexpr int64_t kMaxBatch = 6;

using Outputs = std::vector<std::pair<std::string, Tensor>>;

// Seeded inputs of one batch size: each batch size has its own values.
Tensor seeded(const Dims& dims, uint32_t seed) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  Tensor t(DataType::kFloat32, dims);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(generator);
  return t;
}

std::vector<float> seeded_values(size_t n, uint32_t seed, float scale = 0.2f) {
  Tensor t = seeded({static_cast<int64_t>(n)}, seed);
  std::vector<float> v(t.data<float>(), t.data<float>() + n);
  for (float& x : v) x *= scale;
  return v;
}

bool identical(const Outputs& a, const Outputs& b, std::string* why) {
  if (a.size() != b.size()) {
    *why = "output count " + std::to_string(a.size()) + " vs " + std::to_string(b.size());
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].first != b[i].first || a[i].second.dtype() != b[i].second.dtype() ||
        a[i].second.dims() != b[i].second.dims()) {
      *why = "output " + a[i].first + " differs in name, type or shape";
      return false;
    }
    if (std::memcmp(a[i].second.raw(), b[i].second.raw(), a[i].second.nbytes()) != 0) {
      *why = "output " + a[i].first + " differs in value at " + dims_to_string(a[i].second.dims());
      return false;
    }
  }
  return true;
}

struct Case {
  std::shared_ptr<Engine> engine;
  // Inputs per batch size 1..kMaxBatch, and what one thread computes for them.
  std::vector<std::map<std::string, Tensor>> inputs;
  std::vector<Outputs> expected;
};

// Runs kThreads threads, each with its own context, kRunsPerThread runs each at batch sizes that differ from
// thread to thread and run to run; returns the number of runs whose outputs differ from the single-threaded ones.
int concurrent_mismatches(const Case& c) {
  std::atomic<int> mismatches{0};
  std::vector<std::string> first_error(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        ExecutionContext context(c.engine);
        for (int r = 0; r < kRunsPerThread; ++r) {
          const size_t b = static_cast<size_t>((t * 5 + r * (t + 1)) % kMaxBatch);
          Outputs out = context.run(c.inputs[b]);
          std::string why;
          if (!identical(out, c.expected[b], &why)) {
            if (mismatches++ == 0) first_error[t] = "batch " + std::to_string(b + 1) + ": " + why;
          }
        }
      } catch (const std::exception& e) {
        ++mismatches;
        first_error[t] = e.what();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t)
    if (!first_error[t].empty()) ADD_FAILURE() << "thread " << t << ": " << first_error[t];
  return mismatches.load();
}

Case prepare(std::shared_ptr<Engine> engine, const std::function<std::map<std::string, Tensor>(int64_t)>& make) {
  Case c;
  c.engine = std::move(engine);
  ExecutionContext single(c.engine);
  for (int64_t n = 1; n <= kMaxBatch; ++n) {
    c.inputs.push_back(make(n));
    c.expected.push_back(single.run(c.inputs.back()));
  }
  return c;
}

BuildOptions batch_profile(const std::map<std::string, Dims>& per_sample) {
  Profile p;
  for (const auto& [name, rest] : per_sample) {
    Dims min{1}, opt{2}, max{kMaxBatch};
    for (int64_t d : rest) {
      min.push_back(d);
      opt.push_back(d);
      max.push_back(d);
    }
    p.inputs[name] = ShapeRange{min, opt, max};
  }
  BuildOptions options;
  options.profiles.push_back(p);
  return options;
}

// The bundled example: Conv -> GroupNorm (fused to ai.normrt GroupNorm) -> Relu, dynamic batch.
Case conv_gn_relu_case() {
  Graph g = import_onnx_file(std::string(NORMRT_EXAMPLES_DIR) + "/models/conv_gn_relu/model.onnx");
  auto engine = build_engine(std::move(g), batch_profile({{"input", {3, 32, 32}}}));
  return prepare(engine, [](int64_t n) {
    return std::map<std::string, Tensor>{{"input", seeded({n, 3, 32, 32}, static_cast<uint32_t>(100 + n))}};
  });
}

// A block with the other fast kernels: LayerNormalization, MatMul, Add, Softmax, Transpose, Reshape, Gemm,
// Sigmoid, and a second output that is an intermediate value.
Case attention_like_case() {
  ModelBuilder m(17);
  m.input("x", {"N", "16", "32"}).output("probs").output("scores");
  m.initializer("gamma", {32}, seeded_values(32, 1, 1.0f));
  m.initializer("beta", {32}, seeded_values(32, 2));
  m.initializer("w", {32, 32}, seeded_values(32 * 32, 3));
  m.initializer("bias", {32}, seeded_values(32, 4));
  m.initializer("w2", {512, 10}, seeded_values(512 * 10, 5, 0.05f));
  m.initializer("c2", {10}, seeded_values(10, 6));
  auto* shape = m.graph().add_initializer();
  shape->set_name("flat");
  shape->set_data_type(onnx::TensorProto::INT64);
  shape->add_dims(2);
  shape->add_int64_data(0);
  shape->add_int64_data(-1);
  add_attribute(m.node("LayerNormalization", {"x", "gamma", "beta"}, {"ln"}, "", "ln"), "axis", int64_t{-1});
  m.node("MatMul", {"ln", "w"}, {"mm"}, "", "mm");
  m.node("Add", {"mm", "bias"}, {"a"}, "", "add");
  add_attribute(m.node("Softmax", {"a"}, {"scores"}, "", "softmax"), "axis", int64_t{-1});
  auto& transpose = m.node("Transpose", {"scores"}, {"t"}, "", "transpose");
  auto* perm = transpose.add_attribute();
  perm->set_name("perm");
  perm->set_type(onnx::AttributeProto::INTS);
  for (int64_t p : {0, 2, 1}) perm->add_ints(p);
  m.node("Reshape", {"t", "flat"}, {"r"}, "", "flatten");
  m.node("Gemm", {"r", "w2", "c2"}, {"logits"}, "", "gemm");
  m.node("Sigmoid", {"logits"}, {"probs"}, "", "sigmoid");
  auto engine = build_engine(import_onnx_bytes(m.bytes(), ""), batch_profile({{"x", {16, 32}}}));
  return prepare(engine, [](int64_t n) {
    return std::map<std::string, Tensor>{{"x", seeded({n, 16, 32}, static_cast<uint32_t>(200 + n))}};
  });
}

size_t fast_kernel_count(const Engine& e) {
  size_t fast = 0;
  for (const auto& k : e.kernels) fast += !k.empty();
  return fast;
}

}  // namespace

TEST(ConcurrentContexts, ConvGroupNormReluMatchesTheSingleThreadedRun) {
  Case c = conv_gn_relu_case();
  ASSERT_GE(fast_kernel_count(*c.engine), 2u);  // onednn_conv and the fused GroupNorm at least
  EXPECT_EQ(concurrent_mismatches(c), 0);
}

TEST(ConcurrentContexts, AttentionLikeBlockMatchesTheSingleThreadedRun) {
  Case c = attention_like_case();
  ASSERT_GE(fast_kernel_count(*c.engine), 4u);
  EXPECT_EQ(concurrent_mismatches(c), 0);
}

// Contexts that start and end while others run (their primitive caches come and go), on an engine loaded from
// its file (the path a server takes).
TEST(ConcurrentContexts, ShortLivedContextsOnALoadedEngine) {
  Case built = conv_gn_relu_case();
  Case c = built;
  c.engine = deserialize_engine(serialize_engine(*built.engine), "engine");
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRunsPerThread / 4; ++r) {
        ExecutionContext context(c.engine);
        const size_t b = static_cast<size_t>((t + r) % kMaxBatch);
        std::string why;
        try {
          if (!identical(context.run(c.inputs[b]), c.expected[b], &why)) ++mismatches;
        } catch (const std::exception&) {
          ++mismatches;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace normrt::test
