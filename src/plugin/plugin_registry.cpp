#include "plugin/plugin_registry.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstring>

#include "plugin/plugin_instance.h"

namespace normrt {

namespace {

// Domains a plugin may not use: ONNX's own and normrt's.
const char* const kReservedDomains[] = {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training", "ai.normrt"};

std::string op_key(const std::string& domain, const std::string& name, int64_t version) {
  return domain + "::" + name + " version " + std::to_string(version);
}

const char* const kLoadHint =
    "with `--plugins path/to/lib.so` on the command line, normrt::load_plugin_library(path) in C++ or "
    "normrt.load_plugins(path) in Python";

// Installs the registry as the op registry's fallback once libnormrt is loaded.
[[maybe_unused]] const bool kFallbackInstalled = [] {
  OpRegistry::global().set_fallback([](const std::string& domain, const std::string& op_type) {
    return PluginRegistry::global().schema(domain, op_type);
  });
  return true;
}();

}  // namespace

std::string PluginOp::describe() const { return op_key(domain, name, version) + " (" + origin + ")"; }

const normrt_plugin_kernel* PluginOp::kernel(const std::string& device) const {
  for (size_t i = 0; i < table.num_kernels; ++i)
    if (device == table.kernels[i].device) return &table.kernels[i];
  return nullptr;
}

std::string PluginOp::devices() const {
  std::string s;
  for (size_t i = 0; i < table.num_kernels; ++i) s += (s.empty() ? "" : ", ") + std::string(table.kernels[i].device);
  return s.empty() ? "none" : s;
}

PluginRegistry& PluginRegistry::global() {
  static PluginRegistry registry;
  return registry;
}

PluginOp PluginRegistry::validate(const normrt_plugin_op& op, const std::string& origin) const {
  auto bad = [&](const std::string& message) {
    return Error(ErrorCode::kInvalidArgument, "plugin " + origin + ": " + message);
  };
  if (op.struct_size != sizeof(normrt_plugin_op))
    throw bad("an op description is " + std::to_string(op.struct_size) + " bytes, this normrt's is " +
              std::to_string(sizeof(normrt_plugin_op)) + "; rebuild the plugin against this normrt's normrt/plugin.h");
  if (!op.domain || !op.name || !*op.name) throw bad("an op has no domain or no name");
  PluginOp entry;
  entry.domain = op.domain;
  entry.name = op.name;
  entry.version = op.version;
  entry.origin = origin;
  entry.table = op;
  const std::string what = op_key(entry.domain, entry.name, entry.version);
  for (const char* reserved : kReservedDomains)
    if (entry.domain == reserved)
      throw bad(what + ": domain '" + entry.domain + "' belongs to " +
                (entry.domain == "ai.normrt" ? "normrt" : "ONNX") + "; plugin ops need their own domain (com.example)");
  if (op.version < 1) throw bad(what + ": versions start at 1");
  if (OpRegistry::global().find_builtin(entry.domain, entry.name))
    throw bad(what + ": " + entry.domain + "::" + entry.name + " is a built-in op and cannot be replaced");
  if (!op.create || !op.deserialize || !op.serialized_size || !op.serialize || !op.destroy || !op.infer_shapes)
    throw bad(what + ": create, deserialize, serialized_size, serialize, destroy and infer_shapes are all required");
  if (op.num_kernels == 0 || !op.kernels) throw bad(what + ": it has no kernel for any device");
  for (size_t i = 0; i < op.num_kernels; ++i)
    if (!op.kernels[i].device || !op.kernels[i].run)
      throw bad(what + ": kernel " + std::to_string(i) + " has no device or no function");
  return entry;
}

void PluginRegistry::add_locked(std::vector<PluginOp> ops) {
  std::set<Key> seen;
  for (const PluginOp& op : ops) {
    Key key{op.domain, op.name, op.version};
    auto it = index_.find(key);
    if (it != index_.end())
      throw Error(ErrorCode::kInvalidArgument,
                  "plugin " + op.origin + " registers " + op_key(op.domain, op.name, op.version) + ", which " +
                      it->second->origin +
                      " already registered; two plugins cannot provide the same op: "
                      "load only one of them (or give one of the ops another domain or version)");
    if (!seen.insert(key).second)
      throw Error(ErrorCode::kInvalidArgument,
                  "plugin " + op.origin + " registers " + op_key(op.domain, op.name, op.version) + " twice");
  }
  for (PluginOp& op : ops) {
    ops_.push_back(std::move(op));
    const PluginOp& added = ops_.back();
    index_[Key{added.domain, added.name, added.version}] = &added;
  }
}

void PluginRegistry::load_library(const std::string& path) {
  raise_deferred_errors();
  if (path.empty()) throw Error(ErrorCode::kInvalidArgument, "the plugin library path is empty");
  // A path, never a name looked up on the library search path: "libx.so" means the file in this folder.
  std::string file = path.find('/') == std::string::npos ? "./" + path : path;
  std::lock_guard<std::mutex> lock(mutex_);
  dlerror();
  void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* reason = dlerror();
    std::string text = reason ? reason : "unknown dynamic loader error";
    std::string hint = text.find("undefined symbol") != std::string::npos
                           ? "the library needs a symbol no loaded library defines: it was built against other "
                             "versions of its dependencies, or needs a library it does not link (`ldd -r " +
                                 file + "` lists what is missing)"
                       : text.find("No such file") != std::string::npos
                           ? "check the path; a plugin is loaded from exactly the path given, never searched for"
                           : "is it a shared library built for this machine?";
    throw Error(ErrorCode::kIo, "cannot load plugin library '" + path + "': " + text + "; " + hint);
  }
  if (libraries_.count(handle)) {
    dlclose(handle);  // balances this dlopen; the first one keeps it loaded
    return;
  }
  auto fail = [&](ErrorCode code, const std::string& message) {
    dlclose(handle);
    return Error(code, message);
  };
  dlerror();
  void* symbol = dlsym(handle, NORMRT_PLUGIN_ENTRY_SYMBOL);
  if (!symbol)
    throw fail(ErrorCode::kInvalidArgument, "'" + path + "' is not a normrt plugin library: it does not export " +
                                                NORMRT_PLUGIN_ENTRY_SYMBOL +
                                                " (define it with NORMRT_PLUGIN_DEFINE_LIBRARY "
                                                "from normrt/plugin.h, with C linkage and default visibility)");
  normrt_plugin_entry entry;
  static_assert(sizeof(entry) == sizeof(symbol), "function and object pointers differ in size");
  std::memcpy(&entry, &symbol, sizeof entry);
  const normrt_plugin_library* library = entry(NORMRT_PLUGIN_ABI_VERSION);
  if (!library)
    throw fail(ErrorCode::kInvalidArgument, "plugin library '" + path + "' does not support plugin ABI version " +
                                                std::to_string(NORMRT_PLUGIN_ABI_VERSION) +
                                                " (this normrt's); rebuild it against this normrt's normrt/plugin.h");
  if (library->abi_version != NORMRT_PLUGIN_ABI_VERSION)
    throw fail(ErrorCode::kInvalidArgument, "plugin library '" + path + "' was built for plugin ABI version " +
                                                std::to_string(library->abi_version) + ", this normrt uses version " +
                                                std::to_string(NORMRT_PLUGIN_ABI_VERSION) +
                                                "; rebuild it against this normrt's normrt/plugin.h");
  if (library->num_ops > 0 && !library->ops)
    throw fail(ErrorCode::kInvalidArgument, "plugin library '" + path + "' lists ops but gives no table");
  std::vector<PluginOp> ops;
  try {
    for (size_t i = 0; i < library->num_ops; ++i) ops.push_back(validate(library->ops[i], "library '" + path + "'"));
    add_locked(std::move(ops));
  } catch (const Error& e) {
    throw fail(e.code(), e.what());
  }
  libraries_.insert(handle);
}

normrt_status PluginRegistry::add_static(const normrt_plugin_op* op, const char* origin, std::string* message) {
  std::string where = origin ? origin : "linked into the program";
  try {
    if (!op) throw Error(ErrorCode::kInvalidArgument, "plugin " + where + ": the op description is null");
    std::lock_guard<std::mutex> lock(mutex_);
    add_locked({validate(*op, where)});
    return NORMRT_OK;
  } catch (const std::exception& e) {
    const Error* error = dynamic_cast<const Error*>(&e);
    if (message) {
      *message = e.what();
    } else {
      std::lock_guard<std::mutex> lock(mutex_);
      deferred_errors_.push_back(e.what());
    }
    return error ? static_cast<normrt_status>(error->code()) : NORMRT_STATUS_INTERNAL;
  }
}

void PluginRegistry::raise_deferred_errors() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (deferred_errors_.empty()) return;
  std::string message = "registering plugin ops at start-up failed: ";
  for (size_t i = 0; i < deferred_errors_.size(); ++i) message += (i ? "; " : "") + deferred_errors_[i];
  throw Error(ErrorCode::kInvalidArgument, message);
}

