// GroupNorm fusion on hand-built graphs shaped like PyTorch's export, and near misses that must stay unfused.
// Every fused graph is run against the unfused one on random data.
#include "engine/engine.h"
#include "passes/pass.h"
#include "test_util.h"

namespace normrt::test {

namespace {

struct GroupNormGraphSpec {
  Dims x_dims = {2, 8, 5, 3};
  bool dynamic_batch = true;
  int64_t groups = 4;
  std::vector<int64_t> first_shape;  // empty: [0, G, -1]
  bool affine = true;
  bool shape_from_node = true;  // second Reshape reads Shape(x), else a constant of x's shape
  float in_scale = 1.0f;
  Dims gamma_dims;  // empty: [C, 1, ...]
  bool in_output_is_graph_output = false;
  bool mul_first_operand_is_gamma = false;
};

Graph group_norm_graph(const GroupNormGraphSpec& s) {
  Graph g;
  g.opsets[""] = 17;
  const int64_t C = s.x_dims[1];
  std::vector<Dim> dims(s.x_dims.begin(), s.x_dims.end());
  if (s.dynamic_batch) dims[0] = Dim::unknown("batch");
  g.inputs.push_back(ValueInfo{"x", DataType::kFloat32, Shape(dims)});
  g.initializers["s1"] = int64_tensor(s.first_shape.empty() ? std::vector<int64_t>{0, s.groups, -1} : s.first_shape);
  g.initializers["ones"] = float_tensor(std::vector<float>(static_cast<size_t>(s.groups), s.in_scale), {s.groups});
  g.initializers["zeros"] = float_tensor(std::vector<float>(static_cast<size_t>(s.groups), 0.0f), {s.groups});
  Dims channel_dims = s.gamma_dims;
  if (channel_dims.empty()) {
    channel_dims = {C};
    for (size_t i = 2; i < s.x_dims.size(); ++i) channel_dims.push_back(1);
  }
  g.initializers["gamma"] = random_tensor(channel_dims, 0.5f, 1.5f);
  g.initializers["beta"] = random_tensor(channel_dims);

  auto add = [&](const std::string& op, std::vector<std::string> in, std::string out) {
    Node n;
    n.op_type = op;
    n.name = op + "_" + out;
    n.inputs = std::move(in);
    n.outputs = {std::move(out)};
    g.nodes.push_back(n);
    return &g.nodes.back();
  };
  add("Reshape", {"x", "s1"}, "r1");
  set_float(*add("InstanceNormalization", {"r1", "ones", "zeros"}, "in"), "epsilon", 1e-5f);
  if (s.shape_from_node) {
    add("Shape", {"x"}, "xshape");
  } else {
    g.initializers["xshape"] = int64_tensor(std::vector<int64_t>(s.x_dims.begin(), s.x_dims.end()));
  }
  add("Reshape", {"in", "xshape"}, "r2");
  std::string y = "r2";
  if (s.affine) {
    add("Mul", s.mul_first_operand_is_gamma ? std::vector<std::string>{"gamma", "r2"} : std::vector<std::string>{"r2", "gamma"}, "m");
    add("Add", {"m", "beta"}, "y");
    y = "y";
  }
  add("Relu", {y}, "out");
  g.outputs.push_back(ValueInfo{"out", DataType::kFloat32, Shape()});
  if (s.in_output_is_graph_output) g.outputs.push_back(ValueInfo{"in", DataType::kFloat32, Shape()});
  return g;
}

int count_ops(const Graph& g, const std::string& op) {
  int n = 0;
  for (const Node& node : g.nodes) n += node.op_type == op;
  return n;
}

// Runs both graphs at batch 3 and compares every output.
void expect_same_results(const Graph& original, const Graph& fused, const Dims& x_dims) {
  Dims run_dims = x_dims;
  run_dims[0] = 3;
  Tensor x = random_tensor(run_dims, -2.0f, 3.0f);
  auto run_graph = [&](const Graph& graph) {
    BuildOptions options;
    Profile p;
    Dims lo = x_dims, hi = x_dims;
    lo[0] = 1;
    hi[0] = 4;
    if (graph.inputs[0].shape.fully_known()) lo = hi = graph.inputs[0].shape.concrete();
    p.inputs["x"] = ShapeRange{lo, lo, hi};
    options.profiles.push_back(p);
    ExecutionContext context(build_engine(graph, options));
    return context.run({{"x", graph.inputs[0].shape.fully_known() ? random_tensor(lo) : x}});
  };
  if (!original.inputs[0].shape.fully_known()) {
    auto a = run_graph(original), b = run_graph(fused);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_LE(relative_error(b[i].second, a[i].second), 1e-5) << a[i].first;
  }
}

PassReport fuse(Graph& g) {
  PassReport report;
  fuse_group_norm(g, report);
  g.verify();
  return report;
}

bool refused_with(const PassReport& r, const std::string& text) {
  for (const auto& rec : r.records)
    if (!rec.applied && rec.description.find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST(GroupNormFusion, FusesTorchScriptPatternAtEveryRankAndGroupCount) {
  for (Dims dims : {Dims{2, 8, 5, 3}, Dims{2, 6, 11}, Dims{2, 4, 3, 2, 5}, Dims{1, 12, 7, 7}}) {
    const int64_t C = dims[1];
    for (int64_t G : {int64_t{1}, int64_t{2}, C}) {
      SCOPED_TRACE(dims_to_string(dims) + " G=" + std::to_string(G));
      GroupNormGraphSpec spec;
      spec.x_dims = dims;
      spec.groups = G;
      Graph original = group_norm_graph(spec), g = original;
      PassReport report = fuse(g);
      EXPECT_EQ(count_ops(g, "GroupNorm"), 1);
      EXPECT_EQ(count_ops(g, "InstanceNormalization"), 0);
      EXPECT_EQ(count_ops(g, "Reshape"), 0);
      EXPECT_EQ(count_ops(g, "Mul") + count_ops(g, "Add") + count_ops(g, "Shape"), 0);
      ASSERT_EQ(report.records.size() >= 1, true);
      EXPECT_TRUE(report.records[0].applied);
      expect_same_results(original, g, dims);
    }
  }
}

TEST(GroupNormFusion, FusesWithoutAffineAndWithSwappedMulOperands) {
  GroupNormGraphSpec spec;
  spec.affine = false;
  Graph original = group_norm_graph(spec), g = original;
  fuse(g);
  EXPECT_EQ(count_ops(g, "GroupNorm"), 1);
  expect_same_results(original, g, spec.x_dims);

  spec = GroupNormGraphSpec();
  spec.mul_first_operand_is_gamma = true;
  spec.gamma_dims = {1, 8, 1, 1};
  original = group_norm_graph(spec);
  g = original;
  fuse(g);
  EXPECT_EQ(count_ops(g, "GroupNorm"), 1);
  EXPECT_EQ(count_ops(g, "Mul"), 0);
  expect_same_results(original, g, spec.x_dims);
}

TEST(GroupNormFusion, FusesStaticModelWhoseShapeWasFolded) {
  GroupNormGraphSpec spec;
  spec.dynamic_batch = false;
  spec.shape_from_node = false;
  spec.first_shape = {2, 4, 30};
  Graph g = group_norm_graph(spec);
  fuse(g);
  EXPECT_EQ(count_ops(g, "GroupNorm"), 1);
}

TEST(GroupNormFusion, RefusesNearMisses) {
  {
    GroupNormGraphSpec spec;  // the InstanceNormalization scales by 2: not a plain GroupNorm
    spec.in_scale = 2.0f;
    Graph g = group_norm_graph(spec);
    EXPECT_TRUE(refused_with(fuse(g), "scale is not all ones"));
    EXPECT_EQ(count_ops(g, "GroupNorm"), 0);
  }
  {
    GroupNormGraphSpec spec;  // 3 groups do not divide 8 channels
    spec.first_shape = {0, 3, -1};
    Graph g = group_norm_graph(spec);
    g.initializers["ones"] = float_tensor({1, 1, 1}, {3});
    g.initializers["zeros"] = float_tensor({0, 0, 0}, {3});
    EXPECT_TRUE(refused_with(fuse(g), "does not divide"));
    EXPECT_EQ(count_ops(g, "GroupNorm"), 0);
  }
  {
    GroupNormGraphSpec spec;  // statistics over the wrong dims: [N, G, C/G, -1] is not [N, G, -1]
    spec.first_shape = {0, 4, 2, -1};
    Graph g = group_norm_graph(spec);
    EXPECT_TRUE(refused_with(fuse(g), "not a constant of 3 values"));
    EXPECT_EQ(count_ops(g, "GroupNorm"), 0);
  }
  {
    GroupNormGraphSpec spec;  // the normalized value is also a graph output: a second consumer
    spec.in_output_is_graph_output = true;
    Graph g = group_norm_graph(spec);
    EXPECT_TRUE(refused_with(fuse(g), "another reader or is a graph output"));
    EXPECT_EQ(count_ops(g, "GroupNorm"), 0);
  }
  {
    GroupNormGraphSpec spec;  // the reshape back goes elsewhere: not the input's shape
    spec.dynamic_batch = false;
    spec.shape_from_node = false;
    Graph g = group_norm_graph(spec);
    g.initializers["xshape"] = int64_tensor({2, 8, 3, 5});
    EXPECT_TRUE(refused_with(fuse(g), "does not restore the input's shape"));
    EXPECT_EQ(count_ops(g, "GroupNorm"), 0);
  }
  {
    GroupNormGraphSpec spec;  // Mul by a tensor that varies along H: the norm fuses, the Mul stays
    spec.gamma_dims = {1, 1, 5, 1};
    Graph original = group_norm_graph(spec), g = original;
    fuse(g);
    EXPECT_EQ(count_ops(g, "GroupNorm"), 1);
    EXPECT_EQ(count_ops(g, "Mul"), 1);
    EXPECT_EQ(count_ops(g, "Add"), 1);
    expect_same_results(original, g, spec.x_dims);
  }
}

}  // namespace normrt::test
