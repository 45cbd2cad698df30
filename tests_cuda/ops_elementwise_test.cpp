// Elementwise CUDA kernels (src/cuda/cuda_unary.cu, cuda_binary.cu) against the CPU reference on random data:
// every unary op and activation, Clip, Cast, the binary ops with broadcasting, comparisons, logic, Where, Pow
// and the variadic ops, in float32 and float16 (and the integer / bool types each op allows).
#include <string>
#include <vector>

#include "ops_test_util.h"

namespace normrt {
namespace cuda {
namespace testing {
namespace {

const std::vector<Dims> kUnaryShapes = {{7, 13, 5}, {2, 3, 8, 8}, {1}, {}, {0, 3}, {100003}, {3, 1, 17}};

struct UnaryCase {
  const char* op;
  double low, high;
};

TEST(CudaUnaryOps, FloatOpsMatchReference) {
  NORMRT_OPS_REQUIRE_GPU();
  const std::vector<UnaryCase> cases = {
      {"Sqrt", 0.01, 4},      {"Erf", -3, 3},         {"Exp", -5, 5},       {"Log", 0.01, 10},   {"Sin", -4, 4},
      {"Cos", -4, 4},         {"Reciprocal", 0.5, 3}, {"Floor", -4, 4},     {"Ceil", -4, 4},     {"Round", -4, 4},
      {"Sigmoid", -8, 8},     {"Tanh", -4, 4},        {"LeakyRelu", -4, 4}, {"Elu", -4, 4},      {"Selu", -4, 4},
      {"HardSigmoid", -5, 5}, {"HardSwish", -5, 5},   {"Gelu", -5, 5},      {"Softplus", -8, 8}, {"Softsign", -4, 4},
      {"Relu", -4, 4},        {"Neg", -4, 4},         {"Abs", -4, 4}};
  for (const UnaryCase& c : cases)
    for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
      for (const Dims& dims : kUnaryShapes) {
        Node node = make_node(c.op, 1);
        expect_match(std::string("cuda_") + c.op, node, 17, {random_tensor(dtype, dims, c.low, c.high)});
      }
}

TEST(CudaUnaryOps, RoundHalvesToEven) {
  NORMRT_OPS_REQUIRE_GPU();
  Tensor x = floats_tensor({-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 2.4999, -0.49});
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16}) {
    Tensor t(dtype, x.dims());
    for (int64_t i = 0; i < x.numel(); ++i) set_element_from_double(t, i, x.data<float>()[i]);
    expect_match("cuda_Round", make_node("Round", 1), 17, {t});
  }
}

TEST(CudaUnaryOps, AttributesMatchReference) {
  NORMRT_OPS_REQUIRE_GPU();
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16}) {
    const Tensor x = random_tensor(dtype, {2, 5, 7, 3}, -6, 6);
    Node leaky = make_node("LeakyRelu", 1);
    set_float(leaky, "alpha", 0.2f);
    expect_match("cuda_LeakyRelu", leaky, 17, {x});
    Node elu = make_node("Elu", 1);
    set_float(elu, "alpha", 0.7f);
    expect_match("cuda_Elu", elu, 17, {x});
    Node selu = make_node("Selu", 1);
    set_float(selu, "alpha", 1.5f);
    set_float(selu, "gamma", 0.9f);
    expect_match("cuda_Selu", selu, 17, {x});
    Node hard = make_node("HardSigmoid", 1);
    set_float(hard, "alpha", 0.3f);
    set_float(hard, "beta", 0.4f);
    expect_match("cuda_HardSigmoid", hard, 17, {x});
    Node gelu = make_node("Gelu", 1);
    set_string(gelu, "approximate", "tanh");
    expect_match("cuda_Gelu", gelu, 20, {x});
  }
}

TEST(CudaUnaryOps, IntegerAndBoolOps) {
  NORMRT_OPS_REQUIRE_GPU();
  for (DataType dtype : {DataType::kInt32, DataType::kInt64})
    for (const char* op : {"Relu", "Neg", "Abs"})
      expect_match(std::string("cuda_") + op, make_node(op, 1), 17, {random_tensor(dtype, {7, 13, 5}, -100, 100)});
  expect_match("cuda_Not", make_node("Not", 1), 17, {random_tensor(DataType::kBool, {3, 7, 11})});
}

