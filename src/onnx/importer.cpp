#include "onnx/importer.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "onnx/normrt_functions.h"
#include "onnx/onnx_pb.h"
#include "onnx/safe_file.h"
#include "ops/op.h"

namespace normrt {

namespace {

// protobuf cannot parse messages above 2 GiB; larger weights must be external data.
constexpr uint64_t kMaxModelBytes = (uint64_t{1} << 31) - 1;
constexpr uint64_t kMaxExternalBytes = uint64_t{1} << 36;

Error invalid(const std::string& what, const std::string& message) {
  return Error(ErrorCode::kInvalidModel, what + ": " + message);
}

class Importer {
 public:
  Importer(std::string base_dir, std::string what) : base_dir_(std::move(base_dir)), what_(std::move(what)) {}

  Graph run(const onnx::ModelProto& model) {
    Graph graph;
    for (const auto& opset : model.opset_import()) {
      std::string domain = opset.domain() == "ai.onnx" ? "" : opset.domain();
      graph.opsets[domain] = opset.version();
    }
    const bool declares_default_opset = graph.opsets.count("") != 0;
    if (!declares_default_opset) {
      // An ONNX model with no default-domain opset import is only legal when it uses no default-domain op.
      graph.opsets[""] = 0;
    }
    int64_t opset = graph.opsets[""];
    const auto& g = model.graph();
    bool uses_default_domain = false;
    for (const auto& node : g.node())
      if (node.domain().empty() || node.domain() == "ai.onnx") uses_default_domain = true;
    for (const auto& f : model.functions())
      for (const auto& node : f.node())
        if (node.domain().empty() || node.domain() == "ai.onnx") uses_default_domain = true;
    // opset_import is the last field a model usually has, so a file cut short often loses exactly that.
    if (uses_default_domain && !declares_default_opset)
      throw invalid(what_, "the model uses ONNX ops but imports no opset for them (opset_import has no entry for the "
                           "default domain; is the file truncated?). Re-export it (torch.onnx.export(..., "
                           "opset_version=17)).");
    if (uses_default_domain && (opset < kMinOpset || opset > kMaxOpset))
      throw invalid(what_, "the model imports ONNX opset " + std::to_string(opset) + "; normrt supports opsets " +
                               std::to_string(kMinOpset) + " to " + std::to_string(kMaxOpset) +
                               ". Re-export it with a supported opset (torch.onnx.export(..., opset_version=17)).");

    graph.name = g.name();
    for (const auto& init : g.initializer()) {
      if (graph.initializers.count(init.name()))
        throw invalid(what_, "initializer '" + init.name() + "' is declared twice");
      graph.initializers[init.name()] = convert_tensor(init);
    }
    if (g.sparse_initializer_size() > 0)
      throw invalid(what_, "sparse initializers are not supported; convert them to dense initializers");
    for (const auto& in : g.input()) {
      if (graph.initializers.count(in.name())) continue;  // an initializer listed as an input (IR < 4 style)
      graph.inputs.push_back(convert_value_info(in, true));
    }
    for (const auto& out : g.output()) graph.outputs.push_back(convert_value_info(out, false));
    for (const auto& vi : g.value_info()) graph.value_info[vi.name()] = convert_value_info(vi, false);

    for (const auto& f : model.functions()) {
      const std::string domain = f.domain() == "ai.onnx" ? "" : f.domain();
      if (!functions_.emplace(std::make_pair(domain, f.name()), &f).second)
        throw invalid(what_, "the model defines function " + domain + "::" + f.name() + " twice");
    }
    for (int i = 0; i < g.node_size(); ++i) import_node(g.node(i), i, graph, 0);
    graph.sort_topologically();
    graph.verify();
    return graph;
  }

  Tensor tensor(const onnx::TensorProto& tp) { return convert_tensor(tp); }

