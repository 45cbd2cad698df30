// The float16 lowering (src/passes/float16_precision.cpp): the lowered graph's structure (Casts at the boundary,
// normalization parameters kept float32, unsupported nodes wrapped in Casts, initializers converted or
// duplicated), that it still infers, and that the reference kernels run it within float16 tolerance of the
// float32 graph.
#include "passes/float16_precision.h"

#include <gtest/gtest.h>

#include <set>

#include "ops/evaluate.h"
#include "ops/shape_util.h"
#include "pattern_graph.h"

namespace normrt::test {
namespace {

constexpr const char* kPass = "float16_precision";

bool everything(const Node&, int64_t, const std::vector<TypeShape>&) { return true; }

Float16Support all_but(std::set<std::string> refused) {
  return [refused](const Node& node, int64_t, const std::vector<TypeShape>&) { return !refused.count(node.op_type); };
}

const Node* producer(const Graph& g, const std::string& value) {
  for (const Node& n : g.nodes)
    for (const std::string& out : n.outputs)
      if (out == value) return &n;
  return nullptr;
}

std::vector<const Node*> readers(const Graph& g, const std::string& value) {
  std::vector<const Node*> r;
  for (const Node& n : g.nodes)
    for (const std::string& in : n.inputs)
      if (in == value) r.push_back(&n);
  return r;
}

DataType inferred(const Graph& g, const std::string& value) {
  GraphTypes types = infer_graph(g, {});
  auto it = types.types.find(value);
  return it == types.types.end() ? DataType::kUndefined : it->second.dtype;
}

Node& set_attr_int(Node& n, const std::string& key, int64_t v) {
  set_int(n, key, v);
  return n;
}

// x [2, 4, 8, 8] -> Conv(3x3, pad 1) -> GroupNorm(4 groups, Silu) -> Conv(1x1) -> z
PatternGraph conv_group_norm_silu() {
  PatternGraph p(17);
  p.graph.opsets[kNormrtDomain] = 1;
  p.input("x", {2, 4, 8, 8});
  p.constant("w1", random_tensor({8, 4, 3, 3}, -0.3f, 0.3f)).constant("b1", random_tensor({8}));
  p.constant("gamma", random_tensor({8}, 0.5f, 1.5f)).constant("beta", random_tensor({8}));
  p.constant("w2", random_tensor({6, 8, 1, 1}, -0.5f, 0.5f)).constant("b2", random_tensor({6}));
  set_ints(p.add("Conv", {"x", "w1", "b1"}, "h"), "pads", {1, 1, 1, 1});
  Node& gn = p.add("GroupNorm", {"h", "gamma", "beta"}, "y");
  gn.domain = kNormrtDomain;
  set_int(gn, "num_groups", 4);
  set_string(gn, "activation", "Silu");
  p.add("Conv", {"y", "w2", "b2"}, "z");
  p.output("z");
  return p;
}

TEST(Float16Precision, CastsAtTheBoundaryParamsStayFloat32) {
  PatternGraph p = conv_group_norm_silu();
  Graph original = p.graph;
  PassReport report;
  lower_to_float16(p.graph, everything, report);
  const Graph& g = p.graph;
  SCOPED_TRACE(describe_report(report));

  // x -> Cast(float16) -> Conv; the output z is written by a Cast to float32 from the last Conv's float16 value.
  const std::vector<const Node*> x_readers = readers(g, "x");
  ASSERT_EQ(x_readers.size(), 1u);
  EXPECT_EQ(x_readers[0]->op_type, "Cast");
  EXPECT_EQ(x_readers[0]->attr_int("to"), static_cast<int64_t>(DataType::kFloat16));
  const Node* z = producer(g, "z");
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(z->op_type, "Cast");
  EXPECT_EQ(z->attr_int("to"), static_cast<int64_t>(DataType::kFloat32));
  EXPECT_EQ(count_ops(g, "Cast"), 2);

  // Weights become float16 under their own names; normalization parameters stay float32.
  for (const char* w : {"w1", "b1", "w2", "b2"}) EXPECT_EQ(g.initializers.at(w).dtype(), DataType::kFloat16) << w;
  for (const char* w : {"gamma", "beta"}) EXPECT_EQ(g.initializers.at(w).dtype(), DataType::kFloat32) << w;
  EXPECT_EQ(g.initializers.size(), original.initializers.size());
  EXPECT_FLOAT_EQ(half_to_float(g.initializers.at("w1").data<uint16_t>()[0]),
                  half_to_float(float_to_half(original.initializers.at("w1").data<float>()[0])));

  // It infers: intermediates float16, the interface float32.
  EXPECT_EQ(inferred(g, "h"), DataType::kFloat16);
  EXPECT_EQ(inferred(g, "y"), DataType::kFloat16);
  EXPECT_EQ(inferred(g, "z"), DataType::kFloat32);
  EXPECT_TRUE(reported(report, kPass, true, {"GroupNorm", "runs in float16"}));
  EXPECT_TRUE(reported(report, kPass, true, {"initializer 'w1'", "converted to float16"}));
  EXPECT_TRUE(reported(report, kPass, true, {"graph output 'z'", "Cast"}));

  // The reference kernels run it within float16 tolerance of the float32 graph.
  std::map<std::string, Tensor> feeds{{"x", random_tensor({2, 4, 8, 8})}};
  auto want = run_reference(original, feeds), got = run_reference(g, feeds);
  ASSERT_EQ(got.at("z").dtype(), DataType::kFloat32);
  const double error = relative_error(got.at("z"), want.at("z"));
  EXPECT_LT(error, 1e-2);
  EXPECT_GT(error, 0.0);  // it did compute in float16
}

TEST(Float16Precision, UnsupportedNodesKeepFloat32WithCastsAround) {
  PatternGraph p = conv_group_norm_silu();
  Graph original = p.graph;
  PassReport report;
  lower_to_float16(p.graph, all_but({"GroupNorm"}), report);
  const Graph& g = p.graph;
  SCOPED_TRACE(describe_report(report));
  const Node* gn = nullptr;
  for (const Node& n : g.nodes)
    if (n.op_type == "GroupNorm") gn = &n;
  ASSERT_NE(gn, nullptr);
  // h (float16, from the Conv) -> Cast(float32) -> GroupNorm -> y (float32) -> Cast(float16) -> Conv
  const Node* before = producer(g, gn->inputs[0]);
  ASSERT_NE(before, nullptr);
  EXPECT_EQ(before->op_type, "Cast");
  EXPECT_EQ(before->attr_int("to"), static_cast<int64_t>(DataType::kFloat32));
  const std::vector<const Node*> after = readers(g, gn->outputs[0]);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0]->op_type, "Cast");
  EXPECT_EQ(after[0]->attr_int("to"), static_cast<int64_t>(DataType::kFloat16));
  EXPECT_EQ(inferred(g, "y"), DataType::kFloat32);
  EXPECT_EQ(count_ops(g, "Cast"), 4);
  EXPECT_TRUE(reported(report, kPass, false, {"GroupNorm", "keeps float32", "no float16 kernel"}));

