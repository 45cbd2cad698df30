// Pass "reshape_targets": a dynamic-batch reshape target computed from shapes becomes a constant ([0, 24]) only
// where every element is known or the reshaped input's own dim in place; the result computes the same at every
// batch, and targets it cannot prove stay as they are.
#include "passes/pattern_graph.h"
#include "passes/rewrite_util.h"

namespace normrt::test {
namespace {

// x [batch, 4, 6] reshaped to [b, 24], where b = Shape(source)[0].
Graph flatten_by_shape(const std::string& source, bool allowzero) {
  PatternGraph p(17);
  p.input("x", {Dim::unknown("batch"), 4, 6});
  p.input("z", {Dim::unknown("other"), 3});
  p.constant("i0", int64_tensor({0})).constant("axes0", int64_tensor({0}, {1}));
  p.constant("c24", int64_tensor({24}, {1}));
  p.add("Shape", {source}, "shape");
  p.add("Gather", {"shape", "i0"}, "b");
  p.add("Unsqueeze", {"b", "axes0"}, "b1");
  p.add("Concat", {"b1", "c24"}, "target").attributes["axis"] = int_attribute(0);
  Node& reshape = p.add("Reshape", {"x", "target"}, "flat");
  if (allowzero) reshape.attributes["allowzero"] = int_attribute(1);
  p.add("Relu", {"flat"}, "y");
  p.add("Relu", {"z"}, "z_out");
  p.output("y").output("z_out");
  return p.graph;
}

TEST(ReshapeTargets, TheBatchCopiedInPlaceBecomesAConstantTarget) {
  const Graph original = flatten_by_shape("x", false);
  Graph g = original;
  PassReport report;
  fold_reshape_targets(g, report);
  g.verify();
  const Node* reshape = find_op(g, "Reshape");
  ASSERT_NE(reshape, nullptr);
  ASSERT_TRUE(g.is_initializer(reshape->input(1)));
  const Tensor& target = g.initializers.at(reshape->input(1));
  EXPECT_EQ(std::vector<int64_t>(target.data<int64_t>(), target.data<int64_t>() + target.numel()),
            (std::vector<int64_t>{0, 24}));
  EXPECT_EQ(count_ops(g, "Shape"), 0) << "the shape arithmetic goes";
  EXPECT_EQ(count_ops(g, "Concat"), 0);
  ASSERT_EQ(report.records.size() >= 1, true);
  EXPECT_NE(report.records[0].description.find("1 Reshape targets"), std::string::npos);
  for (int64_t batch : {1, 3})
    expect_same_outputs(original, g, {{"x", random_tensor({batch, 4, 6})}, {"z", random_tensor({2, 3})}});
}

TEST(ReshapeTargets, TargetsItCannotProveStay) {
  // The batch of another input with another symbol, and allowzero (a 0 would mean an empty axis).
  for (bool allowzero : {false, true}) {
    const Graph g0 = flatten_by_shape(allowzero ? "x" : "z", allowzero);
    Graph g = g0;
    PassReport report;
    fold_reshape_targets(g, report);
    EXPECT_EQ(count_ops(g, "Shape"), 1) << (allowzero ? "allowzero" : "another input's batch");
    EXPECT_FALSE(g.is_initializer(find_op(g, "Reshape")->input(1)));
  }
}

TEST(ReshapeTargets, ATargetProvedByAnEarlierFoldFoldsInTheNextRound) {
  // flat = x.reshape(x.shape[0], 24); y = relu(x).reshape(flat.shape[0], 24). flat's batch is unknown until its
  // own target is a constant [0, 24] (the batch copied, symbol and all); only then is y's target provably
  // relu(x)'s own batch. Attention's head merge reads the batch of a flattened tensor the same way.
  PatternGraph p(17);
  p.input("x", {Dim::unknown("batch"), 4, 6});
  p.constant("i0", int64_tensor({0})).constant("axes0", int64_tensor({0}, {1}));
  p.constant("c24", int64_tensor({24}, {1}));
  auto batch_target = [&](const std::string& s) {
    p.add("Shape", {s}, s + "_shape");
    p.add("Gather", {s + "_shape", "i0"}, s + "_b");
    p.add("Unsqueeze", {s + "_b", "axes0"}, s + "_b1");
    p.add("Concat", {s + "_b1", "c24"}, s + "_target").attributes["axis"] = int_attribute(0);
  };
  batch_target("x");
  p.add("Reshape", {"x", "x_target"}, "flat");
  batch_target("flat");
  p.add("Relu", {"x"}, "r");
  p.add("Reshape", {"r", "flat_target"}, "r_flat");
  p.add("Add", {"flat", "r_flat"}, "y");
  p.output("y");
  const Graph original = p.graph;
  Graph g = original;
  PassReport report;
  fold_reshape_targets(g, report);
  g.verify();
  EXPECT_EQ(count_ops(g, "Shape"), 0) << "both targets are constants";
  for (const Node& n : g.nodes) {
    if (n.op_type == "Reshape") {
      EXPECT_TRUE(g.is_initializer(n.input(1))) << n.name;
    }
  }
  ASSERT_FALSE(report.records.empty());
  EXPECT_NE(report.records[0].description.find("2 Reshape targets"), std::string::npos);
  for (int64_t batch : {1, 3}) expect_same_outputs(original, g, {{"x", random_tensor({batch, 4, 6})}});
}

}  // namespace
}  // namespace normrt::test
