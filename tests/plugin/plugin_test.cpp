// Plugins through the public API: the example library (com.example::Clamp01) loaded with
// normrt::load_plugin_library, ops linked into this test program with NORMRT_PLUGIN_REGISTER_OP (fields that
// round-trip through the engine file, version choice by the model's opset), the loader's messages, duplicates,
// and the missing-plugin error (through the CLI, in a process where the plugin is not loaded).
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <limits>

#include "io/npy.h"
#include "normrt/normrt.h"
#include "onnx/onnx_builder.h"

namespace {

// Ops linked into the program: y = x * scale + shift (version 1) and y = (x + shift) * scale (version 2).
template <int Version>
struct ScaleShift {
  static constexpr const char* kDomain = "com.normrt.test";
  static constexpr const char* kName = "ScaleShift";
  static constexpr int32_t kVersion = Version;
  float scale = 1, shift = 0;

  static ScaleShift create(const normrt::plugin::Attributes& attributes) {
    attributes.allow_only({"scale", "shift"});
    ScaleShift op;
    op.scale = attributes.get_float("scale", 1.0f);
    op.shift = attributes.get_float("shift", 0.0f);
    return op;
  }
  void serialize(normrt::plugin::FieldWriter& fields) const {
    fields.f32(scale);
    fields.f32(shift);
  }
  static ScaleShift deserialize(normrt::plugin::FieldReader& fields) {
    ScaleShift op;
    op.scale = fields.f32();
    op.shift = fields.f32();
    return op;
  }
  void infer_shapes(const normrt::plugin::Shapes& inputs, const normrt::plugin::OutputShapes& outputs) const {
    if (inputs[0].dtype != NORMRT_DTYPE_FLOAT32)
      throw normrt::plugin::Failure(NORMRT_STATUS_SHAPE_ERROR, "input 0 must be float32");
    outputs[0] = inputs[0];
  }
  void run_cpu(const normrt_kernel_args& args) const {
    const normrt_tensor& x = args.inputs[0];
    size_t count = 1;
    for (int32_t d = 0; d < x.rank; ++d) count *= static_cast<size_t>(x.dims[d]);
    const float* in = static_cast<const float*>(x.data);
    float* out = static_cast<float*>(args.outputs[0].data);
    for (size_t i = 0; i < count; ++i) out[i] = Version == 1 ? in[i] * scale + shift : (in[i] + shift) * scale;
  }
};

NORMRT_PLUGIN_REGISTER_OP(ScaleShift<1>);
NORMRT_PLUGIN_REGISTER_OP(ScaleShift<2>);

}  // namespace

namespace normrt::test {
namespace {

const std::string kExample = NORMRT_EXAMPLE_PLUGIN;
const std::string kLibs = NORMRT_TEST_PLUGIN_DIR;

template <typename Fn>
std::string api_error(Fn&& fn, ErrorCode code) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.code()), static_cast<int>(code)) << error_code_name(e.code()) << ": " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected a normrt::Error (" << error_code_name(code) << ")";
  return "";
}

void expect_contains(const std::string& text, const std::vector<std::string>& parts) {
  for (const auto& p : parts) EXPECT_NE(text.find(p), std::string::npos) << "text: " << text << "\nmissing: " << p;
}

// x [N,4] -> Mul by 2 -> com.example::Clamp01 (node 'clamp') -> y
ModelBuilder clamp_model() {
  ModelBuilder m(17);
  m.import_domain("com.example", 1);
  m.input("x", {"N", "4"}).output("y");
  m.initializer("two", {}, {2.0f});
  m.node("Mul", {"x", "two"}, {"t"}, "", "double");
  m.node("Clamp01", {"t"}, {"y"}, "com.example", "clamp");
  return m;
}

Engine build(const ModelBuilder& m, int64_t width = 4) {
  std::string bytes = m.bytes();
  Builder builder = Builder::from_bytes(bytes.data(), bytes.size());
  builder.add_profile({{"x", {{1, width}, {2, width}, {8, width}}}});
  return builder.build();
}

Tensor values(Dims dims, const std::vector<float>& v) {
  Tensor t(DataType::kFloat32, std::move(dims));
  for (size_t i = 0; i < v.size(); ++i) t.data<float>()[i] = v[i];
  return t;
}

