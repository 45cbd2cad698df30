#include <cmath>

#include "ops/tensor_ops_util.h"

namespace normrt::test {
namespace {

using V = std::vector<double>;

// ---- Shape -----------------------------------------------------------------------------------------------

Node shape_node(int64_t start = INT64_MIN, int64_t end = INT64_MIN) {
  Node n = make_node("Shape", 1);
  if (start != INT64_MIN) set_int(n, "start", start);
  if (end != INT64_MIN) set_int(n, "end", end);
  return n;
}

TEST(Shape, ReturnsDimsForEveryDtype) {
  for (DataType dtype : moved_dtypes()) {
    Tensor x = random_of(dtype, {2, 3, 5, 1});
    auto out = run(shape_node(), {&x}, 13);
    ASSERT_EQ(out[0].dtype(), DataType::kInt64);
    EXPECT_EQ(values_of(out[0]), (V{2, 3, 5, 1}));
  }
  Tensor scalar = scalar_of(DataType::kFloat32, 1);
  EXPECT_EQ(run(shape_node(), {&scalar}, 13)[0].dims(), (Dims{0}));
  Tensor empty = random_tensor({4, 0});
  EXPECT_EQ(values_of(run(shape_node(), {&empty}, 13)[0]), (V{4, 0}));
}

TEST(Shape, StartAndEndFromOpset15) {
  Tensor x = random_tensor({2, 3, 5, 7});
  auto shape = [&](int64_t start, int64_t end) { return values_of(run(shape_node(start, end), {&x}, 15)[0]); };
  EXPECT_EQ(shape(1, INT64_MIN), (V{3, 5, 7}));
  EXPECT_EQ(shape(INT64_MIN, 2), (V{2, 3}));
  EXPECT_EQ(shape(-2, INT64_MIN), (V{5, 7}));
  EXPECT_EQ(shape(1, -1), (V{3, 5}));
  EXPECT_EQ(shape(-10, 100), (V{2, 3, 5, 7}));  // clamped to [0, rank]
  EXPECT_EQ(shape(3, 1), (V{}));                // start after end: empty
  EXPECT_EQ(shape(4, INT64_MIN), (V{}));
  expect_error([&] { run(shape_node(1), {&x}, 14); }, {"Shape_test", "opset 15", "14"});
}

TEST(ShapeShape, SetsTheValueWhenTheNeededDimsAreKnown) {
  Inferred r = infer(shape_node(), 13, {ts(DataType::kFloat32, "2,3,4")});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(values_of(r.values[0]), (V{2, 3, 4}));
  EXPECT_EQ(r.shape(), "[3]");
  r = infer(shape_node(), 13, {ts(DataType::kFloat32, "batch,3,4")});
  EXPECT_FALSE(r.has_value());
  EXPECT_EQ(r.shape(), "[3]");
  EXPECT_EQ(r.dtype(), DataType::kInt64);
  r = infer(shape_node(1), 15, {ts(DataType::kFloat32, "batch,3,4")});  // the symbolic dim is not read
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(values_of(r.values[0]), (V{3, 4}));
  r = infer(shape_node(), 15, {ts(DataType::kFloat32, "*")});
  EXPECT_FALSE(r.has_value());
  EXPECT_EQ(r.shape(), "[?]");
}

// ---- Size ------------------------------------------------------------------------------------------------

TEST(Size, CountsElements) {
  for (DataType dtype : moved_dtypes()) {
    Tensor x = random_of(dtype, {3, 7, 2});
    auto out = run(make_node("Size", 1), {&x}, 13);
    ASSERT_EQ(out[0].dtype(), DataType::kInt64);
    EXPECT_EQ(out[0].rank(), 0u);
    EXPECT_EQ(values_of(out[0]), (V{42}));
  }
  Tensor empty = random_tensor({3, 0});
  EXPECT_EQ(values_of(run(make_node("Size", 1), {&empty}, 21)[0]), (V{0}));
  Inferred r = infer(make_node("Size", 1), 13, {ts(DataType::kFloat32, "4,5")});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(values_of(r.values[0]), (V{20}));
  r = infer(make_node("Size", 1), 13, {ts(DataType::kFloat32, "batch,5")});
  EXPECT_FALSE(r.has_value());
  EXPECT_EQ(r.shape(), "[]");
}

// ---- ConstantOfShape -------------------------------------------------------------------------------------

Node constant_of_shape(const Tensor* value = nullptr) {
  Node n = make_node("ConstantOfShape", 1);
  if (value) {
    Attribute a;
    a.type = AttributeType::kTensor;
    a.t = *value;
    n.attributes["value"] = a;
  }
  return n;
}

TEST(ConstantOfShape, DefaultFloatZeroAndValueAttribute) {
  Tensor shape = i64({2, 3});
  auto out = run(constant_of_shape(), {&shape}, 13);
  expect_same(out[0], Tensor(DataType::kFloat32, {2, 3}));
  for (DataType dtype : moved_dtypes()) {
    Tensor value = tensor_of(dtype, {1}, {1});
    out = run(constant_of_shape(&value), {&shape}, 20);
    expect_same(out[0], tensor_of(dtype, {2, 3}, V(6, 1)), dtype_name(dtype));
  }
  Tensor seven = tensor_of(DataType::kInt64, {1}, {7});
  Tensor empty_shape = i64({});
  out = run(constant_of_shape(&seven), {&empty_shape}, 13);  // an empty shape makes a scalar
  expect_same(out[0], scalar_of(DataType::kInt64, 7));
  Tensor zero_dim = i64({3, 0});
  EXPECT_EQ(run(constant_of_shape(&seven), {&zero_dim}, 13)[0].dims(), (Dims{3, 0}));
  Tensor half = tensor_of(DataType::kFloat16, {1}, {-2.5});
  Tensor one = i64({5});
  EXPECT_EQ(values_of(run(constant_of_shape(&half), {&one}, 13)[0]), V(5, -2.5));
}

TEST(ConstantOfShape, ErrorsAndShapes) {
  Tensor shape = i64({2, -1});
  expect_error([&] { run(constant_of_shape(), {&shape}, 13); }, {"ConstantOfShape_test", "negative dim -1"});
  Tensor two = tensor_of(DataType::kFloat32, {2}, {1, 2});
  Tensor ok = i64({2});
  expect_error([&] { run(constant_of_shape(&two), {&ok}, 13); }, {"one element"});
  Tensor seven = tensor_of(DataType::kInt32, {1}, {7});
  Inferred r = infer(constant_of_shape(&seven), 13, {ts(DataType::kInt64, "3")});
  EXPECT_EQ(r.shape(), "[?,?,?]");
  EXPECT_EQ(r.dtype(), DataType::kInt32);
  EXPECT_EQ(infer(constant_of_shape(), 13, {ts(DataType::kInt64, "?")}).shape(), "[?]");
  // A node without its output (found by the onnx_import fuzzer: the kernel indexed a missing output).
  Node no_output = constant_of_shape();
  no_output.outputs.clear();
  expect_error([&] { run(no_output, {&ok}, 13); }, {"has 0 outputs", "writes output 0", "leaves out an output"});
}

// ---- Range -----------------------------------------------------------------------------------------------

std::vector<Tensor> run_range(DataType dtype, double start, double limit, double delta, int64_t opset = 11) {
  Tensor s = scalar_of(dtype, start), l = scalar_of(dtype, limit), d = scalar_of(dtype, delta);
  return run(make_node("Range", 3), {&s, &l, &d}, opset);
}

TEST(Range, HandComputedFromTheSpec) {
  EXPECT_EQ(values_of(run_range(DataType::kInt64, 3, 9, 3)[0]), (V{3, 6}));
  EXPECT_EQ(values_of(run_range(DataType::kInt32, 10, 4, -3)[0]), (V{10, 7}));
  EXPECT_EQ(values_of(run_range(DataType::kFloat32, 0, 1, 0.25)[0]), (V{0, 0.25, 0.5, 0.75}));
  EXPECT_EQ(values_of(run_range(DataType::kFloat64, 1, 2, 0.5)[0]), (V{1, 1.5}));
  EXPECT_EQ(values_of(run_range(DataType::kInt16, -3, 3, 2)[0]), (V{-3, -1, 1}));
  EXPECT_EQ(run_range(DataType::kInt64, 1, 1, 1)[0].numel(), 0);
  EXPECT_EQ(run_range(DataType::kInt64, 5, 1, 1)[0].numel(), 0);  // max(..., 0)
  EXPECT_EQ(run_range(DataType::kFloat32, 0, 1, 0.3f, 21)[0].numel(), 4);
  EXPECT_EQ(run_range(DataType::kInt64, 0, 7, 7)[0].dtype(), DataType::kInt64);
}

TEST(Range, MatchesNaiveCountsAndValues) {
  std::uniform_int_distribution<int> dist(-20, 20);
  for (int trial = 0; trial < 300; ++trial) {
    const int start = dist(rng()), limit = dist(rng());
    int delta = dist(rng()) / 3;
    if (delta == 0) delta = 1;
    // Naive: step from start while not past limit.
    V expected;
    for (int v = start; delta > 0 ? v < limit : v > limit; v += delta) expected.push_back(v);
    for (DataType dtype :
         {DataType::kInt64, DataType::kInt32, DataType::kInt16, DataType::kFloat32, DataType::kFloat64})
      EXPECT_EQ(values_of(run_range(dtype, start, limit, delta)[0]), expected)
          << start << " " << limit << " " << delta << " " << dtype_name(dtype);
  }
  // Fractional float deltas: count = ceil((limit - start) / delta), values start + i * delta.
  auto out = run_range(DataType::kFloat32, -1, 2, 0.7f);
  ASSERT_EQ(out[0].numel(), 5);
  for (int64_t i = 0; i < 5; ++i) EXPECT_NEAR(values_of(out[0])[i], -1 + i * 0.7, 1e-6);
}

TEST(Range, ErrorsAndShapes) {
  expect_error([&] { run_range(DataType::kInt64, 0, 5, 0); }, {"Range_test", "delta is 0"});
  expect_error([&] { run_range(DataType::kFloat32, 0, 5, 0); }, {"delta is 0"});
  expect_error([&] { run_range(DataType::kBool, 0, 1, 1); }, {"bool", "Range supports"});
  Tensor s = scalar_of(DataType::kInt64, 0), l = scalar_of(DataType::kInt32, 5), d = scalar_of(DataType::kInt64, 1);
  expect_error([&] { run(make_node("Range", 3), {&s, &l, &d}, 11); }, {"'limit' is int32", "'start' is int64"});
  Tensor vec = i64({5, 6});
  expect_error([&] { run(make_node("Range", 3), {&s, &vec, &d}, 11); }, {"'limit' must be a scalar"});
  Tensor one = i64({5});  // a one-element vector is accepted
  EXPECT_EQ(run(make_node("Range", 3), {&s, &one, &d}, 11)[0].numel(), 5);
  Tensor inf = scalar_of(DataType::kFloat32, INFINITY), zero = scalar_of(DataType::kFloat32, 0),
         step = scalar_of(DataType::kFloat32, 1);
  expect_error([&] { run(make_node("Range", 3), {&zero, &inf, &step}, 11); }, {"not finite"});
  Inferred r = infer(make_node("Range", 3), 11,
                     {ts(DataType::kInt64, ""), ts(DataType::kInt64, ""), ts(DataType::kInt64, "")}, {&s, nullptr, &d});
  EXPECT_EQ(r.shape(), "[?]");
  EXPECT_EQ(r.dtype(), DataType::kInt64);
  Tensor limit = scalar_of(DataType::kInt64, 9);
  r = infer(make_node("Range", 3), 11, {ts_of(s), ts_of(limit), ts_of(d)}, {&s, &limit, &d});
  EXPECT_EQ(r.shape(), "[9]");
}

// ---- Folding shape arithmetic through infer_graph --------------------------------------------------------

Node graph_node(const std::string& op, std::vector<std::string> inputs, std::string output) {
  Node n = make_node(op, 0);
  n.name = output + "_node";
  n.inputs = std::move(inputs);
  n.outputs = {std::move(output)};
  return n;
}

// x.view(x.size(0), -1) as PyTorch exports it: Shape -> Gather(0) -> Unsqueeze -> Concat(-1) -> Reshape.
Graph view_graph(int64_t opset) {
  Graph g;
  g.opsets[""] = opset;
  g.inputs.push_back(ValueInfo{"x", DataType::kFloat32, shape_of("batch,3,4")});
  g.initializers["zero"] = scalar_of(DataType::kInt64, 0);
  g.initializers["axes"] = i64({0});
  g.initializers["minus_one"] = i64({-1});
  Node gather = graph_node("Gather", {"s", "zero"}, "n");
  set_int(gather, "axis", 0);
  Node unsqueeze = graph_node("Unsqueeze", {"n", "axes"}, "n1");
  Node concat = graph_node("Concat", {"n1", "minus_one"}, "target");
  set_int(concat, "axis", 0);
  g.nodes = {graph_node("Shape", {"x"}, "s"), gather, unsqueeze, concat, graph_node("Reshape", {"x", "target"}, "y")};
  return g;
}

TEST(ShapeFolding, ConcreteShapesFoldTheWholeChain) {
  GraphTypes types = infer_graph(view_graph(13), {{"x", shape_of("5,3,4")}});
  ASSERT_EQ(types.values.count("target"), 1u);
  EXPECT_EQ(values_of(types.values.at("target")), (V{5, -1}));
  EXPECT_EQ(types.types.at("y").shape.to_string(), "[5,12]");
}

TEST(ShapeFolding, SymbolicBatchKeepsTheRankHonestly) {
  // With 'batch' unknown the Shape value is unknown, so the target's values are too: rank 2, dims unknown.
  GraphTypes types = infer_graph(view_graph(13), {});
  EXPECT_EQ(types.values.count("target"), 0u);
  EXPECT_EQ(types.types.at("target").shape.to_string(), "[2]");
  EXPECT_EQ(types.types.at("y").shape.to_string(), "[?,?]");
}

TEST(ShapeFolding, Opset15ShapeStartFoldsPastTheSymbolicDim) {
  // Reshape(x, Concat([-1], Shape(x, start=1))): the known tail folds and the -1 resolves to 'batch'.
  Graph g;
  g.opsets[""] = 15;
  g.inputs.push_back(ValueInfo{"x", DataType::kFloat32, shape_of("batch,3,4")});
  g.initializers["minus_one"] = i64({-1});
  Node shape = graph_node("Shape", {"x"}, "tail");
  set_int(shape, "start", 1);
  Node concat = graph_node("Concat", {"minus_one", "tail"}, "target");
  set_int(concat, "axis", 0);
  Node size = graph_node("Size", {"y"}, "count");
  Node cos = graph_node("ConstantOfShape", {"tail"}, "zeros");
  Node range = graph_node("Range", {"zero", "four", "one"}, "positions");
  g.initializers["zero"] = scalar_of(DataType::kInt64, 0);
  g.initializers["four"] = scalar_of(DataType::kInt64, 4);
  g.initializers["one"] = scalar_of(DataType::kInt64, 1);
  g.nodes = {shape, concat, graph_node("Reshape", {"x", "target"}, "y"), size, cos, range};
  GraphTypes types = infer_graph(g, {});
  EXPECT_EQ(values_of(types.values.at("target")), (V{-1, 3, 4}));
  EXPECT_EQ(types.types.at("y").shape.to_string(), "[batch,3,4]");
  EXPECT_EQ(types.values.count("count"), 0u);  // depends on batch
  EXPECT_EQ(types.types.at("zeros").shape.to_string(), "[3,4]");
  ASSERT_EQ(types.values.count("zeros"), 1u);
  ASSERT_EQ(types.values.count("positions"), 1u);
  EXPECT_EQ(values_of(types.values.at("positions")), (V{0, 1, 2, 3}));
}

}  // namespace
}  // namespace normrt::test
