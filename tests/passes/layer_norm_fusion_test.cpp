// layer_norm_fusion: every spelling exporters write (Pow or Mul square, Div or reciprocal, operand orders, axes as
// attribute or as opset-18 input, one or several axes, any rank), a near miss per precondition, and the InstanceNorm
// written out the same way. Every rewrite is run against the original on the reference kernels.
#include "passes/pattern_graph.h"

namespace normrt::test {
namespace {

enum class Square { kPow, kMul };
enum class Divide { kDiv, kReciprocal, kDivOne, kRsqrtPow };

struct LayerNormSpec {
  int64_t opset = 13;
  std::vector<Dim> x_dims = {Dim::unknown("batch"), Dim(5), Dim(6)};
  std::vector<int64_t> axes = {-1};
  std::vector<int64_t> variance_axes;  // empty: the same as axes
  int64_t keepdims = 1;
  Square square = Square::kPow;
  float exponent = 2.0f;
  Divide divide = Divide::kDiv;
  float one = 1.0f;  // the numerator of Div(1, sd)
  bool eps_first = false;
  bool eps_is_input = false;
  Tensor eps = float_tensor({1e-5f}, {});
  Dims gamma_dims = {6};  // empty: no Mul
  Dims beta_dims = {6};   // empty: no Add
  bool gamma_first = false;
  bool gamma_is_input = false;
  bool centered_is_output = false;
  bool sub_reversed = false;
};

Graph layer_norm_graph(const LayerNormSpec &s) {
  PatternGraph b(s.opset);
  b.input("x", s.x_dims);
  auto reduce = [&](const std::string &in, const std::vector<int64_t> &axes, const std::string &out) {
    Node &n = b.add("ReduceMean", {in}, out);
    if (s.opset >= 18) {
      b.constant(out + "_axes", int64_tensor(axes, {static_cast<int64_t>(axes.size())}));
      n.inputs.push_back(out + "_axes");
    } else {
      set_ints(n, "axes", axes);
    }
    if (s.keepdims != 1) set_int(n, "keepdims", s.keepdims);
  };
  reduce("x", s.axes, "mean");
  b.add("Sub", s.sub_reversed ? std::vector<std::string>{"mean", "x"} : std::vector<std::string>{"x", "mean"}, "d");
  if (s.square == Square::kPow) {
    b.scalar("two", s.exponent);
    b.add("Pow", {"d", "two"}, "sq");
  } else {
    b.add("Mul", {"d", "d"}, "sq");
  }
  reduce("sq", s.variance_axes.empty() ? s.axes : s.variance_axes, "var");
  if (s.eps_is_input)
    b.input("eps", {});
  else
    b.constant("eps", s.eps);
  b.add("Add", s.eps_first ? std::vector<std::string>{"eps", "var"} : std::vector<std::string>{"var", "eps"}, "ve");
  switch (s.divide) {
    case Divide::kDiv:
      b.add("Sqrt", {"ve"}, "sd");
      b.add("Div", {"d", "sd"}, "n");
      break;
    case Divide::kReciprocal:
      b.add("Sqrt", {"ve"}, "sd");
      b.add("Reciprocal", {"sd"}, "r");
      b.add("Mul", {"d", "r"}, "n");
      break;
    case Divide::kDivOne:
      b.add("Sqrt", {"ve"}, "sd");
      b.scalar("one", s.one);
      b.add("Div", {"one", "sd"}, "r");
      b.add("Mul", {"r", "d"}, "n");
      break;
    case Divide::kRsqrtPow:
      b.scalar("minus_half", -0.5f);
      b.add("Pow", {"ve", "minus_half"}, "r");
      b.add("Mul", {"d", "r"}, "n");
      break;
  }
  std::string y = "n";
  if (!s.gamma_dims.empty()) {
    if (s.gamma_is_input)
      b.input("gamma", std::vector<Dim>(s.gamma_dims.begin(), s.gamma_dims.end()));
    else
      b.constant("gamma", random_tensor(s.gamma_dims, 0.5f, 1.5f));
    b.add("Mul", s.gamma_first ? std::vector<std::string>{"gamma", y} : std::vector<std::string>{y, "gamma"}, "m");
    y = "m";
  }
  if (!s.beta_dims.empty()) {
    b.constant("beta", random_tensor(s.beta_dims));
    b.add("Add", {y, "beta"}, "y");
    y = "y";
  }
  b.add("Identity", {y}, "out");
  b.output("out");
  if (s.centered_is_output) b.output("d");
  return b.graph;
}

std::map<std::string, Tensor> feeds_for(const Graph &g) {
  std::map<std::string, Tensor> feeds;
  for (const ValueInfo &in : g.inputs) {
    Dims d;
    for (const Dim &dim : in.shape.dims) d.push_back(dim.known() ? dim.value : 3);
    // Large mean, small spread: a variance computed as E[x^2] - E[x]^2 would lose it.
    feeds[in.name] = in.name == "eps" ? float_tensor({1e-5f}, {}) : random_tensor(d, 99.0f, 101.0f);
  }
  return feeds;
}

PassReport fuse(Graph &g) {
  PassReport report;
  fuse_layer_norm(g, report);
  g.verify();
  return report;
}

// Fuses, expects one LayerNorm and no statistics left, and compares with the original.
void expect_fused(const LayerNormSpec &spec, int64_t axis, const std::string &what = "") {
  SCOPED_TRACE(what);
  Graph original = layer_norm_graph(spec), g = original;
  PassReport report = fuse(g);
  ASSERT_EQ(count_ops(g, "LayerNorm", kNormrtDomain), 1) << describe_report(report);
  EXPECT_EQ(count_ops(g, "ReduceMean") + count_ops(g, "Sqrt") + count_ops(g, "Sub"), 0) << describe_report(report);
  const Node *ln = find_op(g, "LayerNorm");
  EXPECT_EQ(ln->attr_int("axis"), axis);
  EXPECT_FLOAT_EQ(ln->attr_float("epsilon", 0), 1e-5f);
  EXPECT_EQ(ln->has_input(1), !spec.gamma_dims.empty());
  EXPECT_EQ(ln->has_input(2), !spec.beta_dims.empty());
  EXPECT_EQ(g.nodes.size(), 2u) << "the LayerNorm and the Identity";
  EXPECT_TRUE(reported(report, "layer_norm_fusion", true, {"ai.normrt::LayerNorm"}));
  expect_same_outputs(original, g, feeds_for(original), 1e-4);
}

}  // namespace

TEST(LayerNormFusion, FusesEveryExporterSpelling) {
  for (int64_t opset : {11, 13, 17, 18}) {
    for (Square square : {Square::kPow, Square::kMul}) {
      for (Divide divide : {Divide::kDiv, Divide::kReciprocal, Divide::kDivOne, Divide::kRsqrtPow}) {
        for (bool swapped : {false, true}) {
          SCOPED_TRACE("opset " + std::to_string(opset) + " square " + std::to_string(static_cast<int>(square)) +
                       " divide " + std::to_string(static_cast<int>(divide)) + (swapped ? " swapped" : ""));
          LayerNormSpec spec;
          spec.opset = opset;
          spec.square = square;
          spec.divide = divide;
          spec.eps_first = swapped;
          spec.gamma_first = swapped;
          expect_fused(spec, -1);
        }
      }
    }
  }
}

TEST(LayerNormFusion, FusesSeveralAxesAnyRankAndPartialAffine) {
  LayerNormSpec two_axes;  // nn.LayerNorm([4, 5]) on [N, 3, 4, 5], axes as torch writes them
  two_axes.x_dims = {Dim::unknown("batch"), Dim(3), Dim(4), Dim(5)};
  two_axes.axes = {-2, -1};
  two_axes.gamma_dims = {4, 5};
  two_axes.beta_dims = {4, 5};
  expect_fused(two_axes, -2, "two_axes");

  LayerNormSpec positive = two_axes;  // positive axes on a known rank
  positive.axes = {2, 3};
  expect_fused(positive, -2, "positive");

  LayerNormSpec opset18 = two_axes;
  opset18.opset = 18;
  expect_fused(opset18, -2, "opset18");

  LayerNormSpec rank2;
  rank2.x_dims = {Dim(7), Dim(6)};
  expect_fused(rank2, -1, "rank2");

  LayerNormSpec no_affine;
  no_affine.gamma_dims = {};
  no_affine.beta_dims = {};
  expect_fused(no_affine, -1, "no_affine");

  LayerNormSpec bias_only;
  bias_only.gamma_dims = {};
  expect_fused(bias_only, -1, "bias_only");

  LayerNormSpec leading_ones;  // gamma [1, 1, 6] broadcasts like [6]
  leading_ones.gamma_dims = {1, 1, 6};
  leading_ones.beta_dims = {1, 6};
  expect_fused(leading_ones, -1, "leading_ones");

  LayerNormSpec unknown_dims;  // the normalized dim is unknown before run time: the fused op checks it then
  unknown_dims.x_dims = {Dim::unknown("batch"), Dim::unknown("tokens"), Dim::unknown("width")};
  Graph unknown_original = layer_norm_graph(unknown_dims), g = unknown_original;
  fuse(g);
  EXPECT_EQ(count_ops(g, "Mul") + count_ops(g, "Add"), 0);
  std::map<std::string, Tensor> feeds = {{"x", random_tensor({2, 3, 6})}};
  expect_same_outputs(unknown_original, g, feeds, 1e-4);
}

TEST(LayerNormFusion, WrittenOutInstanceNormBecomesInstanceNormalization) {
  LayerNormSpec spec;
  spec.x_dims = {Dim::unknown("batch"), Dim(4), Dim(3), Dim(5)};
  spec.axes = {2, 3};
  spec.gamma_dims = {4, 1, 1};
  spec.beta_dims = {4, 1, 1};
  Graph original = layer_norm_graph(spec), g = original;
  PassReport report = fuse(g);
  ASSERT_EQ(count_ops(g, "InstanceNormalization", ""), 1) << describe_report(report);
  EXPECT_EQ(count_ops(g, "LayerNorm"), 0);
  EXPECT_EQ(g.nodes.size(), 2u);
  expect_same_outputs(original, g, feeds_for(original), 1e-4);

  // Without an affine it is a LayerNorm over the two spatial axes: no channel count needed.
  spec.gamma_dims = {};
  spec.beta_dims = {};
  Graph plain = layer_norm_graph(spec);
  fuse(plain);
  EXPECT_EQ(count_ops(plain, "LayerNorm"), 1);
  EXPECT_EQ(find_op(plain, "LayerNorm")->attr_int("axis"), -2);
}

TEST(LayerNormFusionNearMiss, KeepdimsZero) {
  LayerNormSpec spec;
  spec.keepdims = 0;
  Graph g = layer_norm_graph(spec);
  EXPECT_TRUE(reported(fuse(g), "layer_norm_fusion", false, {"keepdims = 0"}));
  EXPECT_EQ(count_ops(g, "LayerNorm"), 0);
}

TEST(LayerNormFusionNearMiss, AxesNotEndingAtTheLastOrNotConsecutive) {
  for (std::vector<int64_t> axes :
       {std::vector<int64_t>{1}, std::vector<int64_t>{-3, -1}, std::vector<int64_t>{0, 1}}) {
    LayerNormSpec spec;
    spec.axes = axes;
    spec.x_dims = {Dim(2), Dim(5), Dim(6)};
    spec.gamma_dims = {};
    spec.beta_dims = {};
    Graph g = layer_norm_graph(spec);
    PassReport report = fuse(g);
    EXPECT_TRUE(reported(report, "layer_norm_fusion", false, {"not consecutive axes ending at the last one"}))
        << describe_report(report);
    EXPECT_EQ(count_ops(g, "LayerNorm"), 0);
  }
}

TEST(LayerNormFusionNearMiss, VarianceOverOtherAxesThanTheMean) {
  LayerNormSpec spec;
  spec.x_dims = {Dim(2), Dim(5), Dim(6)};
  spec.axes = {-1};
  spec.variance_axes = {-2, -1};
  spec.gamma_dims = {};
  spec.beta_dims = {};
  Graph g = layer_norm_graph(spec);
  EXPECT_TRUE(
      reported(fuse(g), "layer_norm_fusion", false, {"variance is taken over axes [1, 2]", "the mean over [2]"}));
  EXPECT_EQ(count_ops(g, "LayerNorm"), 0);
}

TEST(LayerNormFusionNearMiss, MeanMinusX) {
  LayerNormSpec spec;
  spec.sub_reversed = true;
  Graph g = layer_norm_graph(spec);
  EXPECT_TRUE(reported(fuse(g), "layer_norm_fusion", false, {"computes mean - x"}));
  EXPECT_EQ(count_ops(g, "LayerNorm"), 0);
}

TEST(LayerNormFusionNearMiss, NotASquare) {
  LayerNormSpec spec;
  spec.exponent = 3.0f;
  Graph g = layer_norm_graph(spec);
  EXPECT_TRUE(reported(fuse(g), "layer_norm_fusion", false, {"squares it"}));
  EXPECT_EQ(count_ops(g, "LayerNorm"), 0);
}

TEST(LayerNormFusionNearMiss, EpsilonNotAConstantScalar) {
  LayerNormSpec from_input;
  from_input.eps_is_input = true;
  Graph g = layer_norm_graph(from_input);
  EXPECT_TRUE(reported(fuse(g), "layer_norm_fusion", false, {"not by an Add of a constant scalar epsilon"}));
  EXPECT_EQ(count_ops(g, "LayerNorm"), 0);

  LayerNormSpec vector;  // per-feature epsilon: not one LayerNorm epsilon
  vector.eps = float_tensor({1e-5f, 1e-5f, 1e-5f, 1e-5f, 1e-5f, 1e-5f}, {6});
  vector.x_dims = {Dim(2), Dim(5), Dim(6)};
  Graph h = layer_norm_graph(vector);
  EXPECT_TRUE(reported(fuse(h), "layer_norm_fusion", false, {"constant scalar epsilon"}));
  EXPECT_EQ(count_ops(h, "LayerNorm"), 0);

  LayerNormSpec negative;
  negative.eps = float_tensor({-1e-5f}, {});
  Graph k = layer_norm_graph(negative);
  EXPECT_TRUE(reported(fuse(k), "layer_norm_fusion", false, {"negative"}));
}

TEST(LayerNormFusionNearMiss, CenteredValueHasASecondConsumer) {
  LayerNormSpec spec;
  spec.centered_is_output = true;
  Graph g = layer_norm_graph(spec);
  EXPECT_TRUE(reported(fuse(g), "layer_norm_fusion", false, {"'d'", "graph output"}));
  EXPECT_EQ(count_ops(g, "LayerNorm"), 0);
}

TEST(LayerNormFusionNearMiss, ReciprocalOfTwo) {
  LayerNormSpec spec;
  spec.divide = Divide::kDivOne;
  spec.one = 2.0f;
  Graph g = layer_norm_graph(spec);
  EXPECT_TRUE(reported(fuse(g), "layer_norm_fusion", false, {"not by Div(d, sd) or a reciprocal"}));
  EXPECT_EQ(count_ops(g, "LayerNorm"), 0);
}

TEST(LayerNormFusionNearMiss, AxesInputNotConstant) {
  LayerNormSpec spec;
  spec.opset = 18;
  Graph g = layer_norm_graph(spec);
  g.initializers.erase("mean_axes");
  g.inputs.push_back(ValueInfo{"mean_axes", DataType::kInt64, Shape::from_dims({1})});
  EXPECT_TRUE(reported(fuse(g), "layer_norm_fusion", false, {"'mean_axes', which is not a constant"}));
  EXPECT_EQ(count_ops(g, "LayerNorm"), 0);
}

TEST(LayerNormFusionNearMiss, MulByATensorThatIsNotBroadcastOverTheNormalizedAxes) {
  LayerNormSpec spec;  // gamma [5, 1] varies along axis 2, which is not normalized: the Mul stays
  spec.x_dims = {Dim(2), Dim(3), Dim(5), Dim(6)};
  spec.gamma_dims = {5, 1};
  Graph original = layer_norm_graph(spec), g = original;
  PassReport report = fuse(g);
  EXPECT_EQ(count_ops(g, "LayerNorm"), 1) << describe_report(report);
  EXPECT_FALSE(find_op(g, "LayerNorm")->has_input(1));
  EXPECT_EQ(count_ops(g, "Mul"), 1);
  EXPECT_EQ(count_ops(g, "Add"), 1);
  EXPECT_TRUE(reported(report, "layer_norm_fusion", true, {"stays after the fused node", "not normalized"}))
      << describe_report(report);
  expect_same_outputs(original, g, feeds_for(original), 1e-4);

  LayerNormSpec wrong_size = spec;  // [7] against a normalized dim of 6
  wrong_size.gamma_dims = {7};
  wrong_size.beta_dims = {};
  Graph h = layer_norm_graph(wrong_size);
  report = fuse(h);
  EXPECT_EQ(count_ops(h, "Mul"), 1);
  EXPECT_TRUE(reported(report, "layer_norm_fusion", true, {"does not match the input"})) << describe_report(report);

  LayerNormSpec runtime = spec;  // gamma computed at run time
  runtime.gamma_dims = {6};
  runtime.gamma_is_input = true;
  Graph k = layer_norm_graph(runtime);
  report = fuse(k);
  EXPECT_EQ(count_ops(k, "Mul"), 1);
  EXPECT_TRUE(reported(report, "layer_norm_fusion", true, {"'gamma' is not a constant"})) << describe_report(report);
}

}  // namespace normrt::test
