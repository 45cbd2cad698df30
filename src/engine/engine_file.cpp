// The engine file format (version 3; version 2, whose weights are not aligned, and version 1, which also lacks the
// DEVICE section and is read as a cpu engine, are still read). All integers little-endian.
//
//   offset 0   magic "NRTENGIN"                       8 bytes
//          8   format version (u32), section count (u32)
//         16   total file length (u64)
//         24   section table: count x {tag u32, reserved u32, offset u64, length u64}
//        ...   sections, contiguous, in table order, covering everything up to the checksum
//   end - 4    CRC-32 (zlib) of every byte before it
//
// Loading checks magic, version, length and checksum before it parses anything, then parses each section
// with a length-tracked reader that must consume the section exactly. An engine never names a library to
// load: plugins come only from the user.
//
// Weights (version 3): each tensor's bytes start at a file offset that is a multiple of 64, after a pad byte
// count (u8, below 64) and that many zero bytes. load_engine reads the file into a 64-byte-aligned buffer and
// the weights are views into it: no second copy of the largest part of the file (a 512 MB engine loaded in
// 0.83 s before, on the 2-core build machine, where half the time was allocating and copying the tensors).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <string_view>
#include <vector>

#include "engine/byte_stream.h"
#include "engine/device_backend.h"
#include "engine/engine.h"
#include "onnx/safe_file.h"
#include "plugin/plugin_instance.h"

namespace normrt {

namespace {

constexpr char kMagic[8] = {'N', 'R', 'T', 'E', 'N', 'G', 'I', 'N'};
constexpr uint32_t kFormatVersion = 3;
constexpr uint32_t kFirstAlignedWeightsVersion = 3;
constexpr uint64_t kWeightAlignment = 64;  // the Tensor allocator's alignment
constexpr uint32_t kOldestReadableVersion = 1;
constexpr uint64_t kMaxEngineBytes = uint64_t{1} << 36;
// The format's bounds. The reader refuses anything past them and the writer refuses to write it, so that an
// engine normrt saves always loads.
constexpr uint64_t kMaxRank = 64;
constexpr uint64_t kMaxItems = uint64_t{1} << 24;         // values, nodes, weights, kernels, attribute lists
constexpr uint64_t kMaxNodeArity = uint64_t{1} << 16;     // inputs, outputs and attributes of a node; profile inputs
constexpr uint64_t kMaxProfiles = 4096;
constexpr uint64_t kMaxOpsets = 1024;
constexpr uint64_t kMaxNameBytes = uint64_t{1} << 16;     // value, node and weight names
constexpr uint64_t kMaxKeyBytes = 1024;                   // op types, domains, attribute names, kernel names
constexpr uint64_t kMaxSymbolBytes = 4096;                // dim names, the source model's path
constexpr uint64_t kMaxTagBytes = 256;                    // normrt version, device
constexpr uint64_t kMaxTextBytes = uint64_t{1} << 20;     // the graph's name, string attributes
constexpr uint64_t kMaxConfigBytes = 4096;                // a device kernel's tuned configuration

enum SectionTag : uint32_t {
  kMeta = 1, kProfiles = 2, kGraph = 3, kWeights = 4, kKernels = 5, kPlugins = 6, kDevice = 7
};
constexpr uint32_t kSectionOrder[] = {kMeta, kProfiles, kGraph, kWeights, kKernels, kPlugins, kDevice};
constexpr size_t kSectionCount = sizeof(kSectionOrder) / sizeof(kSectionOrder[0]);
constexpr size_t kVersion1SectionCount = 6;  // no DEVICE section

uLong crc_of(const char* data, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (size > 0) {  // zlib takes uInt lengths
    uInt chunk = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), chunk);
    data += chunk;
    size -= chunk;
  }
  return crc;
}

// CRC-32 of a whole engine; large ones in chunks (for_each_chunk) joined with crc32_combine (the same value).
uint32_t checksum(const char* data, size_t size) {
  std::vector<uLong> crcs(chunk_count(size));
  std::vector<uint64_t> lengths(crcs.size());
  for_each_chunk(size, [&](size_t index, uint64_t offset, uint64_t length) {
    crcs[index] = crc_of(data + offset, length);
    lengths[index] = length;
  });
  uLong crc = crcs[0];
  for (size_t i = 1; i < crcs.size(); ++i) crc = crc32_combine(crc, crcs[i], static_cast<z_off_t>(lengths[i]));
  return static_cast<uint32_t>(crc);
}

// ---- writing ----

