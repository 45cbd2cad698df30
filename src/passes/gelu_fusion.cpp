// GELU fusion: the formulas exporters write for GELU become one Gelu node (default domain, the semantics of
// ONNX Gelu-20; normrt runs it at every opset, and norm_activation_fusion folds it into a normalization it
// follows). `normrt fuse` writes it back as the formula where the model's opset has no Gelu.
//
// Exact (erf) form, PyTorch's F.gelu below opset 20 and most hand-written ones:
//   u = Div(x, sqrt 2) | Mul(x, 1/sqrt 2) | Mul(1/sqrt 2, x)
//   e = Erf(u)
//   a = Add(e, 1) | Add(1, e)
//   z = x * a * 0.5, as any association of two Muls, or a Div by 2       (see match_scaled_product)
//   ==> z = Gelu(x, approximate = "none")
//
// Tanh form, F.gelu(approximate="tanh") and GPT-2's gelu_new:
//   c = Pow(x, 3) | Mul(x, Mul(x, x)) | Mul(Mul(x, x), x)
//   i = Add(x, Mul(0.044715, c))                        (every Mul and Add in either order)
//   t = Tanh(Mul(sqrt(2/pi), i))
//   a = Add(t, 1)
//   z = x * a * 0.5, as above
//   ==> z = Gelu(x, approximate = "tanh")
//
// Preconditions, each checked, each refusal recorded with its reason (an Erf or Tanh whose input is not
// scaled by a constant is no candidate and is not reported):
//   E1. every constant is a known scalar within 1e-5 relative of its exact value (exporters print 1/sqrt 2
//       and sqrt(2/pi) at float32 precision: 0.70710677, 0.7978846), and 1, 3, 0.5 exactly so;
//   E2. the x scaled before Erf (or cubed before Tanh) is the same x that multiplies the result;
//   E3. every intermediate value has exactly one reader and is no graph output (x itself may have others);
//   E4. x has a float type.
#include <cmath>

#include "ops/shape_util.h"
#include "passes/pass.h"
#include "passes/rewrite_util.h"