 private:
  // One node of the graph (or of an inlined function body): converted, Constant folded into an initializer,
  // a call of normrt's own functions mapped back to the native op, any other local function inlined.
  void import_node(const onnx::NodeProto& n, int index, Graph& graph, int depth) {
    Node node;
    node.op_type = n.op_type();
    node.domain = n.domain() == "ai.onnx" ? "" : n.domain();
    node.name = n.name().empty() ? n.op_type() + "_" + std::to_string(index) : n.name();
    // Names make messages useful only when unique.
    if (!node_names_.insert(node.name).second) {
      node.name += "_" + std::to_string(index);
      for (int k = 2; !node_names_.insert(node.name).second; ++k) node.name = n.name() + "_" + std::to_string(index) + "_" + std::to_string(k);
    }
    node.inputs.assign(n.input().begin(), n.input().end());
    node.outputs.assign(n.output().begin(), n.output().end());
    for (const auto& a : n.attribute()) node.attributes[a.name()] = convert_attribute(a, node);
    if (node.domain.empty() && node.op_type == "Constant") {
      fold_constant_node(node, graph);
      return;
    }
    auto function = functions_.find({node.domain, node.op_type});
    const bool native = OpRegistry::global().find(node.domain, node.op_type) != nullptr;
    if (function != functions_.end() && !native) {
      std::string base;
      if (node.domain == kNormrtDomain) {
        // `normrt fuse` writes GroupNorm_G32_eps1e-05_Silu with the attributes it encodes (normrt_functions.h).
        if (matches_normrt_function_name(node.op_type, node, &base)) {
          node.op_type = base;
          graph.nodes.push_back(std::move(node));
          return;
        }
        if (!base.empty())
          throw invalid(what_, node.describe() + " calls the local function '" + node.op_type +
                                   "', whose name does not match the node's attributes (" + attribute_summary(node) +
                                   "): the function body and the attributes may disagree. Re-run `normrt fuse` on "
                                   "the original model.");
      }
      inline_function(n, node, *function->second, graph, depth);
      return;
    }
    graph.nodes.push_back(std::move(node));
  }

  static std::string attribute_summary(const Node& node) {
    std::string s;
    for (const auto& [name, a] : node.attributes) {
      s += (s.empty() ? "" : ", ") + name + " = ";
      if (a.type == AttributeType::kInt) s += std::to_string(a.i);
      else if (a.type == AttributeType::kFloat) s += std::to_string(a.f);
      else if (a.type == AttributeType::kString) s += "'" + a.s + "'";
      else s += "...";
    }
    return s.empty() ? "none" : s;
  }

