// Constant folding: a node whose inputs are all known (initializers, or shape arithmetic whose value follows
// from the static dims of the model) becomes an initializer. This removes the Shape -> Gather -> Unsqueeze ->
// Concat chains that PyTorch's exporter writes around Reshape whenever the dims they read are static.
#include "ops/evaluate.h"
#include "passes/pass.h"

namespace normrt {

void fold_constants(Graph& graph, PassReport& report) {
  GraphTypes types = infer_graph(graph, {});
  std::vector<Node> kept;
  size_t folded = 0;
  const int64_t opset = graph.opset("");
  for (Node& node : graph.nodes) {
    bool outputs_known = true;
    for (const auto& out : node.outputs)
      if (!out.empty() && !types.values.count(out)) outputs_known = false;
    bool inputs_known = true;
    for (const auto& in : node.inputs)
      if (!in.empty() && !graph.initializers.count(in)) inputs_known = false;
    if (!outputs_known && !inputs_known) {
      kept.push_back(std::move(node));
      continue;
    }
    // A constant beyond kMaxFoldedBytes stays a node (computed at run time): no real model stores one, and a
    // hostile file must not make the builder allocate gigabytes. So does one that would grow the model by more
    // than kMaxFoldedGrowthBytes beyond its inputs (a 136-byte ConstantOfShape of 400 MB ran the fuzzer out of
    // memory serializing the engine).
    int64_t input_bytes = 0;
    for (const auto& in : node.inputs)
      if (!in.empty() && graph.initializers.count(in)) input_bytes += static_cast<int64_t>(graph.initializers.at(in).nbytes());
    std::string too_large;
    for (const auto& out : node.outputs) {
      if (out.empty() || types.values.count(out)) continue;
      const TypeShape& ts = types.types.at(out);
      if (!ts.shape.fully_known()) continue;
      int64_t bytes = 0;
      if (__builtin_mul_overflow(element_count(ts.shape.concrete()), static_cast<int64_t>(dtype_size(ts.dtype)),
                                 &bytes) ||
          bytes > kMaxFoldedBytes)
        too_large = "would be larger than " + std::to_string(kMaxFoldedBytes >> 20) + " MiB";
      else if (bytes - input_bytes > kMaxFoldedGrowthBytes)
        too_large = "would add " + std::to_string(bytes >> 20) + " MiB to the model from " +
                    std::to_string(input_bytes) + " bytes of inputs (more than " +
                    std::to_string(kMaxFoldedGrowthBytes >> 20) + " MiB)";
    }
    if (!too_large.empty()) {
      report.refused("constant_folding", node.describe() + ": its output " + too_large + "; computed at run time");
      kept.push_back(std::move(node));
      continue;
    }
    if (!outputs_known) {  // a large constant (a weight transform): evaluate it now
      std::vector<const Tensor*> inputs;
      for (const auto& in : node.inputs) inputs.push_back(in.empty() ? nullptr : &graph.initializers.at(in));
      std::vector<Tensor> outs = run_node(node, node.domain.empty() ? opset : graph.opset(node.domain), inputs);
      for (size_t i = 0; i < outs.size(); ++i)
        if (!node.outputs[i].empty()) types.values[node.outputs[i]] = std::move(outs[i]);
    }
    for (const auto& out : node.outputs)
      if (!out.empty()) graph.initializers[out] = types.values.at(out);
    ++folded;
  }
  graph.nodes = std::move(kept);
  if (folded) report.applied("constant_folding", "folded " + std::to_string(folded) + " nodes into constants");
}

}  // namespace normrt
