// LayerNorm fusion: the spelled-out normalization exporters write below opset 17 (PyTorch's
// native_layer_norm symbolic, and hand-written LayerNorms in any opset) becomes one ai.normrt::LayerNorm.
//
//   mean = ReduceMean(x, axes A, keepdims = 1)          axes: attribute, or input (opset 18)
//   d    = Sub(x, mean)
//   sq   = Pow(d, 2) | Mul(d, d)
//   var  = ReduceMean(sq, axes A, keepdims = 1)
//   ve   = Add(var, eps) | Add(eps, var)
//   sd   = Sqrt(ve)
//   n    = Div(d, sd) | Mul(d, Reciprocal(sd)) | Mul(d, Div(1, sd))        (Mul operands in either order)
//        | Mul(d, Pow(ve, -0.5))                                            (then no Sqrt)
//   m    = Mul(n, gamma) | Mul(gamma, n)                                    (optional)
//   y    = Add(m, beta)  | Add(beta, m)                                     (optional)
//   ==>
//   y    = ai.normrt::LayerNorm(x, gamma, beta, axis = -|A|, epsilon = eps)
//
// Preconditions, each checked, each refusal recorded with its reason:
//   L1. both ReduceMeans have keepdims = 1 (with keepdims = 0 the Sub broadcasts differently; ONNX Runtime's
//       fusion once fused that wrongly) and known axes;
//   L2. both use the same axes, consecutive and ending at the last axis (negative axes need no rank; positive
//       ones need x's rank);
//   L3. the Sub subtracts the mean from the very x it was taken of, in that order;
//   L4. the square is Pow with a known exponent of exactly 2, or Mul(d, d);
//   L5. eps is a known scalar (one element) >= 0; the reciprocal's numerator is exactly 1 and the power -0.5;
//   L6. d has exactly two readers (the square and the normalizing node); every other intermediate value has
//       exactly one, and none is a graph output;
//   L7. x has a float type;
//   L8. gamma and beta are known values of x's type that broadcast over the normalized axes only (dims of 1
//       elsewhere, no higher rank than x, and equal to x's dims where those are known; where they are not, the
//       fused op checks them when shapes are). A Mul or Add that fails this stays in the graph after the fused
//       node, and the report says why.
// The same statistics over axes [2, rank) followed by a per-channel affine (gamma [C,1,..,1]) is an
// InstanceNorm written out; it becomes a standard InstanceNormalization (with ones/zeros when the affine is
// partly absent), which needs the channel count C to be static.
#include <algorithm>
#include <cstdio>
#include <numeric>

#include "ops/shape_util.h"
#include "passes/pass.h"
#include "passes/rewrite_util.h"

