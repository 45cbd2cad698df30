// GroupNorm fusion: recognizes what PyTorch's exporters write for nn.GroupNorm and replaces it by one
// ai.normrt::GroupNorm node.
//
//   x [N, C, *spatial]
//   r1 = Reshape(x, [0 | N, G, -1 | C/G*prod(spatial)])
//   n  = InstanceNormalization(r1, scale = ones[G], bias = zeros[G], epsilon)
//   r2 = Reshape(n, Shape(x) | the static shape of x)
//   m  = Mul(r2, gamma)      gamma per channel: [C,1,..], [1,C,1,..], or a scalar     (optional)
//   y  = Add(m, beta)        beta likewise                                             (optional)
//
// The forms this covers:
//   - the TorchScript exporter at every opset (the constants above are initializers or Constant nodes);
//   - the torch.export/dynamo exporter at opset 18 before its optimizer runs: the first shape is
//     Concat([0], Reshape(G, [-1]), [-1]), scale and bias are Expand(CastLike(1.0 | 0.0, x), [G]), gamma and
//     beta are CastLike(Unsqueeze(weight, axes), ...): every one of these is a value known before run time
//     (KnownValues evaluates it), and what counts is that value, not how it was spelled;
//   - a mixed-precision chain: float Casts between the stages (r1 -> Cast -> n -> Cast -> r2 ...), as fp16
//     models write around an InstanceNormalization they run in float32, and Shape read through a Cast of x.
//
// Preconditions, each checked, each refusal recorded with its reason:
//   G1. x has a known rank >= 3 and a static channel count C;
//   G2. the first Reshape's shape is a known value of 3 entries, [0 (allowzero = 0) | N, G, -1 | C/G*spatial];
//   G3. G divides C;
//   G4. the InstanceNormalization's scale and bias are known values of length G, all ones and all zeros;
//   G5. every intermediate value (r1, n, r2, m and the Casts between them) has exactly one reader and is no
//       graph output;
//   G6. the second Reshape restores x's shape: Shape(w) where w is x up to Casts, or a constant equal to x's
//       static shape;
//   G7. Casts inside the chain convert between float types and never below x's precision, and the value the
//       fused node replaces has x's type (so the fusion can only be more precise, never less);
//   G8. gamma and beta (each optional) are known values that broadcast along the channel axis only; a Mul or
//       Add that fails this stays in the graph after the fused node (the normalization fuses alone).
//       Besides the Mul (Add), the only readers of the value it scales (shifts) may be CastLike nodes that
//       take its type for exactly that gamma (beta), as the dynamo form does.
#include <algorithm>
#include <cmath>

#include "ops/shape_util.h"
#include "passes/pass.h"
#include "passes/rewrite_util.h"