  // Replaces a call by its function's body: formal inputs and outputs become the call's values, every other
  // name gets a prefix unique to this call, and attribute references take the call's attributes (a reference
  // the call does not set leaves the attribute out, as ONNX specifies).
  void inline_function(const onnx::NodeProto& call, const Node& node, const onnx::FunctionProto& f, Graph& graph,
                       int depth) {
    constexpr int kMaxDepth = 8;
    if (depth >= kMaxDepth)
      throw invalid(what_, node.describe() + ": local functions nest deeper than " + std::to_string(kMaxDepth) +
                               " calls (a function calling itself?)");
    for (const auto& op : f.opset_import()) {
      const std::string domain = op.domain() == "ai.onnx" ? "" : op.domain();
      if (graph.opsets.count(domain) && graph.opsets.at(domain) != op.version())
        throw invalid(what_, "local function " + f.domain() + "::" + f.name() + " imports opset " +
                                 std::to_string(op.version()) + " of domain '" + domain + "', the model " +
                                 std::to_string(graph.opsets.at(domain)) +
                                 "; normrt runs one opset per domain, so it cannot inline " + node.describe());
      if (!graph.opsets.count(domain)) graph.opsets[domain] = op.version();
    }
    if (call.input_size() > f.input_size() || call.output_size() > f.output_size())
      throw invalid(what_, node.describe() + " passes " + std::to_string(call.input_size()) + " inputs and " +
                               std::to_string(call.output_size()) + " outputs to local function '" + f.name() +
                               "', which declares " + std::to_string(f.input_size()) + " and " +
                               std::to_string(f.output_size()));
    // Calls can fan out at every level (a function calling another ten times, eight deep): the total is bounded
    // before anything is allocated.
    if (depth == 0) {
      inlined_nodes_ += expanded_size(f, 0);
      if (inlined_nodes_ > kMaxInlinedNodes)
        throw invalid(what_, "local functions expand to more than " + std::to_string(kMaxInlinedNodes) +
                                 " nodes (at " + node.describe() + ")");
    }
    const std::string prefix = node.name + "/" + std::to_string(inline_count_++) + "/";
    std::map<std::string, std::string> rename;
    for (int i = 0; i < f.input_size(); ++i) rename[f.input(i)] = i < call.input_size() ? call.input(i) : "";
    for (int i = 0; i < f.output_size(); ++i)
      rename[f.output(i)] = i < call.output_size() && !call.output(i).empty() ? call.output(i) : prefix + f.output(i);
    auto renamed = [&](const std::string& name) {
      if (name.empty()) return name;
      auto it = rename.find(name);
      return it != rename.end() ? it->second : prefix + name;
    };
    std::map<std::string, const onnx::AttributeProto*> call_attributes;
    for (const auto& a : call.attribute()) call_attributes[a.name()] = &a;
    for (int i = 0; i < f.node_size(); ++i) {
      onnx::NodeProto body = f.node(i);
      for (auto& in : *body.mutable_input()) in = renamed(in);
      for (auto& out : *body.mutable_output()) out = renamed(out);
      body.set_name(prefix + (body.name().empty() ? body.op_type() + "_" + std::to_string(i) : body.name()));
      body.clear_attribute();
      for (const auto& a : f.node(i).attribute()) {
        if (a.ref_attr_name().empty()) {
          *body.add_attribute() = a;
          continue;
        }
        auto given = call_attributes.find(a.ref_attr_name());
        if (given == call_attributes.end()) continue;
        onnx::AttributeProto* copy = body.add_attribute();
        *copy = *given->second;
        copy->set_name(a.name());
      }
      import_node(body, i, graph, depth + 1);
    }
  }

  static constexpr int64_t kMaxInlinedNodes = int64_t{1} << 20;

  // How many nodes inlining `f` makes, counting nested calls; saturates just above kMaxInlinedNodes.
  int64_t expanded_size(const onnx::FunctionProto& f, int depth) {
    const auto key = std::make_pair(f.domain() == "ai.onnx" ? std::string() : f.domain(), f.name());
    auto memo = expanded_sizes_.find(key);
    if (memo != expanded_sizes_.end()) return memo->second;
    int64_t total = 0;
    for (const auto& n : f.node()) {
      const std::string domain = n.domain() == "ai.onnx" ? "" : n.domain();
      auto callee = functions_.find({domain, n.op_type()});
      const bool inlined = callee != functions_.end() && !OpRegistry::global().find(domain, n.op_type()) &&
                           !(domain == kNormrtDomain && (n.op_type().rfind("GroupNorm_", 0) == 0 ||
                                                         n.op_type().rfind("LayerNorm_", 0) == 0));
      // Deeper than the inlining allows fails there, with its own message; count it as one node here.
      total += inlined && depth < 8 ? expanded_size(*callee->second, depth + 1) : 1;
      if (total > kMaxInlinedNodes) break;
    }
    total = std::min(total, kMaxInlinedNodes + 1);
    expanded_sizes_[key] = total;
    return total;
  }

  Shape convert_shape(const onnx::TypeProto_Tensor& tt) {
    if (!tt.has_shape()) return Shape();
    std::vector<Dim> dims;
    for (const auto& d : tt.shape().dim()) {
      if (d.has_dim_value()) {
        if (d.dim_value() < 0) throw invalid(what_, "negative dimension " + std::to_string(d.dim_value()));
        dims.emplace_back(d.dim_value());
      } else {
        dims.push_back(Dim::unknown(d.dim_param()));
      }
    }
    return Shape(dims);
  }

