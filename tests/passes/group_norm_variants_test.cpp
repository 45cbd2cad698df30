// GroupNorm forms beyond the TorchScript export that group_norm_fusion_test covers: Casts in the chain (fp16 models
// normalizing in float32), Shape read through a Cast, the torch.export/dynamo form at opset 18 before its optimizer
// folds it, GroupNormalization-18/-21 in both fusion targets, and near misses. Every rewrite is run against the
// original on the reference kernels.
#include "passes/pattern_graph.h"

namespace normrt::test {
namespace {

Tensor converted(const Tensor &t, DataType dtype) {
  Tensor out(dtype, t.dims());
  for (int64_t i = 0; i < t.numel(); ++i) set_element_from_double(out, i, element_as_double(t, i));
  return out;
}

Node &cast(PatternGraph &b, const std::string &in, const std::string &out, DataType to) {
  Node &n = b.add("Cast", {in}, out);
  set_int(n, "to", static_cast<int64_t>(to));
  return n;
}

// x [batch, 4, 3, 5] of `x_type`; Reshape -> Cast(float32) -> InstanceNormalization -> Cast(back) -> Reshape(Shape(x))
// -> Mul -> Add, the affine in x's type.
Graph cast_chain_graph(DataType x_type, DataType inner_type) {
  PatternGraph b(17);
  b.input("x", {Dim::unknown("batch"), Dim(4), Dim(3), Dim(5)}, x_type);
  b.constant("s1", int64_tensor({0, 2, -1}));
  b.constant("ones", converted(float_tensor({1, 1}, {2}), inner_type));
  b.constant("zeros", converted(float_tensor({0, 0}, {2}), inner_type));
  b.constant("gamma", converted(random_tensor({4, 1, 1}, 0.5f, 1.5f), x_type));
  b.constant("beta", converted(random_tensor({4, 1, 1}), x_type));
  b.add("Reshape", {"x", "s1"}, "r1");
  cast(b, "r1", "r1c", inner_type);
  b.add("InstanceNormalization", {"r1c", "ones", "zeros"}, "n");
  cast(b, "n", "nc", x_type);
  b.add("Shape", {"x"}, "xs");
  b.add("Reshape", {"nc", "xs"}, "r2");
  b.add("Mul", {"r2", "gamma"}, "m");
  b.add("Add", {"m", "beta"}, "y");
  b.add("Identity", {"y"}, "out");
  b.output("out");
  return b.graph;
}

PassReport fuse(Graph &g) {
  PassReport report;
  fuse_group_norm(g, report);
  g.verify();
  return report;
}

}  // namespace

TEST(GroupNormVariants, Float16ModelNormalizingInFloat32) {
  Graph original = cast_chain_graph(DataType::kFloat16, DataType::kFloat32), g = original;
  PassReport report = fuse(g);
  ASSERT_EQ(count_ops(g, "GroupNorm", kNormrtDomain), 1) << describe_report(report);
  EXPECT_EQ(count_ops(g, "Cast") + count_ops(g, "Reshape") + count_ops(g, "Mul"), 0) << describe_report(report);
  EXPECT_EQ(g.initializers.at(find_op(g, "GroupNorm")->input(1)).dtype(), DataType::kFloat16);
  Tensor x = converted(random_tensor({2, 4, 3, 5}, -2.0f, 2.0f), DataType::kFloat16);
  expect_same_outputs(original, g, {{"x", x}},
                      2e-3);  // fp16 rounding of the two-step original
}

TEST(GroupNormVariants, ShapeReadThroughACast) {
  // x16 -> Cast(float32) -> GroupNorm pattern whose Reshape back reads Shape(x16), or Shape of another Cast.
  for (bool other_branch : {false, true}) {
    PatternGraph b(13);
    b.input("x16", {Dim::unknown("batch"), Dim(6), Dim(4)}, DataType::kFloat16);
    cast(b, "x16", "x", DataType::kFloat32);
    b.constant("s1", int64_tensor({0, 3, -1}));
    b.constant("ones", float_tensor({1, 1, 1}, {3}));
    b.constant("zeros", float_tensor({0, 0, 0}, {3}));
    b.constant("gamma", random_tensor({6, 1}, 0.5f, 1.5f));
    b.add("Reshape", {"x", "s1"}, "r1");
    b.add("InstanceNormalization", {"r1", "ones", "zeros"}, "n");
    if (other_branch) {
      cast(b, "x16", "x64", DataType::kFloat64);
      b.add("Shape", {"x64"}, "xs");
    } else {
      b.add("Shape", {"x16"}, "xs");
    }
    b.add("Reshape", {"n", "xs"}, "r2");
    b.add("Mul", {"r2", "gamma"}, "out");
    b.output("out");
    Graph original = b.graph, g = b.graph;
    PassReport report = fuse(g);
    ASSERT_EQ(count_ops(g, "GroupNorm"), 1) << describe_report(report);
    EXPECT_EQ(find_op(g, "GroupNorm")->input(0), "x");
    EXPECT_EQ(g.nodes.size(), 2u) << "Cast and GroupNorm";
    Tensor x = converted(random_tensor({2, 6, 4}, -2.0f, 2.0f), DataType::kFloat16);
    expect_same_outputs(original, g, {{"x16", x}}, 1e-5);
  }
}

TEST(GroupNormVariantsNearMiss, CastBelowTheInputPrecision) {
  Graph g = cast_chain_graph(DataType::kFloat32, DataType::kFloat16);
  PassReport report = fuse(g);
  EXPECT_EQ(count_ops(g, "GroupNorm"), 0);
  EXPECT_TRUE(reported(report, "group_norm_fusion", false, {"casts to float16, below the input's float32"}))
      << describe_report(report);
}

TEST(GroupNormVariantsNearMiss, ChainThatChangesTheType) {
  // float16 in, float32 out (no Cast back): the fused node would write another type than the pattern.
  PatternGraph b(17);
  b.input("x", {Dim::unknown("batch"), Dim(4), Dim(3)}, DataType::kFloat16);
  b.constant("s1", int64_tensor({0, 2, -1}));
  b.constant("ones", float_tensor({1, 1}, {2}));
  b.constant("zeros", float_tensor({0, 0}, {2}));
  b.constant("gamma", random_tensor({4, 1}, 0.5f, 1.5f));
  b.add("Reshape", {"x", "s1"}, "r1");
  cast(b, "r1", "r1c", DataType::kFloat32);
  b.add("InstanceNormalization", {"r1c", "ones", "zeros"}, "n");
  b.add("Shape", {"x"}, "xs");
  b.add("Reshape", {"n", "xs"}, "r2");
  b.add("Mul", {"r2", "gamma"}, "out");
  b.output("out");
  PassReport report = fuse(b.graph);
  EXPECT_EQ(count_ops(b.graph, "GroupNorm"), 0);
  EXPECT_TRUE(reported(report, "group_norm_fusion", false, {"turns float16 into float32"})) << describe_report(report);
}

TEST(GroupNormVariants, DynamoExporterFormAtOpset18) {
  // What torch.onnx.export(dynamo=True) writes for aten::native_group_norm (onnxscript's torchlib) before its optimizer
  // folds constants: the group shape through Concat, the InstanceNormalization's scale and bias as Expand(CastLike(1.0
  // | 0.0, x)), the affine through Unsqueeze(weight, Range(1, rank - 1)) and CastLike, and a mean/rstd branch nobody
  // reads.
  PatternGraph b(18);
  b.input("x", {Dim::unknown("batch"), Dim(6), Dim(4), Dim(3)});
  b.constant("weight", random_tensor({6}, 0.5f, 1.5f));
  b.constant("bias", random_tensor({6}));
  b.constant("group", int64_tensor({3}, {}));
  b.constant("neg1", int64_tensor({-1}, {1}));
  b.constant("zero", int64_tensor({0}, {1}));
  b.constant("one_i", int64_tensor({1}, {}));
  b.constant("one_f", float_tensor({1.0f}, {}));
  b.constant("zero_f", float_tensor({0.0f}, {}));
  b.constant("axis2", int64_tensor({2}, {1}));
  b.add("Reshape", {"group", "neg1"}, "group_1d");
  set_int(b.add("Concat", {"zero", "group_1d", "neg1"}, "shape_input"), "axis", 0);
  b.add("Reshape", {"x", "shape_input"}, "r1");
  b.add("CastLike", {"one_f", "x"}, "one_like");
  b.add("Expand", {"one_like", "group_1d"}, "scale_in");
  b.add("CastLike", {"zero_f", "x"}, "zero_like");
  b.add("Expand", {"zero_like", "group_1d"}, "bias_in");
  set_float(b.add("InstanceNormalization", {"r1", "scale_in", "bias_in"}, "n"), "epsilon", 1e-5f);
  b.add("Shape", {"x"}, "x_shape");
  b.add("Reshape", {"n", "x_shape"}, "norm");
  b.add("Size", {"x_shape"}, "rank");
  b.add("Sub", {"rank", "one_i"}, "rank_1");
  b.add("Range", {"one_i", "rank_1", "one_i"}, "axes");
  b.add("Unsqueeze", {"weight", "axes"}, "weight_full");
  b.add("CastLike", {"weight_full", "norm"}, "weight_like");
  b.add("Mul", {"norm", "weight_like"}, "scaled");
  b.add("Unsqueeze", {"bias", "axes"}, "bias_full");
  b.add("CastLike", {"bias_full", "scaled"}, "bias_like");
  b.add("Add", {"scaled", "bias_like"}, "out");
  Node &n = b.add("Shape", {"x"}, "batch");  // the unused mean / rstd branch
  set_int(n, "start", 0);
  set_int(n, "end", 1);
  set_int(b.add("Concat", {"batch", "group_1d", "neg1"}, "stats_shape"), "axis", 0);
  b.add("Reshape", {"x", "stats_shape"}, "grouped");
  b.add("ReduceMean", {"grouped", "axis2"}, "mean");
  b.output("out");
  Graph original = b.graph, g = b.graph;
  PassReport report = fuse(g);
  ASSERT_EQ(count_ops(g, "GroupNorm", kNormrtDomain), 1) << describe_report(report);
  EXPECT_EQ(g.nodes.size(), 1u) << "the dead branch and the constant arithmetic are gone\n" << describe_report(report);
  EXPECT_EQ(find_op(g, "GroupNorm")->attr_int("num_groups"), 3);
  expect_same_outputs(original, g, {{"x", random_tensor({2, 6, 4, 3}, -2.0f, 2.0f)}}, 1e-5);
}

TEST(GroupNormVariants, StandardGroupNormalizationPerTarget) {
  for (int64_t opset : {18, 21}) {
    PatternGraph b(opset);
    b.input("x", {Dim::unknown("batch"), Dim(6), Dim(5)});
    const int64_t params = opset < 21 ? 2 : 6;  // -18: per group; -21: per channel
    b.constant("scale", random_tensor({params}, 0.5f, 1.5f));
    b.constant("bias", random_tensor({params}));
    set_int(b.add("GroupNormalization", {"x", "scale", "bias"}, "y"), "num_groups", 2);
    b.add("Relu", {"y"}, "out");
    b.output("out");
    Graph onnx_target = b.graph, engine_target = b.graph;
    PassReport report;
    fuse_normalizations(onnx_target, report, FusionTarget::kOnnx);
    if (opset < 21) {  // -18 is deprecated and per group: normrt's own op, with the activation
      ASSERT_EQ(count_ops(onnx_target, "GroupNorm", kNormrtDomain), 1) << describe_report(report);
      EXPECT_EQ(find_op(onnx_target, "GroupNorm")->attr_int("affine_per_group", 0), 1);
      EXPECT_EQ(onnx_target.nodes.size(), 1u);
    } else {  // -21 is standard and stays for any runtime to run
      EXPECT_EQ(count_ops(onnx_target, "GroupNormalization", ""), 1) << describe_report(report);
      EXPECT_EQ(count_ops(onnx_target, "Relu"), 1);
    }
    fuse_normalizations(engine_target, report, FusionTarget::kEngine);
    ASSERT_EQ(engine_target.nodes.size(), 1u);
    EXPECT_EQ(engine_target.nodes[0].attr_string("activation", ""), "Relu");
    const auto feeds = std::map<std::string, Tensor>{{"x", random_tensor({2, 6, 5}, -2.0f, 2.0f)}};
    expect_same_outputs(b.graph, onnx_target, feeds, 1e-5);
    expect_same_outputs(b.graph, engine_target, feeds, 1e-5);
  }
}

TEST(GroupNormVariants, GenuineInstanceNormStaysForOnnxAndBecomesGroupNormForTheEngine) {
  PatternGraph b(17);
  b.input("x", {Dim::unknown("batch"), Dim(3), Dim(4), Dim(4)});
  b.constant("scale", random_tensor({3}, 0.5f, 1.5f));
  b.constant("bias", random_tensor({3}));
  b.add("InstanceNormalization", {"x", "scale", "bias"}, "y");
  b.add("Relu", {"y"}, "out");
  b.output("out");
  Graph onnx_target = b.graph, engine_target = b.graph;
  PassReport report;
  fuse_normalizations(onnx_target, report, FusionTarget::kOnnx);
  EXPECT_EQ(count_ops(onnx_target, "InstanceNormalization"), 1);
  EXPECT_EQ(count_ops(onnx_target, "Relu"), 1);
  EXPECT_TRUE(report.records.empty()) << "a genuine InstanceNorm is no refused candidate: " << describe_report(report);
  fuse_normalizations(engine_target, report, FusionTarget::kEngine);
  ASSERT_EQ(engine_target.nodes.size(), 1u);
  EXPECT_EQ(engine_target.nodes[0].attr_int("num_groups"), 3);
}

TEST(GroupNormVariantsNearMiss, InstanceNormScaleNotConstant) {
  Graph g = cast_chain_graph(DataType::kFloat32, DataType::kFloat32);
  g.initializers.erase("ones");
  g.inputs.push_back(ValueInfo{"ones", DataType::kFloat32, Shape::from_dims({2})});
  PassReport report = fuse(g);
  EXPECT_EQ(count_ops(g, "GroupNorm"), 0);
  EXPECT_TRUE(reported(report, "group_norm_fusion", false, {"not constants of length G = 2"}))
      << describe_report(report);
}

TEST(GroupNormVariantsNearMiss, RestoredValueWithASecondConsumerKeepsTheAffine) {
  // r2 is read by the Mul and by a second node: the normalization fuses, the affine cannot.
  Graph original = cast_chain_graph(DataType::kFloat32, DataType::kFloat32);
  PatternGraph b(17);
  b.graph = original;
  b.add("Relu", {"r2"}, "side");
  b.output("side");
  Graph g = b.graph;
  PassReport report = fuse(g);
  ASSERT_EQ(count_ops(g, "GroupNorm"), 1) << describe_report(report);
  EXPECT_EQ(count_ops(g, "Mul"), 1);
  EXPECT_EQ(count_ops(g, "Add"), 1);
  expect_same_outputs(b.graph, g, {{"x", random_tensor({2, 4, 3, 5})}}, 1e-5);
}

}  // namespace normrt::test
