// matmul_bias_fusion: a Linear layer over [batch, tokens, features] (MatMul by a constant matrix, then a bias Add,
// either operand order, bias [N] or [1, 1, N]) becomes ai.normrt MatMulBias computing what the two nodes did;
// candidates that must stay apart say why; CPU engines keep MatMul + Add (oneDNN runs the MatMul there).
#include <algorithm>

#include "engine/engine.h"
#include "passes/pass.h"
#include "passes/pattern_graph.h"
#include "test_util.h"

namespace normrt::test {
namespace {

Graph linear(bool bias_first, const Dims& bias_dims) {
  PatternGraph p(17);
  p.graph.name = "linear";
  p.input("x", {Dim::unknown("batch"), 5, 8});
  p.constant("w", random_tensor({8, 6})).constant("b", random_tensor(bias_dims));
  p.add("MatMul", {"x", "w"}, "h");
  p.add("Add", bias_first ? std::vector<std::string>{"b", "h"} : std::vector<std::string>{"h", "b"}, "y");
  p.output("y");
  return p.graph;
}

int count(const Graph& g, const std::string& op) {
  return static_cast<int>(std::count_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return n.op_type == op; }));
}

std::string records(const PassReport& report, bool applied) { return records_of(report, "matmul_bias_fusion", applied); }

Tensor run_graph(const Graph& g, const Tensor& x) {
  BuildOptions options;
  options.profiles.push_back(Profile{{{"x", ShapeRange{x.dims(), x.dims(), x.dims()}}}});
  ExecutionContext context(build_engine(g, options));
  return context.run({{"x", x}})[0].second;
}

const NodeAccept kAcceptAll = [](const Node&, const std::vector<TypeShape>&) { return true; };

TEST(MatMulBiasFusion, ALinearLayerBecomesOneNode) {
  for (bool bias_first : {false, true})
    for (const Dims& bias_dims : {Dims{6}, Dims{1, 1, 6}}) {
      SCOPED_TRACE(std::string(bias_first ? "Add(b, h)" : "Add(h, b)") + " bias " + dims_to_string(bias_dims));
      const Graph g = linear(bias_first, bias_dims);
      Graph fused = g;
      PassReport report;
      fuse_matmul_bias(fused, report, kAcceptAll);
      fused.verify();
      EXPECT_EQ(count(fused, "MatMulBias"), 1) << records(report, false);
      EXPECT_EQ(count(fused, "MatMul") + count(fused, "Add"), 0);
      EXPECT_NE(records(report, true).find("-> ai.normrt::MatMulBias"), std::string::npos);
      const Tensor x = random_tensor({3, 5, 8});
      EXPECT_LE(relative_error(run_graph(fused, x), run_graph(g, x)), 1e-6);
    }
}

// A transformer block's x + Linear(x): the residual joins as the GEMM's C; an Add that broadcasts does not.
TEST(MatMulBiasFusion, TheResidualAddJoinsToo) {
  for (bool broadcast : {false, true}) {
    SCOPED_TRACE(broadcast ? "a broadcast add" : "a residual");
    PatternGraph p(17);
    p.graph.name = "residual";
    p.input("x", {Dim::unknown("batch"), 5, 8});
    p.input("r", broadcast ? std::vector<Dim>{1, 5, 6} : std::vector<Dim>{Dim::unknown("batch"), 5, 6});
    p.constant("w", random_tensor({8, 6})).constant("b", random_tensor({6}));
    p.add("MatMul", {"x", "w"}, "h");
    p.add("Add", {"h", "b"}, "z");
    p.add("Add", {"r", "z"}, "y");
    p.output("y");
    Graph fused = p.graph;
    PassReport report;
    fuse_matmul_bias(fused, report, kAcceptAll);
    fused.verify();
    ASSERT_EQ(count(fused, "MatMulBias"), 1);
    EXPECT_EQ(count(fused, "Add"), broadcast ? 1 : 0);
    for (const Node& n : fused.nodes) {
      if (n.op_type == "MatMulBias") {
        EXPECT_EQ(n.inputs.size(), broadcast ? 3u : 4u);
      }
    }
    const Tensor x = random_tensor({3, 5, 8}), r = random_tensor({broadcast ? 1 : 3, 5, 6});
    auto run = [&](const Graph& g) {
      BuildOptions options;
      options.profiles.push_back(
          Profile{{{"x", ShapeRange{x.dims(), x.dims(), x.dims()}}, {"r", ShapeRange{r.dims(), r.dims(), r.dims()}}}});
      ExecutionContext context(build_engine(g, options));
      return context.run({{"x", x}, {"r", r}})[0].second;
    };
    EXPECT_LE(relative_error(run(fused), run(p.graph)), 1e-6);
  }
}

TEST(MatMulBiasFusion, CandidatesThatStayApartSayWhy) {
  struct Case {
    const char* name;
    std::function<void(Graph&)> edit;
    const char* why;
  };
  const Case cases[] = {
      {"the MatMul's output is also a graph output",
       [](Graph& g) { g.outputs.push_back(ValueInfo{"h", DataType::kUndefined, Shape()}); },
       "has another reader or is a graph output"},
      {"a bias over another axis", [](Graph& g) { g.initializers["b"] = random_tensor({5, 1}); },
       "not a bias over the last axis"},
      {"a bias of another type", [](Graph& g) { g.initializers["b"] = int64_tensor({1, 2, 3, 4, 5, 6}, {6}); },
       "not of one float type"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Graph g = linear(false, {6});
    c.edit(g);
    PassReport report;
    fuse_matmul_bias(g, report, kAcceptAll);
    EXPECT_EQ(count(g, "MatMulBias"), 0);
    EXPECT_NE(records(report, false).find(c.why), std::string::npos) << records(report, false);
  }
  {  // the device says no
    Graph g = linear(false, {6});
    PassReport report;
    fuse_matmul_bias(g, report, [](const Node&, const std::vector<TypeShape>&) { return false; });
    EXPECT_EQ(count(g, "MatMulBias"), 0);
    EXPECT_NE(records(report, false).find("the device has no kernel for it"), std::string::npos);
  }
  {  // the added value comes from the graph: not a bias
    Graph g = linear(false, {6});
    g.initializers.erase("b");
    g.inputs.push_back(ValueInfo{"b", DataType::kFloat32, Shape::from_dims({6})});
    PassReport report;
    fuse_matmul_bias(g, report, kAcceptAll);
    EXPECT_NE(records(report, false).find("the added value is not a constant"), std::string::npos);
  }
}

TEST(MatMulBiasFusion, CpuEnginesKeepMatMulAndAdd) {
  const Graph g = linear(false, {6});
  BuildOptions options;
  options.profiles.push_back(Profile{{{"x", ShapeRange{{1, 5, 8}, {2, 5, 8}, {4, 5, 8}}}}});
  auto engine = build_engine(g, options);
  EXPECT_EQ(count(engine->graph, "MatMulBias"), 0);
  EXPECT_EQ(count(engine->graph, "MatMul"), 1);
}

}  // namespace
}  // namespace normrt::test
