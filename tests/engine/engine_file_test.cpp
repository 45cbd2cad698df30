// Engine files: a saved engine loads into the same engine (profiles, kernels, graph, weights, output order);
// any damaged file is refused with kCorruptEngine before it is parsed, and a file whose checksum was forged
// is still parsed safely and checked for consistency.
#include <sys/stat.h>

#include "engine/core_test_ops.h"
#include "engine/engine.h"
#include "onnx/importer.h"
#include "onnx/onnx_builder.h"
#include "test_util.h"

namespace normrt::test {
namespace {

// CRC-32 (the zlib polynomial), written out here so the tests can forge checksums.
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

Attribute attr(AttributeType type) {
  Attribute a;
  a.type = type;
  return a;
}

// x [N,3], bias_n [N,3]: s = CoreScale(x, alpha 3); t = CoreAdd(s, bias_n); outputs declared (t, s, x, k) where k
// is a weight; two profiles, fast kernels on both nodes, and attributes of every type on the scale node.
std::shared_ptr<Engine> sample_engine() {
  ModelBuilder m;
  m.import_domain(kTestDomain, 1);
  m.input("x", {"N", "3"}).input("bias_n", {"N", "3"}).output("t").output("s").output("x").output("k");
  m.initializer("k", {3}, {0.5f, 0.25f, 0.125f});
  auto& scale = m.node("CoreScale", {"x"}, {"s"}, kTestDomain, "scale");
  add_attribute(scale, "alpha", 3.0f);
  add_attribute(scale, "an_int", int64_t{-7});
  m.node("CoreAdd", {"s", "bias_n"}, {"t"}, kTestDomain, "add");
  Graph graph = import_onnx_bytes(m.bytes(), "");
  Node& node = graph.nodes[0];
  Attribute s = attr(AttributeType::kString), fs = attr(AttributeType::kFloats), is = attr(AttributeType::kInts),
            ss = attr(AttributeType::kStrings), t = attr(AttributeType::kTensor);
  s.s = "text";
  fs.floats = {1.5f, -2.5f};
  is.ints = {1, -2, int64_t{1} << 40};
  ss.strings = {"a", "", "c"};
  t.t = float_tensor({9, 8}, {2});
  node.attributes["a_string"] = s;
  node.attributes["floats"] = fs;
  node.attributes["ints"] = is;
  node.attributes["strings"] = ss;
  node.attributes["tensor"] = t;
  BuildOptions options;
  options.source_name = "sample.onnx";
  options.profiles.push_back(Profile{{{"x", ShapeRange{{1, 3}, {2, 3}, {4, 3}}}, {"bias_n", ShapeRange{{1, 3}, {2, 3}, {4, 3}}}}});
  options.profiles.push_back(Profile{{{"x", ShapeRange{{8, 3}, {8, 3}, {16, 3}}}, {"bias_n", ShapeRange{{8, 3}, {8, 3}, {16, 3}}}}});
  return build_engine(std::move(graph), options);
}

std::map<std::string, Tensor> sample_inputs(int64_t n) {
  Tensor x(DataType::kFloat32, {n, 3}), b(DataType::kFloat32, {n, 3});
  for (int64_t i = 0; i < 3 * n; ++i) {
    x.data<float>()[i] = static_cast<float>(i) - 1.5f;
    b.data<float>()[i] = 0.25f * static_cast<float>(i % 3);
  }
  return {{"x", x}, {"bias_n", b}};
}

void expect_same_outputs(const std::vector<std::pair<std::string, Tensor>>& a,
                         const std::vector<std::pair<std::string, Tensor>>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second.dtype(), b[i].second.dtype());
    ASSERT_EQ(a[i].second.dims(), b[i].second.dims());
    EXPECT_EQ(std::memcmp(a[i].second.raw(), b[i].second.raw(), a[i].second.nbytes()), 0) << a[i].first;
  }
}

std::string corrupt_message(const std::string& bytes) {
  return error_message([&] { deserialize_engine(bytes, "engine 'test.nrt'"); }, ErrorCode::kCorruptEngine);
}

// Where sample_engine's weight k ({0.5, 0.25, 0.125}) lies in a version-3 file: its data's offset and the pad
// (count byte, then zeros) between its byte count and the data.
struct WeightSpot {
  size_t data = 0;
  uint8_t pad = 0;
};

