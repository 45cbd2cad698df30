// The public C++ API (include/normrt/builder.h, engine.h): handles over the internal engine types.
//
// The internal plan and runner are also called normrt::Engine and normrt::ExecutionContext (src/engine/
// engine.h); the public classes live in the inline namespace normrt::api. This file sees both, so it names the
// internal ones through aliases made before the public headers are included.
#include <algorithm>
#include <new>

#include "engine/device_backend.h"
#include "engine/engine.h"
#include "onnx/importer.h"
#include "plugin/plugin_instance.h"

namespace normrt::detail {
using Plan = ::normrt::Engine;
using PlanRunner = ::normrt::ExecutionContext;
}  // namespace normrt::detail

#include "normrt/builder.h"
#include "normrt/engine.h"

#ifndef NORMRT_VERSION
#define NORMRT_VERSION "0.0.0"
#endif

namespace normrt::api {

namespace {

// Only normrt::Error leaves the API: anything else (out of memory, a library's exception) becomes one.
template <typename Fn>
auto guarded(const char* what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::kInternal, std::string(what) + ": out of memory");
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kInternal, std::string(what) + ": " + e.what());
  }
}

TensorInfo tensor_info(const ValueInfo& v) {
  TensorInfo info;
  info.name = v.name;
  info.dtype = v.dtype;
  info.has_rank = v.shape.has_rank;
  for (const Dim& d : v.shape.dims) info.dims.push_back(DimInfo{d.known() ? d.value : -1, d.known() ? "" : d.symbol});
  return info;
}

std::vector<TensorInfo> tensor_infos(const std::vector<ValueInfo>& values) {
  std::vector<TensorInfo> out;
  for (const auto& v : values) out.push_back(tensor_info(v));
  return out;
}

}  // namespace

std::string TensorInfo::shape_string() const {
  if (!has_rank) return "[?]";
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    s += i ? "," : "";
    s += dims[i].known() ? std::to_string(dims[i].size) : dims[i].symbol.empty() ? "?" : dims[i].symbol;
  }
  return s + "]";
}

const char* version() { return NORMRT_VERSION; }

const char* precision_name(Precision precision) {
  switch (precision) {
    case Precision::kFloat32: return "float32";
    case Precision::kFloat16: return "float16";
    case Precision::kBFloat16: return "bfloat16";
    case Precision::kTF32: return "tf32";
  }
  return "unknown";
}

// ---- Engine ----

struct Engine::Impl {
  std::shared_ptr<const detail::Plan> plan;
  std::vector<TensorInfo> inputs, outputs;
  std::vector<EnginePluginOp> plugin_ops;

  explicit Impl(std::shared_ptr<const detail::Plan> p) : plan(std::move(p)) {
    const Graph& g = plan->graph;
    inputs = tensor_infos(g.inputs);
    for (TensorInfo& in : inputs)
      for (const Profile& profile : plan->profiles) {
        const ShapeRange& r = profile.inputs.at(in.name);  // every input is in every profile (checked on load)
        in.profiles.push_back(ProfileRange{r.min, r.opt, r.max});
      }
    outputs = tensor_infos(g.outputs);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const PluginInstance* p = plan->plugin(i);
      if (!p) continue;
      auto it = std::find_if(plugin_ops.begin(), plugin_ops.end(), [&](const EnginePluginOp& o) {
        return o.domain == p->op().domain && o.name == p->op().name && o.version == p->op().version;
      });
      if (it == plugin_ops.end())
        plugin_ops.push_back(EnginePluginOp{p->op().domain, p->op().name, p->op().version, 1});
      else
        ++it->nodes;
    }
  }
};