namespace normrt {
namespace {

constexpr const char* kPass = "layer_norm_fusion";

struct Statistics {
  std::string x, normalized;
  std::vector<int64_t> axes;  // sorted; negative when the rank is unknown
  int64_t rank = -1;          // x's rank when known
  float epsilon = 0;
  std::vector<size_t> nodes;
};

// The axes of a ReduceMean (L1); false with `why` when unknown or keepdims is 0.
bool reduce_axes(const Node& node, KnownValues& known, int64_t rank, std::vector<int64_t>* axes, std::string* why) {
  if (node.attr_int("keepdims", 1) != 1) {
    *why = node.describe() + " has keepdims = 0";
    return false;
  }
  if (node.has_attribute("axes")) {
    *axes = node.attr_ints("axes");
  } else if (node.has_input(1)) {
    std::vector<double> v;
    if (!known.doubles(node.input(1), &v)) {
      *why = node.describe() + " reads its axes from '" + node.input(1) + "', which is not a constant";
      return false;
    }
    axes->assign(v.begin(), v.end());
  } else {
    axes->clear();
  }
  if (axes->empty()) {
    if (node.attr_int("noop_with_empty_axes", 0) != 0) {
      *why = node.describe() + " reduces nothing (noop_with_empty_axes = 1 and no axes)";
      return false;
    }
    if (rank < 0) {
      *why = node.describe() + " reduces over every axis and the input's rank is unknown";
      return false;
    }
    axes->resize(static_cast<size_t>(rank));
    std::iota(axes->begin(), axes->end(), int64_t{0});
  }
  for (int64_t& a : *axes) {
    if (a >= 0 && rank < 0) {
      *why = node.describe() + " reduces over axis " + std::to_string(a) + " and the input's rank is unknown";
      return false;
    }
    if (rank >= 0) {
      if (a < -rank || a >= rank) {
        *why = node.describe() + " has axis " + std::to_string(a) + " outside the input's rank " + std::to_string(rank);
        return false;
      }
      if (a < 0) a += rank;
    }
  }
  std::sort(axes->begin(), axes->end());
  return true;
}

std::string axes_string(const std::vector<int64_t>& axes) {
  std::string s = "[";
  for (size_t i = 0; i < axes.size(); ++i) s += (i ? ", " : "") + std::to_string(axes[i]);
  return s + "]";
}

// The single reader of `value`, or nullptr (with `why`) when it has another reader or is a graph output.
const Node* only_reader(const Graph& g, const GraphQuery& q, const std::string& value, size_t* index,
                        std::string* why) {
  if (!q.has_single_use(value)) {
    *why = "'" + value + "' has " + std::to_string(q.readers(value).size()) + " readers" +
           (q.is_graph_output(value) ? " and is a graph output" : "") + "; the pattern needs it to have one";
    return nullptr;
  }
  *index = q.readers(value)[0];
  return &g.nodes[*index];
}

bool match_statistics(const Graph& g, const GraphQuery& q, KnownValues& known, size_t mean_index, size_t sub_index,
                      Statistics* s, std::string* why) {
  const Node& mean = g.nodes[mean_index];
  const Node& sub = g.nodes[sub_index];
  s->x = mean.input(0);
  const Shape xs = known.shape(s->x);
  s->rank = xs.has_rank ? static_cast<int64_t>(xs.rank()) : -1;
  if (!is_float_type(known.dtype(s->x))) {  // L7
    *why = "the input '" + s->x + "' is not of a float type";
    return false;
  }
  if (!reduce_axes(mean, known, s->rank, &s->axes, why)) return false;  // L1
  for (size_t i = 0; i < s->axes.size(); ++i) {                         // L2
    const int64_t expected = (s->rank >= 0 ? s->rank : 0) - static_cast<int64_t>(s->axes.size() - i);
    if (s->axes[i] != expected) {
      *why = "the mean is taken over axes " + axes_string(mean.attr_ints("axes", s->axes)) +
             ", which are not consecutive axes ending at the last one";
      return false;
    }
  }
  if (!q.has_single_use(mean.outputs[0])) {  // L6
    *why = "the mean '" + mean.outputs[0] + "' has another reader or is a graph output";
    return false;
  }
  const std::string d = sub.outputs[0];
  std::vector<size_t> d_readers = q.readers(d);
  std::sort(d_readers.begin(), d_readers.end());
  d_readers.erase(std::unique(d_readers.begin(), d_readers.end()), d_readers.end());
  if (q.is_graph_output(d) || d_readers.size() != 2) {
    *why = "the centered value '" + d + "' is read by " + std::to_string(d_readers.size()) + " nodes" +
           (q.is_graph_output(d) ? " and is a graph output" : "") +
           "; the pattern needs exactly the square and the division";
    return false;
  }
  // Which reader squares d (L4)?
  size_t square_index = SIZE_MAX, divide_index = SIZE_MAX;
  for (size_t r : d_readers) {
    const Node& n = g.nodes[r];
    double exponent = 0;
    const bool is_square =
        (is_op(&n, "Mul") && n.input(0) == d && n.input(1) == d) ||
        (is_op(&n, "Pow") && n.input(0) == d && known.scalar(n.input(1), &exponent) && exponent == 2.0);
    if (is_square && square_index == SIZE_MAX)
      square_index = r;
    else
      divide_index = r;
  }
  if (square_index == SIZE_MAX) {
    *why = "neither reader of the centered value '" + d + "' squares it (Pow with exponent 2, or Mul(d, d))";
    return false;
  }
  size_t var_index = 0, add_index = 0, sqrt_index = 0;
  const Node* var = only_reader(g, q, g.nodes[square_index].outputs[0], &var_index, why);
  if (!var) return false;
  std::vector<int64_t> var_axes;
  if (!is_op(var, "ReduceMean")) {
    *why = "the square is read by " + var->describe() + ", not by a ReduceMean";
    return false;
  }
  if (!reduce_axes(*var, known, s->rank, &var_axes, why)) return false;
  if (var_axes != s->axes) {
    *why = "the variance is taken over axes " + axes_string(var_axes) + ", the mean over " + axes_string(s->axes);
    return false;
  }
  const Node* add = only_reader(g, q, var->outputs[0], &add_index, why);
  if (!add) return false;
  double eps = 0;
  if (!is_op(add, "Add") || !known.scalar(other_input(*add, var->outputs[0]), &eps)) {  // L5
    *why = "the variance is read by " + add->describe() + ", not by an Add of a constant scalar epsilon";
    return false;
  }
  if (eps < 0) {
    *why = "epsilon " + std::to_string(eps) + " is negative";
    return false;
  }
  s->epsilon = static_cast<float>(eps);
  const Node* root = only_reader(g, q, add->outputs[0], &sqrt_index, why);
  if (!root) return false;
  s->nodes = {mean_index, sub_index, square_index, var_index, add_index, sqrt_index};
  // The normalizing node and, for the reciprocal forms, the node computing 1 / sd.
  const Node& divide = g.nodes[divide_index];
  double value = 0;
  if (is_op(root, "Sqrt")) {
    const std::string& sd = root->outputs[0];
    if (is_op(&divide, "Div") && divide.input(0) == d && divide.input(1) == sd && q.has_single_use(sd)) {
      s->nodes.push_back(divide_index);
      s->normalized = divide.outputs[0];
      return true;
    }
    size_t reciprocal_index = 0;
    const Node* reciprocal = only_reader(g, q, sd, &reciprocal_index, why);
    if (!reciprocal) return false;
    const bool is_reciprocal =
        is_op(reciprocal, "Reciprocal") || (is_op(reciprocal, "Div") && reciprocal->input(1) == sd &&
                                            known.scalar(reciprocal->input(0), &value) && value == 1.0);
    if (!is_reciprocal) {
      *why = "the standard deviation is read by " + reciprocal->describe() + ", not by Div(d, sd) or a reciprocal";
      return false;
    }
    s->nodes.push_back(reciprocal_index);
    root = reciprocal;
  } else if (!(is_op(root, "Pow") && root->input(0) == add->outputs[0] && known.scalar(root->input(1), &value) &&
               value == -0.5)) {
    *why = "variance + epsilon is read by " + root->describe() + ", not by Sqrt or Pow(., -0.5)";
    return false;
  }
  const std::string& inverse = root->outputs[0];
  if (!q.has_single_use(inverse) || !is_op(&divide, "Mul") || other_input(divide, d) != inverse) {
    *why = "the centered value is not multiplied by the inverse standard deviation ('" + divide.describe() + "')";
    return false;
  }
  s->nodes.push_back(divide_index);
  s->normalized = divide.outputs[0];
  return true;
}

// Whether `name` (a known value) broadcasts against x over the normalized axes only (L8); `out` gets it with
// leading dims of 1 beyond the normalized ones removed.
bool over_normalized_axes(KnownValues& known, const std::string& name, const Statistics& s, const Shape& xs,
                          DataType x_type, Tensor* out, std::string* why) {
  const Tensor* t = known.value(name);
  if (!t) {
    *why = "'" + name + "' is not a constant";
    return false;
  }
  if (t->dtype() != x_type) {
    *why = "'" + name + "' has type " + dtype_name(t->dtype()) + ", the input " + dtype_name(x_type);
    return false;
  }
  const size_t k = s.axes.size();
  if (s.rank >= 0 && t->rank() > static_cast<size_t>(s.rank)) {
    *why = "'" + name + "' of shape " + dims_to_string(t->dims()) + " has more dims than the input";
    return false;
  }
  Dims kept;
  for (size_t i = 0; i < t->rank(); ++i) {
    const size_t from_right = t->rank() - i;  // 1 for the last axis
    const int64_t d = t->dims()[i];
    if (from_right > k) {
      if (d != 1) {
        *why = "'" + name + "' of shape " + dims_to_string(t->dims()) + " varies along an axis that is not normalized";
        return false;
      }
      continue;
    }
    if (d != 1 && xs.has_rank) {
      // A dim of x unknown here is checked once shapes are known: the fused op refuses a scale that does not
      // match it (where the Mul would have broadcast a normalized axis of size 1 up, which no LayerNorm means).
      const Dim& xd = xs.dims[xs.rank() - from_right];
      if (xd.known() && xd.value != d) {
        *why = "'" + name + "' of shape " + dims_to_string(t->dims()) + " does not match the input " + xs.to_string() +
               " along the normalized axes";
        return false;
      }
    }
    kept.push_back(d);
  }
  *out = t->reshaped(kept);
  return true;
}

// For the InstanceNorm form: `name` broadcasts along the channel axis only; `out` gets C values.
bool per_channel(KnownValues& known, const std::string& name, int64_t rank, int64_t channels, DataType x_type,
                 Tensor* out) {
  const Tensor* t = known.value(name);
  if (!t || t->dtype() != x_type || t->rank() > static_cast<size_t>(rank)) return false;
  const size_t offset = static_cast<size_t>(rank) - t->rank();
  int64_t extent = 1;
  for (size_t i = 0; i < t->rank(); ++i) {
    if (offset + i == 1)
      extent = t->dims()[i];
    else if (t->dims()[i] != 1)
      return false;
  }
  if (extent != 1 && extent != channels) return false;
  *out = Tensor(x_type, {channels});
  for (int64_t c = 0; c < channels; ++c) set_element_from_double(*out, c, element_as_double(*t, extent == 1 ? 0 : c));
  return true;
}

std::string float_text(float v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", static_cast<double>(v));
  return text;
}

struct Affine {
  bool instance_norm = false;
  Tensor scale, bias;  // empty when absent
  std::vector<size_t> nodes;
  std::string y;
  std::string note;  // why a following Mul or Add was not absorbed
};

Affine match_affine(const Graph& g, const GraphQuery& q, KnownValues& known, const Statistics& s) {
  Affine a;
  a.y = s.normalized;
  const Shape xs = known.shape(s.x);
  const DataType x_type = known.dtype(s.x);
  const bool instance_axes = s.rank >= 3 && s.axes.front() == 2 && xs.dims[1].known();
  const int64_t channels = instance_axes ? xs.dims[1].value : -1;
  for (const char* op : {"Mul", "Add"}) {
    if (!q.has_single_use(a.y)) break;
    const size_t reader_index = q.readers(a.y)[0];
    const Node& reader = g.nodes[reader_index];
    if (!is_op(&reader, op) || reader.inputs.size() != 2) continue;
    const std::string& other = other_input(reader, a.y);
    Tensor* target = std::string(op) == "Mul" ? &a.scale : &a.bias;
    std::string why;
    Tensor value;
    const bool layer_ok = !a.instance_norm && over_normalized_axes(known, other, s, xs, x_type, &value, &why);
    if (layer_ok) {
      *target = value;
    } else if (instance_axes && (a.instance_norm || a.nodes.empty()) &&
               per_channel(known, other, s.rank, channels, x_type, &value)) {
      a.instance_norm = true;
      *target = value;
    } else {
      a.note = reader.describe() + " stays after the fused node: " + why;
      break;
    }
    a.nodes.push_back(reader_index);
    a.y = reader.outputs[0];
  }
  return a;
}

}  // namespace

void fuse_layer_norm(Graph& graph, PassReport& report) {
  std::set<std::string> refused;
  bool changed = true;
  while (changed) {
    changed = false;
    GraphTypes types = infer_types_tolerant(graph);
    KnownValues known(graph, types);
    GraphQuery q(graph);
    for (size_t i = 0; i < graph.nodes.size() && !changed; ++i) {
      const Node& mean = graph.nodes[i];
      if (!is_op(&mean, "ReduceMean") || mean.inputs.empty() || mean.outputs.empty()) continue;
      // A candidate: some Sub computes x - mean(x). Anything else is a plain reduction, not worth a refusal.
      size_t sub_index = SIZE_MAX;
      for (size_t r : q.readers(mean.outputs[0])) {
        const Node& n = graph.nodes[r];
        if (is_op(&n, "Sub") && n.input(1) == mean.outputs[0] && n.input(0) == mean.input(0)) sub_index = r;
      }
      if (sub_index == SIZE_MAX) {
        for (size_t r : q.readers(mean.outputs[0]))
          if (is_op(&graph.nodes[r], "Sub") && graph.nodes[r].input(0) == mean.outputs[0] &&
              graph.nodes[r].input(1) == mean.input(0) && refused.insert(mean.name).second)
            report.refused(kPass, mean.describe() + ": not a LayerNorm: " + graph.nodes[r].describe() +
                                      " computes mean - x, not x - mean");  // L3
        continue;
      }
      Statistics s;
      std::string why;
      if (!match_statistics(graph, q, known, i, sub_index, &s, &why)) {
        if (refused.insert(mean.name).second) report.refused(kPass, mean.describe() + ": not a LayerNorm: " + why);
        continue;
      }
      Affine a = match_affine(graph, q, known, s);
      std::vector<size_t> nodes = s.nodes;
      nodes.insert(nodes.end(), a.nodes.begin(), a.nodes.end());
      const std::string base = graph.nodes[s.nodes.back()].name;
      Node fused;
      fused.outputs = {a.y};
      auto add_constant = [&](const Tensor& t, const char* suffix) {
        if (t.empty()) return std::string();
        std::string name = fresh_value_name(graph, base + suffix);
        graph.initializers[name] = t;
        return name;
      };
      const DataType x_type = known.dtype(s.x);
      if (a.instance_norm) {
        const int64_t channels = known.shape(s.x).dims[1].value;
        auto filled = [&](const Tensor& t, double v) {
          if (!t.empty()) return t;
          Tensor f(x_type, {channels});
          for (int64_t c = 0; c < channels; ++c) set_element_from_double(f, c, v);
          return f;
        };
        fused.op_type = "InstanceNormalization";
        fused.name = base + "_instance_norm";
        fused.inputs = {s.x, add_constant(filled(a.scale, 1.0), "_scale"), add_constant(filled(a.bias, 0.0), "_bias")};
      } else {
        fused.op_type = "LayerNorm";
        fused.domain = kNormrtDomain;
        fused.name = base + "_layer_norm";
        fused.inputs = {s.x, add_constant(a.scale, "_scale"), add_constant(a.bias, "_bias")};
        while (!fused.inputs.empty() && fused.inputs.back().empty()) fused.inputs.pop_back();
        fused.attributes["axis"] = int_attribute(-static_cast<int64_t>(s.axes.size()));
        graph.opsets[kNormrtDomain] = 1;
      }
      fused.attributes["epsilon"] = float_attribute(s.epsilon);
      std::string description =
          describe_nodes(graph, nodes) + " -> " + (fused.domain.empty() ? "" : fused.domain + "::") + fused.op_type +
          " '" + fused.name + "' over " + std::to_string(s.axes.size()) + " last axes, epsilon " +
          float_text(s.epsilon) + (a.scale.empty() ? ", no scale" : "") + (a.bias.empty() ? ", no bias" : "");
      if (!a.note.empty()) description += "; " + a.note;
      report.applied(kPass, description);
      replace_nodes(graph, nodes, fused);
      changed = true;
    }
  }
  eliminate_dead_nodes(graph, report);
}

}  // namespace normrt