Error unsavable(const std::string& message) {
  return Error(ErrorCode::kInvalidModel, "the engine cannot be saved: " + message);
}

// A string the reader accepts up to max_length bytes; `what` names it in the error.
void put_str(ByteWriter& w, const std::string& s, uint64_t max_length, const std::string& what) {
  if (s.size() > max_length)
    throw unsavable(what + " is " + std::to_string(s.size()) + " bytes long; the engine format allows at most " +
                    std::to_string(max_length));
  w.str(s);
}

void put_count(ByteWriter& w, uint64_t n, uint64_t limit, const std::string& what) {
  if (n > limit)
    throw unsavable("there are " + std::to_string(n) + " " + what + "; the engine format allows at most " +
                    std::to_string(limit));
  w.u64(n);
}

void put_rank(ByteWriter& w, uint64_t rank, const std::string& what) {
  if (rank > kMaxRank)
    throw unsavable(what + " has rank " + std::to_string(rank) + "; the engine format allows at most " +
                    std::to_string(kMaxRank));
  w.u64(rank);
}

void write_dims(ByteWriter& w, const Dims& d, const std::string& what) {
  put_rank(w, d.size(), what);
  for (int64_t v : d) w.i64(v);
}

void write_shape(ByteWriter& w, const Shape& s, const std::string& what) {
  w.u8(s.has_rank ? 1 : 0);
  put_rank(w, s.dims.size(), what);
  for (const Dim& d : s.dims) {
    w.i64(d.value);
    put_str(w, d.symbol, kMaxSymbolBytes, "a dim name of " + what);
  }
}

void write_value_info(ByteWriter& w, const ValueInfo& v) {
  put_str(w, v.name, kMaxNameBytes, "a value name");
  w.u32(static_cast<uint32_t>(v.dtype));
  write_shape(w, v.shape, "value '" + v.name + "'");
}

// A weight (version 3) gives the file offset its section starts at: its bytes are padded to a kWeightAlignment
// file offset (read_tensor's `padded`).
void write_tensor(ByteWriter& w, const Tensor& t, const std::string& what,
                  std::optional<uint64_t> section_offset = std::nullopt) {
  w.u32(static_cast<uint32_t>(t.dtype()));
  write_dims(w, t.dims(), what);
  w.u64(t.nbytes());
  if (section_offset) {
    const uint64_t at = *section_offset + w.bytes().size() + 1;
    const uint8_t pad = static_cast<uint8_t>((kWeightAlignment - at % kWeightAlignment) % kWeightAlignment);
    w.u8(pad);
    for (uint8_t i = 0; i < pad; ++i) w.u8(0);
  }
  w.raw(t.raw(), t.nbytes());
}

void write_attribute(ByteWriter& w, const Attribute& a, const std::string& what) {
  w.u32(static_cast<uint32_t>(a.type));
  switch (a.type) {
    case AttributeType::kFloat: w.f32(a.f); break;
    case AttributeType::kInt: w.i64(a.i); break;
    case AttributeType::kString: put_str(w, a.s, kMaxTextBytes, what); break;
    case AttributeType::kTensor: write_tensor(w, a.t, what); break;
    case AttributeType::kFloats:
      put_count(w, a.floats.size(), kMaxItems, "floats in " + what);
      for (float f : a.floats) w.f32(f);
      break;
    case AttributeType::kInts:
      put_count(w, a.ints.size(), kMaxItems, "ints in " + what);
      for (int64_t i : a.ints) w.i64(i);
      break;
    case AttributeType::kStrings:
      put_count(w, a.strings.size(), kMaxItems, "strings in " + what);
      for (const auto& s : a.strings) put_str(w, s, kMaxTextBytes, "a string in " + what);
      break;
    case AttributeType::kGraph: break;
  }
}

