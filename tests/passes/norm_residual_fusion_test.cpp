// Residual adds into the fused normalizations: the op's residual_before_activation (act(n + r)) against the
// same computation written out; the pass on ResNet's bottleneck tail (GroupNorm -> Add(identity) -> Relu becomes
// one node computing the same), on x + act(norm(h)), and near misses that must stay apart, each with its reason.
#include <algorithm>

#include "engine/engine.h"
#include "passes/pass.h"
#include "passes/rewrite_util.h"
#include "test_util.h"

namespace normrt::test {
namespace {

Node group_norm(const std::string& x, const std::string& y, const std::string& activation = "") {
  Node n = make_node("GroupNorm", 3);
  n.domain = kNormrtDomain;
  n.name = "gn_" + y;
  n.inputs = {x, "gamma", "beta"};
  n.outputs = {y};
  set_int(n, "num_groups", 2);
  if (!activation.empty()) set_string(n, "activation", activation);
  return n;
}

Node simple(const std::string& op, std::vector<std::string> inputs, const std::string& y) {
  Node n = make_node(op, inputs.size());
  n.name = op + "_" + y;
  n.inputs = std::move(inputs);
  n.outputs = {y};
  return n;
}

Graph base_graph(const Dims& x_dims, const Dims& r_dims) {
  Graph g;
  g.name = "residual";
  g.opsets[""] = 17;
  g.opsets[kNormrtDomain] = 1;
  g.inputs.push_back(ValueInfo{"x", DataType::kFloat32, Shape::from_dims(x_dims)});
  g.inputs.push_back(ValueInfo{"r", DataType::kFloat32, Shape::from_dims(r_dims)});
  g.initializers["gamma"] = random_tensor({x_dims[1]});
  g.initializers["beta"] = random_tensor({x_dims[1]});
  return g;
}

std::shared_ptr<Engine> build(const Graph& g) { return build_engine(g, BuildOptions{}); }

int count(const Graph& g, const std::string& op) {
  return static_cast<int>(std::count_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return n.op_type == op; }));
}

Tensor run_engine(const std::shared_ptr<Engine>& engine, const Tensor& x, const Tensor& r) {
  ExecutionContext context(engine);
  return context.run({{"x", x}, {"r", r}})[0].second;
}

TEST(NormResidual, ResidualBeforeActivationIsActOfTheSum) {
  const Dims dims{3, 4, 5, 3};
  const Tensor x = random_tensor(dims), r = random_tensor(dims, -2, 2), gamma = random_tensor({4}), beta = random_tensor({4});
  Node gn = group_norm("x", "y", "Relu");
  gn.inputs = {"x", "gamma", "beta", "r"};
  set_int(gn, "residual_before_activation", 1);
  const Tensor fused = run(gn, {&x, &gamma, &beta, &r})[0];
  Node plain = group_norm("x", "y");
  const Tensor normalized = run(plain, {&x, &gamma, &beta})[0];
  Tensor expected(DataType::kFloat32, dims);
  for (int64_t i = 0; i < expected.numel(); ++i)
    expected.data<float>()[i] = std::max(0.0f, normalized.data<float>()[i] + r.data<float>()[i]);
  EXPECT_LE(relative_error(fused, expected), 1e-6);
  set_int(gn, "residual_before_activation", 2);
  expect_error([&] { run(gn, {&x, &gamma, &beta, &r}); }, {"residual_before_activation' is 2", "expected 0"});
}

