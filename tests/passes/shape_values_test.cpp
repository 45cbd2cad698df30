// The symbolic shape arithmetic passes read (src/passes/shape_values.h): the chains PyTorch's exporter writes for
// x.flatten(2) and x.view(b, c, h * w), and Reshape's target rules (0 copies, -1 worked out only when proven).
#include <cstdint>

#include "passes/pattern_graph.h"
#include "passes/rewrite_util.h"
#include "passes/shape_values.h"

namespace normrt::test {
namespace {

struct Lookup {
  explicit Lookup(const Graph& g) : graph(g) {
    for (const Node& n : g.nodes)
      for (const auto& out : n.outputs) producers[out] = &n;
    for (const ValueInfo& in : g.inputs) types[in.name] = TypeShape{in.dtype, in.shape};
  }
  std::optional<std::vector<SymbolicInt>> value(const std::string& name) {
    const TypeLookup lookup = [this](const std::string& v) -> const TypeShape* {
      auto it = types.find(v);
      return it == types.end() ? nullptr : &it->second;
    };
    return shape_value(graph, producers, lookup, name);
  }
  const Graph& graph;
  std::map<std::string, const Node*> producers;
  std::map<std::string, TypeShape> types;
};

std::string show(const std::vector<SymbolicInt>& v) {
  std::string s;
  for (const SymbolicInt& e : v)
    s += (s.empty() ? "" : ",") + (e.known ? std::to_string(e.value) : "<" + e.of_value + ":" + std::to_string(e.axis) + ">");
  return s;
}

TEST(ShapeValues, FollowsTheExportersReshapeArithmetic) {
  PatternGraph p(17);
  p.input("x", {Dim::unknown("batch"), 32, 16, 16});
  p.constant("i0", int64_tensor({0})).constant("i1", int64_tensor({1})).constant("i2", int64_tensor({2}));
  p.constant("i3", int64_tensor({3})).constant("zero", int64_tensor({0}, {1})).constant("two", int64_tensor({2}, {1}));
  p.constant("minus1", int64_tensor({-1}, {1})).constant("axes0", int64_tensor({0}, {1}));
  p.add("Shape", {"x"}, "shape");
  // x.view(b, c, h * w)
  p.add("Gather", {"shape", "i0"}, "b");
  p.add("Gather", {"shape", "i1"}, "c");
  p.add("Gather", {"shape", "i2"}, "h");
  p.add("Gather", {"shape", "i3"}, "w");
  p.add("Mul", {"h", "w"}, "hw");
  p.add("Unsqueeze", {"b", "axes0"}, "b1");
  p.add("Unsqueeze", {"c", "axes0"}, "c1");
  p.add("Unsqueeze", {"hw", "axes0"}, "hw1");
  p.add("Concat", {"b1", "c1", "hw1"}, "view").attributes["axis"] = int_attribute(0);
  // x.flatten(2): Concat(Slice(Shape(x), 0, 2), [-1])
  p.add("Slice", {"shape", "zero", "two"}, "lead");
  p.add("Concat", {"lead", "minus1"}, "flat").attributes["axis"] = int_attribute(0);
  // Arithmetic on the unknown batch stays unknown instead of giving up; a Relu is not followed.
  p.add("Add", {"b", "i1"}, "b_plus_1");
  p.add("Relu", {"shape"}, "opaque");
  Lookup l(p.graph);

  auto view = l.value("view");
  ASSERT_TRUE(view);
  EXPECT_EQ(show(*view), "<x:0>,32,256");
  EXPECT_EQ((*view)[0].symbol, "batch");
  auto flat = l.value("flat");
  ASSERT_TRUE(flat);
  EXPECT_EQ(show(*flat), "<x:0>,32,-1");
  auto plus = l.value("b_plus_1");
  ASSERT_TRUE(plus);
  EXPECT_FALSE((*plus)[0].known);
  EXPECT_FALSE(l.value("opaque"));
  EXPECT_FALSE(l.value("no_such_value"));

  const std::vector<Dim> x_dims = p.graph.inputs[0].shape.dims;
  auto dims = reshape_dims("x", x_dims, *flat);
  ASSERT_TRUE(dims);
  EXPECT_EQ(Shape(*dims).to_string(), "[batch,32,256]") << "-1 is 16 * 16: the batch matched x's own dim 0";
}

TEST(ShapeValues, ReshapeTargetRules) {
  const std::vector<Dim> dims{Dim::unknown(), 6, 10};  // an unnamed batch
  auto n = [](int64_t v) { return SymbolicInt::number(v); };
  // 0 copies the dim in its place, even an unnamed one, so the -1 is determined.
  auto copied = reshape_dims("x", dims, {n(0), n(-1), n(5)});
  ASSERT_TRUE(copied);
  EXPECT_EQ(Shape(*copied).to_string(), "[?,12,5]");
  // An unknown element that is some other value's dim proves nothing: the -1 stays unknown.
  SymbolicInt other{false, 0, "", "y", 0};
  auto unproven = reshape_dims("x", dims, {other, n(-1)});
  ASSERT_TRUE(unproven);
  EXPECT_EQ(Shape(*unproven).to_string(), "[?,?]");
  // A named symbol matches the input dim of the same name.
  auto named = reshape_dims("x", {Dim::unknown("batch"), 6, 10}, {SymbolicInt{false, 0, "batch", "y", 0}, n(-1)});
  ASSERT_TRUE(named);
  EXPECT_EQ(Shape(*named).to_string(), "[batch,60]");
  EXPECT_FALSE(reshape_dims("x", dims, {n(-1), n(-1)})) << "two -1s";
  EXPECT_FALSE(reshape_dims("x", dims, {n(-2), n(30)})) << "a negative other than -1";
  EXPECT_FALSE(reshape_dims("x", dims, {n(0), n(0), n(0), n(0)})) << "a 0 beyond the input's rank";
  auto indivisible = reshape_dims("x", dims, {n(0), n(7), n(-1)});
  ASSERT_TRUE(indivisible);
  EXPECT_EQ(Shape(*indivisible).to_string(), "[?,7,?]") << "60 / 7 is no reshape: left for run time to refuse";
}

// Hostile models: products that overflow int64 leave the element unknown (or the reshape unworked), never UB.
TEST(ShapeValues, OverflowIsUnknownNotUndefined) {
  PatternGraph p(17);
  p.constant("big", int64_tensor({int64_t{1} << 40}, {1})).constant("min", int64_tensor({INT64_MIN}, {1}));
  p.constant("minus1", int64_tensor({-1}, {1}));
  p.add("Mul", {"big", "big"}, "square");
  p.add("Div", {"min", "minus1"}, "quotient");
  p.add("Sub", {"min", "big"}, "difference");
  Lookup l(p.graph);
  for (const char* name : {"square", "quotient", "difference"}) {
    auto v = l.value(name);
    ASSERT_TRUE(v) << name;
    EXPECT_FALSE((*v)[0].known) << name;
  }
  auto n = [](int64_t v) { return SymbolicInt::number(v); };
  EXPECT_FALSE(reshape_dims("x", {Dim(int64_t{1} << 40), 4}, {n(0), n(int64_t{1} << 40), n(-1)}));
  EXPECT_FALSE(reshape_dims("x", {Dim(int64_t{1} << 40), Dim(int64_t{1} << 40)}, {n(1), n(-1)}));
}

}  // namespace
}  // namespace normrt::test

