// accepts() of the op kernels (cuda_unary.cu, cuda_binary.cu, cuda_data_movement.cu, cuda_reduce.cu,
// cuda_resize.cu) says no, instead of crashing, for what the kernels do not do: dtypes outside each op's list,
// unknown ranks, missing inputs, unsupported attributes and opsets. No GPU needed.
#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <string>
#include <vector>

#include "ops_test_util.h"

namespace normrt {
namespace cuda {
namespace testing {
namespace {

TypeShape typed(DataType dtype, const Dims& dims) { return TypeShape{dtype, Shape::from_dims(dims)}; }

bool accepts(const std::string& kernel_name, const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) {
  const CudaKernel* kernel = CudaKernelRegistry::global().find(kernel_name);
  EXPECT_NE(kernel, nullptr) << kernel_name;
  if (!kernel) return false;
  EXPECT_EQ(kernel->op_type, node.op_type);
  return kernel->accepts(node, opset, inputs);
}

const char* const kFloatOnlyUnary[] = {
    "Sqrt",    "Erf",  "Exp",       "Log", "Sin",  "Cos",         "Reciprocal", "Floor", "Ceil",     "Round",
    "Sigmoid", "Tanh", "LeakyRelu", "Elu", "Selu", "HardSigmoid", "HardSwish",  "Gelu",  "Softplus", "Softsign"};

TEST(CudaOpsAccepts, UnaryRefusesUnsupportedTypes) {
  for (const char* op : kFloatOnlyUnary) {
    const Node node = make_node(op, 1);
    const std::string name = std::string("cuda_") + op;
    EXPECT_TRUE(accepts(name, node, 17, {typed(DataType::kFloat32, {2, 3})})) << op;
    EXPECT_TRUE(accepts(name, node, 17, {typed(DataType::kFloat16, {2, 3})})) << op;
    for (DataType t : {DataType::kFloat64, DataType::kBFloat16, DataType::kInt32, DataType::kInt64, DataType::kBool})
      EXPECT_FALSE(accepts(name, node, 17, {typed(t, {2, 3})})) << op << " " << dtype_name(t);
    EXPECT_FALSE(accepts(name, node, 17, {})) << op;
  }
  for (const char* op : {"Relu", "Neg", "Abs"}) {
    EXPECT_TRUE(accepts(std::string("cuda_") + op, make_node(op, 1), 17, {typed(DataType::kInt64, {3})}));
    EXPECT_FALSE(accepts(std::string("cuda_") + op, make_node(op, 1), 17, {typed(DataType::kUInt8, {3})}));
    EXPECT_FALSE(accepts(std::string("cuda_") + op, make_node(op, 1), 17, {typed(DataType::kFloat64, {3})}));
  }
  EXPECT_FALSE(accepts("cuda_Not", make_node("Not", 1), 17, {typed(DataType::kFloat32, {3})}));
  Node gelu = make_node("Gelu", 1);
  set_string(gelu, "approximate", "sigmoid");
  EXPECT_FALSE(accepts("cuda_Gelu", gelu, 20, {typed(DataType::kFloat32, {3})}));
  EXPECT_FALSE(accepts("cuda_Clip", make_node("Clip", 1), 13, {typed(DataType::kFloat64, {3})}));
  EXPECT_FALSE(
      accepts("cuda_Clip", make_node("Clip", 2), 13, {typed(DataType::kFloat32, {3}), typed(DataType::kFloat16, {})}));
  Node cast = make_node("Cast", 1);
  set_int(cast, "to", static_cast<int64_t>(DataType::kFloat64));
  EXPECT_FALSE(accepts("cuda_Cast", cast, 19, {typed(DataType::kFloat32, {3})}));
  set_int(cast, "to", 17);  // float8
  EXPECT_FALSE(accepts("cuda_Cast", cast, 19, {typed(DataType::kFloat32, {3})}));
  set_int(cast, "to", static_cast<int64_t>(DataType::kFloat16));
  EXPECT_FALSE(accepts("cuda_Cast", cast, 19, {typed(DataType::kBFloat16, {3})}));
  EXPECT_TRUE(accepts("cuda_Cast", cast, 19, {typed(DataType::kInt64, {3})}));
}

TEST(CudaOpsAccepts, BinaryRefusesUnsupportedTypesAndShapes) {
  const std::vector<TypeShape> f64 = {typed(DataType::kFloat64, {2, 3}), typed(DataType::kFloat64, {3})};
  const std::vector<TypeShape> bf16 = {typed(DataType::kBFloat16, {2, 3}), typed(DataType::kBFloat16, {3})};
  const std::vector<TypeShape> i64 = {typed(DataType::kInt64, {2, 3}), typed(DataType::kInt64, {3})};
  const std::vector<TypeShape> mixed = {typed(DataType::kFloat32, {2, 3}), typed(DataType::kFloat16, {3})};
  const std::vector<TypeShape> unranked = {TypeShape{DataType::kFloat32, Shape()}, typed(DataType::kFloat32, {3})};
  const std::vector<TypeShape> too_deep = {typed(DataType::kFloat32, Dims(9, 1)), typed(DataType::kFloat32, {1})};
  for (const char* op :
       {"Add", "Sub", "Mul", "Div", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "PRelu"}) {
    const Node node = make_node(op, 2);
    const std::string name = std::string("cuda_") + op;
    for (const auto* inputs : {&f64, &bf16, &mixed, &unranked, &too_deep})
      EXPECT_FALSE(accepts(name, node, 17, *inputs)) << op;
  }
  EXPECT_FALSE(accepts("cuda_Div", make_node("Div", 2), 17, i64));  // integer division by zero cannot be reported
  EXPECT_TRUE(accepts("cuda_Add", make_node("Add", 2), 17, i64));
  EXPECT_FALSE(accepts("cuda_Mod", make_node("Mod", 2), 17, i64));
  Node mod = make_node("Mod", 2);
  EXPECT_FALSE(accepts("cuda_Mod", mod, 17, {typed(DataType::kFloat32, {3}), typed(DataType::kFloat32, {3})}));
  for (const char* op : {"And", "Or", "Xor"}) EXPECT_FALSE(accepts(std::string("cuda_") + op, make_node(op, 2), 17, i64));
  EXPECT_FALSE(
      accepts("cuda_Pow", make_node("Pow", 2), 15, {typed(DataType::kFloat32, {3}), typed(DataType::kInt64, {})}));
  EXPECT_FALSE(
      accepts("cuda_Where", make_node("Where", 3), 16,
              {typed(DataType::kFloat32, {3}), typed(DataType::kFloat32, {3}), typed(DataType::kFloat32, {3})}));
  EXPECT_FALSE(accepts("cuda_Mean", make_node("Mean", 2), 13, i64));
  EXPECT_FALSE(accepts("cuda_Sum", make_node("Sum", 2), 13, f64));
  std::vector<TypeShape> nine(9, typed(DataType::kFloat32, {3}));
  EXPECT_FALSE(accepts("cuda_Sum", make_node("Sum", 9), 13, nine));
}

TEST(CudaOpsAccepts, DataMovementReductionsResize) {
  const TypeShape f64 = typed(DataType::kFloat64, {2, 3, 4, 5});
  const TypeShape unranked{DataType::kFloat32, Shape()};
  EXPECT_FALSE(accepts("cuda_Transpose", make_node("Transpose", 1), 13, {unranked}));
  EXPECT_FALSE(accepts("cuda_Transpose", make_node("Transpose", 1), 13, {typed(DataType::kFloat32, Dims(9, 2))}));
  EXPECT_FALSE(accepts("cuda_Slice", make_node("Slice", 1), 9, {typed(DataType::kFloat32, {3})}));
  EXPECT_FALSE(
      accepts("cuda_Expand", make_node("Expand", 2), 13, {typed(DataType::kFloat32, {3}), typed(DataType::kInt64, {9})}));
  EXPECT_FALSE(accepts("cuda_Expand", make_node("Expand", 2), 13,
                       {typed(DataType::kFloat32, {3}), TypeShape{DataType::kInt64, Shape({Dim::unknown()})}}));
  EXPECT_TRUE(
      accepts("cuda_Expand", make_node("Expand", 2), 13, {typed(DataType::kFloat32, {3}), typed(DataType::kInt64, {4})}));
  EXPECT_FALSE(accepts("cuda_Gather", make_node("Gather", 2), 13, {f64, typed(DataType::kFloat32, {2})}));
  EXPECT_FALSE(
      accepts("cuda_Gather", make_node("Gather", 2), 13, {typed(DataType::kFloat32, {}), typed(DataType::kInt64, {})}));
  Node pad = make_node("Pad", 2);
  set_string(pad, "mode", "wrap");
  EXPECT_FALSE(accepts("cuda_Pad", pad, 18, {f64, typed(DataType::kInt64, {8})}));
  EXPECT_FALSE(accepts("cuda_Pad", make_node("Pad", 1), 2, {f64}));
  for (const char* op : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceL2", "ReduceLogSumExp"}) {
    EXPECT_FALSE(accepts(std::string("cuda_") + op, make_node(op, 1), 18, {f64})) << op;
    EXPECT_FALSE(accepts(std::string("cuda_") + op, make_node(op, 1), 18, {unranked})) << op;
  }
  EXPECT_FALSE(accepts("cuda_ReduceMean", make_node("ReduceMean", 1), 18, {typed(DataType::kInt64, {3, 4})}));
  Node old_axes = make_node("ReduceMean", 1);
  set_ints(old_axes, "axes", {1});
  EXPECT_FALSE(accepts("cuda_ReduceMean", old_axes, 18, {typed(DataType::kFloat32, {3, 4})}));
  EXPECT_TRUE(accepts("cuda_ReduceMean", old_axes, 13, {typed(DataType::kFloat32, {3, 4})}));
  EXPECT_FALSE(accepts("cuda_Softmax", make_node("Softmax", 1), 13, {f64}));
  EXPECT_FALSE(accepts("cuda_ArgMax", make_node("ArgMax", 1), 13, {typed(DataType::kBool, {3})}));
  EXPECT_FALSE(accepts("cuda_GlobalAveragePool", make_node("GlobalAveragePool", 1), 13, {f64}));
  Node linear = make_node("Resize", 3);
  set_string(linear, "mode", "linear");
  EXPECT_FALSE(accepts("cuda_Resize", linear, 13, {typed(DataType::kInt64, {1, 1, 4, 4})}));
  EXPECT_FALSE(accepts("cuda_Resize", linear, 13, {f64}));
  EXPECT_TRUE(accepts("cuda_Resize", linear, 13, {typed(DataType::kFloat16, {1, 1, 4, 4})}));
  Node symmetric = make_node("Resize", 3);
  set_string(symmetric, "coordinate_transformation_mode", "half_pixel_symmetric");
  EXPECT_FALSE(accepts("cuda_Resize", symmetric, 18, {typed(DataType::kFloat32, {1, 1, 4, 4})}));
  Node unknown = make_node("Resize", 3);
  set_string(unknown, "mode", "area");
  EXPECT_FALSE(accepts("cuda_Resize", unknown, 19, {typed(DataType::kFloat32, {1, 1, 4, 4})}));
}

TEST(CudaOpsAccepts, EveryKernelSurvivesEmptyAndUnrankedInputs) {
  for (const CudaKernel* kernel : CudaKernelRegistry::global().all()) {
    if (kernel->name != "cuda_" + kernel->op_type || !kernel->accepts) continue;  // this file's kernels
    Node node = make_node(kernel->op_type, 2);
    EXPECT_FALSE(kernel->accepts(node, 19, {})) << kernel->name;
    kernel->accepts(node, 19, {TypeShape{DataType::kFloat32, Shape()}, TypeShape{DataType::kInt64, Shape()}});
    kernel->accepts(node, 19, {TypeShape{DataType::kUndefined, Shape()}});
  }
}

// The comparison the op tests use: equal infinities and NaN pairs match, anything else within tolerance only.
TEST(CudaOpsTestUtil, CompareOutputs) {
  const Tensor a = floats_tensor({INFINITY, -INFINITY, NAN, 1.0}), b = floats_tensor({INFINITY, -INFINITY, NAN, 1.0});
  EXPECT_EQ(compare_outputs(a, b, 0, 0), "");
  EXPECT_NE(compare_outputs(floats_tensor({INFINITY}), floats_tensor({-INFINITY}), 1, 1), "");
  EXPECT_NE(compare_outputs(floats_tensor({NAN}), floats_tensor({1.0}), 1, 1), "");
  EXPECT_EQ(compare_outputs(floats_tensor({1.0005}), floats_tensor({1.0}), 1e-3, 0), "");
  EXPECT_NE(compare_outputs(floats_tensor({1.002}), floats_tensor({1.0}), 1e-3, 0), "");
  EXPECT_NE(compare_outputs(ints_tensor({INT64_MAX}), ints_tensor({INT64_MAX - 1}), 1, 1), "");
  EXPECT_EQ(compare_outputs(ints_tensor({INT64_MIN}), ints_tensor({INT64_MIN}), 0, 0), "");
}

}  // namespace
}  // namespace testing
}  // namespace cuda
}  // namespace normrt
