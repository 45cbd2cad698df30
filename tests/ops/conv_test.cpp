// Conv and ConvTranspose: hand-computed cases from the ONNX operator documents, random problems against naive
// implementations written differently from the reference (explicit zero padding; ConvTranspose as a stride-1
// convolution of the zero-stuffed input with the flipped kernel), automatic padding, shape inference, errors.
#include <algorithm>

#include "conv_naive.h"
#include "test_util.h"

namespace normrt::test {
namespace {

Tensor iota_tensor(const Dims& dims, float start = 0.0f) {
  Tensor t(DataType::kFloat32, dims);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = start + static_cast<float>(i);
  return t;
}

Tensor filled(const Dims& dims, float v) {
  Tensor t(DataType::kFloat32, dims);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = v;
  return t;
}

void expect_values(const Tensor& t, const Dims& dims, const std::vector<float>& values) {
  ASSERT_EQ(t.dims(), dims);
  ASSERT_EQ(t.numel(), static_cast<int64_t>(values.size()));
  for (size_t i = 0; i < values.size(); ++i) EXPECT_NEAR(t.data<float>()[i], values[i], 1e-4) << "at " << i;
}

Node conv_node(const std::string& op, bool bias, const ConvCase& c) {
  Node n = make_node(op, bias ? 3 : 2);
  set_ints(n, "strides", c.strides);
  set_ints(n, "dilations", c.dilations);
  set_ints(n, "pads", c.pads);
  if (c.group != 1) set_int(n, "group", c.group);
  if (!c.output_padding.empty()) set_ints(n, "output_padding", c.output_padding);
  return n;
}

TEST(Conv, HandComputedFromOnnxDocs) {
  Tensor x = iota_tensor({1, 1, 5, 5});
  Tensor w = filled({1, 1, 3, 3}, 1.0f);
  Node padded = make_node("Conv", 2);
  set_ints(padded, "kernel_shape", {3, 3});
  set_ints(padded, "pads", {1, 1, 1, 1});
  expect_values(run(padded, {&x, &w})[0], {1, 1, 5, 5}, {12,  21, 27, 33,  24,  33,  54,  63, 72,  51,  63,  99, 108,
                                                         117, 81, 93, 144, 153, 162, 111, 72, 111, 117, 123, 84});
  Node plain = make_node("Conv", 2);
  expect_values(run(plain, {&x, &w})[0], {1, 1, 3, 3}, {54, 63, 72, 99, 108, 117, 144, 153, 162});
  Node strided = make_node("Conv", 2);
  set_ints(strided, "pads", {1, 1, 1, 1});
  set_ints(strided, "strides", {2, 2});
  expect_values(run(strided, {&x, &w})[0], {1, 1, 3, 3}, {12, 27, 24, 63, 108, 81, 72, 117, 84});
  // Asymmetric padding and a bias: pads [1,1,0,0] pad top and left only.
  Node asym = make_node("Conv", 3);
  set_ints(asym, "pads", {1, 1, 0, 0});
  set_ints(asym, "strides", {2, 2});
  Tensor b = float_tensor({0.5f}, {1});
  expect_values(run(asym, {&x, &w, &b})[0], {1, 1, 2, 2}, {12.5, 27.5, 63.5, 108.5});
}

TEST(Conv, MatchesNaiveOnRandomProblems) {
  const std::vector<ConvCase> cases = {
      // 1-D
      {{1, 3, 7}, 4, {3}, {1}, {1}, {0, 0}, 1},
      {{2, 4, 13}, 6, {3}, {2}, {2}, {1, 2}, 2},
      {{3, 5, 9}, 5, {5}, {1}, {1}, {2, 2}, 5},
      // 2-D
      {{1, 1, 1, 1}, 1, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}, 1},
      {{2, 3, 7, 9}, 8, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1},
      {{4, 6, 13, 11}, 4, {3, 2}, {2, 1}, {1, 2}, {0, 1, 2, 0}, 2},
      {{2, 8, 9, 9}, 8, {3, 3}, {2, 2}, {2, 2}, {2, 2, 2, 2}, 8},
      {{1, 4, 7, 7}, 8, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}, 1},
      {{3, 6, 5, 8}, 12, {5, 3}, {1, 3}, {1, 1}, {2, 1, 2, 1}, 3},
      {{1, 2, 3, 3}, 2, {3, 3}, {1, 1}, {3, 3}, {3, 3, 3, 3}, 1},
      // 3-D
      {{1, 2, 5, 6, 7}, 4, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1, 1, 1, 1}, 1},
      {{2, 4, 7, 5, 6}, 4, {2, 3, 1}, {2, 1, 2}, {1, 2, 1}, {0, 1, 0, 1, 2, 0}, 4},
  };
  for (const ConvCase& c : cases) {
    for (bool bias : {false, true}) {
      SCOPED_TRACE(c.describe() + (bias ? " bias" : ""));
      Tensor x = random_tensor(c.x);
      Tensor w = random_tensor(c.weight_dims(false));
      Tensor b = random_tensor({c.m});
      Node n = conv_node("Conv", bias, c);
      auto out = run(n, {&x, &w, bias ? &b : nullptr});
      Tensor expected = naive_conv(x, w, bias ? &b : nullptr, c);
      EXPECT_LT(relative_error(out[0], expected), 1e-5);
    }
  }
}

