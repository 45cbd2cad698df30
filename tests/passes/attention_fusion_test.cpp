// attention_fusion: the head split, q k^T, the scalar scale, Softmax, p v and the head merge that exporters write
// become one ai.normrt Attention computing what the graph written out does; chains that differ, values something
// else reads and nodes the device refuses stay, each recorded; CPU engines keep the chain.
#include "engine/engine.h"
#include "passes/pass.h"
#include "passes/pattern_graph.h"
#include "passes/rewrite_util.h"
#include "test_util.h"

namespace normrt::test {
namespace {

constexpr const char* kPass = "attention_fusion";

const NodeAccept kAcceptAll = [](const Node&, const std::vector<TypeShape>&) { return true; };

TEST(AttentionFusion, TheWrittenOutChainBecomesOneNode) {
  for (const std::string scaling : {"Mul", "MulLeft", "Div", ""}) {
    AttentionForm form;
    form.scaling = scaling;
    const Graph original = written_out_attention(form);
    Graph g = original;
    PassReport report;
    fuse_attention(g, report, kAcceptAll);
    g.verify();
    ASSERT_EQ(count_ops(g, "Attention", kNormrtDomain), 1) << scaling << "\n" << describe_report(report);
    EXPECT_EQ(count_ops(g, "Softmax") + count_ops(g, "Transpose"), 0) << scaling;
    EXPECT_EQ(count_ops(g, "MatMul"), 3) << scaling;  // the projections
    const float want_scale = scaling == "Div" ? 2.0f : scaling.empty() ? 1.0f : 0.5f;
    EXPECT_FLOAT_EQ(find_op(g, "Attention")->attr_float("scale", -1), want_scale) << scaling;
    EXPECT_TRUE(reported(report, kPass, true, {"Attention", "Softmax"})) << describe_report(report);
    for (int64_t batch : {1, 3}) expect_same_outputs(original, g, {{"x", random_tensor({batch, 6, 8}, -2, 2)}}, 1e-6);
  }
}

// One projection packed as [N, L, 3, heads, d] and sliced by Gather after a 5-D permute (timm's ViT, the fixture
// unet_block): the fused node reads the three slices through Gathers on axis 2.
Graph packed_attention() {
  PatternGraph p(17);
  p.input("x", {Dim::unknown("batch"), 6, 8});
  p.constant("wqkv", random_tensor({8, 24})).constant("split", int64_tensor({0, 6, 3, 2, 4}, {5}));
  p.constant("merge", int64_tensor({0, 6, 8}, {3})).scalar("c", 0.5f);
  p.add("MatMul", {"x", "wqkv"}, "qkv_lin");
  p.add("Reshape", {"qkv_lin", "split"}, "qkv5");
  p.add("Transpose", {"qkv5"}, "qkv_t").attributes["perm"] = ints_attribute({2, 0, 3, 1, 4});
  for (int64_t i = 0; i < 3; ++i) {
    const std::string name = std::string(1, "qkv"[i]);
    p.constant(name + "_index", int64_tensor({i}, {}));
    p.add("Gather", {"qkv_t", name + "_index"}, name).attributes["axis"] = int_attribute(0);
  }
  p.add("Transpose", {"k"}, "k_t").attributes["perm"] = ints_attribute({0, 1, 3, 2});
  p.add("MatMul", {"q", "k_t"}, "scores");
  p.add("Mul", {"scores", "c"}, "scaled");
  p.add("Softmax", {"scaled"}, "probs").attributes["axis"] = int_attribute(-1);
  p.add("MatMul", {"probs", "v"}, "o");
  p.add("Transpose", {"o"}, "o_t").attributes["perm"] = ints_attribute({0, 2, 1, 3});
  p.add("Reshape", {"o_t", "merge"}, "y");
  p.output("y");
  return p.graph;
}

TEST(AttentionFusion, PackedProjectionSlicesBecomeGathersOnTheirAxis) {
  const Graph original = packed_attention();
  Graph g = original;
  PassReport report;
  fuse_attention(g, report, kAcceptAll);
  g.verify();
  ASSERT_EQ(count_ops(g, "Attention", kNormrtDomain), 1) << describe_report(report);
  EXPECT_EQ(count_ops(g, "Transpose") + count_ops(g, "Softmax"), 0) << describe_report(report);
  EXPECT_EQ(count_ops(g, "Gather"), 3);
  for (const Node& n : g.nodes) {
    if (n.op_type == "Gather") {
      EXPECT_EQ(n.attr_int("axis", 0), 2) << n.describe();
    }
  }
  EXPECT_TRUE(reported(report, kPass, true, {"sliced from a packed projection"})) << describe_report(report);
  for (int64_t batch : {1, 3}) expect_same_outputs(original, g, {{"x", random_tensor({batch, 6, 8}, -2, 2)}}, 1e-6);
  {  // the device takes the Attention but not the Gathers: nothing changes
    Graph refused = packed_attention();
    PassReport r;
    fuse_attention(refused, r, [](const Node& n, const std::vector<TypeShape>&) { return n.op_type != "Gather"; });
    EXPECT_EQ(count_ops(refused, "Attention", kNormrtDomain), 0);
    EXPECT_EQ(count_ops(refused, "Gather"), 3);
    EXPECT_EQ(count_ops(refused, "Transpose"), 3);
  }
}

TEST(AttentionFusion, ChainsThatDifferStayAndSayWhy) {
  struct Case {
    AttentionForm form;
    std::string why;
  };
  std::vector<Case> cases(4);
  cases[3].form.scaling = "Input";
  cases[3].why = "the scores are scaled by something other than a scalar known before run time";
  cases[0].form.softmax_axis = 2;
  cases[1].form.probs_also_output = true;
  cases[1].why = "its probabilities have another reader";
  cases[2].form.merge_perm = {0, 1, 3, 2};
  cases[2].why = "p v is not merged back by a Transpose (0, 2, 1, 3)";
  for (const Case& c : cases) {
    Graph g = written_out_attention(c.form);
    PassReport report;
    fuse_attention(g, report, kAcceptAll);
    EXPECT_EQ(count_ops(g, "Attention", kNormrtDomain), 0) << c.why;
    EXPECT_EQ(count_ops(g, "Softmax"), 1) << c.why;
    if (!c.why.empty()) {
      EXPECT_TRUE(reported(report, kPass, false, {"stays unfused", c.why})) << describe_report(report);
    }
  }
  {  // the device refuses: the chain stays and the record says so
    Graph g = written_out_attention(AttentionForm{});
    PassReport report;
    fuse_attention(g, report, [](const Node&, const std::vector<TypeShape>&) { return false; });
    EXPECT_EQ(count_ops(g, "Softmax"), 1);
    EXPECT_TRUE(reported(report, kPass, false, {"the device has no attention kernel"})) << describe_report(report);
  }
  {  // opset 11's Softmax defaults to axis 1 (a 2-D coercion at axis 1): not the keys
    AttentionForm form;
    form.opset = 11;
    Graph g = written_out_attention(form);
    g.nodes[g.nodes.size() - 4].attributes.erase("axis");
    ASSERT_EQ(g.nodes[g.nodes.size() - 4].op_type, "Softmax");
    PassReport report;
    fuse_attention(g, report, kAcceptAll);
    EXPECT_EQ(count_ops(g, "Attention", kNormrtDomain), 0);
  }
  {  // CPU engines do not run the pass
    BuildOptions options;
    options.profiles.push_back(Profile{{{"x", ShapeRange{{1, 6, 8}, {2, 6, 8}, {2, 6, 8}}}}});
    EXPECT_EQ(count_ops(build_engine(written_out_attention(AttentionForm{}), options)->graph, "Attention"), 0);
  }
}

}  // namespace
}  // namespace normrt::test
