// Resize / Upsample CUDA kernel (src/cuda/cuda_resize.cu) against the CPU reference: nearest with every
// nearest_mode, linear and cubic with every coordinate_transformation_mode, scales and sizes (odd extents,
// up and down), antialias, exclude_outside, tf_crop_and_resize with extrapolation, the opset-18 axes and
// keep_aspect_ratio_policy attributes, and Upsample-9.
#include <string>
#include <vector>

#include "ops_test_util.h"

namespace normrt {
namespace cuda {
namespace testing {
namespace {

const std::vector<std::string> kCoords = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                          "half_pixel_symmetric"};

Node resize_node(const std::string& mode, const std::string& coord) {
  Node node = make_node("Resize", 4);
  set_string(node, "mode", mode);
  set_string(node, "coordinate_transformation_mode", coord);
  return node;
}

// Inputs X, roi (empty), scales or sizes (the other omitted).
std::vector<Tensor> with_scales(const Tensor& x, const std::vector<double>& scales) {
  return {x, Tensor(DataType::kFloat32, {0}), floats_tensor(scales), Tensor()};
}
std::vector<Tensor> with_sizes(const Tensor& x, const std::vector<int64_t>& sizes) {
  return {x, Tensor(DataType::kFloat32, {0}), Tensor(), ints_tensor(sizes)};
}

void check(Node node, int64_t opset, const std::vector<Tensor>& inputs) {
  if (inputs[2].empty()) node.inputs[2] = "";
  if (inputs[3].empty()) node.inputs[3] = "";
  expect_match("cuda_Resize", node, opset, inputs);
}

TEST(CudaResize, NearestEveryModeAndCoordinate) {
  NORMRT_OPS_REQUIRE_GPU();
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16, DataType::kInt64, DataType::kUInt8})
    for (const std::string& coord : kCoords)
      for (const char* rounding : {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}) {
        Node node = resize_node("nearest", coord);
        set_string(node, "nearest_mode", rounding);
        const Tensor x = random_tensor(dtype, {2, 3, 7, 5}, -50, 50);
        check(node, 19, with_scales(x, {1, 1, 2, 2}));
        check(node, 19, with_scales(x, {1, 1, 0.5, 1.5}));
        check(node, 19, with_sizes(x, {2, 3, 13, 9}));
        check(node, 19, with_sizes(x, {2, 3, 3, 2}));
      }
  // opset 11's tf_half_pixel_for_nn
  Node node = resize_node("nearest", "tf_half_pixel_for_nn");
  check(node, 11, with_scales(random_tensor(DataType::kFloat32, {1, 2, 5, 6}), {1, 1, 2, 0.5}));
}

// Channels-last upsampling: the last axis is not resized. When it holds whole 16-byte words (8 float16, 4 float32,
// 2 int64, 16 uint8) the kernel moves words; 3 channels take the element path.
TEST(CudaResize, NearestWithAnUnresizedLastAxis) {
  NORMRT_OPS_REQUIRE_GPU();
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16, DataType::kInt64, DataType::kUInt8})
    for (int64_t channels : {16, 48, 3})
      for (const std::string& coord : kCoords) {
        Node node = resize_node("nearest", coord);
        const Tensor x = random_tensor(dtype, {2, 7, 5, channels}, -50, 50);
        check(node, 19, with_scales(x, {1, 2, 2, 1}));
        check(node, 19, with_sizes(x, {2, 3, 11, channels}));
        check(node, 19, with_sizes(x, {1, 7, 5, channels}));  // the batch axis resized too
      }
  // Outside the crop, tf_crop_and_resize writes extrapolation_value into every element of a word.
  Node crop = resize_node("nearest", "tf_crop_and_resize");
  set_float(crop, "extrapolation_value", 2.5f);
  const Tensor x = random_tensor(DataType::kFloat16, {1, 6, 6, 8}, -5, 5);
  check(crop, 19, {x, floats_tensor({0, -0.5, -0.25, 0, 1, 1.5, 1.25, 1}), Tensor(), ints_tensor({1, 9, 7, 8})});
}