std::vector<float> run_one(const Engine& engine, const Tensor& x) {
  NamedTensors out = engine.create_execution_context().run({{"x", x}});
  const Tensor& y = out.at(0).second;
  return std::vector<float>(y.data<float>(), y.data<float>() + y.numel());
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct CliResult {
  int code = -1;
  std::string out, err;
};

CliResult run_cli(const std::vector<std::string>& args) {
  TempDir capture;
  std::string command = quote(NORMRT_CLI);
  for (const auto& a : args) command += " " + quote(a);
  command += " >" + quote(capture.file("out")) + " 2>" + quote(capture.file("err")) + " </dev/null";
  int status = std::system(command.c_str());
  CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_bytes(capture.file("out"));
  r.err = read_bytes(capture.file("err"));
  return r;
}

}  // namespace

TEST(PluginExample, Clamp01BuildsRunsSavesAndLoads) {
  load_plugin_library(kExample);
  Engine engine = build(clamp_model());
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = values({2, 4}, {-1, 0.1f, 0.3f, 0.7f, 2, -0.2f, 0.5f, nan});
  std::vector<float> y = run_one(engine, x);
  std::vector<float> expected = {0, 0.2f, 0.6f, 1, 1, 0, 1, 0};
  for (size_t i = 0; i < 7; ++i) EXPECT_EQ(y[i], expected[i]) << i;
  EXPECT_TRUE(std::isnan(y[7]));  // NaN stays NaN, as with Clip
  // The plugin's shape function kept the symbolic batch.
  EXPECT_EQ(engine.outputs()[0].shape_string(), "[N,4]");
  ASSERT_EQ(engine.plugin_ops().size(), 1u);
  EXPECT_EQ(engine.plugin_ops()[0].domain, "com.example");
  EXPECT_EQ(engine.plugin_ops()[0].name, "Clamp01");
  EXPECT_EQ(engine.plugin_ops()[0].version, 1);
  EXPECT_EQ(engine.plugin_ops()[0].nodes, 1u);

  // The file records the op (domain, name, version), never the library that provided it.
  std::string bytes = engine.serialize();
  EXPECT_NE(bytes.find("com.example"), std::string::npos);
  EXPECT_EQ(bytes.find("libnormrt_example_plugin"), std::string::npos);
  Engine loaded = Engine::load_from_memory(bytes.data(), bytes.size());
  std::vector<float> again = run_one(loaded, x);
  for (size_t i = 0; i < 7; ++i) EXPECT_EQ(again[i], expected[i]) << i;
  EXPECT_EQ(loaded.plugin_ops()[0].version, 1);

  bool listed = false;
  for (const PluginOpInfo& op : registered_plugin_ops())
    listed |= op.domain == "com.example" && op.name == "Clamp01" && op.origin.find(kExample) != std::string::npos;
  EXPECT_TRUE(listed);
}

TEST(PluginExample, LoadingTheSameLibraryAgainDoesNothing) {
  load_plugin_library(kExample);
  size_t count = registered_plugin_ops().size();
  load_plugin_library(kExample);
  EXPECT_EQ(registered_plugin_ops().size(), count);
}

TEST(PluginExample, WrongInputTypeIsReportedByThePluginNamingTheNode) {
  load_plugin_library(kExample);
  ModelBuilder m(17);
  m.import_domain("com.example", 1);
  m.input("x", {"N", "4"}).output("y");
  auto& cast = m.node("Cast", {"x"}, {"i"}, "", "to_int");
  add_attribute(cast, "to", int64_t{7});
  m.node("Clamp01", {"i"}, {"y"}, "com.example", "clamp");
  expect_contains(
      api_error([&] { build(m); }, ErrorCode::kShapeError),
      {"node 'clamp' (com.example::Clamp01)", "com.example::Clamp01 version 1", "infer_shapes", "must be float32"});
}

TEST(PluginExample, UnknownAttributeIsAnErrorNotIgnored) {
  load_plugin_library(kExample);
  ModelBuilder m = clamp_model();
  add_attribute(*m.graph().mutable_node(1), "high", 2.0f);
  expect_contains(api_error([&] { build(m); }, ErrorCode::kInvalidModel),
                  {"node 'clamp'", "unknown attribute 'high'", "takes no attributes"});
}

