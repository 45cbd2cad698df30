// Reductions and ArgMax / ArgMin: every op against a naive computation here, the axes attribute / input
// switch per opset, keepdims, noop_with_empty_axes, negative axes, integer exactness and shape inference.
#include <cmath>
#include <functional>
#include <limits>
#include <set>

#include "test_util.h"

namespace normrt::test {
namespace {

// Naive reduction: for every output index, walk the reduced axes explicitly.
Tensor naive_reduce(const Tensor& x, std::set<int64_t> axes, bool keepdims,
                    const std::function<double(const std::vector<double>&)>& reduce) {
  const Dims& dims = x.dims();
  const int64_t rank = static_cast<int64_t>(dims.size());
  if (axes.empty())
    for (int64_t a = 0; a < rank; ++a) axes.insert(a);
  Dims out_dims, kept_dims;
  for (int64_t d = 0; d < rank; ++d) {
    const bool reduced = axes.count(d) != 0;
    kept_dims.push_back(reduced ? 1 : dims[d]);
    if (!reduced || keepdims) out_dims.push_back(reduced ? 1 : dims[d]);
  }
  Tensor y(x.dtype(), out_dims);
  std::vector<std::vector<double>> groups(static_cast<size_t>(element_count(kept_dims)));
  std::vector<int64_t> index(rank, 0);
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t rem = i;
    for (int64_t d = rank - 1; d >= 0; --d) {
      index[d] = rem % dims[d];
      rem /= dims[d];
    }
    int64_t o = 0;
    for (int64_t d = 0; d < rank; ++d) o = o * kept_dims[d] + (axes.count(d) ? 0 : index[d]);
    groups[o].push_back(element_as_double(x, i));
  }
  for (size_t o = 0; o < groups.size(); ++o) set_element_from_double(y, static_cast<int64_t>(o), reduce(groups[o]));
  return y;
}

double sum_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

const std::map<std::string, std::function<double(const std::vector<double>&)>>& reducers() {
  static const std::map<std::string, std::function<double(const std::vector<double>&)>> r = {
      {"ReduceSum", sum_of},
      {"ReduceMean", [](const std::vector<double>& v) { return sum_of(v) / v.size(); }},
      {"ReduceMax", [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }},
      {"ReduceMin", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }},
      {"ReduceProd",
       [](const std::vector<double>& v) {
         double p = 1;
         for (double x : v) p *= x;
         return p;
       }},
      {"ReduceL1",
       [](const std::vector<double>& v) {
         double s = 0;
         for (double x : v) s += std::fabs(x);
         return s;
       }},
      {"ReduceL2",
       [](const std::vector<double>& v) {
         double s = 0;
         for (double x : v) s += x * x;
         return std::sqrt(s);
       }},
      {"ReduceSumSquare",
       [](const std::vector<double>& v) {
         double s = 0;
         for (double x : v) s += x * x;
         return s;
       }},
      {"ReduceLogSum", [](const std::vector<double>& v) { return std::log(sum_of(v)); }},
      {"ReduceLogSumExp",
       [](const std::vector<double>& v) {
         double s = 0;
         for (double x : v) s += std::exp(x);
         return std::log(s);
       }},
  };
  return r;
}

int64_t axes_input_opset(const std::string& op) { return op == "ReduceSum" ? 13 : 18; }

// A node reducing `axes` the way `opset` spells it; `axes_tensor` receives the input when needed.
Node reduce_node(const std::string& op, int64_t opset, const std::vector<int64_t>& axes, int64_t keepdims,
                 Tensor* axes_tensor) {
  const bool as_input = opset >= axes_input_opset(op);
  Node node = make_node(op, as_input ? 2 : 1);
  set_int(node, "keepdims", keepdims);
  if (as_input) *axes_tensor = int64_tensor(axes, {static_cast<int64_t>(axes.size())});
  else if (!axes.empty()) set_ints(node, "axes", axes);
  return node;
}

