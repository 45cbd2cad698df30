// The subcommands of the `normrt` command line, one file each.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace normrt::cli {

// Each adds its subcommand to `app` and arranges for its callback to run when chosen.
void add_inspect_command(CLI::App& app);
void add_build_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_fuse_command(CLI::App& app);

// `--plugins lib.so` (repeatable) on a subcommand; load_plugins loads them in order before anything else runs.
void add_plugins_option(CLI::App* command, std::vector<std::string>& libraries);
void load_plugins(const std::vector<std::string>& libraries);

}  // namespace normrt::cli
