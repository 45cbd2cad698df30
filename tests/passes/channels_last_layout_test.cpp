// The channels-last layout: the ops it writes (ai.normrt NhwcConv, NhwcMaxPool / NhwcAveragePool, GroupNorm with
// channels_last = 1) against their channels-first twins on fresh random data, and the pass on hand-built graphs:
// the engine computes what the channels-first engine does, with only the layout transposes the graph's borders
// need, and Convs the device cannot take channels-last stay, each with its reason.
#include <algorithm>

#include "engine/engine.h"
#include "ops/channels_last.h"
#include "passes/pass.h"
#include "passes/pattern_graph.h"
#include "passes/rewrite_util.h"
#include "test_util.h"

namespace normrt::test {
namespace {

Tensor to_last(const Tensor& t) { return permute_tensor(t, to_channels_last_perm(t.rank())); }

struct ConvCase {
  Dims x, w;
  int64_t group, stride, dilation, pad;
};

TEST(NhwcConv, MatchesConvOnPermutedData) {
  const ConvCase cases[] = {
      {{3, 8, 9, 7}, {6, 8, 3, 3}, 1, 1, 1, 1},  {{2, 6, 11, 5}, {4, 3, 3, 1}, 2, 2, 1, 1},
      {{1, 4, 8, 8}, {4, 1, 3, 3}, 4, 1, 2, 2},  {{4, 3, 7, 9}, {5, 3, 1, 1}, 1, 1, 1, 0},
      {{2, 5, 13, 6}, {7, 5, 5, 3}, 1, 3, 1, 0},
  };
  for (const ConvCase& c : cases) {
    SCOPED_TRACE("x " + dims_to_string(c.x) + " w " + dims_to_string(c.w));
    Node conv = make_node("Conv", 3);
    set_int(conv, "group", c.group);
    set_ints(conv, "strides", {c.stride, c.stride});
    set_ints(conv, "dilations", {c.dilation, c.dilation});
    set_ints(conv, "pads", {c.pad, c.pad, c.pad, c.pad});
    Node nhwc = conv;
    nhwc.op_type = "NhwcConv";
    nhwc.domain = kNormrtDomain;
    const Tensor x = random_tensor(c.x), w = random_tensor(c.w), b = random_tensor({c.w[0]});
    const Tensor expected = to_last(run(conv, {&x, &w, &b})[0]);
    const Tensor x_last = to_last(x), w_last = to_last(w);
    const Tensor actual = run(nhwc, {&x_last, &w_last, &b})[0];
    ASSERT_EQ(actual.dims(), expected.dims());
    EXPECT_LE(relative_error(actual, expected), 1e-6);
  }
}

TEST(NhwcConv, RefusesInputsThatAreNotRankFour) {
  Node nhwc = make_node("NhwcConv", 2);
  nhwc.domain = kNormrtDomain;
  const Tensor x = random_tensor({2, 9, 4}), w = random_tensor({3, 3, 4});
  expect_error([&] { run(nhwc, {&x, &w}); }, {"must have rank 4", "NhwcConv is 2-D"});
}

// ai.normrt NhwcMaxPool / NhwcAveragePool against MaxPool / AveragePool on the data permuted back: padding,
// ceil_mode, dilations and count_include_pad included.
TEST(NhwcPool, MatchesPoolOnPermutedData) {
  struct PoolCase {
    const char* op;
    Dims x;
    int64_t kernel, stride, pad, dilation;
    bool ceil_mode, include_pad;
  };
  const PoolCase cases[] = {
      {"MaxPool", {2, 16, 14, 12}, 3, 2, 1, 1, false, false},  // ResNet's stem pool
      {"MaxPool", {1, 3, 9, 10}, 3, 2, 0, 1, true, false},
      {"MaxPool", {3, 5, 11, 9}, 3, 1, 2, 2, false, false},
      {"AveragePool", {2, 8, 7, 9}, 3, 2, 1, 1, false, true},
      {"AveragePool", {2, 8, 7, 9}, 3, 2, 1, 1, true, false},
      {"AveragePool", {1, 4, 8, 8}, 2, 2, 0, 1, false, false},
  };
  for (const PoolCase& c : cases) {
    SCOPED_TRACE(std::string(c.op) + " x " + dims_to_string(c.x));
    Node pool = make_node(c.op, 1);
    set_ints(pool, "kernel_shape", {c.kernel, c.kernel});
    set_ints(pool, "strides", {c.stride, c.stride});
    set_ints(pool, "pads", {c.pad, c.pad, c.pad, c.pad});
    if (c.dilation != 1) set_ints(pool, "dilations", {c.dilation, c.dilation});
    if (c.ceil_mode) set_int(pool, "ceil_mode", 1);
    if (c.include_pad) set_int(pool, "count_include_pad", 1);
    Node nhwc = pool;
    nhwc.op_type = std::string("Nhwc") + c.op;
    nhwc.domain = kNormrtDomain;
    const Tensor x = random_tensor(c.x);
    const Tensor expected = to_last(run(pool, {&x}, 19)[0]);
    const Tensor x_last = to_last(x);
    const Tensor actual = run(nhwc, {&x_last}, 19)[0];
    ASSERT_EQ(actual.dims(), expected.dims());
    EXPECT_LE(relative_error(actual, expected), 1e-6);
  }
}

TEST(NhwcPool, RefusesInputsThatAreNotRankFourAndIndices) {
  Node pool = make_node("NhwcMaxPool", 1);
  pool.domain = kNormrtDomain;
  set_ints(pool, "kernel_shape", {2});
  const Tensor x = random_tensor({2, 9, 4});
  expect_error([&] { run(pool, {&x}); }, {"must have rank 4", "channels-last pooling is 2-D"});
  Node indices = make_node("NhwcMaxPool", 1, 2);
  indices.domain = kNormrtDomain;
  set_ints(indices, "kernel_shape", {2, 2});
  const Tensor x4 = random_tensor({1, 4, 4, 2});
  expect_error([&] { run(indices, {&x4}); }, {"one output Y (no Indices)"});
}

TEST(GroupNormChannelsLast, MatchesChannelsFirstWithActivationAndResidual) {
  for (const Dims& dims : {Dims{2, 8, 5, 3}, Dims{3, 12, 7, 1}, Dims{1, 6, 4, 4, 2}}) {
    SCOPED_TRACE(dims_to_string(dims));
    Node gn = make_node("GroupNorm", 4);
    gn.domain = kNormrtDomain;
    set_int(gn, "num_groups", 2);
    set_string(gn, "activation", "Silu");
    const Tensor x = random_tensor(dims), scale = random_tensor({dims[1]}), bias = random_tensor({dims[1]});
    const Tensor residual = random_tensor(dims);
    const Tensor expected = to_last(run(gn, {&x, &scale, &bias, &residual})[0]);
    set_int(gn, "channels_last", 1);
    const Tensor x_last = to_last(x), residual_last = to_last(residual);
    const Tensor actual = run(gn, {&x_last, &scale, &bias, &residual_last})[0];
    ASSERT_EQ(actual.dims(), expected.dims());
    EXPECT_LE(relative_error(actual, expected), 1e-6);
  }
}

TEST(GroupNormChannelsLast, RefusesAnAttributeOtherThanZeroOrOne) {
  Node gn = make_node("GroupNorm", 1);
  gn.domain = kNormrtDomain;
  set_int(gn, "num_groups", 2);
  set_int(gn, "channels_last", 2);
  const Tensor x = random_tensor({1, 4, 3, 3});
  expect_error([&] { run(gn, {&x}); }, {"channels_last is 2", "expected 0 or 1"});
}

// A graph in the shape of a diffusion ResBlock: conv -> GroupNorm+SiLU -> + per-channel constant -> * scalar ->
// + time embedding [N, C, 1, 1] -> conv -> concat with the block input's conv -> nearest 2x Resize -> output,
// plus a skip branch that ends in a channels-first-only op (Reshape).
class LayoutGraph {
 public:
  LayoutGraph() {
    g.name = "layout";
    g.opsets[""] = 17;
    g.opsets[kNormrtDomain] = 1;
    g.inputs.push_back(ValueInfo{"x", DataType::kFloat32, Shape::from_dims({2, 4, 6, 5})});
    g.inputs.push_back(ValueInfo{"temb", DataType::kFloat32, Shape::from_dims({2, 8, 1, 1})});
    g.initializers["w1"] = random_tensor({8, 4, 3, 3});
    g.initializers["b1"] = random_tensor({8});
    g.initializers["w2"] = random_tensor({8, 8, 3, 3});
    g.initializers["w3"] = random_tensor({4, 4, 1, 1});
    g.initializers["gamma"] = random_tensor({8});
    g.initializers["beta"] = random_tensor({8});
    g.initializers["shift"] = random_tensor({8, 1, 1});
    g.initializers["half"] = float_tensor({0.5f}, {});
    g.initializers["scales"] = float_tensor({1, 1, 2, 2}, {4});
    g.initializers["flat"] = int64_tensor({2, -1}, {2});
    conv("conv1", "x", "w1", "b1", "c1", 1);
    Node gn = make_node("GroupNorm", 3);
    gn.domain = kNormrtDomain;
    gn.name = "gn";
    gn.inputs = {"c1", "gamma", "beta"};
    gn.outputs = {"n1"};
    set_int(gn, "num_groups", 4);
    set_string(gn, "activation", "Silu");
    g.nodes.push_back(gn);
    binary("Add", "n1", "shift", "a1");
    binary("Mul", "a1", "half", "m1");
    binary("Add", "m1", "temb", "t1");
    conv("conv2", "t1", "w2", "", "c2", 1);
    conv("skip", "x", "w3", "", "s1", 0);
    Node cat = make_node("Concat", 2);
    cat.inputs = {"c2", "s1"};
    cat.outputs = {"cat"};
    set_int(cat, "axis", 1);
    g.nodes.push_back(cat);
    Node resize = make_node("Resize", 3);
    resize.inputs = {"cat", "", "scales"};
    resize.outputs = {"y"};
    set_string(resize, "mode", "nearest");
    g.nodes.push_back(resize);
    Node reshape = make_node("Reshape", 2);
    reshape.inputs = {"s1", "flat"};
    reshape.outputs = {"skip_flat"};
    g.nodes.push_back(reshape);
    g.outputs.push_back(ValueInfo{"y", DataType::kUndefined, Shape()});
    g.outputs.push_back(ValueInfo{"skip_flat", DataType::kUndefined, Shape()});
  }