TEST(PluginExample, TwoLibrariesWithTheSameOpAreAnErrorNamingBoth) {
  load_plugin_library(kExample);
  const std::string copy = kLibs + "/libnormrt_test_clamp01_copy.so";
  expect_contains(api_error([&] { load_plugin_library(copy); }, ErrorCode::kInvalidArgument),
                  {copy, kExample, "com.example::Clamp01 version 1", "load only one"});
  // Nothing of the refused library was registered: Clamp01 still comes from the example.
  for (const PluginOpInfo& op : registered_plugin_ops())
    if (op.name == "Clamp01") {
      EXPECT_NE(op.origin.find(kExample), std::string::npos) << op.origin;
    }
}

TEST(PluginLoader, MessagesSayWhatIsWrongWithALibrary) {
  expect_contains(api_error([&] { load_plugin_library(kLibs + "/missing.so"); }, ErrorCode::kIo),
                  {"cannot load plugin library", "missing.so", "No such file", "never searched"});
  expect_contains(
      api_error([&] { load_plugin_library(kLibs + "/libnormrt_test_undefined_symbol.so"); }, ErrorCode::kIo),
      {"undefined symbol: normrt_test_symbol_that_nothing_defines", "ldd -r"});
  expect_contains(
      api_error([&] { load_plugin_library(kLibs + "/libnormrt_test_not_a_plugin.so"); }, ErrorCode::kInvalidArgument),
      {"is not a normrt plugin library", "normrt_plugin_get_library", "NORMRT_PLUGIN_DEFINE_LIBRARY"});
  expect_contains(
      api_error([&] { load_plugin_library(kLibs + "/libnormrt_test_wrong_abi.so"); }, ErrorCode::kInvalidArgument),
      {"plugin ABI version 42", "this normrt uses version 1"});
  // A bare file name is a path in the current folder, never looked up on the library search path.
  expect_contains(api_error([&] { load_plugin_library("libm.so.6"); }, ErrorCode::kIo), {"./libm.so.6"});
}

TEST(PluginRegistration, BuiltInOpsAndReservedDomainsCannotBeClaimed) {
  using Op = ScaleShift<1>;
  normrt_plugin_op table = plugin::detail::Adapter<Op>::describe();
  normrt_error error;
  const std::pair<const char*, const char*> claims[] = {
      {"", "Relu"}, {"ai.onnx", "Conv"}, {"ai.normrt", "GroupNorm"}, {"com.normrt.test", "ScaleShift"}};
  const char* expected[] = {"belongs to ONNX", "belongs to ONNX", "belongs to normrt", "already registered"};
  for (size_t i = 0; i < 4; ++i) {
    table.domain = claims[i].first;
    table.name = claims[i].second;
    EXPECT_NE(normrt_register_plugin_op(&table, "test", &error), NORMRT_OK);
    EXPECT_NE(std::string(error.message).find(expected[i]), std::string::npos) << error.message;
  }
  table = plugin::detail::Adapter<Op>::describe();
  table.infer_shapes = nullptr;
  table.name = "Incomplete";
  EXPECT_EQ(normrt_register_plugin_op(&table, "test", &error), NORMRT_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(error.message).find("infer_shapes"), std::string::npos) << error.message;
  // These failures were reported to the caller, so nothing was kept to fail later builds.
  load_plugin_library(kExample);
  EXPECT_NO_THROW(build(clamp_model()));
}