std::vector<TypeShape> infer(const Node& node, const std::vector<TypeShape>& inputs, int64_t opset,
                             std::vector<const Tensor*> values = {}) {
  InferContext ctx(node, opset);
  ctx.inputs = inputs;
  values.resize(inputs.size(), nullptr);
  ctx.values = values;
  find_schema(node)->infer(ctx);
  return ctx.outputs;
}

TEST(Reduce, EveryOpMatchesNaiveForEveryAxesSpelling) {
  const std::vector<Dims> shapes = {{7}, {2, 3, 4}, {1, 7, 13}, {3, 1, 5, 2}};
  for (const auto& [op, reducer] : reducers()) {
    for (const Dims& dims : shapes) {
      const int64_t rank = static_cast<int64_t>(dims.size());
      // Positive values keep ReduceLogSum defined.
      Tensor x = random_tensor(dims, op == "ReduceLogSum" ? 0.1f : -2.0f, 2.0f);
      std::vector<std::vector<int64_t>> axes_sets = {{}, {0}, {-1}};
      if (rank >= 3) axes_sets.push_back({0, 2});
      if (rank >= 3) axes_sets.push_back({-1, 1});
      for (const auto& axes : axes_sets) {
        std::set<int64_t> normalized;
        for (int64_t a : axes) normalized.insert(a < 0 ? a + rank : a);
        for (int64_t keepdims : {0, 1}) {
          for (int64_t opset : {11, 13, 17, 18, 21}) {
            Tensor axes_tensor;
            Node node = reduce_node(op, opset, axes, keepdims, &axes_tensor);
            std::vector<const Tensor*> inputs = {&x};
            if (!axes_tensor.empty()) inputs.push_back(&axes_tensor);
            auto out = run(node, inputs, opset);
            Tensor expected = naive_reduce(x, normalized, keepdims, reducer);
            EXPECT_LT(relative_error(out[0], expected), 1e-6)
                << op << " " << dims_to_string(dims) << " keepdims " << keepdims << " opset " << opset;
          }
        }
      }
    }
  }
}

TEST(Reduce, HandComputed) {
  Tensor x = float_tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  Node sum = make_node("ReduceSum", 1);
  set_ints(sum, "axes", {1});
  set_int(sum, "keepdims", 0);
  auto out = run(sum, {&x}, 11);
  EXPECT_EQ(out[0].dims(), (Dims{2}));
  EXPECT_EQ(out[0].data<float>()[0], 6);
  EXPECT_EQ(out[0].data<float>()[1], 15);
  Node mean = make_node("ReduceMean", 1);  // no axes: every axis, keepdims 1
  out = run(mean, {&x}, 11);
  EXPECT_EQ(out[0].dims(), (Dims{1, 1}));
  EXPECT_FLOAT_EQ(out[0].data<float>()[0], 3.5f);
}

TEST(Reduce, NoopWithEmptyAxesPassesThrough) {
  Tensor x = random_tensor({2, 5});
  Tensor empty_axes(DataType::kInt64, {0});
  for (std::string op : {"ReduceSum", "ReduceMax"}) {
    const int64_t opset = axes_input_opset(op);
    Node node = make_node(op, 2);
    set_int(node, "noop_with_empty_axes", 1);
    auto out = run(node, {&x, &empty_axes}, opset);
    EXPECT_EQ(relative_error(out[0], x), 0.0) << op;
    Node omitted = make_node(op, 1);
    set_int(omitted, "noop_with_empty_axes", 1);
    out = run(omitted, {&x}, opset);
    EXPECT_EQ(relative_error(out[0], x), 0.0) << op;
    // Without noop, empty axes reduce everything.
    Node all = make_node(op, 2);
    out = run(all, {&x, &empty_axes}, opset);
    EXPECT_EQ(out[0].dims(), (Dims{1, 1})) << op;
  }
}

