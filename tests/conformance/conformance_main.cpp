// normrt_conformance: runs the ONNX backend node tests (onnx/backend/test/data/node/<test>/model.onnx with
// test_data_set_*/input_*.pb and output_*.pb) through normrt's engine on the CPU and classifies each test as
// pass, fail, unsupported or error. See tests/conformance/README.md.
//
// Every test runs in a forked child: a crash, a hang or an exhausted memory limit in one test is reported as
// that test's error and the run goes on. The parent never runs normrt code (no OpenMP or oneDNN thread pool
// exists when it forks); it only schedules children, collects one result line from each and reports.

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <new>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "normrt/error.h"
#include "normrt/tensor.h"
#include "onnx/importer.h"
#include "onnx/onnx_pb.h"
#include "onnx/safe_file.h"
#include "ops/op.h"

namespace {

using normrt::DataType;
using normrt::Dims;
using normrt::ErrorCode;
using normrt::Tensor;

// onnx/backend/test/loader: every node test uses these unless its folder has a data.json that overrides them.
constexpr double kDefaultRtol = 1e-3;
constexpr double kDefaultAtol = 1e-7;
constexpr uint64_t kMaxModelBytes = uint64_t{1} << 30;

struct Options {
  std::string data_dir = "build/conformance/node";
  std::string results_path;  // default: <data_dir>/../results.txt
  std::string summary_path;  // default: <data_dir>/../summary.txt
  std::string expected_path;
  std::string write_expected_path;
  std::vector<std::string> filters;  // substrings of test names; empty runs everything
  int jobs = 1;
  int timeout_s = 60;
  uint64_t max_input_mb = 100;
  uint64_t memory_limit_mb = 8192;
  bool clamp_opset = false;
  bool bake_shape_inputs = false;
  bool verbose = false;
  std::string device = "cpu";  // the engines' device: "cuda" runs every test on the GPU (CUDA backend)
};

struct Outcome {
  std::string status;  // pass, fail, unsupported, error
  std::string op;      // "Relu", "ai.onnx.ml:LabelEncoder"; "" for a multi-node graph
  std::string detail;
};

std::string one_line(std::string text) {
  for (char& c : text)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  constexpr size_t kMaxDetail = 1500;
  if (text.size() > kMaxDetail) text = text.substr(0, kMaxDetail) + "...";
  return text;
}

std::string format_number(long double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.9Lg", v);
  return buffer;
}

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> names;
  DIR* dir = ::opendir(path.c_str());
  if (!dir) return names;
  while (dirent* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

bool is_dir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool file_size(const std::string& path, uint64_t* size) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  *size = static_cast<uint64_t>(st.st_size);
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// Comparison with numpy.testing.assert_allclose semantics: |actual - expected| <= atol + rtol * |expected|,
// NaN only where NaN is expected, infinities only where the same infinity is expected. Computed in long
// double, so integers up to 2^63 and every float compare exactly before the tolerance applies.

float bits_to_float(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// IEEE binary16, written here rather than borrowed from normrt so that the checker shares no code with the
// thing it checks.
float half_bits_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h >> 15) << 31;
  const uint32_t exponent = (h >> 10) & 0x1f;
  const uint32_t mantissa = h & 0x3ff;
  if (exponent == 0x1f) return bits_to_float(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {
    float magnitude = std::ldexp(static_cast<float>(mantissa), -24);  // subnormal or zero
    return sign ? -magnitude : magnitude;
  }
  return bits_to_float(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

long double element(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kFloat32: return t.data<float>()[i];
    case DataType::kFloat64: return t.data<double>()[i];
    case DataType::kFloat16: return half_bits_to_float(t.data<uint16_t>()[i]);
    case DataType::kBFloat16: return bits_to_float(static_cast<uint32_t>(t.data<uint16_t>()[i]) << 16);
    case DataType::kInt8: return t.data<int8_t>()[i];
    case DataType::kUInt8: return t.data<uint8_t>()[i];
    case DataType::kInt16: return t.data<int16_t>()[i];
    case DataType::kUInt16: return t.data<uint16_t>()[i];
    case DataType::kInt32: return t.data<int32_t>()[i];
    case DataType::kUInt32: return t.data<uint32_t>()[i];
    case DataType::kInt64: return t.data<int64_t>()[i];
    case DataType::kUInt64: return t.data<uint64_t>()[i];
    case DataType::kBool: return t.data<uint8_t>()[i] != 0;
    case DataType::kUndefined: break;
  }
  return 0;
}

std::string index_string(const Dims& dims, int64_t flat) {
  std::vector<int64_t> index(dims.size());
  for (size_t axis = dims.size(); axis-- > 0;) {
    index[axis] = dims[axis] ? flat % dims[axis] : 0;
    flat = dims[axis] ? flat / dims[axis] : 0;
  }
  std::string s = "[";
  for (size_t i = 0; i < index.size(); ++i) s += (i ? "," : "") + std::to_string(index[i]);
  return s + "]";
}

// "" when `actual` matches `expected`; otherwise what differs, with the worst element.
std::string compare(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  if (actual.dtype() != expected.dtype())
    return std::string("dtype ") + normrt::dtype_name(actual.dtype()) + ", expected " +
           normrt::dtype_name(expected.dtype());
  if (actual.dims() != expected.dims())
    return "shape " + normrt::dims_to_string(actual.dims()) + ", expected " + normrt::dims_to_string(expected.dims());
  const bool exact = expected.dtype() == DataType::kBool;
  int64_t mismatches = 0, worst = -1;
  long double worst_excess = -1;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    const long double a = element(actual, i), e = element(expected, i);
    long double excess;  // how far beyond the tolerance; infinite for NaN and infinity mismatches
    if (std::isnan(e) || std::isnan(a)) {
      if (std::isnan(e) && std::isnan(a)) continue;
      excess = INFINITY;
    } else if (std::isinf(e) || std::isinf(a)) {
      if (a == e) continue;
      excess = INFINITY;
    } else {
      const long double diff = std::fabs(a - e);
      const long double tolerance = exact ? 0 : atol + rtol * std::fabs(e);
      if (diff <= tolerance) continue;
      excess = diff - tolerance;
    }
    ++mismatches;
    if (excess > worst_excess) {
      worst_excess = excess;
      worst = i;
    }
  }
  if (!mismatches) return "";
  const long double a = element(actual, worst), e = element(expected, worst);
  const bool special = std::isnan(a) || std::isnan(e) || std::isinf(a) || std::isinf(e);
  return std::to_string(mismatches) + " of " + std::to_string(expected.numel()) + " elements differ; worst at " +
         index_string(expected.dims(), worst) + ": got " + format_number(a) + ", expected " + format_number(e) +
         (special ? std::string(" (NaN and infinity must match exactly)")
                  : " (|diff| " + format_number(std::fabs(a - e)) + ", tolerance " +
                        format_number(exact ? 0 : atol + rtol * std::fabs(e)) + ")");
}

// ---------------------------------------------------------------------------------------------------------
// One test, run in the child.

class Unsupported : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string type_problem(const onnx::TypeProto& type) {
  switch (type.value_case()) {
    case onnx::TypeProto::kTensorType: {
      const int32_t elem = type.tensor_type().elem_type();
      if (elem != 0 && !normrt::is_known_dtype(elem)) {
        // Debian's onnx headers predate the float8/int4/float4 types; their numbers still say which.
        std::string name = onnx::TensorProto_DataType_IsValid(elem)
                               ? onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(elem))
                               : "";
        return "has element type " + (name.empty() ? "number " + std::to_string(elem) : name) +
               ", which normrt does not have";
      }
      return "";
    }
    case onnx::TypeProto::kSequenceType: return "is a sequence; normrt supports tensors only";
    case onnx::TypeProto::kMapType: return "is a map; normrt supports tensors only";
    case onnx::TypeProto::kOptionalType: return "is an optional; normrt supports tensors only";
    case onnx::TypeProto::kSparseTensorType: return "is a sparse tensor; normrt supports dense tensors only";
    default: return "has no type normrt knows";
  }
}

std::string op_of(const onnx::GraphProto& graph) {
  if (graph.node_size() != 1) return "";
  const auto& node = graph.node(0);
  const bool default_domain = node.domain().empty() || node.domain() == "ai.onnx";
  return default_domain ? node.op_type() : node.domain() + ":" + node.op_type();
}

bool op_implemented(const std::string& op) {
  if (op == "Constant") return true;  // the importer folds Constant nodes into initializers
  size_t colon = op.rfind(':');
  std::string domain = colon == std::string::npos ? "" : op.substr(0, colon);
  std::string type = colon == std::string::npos ? op : op.substr(colon + 1);
  return normrt::OpRegistry::global().find(domain, type) != nullptr;
}

std::vector<std::string> numbered_files(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> files;
  for (int i = 0;; ++i) {
    std::string path = dir + "/" + prefix + std::to_string(i) + ".pb";
    uint64_t size;
    if (!file_size(path, &size)) break;
    files.push_back(path);
  }
  return files;
}

Outcome run_test(const std::string& test_dir, const std::string& test_name, const Options& options) {
  Outcome outcome;
  const std::string model_path = test_dir + "/model.onnx";
  std::string model_bytes = normrt::read_file(model_path, kMaxModelBytes);
  onnx::ModelProto model;
  if (!model.ParseFromArray(model_bytes.data(), static_cast<int>(model_bytes.size())))
    throw normrt::Error(ErrorCode::kInvalidModel, "model.onnx does not parse as an ONNX model");
  const onnx::GraphProto& graph = model.graph();
  outcome.op = op_of(graph);

  // What normrt cannot represent at all is unsupported, not an error: non-tensor values, element types it
  // lacks, and opsets outside the range it implements.
  std::set<std::string> initializers;
  for (const auto& init : graph.initializer()) initializers.insert(init.name());
  for (const auto& in : graph.input()) {
    if (initializers.count(in.name())) continue;
    std::string problem = type_problem(in.type());
    if (!problem.empty()) throw Unsupported("input '" + in.name() + "' " + problem);
  }
  for (const auto& out : graph.output()) {
    std::string problem = type_problem(out.type());
    if (!problem.empty()) throw Unsupported("output '" + out.name() + "' " + problem);
  }
  bool uses_default_domain = false;
  for (const auto& node : graph.node())
    if (node.domain().empty() || node.domain() == "ai.onnx") uses_default_domain = true;
  std::string opset_note;
  for (auto& opset : *model.mutable_opset_import()) {
    if (!(opset.domain().empty() || opset.domain() == "ai.onnx") || !uses_default_domain) continue;
    const int64_t version = opset.version();
    if (version >= normrt::kMinOpset && version <= normrt::kMaxOpset) continue;
    std::string implemented = outcome.op.empty() ? ""
                              : op_implemented(outcome.op) ? " (" + outcome.op + " is implemented)"
                                                           : " (" + outcome.op + " is not implemented either)";
    if (options.clamp_opset && version > normrt::kMaxOpset) {
      opset_note = " [opset " + std::to_string(version) + " run as " + std::to_string(normrt::kMaxOpset) + "]";
      opset.set_version(normrt::kMaxOpset);
      continue;
    }
    throw Unsupported("opset " + std::to_string(version) + " is outside normrt's " +
                      std::to_string(normrt::kMinOpset) + ".." + std::to_string(normrt::kMaxOpset) + implemented);
  }
  if (!opset_note.empty()) model_bytes = model.SerializeAsString();

  double rtol = kDefaultRtol, atol = kDefaultAtol;
  uint64_t ignored;
  if (file_size(test_dir + "/data.json", &ignored))
    throw normrt::Error(ErrorCode::kInvalidArgument,
                        "data.json (per-test tolerances) is not read by this runner; teach it before trusting a pass");

  std::vector<std::string> data_sets;
  for (const auto& name : list_dir(test_dir))
    if (name.rfind("test_data_set_", 0) == 0 && is_dir(test_dir + "/" + name)) data_sets.push_back(name);
  if (data_sets.empty()) throw normrt::Error(ErrorCode::kInvalidArgument, "the test has no test_data_set_* folder");

  normrt::Graph imported = normrt::import_onnx_bytes(model_bytes, test_dir, test_name);
  std::string baked_note;

  for (const auto& set : data_sets) {
    const std::string set_dir = test_dir + "/" + set;
    const std::string where = data_sets.size() > 1 ? set + ": " : "";
    std::vector<std::string> input_files = numbered_files(set_dir, "input_");
    std::vector<std::string> output_files = numbered_files(set_dir, "output_");
    uint64_t total = 0;
    for (const auto& path : input_files) {
      uint64_t size = 0;
      file_size(path, &size);
      total += size;
    }
    if (total > options.max_input_mb << 20)
      throw Unsupported(where + "inputs of " + std::to_string(total >> 20) + " MB exceed the runner's limit of " +
                        std::to_string(options.max_input_mb) + " MB (--max-input-mb)");
    if (static_cast<int>(input_files.size()) > graph.input_size())
      throw normrt::Error(ErrorCode::kInvalidArgument, where + std::to_string(input_files.size()) +
                                                           " input files for a model with " +
                                                           std::to_string(graph.input_size()) + " inputs");

    // input_<i>.pb feeds the model's i-th declared input, as onnx's backend runner does.
    std::map<std::string, Tensor> inputs;
    std::map<std::string, std::string> input_bytes;
    normrt::Profile profile;
    for (size_t i = 0; i < input_files.size(); ++i) {
      const std::string& name = graph.input(static_cast<int>(i)).name();
      input_bytes[name] = normrt::read_file(input_files[i], kMaxModelBytes);
      Tensor t = normrt::import_onnx_tensor(input_bytes[name], input_files[i]);
      profile.inputs[name] = normrt::ShapeRange{t.dims(), t.dims(), t.dims()};
      inputs[name] = t;
    }
    normrt::BuildOptions build;
    build.device = options.device;
    if (!profile.inputs.empty()) build.profiles.push_back(profile);
    build.source_name = test_name;
    std::shared_ptr<normrt::Engine> engine;
    try {
      engine = normrt::build_engine(imported, build);
    } catch (const normrt::Error& e) {
      const bool data_dependent = std::string(e.what()).find("has no concrete shape") != std::string::npos;
      if (!options.bake_shape_inputs || !data_dependent) throw;
      // Diagnostic only: the output shape depends on an input's value (Slice's starts, Reshape's shape), which
      // a normrt engine must know at build time. Make every input but the first (the data) an initializer, and
      // scalars too (Range's start, limit and delta), and retry; then every input (ConstantOfShape's shape).
      for (int level = 0; !engine; ++level) {
        onnx::ModelProto baked;
        if (!baked.ParseFromString(model_bytes)) throw;
        std::map<std::string, Tensor> remaining = inputs;
        normrt::BuildOptions retry = build;
        for (size_t i = 0; i < input_files.size(); ++i) {
          const std::string& name = graph.input(static_cast<int>(i)).name();
          if (level == 0 && i == 0 && inputs.at(name).rank() > 0) continue;
          onnx::TensorProto* init = baked.mutable_graph()->add_initializer();
          if (!init->ParseFromString(input_bytes[name])) throw;
          init->set_name(name);
          retry.profiles.front().inputs.erase(name);
          remaining.erase(name);
        }
        if (retry.profiles.front().inputs.empty()) retry.profiles.clear();
        baked_note = " [shape inputs baked]";
        try {
          engine = normrt::build_engine(normrt::import_onnx_bytes(baked.SerializeAsString(), test_dir, test_name), retry);
          inputs = remaining;
        } catch (const normrt::Error& again) {
          if (level > 0 || std::string(again.what()).find("has no concrete shape") == std::string::npos) throw;
        }
      }
    }
    normrt::ExecutionContext context(engine);
    std::vector<std::pair<std::string, Tensor>> results = context.run(inputs);

    if (results.size() != output_files.size()) {
      outcome.status = "fail";
      outcome.detail = where + "normrt returned " + std::to_string(results.size()) + " outputs, expected " +
                       std::to_string(output_files.size()) + opset_note + baked_note;
      return outcome;
    }
    for (size_t i = 0; i < output_files.size(); ++i) {
      Tensor expected = normrt::import_onnx_tensor(normrt::read_file(output_files[i], kMaxModelBytes), output_files[i]);
      std::string difference = compare(results[i].second, expected, rtol, atol);
      if (!difference.empty()) {
        outcome.status = "fail";
        outcome.detail = where + "output " + std::to_string(i) + " '" + results[i].first + "': " + difference + opset_note +
                         baked_note;
        return outcome;
      }
    }
  }
  outcome.status = "pass";
  outcome.detail = opset_note + baked_note;
  if (!outcome.detail.empty()) outcome.detail.erase(0, 1);
  return outcome;
}

Outcome run_test_guarded(const std::string& test_dir, const std::string& test_name, const Options& options) {
  Outcome outcome;
  // The op is known only after the model parsed; keep it across the exception.
  try {
    onnx::ModelProto model;
    std::string bytes = normrt::read_file(test_dir + "/model.onnx", kMaxModelBytes);
    outcome.op = model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ? op_of(model.graph())
                                                                                     : "(unreadable model)";
  } catch (...) {
    outcome.op = "(unreadable model)";
  }
  try {
    return run_test(test_dir, test_name, options);
  } catch (const Unsupported& e) {
    outcome.status = "unsupported";
    outcome.detail = e.what();
  } catch (const normrt::Error& e) {
    outcome.status = e.code() == ErrorCode::kUnsupportedOp ? "unsupported" : "error";
    outcome.detail = e.code() == ErrorCode::kUnsupportedOp
                         ? std::string(e.what())
                         : std::string(normrt::error_code_name(e.code())) + ": " + e.what();
  } catch (const std::bad_alloc&) {
    outcome.status = "error";
    outcome.detail = "out of memory (std::bad_alloc escaped normrt; the runner's limit is --memory-limit-mb)";
  } catch (const std::exception& e) {
    outcome.status = "error";
    outcome.detail = std::string("a std::exception that is no normrt::Error escaped: ") + e.what();
  } catch (...) {
    outcome.status = "error";
    outcome.detail = "an unknown exception escaped";
  }
  return outcome;
}

// ---------------------------------------------------------------------------------------------------------
// The parent: a pool of forked children, each writing one "status\top\tdetail\n" line to its pipe.

struct Child {
  pid_t pid = -1;
  int fd = -1;
  size_t test = 0;
  std::chrono::steady_clock::time_point start;
  std::string output;
};

[[noreturn]] void child_main(int fd, const std::string& test_dir, const std::string& test_name, const Options& options) {
  if (options.memory_limit_mb) {
    // On top of the address space the process has mapped already: a sanitizer build reserves terabytes of
    // shadow memory up front, which an absolute limit would make fail before any test ran.
    uint64_t used_kib = 0;
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
      if (line.rfind("VmSize:", 0) == 0) used_kib = std::stoull(line.substr(7));
    struct rlimit limit;
    limit.rlim_cur = limit.rlim_max = static_cast<rlim_t>(used_kib * 1024 + (options.memory_limit_mb << 20));
    ::setrlimit(RLIMIT_AS, &limit);
  }
  // NORMRT_CONFORMANCE_INJECT=crash:<test> or hang:<test> checks the parent's guards on a real run.
  if (const char* inject = std::getenv("NORMRT_CONFORMANCE_INJECT")) {
    const std::string what = inject;
    if (what == "crash:" + test_name) ::raise(SIGSEGV);
    if (what == "hang:" + test_name)
      for (;;) ::pause();
  }
  Outcome outcome = run_test_guarded(test_dir, test_name, options);
  std::string line = outcome.status + "\t" + one_line(outcome.op) + "\t" + one_line(outcome.detail) + "\n";
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::_exit(0);  // no static destructors, no thread-pool teardown: the parent has what it needs
}

Outcome parse_child_output(const std::string& output, int wait_status, bool timed_out, int timeout_s) {
  Outcome outcome;
  if (timed_out) {
    outcome.status = "error";
    outcome.detail = "timed out after " + std::to_string(timeout_s) + " s (--timeout)";
    return outcome;
  }
  size_t tab1 = output.find('\t'), tab2 = tab1 == std::string::npos ? tab1 : output.find('\t', tab1 + 1);
  if (!output.empty() && output.back() == '\n' && tab2 != std::string::npos) {
    outcome.status = output.substr(0, tab1);
    outcome.op = output.substr(tab1 + 1, tab2 - tab1 - 1);
    outcome.detail = output.substr(tab2 + 1, output.size() - tab2 - 2);
    return outcome;
  }
  outcome.status = "error";
  if (WIFSIGNALED(wait_status))
    outcome.detail = std::string("crashed: signal ") + std::to_string(WTERMSIG(wait_status)) + " (" +
                     strsignal(WTERMSIG(wait_status)) + ")";
  else
    outcome.detail = "the test process exited with status " + std::to_string(WEXITSTATUS(wait_status)) +
                     " without reporting";
  return outcome;
}

std::vector<Outcome> run_all(const std::vector<std::string>& tests, const Options& options) {
  std::vector<Outcome> outcomes(tests.size());
  std::vector<Child> running;
  size_t next = 0;
  std::fflush(stdout);
  std::fflush(stderr);
  while (next < tests.size() || !running.empty()) {
    while (next < tests.size() && static_cast<int>(running.size()) < options.jobs) {
      int fds[2];
      if (::pipe(fds) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
      pid_t pid = ::fork();
      if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
      if (pid == 0) {
        ::close(fds[0]);
        child_main(fds[1], options.data_dir + "/" + tests[next], tests[next], options);
      }
      ::close(fds[1]);
      ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
      Child child;
      child.pid = pid;
      child.fd = fds[0];
      child.test = next++;
      child.start = std::chrono::steady_clock::now();
      running.push_back(child);
    }
    std::vector<pollfd> polls;
    for (const auto& child : running) polls.push_back(pollfd{child.fd, POLLIN, 0});
    ::poll(polls.data(), polls.size(), 200);
    for (size_t k = running.size(); k-- > 0;) {
      Child& child = running[k];
      bool finished = false, timed_out = false;
      char buffer[4096];
      for (;;) {
        ssize_t n = ::read(child.fd, buffer, sizeof buffer);
        if (n > 0) {
          child.output.append(buffer, static_cast<size_t>(n));
          continue;
        }
        if (n == 0) finished = true;
        if (n < 0 && errno == EINTR) continue;
        break;
      }
      if (!finished && std::chrono::steady_clock::now() - child.start > std::chrono::seconds(options.timeout_s)) {
        ::kill(child.pid, SIGKILL);
        finished = timed_out = true;
      }
      if (!finished) continue;
      int status = 0;
      while (::waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
      }
      ::close(child.fd);
      outcomes[child.test] = parse_child_output(child.output, status, timed_out, options.timeout_s);
      if (options.verbose)
        std::printf("%-11s %s %s\n", outcomes[child.test].status.c_str(), tests[child.test].c_str(),
                    outcomes[child.test].detail.c_str());
      running.erase(running.begin() + static_cast<long>(k));
    }
  }
  return outcomes;
}

// ---------------------------------------------------------------------------------------------------------
// Reporting.

// test_softmax_axis_0_expanded_ver18 -> test_softmax_axis_0: the function-expanded twin of a single-op test.
std::string expanded_base(const std::string& test) {
  static const std::regex pattern("^(.*)_expanded(_ver[0-9]+)?$");
  std::smatch match;
  if (std::regex_match(test, match, pattern)) return match[1];
  return "";
}

std::vector<std::string> read_list(const std::string& path, bool* ok) {
  std::vector<std::string> names;
  std::ifstream in(path);
  *ok = static_cast<bool>(in);
  std::string line;
  while (std::getline(in, line)) {
    line.erase(0, line.find_first_not_of(" \t"));
    line.erase(line.find_last_not_of(" \t\r") + 1);
    if (!line.empty() && line[0] != '#') names.push_back(line);
  }
  return names;
}

const char* kStatuses[] = {"pass", "fail", "unsupported", "error"};

int report(const std::vector<std::string>& tests, std::vector<Outcome>& outcomes, const Options& options) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < tests.size(); ++i) index[tests[i]] = i;
  // Multi-node graphs are the expanded (function body) twins; they count under "<op> (expanded)".
  for (size_t i = 0; i < tests.size(); ++i) {
    if (!outcomes[i].op.empty()) continue;
    std::string base = expanded_base(tests[i]);
    auto it = index.find(base);
    outcomes[i].op = it != index.end() && !outcomes[it->second].op.empty() ? outcomes[it->second].op + " (expanded)"
                                                                           : "(multi-node)";
  }