  void conv(const std::string& name, const std::string& x, const std::string& w, const std::string& b,
            const std::string& y, int64_t pad) {
    Node n = make_node("Conv", b.empty() ? 2 : 3);
    n.name = name;
    n.inputs = b.empty() ? std::vector<std::string>{x, w} : std::vector<std::string>{x, w, b};
    n.outputs = {y};
    set_ints(n, "pads", {pad, pad, pad, pad});
    g.nodes.push_back(n);
  }
  void binary(const std::string& op, const std::string& a, const std::string& b, const std::string& y) {
    Node n = make_node(op, 2);
    n.name = op + "_" + y;
    n.inputs = {a, b};
    n.outputs = {y};
    g.nodes.push_back(n);
  }

  Graph g;
};

int count(const Graph& g, const std::string& op_type) {
  return static_cast<int>(std::count_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return n.op_type == op_type; }));
}

std::vector<std::pair<std::string, Tensor>> run_engine(const Graph& g, const std::string& layout,
                                                       const std::map<std::string, Tensor>& inputs,
                                                       std::shared_ptr<Engine>* built = nullptr) {
  BuildOptions options;
  options.layout = layout;
  auto engine = build_engine(g, options);
  if (built) *built = engine;
  ExecutionContext context(engine);
  return context.run(inputs);
}

