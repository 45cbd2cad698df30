#include "passes/pass.h"

namespace normrt {

void optimize(Graph& graph, PassReport& report) {
  fold_constants(graph, report);
  eliminate_dead_nodes(graph, report);
  fuse_group_norm(graph, report);
  fuse_norm_activation(graph, report);
  eliminate_dead_nodes(graph, report);
  graph.verify();
}

}  // namespace normrt
