#include <climits>

#include "ops/tensor_ops_util.h"

namespace normrt::test {
namespace {

// ---- Slice -----------------------------------------------------------------------------------------------

// The positions a slice takes on one axis, by enumeration: Python's slice semantics, which ONNX Slice follows
// (negative start/end add dim; step > 0 clamps both to [0, dim]; step < 0 clamps both to [-1, dim - 1]).
std::vector<int64_t> naive_positions(int64_t start, int64_t end, int64_t step, int64_t dim) {
  auto adjust = [&](int64_t v, int64_t low, int64_t high) {
    if (v < 0) v += dim;
    return std::min(std::max(v, low), high);
  };
  std::vector<int64_t> positions;
  if (step > 0) {
    start = adjust(start, 0, dim);
    end = adjust(end, 0, dim);
    for (int64_t i = start; i < end; i = (i > INT64_MAX - step) ? end : i + step) positions.push_back(i);
  } else {
    start = adjust(start, -1, dim - 1);
    end = adjust(end, -1, dim - 1);
    for (int64_t i = start; i > end; i = (i < INT64_MIN - step) ? end : i + step) positions.push_back(i);
  }
  return positions;
}

Tensor naive_slice(const Tensor& x, const std::vector<int64_t>& starts, const std::vector<int64_t>& ends,
                   const std::vector<int64_t>& axes, const std::vector<int64_t>& steps) {
  const int64_t rank = static_cast<int64_t>(x.rank());
  std::vector<std::vector<int64_t>> positions(rank);
  for (int64_t a = 0; a < rank; ++a)
    for (int64_t i = 0; i < x.dims()[a]; ++i) positions[a].push_back(i);
  for (size_t k = 0; k < starts.size(); ++k) {
    const int64_t a = axes[k] < 0 ? axes[k] + rank : axes[k];
    positions[a] = naive_positions(starts[k], ends[k], steps[k], x.dims()[a]);
  }
  Dims out_dims;
  for (const auto& p : positions) out_dims.push_back(static_cast<int64_t>(p.size()));
  return map_elements(x, x.dtype(), out_dims, [&](const Dims& o, Dims* in) {
    in->resize(rank);
    for (int64_t a = 0; a < rank; ++a) (*in)[a] = positions[a][o[a]];
    return true;
  });
}

std::vector<Tensor> run_slice(const Tensor& x, const std::vector<int64_t>& starts, const std::vector<int64_t>& ends,
                              const std::vector<int64_t>* axes = nullptr, const std::vector<int64_t>* steps = nullptr,
                              int64_t opset = 13, DataType index_dtype = DataType::kInt64) {
  Node n = make_node("Slice", steps ? 5 : axes ? 4 : 3);
  Tensor s = ints_tensor(index_dtype, starts), e = ints_tensor(index_dtype, ends);
  Tensor a = axes ? ints_tensor(index_dtype, *axes) : Tensor(),
         st = steps ? ints_tensor(index_dtype, *steps) : Tensor();
  std::vector<const Tensor*> inputs = {&x, &s, &e};
  if (axes || steps) inputs.push_back(axes ? &a : nullptr);
  if (steps) inputs.push_back(&st);
  if (!axes && steps) n.inputs[3] = "";  // omitted optional input
  return run(n, inputs, opset);
}

std::vector<double> iota(int64_t n) {
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(i);
  return v;
}

TEST(Slice, HandComputedClampingAndNegativeSteps) {
  Tensor x = tensor_of(DataType::kInt64, {10}, iota(10));
  auto slice1 = [&](int64_t start, int64_t end, int64_t step) {
    std::vector<int64_t> axes = {0}, steps = {step};
    return values_of(run_slice(x, {start}, {end}, &axes, &steps)[0]);
  };
  using V = std::vector<double>;
  EXPECT_EQ(slice1(2, INT64_MAX, 1), (V{2, 3, 4, 5, 6, 7, 8, 9}));  // PyTorch's "to the end"
  EXPECT_EQ(slice1(-3, INT64_MAX, 1), (V{7, 8, 9}));
  EXPECT_EQ(slice1(-1, INT64_MIN, -1), (V{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}));  // x[::-1] as exported
  EXPECT_EQ(slice1(INT64_MAX, INT64_MIN, -1), (V{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}));
  EXPECT_EQ(slice1(8, 1, -3), (V{8, 5, 2}));
  EXPECT_EQ(slice1(5, 2, 1), (V{}));
  EXPECT_EQ(slice1(-100, 100, 4), (V{0, 4, 8}));
  EXPECT_EQ(slice1(1, 9, INT64_MAX), (V{1}));
  EXPECT_EQ(slice1(-1, INT64_MIN, INT64_MIN), (V{9}));
  EXPECT_EQ(slice1(INT64_MIN, INT64_MAX, 3), (V{0, 3, 6, 9}));
  EXPECT_EQ(slice1(0, -1, 1), (V{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(slice1(-1, -11, -2), (V{9, 7, 5, 3, 1}));
  EXPECT_EQ(slice1(20, 30, 1), (V{}));
  // A huge step that selects one element (a fuzzed model: step times stride overflowed in the kernel).
  Tensor rows = tensor_of(DataType::kFloat32, {3, 6}, iota(18));
  std::vector<int64_t> axes0 = {0}, axes1 = {1}, huge = {5981343255101439999};
  EXPECT_EQ(values_of(run_slice(rows, {1}, {3}, &axes0, &huge)[0]), (V{6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(values_of(run_slice(rows, {4}, {6}, &axes1, &huge)[0]), (V{4, 10, 16}));
  // Default axes (0..n-1) and steps (1); int32 parameters.
  Tensor m = tensor_of(DataType::kFloat32, {3, 4}, iota(12));
  EXPECT_EQ(values_of(run_slice(m, {1, 1}, {3, 3})[0]), (V{5, 6, 9, 10}));
  EXPECT_EQ(values_of(run_slice(m, {1}, {-1}, nullptr, nullptr, 11, DataType::kInt32)[0]), (V{4, 5, 6, 7}));
  std::vector<int64_t> steps = {2};
  EXPECT_EQ(values_of(run_slice(m, {0}, {3}, nullptr, &steps)[0]), (V{0, 1, 2, 3, 8, 9, 10, 11}));
}

TEST(Slice, MatchesNaiveOnRandomParameters) {
  std::uniform_int_distribution<int64_t> small(-9, 9), pick(0, 5);
  const std::vector<Dims> shapes = {{1}, {7}, {3, 13}, {2, 3, 5}, {4, 1, 7}, {2, 3, 1, 5}};
  for (int64_t opset : {11, 13, 21}) {
    for (const Dims& dims : shapes) {
      const int64_t rank = static_cast<int64_t>(dims.size());
      for (int trial = 0; trial < 20; ++trial) {
        std::vector<int64_t> starts, ends, axes, steps;
        for (int64_t a = 0; a < rank; ++a) {
          if (pick(rng()) == 0) continue;  // leave some axes whole
          auto edge = [&]() {
            switch (pick(rng())) {
              case 0: return int64_t{INT64_MAX};
              case 1: return int64_t{INT64_MIN};
              default: return small(rng());
            }
          };
          starts.push_back(edge());
          ends.push_back(edge());
          axes.push_back(pick(rng()) % 2 ? a : a - rank);
          int64_t step = small(rng()) % 4;
          steps.push_back(step == 0 ? -1 : step);
        }
        if (starts.empty()) continue;
        // Present the axes in a shuffled order.
        for (size_t i = axes.size(); i > 1; --i) {
          size_t j = std::uniform_int_distribution<size_t>(0, i - 1)(rng());
          std::swap(axes[i - 1], axes[j]);
          std::swap(starts[i - 1], starts[j]);
          std::swap(ends[i - 1], ends[j]);
          std::swap(steps[i - 1], steps[j]);
        }
        for (DataType dtype :
             {DataType::kFloat32, DataType::kFloat16, DataType::kInt64, DataType::kBool, DataType::kInt32}) {
          Tensor x = random_of(dtype, dims);
          expect_same(run_slice(x, starts, ends, &axes, &steps, opset)[0], naive_slice(x, starts, ends, axes, steps),
                      dims_to_string(dims) + " starts " + ::testing::PrintToString(starts) + " ends " +
                          ::testing::PrintToString(ends) + " axes " + ::testing::PrintToString(axes) + " steps " +
                          ::testing::PrintToString(steps));
        }
      }
    }
  }
}

TEST(Slice, Errors) {
  Tensor x = random_tensor({4, 5});
  std::vector<int64_t> axes = {0}, steps = {0};
  expect_error([&] { run_slice(x, {0}, {2}, &axes, &steps); }, {"Slice_test", "0 step", "axis 0"});
  axes = {2};
  expect_error([&] { run_slice(x, {0}, {2}, &axes); }, {"axis 2", "out of range", "rank 2"});
  axes = {1, -1};
  expect_error([&] { run_slice(x, {0, 0}, {2, 2}, &axes); }, {"twice"});
  expect_error([&] { run_slice(x, {0, 0}, {2}); }, {"differ in length"});
  axes = {0, 1};
  steps = {1};
  expect_error([&] { run_slice(x, {0, 0}, {2, 2}, &axes, &steps); }, {"steps [1]", "differ in length"});
  Node n = make_node("Slice", 3);
  Tensor f = random_tensor({1}), e = i64({1});
  expect_error([&] { run(n, {&x, &f, &e}, 13); }, {"int64 or int32", "float32"});
}

TEST(SliceShape, SymbolicDims) {
  Node n = make_node("Slice", 5);
  auto shape = [&](const std::string& in, std::vector<int64_t> starts, std::vector<int64_t> ends,
                   std::vector<int64_t> axes, std::vector<int64_t> steps) {
    Tensor s = i64(starts), e = i64(ends), a = i64(axes), st = i64(steps);
    return infer(n, 13, {ts(DataType::kFloat32, in), ts_of(s), ts_of(e), ts_of(a), ts_of(st)},
                 {nullptr, &s, &e, &a, &st})
        .shape();
  };
  EXPECT_EQ(shape("batch,seq,64", {0}, {32}, {2}, {1}), "[batch,seq,32]");
  EXPECT_EQ(shape("batch,seq,64", {1}, {INT64_MAX}, {1}, {1}), "[batch,?,64]");
  EXPECT_EQ(shape("batch,seq,64", {0}, {INT64_MAX}, {1}, {1}), "[batch,seq,64]");  // whole axis keeps the symbol
  EXPECT_EQ(shape("batch,seq,64", {0}, {INT64_MAX}, {-2}, {2}), "[batch,?,64]");
  EXPECT_EQ(shape("batch,seq,64", {-1}, {INT64_MIN}, {1}, {-1}), "[batch,seq,64]");  // a flip keeps the size
  EXPECT_EQ(shape("batch,seq,64", {-2}, {INT64_MIN}, {1}, {-1}), "[batch,?,64]");
  // Axis -1 from 0 backwards is empty; axis 0 from 1 to 3 of an unknown dim is unknown.
  EXPECT_EQ(shape("batch,seq,64", {0, 1}, {INT64_MAX, 3}, {-1, 0}, {-1, 1}), "[?,seq,0]");
  EXPECT_EQ(shape("batch,seq,64", {-1, 1}, {INT64_MIN, 3}, {-1, 0}, {-2, 1}), "[?,seq,32]");
  // Unknown parameter values: the rank stays, the sliced axes go unknown when the axes are known.
  Tensor a = i64({1});
  auto r = infer(n, 13,
                 {ts(DataType::kFloat32, "batch,seq,64"), ts(DataType::kInt64, "1"), ts(DataType::kInt64, "1"),
                  ts_of(a), TypeShape{}},
                 {nullptr, nullptr, nullptr, &a, nullptr});
  EXPECT_EQ(r.shape(), "[batch,?,64]");
  r = infer(n, 13, {ts(DataType::kFloat32, "batch,seq,64"), ts(DataType::kInt64, "1"), ts(DataType::kInt64, "1")});
  EXPECT_EQ(r.shape(), "[?,?,?]");
}

// The build-time shape never guesses: on symbolic dims every known or symbolic output dim must equal what the
// concrete run gives, on random slices including the exporters' INT64_MAX/INT64_MIN ends.
TEST(SliceShape, SymbolicResultAgreesWithConcreteRuns) {
  std::uniform_int_distribution<int64_t> small(-4, 4), pick(0, 4), size(0, 6);
  for (int trial = 0; trial < 300; ++trial) {
    const Dims dims = {size(rng()), size(rng())};
    std::vector<int64_t> starts, ends, axes, steps;
    for (int64_t a = 0; a < 2; ++a) {
      auto edge = [&](bool start) {
        switch (pick(rng())) {
          case 0: return int64_t{INT64_MAX};
          case 1: return int64_t{INT64_MIN};
          case 2: return start ? int64_t{0} : int64_t{-1};
          default: return small(rng());
        }
      };
      starts.push_back(edge(true));
      ends.push_back(edge(false));
      axes.push_back(a);
      steps.push_back(pick(rng()) < 2 ? 1 : pick(rng()) < 2 ? -1 : 2);
    }
    Node n = make_node("Slice", 5);
    Tensor s = i64(starts), e = i64(ends), a = i64(axes), st = i64(steps);
    Inferred r = infer(n, 13, {ts(DataType::kFloat32, "d0,d1"), ts_of(s), ts_of(e), ts_of(a), ts_of(st)},
                       {nullptr, &s, &e, &a, &st});
    Tensor x = random_tensor(dims);
    Tensor y = run(n, {&x, &s, &e, &a, &st}, 13)[0];
    for (size_t k = 0; k < 2; ++k) {
      const Dim& d = r.outputs[0].shape.dims[k];
      const std::string what = "dims " + dims_to_string(dims) + " starts " + ::testing::PrintToString(starts) +
                               " ends " + ::testing::PrintToString(ends) + " steps " + ::testing::PrintToString(steps);
      if (d.known()) {
        EXPECT_EQ(d.value, y.dims()[k]) << what;
      } else if (!d.symbol.empty()) {
        EXPECT_EQ(dims[d.symbol == "d0" ? 0 : 1], y.dims()[k]) << what;
      }
    }
  }
}

// ---- Gather ----------------------------------------------------------------------------------------------

Tensor naive_gather(const Tensor& data, const Tensor& indices, int64_t axis) {
  const int64_t rank = static_cast<int64_t>(data.rank()), q = static_cast<int64_t>(indices.rank());
  Dims out_dims(data.dims().begin(), data.dims().begin() + axis);
  out_dims.insert(out_dims.end(), indices.dims().begin(), indices.dims().end());
  out_dims.insert(out_dims.end(), data.dims().begin() + axis + 1, data.dims().end());
  const std::vector<double> idx = values_of(indices);
  return map_elements(data, data.dtype(), out_dims, [&](const Dims& o, Dims* in) {
    Dims index_pos(o.begin() + axis, o.begin() + axis + q);
    int64_t k = static_cast<int64_t>(idx[ravel(index_pos, indices.dims())]);
    if (k < 0) k += data.dims()[axis];
    in->assign(o.begin(), o.begin() + axis);
    in->push_back(k);
    in->insert(in->end(), o.begin() + axis + q, o.end());
    EXPECT_EQ(static_cast<int64_t>(in->size()), rank);
    return true;
  });
}

Tensor random_indices(DataType dtype, const Dims& dims, int64_t dim) {
  Tensor t(dtype, dims);
  std::uniform_int_distribution<int64_t> dist(-dim, dim - 1);
  for (int64_t i = 0; i < t.numel(); ++i) set_element_from_double(t, i, static_cast<double>(dist(rng())));
  return t;
}

Node gather_node(const std::string& op, int64_t axis) {
  Node n = make_node(op, 2);
  set_int(n, "axis", axis);
  return n;
}

TEST(Gather, HandComputed) {
  Tensor data = float_tensor({1.0f, 1.2f, 2.3f, 3.4f, 4.5f, 5.7f}, {3, 2});
  Tensor idx = tensor_of(DataType::kInt64, {2, 2}, {0, 1, 1, 2});
  expect_same(run(gather_node("Gather", 0), {&data, &idx}, 13)[0],
              float_tensor({1.0f, 1.2f, 2.3f, 3.4f, 2.3f, 3.4f, 4.5f, 5.7f}, {2, 2, 2}));
  Tensor neg = tensor_of(DataType::kInt32, {2}, {-1, 0});
  expect_same(run(gather_node("Gather", 1), {&data, &neg}, 11)[0],
              float_tensor({1.2f, 1.0f, 3.4f, 2.3f, 5.7f, 4.5f}, {3, 2}));
  Tensor scalar = scalar_of(DataType::kInt64, -2);  // a scalar index drops the axis
  expect_same(run(gather_node("Gather", 0), {&data, &scalar}, 13)[0], float_tensor({2.3f, 3.4f}, {2}));
}

TEST(Gather, MatchesNaiveOnEveryAxisDtypeAndIndexType) {
  const std::vector<Dims> shapes = {{7}, {3, 5}, {2, 3, 4}, {1, 13, 1, 3}};
  const std::vector<Dims> index_shapes = {{}, {1}, {4}, {2, 3}};
  for (const Dims& dims : shapes) {
    const int64_t rank = static_cast<int64_t>(dims.size());
    for (int64_t axis = -rank; axis < rank; ++axis) {
      const int64_t a = axis < 0 ? axis + rank : axis;
      for (const Dims& index_dims : index_shapes) {
        for (DataType index_dtype : {DataType::kInt64, DataType::kInt32}) {
          for (DataType dtype : moved_dtypes()) {
            Tensor data = random_of(dtype, dims);
            Tensor idx = random_indices(index_dtype, index_dims, dims[a]);
            expect_same(
                run(gather_node("Gather", axis), {&data, &idx}, 13)[0], naive_gather(data, idx, a),
                dims_to_string(dims) + " axis " + std::to_string(axis) + " indices " + dims_to_string(index_dims));
          }
        }
      }
    }
  }
}

TEST(Gather, OutOfRangeIndexIsAnError) {
  Tensor data = random_tensor({3, 4});
  Tensor idx = i64({0, 4});
  expect_error(
      [&] {
        run(gather_node("Gather", 1), {&data, &idx}, 13);
      },
      {"Gather_test", "index 4", "[-4, 3]", "axis 1"});
  Tensor low = i64({-4});
  expect_error([&] { run(gather_node("Gather", 0), {&data, &low}, 13); }, {"index -4", "[-3, 2]"});
  // The kernel checks too (an engine may run it without re-running the shape function).
  const OpSchema* schema = find_schema(gather_node("Gather", 0));
  Node n = gather_node("Gather", 0);
  KernelContext ctx(n, 13);
  Tensor bad = i64({3}), out(DataType::kFloat32, {1, 4});
  ctx.inputs = {&data, &bad};
  ctx.outputs = {&out};
  expect_error([&] { schema->reference(ctx); }, {"index 3", "out of range"});
  Tensor f = random_tensor({2});
  expect_error([&] { run(gather_node("Gather", 0), {&data, &f}, 13); }, {"indices must be int64 or int32"});
  Tensor scalar = scalar_of(DataType::kFloat32, 1);
  Tensor zero = scalar_of(DataType::kInt64, 0);
  expect_error([&] { run(gather_node("Gather", 0), {&scalar, &zero}, 13); }, {"rank >= 1"});
}

TEST(GatherShape, SymbolicDimsAndKnownIndexCheck) {
  Node n = gather_node("Gather", 1);
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,seq,64"), ts(DataType::kInt64, "?,k")}).shape(),
            "[batch,?,k,64]");
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,seq,64"), ts(DataType::kInt64, "")}).shape(), "[batch,64]");
  // Known indices against a known dim are checked at build time; against a symbolic dim they are not.
  Tensor idx = i64({5});
  expect_error([&] { infer(n, 13, {ts(DataType::kFloat32, "batch,4"), ts_of(idx)}, {nullptr, &idx}); }, {"index 5"});
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,seq"), ts_of(idx)}, {nullptr, &idx}).shape(), "[batch,1]");
}

// ---- GatherElements --------------------------------------------------------------------------------------

Tensor naive_gather_elements(const Tensor& data, const Tensor& indices, int64_t axis) {
  const std::vector<double> idx = values_of(indices);
  return map_elements(data, data.dtype(), indices.dims(), [&](const Dims& o, Dims* in) {
    *in = o;
    int64_t k = static_cast<int64_t>(idx[ravel(o, indices.dims())]);
    (*in)[axis] = k < 0 ? k + data.dims()[axis] : k;
    return true;
  });
}

TEST(GatherElements, HandComputedFromTheSpec) {
  Tensor data = float_tensor({1, 2, 3, 4}, {2, 2});
  Tensor idx = tensor_of(DataType::kInt64, {2, 2}, {0, 0, 1, 0});
  expect_same(run(gather_node("GatherElements", 1), {&data, &idx}, 13)[0], float_tensor({1, 1, 4, 3}, {2, 2}));
  Tensor data3 = float_tensor({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3});
  Tensor idx3 = tensor_of(DataType::kInt32, {2, 3}, {1, 2, 0, 2, 0, 0});
  expect_same(run(gather_node("GatherElements", 0), {&data3, &idx3}, 11)[0], float_tensor({4, 8, 3, 7, 2, 3}, {2, 3}));
  Tensor neg = tensor_of(DataType::kInt64, {2, 3}, {-1, -2, -3, 0, 1, 2});
  expect_same(run(gather_node("GatherElements", 0), {&data3, &neg}, 13)[0], float_tensor({7, 5, 3, 1, 5, 9}, {2, 3}));
}

TEST(GatherElements, MatchesNaive) {
  const std::vector<std::pair<Dims, Dims>> cases = {
      {{7}, {4}}, {{3, 5}, {3, 5}}, {{3, 5}, {2, 7}}, {{2, 3, 4}, {2, 1, 4}}, {{4, 3, 2}, {1, 3, 1}}};
  for (const auto& [dims, index_dims] : cases) {
    const int64_t rank = static_cast<int64_t>(dims.size());
    for (int64_t axis = -rank; axis < rank; ++axis) {
      const int64_t a = axis < 0 ? axis + rank : axis;
      Dims idx_dims = index_dims;
      for (int64_t k = 0; k < rank; ++k)
        if (k != a) idx_dims[k] = std::min(idx_dims[k], dims[k]);
      for (DataType dtype : moved_dtypes()) {
        Tensor data = random_of(dtype, dims);
        Tensor idx = random_indices(DataType::kInt64, idx_dims, dims[a]);
        expect_same(run(gather_node("GatherElements", axis), {&data, &idx}, 13)[0], naive_gather_elements(data, idx, a),
                    dims_to_string(dims) + " axis " + std::to_string(axis));
      }
    }
  }
}

TEST(GatherElements, ErrorsAndShapes) {
  Tensor data = random_tensor({3, 4});
  Tensor idx = tensor_of(DataType::kInt64, {1, 2}, {0, 3});
  expect_error(
      [&] {
        run(gather_node("GatherElements", 0), {&data, &idx}, 13);
      },
      {"GatherElements_test", "index 3", "[-3, 2]"});
  Tensor rank1 = i64({0});
  expect_error([&] { run(gather_node("GatherElements", 0), {&data, &rank1}, 13); }, {"rank"});
  Tensor wide = tensor_of(DataType::kInt64, {1, 5}, {0, 0, 0, 0, 0});
  expect_error([&] { run(gather_node("GatherElements", 0), {&data, &wide}, 13); }, {"exceed data", "dim 1"});
  Node n = gather_node("GatherElements", -1);
  EXPECT_EQ(infer(n, 13, {ts(DataType::kFloat32, "batch,10"), ts(DataType::kInt64, "batch,k")}).shape(), "[batch,k]");
}

}  // namespace
}  // namespace normrt::test