// One section's bytes; it will start at file offset `offset`.
std::string section_bytes(const Engine& e, uint32_t tag, uint64_t offset) {
  ByteWriter w;
  switch (tag) {
    case kMeta:
      put_str(w, e.normrt_version, kMaxTagBytes, "the normrt version");
      put_str(w, e.device, kMaxTagBytes, "the device name");
      put_str(w, e.source_name, kMaxSymbolBytes, "the source model's name");
      break;
    case kProfiles:
      put_count(w, e.profiles.size(), kMaxProfiles, "profiles");
      for (const Profile& p : e.profiles) {
        put_count(w, p.inputs.size(), kMaxNodeArity, "inputs of a profile");
        for (const auto& [name, r] : p.inputs) {
          put_str(w, name, kMaxNameBytes, "an input name");
          write_dims(w, r.min, "the min shape of input '" + name + "'");
          write_dims(w, r.opt, "the opt shape of input '" + name + "'");
          write_dims(w, r.max, "the max shape of input '" + name + "'");
        }
      }
      break;
    case kGraph: {
      const Graph& g = e.graph;
      put_str(w, g.name, kMaxTextBytes, "the graph name");
      put_count(w, g.opsets.size(), kMaxOpsets, "opset imports");
      for (const auto& [domain, version] : g.opsets) {
        put_str(w, domain, kMaxKeyBytes, "an opset domain");
        w.i64(version);
      }
      put_count(w, g.inputs.size(), kMaxItems, "graph inputs");
      for (const auto& v : g.inputs) write_value_info(w, v);
      put_count(w, g.outputs.size(), kMaxItems, "graph outputs");
      for (const auto& v : g.outputs) write_value_info(w, v);
      put_count(w, g.value_info.size(), kMaxItems, "typed values");
      for (const auto& [name, v] : g.value_info) write_value_info(w, v);
      put_count(w, g.nodes.size(), kMaxItems, "nodes");
      for (const Node& n : g.nodes) {
        put_str(w, n.name, kMaxNameBytes, "a node name");
        put_str(w, n.op_type, kMaxKeyBytes, "the op type of " + n.describe());
        put_str(w, n.domain, kMaxKeyBytes, "the domain of " + n.describe());
        put_count(w, n.inputs.size(), kMaxNodeArity, "inputs of " + n.describe());
        for (const auto& s : n.inputs) put_str(w, s, kMaxNameBytes, "an input name of " + n.describe());
        put_count(w, n.outputs.size(), kMaxNodeArity, "outputs of " + n.describe());
        for (const auto& s : n.outputs) put_str(w, s, kMaxNameBytes, "an output name of " + n.describe());
        put_count(w, n.attributes.size(), kMaxNodeArity, "attributes of " + n.describe());
        for (const auto& [key, a] : n.attributes) {
          put_str(w, key, kMaxKeyBytes, "an attribute name of " + n.describe());
          write_attribute(w, a, "attribute '" + key + "' of " + n.describe());
        }
      }
      break;
    }
    case kWeights:
      put_count(w, e.graph.initializers.size(), kMaxItems, "weights");
      for (const auto& [name, t] : e.graph.initializers) {
        put_str(w, name, kMaxNameBytes, "a weight name");
        write_tensor(w, t, "weight '" + name + "'", offset);
      }
      break;
    case kKernels:
      put_count(w, e.kernels.size(), kMaxItems, "kernels");
      for (const auto& k : e.kernels) put_str(w, k, kMaxKeyBytes, "a kernel name");
      break;
    case kPlugins: {
      // Per plugin node: its index, the op's domain, name and version, and the op's serialized fields.
      uint64_t count = 0;
      for (size_t i = 0; i < e.graph.nodes.size(); ++i) count += e.plugin(i) != nullptr;
      put_count(w, count, kMaxItems, "plugin nodes");
      for (size_t i = 0; i < e.graph.nodes.size(); ++i) {
        const PluginInstance* p = e.plugin(i);
        if (!p) continue;
        w.u64(i);
        put_str(w, p->op().domain, kMaxKeyBytes, "a plugin op's domain");
        put_str(w, p->op().name, kMaxKeyBytes, "a plugin op's name");
        w.i64(p->op().version);
        put_str(w, p->fields(), kMaxPluginFieldBytes, "the plugin fields of node '" + e.graph.nodes[i].name + "'");
      }
      break;
    }
    case kDevice: {
      // Precision, architecture, device name; the device kernel per node; per profile, the config per node.
      const Engine::DevicePlan& plan = e.device_plan;
      put_str(w, e.precision, kMaxTagBytes, "the precision");
      put_str(w, plan.architecture, kMaxTagBytes, "the device architecture");
      put_str(w, plan.device_name, kMaxTagBytes, "the device name");
      put_count(w, plan.kernels.size(), kMaxItems, "device kernels");
      for (const auto& k : plan.kernels) put_str(w, k, kMaxKeyBytes, "a device kernel name");
      put_count(w, plan.configs.size(), kMaxProfiles, "profiles of device kernel configurations");
      for (const auto& profile : plan.configs) {
        put_count(w, profile.size(), kMaxItems, "device kernel configurations of a profile");
        for (const auto& c : profile) put_str(w, c, kMaxConfigBytes, "a device kernel configuration");
      }
      break;
    }
  }
  return std::move(w.bytes());
}

