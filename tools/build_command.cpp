// normrt build MODEL -o ENGINE --device cpu --minShapes=... --optShapes=... --maxShapes=...
#include <iostream>

#include "commands.h"
#include "engine/engine.h"
#include "onnx/importer.h"

namespace normrt::cli {

namespace {
struct BuildArgs {
  std::string model, output, device = "cpu";
  std::vector<std::string> min_shapes, opt_shapes, max_shapes;
  bool verbose = false;
};
}  // namespace

void add_build_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("build", "Build an engine from an ONNX model for a device and shape profiles");
  auto args = std::make_shared<BuildArgs>();
  cmd->add_option("model", args->model, "the ONNX model")->required();
  cmd->add_option("-o,--output", args->output, "the engine file to write")->required();
  cmd->add_option("--device", args->device, "cpu");
  // One value per occurrence: CLI11 lets a vector option swallow every following word otherwise, the model
  // path included ("build --maxShapes x:4x3 model.onnx -o e.nrt" failed with "model is required").
  cmd->add_option("--minShapes", args->min_shapes, "smallest shapes, name:DxDxD,... (repeat for more profiles)")
      ->allow_extra_args(false);
  cmd->add_option("--optShapes", args->opt_shapes, "typical shapes, name:DxDxD,...")->allow_extra_args(false);
  cmd->add_option("--maxShapes", args->max_shapes, "largest shapes, name:DxDxD,...")->allow_extra_args(false);
  cmd->add_flag("-v,--verbose", args->verbose, "print what each graph pass did");
  cmd->callback([args] {
    BuildOptions options;
    options.device = args->device;
    options.source_name = args->model;
    options.profiles = profiles_from_flags(args->min_shapes, args->opt_shapes, args->max_shapes);
    auto engine = build_engine(import_onnx_file(args->model), options);
    save_engine(*engine, args->output);
    if (args->verbose)
      for (const auto& r : engine->build_report.records)
        std::cout << "  " << r.pass << (r.applied ? ": " : " refused: ") << r.description << "\n";
    size_t fast = 0;
    for (const auto& k : engine->kernels) fast += !k.empty();
    std::cout << "built " << args->output << ": device " << engine->device << ", " << engine->profiles.size()
              << " profile(s), " << engine->graph.nodes.size() << " nodes (" << fast << " on fast kernels)\n";
  });
}

}  // namespace normrt::cli