  {
    std::ofstream results(options.results_path);
    for (size_t i = 0; i < tests.size(); ++i)
      results << outcomes[i].status << " " << tests[i] << (outcomes[i].detail.empty() ? "" : " ")
              << outcomes[i].detail << "\n";
    if (!results) std::fprintf(stderr, "could not write %s\n", options.results_path.c_str());
  }

  // Per op: counts per status, and whether normrt has a schema for it.
  struct OpCounts {
    std::map<std::string, int> counts;
    int opset_unsupported = 0;  // of the unsupported: the model's opset is outside normrt's range
    bool implemented = false;
    std::vector<size_t> problems;  // fail and error tests
  };
  std::map<std::string, OpCounts> ops;
  std::map<std::string, int> totals;
  for (size_t i = 0; i < tests.size(); ++i) {
    const Outcome& o = outcomes[i];
    OpCounts& counts = ops[o.op];
    counts.counts[o.status]++;
    if (o.status == "unsupported" && o.detail.rfind("opset ", 0) == 0) counts.opset_unsupported++;
    totals[o.status]++;
    const bool expanded = o.op.size() > 11 && o.op.compare(o.op.size() - 11, 11, " (expanded)") == 0;
    counts.implemented = !expanded && o.op != "(multi-node)" && op_implemented(o.op);
    if (o.status == "fail" || o.status == "error") counts.problems.push_back(i);
  }
  {
    std::ofstream summary(options.summary_path);
    char line[256];
    std::snprintf(line, sizeof line, "%-44s %-11s %5s %5s %11s %5s %16s\n", "op", "implemented", "pass", "fail",
                  "unsupported", "error", "(opset outside)");
    summary << line;
    for (const auto& [op, c] : ops) {
      // C++17 lambdas cannot capture a structured binding: capture its member by name.
      auto count = [&counts = c.counts](const char* s) {
        auto it = counts.find(s);
        return it == counts.end() ? 0 : it->second;
      };
      std::snprintf(line, sizeof line, "%-44s %-11s %5d %5d %11d %5d %16d\n", op.c_str(),
                    c.implemented ? "yes" : "no", count("pass"), count("fail"), count("unsupported"), count("error"),
                    c.opset_unsupported);
      summary << line;
    }
  }