// ---- reading ----

DataType read_dtype(ByteReader& r) {
  uint32_t v = r.u32();
  if (!is_known_dtype(static_cast<int32_t>(v))) r.fail("unknown data type " + std::to_string(v));
  return static_cast<DataType>(v);
}

Dims read_dims(ByteReader& r) {
  uint64_t n = r.count(8, kMaxRank);
  Dims d(n);
  for (auto& v : d) {
    v = r.i64();
    if (v < 0) r.fail("negative dimension");
  }
  return d;
}

Shape read_shape(ByteReader& r) {
  Shape s;
  s.has_rank = r.u8() != 0;
  uint64_t n = r.count(16, kMaxRank);
  for (uint64_t i = 0; i < n; ++i) {
    Dim d;
    d.value = r.i64();
    if (d.value < -1) r.fail("invalid dimension");
    d.symbol = r.str(kMaxSymbolBytes);
    s.dims.push_back(d);
  }
  return s;
}

ValueInfo read_value_info(ByteReader& r) {
  ValueInfo v;
  v.name = r.str(kMaxNameBytes);
  uint32_t dt = r.u32();
  if (dt != 0 && !is_known_dtype(static_cast<int32_t>(dt))) r.fail("unknown data type " + std::to_string(dt));
  v.dtype = static_cast<DataType>(dt);
  v.shape = read_shape(r);
  return v;
}

// The bytes that follow are a tensor. A weight of version 3 has its pad first; where the bytes lie on a 64-byte
// boundary of a buffer that `owner` keeps alive, the tensor is a view of them, else a copy.
Tensor read_tensor(ByteReader& r, bool padded = false, const std::shared_ptr<void>& owner = nullptr) {
  DataType dtype = read_dtype(r);
  Dims dims = read_dims(r);
  uint64_t bytes = r.u64();
  int64_t count = 0;
  try {
    count = element_count(dims);
  } catch (const Error&) {
    r.fail("a tensor's dims overflow");
  }
  if (padded) {
    const uint8_t pad = r.u8();
    if (pad >= kWeightAlignment) r.fail("a weight's padding of " + std::to_string(pad) + " bytes is not below 64");
    const char* zeros = r.take(pad);
    if (std::any_of(zeros, zeros + pad, [](char c) { return c != 0; })) r.fail("a weight's padding is not zero");
  }
  if (static_cast<uint64_t>(count) > r.remaining() / dtype_size(dtype) || bytes != static_cast<uint64_t>(count) * dtype_size(dtype))
    r.fail("a tensor's byte count does not match its shape " + dims_to_string(dims));
  const char* p = r.take(bytes);
  if (owner && reinterpret_cast<uintptr_t>(p) % kWeightAlignment == 0)
    return Tensor::wrap(dtype, std::move(dims), const_cast<char*>(p), owner);
  Tensor t(dtype, dims);
  if (bytes) std::memcpy(t.raw(), p, bytes);
  return t;
}

Attribute read_attribute(ByteReader& r) {
  Attribute a;
  uint32_t type = r.u32();
  if (type > static_cast<uint32_t>(AttributeType::kGraph)) r.fail("unknown attribute type");
  a.type = static_cast<AttributeType>(type);
  switch (a.type) {
    case AttributeType::kFloat: a.f = r.f32(); break;
    case AttributeType::kInt: a.i = r.i64(); break;
    case AttributeType::kString: a.s = r.str(kMaxTextBytes); break;
    case AttributeType::kTensor: a.t = read_tensor(r); break;
    case AttributeType::kFloats: {
      uint64_t n = r.count(4, kMaxItems);
      for (uint64_t i = 0; i < n; ++i) a.floats.push_back(r.f32());
      break;
    }
    case AttributeType::kInts: {
      uint64_t n = r.count(8, kMaxItems);
      for (uint64_t i = 0; i < n; ++i) a.ints.push_back(r.i64());
      break;
    }
    case AttributeType::kStrings: {
      uint64_t n = r.count(8, kMaxItems);
      for (uint64_t i = 0; i < n; ++i) a.strings.push_back(r.str(kMaxTextBytes));
      break;
    }
    case AttributeType::kGraph: break;
  }
  return a;
}

// A plugin node as the file records it; resolved against the plugin registry once the whole file is read.
struct PluginRecord {
  uint64_t node = 0;
  std::string domain, name;
  int64_t version = 0;
  std::string fields;
};

