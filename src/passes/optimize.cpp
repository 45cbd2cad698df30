#include "passes/pass.h"

namespace normrt {

void fuse_normalizations(Graph& graph, PassReport& report, FusionTarget target) {
  using Pass = void (*)(Graph&, PassReport&);
  for (Pass pass : {Pass{fuse_group_norm}, Pass{fuse_layer_norm}, Pass{fuse_gelu}, Pass{fuse_hard_swish}}) {
    pass(graph, report);
    graph.verify();
  }
  fuse_norm_activation(graph, report, target);
  if (target == FusionTarget::kEngine) {
    // A residual add after a norm joins it; an activation after that add then joins too (act(norm + r)).
    fuse_norm_residual(graph, report);
    graph.verify();
    fuse_norm_activation(graph, report, target);
  }
  eliminate_dead_nodes(graph, report);
  graph.verify();
}

void optimize(Graph& graph, PassReport& report) {
  fold_constants(graph, report);
  eliminate_dead_nodes(graph, report);
  fuse_normalizations(graph, report, FusionTarget::kEngine);
  fold_scalars_into_weights(graph, report);
  // Last: the fusions above match the exporters' shape arithmetic as written.
  fold_reshape_targets(graph, report);
  graph.verify();
}

}  // namespace normrt