WeightSpot find_weight_k(const std::string& bytes) {
  const float k[3] = {0.5f, 0.25f, 0.125f};
  const size_t data = bytes.find(std::string(reinterpret_cast<const char*>(k), sizeof k));
  EXPECT_NE(data, std::string::npos);
  const uint64_t count = sizeof k;
  for (uint8_t pad = 0; pad < 64 && data != std::string::npos; ++pad) {
    const size_t pad_byte = data - pad - 1;
    if (static_cast<uint8_t>(bytes[pad_byte]) == pad && std::memcmp(&bytes[pad_byte - 8], &count, 8) == 0 &&
        bytes.compare(pad_byte + 1, pad, std::string(pad, '\0')) == 0)
      return {data, pad};
  }
  ADD_FAILURE() << "no pad before weight k";
  return {};
}

// The WEIGHTS section (table entry 3) loses `n` bytes at `at`: later offsets, the section's length and the total
// shrink by n; the checksum is made again.
std::string remove_bytes(std::string bytes, size_t at, size_t n) {
  bytes.erase(at, n);
  uint64_t total = bytes.size();
  std::memcpy(&bytes[16], &total, 8);
  uint32_t count = 0;
  std::memcpy(&count, &bytes[12], 4);
  for (uint32_t s = 3; s < count; ++s) {
    uint64_t field = 0;
    const size_t entry = 24 + s * 24;
    std::memcpy(&field, &bytes[entry + (s == 3 ? 16 : 8)], 8);
    field -= n;
    std::memcpy(&bytes[entry + (s == 3 ? 16 : 8)], &field, 8);
  }
  reseal(bytes);
  return bytes;
}

}  // namespace

TEST(EngineFile, RoundTripKeepsEverything) {
  auto engine = sample_engine();
  ASSERT_EQ(engine->kernels, (std::vector<std::string>{kScaleFastKernel, kAddFastKernel}));
  TempDir dir;
  save_engine(*engine, dir.file("e.nrt"));
  EXPECT_TRUE(looks_like_engine(dir.file("e.nrt")));
  auto loaded = load_engine(dir.file("e.nrt"));

  EXPECT_EQ(loaded->kernels, engine->kernels);
  EXPECT_EQ(loaded->device, "cpu");
  EXPECT_EQ(loaded->source_name, "sample.onnx");
  EXPECT_EQ(loaded->normrt_version, engine->normrt_version);
  ASSERT_EQ(loaded->profiles.size(), 2u);
  for (size_t p = 0; p < 2; ++p) {
    ASSERT_EQ(loaded->profiles[p].inputs.size(), engine->profiles[p].inputs.size());
    for (const auto& [name, r] : engine->profiles[p].inputs) {
      const ShapeRange& l = loaded->profiles[p].inputs.at(name);
      EXPECT_EQ(l.min, r.min);
      EXPECT_EQ(l.opt, r.opt);
      EXPECT_EQ(l.max, r.max);
    }
  }
  ASSERT_EQ(loaded->graph.outputs.size(), 4u);
  const char* names[] = {"t", "s", "x", "k"};
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(loaded->graph.outputs[i].name, names[i]);
  EXPECT_EQ(loaded->graph.initializers.at("k").data<float>()[2], 0.125f);
  EXPECT_EQ(loaded->graph.inputs[0].shape.to_string(), "[N,3]");
  const Node& node = loaded->graph.nodes[0];
  EXPECT_EQ(node.attr_float("alpha", 0), 3.0f);
  EXPECT_EQ(node.attr_int("an_int"), -7);
  EXPECT_EQ(node.attr_string("a_string", ""), "text");
  EXPECT_EQ(node.attr_floats("floats"), (std::vector<float>{1.5f, -2.5f}));
  EXPECT_EQ(node.attr_ints("ints"), (std::vector<int64_t>{1, -2, int64_t{1} << 40}));
  EXPECT_EQ(node.attributes.at("strings").strings, (std::vector<std::string>{"a", "", "c"}));
  EXPECT_EQ(node.attr_tensor("tensor").data<float>()[1], 8.0f);
  // Nothing is lost or changed: writing the loaded engine again gives the same bytes.
  EXPECT_EQ(serialize_engine(*loaded), serialize_engine(*engine));

  ExecutionContext original(engine), reloaded(loaded);
  for (int64_t n : {1, 4, 8, 16}) {
    int scale_before = scale_fast_calls(), add_before = add_fast_calls();
    auto a = original.run(sample_inputs(n));
    auto b = reloaded.run(sample_inputs(n));
    expect_same_outputs(a, b);
    EXPECT_EQ(scale_fast_calls(), scale_before + 2);  // the loaded engine runs the fast kernels too
    EXPECT_EQ(add_fast_calls(), add_before + 2);
    EXPECT_EQ(b[0].second.data<float>()[1], 3.0f * -0.5f + 0.25f);
  }
  expect_error_code([&] { reloaded.run(sample_inputs(6)); }, ErrorCode::kShapeError, {"dimension 0 is 6"});
}