TEST(ChannelsLastLayout, ComputesWhatTheChannelsFirstGraphDoesWithTransposesOnlyAtTheBorders) {
  LayoutGraph model;
  const std::map<std::string, Tensor> inputs{{"x", random_tensor({2, 4, 6, 5})}, {"temb", random_tensor({2, 8, 1, 1})}};
  const auto expected = run_engine(model.g, "nchw", inputs);
  std::shared_ptr<Engine> engine;
  const auto actual = run_engine(model.g, "nhwc", inputs, &engine);
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_EQ(actual[i].first, expected[i].first) << "outputs keep their names and order";
    ASSERT_EQ(actual[i].second.dims(), expected[i].second.dims());
    EXPECT_LE(relative_error(actual[i].second, expected[i].second), 1e-5) << actual[i].first;
  }
  const Graph& g = engine->graph;
  EXPECT_EQ(count(g, "NhwcConv"), 3);
  EXPECT_EQ(count(g, "Conv"), 0);
  for (const Node& n : g.nodes) {
    if (n.op_type == "GroupNorm") {
      EXPECT_EQ(n.attr_int("channels_last", 0), 1);
    }
  }
  // In: x (temb [N, C, 1, 1] only moves axes of size 1: a Reshape, a view). Out: y after the Resize, and s1
  // before the model's own Reshape.
  EXPECT_EQ(count(g, "Transpose"), 3);
  EXPECT_EQ(count(g, "Reshape"), 2);
}

