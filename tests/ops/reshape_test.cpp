#include "ops/tensor_ops_util.h"

namespace normrt::test {
namespace {

Node reshape_node(int64_t allowzero = -1) {
  Node n = make_node("Reshape", 2);
  if (allowzero >= 0) set_int(n, "allowzero", allowzero);
  return n;
}

Node axes_node(const std::string& op, int64_t opset, const std::vector<int64_t>* axes) {
  // Before opset 13 the axes are an attribute; from 13 they are input 1.
  Node n = make_node(op, opset >= 13 && axes ? 2 : 1);
  if (opset < 13 && axes) set_ints(n, "axes", *axes);
  return n;
}

std::vector<Tensor> run_axes_op(const std::string& op, const Tensor& x, int64_t opset,
                                const std::vector<int64_t>* axes) {
  Node n = axes_node(op, opset, axes);
  if (opset >= 13 && axes) {
    Tensor a = i64(*axes);
    return run(n, {&x, &a}, opset);
  }
  return run(n, {&x}, opset);
}

// ---- Reshape ---------------------------------------------------------------------------------------------

TEST(Reshape, KeepsBytesForEveryDtype) {
  for (DataType dtype : moved_dtypes()) {
    Tensor x = random_of(dtype, {2, 3, 4});
    Tensor shape = i64({4, -1});
    auto out = run(reshape_node(), {&x, &shape}, 13);
    expect_same(out[0], x.reshaped({4, 6}), dtype_name(dtype));
  }
}

TEST(Reshape, ZeroCopiesTheInputDimAndMinusOneIsInferred) {
  Tensor x = random_tensor({3, 5, 7});
  Tensor shape = i64({0, -1});
  auto out = run(reshape_node(), {&x, &shape}, 13);
  EXPECT_EQ(out[0].dims(), (Dims{3, 35}));
  Tensor shape2 = i64({-1, 0, 1, 7});  // 0 at index 1 copies input dim 1
  out = run(reshape_node(), {&x, &shape2}, 13);
  EXPECT_EQ(out[0].dims(), (Dims{3, 5, 1, 7}));
  Tensor shape3 = i32({7, 0, 3});  // int32 shapes are accepted
  out = run(reshape_node(), {&x, &shape3}, 13);
  EXPECT_EQ(out[0].dims(), (Dims{7, 5, 3}));
}

TEST(Reshape, AllowZeroFromOpset14MakesZeroLiteral) {
  Tensor x = random_tensor({0, 4});
  Tensor shape = i64({4, 0});
  // opset 14, allowzero=1: the 0 is a dim of size 0, so [0,4] -> [4,0] is valid.
  auto out = run(reshape_node(1), {&x, &shape}, 14);
  EXPECT_EQ(out[0].dims(), (Dims{4, 0}));
  // allowzero=0, or opset 13 where the attribute does not exist: 0 copies input dim 1 (4) -> 16 elements.
  expect_error([&] { run(reshape_node(0), {&x, &shape}, 14); }, {"Reshape_test", "0 elements", "16 elements"});
  expect_error([&] { run(reshape_node(1), {&x, &shape}, 13); }, {"0 elements", "16 elements"});
  // With allowzero a 0 beside -1 cannot be inferred.
  Tensor both = i64({0, -1});
  expect_error([&] { run(reshape_node(1), {&x, &both}, 14); }, {"both 0 and -1", "allowzero"});
}

TEST(Reshape, ErrorsNameTheElementCounts) {
  Tensor x = random_tensor({2, 3, 4});
  Tensor bad = i64({5, 5});
  expect_error([&] { run(reshape_node(), {&x, &bad}, 13); }, {"Reshape_test", "[2,3,4]", "24 elements", "25 elements"});
  Tensor indivisible = i64({5, -1});
  expect_error([&] { run(reshape_node(), {&x, &indivisible}, 13); }, {"24", "5", "divide"});
  Tensor two = i64({-1, -1});
  expect_error([&] { run(reshape_node(), {&x, &two}, 13); }, {"more than one -1"});
  Tensor negative = i64({-2, 12});
  expect_error([&] { run(reshape_node(), {&x, &negative}, 13); }, {"-2", "index 0"});
  Tensor zero_past_rank = i64({2, 3, 4, 0});
  expect_error([&] { run(reshape_node(), {&x, &zero_past_rank}, 13); }, {"0 at index 3", "rank 3"});
  // A 0-size dim copied by 0 beside -1 leaves the -1 ambiguous (as in ONNX Runtime and PyTorch).
  Tensor empty = random_tensor({0, 3, 4});
  Tensor copy_and_infer = i64({0, -1});
  expect_error([&] { run(reshape_node(), {&empty, &copy_and_infer}, 13); }, {"cannot infer the -1", "multiply to 0"});
  Tensor copy_and_fix = i64({0, 12});
  EXPECT_EQ(run(reshape_node(), {&empty, &copy_and_fix}, 13)[0].dims(), (Dims{0, 12}));
  Tensor zeros_other = i64({0, 0, 0, -1});
  // Input [2,3,4]: 0s copy 2,3,4 and -1 must be 1.
  auto out = run(reshape_node(), {&x, &zeros_other}, 13);
  EXPECT_EQ(out[0].dims(), (Dims{2, 3, 4, 1}));
}

TEST(Reshape, RandomShapesAtManySizes) {
  const std::vector<Dims> shapes = {{1}, {3}, {7, 13}, {2, 3, 5}, {4, 1, 7, 3}, {13, 1, 1}, {0, 5}};
  for (const Dims& dims : shapes) {
    Tensor x = random_tensor(dims);
    Tensor flat = i64({-1});
    auto out = run(reshape_node(), {&x, &flat}, 13);
    expect_same(out[0], x.reshaped({x.numel()}));
    Tensor back = i64(std::vector<int64_t>(dims.begin(), dims.end()));
    auto round = run(reshape_node(), {&out[0], &back}, 13);
    expect_same(round[0], x);
  }
}

TEST(ReshapeShape, KeepsSymbolicDims) {
  const Node n = reshape_node();
  auto check = [&](const std::string& in, const std::vector<int64_t>& target, const std::string& expected) {
    Tensor t = i64(target);
    EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, in), ts_of(t)}, {nullptr, &t}).shape(), expected)
        << in << " -> " << ::testing::PrintToString(target);
  };
  check("batch,3,4", {0, -1}, "[batch,12]");
  check("batch,3,4", {-1, 12}, "[batch,12]");  // the -1 stands for exactly 'batch'
  check("batch,3,4", {-1, 6}, "[?,6]");        // 2*batch: not a symbol
  check("batch,seq,8", {0, 0, 2, 4}, "[batch,seq,2,4]");
  check("batch,seq,8", {0, -1, 8}, "[batch,seq,8]");
  check("batch,seq,8", {-1, 8}, "[?,8]");
  check("?,3,4", {0, -1}, "[?,12]");  // an unnamed dim copied by 0 still cancels
  check("?,3,4", {-1, 12}, "[?,12]");
  check("*", {0, -1, 5}, "[?,?,5]");
  check("2,3,4", {0, -1}, "[2,12]");
  // Inconsistent known parts are caught at build time even beside symbols.
  Tensor bad = i64({0, 5});
  expect_error(
      [&] {
        infer(n, 13, {ts(DataType::kFloat32, "batch,3,4"), ts_of(bad)}, {nullptr, &bad});
      },
      {"12 elements apart from the dims both sides share", "5 elements"});
}

