#include "passes/shape_values.h"

#include <algorithm>

namespace normrt {
namespace {

constexpr size_t kMaxElements = 64;
constexpr int kMaxDepth = 32;

using Elements = std::vector<SymbolicInt>;

class ShapeValues {
 public:
  ShapeValues(const Graph& graph, const std::map<std::string, const Node*>& producers, const TypeLookup& type_of)
      : graph_(graph), producers_(producers), type_of_(type_of) {}

  std::optional<Elements> value(const std::string& name, int depth) {
    if (depth > kMaxDepth || name.empty()) return std::nullopt;
    if (graph_.is_initializer(name)) return constant(graph_.initializers.at(name));
    auto p = producers_.find(name);
    if (p == producers_.end()) return std::nullopt;
    const Node& n = *p->second;
    if (!n.domain.empty()) return std::nullopt;
    const std::string& op = n.op_type;
    if (op == "Constant" && n.has_attribute("value") && n.attributes.at("value").type == AttributeType::kTensor)
      return constant(n.attributes.at("value").t);
    if (op == "Shape") return shape_of(n);
    if (op == "Unsqueeze" || op == "Squeeze" || op == "Identity" ||
        (op == "Cast" && (n.attr_int("to", 0) == 7 || n.attr_int("to", 0) == 6)))  // int64, int32
      return value(n.input(0), depth + 1);
    if (op == "Gather" && n.attr_int("axis", 0) == 0) return gather(n, depth);
    if (op == "Concat") return concat(n, depth);
    if (op == "Slice") return slice(n, depth);
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") return arithmetic(n, depth);
    return std::nullopt;
  }

 private:
  static std::optional<Elements> constant(const Tensor& t) {
    if (t.rank() > 1 || static_cast<size_t>(t.numel()) > kMaxElements) return std::nullopt;
    Elements out;
    for (int64_t i = 0; i < t.numel(); ++i) {
      if (t.dtype() == DataType::kInt64) out.push_back(SymbolicInt::number(t.data<int64_t>()[i]));
      else if (t.dtype() == DataType::kInt32) out.push_back(SymbolicInt::number(t.data<int32_t>()[i]));
      else return std::nullopt;
    }
    return out;
  }

  std::optional<Elements> shape_of(const Node& n) const {
    const TypeShape* ts = type_of_(n.input(0));
    if (!ts || !ts->shape.has_rank) return std::nullopt;
    const int64_t rank = static_cast<int64_t>(ts->shape.rank());
    auto clamp = [&](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + rank : i, 0, rank); };
    const int64_t start = clamp(n.attr_int("start", 0)), end = clamp(n.attr_int("end", rank));
    Elements out;
    for (int64_t i = start; i < end; ++i)
      out.push_back(SymbolicInt::dim_of(n.input(0), i, ts->shape.dims[static_cast<size_t>(i)]));
    return out;
  }

  // Known numbers of `name`, or nullopt.
  std::optional<std::vector<int64_t>> numbers(const std::string& name, int depth) {
    auto v = value(name, depth + 1);
    if (!v) return std::nullopt;
    std::vector<int64_t> out;
    for (const SymbolicInt& e : *v) {
      if (!e.known) return std::nullopt;
      out.push_back(e.value);
    }
    return out;
  }

  std::optional<Elements> gather(const Node& n, int depth) {
    auto data = value(n.input(0), depth + 1);
    auto indices = numbers(n.input(1), depth);
    if (!data || !indices) return std::nullopt;
    Elements out;
    const int64_t size = static_cast<int64_t>(data->size());
    for (int64_t i : *indices) {
      if (i < -size || i >= size) return std::nullopt;
      out.push_back((*data)[static_cast<size_t>(i < 0 ? i + size : i)]);
    }
    return out;
  }

  std::optional<Elements> concat(const Node& n, int depth) {
    const int64_t axis = n.attr_int("axis", 0);
    if (axis != 0 && axis != -1) return std::nullopt;
    Elements out;
    for (const std::string& in : n.inputs) {
      auto v = value(in, depth + 1);
      if (!v) return std::nullopt;
      out.insert(out.end(), v->begin(), v->end());
      if (out.size() > kMaxElements) return std::nullopt;
    }
    return out;
  }

  std::optional<Elements> slice(const Node& n, int depth) {
    auto data = value(n.input(0), depth + 1);
    if (!data || n.inputs.size() < 3) return std::nullopt;
    auto starts = numbers(n.input(1), depth), ends = numbers(n.input(2), depth);
    if (!starts || !ends || starts->size() != 1 || ends->size() != 1) return std::nullopt;
    if (n.inputs.size() > 3 && !n.input(3).empty()) {
      auto axes = numbers(n.input(3), depth);
      if (!axes || axes->size() != 1 || ((*axes)[0] != 0 && (*axes)[0] != -1)) return std::nullopt;
    }
    if (n.inputs.size() > 4 && !n.input(4).empty()) {
      auto steps = numbers(n.input(4), depth);
      if (!steps || steps->size() != 1 || (*steps)[0] != 1) return std::nullopt;
    }
    const int64_t size = static_cast<int64_t>(data->size());
    auto clamp = [&](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + size : i, 0, size); };
    const int64_t b = clamp((*starts)[0]), e = clamp((*ends)[0]);
    return Elements(data->begin() + b, data->begin() + std::max(b, e));
  }

