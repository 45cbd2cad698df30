#include "ops/tensor_ops_util.h"

namespace normrt::test {
namespace {

// Concatenation by definition: output index i along the axis reads input k at i - (sum of earlier sizes).
Tensor naive_concat(const std::vector<Tensor>& parts, int64_t axis) {
  Dims out_dims = parts[0].dims();
  out_dims[axis] = 0;
  for (const Tensor& p : parts) out_dims[axis] += p.dims()[axis];
  Tensor y(parts[0].dtype(), out_dims);
  const size_t size = dtype_size(y.dtype());
  for (int64_t i = 0; i < y.numel(); ++i) {
    Dims index = unravel(i, out_dims);
    size_t k = 0;
    while (index[axis] >= parts[k].dims()[axis]) index[axis] -= parts[k++].dims()[axis];
    std::memcpy(static_cast<unsigned char*>(y.raw()) + i * size,
                static_cast<const unsigned char*>(parts[k].raw()) + ravel(index, parts[k].dims()) * size, size);
  }
  return y;
}

// Output k along the axis is the input range [offset_k, offset_k + sizes[k]).
std::vector<Tensor> naive_split(const Tensor& x, int64_t axis, const std::vector<int64_t>& sizes) {
  std::vector<Tensor> out;
  int64_t offset = 0;
  for (int64_t s : sizes) {
    Dims dims = x.dims();
    dims[axis] = s;
    out.push_back(map_elements(x, x.dtype(), dims, [&](const Dims& o, Dims* in) {
      *in = o;
      (*in)[axis] += offset;
      return true;
    }));
    offset += s;
  }
  return out;
}

Node concat_node(size_t inputs, int64_t axis) {
  Node n = make_node("Concat", inputs);
  set_int(n, "axis", axis);
  return n;
}

TEST(Concat, HandComputed) {
  Tensor a = float_tensor({1, 2, 3, 4}, {2, 2});
  Tensor b = float_tensor({5, 6}, {2, 1});
  expect_same(run(concat_node(2, 1), {&a, &b}, 13)[0], float_tensor({1, 2, 5, 3, 4, 6}, {2, 3}));
  expect_same(run(concat_node(2, -1), {&a, &b}, 11)[0], float_tensor({1, 2, 5, 3, 4, 6}, {2, 3}));
}

TEST(Concat, MatchesNaiveOnEveryAxisAndDtype) {
  const std::vector<Dims> shapes = {{7}, {3, 5}, {2, 3, 4}, {1, 13, 1, 3}};
  for (const Dims& dims : shapes) {
    const int64_t rank = static_cast<int64_t>(dims.size());
    for (int64_t axis = -rank; axis < rank; ++axis) {
      const int64_t a = axis < 0 ? axis + rank : axis;
      for (DataType dtype : moved_dtypes()) {
        std::vector<Tensor> parts;
        for (int64_t size : {int64_t{2}, int64_t{0}, int64_t{1}, int64_t{3}}) {  // a zero-size part among them
          Dims d = dims;
          d[a] = size;
          parts.push_back(random_of(dtype, d));
        }
        std::vector<const Tensor*> inputs;
        for (const Tensor& p : parts) inputs.push_back(&p);
        expect_same(run(concat_node(parts.size(), axis), inputs, 13)[0], naive_concat(parts, a),
                    dims_to_string(dims) + " axis " + std::to_string(axis) + " " + dtype_name(dtype));
      }
    }
  }
  // One input, and all-empty inputs.
  Tensor x = random_tensor({3, 2});
  expect_same(run(concat_node(1, 0), {&x}, 13)[0], x);
  Tensor e1 = random_tensor({0, 2}), e2 = random_tensor({0, 2});
  EXPECT_EQ(run(concat_node(2, 0), {&e1, &e2}, 13)[0].dims(), (Dims{0, 2}));
}

TEST(Concat, Errors) {
  Tensor a = random_tensor({2, 3}), b = random_tensor({3, 3}), c = random_tensor({2, 3, 1});
  expect_error([&] { run(concat_node(2, 1), {&a, &b}, 13); }, {"Concat_test", "dim 0", "3 vs 2", "concat axis 1"});
  expect_error([&] { run(concat_node(2, 0), {&a, &c}, 13); }, {"rank 3", "rank 2"});
  expect_error([&] { run(concat_node(2, 2), {&a, &b}, 13); }, {"axis 2", "out of range"});
  Tensor i = random_of(DataType::kInt64, {2, 3});
  expect_error([&] { run(concat_node(2, 0), {&a, &i}, 13); }, {"int64", "float32"});
  Node no_axis = make_node("Concat", 2);
  expect_error([&] { run(no_axis, {&a, &a}, 13); }, {"axis"});
}

TEST(ConcatShape, KeepsSymbolsAndSumsKnownParts) {
  Node n = concat_node(2, 1);
  auto shape = [&](const std::string& x, const std::string& y) {
    return infer(n, 13, {ts(DataType::kFloat32, x), ts(DataType::kFloat32, y)}).shape();
  };
  EXPECT_EQ(shape("batch,3,h", "batch,5,h"), "[batch,8,h]");
  EXPECT_EQ(shape("batch,3", "?,5"), "[?,8]");  // batch vs unnamed: not provably batch
  EXPECT_EQ(shape("batch,3", "2,5"), "[2,8]");  // the known dim fixes it
  EXPECT_EQ(shape("batch,seq", "batch,0"), "[batch,seq]");
  EXPECT_EQ(shape("batch,seq", "batch,1"), "[batch,?]");
  EXPECT_EQ(shape("batch,3", "*"), "[?,?]");
  EXPECT_EQ(shape("*", "*"), "[?]");
  expect_error([&] { shape("2,3", "4,3"); }, {"dim 0", "4 vs 2"});
  expect_error([&] { shape("2,4611686018427387904", "2,4611686018427387904"); },
               {"along axis 1", "sum beyond the largest int64"});
  // Concat of shape values (int64) folds through infer_graph: Shape -> Concat -> Reshape.
  Graph g;
  g.opsets[""] = 17;
  g.inputs.push_back(ValueInfo{"x", DataType::kFloat32, shape_of("6,4")});
  g.initializers["minus_one"] = i64({-1});
  Node shape_node = make_node("Shape", 0);
  shape_node.inputs = {"x"};
  shape_node.outputs = {"s"};
  Node cat = concat_node(0, 0);
  cat.inputs = {"minus_one", "s"};
  cat.outputs = {"target"};
  Node reshape = make_node("Reshape", 0);
  reshape.inputs = {"x", "target"};
  reshape.outputs = {"y"};
  g.nodes = {shape_node, cat, reshape};
  GraphTypes types = infer_graph(g, {});
  ASSERT_EQ(types.values.count("target"), 1u);
  EXPECT_EQ(values_of(types.values.at("target")), (std::vector<double>{-1, 6, 4}));
  EXPECT_EQ(types.types.at("y").shape.to_string(), "[1,6,4]");
}

// ---- Split -----------------------------------------------------------------------------------------------

std::vector<Tensor> run_split(const Tensor& x, int64_t axis, size_t outputs, int64_t opset,
                              const std::vector<int64_t>* split = nullptr, int64_t num_outputs = -1) {
  Node n = make_node("Split", opset >= 13 && split ? 2 : 1, outputs);
  set_int(n, "axis", axis);
  if (num_outputs >= 0) set_int(n, "num_outputs", num_outputs);
  if (opset < 13 && split) set_ints(n, "split", *split);
  if (opset >= 13 && split) {
    Tensor s = i64(*split);
    return run(n, {&x, &s}, opset);
  }
  return run(n, {&x}, opset);
}

void expect_parts(const std::vector<Tensor>& actual, const std::vector<Tensor>& expected, const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (size_t i = 0; i < actual.size(); ++i) expect_same(actual[i], expected[i], what + " part " + std::to_string(i));
}

TEST(Split, SizesFromAttributeBefore13AndInputFrom13) {
  for (int64_t opset : {11, 12, 13, 17, 18, 21}) {
    for (DataType dtype : moved_dtypes()) {
      Tensor x = random_of(dtype, {3, 7, 2});
      std::vector<int64_t> sizes = {2, 0, 4, 1};
      const std::string what = "opset " + std::to_string(opset) + " " + dtype_name(dtype);
      expect_parts(run_split(x, 1, 4, opset, &sizes), naive_split(x, 1, sizes), what);
      expect_parts(run_split(x, -2, 4, opset, &sizes), naive_split(x, 1, sizes), what + " axis -2");
      // No sizes: equal parts, one per output.
      expect_parts(run_split(x, 0, 3, opset), naive_split(x, 0, {1, 1, 1}), what + " equal");
      expect_parts(run_split(x, 2, 2, opset), naive_split(x, 2, {1, 1}), what + " equal last axis");
    }
  }
}

TEST(Split, NumOutputsFromOpset18AllowsASmallerLastPart) {
  Tensor x = random_tensor({2, 10, 3});
  // ceil(10 / 3) = 4: parts 4, 4, 2 (ONNX Split-18).
  expect_parts(run_split(x, 1, 3, 18, nullptr, 3), naive_split(x, 1, {4, 4, 2}), "10 into 3");
  expect_parts(run_split(x, 1, 2, 18, nullptr, 2), naive_split(x, 1, {5, 5}), "10 into 2");
  Tensor nine = random_tensor({9});
  expect_parts(run_split(nine, 0, 4, 18, nullptr, 4), naive_split(nine, 0, {3, 3, 3, 0}), "9 into 4");
  Tensor five = random_tensor({5});
  expect_error([&] { run_split(five, 0, 4, 18, nullptr, 4); }, {"last part would be negative"});
  // Before 18 (and without num_outputs) an uneven equal split is an error.
  expect_error([&] { run_split(x, 1, 3, 17); }, {"Split_test", "10", "3 equal parts"});
  expect_error([&] { run_split(x, 1, 3, 18); }, {"10", "3 equal parts", "num_outputs"});
  expect_error([&] { run_split(x, 1, 3, 17, nullptr, 3); }, {"num_outputs", "opset 18"});
  expect_error([&] { run_split(x, 1, 2, 18, nullptr, 3); }, {"num_outputs is 3", "2 outputs"});
  std::vector<int64_t> sizes = {5, 5};
  expect_error([&] { run_split(x, 1, 2, 18, &sizes, 2); }, {"both"});
}

TEST(Split, Errors) {
  Tensor x = random_tensor({4, 6});
  std::vector<int64_t> sizes = {2, 3};
  expect_error([&] { run_split(x, 1, 2, 13, &sizes); }, {"Split_test", "[2,3]", "sums to 5", "axis dim is 6"});
  expect_error([&] { run_split(x, 1, 2, 11, &sizes); }, {"sums to 5"});
  sizes = {2, 2, 2};
  expect_error([&] { run_split(x, 1, 2, 13, &sizes); }, {"3 parts", "2 outputs"});
  sizes = {7, -1};
  expect_error([&] { run_split(x, 1, 2, 13, &sizes); }, {"negative"});
  expect_error([&] { run_split(x, 2, 2, 13); }, {"axis 2", "out of range"});
  // Sizes whose sum overflows int64 (found by the onnx_import fuzzer).
  sizes = {int64_t{1} << 62, int64_t{1} << 62};
  expect_error([&] { run_split(x, 1, 2, 13, &sizes); }, {"sums beyond the largest int64", "corrupt"});
  // The wrong form for the opset.
  Node attr13 = make_node("Split", 1, 2);
  set_ints(attr13, "split", {3, 3});
  expect_error([&] { run(attr13, {&x}, 13); }, {"input 1 from opset 13"});
  Node input11 = make_node("Split", 2, 2);
  Tensor s = i64({3, 3});
  expect_error([&] { run(input11, {&x, &s}, 11); }, {"attribute before opset 13"});
}

TEST(SplitShape, SymbolicDimsAndUnknownSizes) {
  Node n = make_node("Split", 2, 2);
  set_int(n, "axis", -1);
  Tensor sizes = i64({64, 128});
  auto r = infer(n, 13, {ts(DataType::kFloat16, "batch,seq,192"), ts_of(sizes)}, {nullptr, &sizes});
  EXPECT_EQ(r.shape(0), "[batch,seq,64]");
  EXPECT_EQ(r.shape(1), "[batch,seq,128]");
  EXPECT_EQ(r.dtype(1), DataType::kFloat16);
  // Sizes known, axis dim symbolic: the sizes still give the parts.
  r = infer(n, 13, {ts(DataType::kFloat32, "batch,seq,hidden"), ts_of(sizes)}, {nullptr, &sizes});
  EXPECT_EQ(r.shape(1), "[batch,seq,128]");
  // Sizes unknown: the axis dims are unknown, the others kept.
  r = infer(n, 13, {ts(DataType::kFloat32, "batch,seq,192"), ts(DataType::kInt64, "2")});
  EXPECT_EQ(r.shape(0), "[batch,seq,?]");
  Node equal = make_node("Split", 1, 3);
  set_int(equal, "axis", 1);
  r = infer(equal, 13, {ts(DataType::kFloat32, "batch,?")});
  EXPECT_EQ(r.shape(2), "[batch,?]");
  r = infer(equal, 13, {ts(DataType::kFloat32, "batch,12")});
  EXPECT_EQ(r.shape(2), "[batch,4]");
}

}  // namespace
}  // namespace normrt::test