  std::map<std::string, Tensor> feeds{{"x", random_tensor({2, 4, 8, 8})}};
  EXPECT_LT(relative_error(run_reference(g, feeds).at("z"), run_reference(original, feeds).at("z")), 1e-2);
}

TEST(Float16Precision, NothingSupportedLeavesTheGraphFloat32) {
  PatternGraph p = conv_group_norm_silu();
  PassReport report;
  lower_to_float16(
      p.graph, [](const Node&, int64_t, const std::vector<TypeShape>&) { return false; }, report);
  EXPECT_EQ(count_ops(p.graph, "Cast"), 0);
  for (const auto& [name, t] : p.graph.initializers) EXPECT_EQ(t.dtype(), DataType::kFloat32) << name;
  EXPECT_EQ(inferred(p.graph, "y"), DataType::kFloat32);
}

TEST(Float16Precision, InitializerReadInBothPrecisionsIsDuplicated) {
  // x -> Add(x, k) -> a -> Mul(a, k) -> m;  Mul has no float16 kernel.
  PatternGraph p(17);
  p.input("x", {3, 5});
  p.constant("k", random_tensor({5}));
  p.add("Add", {"x", "k"}, "a");
  p.add("Mul", {"a", "k"}, "m");
  p.output("m");
  Graph original = p.graph;
  PassReport report;
  lower_to_float16(p.graph, all_but({"Mul"}), report);
  const Graph& g = p.graph;
  SCOPED_TRACE(describe_report(report));
  ASSERT_EQ(g.initializers.size(), 2u);
  EXPECT_EQ(g.initializers.at("k").dtype(), DataType::kFloat32);  // the Mul still reads the original
  const Node* add = producer(g, "a");
  ASSERT_NE(add, nullptr);
  EXPECT_EQ(g.initializers.at(add->inputs[1]).dtype(), DataType::kFloat16);
  EXPECT_TRUE(reported(report, kPass, true, {"initializer 'k'", "kept in both forms"}));
  std::map<std::string, Tensor> feeds{{"x", random_tensor({3, 5})}};
  EXPECT_LT(relative_error(run_reference(g, feeds).at("m"), run_reference(original, feeds).at("m")), 2e-3);
}

