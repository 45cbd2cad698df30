// `normrt fuse` on the PyTorch fixtures (tests/fixtures/make_fixtures.py): the fused file holds one ai.normrt GroupNorm
// per nn.GroupNorm of the model definition and keeps genuine InstanceNorms; building the raw export and the fused file
// plans the same kernels; the fused file (and its opset-21 form) gives PyTorch's outputs. ONNX Runtime and the ONNX
// checker on the same files are tests/python/test_fuse.py.
#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "io/npy.h"
#include "onnx/exporter.h"
#include "onnx/importer.h"
#include "passes/pattern_graph.h"

namespace normrt::test {
namespace {

constexpr double kTolerance = 1e-4;

// Counted from the module definitions in make_fixtures.py.
struct Expected {
  int group_norms, instance_norms, layer_norms;
};
const std::map<std::string, Expected> kExpected = {
    {"conv_gn_relu", {1, 0, 0}},    // ConvGnRelu.gn
    {"resnet_gn", {8, 0, 0}},       // 2 per BasicBlockGN, 1 more in the two downsampling blocks
    {"packnet", {10, 0, 0}},        // enc0, 3 packs, 3 unpacks, 3 iconvs
    {"unet_block", {3, 0, 1}},      // norm1, norm2, attn_norm; ln is nn.LayerNorm
    {"style_transfer", {0, 9, 0}},  // InstanceNorm2d: c1-c3, 2 x 2 in the res blocks, u1, u2
    {"audio1d", {3, 0, 0}},         // gn1 (G = 1), gn2, gn3 (G = C)
    {"spatial_transformer", {1, 0, 2}},  // norm; ln1 and ln2
};

nlohmann::json read_json(const std::string &path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot read " + path + "; did the generate_fixtures test run?");
  return nlohmann::json::parse(f);
}

Dims to_dims(const nlohmann::json &j) {
  Dims d;
  for (const auto &v : j) d.push_back(v.get<int64_t>());
  return d;
}

BuildOptions options_for(const nlohmann::json &entry) {
  BuildOptions options;
  Profile profile;
  for (const auto &in : entry["inputs"])
    profile.inputs[in["name"]] =
        ShapeRange{to_dims(in["profile"]["min"]), to_dims(in["profile"]["opt"]), to_dims(in["profile"]["max"])};
  options.profiles.push_back(profile);
  return options;
}

// The fused file `normrt fuse` writes, read back as `build` reads it.
Graph fused_file(const Graph &raw, bool opset21) {
  Graph g = raw;
  PassReport report;
  fuse_normalizations(g, report, FusionTarget::kOnnx);
  if (opset21) upgrade_to_opset21(g, report);
  return import_onnx_bytes(export_onnx_bytes(g), "", "fused model");
}

// (op, kernel) per node, sorted: what the engine plans.
std::vector<std::string> planned_kernels(const Engine &e) {
  std::vector<std::string> k;
  for (size_t i = 0; i < e.graph.nodes.size(); ++i) {
    const Node &n = e.graph.nodes[i];
    std::string activation = n.has_attribute("activation") ? "[" + n.attr_string("activation", "") + "]" : "";
    k.push_back((n.domain.empty() ? "" : n.domain + "::") + n.op_type + activation + " -> " +
                (e.kernels[i].empty() ? "reference" : e.kernels[i]));
  }
  std::sort(k.begin(), k.end());
  return k;
}

void expect_torch_outputs(const std::shared_ptr<Engine> &engine, const std::string &dir, const nlohmann::json &entry) {
  ExecutionContext context(engine);
  for (const auto &case_name : entry["cases"]) {
    const std::string case_dir = dir + "/" + case_name.get<std::string>();
    SCOPED_TRACE(case_dir);
    auto spec = read_json(case_dir + "/case.json");
    std::map<std::string, Tensor> inputs;
    for (const auto &in : spec["inputs"]) inputs[in["name"]] = read_npy(case_dir + "/" + in["file"].get<std::string>());
    auto outputs = context.run(inputs);
    ASSERT_EQ(outputs.size(), spec["outputs"].size());
    for (size_t i = 0; i < outputs.size(); ++i) {
      EXPECT_EQ(outputs[i].first, spec["outputs"][i]["name"].get<std::string>());
      Tensor expected = read_npy(case_dir + "/" + spec["outputs"][i]["file"].get<std::string>());
      EXPECT_LE(relative_error(outputs[i].second, expected), kTolerance) << "output " << outputs[i].first;
    }
  }
}

void check_fixture(const std::string &model) {
  const std::string root = NORMRT_FIXTURES_DIR;
  auto index = read_json(root + "/fixtures.json");
  const Expected expected = kExpected.at(model);
  int checked = 0;
  for (const auto &entry : index["models"]) {
    if (entry["model"] != model) continue;
    const std::string dir = root + "/" + entry["dir"].get<std::string>();
    const int64_t opset = entry["opset"].get<int64_t>();
    SCOPED_TRACE(dir);
    Graph raw = import_onnx_file(dir + "/model.onnx");

    Graph fused = fused_file(raw, false);
    EXPECT_EQ(fused.opset(""), opset) << "the fused file keeps the model's opset";
    EXPECT_EQ(count_ops(fused, "GroupNorm", kNormrtDomain), expected.group_norms);
    EXPECT_EQ(count_ops(fused, "InstanceNormalization", ""), expected.instance_norms) << "genuine InstanceNorms stay";
    EXPECT_EQ(count_ops(fused, "LayerNorm", kNormrtDomain) + count_ops(fused, "LayerNormalization", ""),
              expected.layer_norms);
    EXPECT_EQ(count_ops(fused, "Reshape") < count_ops(raw, "Reshape") || expected.group_norms == 0, true);

    auto from_raw = build_engine(raw, options_for(entry));
    auto from_fused = build_engine(fused, options_for(entry));
    EXPECT_EQ(planned_kernels(*from_raw), planned_kernels(*from_fused)) << "build plans the same kernels";
    expect_torch_outputs(from_fused, dir, entry);

    Graph standard = fused_file(raw, true);
    EXPECT_EQ(standard.opset(""), 21);
    EXPECT_EQ(count_ops(standard, "GroupNormalization", ""), expected.group_norms);
    EXPECT_EQ(count_ops(standard, "GroupNorm"), 0);
    expect_torch_outputs(build_engine(standard, options_for(entry)), dir, entry);
    ++checked;
  }
  EXPECT_GE(checked, 3) << "expected the fixture at opsets 11, 13 and 17";
}

}  // namespace

TEST(FusedPyTorchModels, ConvGroupNormRelu) { check_fixture("conv_gn_relu"); }
TEST(FusedPyTorchModels, ResNetGroupNorm) { check_fixture("resnet_gn"); }
TEST(FusedPyTorchModels, PackNetDepth) { check_fixture("packnet"); }
TEST(FusedPyTorchModels, DiffusionUNetBlock) { check_fixture("unet_block"); }
TEST(FusedPyTorchModels, StyleTransferKeepsInstanceNorms) { check_fixture("style_transfer"); }
TEST(FusedPyTorchModels, Audio1d) { check_fixture("audio1d"); }
TEST(FusedPyTorchModels, SpatialTransformer) { check_fixture("spatial_transformer"); }

}  // namespace normrt::test
