// The values of the small integer tensors exporters compute from shapes, followed symbolically: a dynamic
// reshape is written Shape -> Gather -> Unsqueeze -> Concat (x.view(b, c, h * w)), whose value is unknown
// before run time only because of the batch. A pass that must know such a reshape's target (that it merges
// known axes and keeps the batch) reads it here, element by element.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ops/op.h"

namespace normrt {

// One element: a number, or a dim known only as "dim `axis` of value `of_value`" (read by Shape) and by its
// symbol when the model named it.
struct SymbolicInt {
  bool known = false;
  int64_t value = 0;
  std::string symbol;
  std::string of_value;
  int64_t axis = -1;

  static SymbolicInt number(int64_t v) { return SymbolicInt{true, v, {}, {}, -1}; }
  static SymbolicInt dim_of(const std::string& value, int64_t axis, const Dim& d) {
    return d.known() ? number(d.value) : SymbolicInt{false, 0, d.symbol, value, axis};
  }
};

// Whether element `e` is dim `axis` of `value`, whose dims are `dims`: read from it by Shape, or the same named
// model dim.
bool is_dim_of(const SymbolicInt& e, const std::string& value, size_t axis, const std::vector<Dim>& dims);

using TypeLookup = std::function<const TypeShape*(const std::string&)>;

// The elements of `value` (rank 0 or 1, at most 64 elements) through initializers, Shape (start / end), Gather
// on axis 0 with known indices, Unsqueeze, Squeeze, Identity, Cast, Concat, Slice with known bounds, and Add,
// Sub, Mul, Div on known elements (an element of unknown operands is unknown, not given up). nullopt when a
// producer is anything else.
std::optional<std::vector<SymbolicInt>> shape_value(const Graph& graph,
                                                    const std::map<std::string, const Node*>& producers,
                                                    const TypeLookup& type_of, const std::string& value);

// The output dims of Reshape(`input` of dims `dims`, target) with allowzero = 0: a 0 copies the input's dim; a
// -1 is worked out when every input dim is known or matched by an output element that is that same dim (a 0
// in its place, the input's own dim read by Shape, or the same named symbol), and stays unknown otherwise.
// nullopt when the target is no valid reshape of those dims.
std::optional<std::vector<Dim>> reshape_dims(const std::string& input, const std::vector<Dim>& dims,
                                             const std::vector<SymbolicInt>& target);

}  // namespace normrt
