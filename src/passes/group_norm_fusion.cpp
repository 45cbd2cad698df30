// GroupNorm fusion: recognizes what PyTorch's TorchScript exporter writes for nn.GroupNorm (every opset) and
// replaces it by one ai.normrt::GroupNorm node.
//
//   x [N, C, *spatial]
//   r1 = Reshape(x, [0 | N, G, -1 | C/G*prod(spatial)])
//   n  = InstanceNormalization(r1, scale = ones[G], bias = zeros[G], epsilon)
//   r2 = Reshape(n, Shape(x) | the static shape of x)
//   m  = Mul(r2, gamma)      gamma per channel: [C,1,..], [1,C,1,..], or a scalar     (optional)
//   y  = Add(m, beta)        beta likewise                                             (optional)
//
// Preconditions, each checked, each refusal recorded with its reason: the Reshapes split and restore exactly
// x's shape with G dividing C, the InstanceNormalization is the identity affine, every intermediate value has
// exactly one reader and is no graph output, and gamma/beta broadcast along the channel axis only.
#include <algorithm>
#include <cmath>

#include "ops/evaluate.h"
#include "ops/shape_util.h"
#include "passes/graph_query.h"
#include "passes/pass.h"

namespace normrt {

namespace {

constexpr const char* kPass = "group_norm_fusion";

struct GroupNormMatch {
  std::vector<size_t> nodes;  // matched node indices, in graph order
  std::string x, y;
  int64_t groups = 0, channels = 0;
  float epsilon = 1e-5f;
  std::vector<double> gamma, beta;  // per channel; empty when absent
};

// Expands a constant that broadcasts against x of `rank` along the channel axis only into C values.
bool per_channel(const GraphQuery& q, const std::string& name, size_t rank, int64_t channels,
                 std::vector<double>* out, std::string* why) {
  const Tensor* t = q.constant(name);
  if (!t) {
    *why = "'" + name + "' is not a constant";
    return false;
  }
  if (t->rank() > rank) {
    *why = "'" + name + "' has rank " + std::to_string(t->rank()) + ", more than the input's " + std::to_string(rank);
    return false;
  }
  std::vector<double> values;
  q.constant_values(name, &values);
  size_t offset = rank - t->rank();
  int64_t channel_extent = 1;
  for (size_t i = 0; i < t->rank(); ++i) {
    int64_t d = t->dims()[i];
    if (offset + i == 1) {
      channel_extent = d;
    } else if (d != 1) {
      *why = "'" + name + "' of shape " + dims_to_string(t->dims()) + " varies along axis " + std::to_string(offset + i) +
             ", not only along the channel axis";
      return false;
    }
  }
  if (channel_extent != 1 && channel_extent != channels) {
    *why = "'" + name + "' has " + std::to_string(channel_extent) + " channels, the input has " + std::to_string(channels);
    return false;
  }
  out->assign(static_cast<size_t>(channels), 0.0);
  for (int64_t c = 0; c < channels; ++c) (*out)[static_cast<size_t>(c)] = values[channel_extent == 1 ? 0 : static_cast<size_t>(c)];
  return true;
}

// Whether `shape_value` is Shape(x) (whole shape) or a constant equal to x's static shape.
bool restores_shape_of(const GraphQuery& q, const std::string& shape_value, const std::string& x, const Shape& xs,
                       std::string* why) {
  if (const Node* p = q.producer(shape_value)) {
    if (p->op_type == "Shape" && p->domain.empty() && p->input(0) == x && p->attr_int("start", 0) == 0 &&
        !p->has_attribute("end"))
      return true;
    *why = "the second Reshape's shape comes from " + p->describe() + ", not from Shape of the normalized input";
    return false;
  }
  std::vector<double> v;
  if (q.constant_values(shape_value, &v) && xs.fully_known()) {
    Dims d = xs.concrete();
    bool same = v.size() == d.size();
    for (size_t i = 0; same && i < d.size(); ++i) same = static_cast<int64_t>(v[i]) == d[i];
    if (same) return true;
  }
  *why = "the second Reshape does not restore the input's shape " + xs.to_string();
  return false;
}

bool match(const Graph& g, const GraphQuery& q, const GraphTypes& types, size_t in_index, GroupNormMatch* m,
           std::string* why) {
  const Node& in = g.nodes[in_index];
  const Node* r1 = q.producer(in.input(0));
  if (!r1 || r1->op_type != "Reshape" || !r1->domain.empty()) {
    *why = "its input is not produced by a Reshape (a genuine InstanceNorm)";
    return false;
  }
  m->x = r1->input(0);
  auto xt = types.types.find(m->x);
  if (xt == types.types.end() || !xt->second.shape.has_rank || xt->second.shape.rank() < 3) {
    *why = "the Reshape's input has no known rank >= 3";
    return false;
  }
  const Shape& xs = xt->second.shape;
  if (!xs.dims[1].known()) {
    *why = "the channel count of '" + m->x + "' is not static";
    return false;
  }
  m->channels = xs.dims[1].value;
  std::vector<double> s1;
  if (!q.constant_values(r1->input(1), &s1) || s1.size() != 3) {
    *why = "the first Reshape's shape is not a constant of 3 values";
    return false;
  }
  m->groups = static_cast<int64_t>(s1[1]);
  if (m->groups <= 0 || m->channels % m->groups != 0) {
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
  std::vector<double> scale, bias;
  if (!q.constant_values(in.input(1), &scale) || !q.constant_values(in.input(2), &bias) ||
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
  if (!q.has_single_use(r1->outputs[0]) || !q.has_single_use(in.outputs[0])) {
    *why = "an intermediate value has another reader or is a graph output";
    return false;
  }
  const Node& r2 = g.nodes[q.readers(in.outputs[0])[0]];
  if (r2.op_type != "Reshape" || !r2.domain.empty() || r2.input(0) != in.outputs[0]) {
    *why = "the InstanceNormalization's reader is " + r2.describe() + ", not a Reshape back";
    return false;
  }
  if (!restores_shape_of(q, r2.input(1), m->x, xs, why)) return false;
  m->nodes = {q.producer_index(in.input(0)), in_index, q.producer_index(r2.outputs[0])};
  m->y = r2.outputs[0];

  // The affine that follows, when there is one.
  for (const char* op : {"Mul", "Add"}) {
    if (!q.has_single_use(m->y)) break;
    size_t reader_index = q.readers(m->y)[0];
    const Node& reader = g.nodes[reader_index];
    if (reader.op_type != op || !reader.domain.empty() || reader.inputs.size() != 2) continue;
    const std::string& other = reader.input(0) == m->y ? reader.input(1) : reader.input(0);
    std::vector<double>* target = std::string(op) == "Mul" ? &m->gamma : &m->beta;
    std::string affine_why;
    if (!per_channel(q, other, xs.rank(), m->channels, target, &affine_why)) {
      // Not an affine we can absorb: fuse the normalization alone and leave this node in place.
      target->clear();
      break;
    }
    m->nodes.push_back(reader_index);
    m->y = reader.outputs[0];
  }
  return true;
}

std::string unique_name(const Graph& g, const std::string& base) {
  std::string name = base;
  for (int k = 1; g.initializers.count(name) || g.value_info.count(name); ++k) name = base + "_" + std::to_string(k);
  return name;
}

Tensor channel_tensor(const std::vector<double>& values, size_t channels, double fill, DataType dtype) {
  Tensor t(dtype == DataType::kUndefined ? DataType::kFloat32 : dtype, {static_cast<int64_t>(channels)});
  for (size_t c = 0; c < channels; ++c) set_element_from_double(t, static_cast<int64_t>(c), values.empty() ? fill : values[c]);
  return t;
}

}  // namespace

void fuse_group_norm(Graph& graph, PassReport& report) {
  bool changed = true;
  while (changed) {
    changed = false;
    GraphTypes types = infer_graph(graph, {});
    GraphQuery q(graph);
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      const Node& in = graph.nodes[i];
      if (in.op_type != "InstanceNormalization" || !in.domain.empty()) continue;
      GroupNormMatch m;
      std::string why;
      if (!match(graph, q, types, i, &m, &why)) {
        // A genuine InstanceNorm is no refusal worth reporting.
        if (why.rfind("its input is not produced by a Reshape", 0) != 0)
          report.refused(kPass, in.describe() + ": not a GroupNorm: " + why);
        continue;
      }
      DataType dtype = types.types.at(m.x).dtype;
      Node fused;
      fused.op_type = "GroupNorm";
      fused.domain = kNormrtDomain;
      fused.name = in.name + "_group_norm";
      std::string scale = unique_name(graph, fused.name + "_scale"), bias = unique_name(graph, fused.name + "_bias");
      graph.initializers[scale] = channel_tensor(m.gamma, static_cast<size_t>(m.channels), 1.0, dtype);
      graph.initializers[bias] = channel_tensor(m.beta, static_cast<size_t>(m.channels), 0.0, dtype);
      fused.inputs = {m.x, scale, bias};
      fused.outputs = {m.y};
      Attribute groups, epsilon;
      groups.type = AttributeType::kInt;
      groups.i = m.groups;
      epsilon.type = AttributeType::kFloat;
      epsilon.f = m.epsilon;
      fused.attributes["num_groups"] = groups;
      fused.attributes["epsilon"] = epsilon;
      graph.opsets[kNormrtDomain] = 1;

      std::string replaced;
      for (size_t k : m.nodes) replaced += (replaced.empty() ? "" : ", ") + graph.nodes[k].describe();
      report.applied(kPass, "GroupNorm(G=" + std::to_string(m.groups) + ", C=" + std::to_string(m.channels) + "): " +
                                replaced + " -> ai.normrt::GroupNorm '" + fused.name + "'" +
                                (m.gamma.empty() ? ", no scale" : "") + (m.beta.empty() ? ", no bias" : ""));
      // The fused node takes the place of the last matched node: its inputs exist before every matched node,
      // and its output's readers all come after the last.
      size_t last = *std::max_element(m.nodes.begin(), m.nodes.end());
      std::vector<Node> nodes;
      for (size_t k = 0; k < graph.nodes.size(); ++k) {
        if (k == last) nodes.push_back(fused);
        else if (std::find(m.nodes.begin(), m.nodes.end(), k) == m.nodes.end()) nodes.push_back(std::move(graph.nodes[k]));
      }
      graph.nodes = std::move(nodes);
      changed = true;
      break;
    }
  }
  eliminate_dead_nodes(graph, report);
}

}  // namespace normrt