TEST(NormResidual, ResNetTailBecomesOneNodeComputingTheSame) {
  const Dims dims{2, 4, 6, 5};
  Graph g = base_graph(dims, dims);
  g.nodes.push_back(group_norm("x", "n"));
  g.nodes.push_back(simple("Add", {"r", "n"}, "s"));  // the residual on either side
  g.nodes.push_back(simple("Relu", {"s"}, "y"));
  g.outputs.push_back(ValueInfo{"y", DataType::kFloat32, Shape()});
  auto engine = build(g);
  ASSERT_EQ(engine->graph.nodes.size(), 1u) << "GroupNorm, Add and Relu are one node";
  const Node& fused = engine->graph.nodes[0];
  EXPECT_EQ(fused.input(3), "r");
  EXPECT_EQ(fused.attr_int("residual_before_activation", 0), 1);
  EXPECT_EQ(fused.attr_string("activation", ""), "Relu");
  const Tensor x = random_tensor(dims), r = random_tensor(dims, -2, 2);
  Tensor expected = run(group_norm("x", "n"), {&x, &g.initializers["gamma"], &g.initializers["beta"]})[0];
  for (int64_t i = 0; i < expected.numel(); ++i)
    expected.data<float>()[i] = std::max(0.0f, expected.data<float>()[i] + r.data<float>()[i]);
  EXPECT_LE(relative_error(run_engine(engine, x, r), expected), 1e-5);
}

TEST(NormResidual, ResidualAfterAnActivationKeepsTheOrder) {
  const Dims dims{2, 4, 3, 3};
  Graph g = base_graph(dims, dims);
  g.nodes.push_back(group_norm("x", "n", "Silu"));
  g.nodes.push_back(simple("Add", {"n", "r"}, "y"));
  g.outputs.push_back(ValueInfo{"y", DataType::kFloat32, Shape()});
  auto engine = build(g);
  ASSERT_EQ(engine->graph.nodes.size(), 1u);
  EXPECT_EQ(engine->graph.nodes[0].attr_int("residual_before_activation", 0), 0);
  const Tensor x = random_tensor(dims), r = random_tensor(dims);
  Tensor expected = run(group_norm("x", "n", "Silu"), {&x, &g.initializers["gamma"], &g.initializers["beta"]})[0];
  for (int64_t i = 0; i < expected.numel(); ++i) expected.data<float>()[i] += r.data<float>()[i];
  EXPECT_LE(relative_error(run_engine(engine, x, r), expected), 1e-5);
}

std::string refusals(const std::shared_ptr<Engine>& engine) {
  std::string all;
  for (const PassRecord& rec : engine->build_report.records)
    if (rec.pass == "norm_residual_fusion" && !rec.applied) all += rec.description + "\n";
  return all;
}

TEST(NormResidual, ABroadcastingResidualStaysAnAdd) {
  Graph g = base_graph({2, 4, 3, 3}, {1, 4, 1, 1});
  g.nodes.push_back(group_norm("x", "n"));
  g.nodes.push_back(simple("Add", {"n", "r"}, "y"));
  g.outputs.push_back(ValueInfo{"y", DataType::kFloat32, Shape()});
  auto engine = build(g);
  EXPECT_EQ(count(engine->graph, "Add"), 1);
  EXPECT_NE(refusals(engine).find("does not have y's shape"), std::string::npos) << refusals(engine);
  const Tensor x = random_tensor({2, 4, 3, 3}), r = random_tensor({1, 4, 1, 1});
  Tensor expected = run(group_norm("x", "n"), {&x, &g.initializers["gamma"], &g.initializers["beta"]})[0];
  const Tensor got = run_engine(engine, x, r);
  for (int64_t i = 0; i < expected.numel(); ++i) expected.data<float>()[i] += r.data<float>()[(i / 9) % 4];
  EXPECT_LE(relative_error(got, expected), 1e-5);
}

TEST(NormResidual, ANormWithAnotherReaderOrThatIsAnOutputStaysApart) {
  const Dims dims{2, 4, 3, 3};
  Graph g = base_graph(dims, dims);
  g.nodes.push_back(group_norm("x", "n"));
  g.nodes.push_back(simple("Add", {"n", "r"}, "y"));
  g.outputs.push_back(ValueInfo{"y", DataType::kFloat32, Shape()});
  g.outputs.push_back(ValueInfo{"n", DataType::kFloat32, Shape()});  // n is wanted too
  auto engine = build(g);
  EXPECT_EQ(count(engine->graph, "Add"), 1);
  EXPECT_EQ(count(engine->graph, "GroupNorm"), 1);
}

}  // namespace
}  // namespace normrt::test