TEST(CudaUnaryOps, Clip) {
  NORMRT_OPS_REQUIRE_GPU();
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16, DataType::kInt32, DataType::kInt64}) {
    const Tensor x = random_tensor(dtype, {2, 3, 7, 5}, -10, 10);
    const Tensor lo = scalar_tensor(dtype, -3), hi = scalar_tensor(dtype, 4);
    expect_match("cuda_Clip", make_node("Clip", 3), 13, {x, lo, hi});
    expect_match("cuda_Clip", make_node("Clip", 2), 13, {x, lo});
    Node only_max = make_node("Clip", 3);
    only_max.inputs[1] = "";
    expect_match("cuda_Clip", only_max, 13, {&x, nullptr, &hi});
    expect_match("cuda_Clip", make_node("Clip", 1), 13, {x});
    const Tensor inverted_lo = scalar_tensor(dtype, 5), inverted_hi = scalar_tensor(dtype, 1);
    expect_match("cuda_Clip", make_node("Clip", 3), 13, {x, inverted_lo, inverted_hi});
  }
  Node attrs = make_node("Clip", 1);
  set_float(attrs, "min", -0.5f);
  set_float(attrs, "max", 0.25f);
  expect_match("cuda_Clip", attrs, 6, {random_tensor(DataType::kFloat32, {4, 9}, -1, 1)});
  expect_match("cuda_Clip", attrs, 6, {random_tensor(DataType::kFloat16, {4, 9}, -1, 1)});
}

TEST(CudaUnaryOps, CastBetweenEverySupportedPair) {
  NORMRT_OPS_REQUIRE_GPU();
  const std::vector<DataType> types = {DataType::kFloat32, DataType::kFloat16, DataType::kInt32, DataType::kInt64,
                                       DataType::kInt8,    DataType::kUInt8,   DataType::kBool};
  for (DataType from : types) {
    Tensor x = random_tensor(from, {3, 7, 13}, -300, 300);
    if (from == DataType::kFloat32) {  // specials: NaN, infinities, out-of-range and halves
      const double specials[] = {NAN, INFINITY, -INFINITY, 3e9, -3e9, 2.5, -2.5, 0.0, 1e20, 65504.0, 70000.0};
      for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]); ++i)
        set_element_from_double(x, static_cast<int64_t>(i), specials[i]);
    }
    for (DataType to : types) {
      Node cast = make_node("Cast", 1);
      set_int(cast, "to", static_cast<int64_t>(to));
      expect_match("cuda_Cast", cast, 19, {x}, Tolerance{0, 0, 0, 0});
      Node like = make_node("CastLike", 2);
      expect_match("cuda_CastLike", like, 19, {x, random_tensor(to, {1})}, Tolerance{0, 0, 0, 0});
    }
  }
}

// ---- binary ----
struct ShapePair {
  Dims a, b;
};
const std::vector<ShapePair> kBroadcasts = {{{2, 3, 7, 13}, {2, 3, 7, 13}},
                                            {{2, 3, 5, 7}, {3, 1, 1}},
                                            {{2, 1, 5, 1}, {1, 4, 1, 6}},
                                            {{7, 13, 5}, {13, 1}},
                                            {{7, 13, 5}, {}},
                                            {{1}, {4, 9}},
                                            {{0, 4}, {4}},
                                            {{5, 1}, {1, 5}},
                                            {{100003}, {100003}},
                                            {{2, 3, 4, 5, 6}, {3, 1, 5, 1}},
                                            {{8, 4}, {1}}};

TEST(CudaBinaryOps, ArithmeticWithBroadcasting) {
  NORMRT_OPS_REQUIRE_GPU();
  for (const char* op : {"Add", "Sub", "Mul", "Div"})
    for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
      for (const ShapePair& s : kBroadcasts) {
        Tensor a = random_tensor(dtype, s.a, -3, 3), b = random_tensor(dtype, s.b, 0.5, 3);
        expect_match(std::string("cuda_") + op, make_node(op, 2), 17, {a, b});
        expect_match(std::string("cuda_") + op, make_node(op, 2), 17, {b, a});
      }
  for (const char* op : {"Add", "Sub", "Mul"})
    for (DataType dtype : {DataType::kInt32, DataType::kInt64})
      for (const ShapePair& s : kBroadcasts)
        expect_match(std::string("cuda_") + op, make_node(op, 2), 17,
                     {random_tensor(dtype, s.a, -1000, 1000), random_tensor(dtype, s.b, -1000, 1000)});
}

TEST(CudaBinaryOps, ModPReluPow) {
  NORMRT_OPS_REQUIRE_GPU();
  Node mod = make_node("Mod", 2);
  set_int(mod, "fmod", 1);
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16}) {
    for (const ShapePair& s : kBroadcasts)
      expect_match("cuda_Mod", mod, 13, {random_tensor(dtype, s.a, -10, 10), random_tensor(dtype, s.b, 0.5, 3)});
    for (const Dims& slope : std::vector<Dims>{{3, 1, 1}, {1}, {5}, {2, 3, 4, 5}})
      expect_match("cuda_PRelu", make_node("PRelu", 2), 16,
                   {random_tensor(dtype, {2, 3, 4, 5}, -3, 3), random_tensor(dtype, slope, -1, 1)});
    for (DataType exponent : {DataType::kFloat32, DataType::kFloat16}) {
      expect_match("cuda_Pow", make_node("Pow", 2), 15,
                   {random_tensor(dtype, {2, 3, 7, 5}, 0.1, 3), random_tensor(exponent, {7, 5}, -2, 3)});
      expect_match("cuda_Pow", make_node("Pow", 2), 15,
                   {random_tensor(dtype, {2, 3, 7, 5}, -3, 3), scalar_tensor(exponent, 2.0)});
      expect_match("cuda_Pow", make_node("Pow", 2), 15,
                   {random_tensor(dtype, {9, 17}, 0.1, 3), scalar_tensor(exponent, 0.5)});
    }
  }
}

