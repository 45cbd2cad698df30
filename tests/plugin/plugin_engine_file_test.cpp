// The PLUGINS section of engine files, seen from inside: what a file records for plugin nodes, and files whose
// records do not fit their graph (forged, with the checksum fixed) refused before anything is made or run.
// Uses com.normrt.test::ScaleShift, which plugin_test.cpp links into this program.
#include <functional>

#include "engine/engine.h"
#include "onnx/importer.h"
#include "onnx/onnx_builder.h"
#include "plugin/plugin_instance.h"
#include "test_util.h"

namespace normrt::test {
namespace {

uint32_t crc32_of(const char* data, size_t size) {
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < size; ++i) {
    crc ^= static_cast<unsigned char>(data[i]);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void reseal(std::string& bytes) {
  uint32_t crc = crc32_of(bytes.data(), bytes.size() - 4);
  std::memcpy(&bytes[bytes.size() - 4], &crc, 4);
}

// x [N,2] -> Relu -> com.normrt.test::ScaleShift (scale 3, shift 0.5) -> y
std::shared_ptr<Engine> scale_shift_engine() {
  ModelBuilder m(17);
  m.import_domain("com.normrt.test", 1);
  m.input("x", {"N", "2"}).output("y");
  m.node("Relu", {"x"}, {"r"}, "", "relu");
  auto& node = m.node("ScaleShift", {"r"}, {"y"}, "com.normrt.test", "affine");
  add_attribute(node, "scale", 3.0f);
  add_attribute(node, "shift", 0.5f);
  BuildOptions options;
  options.profiles.push_back(Profile{{{"x", ShapeRange{{1, 2}, {2, 2}, {4, 2}}}}});
  return build_engine(import_onnx_bytes(m.bytes(), ""), options);
}

std::string corrupt_message(const std::string& bytes, ErrorCode code = ErrorCode::kCorruptEngine) {
  return error_message([&] { deserialize_engine(bytes, "engine 'forged.nrt'"); }, code);
}

}  // namespace

TEST(PluginEngineFile, RecordsDomainNameVersionAndFieldsOfEachPluginNode) {
  auto engine = scale_shift_engine();
  ASSERT_EQ(engine->plugins.size(), 2u);
  EXPECT_EQ(engine->plugin(0), nullptr);  // Relu is built in
  const PluginInstance* p = engine->plugin(1);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->op().domain, "com.normrt.test");
  EXPECT_EQ(p->op().version, 1);
  float fields[2];
  ASSERT_EQ(p->fields().size(), sizeof fields);
  std::memcpy(fields, p->fields().data(), sizeof fields);
  EXPECT_EQ(fields[0], 3.0f);
  EXPECT_EQ(fields[1], 0.5f);
  // The PLUGINS section (table entry 5, before the DEVICE section): count 1, node 1, domain, name, version 1, the
  // fields.
  std::string bytes = serialize_engine(*engine);
  uint64_t plugins_offset = 0, plugins_length = 0;
  std::memcpy(&plugins_offset, &bytes[24 + 24 * 5 + 8], 8);
  std::memcpy(&plugins_length, &bytes[24 + 24 * 5 + 16], 8);
  std::string tail = bytes.substr(plugins_offset, plugins_length);
  ASSERT_EQ(tail.size(), 8u + 8 + 8 + 15 + 8 + 10 + 8 + 8 + 8);
  uint64_t count, node, domain_length;
  std::memcpy(&count, tail.data(), 8);
  std::memcpy(&node, tail.data() + 8, 8);
  std::memcpy(&domain_length, tail.data() + 16, 8);
  EXPECT_EQ(count, 1u);
  EXPECT_EQ(node, 1u);
  EXPECT_EQ(tail.substr(24, domain_length), "com.normrt.test");
  // Loading makes the op from the fields again.
  auto loaded = deserialize_engine(bytes, "engine 'test.nrt'");
  ASSERT_NE(loaded->plugin(1), nullptr);
  EXPECT_EQ(loaded->plugin(1)->fields(), p->fields());
  ExecutionContext context(loaded);
  auto out = context.run({{"x", float_tensor({-1, 1, 2, -2}, {2, 2})}});
  EXPECT_EQ(std::vector<float>(out[0].second.data<float>(), out[0].second.data<float>() + 4),
            (std::vector<float>{0.5f, 3.5f, 6.5f, 0.5f}));
}

TEST(PluginEngineFile, AVersionNobodyRegisteredIsAMissingPluginNamingWhatIsRegistered) {
  std::string bytes = serialize_engine(*scale_shift_engine());
  // The version is the 8 bytes after the last "ScaleShift" (the record's name, before its 8-byte fields).
  size_t name = bytes.rfind("ScaleShift");
  ASSERT_NE(name, std::string::npos);
  int64_t version = 9;
  std::memcpy(&bytes[name + 10], &version, 8);
  reseal(bytes);
  std::string message = corrupt_message(bytes, ErrorCode::kPluginMissing);
  for (const char* part : {"engine 'forged.nrt' uses a plugin op that is not loaded",
                           "op 'ScaleShift' (domain com.normrt.test, version 9), used by node 'affine'",
                           "registered are only: com.normrt.test::ScaleShift version 1", "version 2", "--plugins"})
    EXPECT_NE(message.find(part), std::string::npos) << message << "\nmissing: " << part;
}

TEST(PluginEngineFile, RecordsThatDoNotFitTheGraphAreRefused) {
  auto check = [](const std::function<void(Engine&)>& damage, const std::string& expected) {
    auto engine = scale_shift_engine();
    damage(*engine);
    std::string message = corrupt_message(serialize_engine(*engine));
    EXPECT_NE(message.find(expected), std::string::npos) << message;
  };
  // The record moved to the Relu node.
  check([](Engine& e) { std::swap(e.plugins[0], e.plugins[1]); },
        "the plugin record of node 'relu' (Relu) names op "
        "com.normrt.test::ScaleShift");
  // No record for the plugin node.
  check([](Engine& e) { e.plugins.clear(); },
        "node 'affine' (com.normrt.test::ScaleShift) is a custom op but the "
        "engine records no plugin");
  // A fast kernel named for a plugin node.
  check([](Engine& e) { e.kernels[1] = "fast_mul_f32"; }, "for plugin node 'affine'");
}

TEST(PluginEngineFile, FieldsThePluginCannotReadAreACorruptEngine) {
  const PluginOp* op = PluginRegistry::global().find("com.normrt.test", "ScaleShift", 1);
  ASSERT_NE(op, nullptr);
  expect_error_code([&] { PluginInstance::from_fields(*op, "abc", "node 'affine'"); }, ErrorCode::kCorruptEngine,
                    {"node 'affine'", "failed in deserialize", "the fields end early"});
  expect_error_code([&] { PluginInstance::from_fields(*op, std::string(12, '\0'), "node 'affine'"); },
                    ErrorCode::kCorruptEngine, {"4 unread bytes"});
  expect_error_code([&] { PluginInstance::from_fields(*op, std::string(kMaxPluginFieldBytes + 1, '\0'), "node 'n'"); },
                    ErrorCode::kCorruptEngine, {"exceed the limit"});
}

}  // namespace normrt::test