TEST(Reduce, AxesSpellingMustMatchTheOpset) {
  Tensor x = random_tensor({2, 3});
  Tensor axes = int64_tensor({1}, {1});
  Node attribute_late = make_node("ReduceMean", 1);
  set_ints(attribute_late, "axes", {1});
  expect_error([&] { run(attribute_late, {&x}, 18); }, {"axes attribute", "from opset 18", "second input"});
  Node input_early = make_node("ReduceMean", 2);
  expect_error([&] { run(input_early, {&x, &axes}, 17); }, {"axes input", "before opset 18", "attribute"});
  Node sum_early = make_node("ReduceSum", 2);
  expect_error([&] { run(sum_early, {&x, &axes}, 12); }, {"before opset 13"});
  EXPECT_NO_THROW(run(sum_early, {&x, &axes}, 13));
}

TEST(Reduce, AxisErrors) {
  Tensor x = random_tensor({2, 3});
  Node node = make_node("ReduceMax", 1);
  set_ints(node, "axes", {2});
  expect_error([&] { run(node, {&x}, 11); }, {"ReduceMax_test", "axis"});
  set_ints(node, "axes", {1, -1});
  expect_error([&] { run(node, {&x}, 11); }, {"axes [1,-1]", "same axis twice"});
  Tensor int_x = int64_tensor({1, 2, 3}, {3});
  Node mean = make_node("ReduceMean", 1);
  expect_error([&] { run(mean, {&int_x}, 11); }, {"int64", "ReduceMean accepts float32"});
}

TEST(Reduce, IntegersAreExact) {
  const int64_t big = (int64_t{1} << 53) + 1;  // not representable in double
  Tensor x = int64_tensor({big, 2, -5, big - 10, 7, 3}, {2, 3});
  auto reduce = [&](const std::string& op) {
    Node node = make_node(op, 1);
    set_ints(node, "axes", {1});
    set_int(node, "keepdims", 0);
    return run(node, {&x}, 11)[0];
  };
  Tensor sum = reduce("ReduceSum");
  EXPECT_EQ(sum.dtype(), DataType::kInt64);
  EXPECT_EQ(sum.data<int64_t>()[0], big - 3);
  EXPECT_EQ(sum.data<int64_t>()[1], big);
  EXPECT_EQ(reduce("ReduceMax").data<int64_t>()[0], big);
  EXPECT_EQ(reduce("ReduceMin").data<int64_t>()[0], -5);
  EXPECT_EQ(reduce("ReduceProd").data<int64_t>()[1], (big - 10) * 21);
  Tensor x32(DataType::kInt32, {4});
  for (int i = 0; i < 4; ++i) x32.data<int32_t>()[i] = i + 1;
  Node prod = make_node("ReduceProd", 1);
  auto p = run(prod, {&x32}, 11)[0];
  EXPECT_EQ(p.dtype(), DataType::kInt32);
  EXPECT_EQ(p.data<int32_t>()[0], 24);
}

TEST(Reduce, EmptySetGivesTheIdentity) {
  Tensor x(DataType::kFloat32, {2, 0});
  auto reduce = [&](const std::string& op) {
    Node node = make_node(op, 1);
    set_ints(node, "axes", {1});
    auto out = run(node, {&x}, 13)[0];  // axes still an attribute for these at opset 13
    EXPECT_EQ(out.dims(), (Dims{2, 1})) << op;
    return out.data<float>()[0];
  };
  EXPECT_EQ(reduce("ReduceMax"), -INFINITY);
  EXPECT_EQ(reduce("ReduceMin"), INFINITY);
  EXPECT_EQ(reduce("ReduceProd"), 1.0f);
  EXPECT_EQ(reduce("ReduceL2"), 0.0f);
  EXPECT_EQ(reduce("ReduceLogSumExp"), -INFINITY);
  EXPECT_TRUE(std::isnan(reduce("ReduceMean")));
  Tensor ints(DataType::kInt32, {0, 3});
  Node max = make_node("ReduceMax", 1);
  set_ints(max, "axes", {0});
  EXPECT_EQ(run(max, {&ints}, 11)[0].data<int32_t>()[2], std::numeric_limits<int32_t>::min());
}

