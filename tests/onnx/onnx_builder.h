// Test helpers for the core path: a small builder of ONNX ModelProtos (so that tests can feed the importer
// exactly the bytes they mean, hostile ones included), and temp_files.h.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "normrt/error.h"
#include "temp_files.h"
#include "onnx/onnx_pb.h"

namespace normrt::test {

// Dims are written as strings: "3" is a fixed size, "N" a named dynamic dim, "?" an unnamed dynamic dim.
using DimSpec = std::vector<std::string>;

class ModelBuilder {
 public:
  explicit ModelBuilder(int64_t opset = 17) {
    model_.set_ir_version(8);
    model_.set_producer_name("normrt-core-tests");
    auto* op = model_.add_opset_import();
    op->set_domain("");
    op->set_version(opset);
    model_.mutable_graph()->set_name("test_graph");
  }

  onnx::ModelProto& model() { return model_; }
  onnx::GraphProto& graph() { return *model_.mutable_graph(); }

  ModelBuilder& import_domain(const std::string& domain, int64_t version) {
    auto* op = model_.add_opset_import();
    op->set_domain(domain);
    op->set_version(version);
    return *this;
  }

  ModelBuilder& input(const std::string& name, const DimSpec& dims, int elem_type = onnx::TensorProto::FLOAT) {
    fill_value_info(graph().add_input(), name, elem_type, &dims);
    return *this;
  }
  // An output with a type but no shape unless dims are given.
  ModelBuilder& output(const std::string& name, int elem_type = onnx::TensorProto::FLOAT) {
    fill_value_info(graph().add_output(), name, elem_type, nullptr);
    return *this;
  }
  ModelBuilder& output(const std::string& name, const DimSpec& dims, int elem_type = onnx::TensorProto::FLOAT) {
    fill_value_info(graph().add_output(), name, elem_type, &dims);
    return *this;
  }

  onnx::NodeProto& node(const std::string& op_type, const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs, const std::string& domain = "",
                        const std::string& name = "") {
    auto* n = graph().add_node();
    n->set_op_type(op_type);
    n->set_domain(domain);
    if (!name.empty()) n->set_name(name);
    for (const auto& i : inputs) n->add_input(i);
    for (const auto& o : outputs) n->add_output(o);
    return *n;
  }

  // A float initializer stored as raw_data.
  onnx::TensorProto& initializer(const std::string& name, const std::vector<int64_t>& dims,
                                 const std::vector<float>& values) {
    auto* t = graph().add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
    return *t;
  }

  std::string bytes() const {
    std::string out;
    if (!model_.SerializeToString(&out)) throw std::runtime_error("cannot serialize the test model");
    return out;
  }
  std::string save(const TempDir& dir, const std::string& name = "model.onnx") const {
    std::string path = dir.file(name);
    write_bytes(path, bytes());
    return path;
  }

 private:
  static void fill_value_info(onnx::ValueInfoProto* vi, const std::string& name, int elem_type, const DimSpec* dims) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem_type);
    if (!dims) return;
    auto* shape = tt->mutable_shape();
    for (const auto& d : *dims) {
      auto* dim = shape->add_dim();
      if (d == "?") continue;
      if (d.find_first_not_of("0123456789") == std::string::npos) dim->set_dim_value(std::stoll(d));
      else dim->set_dim_param(d);
    }
  }

  onnx::ModelProto model_;
};

inline void add_attribute(onnx::NodeProto& node, const std::string& name, float value) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(value);
}
inline void add_attribute(onnx::NodeProto& node, const std::string& name, int64_t value) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

// Sets a tensor's storage to external data with the given key/value pairs (location, offset, length).
inline void set_external(onnx::TensorProto& t, const std::vector<std::pair<std::string, std::string>>& entries) {
  t.clear_raw_data();
  t.set_data_location(onnx::TensorProto::EXTERNAL);
  for (const auto& [key, value] : entries) {
    auto* e = t.add_external_data();
    e->set_key(key);
    e->set_value(value);
  }
}

// The message of the normrt::Error fn throws ("" and a test failure when it throws none or another type).
template <typename Fn>
std::string error_message(Fn&& fn, ErrorCode expected_code) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.code()), static_cast<int>(expected_code))
        << "code " << error_code_name(e.code()) << ", message: " << e.what();
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected normrt::Error, got std::exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected a normrt::Error (" << error_code_name(expected_code) << "), nothing was thrown";
  return "";
}

// Expects fn to throw a normrt::Error with the given code whose message contains every part.
template <typename Fn>
void expect_error_code(Fn&& fn, ErrorCode code, const std::vector<std::string>& parts) {
  std::string message = error_message(fn, code);
  for (const auto& p : parts)
    EXPECT_NE(message.find(p), std::string::npos) << "message: " << message << "\nmissing: " << p;
}

}  // namespace normrt::test