// `weights_owner` (null: copy the weights) keeps the file's bytes alive for weights that are views of them.
void read_section(Engine& e, uint32_t tag, ByteReader& r, std::vector<PluginRecord>& plugins, uint32_t version,
                  const std::shared_ptr<void>& weights_owner) {
  switch (tag) {
    case kMeta:
      e.normrt_version = r.str(kMaxTagBytes);
      e.device = r.str(kMaxTagBytes);
      e.source_name = r.str(kMaxSymbolBytes);
      break;
    case kProfiles: {
      uint64_t n = r.count(8, kMaxProfiles);
      for (uint64_t p = 0; p < n; ++p) {
        Profile profile;
        uint64_t inputs = r.count(8, kMaxNodeArity);
        for (uint64_t i = 0; i < inputs; ++i) {
          std::string name = r.str(kMaxNameBytes);
          ShapeRange range{read_dims(r), read_dims(r), read_dims(r)};
          profile.inputs[name] = range;
        }
        e.profiles.push_back(std::move(profile));
      }
      break;
    }
    case kGraph: {
      Graph& g = e.graph;
      g.name = r.str(kMaxTextBytes);
      uint64_t n = r.count(16, kMaxOpsets);
      for (uint64_t i = 0; i < n; ++i) {
        std::string domain = r.str(kMaxKeyBytes);
        g.opsets[domain] = r.i64();
      }
      n = r.count(8, kMaxItems);
      for (uint64_t i = 0; i < n; ++i) g.inputs.push_back(read_value_info(r));
      n = r.count(8, kMaxItems);
      for (uint64_t i = 0; i < n; ++i) g.outputs.push_back(read_value_info(r));
      n = r.count(8, kMaxItems);
      for (uint64_t i = 0; i < n; ++i) {
        ValueInfo v = read_value_info(r);
        g.value_info[v.name] = v;
      }
      n = r.count(48, kMaxItems);
      for (uint64_t i = 0; i < n; ++i) {
        Node node;
        node.name = r.str(kMaxNameBytes);
        node.op_type = r.str(kMaxKeyBytes);
        node.domain = r.str(kMaxKeyBytes);
        uint64_t k = r.count(8, kMaxNodeArity);
        for (uint64_t j = 0; j < k; ++j) node.inputs.push_back(r.str(kMaxNameBytes));
        k = r.count(8, kMaxNodeArity);
        for (uint64_t j = 0; j < k; ++j) node.outputs.push_back(r.str(kMaxNameBytes));
        k = r.count(12, kMaxNodeArity);
        for (uint64_t j = 0; j < k; ++j) {
          std::string key = r.str(kMaxKeyBytes);
          node.attributes[key] = read_attribute(r);
        }
        g.nodes.push_back(std::move(node));
      }
      break;
    }
    case kWeights: {
      uint64_t n = r.count(8, kMaxItems);
      for (uint64_t i = 0; i < n; ++i) {
        std::string name = r.str(kMaxNameBytes);
        e.graph.initializers[name] = read_tensor(r, version >= kFirstAlignedWeightsVersion, weights_owner);
      }
      break;
    }
    case kKernels: {
      uint64_t n = r.count(8, kMaxItems);
      for (uint64_t i = 0; i < n; ++i) e.kernels.push_back(r.str(kMaxKeyBytes));
      break;
    }
    case kPlugins: {
      // Each record is at least 40 bytes (node index, three lengths, version).
      uint64_t n = r.u64();
      if (n > kMaxItems || n > r.remaining() / 40)
        r.fail("the plugin section lists " + std::to_string(n) + " plugin ops, more than its bytes can hold");
      for (uint64_t i = 0; i < n; ++i) {
        PluginRecord record;
        record.node = r.u64();
        record.domain = r.str(kMaxKeyBytes);
        record.name = r.str(kMaxKeyBytes);
        record.version = r.i64();
        record.fields = r.str(kMaxPluginFieldBytes);
        plugins.push_back(std::move(record));
      }
      break;
    }
    case kDevice: {
      Engine::DevicePlan& plan = e.device_plan;
      e.precision = r.str(kMaxTagBytes);
      plan.architecture = r.str(kMaxTagBytes);
      plan.device_name = r.str(kMaxTagBytes);
      uint64_t n = r.count(8, kMaxItems);
      for (uint64_t i = 0; i < n; ++i) plan.kernels.push_back(r.str(kMaxKeyBytes));
      n = r.count(8, kMaxProfiles);
      for (uint64_t p = 0; p < n; ++p) {
        uint64_t k = r.count(8, kMaxItems);
        std::vector<std::string> configs;
        for (uint64_t i = 0; i < k; ++i) configs.push_back(r.str(kMaxConfigBytes));
        plan.configs.push_back(std::move(configs));
      }
      break;
    }
  }
  if (r.remaining() != 0) r.fail("section " + std::to_string(tag) + " has " + std::to_string(r.remaining()) + " unread bytes");
}