  std::printf("ONNX backend node tests in %s: %zu run\n", options.data_dir.c_str(), tests.size());
  for (const char* s : kStatuses) std::printf("  %-11s %5d\n", s, totals[s]);
  std::printf("results: %s\nper-op summary: %s\n", options.results_path.c_str(), options.summary_path.c_str());

  // The ops normrt claims to support, and every one of their tests that does not pass for a reason other
  // than an opset or type normrt does not have.
  std::printf("\nops normrt implements: pass fail unsupported (of which for the opset) error\n");
  for (const auto& [op, c] : ops) {
    if (!c.implemented) continue;
    auto count = [&counts = c.counts](const char* s) {
      auto it = counts.find(s);
      return it == counts.end() ? 0 : it->second;
    };
    std::printf("  %-32s %4d %4d %4d (%d) %4d\n", op.c_str(), count("pass"), count("fail"), count("unsupported"),
                c.opset_unsupported, count("error"));
  }
  bool any_problem = false;
  for (const auto& [op, c] : ops) {
    if (!c.implemented || c.problems.empty()) continue;
    if (!any_problem) std::printf("\nfailures and errors in implemented ops:\n");
    any_problem = true;
    std::printf("  %s:\n", op.c_str());
    for (size_t i : c.problems)
      std::printf("    %s %s %s\n", outcomes[i].status.c_str(), tests[i].c_str(), outcomes[i].detail.c_str());
  }