  ValueInfo convert_value_info(const onnx::ValueInfoProto& vi, bool is_graph_input) {
    ValueInfo info;
    info.name = vi.name();
    if (info.name.empty()) throw invalid(what_, "a graph input or output has no name");
    if (!vi.type().has_tensor_type()) {
      if (is_graph_input) throw invalid(what_, "input '" + info.name + "' is not a tensor; normrt supports tensor inputs only");
      return info;
    }
    const auto& tt = vi.type().tensor_type();
    if (tt.elem_type() != 0) {
      if (!is_known_dtype(tt.elem_type()))
        throw invalid(what_, "value '" + info.name + "' has unsupported element type " + std::to_string(tt.elem_type()));
      info.dtype = static_cast<DataType>(tt.elem_type());
    }
    info.shape = convert_shape(tt);
    if (is_graph_input && (info.dtype == DataType::kUndefined || !info.shape.has_rank))
      throw invalid(what_, "input '" + info.name + "' declares no element type or no shape; re-export with a typed input");
    return info;
  }

  Tensor convert_tensor(const onnx::TensorProto& tp) {
    const std::string name = tp.name();
    if (!is_known_dtype(tp.data_type()))
      throw invalid(what_, "tensor '" + name + "' has unsupported element type " + std::to_string(tp.data_type()));
    DataType dtype = static_cast<DataType>(tp.data_type());
    Dims dims(tp.dims().begin(), tp.dims().end());
    for (int64_t d : dims)
      if (d < 0) throw invalid(what_, "tensor '" + name + "' has negative dimension " + std::to_string(d));
    int64_t count;
    try {
      count = element_count(dims);
    } catch (const Error& e) {
      throw invalid(what_, "tensor '" + name + "': " + e.what());
    }
    const uint64_t elem = dtype_size(dtype);
    if (static_cast<uint64_t>(count) > kMaxExternalBytes / elem)
      throw invalid(what_, "tensor '" + name + "' of shape " + dims_to_string(dims) + " is absurdly large");
    const uint64_t expected_bytes = static_cast<uint64_t>(count) * elem;

    std::string external;
    const std::string* raw = nullptr;
    if (tp.data_location() == onnx::TensorProto_DataLocation_EXTERNAL) {
      std::string location;
      int64_t offset = 0, length = -1;
      bool has_length = false;
      for (const auto& kv : tp.external_data()) {
        if (kv.key() == "location") location = kv.value();
        else if (kv.key() == "offset") offset = parse_int(kv.value(), name, "offset");
        else if (kv.key() == "length") {
          length = parse_int(kv.value(), name, "length");
          has_length = true;
        }
      }
      if (has_length && length < 0)
        throw invalid(what_, "external data of tensor '" + name + "' has negative length " + std::to_string(length));
      if (has_length && static_cast<uint64_t>(length) != expected_bytes)
        throw invalid(what_, "external data of tensor '" + name + "' has length " + std::to_string(length) +
                                 " but its shape " + dims_to_string(dims) + " needs " + std::to_string(expected_bytes) + " bytes");
      external = read_beneath(base_dir_, location, offset, static_cast<int64_t>(expected_bytes), name);
      raw = &external;
    } else if (tp.has_raw_data()) {
      raw = &tp.raw_data();
    }

    // Every size check happens before the tensor is allocated: dims under the absurdity limit can still claim
    // gigabytes that the file does not hold.
    if (raw && raw->size() != expected_bytes)
      throw invalid(what_, "tensor '" + name + "' holds " + std::to_string(raw->size()) + " bytes but its shape " +
                               dims_to_string(dims) + " and type " + dtype_name(dtype) + " need " +
                               std::to_string(expected_bytes));
    auto check_count = [&](int64_t have) {
      if (have != count)
        throw invalid(what_, "tensor '" + name + "' holds " + std::to_string(have) + " values but its shape " +
                                 dims_to_string(dims) + " needs " + std::to_string(count));
    };
    if (!raw) {
      switch (dtype) {
        case DataType::kFloat32: check_count(tp.float_data_size()); break;
        case DataType::kFloat64: check_count(tp.double_data_size()); break;
        case DataType::kInt64: check_count(tp.int64_data_size()); break;
        case DataType::kUInt64: case DataType::kUInt32: check_count(tp.uint64_data_size()); break;
        case DataType::kUndefined: throw invalid(what_, "tensor '" + name + "' has no element type");
        default: check_count(tp.int32_data_size()); break;
      }
    }

    Tensor t(dtype, dims);
    if (raw) {
      if (expected_bytes) std::memcpy(t.raw(), raw->data(), expected_bytes);
      return t;
    }
    if (count == 0) return t;  // an empty repeated field's data() is null, which memcpy must not get
    switch (dtype) {
      case DataType::kFloat32:
        std::memcpy(t.raw(), tp.float_data().data(), expected_bytes);
        break;
      case DataType::kFloat64:
        std::memcpy(t.raw(), tp.double_data().data(), expected_bytes);
        break;
      case DataType::kInt64:
        std::memcpy(t.raw(), tp.int64_data().data(), expected_bytes);
        break;
      case DataType::kUInt64: case DataType::kUInt32:
        for (int64_t i = 0; i < count; ++i) {
          if (dtype == DataType::kUInt64) t.data<uint64_t>()[i] = tp.uint64_data(static_cast<int>(i));
          else t.data<uint32_t>()[i] = static_cast<uint32_t>(tp.uint64_data(static_cast<int>(i)));
        }
        break;
      case DataType::kInt32: case DataType::kInt16: case DataType::kInt8: case DataType::kUInt16:
      case DataType::kUInt8: case DataType::kBool: case DataType::kFloat16: case DataType::kBFloat16:
        // ONNX stores these in int32_data, one element per entry (fp16/bf16 as their bit patterns).
        for (int64_t i = 0; i < count; ++i) {
          int32_t v = tp.int32_data(static_cast<int>(i));
          switch (elem) {
            case 1: t.data<uint8_t>()[i] = static_cast<uint8_t>(v); break;
            case 2: t.data<uint16_t>()[i] = static_cast<uint16_t>(v); break;
            default: t.data<int32_t>()[i] = v; break;
          }
        }
        break;
      case DataType::kUndefined:
        throw invalid(what_, "tensor '" + name + "' has no element type");
    }
    return t;
  }