// Checks the records against the graph, then finds every recorded op in the plugin registry: all missing ones
// are named in one kPluginMissing error, before anything is made or run.
template <typename Corrupt>
void resolve_plugins(Engine& engine, const std::vector<PluginRecord>& records, const std::string& what,
                     const Corrupt& corrupt) {
  const auto& nodes = engine.graph.nodes;
  std::vector<const PluginRecord*> by_node(nodes.size(), nullptr);
  for (const PluginRecord& r : records) {
    if (r.node >= nodes.size())
      throw corrupt("a plugin record names node " + std::to_string(r.node) + " of " + std::to_string(nodes.size()));
    const Node& node = nodes[r.node];
    if (by_node[r.node]) throw corrupt("two plugin records name " + node.describe());
    if (node.domain != r.domain || node.op_type != r.name)
      throw corrupt("the plugin record of " + node.describe() + " names op " + r.domain + "::" + r.name);
    by_node[r.node] = &r;
  }
  // op key -> (record, node names)
  std::vector<std::pair<const PluginRecord*, std::vector<std::string>>> missing;
  std::vector<const PluginOp*> ops(nodes.size(), nullptr);
  for (size_t i = 0; i < nodes.size(); ++i) {
    const PluginRecord* r = by_node[i];
    if (!r) continue;
    ops[i] = PluginRegistry::global().find(r->domain, r->name, r->version);
    if (ops[i]) continue;
    auto it = std::find_if(missing.begin(), missing.end(), [&](const auto& m) {
      return m.first->domain == r->domain && m.first->name == r->name && m.first->version == r->version;
    });
    if (it == missing.end()) missing.push_back({r, {nodes[i].name}});
    else it->second.push_back(nodes[i].name);
  }
  if (!missing.empty()) {
    std::string message = what + " uses " + (missing.size() == 1 ? "a plugin op that is" : "plugin ops that are") +
                          " not loaded: ";
    for (size_t m = 0; m < missing.size(); ++m) {
      const auto& [r, users] = missing[m];
      message += (m ? "; " : "") + std::string("op '") + r->name + "' (domain " + r->domain + ", version " +
                 std::to_string(r->version) + "), used by node" + (users.size() > 1 ? "s '" : " '") + users[0] + "'" +
                 (users.size() > 1 ? " and " + std::to_string(users.size() - 1) + " more" : "");
      std::string others;
      for (const PluginOp* op : PluginRegistry::global().versions(r->domain, r->name))
        others += (others.empty() ? "" : ", ") + op->describe();
      if (!others.empty()) message += " (registered are only: " + others + ")";
    }
    message += ". Load the plugin library that provides " + std::string(missing.size() == 1 ? "it" : "them") +
               " before loading the engine, " + plugin_load_hint() + " (an engine never loads a library by itself)";
    throw Error(ErrorCode::kPluginMissing, message);
  }
  engine.plugins.assign(nodes.size(), nullptr);
  for (size_t i = 0; i < nodes.size(); ++i)
    if (ops[i]) engine.plugins[i] = PluginInstance::from_fields(*ops[i], by_node[i]->fields, nodes[i].describe());
  if (records.empty()) engine.plugins.clear();
}

