// scalar_folding: attention's scores * d^-0.5 (and a Div) folded into a projection weight, the engine computing
// what the graph written out does (every node on its reference kernel); Muls that must stay, with the reason.
#include <algorithm>

#include "engine/engine.h"
#include "ops/evaluate.h"
#include "passes/pass.h"
#include "test_util.h"

namespace normrt::test {
namespace {

Node node_of(const std::string& op, std::vector<std::string> inputs, const std::string& y) {
  Node n = make_node(op, inputs.size());
  n.name = op + "_" + y;
  n.inputs = std::move(inputs);
  n.outputs = {y};
  return n;
}

// x [2, 5, 8] -> q, k (two heads of 4) -> scores = q k^T -> op(scores, scale) -> Softmax -> y
Graph attention(const std::string& op, float scale) {
  Graph g;
  g.name = "attention";
  g.opsets[""] = 17;
  g.inputs.push_back(ValueInfo{"x", DataType::kFloat32, Shape::from_dims({2, 5, 8})});
  g.initializers["wq"] = random_tensor({8, 8});
  g.initializers["wk"] = random_tensor({8, 8});
  g.initializers["heads"] = int64_tensor({2, 5, 2, 4}, {4});
  g.initializers["scale"] = float_tensor({scale}, {});
  for (const char* p : {"q", "k"}) {
    const std::string s(p);
    g.nodes.push_back(node_of("MatMul", {"x", "w" + s}, s + "_lin"));
    g.nodes.push_back(node_of("Reshape", {s + "_lin", "heads"}, s + "_heads"));
    Node t = node_of("Transpose", {s + "_heads"}, s == "q" ? "q_t" : "k_t");
    set_ints(t, "perm", s == "q" ? std::vector<int64_t>{0, 2, 1, 3} : std::vector<int64_t>{0, 2, 3, 1});
    g.nodes.push_back(t);
  }
  g.nodes.push_back(node_of("MatMul", {"q_t", "k_t"}, "scores"));
  g.nodes.push_back(node_of(op, {"scores", "scale"}, "scaled"));
  Node softmax = node_of("Softmax", {"scaled"}, "y");
  set_int(softmax, "axis", -1);
  g.nodes.push_back(softmax);
  g.outputs.push_back(ValueInfo{"y", DataType::kFloat32, Shape()});
  return g;
}

// The graph as written: every node on its reference kernel, in order.
Tensor run_written_out(const Graph& g, const Tensor& x) {
  std::map<std::string, Tensor> values = g.initializers;
  values["x"] = x;
  for (const Node& n : g.nodes) {
    std::vector<const Tensor*> inputs;
    for (const auto& in : n.inputs) inputs.push_back(&values.at(in));
    values[n.outputs[0]] = run_node(n, 17, inputs)[0];
  }
  return values.at(g.outputs[0].name);
}

int count(const Graph& g, const std::string& op) {
  return static_cast<int>(std::count_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return n.op_type == op; }));
}

std::string records(const Engine& e, bool applied) {
  std::string all;
  for (const PassRecord& r : e.build_report.records)
    if (r.pass == "scalar_folding" && r.applied == applied) all += r.description + "\n";
  return all;
}

TEST(ScalarFolding, AttentionScaleGoesIntoAProjectionWeight) {
  for (const auto& [op, scale] : std::vector<std::pair<std::string, float>>{{"Mul", 0.5f}, {"Div", 4.0f}}) {
    SCOPED_TRACE(op);
    const Graph g = attention(op, scale);
    auto engine = build_engine(g, BuildOptions{});
    EXPECT_EQ(count(engine->graph, op), 0) << "the scale is folded away";
    EXPECT_NE(records(*engine, true).find("folded into weight 'wk'"), std::string::npos) << records(*engine, true);
    const Tensor x = random_tensor({2, 5, 8}, -2, 2);
    ExecutionContext context(engine);
    const Tensor got = context.run({{"x", x}})[0].second;
    EXPECT_LE(relative_error(got, run_written_out(g, x)), 1e-5);
  }
}

// PyTorch's export reads the projections' shapes for the head split (b, n, _ = q.shape): a Shape reader does
// not stop the fold, since the scale changes no shape.
TEST(ScalarFolding, ShapeReadersOnTheChainDoNotStopIt) {
  Graph g = attention("Mul", 0.5f);
  for (const char* p : {"q", "k"}) {
    const std::string s(p);
    g.nodes.push_back(node_of("Shape", {s + "_lin"}, s + "_shape"));
    g.outputs.push_back(ValueInfo{s + "_shape", DataType::kInt64, Shape()});
  }
  auto engine = build_engine(g, BuildOptions{});
  EXPECT_EQ(count(engine->graph, "Mul"), 0) << records(*engine, false);
  const Tensor x = random_tensor({2, 5, 8}, -2, 2);
  ExecutionContext context(engine);
  const auto got = context.run({{"x", x}});
  EXPECT_LE(relative_error(got[0].second, run_written_out(g, x)), 1e-5);
  EXPECT_EQ(got[1].second.dims(), Dims{3});
}

TEST(ScalarFolding, MulsThatMustStaySayWhy) {
  {  // both projection weights also read elsewhere
    Graph g = attention("Mul", 0.5f);
    g.nodes.push_back(node_of("MatMul", {"x", "wk"}, "extra_k"));
    g.nodes.push_back(node_of("MatMul", {"x", "wq"}, "extra_q"));
    g.outputs.push_back(ValueInfo{"extra_k", DataType::kFloat32, Shape()});
    g.outputs.push_back(ValueInfo{"extra_q", DataType::kFloat32, Shape()});
    auto engine = build_engine(g, BuildOptions{});
    EXPECT_EQ(count(engine->graph, "Mul"), 1);
    EXPECT_NE(records(*engine, false).find("no chain of MatMul / view ops"), std::string::npos) << records(*engine, false);
    const Tensor x = random_tensor({2, 5, 8});
    ExecutionContext context(engine);
    EXPECT_LE(relative_error(context.run({{"x", x}})[0].second, run_written_out(g, x)), 1e-5);
  }
  {  // the scaled scores are wanted themselves
    Graph g = attention("Mul", 0.5f);
    g.outputs.push_back(ValueInfo{"scaled", DataType::kFloat32, Shape()});
    auto engine = build_engine(g, BuildOptions{});
    EXPECT_EQ(count(engine->graph, "Mul"), 1);
    EXPECT_NE(records(*engine, false).find("its result is a graph output"), std::string::npos);
  }
  {  // a non-linear op on the way
    Graph g = attention("Mul", 0.5f);
    for (Node& n : g.nodes)
      if (n.op_type == "MatMul" && n.outputs[0] == "scores") n.outputs[0] = "raw";
    g.nodes.insert(g.nodes.end() - 2, node_of("Relu", {"raw"}, "scores"));
    auto engine = build_engine(g, BuildOptions{});
    EXPECT_EQ(count(engine->graph, "Mul"), 1);
  }
}

}  // namespace
}  // namespace normrt::test
