// The public C++ API as a user sees it: this file includes only normrt/normrt.h (and the test's ONNX model
// builder). Building with profiles by input name, inputs/outputs with symbolic dims and profile ranges, outputs
// in ONNX order, save/load through files and memory, errors with stable codes, concurrent contexts.
#include <atomic>
#include <cmath>
#include <thread>

#include "normrt/normrt.h"
#include "onnx/onnx_builder.h"

namespace normrt::test {
namespace {

// x [N,3] and bias [N,1]. Outputs declared in an order unlike the nodes': "sum" = x + bias, then
// "relu" = Relu(x), then "scaled" = x * 2 (a weight).
ModelBuilder sample_model() {
  ModelBuilder m(17);
  m.input("x", {"N", "3"}).input("bias", {"N", "1"});
  m.output("sum").output("relu").output("scaled");
  m.initializer("two", {}, {2.0f});
  m.node("Mul", {"x", "two"}, {"scaled"});
  m.node("Relu", {"x"}, {"relu"});
  m.node("Add", {"x", "bias"}, {"sum"});
  return m;
}

Builder sample_builder() {
  std::string bytes = sample_model().bytes();
  Builder builder = Builder::from_bytes(bytes.data(), bytes.size());
  builder.add_profile({{"x", {{1, 3}, {2, 3}, {4, 3}}}, {"bias", {{1, 1}, {2, 1}, {4, 1}}}});
  return builder;
}

Tensor values(Dims dims, const std::vector<float>& v) {
  Tensor t(DataType::kFloat32, std::move(dims));
  for (size_t i = 0; i < v.size(); ++i) t.data<float>()[i] = v[i];
  return t;
}

std::vector<float> contents(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

template <typename Fn>
std::string api_error(Fn&& fn, ErrorCode code) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.code()), static_cast<int>(code)) << error_code_name(e.code()) << ": " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected a normrt::Error (" << error_code_name(code) << ")";
  return "";
}

void expect_contains(const std::string& text, const std::vector<std::string>& parts) {
  for (const auto& p : parts) EXPECT_NE(text.find(p), std::string::npos) << "message: " << text << "\nmissing: " << p;
}

void expect_same(const NamedTensors& a, const NamedTensors& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second.dims(), b[i].second.dims());
    EXPECT_EQ(contents(a[i].second), contents(b[i].second)) << a[i].first;
  }
}

}  // namespace

TEST(ApiBuilder, ListsTheModelsInputsAndOutputsAsDeclared) {
  std::string bytes = sample_model().bytes();
  Builder builder = Builder::from_bytes(bytes.data(), bytes.size());
  ASSERT_EQ(builder.inputs().size(), 2u);
  const TensorInfo& x = builder.inputs()[0];
  EXPECT_EQ(x.name, "x");
  EXPECT_EQ(x.dtype, DataType::kFloat32);
  ASSERT_EQ(x.dims.size(), 2u);
  EXPECT_FALSE(x.dims[0].known());
  EXPECT_EQ(x.dims[0].symbol, "N");
  EXPECT_EQ(x.dims[1].size, 3);
  EXPECT_EQ(x.shape_string(), "[N,3]");
  EXPECT_TRUE(x.profiles.empty());
  ASSERT_EQ(builder.outputs().size(), 3u);
  EXPECT_EQ(builder.outputs()[0].name, "sum");
  EXPECT_EQ(builder.outputs()[2].name, "scaled");
}

TEST(ApiEngine, RunsWithNamedInputsAndReturnsOutputsInOnnxOrder) {
  Engine engine = sample_builder().build();
  EXPECT_EQ(engine.device(), "cpu");
  EXPECT_EQ(engine.normrt_version(), std::string(version()));
  EXPECT_EQ(engine.num_profiles(), 1u);
  ASSERT_EQ(engine.inputs().size(), 2u);
  const TensorInfo& x = engine.inputs()[0];
  EXPECT_EQ(x.shape_string(), "[N,3]");
  ASSERT_EQ(x.profiles.size(), 1u);
  EXPECT_EQ(x.profiles[0].min, (Dims{1, 3}));
  EXPECT_EQ(x.profiles[0].opt, (Dims{2, 3}));
  EXPECT_EQ(x.profiles[0].max, (Dims{4, 3}));
  ASSERT_EQ(engine.outputs().size(), 3u);
  EXPECT_EQ(engine.outputs()[1].name, "relu");
  EXPECT_EQ(engine.outputs()[1].shape_string(), "[N,3]");  // the symbolic batch survives planning
  EXPECT_TRUE(engine.outputs()[1].profiles.empty());
  EXPECT_TRUE(engine.plugin_ops().empty());

  ExecutionContext context = engine.create_execution_context();
  NamedTensors out = context.run({{"x", values({2, 3}, {-1, 2, -3, 4, -5, 6})}, {"bias", values({2, 1}, {10, 20})}});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].first, "sum");
  EXPECT_EQ(out[1].first, "relu");
  EXPECT_EQ(out[2].first, "scaled");
  EXPECT_EQ(contents(out[0].second), (std::vector<float>{9, 12, 7, 24, 15, 26}));
  EXPECT_EQ(contents(out[1].second), (std::vector<float>{0, 2, 0, 4, 0, 6}));
  EXPECT_EQ(contents(out[2].second), (std::vector<float>{-2, 4, -6, 8, -10, 12}));
  EXPECT_EQ(&context.engine().inputs(), &engine.inputs());  // the context shares the engine
}