TEST(Reduce, LogSumExpIsStableAndMaxPropagatesNaN) {
  Tensor x = float_tensor({1000, 1000, -1000, NAN}, {2, 2});
  Node lse = make_node("ReduceLogSumExp", 1);
  set_ints(lse, "axes", {1});
  auto out = run(lse, {&x}, 11)[0];
  EXPECT_NEAR(out.data<float>()[0], 1000 + std::log(2.0), 1e-3);
  EXPECT_TRUE(std::isnan(out.data<float>()[1]));
  Node max = make_node("ReduceMax", 1);
  set_ints(max, "axes", {1});
  out = run(max, {&x}, 11)[0];
  EXPECT_EQ(out.data<float>()[0], 1000);
  EXPECT_TRUE(std::isnan(out.data<float>()[1]));
}

TEST(Reduce, Float16AndBoolAndInt8) {
  Tensor x32 = random_tensor({3, 4});
  Tensor x(DataType::kFloat16, {3, 4});
  for (int64_t i = 0; i < x.numel(); ++i) set_element_from_double(x, i, x32.data<float>()[i]);
  Node mean = make_node("ReduceMean", 1);
  set_ints(mean, "axes", {0});
  auto out = run(mean, {&x}, 11)[0];
  EXPECT_EQ(out.dtype(), DataType::kFloat16);
  EXPECT_LT(relative_error(out, naive_reduce(x, {0}, true, reducers().at("ReduceMean"))), 1e-3);
  Tensor b(DataType::kBool, {2, 2});
  b.data<uint8_t>()[1] = 1;
  Node max = make_node("ReduceMax", 1);
  set_ints(max, "axes", {1});
  out = run(max, {&b}, 11)[0];
  EXPECT_EQ(out.dtype(), DataType::kBool);
  EXPECT_EQ(out.data<uint8_t>()[0], 1);
  EXPECT_EQ(out.data<uint8_t>()[1], 0);
  Tensor i8(DataType::kInt8, {3});
  i8.data<int8_t>()[0] = -7;
  i8.data<int8_t>()[1] = 100;
  Node min = make_node("ReduceMin", 1);
  EXPECT_EQ(run(min, {&i8}, 11)[0].data<int8_t>()[0], -7);
}

TEST(Reduce, ShapeInferenceKeepsSymbolsAndHandlesUnknownAxes) {
  Node node = make_node("ReduceSum", 2);
  set_int(node, "keepdims", 1);
  const Shape x({Dim::unknown("batch"), 3, 1, Dim::unknown("w")});
  Tensor axes = int64_tensor({1}, {1});
  auto out = infer(node, {{DataType::kFloat32, x}, {DataType::kInt64, Shape({1})}}, 13, {nullptr, &axes});
  EXPECT_EQ(out[0].shape.to_string(), "[batch,1,1,w]");
  // Axes value unknown: with keepdims the rank stays and only dims of 1 are known.
  out = infer(node, {{DataType::kFloat32, x}, {DataType::kInt64, Shape({2})}}, 13);
  EXPECT_EQ(out[0].shape.to_string(), "[?,?,1,?]");
  // Without keepdims the rank drops by the (known) number of axes.
  set_int(node, "keepdims", 0);
  out = infer(node, {{DataType::kFloat32, x}, {DataType::kInt64, Shape({2})}}, 13);
  EXPECT_EQ(out[0].shape.to_string(), "[?,?]");
  out = infer(node, {{DataType::kFloat32, x}, {DataType::kInt64, Shape({Dim::unknown()})}}, 13);
  EXPECT_FALSE(out[0].shape.has_rank);
  out = infer(node, {{DataType::kFloat32, Shape()}, {DataType::kInt64, Shape({1})}}, 13);
  EXPECT_FALSE(out[0].shape.has_rank);
}

// ---------------------------------------------------------------------------------------------------------
// ArgMax / ArgMin

