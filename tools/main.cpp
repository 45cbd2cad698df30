// normrt: build ONNX models into engines and run them.
#include <iostream>

#include "commands.h"
#include "normrt/error.h"
#include "normrt/plugin.h"

namespace normrt::cli {

void add_plugins_option(CLI::App* command, std::vector<std::string>& libraries) {
  // One value per occurrence (see build_command.cpp): "--plugins a.so model.onnx" keeps the model.
  command->add_option("--plugins", libraries, "plugin library providing custom ops, loaded first (repeat for more)")
      ->allow_extra_args(false);
}

void load_plugins(const std::vector<std::string>& libraries) {
  for (const auto& library : libraries) normrt::load_plugin_library(library);
}

}  // namespace normrt::cli

int main(int argc, char** argv) {
  CLI::App app{"normrt: an ONNX inference builder and runtime for networks with GroupNorm, InstanceNorm and LayerNorm"};
  app.require_subcommand(1);
  normrt::cli::add_inspect_command(app);
  normrt::cli::add_build_command(app);
  normrt::cli::add_run_command(app);
  normrt::cli::add_bench_command(app);
  normrt::cli::add_fuse_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const normrt::Error& e) {
    std::cerr << "normrt: error (" << normrt::error_code_name(e.code()) << "): " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "normrt: internal error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
