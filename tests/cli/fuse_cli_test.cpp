// `normrt fuse` as a program: what --report prints (each rewrite, each refused candidate with why), the file it writes,
// --opset21 and its refusal, and errors.
#include <sys/wait.h>

#include "onnx/importer.h"
#include "onnx/onnx_builder.h"
#include "passes/pattern_graph.h"

namespace normrt::test {
namespace {

struct CliResult {
  int code = -1;
  std::string out, err;
};

std::string quote(const std::string &s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

CliResult run_cli(const std::vector<std::string> &args) {
  TempDir capture;
  std::string command = quote(NORMRT_CLI);
  for (const auto &a : args) command += " " + quote(a);
  command += " >" + quote(capture.file("out")) + " 2>" + quote(capture.file("err")) + " </dev/null";
  int status = std::system(command.c_str());
  CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_bytes(capture.file("out"));
  r.err = read_bytes(capture.file("err"));
  return r;
}

bool contains(const std::string &text, const std::string &part) { return text.find(part) != std::string::npos; }

std::string fixture(const std::string &dir) { return std::string(NORMRT_FIXTURES_DIR) + "/" + dir + "/model.onnx"; }

// GroupNorm(2, 4) as the TorchScript exporter writes it, with the InstanceNormalization scaled by `in_scale`.
std::string write_group_norm_model(const TempDir &dir, float in_scale, int64_t opset = 13,
                                   const std::string &extra_op = "") {
  ModelBuilder m(opset);
  m.input("x", {"N", "4", "3"}).output("y");
  auto *s1 = m.graph().add_initializer();
  s1->set_name("s1");
  s1->set_data_type(onnx::TensorProto::INT64);
  s1->add_dims(3);
  for (int64_t v : {0, 2, -1}) s1->add_int64_data(v);
  m.initializer("ones", {2}, {in_scale, in_scale});
  m.initializer("zeros", {2}, {0, 0});
  m.initializer("gamma", {4, 1}, {1, 2, 3, 4});
  m.initializer("beta", {4, 1}, {0, 1, 0, 1});
  m.node("Reshape", {"x", "s1"}, {"r1"}, "", "gn/Reshape");
  m.node("InstanceNormalization", {"r1", "ones", "zeros"}, {"n"}, "", "gn/InstanceNormalization");
  m.node("Shape", {"x"}, {"xs"}, "", "gn/Shape");
  m.node("Reshape", {"n", "xs"}, {"r2"}, "", "gn/Reshape_1");
  m.node("Mul", {"r2", "gamma"}, {"m"}, "", "gn/Mul");
  m.node("Add", {"m", "beta"}, {"a"}, "", "gn/Add");
  m.node("Relu", {"a"}, {extra_op.empty() ? "y" : "b"}, "", "relu");
  if (!extra_op.empty()) m.node(extra_op, {"b"}, {"y"}, "", "odd");
  return m.save(dir);
}

}  // namespace

TEST(FuseCli, ReportPrintsEachRewriteAndWritesTheFusedFile) {
  TempDir dir;
  const std::string out = dir.file("fused.onnx");
  CliResult r = run_cli({"fuse", write_group_norm_model(dir, 1.0f), "-o", out, "--report"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out,
                       "  rewrite  group_norm_fusion: GroupNorm(G=2, C=4): node 'gn/Reshape' "
                       "(Reshape), "
                       "node 'gn/InstanceNormalization' (InstanceNormalization), node "
                       "'gn/Reshape_1' (Reshape), "
                       "node 'gn/Mul' (Mul), node 'gn/Add' (Add) -> ai.normrt::GroupNorm"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "  rewrite  norm_activation_fusion: ai.normrt::GroupNorm")) << r.out;
  EXPECT_TRUE(contains(r.out, "+ Relu 'relu'")) << r.out;
  EXPECT_TRUE(contains(r.out, "activation Relu")) << r.out;
  EXPECT_TRUE(contains(r.out, "wrote " + out + " (opset 13): ")) << r.out;
  EXPECT_TRUE(contains(r.out, "normalizations: ai.normrt::GroupNorm x1")) << r.out;
  Graph g = import_onnx_file(out);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].attr_int("num_groups"), 2);
  EXPECT_EQ(g.nodes[0].attr_string("activation", ""), "Relu");