TEST(Conv, AutoPadMatchesExplicitPads) {
  for (std::string mode : {"SAME_UPPER", "SAME_LOWER", "VALID"}) {
    for (const ConvCase& base :
         {ConvCase{{2, 3, 7, 10}, 4, {3, 4}, {2, 3}, {1, 1}, {}, 1},
          ConvCase{{1, 2, 9, 8}, 2, {3, 3}, {1, 2}, {2, 1}, {}, 2}, ConvCase{{1, 2, 11}, 3, {4}, {2}, {1}, {}, 1}}) {
      SCOPED_TRACE(mode + " " + base.describe());
      ConvCase c = base;
      c.pads = auto_pads(mode, c);
      Tensor x = random_tensor(c.x);
      Tensor w = random_tensor(c.weight_dims(false));
      Node n = make_node("Conv", 2);
      set_string(n, "auto_pad", mode);
      set_ints(n, "strides", c.strides);
      set_ints(n, "dilations", c.dilations);
      set_int(n, "group", c.group);
      auto out = run(n, {&x, &w});
      EXPECT_LT(relative_error(out[0], naive_conv(x, w, nullptr, c)), 1e-5);
      if (mode != "VALID") {
        for (size_t i = 0; i < c.strides.size(); ++i)
          EXPECT_EQ(out[0].dims()[2 + i], (c.x[2 + i] + c.strides[i] - 1) / c.strides[i]);
      }
    }
  }
  // SAME_UPPER puts the odd padding element at the end, SAME_LOWER at the beginning: total pad 1 here.
  Tensor x = iota_tensor({1, 1, 4});
  Tensor w = float_tensor({1, 1}, {1, 1, 2});
  Node upper = make_node("Conv", 2);
  set_string(upper, "auto_pad", "SAME_UPPER");
  expect_values(run(upper, {&x, &w})[0], {1, 1, 4}, {1, 3, 5, 3});
  Node lower = make_node("Conv", 2);
  set_string(lower, "auto_pad", "SAME_LOWER");
  expect_values(run(lower, {&x, &w})[0], {1, 1, 4}, {0, 1, 3, 5});
}

TEST(Conv, OtherFloatTypes) {
  ConvCase c{{2, 4, 6, 5}, 4, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 2};
  Tensor x = random_tensor(c.x), w = random_tensor(c.weight_dims(false));
  Tensor expected = naive_conv(x, w, nullptr, c);
  for (DataType t : {DataType::kFloat64, DataType::kFloat16}) {
    Tensor xt = cast_tensor(x, t), wt = cast_tensor(w, t);
    auto out = run(conv_node("Conv", false, c), {&xt, &wt});
    ASSERT_EQ(out[0].dtype(), t);
    EXPECT_LT(relative_error(out[0], expected), t == DataType::kFloat16 ? 1e-2 : 1e-6);
  }
  Tensor xi = int64_tensor({1, 2, 3}, {1, 1, 3}), wi = int64_tensor({1}, {1, 1, 1});
  expect_error([&] { run(make_node("Conv", 2), {&xi, &wi}); }, {"Conv", "int64", "float32"});
}

