// Replays every input a fuzz target once failed on (fuzz/regressions/<target>/) through the same harness the
// target runs (fuzz/fuzz_harness.h), in the normal test suite and its ASan/UBSan build: a fixed bug stays fixed
// without clang or libFuzzer. Also checks that the harness runs the seeds it is given: the bundled example model
// and an engine built from it.
#include <filesystem>

#include "fuzz_harness.h"
#include "onnx/onnx_builder.h"
#include "test_util.h"

namespace normrt::test {
namespace {

using Harness = void (*)(const uint8_t*, size_t);

void replay(const std::string& target, Harness harness) {
  const std::filesystem::path dir = std::filesystem::path(NORMRT_FUZZ_DIR) / "regressions" / target;
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  size_t replayed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().filename().string()[0] == '.') continue;
    const std::string bytes = read_bytes(entry.path().string());
    try {
      harness(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    } catch (const std::exception& e) {
      ADD_FAILURE() << entry.path() << ": " << e.what();
    }
    ++replayed;
  }
  std::cout << "replayed " << replayed << " inputs from " << dir << "\n";
}

std::string example_model() {
  return read_bytes(std::string(NORMRT_EXAMPLES_DIR) + "/models/conv_gn_relu/model.onnx");
}

std::string example_engine() {
  BuildOptions options;
  options.profiles.push_back(Profile{{{"input", ShapeRange{{1, 3, 32, 32}, {1, 3, 32, 32}, {2, 3, 32, 32}}}}});
  return serialize_engine(*build_engine(import_onnx_bytes(example_model(), ""), options));
}

}  // namespace

TEST(FuzzRegressions, OnnxImport) { replay("onnx_import", fuzz::fuzz_onnx_model); }
TEST(FuzzRegressions, EngineFile) { replay("engine_file", fuzz::fuzz_engine_file); }
TEST(FuzzRegressions, EngineResealed) { replay("engine_resealed", fuzz::fuzz_engine_resealed); }
TEST(FuzzRegressions, TimingCache) { replay("timing_cache", fuzz::fuzz_timing_cache); }

// The seeds scripts/fuzz.sh starts from go through the harness without an exception, and the parts of the
// harness that matter work on them: the model's profile pins its dynamic batch, the engine runs at both corners.
TEST(FuzzHarness, SeedsRunThroughEveryTarget) {
  const std::string model = example_model(), engine = example_engine();
  const auto* m = reinterpret_cast<const uint8_t*>(model.data());
  const auto* e = reinterpret_cast<const uint8_t*>(engine.data());
  EXPECT_NO_THROW(fuzz::fuzz_onnx_model(m, model.size()));
  EXPECT_NO_THROW(fuzz::fuzz_engine_file(e, engine.size()));
  EXPECT_NO_THROW(fuzz::fuzz_engine_resealed(e, engine.size()));
  auto loaded = deserialize_engine(engine, "seed");
  EXPECT_TRUE(fuzz::small_enough_to_run(loaded->graph, {{"input", {2, 3, 32, 32}}}));
  EXPECT_FALSE(fuzz::small_enough_to_run(loaded->graph, {{"input", {4096, 3, 32, 32}}}));
  EXPECT_NO_THROW(fuzz::run_engine(loaded));
}

// The resealing target must get past the checksum: a damaged engine that the plain loader refuses for its
// checksum reaches the parser once resealed.
TEST(FuzzHarness, ResealingReachesTheParser) {
  std::string engine = example_engine();
  engine[32] = static_cast<char>(engine[32] ^ 0x55);  // the first section's offset
  expect_error([&] { deserialize_engine(engine, "damaged"); }, {"checksum"});
  std::string resealed = engine;
  uint32_t crc = fuzz::crc32_of(resealed.data(), resealed.size() - 4);
  std::memcpy(&resealed[resealed.size() - 4], &crc, 4);
  expect_error([&] { deserialize_engine(resealed, "resealed"); }, {"section 0 is not where"});
}

// An Attention's work grows with its keys: a few-kilobyte file declaring [1, 4096, 1, 8] queries and keys is
// about 300M multiply-adds on the reference kernel, which the harness must count rather than run.
TEST(FuzzHarness, AttentionWorkCountsItsKeys) {
  Node node;
  node.op_type = "Attention";
  node.domain = kNormrtDomain;
  node.inputs = {"q", "k", "v"};
  node.outputs = {"y"};
  GraphTypes types;
  for (const char* name : {"q", "k", "v", "y"})
    types.types[name] = TypeShape{DataType::kFloat32, Shape(std::vector<Dim>{1, 4096, 1, 8})};
  const double elements = 4096.0 * 8;
  EXPECT_GE(fuzz::node_work(node, types), elements * 4096 * 2);
}

}  // namespace normrt::test