// The build-time shape never guesses: every known or symbolic output dim equals the concrete run's, over
// random targets made of 0 (copy), -1 (infer) and literal dims.
TEST(ReshapeShape, SymbolicResultAgreesWithConcreteRuns) {
  std::uniform_int_distribution<int64_t> size(1, 4), pick(0, 3);
  const Node n = reshape_node();
  int checked = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const Dims dims = {size(rng()), size(rng()), size(rng())};
    std::vector<int64_t> target;
    bool inferred = false;
    const int64_t rank = 1 + pick(rng());
    for (int64_t i = 0; i < rank; ++i) {
      const int64_t kind = pick(rng());
      if (kind == 0 && i < 3) {
        target.push_back(0);
      } else if (kind == 1 && !inferred) {
        target.push_back(-1);
        inferred = true;
      } else {
        target.push_back(size(rng()));
      }
    }
    Tensor x = random_tensor(dims), t = i64(target);
    std::vector<Tensor> out;
    try {
      out = run(n, {&x, &t}, 13);
    } catch (const Error&) {
      continue;  // an invalid target for these dims; the symbolic run may or may not know yet
    }
    ++checked;
    Inferred r = infer(n, 13, {ts(DataType::kFloat32, "a,b,c"), ts_of(t)}, {nullptr, &t});
    for (size_t k = 0; k < target.size(); ++k) {
      const Dim& d = r.outputs[0].shape.dims[k];
      const std::string what = dims_to_string(dims) + " -> " + ::testing::PrintToString(target);
      if (d.known()) {
        EXPECT_EQ(d.value, out[0].dims()[k]) << what;
      } else if (!d.symbol.empty()) {
        EXPECT_EQ(dims[d.symbol[0] - 'a'], out[0].dims()[k]) << what;
      }
    }
  }
  EXPECT_GT(checked, 50);
}