TEST(Conv, ShapeInferenceKeepsSymbolsAndChecksInputs) {
  Node n = make_node("Conv", 3);
  set_ints(n, "strides", {2, 2});
  set_ints(n, "pads", {1, 1, 1, 1});
  auto shape = [&](const Node& node, std::vector<Shape> shapes) {
    return infer_shapes(node, shapes, 17)[0].shape.to_string();
  };
  const Dim batch = Dim::unknown("batch");
  EXPECT_EQ(shape(n, {Shape({batch, 3, 32, 31}), Shape({8, 3, 3, 3}), Shape({8})}), "[batch,8,16,16]");
  EXPECT_EQ(shape(n, {Shape({batch, 3, Dim::unknown("h"), 31}), Shape({8, 3, 3, 3}), Shape({8})}), "[batch,8,?,16]");
  EXPECT_EQ(shape(n, {Shape(), Shape({8, 3, 3, 3}), Shape({8})}), "[?,8,?,?]");
  EXPECT_EQ(shape(n, {Shape(), Shape(), Shape({8})}), "[?]");
  // Stride-1 SAME padding keeps even an unknown extent's symbol.
  Node same = make_node("Conv", 2);
  set_string(same, "auto_pad", "SAME_UPPER");
  EXPECT_EQ(shape(same, {Shape({batch, 3, Dim::unknown("h"), Dim::unknown("w")}), Shape({4, 3, 3, 3})}),
            "[batch,4,h,w]");
  Node keep = make_node("Conv", 2);
  set_ints(keep, "pads", {1, 1});
  EXPECT_EQ(shape(keep, {Shape({batch, 3, Dim::unknown("t")}), Shape({4, 3, 3})}), "[batch,4,t]");
  // kernel_shape is optional and, when given, must match W.
  Node with_kernel = make_node("Conv", 2);
  set_ints(with_kernel, "kernel_shape", {3, 3});
  EXPECT_EQ(shape(with_kernel, {Shape({1, 3, 9, 9}), Shape({4, 3, Dim::unknown(), Dim::unknown()})}), "[1,4,7,7]");
  Node wrong_kernel = make_node("Conv", 2);
  set_ints(wrong_kernel, "kernel_shape", {3, 5});
  expect_error([&] { shape(wrong_kernel, {Shape({1, 3, 9, 9}), Shape({4, 3, 3, 3})}); }, {"kernel_shape", "[3,5]"});
}

TEST(Conv, ShapeErrorsNameTheProblem) {
  auto infer = [](const Node& n, std::vector<Shape> shapes) { infer_shapes(n, shapes, 13); };
  Node n = make_node("Conv", 3);
  expect_error(
      [&] {
        infer(n, {Shape({1, 4, 8, 8}), Shape({8, 3, 3, 3}), Shape({8})});
      },
      {"Conv_test", "4 channels", "expects 3"});
  expect_error([&] { infer(n, {Shape({1, 3, 8, 8}), Shape({8, 3, 3, 3}), Shape({7})}); }, {"input 2 (B)", "8 values"});
  expect_error(
      [&] {
        infer(n, {Shape({1, 3, 2, 8}), Shape({8, 3, 3, 3}), Shape({8})});
      },
      {"kernel extent 3", "padded input extent 2"});
  expect_error([&] { infer(n, {Shape({3, 8}), Shape({8, 3}), Shape({8})}); }, {"rank 2", "expected rank 3 to 5"});
  expect_error([&] { infer(n, {Shape({1, 3, 8, 8}), Shape({8, 3, 3}), Shape({8})}); }, {"same rank"});
  Node grouped = make_node("Conv", 2);
  set_int(grouped, "group", 3);
  expect_error([&] { infer(grouped, {Shape({1, 6, 8, 8}), Shape({4, 2, 3, 3})}); }, {"group 3 does not divide"});
  Node bad_pad = make_node("Conv", 2);
  set_string(bad_pad, "auto_pad", "SAME");
  expect_error([&] { infer(bad_pad, {Shape({1, 3, 8, 8}), Shape({4, 3, 3, 3})}); }, {"auto_pad", "SAME_UPPER"});
  Node bad_strides = make_node("Conv", 2);
  set_ints(bad_strides, "strides", {1});
  expect_error([&] { infer(bad_strides, {Shape({1, 3, 8, 8}), Shape({4, 3, 3, 3})}); }, {"strides", "expected 2"});
  Node zero_stride = make_node("Conv", 2);
  set_ints(zero_stride, "strides", {1, 0});
  expect_error([&] { infer(zero_stride, {Shape({1, 3, 8, 8}), Shape({4, 3, 3, 3})}); }, {"strides", ">= 1"});
}