  int64_t parse_int(const std::string& text, const std::string& tensor, const char* key) {
    try {
      size_t used = 0;
      long long v = std::stoll(text, &used);
      if (used != text.size()) throw std::invalid_argument(text);
      return v;
    } catch (const std::exception&) {
      throw invalid(what_, "external data " + std::string(key) + " of tensor '" + tensor + "' is not an integer: '" + text + "'");
    }
  }

  Attribute convert_attribute(const onnx::AttributeProto& a, const Node& node) {
    Attribute out;
    switch (a.type()) {
      case onnx::AttributeProto::FLOAT: out.type = AttributeType::kFloat; out.f = a.f(); break;
      case onnx::AttributeProto::INT: out.type = AttributeType::kInt; out.i = a.i(); break;
      case onnx::AttributeProto::STRING: out.type = AttributeType::kString; out.s = a.s(); break;
      case onnx::AttributeProto::TENSOR: out.type = AttributeType::kTensor; out.t = convert_tensor(a.t()); break;
      case onnx::AttributeProto::FLOATS:
        out.type = AttributeType::kFloats;
        out.floats.assign(a.floats().begin(), a.floats().end());
        break;
      case onnx::AttributeProto::INTS:
        out.type = AttributeType::kInts;
        out.ints.assign(a.ints().begin(), a.ints().end());
        break;
      case onnx::AttributeProto::STRINGS:
        out.type = AttributeType::kStrings;
        out.strings.assign(a.strings().begin(), a.strings().end());
        break;
      case onnx::AttributeProto::GRAPH: case onnx::AttributeProto::GRAPHS:
        // Control flow (If, Loop, Scan) is not supported; the op itself is reported as unsupported.
        out.type = AttributeType::kGraph;
        break;
      default:
        throw invalid(what_, "attribute '" + a.name() + "' of " + node.describe() + " has unsupported type " +
                                 std::to_string(static_cast<int>(a.type())));
    }
    return out;
  }