// Weights start on 64-byte file offsets, so a loaded engine's weights are aligned views of the file it read (no
// copy), or of deserialize_engine_copy's one copy; deserialize_engine copies them. The values are the same.
TEST(EngineFile, LoadedWeightsAreAlignedViewsOfTheFile) {
  auto engine = sample_engine();
  const std::string bytes = serialize_engine(*engine);
  EXPECT_EQ(find_weight_k(bytes).data % 64, 0u);
  TempDir dir;
  save_engine(*engine, dir.file("e.nrt"));
  for (const auto& loaded : {load_engine(dir.file("e.nrt")), deserialize_engine(bytes, "engine"),
                             deserialize_engine_copy(bytes.data(), bytes.size(), "engine")}) {
    const Tensor& k = loaded->graph.initializers.at("k");
    EXPECT_EQ(reinterpret_cast<uintptr_t>(k.raw()) % 64, 0u);
    ASSERT_EQ(k.dims(), (Dims{3}));
    EXPECT_EQ(k.data<float>()[0], 0.5f);
    EXPECT_EQ(k.data<float>()[2], 0.125f);
    ExecutionContext context(loaded);
    expect_same_outputs(context.run(sample_inputs(4)), ExecutionContext(engine).run(sample_inputs(4)));
  }
}

// Engines of 64 MB and more are read by several threads and checksummed in chunks joined by crc32_combine: the
// weights come back byte for byte, and damage anywhere (first chunk, middle, last bytes) is still refused.
TEST(EngineFile, LargeEnginesLoadInChunks) {
  auto engine = sample_engine();
  Tensor big(DataType::kFloat32, {int64_t{17} << 20});  // 68 MB: five 16 MB chunks, the last one partial
  for (int64_t i = 0; i < big.numel(); ++i) big.data<float>()[i] = static_cast<float>(i % 1000003);
  engine->graph.initializers["big"] = big;
  TempDir dir;
  save_engine(*engine, dir.file("big.nrt"));
  auto loaded = load_engine(dir.file("big.nrt"));
  const Tensor& back = loaded->graph.initializers.at("big");
  ASSERT_EQ(back.dims(), big.dims());
  EXPECT_EQ(std::memcmp(back.raw(), big.raw(), big.nbytes()), 0);
  EXPECT_EQ(loaded->graph.initializers.at("k").data<float>()[1], 0.25f);
  const std::string bytes = read_bytes(dir.file("big.nrt"));
  for (size_t at : {size_t{100}, bytes.size() / 2, (size_t{16} << 20) - 1, bytes.size() - 5}) {
    std::string damaged = bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x40);
    write_bytes(dir.file("damaged.nrt"), damaged);
    expect_error_code([&] { load_engine(dir.file("damaged.nrt")); }, ErrorCode::kCorruptEngine,
                      {"checksum does not match"});
  }
}

// Version 2 wrote weights without the pad; such files still load (and copy their weights).
TEST(EngineFile, Version2WeightsStillLoad) {
  const std::string bytes = serialize_engine(*sample_engine());
  const WeightSpot k = find_weight_k(bytes);
  std::string v2 = remove_bytes(bytes, k.data - k.pad - 1, k.pad + 1u);
  uint32_t version = 2;
  std::memcpy(&v2[8], &version, 4);
  reseal(v2);
  auto loaded = deserialize_engine(v2, "engine");
  EXPECT_EQ(loaded->graph.initializers.at("k").data<float>()[1], 0.25f);
  // The same bytes as version 3 lack the pad: refused, not misread.
  uint32_t three = 3;
  std::memcpy(&v2[8], &three, 4);
  reseal(v2);
  EXPECT_NE(corrupt_message(v2).find("is corrupt"), std::string::npos);
}