namespace normrt::test {
namespace {

// KnownValues: a dim read from a shape is known when that dim is static, though the batch is not (PyTorch's
// `d ** -0.5` with d from x.shape); the batch itself stays unknown.
TEST(KnownValues, StaticDimsOfAShapeWithADynamicBatch) {
  PatternGraph p(17);
  p.input("x", {Dim::unknown("batch"), 8, 16});
  p.constant("last", int64_tensor({-1}, {})).constant("first", int64_tensor({0}, {}));
  p.constant("both", int64_tensor({1, 2}, {2})).constant("half", float_tensor({-0.5f}, {}));
  p.add("Shape", {"x"}, "shape");
  p.add("Gather", {"shape", "last"}, "d");
  p.add("Cast", {"d"}, "d_float").attributes["to"] = int_attribute(static_cast<int64_t>(DataType::kFloat32));
  p.add("Pow", {"d_float", "half"}, "scale");
  p.add("Gather", {"shape", "first"}, "batch");
  p.add("Gather", {"shape", "both"}, "dims");
  const GraphTypes types = infer_types_tolerant(p.graph);
  KnownValues known(p.graph, types);
  double scale = 0;
  ASSERT_TRUE(known.scalar("scale", &scale));
  EXPECT_DOUBLE_EQ(scale, 0.25);
  std::vector<double> dims;
  ASSERT_TRUE(known.doubles("dims", &dims));
  EXPECT_EQ(dims, (std::vector<double>{8, 16}));
  EXPECT_EQ(known.value("batch"), nullptr);
}

}  // namespace
}  // namespace normrt::test