  int exit_code = 0;
  if (!options.expected_path.empty()) {
    bool ok = false;
    std::vector<std::string> expected = read_list(options.expected_path, &ok);
    if (!ok) {
      std::printf("\ncannot read the expected list %s\n", options.expected_path.c_str());
      return 2;
    }
    std::set<std::string> expected_set(expected.begin(), expected.end());
    std::vector<std::string> regressions, gained;
    for (const auto& name : expected) {
      auto it = index.find(name);
      if (it == index.end()) {
        // A test filtered out is not a regression; a test missing from the data is.
        if (options.filters.empty()) regressions.push_back("missing " + name + " (not in the test data)");
        continue;
      }
      const Outcome& o = outcomes[it->second];
      if (o.status != "pass") regressions.push_back(o.status + " " + name + " " + o.detail);
    }
    for (size_t i = 0; i < tests.size(); ++i)
      if (outcomes[i].status == "pass" && !expected_set.count(tests[i])) gained.push_back(tests[i]);
    if (!gained.empty()) {
      std::printf("\n%zu tests pass that are not in %s:\n", gained.size(), options.expected_path.c_str());
      for (const auto& name : gained) std::printf("  %s\n", name.c_str());
      std::printf("add them (support only grows): rerun with --write-expected %s\n", options.expected_path.c_str());
    }
    if (!regressions.empty()) {
      std::printf("\nREGRESSION: %zu tests in %s no longer pass:\n", regressions.size(), options.expected_path.c_str());
      for (const auto& line : regressions) std::printf("  %s\n", line.c_str());
      exit_code = 1;
    } else {
      std::printf("\nno regression: all %zu tests in %s pass\n", expected.size(), options.expected_path.c_str());
    }
  }

