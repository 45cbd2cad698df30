// gelu_fusion and hard_swish_fusion: every association of the final product, both constant spellings, the tanh form's
// cube spellings, near misses per precondition, and the activation landing in a GroupNorm through fuse_normalizations.
// Rewrites are run against the original on the reference kernels.
#include <cmath>

#include "passes/pattern_graph.h"

namespace normrt::test {
namespace {

// How x * a * 0.5 (or x * c / 6) is associated.
enum class Product { kXaThenHalf, kHalfTimesXa, kXTimesAHalf, kXHalfTimesA, kXaDivTwo, kADivTwoTimesX };
constexpr Product kProducts[] = {Product::kXaThenHalf,  Product::kHalfTimesXa, Product::kXTimesAHalf,
                                 Product::kXHalfTimesA, Product::kXaDivTwo,    Product::kADivTwoTimesX};

// z = x * a * factor, associated per `p`; `factor` as a Mul constant, 1 / factor as a Div constant.
void add_product(PatternGraph &b, Product p, const std::string &x, const std::string &a, float factor,
                 const std::string &z) {
  b.scalar("factor", factor);
  b.scalar("divisor", 1.0f / factor);
  switch (p) {
    case Product::kXaThenHalf:
      b.add("Mul", {x, a}, "p");
      b.add("Mul", {"p", "factor"}, z);
      break;
    case Product::kHalfTimesXa:
      b.add("Mul", {a, x}, "p");
      b.add("Mul", {"factor", "p"}, z);
      break;
    case Product::kXTimesAHalf:
      b.add("Mul", {a, "factor"}, "p");
      b.add("Mul", {x, "p"}, z);
      break;
    case Product::kXHalfTimesA:
      b.add("Mul", {"factor", x}, "p");
      b.add("Mul", {a, "p"}, z);
      break;
    case Product::kXaDivTwo:
      b.add("Mul", {x, a}, "p");
      b.add("Div", {"p", "divisor"}, z);
      break;
    case Product::kADivTwoTimesX:
      b.add("Div", {a, "divisor"}, "p");
      b.add("Mul", {"p", x}, z);
      break;
  }
}

struct GeluSpec {
  bool tanh = false;
  bool multiply_by_inverse = false;  // erf: Mul(x, 0.70710677) instead of Div(x, 1.4142135)
  float scale = 0;                   // 0: the exact constant
  float one = 1.0f;
  Product product = Product::kXaThenHalf;
  float factor = 0.5f;
  int cube = 0;  // tanh: 0 Pow(x, 3), 1 Mul(x, Mul(x, x)), 2 Mul(Mul(x, x), x)
  float cubic = 0.044715f;
  bool other_x_in_product = false;
  bool erf_is_output = false;
};

Graph gelu_graph(const GeluSpec &s, int64_t opset = 13) {
  PatternGraph b(opset);
  b.input("x", {Dim::unknown("batch"), Dim(7)});
  b.input("w", {Dim::unknown("batch"), Dim(7)});
  b.scalar("one", s.one);
  std::string a;
  if (!s.tanh) {
    if (s.multiply_by_inverse) {
      b.scalar("c", s.scale ? s.scale : 0.70710677f);
      b.add("Mul", {"c", "x"}, "u");
    } else {
      b.scalar("c", s.scale ? s.scale : 1.4142135f);
      b.add("Div", {"x", "c"}, "u");
    }
    b.add("Erf", {"u"}, "e");
    b.add("Add", {"e", "one"}, "a");
  } else {
    if (s.cube == 0) {
      b.scalar("three", 3.0f);
      b.add("Pow", {"x", "three"}, "x3");
    } else {
      b.add("Mul", {"x", "x"}, "x2");
      b.add("Mul", s.cube == 1 ? std::vector<std::string>{"x", "x2"} : std::vector<std::string>{"x2", "x"}, "x3");
    }
    b.scalar("k", s.cubic);
    b.add("Mul", {"k", "x3"}, "kx3");
    b.add("Add", {"x", "kx3"}, "inner");
    b.scalar("c", s.scale ? s.scale : 0.7978846f);
    b.add("Mul", {"c", "inner"}, "scaled");
    b.add("Tanh", {"scaled"}, "e");
    b.add("Add", {"one", "e"}, "a");
  }
  add_product(b, s.product, s.other_x_in_product ? "w" : "x", "a", s.factor, "z");
  b.add("Identity", {"z"}, "out");
  b.output("out");
  if (s.erf_is_output) b.output("e");
  return b.graph;
}

std::map<std::string, Tensor> gelu_feeds() {
  return {{"x", random_tensor({3, 7}, -4.0f, 4.0f)}, {"w", random_tensor({3, 7}, -4.0f, 4.0f)}};
}

PassReport fuse_activations(Graph &g) {
  PassReport report;
  fuse_gelu(g, report);
  fuse_hard_swish(g, report);
  g.verify();
  return report;
}

}  // namespace

TEST(GeluFusion, FusesTheErfFormInEveryAssociation) {
  for (Product p : kProducts) {
    for (bool inverse : {false, true}) {
      SCOPED_TRACE("product " + std::to_string(static_cast<int>(p)) + (inverse ? " Mul by 1/sqrt2" : " Div by sqrt2"));
      GeluSpec spec;
      spec.product = p;
      spec.multiply_by_inverse = inverse;
      Graph original = gelu_graph(spec), g = original;
      PassReport report = fuse_activations(g);
      ASSERT_EQ(g.nodes.size(), 2u) << describe_report(report);
      EXPECT_EQ(g.nodes[0].op_type, "Gelu");
      EXPECT_EQ(g.nodes[0].attr_string("approximate", ""), "none");
      EXPECT_TRUE(reported(report, "gelu_fusion", true, {"-> Gelu", "approximate = none"}));
      expect_same_outputs(original, g, gelu_feeds(), 1e-5);
    }
  }
}

TEST(GeluFusion, FusesTheTanhFormWithEveryCubeSpelling) {
  for (int cube : {0, 1, 2}) {
    for (Product p : {Product::kHalfTimesXa, Product::kXaThenHalf, Product::kXaDivTwo}) {
      SCOPED_TRACE("cube " + std::to_string(cube) + " product " + std::to_string(static_cast<int>(p)));
      GeluSpec spec;
      spec.tanh = true;
      spec.cube = cube;
      spec.product = p;
      Graph original = gelu_graph(spec), g = original;
      PassReport report = fuse_activations(g);
      ASSERT_EQ(g.nodes.size(), 2u) << describe_report(report);
      EXPECT_EQ(g.nodes[0].attr_string("approximate", ""), "tanh");
      expect_same_outputs(original, g, gelu_feeds(), 1e-5);
    }
  }
}

TEST(GeluFusionNearMiss, WrongConstants) {
  struct Case {
    GeluSpec spec;
    std::string why;
  };
  std::vector<Case> cases(5);
  cases[0].spec.scale = 1.5f;  // x / 1.5 is not x / sqrt 2: no candidate, nothing to report
  cases[0].why = "";
  cases[1].spec.one = 2.0f;
  cases[1].why = "not by an Add of 1";
  cases[2].spec.factor = 0.6f;
  cases[2].why = "factor 0.5";
  cases[3].spec.tanh = true;
  cases[3].spec.cubic = 0.05f;
  cases[3].why = "not x + 0.044715 x^3";
  cases[4].spec.tanh = true;
  cases[4].spec.scale = 0.8f;
  cases[4].why = "";
  for (const Case &c : cases) {
    Graph g = gelu_graph(c.spec);
    const size_t before = g.nodes.size();
    PassReport report = fuse_activations(g);
    EXPECT_EQ(g.nodes.size(), before) << describe_report(report);
    EXPECT_EQ(count_ops(g, "Gelu"), 0);
    if (c.why.empty()) {
      EXPECT_TRUE(report.records.empty()) << describe_report(report);
    } else {
      EXPECT_TRUE(reported(report, "gelu_fusion", false, {c.why})) << describe_report(report);
    }
  }
}

TEST(GeluFusionNearMiss, ProductOfAnotherValue) {
  GeluSpec spec;  // w * (1 + erf(x / sqrt 2)) / 2 is not GELU of anything
  spec.other_x_in_product = true;
  Graph g = gelu_graph(spec);
  PassReport report = fuse_activations(g);
  EXPECT_EQ(count_ops(g, "Gelu"), 0);
  EXPECT_TRUE(reported(report, "gelu_fusion", false, {"not a GELU (erf form)", "multiplies by 'w', which is neither"}))
      << describe_report(report);
}

TEST(GeluFusionNearMiss, IntermediateWithASecondConsumer) {
  GeluSpec spec;
  spec.erf_is_output = true;
  Graph g = gelu_graph(spec);
  PassReport report = fuse_activations(g);
  EXPECT_EQ(count_ops(g, "Gelu"), 0);
  EXPECT_TRUE(reported(report, "gelu_fusion", false, {"'e' has another reader or is a graph output"}))
      << describe_report(report);
}

TEST(GeluFusion, GeluAfterGroupNormBecomesItsActivationAtOpset13) {
  // GroupNorm(2, 4) as the TorchScript exporter writes it, then F.gelu as it writes it below opset 20.
  PatternGraph b(13);
  b.input("x", {Dim::unknown("batch"), Dim(4), Dim(5)});
  b.constant("s1", int64_tensor({0, 2, -1}));
  b.constant("ones", float_tensor({1, 1}, {2}));
  b.constant("zeros", float_tensor({0, 0}, {2}));
  b.constant("gamma", random_tensor({4, 1}, 0.5f, 1.5f));
  b.constant("beta", random_tensor({4, 1}));
  b.add("Reshape", {"x", "s1"}, "r1");
  b.add("InstanceNormalization", {"r1", "ones", "zeros"}, "n");
  b.add("Shape", {"x"}, "xs");
  b.add("Reshape", {"n", "xs"}, "r2");
  b.add("Mul", {"r2", "gamma"}, "m");
  b.add("Add", {"m", "beta"}, "g");
  b.scalar("sqrt2", 1.4142135f);
  b.scalar("one", 1.0f);
  b.scalar("half", 0.5f);
  b.add("Div", {"g", "sqrt2"}, "u");
  b.add("Erf", {"u"}, "e");
  b.add("Add", {"e", "one"}, "a");
  b.add("Mul", {"g", "a"}, "p");
  b.add("Mul", {"p", "half"}, "out");
  b.output("out");
  Graph original = b.graph, g = b.graph;
  PassReport report;
  fuse_normalizations(g, report, FusionTarget::kOnnx);
  ASSERT_EQ(g.nodes.size(), 1u) << describe_report(report);
  EXPECT_EQ(g.nodes[0].op_type, "GroupNorm");
  EXPECT_EQ(g.nodes[0].attr_string("activation", ""), "Gelu");
  expect_same_outputs(original, g, {{"x", random_tensor({3, 4, 5}, -3.0f, 3.0f)}}, 1e-5);
}

namespace {

struct HardSwishSpec {
  bool clip_form = false;
  float alpha = 1.0f / 6.0f;
  bool default_alpha = false;
  bool swapped = false;
  float add = 3.0f, low = 0.0f, high = 6.0f;
  Product product = Product::kXaThenHalf;
  bool clip_is_output = false;
};

Graph hard_swish_graph(const HardSwishSpec &s, int64_t opset = 13) {
  PatternGraph b(opset);
  b.input("x", {Dim::unknown("batch"), Dim(9)});
  if (!s.clip_form) {
    Node &h = b.add("HardSigmoid", {"x"}, "h");
    if (!s.default_alpha) set_float(h, "alpha", s.alpha);
    b.add("Mul", s.swapped ? std::vector<std::string>{"h", "x"} : std::vector<std::string>{"x", "h"}, "z");
  } else {
    b.scalar("three", s.add);
    b.scalar("low", s.low);
    b.scalar("high", s.high);
    b.add("Add", s.swapped ? std::vector<std::string>{"three", "x"} : std::vector<std::string>{"x", "three"}, "s");
    b.add("Clip", {"s", "low", "high"}, "c");
    add_product(b, s.product, "x", "c", 1.0f / 6.0f, "z");
  }
  b.add("Identity", {"z"}, "out");
  b.output("out");
  if (s.clip_is_output) b.output("c");
  return b.graph;
}

}  // namespace

TEST(HardSwishFusion, FusesHardSigmoidTimesXAndTheClipFormInEveryAssociation) {
  for (bool swapped : {false, true}) {
    HardSwishSpec spec;
    spec.swapped = swapped;
    Graph original = hard_swish_graph(spec), g = original;
    PassReport report = fuse_activations(g);
    ASSERT_EQ(g.nodes.size(), 2u) << describe_report(report);
    EXPECT_EQ(g.nodes[0].op_type, "HardSwish");
    expect_same_outputs(original, g, {{"x", random_tensor({3, 9}, -5.0f, 5.0f)}}, 1e-6);
  }
  for (Product p : kProducts) {
    SCOPED_TRACE("product " + std::to_string(static_cast<int>(p)));
    HardSwishSpec spec;
    spec.clip_form = true;
    spec.product = p;
    spec.swapped = p == Product::kXaDivTwo;
    Graph original = hard_swish_graph(spec), g = original;
    PassReport report = fuse_activations(g);
    ASSERT_EQ(g.nodes.size(), 2u) << describe_report(report);
    EXPECT_EQ(g.nodes[0].op_type, "HardSwish");
    EXPECT_TRUE(reported(report, "hard_swish_fusion", true, {"-> HardSwish"}));
    expect_same_outputs(original, g, {{"x", random_tensor({3, 9}, -5.0f, 5.0f)}}, 1e-6);
  }
}

TEST(HardSwishFusionNearMiss, WrongConstantsAndSecondConsumer) {
  HardSwishSpec default_alpha;  // HardSigmoid's default alpha 0.2 is not HardSwish's 1/6
  default_alpha.default_alpha = true;
  Graph a = hard_swish_graph(default_alpha);
  EXPECT_TRUE(reported(fuse_activations(a), "hard_swish_fusion", false, {"not 1/6 and 1/2"}));
  EXPECT_EQ(count_ops(a, "HardSwish"), 0);

  HardSwishSpec high;
  high.clip_form = true;
  high.high = 5.0f;
  Graph b = hard_swish_graph(high);
  EXPECT_TRUE(reported(fuse_activations(b), "hard_swish_fusion", false, {"bounds are not the constants 0 and 6"}));
  EXPECT_EQ(count_ops(b, "HardSwish"), 0);

  HardSwishSpec plus_two;  // Clip(x + 2, 0, 6): no candidate
  plus_two.clip_form = true;
  plus_two.add = 2.0f;
  Graph c = hard_swish_graph(plus_two);
  EXPECT_TRUE(fuse_activations(c).records.empty());
  EXPECT_EQ(count_ops(c, "HardSwish"), 0);

  HardSwishSpec shared;
  shared.clip_form = true;
  shared.clip_is_output = true;
  Graph d = hard_swish_graph(shared);
  EXPECT_TRUE(
      reported(fuse_activations(d), "hard_swish_fusion", false, {"'c' has another reader or is a graph output"}));
  EXPECT_EQ(count_ops(d, "HardSwish"), 0);
}

}  // namespace normrt::test