TEST(ChannelsLastLayout, LeavesConvolutionsItCannotMoveAndSaysWhy) {
  LayoutGraph model;
  model.g.nodes[0].attributes["pads"] = ints_attribute({0, 0, 2, 2});  // conv1: asymmetric, same extent
  model.g.inputs.push_back(ValueInfo{"w2_input", DataType::kFloat32, Shape::from_dims({8, 8, 3, 3})});
  for (Node& n : model.g.nodes)
    if (n.name == "conv2") n.inputs[1] = "w2_input";  // W not a constant
  const std::map<std::string, Tensor> inputs{{"x", random_tensor({2, 4, 6, 5})},
                                             {"temb", random_tensor({2, 8, 1, 1})},
                                             {"w2_input", random_tensor({8, 8, 3, 3})}};
  const auto expected = run_engine(model.g, "nchw", inputs);
  std::shared_ptr<Engine> engine;
  const auto actual = run_engine(model.g, "nhwc", inputs, &engine);
  for (size_t i = 0; i < actual.size(); ++i)
    EXPECT_LE(relative_error(actual[i].second, expected[i].second), 1e-5) << actual[i].first;
  EXPECT_EQ(count(engine->graph, "Conv"), 2);
  EXPECT_EQ(count(engine->graph, "NhwcConv"), 1);
  std::string refusals;
  for (const PassRecord& r : engine->build_report.records)
    if (r.pass == "channels_last_layout" && !r.applied) refusals += r.description + "\n";
  EXPECT_NE(refusals.find("'conv1' (Conv) stays channels-first: asymmetric padding"), std::string::npos) << refusals;
  EXPECT_NE(refusals.find("'conv2' (Conv) stays channels-first: W is not a rank-4 constant"), std::string::npos)
      << refusals;
}

TEST(ChannelsLastLayout, AnUnknownLayoutNamesTheChoices) {
  LayoutGraph model;
  BuildOptions options;
  options.layout = "nwhc";
  expect_error([&] { build_engine(model.g, options); }, {"layout 'nwhc' is unknown", "auto", "nchw", "nhwc"});
}

TEST(ChannelsLastLayout, AutoKeepsChannelsFirstOnTheCpu) {
  LayoutGraph model;
  BuildOptions options;
  EXPECT_EQ(resolve_layout(options), "nchw");
  auto engine = build_engine(model.g, options);
  EXPECT_EQ(count(engine->graph, "NhwcConv"), 0);
  EXPECT_EQ(count(engine->graph, "Transpose"), 0);
}


// An attention block's borders as PyTorch exports them with a dynamic batch: proj_in conv -> x.flatten(2)
// (Reshape to Concat(Slice(Shape(x), 0, 2), [-1])) -> transpose(1, 2) -> tokens (a MatMul here) ->
// transpose(1, 2) -> view(b, c, h, w) (Shape -> Gather -> Unsqueeze -> Concat) -> proj_out conv.
// `merge_channels` flattens [N, C*H, W] instead: a reshape that is no token flattening, which must stay.
Graph attention_borders(bool merge_channels) {
  PatternGraph p(17);
  p.graph.name = "attention_borders";
  p.input("x", {Dim::unknown("batch"), 4, 6, 5});
  p.constant("w_in", random_tensor({4, 4, 1, 1})).constant("w_out", random_tensor({4, 4, 3, 3}));
  p.constant("mix", random_tensor(merge_channels ? Dims{24, 24} : Dims{4, 4}));
  p.constant("zero", int64_tensor({0}, {1})).constant("two", int64_tensor({2}, {1}));
  p.constant("minus1", int64_tensor({-1}, {1})).constant("five", int64_tensor({5}, {1}));
  p.constant("i0", int64_tensor({0})).constant("axes0", int64_tensor({0}, {1}));
  p.constant("chw", int64_tensor({4, 6, 5}, {3}));
  p.add("Conv", {"x", "w_in"}, "c_in");
  p.add("Shape", {"c_in"}, "shape");
  p.add("Gather", {"shape", "i0"}, "b");
  p.add("Unsqueeze", {"b", "axes0"}, "b1");
  if (merge_channels) {  // [N, -1, 5]
    p.add("Concat", {"b1", "minus1", "five"}, "flat").attributes["axis"] = int_attribute(0);
  } else {  // x.flatten(2)
    p.add("Slice", {"shape", "zero", "two"}, "lead");
    p.add("Concat", {"lead", "minus1"}, "flat").attributes["axis"] = int_attribute(0);
  }
  p.add("Reshape", {"c_in", "flat"}, "flat_x");
  p.add("Transpose", {"flat_x"}, "tokens").attributes["perm"] = ints_attribute({0, 2, 1});
  p.add("MatMul", {"tokens", "mix"}, "mixed");
  p.add("Transpose", {"mixed"}, "back").attributes["perm"] = ints_attribute({0, 2, 1});
  p.add("Concat", {"b1", "chw"}, "view").attributes["axis"] = int_attribute(0);
  p.add("Reshape", {"back", "view"}, "map");
  p.add("Conv", {"map", "w_out"}, "y").attributes["pads"] = ints_attribute({1, 1, 1, 1});
  p.output("y");
  return p.graph;
}