TEST(ConvTranspose, HandComputedFromOnnxDocs) {
  Tensor x = iota_tensor({1, 1, 3, 3});
  Tensor w = filled({1, 2, 3, 3}, 1.0f);
  auto out = run(make_node("ConvTranspose", 2), {&x, &w});
  const std::vector<float> plane = {0,  1,  3, 3,  2,  3,  8,  15, 12, 7,  9,  21, 36,
                                    27, 15, 9, 20, 33, 24, 13, 6,  13, 21, 15, 8};
  std::vector<float> both = plane;
  both.insert(both.end(), plane.begin(), plane.end());
  expect_values(out[0], {1, 2, 5, 5}, both);
  // 1-D with stride 3, output_padding 1: [0,1,2] -> length 3*2+1+3 = 10; the padded tail gets only the bias.
  Tensor x1 = iota_tensor({1, 1, 3});
  Tensor w1 = filled({1, 1, 3}, 1.0f);
  Tensor b1 = float_tensor({0.5f}, {1});
  Node n1 = make_node("ConvTranspose", 3);
  set_ints(n1, "strides", {3});
  set_ints(n1, "output_padding", {1});
  expect_values(run(n1, {&x1, &w1, &b1})[0], {1, 1, 10}, {0.5, 0.5, 0.5, 1.5, 1.5, 1.5, 2.5, 2.5, 2.5, 0.5});
}

// An input axis of extent 0 still has an output of extent (0 - 1) * stride + kernel: the bias alone (a fuzzed
// model; the reference once indexed the empty input).
TEST(ConvTranspose, AnEmptyInputAxisGivesTheBias) {
  Tensor x(DataType::kFloat32, {1, 2, 3, 0});
  Tensor w = filled({2, 3, 3, 3}, 1.0f);
  Tensor b = float_tensor({0.5f, -1.0f, 2.0f}, {3});
  const auto out = run(make_node("ConvTranspose", 3), {&x, &w, &b});
  std::vector<float> want;
  for (float v : {0.5f, -1.0f, 2.0f}) want.insert(want.end(), 5 * 2, v);
  expect_values(out[0], {1, 3, 5, 2}, want);
}

TEST(ConvTranspose, MatchesNaiveOnRandomProblems) {
  const std::vector<ConvCase> cases = {
      {{1, 3, 5}, 2, {3}, {1}, {1}, {0, 0}, 1},
      {{2, 4, 7}, 6, {3}, {2}, {2}, {1, 2}, 2, {1}},
      {{2, 3, 4, 5}, 4, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, 1, {1, 1}},
      {{3, 4, 5, 3}, 8, {2, 3}, {3, 1}, {1, 2}, {0, 2, 1, 0}, 2, {2, 0}},
      {{1, 6, 4, 4}, 6, {3, 3}, {2, 2}, {2, 1}, {2, 1, 2, 1}, 6},
      {{1, 2, 3, 4, 3}, 4, {2, 3, 2}, {2, 1, 2}, {1, 1, 2}, {0, 1, 1, 1, 0, 0}, 1, {1, 0, 1}},
      {{2, 4, 3, 3, 3}, 4, {3, 3, 3}, {1, 2, 1}, {1, 1, 1}, {1, 1, 1, 1, 1, 1}, 4},
  };
  for (const ConvCase& c : cases) {
    for (bool bias : {false, true}) {
      SCOPED_TRACE(c.describe() + (bias ? " bias" : ""));
      Tensor x = random_tensor(c.x);
      Tensor w = random_tensor(c.weight_dims(true));
      Tensor b = random_tensor({c.m});
      auto out = run(conv_node("ConvTranspose", bias, c), {&x, &w, bias ? &b : nullptr});
      EXPECT_LT(relative_error(out[0], naive_conv_transpose(x, w, bias ? &b : nullptr, c)), 1e-5);
    }
  }
}