Engine::Engine(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

Engine Engine::load(const std::string& path) {
  return guarded("loading an engine", [&] { return Engine(std::make_shared<const Impl>(load_engine(path))); });
}

Engine Engine::load_from_memory(const void* data, size_t size, const std::string& what) {
  return guarded("loading an engine", [&] {
    if (!data && size) throw Error(ErrorCode::kInvalidArgument, "load_from_memory was given a null pointer");
    return Engine(std::make_shared<const Impl>(deserialize_engine_copy(data, size, what)));
  });
}

void Engine::save(const std::string& path) const {
  guarded("saving an engine", [&] { save_engine(*impl_->plan, path); });
}

std::string Engine::serialize() const {
  return guarded("serializing an engine", [&] { return serialize_engine(*impl_->plan); });
}

const std::vector<TensorInfo>& Engine::inputs() const { return impl_->inputs; }
const std::vector<TensorInfo>& Engine::outputs() const { return impl_->outputs; }
size_t Engine::num_profiles() const { return impl_->plan->profiles.size(); }
const std::string& Engine::device() const { return impl_->plan->device; }
const std::string& Engine::precision() const { return impl_->plan->precision; }
const std::string& Engine::normrt_version() const { return impl_->plan->normrt_version; }
const std::vector<EnginePluginOp>& Engine::plugin_ops() const { return impl_->plugin_ops; }

ExecutionContext Engine::create_execution_context() const {
  return guarded("creating an execution context", [&] { return ExecutionContext(*this); });
}

// ---- ExecutionContext ----

struct ExecutionContext::Impl {
  Engine engine;
  detail::PlanRunner runner;
  explicit Impl(const Engine& e) : engine(e), runner(e.impl_->plan) {}
};

ExecutionContext::ExecutionContext(const Engine& engine) : impl_(std::make_unique<Impl>(engine)) {}
ExecutionContext::ExecutionContext(ExecutionContext&&) noexcept = default;
ExecutionContext& ExecutionContext::operator=(ExecutionContext&&) noexcept = default;
ExecutionContext::~ExecutionContext() = default;

const Engine& ExecutionContext::engine() const {
  if (!impl_) throw Error(ErrorCode::kInvalidArgument, "engine() on an ExecutionContext that was moved from");
  return impl_->engine;
}

NamedTensors ExecutionContext::run(const std::map<std::string, Tensor>& inputs) {
  if (!impl_) throw Error(ErrorCode::kInvalidArgument, "run() on an ExecutionContext that was moved from");
  return guarded("running an engine", [&] { return impl_->runner.run(inputs); });
}

NamedGpuTensors ExecutionContext::run_on_device(const std::map<std::string, GpuTensor>& inputs, void* cuda_stream) {
  if (!impl_) throw Error(ErrorCode::kInvalidArgument, "run_on_device() on an ExecutionContext that was moved from");
  return guarded("running an engine", [&] {
    std::map<std::string, ::normrt::DeviceTensor> device_inputs;
    for (const auto& [name, t] : inputs) {
      ::normrt::DeviceTensor d;
      d.dtype = t.dtype;
      d.dims = t.dims;
      d.data = t.data;
      d.device = t.device;
      device_inputs[name] = d;
    }
    NamedGpuTensors outputs;
    for (auto& [name, d] : impl_->runner.run_on_device(device_inputs, cuda_stream))
      outputs.emplace_back(name, GpuTensor{d.dtype, d.dims, d.data, d.device, d.owner});
    return outputs;
  });
}

double ExecutionContext::last_run_device_ms() const {
  if (!impl_) throw Error(ErrorCode::kInvalidArgument, "last_run_device_ms() on an ExecutionContext that was moved from");
  return impl_->runner.last_run_device_ms();
}

// ---- Builder ----

struct Builder::Impl {
  Graph graph;
  std::string source_name;
  std::vector<Profile> profiles;
  std::string device = "cpu";
  Precision precision = Precision::kFloat32;
  std::string timing_cache;
  std::vector<TensorInfo> inputs, outputs;

  Impl(Graph g, std::string source) : graph(std::move(g)), source_name(std::move(source)) {
    inputs = tensor_infos(graph.inputs);
    outputs = tensor_infos(graph.outputs);
  }
};

Builder::Builder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Builder::Builder(const Builder& other) : impl_(std::make_unique<Impl>(*other.impl_)) {}
Builder& Builder::operator=(const Builder& other) {
  if (this != &other) impl_ = std::make_unique<Impl>(*other.impl_);
  return *this;
}
Builder::Builder(Builder&&) noexcept = default;
Builder& Builder::operator=(Builder&&) noexcept = default;
Builder::~Builder() = default;

Builder Builder::from_file(const std::string& path) {
  return guarded("parsing a model", [&] { return Builder(std::make_unique<Impl>(import_onnx_file(path), path)); });
}

Builder Builder::from_bytes(const void* data, size_t size, const std::string& base_dir, const std::string& what) {
  return guarded("parsing a model", [&] {
    if (!data && size) throw Error(ErrorCode::kInvalidArgument, "from_bytes was given a null pointer");
    std::string bytes(static_cast<const char*>(data), size);
    return Builder(std::make_unique<Impl>(import_onnx_bytes(bytes, base_dir, what), what));
  });
}

const std::vector<TensorInfo>& Builder::inputs() const { return impl_->inputs; }
const std::vector<TensorInfo>& Builder::outputs() const { return impl_->outputs; }

Builder& Builder::add_profile(const std::map<std::string, ProfileRange>& shapes) {
  guarded("adding a profile", [&] {
    Profile profile;
    for (const auto& [name, range] : shapes) profile.inputs[name] = ShapeRange{range.min, range.opt, range.max};
    std::vector<Profile> profiles = impl_->profiles;
    profiles.push_back(std::move(profile));
    resolve_profiles(impl_->graph, profiles);  // names a misspelled input or a bad range now, not at build()
    impl_->profiles = std::move(profiles);
  });
  return *this;
}

Builder& Builder::clear_profiles() {
  impl_->profiles.clear();
  return *this;
}

Builder& Builder::set_device(const std::string& device) {
  impl_->device = device;
  return *this;
}

Builder& Builder::set_precision(Precision precision) {
  impl_->precision = precision;
  return *this;
}

Builder& Builder::set_timing_cache(const std::string& path) {
  impl_->timing_cache = path;
  return *this;
}

Engine Builder::build() const {
  return guarded("building an engine", [&] {
    BuildOptions options;
    options.device = impl_->device;
    options.precision = precision_name(impl_->precision);
    options.profiles = impl_->profiles;
    options.source_name = impl_->source_name;
    options.timing_cache = impl_->timing_cache;
    return Engine(std::make_shared<const Engine::Impl>(build_engine(impl_->graph, options)));
  });
}

}  // namespace normrt::api