TEST(ReshapeShape, UnknownTargetGivesItsRank) {
  const Node n = reshape_node();
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,3,4"), ts(DataType::kInt64, "3")}).shape(), "[?,?,?]");
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,3,4"), ts(DataType::kInt64, "?")}).shape(), "[?]");
  expect_error([&] { infer(n, 13, {ts(DataType::kFloat32, "2"), ts(DataType::kInt64, "2,2")}); }, {"must be 1-D"});
}

// ---- Flatten ---------------------------------------------------------------------------------------------

TEST(Flatten, AxisDefaultNegativeAndEnds) {
  for (DataType dtype : moved_dtypes()) {
    Tensor x = random_of(dtype, {2, 3, 5, 7});
    const std::vector<std::pair<int64_t, Dims>> cases = {{1, {2, 105}}, {0, {1, 210}},  {4, {210, 1}},
                                                         {-1, {30, 7}}, {-4, {1, 210}}, {2, {6, 35}}};
    for (const auto& [axis, dims] : cases) {
      Node n = make_node("Flatten", 1);
      set_int(n, "axis", axis);
      expect_same(run(n, {&x}, 13)[0], x.reshaped(dims), "axis " + std::to_string(axis));
    }
    expect_same(run(make_node("Flatten", 1), {&x}, 11)[0], x.reshaped({2, 105}));  // default axis 1
  }
}

TEST(Flatten, ErrorsAndSymbolicShapes) {
  Node n = make_node("Flatten", 1);
  set_int(n, "axis", 5);
  Tensor x = random_tensor({2, 3, 4});
  expect_error([&] { run(n, {&x}, 13); }, {"Flatten_test", "axis 5", "[-3, 3]"});
  set_int(n, "axis", 1);
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,3,4")}).shape(), "[batch,12]");
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,1,seq")}).shape(), "[batch,seq]");
  set_int(n, "axis", 2);
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,3,4")}).shape(), "[?,4]");
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,0,4")}).shape(), "[0,4]");
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "*")}).shape(), "[?,?]");
}

// ---- Squeeze / Unsqueeze ---------------------------------------------------------------------------------

TEST(Squeeze, AxesAttributeBefore13InputFrom13) {
  for (int64_t opset : {11, 12, 13, 21}) {
    for (DataType dtype : moved_dtypes()) {
      Tensor x = random_of(dtype, {3, 1, 5, 1});
      std::vector<int64_t> axes = {1};
      expect_same(run_axes_op("Squeeze", x, opset, &axes)[0], x.reshaped({3, 5, 1}));
      axes = {-1, 1};
      expect_same(run_axes_op("Squeeze", x, opset, &axes)[0], x.reshaped({3, 5}));
      expect_same(run_axes_op("Squeeze", x, opset, nullptr)[0], x.reshaped({3, 5}));  // no axes: all 1s
      axes = {};
      expect_same(run_axes_op("Squeeze", x, opset, &axes)[0], x.reshaped({3, 5}));  // empty axes: the same
    }
  }
}

TEST(Squeeze, Errors) {
  Tensor x = random_tensor({3, 1, 5});
  std::vector<int64_t> axes = {2};
  expect_error([&] { run_axes_op("Squeeze", x, 13, &axes); }, {"Squeeze_test", "axis 2", "dim is 5, not 1"});
  expect_error([&] { run_axes_op("Squeeze", x, 11, &axes); }, {"dim is 5, not 1"});
  axes = {3};
  expect_error([&] { run_axes_op("Squeeze", x, 13, &axes); }, {"axis 3", "out of range"});
  axes = {1, -2};
  expect_error([&] { run_axes_op("Squeeze", x, 13, &axes); }, {"twice"});
  // The wrong form for the opset.
  Node attr13 = make_node("Squeeze", 1);
  set_ints(attr13, "axes", {1});
  expect_error([&] { run(attr13, {&x}, 13); }, {"input 1 from opset 13"});
  Node input11 = make_node("Squeeze", 2);
  Tensor a = i64({1});
  expect_error([&] { run(input11, {&x, &a}, 11); }, {"attribute before opset 13"});
}

