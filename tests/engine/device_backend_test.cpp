// Devices other than the CPU, as a machine without a GPU (CI) sees them: building or loading a cuda engine fails
// with an error that names the problem and the fix - normrt built without CUDA, a backend library that does not
// load (dlerror's message), no usable GPU (cudaGetDeviceCount's message) - and never crashes. The DEVICE section of
// engine files is bounds-checked like every other. (On a machine with a GPU the GPU tests in tests_cuda/ run.)
#include <fstream>

#include "engine/core_test_ops.h"
#include "engine/device_backend.h"
#include "engine/engine.h"
#include "onnx/importer.h"
#include "onnx/onnx_builder.h"
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

// x [N,3] -> Relu -> y
Graph relu_graph() {
  ModelBuilder m;
  m.input("x", {"N", "3"}).output("y");
  m.node("Relu", {"x"}, {"y"}, "", "relu");
  return import_onnx_bytes(m.bytes(), "");
}

BuildOptions options_for(const std::string& device) {
  BuildOptions options;
  options.device = device;
  options.profiles.push_back(Profile{{{"x", ShapeRange{{1, 3}, {2, 3}, {4, 3}}}}});
  return options;
}

bool cuda_built() {
  for (const auto& d : known_devices())
    if (d == "cuda") return true;
  return false;
}

// Whether this machine can build cuda engines (a GPU with a driver): then the no-GPU tests have nothing to test.
bool gpu_usable() {
  if (!cuda_built()) return false;
  try {
    device_backend("cuda");
    return true;
  } catch (const Error&) {
    return false;
  }
}

// A cuda engine as a GPU machine would write it, made without a GPU: a cpu build with the device fields set.
std::shared_ptr<Engine> forged_cuda_engine() {
  auto engine = build_engine(relu_graph(), options_for("cpu"));
  engine->device = "cuda";
  engine->device_plan.architecture = "9.0";
  engine->device_plan.device_name = "NVIDIA H100 80GB HBM3";
  engine->device_plan.kernels.assign(engine->graph.nodes.size(), "");
  engine->device_plan.configs.assign(engine->profiles.size(), std::vector<std::string>(engine->graph.nodes.size()));
  return engine;
}

}  // namespace

TEST(DeviceBackend, BuildingForCudaWithoutAGpuSaysWhy) {
  if (gpu_usable()) GTEST_SKIP() << "this machine has a GPU (tests_cuda/ covers it)";
  if (cuda_built()) {
    // libnormrt_cuda.so loads (it sits beside libnormrt.so); the CUDA runtime finds no GPU or driver.
    expect_error_code([] { build_engine(relu_graph(), options_for("cuda")); }, ErrorCode::kDeviceUnavailable,
                      {"device 'cuda' is unavailable", "cudaGetDeviceCount", "--device cpu"});
  } else {
    expect_error_code([] { build_engine(relu_graph(), options_for("cuda")); }, ErrorCode::kDeviceUnavailable,
                      {"built without the CUDA backend", "NORMRT_CUDA", "--device cpu"});
  }
  // The same again (a failed load is remembered, a missing GPU asked again): never a crash.
  EXPECT_THROW(build_engine(relu_graph(), options_for("cuda")), Error);
}

TEST(DeviceBackend, LoadingACudaEngineWithoutAGpuSaysWhy) {
  if (gpu_usable()) GTEST_SKIP() << "this machine has a GPU (tests_cuda/ covers it)";
  std::string bytes = serialize_engine(*forged_cuda_engine());
  if (cuda_built())
    expect_error_code([&] { deserialize_engine(bytes, "engine 'gpu.nrt'"); }, ErrorCode::kDeviceUnavailable,
                      {"device 'cuda' is unavailable", "cudaGetDeviceCount"});
  else
    expect_error_code([&] { deserialize_engine(bytes, "engine 'gpu.nrt'"); }, ErrorCode::kCorruptEngine,
                      {"device 'cuda'", "NORMRT_CUDA=OFF"});
}

TEST(DeviceBackend, ALibraryThatFailsToLoadIsNamedWithDlerror) {
  expect_error_code([] { load_device_backend_library("cuda", "/nonexistent/libnormrt_cuda.so"); },
                    ErrorCode::kDeviceUnavailable,
                    {"device 'cuda' is unavailable", "'/nonexistent/libnormrt_cuda.so' failed to load",
                     "cannot open shared object file", "LD_LIBRARY_PATH"});
  TempDir dir;
  {
    std::ofstream f(dir.file("libnormrt_cuda.so"));
    f << std::string(4096, 'x');  // long enough for dlopen to read an ELF header: "invalid ELF header"
  }
  expect_error_code([&] { load_device_backend_library("cuda", dir.file("libnormrt_cuda.so")); },
                    ErrorCode::kDeviceUnavailable, {"failed to load", "invalid ELF header"});
}

TEST(DeviceBackend, UnknownDeviceNamesTheDevicesThereAre) {
  expect_error_code([] { build_engine(relu_graph(), options_for("tpu")); }, ErrorCode::kInvalidArgument,
                    {"device 'tpu' is unknown", "--device cpu"});
}

TEST(DeviceBackend, CpuRefusesFloat16) {
  BuildOptions options = options_for("cpu");
  options.precision = "float16";
  expect_error_code([&] { build_engine(relu_graph(), options); }, ErrorCode::kInvalidArgument,
                    {"precision 'float16'", "float32 only"});
}