  CliResult quiet = run_cli({"fuse", write_group_norm_model(dir, 1.0f), "-o", out});
  ASSERT_EQ(quiet.code, 0) << quiet.err;
  EXPECT_FALSE(contains(quiet.out, "rewrite  ")) << quiet.out;
  EXPECT_TRUE(contains(quiet.out, "2 rewrite(s), 0 refused candidate(s)")) << quiet.out;
}

TEST(FuseCli, ReportPrintsEachRefusedCandidateWithWhy) {
  TempDir dir;
  CliResult r = run_cli({"fuse", write_group_norm_model(dir, 2.0f), "-o", dir.file("fused.onnx"), "--report"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out,
                       "  refused  group_norm_fusion: node 'gn/InstanceNormalization' "
                       "(InstanceNormalization): "
                       "not a GroupNorm: the InstanceNormalization's scale is not all ones"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "normalizations: InstanceNormalization x1")) << r.out;

  CliResult resnet = run_cli({"fuse", fixture("resnet_gn_op13"), "-o", dir.file("resnet.onnx"), "--report"});
  ASSERT_EQ(resnet.code, 0) << resnet.err;
  EXPECT_TRUE(contains(resnet.out,
                       "  refused  norm_activation_fusion: no activation fused "
                       "into ai.normrt::GroupNorm "
                       "'/layer1/gn2/InstanceNormalization_group_norm': its "
                       "only reader Add '/layer1/Add' "
                       "is not a fusable activation"))
      << resnet.out;
  EXPECT_TRUE(contains(resnet.out, "normalizations: ai.normrt::GroupNorm x8")) << resnet.out;
}

TEST(FuseCli, Opset21WritesStandardGroupNormalization) {
  TempDir dir;
  const std::string out = dir.file("fused21.onnx");
  CliResult r = run_cli({"fuse", fixture("unet_block_op13"), "-o", out, "--opset21", "--report"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "(opset 13 -> 21)")) << r.out;
  EXPECT_TRUE(contains(r.out,
                       "rewrite  opset_upgrade: node '/Unsqueeze' (Unsqueeze) "
                       "rewritten for opset 21: attribute "
                       "'axes' became input 1") ||
              contains(r.out, "rewrite  opset_upgrade: default-domain opset 13 -> 21"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "GroupNormalization x3")) << r.out;
  Graph g = import_onnx_file(out);
  EXPECT_EQ(g.opset(""), 21);
  EXPECT_EQ(count_ops(g, "GroupNormalization", ""), 3);
}

TEST(FuseCli, Opset21RefusalNamesEveryNodeThatCannotMove) {
  TempDir dir;
  const std::string out = dir.file("fused21.onnx");
  CliResult r = run_cli({"fuse", write_group_norm_model(dir, 1.0f, 11, "Scatter"), "-o", out, "--opset21"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.err, "the model cannot move from opset 11 to 21:")) << r.err;
  EXPECT_TRUE(contains(r.err, "node 'odd' (Scatter): Scatter was removed from ONNX")) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out)) << "nothing is written when the conversion is refused";

  CliResult unknown = run_cli({"fuse", write_group_norm_model(dir, 1.0f, 13, "MysteryOp"), "-o", out, "--opset21"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_TRUE(contains(unknown.err,
                       "normrt does not know whether MysteryOp means the "
                       "same at opset 21 as at opset 13"))
      << unknown.err;
  // Without --opset21 the same model fuses: fuse does not need to run an op to rewrite around it.
  CliResult plain = run_cli({"fuse", write_group_norm_model(dir, 1.0f, 13, "MysteryOp"), "-o", out});
  EXPECT_EQ(plain.code, 0) << plain.err;
}

TEST(FuseCli, Errors) {
  TempDir dir;
  CliResult missing = run_cli({"fuse", dir.file("nope.onnx"), "-o", dir.file("out.onnx")});
  EXPECT_EQ(missing.code, 1);
  EXPECT_TRUE(contains(missing.err, "nope.onnx")) << missing.err;
  CliResult no_output = run_cli({"fuse", write_group_norm_model(dir, 1.0f)});
  EXPECT_NE(no_output.code, 0);
  EXPECT_TRUE(contains(no_output.err, "--output")) << no_output.err;
}

}  // namespace normrt::test
