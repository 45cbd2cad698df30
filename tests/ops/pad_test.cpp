#include "ops/tensor_ops_util.h"

namespace normrt::test {
namespace {

using V = std::vector<double>;

// The reference follows the definition in two explicit steps: crop by the negative pads (a slice), then pad
// the cropped tensor with the positive pads using numpy.pad's rules for each mode.
Tensor naive_pad(const Tensor& x, const std::vector<int64_t>& begin, const std::vector<int64_t>& end,
                 const std::string& mode, double value) {
  const size_t rank = x.rank();
  Dims cropped_dims(rank), offset(rank), out_dims(rank);
  for (size_t a = 0; a < rank; ++a) {
    offset[a] = begin[a] < 0 ? -begin[a] : 0;
    cropped_dims[a] = x.dims()[a] - offset[a] - (end[a] < 0 ? -end[a] : 0);
  }
  Tensor cropped = map_elements(x, x.dtype(), cropped_dims, [&](const Dims& o, Dims* in) {
    in->resize(rank);
    for (size_t a = 0; a < rank; ++a) (*in)[a] = o[a] + offset[a];
    return true;
  });
  for (size_t a = 0; a < rank; ++a)
    out_dims[a] = cropped_dims[a] + std::max<int64_t>(begin[a], 0) + std::max<int64_t>(end[a], 0);
  return map_elements(
      cropped, x.dtype(), out_dims,
      [&](const Dims& o, Dims* in) {
        in->resize(rank);
        for (size_t a = 0; a < rank; ++a) {
          const int64_t n = cropped_dims[a];
          int64_t i = o[a] - std::max<int64_t>(begin[a], 0);
          if (i < 0 || i >= n) {
            if (mode == "constant") return false;
            if (mode == "edge") i = i < 0 ? 0 : n - 1;
            if (mode == "reflect") i = i < 0 ? -i : 2 * n - 2 - i;  // mirror without repeating the edge
            if (mode == "wrap") i = ((i % n) + n) % n;
          }
          (*in)[a] = i;
        }
        return true;
      },
      value);
}

std::vector<Tensor> run_pad(const Tensor& x, const std::vector<int64_t>& pads, const std::string& mode,
                            const Tensor* constant = nullptr, const std::vector<int64_t>* axes = nullptr,
                            int64_t opset = 18) {
  Node n = make_node("Pad", axes ? 4 : constant ? 3 : 2);
  if (mode != "default") set_string(n, "mode", mode);
  Tensor p = i64(pads), a = axes ? i64(*axes) : Tensor();
  std::vector<const Tensor*> inputs = {&x, &p};
  if (constant || axes) inputs.push_back(constant);
  if (axes) inputs.push_back(&a);
  if (axes && !constant) n.inputs[2] = "";
  return run(n, inputs, opset);
}

TEST(Pad, HandComputedFromTheSpec) {
  Tensor x = float_tensor({1.0f, 1.2f, 2.3f, 3.4f, 4.5f, 5.7f}, {3, 2});
  std::vector<int64_t> pads = {0, 2, 0, 0};
  expect_same(run_pad(x, pads, "constant", nullptr, nullptr, 11)[0],
              float_tensor({0, 0, 1.0f, 1.2f, 0, 0, 2.3f, 3.4f, 0, 0, 4.5f, 5.7f}, {3, 4}));
  // The spec's reflect example (pads [0, 2, 0, 0] on a dim of 2) violates pad < dim and was corrected to
  // [0, 1, 0, 1] (onnx/onnx#7467, #7700); ONNX Runtime and PyTorch reject it, and so do we (see Errors).
  expect_same(run_pad(x, {0, 1, 0, 1}, "reflect", nullptr, nullptr, 11)[0],
              float_tensor({1.2f, 1.0f, 1.2f, 1.0f, 3.4f, 2.3f, 3.4f, 2.3f, 5.7f, 4.5f, 5.7f, 4.5f}, {3, 4}));
  expect_same(run_pad(x, pads, "edge", nullptr, nullptr, 13)[0],
              float_tensor({1.0f, 1.0f, 1.0f, 1.2f, 2.3f, 2.3f, 2.3f, 3.4f, 4.5f, 4.5f, 4.5f, 5.7f}, {3, 4}));
  Tensor value = scalar_of(DataType::kFloat32, 9);
  expect_same(run_pad(x, {1, 0, 0, 0}, "default", &value)[0],
              float_tensor({9, 9, 1.0f, 1.2f, 2.3f, 3.4f, 4.5f, 5.7f}, {4, 2}));
  Tensor row = tensor_of(DataType::kInt64, {5}, {1, 2, 3, 4, 5});
  EXPECT_EQ(values_of(run_pad(row, {2, 3}, "wrap", nullptr, nullptr, 19)[0]), (V{4, 5, 1, 2, 3, 4, 5, 1, 2, 3}));
  EXPECT_EQ(values_of(run_pad(row, {-1, 2}, "reflect")[0]), (V{2, 3, 4, 5, 4, 3}));  // crop, then reflect
  EXPECT_EQ(values_of(run_pad(row, {2, -2}, "edge")[0]), (V{1, 1, 1, 2, 3}));
  EXPECT_EQ(values_of(run_pad(row, {-2, -2}, "constant")[0]), (V{3}));
}

TEST(Pad, MatchesNaiveForEveryModeDtypeAndShape) {
  std::uniform_int_distribution<int64_t> pad_dist(-2, 3);
  const std::vector<Dims> shapes = {{1}, {7}, {3, 5}, {2, 3, 4}, {1, 3, 7, 2}};
  for (const std::string mode : {"constant", "reflect", "edge", "wrap"}) {
    for (const Dims& dims : shapes) {
      for (int trial = 0; trial < 6; ++trial) {
        std::vector<int64_t> begin(dims.size()), end(dims.size());
        for (size_t a = 0; a < dims.size(); ++a) {
          begin[a] = pad_dist(rng());
          end[a] = pad_dist(rng());
          // Keep to what the mode allows: the cropped dim non-empty, and reflect pads smaller than it.
          const int64_t keep = dims[a] - std::max<int64_t>(-begin[a], 0) - std::max<int64_t>(-end[a], 0);
          if (keep < 1) begin[a] = end[a] = 0;
          const int64_t cropped = dims[a] - std::max<int64_t>(-begin[a], 0) - std::max<int64_t>(-end[a], 0);
          if (mode == "reflect") {
            begin[a] = std::min(begin[a], cropped - 1);
            end[a] = std::min(end[a], cropped - 1);
          }
        }
        std::vector<int64_t> pads = begin;
        pads.insert(pads.end(), end.begin(), end.end());
        for (DataType dtype : moved_dtypes()) {
          Tensor x = random_of(dtype, dims);
          const double fill = dtype == DataType::kBool ? 1 : 7;
          Tensor value = scalar_of(dtype, fill);
          expect_same(
              run_pad(x, pads, mode, &value, nullptr, 19)[0], naive_pad(x, begin, end, mode, fill),
              mode + " " + dims_to_string(dims) + " pads " + ::testing::PrintToString(pads) + " " + dtype_name(dtype));
        }
      }
    }
  }
}

TEST(Pad, AxesInputFromOpset18) {
  Tensor x = random_tensor({2, 3, 4});
  std::vector<int64_t> axes = {-1, 1};  // pads: begin(-1), begin(1), end(-1), end(1)
  Tensor value = scalar_of(DataType::kFloat32, -5);
  auto out = run_pad(x, {1, 0, 2, 1}, "constant", &value, &axes, 18);
  expect_same(out[0], naive_pad(x, {0, 0, 1}, {0, 1, 2}, "constant", -5));
  out = run_pad(x, {1, 0, 2, 1}, "edge", nullptr, &axes, 21);
  expect_same(out[0], naive_pad(x, {0, 0, 1}, {0, 1, 2}, "edge", 0));
  expect_error([&] { run_pad(x, {1, 0, 2, 1}, "constant", nullptr, &axes, 17); }, {"Pad_test", "axes", "opset 18"});
  std::vector<int64_t> twice = {1, -2};
  expect_error([&] { run_pad(x, {1, 0, 2, 1}, "constant", nullptr, &twice, 18); }, {"twice"});
  std::vector<int64_t> far = {3};
  expect_error([&] { run_pad(x, {1, 1}, "constant", nullptr, &far, 18); }, {"axis 3", "out of range"});
}

TEST(Pad, Errors) {
  Tensor x = random_tensor({3, 4});
  Tensor spec_example = random_tensor({3, 2});
  expect_error([&] { run_pad(spec_example, {0, 2, 0, 0}, "reflect"); }, {"reflect pad 2", "axis 1", "dim 2"});
  expect_error(
      [&] {
        run_pad(x, {3, 0, 0, 0}, "reflect");
      },
      {"Pad_test", "reflect pad 3", "axis 0", "smaller than its dim 3"});
  expect_error([&] { run_pad(x, {-1, 0, 2, 0}, "reflect"); }, {"reflect pad 2", "dim 2", "after cropping"});
  expect_error([&] { run_pad(x, {0, -3, 0, -2}, "constant"); }, {"crop more than the 4 elements", "axis 1"});
  expect_error([&] { run_pad(x, {1, 1}, "constant"); }, {"pads [1,1]", "expected 4"});
  expect_error([&] { run_pad(x, {1, 0, 0, 0}, "wrap", nullptr, nullptr, 18); }, {"wrap", "opset 19"});
  expect_error([&] { run_pad(x, {1, 0, 0, 0}, "mirror"); }, {"mirror"});
  // Pads near 2^63 (found by the onnx_import fuzzer: dim + begin + end overflowed int64).
  expect_error([&] { run_pad(x, {int64_t{1} << 62, 0, int64_t{1} << 62, 0}, "constant"); },
               {"pads [", "4611686018427387904", "largest axis", "corrupt"});
  expect_error([&] { run_pad(x, {0, -(int64_t{1} << 40), 0, 0}, "constant"); }, {"-1099511627776", "largest axis"});
  Tensor empty = random_tensor({0, 2});
  expect_error([&] { run_pad(empty, {1, 0, 0, 0}, "edge"); }, {"edge pad", "axis 0", "non-empty"});
  EXPECT_EQ(run_pad(empty, {1, 0, 0, 0}, "constant")[0].dims(), (Dims{1, 2}));
  Tensor int_value = scalar_of(DataType::kInt64, 1);
  expect_error([&] { run_pad(x, {1, 0, 0, 0}, "constant", &int_value); }, {"constant_value is int64", "float32"});
  Node pad2 = make_node("Pad", 1);
  set_ints(pad2, "pads", {1, 1, 1, 1});
  expect_error([&] { run(pad2, {&x}, 11); }, {"attribute form of Pad-2"});
}

TEST(PadShape, SymbolicDims) {
  Node n = make_node("Pad", 2);
  Tensor pads = i64({0, 0, 1, 0, 0, 2});
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,seq,8"), ts_of(pads)}, {nullptr, &pads}).shape(),
            "[batch,seq,11]");
  Tensor pad_seq = i64({0, 1, 0, 0, 0, 0});
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,seq,8"), ts_of(pad_seq)}, {nullptr, &pad_seq}).shape(),
            "[batch,?,8]");
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,seq,8"), ts(DataType::kInt64, "6")}).shape(), "[?,?,?]");
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "*"), ts_of(pads)}, {nullptr, &pads}).shape(), "[?]");
}

}  // namespace
}  // namespace normrt::test
