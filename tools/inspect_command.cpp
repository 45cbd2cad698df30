// normrt inspect FILE: what an ONNX model declares, or what an engine was built for.
#include <iostream>
#include <map>

#include "commands.h"
#include "engine/engine.h"
#include "onnx/importer.h"
#include "plugin/plugin_instance.h"

namespace normrt::cli {

namespace {

void print_values(const char* title, const std::vector<ValueInfo>& values) {
  std::cout << title << ":\n";
  for (const auto& v : values)
    std::cout << "  " << v.name << "  " << dtype_name(v.dtype) << " " << v.shape.to_string() << "\n";
}

size_t weight_bytes(const Graph& g) {
  size_t bytes = 0;
  for (const auto& [name, t] : g.initializers) bytes += t.nbytes();
  return bytes;
}

void print_op_counts(const Graph& g) {
  std::map<std::string, int> counts;
  for (const Node& n : g.nodes) counts[(n.domain.empty() ? "" : n.domain + "::") + n.op_type]++;
  std::cout << "ops (" << g.nodes.size() << " nodes):\n";
  for (const auto& [op, c] : counts) std::cout << "  " << op << " x" << c << "\n";
}

void inspect_model(const std::string& path) {
  Graph g = import_onnx_file(path);
  std::cout << "model: " << path << "\nopsets:";
  for (const auto& [domain, version] : g.opsets) std::cout << " " << (domain.empty() ? "ai.onnx" : domain) << "=" << version;
  std::cout << "\n";
  print_values("inputs", g.inputs);
  print_values("outputs", g.outputs);
  std::cout << "initializers: " << g.initializers.size() << " (" << weight_bytes(g) << " bytes)\n";
  print_op_counts(g);
}

void inspect_engine(const std::string& path) {
  auto e = load_engine(path);
  std::cout << "engine: " << path << "\nbuilt by: normrt " << e->normrt_version << "\ndevice: " << e->device;
  if (e->device != "cpu")
    std::cout << " (" << e->device_plan.device_name << ", compute capability " << e->device_plan.architecture << ")";
  std::cout << "\nprecision: " << e->precision << "\nsource model: " << e->source_name << "\n";
  print_values("inputs", e->graph.inputs);
  print_values("outputs", e->graph.outputs);
  std::cout << "profiles: " << e->profiles.size() << "\n";
  for (size_t p = 0; p < e->profiles.size(); ++p) {
    std::cout << "  profile " << p << ":\n";
    for (const auto& [name, r] : e->profiles[p].inputs)
      std::cout << "    " << name << "  min " << dims_to_string(r.min) << "  opt " << dims_to_string(r.opt) << "  max "
                << dims_to_string(r.max) << "\n";
  }
  std::map<std::string, int> plugins;
  for (size_t i = 0; i < e->graph.nodes.size(); ++i)
    if (const PluginInstance* p = e->plugin(i))
      plugins[p->op().domain + "::" + p->op().name + " version " + std::to_string(p->op().version) + " (" +
              p->op().origin + ")"]++;
  std::cout << "plugins:" << (plugins.empty() ? " none" : "") << "\n";
  for (const auto& [op, c] : plugins) std::cout << "  " << op << " x" << c << "\n";
  auto cpu_kernel = [&](size_t i) {
    return e->kernels[i].empty() ? "reference:" + e->graph.nodes[i].op_type : e->kernels[i];
  };
  std::map<std::string, int> kernels;
  for (size_t i = 0; i < e->kernels.size(); ++i)
    kernels[e->runs_on_device(i) ? e->device_plan.kernels[i] : (e->device != "cpu" ? "cpu:" : "") + cpu_kernel(i)]++;
  std::cout << "kernels:\n";
  for (const auto& [k, c] : kernels) std::cout << "  " << k << " x" << c << "\n";
  if (e->device != "cpu") {
    // Per node: where it runs, its kernel, and what tuning chose in each profile.
    std::cout << "nodes:\n";
    for (size_t i = 0; i < e->graph.nodes.size(); ++i) {
      const Node& node = e->graph.nodes[i];
      std::cout << "  " << node.name << " (" << node.op_type << "): "
                << (e->runs_on_device(i) ? e->device + " " + e->device_plan.kernels[i] : "cpu " + cpu_kernel(i));
      for (size_t p = 0; p < e->device_plan.configs.size(); ++p)
        if (!e->device_plan.configs[p][i].empty())
          std::cout << "  [profile " << p << ": " << e->device_plan.configs[p][i] << "]";
      std::cout << "\n";
    }
  }
  std::cout << "weights: " << e->graph.initializers.size() << " tensors, " << weight_bytes(e->graph) << " bytes\n";
  print_op_counts(e->graph);
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "Show a model's inputs, outputs, opsets and ops, or what an engine was built for");
  auto path = std::make_shared<std::string>();
  auto plugins = std::make_shared<std::vector<std::string>>();
  cmd->add_option("file", *path, "an ONNX model (.onnx) or a normrt engine (.nrt)")->required();
  add_plugins_option(cmd, *plugins);
  cmd->callback([path, plugins] {
    load_plugins(*plugins);
    if (looks_like_engine(*path)) inspect_engine(*path);
    else inspect_model(*path);
  });
}

}  // namespace normrt::cli
