// cuDNN MaxPool and AveragePool kernels against the CPU reference on fresh random data (1-D, 2-D, 3-D; batch 1,
// 2 and 5; odd extents; symmetric, asymmetric and automatic padding; ceil_mode; count_include_pad 0 and 1; fp32 and
// fp16), and the nodes accepts() must refuse because cuDNN cannot match ONNX there.
#include <cmath>

#include "dnn_test_util.h"
#include "ops/channels_last.h"

namespace normrt {
namespace cuda {
namespace testing {
namespace {

using ::normrt::DataType;

struct PoolCase {
  Dims x;
  std::vector<int64_t> kernel, strides, pads;
  bool ceil_mode = false;
  bool include_pad = false;
  std::string auto_pad = "";
};

Node pool_node(const std::string& op, const PoolCase& c) {
  Node n = make_node(op, 1);
  set_ints(n, "kernel_shape", c.kernel);
  if (!c.strides.empty()) set_ints(n, "strides", c.strides);
  if (!c.pads.empty()) set_ints(n, "pads", c.pads);
  if (c.ceil_mode) set_int(n, "ceil_mode", 1);
  if (c.include_pad) set_int(n, "count_include_pad", 1);
  if (!c.auto_pad.empty()) set_string(n, "auto_pad", c.auto_pad);
  return n;
}

void check_pool(const std::string& op, const PoolCase& c, DataType dtype, double low = -1.0, double high = 1.0) {
  const std::string kernel = op == "MaxPool" ? "cudnn_max_pool" : "cudnn_average_pool";
  std::vector<int64_t> batches{c.x[0]};
  for (int64_t b : {int64_t{1}, int64_t{5}})
    if (b != c.x[0]) batches.push_back(b);
  for (int64_t batch : batches) {
    PoolCase at = c;
    at.x[0] = batch;
    Tensor x = random_tensor(dtype, at.x, low, high);
    // Averages and maxima round once: the fp16 output's rounding is all the error there is.
    const Tolerance tol = dtype == DataType::kFloat16 ? Tolerance{1e-3, 1e-3} : Tolerance{1e-5, 1e-5};
    EXPECT_EQ(check_node(kernel, pool_node(op, at), {&x}, tol), "") << op << " " << dtype_name(dtype);
  }
}

const std::vector<PoolCase> kMaxCases = {
    {{1, 3, 7, 9}, {3, 3}, {2, 2}, {1, 1, 1, 1}},
    {{2, 4, 13, 1}, {3, 1}, {2, 1}, {1, 0, 1, 0}},
    {{2, 3, 8, 10}, {3, 3}, {2, 2}, {0, 0, 0, 0}, true},          // ceil_mode adds a window on both axes
    {{5, 3, 9, 10}, {3, 2}, {2, 3}, {1, 0, 0, 1}, true},          // asymmetric; ceil_mode adds a row
    {{1, 2, 8, 8}, {2, 2}, {2, 2}, {0, 0, 1, 1}},                 // asymmetric
    {{2, 3, 12}, {3}, {2}, {0, 0}, true},                         // 1-D, ceil_mode adds a window
    {{1, 2, 5, 6, 7}, {2, 3, 3}, {2, 2, 2}, {0, 1, 1, 1, 1, 1}},  // 3-D
    {{5, 2, 9, 7}, {3, 3}, {2, 2}, {}, false, false, "SAME_UPPER"},
    {{2, 2, 9, 7}, {2, 2}, {1, 1}, {}, false, false, "SAME_LOWER"},
    {{2, 16, 56, 56}, {3, 3}, {2, 2}, {1, 1, 1, 1}},  // ResNet's stem pool
};

const std::vector<PoolCase> kAverageCases = {
    {{1, 3, 7, 9}, {3, 3}, {2, 2}, {1, 1, 1, 1}, false, true},
    {{1, 3, 7, 9}, {3, 3}, {2, 2}, {1, 1, 1, 1}, false, false},
    {{2, 2, 8, 8}, {3, 3}, {1, 1}, {0, 1, 1, 0}, false, true},                 // asymmetric, counting the padding
    {{1, 2, 7, 7}, {3, 3}, {1, 1}, {1, 1, 1, 1}, true, false},                 // ceil_mode with stride 1
    {{5, 1, 7, 7}, {3, 3}, {2, 2}, {0, 0, 0, 0}, true, true},                  // ceil_mode adds no window here
    {{2, 3, 11}, {4}, {3}, {1, 1}, false, false},                              // 1-D
    {{2, 2, 4, 5, 6}, {2, 2, 3}, {2, 1, 2}, {0, 0, 0, 0, 0, 0}, false, true},  // 3-D
    {{2, 4, 9, 9}, {3, 3}, {1, 1}, {}, false, false, "SAME_UPPER"},            // symmetric padding at stride 1
    {{2, 4, 8, 8}, {2, 2}, {2, 2}, {}, false, true, "SAME_UPPER"},
    {{2, 64, 7, 7}, {7, 7}, {1, 1}, {0, 0, 0, 0}, false, false},  // a global average as a window
};

TEST(CudnnPool, MaxMatchesReference) {
  NORMRT_REQUIRE_GPU();
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
    for (const PoolCase& c : kMaxCases) check_pool("MaxPool", c, dtype);
}

// All-negative data: a padded tap that counted as 0 would win every window that touches the padding.
TEST(CudnnPool, MaxNeverTakesPadding) {
  NORMRT_REQUIRE_GPU();
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
    for (const PoolCase& c : kMaxCases) check_pool("MaxPool", c, dtype, -3.0, -1.0);
}

TEST(CudnnPool, AverageMatchesReference) {
  NORMRT_REQUIRE_GPU();
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
    for (const PoolCase& c : kAverageCases) check_pool("AveragePool", c, dtype);
}

// ai.normrt NhwcMaxPool / NhwcAveragePool (the layout pass's channels-last pooling, our own kernel) against its
// reference on every 2-D case above, plus dilations and channel counts on both the 16-byte and the scalar path
// (C = 16 and 64: vectors; 3, 5 and 6: scalars in fp16). No refusals here: the kernel reads taps directly, so
// asymmetric padding, ceil_mode windows and count_include_pad all match ONNX.
void check_nhwc_pool(const std::string& op, const PoolCase& c, DataType dtype, double low = -1.0, double high = 1.0) {
  const std::string kernel = op == "MaxPool" ? "cuda_nhwc_max_pool" : "cuda_nhwc_average_pool";
  for (int64_t batch : {c.x[0], int64_t{1}, int64_t{3}}) {
    PoolCase at = c;
    at.x[0] = batch;
    Node node = pool_node("Nhwc" + op, at);
    node.domain = kNormrtDomain;
    const Tensor x = permute_tensor(random_tensor(dtype, at.x, low, high), to_channels_last_perm(4));
    const Tolerance tol = dtype == DataType::kFloat16 ? Tolerance{1e-3, 1e-3} : Tolerance{1e-5, 1e-5};
    EXPECT_EQ(check_node(kernel, node, {&x}, tol, "", 19), "")
        << op << " X " << dims_to_string(at.x) << " " << dtype_name(dtype);
  }
}

std::vector<PoolCase> nhwc_cases(const std::vector<PoolCase>& cases) {
  std::vector<PoolCase> out;
  for (const PoolCase& c : cases)
    if (c.x.size() == 4) out.push_back(c);
  out.push_back({{2, 64, 15, 13}, {3, 3}, {2, 2}, {1, 1, 1, 1}, true, true});
  out.push_back({{1, 5, 9, 9}, {2, 3}, {1, 2}, {0, 1, 1, 0}, true, false});
  out.push_back({{3, 6, 10, 10}, {3, 3}, {1, 1}, {1, 1, 1, 1}});
  return out;
}

TEST(NhwcPool, MaxMatchesReference) {
  NORMRT_REQUIRE_GPU();
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
    for (const PoolCase& c : nhwc_cases(kMaxCases)) {
      check_nhwc_pool("MaxPool", c, dtype);
      check_nhwc_pool("MaxPool", c, dtype, -3.0, -1.0);  // padded taps must never win
    }
}

TEST(NhwcPool, AverageMatchesReference) {
  NORMRT_REQUIRE_GPU();
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
    for (const PoolCase& c : nhwc_cases(kAverageCases)) check_nhwc_pool("AveragePool", c, dtype);
}

TEST(NhwcPool, DilatedMaxAndNaNMatchReference) {
  NORMRT_REQUIRE_GPU();
  PoolCase c{{2, 16, 11, 12}, {3, 3}, {1, 2}, {2, 2, 2, 2}};
  Node node = pool_node("NhwcMaxPool", c);
  node.domain = kNormrtDomain;
  set_ints(node, "dilations", {2, 3});
  Tensor x = permute_tensor(random_tensor(DataType::kFloat32, c.x), to_channels_last_perm(4));
  for (int64_t i = 0; i < x.numel(); i += 97) x.data<float>()[i] = std::nanf("");  // a NaN wins its windows
  EXPECT_EQ(check_node("cuda_nhwc_max_pool", node, {&x}, Tolerance{1e-6, 1e-6}), "");
}

TEST(CudnnPool, RefusesWhatCudnnCannotMatch) {
  const CudaKernel* max_pool = CudaKernelRegistry::global().find("cudnn_max_pool");
  const CudaKernel* average = CudaKernelRegistry::global().find("cudnn_average_pool");
  ASSERT_TRUE(max_pool && average);
  auto types = [](const Dims& x) { return std::vector<TypeShape>{{DataType::kFloat32, Shape::from_dims(x)}}; };
  // Average without counting the padding: asymmetric padding.
  EXPECT_FALSE(average->accepts(pool_node("AveragePool", {{1, 1, 8, 8}, {3, 3}, {1, 1}, {0, 1, 1, 0}}), 17,
                                types({1, 1, 8, 8})));
  // A ceil_mode window past the end padding (8 -> 4 windows of 3 at stride 2, the last one reaching index 8).
  EXPECT_FALSE(average->accepts(pool_node("AveragePool", {{1, 1, 8, 8}, {3, 3}, {2, 2}, {0, 0, 0, 0}, true}), 17,
                                types({1, 1, 8, 8})));
  // The same with an unknown extent: it may happen, so no.
  std::vector<TypeShape> unknown = types({1, 1, 8, 8});
  unknown[0].shape.dims[2] = Dim::unknown();
  EXPECT_FALSE(
      average->accepts(pool_node("AveragePool", {{1, 1, 8, 8}, {3, 3}, {2, 2}, {0, 0, 0, 0}, true}), 17, unknown));
  EXPECT_TRUE(max_pool->accepts(pool_node("MaxPool", {{1, 1, 8, 8}, {3, 3}, {2, 2}, {0, 0, 0, 0}, true}), 17, unknown));
  // Dilations, and MaxPool's Indices output.
  Node dilated = pool_node("MaxPool", {{1, 1, 8, 8}, {3, 3}, {1, 1}, {0, 0, 0, 0}});
  set_ints(dilated, "dilations", {2, 2});
  EXPECT_FALSE(max_pool->accepts(dilated, 17, types({1, 1, 8, 8})));
  Node indices = make_node("MaxPool", 1, 2);
  set_ints(indices, "kernel_shape", {2, 2});
  EXPECT_FALSE(max_pool->accepts(indices, 17, types({1, 1, 8, 8})));
  // float64 is not cuDNN's.
  EXPECT_FALSE(max_pool->accepts(pool_node("MaxPool", {{1, 1, 8, 8}, {2, 2}, {2, 2}, {}}), 17,
                                 std::vector<TypeShape>{{DataType::kFloat64, Shape::from_dims({1, 1, 8, 8})}}));
}

}  // namespace
}  // namespace testing
}  // namespace cuda
}  // namespace normrt