// The graph built channels-first and channels-last with one profile; engines by layout.
std::map<std::string, std::shared_ptr<Engine>> build_both_layouts(const Graph& g, const Profile& profile) {
  std::map<std::string, std::shared_ptr<Engine>> engines;
  for (const std::string layout : {"nchw", "nhwc"}) {
    BuildOptions options;
    options.layout = layout;
    options.profiles.push_back(profile);
    engines[layout] = build_engine(g, options);
  }
  return engines;
}

TEST(ChannelsLastLayout, TokenReshapesAroundAttentionNeedNoTransposes) {
  for (bool merge_channels : {false, true}) {
    SCOPED_TRACE(merge_channels ? "[N, C*H, W]: no token flattening" : "token flattening");
    const Graph g = attention_borders(merge_channels);
    auto engines = build_both_layouts(g, Profile{{{"x", ShapeRange{{1, 4, 6, 5}, {2, 4, 6, 5}, {3, 4, 6, 5}}}}});
    for (int64_t batch : {1, 3}) {
      const std::map<std::string, Tensor> inputs{{"x", random_tensor({batch, 4, 6, 5})}};
      const auto expected = ExecutionContext(engines["nchw"]).run(inputs);
      const auto actual = ExecutionContext(engines["nhwc"]).run(inputs);
      ASSERT_EQ(actual[0].second.dims(), expected[0].second.dims());
      EXPECT_LE(relative_error(actual[0].second, expected[0].second), 1e-5) << "batch " << batch;
    }
    std::string summary;
    for (const PassRecord& r : engines["nhwc"]->build_report.records)
      if (r.pass == "channels_last_layout" && r.applied) summary += r.description;
    if (!merge_channels) {
      // Only the borders: x to NHWC and y back.
      EXPECT_EQ(count(engines["nhwc"]->graph, "Transpose"), 2) << summary;
      EXPECT_NE(summary.find("2 token reshapes without transposes"), std::string::npos) << summary;
    } else {
      EXPECT_NE(summary.find("0 token reshapes without transposes"), std::string::npos) << summary;
      EXPECT_GT(count(engines["nhwc"]->graph, "Transpose"), 2) << summary;
    }
  }
}