TEST(SqueezeShape, SymbolicAndUnknownAxes) {
  Node n = make_node("Squeeze", 2);
  Tensor axes = i64({1});
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,1,?"), ts_of(axes)}, {nullptr, &axes}).shape(), "[batch,?]");
  // An unknown dim named in axes must be 1 at run time; the shape function takes it out.
  Tensor axes2 = i64({2});
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,1,?"), ts_of(axes2)}, {nullptr, &axes2}).shape(), "[batch,1]");
  // Axes value unknown: only the rank is known.
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,1,1,4"), ts(DataType::kInt64, "2")}).shape(), "[?,?]");
  // No axes with an unknown dim: whether it goes is unknown, so is the rank.
  Node all = make_node("Squeeze", 1);
  EXPECT_EQ(infer(all, 13, {ts(DataType::kFloat32, "batch,1,4")}).shape(), "[?]");
  EXPECT_EQ(infer(all, 13, {ts(DataType::kFloat32, "1,3,1,4")}).shape(), "[3,4]");
}

TEST(Unsqueeze, AxesAttributeBefore13InputFrom13) {
  for (int64_t opset : {11, 12, 13, 21}) {
    for (DataType dtype : moved_dtypes()) {
      Tensor x = random_of(dtype, {2, 3});
      std::vector<int64_t> axes = {0, 3};
      expect_same(run_axes_op("Unsqueeze", x, opset, &axes)[0], x.reshaped({1, 2, 3, 1}));
      axes = {-1};
      expect_same(run_axes_op("Unsqueeze", x, opset, &axes)[0], x.reshaped({2, 3, 1}));
      axes = {1, -2};  // output rank 4: axes 1 and 2
      expect_same(run_axes_op("Unsqueeze", x, opset, &axes)[0], x.reshaped({2, 1, 1, 3}));
    }
  }
  Tensor scalar = scalar_of(DataType::kInt64, 7);
  std::vector<int64_t> axes = {0};
  expect_same(run_axes_op("Unsqueeze", scalar, 13, &axes)[0], scalar.reshaped({1}));
}

TEST(Unsqueeze, ErrorsAndSymbolicShapes) {
  Tensor x = random_tensor({2, 3});
  std::vector<int64_t> axes = {3};
  expect_error([&] { run_axes_op("Unsqueeze", x, 13, &axes); }, {"Unsqueeze_test", "axis 3", "[-3, 2]"});
  axes = {0, 0};
  expect_error([&] { run_axes_op("Unsqueeze", x, 11, &axes); }, {"twice"});
  expect_error([&] { run_axes_op("Unsqueeze", x, 13, nullptr); }, {"requires axes"});
  Node n = make_node("Unsqueeze", 2);
  Tensor a = i64({0, -1});
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,seq"), ts_of(a)}, {nullptr, &a}).shape(), "[1,batch,seq,1]");
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,seq"), ts(DataType::kInt64, "1")}).shape(), "[?,?,?]");
}

// Reshape chain through infer_graph: Flatten of [batch,C,H,W] then Reshape back with 0 and -1.
TEST(ReshapeShape, GraphPropagatesBatchSymbol) {
  Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(ValueInfo{"x", DataType::kFloat32, shape_of("batch,8,2,2")});
  g.initializers["target"] = i64({0, 2, -1});
  Node flatten = make_node("Flatten", 0);
  flatten.inputs = {"x"};
  flatten.outputs = {"flat"};
  Node reshape = make_node("Reshape", 0);
  reshape.inputs = {"flat", "target"};
  reshape.outputs = {"y"};
  g.nodes = {flatten, reshape};
  GraphTypes types = infer_graph(g, {});
  EXPECT_EQ(types.types.at("flat").shape.to_string(), "[batch,32]");
  EXPECT_EQ(types.types.at("y").shape.to_string(), "[batch,2,16]");
  types = infer_graph(g, {{"x", shape_of("3,8,2,2")}});
  EXPECT_EQ(types.types.at("y").shape.to_string(), "[3,2,16]");
}

}  // namespace
}  // namespace normrt::test
