// attention_fusion on real PyTorch exports at opsets 11, 13 and 17: the spatial_transformer fixture (SD / diffusers'
// self-attention, separate q/k/v) and unet_block (one packed qkv projection sliced after a 5-D permute). After the
// builder's graph optimizations the written-out attention is one ai.normrt Attention, and the graph with it (every
// node on its reference kernel) gives PyTorch's outputs.
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/npy.h"
#include "onnx/importer.h"
#include "passes/pattern_graph.h"

namespace normrt::test {
namespace {

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot read " + path + "; did the generate_fixtures test run?");
  return nlohmann::json::parse(f);
}

void check_fixture(const std::string& model, const std::string& output) {
  const std::string root = NORMRT_FIXTURES_DIR;
  const auto index = read_json(root + "/fixtures.json");
  int checked = 0;
  for (const auto& entry : index["models"]) {
    if (entry["model"] != model) continue;
    const std::string dir = root + "/" + entry["dir"].get<std::string>();
    SCOPED_TRACE(dir);
    Graph g = import_onnx_file(dir + "/model.onnx");
    PassReport report;
    optimize(g, report);
    EXPECT_EQ(count_ops(g, "Softmax"), 1);
    fuse_attention(g, report, [](const Node&, const std::vector<TypeShape>&) { return true; });
    g.verify();
    EXPECT_EQ(count_ops(g, "Attention", kNormrtDomain), 1) << describe_report(report);
    EXPECT_EQ(count_ops(g, "Softmax"), 0);
    for (const auto& case_name : entry["cases"]) {
      const std::string case_dir = dir + "/" + case_name.get<std::string>();
      const auto spec = read_json(case_dir + "/case.json");
      std::map<std::string, Tensor> feeds;
      for (const auto& in : spec["inputs"]) feeds[in["name"]] = read_npy(case_dir + "/" + in["file"].get<std::string>());
      const auto outputs = run_reference(g, feeds);
      const Tensor expected = read_npy(case_dir + "/" + spec["outputs"][0]["file"].get<std::string>());
      EXPECT_LE(relative_error(outputs.at(output), expected), 1e-4) << case_dir;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 3) << "expected the fixture at opsets 11, 13 and 17";
}

TEST(AttentionFusionOnPyTorchExports, SpatialTransformerBecomesOneAttention) { check_fixture("spatial_transformer", "out"); }
TEST(AttentionFusionOnPyTorchExports, PackedQkvBecomesOneAttention) { check_fixture("unet_block", "out"); }

}  // namespace
}  // namespace normrt::test