TEST(EngineFile, WeightPaddingMustBeShortAndZero) {
  const std::string bytes = serialize_engine(*sample_engine());
  const WeightSpot k = find_weight_k(bytes);
  std::string forged = bytes;
  forged[k.data - k.pad - 1] = 64;
  reseal(forged);
  EXPECT_NE(corrupt_message(forged).find("a weight's padding of 64 bytes is not below 64"), std::string::npos)
      << corrupt_message(forged);
  ASSERT_GT(k.pad, 0) << "weight k needs a pad for this test: change sample_engine's names";
  forged = bytes;
  forged[k.data - 1] = 1;
  reseal(forged);
  EXPECT_NE(corrupt_message(forged).find("a weight's padding is not zero"), std::string::npos)
      << corrupt_message(forged);
}

TEST(EngineFile, EveryFlippedByteIsRefused) {
  const std::string bytes = serialize_engine(*sample_engine());
  ASSERT_NO_THROW(deserialize_engine(bytes, "engine"));
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (unsigned char mask : {0x01u, 0xffu}) {
      std::string damaged = bytes;
      damaged[i] = static_cast<char>(damaged[i] ^ mask);
      std::string message = corrupt_message(damaged);
      EXPECT_NE(message.find("engine 'test.nrt'"), std::string::npos) << "byte " << i << ": " << message;
    }
  }
}

TEST(EngineFile, EveryTruncationAndExtensionIsRefused) {
  const std::string bytes = serialize_engine(*sample_engine());
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::string message = corrupt_message(bytes.substr(0, n));
    if (n >= 8) {
      EXPECT_NE(message.find("truncated"), std::string::npos) << "length " << n << ": " << message;
    }
  }
  EXPECT_NE(corrupt_message(bytes + '\0').find("extended"), std::string::npos);
}

TEST(EngineFile, WrongMagicSaysWhatTheFileMayBe) {
  std::string bytes = serialize_engine(*sample_engine());
  bytes[0] = 'X';
  EXPECT_NE(corrupt_message(bytes).find("does not start with the engine magic (is it an ONNX model"), std::string::npos);
  ModelBuilder m;
  m.input("x", {"2"}).output("y");
  m.node("Identity", {"x"}, {"y"});
  TempDir dir;
  std::string onnx_path = m.save(dir);
  EXPECT_FALSE(looks_like_engine(onnx_path));
  EXPECT_FALSE(looks_like_engine(dir.file("missing.nrt")));
  expect_error_code([&] { load_engine(onnx_path); }, ErrorCode::kCorruptEngine, {onnx_path, "engine magic", "ONNX model"});
  expect_error_code([&] { load_engine(dir.file("missing.nrt")); }, ErrorCode::kIo, {"missing.nrt", "No such file"});
}

TEST(EngineFile, FifoIsNotWaitedOn) {
  TempDir dir;
  ASSERT_EQ(::mkfifo(dir.file("pipe").c_str(), 0644), 0);
  EXPECT_FALSE(looks_like_engine(dir.file("pipe")));
  expect_error_code([&] { load_engine(dir.file("pipe")); }, ErrorCode::kIo, {"not a regular file"});
}

TEST(EngineFile, WrongFormatVersionAsksForARebuild) {
  std::string bytes = serialize_engine(*sample_engine());
  uint32_t version = 4;
  std::memcpy(&bytes[8], &version, 4);
  reseal(bytes);
  std::string message = corrupt_message(bytes);
  EXPECT_NE(message.find("format version is 4, this normrt reads version 3"), std::string::npos) << message;
  EXPECT_NE(message.find("rebuild the engine from the ONNX model"), std::string::npos) << message;
  bytes[8] = 0;  // version 0, checksum now wrong too: the version is reported first
  EXPECT_NE(corrupt_message(bytes).find("format version is 0"), std::string::npos);
}

