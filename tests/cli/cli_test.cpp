// The `normrt` command line, run as a program: exit codes, what it prints, and the files `run` writes.
// (The CLI binary knows only the ops of the library, so these models use Identity.)
#include <sys/wait.h>

#include <filesystem>

#include "engine/engine.h"
#include "io/npy.h"
#include "onnx/onnx_builder.h"
#include "test_util.h"

namespace normrt::test {
namespace {

struct CliResult {
  int code = -1;
  std::string out, err;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

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

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Expects exit code 1 and stderr naming the error's kind and containing every part.
void expect_cli_error(const CliResult& r, const std::string& kind, const std::vector<std::string>& parts) {
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(contains(r.err, "normrt: error (" + kind + "): ")) << r.err;
  for (const auto& p : parts) EXPECT_TRUE(contains(r.err, p)) << "stderr: " << r.err << "\nmissing: " << p;
}

// x [N,3] and mask [N,1]; four outputs declared in an order unlike the node order, with names that are not file
// names: "out:0" (x), "a/b" (mask), "a_b" (x again, through another node), "../up" (mask again).
std::string write_model(const TempDir& dir) {
  ModelBuilder m;
  m.input("x", {"N", "3"}).input("mask", {"N", "1"});
  m.output("a/b").output("out:0").output("../up").output("a_b");
  m.node("Identity", {"x"}, {"out:0"});
  m.node("Identity", {"x"}, {"a_b"});
  m.node("Identity", {"mask"}, {"a/b"});
  m.node("Identity", {"mask"}, {"../up"});
  return m.save(dir);
}

Tensor filled(Dims dims, float start) {
  Tensor t(DataType::kFloat32, std::move(dims));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = start + static_cast<float>(i);
  return t;
}

const std::vector<std::string> kProfileFlags = {"--minShapes=x:1x3,mask:1x1", "--optShapes=x:2x3,mask:2x1",
                                                "--maxShapes=x:4x3,mask:4x1"};

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST(Cli, InspectShowsAModel) {
  TempDir dir;
  std::string model = write_model(dir);
  CliResult r = run_cli({"inspect", model});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "x  float32 [N,3]")) << r.out;
  EXPECT_TRUE(contains(r.out, "mask  float32 [N,1]")) << r.out;
  EXPECT_TRUE(contains(r.out, "ai.onnx=17")) << r.out;
  EXPECT_TRUE(contains(r.out, "Identity x4")) << r.out;
}

TEST(Cli, BuildInspectAndRunAnEngine) {
  TempDir dir;
  std::string model = write_model(dir), engine = dir.file("model.nrt");
  CliResult b = run_cli(concat({"build", model, "-o", engine}, kProfileFlags));
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_TRUE(contains(b.out, "1 profile(s)")) << b.out;

  CliResult i = run_cli({"inspect", engine});
  ASSERT_EQ(i.code, 0) << i.err;
  EXPECT_TRUE(contains(i.out, "x  min 1x3  opt 2x3  max 4x3")) << i.out;
  EXPECT_TRUE(contains(i.out, "plugins: none")) << i.out;

  write_npy(dir.file("x.npy"), filled({3, 3}, 1));
  write_npy(dir.file("mask.npy"), filled({3, 1}, 100));
  std::string out_dir = dir.file("out");
  CliResult r = run_cli({"run", engine, "--input", "x=" + dir.file("x.npy"), "--input", "mask=" + dir.file("mask.npy"),
                         "--output-dir", out_dir});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "wrote 4 output(s)")) << r.out;
  // Declared order, real names, and file names that stay inside the folder.
  std::string manifest = read_bytes(out_dir + "/manifest.json");
  EXPECT_EQ(manifest,
            "{\"outputs\": [{\"name\": \"a/b\", \"file\": \"a_b.npy\", \"shape\": [3, 1], \"dtype\": \"float32\"}, "
            "{\"name\": \"out:0\", \"file\": \"out_0.npy\", \"shape\": [3, 3], \"dtype\": \"float32\"}, "
            "{\"name\": \"../up\", \"file\": \".._up.npy\", \"shape\": [3, 1], \"dtype\": \"float32\"}, "
            "{\"name\": \"a_b\", \"file\": \"a_b_2.npy\", \"shape\": [3, 3], \"dtype\": \"float32\"}]}\n");
  std::set<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(out_dir)) files.insert(e.path().filename().string());
  EXPECT_EQ(files, (std::set<std::string>{"manifest.json", "a_b.npy", "out_0.npy", ".._up.npy", "a_b_2.npy"}));
  EXPECT_EQ(read_npy(out_dir + "/a_b.npy").data<float>()[2], 102.0f);
  EXPECT_EQ(read_npy(out_dir + "/out_0.npy").data<float>()[8], 9.0f);
  EXPECT_EQ(read_npy(out_dir + "/a_b_2.npy").data<float>()[8], 9.0f);
  EXPECT_FALSE(std::filesystem::exists(dir.file("up.npy")));
}

