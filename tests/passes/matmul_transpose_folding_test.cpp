// matmul_transpose_folding: attention's head split (Reshape + Transpose of q, k, v) and merge (Transpose after
// p v) join the MatMuls as ai.normrt PermutedMatMul, computing what the graph written out does; Transposes the
// device would not take, or that something else reads, stay; CPU engines keep them all.
#include <algorithm>

#include "engine/engine.h"
#include "passes/pass.h"
#include "passes/pattern_graph.h"
#include "passes/rewrite_util.h"
#include "test_util.h"

namespace normrt::test {
namespace {

// The written-out attention with no scale, k's Transpose optionally a graph output too.
Graph attention(bool k_also_output) {
  AttentionForm form;
  form.scaling = "";
  form.k_also_output = k_also_output;
  return written_out_attention(form);
}

int count(const Graph& g, const std::string& op) {
  return static_cast<int>(std::count_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return n.op_type == op; }));
}

std::vector<std::pair<std::string, Tensor>> run_graph(const Graph& g, const Tensor& x) {
  BuildOptions options;
  options.profiles.push_back(Profile{{{"x", ShapeRange{x.dims(), x.dims(), x.dims()}}}});
  ExecutionContext context(build_engine(g, options));
  return context.run({{"x", x}});
}

// What the CUDA kernel takes: each matrix keeps a unit-stride axis, Y's last axis stays last.
bool strided_gemm(const Node& node, const std::vector<TypeShape>&) {
  for (const char* name : {"perm_a", "perm_b"}) {
    if (!node.has_attribute(name)) continue;
    const auto perm = node.attr_ints(name);
    const int64_t last = static_cast<int64_t>(perm.size()) - 1;
    if (perm[last] != last && perm[last - 1] != last) return false;
  }
  if (!node.has_attribute("perm_y")) return true;
  const auto perm = node.attr_ints("perm_y");
  return perm.back() == static_cast<int64_t>(perm.size()) - 1;
}

TEST(MatMulTransposeFolding, AttentionHeadSplitAndMergeJoinTheGemms) {
  const Graph g = attention(false);
  Graph folded = g;
  PassReport report;
  fold_matmul_transposes(folded, report, strided_gemm);
  folded.verify();
  EXPECT_EQ(count(folded, "Transpose"), 0);
  EXPECT_EQ(count(folded, "PermutedMatMul"), 2);
  EXPECT_EQ(count(folded, "MatMul"), 3);  // the projections: no Transposes around them
  for (int64_t batch : {1, 3}) {
    const Tensor x = random_tensor({batch, 6, 8});
    EXPECT_LE(relative_error(run_graph(folded, x)[0].second, run_graph(g, x)[0].second), 1e-6);
  }
}

TEST(MatMulTransposeFolding, TransposesThatMustStay) {
  {  // k_t is also a graph output: its Transpose stays, q's joins
    const Graph original = attention(true);
    Graph g = original;
    PassReport report;
    fold_matmul_transposes(g, report, strided_gemm);
    EXPECT_EQ(count(g, "Transpose"), 1);
    const Tensor x = random_tensor({2, 6, 8});
    const auto got = run_graph(g, x), want = run_graph(original, x);
    for (size_t i = 0; i < got.size(); ++i) EXPECT_LE(relative_error(got[i].second, want[i].second), 1e-6);
  }
  {  // the device takes nothing: every Transpose stays, each MatMul says why
    Graph g = attention(false);
    PassReport report;
    fold_matmul_transposes(g, report, [](const Node&, const std::vector<TypeShape>&) { return false; });
    EXPECT_EQ(count(g, "Transpose"), 4);
    std::string refused;
    for (const PassRecord& r : report.records)
      if (r.pass == "matmul_transpose_folding" && !r.applied) refused += r.description + "\n";
    EXPECT_NE(refused.find("keeps its Transposes: the device has no strided GEMM for them"), std::string::npos)
        << refused;
  }
  {  // CPU engines do not run the pass
    BuildOptions options;
    options.profiles.push_back(Profile{{{"x", ShapeRange{{1, 6, 8}, {2, 6, 8}, {2, 6, 8}}}}});
    EXPECT_EQ(count(build_engine(attention(false), options)->graph, "PermutedMatMul"), 0);
  }
}

}  // namespace
}  // namespace normrt::test
