// What each fuzz target does with one input, shared by the libFuzzer entry points (fuzz/*_fuzzer.cpp) and the
// regression test that replays fuzz/regressions/ in the normal test suite (tests/fuzz/fuzz_regressions_test.cpp).
//
// Every function accepts any bytes. A normrt::Error is the expected way to refuse them and is swallowed here;
// anything else (another exception, a sanitizer report, a crash, a hang) is a bug and escapes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/timing_cache.h"
#include "ops/evaluate.h"
#include "onnx/importer.h"

namespace normrt::fuzz {

// Runs are skipped when any value of the graph would exceed this, or when the estimated work does: the fuzzer
// looks for wrong memory accesses, not for models that legitimately ask for gigabytes or minutes (normrt
// allocates up to 64 GiB when told to, and the reference kernels are simple loops).
constexpr int64_t kMaxRunBytes = int64_t{1} << 20;
constexpr double kMaxRunWork = double(int64_t{1} << 28);  // multiply-adds, about a second under ASan
// Models with more nodes than this are imported and built but not run (each node costs a kernel call).
constexpr size_t kMaxRunNodes = 256;

// CRC-32 (the zlib polynomial), so that the forged-engine target can reseal what the fuzzer mutated.
inline uint32_t crc32_of(const char* data, size_t size) {
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < size; ++i) {
    crc ^= static_cast<unsigned char>(data[i]);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

// Deterministic, finite, non-trivial values: index-dependent, small integers for integer types.
inline Tensor fuzz_input(DataType dtype, const Dims& dims) {
  Tensor t(dtype, dims);
  unsigned char* p = static_cast<unsigned char*>(t.raw());
  switch (dtype) {
    case DataType::kFloat32:
      for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i % 7) * 0.25f - 0.5f;
      break;
    case DataType::kInt64:
      for (int64_t i = 0; i < t.numel(); ++i) t.data<int64_t>()[i] = i % 3;
      break;
    case DataType::kInt32:
      for (int64_t i = 0; i < t.numel(); ++i) t.data<int32_t>()[i] = static_cast<int32_t>(i % 3);
      break;
    default:
      for (size_t i = 0; i < t.nbytes(); ++i) p[i] = static_cast<unsigned char>(i % 2);  // bool-safe, small
      break;
  }
  return t;
}

inline double elements(const TypeShape& ts) { return static_cast<double>(element_count(ts.shape.concrete())); }

// Estimated multiply-adds of running `node`: every input and output element once, and for the ops whose work per
// output element grows with an input, that factor (the reduction length of Conv, ConvTranspose, MatMul, Gemm and
// ai.normrt's NhwcConv, MatMulBias, PermutedMatMul and MatMulGroup, the keys of Attention, the window of pooling).
inline double node_work(const Node& node, const GraphTypes& types) {
  auto type_of = [&](size_t i, bool output) -> const TypeShape* {
    const auto& names = output ? node.outputs : node.inputs;
    if (i >= names.size() || names[i].empty()) return nullptr;
    auto it = types.types.find(names[i]);
    return it == types.types.end() ? nullptr : &it->second;
  };
  double in = 0, out = 0;
  for (size_t i = 0; i < node.inputs.size(); ++i)
    if (const TypeShape* t = type_of(i, false)) in += elements(*t);
  for (size_t i = 0; i < node.outputs.size(); ++i)
    if (const TypeShape* t = type_of(i, true)) out += elements(*t);
  double factor = 1;
  const TypeShape* second = type_of(1, false);
  const TypeShape* first = type_of(0, false);
  if ((node.op_type == "Conv" || node.op_type == "ConvTranspose" || node.op_type == "NhwcConv") && second &&
      second->shape.rank() > 0)
    factor = elements(*second) / std::max<double>(1, static_cast<double>(second->shape.dims[0].value));
  else if ((node.op_type == "MatMul" || node.op_type == "Gemm" || node.op_type == "MatMulBias" ||
            node.op_type == "PermutedMatMul" || node.op_type == "MatMulGroup") &&
           first)
    for (const Dim& d : first->shape.dims) factor = std::max(factor, static_cast<double>(d.value));
  else if (node.op_type == "Attention" && first && second && first->shape.rank() == 4 &&
           second->shape.rank() == 4) {
    // Per output element [n, i, h, c]: Lk scores of D products each (shared by the row's Dv elements) and Lk
    // products with V.
    const TypeShape* y = type_of(0, true);
    const double lk = static_cast<double>(second->shape.dims[1].value);
    const double d = static_cast<double>(first->shape.dims[3].value);
    const double dv = y && y->shape.rank() == 4 ? static_cast<double>(y->shape.dims[3].value) : 1;
    factor = std::max(1.0, lk * (1 + d / std::max(1.0, dv)));
  } else if (node.op_type == "MaxPool" || node.op_type == "AveragePool")
    try {
      for (int64_t k : node.attr_ints("kernel_shape")) factor *= static_cast<double>(std::max<int64_t>(1, k));
    } catch (const Error&) {
    }
  else if (node.op_type == "Resize" && first && first->shape.has_rank) {
    // Taps per output element: 4 (cubic) or 2 (linear) along every axis, each a gather with its own weight and
    // index arithmetic in double, about 16 multiply-adds. (A 167-byte cubic Resize over all four axes of
    // [1, 9, 4, 1] -> [36, 256, 3, 7] took 36 s under ASan when counted as one per element; antialiasing, which
    // widens the taps further when shrinking, is not counted.)
    std::string mode = "cubic";  // the most when the attribute is malformed (the run then fails anyway)
    try {
      mode = node.attr_string("mode", "nearest");
    } catch (const Error&) {
    }
    const double taps = mode == "cubic" ? 4 : mode == "linear" ? 2 : 1;
    factor = 16 * std::pow(taps, static_cast<double>(first->shape.rank()));
  }
  return in + out * factor;
}

// Whether running with these input shapes stays small: every value under kMaxRunBytes, the total estimated work
// under kMaxRunWork.
inline bool small_enough_to_run(const Graph& graph, const std::map<std::string, Dims>& input_dims) {
  if (graph.nodes.size() > kMaxRunNodes) return false;
  std::map<std::string, Shape> shapes;
  for (const auto& [name, dims] : input_dims) {
    const ValueInfo* in = graph.find_input(name);
    if (!in || dtype_size(in->dtype) == 0) return false;
    int64_t count = element_count(dims);
    if (count > kMaxRunBytes / static_cast<int64_t>(dtype_size(in->dtype))) return false;
    shapes[name] = Shape::from_dims(dims);
  }
  GraphTypes types = infer_graph(graph, shapes);
  for (const auto& [name, ts] : types.types) {
    if (!ts.shape.fully_known() || dtype_size(ts.dtype) == 0) return false;
    int64_t count = element_count(ts.shape.concrete());
    if (count > kMaxRunBytes / static_cast<int64_t>(dtype_size(ts.dtype))) return false;
  }
  double work = 0;
  for (const Node& node : graph.nodes) work += node_work(node, types);
  return work <= kMaxRunWork;
}

// Runs the engine once at each profile's min and max shapes when they are small enough.
inline void run_engine(const std::shared_ptr<Engine>& engine) {
  ExecutionContext context(engine);
  for (const Profile& profile : engine->profiles) {
    for (Dims ShapeRange::*corner : {&ShapeRange::min, &ShapeRange::max}) {
      std::map<std::string, Dims> dims;
      for (const auto& [name, range] : profile.inputs) dims[name] = range.*corner;
      if (!small_enough_to_run(engine->graph, dims)) continue;
      std::map<std::string, Tensor> inputs;
      for (const auto& in : engine->graph.inputs) {
        auto it = dims.find(in.name);
        if (it == dims.end()) return;  // deserialize_engine guarantees this; a fuzzer need not
        inputs[in.name] = fuzz_input(in.dtype, it->second);
      }
      context.run(inputs);
    }
  }
}

// ONNX importer: import, then build with one static profile (unknown dims pinned to 1 or 2), then run. Inputs
// of odd length build channels-last (`--layout nhwc`), so the layout pass sees hostile graphs too.
inline void fuzz_onnx_model(const uint8_t* data, size_t size) {
  try {
    Graph graph = import_onnx_bytes(std::string(reinterpret_cast<const char*>(data), size), "", "fuzzed model");
    BuildOptions options;
    options.layout = size % 2 ? "nhwc" : "nchw";
    Profile profile;
    for (const auto& in : graph.inputs) {
      Dims dims;
      for (const Dim& d : in.shape.dims) dims.push_back(d.known() ? d.value : (d.symbol.empty() ? 1 : 2));
      profile.inputs[in.name] = ShapeRange{dims, dims, dims};
    }
    options.profiles.push_back(profile);
    std::shared_ptr<Engine> engine = build_engine(std::move(graph), options);
    // Through the engine file and back: what the builder made must load, so a refusal here is a bug.
    std::shared_ptr<Engine> loaded;
    try {
      loaded = deserialize_engine(serialize_engine(*engine), "rebuilt engine");
    } catch (const Error& e) {
      throw std::logic_error(std::string("a built engine does not load: ") + e.what());
    }
    run_engine(loaded);
  } catch (const Error&) {
  }
}

// Engine loader on the bytes as given: nearly every mutation fails the checksum, which is the point (the checks
// before parsing are what this target exercises).
inline void fuzz_engine_file(const uint8_t* data, size_t size) {
  try {
    auto engine = deserialize_engine(std::string(reinterpret_cast<const char*>(data), size), "fuzzed engine");
    run_engine(engine);
  } catch (const Error&) {
  }
}

// Engine loader behind the checksum: the length field and the CRC are rewritten to match the bytes first, so
// that every mutation reaches the section parser and the consistency checks after it.
inline void fuzz_engine_resealed(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  if (bytes.size() >= 28) {
    uint64_t total = bytes.size();
    std::memcpy(&bytes[16], &total, 8);
    uint32_t crc = crc32_of(bytes.data(), bytes.size() - 4);
    std::memcpy(&bytes[bytes.size() - 4], &crc, 4);
  }
  try {
    auto engine = deserialize_engine(bytes, "resealed engine");
    run_engine(engine);
  } catch (const Error&) {
  }
}

// Timing cache parser: whatever it accepts, it writes back in a form it reads to the same entries (a rebuild
// must never turn a cache it wrote into an error, or change a choice).
inline void fuzz_timing_cache(const uint8_t* data, size_t size) {
  TimingCache cache;
  try {
    cache = TimingCache::parse(std::string(reinterpret_cast<const char*>(data), size), "fuzzed timing cache");
  } catch (const Error&) {
    return;
  }
  const std::string written = cache.serialize();
  if (TimingCache::parse(written, "rewritten timing cache").serialize() != written)
    throw std::logic_error("a timing cache read back differs from what was written");
}

}  // namespace normrt::fuzz