// Style transfer's reflection pads and crops between convolutions: Pad (pads constant, or opset 18's axes) and
// Slice (axes given, negative, or absent) run on the NHWC value, so only the graph's borders transpose. A Pad
// whose pads are a graph input stays channels-first (two Transposes around it).
Graph pads_and_slices(bool pads_from_input) {
  PatternGraph p(18);
  p.graph.name = "pads_and_slices";
  p.input("x", {Dim::unknown("batch"), 3, 12, 10});
  if (pads_from_input) p.input("pads_in", {8}, DataType::kInt64);
  p.constant("w1", random_tensor({6, 3, 3, 3})).constant("w2", random_tensor({6, 6, 3, 3}));
  p.constant("w3", random_tensor({4, 6, 1, 1}));
  p.constant("reflect_pads", int64_tensor({0, 0, 2, 1, 0, 0, 2, 1}, {8}));
  p.constant("hw_pads", int64_tensor({1, 2, 0, 3}, {4})).constant("neg_hw", int64_tensor({-2, -1}, {2}));
  p.constant("fill", float_tensor({0.25f}, {}));
  p.constant("starts", int64_tensor({1, 0}, {2})).constant("ends", int64_tensor({-1, 100}, {2}));
  p.constant("axes_hw", int64_tensor({2, -1}, {2})).constant("steps", int64_tensor({1, 2}, {2}));
  p.constant("starts4", int64_tensor({0, 1, 0, 1}, {4})).constant("ends4", int64_tensor({100, 5, 100, -1}, {4}));
  p.add("Conv", {"x", "w1"}, "c1");
  p.add("Pad", {"c1", pads_from_input ? "pads_in" : "reflect_pads"}, "p1").attributes["mode"] =
      string_attribute("reflect");
  p.add("Conv", {"p1", "w2"}, "c2");
  p.add("Slice", {"c2", "starts", "ends", "axes_hw", "steps"}, "s1");
  p.add("Conv", {"s1", "w3"}, "c3");
  p.add("Pad", {"c3", "hw_pads", "fill", "neg_hw"}, "p2");  // constant 0.25 on H and W through axes
  p.add("Slice", {"p2", "starts4", "ends4"}, "y");            // no axes: 0, 1, 2, 3
  p.output("y");
  return p.graph;
}

// ResNet's stem: conv -> GroupNorm+ReLU -> pool -> conv. The pool runs channels-last between them, so the only
// layout Transposes left are the input's and the output's (a channels-first pool needs two more around it). A
// MaxPool whose Indices the graph reads stays channels-first (NhwcMaxPool has no Indices).
Graph stem(const std::string& pool_op, bool indices) {
  PatternGraph p(17);
  p.graph.name = "stem";
  p.input("x", {Dim::unknown("batch"), 3, 16, 16});
  p.constant("w1", random_tensor({8, 3, 3, 3})).constant("w2", random_tensor({8, 8, 3, 3}));
  p.constant("gamma", random_tensor({8})).constant("beta", random_tensor({8}));
  Node& conv1 = p.add("Conv", {"x", "w1"}, "c1");
  conv1.attributes["pads"] = ints_attribute({1, 1, 1, 1});
  conv1.attributes["strides"] = ints_attribute({2, 2});
  Node& gn = p.add("GroupNorm", {"c1", "gamma", "beta"}, "n1");
  gn.domain = kNormrtDomain;
  gn.attributes["num_groups"] = int_attribute(4);
  gn.attributes["activation"] = string_attribute("Relu");
  p.graph.opsets[kNormrtDomain] = 1;
  Node& pool = p.add(pool_op, {"n1"}, "pooled");
  pool.attributes["kernel_shape"] = ints_attribute({3, 3});
  pool.attributes["strides"] = ints_attribute({2, 2});
  pool.attributes["pads"] = ints_attribute({1, 1, 1, 1});
  if (pool_op == "AveragePool") pool.attributes["count_include_pad"] = int_attribute(1);
  if (indices) pool.outputs.push_back("where");
  p.add("Conv", {"pooled", "w2"}, "y").attributes["pads"] = ints_attribute({1, 1, 1, 1});
  p.output("y");
  if (indices) p.output("where");
  return p.graph;
}

TEST(ChannelsLastLayout, TheStemPoolRunsChannelsLast) {
  struct Form {
    const char* op;
    bool indices;
    const char* nhwc_op;
    int transposes;
  };
  for (const Form& f : {Form{"MaxPool", false, "NhwcMaxPool", 2}, Form{"AveragePool", false, "NhwcAveragePool", 2},
                        Form{"MaxPool", true, "", 4}}) {
    SCOPED_TRACE(std::string(f.op) + (f.indices ? " with Indices" : ""));
    const ShapeRange range{{1, 3, 16, 16}, {2, 3, 16, 16}, {2, 3, 16, 16}};
    auto engines = build_both_layouts(stem(f.op, f.indices), Profile{{{"x", range}}});
    const std::map<std::string, Tensor> inputs{{"x", random_tensor({2, 3, 16, 16})}};
    const auto expected = ExecutionContext(engines["nchw"]).run(inputs);
    const auto actual = ExecutionContext(engines["nhwc"]).run(inputs);
    ASSERT_EQ(actual.size(), expected.size());
    for (size_t i = 0; i < actual.size(); ++i) {
      ASSERT_EQ(actual[i].second.dims(), expected[i].second.dims()) << actual[i].first;
      EXPECT_LE(relative_error(actual[i].second, expected[i].second), 1e-5) << actual[i].first;
    }
    const Graph& g = engines["nhwc"]->graph;
    EXPECT_EQ(count(g, f.op), f.indices ? 1 : 0);
    if (!f.indices) {
      EXPECT_EQ(count(g, f.nhwc_op), 1);
    }
    EXPECT_EQ(count(g, "Transpose"), f.transposes);
  }
}

