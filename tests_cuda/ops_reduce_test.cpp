// Reduction CUDA kernels (src/cuda/cuda_reduce.cu) against the CPU reference: every Reduce* op over contiguous
// and strided axes (attribute and input forms, keepdims, noop_with_empty_axes, empty reductions), ArgMax /
// ArgMin, Softmax / LogSoftmax on every axis and both opset semantics, GlobalAveragePool / GlobalMaxPool.
// fp32 reductions accumulate in fp32 where the reference uses double: tolerance 1e-4.
#include <string>
#include <vector>

#include "ops_test_util.h"

namespace normrt {
namespace cuda {
namespace testing {
namespace {

const Tolerance kReduceTolerance{1e-4, 1e-4, 3e-3, 3e-3};

Node reduce_node(const std::string& op, int64_t opset, const std::vector<int64_t>& axes, bool has_axes,
                 int64_t keepdims, std::vector<Tensor>* inputs) {
  const int64_t since = op == "ReduceSum" ? 13 : 18;
  Node node = make_node(op, opset >= since && has_axes ? 2 : 1);
  set_int(node, "keepdims", keepdims);
  if (has_axes) {
    if (opset >= since)
      inputs->push_back(ints_tensor(axes));
    else
      set_ints(node, "axes", axes);
  }
  return node;
}

TEST(CudaReduce, EveryKindOverManyAxes) {
  NORMRT_OPS_REQUIRE_GPU();
  const std::vector<std::vector<int64_t>> axes_list = {{1}, {2, 3}, {-1}, {0, 2}, {0, 1, 2, 3}, {3, 0}, {}};
  for (const char* op : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                         "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"})
    for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
      for (int64_t opset : {13, 18})
        for (const auto& axes : axes_list)
          for (int64_t keepdims : {0, 1}) {
            const bool positive = std::string(op) == "ReduceLogSum" || std::string(op) == "ReduceProd";
            std::vector<Tensor> inputs = {random_tensor(dtype, {2, 3, 7, 5}, positive ? 0.5 : -2, positive ? 1.5 : 2)};
            Node node = reduce_node(op, opset, axes, !axes.empty(), keepdims, &inputs);
            expect_match(std::string("cuda_") + op, node, opset, inputs, kReduceTolerance);
          }
}

TEST(CudaReduce, LongRowsAndEdgeCases) {
  NORMRT_OPS_REQUIRE_GPU();
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
    for (const char* op : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceLogSumExp"}) {
      // a long row (block per row), many short rows (warp per row) and a whole-tensor reduction
      for (const Dims& dims : std::vector<Dims>{{3, 5000}, {1000, 7}, {1, 70001}}) {
        std::vector<Tensor> inputs = {random_tensor(dtype, dims, -1, 1)};
        Node node = reduce_node(op, 18, {-1}, true, 1, &inputs);
        expect_match(std::string("cuda_") + op, node, 18, inputs, kReduceTolerance);
      }
      // empty reduced axis: the identity (NaN for the mean, -inf for LogSumExp)
      std::vector<Tensor> empty = {random_tensor(dtype, {3, 0, 4})};
      Node node = reduce_node(op, 18, {1}, true, 0, &empty);
      expect_match(std::string("cuda_") + op, node, 18, empty, kReduceTolerance);
    }
  // noop_with_empty_axes passes the input through
  Node noop = make_node("ReduceMean", 1);
  set_int(noop, "noop_with_empty_axes", 1);
  expect_match("cuda_ReduceMean", noop, 18, {random_tensor(DataType::kFloat32, {4, 5})});
  // NaN propagates through Max / Min
  Tensor nan = floats_tensor({1, NAN, 3, 4, 5, 6});
  Tensor nan_2d = nan.reshaped({2, 3});
  for (const char* op : {"ReduceMax", "ReduceMin"}) {
    std::vector<Tensor> inputs = {nan_2d};
    Node node = reduce_node(op, 18, {1}, true, 1, &inputs);
    expect_match(std::string("cuda_") + op, node, 18, inputs);
  }
}

TEST(CudaReduce, IntegerReductions) {
  NORMRT_OPS_REQUIRE_GPU();
  for (const char* op : {"ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd"})
    for (DataType dtype : {DataType::kInt32, DataType::kInt64})
      for (const auto& axes : std::vector<std::vector<int64_t>>{{1}, {0, 2}, {-1}}) {
        std::vector<Tensor> inputs = {random_tensor(dtype, {4, 6, 5}, -4, 4)};
        Node node = reduce_node(op, 18, axes, true, 1, &inputs);
        expect_match(std::string("cuda_") + op, node, 18, inputs);
      }
}

TEST(CudaReduce, ArgMaxArgMin) {
  NORMRT_OPS_REQUIRE_GPU();
  for (const char* op : {"ArgMax", "ArgMin"})
    for (DataType dtype : {DataType::kFloat32, DataType::kFloat16, DataType::kInt32, DataType::kInt64})
      for (int64_t axis : {0, 1, -1})
        for (int64_t keepdims : {0, 1})
          for (int64_t last : {0, 1}) {
            Node node = make_node(op, 1);
            set_int(node, "axis", axis);
            set_int(node, "keepdims", keepdims);
            set_int(node, "select_last_index", last);
            // few distinct values, so that ties decide select_last_index
            expect_match(std::string("cuda_") + op, node, 13, {random_integers(dtype, {4, 7, 9}, -3, 3)});
          }
}

TEST(CudaReduce, SoftmaxAndLogSoftmax) {
  NORMRT_OPS_REQUIRE_GPU();
  for (const char* op : {"Softmax", "LogSoftmax"})
    for (DataType dtype : {DataType::kFloat32, DataType::kFloat16}) {
      // Rows of whole 16-byte vectors up to 256 of them take the in-register kernel (1024 float16: attention's
      // scores), others the general one.
      for (const Dims& dims : std::vector<Dims>{{2, 3, 7, 13}, {4, 3000}, {64, 77}, {5}, {2, 0, 3}, {3, 5, 1024},
                                                {7, 256}, {2, 3, 2048}, {9, 24}, {4, 1032}, {2, 8}})
        for (int64_t axis : {-1, 0, 1}) {
          if (axis >= static_cast<int64_t>(dims.size())) continue;
          Node node = make_node(op, 1);
          set_int(node, "axis", axis);
          expect_match(std::string("cuda_") + op, node, 13, {random_tensor(dtype, dims, -8, 8)});
          expect_match(std::string("cuda_") + op, node, 11, {random_tensor(dtype, dims, -8, 8)});
        }
      expect_match(std::string("cuda_") + op, make_node(op, 1), 11, {random_tensor(dtype, {2, 3, 4}, -8, 8)});
      expect_match(std::string("cuda_") + op, make_node(op, 1), 13, {random_tensor(dtype, {2, 3, 4}, -8, 8)});
    }
}

TEST(CudaReduce, GlobalPools) {
  NORMRT_OPS_REQUIRE_GPU();
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"})
    for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
      for (const Dims& dims : std::vector<Dims>{{2, 3, 7, 5}, {2, 64, 40, 40}, {1, 5, 9}, {3, 2, 2, 3, 4}})
        expect_match(std::string("cuda_") + op, make_node(op, 1), 13, {random_tensor(dtype, dims, -2, 2)},
                     kReduceTolerance);
}

}  // namespace
}  // namespace testing
}  // namespace cuda
}  // namespace normrt