namespace normrt {

namespace {

constexpr const char* kPass = "group_norm_fusion";

struct GroupNormMatch {
  std::vector<size_t> nodes;  // matched node indices
  std::string x, y;
  int64_t groups = 0, channels = 0;
  float epsilon = 1e-5f;
  std::vector<double> gamma, beta;  // per channel; empty when absent
  std::string note;                 // why a following Mul or Add was not absorbed
};

// Expands a known value that broadcasts against x of `rank` along the channel axis only into C values.
bool per_channel(KnownValues& known, const std::string& name, size_t rank, int64_t channels, std::vector<double>* out,
                 std::string* why) {
  const Tensor* t = known.value(name);
  if (!t) {
    *why = "'" + name + "' is not a constant";
    return false;
  }
  if (t->rank() > rank) {
    *why = "'" + name + "' has rank " + std::to_string(t->rank()) + ", more than the input's " + std::to_string(rank);
    return false;
  }
  std::vector<double> values;
  if (!known.doubles(name, &values)) {
    *why = "'" + name + "' has no numeric value";
    return false;
  }
  size_t offset = rank - t->rank();
  int64_t channel_extent = 1;
  for (size_t i = 0; i < t->rank(); ++i) {
    int64_t d = t->dims()[i];
    if (offset + i == 1) {
      channel_extent = d;
    } else if (d != 1) {
      *why = "'" + name + "' of shape " + dims_to_string(t->dims()) + " varies along axis " +
             std::to_string(offset + i) + ", not only along the channel axis";
      return false;
    }
  }
  if (channel_extent != 1 && channel_extent != channels) {
    *why =
        "'" + name + "' has " + std::to_string(channel_extent) + " channels, the input has " + std::to_string(channels);
    return false;
  }
  out->assign(static_cast<size_t>(channels), 0.0);
  for (int64_t c = 0; c < channels; ++c)
    (*out)[static_cast<size_t>(c)] = values[channel_extent == 1 ? 0 : static_cast<size_t>(c)];
  return true;
}

// The value whose shape `value` has, looking through Casts and Identities (which keep shapes).
std::string shape_root(const GraphQuery& q, std::string value) {
  for (int hops = 0; hops < 16; ++hops) {
    const Node* p = q.producer(value);
    if (!(is_op(p, "Cast") || is_op(p, "Identity")) || p->inputs.empty()) break;
    value = p->input(0);
  }
  return value;
}

int float_precision(DataType dtype) {
  switch (dtype) {
    case DataType::kFloat16:
    case DataType::kBFloat16:
      return 1;
    case DataType::kFloat32:
      return 2;
    case DataType::kFloat64:
      return 3;
    default:
      return 0;
  }
}

// Follows single-reader Casts forward from `value` (G5, G7); appends them to `nodes`. False with `why` for a
// Cast the fusion cannot absorb.
bool skip_casts_forward(const Graph& g, const GraphQuery& q, DataType x_type, std::string* value,
                        std::vector<size_t>* nodes, std::string* why) {
  while (q.has_single_use(*value)) {
    const size_t reader_index = q.readers(*value)[0];
    const Node& reader = g.nodes[reader_index];
    if (!is_op(&reader, "Cast")) break;
    const DataType to = static_cast<DataType>(reader.attr_int("to", 0));
    if (float_precision(to) < float_precision(x_type)) {
      *why = reader.describe() + " inside the pattern casts to " + dtype_name(to) + ", below the input's " +
             dtype_name(x_type) + "; fusing would change the result's precision";
      return false;
    }
    nodes->push_back(reader_index);
    *value = reader.outputs[0];
  }
  return true;
}

// Whether `shape_value` is Shape(x) (whole shape; x up to Casts) or a constant equal to x's static shape.
bool restores_shape_of(const GraphQuery& q, KnownValues& known, const std::string& shape_value, const std::string& x,
                       const Shape& xs, std::string* why) {
  const Node* p = q.producer(shape_value);
  if (is_op(p, "Shape") && shape_root(q, p->input(0)) == shape_root(q, x) && p->attr_int("start", 0) == 0 &&
      !p->has_attribute("end"))
    return true;
  std::vector<double> v;
  if (known.doubles(shape_value, &v) && xs.fully_known()) {
    Dims d = xs.concrete();
    bool same = v.size() == d.size();
    for (size_t i = 0; same && i < d.size(); ++i) same = static_cast<int64_t>(v[i]) == d[i];
    if (same) return true;
  }
  if (p && !is_op(p, "Shape")) {
    *why = "the second Reshape's shape comes from " + p->describe() + ", not from Shape of the normalized input";
    return false;
  }
  *why = "the second Reshape does not restore the input's shape " + xs.to_string();
  return false;
}

bool match(const Graph& g, const GraphQuery& q, KnownValues& known, size_t in_index, GroupNormMatch* m,
           std::string* why) {
  const Node& in = g.nodes[in_index];
  // Back from the InstanceNormalization, through Casts, to the first Reshape.
  std::vector<size_t> casts_before;
  std::string reshaped = in.input(0);
  const Node* r1 = q.producer(reshaped);
  while (is_op(r1, "Cast") && q.has_single_use(reshaped)) {
    casts_before.push_back(q.producer_index(reshaped));
    reshaped = r1->input(0);
    r1 = q.producer(reshaped);
  }
  if (!is_op(r1, "Reshape")) {
    *why = "its input is not produced by a Reshape (a genuine InstanceNorm)";
    return false;
  }
  m->x = r1->input(0);
  const Shape xs = known.shape(m->x);
  const DataType x_type = known.dtype(m->x);
  if (!xs.has_rank || xs.rank() < 3) {  // G1
    *why = "the Reshape's input has no known rank >= 3";
    return false;
  }
  if (!xs.dims[1].known()) {
    *why = "the channel count of '" + m->x + "' is not static";
    return false;
  }
  m->channels = xs.dims[1].value;
  std::vector<double> s1;
  if (!known.doubles(r1->input(1), &s1) || s1.size() != 3) {  // G2
    *why = "the first Reshape's shape is not a constant of 3 values";
    return false;
  }
  m->groups = static_cast<int64_t>(s1[1]);
  if (m->groups <= 0 || m->channels % m->groups != 0) {  // G3
    *why = "the reshape makes " + std::to_string(m->groups) + " groups, which does not divide the " +
           std::to_string(m->channels) + " channels";
    return false;
  }
  bool keeps_batch = (s1[0] == 0 && r1->attr_int("allowzero", 0) == 0) ||
                     (xs.dims[0].known() && static_cast<int64_t>(s1[0]) == xs.dims[0].value);
  int64_t per_group = m->channels / m->groups;
  bool spatial_known = true;
  for (size_t i = 2; i < xs.rank(); ++i) {
    spatial_known &= xs.dims[i].known();
    if (xs.dims[i].known()) per_group *= xs.dims[i].value;
  }
  bool flattens_rest = s1[2] == -1 || (spatial_known && static_cast<int64_t>(s1[2]) == per_group);
  if (!keeps_batch || !flattens_rest) {
    *why = "the first Reshape's shape is not [N, G, -1]";
    return false;
  }
  std::vector<double> scale, bias;  // G4
  if (!known.doubles(in.input(1), &scale) || !known.doubles(in.input(2), &bias) ||
      scale.size() != static_cast<size_t>(m->groups) || bias.size() != static_cast<size_t>(m->groups)) {
    *why = "the InstanceNormalization's scale and bias are not constants of length G = " + std::to_string(m->groups);
    return false;
  }
  for (size_t i = 0; i < scale.size(); ++i)
    if (scale[i] != 1.0 || bias[i] != 0.0) {
      *why = "the InstanceNormalization's scale is not all ones or its bias not all zeros";
      return false;
    }
  m->epsilon = in.attr_float("epsilon", 1e-5f);
  if (!q.has_single_use(r1->outputs[0]) || !q.has_single_use(in.outputs[0])) {  // G5
    *why = "an intermediate value has another reader or is a graph output";
    return false;
  }
  if (!is_float_type(x_type)) {
    *why = "the input '" + m->x + "' has type " + dtype_name(x_type) + ", not a float type";
    return false;
  }
  for (size_t c : casts_before) {  // G7, the Casts before the InstanceNormalization
    const DataType to = static_cast<DataType>(g.nodes[c].attr_int("to", 0));
    if (float_precision(to) < float_precision(x_type)) {
      *why = g.nodes[c].describe() + " inside the pattern casts to " + dtype_name(to) + ", below the input's " +
             dtype_name(x_type) + "; fusing would change the result's precision";
      return false;
    }
  }
  std::vector<size_t> nodes = casts_before;
  nodes.push_back(q.producer_index(reshaped));
  nodes.push_back(in_index);
  std::string normalized = in.outputs[0];
  if (!skip_casts_forward(g, q, x_type, &normalized, &nodes, why)) return false;
  if (!q.has_single_use(normalized)) {
    *why = "an intermediate value has another reader or is a graph output";
    return false;
  }
  const size_t r2_index = q.readers(normalized)[0];
  const Node& r2 = g.nodes[r2_index];
  if (!is_op(&r2, "Reshape") || r2.input(0) != normalized) {
    *why = "the InstanceNormalization's reader is " + r2.describe() + ", not a Reshape back";
    return false;
  }
  if (!restores_shape_of(q, known, r2.input(1), m->x, xs, why)) return false;  // G6
  nodes.push_back(r2_index);
  m->y = r2.outputs[0];

  // The affine that follows, when there is one (G8), with Casts between the stages.
  for (const char* op : {"Mul", "Add"}) {
    std::vector<size_t> casts;
    std::string after_casts = m->y;
    std::string cast_why;
    if (!skip_casts_forward(g, q, x_type, &after_casts, &casts, &cast_why) || q.is_graph_output(after_casts)) break;
    // One reader computes with the value; CastLike(gamma, value) only reads its type (the dynamo form).
    size_t reader_index = SIZE_MAX;
    std::vector<size_t> type_readers;
    bool several = false;
    for (size_t r : q.readers(after_casts)) {
      const Node& n = g.nodes[r];
      if (is_op(&n, "CastLike") && n.input(1) == after_casts && n.input(0) != after_casts)
        type_readers.push_back(r);
      else if (reader_index == SIZE_MAX)
        reader_index = r;
      else
        several = true;
    }
    if (several || reader_index == SIZE_MAX) break;
    const Node& reader = g.nodes[reader_index];
    if (!is_op(&reader, op) || reader.inputs.size() != 2) {
      if (!type_readers.empty()) break;  // nothing to absorb, and the CastLike readers must keep their input
      continue;
    }
    const std::string& other = reader.input(0) == after_casts ? reader.input(1) : reader.input(0);
    bool type_readers_absorbed = true;
    for (size_t t : type_readers) type_readers_absorbed &= g.nodes[t].outputs[0] == other && q.has_single_use(other);
    if (!type_readers_absorbed) {
      m->note = reader.describe() + " stays after the fused node: '" + after_casts +
                "' is also read by a CastLike whose result is not the affine's operand";
      break;
    }
    std::vector<double>* target = std::string(op) == "Mul" ? &m->gamma : &m->beta;
    std::string affine_why;
    if (!per_channel(known, other, xs.rank(), m->channels, target, &affine_why)) {
      // Not an affine we can absorb: fuse the normalization alone and leave this node in place.
      target->clear();
      m->note = reader.describe() + " stays after the fused node: " + affine_why;
      break;
    }
    nodes.insert(nodes.end(), casts.begin(), casts.end());
    nodes.insert(nodes.end(), type_readers.begin(), type_readers.end());
    nodes.push_back(reader_index);
    m->y = reader.outputs[0];
  }
  // Trailing Casts back to x's type belong to the pattern too (G7: the fused node writes x's type).
  std::vector<size_t> casts;
  std::string after_casts = m->y;
  std::string cast_why;
  if (known.dtype(m->y) != x_type && skip_casts_forward(g, q, x_type, &after_casts, &casts, &cast_why) &&
      known.dtype(after_casts) == x_type) {
    nodes.insert(nodes.end(), casts.begin(), casts.end());
    m->y = after_casts;
  }
  if (known.dtype(m->y) != x_type) {
    *why = "the pattern turns " + std::string(dtype_name(x_type)) + " into " + dtype_name(known.dtype(m->y)) +
           ", and the fused node writes its input's type";
    return false;
  }
  m->nodes = nodes;
  return true;
}

Tensor channel_tensor(const std::vector<double>& values, size_t channels, double fill, DataType dtype) {
  Tensor t(dtype == DataType::kUndefined ? DataType::kFloat32 : dtype, {static_cast<int64_t>(channels)});
  for (size_t c = 0; c < channels; ++c)
    set_element_from_double(t, static_cast<int64_t>(c), values.empty() ? fill : values[c]);
  return t;
}

}  // namespace

void fuse_group_norm(Graph& graph, PassReport& report) {
  std::set<std::string> refused;  // report each refused node once, not once per restart of the scan
  bool changed = true;
  while (changed) {
    changed = false;
    GraphTypes types = infer_types_tolerant(graph);
    KnownValues known(graph, types);
    GraphQuery q(graph);
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      const Node& in = graph.nodes[i];
      if (!is_op(&in, "InstanceNormalization")) continue;
      GroupNormMatch m;
      std::string why;
      if (!match(graph, q, known, i, &m, &why)) {
        // A genuine InstanceNorm is no refusal worth reporting.
        if (why.rfind("its input is not produced by a Reshape", 0) != 0 && refused.insert(in.name).second)
          report.refused(kPass, in.describe() + ": not a GroupNorm: " + why);
        continue;
      }
      const DataType dtype = known.dtype(m.x);
      Node fused;
      fused.op_type = "GroupNorm";
      fused.domain = kNormrtDomain;
      fused.name = in.name + "_group_norm";
      std::string scale = fresh_value_name(graph, fused.name + "_scale");
      graph.initializers[scale] = channel_tensor(m.gamma, static_cast<size_t>(m.channels), 1.0, dtype);
      std::string bias = fresh_value_name(graph, fused.name + "_bias");
      graph.initializers[bias] = channel_tensor(m.beta, static_cast<size_t>(m.channels), 0.0, dtype);
      fused.inputs = {m.x, scale, bias};
      fused.outputs = {m.y};
      fused.attributes["num_groups"] = int_attribute(m.groups);
      fused.attributes["epsilon"] = float_attribute(m.epsilon);
      graph.opsets[kNormrtDomain] = 1;

      report.applied(kPass, "GroupNorm(G=" + std::to_string(m.groups) + ", C=" + std::to_string(m.channels) +
                                "): " + describe_nodes(graph, m.nodes) + " -> ai.normrt::GroupNorm '" + fused.name +
                                "'" + (m.gamma.empty() ? ", no scale" : "") + (m.beta.empty() ? ", no bias" : "") +
                                (m.note.empty() ? "" : "; " + m.note));
      replace_nodes(graph, m.nodes, fused);
      changed = true;
      break;
    }
  }
  eliminate_dead_nodes(graph, report);
}

}  // namespace normrt