// bench reports latency percentiles and the cold start (engine load, first run at the shape), as text and JSON;
// --warmup 0 still runs the shape once untimed, so the first run never counts as a latency sample.
TEST(Cli, BenchReportsLatencyAndColdStart) {
  TempDir dir;
  std::string model = write_model(dir), engine = dir.file("model.nrt");
  ASSERT_EQ(run_cli(concat({"build", model, "-o", engine}, kProfileFlags)).code, 0);
  CliResult text = run_cli({"bench", engine, "--shapes=x:3x3,mask:3x1", "--iterations", "3"});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_TRUE(contains(text.out, "latency: median ")) << text.out;
  EXPECT_TRUE(contains(text.out, "over 3 runs")) << text.out;
  EXPECT_TRUE(contains(text.out, "cold start: engine load ")) << text.out;
  EXPECT_TRUE(contains(text.out, " ms, first run ")) << text.out;
  CliResult json = run_cli({"bench", engine, "--shapes=x:3x3,mask:3x1", "--iterations", "2", "--warmup", "0", "--json"});
  ASSERT_EQ(json.code, 0) << json.err;
  for (const char* key : {"\"median_ms\": ", "\"p99_ms\": ", "\"iterations\": 2", "\"load_ms\": ", "\"first_run_ms\": "})
    EXPECT_TRUE(contains(json.out, key)) << json.out << "\nmissing: " << key;
  // A shape outside the profile is the run's error, not a number.
  expect_cli_error(run_cli({"bench", engine, "--shapes=x:5x3,mask:5x1"}), "shape error",
                   {"outside the range [1, 4]", "rebuild the engine with a profile that covers this shape"});
}

TEST(Cli, RepeatedShapeFlagsMakeSeveralProfiles) {
  TempDir dir;
  std::string model = write_model(dir), engine = dir.file("model.nrt");
  CliResult b = run_cli({"build", model, "-o", engine, "--minShapes=x:1x3,mask:1x1", "--optShapes=x:1x3,mask:1x1",
                         "--maxShapes=x:2x3,mask:2x1", "--minShapes=x:8x3,mask:8x1", "--optShapes=x:8x3,mask:8x1",
                         "--maxShapes=x:16x3,mask:16x1"});
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_TRUE(contains(b.out, "2 profile(s)")) << b.out;
  CliResult i = run_cli({"inspect", engine});
  EXPECT_TRUE(contains(i.out, "profile 1:")) << i.out;
  EXPECT_TRUE(contains(i.out, "x  min 8x3  opt 8x3  max 16x3")) << i.out;
  for (int64_t n : {2, 8}) {
    write_npy(dir.file("x.npy"), filled({n, 3}, 0));
    write_npy(dir.file("mask.npy"), filled({n, 1}, 0));
    CliResult r = run_cli({"run", engine, "--input", "x=" + dir.file("x.npy"), "--input",
                           "mask=" + dir.file("mask.npy"), "--output-dir", dir.file("out")});
    EXPECT_EQ(r.code, 0) << r.err;
  }
  write_npy(dir.file("x.npy"), filled({4, 3}, 0));
  write_npy(dir.file("mask.npy"), filled({4, 1}, 0));
  CliResult r = run_cli({"run", engine, "--input", "x=" + dir.file("x.npy"), "--input", "mask=" + dir.file("mask.npy"),
                         "--output-dir", dir.file("out")});
  expect_cli_error(r, "shape error", {"fit none of the engine's 2 profiles", "input 'mask' dimension 0 is 4",
                                      "[1, 2] of profile 0", "[8, 16] of profile 1", "rebuild"});
}