TEST(Float16Precision, OverflowingInitializersSaturateAndAreReported) {
  PatternGraph p(17);
  p.input("x", {4});
  p.constant("mask", float_tensor({1e6f, -1e9f, 1e-9f, 2.0f}, {4}));
  p.add("Add", {"x", "mask"}, "y");
  p.output("y");
  PassReport report;
  lower_to_float16(p.graph, everything, report);
  SCOPED_TRACE(describe_report(report));
  const Tensor& mask = p.graph.initializers.at("mask");
  ASSERT_EQ(mask.dtype(), DataType::kFloat16);
  EXPECT_EQ(half_to_float(mask.data<uint16_t>()[0]), 65504.0f);
  EXPECT_EQ(half_to_float(mask.data<uint16_t>()[1]), -65504.0f);
  EXPECT_EQ(half_to_float(mask.data<uint16_t>()[2]), 0.0f);
  EXPECT_EQ(half_to_float(mask.data<uint16_t>()[3]), 2.0f);
  EXPECT_TRUE(reported(report, kPass, true, {"'mask'", "2 value(s) beyond the float16 range", "1e+09", "65504"}));
  EXPECT_TRUE(reported(report, kPass, true, {"'mask'", "1 non-zero value(s) flushed to zero"}));
}

TEST(Float16Precision, CastsToFloat32BecomeFloat16CastsInside) {
  // ids (int64) -> Cast(float32) -> f -> Add(f, x) -> y -> Cast(float32) -> out (a graph output)
  PatternGraph p(17);
  p.input("x", {2, 3}).input("ids", {2, 3}, DataType::kInt64);
  set_int(p.add("Cast", {"ids"}, "f"), "to", static_cast<int64_t>(DataType::kFloat32));
  p.add("Add", {"f", "x"}, "y");
  set_int(p.add("Cast", {"y"}, "out"), "to", static_cast<int64_t>(DataType::kFloat32));
  p.output("out");
  PassReport report;
  lower_to_float16(p.graph, everything, report);
  SCOPED_TRACE(describe_report(report));
  const Node* f = producer(p.graph, "f");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->attr_int("to"), static_cast<int64_t>(DataType::kFloat16));
  const Node* out = producer(p.graph, "out");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->attr_int("to"), static_cast<int64_t>(DataType::kFloat32));  // writes a graph output: unchanged
  EXPECT_EQ(out->inputs[0], "y");
  EXPECT_EQ(inferred(p.graph, "y"), DataType::kFloat16);
  EXPECT_EQ(inferred(p.graph, "out"), DataType::kFloat32);
  EXPECT_EQ(count_ops(p.graph, "Cast"), 3);  // x's Cast, and the two of the model
}