  std::optional<Elements> arithmetic(const Node& n, int depth) {
    auto a = value(n.input(0), depth + 1), b = value(n.input(1), depth + 1);
    if (!a || !b) return std::nullopt;
    if (a->size() != b->size() && a->size() != 1 && b->size() != 1) return std::nullopt;
    const size_t count = std::max(a->size(), b->size());
    Elements out;
    for (size_t i = 0; i < count; ++i) {
      const SymbolicInt& x = (*a)[a->size() == 1 ? 0 : i];
      const SymbolicInt& y = (*b)[b->size() == 1 ? 0 : i];
      SymbolicInt r;  // unknown
      const std::string& op = n.op_type;
      if (x.known && y.known) {
        // Values come from the model: an overflowing one is no shape, and stays unknown.
        int64_t v = 0;
        bool overflow = false;
        if (op == "Add") overflow = __builtin_add_overflow(x.value, y.value, &v);
        if (op == "Sub") overflow = __builtin_sub_overflow(x.value, y.value, &v);
        if (op == "Mul") overflow = __builtin_mul_overflow(x.value, y.value, &v);
        if (op == "Div") {
          overflow = y.value <= 0 || x.value < 0;  // shapes are non-negative; no INT64_MIN / -1
          if (!overflow) v = x.value / y.value;
        }
        if (!overflow) r = SymbolicInt::number(v);
      } else if ((op == "Mul" || op == "Div") && y.known && y.value == 1) {
        r = x;
      } else if (op == "Mul" && x.known && x.value == 1) {
        r = y;
      }
      out.push_back(r);
    }
    return out;
  }

  const Graph& graph_;
  const std::map<std::string, const Node*>& producers_;
  const TypeLookup& type_of_;
};

}  // namespace

std::optional<std::vector<SymbolicInt>> shape_value(const Graph& graph,
                                                    const std::map<std::string, const Node*>& producers,
                                                    const TypeLookup& type_of, const std::string& value) {
  return ShapeValues(graph, producers, type_of).value(value, 0);
}

bool is_dim_of(const SymbolicInt& e, const std::string& value, size_t axis, const std::vector<Dim>& dims) {
  if (e.of_value == value && e.axis == static_cast<int64_t>(axis)) return true;
  return axis < dims.size() && !e.symbol.empty() && !dims[axis].known() && dims[axis].symbol == e.symbol;
}

std::optional<std::vector<Dim>> reshape_dims(const std::string& input, const std::vector<Dim>& dims,
                                             const std::vector<SymbolicInt>& target) {
  std::vector<Dim> out;
  std::vector<bool> matched(dims.size(), false);  // input dims an output element is known to equal
  bool unresolved = false;                        // an output element neither known nor matched
  int64_t known_product = 1;                      // of the known output elements (not the -1)
  int64_t infer_at = -1;
  auto match = [&](const SymbolicInt& t, size_t i) {
    for (size_t j = 0; j < dims.size(); ++j) {
      if (matched[j]) continue;
      const bool same = is_dim_of(t, input, j, dims) || (t.known && t.value == 0 && j == i);
      if (same) {
        matched[j] = true;
        return true;
      }
    }
    return false;
  };
  for (size_t i = 0; i < target.size(); ++i) {
    const SymbolicInt& t = target[i];
    if (t.known && t.value == -1) {
      if (infer_at >= 0) return std::nullopt;  // two -1s
      infer_at = static_cast<int64_t>(i);
      out.push_back(Dim::unknown());
    } else if (t.known && t.value == 0) {
      if (i >= dims.size()) return std::nullopt;
      out.push_back(dims[i]);
      if (!dims[i].known() && !match(t, i)) unresolved = true;
      if (dims[i].known() && __builtin_mul_overflow(known_product, dims[i].value, &known_product)) return std::nullopt;
    } else if (t.known && t.value < 0) {
      return std::nullopt;
    } else if (t.known) {
      out.push_back(Dim(t.value));
      if (__builtin_mul_overflow(known_product, t.value, &known_product)) return std::nullopt;
    } else {
      out.push_back(Dim::unknown(t.symbol));
      if (!match(t, i)) unresolved = true;
    }
  }
  if (infer_at < 0 || unresolved) return out;
  int64_t rest = 1;  // the input dims no output element matched
  for (size_t j = 0; j < dims.size(); ++j) {
    if (matched[j]) continue;
    if (!dims[j].known()) return out;
    if (__builtin_mul_overflow(rest, dims[j].value, &rest)) return std::nullopt;
  }
  if (known_product == 0 || rest % known_product != 0) return out;  // an empty tensor: -1 is not determined
  out[static_cast<size_t>(infer_at)] = Dim(rest / known_product);
  return out;
}

}  // namespace normrt
