// conv_channel_padding: a float16 channels-last convolution to 4 or 13 output channels gets zero filters up to
// 8 or 16 and a Slice back, and computes exactly what it did (batch 1 and 3, with and without bias); float32
// convolutions, multiples of 8, grouped convolutions, residual ones and non-constant weights stay; a device
// without the kernels keeps the convolution, with the reason recorded.
#include "passes/pattern_graph.h"
#include "passes/rewrite_util.h"

namespace normrt::test {
namespace {

const NodeAccept kAcceptAll = [](const Node&, const std::vector<TypeShape>&) { return true; };

Tensor as_float16(const Tensor& t) {
  Tensor h(DataType::kFloat16, t.dims());
  for (int64_t i = 0; i < t.numel(); ++i) set_element_from_double(h, i, element_as_double(t, i));
  return h;
}

// x [batch, 6, 5, 16] -> NhwcConv 3x3 (pads 1) -> y [batch, 6, 5, M]
PatternGraph conv_graph(int64_t m, DataType dtype, bool bias, int64_t group = 1) {
  PatternGraph p(17);
  p.graph.opsets[kNormrtDomain] = 1;
  p.input("x", {Dim::unknown("batch"), 6, 5, 16}, dtype);
  auto typed = [&](const Tensor& t) { return dtype == DataType::kFloat16 ? as_float16(t) : t; };
  p.constant("w", typed(random_tensor({m, 3, 3, 16 / group})));
  if (bias) p.constant("b", typed(random_tensor({m})));
  Node& n = p.add("NhwcConv", bias ? std::vector<std::string>{"x", "w", "b"} : std::vector<std::string>{"x", "w"}, "y");
  n.domain = kNormrtDomain;
  n.attributes["pads"] = ints_attribute({1, 1, 1, 1});
  if (group != 1) n.attributes["group"] = int_attribute(group);
  p.output("y");
  return p;
}

TEST(ConvChannelPadding, OddChannelCountsArePaddedAndSlicedBack) {
  for (int64_t m : {4, 13})
    for (bool bias : {true, false}) {
      SCOPED_TRACE("M " + std::to_string(m) + (bias ? " with bias" : ""));
      const PatternGraph p = conv_graph(m, DataType::kFloat16, bias);
      Graph padded = p.graph;
      PassReport report;
      pad_conv_channels(padded, report, kAcceptAll);
      padded.verify();
      ASSERT_EQ(count_ops(padded, "Slice"), 1) << describe_report(report);
      const Node* conv = find_op(padded, "NhwcConv");
      ASSERT_NE(conv, nullptr);
      const int64_t expect = m <= 8 ? 8 : 16;
      EXPECT_EQ(padded.initializers.at(conv->input(1)).dims()[0], expect);
      if (bias) {
        EXPECT_EQ(padded.initializers.at(conv->input(2)).dims()[0], expect);
      }
      EXPECT_FALSE(padded.initializers.count("w")) << "the unpadded weight is dropped";
      EXPECT_TRUE(reported(report, "conv_channel_padding", true, {"padded to " + std::to_string(expect)}));
      for (int64_t batch : {1, 3}) {
        const Tensor x = as_float16(random_tensor({batch, 6, 5, 16}));
        const auto want = run_reference(p.graph, {{"x", x}}), got = run_reference(padded, {{"x", x}});
        EXPECT_EQ(got.at("y").dims(), want.at("y").dims());
        EXPECT_EQ(relative_error(got.at("y"), want.at("y")), 0.0) << "zero filters change nothing";
      }
    }
}

TEST(ConvChannelPadding, ConvolutionsThatNeedNoPaddingStay) {
  struct Case {
    const char* what;
    PatternGraph p;
  };
  std::vector<Case> cases;
  cases.push_back({"float32", conv_graph(4, DataType::kFloat32, true)});
  cases.push_back({"a multiple of 8", conv_graph(16, DataType::kFloat16, true)});
  cases.push_back({"grouped", conv_graph(4, DataType::kFloat16, true, 2)});
  PatternGraph residual = conv_graph(4, DataType::kFloat16, true);
  residual.input("r", {Dim::unknown("batch"), 6, 5, 4}, DataType::kFloat16);
  residual.graph.nodes.back().inputs.push_back("r");
  cases.push_back({"with a residual", residual});
  PatternGraph dynamic = conv_graph(4, DataType::kFloat16, false);
  dynamic.graph.initializers.erase("w");
  dynamic.input("w", {4, 3, 3, 16}, DataType::kFloat16);
  cases.push_back({"non-constant weight", dynamic});
  for (Case& c : cases) {
    SCOPED_TRACE(c.what);
    Graph g = c.p.graph;
    PassReport report;
    pad_conv_channels(g, report, kAcceptAll);
    EXPECT_EQ(count_ops(g, "Slice"), 0);
    EXPECT_EQ(g.nodes.size(), c.p.graph.nodes.size());
  }
}

TEST(ConvChannelPadding, ADeviceWithoutTheKernelsKeepsTheConvolution) {
  const PatternGraph p = conv_graph(4, DataType::kFloat16, true);
  Graph g = p.graph;
  PassReport report;
  pad_conv_channels(g, report, [](const Node& n, const std::vector<TypeShape>&) { return n.op_type != "Slice"; });
  EXPECT_EQ(count_ops(g, "Slice"), 0);
  EXPECT_EQ(g.initializers.size(), p.graph.initializers.size()) << "no padded weights left behind";
  EXPECT_TRUE(reported(report, "conv_channel_padding", false, {"keeps 4 output channels"}));
}

}  // namespace
}  // namespace normrt::test