// The DEVICE section against the rest: a cpu engine has none of it; a device engine names a kernel (or a CPU
// fallback) for every node and a configuration for every node in every profile.
template <typename Corrupt>
void check_device_fields(const Engine& e, const Corrupt& corrupt) {
  const Engine::DevicePlan& plan = e.device_plan;
  if (e.device == "cpu") {
    if (e.precision != "float32") throw corrupt("a cpu engine records precision '" + e.precision + "'");
    if (!plan.kernels.empty() || !plan.configs.empty() || !plan.architecture.empty())
      throw corrupt("a cpu engine records device kernels");
    return;
  }
  const std::vector<std::string> devices = known_devices();
  if (std::find(devices.begin(), devices.end(), e.device) == devices.end())
    throw corrupt("it was built for device '" + e.device + "', which this build of normrt does not support" +
                  (e.device == "cuda" ? " (it was built with NORMRT_CUDA=OFF); rebuild normrt with the CUDA backend"
                                      : ""));
  if (e.precision != "float32" && e.precision != "float16" && e.precision != "tf32")
    throw corrupt("it records precision '" + e.precision + "'");
  if (plan.kernels.size() != e.graph.nodes.size())
    throw corrupt("it records " + std::to_string(plan.kernels.size()) + " device kernels for " +
                  std::to_string(e.graph.nodes.size()) + " nodes");
  if (plan.configs.size() != e.profiles.size())
    throw corrupt("it records device kernel configurations for " + std::to_string(plan.configs.size()) +
                  " profiles, and has " + std::to_string(e.profiles.size()));
  for (const auto& profile : plan.configs)
    if (profile.size() != e.graph.nodes.size())
      throw corrupt("a profile records " + std::to_string(profile.size()) + " device kernel configurations for " +
                    std::to_string(e.graph.nodes.size()) + " nodes");
  // A plugin node runs on the device only with the plugin's own kernel (plugin_device_kernel), and only it does.
  const std::string plugin_kernel = plugin_device_kernel(e.device);
  for (size_t i = 0; i < plan.kernels.size(); ++i) {
    if (plan.kernels[i].empty()) continue;
    if (e.plugin(i) && plan.kernels[i] != plugin_kernel)
      throw corrupt("it uses device kernel '" + plan.kernels[i] + "' for plugin " + e.graph.nodes[i].describe());
    if (!e.plugin(i) && plan.kernels[i] == plugin_kernel)
      throw corrupt("it uses device kernel '" + plan.kernels[i] + "' for built-in " + e.graph.nodes[i].describe());
  }
}

}  // namespace

std::string serialize_engine(const Engine& engine) {
  std::string sections[kSectionCount];
  const uint64_t table_end = 24 + kSectionCount * 24;
  uint64_t total = table_end + 4;
  for (size_t i = 0; i < kSectionCount; ++i) {
    sections[i] = section_bytes(engine, kSectionOrder[i], total - 4);
    total += sections[i].size();
  }
  ByteWriter w;
  w.raw(kMagic, 8);
  w.u32(kFormatVersion);
  w.u32(static_cast<uint32_t>(kSectionCount));
  w.u64(total);
  uint64_t offset = table_end;
  for (size_t i = 0; i < kSectionCount; ++i) {
    w.u32(kSectionOrder[i]);
    w.u32(0);
    w.u64(offset);
    w.u64(sections[i].size());
    offset += sections[i].size();
  }
  for (const auto& s : sections) w.raw(s.data(), s.size());
  uint32_t crc = checksum(w.bytes().data(), w.bytes().size());
  w.u32(crc);
  return std::move(w.bytes());
}

