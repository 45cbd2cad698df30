// normrt fuse MODEL -o FUSED [--report] [--opset21]: the model with its normalization subgraphs fused, as an
// ONNX file any runtime runs (normrt's own ops carry local functions with the original computation).
#include <iostream>
#include <map>

#include "commands.h"
#include "onnx/exporter.h"
#include "onnx/importer.h"
#include "ops/op.h"
#include "passes/pass.h"

namespace normrt::cli {

namespace {
struct FuseArgs {
  std::string model, output;
  bool report = false, opset21 = false;
};

void print_report(const PassReport& report) {
  for (const auto& r : report.records)
    std::cout << (r.applied ? "  rewrite  " : "  refused  ") << r.pass << ": " << r.description << "\n";
}
}  // namespace

void add_fuse_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("fuse",
                                 "Fuse GroupNorm, LayerNorm and activation subgraphs and write the model back "
                                 "as ONNX (the same rewrites `build` runs)");
  auto args = std::make_shared<FuseArgs>();
  cmd->add_option("model", args->model, "the ONNX model")->required();
  cmd->add_option("-o,--output", args->output, "the fused ONNX model to write")->required();
  cmd->add_flag("--report", args->report,
                "print each rewrite (which nodes became which) and each refused candidate with why");
  cmd->add_flag("--opset21", args->opset21,
                "move the model to opset 21 and write GroupNorm as the standard GroupNormalization-21 (refused, "
                "naming the nodes, when some op cannot move)");
  cmd->callback([args] {
    Graph graph = import_onnx_file(args->model);
    const int64_t opset = graph.opset("");
    PassReport report;
    fuse_normalizations(graph, report, FusionTarget::kOnnx);
    if (args->opset21) upgrade_to_opset21(graph, report);
    export_onnx_file(graph, args->output);
    if (args->report) print_report(report);
    size_t applied = 0, refused = 0;
    for (const auto& r : report.records) (r.applied ? applied : refused) += r.pass != "dead_code";
    // What the written file holds, read back the way `build` reads it.
    std::map<std::string, int> norms;
    for (const Node& n : import_onnx_file(args->output).nodes)
      if (n.domain == kNormrtDomain || n.op_type.find("Normalization") != std::string::npos)
        ++norms[(n.domain.empty() ? "" : n.domain + "::") + n.op_type];
    std::cout << "wrote " << args->output << " (opset " << opset;
    if (graph.opset("") != opset) std::cout << " -> " << graph.opset("");
    std::cout << "): " << applied << " rewrite(s), " << refused << " refused candidate(s); normalizations:";
    if (norms.empty()) std::cout << " none";
    for (const auto& [op, count] : norms) std::cout << " " << op << " x" << count;
    std::cout << "\n";
  });
}

}  // namespace normrt::cli
