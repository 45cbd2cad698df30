// matmul_grouping: the MatMuls of one tensor by constant matrices of one shape (attention's q, k, v) become one
// ai.normrt MatMulGroup computing what they did, at batch 1 and 3; MatMuls by matrices of other shapes, by
// non-constant matrices or of other tensors stay apart; more than 8 form several groups; a device without the
// kernel keeps them, with the reason recorded. MatMulGroup's shape function names bad inputs.
#include "passes/pattern_graph.h"
#include "passes/rewrite_util.h"

namespace normrt::test {
namespace {

const NodeAccept kAcceptAll = [](const Node&, const std::vector<TypeShape>&) { return true; };

std::string records(const PassReport& report, bool applied) { return records_of(report, "matmul_grouping", applied); }

void expect_same_at_batches(const Graph& original, const Graph& grouped) {
  for (int64_t batch : {1, 3})
    expect_same_outputs(original, grouped, {{"x", random_tensor({batch, 5, 8})}, {"m", random_tensor({8, 8})}}, 1e-6);
}

PatternGraph attention_inputs() {
  PatternGraph p(17);
  p.input("x", {Dim::unknown("batch"), 5, 8});
  p.input("m", {8, 8});
  for (const char* w : {"wq", "wk", "wv", "wo"}) p.constant(w, random_tensor({8, 8}));
  p.constant("w_wide", random_tensor({8, 12}));
  return p;
}

TEST(MatMulGrouping, QKVBecomeOneNode) {
  PatternGraph p = attention_inputs();
  p.add("MatMul", {"x", "wq"}, "q");
  p.add("Relu", {"q"}, "q_out");  // a reader between the MatMuls
  p.add("MatMul", {"x", "wk"}, "k");
  p.add("MatMul", {"x", "wv"}, "v");
  p.add("MatMul", {"x", "w_wide"}, "wide");  // another matrix shape
  p.add("MatMul", {"x", "m"}, "dynamic");    // not a constant
  p.add("MatMul", {"q", "wo"}, "other");     // another input
  for (const char* out : {"q_out", "k", "v", "wide", "dynamic", "other"}) p.output(out);
  Graph grouped = p.graph;
  PassReport report;
  group_matmuls(grouped, report, kAcceptAll);
  grouped.verify();
  ASSERT_EQ(count_ops(grouped, "MatMulGroup"), 1) << records(report, false);
  EXPECT_EQ(count_ops(grouped, "MatMul"), 3) << "the other shape, the non-constant and the other input stay";
  const Node& g = *find_op(grouped, "MatMulGroup");
  EXPECT_EQ(g.inputs, (std::vector<std::string>{"x", "wq", "wk", "wv"}));
  EXPECT_EQ(g.outputs, (std::vector<std::string>{"q", "k", "v"}));
  EXPECT_NE(records(report, true).find("one batched GEMM"), std::string::npos);
  expect_same_at_batches(p.graph, grouped);
}

TEST(MatMulGrouping, MoreThanEightFormSeveralGroups) {
  PatternGraph p = attention_inputs();
  for (int i = 0; i < 11; ++i) {
    const std::string w = "w" + std::to_string(i), y = "y" + std::to_string(i);
    p.constant(w, random_tensor({8, 8}));
    p.add("MatMul", {"x", w}, y);
    p.output(y);
  }
  Graph grouped = p.graph;
  PassReport report;
  group_matmuls(grouped, report, kAcceptAll);
  grouped.verify();
  EXPECT_EQ(count_ops(grouped, "MatMulGroup"), 2);  // 8 + 3
  EXPECT_EQ(count_ops(grouped, "MatMul"), 0);
  expect_same_at_batches(p.graph, grouped);
}

TEST(MatMulGrouping, ADeviceWithoutTheKernelKeepsTheMatMuls) {
  PatternGraph p = attention_inputs();
  p.add("MatMul", {"x", "wq"}, "q");
  p.add("MatMul", {"x", "wk"}, "k");
  p.output("q").output("k");
  Graph grouped = p.graph;
  PassReport report;
  group_matmuls(grouped, report, [](const Node&, const std::vector<TypeShape>&) { return false; });
  EXPECT_EQ(count_ops(grouped, "MatMul"), 2);
  EXPECT_NE(records(report, false).find("the device has no kernel"), std::string::npos);
}

TEST(MatMulGrouping, TheShapeFunctionNamesBadInputs) {
  const std::map<std::string, Shape> shapes{{"x", Shape::from_dims({2, 5, 8})}, {"m", Shape::from_dims({8, 8})}};
  struct Case {
    std::vector<std::string> inputs;
    size_t outputs;
    const char* message;
  };
  const std::vector<Case> cases = {
      {{"x", "wq"}, 1, "two or more matrices"},
      {{"x", "wq", "wk"}, 1, "one output per matrix"},
      {{"x", "wq", "w_wide"}, 2, "differ in shape"},
      {{"x", "wq", "x"}, 2, "must be a matrix"},
  };
  for (const Case& c : cases) {
    PatternGraph p = attention_inputs();
    p.graph.opsets[kNormrtDomain] = 1;
    Node& g = p.add("MatMulGroup", c.inputs, "y0");
    g.domain = kNormrtDomain;
    for (size_t i = 1; i < c.outputs; ++i) g.outputs.push_back("y" + std::to_string(i));
    p.output("y0");
    try {
      infer_graph(p.graph, shapes);
      ADD_FAILURE() << "accepted: " << c.message;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace normrt::test