namespace {

// `owner` keeps `bytes` alive (and the weights are views of it), or is null (the weights are copied).
std::shared_ptr<Engine> deserialize(std::string_view bytes, const std::shared_ptr<void>& owner,
                                    const std::string& what) {
  auto corrupt = [&](const std::string& m) {
    return Error(ErrorCode::kCorruptEngine, what + " is not a valid normrt engine: " + m);
  };
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kMagic, 8) != 0)
    throw corrupt("it does not start with the engine magic (is it an ONNX model or another file?)");
  if (bytes.size() < 28)
    throw corrupt("it is " + std::to_string(bytes.size()) + " bytes long, shorter than the engine header (truncated); "
                  "rebuild or copy it again");
  ByteReader header(bytes.data(), bytes.size(), what);
  header.take(8);
  uint32_t version = header.u32();
  if (version < kOldestReadableVersion || version > kFormatVersion)
    throw corrupt("its format version is " + std::to_string(version) + ", this normrt reads version " +
                  std::to_string(kFormatVersion) + "; rebuild the engine from the ONNX model");
  uint32_t count = header.u32();
  uint64_t total = header.u64();
  if (total != bytes.size())
    throw corrupt("it should be " + std::to_string(total) + " bytes long but is " + std::to_string(bytes.size()) +
                  " (truncated or extended); rebuild or copy it again");
  uint32_t stored, actual = checksum(bytes.data(), bytes.size() - 4);
  std::memcpy(&stored, bytes.data() + bytes.size() - 4, 4);
  if (stored != actual) throw corrupt("its checksum does not match its contents (the file was changed or damaged); rebuild it");
  const size_t expected_count = version == 1 ? kVersion1SectionCount : kSectionCount;
  if (count != expected_count)
    throw corrupt("it has " + std::to_string(count) + " sections, expected " + std::to_string(expected_count));

  auto engine = std::make_shared<Engine>();
  std::vector<PluginRecord> plugin_records;
  uint64_t expected_offset = 24 + uint64_t{count} * 24;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t tag = header.u32();
    header.u32();
    uint64_t offset = header.u64(), length = header.u64();
    if (tag != kSectionOrder[i]) throw corrupt("section " + std::to_string(i) + " has tag " + std::to_string(tag));
    // offset first: size - 4 - offset must not wrap around (the checksum forged, a section may start past the end).
    if (offset != expected_offset || offset > bytes.size() - 4 || length > bytes.size() - 4 - offset)
      throw corrupt("section " + std::to_string(i) + " is not where the sections before it end");
    expected_offset = offset + length;
    ByteReader section(bytes.data() + offset, length, what);
    read_section(*engine, tag, section, plugin_records, version, owner);
  }
  if (expected_offset != bytes.size() - 4) throw corrupt("its sections do not cover the file");
  if (engine->normrt_version != NORMRT_VERSION)
    throw corrupt("it was built by normrt " + engine->normrt_version + " and this is normrt " + NORMRT_VERSION +
                  "; rebuild the engine with this version");
  PluginRegistry::global().raise_deferred_errors();
  resolve_plugins(*engine, plugin_records, what, corrupt);
  check_device_fields(*engine, corrupt);
  try {
    engine->graph.verify();
    // The importer never makes an input that is also a weight; in a file it would make the runtime ignore what
    // the caller passes (verify() does not look at inputs against initializers).
    for (const auto& in : engine->graph.inputs)
      if (engine->graph.is_initializer(in.name))
        throw Error(ErrorCode::kCorruptEngine, "input '" + in.name + "' is also stored as a weight");
    engine->prepare();
    // The runtime trusts the profiles (select_profile indexes min and max by the run input's rank), so they
    // must fit the graph exactly as the builder made them: every input in every profile, ranks and fixed dims
    // as declared, min <= opt <= max.
    if (engine->profiles.empty()) throw Error(ErrorCode::kCorruptEngine, "it records no shape profile");
    std::vector<Profile> resolved = resolve_profiles(engine->graph, engine->profiles);
    for (size_t p = 0; p < resolved.size(); ++p)
      for (const auto& [name, range] : resolved[p].inputs)
        if (!engine->profiles[p].inputs.count(name))
          throw Error(ErrorCode::kCorruptEngine, "profile " + std::to_string(p) + " has no shape for input '" + name + "'");
  } catch (const Error& e) {
    throw corrupt(e.what());
  }
  // Last, once the file is known to be whole: whether this machine can run it (loads the device's backend).
  if (engine->device != "cpu") device_backend(engine->device).check(*engine, what);
  return engine;
}

}  // namespace

std::shared_ptr<Engine> deserialize_engine(const std::string& bytes, const std::string& what) {
  return deserialize(bytes, nullptr, what);
}

std::shared_ptr<Engine> deserialize_engine_copy(const void* data, size_t size, const std::string& what) {
  if (size > kMaxEngineBytes)
    throw Error(ErrorCode::kInvalidArgument, what + " is " + std::to_string(size) + " bytes, more than the limit of " +
                                               std::to_string(kMaxEngineBytes));
  FileBytes copy = aligned_bytes(size, "a copy of " + what);
  if (size) std::memcpy(copy.data.get(), data, size);
  return deserialize(std::string_view(copy.data.get(), size), copy.data, what);
}

void save_engine(const Engine& engine, const std::string& path) {
  std::string bytes = serialize_engine(engine);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw Error(ErrorCode::kIo, "cannot write engine '" + path + "'");
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw Error(ErrorCode::kIo, "failed writing engine '" + path + "'");
}

std::shared_ptr<Engine> load_engine(const std::string& path) {
  FileBytes file = read_file_aligned(path, kMaxEngineBytes);
  return deserialize(std::string_view(file.data.get(), file.size), file.data, "engine '" + path + "'");
}

bool looks_like_engine(const std::string& path) {
  // Non-blocking, regular files only: a FIFO must not be waited on (nor have its first bytes consumed).
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  struct stat st;
  char head[8] = {};
  bool match = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ::pread(fd, head, 8, 0) == 8 &&
               std::memcmp(head, kMagic, 8) == 0;
  ::close(fd);
  return match;
}

}  // namespace normrt