TEST(EngineFile, OtherNormrtVersionOrDeviceIsRefused) {
  auto engine = sample_engine();
  engine->normrt_version = "0.0.1";
  std::string message = corrupt_message(serialize_engine(*engine));
  EXPECT_NE(message.find("built by normrt 0.0.1 and this is normrt"), std::string::npos) << message;
  EXPECT_NE(message.find("rebuild the engine with this version"), std::string::npos) << message;
  engine = sample_engine();
  engine->device = "tpu";  // cuda engines: tests/engine/device_backend_test.cpp
  EXPECT_NE(corrupt_message(serialize_engine(*engine)).find("built for device 'tpu'"), std::string::npos);
}

TEST(EngineFile, UnknownKernelAsksForARebuild) {
  auto engine = sample_engine();
  engine->kernels[0] = "no_such_kernel";
  std::string message = corrupt_message(serialize_engine(*engine));
  EXPECT_NE(message.find("kernel 'no_such_kernel'"), std::string::npos) << message;
  EXPECT_NE(message.find("rebuild the engine"), std::string::npos) << message;
}

// A file (checksum recomputed by whoever made it) that names the fast kernel of another op must not run that
// kernel on this node.
TEST(EngineFile, KernelOfAnotherOpIsRefused) {
  auto engine = sample_engine();
  std::swap(engine->kernels[0], engine->kernels[1]);
  std::string message = corrupt_message(serialize_engine(*engine));
  EXPECT_NE(message.find(kAddFastKernel), std::string::npos) << message;
  EXPECT_NE(message.find("'scale'"), std::string::npos) << message;
}

// Profiles that do not match the graph's inputs (from a forged file) must be refused at load, not trusted at run
// time (select_profile indexes min and max by the run input's rank).
TEST(EngineFile, ProfilesInconsistentWithTheGraphAreRefused) {
  auto check = [](const std::function<void(Engine&)>& damage, const std::string& expected) {
    auto engine = sample_engine();
    damage(*engine);
    std::string message = corrupt_message(serialize_engine(*engine));
    EXPECT_NE(message.find(expected), std::string::npos) << message;
  };
  check([](Engine& e) { e.profiles[0].inputs["x"].max = {4}; }, "max shape 4 in profile 0 has rank 1");
  check([](Engine& e) { e.profiles[1].inputs["x"].min = {8, 3, 1}; }, "min shape 8x3x1 in profile 1 has rank 3");
  check([](Engine& e) { e.profiles[0].inputs["x"].min = {5, 3}; }, "not ordered");
  check([](Engine& e) { e.profiles[0].inputs["x"].max = {4, 2}; }, "fixed to 3");
  check([](Engine& e) { e.profiles[0].inputs.erase("bias_n"); }, "'bias_n'");
  check([](Engine& e) { e.profiles[1].inputs["ghost"] = ShapeRange{{1}, {1}, {1}}; }, "'ghost'");
  check([](Engine& e) { e.profiles.clear(); }, "profile");

  ModelBuilder m;  // a static input missing from a profile is refused too
  m.input("x", {"2"}).output("y");
  m.node("Identity", {"x"}, {"y"});
  auto engine = build_engine(import_onnx_bytes(m.bytes(), ""), {});
  engine->profiles[0].inputs.clear();
  std::string message = corrupt_message(serialize_engine(*engine));
  EXPECT_NE(message.find("profile 0 has no shape for input 'x'"), std::string::npos) << message;
}

// A forged graph whose input is also a weight: the runtime would silently run on the weight instead of what the
// caller passes.
TEST(EngineFile, InputShadowedByAWeightIsRefused) {
  ModelBuilder m;
  m.input("x", {"2"}).output("y");
  m.node("Identity", {"x"}, {"y"});
  auto engine = build_engine(import_onnx_bytes(m.bytes(), ""), {});
  engine->graph.initializers["x"] = Tensor(DataType::kFloat32, {2});
  std::string message = corrupt_message(serialize_engine(*engine));
  EXPECT_NE(message.find("input 'x'"), std::string::npos) << message;
}