  if (!options.write_expected_path.empty()) {
    if (!options.filters.empty() || options.clamp_opset || options.bake_shape_inputs) {
      std::printf("--write-expected needs a full run without a test filter or diagnostic option; not written\n");
      return 2;
    }
    std::ofstream out(options.write_expected_path);
    int n = 0;
    for (size_t i = 0; i < tests.size(); ++i)  // tests are sorted
      if (outcomes[i].status == "pass") {
        out << tests[i] << "\n";
        ++n;
      }
    if (!out) {
      std::printf("could not write %s\n", options.write_expected_path.c_str());
      return 2;
    }
    std::printf("wrote %d passing tests to %s\n", n, options.write_expected_path.c_str());
  }
  return exit_code;
}

const char* kUsage =
    "usage: normrt_conformance [options] [NAME_SUBSTRING...]\n"
    "Runs the ONNX backend node tests through normrt (CPU, or --device) and reports pass/fail/unsupported/error.\n"
    "  --data DIR             the node tests folder (default build/conformance/node; scripts/fetch_conformance_data.sh)\n"
    "  --results FILE         one line per test: <status> <test> <detail> (default DIR/../results.txt)\n"
    "  --summary FILE         per-op counts (default DIR/../summary.txt)\n"
    "  --expected FILE        fail (exit 1) when a test listed there no longer passes; list new passes\n"
    "  --write-expected FILE  write the sorted list of passing tests (a full run only)\n"
    "  --jobs N               tests run in parallel (default 1)\n"
    "  --timeout S            seconds per test before it is killed and counted as an error (default 60)\n"
    "  --max-input-mb N       tests with larger inputs are skipped as unsupported (default 100)\n"
    "  --memory-limit-mb N    address space a test process may map beyond what it has at start, 0 for no limit\n"
    "                         (default 8192)\n"
    "  --device D             build the engines for device D (default cpu; cuda: on the GPU, with\n"
    "                         --memory-limit-mb 0, since the CUDA driver maps more address space than any limit)\n"
    "  --clamp-opset          diagnostic: run models of opset > 21 as opset 21 (never for the expected list)\n"
    "  --bake-shape-inputs    diagnostic: when an output shape depends on an input's value, make every input but\n"
    "                         the first (and scalars) initializers and build again (never for the expected list)\n"
    "  --verbose              print every result as it arrives\n"
    "NAME_SUBSTRING           run only tests whose name contains one of these\n";