TEST(ArgReduce, HandComputedWithTies) {
  Tensor x = float_tensor({1, 5, 5, 0, 2, 2, 0, 7}, {2, 4});
  auto arg = [&](const std::string& op, int64_t axis, int64_t last, int64_t keepdims) {
    Node node = make_node(op, 1);
    set_int(node, "axis", axis);
    set_int(node, "select_last_index", last);
    set_int(node, "keepdims", keepdims);
    return run(node, {&x}, 12)[0];
  };
  Tensor first = arg("ArgMax", 1, 0, 1);
  EXPECT_EQ(first.dtype(), DataType::kInt64);
  EXPECT_EQ(first.dims(), (Dims{2, 1}));
  EXPECT_EQ(first.data<int64_t>()[0], 1);
  EXPECT_EQ(first.data<int64_t>()[1], 3);
  EXPECT_EQ(arg("ArgMax", -1, 1, 0).data<int64_t>()[0], 2);
  Tensor min_first = arg("ArgMin", 1, 0, 0);
  EXPECT_EQ(min_first.dims(), (Dims{2}));
  EXPECT_EQ(min_first.data<int64_t>()[0], 3);
  EXPECT_EQ(min_first.data<int64_t>()[1], 2);
  EXPECT_EQ(arg("ArgMin", 1, 1, 0).data<int64_t>()[1], 2);
  Tensor over_rows = arg("ArgMax", 0, 0, 1);
  EXPECT_EQ(over_rows.dims(), (Dims{1, 4}));
  EXPECT_EQ(over_rows.data<int64_t>()[3], 1);
}

TEST(ArgReduce, MatchesNaiveOnRandomData) {
  for (const Dims& dims : std::vector<Dims>{{7}, {3, 5}, {2, 3, 13}, {4, 1, 3, 2}}) {
    Tensor x = random_tensor(dims);
    const int64_t rank = static_cast<int64_t>(dims.size());
    for (int64_t axis = -rank; axis < rank; ++axis) {
      const int64_t a = axis < 0 ? axis + rank : axis;
      for (std::string op : {"ArgMax", "ArgMin"}) {
        Node node = make_node(op, 1);
        set_int(node, "axis", axis);
        auto out = run(node, {&x}, 13)[0];
        // Naive: the value at the chosen index is the extreme of its slice.
        Tensor extreme = naive_reduce(x, {a}, true, reducers().at(op == "ArgMax" ? "ReduceMax" : "ReduceMin"));
        int64_t inner = 1;
        for (int64_t d = a + 1; d < rank; ++d) inner *= dims[d];
        for (int64_t o = 0; o < out.numel(); ++o) {
          const int64_t outer_index = o / inner, inner_index = o % inner;
          const int64_t chosen = out.data<int64_t>()[o];
          ASSERT_GE(chosen, 0);
          ASSERT_LT(chosen, dims[a]);
          const int64_t at = (outer_index * dims[a] + chosen) * inner + inner_index;
          EXPECT_EQ(x.data<float>()[at], extreme.data<float>()[o]) << op << " axis " << axis;
        }
      }
    }
  }
}

TEST(ArgReduce, IntegersAndErrors) {
  Tensor x = int64_tensor({3, -9, 12, 12}, {4});
  Node node = make_node("ArgMin", 1);
  EXPECT_EQ(run(node, {&x}, 13)[0].data<int64_t>()[0], 1);
  Node max_last = make_node("ArgMax", 1);
  set_int(max_last, "select_last_index", 1);
  EXPECT_EQ(run(max_last, {&x}, 13)[0].data<int64_t>()[0], 3);
  Tensor empty(DataType::kFloat32, {2, 0});
  Node over_empty = make_node("ArgMax", 1);
  set_int(over_empty, "axis", 1);
  expect_error([&] { run(over_empty, {&empty}, 13); }, {"axis 1", "empty"});
  set_int(over_empty, "axis", 2);
  expect_error([&] { run(over_empty, {&empty}, 13); }, {"axis"});
  auto out = infer(node, {{DataType::kFloat32, Shape({Dim::unknown("n"), 5})}}, 13);
  EXPECT_EQ(out[0].shape.to_string(), "[1,5]");
  EXPECT_EQ(out[0].dtype, DataType::kInt64);
}

}  // namespace
}  // namespace normrt::test