TEST(CudaBinaryOps, ComparisonsAndLogic) {
  NORMRT_OPS_REQUIRE_GPU();
  for (const char* op : {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"})
    for (DataType dtype : {DataType::kFloat32, DataType::kFloat16, DataType::kInt32, DataType::kInt64})
      for (const ShapePair& s : kBroadcasts)
        // small integer values so that equal elements occur
        expect_match(std::string("cuda_") + op, make_node(op, 2), 17,
                     {random_integers(dtype, s.a, -2, 2), random_integers(dtype, s.b, -2, 2)});
  for (const ShapePair& s : kBroadcasts) {
    expect_match("cuda_Equal", make_node("Equal", 2), 19,
                 {random_tensor(DataType::kBool, s.a), random_tensor(DataType::kBool, s.b)});
    for (const char* op : {"And", "Or", "Xor"})
      expect_match(std::string("cuda_") + op, make_node(op, 2), 7,
                   {random_tensor(DataType::kBool, s.a), random_tensor(DataType::kBool, s.b)});
  }
}

TEST(CudaBinaryOps, Where) {
  NORMRT_OPS_REQUIRE_GPU();
  struct Shapes {
    Dims c, x, y;
  };
  const std::vector<Shapes> shapes = {{{2, 3, 7, 5}, {2, 3, 7, 5}, {2, 3, 7, 5}},
                                      {{7, 5}, {2, 3, 1, 5}, {}},
                                      {{1, 3, 1, 1}, {2, 3, 4, 5}, {5}},
                                      {{0, 3}, {3}, {1}},
                                      {{100003}, {1}, {100003}}};
  for (DataType dtype :
       {DataType::kFloat32, DataType::kFloat16, DataType::kInt64, DataType::kInt32, DataType::kBool, DataType::kUInt8})
    for (const Shapes& s : shapes)
      expect_match("cuda_Where", make_node("Where", 3), 16,
                   {random_tensor(DataType::kBool, s.c), random_tensor(dtype, s.x, -50, 50),
                    random_tensor(dtype, s.y, -50, 50)});
}

TEST(CudaBinaryOps, VariadicSumMeanMaxMin) {
  NORMRT_OPS_REQUIRE_GPU();
  const std::vector<std::vector<Dims>> shape_sets = {{{2, 3, 7, 5}},
                                                     {{2, 3, 7, 5}, {2, 3, 7, 5}},
                                                     {{2, 3, 7, 5}, {3, 1, 1}, {5}},
                                                     {{1}, {4, 1}, {1, 6}, {4, 6}},
                                                     {{0, 2}, {2}}};
  for (const char* op : {"Sum", "Mean", "Max", "Min"})
    for (DataType dtype : {DataType::kFloat32, DataType::kFloat16, DataType::kInt64, DataType::kInt32}) {
      if (std::string(op) == "Mean" && !is_float(dtype)) continue;
      for (const auto& shapes : shape_sets) {
        std::vector<Tensor> inputs;
        for (const Dims& d : shapes) inputs.push_back(random_tensor(dtype, d, -20, 20));
        expect_match(std::string("cuda_") + op, make_node(op, inputs.size()), 13, inputs);
      }
    }
  // NaN propagates through Max and Min like numpy.maximum
  Tensor a = floats_tensor({1, NAN, 3}), b = floats_tensor({NAN, 2, 1});
  expect_match("cuda_Max", make_node("Max", 2), 13, {a, b});
  expect_match("cuda_Min", make_node("Min", 2), 13, {a, b});
}

// The lighter runner of ops_test_util.h agrees with the shared one (tests_cuda/cuda_kernel_test_util.h).
TEST(CudaBinaryOps, SharedHelperAgrees) {
  NORMRT_REQUIRE_GPU();
  const Tensor a = random_tensor(DataType::kFloat16, {2, 3, 7, 5}), b = random_tensor(DataType::kFloat16, {3, 1, 1});
  const Node node = make_node("Add", 2);
  const std::vector<Tensor> got = run_cuda_node("cuda_Add", node, 17, {&a, &b});
  const std::vector<Tensor> want = run_reference(node, 17, {&a, &b});
  EXPECT_EQ(compare_tensors(got[0], want[0], 2e-3, 2e-3), "");
}

}  // namespace
}  // namespace testing
}  // namespace cuda
}  // namespace normrt
