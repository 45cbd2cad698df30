// conv_residual_fusion: the residual Add after a channels-last convolution (a ResNet/UNet block's skip(x) + h, an
// attention block's x + proj_out(h)) joins the ai.normrt NhwcConv as its fourth input and computes what the two
// nodes did, at batch 1 and 3; Adds that broadcast, add a constant, or read a convolution output that is also
// used elsewhere stay, each with its reason; NhwcConv's shape function names a residual of the wrong shape.
#include "passes/pattern_graph.h"
#include "passes/rewrite_util.h"

namespace normrt::test {
namespace {

const NodeAccept kAcceptAll = [](const Node&, const std::vector<TypeShape>&) { return true; };

Node& nhwc_conv(PatternGraph& p, std::vector<std::string> inputs, const std::string& out, int64_t pad) {
  Node& n = p.add("NhwcConv", std::move(inputs), out);
  n.domain = kNormrtDomain;
  n.attributes["pads"] = ints_attribute({pad, pad, pad, pad});
  return n;
}

PatternGraph nhwc_graph() {
  PatternGraph p(17);
  p.graph.opsets[kNormrtDomain] = 1;
  p.input("x", {Dim::unknown("batch"), 6, 5, 8});
  p.constant("w3", random_tensor({8, 3, 3, 8})).constant("b3", random_tensor({8}));
  p.constant("w1", random_tensor({8, 1, 1, 8}));
  return p;
}

std::string records(const PassReport& report, bool applied) { return records_of(report, "conv_residual_fusion", applied); }

int residual_convs(const Graph& g) {
  int n = 0;
  for (const Node& node : g.nodes) n += node.op_type == "NhwcConv" && node.inputs.size() == 4;
  return n;
}

void expect_same_at_batches(const Graph& original, const Graph& fused) {
  for (int64_t batch : {1, 3}) expect_same_outputs(original, fused, {{"x", random_tensor({batch, 6, 5, 8})}}, 1e-6);
}

TEST(ConvResidualFusion, ASkipConvPlusConvBecomesOneNode) {
  // h = conv3x3(x) + b; s = conv1x1(x) (no bias); y = s + h: the later convolution (s) takes h as its residual.
  PatternGraph p = nhwc_graph();
  nhwc_conv(p, {"x", "w3", "b3"}, "h", 1);
  nhwc_conv(p, {"x", "w1"}, "s", 0);
  p.add("Add", {"s", "h"}, "y");
  p.output("y");
  Graph fused = p.graph;
  PassReport report;
  fuse_conv_residual(fused, report, kAcceptAll);
  fused.verify();
  EXPECT_EQ(count_ops(fused, "Add"), 0) << records(report, false);
  ASSERT_EQ(residual_convs(fused), 1);
  const Node& joined = *std::find_if(fused.nodes.begin(), fused.nodes.end(),
                                     [](const Node& n) { return n.inputs.size() == 4; });
  EXPECT_EQ(joined.input(1), "w1");
  EXPECT_EQ(joined.input(2), "") << "the absent bias stays absent";
  EXPECT_EQ(joined.input(3), "h");
  EXPECT_EQ(joined.outputs[0], "y");
  EXPECT_NE(records(report, true).find("joins"), std::string::npos);
  expect_same_at_batches(p.graph, fused);
}

TEST(ConvResidualFusion, AnInputResidualJoinsAConvWithBias) {
  // An attention block's x + proj_out(h), either operand order.
  for (bool conv_first : {true, false}) {
    PatternGraph p = nhwc_graph();
    p.add("Relu", {"x"}, "h");
    nhwc_conv(p, {"h", "w3", "b3"}, "c", 1);
    p.add("Add", conv_first ? std::vector<std::string>{"c", "x"} : std::vector<std::string>{"x", "c"}, "y");
    p.output("y");
    Graph fused = p.graph;
    PassReport report;
    fuse_conv_residual(fused, report, kAcceptAll);
    fused.verify();
    EXPECT_EQ(count_ops(fused, "Add"), 0) << records(report, false);
    EXPECT_EQ(residual_convs(fused), 1);
    expect_same_at_batches(p.graph, fused);
  }
}

TEST(ConvResidualFusion, AddsThatAreNoResidualStayAndSayWhy) {
  struct Case {
    const char* what;
    std::vector<Dim> r_dims;  // empty: the constant "k" is added
    bool conv_is_output, conv_read_twice;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"broadcast", {1, 6, 5, 8}, false, false, "not provably of the convolution output's type and shape"},
      {"other batch symbol", {Dim::unknown("other"), 6, 5, 8}, false, false, "not provably"},
      {"constant", {}, false, false, "constant"},
      {"graph output", {Dim::unknown("batch"), 6, 5, 8}, true, false, "another reader or is a graph output"},
      {"two readers", {Dim::unknown("batch"), 6, 5, 8}, false, true, "another reader or is a graph output"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    PatternGraph p = nhwc_graph();
    if (!c.r_dims.empty()) p.input("r", c.r_dims);
    else p.constant("r", random_tensor({1, 6, 5, 8}));
    nhwc_conv(p, {"x", "w3", "b3"}, "c", 1);
    p.add("Add", {"c", "r"}, "y");
    p.output("y");
    if (c.conv_is_output) p.output("c");
    if (c.conv_read_twice) {
      p.add("Relu", {"c"}, "c2");
      p.output("c2");
    }
    Graph fused = p.graph;
    PassReport report;
    fuse_conv_residual(fused, report, kAcceptAll);
    EXPECT_EQ(count_ops(fused, "Add"), 1);
    EXPECT_EQ(residual_convs(fused), 0);
    EXPECT_NE(records(report, false).find(c.reason), std::string::npos) << records(report, false);
  }
}

TEST(ConvResidualFusion, ADeviceWithoutTheKernelKeepsTheAdd) {
  PatternGraph p = nhwc_graph();
  nhwc_conv(p, {"x", "w3", "b3"}, "c", 1);
  p.add("Add", {"c", "x"}, "y");
  p.output("y");
  Graph fused = p.graph;
  PassReport report;
  fuse_conv_residual(fused, report, [](const Node&, const std::vector<TypeShape>&) { return false; });
  EXPECT_EQ(count_ops(fused, "Add"), 1);
  EXPECT_NE(records(report, false).find("the device has no kernel"), std::string::npos);
}

TEST(ConvResidualFusion, AResidualOfTheWrongShapeIsNamed) {
  PatternGraph p = nhwc_graph();
  p.input("r", {Dim::unknown("batch"), 6, 5, 4});
  nhwc_conv(p, {"x", "w3", "b3", "r"}, "y", 1);
  p.output("y");
  try {
    infer_graph(p.graph, {{"x", Shape::from_dims({2, 6, 5, 8})}, {"r", Shape::from_dims({2, 6, 5, 4})}});
    FAIL() << "a residual of 4 channels for 8 output channels was accepted";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("residual R"), std::string::npos) << m;
    EXPECT_NE(m.find("must have Y's shape"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace normrt::test
