// Building and running engines: unsupported ops reported all at once, run inputs checked against the engine
// (name, dtype, rank, profile) with messages that say what to change, outputs in the declared order.
#include <thread>

#include "engine/core_test_ops.h"
#include "engine/engine.h"
#include "onnx/importer.h"
#include "onnx/onnx_builder.h"
#include "test_util.h"

namespace normrt::test {
namespace {

// x [N,3] -> CoreScale(alpha 2) -> y
ModelBuilder scale_model() {
  ModelBuilder m;
  m.import_domain(kTestDomain, 1);
  m.input("x", {"N", "3"}).output("y");
  add_attribute(m.node("CoreScale", {"x"}, {"y"}, kTestDomain, "scale"), "alpha", 2.0f);
  return m;
}

BuildOptions batch_profile(int64_t min, int64_t opt, int64_t max, const std::string& input = "x") {
  BuildOptions options;
  options.profiles.push_back(Profile{{{input, ShapeRange{{min, 3}, {opt, 3}, {max, 3}}}}});
  return options;
}

std::shared_ptr<Engine> build(const ModelBuilder& m, const BuildOptions& options = {}) {
  return build_engine(import_onnx_bytes(m.bytes(), ""), options);
}

Tensor filled(Dims dims, float start) {
  Tensor t(DataType::kFloat32, std::move(dims));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = start + static_cast<float>(i);
  return t;
}

}  // namespace

TEST(EngineBuild, StaticModelNeedsNoProfile) {
  ModelBuilder m;
  m.input("x", {"2", "3"}).output("y");
  m.node("Identity", {"x"}, {"y"});
  auto engine = build(m);
  ASSERT_EQ(engine->profiles.size(), 1u);
  EXPECT_EQ(engine->profiles[0].inputs.at("x").max, (Dims{2, 3}));
  ExecutionContext context(engine);
  Tensor x = filled({2, 3}, 1);
  auto out = context.run({{"x", x}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].first, "y");
  EXPECT_EQ(relative_error(out[0].second, x), 0.0);
}

TEST(EngineBuild, DynamicModelWithoutProfileIsRefused) {
  expect_error_code([] { build(scale_model()); }, ErrorCode::kShapeError,
                    {"dynamic inputs (x [N,3])", "--minShapes=x:"});
}

TEST(EngineBuild, EveryUnsupportedOpIsNamedAtOnceWithDomainAndOpset) {
  ModelBuilder m(17);
  m.import_domain("com.example", 3);
  m.input("x", {"2"}).output("e");
  m.node("Identity", {"x"}, {"a"});
  m.node("FancyNorm", {"a"}, {"b"}, "", "fancy");
  m.node("Mystery", {"b"}, {"c"}, "com.example", "mystery_1");
  m.node("Mystery", {"c"}, {"d"}, "com.example", "mystery_2");
  m.node("Unheard", {"d"}, {"e"}, "", "unheard");
  expect_error_code([&] { build(m); }, ErrorCode::kUnsupportedOp,
                    {"3 ops normrt does not support", "'FancyNorm' (domain ai.onnx, opset 17) used by 1 node (fancy)",
                     "'Mystery' (domain com.example, opset 3) used by 2 nodes (mystery_1, ...)",
                     "'Unheard' (domain ai.onnx, opset 17)", "plugins"});
  ModelBuilder one;
  one.input("x", {"2"}).output("y");
  one.node("Softplusish", {"x"}, {"y"}, "", "only");
  expect_error_code([&] { build(one); }, ErrorCode::kUnsupportedOp,
                    {"an op normrt does not support: 'Softplusish' (domain ai.onnx, opset 17)", "(only)"});
}

TEST(EngineBuild, UnsupportedOpsAreReportedBeforeProfileErrors) {
  ModelBuilder m;
  m.input("x", {"N"}).output("y");
  m.node("Nope", {"x"}, {"y"});
  expect_error_code([&] { build(m); }, ErrorCode::kUnsupportedOp, {"'Nope'"});
}

TEST(EngineBuild, AProfileThatDoesNotFitTheModelNamesTheCorner) {
  ModelBuilder m;
  m.import_domain(kTestDomain, 1);
  m.input("a", {"N", "3"}).input("b", {"M", "3"}).output("y");
  m.node("CoreAdd", {"a", "b"}, {"y"}, kTestDomain, "add");
  BuildOptions options;
  options.profiles.push_back(Profile{{{"a", ShapeRange{{1, 3}, {2, 3}, {4, 3}}}, {"b", ShapeRange{{1, 3}, {3, 3}, {4, 3}}}}});
  expect_error_code([&] { build(m, options); }, ErrorCode::kShapeError,
                    {"profile 0 does not fit the model at its opt shapes (a:2x3, b:3x3)", "'add'"});
}

TEST(EngineBuild, ChoosesRegisteredFastKernels) {
  auto engine = build(scale_model(), batch_profile(1, 2, 4));
  ASSERT_EQ(engine->kernels.size(), 1u);
  EXPECT_EQ(engine->kernels[0], kScaleFastKernel);
  int before = scale_fast_calls();
  ExecutionContext context(engine);
  auto out = context.run({{"x", filled({2, 3}, 1)}});
  EXPECT_EQ(scale_fast_calls(), before + 1);
  EXPECT_EQ(out[0].second.data<float>()[5], 12.0f);
}

TEST(EngineRun, MissingInputIsNamedWithTheList) {
  ModelBuilder m;
  m.input("x", {"N", "3"}).input("mask", {"N", "3"}, onnx::TensorProto::INT64).output("y").output("z", onnx::TensorProto::INT64);
  m.node("Identity", {"x"}, {"y"});
  m.node("Identity", {"mask"}, {"z"});
  BuildOptions options = batch_profile(1, 2, 4);
  options.profiles[0].inputs["mask"] = ShapeRange{{1, 3}, {2, 3}, {4, 3}};
  auto engine = build(m, options);
  ExecutionContext context(engine);
  expect_error_code([&] { context.run({{"x", filled({2, 3}, 0)}}); }, ErrorCode::kInvalidArgument,
                    {"input 'mask' [N,3] int64 was not given", "the inputs are: x [N,3] float32, mask [N,3] int64"});
}

TEST(EngineRun, ExtraInputSuggestsTheNearestName) {
  auto engine = build(scale_model(), batch_profile(1, 2, 4));
  ExecutionContext context(engine);
  expect_error_code([&] { context.run({{"x", filled({2, 3}, 0)}, {"x2", filled({2, 3}, 0)}}); },
                    ErrorCode::kInvalidArgument,
                    {"input 'x2' was given", "no input of that name", "did you mean 'x'?", "x [N,3] float32"});
}

TEST(EngineRun, WrongDtypeOrRankIsRefusedWithTheExpectedOne) {
  auto engine = build(scale_model(), batch_profile(1, 2, 4));
  ExecutionContext context(engine);
  expect_error_code([&] { context.run({{"x", Tensor(DataType::kInt64, {2, 3})}}); }, ErrorCode::kInvalidArgument,
                    {"input 'x' must be float32 but is int64", "astype(numpy.float32)"});
  expect_error_code([&] { context.run({{"x", filled({2, 3, 1}, 0)}}); }, ErrorCode::kShapeError,
                    {"input 'x' must have rank 2 [N,3] but has rank 3 (2x3x1)"});
  expect_error_code([&] { context.run({{"x", Tensor(DataType::kFloat32, {})}}); }, ErrorCode::kShapeError,
                    {"must have rank 2", "has rank 0"});
}

TEST(EngineRun, InputOutsideTheProfileNamesTheDimAndTheRange) {
  auto engine = build(scale_model(), batch_profile(2, 4, 8));
  ExecutionContext context(engine);
  expect_error_code([&] { context.run({{"x", filled({9, 3}, 0)}}); }, ErrorCode::kShapeError,
                    {"input 'x' dimension 0 is 9", "outside the range [2, 8]", "rebuild the engine"});
  expect_error_code([&] { context.run({{"x", filled({1, 3}, 0)}}); }, ErrorCode::kShapeError,
                    {"dimension 0 is 1", "[2, 8]"});
  expect_error_code([&] { context.run({{"x", filled({4, 5}, 0)}}); }, ErrorCode::kShapeError,
                    {"dimension 1 is 5", "[3, 3]"});
  for (int64_t n : {2, 3, 8}) EXPECT_NO_THROW(context.run({{"x", filled({n, 3}, 0)}}));
}

TEST(EngineRun, EmptyBatchRuns) {
  auto engine = build(scale_model(), batch_profile(0, 1, 4));
  ExecutionContext context(engine);
  auto out = context.run({{"x", Tensor(DataType::kFloat32, {0, 3})}});
  EXPECT_EQ(out[0].second.dims(), (Dims{0, 3}));
}

TEST(EngineRun, SeveralProfilesEachAcceptTheirShapes) {
  BuildOptions options = batch_profile(1, 1, 2);
  options.profiles.push_back(Profile{{{"x", ShapeRange{{16, 3}, {24, 3}, {32, 3}}}}});
  auto engine = build(scale_model(), options);
  ASSERT_EQ(engine->profiles.size(), 2u);
  ExecutionContext context(engine);
  for (int64_t n : {1, 2, 16, 32}) {
    auto out = context.run({{"x", filled({n, 3}, 1)}});
    EXPECT_EQ(out[0].second.dims(), (Dims{n, 3}));
    EXPECT_EQ(out[0].second.data<float>()[3 * n - 1], 2.0f * static_cast<float>(3 * n));
  }
  expect_error_code([&] { context.run({{"x", filled({8, 3}, 0)}}); }, ErrorCode::kShapeError,
                    {"fit none of the engine's 2 profiles", "dimension 0 is 8", "[1, 2] of profile 0",
                     "[16, 32] of profile 1"});
}

// The outputs come back in the order the model declares them, whatever the node order, with their names.
TEST(EngineRun, OutputsComeBackInDeclaredOrderWithNames) {
  ModelBuilder m;
  m.import_domain(kTestDomain, 1);
  m.input("x", {"2"}).input("w", {"2"});
  m.output("third").output("first").output("x").output("second").output("k");
  m.initializer("k", {2}, {7, 8});
  add_attribute(m.node("CoreScale", {"x"}, {"first"}, kTestDomain), "alpha", 10.0f);
  add_attribute(m.node("CoreScale", {"first"}, {"second"}, kTestDomain), "alpha", 10.0f);
  m.node("CoreAdd", {"second", "w"}, {"third"}, kTestDomain);
  auto engine = build(m);
  ExecutionContext context(engine);
  Tensor x = float_tensor({1, 2}, {2});
  Tensor w = float_tensor({0.5f, 0.25f}, {2});
  auto out = context.run({{"w", w}, {"x", x}});
  ASSERT_EQ(out.size(), 5u);
  const char* names[] = {"third", "first", "x", "second", "k"};
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(out[i].first, names[i]);
  EXPECT_EQ(out[0].second.data<float>()[1], 200.25f);
  EXPECT_EQ(out[1].second.data<float>()[1], 20.0f);
  EXPECT_EQ(out[2].second.data<float>()[1], 2.0f);
  EXPECT_EQ(out[3].second.data<float>()[1], 200.0f);
  EXPECT_EQ(out[4].second.data<float>()[1], 8.0f);
  // An input or weight returned as an output is a copy: changing it changes neither the caller's tensor nor
  // the engine.
  out[2].second.data<float>()[0] = -1;
  out[4].second.data<float>()[0] = -1;
  EXPECT_EQ(x.data<float>()[0], 1.0f);
  auto again = context.run({{"w", w}, {"x", x}});
  EXPECT_EQ(again[4].second.data<float>()[0], 7.0f);
}

TEST(EngineRun, ContextsOnOneEngineRunConcurrently) {
  auto engine = build(scale_model(), batch_profile(1, 4, 64));
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      ExecutionContext context(engine);
      for (int i = 0; i < 50; ++i) {
        int64_t n = 1 + (t * 50 + i) % 64;
        auto out = context.run({{"x", filled({n, 3}, static_cast<float>(t))}});
        if (out[0].second.data<float>()[3 * n - 1] != 2.0f * (static_cast<float>(t) + static_cast<float>(3 * n - 1)))
          ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

TEST(EngineBuild, UnknownDeviceIsRefused) {
  BuildOptions options = batch_profile(1, 2, 4);
  options.device = "tpu";
  expect_error_code([&] { build(scale_model(), options); }, ErrorCode::kInvalidArgument, {"device 'tpu'", "--device cpu"});
}

}  // namespace normrt::test
