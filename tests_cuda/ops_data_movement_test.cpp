// Data movement CUDA kernels (src/cuda/cuda_data_movement.cu) against the CPU reference: Transpose, Slice,
// Concat, Split, Gather, GatherElements, Expand, Tile, Pad, DepthToSpace, SpaceToDepth, Identity, Dropout, in
// float32, float16, int64 and bool (elements move by size, so these cover every width).
#include <climits>
#include <string>
#include <vector>

#include "ops_test_util.h"

namespace normrt {
namespace cuda {
namespace testing {
namespace {

const std::vector<DataType> kTypes = {DataType::kFloat32, DataType::kFloat16, DataType::kInt64, DataType::kBool};

TEST(CudaDataMovement, Transpose) {
  NORMRT_OPS_REQUIRE_GPU();
  struct Case {
    Dims dims;
    std::vector<int64_t> perm;  // empty: the default (reversed axes)
  };
  const std::vector<Case> cases = {{{2, 3, 7, 5}, {0, 2, 3, 1}},
                                   {{2, 3, 7, 5}, {0, 3, 1, 2}},
                                   {{2, 3, 7, 5}, {}},
                                   {{7, 13}, {1, 0}},
                                   {{64, 96}, {1, 0}},
                                   {{2, 1, 9, 1}, {3, 2, 1, 0}},
                                   {{4, 8, 16, 2}, {0, 2, 1, 3}},
                                   {{3, 0, 2}, {2, 0, 1}},
                                   {{2, 3, 4, 5, 6}, {4, 0, 3, 1, 2}},
                                   {{5}, {0}},
                                   // tiled paths: NCHW <-> NHWC, batched and odd-sized 2-D transposes
                                   {{2, 64, 9, 40}, {0, 2, 3, 1}},
                                   {{2, 9, 40, 64}, {0, 3, 1, 2}},
                                   {{3, 45, 70}, {0, 2, 1}},
                                   {{70001, 9}, {1, 0}}};
  for (DataType dtype : kTypes)
    for (const Case& c : cases) {
      Node node = make_node("Transpose", 1);
      if (!c.perm.empty()) set_ints(node, "perm", c.perm);
      expect_match("cuda_Transpose", node, 13, {random_tensor(dtype, c.dims, -9, 9)});
    }
}

TEST(CudaDataMovement, Slice) {
  NORMRT_OPS_REQUIRE_GPU();
  struct Case {
    Dims dims;
    std::vector<int64_t> starts, ends, axes, steps;  // empty axes / steps: input omitted
  };
  const std::vector<Case> cases = {
      {{2, 3, 7, 5}, {0, 1}, {2, 3}, {}, {}},
      {{2, 3, 7, 5}, {1, -4}, {INT64_MAX, -1}, {2, 3}, {}},
      {{2, 3, 7, 5}, {-1}, {INT64_MIN}, {2}, {-1}},
      {{2, 3, 7, 5}, {6, 4}, {0, -100}, {-2, -1}, {-2, -3}},
      {{2, 3, 7, 5}, {0, 0, 1}, {2, 3, 7}, {0, 1, 2}, {1, 2, 3}},
      {{7, 13, 5}, {3}, {3}, {1}, {}},
      {{7, 13, 5}, {-100}, {100}, {-1}, {2}},
      {{16, 64}, {0, 8}, {16, 40}, {0, 1}, {1, 1}},
      {{8, 7}, {2}, {INT32_MAX}, {0}, {}},
      {{3, 6}, {1, 4}, {3, 6}, {0, 1}, {5981343255101439999, 5981343255101439999}},  // one element: no overflow
  };
  for (DataType dtype : kTypes)
    for (const Case& c : cases)
      for (DataType index_type : {DataType::kInt64, DataType::kInt32}) {
        bool fits_int32 = true;
        for (const auto* values : {&c.starts, &c.ends, &c.steps})
          for (int64_t v : *values) fits_int32 &= v >= INT32_MIN && v <= INT32_MAX;
        if (index_type == DataType::kInt32 && !fits_int32) continue;
        Node node = make_node("Slice", 5);
        std::vector<Tensor> inputs = {random_tensor(dtype, c.dims, -9, 9), ints_tensor(c.starts, index_type),
                                      ints_tensor(c.ends, index_type), Tensor(), Tensor()};
        if (c.axes.empty())
          node.inputs[3] = "";
        else
          inputs[3] = ints_tensor(c.axes, index_type);
        if (c.steps.empty())
          node.inputs[4] = "";
        else
          inputs[4] = ints_tensor(c.steps, index_type);
        expect_match("cuda_Slice", node, 13, inputs);
      }
}

TEST(CudaDataMovement, ConcatAndSplit) {
  NORMRT_OPS_REQUIRE_GPU();
  for (DataType dtype : kTypes) {
    for (int64_t axis : {0, 1, 2, 3, -1, -3}) {
      std::vector<Tensor> inputs;
      for (int64_t extent : {3, 1, 5, 0}) {
        Dims d = {2, 3, 7, 5};
        d[axis < 0 ? axis + 4 : axis] = extent;
        inputs.push_back(random_tensor(dtype, d, -9, 9));
      }
      Node concat = make_node("Concat", inputs.size());
      set_int(concat, "axis", axis);
      expect_match("cuda_Concat", concat, 13, inputs);
    }
    const Tensor x = random_tensor(dtype, {2, 9, 7, 5}, -9, 9);
    Node split = make_node("Split", 2, 3);
    set_int(split, "axis", 1);
    expect_match("cuda_Split", split, 13, {x, ints_tensor({2, 3, 4})});
    Node equal = make_node("Split", 1, 3);
    set_int(equal, "axis", -3);
    expect_match("cuda_Split", equal, 13, {x});
    Node uneven = make_node("Split", 1, 4);
    set_int(uneven, "axis", 2);
    set_int(uneven, "num_outputs", 4);
    expect_match("cuda_Split", uneven, 18, {x});
    Node last = make_node("Split", 2, 2);
    set_int(last, "axis", -1);
    expect_match("cuda_Split", last, 13, {x, ints_tensor({1, 4})});
    Node old = make_node("Split", 1, 2);
    set_ints(old, "split", {4, 5});
    set_int(old, "axis", 1);
    expect_match("cuda_Split", old, 11, {x});
  }
}

TEST(CudaDataMovement, Gather) {
  NORMRT_OPS_REQUIRE_GPU();
  for (DataType dtype : kTypes)
    for (DataType index_type : {DataType::kInt64, DataType::kInt32}) {
      const Tensor x = random_tensor(dtype, {5, 7, 8, 3}, -9, 9);
      for (int64_t axis : {0, 1, 2, -1}) {
        const int64_t dim = x.dims()[axis < 0 ? axis + 4 : axis];
        Node node = make_node("Gather", 2);
        set_int(node, "axis", axis);
        expect_match("cuda_Gather", node, 13, {x, random_integers(index_type, {2, 3}, -dim, dim - 1)});
        expect_match("cuda_Gather", node, 13, {x, scalar_tensor(index_type, -1)});
        expect_match("cuda_Gather", node, 13, {x, random_integers(index_type, {0}, 0, 0)});
      }
      // an embedding lookup: rows of 768 fp16 move as 16-byte words
      Node embed = make_node("Gather", 2);
      expect_match("cuda_Gather", embed, 13,
                   {random_tensor(dtype, {50, 768}), random_integers(index_type, {4, 9}, -50, 49)});
    }
}

// An out-of-range index read on the device fails the run, as the CPU reference does; never a silent zero.
TEST(CudaDataMovement, GatherOutOfRangeIndexIsAnErrorNamingTheFix) {
  NORMRT_OPS_REQUIRE_GPU();
  const Tensor x = random_tensor(DataType::kFloat32, {5, 3}, -9, 9);
  for (int64_t bad : {5, -6, 1000}) {
    Node gather = make_node("Gather", 2);
    const Tensor indices = ints_tensor({0, bad, 2});
    // With the indices known (as here) the shape function refuses them first; the kernel's own flag, for
    // indices that are only known on the device, is CudaEngine.OutOfRangeGatherIndexFailsTheRunNamingTheNode.
    try {
      run_cuda_node("cuda_Gather", gather, 13, {&x, &indices});
      ADD_FAILURE() << "index " << bad << " was accepted";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_TRUE(message.find("out of range") != std::string::npos ||
                  message.find("outside the range") != std::string::npos)
          << message;
      EXPECT_NE(message.find(std::to_string(bad)), std::string::npos) << message;
    }
    Node elements = make_node("GatherElements", 2);
    const Tensor element_indices = ints_tensor({0, 1, bad, 2, 1, 0});
    const Tensor element_indices_2d = element_indices.reshaped({2, 3});
    EXPECT_THROW(run_cuda_node("cuda_GatherElements", elements, 13, {&x, &element_indices_2d}), Error);
  }
}

TEST(CudaDataMovement, GatherElements) {
  NORMRT_OPS_REQUIRE_GPU();
  for (DataType dtype : kTypes)
    for (int64_t axis : {0, 1, -1}) {
      const Tensor x = random_tensor(dtype, {4, 6, 5}, -9, 9);
      Dims index_dims = {3, 4, 5};
      const int64_t a = axis < 0 ? axis + 3 : axis;
      index_dims[a] = 7;
      const int64_t dim = x.dims()[a];
      Node node = make_node("GatherElements", 2);
      set_int(node, "axis", axis);
      for (DataType index_type : {DataType::kInt64, DataType::kInt32})
        expect_match("cuda_GatherElements", node, 13, {x, random_integers(index_type, index_dims, -dim, dim - 1)});
    }
}

TEST(CudaDataMovement, ExpandAndTile) {
  NORMRT_OPS_REQUIRE_GPU();
  struct Case {
    Dims in;
    std::vector<int64_t> shape;
  };
  const std::vector<Case> expands = {{{3, 1}, {2, 3, 4}}, {{1}, {7, 13}}, {{2, 1, 5}, {2, 3, 5}},
                                     {{4, 1, 1}, {1, 1}}, {{3}, {0, 3}},  {{1, 8}, {16, 8}}};
  for (DataType dtype : kTypes) {
    for (const Case& c : expands)
      expect_match("cuda_Expand", make_node("Expand", 2), 13, {random_tensor(dtype, c.in, -9, 9), ints_tensor(c.shape)});
    for (const std::vector<int64_t>& repeats :
         std::vector<std::vector<int64_t>>{{1, 2, 3}, {2, 1, 1}, {3, 3, 2}, {1, 0, 2}, {1, 1, 1}})
      expect_match("cuda_Tile", make_node("Tile", 2), 13, {random_tensor(dtype, {2, 3, 5}, -9, 9), ints_tensor(repeats)});
  }
}

TEST(CudaDataMovement, Pad) {
  NORMRT_OPS_REQUIRE_GPU();
  const std::vector<std::vector<int64_t>> pads_list = {
      {0, 0, 1, 2, 0, 0, 3, 1}, {0, 1, 2, 2, 0, 2, 1, 2}, {0, 0, -1, 2, 0, 0, 1, -2}, {1, 0, 0, 0, 1, 0, 0, 0}};
  for (DataType dtype : kTypes)
    for (const char* mode : {"constant", "reflect", "edge", "wrap"})
      for (const auto& pads : pads_list) {
        Node node = make_node("Pad", 3);
        set_string(node, "mode", mode);
        const Tensor x = random_tensor(dtype, {2, 3, 7, 5}, -9, 9);
        if (std::string(mode) == "constant")
          expect_match("cuda_Pad", node, 19, {x, ints_tensor(pads), scalar_tensor(dtype, 1)});
        Node no_value = make_node("Pad", 2);
        set_string(no_value, "mode", mode);
        expect_match("cuda_Pad", no_value, 19, {x, ints_tensor(pads)});
      }
  // opset 18 axes input (negative axes)
  Node axes = make_node("Pad", 4);
  axes.inputs[2] = "";
  set_string(axes, "mode", "reflect");
  expect_match(
      "cuda_Pad", axes, 18,
      {random_tensor(DataType::kFloat16, {2, 3, 7, 5}), ints_tensor({1, 2, 3, 1}), Tensor(), ints_tensor({-1, 2})});
}

TEST(CudaDataMovement, DepthSpaceIdentityDropout) {
  NORMRT_OPS_REQUIRE_GPU();
  for (DataType dtype : kTypes) {
    for (const char* mode : {"DCR", "CRD"}) {
      Node node = make_node("DepthToSpace", 1);
      set_int(node, "blocksize", 2);
      set_string(node, "mode", mode);
      expect_match("cuda_DepthToSpace", node, 13, {random_tensor(dtype, {2, 12, 3, 5}, -9, 9)});
    }
    Node s2d = make_node("SpaceToDepth", 1);
    set_int(s2d, "blocksize", 3);
    expect_match("cuda_SpaceToDepth", s2d, 13, {random_tensor(dtype, {2, 2, 9, 6}, -9, 9)});
    expect_match("cuda_Identity", make_node("Identity", 1), 13, {random_tensor(dtype, {7, 13, 5}, -9, 9)});
    expect_match("cuda_Dropout", make_node("Dropout", 1, 2), 13, {random_tensor(dtype, {7, 13}, -9, 9)});
  }
}

}  // namespace
}  // namespace testing
}  // namespace cuda
}  // namespace normrt