bool parse_args(int argc, char** argv, Options* options) {
  auto number = [](const char* text, uint64_t* out) {
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(text, &end, 10);
    if (errno || !end || *end || !*text || text[0] == '-') return false;
    *out = v;
    return true;
  };
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    uint64_t n = 0;
    if (arg == "--help" || arg == "-h") {
      std::printf("%s", kUsage);
      std::exit(0);
    } else if (arg == "--data" || arg == "--results" || arg == "--summary" || arg == "--expected" ||
               arg == "--write-expected") {
      const char* v = value();
      if (!v) return false;
      if (arg == "--data") options->data_dir = v;
      else if (arg == "--results") options->results_path = v;
      else if (arg == "--summary") options->summary_path = v;
      else if (arg == "--expected") options->expected_path = v;
      else options->write_expected_path = v;
    } else if (arg == "--jobs" || arg == "--timeout" || arg == "--max-input-mb" || arg == "--memory-limit-mb") {
      const char* v = value();
      if (!v || !number(v, &n)) return false;
      if (arg == "--jobs") options->jobs = static_cast<int>(std::clamp<uint64_t>(n, 1, 256));
      else if (arg == "--timeout") options->timeout_s = static_cast<int>(std::clamp<uint64_t>(n, 1, 86400));
      else if (arg == "--max-input-mb") options->max_input_mb = std::min<uint64_t>(n, uint64_t{1} << 20);
      else options->memory_limit_mb = std::min<uint64_t>(n, uint64_t{1} << 30);
    } else if (arg == "--device") {
      const char* v = value();
      if (!v) return false;
      options->device = v;
    } else if (arg == "--clamp-opset") {
      options->clamp_opset = true;
    } else if (arg == "--bake-shape-inputs") {
      options->bake_shape_inputs = true;
    } else if (arg == "--verbose") {
      options->verbose = true;
    } else if (!arg.empty() && arg[0] == '-') {
      return false;
    } else {
      options->filters.push_back(arg);
    }
  }
  while (options->data_dir.size() > 1 && options->data_dir.back() == '/') options->data_dir.pop_back();
  std::string parent = options->data_dir.find('/') == std::string::npos
                           ? "."
                           : options->data_dir.substr(0, options->data_dir.rfind('/'));
  if (options->results_path.empty()) options->results_path = parent + "/results.txt";
  if (options->summary_path.empty()) options->summary_path = parent + "/summary.txt";
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!parse_args(argc, argv, &options)) {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }
  if (!is_dir(options.data_dir)) {
    std::fprintf(stderr, "no test data at %s: run scripts/fetch_conformance_data.sh first\n", options.data_dir.c_str());
    return 2;
  }
  std::vector<std::string> tests;
  for (const auto& name : list_dir(options.data_dir)) {
    uint64_t size;
    if (!is_dir(options.data_dir + "/" + name) || !file_size(options.data_dir + "/" + name + "/model.onnx", &size))
      continue;
    bool selected = options.filters.empty();
    for (const auto& f : options.filters) selected = selected || name.find(f) != std::string::npos;
    if (selected) tests.push_back(name);
  }
  if (tests.empty()) {
    std::fprintf(stderr, "no test matched in %s\n", options.data_dir.c_str());
    return 2;
  }
  try {
    std::vector<Outcome> outcomes = run_all(tests, options);
    return report(tests, outcomes, options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "normrt_conformance: %s\n", e.what());
    return 2;
  }
}