TEST(ChannelsLastLayout, PadsAndSlicesRunChannelsLast) {
  for (bool pads_from_input : {false, true}) {
    SCOPED_TRACE(pads_from_input ? "pads from a graph input" : "constant pads");
    const Graph g = pads_and_slices(pads_from_input);
    Profile profile{{{"x", ShapeRange{{1, 3, 12, 10}, {2, 3, 12, 10}, {2, 3, 12, 10}}}}};
    if (pads_from_input) profile.inputs["pads_in"] = ShapeRange{{8}, {8}, {8}};
    auto engines = build_both_layouts(g, profile);
    std::map<std::string, Tensor> inputs{{"x", random_tensor({2, 3, 12, 10})}};
    if (pads_from_input) inputs["pads_in"] = int64_tensor({0, 0, 1, 2, 0, 0, 1, 0}, {8});
    const auto expected = ExecutionContext(engines["nchw"]).run(inputs);
    const auto actual = ExecutionContext(engines["nhwc"]).run(inputs);
    ASSERT_EQ(actual[0].second.dims(), expected[0].second.dims());
    EXPECT_LE(relative_error(actual[0].second, expected[0].second), 1e-5);
    EXPECT_EQ(count(engines["nhwc"]->graph, "Transpose"), pads_from_input ? 4 : 2);
  }
}

// After --fp16 a graph output is Cast(to float32) of a float16 value. The layout Transpose stays above a widening
// Cast that writes a graph output (it moves the narrower elements there); a narrowing Cast takes it below.
TEST(ChannelsLastLayout, TheOutputTransposeStaysOnTheNarrowerSideOfACast) {
  for (bool widening : {true, false}) {
    SCOPED_TRACE(widening ? "float32 -> float64" : "float32 -> float16");
    PatternGraph p(17);
    p.graph.name = "cast_at_output";
    p.input("x", {2, 3, 6, 5});
    p.constant("w", random_tensor({4, 3, 3, 3}));
    p.add("Conv", {"x", "w"}, "c").attributes["pads"] = ints_attribute({1, 1, 1, 1});
    p.add("Cast", {"c"}, "y").attributes["to"] =
        int_attribute(static_cast<int64_t>(widening ? DataType::kFloat64 : DataType::kFloat16));
    p.output("y");
    auto engines = build_both_layouts(p.graph, Profile{{{"x", ShapeRange{{2, 3, 6, 5}, {2, 3, 6, 5}, {2, 3, 6, 5}}}}});
    const std::map<std::string, Tensor> inputs{{"x", random_tensor({2, 3, 6, 5})}};
    const auto expected = ExecutionContext(engines["nchw"]).run(inputs);
    const auto actual = ExecutionContext(engines["nhwc"]).run(inputs);
    ASSERT_EQ(actual[0].second.dims(), expected[0].second.dims());
    EXPECT_EQ(actual[0].second.dtype(), expected[0].second.dtype());
    // Float16 rounding of slightly different float32 sums may differ by one float16 step.
    EXPECT_LE(relative_error(actual[0].second, expected[0].second), widening ? 1e-6 : 1e-3);
    const Graph& g = engines["nhwc"]->graph;
    for (const Node& n : g.nodes) {
      if (n.op_type != "Cast") continue;
      const bool reads_transpose = std::any_of(g.nodes.begin(), g.nodes.end(), [&](const Node& t) {
        return t.op_type == "Transpose" && t.outputs[0] == n.inputs[0];
      });
      EXPECT_EQ(reads_transpose, widening) << n.describe();
    }
  }
}

}  // namespace
}  // namespace normrt::test
