// normrt build MODEL -o ENGINE --device cpu --minShapes=... --optShapes=... --maxShapes=...
#include <iostream>

#include "commands.h"
#include "engine/engine.h"
#include "onnx/importer.h"

namespace normrt::cli {

namespace {
struct BuildArgs {
  std::string model, output, device = "cpu", precision = "float32", layout = "auto", timing_cache;
  std::vector<std::string> min_shapes, opt_shapes, max_shapes, plugins;
  bool verbose = false, fp16 = false, tf32 = false;
};

// "42 of 50 nodes on the GPU; 8 fall back to the CPU: Resize x2, NonZero x6".
std::string device_summary(const Engine& engine) {
  size_t on_device = 0;
  std::map<std::string, int> fallback;
  for (size_t i = 0; i < engine.graph.nodes.size(); ++i) {
    if (engine.runs_on_device(i)) ++on_device;
    else ++fallback[engine.graph.nodes[i].op_type];
  }
  std::string s = std::to_string(on_device) + " of " + std::to_string(engine.graph.nodes.size()) + " nodes on " +
                  engine.device + " kernels";
  size_t fallen = engine.graph.nodes.size() - on_device;
  if (fallen) {
    s += "; " + std::to_string(fallen) + " fall back to the CPU (shape arithmetic among them runs no kernel):";
    for (const auto& [op, n] : fallback) s += " " + op + " x" + std::to_string(n);
  }
  return s;
}
}  // namespace

void add_build_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("build", "Build an engine from an ONNX model for a device and shape profiles");
  auto args = std::make_shared<BuildArgs>();
  cmd->add_option("model", args->model, "the ONNX model")->required();
  cmd->add_option("-o,--output", args->output, "the engine file to write")->required();
  cmd->add_option("--device", args->device, "cpu or cuda");
  // One value per occurrence: CLI11 lets a vector option swallow every following word otherwise, the model
  // path included ("build --maxShapes x:4x3 model.onnx -o e.nrt" failed with "model is required").
  cmd->add_option("--minShapes", args->min_shapes, "smallest shapes, name:DxDxD,... (repeat for more profiles)")
      ->allow_extra_args(false);
  cmd->add_option("--optShapes", args->opt_shapes, "typical shapes, name:DxDxD,...")->allow_extra_args(false);
  cmd->add_option("--maxShapes", args->max_shapes, "largest shapes, name:DxDxD,...")->allow_extra_args(false);
  cmd->add_option("--precision", args->precision,
                  "float32, or on cuda float16 or tf32 (the CPU computes in float32 only)");
  cmd->add_flag("--fp16", args->fp16, "float16 storage and tensor-core kernels (cuda; same as --precision float16)");
  cmd->add_flag("--tf32", args->tf32,
                "float32 storage, convolutions and matmuls on TF32 tensor cores (cuda; same as --precision tf32; "
                "TensorRT's and PyTorch's default for convolutions)");
  cmd->add_option("--layout", args->layout,
                  "auto (nhwc for cuda --fp16 and --tf32, else nchw), nchw, or nhwc: 2-D convolutions and GroupNorms "
                  "channels-last");
  add_plugins_option(cmd, args->plugins);
  cmd->add_option("--timing-cache", args->timing_cache,
                  "a file of tuning choices (GPU builds): reused where they apply, new ones added; created when "
                  "missing. Rebuilds give the same engine, faster");
  cmd->add_flag("-v,--verbose", args->verbose, "print what each graph pass did");
  cmd->callback([args] {
    load_plugins(args->plugins);
    BuildOptions options;
    options.device = args->device;
    if (args->fp16 && args->tf32) throw Error(ErrorCode::kInvalidArgument, "--fp16 and --tf32 exclude each other: pick one");
    options.precision = args->fp16 ? "float16" : args->tf32 ? "tf32" : args->precision;
    options.layout = args->layout;
    options.timing_cache = args->timing_cache;
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
    if (engine->device != "cpu")
      std::cout << "  " << engine->device_plan.device_name << " (compute capability "
                << engine->device_plan.architecture << "), precision " << engine->precision << ": "
                << device_summary(*engine) << "\n";
    for (const auto& r : engine->build_report.records)
      if (r.pass == "timing cache" || r.pass == "tuning") std::cout << "  " << r.pass << " " << r.description << "\n";
  });
}

}  // namespace normrt::cli