TEST(ApiEngine, SavesAndLoadsThroughFilesAndMemory) {
  Engine engine = sample_builder().build();
  TempDir dir;
  engine.save(dir.file("e.nrt"));
  Engine from_file = Engine::load(dir.file("e.nrt"));
  std::string bytes = engine.serialize();
  EXPECT_EQ(bytes, read_bytes(dir.file("e.nrt")));
  Engine from_memory = Engine::load_from_memory(bytes.data(), bytes.size());
  std::map<std::string, Tensor> inputs = {{"x", values({3, 3}, {1, -2, 3, -4, 5, -6, 7, -8, 9})},
                                          {"bias", values({3, 1}, {0.5f, -0.5f, 2})}};
  NamedTensors expected = engine.create_execution_context().run(inputs);
  expect_same(from_file.create_execution_context().run(inputs), expected);
  expect_same(from_memory.create_execution_context().run(inputs), expected);
  EXPECT_EQ(from_file.inputs()[1].profiles[0].max, (Dims{4, 1}));
  EXPECT_EQ(from_memory.outputs()[2].name, "scaled");
}

TEST(ApiEngine, RunsOnWrappedCallerMemoryWithoutWritingIt) {
  Engine engine = sample_builder().build();
  std::vector<float> x = {1, 2, 3, -1, -2, -3}, bias = {1, 1};
  const std::vector<float> x_before = x;
  NamedTensors out =
      engine.create_execution_context().run({{"x", Tensor::wrap(DataType::kFloat32, {2, 3}, x.data())},
                                             {"bias", Tensor::wrap(DataType::kFloat32, {2, 1}, bias.data())}});
  EXPECT_EQ(contents(out[1].second), (std::vector<float>{1, 2, 3, 0, 0, 0}));
  EXPECT_EQ(x, x_before);
  EXPECT_NE(out[1].second.raw(), static_cast<void*>(x.data()));  // outputs never alias inputs
  // Memory that is not aligned to the element size is refused, not read through a misaligned pointer.
  std::vector<char> raw(64);
  expect_contains(
      api_error([&] { Tensor::wrap(DataType::kFloat32, {2}, raw.data() + 1); }, ErrorCode::kInvalidArgument),
      {"4-byte aligned"});
}

TEST(ApiEngine, OutputsNeverShareMemoryWithInputsOrEachOther) {
  // Reshape and Flatten are view ops: inside the run they share x's storage.
  ModelBuilder m(17);
  m.input("x", {"2", "3"}).output("flat").output("reshaped").output("same");
  auto* shape = m.graph().add_initializer();
  shape->set_name("shape6");
  shape->set_data_type(onnx::TensorProto::INT64);
  shape->add_dims(1);
  shape->add_int64_data(6);
  m.node("Flatten", {"x"}, {"flat"});
  m.node("Reshape", {"x", "shape6"}, {"reshaped"});
  m.node("Reshape", {"flat", "shape6"}, {"same"});
  std::string bytes = m.bytes();
  Engine engine = Builder::from_bytes(bytes.data(), bytes.size()).build();
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  NamedTensors out = engine.create_execution_context().run({{"x", Tensor::wrap(DataType::kFloat32, {2, 3}, x.data())}});
  ASSERT_EQ(out.size(), 3u);
  std::vector<const void*> seen = {x.data()};
  for (const auto& [name, t] : out) {
    EXPECT_EQ(contents(t), x) << name;
    for (const void* p : seen) EXPECT_NE(t.raw(), p) << name << " shares memory";
    seen.push_back(t.raw());
  }
}