TEST(PluginLinked, FieldsRoundTripThroughTheEngineFileAndTheOpsetPicksTheVersion) {
  auto model = [](int64_t opset) {
    ModelBuilder m(17);
    m.import_domain("com.normrt.test", opset);
    m.input("x", {"N", "2"}).output("y");
    auto& node = m.node("ScaleShift", {"x"}, {"y"}, "com.normrt.test", "affine");
    add_attribute(node, "scale", 3.0f);
    add_attribute(node, "shift", 0.5f);
    return m;
  };
  Tensor x = values({2, 2}, {1, 2, -1, 0});
  Engine v1 = build(model(1), 2), v2 = build(model(2), 2), v3 = build(model(3), 2);
  EXPECT_EQ(run_one(v1, x), (std::vector<float>{3.5f, 6.5f, -2.5f, 0.5f}));  // x * 3 + 0.5
  EXPECT_EQ(run_one(v2, x), (std::vector<float>{4.5f, 7.5f, -1.5f, 1.5f}));  // (x + 0.5) * 3
  EXPECT_EQ(v3.plugin_ops().at(0).version, 2);  // the newest version not above the model's opset
  // Loaded from the file, the op is made from its recorded fields (the attributes are not consulted).
  TempDir dir;
  v1.save(dir.file("v1.nrt"));
  Engine loaded = Engine::load(dir.file("v1.nrt"));
  EXPECT_EQ(run_one(loaded, x), (std::vector<float>{3.5f, 6.5f, -2.5f, 0.5f}));
  EXPECT_EQ(loaded.plugin_ops().at(0).version, 1);
  // A model that does not import the op's domain.
  ModelBuilder no_import(17);
  no_import.input("x", {"N", "2"}).output("y");
  no_import.node("ScaleShift", {"x"}, {"y"}, "com.normrt.test", "affine");
  expect_contains(api_error([&] { build(no_import, 2); }, ErrorCode::kInvalidModel),
                  {"node 'affine'", "does not import", "com.normrt.test::ScaleShift version 1"});
}

TEST(PluginCli, MissingPluginFailsBeforeAnythingRunsNamingTheOpAndTheFix) {
  TempDir dir;
  std::string model = clamp_model().save(dir);
  std::string engine = dir.file("clamp.nrt");
  std::vector<float> x = {-1, 0.25f, 2, 0.5f};
  CliResult built = run_cli({"build", model, "-o", engine, "--minShapes=x:1x4", "--optShapes=x:1x4",
                             "--maxShapes=x:2x4", "--plugins", kExample});
  ASSERT_EQ(built.code, 0) << built.err;
  CliResult inspect = run_cli({"inspect", engine, "--plugins", kExample});
  EXPECT_EQ(inspect.code, 0) << inspect.err;
  expect_contains(inspect.out, {"plugins:\n  com.example::Clamp01 version 1", "x1"});

  // Without the plugin: every subcommand that loads the engine stops with the same message.
  write_npy(dir.file("x.npy"), values({1, 4}, x));
  const std::string out_dir = dir.file("out");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"run", engine, "--input", "x=" + dir.file("x.npy"), "--output-dir", out_dir},
        std::vector<std::string>{"inspect", engine}, std::vector<std::string>{"bench", engine, "--shapes=x:1x4"}}) {
    CliResult r = run_cli(args);
    EXPECT_EQ(r.code, 1) << args[0] << ": " << r.err;
    expect_contains(r.err, {"normrt: error (plugin missing): ", "op 'Clamp01' (domain com.example, version 1)",
                            "used by node 'clamp'", "--plugins path/to/lib.so", "normrt.load_plugins"});
  }
  struct stat st;
  EXPECT_NE(::stat(out_dir.c_str(), &st), 0) << "run created its output folder before failing";

  // With it, the same command runs.
  CliResult ran =
      run_cli({"run", engine, "--input", "x=" + dir.file("x.npy"), "--output-dir", out_dir, "--plugins", kExample});
  EXPECT_EQ(ran.code, 0) << ran.err;
  Tensor y = read_npy(out_dir + "/y.npy");
  EXPECT_EQ(std::vector<float>(y.data<float>(), y.data<float>() + y.numel()), (std::vector<float>{0, 0.5f, 1, 1}));

  // Building without the plugin names the op and how to load it.
  CliResult unbuilt =
      run_cli({"build", model, "-o", engine, "--minShapes=x:1x4", "--optShapes=x:1x4", "--maxShapes=x:2x4"});
  EXPECT_EQ(unbuilt.code, 1);
  expect_contains(unbuilt.err, {"(unsupported op)", "'Clamp01' (domain com.example, opset 1)", "--plugins"});

  // Two libraries with the same op, on the command line.
  CliResult twice =
      run_cli({"inspect", engine, "--plugins", kExample, "--plugins", kLibs + "/libnormrt_test_clamp01_copy.so"});
  EXPECT_EQ(twice.code, 1);
  expect_contains(twice.err, {"libnormrt_test_clamp01_copy.so", kExample, "already registered"});
}

}  // namespace normrt::test
