// normrt run ENGINE_OR_MODEL --input name=file.npy ... --output-dir DIR
#include <sys/stat.h>

#include <cctype>
#include <cstdio>

#include <fstream>
#include <iostream>
#include <set>

#include "commands.h"
#include "engine/engine.h"
#include "io/npy.h"
#include "onnx/importer.h"

namespace normrt::cli {

namespace {

struct RunArgs {
  std::string model, output_dir;
  std::vector<std::string> inputs;
};

std::string json_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// Output names become file names: every character outside [A-Za-z0-9._-] becomes '_'.
std::string file_stem(const std::string& name) {
  std::string s;
  for (char c : name) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') ? c : '_';
  if (s.empty() || s == "." || s == "..") s = "_" + s;
  return s;
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "Run an engine (or an ONNX model, built for exactly the given shapes)");
  auto args = std::make_shared<RunArgs>();
  cmd->add_option("model", args->model, "a normrt engine (.nrt) or an ONNX model")->required();
  // One value per occurrence (see build_command.cpp), so that "--input x=a.npy model.nrt" keeps the model.
  cmd->add_option("--input", args->inputs, "name=file.npy, once per input")->required()->allow_extra_args(false);
  cmd->add_option("--output-dir", args->output_dir, "folder for one .npy per output and manifest.json")->required();
  cmd->callback([args] {
    std::map<std::string, Tensor> inputs;
    for (const auto& item : args->inputs) {
      size_t eq = item.find('=');
      if (eq == std::string::npos || eq == 0)
        throw Error(ErrorCode::kInvalidArgument, "--input '" + item + "' is not of the form name=file.npy");
      std::string name = item.substr(0, eq);
      if (inputs.count(name)) throw Error(ErrorCode::kInvalidArgument, "--input '" + name + "' is given twice");
      inputs[name] = read_npy(item.substr(eq + 1));
    }
    std::shared_ptr<Engine> engine;
    if (looks_like_engine(args->model)) {
      engine = load_engine(args->model);
    } else {
      Graph graph = import_onnx_file(args->model);
      // Build for exactly the shapes given: one profile whose min, opt and max are these shapes.
      Profile profile;
      for (const auto& [name, t] : inputs)
        if (graph.find_input(name)) profile.inputs[name] = ShapeRange{t.dims(), t.dims(), t.dims()};
      for (const auto& in : graph.inputs)
        if (!inputs.count(in.name))
          throw Error(ErrorCode::kInvalidArgument, "input '" + in.name + "' " + in.shape.to_string() +
                                                       " was not given; pass --input " + in.name + "=file.npy");
      for (const auto& [name, t] : inputs)
        if (!graph.find_input(name)) profile.inputs[name] = ShapeRange{t.dims(), t.dims(), t.dims()};  // named in the error
      BuildOptions options;
      options.source_name = args->model;
      options.profiles.push_back(profile);
      engine = build_engine(std::move(graph), options);
    }
    ExecutionContext context(engine);
    auto outputs = context.run(inputs);

    ::mkdir(args->output_dir.c_str(), 0755);
    struct stat st;
    if (::stat(args->output_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      throw Error(ErrorCode::kIo, "cannot create output folder '" + args->output_dir + "'");
    std::set<std::string> used;
    std::string manifest = "{\"outputs\": [";
    for (size_t i = 0; i < outputs.size(); ++i) {
      const auto& [name, tensor] = outputs[i];
      std::string stem = file_stem(name), file = stem + ".npy";
      for (int k = 2; used.count(file); ++k) file = stem + "_" + std::to_string(k) + ".npy";  // names that collide
      used.insert(file);
      write_npy(args->output_dir + "/" + file, tensor);
      std::string shape = "[";
      for (size_t d = 0; d < tensor.rank(); ++d) shape += (d ? ", " : "") + std::to_string(tensor.dims()[d]);
      manifest += std::string(i ? ", " : "") + "{\"name\": \"" + json_escape(name) + "\", \"file\": \"" +
                  json_escape(file) + "\", \"shape\": " + shape + "], \"dtype\": \"" + dtype_name(tensor.dtype()) + "\"}";
    }
    manifest += "]}\n";
    std::ofstream f(args->output_dir + "/manifest.json");
    f << manifest;
    if (!f) throw Error(ErrorCode::kIo, "cannot write '" + args->output_dir + "/manifest.json'");
    std::cout << "wrote " << outputs.size() << " output(s) to " << args->output_dir << "\n";
  });
}

}  // namespace normrt::cli