TEST(ApiErrors, EveryFailureIsAnErrorWithAStableCode) {
  std::string bytes = sample_model().bytes();
  Builder builder = Builder::from_bytes(bytes.data(), bytes.size());
  // A misspelled input name in a profile: named with the nearest input, at add_profile.
  expect_contains(api_error(
                      [&] {
                        builder.add_profile({{"xx", {{1, 3}, {2, 3}, {4, 3}}}});
                      },
                      ErrorCode::kInvalidArgument),
                  {"'xx'", "did you mean 'x'"});
  // A dynamic input without a range.
  expect_contains(api_error(
                      [&] {
                        builder.add_profile({{"x", {{1, 3}, {2, 3}, {4, 3}}}});
                      },
                      ErrorCode::kShapeError),
                  {"bias"});
  expect_contains(api_error([&] { builder.build(); }, ErrorCode::kShapeError), {"dynamic inputs"});
  Builder good = sample_builder();
  expect_contains(
      api_error([&] { Builder(good).set_precision(Precision::kFloat16).build(); }, ErrorCode::kInvalidArgument),
      {"precision 'float16'", "float32 only"});
  expect_contains(
      api_error([&] { Builder(good).set_precision(Precision::kTF32).build(); }, ErrorCode::kInvalidArgument),
      {"precision 'tf32'", "float32 only"});
  expect_contains(api_error([&] { Builder(good).set_device("tpu").build(); }, ErrorCode::kInvalidArgument),
                  {"device 'tpu'"});
  EXPECT_EQ(good.build().num_profiles(), 1u);  // the copies' settings did not leak into it

  Engine engine = good.build();
  ExecutionContext context = engine.create_execution_context();
  Tensor x = values({2, 3}, {1, 2, 3, 4, 5, 6}), bias = values({2, 1}, {1, 2});
  expect_contains(api_error(
                      [&] {
                        context.run({{"X", x}, {"bias", bias}});
                      },
                      ErrorCode::kInvalidArgument),
                  {"input 'X' was given", "did you mean 'x'", "x [N,3] float32"});
  expect_contains(api_error([&] { context.run({{"x", x}}); }, ErrorCode::kInvalidArgument), {"'bias'", "not given"});
  expect_contains(api_error(
                      [&] {
                        context.run({{"x", Tensor(DataType::kInt64, {2, 3})}, {"bias", bias}});
                      },
                      ErrorCode::kInvalidArgument),
                  {"must be float32 but is int64"});
  expect_contains(api_error(
                      [&] {
                        context.run({{"x", values({5, 3}, {})}, {"bias", values({5, 1}, {})}});
                      },
                      ErrorCode::kShapeError),
                  {"x"});
  // After a failed run the context still works.
  EXPECT_EQ(context.run({{"x", x}, {"bias", bias}}).size(), 3u);
  ExecutionContext moved = std::move(context);
  expect_contains(api_error(
                      [&] {
                        context.run({{"x", x}, {"bias", bias}});
                      },
                      ErrorCode::kInvalidArgument),
                  {"moved from"});

  TempDir dir;
  api_error([&] { Builder::from_file(dir.file("missing.onnx")); }, ErrorCode::kIo);
  write_bytes(dir.file("not_an_engine.nrt"), "hello");
  expect_contains(api_error([&] { Engine::load(dir.file("not_an_engine.nrt")); }, ErrorCode::kCorruptEngine),
                  {"not_an_engine.nrt"});
  std::string damaged = engine.serialize();
  damaged[damaged.size() / 2] ^= 1;
  expect_contains(api_error([&] { Engine::load_from_memory(damaged.data(), damaged.size(), "my engine"); },
                            ErrorCode::kCorruptEngine),
                  {"my engine", "checksum"});
  api_error([&] { Builder::from_bytes("junk", 4); }, ErrorCode::kInvalidModel);
}

TEST(ApiConcurrency, ContextsOfOneEngineRunAtTheSameTimeFromManyThreads) {
  // The bundled example: Conv + GroupNorm + ReLU, with fast kernels (oneDNN, the fused norm) that keep
  // per-context caches.
  Builder builder = Builder::from_file(std::string(NORMRT_EXAMPLES_DIR) + "/models/conv_gn_relu/model.onnx");
  builder.add_profile({{"input", {{1, 3, 32, 32}, {2, 3, 32, 32}, {4, 3, 32, 32}}}});
  Engine engine = builder.build();
  std::vector<std::map<std::string, Tensor>> inputs;
  for (int64_t batch : {1, 2, 3, 4}) {
    Tensor t(DataType::kFloat32, {batch, 3, 32, 32});
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = std::sin(0.01f * static_cast<float>(i * (batch + 1)));
    inputs.push_back({{"input", t}});
  }
  std::vector<NamedTensors> expected;
  ExecutionContext sequential = engine.create_execution_context();
  for (const auto& in : inputs) expected.push_back(sequential.run(in));

  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      try {
        ExecutionContext context = engine.create_execution_context();
        for (int iteration = 0; iteration < 6; ++iteration) {
          size_t which = static_cast<size_t>(t + iteration) % inputs.size();  // shapes change between runs
          NamedTensors out = context.run(inputs[which]);
          if (contents(out[0].second) != contents(expected[which][0].second)) ++mismatches;
        }
      } catch (const Error&) {
        ++failures;
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace normrt::test