TEST(Float16Precision, ShapeTensorsAndResizeScalesAreUntouched) {
  // x -> Reshape(x, [2, 4, 2, 2]) -> r -> Resize(r, '', scales) -> s -> Shape -> sh (int64 output)
  PatternGraph p(17);
  p.input("x", {2, 16});
  p.constant("shape", int64_tensor({2, 4, 2, 2}));
  p.constant("scales", float_tensor({1, 1, 2, 2}, {4}));
  p.add("Reshape", {"x", "shape"}, "r");
  set_string(p.add("Resize", {"r", "", "scales"}, "s"), "mode", "nearest");
  p.add("Shape", {"s"}, "sh");
  p.output("s").output("sh");
  Graph original = p.graph;
  PassReport report;
  lower_to_float16(p.graph, everything, report);
  SCOPED_TRACE(describe_report(report));
  EXPECT_EQ(p.graph.initializers.at("shape").dtype(), DataType::kInt64);
  EXPECT_EQ(p.graph.initializers.at("scales").dtype(), DataType::kFloat32);
  EXPECT_EQ(inferred(p.graph, "r"), DataType::kFloat16);
  EXPECT_EQ(inferred(p.graph, "s"), DataType::kFloat32);  // graph output
  EXPECT_EQ(inferred(p.graph, "sh"), DataType::kInt64);
  const Node* shape = producer(p.graph, "sh");
  ASSERT_NE(shape, nullptr);
  EXPECT_EQ(inferred(p.graph, shape->inputs[0]), DataType::kFloat16);  // Shape reads the float16 form: no Cast
  std::map<std::string, Tensor> feeds{{"x", random_tensor({2, 16})}};
  auto want = run_reference(original, feeds), got = run_reference(p.graph, feeds);
  EXPECT_LT(relative_error(got.at("s"), want.at("s")), 1e-3);
  EXPECT_EQ(got.at("sh").dims(), want.at("sh").dims());
}

TEST(Float16Precision, GraphOutputAlsoReadInsideStaysFloat32) {
  // x -> Relu -> h (graph output) -> Sigmoid -> y (graph output)
  PatternGraph p(17);
  p.input("x", {5});
  p.add("Relu", {"x"}, "h");
  p.add("Sigmoid", {"h"}, "y");
  p.output("h").output("y");
  PassReport report;
  lower_to_float16(p.graph, everything, report);
  SCOPED_TRACE(describe_report(report));
  EXPECT_EQ(inferred(p.graph, "h"), DataType::kFloat32);
  EXPECT_EQ(inferred(p.graph, "y"), DataType::kFloat32);
  const Node* sigmoid = nullptr;
  for (const Node& n : p.graph.nodes)
    if (n.op_type == "Sigmoid") sigmoid = &n;
  ASSERT_NE(sigmoid, nullptr);
  EXPECT_EQ(inferred(p.graph, sigmoid->inputs[0]), DataType::kFloat16);  // reads the float16 value, not h
}