TEST(ConvTranspose, OutputShapeAndAutoPad) {
  ConvCase c{{2, 3, 4, 5}, 4, {3, 3}, {2, 2}, {1, 1}, {}, 1};
  Tensor x = random_tensor(c.x);
  Tensor w = random_tensor(c.weight_dims(true));
  // output_shape [9, 10]: total padding = 2*(in-1) + 3 - out = [0, 1]; NOTSET puts the odd element first.
  Node shaped = make_node("ConvTranspose", 2);
  set_ints(shaped, "strides", {2, 2});
  set_ints(shaped, "output_shape", {9, 10});
  auto out = run(shaped, {&x, &w});
  EXPECT_EQ(out[0].dims(), (Dims{2, 4, 9, 10}));
  ConvCase explicit_pads = c;
  explicit_pads.pads = {0, 1, 0, 0};  // total [0, 1] -> begin = total - total/2 = [0, 1], end = [0, 0]
  EXPECT_LT(relative_error(out[0], naive_conv_transpose(x, w, nullptr, explicit_pads)), 1e-5);
  // The same output_shape given with N and C.
  Node full = shaped;
  set_ints(full, "output_shape", {2, 4, 9, 10});
  EXPECT_LT(relative_error(run(full, {&x, &w})[0], out[0]), 1e-6);
  // SAME_UPPER: out = in * stride, total = 2*(in-1)+3 - 2*in = 1 -> begin 0, end 1; SAME_LOWER: begin 1, end 0.
  for (std::string mode : {"SAME_UPPER", "SAME_LOWER"}) {
    Node same = make_node("ConvTranspose", 2);
    set_ints(same, "strides", {2, 2});
    set_string(same, "auto_pad", mode);
    auto y = run(same, {&x, &w});
    EXPECT_EQ(y[0].dims(), (Dims{2, 4, 8, 10}));
    ConvCase p = c;
    p.pads = mode == "SAME_UPPER" ? std::vector<int64_t>{0, 0, 1, 1} : std::vector<int64_t>{1, 1, 0, 0};
    EXPECT_LT(relative_error(y[0], naive_conv_transpose(x, w, nullptr, p)), 1e-5) << mode;
  }
}

TEST(ConvTranspose, ShapeInference) {
  Node n = make_node("ConvTranspose", 3);
  set_ints(n, "strides", {2, 2});
  set_ints(n, "pads", {1, 1, 1, 1});
  set_ints(n, "output_padding", {1, 1});
  set_int(n, "group", 2);
  const Dim batch = Dim::unknown("batch");
  auto out = infer_shapes(n, {Shape({batch, 4, 5, Dim::unknown("w")}), Shape({4, 3, 3, 3}), Shape({6})}, 21);
  EXPECT_EQ(out[0].shape.to_string(), "[batch,6,10,?]");
  expect_error(
      [&] {
        infer_shapes(n, {Shape({1, 5, 5, 5}), Shape({4, 3, 3, 3}), Shape({6})}, 21);
      },
      {"5 channels", "expects 4"});
  Node shaped = make_node("ConvTranspose", 2);
  set_ints(shaped, "output_shape", {7});
  EXPECT_EQ(infer_shapes(shaped, {Shape({batch, 2, Dim::unknown()}), Shape({2, 3, 3})}, 11)[0].shape.to_string(),
            "[batch,3,7]");
  Node bad = make_node("ConvTranspose", 2);
  set_ints(bad, "output_shape", {7, 7});
  expect_error([&] { infer_shapes(bad, {Shape({1, 2, 4}), Shape({2, 3, 3})}, 11); }, {"output_shape", "[7,7]"});
}

}  // namespace
}  // namespace normrt::test