TEST(CudaResize, LinearAndCubicEveryCoordinate) {
  NORMRT_OPS_REQUIRE_GPU();
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
    for (const char* mode : {"linear", "cubic"})
      for (const std::string& coord : kCoords) {
        Node node = resize_node(mode, coord);
        const Tensor x = random_tensor(dtype, {2, 3, 7, 5}, -2, 2);
        check(node, 19, with_scales(x, {1, 1, 2, 2}));
        check(node, 19, with_scales(x, {1, 1, 0.6, 1.7}));
        check(node, 19, with_sizes(x, {2, 3, 13, 9}));
        check(node, 19, with_sizes(x, {2, 3, 1, 4}));
        Node exclude = node;
        set_int(exclude, "exclude_outside", 1);
        set_float(exclude, "cubic_coeff_a", -0.5f);
        check(exclude, 19, with_sizes(x, {2, 3, 11, 3}));
      }
  // a 3-D volume (trilinear) and a 1-D signal
  check(resize_node("linear", "half_pixel"), 19,
        with_scales(random_tensor(DataType::kFloat32, {1, 2, 4, 5, 6}), {1, 1, 2, 1.5, 0.5}));
  check(resize_node("linear", "align_corners"), 19, with_sizes(random_tensor(DataType::kFloat32, {9}), {17}));
}

TEST(CudaResize, AntialiasAxesAspectRatioCropAndResize) {
  NORMRT_OPS_REQUIRE_GPU();
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16}) {
    const Tensor x = random_tensor(dtype, {2, 3, 16, 12}, -2, 2);
    for (const char* mode : {"linear", "cubic"}) {
      Node anti = resize_node(mode, "half_pixel");
      set_int(anti, "antialias", 1);
      check(anti, 18, with_scales(x, {1, 1, 0.3, 0.5}));
      check(anti, 18, with_sizes(x, {2, 3, 5, 7}));
    }
    Node axes = resize_node("linear", "half_pixel");
    set_ints(axes, "axes", {-1, 2});
    check(axes, 18, with_scales(x, {0.5, 2}));
    for (const char* policy : {"not_larger", "not_smaller"}) {
      Node keep = resize_node("nearest", "asymmetric");
      set_ints(keep, "axes", {2, 3});
      set_string(keep, "keep_aspect_ratio_policy", policy);
      check(keep, 18, with_sizes(x, {24, 30}));
    }
    for (const char* mode : {"nearest", "linear", "cubic"}) {
      Node crop = resize_node(mode, "tf_crop_and_resize");
      set_float(crop, "extrapolation_value", 7.0f);
      std::vector<Tensor> inputs = {x, floats_tensor({0, 0, -0.2, 0.1, 1, 1, 0.9, 1.3}), Tensor(),
                                    ints_tensor({2, 3, 9, 10})};
      check(crop, 13, inputs);
    }
  }
}

TEST(CudaResize, Upsample) {
  NORMRT_OPS_REQUIRE_GPU();
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
    for (const char* mode : {"nearest", "linear"}) {
      Node node = make_node("Upsample", 2);
      set_string(node, "mode", mode);
      expect_match("cuda_Upsample", node, 9, {random_tensor(dtype, {2, 3, 5, 7}, -2, 2), floats_tensor({1, 1, 2, 3})});
      Node attribute = make_node("Upsample", 1);
      set_string(attribute, "mode", mode);
      set_floats(attribute, "scales", {1, 1, 2, 1.5});
      expect_match("cuda_Upsample", attribute, 7, {random_tensor(dtype, {2, 3, 5, 7}, -2, 2)});
    }
}

}  // namespace
}  // namespace testing
}  // namespace cuda
}  // namespace normrt