// Space-separated flag values (not just --flag=value) must not swallow the model or other arguments.
TEST(Cli, SpaceSeparatedShapeFlagsWork) {
  TempDir dir;
  std::string model = write_model(dir), engine = dir.file("model.nrt");
  CliResult b = run_cli({"build", "--minShapes", "x:1x3,mask:1x1", "--optShapes", "x:2x3,mask:2x1", "--maxShapes",
                         "x:4x3,mask:4x1", model, "-o", engine});
  EXPECT_EQ(b.code, 0) << b.err;
  EXPECT_TRUE(contains(b.out, "1 profile(s)")) << b.out;
  write_npy(dir.file("x.npy"), filled({2, 3}, 0));
  write_npy(dir.file("mask.npy"), filled({2, 1}, 0));
  CliResult r = run_cli({"run", "--input", "x=" + dir.file("x.npy"), "--input", "mask=" + dir.file("mask.npy"), engine,
                         "--output-dir", dir.file("out")});
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST(Cli, MisspelledShapeFlagNameSuggestsTheInput) {
  TempDir dir;
  std::string model = write_model(dir);
  CliResult r = run_cli({"build", model, "-o", dir.file("e.nrt"), "--minShapes=X:1x3,mask:1x1",
                         "--optShapes=X:2x3,mask:2x1", "--maxShapes=X:4x3,mask:4x1"});
  expect_cli_error(r, "invalid argument",
                   {"shape given for input 'X'", "no input of that name", "did you mean 'x'?",
                    "The inputs are: x [N,3], mask [N,1]"});
  EXPECT_FALSE(std::filesystem::exists(dir.file("e.nrt")));
}

TEST(Cli, BuildErrorsNameTheProblemAndTheFix) {
  TempDir dir;
  std::string model = write_model(dir);
  expect_cli_error(run_cli({"build", model, "-o", dir.file("e.nrt")}), "shape error",
                   {"dynamic inputs (x [N,3], mask [N,1])", "--minShapes"});
  expect_cli_error(run_cli({"build", model, "-o", dir.file("e.nrt"), "--minShapes=x:1x3", "--optShapes=x:2x3",
                            "--maxShapes=x:4x3"}),
                   "shape error", {"input 'mask' [N,1]", "no shape", "add it to --minShapes"});
  expect_cli_error(run_cli({"build", model, "-o", dir.file("e.nrt"), "--minShapes=x:4x3,mask:1x1",
                            "--optShapes=x:2x3,mask:2x1", "--maxShapes=x:4x3,mask:4x1"}),
                   "shape error", {"input 'x' dimension 0 (N)", "min 4, opt 2, max 4", "min <= opt <= max"});
  expect_cli_error(run_cli({"build", model, "-o", dir.file("e.nrt"), "--minShapes=x:1x5,mask:1x1",
                            "--optShapes=x:2x5,mask:2x1", "--maxShapes=x:4x5,mask:4x1"}),
                   "shape error", {"input 'x' dimension 1 is fixed to 3", "gives 5", "use 3"});
  expect_cli_error(run_cli({"build", model, "-o", dir.file("e.nrt"), "--minShapes=x:1x3x1,mask:1x1",
                            "--optShapes=x:2x3x1,mask:2x1", "--maxShapes=x:4x3x1,mask:4x1"}),
                   "shape error", {"input 'x' has rank 2", "has rank 3"});
  expect_cli_error(run_cli({"build", model, "-o", dir.file("e.nrt"), "--minShapes=x:1x3,mask:1x1",
                            "--maxShapes=x:4x3,mask:4x1"}),
                   "invalid argument", {"same number of times"});
  const std::vector<std::string> profile = {"--minShapes=x:1x3,mask:1x1", "--optShapes=x:2x3,mask:2x1",
                                            "--maxShapes=x:4x3,mask:4x1"};
  expect_cli_error(run_cli(concat({"build", model, "-o", dir.file("e.nrt"), "--fp16", "--tf32"}, profile)),
                   "invalid argument", {"--fp16 and --tf32 exclude each other"});
  expect_cli_error(run_cli(concat({"build", model, "-o", dir.file("e.nrt"), "--tf32"}, profile)), "invalid argument",
                   {"precision 'tf32' is not available on device 'cpu'", "build with precision float32"});
  // A timing cache on the CPU (which tunes nothing) is refused, and no file is made.
  expect_cli_error(run_cli(concat({"build", model, "-o", dir.file("e.nrt"), "--timing-cache", dir.file("t.cache")},
                                  profile)),
                   "invalid argument", {"timing cache", "is for GPU builds", "--device cuda", "leave out --timing-cache"});
  EXPECT_FALSE(std::filesystem::exists(dir.file("t.cache")));
  expect_cli_error(run_cli(concat({"build", model, "-o", dir.file("e.nrt"), "--layout", "nwhc"}, profile)),
                   "invalid argument", {"layout 'nwhc' is unknown", "nchw", "nhwc"});
  EXPECT_FALSE(std::filesystem::exists(dir.file("e.nrt")));
}

TEST(Cli, UnsupportedOpsAreAllListed) {
  TempDir dir;
  ModelBuilder m;
  m.import_domain("com.vendor", 2);
  m.input("x", {"2"}).output("c");
  m.node("GroupNormalizationPlugin", {"x"}, {"a"}, "com.vendor", "gn");
  m.node("Mish", {"a"}, {"b"}, "", "mish");
  m.node("Mish", {"b"}, {"c"}, "", "mish2");
  CliResult r = run_cli({"build", m.save(dir), "-o", dir.file("e.nrt")});
  expect_cli_error(r, "unsupported op",
                   {"2 ops", "'GroupNormalizationPlugin' (domain com.vendor, opset 2)", "'Mish' (domain ai.onnx, opset 17) used by 2 nodes"});
}

TEST(Cli, UnreadableOrTruncatedModelsAreRefused) {
  TempDir dir;
  expect_cli_error(run_cli({"inspect", dir.file("missing.onnx")}), "I/O error", {"missing.onnx", "No such file"});
  std::string bytes = read_bytes(write_model(dir));
  write_bytes(dir.file("cut.onnx"), bytes.substr(0, bytes.size() - 20));
  expect_cli_error(run_cli({"build", dir.file("cut.onnx"), "-o", dir.file("e.nrt")}), "invalid model",
                   {"cut.onnx", "truncated"});
}

TEST(Cli, CorruptEngineIsRefused) {
  TempDir dir;
  std::string model = write_model(dir), engine = dir.file("e.nrt");
  ASSERT_EQ(run_cli(concat({"build", model, "-o", engine}, kProfileFlags)).code, 0);
  std::string bytes = read_bytes(engine);
  bytes[bytes.size() / 2] ^= 0x20;
  write_bytes(engine, bytes);
  expect_cli_error(run_cli({"inspect", engine}), "corrupt engine", {"checksum", "rebuild"});
  write_npy(dir.file("x.npy"), filled({2, 3}, 0));
  write_npy(dir.file("mask.npy"), filled({2, 1}, 0));
  expect_cli_error(run_cli({"run", engine, "--input", "x=" + dir.file("x.npy"), "--input",
                            "mask=" + dir.file("mask.npy"), "--output-dir", dir.file("out")}),
                   "corrupt engine", {"checksum"});
}

TEST(Cli, RunInputErrorsNameTheProblemAndTheFix) {
  TempDir dir;
  std::string model = write_model(dir), engine = dir.file("e.nrt");
  ASSERT_EQ(run_cli(concat({"build", model, "-o", engine}, kProfileFlags)).code, 0);
  write_npy(dir.file("x.npy"), filled({2, 3}, 0));
  write_npy(dir.file("mask.npy"), filled({2, 1}, 0));
  write_npy(dir.file("x_int.npy"), Tensor(DataType::kInt64, {2, 3}));
  write_npy(dir.file("x_rank3.npy"), filled({2, 3, 1}, 0));
  write_npy(dir.file("x_big.npy"), filled({5, 3}, 0));
  std::string bytes = read_bytes(dir.file("x.npy"));
  write_bytes(dir.file("x_cut.npy"), bytes.substr(0, bytes.size() - 3));
  auto run = [&](const std::vector<std::string>& inputs) {
    std::vector<std::string> args = {"run", engine, "--output-dir", dir.file("out")};
    for (const auto& i : inputs) args.insert(args.end(), {"--input", i});
    return run_cli(args);
  };
  const std::string mask = "mask=" + dir.file("mask.npy");
  expect_cli_error(run({"x=" + dir.file("x.npy")}), "invalid argument",
                   {"input 'mask' [N,1] float32 was not given", "the inputs are: x [N,3] float32, mask [N,1] float32"});
  expect_cli_error(run({"x=" + dir.file("x.npy"), mask, "xx=" + dir.file("x.npy")}), "invalid argument",
                   {"input 'xx' was given", "did you mean 'x'?"});
  expect_cli_error(run({"x=" + dir.file("x_int.npy"), mask}), "invalid argument",
                   {"input 'x' must be float32 but is int64", "astype(numpy.float32)"});
  expect_cli_error(run({"x=" + dir.file("x_rank3.npy"), mask}), "shape error", {"must have rank 2", "has rank 3"});
  expect_cli_error(run({"x=" + dir.file("x_big.npy"), mask}), "shape error",
                   {"input 'x' dimension 0 is 5", "outside the range [1, 4]"});
  expect_cli_error(run({"x=" + dir.file("x_cut.npy"), mask}), "I/O error", {"x_cut.npy", "truncated"});
  expect_cli_error(run({"x=" + dir.file("nothere.npy"), mask}), "I/O error", {"nothere.npy"});
  expect_cli_error(run({"x" + dir.file("x.npy"), mask}), "invalid argument", {"name=file.npy"});
  expect_cli_error(run({"x=" + dir.file("x.npy"), "x=" + dir.file("x.npy"), mask}), "invalid argument", {"given twice"});
}

// `run model.onnx` builds an engine for exactly the shapes given, then runs it.
TEST(Cli, RunBuildsAnOnnxModelOnTheFly) {
  TempDir dir;
  std::string model = write_model(dir);
  for (int64_t n : {1, 5}) {
    write_npy(dir.file("x.npy"), filled({n, 3}, 10));
    write_npy(dir.file("mask.npy"), filled({n, 1}, 20));
    std::string out_dir = dir.file("out" + std::to_string(n));
    CliResult r = run_cli({"run", model, "--input", "x=" + dir.file("x.npy"), "--input",
                           "mask=" + dir.file("mask.npy"), "--output-dir", out_dir});
    ASSERT_EQ(r.code, 0) << r.err;
    Tensor out = read_npy(out_dir + "/out_0.npy");
    EXPECT_EQ(out.dims(), (Dims{n, 3}));
    EXPECT_EQ(out.data<float>()[3 * n - 1], 10.0f + static_cast<float>(3 * n - 1));
    EXPECT_TRUE(contains(read_bytes(out_dir + "/manifest.json"), "{\"name\": \"a/b\", \"file\": \"a_b.npy\", \"shape\": [" +
                                                                    std::to_string(n) + ", 1]"));
  }
  write_npy(dir.file("x.npy"), filled({2, 3}, 0));
  write_npy(dir.file("mask.npy"), filled({2, 1}, 0));
  write_npy(dir.file("x4.npy"), filled({2, 4}, 0));
  expect_cli_error(run_cli({"run", model, "--input", "x=" + dir.file("x.npy"), "--output-dir", dir.file("o")}),
                   "invalid argument", {"input 'mask' [N,1] was not given", "--input mask=file.npy"});
  expect_cli_error(run_cli({"run", model, "--input", "x=" + dir.file("x.npy"), "--input", "mask=" + dir.file("mask.npy"),
                            "--input", "mbsk=" + dir.file("mask.npy"), "--output-dir", dir.file("o")}),
                   "invalid argument", {"'mbsk'", "no input of that name", "did you mean 'mask'?"});
  expect_cli_error(run_cli({"run", model, "--input", "x=" + dir.file("x4.npy"), "--input", "mask=" + dir.file("mask.npy"),
                            "--output-dir", dir.file("o")}),
                   "shape error", {"input 'x' dimension 1 is fixed to 3", "gives 4"});
}

TEST(Cli, StaticModelBuildsWithoutShapeFlags) {
  TempDir dir;
  ModelBuilder m;
  m.input("x", {"2", "2"}).output("y");
  m.node("Identity", {"x"}, {"y"});
  std::string model = m.save(dir);
  CliResult b = run_cli({"build", model, "-o", dir.file("e.nrt")});
  ASSERT_EQ(b.code, 0) << b.err;
  write_npy(dir.file("x.npy"), filled({2, 2}, 3));
  CliResult r = run_cli({"run", dir.file("e.nrt"), "--input", "x=" + dir.file("x.npy"), "--output-dir", dir.file("o")});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(read_npy(dir.file("o/y.npy")).data<float>()[3], 6.0f);
}

TEST(Cli, UsageErrorsDoNotLookLikeSuccess) {
  CliResult none = run_cli({});
  EXPECT_NE(none.code, 0);
  CliResult unknown = run_cli({"frobnicate"});
  EXPECT_NE(unknown.code, 0);
  CliResult missing = run_cli({"build"});
  EXPECT_NE(missing.code, 0);
  EXPECT_TRUE(contains(missing.err + missing.out, "model")) << missing.err;
}

}  // namespace normrt::test