const PluginOp* PluginRegistry::find_for_node(const Node& node, int64_t domain_opset) const {
  std::vector<const PluginOp*> candidates = versions(node.domain, node.op_type);
  if (candidates.empty()) return nullptr;
  const PluginOp* best = nullptr;
  for (const PluginOp* op : candidates)
    if (op->version <= domain_opset && (!best || op->version > best->version)) best = op;
  if (best) return best;
  std::string registered;
  for (const PluginOp* op : candidates) registered += (registered.empty() ? "" : ", ") + op->describe();
  if (domain_opset <= 0)
    throw Error(ErrorCode::kInvalidModel, node.describe() + " uses domain '" + node.domain +
                                              "', which the model does not import (no opset_import entry); import it "
                                              "at the version of the op (registered: " +
                                              registered + ")");
  throw Error(ErrorCode::kUnsupportedOp, node.describe() + ": the model imports domain '" + node.domain +
                                             "' at version " + std::to_string(domain_opset) + ", but the registered " +
                                             node.domain + "::" + node.op_type + " ops are newer: " + registered);
}

const PluginOp* PluginRegistry::find(const std::string& domain, const std::string& name, int64_t version) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = index_.find(Key{domain, name, version});
  return it == index_.end() ? nullptr : it->second;
}

std::vector<const PluginOp*> PluginRegistry::versions(const std::string& domain, const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<const PluginOp*> out;
  for (auto it = index_.lower_bound(Key{domain, name, INT64_MIN});
       it != index_.end() && std::get<0>(it->first) == domain && std::get<1>(it->first) == name; ++it)
    out.push_back(it->second);
  return out;
}

