// Helpers for the pattern-pass tests: a small graph builder, a node-by-node run on the reference kernels (the unfused
// meaning of a graph, with no pass in between), and report queries.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "passes/pass.h"
#include "passes/rewrite_util.h"
#include "test_util.h"

namespace normrt::test {

class PatternGraph {
 public:
  explicit PatternGraph(int64_t opset = 13) {
    graph.name = "pattern_test";
    graph.opsets[""] = opset;
  }
  PatternGraph &input(const std::string &name, std::vector<Dim> dims, DataType dtype = DataType::kFloat32) {
    graph.inputs.push_back(ValueInfo{name, dtype, Shape(std::move(dims))});
    return *this;
  }
  PatternGraph &constant(const std::string &name, const Tensor &t) {
    graph.initializers[name] = t;
    return *this;
  }
  PatternGraph &scalar(const std::string &name, float v) { return constant(name, float_tensor({v}, {})); }
  // Adds op(inputs) -> output and returns the node (valid until the next add).
  Node &add(const std::string &op, std::vector<std::string> inputs, const std::string &output) {
    Node n;
    n.op_type = op;
    n.name = op + "_" + output;
    n.inputs = std::move(inputs);
    n.outputs = {output};
    graph.nodes.push_back(std::move(n));
    return graph.nodes.back();
  }
  PatternGraph &output(const std::string &name) {
    graph.outputs.push_back(ValueInfo{name, DataType::kUndefined, Shape()});
    return *this;
  }

  Graph graph;
};

inline int count_ops(const Graph &g, const std::string &op, const std::string &domain = "*") {
  int n = 0;
  for (const Node &node : g.nodes) n += node.op_type == op && (domain == "*" || node.domain == domain);
  return n;
}

inline const Node *find_op(const Graph &g, const std::string &op) {
  for (const Node &node : g.nodes)
    if (node.op_type == op) return &node;
  return nullptr;
}

// Every node on its reference kernel, in order; returns the graph outputs by name.
inline std::map<std::string, Tensor> run_reference(const Graph &graph, const std::map<std::string, Tensor> &feeds) {
  std::map<std::string, Tensor> values = feeds;
  for (const auto &[name, t] : graph.initializers) values[name] = t;
  for (const Node &node : graph.nodes) {
    std::vector<const Tensor *> inputs;
    for (const std::string &in : node.inputs) inputs.push_back(in.empty() ? nullptr : &values.at(in));
    std::vector<Tensor> outs = run_node(node, graph.opset(node.domain), inputs);
    for (size_t i = 0; i < outs.size(); ++i)
      if (!node.outputs[i].empty()) values[node.outputs[i]] = outs[i];
  }
  std::map<std::string, Tensor> result;
  for (const ValueInfo &out : graph.outputs) result[out.name] = values.at(out.name);
  return result;
}

// Runs both graphs on the same feeds and expects every output within `tolerance` (relative_error).
inline void expect_same_outputs(const Graph &original, const Graph &rewritten,
                                const std::map<std::string, Tensor> &feeds, double tolerance = 1e-5) {
  auto a = run_reference(original, feeds), b = run_reference(rewritten, feeds);
  ASSERT_EQ(a.size(), b.size());
  for (const auto &[name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_LE(relative_error(b.at(name), t), tolerance) << "output " << name;
  }
}

struct AttentionForm {
  std::string scaling = "Mul";  // "Mul", "MulLeft" (constant first), "Div", "Input" (by graph input s) or ""
  int64_t softmax_axis = -1;
  bool probs_also_output = false;
  bool k_also_output = false;  // k's head-split Transpose output is a graph output too
  std::vector<int64_t> merge_perm{0, 2, 1, 3};
  int64_t opset = 17;
};

// Attention as exporters write it, for the attention pass tests: x [N, 6, 8] with 8 = 2 heads * 4 -> q, k, v
// [N, heads, 6, 4] (Reshape + Transpose) -> softmax(q k^T [* c]) v -> merge Transpose -> Reshape [N, 6, 8].
inline Graph written_out_attention(const AttentionForm &form) {
  PatternGraph p(form.opset);
  p.graph.name = "attention";
  p.input("x", {Dim::unknown("batch"), 6, 8});
  p.constant("split", int64_tensor({0, 6, 2, 4}, {4})).constant("merge", int64_tensor({0, 6, 8}, {3}));
  if (!form.scaling.empty()) p.scalar("c", 0.5f);
  for (const char* name : {"q", "k", "v"}) {
    const std::string s(name);
    p.constant("w" + s, random_tensor({8, 8}));
    p.add("MatMul", {"x", "w" + s}, s + "_lin");
    p.add("Reshape", {s + "_lin", "split"}, s + "_heads");
    p.add("Transpose", {s + "_heads"}, s + "_t").attributes["perm"] =
        ints_attribute(s == "k" ? std::vector<int64_t>{0, 2, 3, 1} : std::vector<int64_t>{0, 2, 1, 3});
  }
  p.add("MatMul", {"q_t", "k_t"}, "scores");
  std::string scaled = "scores";
  if (form.scaling == "Mul") p.add("Mul", {"scores", "c"}, scaled = "scaled");
  if (form.scaling == "MulLeft") p.add("Mul", {"c", "scores"}, scaled = "scaled");
  if (form.scaling == "Div") p.add("Div", {"scores", "c"}, scaled = "scaled");
  if (form.scaling == "Input") p.input("s", {}).add("Mul", {"scores", "s"}, scaled = "scaled");
  p.add("Softmax", {scaled}, "probs").attributes["axis"] = int_attribute(form.softmax_axis);
  p.add("MatMul", {"probs", "v_t"}, "o");
  p.add("Transpose", {"o"}, "o_t").attributes["perm"] = ints_attribute(form.merge_perm);
  p.add("Reshape", {"o_t", "merge"}, "y");
  p.output("y");
  if (form.probs_also_output) p.output("probs");
  if (form.k_also_output) p.output("k_t");
  return p.graph;
}

inline std::string describe_report(const PassReport &report) {
  std::string s;
  for (const PassRecord &r : report.records)
    s += (r.applied ? "applied " : "refused ") + r.pass + ": " + r.description + "\n";
  return s;
}

// The descriptions of `pass`'s records with this `applied` state, one per line.
inline std::string records_of(const PassReport &report, const std::string &pass, bool applied) {
  std::string all;
  for (const PassRecord &r : report.records)
    if (r.pass == pass && r.applied == applied) all += r.description + "\n";
  return all;
}

// Whether some record of `pass` with this `applied` state mentions every part.
inline bool reported(const PassReport &report, const std::string &pass, bool applied,
                     const std::vector<std::string> &parts) {
  for (const PassRecord &r : report.records) {
    if (r.pass != pass || r.applied != applied) continue;
    bool all = true;
    for (const auto &p : parts) all = all && r.description.find(p) != std::string::npos;
    if (all) return true;
  }
  return false;
}

}  // namespace normrt::test
