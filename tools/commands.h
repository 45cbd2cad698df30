// The subcommands of the `normrt` command line, one file each.
#pragma once

#include <CLI/CLI.hpp>

namespace normrt::cli {

// Each adds its subcommand to `app` and arranges for its callback to run when chosen.
void add_inspect_command(CLI::App& app);
void add_build_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_fuse_command(CLI::App& app);

}  // namespace normrt::cli