namespace normrt {
namespace {

constexpr const char* kPass = "gelu_fusion";
constexpr double kSqrt2 = 1.4142135623730951;
constexpr double kSqrt2OverPi = 0.7978845608028654;  // sqrt(2 / pi)
constexpr double kTanhCubic = 0.044715;              // Hendrycks & Gimpel, "Gaussian Error Linear Units", eq. 2

struct GeluMatch {
  std::string x, z;
  bool tanh = false;
  bool candidate = false;  // the Erf or Tanh reads a scaled value: worth a refusal record
  std::vector<size_t> nodes;
};

// The single reader of `value`, or nullptr with `why`.
const Node* only_reader(const Graph& g, const GraphQuery& q, const std::string& value, size_t* index,
                        std::string* why) {
  if (!q.has_single_use(value)) {
    *why = "'" + value + "' has another reader or is a graph output";
    return nullptr;
  }
  *index = q.readers(value)[0];
  return &g.nodes[*index];
}

// x such that `value` = x * factor (Mul either order) or x / (1 / factor); "" otherwise.
std::string scaled_input(const Node* node, KnownValues& known, double factor) {
  double c = 0;
  if (is_op(node, "Mul") && node->inputs.size() == 2) {
    if (known.scalar(node->input(1), &c) && close_to(c, factor)) return node->input(0);
    if (known.scalar(node->input(0), &c) && close_to(c, factor)) return node->input(1);
  }
  if (is_op(node, "Div") && known.scalar(node->input(1), &c) && close_to(c, 1.0 / factor)) return node->input(0);
  return "";
}

// a = Add(v, 1) read from `v`; appends the Add; "" with `why` otherwise.
std::string plus_one(const Graph& g, const GraphQuery& q, KnownValues& known, const std::string& v,
                     std::vector<size_t>* nodes, std::string* why) {
  size_t index = 0;
  const Node* add = only_reader(g, q, v, &index, why);
  if (!add) return "";
  double one = 0;
  if (!is_op(add, "Add") || add->inputs.size() != 2 || !known.scalar(other_input(*add, v), &one) || one != 1.0) {
    *why = "'" + v + "' is read by " + add->describe() + ", not by an Add of 1";
    return "";
  }
  nodes->push_back(index);
  return add->outputs[0];
}

// Whether `c` is x cubed: Pow(x, 3), Mul(x, Mul(x, x)) or Mul(Mul(x, x), x); appends its nodes.
bool is_cube(const GraphQuery& q, KnownValues& known, const std::string& c, const std::string& x,
             std::vector<size_t>* nodes) {
  const Node* p = q.producer(c);
  double exponent = 0;
  if (is_op(p, "Pow") && p->input(0) == x && known.scalar(p->input(1), &exponent) && exponent == 3.0) {
    nodes->push_back(q.producer_index(c));
    return true;
  }
  if (!is_op(p, "Mul") || p->inputs.size() != 2) return false;
  const std::string& square = other_input(*p, x);
  const Node* s = q.producer(square);
  if ((p->input(0) != x && p->input(1) != x) || !is_op(s, "Mul") || s->input(0) != x || s->input(1) != x ||
      !q.has_single_use(square))
    return false;
  nodes->push_back(q.producer_index(square));
  nodes->push_back(q.producer_index(c));
  return true;
}

bool match_erf(const Graph& g, const GraphQuery& q, KnownValues& known, size_t erf_index, GeluMatch* m,
               std::string* why) {
  const Node& erf = g.nodes[erf_index];
  const std::string& u = erf.input(0);
  const Node* scale = q.producer(u);
  m->x = scaled_input(scale, known, 1.0 / kSqrt2);
  if (m->x.empty()) {
    *why = "its input is not x / sqrt 2";  // not reported: a genuine Erf
    return false;
  }
  m->candidate = true;
  if (!q.has_single_use(u)) {
    *why = "'" + u + "' has another reader or is a graph output";
    return false;
  }
  m->nodes = {q.producer_index(u), erf_index};
  const std::string a = plus_one(g, q, known, erf.outputs[0], &m->nodes, why);
  if (a.empty()) return false;
  return match_scaled_product(g, q, known, m->x, a, 0.5, &m->nodes, &m->z, why);
}

bool match_tanh(const Graph& g, const GraphQuery& q, KnownValues& known, size_t tanh_index, GeluMatch* m,
                std::string* why) {
  const Node& tanh = g.nodes[tanh_index];
  const std::string& scaled = tanh.input(0);
  const Node* scale = q.producer(scaled);
  const std::string inner = scaled_input(scale, known, kSqrt2OverPi);
  if (inner.empty()) {
    *why = "its input is not sqrt(2/pi) * (...)";  // not reported: a genuine Tanh
    return false;
  }
  m->tanh = true;
  m->candidate = true;
  if (!q.has_single_use(scaled) || !q.has_single_use(inner)) {
    *why = "an intermediate value of the tanh formula has another reader or is a graph output";
    return false;
  }
  const Node* sum = q.producer(inner);
  if (!is_op(sum, "Add") || sum->inputs.size() != 2) {
    *why = "the value scaled by sqrt(2/pi) is not x + 0.044715 x^3";
    return false;
  }
  // Which operand of the Add is x, which 0.044715 * x^3?
  for (int side = 0; side < 2 && m->x.empty(); ++side) {
    const std::string& x = sum->input(side);
    const std::string& term = sum->input(1 - side);
    const Node* cubic = q.producer(term);
    std::vector<size_t> nodes;
    const std::string cube = scaled_input(cubic, known, kTanhCubic);
    if (cube.empty() || !q.has_single_use(term) || !q.has_single_use(cube) || !is_cube(q, known, cube, x, &nodes))
      continue;
    m->x = x;
    m->nodes = nodes;
    m->nodes.push_back(q.producer_index(term));
  }
  if (m->x.empty()) {
    *why = "the value scaled by sqrt(2/pi) is not x + 0.044715 x^3";
    return false;
  }
  m->nodes.insert(m->nodes.end(), {q.producer_index(inner), q.producer_index(scaled), tanh_index});
  const std::string a = plus_one(g, q, known, tanh.outputs[0], &m->nodes, why);
  if (a.empty()) return false;
  return match_scaled_product(g, q, known, m->x, a, 0.5, &m->nodes, &m->z, why);
}

}  // namespace

void fuse_gelu(Graph& graph, PassReport& report) {
  std::set<std::string> refused;
  bool changed = true;
  while (changed) {
    changed = false;
    GraphTypes types = infer_types_tolerant(graph);
    KnownValues known(graph, types);
    GraphQuery q(graph);
    for (size_t i = 0; i < graph.nodes.size() && !changed; ++i) {
      const Node& node = graph.nodes[i];
      const bool erf = is_op(&node, "Erf"), tanh = is_op(&node, "Tanh");
      if (!(erf || tanh) || node.inputs.size() != 1 || node.outputs.size() != 1) continue;
      GeluMatch m;
      std::string why;
      bool matched = erf ? match_erf(graph, q, known, i, &m, &why) : match_tanh(graph, q, known, i, &m, &why);
      if (matched && !is_float_type(known.dtype(m.x))) {  // E4
        why = "the input '" + m.x + "' is not of a float type";
        matched = false;
      }
      if (!matched) {
        if (m.candidate && refused.insert(node.name).second)
          report.refused(kPass, node.describe() + ": not a GELU (" + (erf ? "erf" : "tanh") + " form): " + why);
        continue;
      }
      Node gelu;
      gelu.op_type = "Gelu";
      gelu.name = node.name + "_gelu";
      gelu.inputs = {m.x};
      gelu.outputs = {m.z};
      gelu.attributes["approximate"] = string_attribute(m.tanh ? "tanh" : "none");
      report.applied(kPass, describe_nodes(graph, m.nodes) + " -> Gelu '" + gelu.name +
                                "' (approximate = " + (m.tanh ? "tanh" : "none") + ")");
      replace_nodes(graph, m.nodes, gelu);
      changed = true;
    }
  }
}

}  // namespace normrt