// A forged node with fewer outputs than its kernel writes fails as a normrt::Error naming the node, not as an
// std::out_of_range from inside the kernel.
TEST(EngineFile, NodeMissingOutputsFailsAsNormrtError) {
  ModelBuilder m;
  m.input("x", {"2"}).output("y");
  m.node("Identity", {"x"}, {"y"});
  auto engine = build_engine(import_onnx_bytes(m.bytes(), ""), {});
  Node forged = engine->graph.nodes[0];
  forged.name = "forged";
  forged.outputs.clear();
  engine->graph.nodes.push_back(forged);
  engine->kernels.push_back("");
  std::shared_ptr<Engine> loaded;
  try {
    loaded = deserialize_engine(serialize_engine(*engine), "forged");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruptEngine) << e.what();  // refusing it at load is fine too
    return;
  }
  ExecutionContext context(loaded);
  expect_error_code([&] { context.run({{"x", Tensor(DataType::kFloat32, {2})}}); }, ErrorCode::kInvalidModel,
                    {"'forged'", "has 0 outputs", "leaves out an output"});
}

TEST(EngineFile, PluginRecordsAreRefused) {
  std::string bytes = serialize_engine(*sample_engine());
  // The plugins section (table entry 5; the DEVICE section follows it) starts with a count of 0. Make it a count of
  // 1 followed by an (empty) name, growing the section and the file by 8 bytes, and forge the checksum.
  const size_t plugins_entry = 24 + 24 * 5, device_entry = 24 + 24 * 6;
  uint64_t plugins_offset = 0, plugins_length = 0, device_offset = 0;
  std::memcpy(&plugins_offset, &bytes[plugins_entry + 8], 8);
  std::memcpy(&plugins_length, &bytes[plugins_entry + 16], 8);
  std::memcpy(&device_offset, &bytes[device_entry + 8], 8);
  ASSERT_EQ(plugins_length, 8u);
  uint64_t one = 1;
  std::memcpy(&bytes[plugins_offset], &one, 8);
  bytes.insert(plugins_offset + plugins_length, std::string(8, '\0'));
  uint64_t total = bytes.size();
  plugins_length = 16;
  device_offset += 8;
  std::memcpy(&bytes[16], &total, 8);
  std::memcpy(&bytes[plugins_entry + 16], &plugins_length, 8);
  std::memcpy(&bytes[device_entry + 8], &device_offset, 8);
  reseal(bytes);
  std::string message = corrupt_message(bytes);
  EXPECT_NE(message.find("plugin"), std::string::npos) << message;
}

TEST(EngineFile, SectionTableMustDescribeTheFile) {
  const std::string bytes = serialize_engine(*sample_engine());
  // count, then each entry's tag, offset and length, changed with the checksum forged.
  struct Edit {
    size_t at;
    uint64_t value;
    size_t width;
    const char* expected;
  };
  const Edit edits[] = {
      {12, 5, 4, "5 sections"},
      {24, 2, 4, "section 0 has tag 2"},
      {32, 1000, 8, "section 0 is not where"},
      {40, 1u << 30, 8, "section 0 is not where"},
      {48 + 8, 1, 8, "section 1 is not where"},
      {12, 0, 4, "0 sections"},
  };
  for (const auto& e : edits) {
    std::string forged = bytes;
    std::memcpy(&forged[e.at], &e.value, e.width);
    reseal(forged);
    std::string message = corrupt_message(forged);
    EXPECT_NE(message.find(e.expected), std::string::npos) << message;
  }
}

// With the checksum forged after every change, every single-byte change must load to a working engine or be
// refused with a normrt::Error; a loaded one must run or refuse with a normrt::Error. (Run under ASan/UBSan in
// CI to also catch reads that stay inside mapped memory.)
TEST(EngineFile, ForgedChecksumsStillNeverEscapeTheParser) {
  const std::string bytes = serialize_engine(*sample_engine());
  int loaded = 0;
  for (size_t i = 8; i + 4 < bytes.size(); ++i) {
    for (unsigned char mask : {0x01u, 0x80u, 0xffu}) {
      std::string forged = bytes;
      forged[i] = static_cast<char>(forged[i] ^ mask);
      reseal(forged);
      try {
        auto engine = deserialize_engine(forged, "forged");
        ++loaded;
        ExecutionContext context(engine);
        context.run(sample_inputs(2));
      } catch (const Error&) {
      } catch (const std::exception& e) {
        ADD_FAILURE() << "byte " << i << " ^ " << int(mask) << ": " << typeid(e).name() << ": " << e.what();
      }
    }
  }
  EXPECT_GT(loaded, 0);  // some changes (names, weights) leave a loadable engine: the later paths ran
}

}  // namespace normrt::test
