// Configurations tuned at several corners of a profile: joined into the one string an engine stores, and taken
// back per plan by input 0's element count (nearest in ratio); plain strings pass through; malformed ones read
// as "" (the kernel's safe default), never a crash. No GPU needed.
#include <gtest/gtest.h>

#include "cuda/cuda_kernel.h"

namespace normrt {
namespace cuda {
namespace {

TEST(TunedConfigs, OneChoiceStaysAPlainString) {
  EXPECT_EQ(join_tuned_configs({}), "");
  EXPECT_EQ(join_tuned_configs({{800, "algo=1;math=0"}, {100, "algo=1;math=0"}}), "algo=1;math=0");
  EXPECT_EQ(tuned_config_for("algo=1;math=0", 12345), "algo=1;math=0");
  EXPECT_EQ(tuned_config_for("", 12345), "");
}

TEST(TunedConfigs, EachShapeTakesTheNearestCorner) {
  // opt (batch 8) first, then min (batch 1) and max (batch 32), as the builder tunes them.
  const std::string joined =
      join_tuned_configs({{8000, "engine=7;rank=0"}, {1000, "algo=1;math=1"}, {32000, "engine=9;rank=2"}});
  EXPECT_EQ(joined, "@8000:engine=7;rank=0|@1000:algo=1;math=1|@32000:engine=9;rank=2");
  EXPECT_EQ(tuned_config_for(joined, 1000), "algo=1;math=1");
  EXPECT_EQ(tuned_config_for(joined, 2000), "algo=1;math=1");   // batch 2: nearer 1 than 8 in ratio
  EXPECT_EQ(tuned_config_for(joined, 4000), "engine=7;rank=0");  // batch 4: nearer 8 than 1
  EXPECT_EQ(tuned_config_for(joined, 8000), "engine=7;rank=0");
  EXPECT_EQ(tuned_config_for(joined, 24000), "engine=9;rank=2");
  EXPECT_EQ(tuned_config_for(joined, 0), "algo=1;math=1");  // an empty input: the smallest corner
  // Two corners at one count (a dynamic dim elsewhere): the first is kept.
  EXPECT_EQ(join_tuned_configs({{8000, "algo=1"}, {8000, "algo=2"}, {100, "algo=3"}}), "@8000:algo=1|@100:algo=3");
  // A corner whose tune() chose nothing keeps its "" (cuDNN's heuristics at run time).
  EXPECT_EQ(tuned_config_for(join_tuned_configs({{8000, "algo=1"}, {100, ""}}), 100), "");
}

TEST(TunedConfigs, MalformedStringsReadAsNoConfiguration) {
  for (const char* bad : {"@", "@:", "@x:algo=1", "@12", "@-5:algo=1", "@0:algo=1", "@8000:algo=1|junk",
                          "@8000:algo=1|", "@99999999999999999999999:algo=1", "@1e3:algo=1"})
    EXPECT_EQ(tuned_config_for(bad, 8000), "") << bad;
}

// The key under which a build tunes a problem once: the same convolution with other weights shares it; any
// difference in kernel, attributes, shapes, dtypes, TF32, the compared configuration or an integer constant
// does not.
TEST(TuningProblemKey, NodesThatDifferOnlyInTheirWeightsShareAKey) {
  auto conv = [](const std::string& name, int64_t group) {
    Node n;
    n.name = name;
    n.op_type = "NhwcConv";
    n.domain = "ai.normrt";
    n.inputs = {"x_" + name, "w_" + name, "b_" + name};
    n.outputs = {"y_" + name};
    n.attributes["pads"].type = AttributeType::kInts;
    n.attributes["pads"].ints = {1, 1, 1, 1};
    n.attributes["group"].type = AttributeType::kInt;
    n.attributes["group"].i = group;
    n.attributes["alpha"].type = AttributeType::kFloat;
    n.attributes["alpha"].f = 0.5f;
    return n;
  };
  Tensor w1(DataType::kFloat16, {320, 3, 3, 320}), w2(DataType::kFloat16, {320, 3, 3, 320});
  static_cast<uint16_t*>(w2.raw())[7] = 0x3c00;  // other weights
  Tensor b(DataType::kFloat32, {320});
  auto inputs = [&](const Tensor& w, Dims x_dims) {
    std::vector<DeviceValue> v(3);
    v[0].dtype = DataType::kFloat16;
    v[0].dims = std::move(x_dims);
    v[1].dtype = w.dtype();
    v[1].dims = w.dims();
    v[1].host = &w;
    v[2].dtype = b.dtype();
    v[2].dims = b.dims();
    v[2].host = &b;
    return v;
  };
  const Dims x = {8, 32, 32, 320};
  std::vector<DeviceValue> out(1);
  out[0].dtype = DataType::kFloat16;
  out[0].dims = x;
  const std::string a = tuning_problem_key("cudnn_nhwc_conv", conv("a", 1), 1, false, "", inputs(w1, x), out);
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(tuning_problem_key("cudnn_nhwc_conv", conv("b", 1), 1, false, "", inputs(w2, x), out), a);

  EXPECT_NE(tuning_problem_key("other_kernel", conv("b", 1), 1, false, "", inputs(w2, x), out), a);
  EXPECT_NE(tuning_problem_key("cudnn_nhwc_conv", conv("b", 2), 1, false, "", inputs(w2, x), out), a);
  EXPECT_NE(tuning_problem_key("cudnn_nhwc_conv", conv("b", 1), 1, true, "", inputs(w2, x), out), a);
  EXPECT_NE(tuning_problem_key("cudnn_nhwc_conv", conv("b", 1), 1, false, "engine=3;rank=0", inputs(w2, x), out), a);
  EXPECT_NE(tuning_problem_key("cudnn_nhwc_conv", conv("b", 1), 1, false, "", inputs(w2, {1, 32, 32, 320}), out), a);
  Node bigger_alpha = conv("b", 1);
  bigger_alpha.attributes["alpha"].f = 0.25f;
  EXPECT_NE(tuning_problem_key("cudnn_nhwc_conv", bigger_alpha, 1, false, "", inputs(w2, x), out), a);
  std::vector<DeviceValue> fp32_weights = inputs(w2, x);
  fp32_weights[1].dtype = DataType::kFloat32;
  EXPECT_NE(tuning_problem_key("cudnn_nhwc_conv", conv("b", 1), 1, false, "", fp32_weights, out), a);
  std::vector<DeviceValue> no_bias = inputs(w2, x);
  no_bias[2] = DeviceValue{};
  EXPECT_NE(tuning_problem_key("cudnn_nhwc_conv", conv("b", 1), 1, false, "", no_bias, out), a);

  std::vector<DeviceValue> fp32_out = out;
  fp32_out[0].dtype = DataType::kFloat32;
  EXPECT_NE(tuning_problem_key("cudnn_nhwc_conv", conv("b", 1), 1, false, "", inputs(w2, x), fp32_out), a);

  // Integer constants count by value (a Reshape-like shape input), floating-point ones by shape.
  Tensor shape1(DataType::kInt64, {2}), shape2(DataType::kInt64, {2});
  static_cast<int64_t*>(shape2.raw())[1] = 5;
  std::vector<DeviceValue> s1 = inputs(w1, x), s2 = inputs(w1, x);
  s1.push_back(DeviceValue{DataType::kInt64, {2}, nullptr, &shape1});
  s2.push_back(DeviceValue{DataType::kInt64, {2}, nullptr, &shape2});
  EXPECT_NE(tuning_problem_key("cudnn_nhwc_conv", conv("a", 1), 1, false, "", s1, out),
            tuning_problem_key("cudnn_nhwc_conv", conv("a", 1), 1, false, "", s2, out));

  // A graph attribute cannot be keyed: such a node is tuned on its own.
  Node with_graph = conv("c", 1);
  with_graph.attributes["body"].type = AttributeType::kGraph;
  EXPECT_EQ(tuning_problem_key("cudnn_nhwc_conv", with_graph, 1, false, "", inputs(w1, x), out), "");
}

}  // namespace
}  // namespace cuda
}  // namespace normrt
