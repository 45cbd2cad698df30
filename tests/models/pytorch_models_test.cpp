// Real PyTorch exports (tests/fixtures/make_fixtures.py, regenerated before the tests run) built with their
// dynamic profiles and compared with PyTorch's own outputs at every batch of every case: max |normrt - torch|
// over 1 + max |torch| must stay within 1e-4. The engine goes through a file round trip first, as users' do.
#include <nlohmann/json.hpp>

#include <fstream>

#include "engine/engine.h"
#include "io/npy.h"
#include "onnx/importer.h"
#include "test_util.h"

namespace normrt::test {

namespace {

constexpr double kTolerance = 1e-4;

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot read " + path + "; did the generate_fixtures test run?");
  return nlohmann::json::parse(f);
}

Dims to_dims(const nlohmann::json& j) {
  Dims d;
  for (const auto& v : j) d.push_back(v.get<int64_t>());
  return d;
}

// layout "nhwc": the channels-last layout pass on the CPU (its nodes run their reference kernels), which must
// compute what the model does.
// `opset17_only`: the channels-last runs check the newest export only (their reference convolutions are slow
// under the sanitizers, and the layout pass sees the same graph at every opset once fused).
void check_model(const std::string& model, const std::string& layout = "auto", bool opset17_only = false) {
  const std::string root = NORMRT_FIXTURES_DIR;
  auto index = read_json(root + "/fixtures.json");
  int checked = 0;
  for (const auto& entry : index["models"]) {
    if (entry["model"] != model || (opset17_only && entry["opset"] != 17)) continue;
    const std::string dir = root + "/" + entry["dir"].get<std::string>();
    SCOPED_TRACE(dir);
    BuildOptions options;
    options.layout = layout;
    Profile profile;
    for (const auto& in : entry["inputs"])
      profile.inputs[in["name"]] = ShapeRange{to_dims(in["profile"]["min"]), to_dims(in["profile"]["opt"]),
                                              to_dims(in["profile"]["max"])};
    options.profiles.push_back(profile);
    auto built = build_engine(import_onnx_file(dir + "/model.onnx"), options);
    if (layout == "nhwc") {  // the pass must have moved the 2-D convolutions, or this checks nothing new
      int moved = 0;
      for (const Node& node : built->graph.nodes) moved += node.op_type == "NhwcConv";
      EXPECT_GT(moved, 0) << "no convolution runs channels-last";
    }
    auto engine = deserialize_engine(serialize_engine(*built), "engine");
    ExecutionContext context(engine);
    for (const auto& case_name : entry["cases"]) {
      const std::string case_dir = dir + "/" + case_name.get<std::string>();
      SCOPED_TRACE(case_dir);
      auto spec = read_json(case_dir + "/case.json");
      std::map<std::string, Tensor> inputs;
      for (const auto& in : spec["inputs"]) inputs[in["name"]] = read_npy(case_dir + "/" + in["file"].get<std::string>());
      auto outputs = context.run(inputs);
      ASSERT_EQ(outputs.size(), spec["outputs"].size());
      for (size_t i = 0; i < outputs.size(); ++i) {
        const auto& expected_spec = spec["outputs"][i];
        EXPECT_EQ(outputs[i].first, expected_spec["name"].get<std::string>()) << "outputs must come in ONNX order";
        Tensor expected = read_npy(case_dir + "/" + expected_spec["file"].get<std::string>());
        double error = relative_error(outputs[i].second, expected);
        EXPECT_LE(error, kTolerance) << "output " << outputs[i].first;
      }
      ++checked;
    }
  }
  EXPECT_GE(checked, opset17_only ? 2 : 6) << "expected cases at opsets 11, 13 and 17";
}

}  // namespace

TEST(PyTorchModels, ConvGroupNormRelu) { check_model("conv_gn_relu"); }
TEST(PyTorchModels, ResNetGroupNorm) { check_model("resnet_gn"); }
TEST(PyTorchModels, PackNetDepth) { check_model("packnet"); }
TEST(PyTorchModels, DiffusionUNetBlock) { check_model("unet_block"); }
TEST(PyTorchModels, StyleTransfer) { check_model("style_transfer"); }
TEST(PyTorchModels, Audio1d) { check_model("audio1d"); }
TEST(PyTorchModels, SpatialTransformer) { check_model("spatial_transformer"); }

TEST(PyTorchModelsChannelsLast, ConvGroupNormRelu) { check_model("conv_gn_relu", "nhwc", true); }
TEST(PyTorchModelsChannelsLast, ResNetGroupNorm) { check_model("resnet_gn", "nhwc", true); }
TEST(PyTorchModelsChannelsLast, PackNetDepth) { check_model("packnet", "nhwc", true); }
TEST(PyTorchModelsChannelsLast, DiffusionUNetBlock) { check_model("unet_block", "nhwc", true); }
TEST(PyTorchModelsChannelsLast, StyleTransfer) { check_model("style_transfer", "nhwc", true); }

}  // namespace normrt::test
