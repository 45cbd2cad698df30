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

TEST(AttentionFusion, ChainsThatDifferStayAndSayWhy) {
  struct Case {
    AttentionForm form;
    std::string why;
  };
  std::vector<Case> cases(3);
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
