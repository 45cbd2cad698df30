// Conv, ConvTranspose and pooling with attribute values and extents no tensor can have: the shape functions must
// refuse them with a kShapeError naming the attribute, not compute with int64 arithmetic that overflows (undefined
// behaviour, and a wrapped output shape). Found by fuzz/engine_resealed_fuzzer (dilations of 9e18).
#include "test_util.h"

namespace normrt::test {
namespace {

constexpr int64_t kHuge = int64_t{1} << 62;

std::vector<TypeShape> infer(const Node& node, const std::vector<Shape>& shapes, int64_t opset = 17) {
  InferContext ctx(node, opset);
  for (const Shape& s : shapes) ctx.inputs.push_back(TypeShape{DataType::kFloat32, s});
  ctx.values.resize(shapes.size(), nullptr);
  find_schema(node)->infer(ctx);
  return ctx.outputs;
}

Node window_node(const std::string& op, size_t inputs) {
  Node n = make_node(op, inputs);
  if (op != "Conv" && op != "ConvTranspose") set_ints(n, "kernel_shape", {3, 3});
  return n;
}

void expect_refused(const Node& node, const std::vector<Shape>& shapes, const std::string& part) {
  expect_error([&] { infer(node, shapes); }, {node.describe(), part});
}

const Shape kX = Shape::from_dims({1, 2, 8, 8});
const Shape kW = Shape::from_dims({2, 2, 3, 3});

}  // namespace

TEST(WindowGeometry, HugeAttributeValuesAreRefused) {
  for (const std::string op : {"Conv", "ConvTranspose", "MaxPool", "AveragePool"}) {
    const bool conv = op == "Conv" || op == "ConvTranspose";
    const std::vector<Shape> shapes = conv ? std::vector<Shape>{kX, kW} : std::vector<Shape>{kX};
    for (const std::string attribute : {"strides", "dilations", "pads"}) {
      if (attribute == "dilations" && op == "AveragePool") continue;  // opset 19
      Node node = window_node(op, shapes.size());
      set_ints(node, attribute, attribute == "pads" ? std::vector<int64_t>{0, 0, kHuge, 0}
                                                     : std::vector<int64_t>{1, kHuge});
      expect_refused(node, shapes, "'" + attribute + "'");
    }
    Node kernel = window_node(op, shapes.size());
    set_ints(kernel, "kernel_shape", {3, kHuge});
    if (!conv) expect_refused(kernel, shapes, "'kernel_shape'");
  }
}

// Each value alone is plausible, the dilated kernel extent (k - 1) * d + 1 is not.
TEST(WindowGeometry, DilatedKernelExtentIsBounded) {
  Node node = window_node("Conv", 2);
  set_ints(node, "dilations", {1, int64_t{1} << 35});
  set_ints(node, "kernel_shape", {3, 1 << 10});
  expect_refused(node, {Shape::from_dims({1, 2, 8, 8}), Shape::from_dims({2, 2, 3, 1 << 10})}, "dilated kernel");
}

// ONNX: pads "can take any value greater than or equal to 0".
TEST(WindowGeometry, NegativePadsAreRefused) {
  for (const std::string op : {"Conv", "ConvTranspose", "MaxPool", "AveragePool"}) {
    const bool conv = op == "Conv" || op == "ConvTranspose";
    Node node = window_node(op, conv ? 2 : 1);
    set_ints(node, "pads", {0, -1, 0, 0});
    expect_refused(node, conv ? std::vector<Shape>{kX, kW} : std::vector<Shape>{kX}, "'pads'");
  }
}

// Input extents past any real tensor (a model may declare them; a forged engine may record them).
TEST(WindowGeometry, HugeInputExtentsAreRefused) {
  const Shape huge = Shape::from_dims({1, 2, 8, INT64_MAX - 1});
  expect_refused(window_node("Conv", 2), {huge, kW}, "extent");
  expect_refused(window_node("MaxPool", 1), {huge}, "extent");
  Node transpose = window_node("ConvTranspose", 2);
  set_ints(transpose, "strides", {1, 1 << 30});
  expect_refused(transpose, {Shape::from_dims({1, 2, 8, int64_t{1} << 34}), kW}, "extent");
  Node padding = window_node("ConvTranspose", 2);
  set_ints(padding, "output_padding", {0, kHuge});
  expect_refused(padding, {kX, kW}, "'output_padding'");
}

TEST(WindowGeometry, HugeGroupIsRefused) {
  Node node = window_node("Conv", 2);
  set_int(node, "group", kHuge);
  expect_refused(node, {kX, kW}, "'group'");
  Node transpose = window_node("ConvTranspose", 2);
  set_int(transpose, "group", kHuge);
  expect_refused(transpose, {Shape::from_dims({1, 2, 8, 8}), kW}, "'group'");
}

// The bound is far above real models: a 2^20-wide input with a 2^10 kernel, dilation 2^10 and pads of 2^20 works.
TEST(WindowGeometry, LargeButRealValuesStillWork) {
  Node node = window_node("Conv", 2);
  set_ints(node, "dilations", {1, 1 << 10});
  set_ints(node, "pads", {0, 1 << 20, 0, 1 << 20});
  auto out = infer(node, {Shape::from_dims({1, 2, 8, 1 << 20}), Shape::from_dims({2, 2, 3, 1 << 10})});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].shape.dims[3].value, (1 << 20) + 2 * (1 << 20) - ((1 << 10) - 1) * (1 << 10) - 1 + 1);
}

}  // namespace normrt::test