TEST(DeviceBackend, CpuEnginesRecordNoDeviceFields) {
  auto engine = build_engine(relu_graph(), options_for("cpu"));
  EXPECT_EQ(engine->precision, "float32");
  EXPECT_TRUE(engine->device_plan.kernels.empty());
  auto loaded = deserialize_engine(serialize_engine(*engine), "engine");
  EXPECT_EQ(loaded->precision, "float32");
  EXPECT_TRUE(loaded->device_plan.kernels.empty());
  EXPECT_FALSE(loaded->runs_on_device(0));

  engine->precision = "float16";
  expect_error_code([&] { deserialize_engine(serialize_engine(*engine), "engine"); }, ErrorCode::kCorruptEngine,
                    {"a cpu engine records precision 'float16'"});
  engine = build_engine(relu_graph(), options_for("cpu"));
  engine->device_plan.kernels = {"cuda_relu"};
  expect_error_code([&] { deserialize_engine(serialize_engine(*engine), "engine"); }, ErrorCode::kCorruptEngine,
                    {"a cpu engine records device kernels"});
}

TEST(DeviceBackend, DeviceSectionMustMatchTheGraph) {
  if (!cuda_built()) GTEST_SKIP() << "built without CUDA: a cuda engine is refused before its fields are read";
  auto engine = forged_cuda_engine();
  engine->device_plan.kernels.push_back("");
  expect_error_code([&] { deserialize_engine(serialize_engine(*engine), "engine"); }, ErrorCode::kCorruptEngine,
                    {"records 2 device kernels for 1 nodes"});
  engine = forged_cuda_engine();
  engine->device_plan.configs.clear();
  expect_error_code([&] { deserialize_engine(serialize_engine(*engine), "engine"); }, ErrorCode::kCorruptEngine,
                    {"configurations for 0 profiles"});
  engine = forged_cuda_engine();
  engine->device_plan.configs[0].clear();
  expect_error_code([&] { deserialize_engine(serialize_engine(*engine), "engine"); }, ErrorCode::kCorruptEngine,
                    {"0 device kernel configurations for 1 nodes"});
  engine = forged_cuda_engine();
  engine->precision = "int4";
  expect_error_code([&] { deserialize_engine(serialize_engine(*engine), "engine"); }, ErrorCode::kCorruptEngine,
                    {"precision 'int4'"});
}

TEST(DeviceBackend, DeviceSectionCutAnywhereIsRefusedSafely) {
  // Every cut of the DEVICE section, resealed: a bounds error, never a crash or a huge allocation.
  std::string bytes = serialize_engine(*forged_cuda_engine());
  uint64_t offset = 0, length = 0;
  const size_t entry = 24 + 6 * 24;  // the 7th table entry: tag, reserved, offset, length
  std::memcpy(&offset, &bytes[entry + 8], 8);
  std::memcpy(&length, &bytes[entry + 16], 8);
  ASSERT_EQ(offset + length, bytes.size() - 4);
  for (uint64_t cut = 0; cut < length; ++cut) {
    std::string damaged = bytes.substr(0, offset + cut) + bytes.substr(bytes.size() - 4);
    uint64_t total = damaged.size(), new_length = cut;
    std::memcpy(&damaged[16], &total, 8);
    std::memcpy(&damaged[entry + 16], &new_length, 8);
    reseal(damaged);
    EXPECT_THROW(deserialize_engine(damaged, "engine"), Error) << "cut at " << cut;
  }
  // A huge count in the section: refused by its bounds.
  std::string forged = bytes;
  uint64_t huge = uint64_t{1} << 60;
  // precision, architecture, device name (8-byte lengths each) come first; then the kernel count.
  uint64_t at = offset;
  for (int i = 0; i < 3; ++i) {
    uint64_t n = 0;
    std::memcpy(&n, &forged[at], 8);
    at += 8 + n;
  }
  std::memcpy(&forged[at], &huge, 8);
  reseal(forged);
  expect_error_code([&] { deserialize_engine(forged, "engine"); }, ErrorCode::kCorruptEngine, {"larger than the data allows"});
}

TEST(DeviceBackend, Version1FilesStillLoadAsCpuEngines) {
  // Version 1 had six sections (no DEVICE): rewrite a current file without its last section (the graph has no
  // weights, whose encoding version 3 changed).
  auto engine = build_engine(relu_graph(), options_for("cpu"));
  std::string bytes = serialize_engine(*engine);
  const size_t table = 24, old_table_end = table + 6 * 24, new_table_end = table + 7 * 24;
  uint64_t device_length = 0;
  std::memcpy(&device_length, &bytes[table + 6 * 24 + 16], 8);
  std::string v1 = bytes.substr(0, old_table_end) + bytes.substr(new_table_end, bytes.size() - 4 - new_table_end - device_length) + "0000";
  uint32_t version = 1, count = 6;
  uint64_t total = v1.size();
  std::memcpy(&v1[8], &version, 4);
  std::memcpy(&v1[12], &count, 4);
  std::memcpy(&v1[16], &total, 8);
  for (size_t s = 0; s < 6; ++s) {
    uint64_t off = 0;
    std::memcpy(&off, &v1[table + s * 24 + 8], 8);
    off -= 24;
    std::memcpy(&v1[table + s * 24 + 8], &off, 8);
  }
  reseal(v1);
  auto loaded = deserialize_engine(v1, "engine");
  EXPECT_EQ(loaded->device, "cpu");
  EXPECT_EQ(loaded->precision, "float32");
  EXPECT_EQ(loaded->graph.nodes.size(), 1u);
}

}  // namespace normrt::test