TEST(Float16Precision, StandardNormalizationsKeepFloat32Parameters) {
  // x -> BatchNormalization-9 -> InstanceNormalization -> LayerNormalization(axis -1) -> y
  PatternGraph p(9);
  p.input("x", {2, 3, 4, 5});
  // Scales away from zero: a nearly constant channel would make the InstanceNorm amplify float16 rounding.
  for (const char* name : {"bn_bias", "bn_mean", "in_bias"}) p.constant(name, random_tensor({3}));
  for (const char* name : {"bn_scale", "in_scale"}) p.constant(name, random_tensor({3}, 0.5f, 1.5f));
  p.constant("bn_var", random_tensor({3}, 0.5f, 2.0f));
  p.constant("ln_scale", random_tensor({5})).constant("ln_bias", random_tensor({5}));
  p.add("BatchNormalization", {"x", "bn_scale", "bn_bias", "bn_mean", "bn_var"}, "b");
  p.add("InstanceNormalization", {"b", "in_scale", "in_bias"}, "i");
  p.output("i");
  Graph original = p.graph;
  PassReport report;
  lower_to_float16(p.graph, everything, report);
  SCOPED_TRACE(describe_report(report));
  for (const auto& [name, t] : p.graph.initializers) {
    if (name.find("ln_") != 0) {
      EXPECT_EQ(t.dtype(), DataType::kFloat32) << name;
    }
  }
  EXPECT_EQ(inferred(p.graph, "b"), DataType::kFloat16);
  std::map<std::string, Tensor> feeds{{"x", random_tensor({2, 3, 4, 5})}};
  EXPECT_LT(relative_error(run_reference(p.graph, feeds).at("i"), run_reference(original, feeds).at("i")), 5e-3);

  PatternGraph q(17);
  q.input("x", {2, 7, 5});
  q.constant("s", random_tensor({5})).constant("b", random_tensor({5}));
  set_attr_int(q.add("LayerNormalization", {"x", "s", "b"}, "y"), "axis", -1);
  q.output("y");
  Graph q_original = q.graph;
  lower_to_float16(q.graph, everything, report);
  EXPECT_EQ(q.graph.initializers.at("s").dtype(), DataType::kFloat32);
  EXPECT_EQ(inferred(q.graph, producer(q.graph, "y")->inputs[0]), DataType::kFloat16);
  feeds = {{"x", random_tensor({2, 7, 5})}};
  EXPECT_LT(relative_error(run_reference(q.graph, feeds).at("y"), run_reference(q_original, feeds).at("y")), 5e-3);
}

TEST(Float16Precision, TimestepEmbeddingSinesStayFloat32) {
  // t [2] -> Unsqueeze -> Mul(freqs) -> Sin, Cos -> Concat -> Add(x) -> y: t * freqs reaches ~1000, where
  // float16's spacing is 0.5; the chain keeps float32, the Concat and everything after it run in float16.
  PatternGraph p(17);
  p.input("t", {2}).input("x", {2, 8});
  p.constant("axes", int64_tensor({1}));
  p.constant("freqs", float_tensor({1.0f, 0.37f, 0.11f, 0.013f}, {1, 4}));
  p.add("Unsqueeze", {"t", "axes"}, "tu");
  p.add("Mul", {"tu", "freqs"}, "arg");
  p.add("Sin", {"arg"}, "s");
  p.add("Cos", {"arg"}, "c");
  set_int(p.add("Concat", {"s", "c"}, "emb"), "axis", 1);
  p.add("Add", {"emb", "x"}, "y");
  p.output("y");
  Graph original = p.graph;
  PassReport report;
  lower_to_float16(p.graph, everything, report);
  SCOPED_TRACE(describe_report(report));
  EXPECT_EQ(inferred(p.graph, "arg"), DataType::kFloat32);
  EXPECT_EQ(inferred(p.graph, "s"), DataType::kFloat32);
  EXPECT_EQ(p.graph.initializers.at("freqs").dtype(), DataType::kFloat32);
  EXPECT_EQ(inferred(p.graph, producer(p.graph, "y")->inputs[0]), DataType::kFloat16);
  EXPECT_TRUE(reported(report, kPass, false, {"Mul", "argument of a Sin / Cos"}));
  std::map<std::string, Tensor> feeds{{"t", float_tensor({999.0f, 517.3f}, {2})}, {"x", random_tensor({2, 8})}};
  EXPECT_LT(relative_error(run_reference(p.graph, feeds).at("y"), run_reference(original, feeds).at("y")), 2e-3);
}

TEST(Float16Precision, NeedsAPredicate) {
  PatternGraph p = conv_group_norm_silu();
  PassReport report;
  expect_error([&] { lower_to_float16(p.graph, Float16Support(), report); }, {"predicate"});
}

}  // namespace
}  // namespace normrt::test