  void fold_constant_node(const Node& node, Graph& graph) {
    if (node.outputs.size() != 1 || node.outputs[0].empty())
      throw invalid(what_, node.describe() + " must have exactly one output");
    const std::string& out = node.outputs[0];
    if (node.attributes.size() != 1)
      throw invalid(what_, node.describe() + " must have exactly one value attribute, has " +
                               std::to_string(node.attributes.size()));
    const auto& [key, attr] = *node.attributes.begin();
    Tensor t;
    if (key == "value") {
      t = node.attr_tensor("value");
    } else if (key == "value_float") {
      t = Tensor(DataType::kFloat32, {});
      *t.data<float>() = node.attr_float("value_float", 0);
    } else if (key == "value_floats") {
      auto v = node.attr_floats("value_floats");
      t = Tensor(DataType::kFloat32, {static_cast<int64_t>(v.size())});
      std::memcpy(t.raw(), v.data(), v.size() * sizeof(float));
    } else if (key == "value_int") {
      t = Tensor(DataType::kInt64, {});
      *t.data<int64_t>() = node.attr_int("value_int");
    } else if (key == "value_ints") {
      auto v = node.attr_ints("value_ints");
      t = Tensor(DataType::kInt64, {static_cast<int64_t>(v.size())});
      std::memcpy(t.raw(), v.data(), v.size() * sizeof(int64_t));
    } else {
      throw Error(ErrorCode::kUnsupportedOp, node.describe() + " uses attribute '" + key +
                                                 "', which normrt does not support (value, value_float(s), value_int(s) are)");
    }
    (void)attr;
    // A constant named like a graph input would silently replace whatever the caller passes for it.
    if (graph.initializers.count(out) || graph.find_input(out))
      throw invalid(what_, "value '" + out + "' is produced twice (again by " + node.describe() + ")");
    graph.initializers[out] = t;
  }

  std::string base_dir_;
  std::string what_;
  std::map<std::pair<std::string, std::string>, const onnx::FunctionProto*> functions_;
  std::set<std::string> node_names_;
  int inline_count_ = 0;
  int64_t inlined_nodes_ = 0;
  std::map<std::pair<std::string, std::string>, int64_t> expanded_sizes_;
};

std::string folder_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

Graph import_onnx_bytes(const std::string& bytes, const std::string& base_dir, const std::string& what) {
  onnx::ModelProto model;
  if (bytes.size() > kMaxModelBytes) throw invalid(what, "the file is larger than protobuf's 2 GiB limit");
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    throw invalid(what, "not a valid ONNX model: the protobuf could not be parsed (is the file truncated or corrupt, "
                        "or not an ONNX file?)");
  if (!model.has_graph()) throw invalid(what, "the model has no graph (is this an ONNX model file?)");
  return Importer(base_dir, what).run(model);
}

Tensor import_onnx_tensor(const std::string& bytes, const std::string& what) {
  onnx::TensorProto tensor;
  if (bytes.size() > kMaxModelBytes) throw invalid(what, "the file is larger than protobuf's 2 GiB limit");
  if (!tensor.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    throw invalid(what, "not a serialized ONNX TensorProto: the protobuf could not be parsed");
  return Importer(std::string(), what).tensor(tensor);
}

Graph import_onnx_file(const std::string& path) {
  std::string bytes = read_file(path, kMaxModelBytes);
  return import_onnx_bytes(bytes, folder_of(path), "'" + path + "'");
}

}  // namespace normrt
