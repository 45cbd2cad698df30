// The plugin registry: every plugin op registered in this process, from libraries the user loaded or from
// code linked into the program. Thread-safe; entries are never removed, so pointers to them stay valid.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "normrt/plugin.h"
#include "ops/op.h"

namespace normrt {

// One registered op: the library's function table plus copies of its strings and where it came from.
struct PluginOp {
  std::string domain;
  std::string name;
  int64_t version = 0;
  std::string origin;  // "library 'path'", or "linked into the program (file.cpp)"
  normrt_plugin_op table{};

  // "com.example::Clamp01 version 1 (library './libx.so')"
  std::string describe() const;
  // The kernel for `device`, or nullptr; the devices it has, for messages.
  const normrt_plugin_kernel* kernel(const std::string& device) const;
  std::string devices() const;
};

class PluginRegistry {
 public:
  static PluginRegistry& global();

  // See normrt::load_plugin_library (include/normrt/plugin.h).
  void load_library(const std::string& path);
  // Registers an op from code linked into the program; on failure returns the status and fills `message`,
  // or, with no `message` to fill, keeps the message for raise_deferred_errors().
  normrt_status add_static(const normrt_plugin_op* op, const char* origin, std::string* message);

  // Throws the failures of start-up registrations (NORMRT_PLUGIN_REGISTER_OP), all in one error.
  void raise_deferred_errors() const;

  // The op a node uses: the highest registered version not above the model's opset for the domain. Null when
  // no version of domain::name is registered; throws when some are but none fits (naming them).
  const PluginOp* find_for_node(const Node& node, int64_t domain_opset) const;
  // Exactly this version, or null.
  const PluginOp* find(const std::string& domain, const std::string& name, int64_t version) const;
  // Every registered version of domain::name (for messages).
  std::vector<const PluginOp*> versions(const std::string& domain, const std::string& name) const;
  std::vector<PluginOpInfo> list() const;

  // How the op registry sees plugin ops (OpRegistry's fallback): a schema whose shape function and reference
  // kernel make an instance from the node's attributes. Null when no plugin registers domain::name.
  const OpSchema* schema(const std::string& domain, const std::string& name) const;

 private:
  using Key = std::tuple<std::string, std::string, int64_t>;
  // Checks one op's description; returns the registry entry to add or throws.
  PluginOp validate(const normrt_plugin_op& op, const std::string& origin) const;
  // Adds all or none; throws on a conflict with a registered op or among `ops`. Needs mutex_ held.
  void add_locked(std::vector<PluginOp> ops);

  mutable std::mutex mutex_;
  std::deque<PluginOp> ops_;
  std::map<Key, const PluginOp*> index_;
  mutable std::map<std::pair<std::string, std::string>, std::unique_ptr<OpSchema>> schemas_;
  std::set<void*> libraries_;  // dlopen handles of loaded libraries
  std::vector<std::string> deferred_errors_;
};

// "with `--plugins path/to/lib.so` on the command line, normrt::load_plugin_library(path) in C++ or ..."
const char* plugin_load_hint();

}  // namespace normrt