std::vector<PluginOpInfo> PluginRegistry::list() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<PluginOpInfo> out;
  for (const auto& [key, op] : index_) out.push_back(PluginOpInfo{op->domain, op->name, op->version, op->origin});
  return out;
}

const OpSchema* PluginRegistry::schema(const std::string& domain, const std::string& name) const {
  if (versions(domain, name).empty()) return nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = schemas_[{domain, name}];
  if (!slot) slot = std::make_unique<OpSchema>(OpSchema{domain, name, &plugin_schema_infer, &plugin_schema_reference});
  return slot.get();
}

const char* plugin_load_hint() { return kLoadHint; }

// ---- the public functions (include/normrt/plugin.h) ----

void load_plugin_library(const std::string& path) { PluginRegistry::global().load_library(path); }

std::vector<PluginOpInfo> registered_plugin_ops() { return PluginRegistry::global().list(); }

}  // namespace normrt

extern "C" normrt_status normrt_register_plugin_op(const normrt_plugin_op* op, const char* origin,
                                                   normrt_error* error) {
  try {  // nothing may leave a C function
    std::string message;
    normrt_status status = normrt::PluginRegistry::global().add_static(op, origin, error ? &message : nullptr);
    if (status != NORMRT_OK && error) normrt_fail(error, status, message.c_str());
    return status;
  } catch (...) {
    return normrt_fail(error, NORMRT_STATUS_INTERNAL, "out of memory registering a plugin op");
  }
}
