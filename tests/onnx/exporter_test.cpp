// ONNX export and the importer's side of it: round trips, normrt ops as local functions (their bodies run on normrt's
// reference kernels after inlining, for every activation and opset, against the native op), the standard forms where
// the opset has them, and the importer's handling of local functions.
#include "onnx/exporter.h"

#include "onnx/importer.h"
#include "onnx/normrt_functions.h"
#include "onnx/onnx_builder.h"
#include "ops/activation_math.h"
#include "passes/pattern_graph.h"

namespace normrt::test {
namespace {

onnx::ModelProto parse(const std::string &bytes) {
  onnx::ModelProto model;
  EXPECT_TRUE(model.ParseFromString(bytes));
  return model;
}

Graph reimport(const onnx::ModelProto &model) {
  std::string bytes;
  model.SerializeToString(&bytes);
  return import_onnx_bytes(bytes, "", "exported model");
}

// x [batch, C, 3, 2] -> ai.normrt::GroupNorm -> out, with optional residual input r.
Graph group_norm_model(int64_t opset, int64_t channels, int64_t groups, const std::string &activation, bool per_group,
                       bool residual) {
  PatternGraph b(opset);
  b.input("x", {Dim::unknown("batch"), Dim(channels), Dim(3), Dim(2)});
  const int64_t params = per_group ? groups : channels;
  b.constant("scale", random_tensor({params}, 0.5f, 1.5f));
  b.constant("bias", random_tensor({params}));
  Node &n = b.add("GroupNorm", {"x", "scale", "bias"}, "out");
  n.domain = kNormrtDomain;
  set_int(n, "num_groups", groups);
  set_float(n, "epsilon", 1e-3f);
  if (!activation.empty()) set_string(n, "activation", activation);
  if (activation == "LeakyRelu" || activation == "Elu") set_float(n, "activation_alpha", 0.3f);
  if (per_group) set_int(n, "affine_per_group", 1);
  if (residual) {
    b.input("r", {Dim::unknown("batch"), Dim(channels), Dim(3), Dim(2)});
    n.inputs.push_back("r");
  }
  b.output("out");
  b.graph.opsets[kNormrtDomain] = 1;
  return b.graph;
}

// x [batch, 4, 5] -> ai.normrt::LayerNorm(axis) -> out. `exact`: scale and bias have the normalized shape (which
// LayerNormalization-17 needs); otherwise they broadcast to it.
Graph layer_norm_model(int64_t opset, int64_t axis, const std::string &activation, bool residual, bool bias = true,
                       bool exact = true) {
  PatternGraph b(opset);
  b.input("x", {Dim::unknown("batch"), Dim(4), Dim(5)});
  const bool last = axis == -1 || axis == 2;
  Dims param = exact ? (last ? Dims{5} : Dims{4, 5}) : (last ? Dims{1} : Dims{5});
  b.constant("scale", random_tensor(param, 0.5f, 1.5f));
  b.constant("bias", random_tensor(param));
  Node &n = b.add("LayerNorm", {"x", "scale"}, "out");
  if (bias) n.inputs.push_back("bias");
  n.domain = kNormrtDomain;
  set_int(n, "axis", axis);
  set_float(n, "epsilon", 1e-4f);
  if (!activation.empty()) set_string(n, "activation", activation);
  if (activation == "LeakyRelu" || activation == "Elu") set_float(n, "activation_alpha", 0.2f);
  if (residual) {
    if (!bias) n.inputs.push_back("");
    b.input("r", {Dim::unknown("batch"), Dim(4), Dim(5)});
    n.inputs.push_back("r");
  }
  b.output("out");
  b.graph.opsets[kNormrtDomain] = 1;
  return b.graph;
}

std::map<std::string, Tensor> feeds_for(const Graph &g) {
  std::map<std::string, Tensor> feeds;
  for (const ValueInfo &in : g.inputs) {
    Dims d;
    for (const Dim &dim : in.shape.dims) d.push_back(dim.known() ? dim.value : 2);
    feeds[in.name] = random_tensor(d, -3.0f, 3.0f);
  }
  return feeds;
}

// The exported model with its ai.normrt calls and functions moved to another domain, so that the importer inlines the
// bodies instead of mapping the calls back to the native ops.
Graph import_function_bodies(onnx::ModelProto model) {
  for (auto &n : *model.mutable_graph()->mutable_node())
    if (n.domain() == kNormrtDomain) n.set_domain("test.inline");
  for (auto &f : *model.mutable_functions()) f.set_domain("test.inline");
  return reimport(model);
}

const char *const kActivations[] = {"",     "Relu", "LeakyRelu", "Elu",  "Sigmoid",
                                    "Silu", "Gelu", "GeluTanh",  "Tanh", "HardSwish"};

}  // namespace

TEST(OnnxExport, RoundTripKeepsNodesNamesValuesAndOpset) {
  PatternGraph b(13);
  b.input("x", {Dim::unknown("batch"), Dim(3)});
  b.constant("w", random_tensor({3}));
  b.constant("shape", int64_tensor({-1, 1, 3}));
  b.add("Add", {"x", "w"}, "a");
  set_float(b.add("LeakyRelu", {"a"}, "l"), "alpha", 0.25f);
  b.add("Reshape", {"l", "shape"}, "out");
  b.output("out");
  const std::string bytes = export_onnx_bytes(b.graph);
  onnx::ModelProto model = parse(bytes);
  EXPECT_EQ(model.ir_version(), 8);
  EXPECT_EQ(model.functions_size(), 0);
  Graph back = import_onnx_bytes(bytes, "", "exported");
  EXPECT_EQ(back.opset(""), 13);
  ASSERT_EQ(back.nodes.size(), 3u);
  EXPECT_EQ(back.nodes[1].attr_float("alpha", 0), 0.25f);
  EXPECT_EQ(back.inputs[0].shape.to_string(), b.graph.inputs[0].shape.to_string());
  EXPECT_EQ(back.outputs[0].dtype, DataType::kFloat32) << "the output type is filled in from inference";
  EXPECT_EQ(back.outputs[0].shape.rank(), 3u);
  expect_same_outputs(b.graph, back, feeds_for(b.graph), 0);
}

TEST(OnnxExport, NormrtOpsBecomeLocalFunctionsBelowTheirStandardOpset) {
  Graph g = group_norm_model(13, 6, 3, "Silu", false, false);
  onnx::ModelProto model = parse(export_onnx_bytes(g));
  ASSERT_EQ(model.graph().node_size(), 1);
  const auto &call = model.graph().node(0);
  EXPECT_EQ(call.domain(), kNormrtDomain);
  EXPECT_EQ(call.op_type(), "GroupNorm_G3_eps0.001_Silu");
  ASSERT_EQ(model.functions_size(), 1);
  EXPECT_EQ(model.functions(0).name(), call.op_type());
  EXPECT_EQ(model.functions(0).domain(), kNormrtDomain);
  EXPECT_GE(model.ir_version(), 8);
  bool imports_normrt = false;
  for (const auto &op : model.opset_import()) imports_normrt |= op.domain() == kNormrtDomain && op.version() == 1;
  EXPECT_TRUE(imports_normrt);
  // Read back, the call is the native op with its attributes.
  Graph back = reimport(model);
  ASSERT_EQ(back.nodes.size(), 1u);
  EXPECT_EQ(back.nodes[0].op_type, "GroupNorm");
  EXPECT_EQ(back.nodes[0].domain, kNormrtDomain);
  EXPECT_EQ(back.nodes[0].attr_string("activation", ""), "Silu");
  expect_same_outputs(g, back, feeds_for(g), 0);

  // Two nodes with the same attributes share one function; another activation gets its own.
  PatternGraph two(13);
  two.graph = g;
  Node &second = two.add("GroupNorm", {"out", "scale", "bias"}, "out2");
  second.domain = kNormrtDomain;
  set_int(second, "num_groups", 3);
  set_float(second, "epsilon", 1e-3f);
  set_string(second, "activation", "Silu");
  Node third = second;
  third.name = "third";
  third.inputs[0] = "out2";
  third.outputs = {"out3"};
  set_string(third, "activation", "Relu");
  two.graph.nodes.push_back(third);
  two.graph.outputs = {ValueInfo{"out3", DataType::kFloat32, Shape()}};
  EXPECT_EQ(parse(export_onnx_bytes(two.graph)).functions_size(), 2);
}

TEST(OnnxExport, GroupNormFunctionBodiesComputeTheNativeOp) {
  for (int64_t opset : {11, 13, 17, 18, 20}) {
    for (const char *activation : kActivations) {
      for (int variant = 0; variant < 4; ++variant) {
        const bool per_group = variant == 1, residual = variant == 2;
        const int64_t groups = variant == 3 ? 6 : (opset == 13 ? 1 : 3);
        SCOPED_TRACE("opset " + std::to_string(opset) + " activation '" + activation + "' variant " +
                     std::to_string(variant));
        Graph g = group_norm_model(opset, 6, groups, activation, per_group, residual);
        onnx::ModelProto model = parse(export_onnx_bytes(g));
        ASSERT_EQ(model.functions_size(), 1);
        Graph inlined = import_function_bodies(model);
        EXPECT_GE(inlined.nodes.size(), 4u);
        EXPECT_EQ(count_ops(inlined, "GroupNorm"), 0);
        expect_same_outputs(g, inlined, feeds_for(g), 2e-5);
      }
    }
  }
}

TEST(OnnxExport, LayerNormFunctionBodiesComputeTheNativeOp) {
  // From opset 17 a LayerNorm whose scale and bias have the normalized shape is LayerNormalization-17; these broadcast
  // instead, so every opset writes the function.
  for (int64_t opset : {11, 13, 17, 18, 20}) {
    for (const char *activation : kActivations) {
      for (int64_t axis : {-1, -2, 1, 2}) {
        for (bool residual : {false, true}) {
          SCOPED_TRACE("opset " + std::to_string(opset) + " activation '" + activation + "' axis " +
                       std::to_string(axis));
          Graph g = layer_norm_model(opset, axis, activation, residual, true, false);
          onnx::ModelProto model = parse(export_onnx_bytes(g));
          ASSERT_EQ(model.functions_size(), 1);
          Graph inlined = import_function_bodies(model);
          EXPECT_EQ(count_ops(inlined, "LayerNorm"), 0);
          expect_same_outputs(g, inlined, feeds_for(g), 2e-5);
        }
      }
    }
  }
}

TEST(OnnxExport, StandardFormsWhereTheOpsetHasThem) {
  {  // GroupNorm at opset 21: GroupNormalization-21 and the activation as standard nodes
    Graph g = group_norm_model(21, 6, 2, "Silu", false, true);
    onnx::ModelProto model = parse(export_onnx_bytes(g));
    EXPECT_EQ(model.ir_version(), 10);
    EXPECT_EQ(model.functions_size(), 0);
    Graph back = reimport(model);
    EXPECT_EQ(count_ops(back, "GroupNormalization", ""), 1);
    EXPECT_EQ(count_ops(back, "Sigmoid"), 1);
    EXPECT_EQ(back.opsets.count(kNormrtDomain), 0u) << "no ai.normrt node is left, so no import of the domain";
    expect_same_outputs(g, back, feeds_for(g), 2e-5);
  }
  {  // per-group affine at opset 21: repeated per channel
    Graph g = group_norm_model(21, 6, 2, "", true, false);
    Graph back = reimport(parse(export_onnx_bytes(g)));
    ASSERT_EQ(back.nodes.size(), 1u);
    EXPECT_EQ(back.nodes[0].op_type, "GroupNormalization");
    expect_same_outputs(g, back, feeds_for(g), 2e-5);
  }
  // LayerNorm from opset 17 with a scale of the normalized shape: LayerNormalization-17.
  for (int64_t axis : {-1, 1}) {
    for (bool bias : {true, false}) {
      Graph g = layer_norm_model(17, axis, "Gelu", !bias, bias);
      Graph back = reimport(parse(export_onnx_bytes(g)));
      EXPECT_EQ(count_ops(back, "LayerNormalization", ""), 1);
      EXPECT_EQ(count_ops(back, "Erf"), 1) << "Gelu below opset 20 is its erf formula";
      expect_same_outputs(g, back, feeds_for(g), 2e-5);
    }
  }
  for (int64_t opset : {13, 20}) {  // Gelu and HardSwish nodes the passes wrote into older graphs
    PatternGraph b(opset);
    b.input("x", {Dim::unknown("batch"), Dim(5)});
    b.add("Gelu", {"x"}, "g");
    set_string(b.add("Gelu", {"g"}, "t"), "approximate", "tanh");
    b.add("HardSwish", {"t"}, "out");
    b.output("out");
    Graph back = reimport(parse(export_onnx_bytes(b.graph)));
    EXPECT_EQ(count_ops(back, "Gelu"), opset >= 20 ? 2 : 0);
    EXPECT_EQ(count_ops(back, "HardSwish"), opset >= 14 ? 1 : 0);
    EXPECT_EQ(count_ops(back, "HardSigmoid"), opset >= 14 ? 0 : 1);
    expect_same_outputs(b.graph, back, feeds_for(b.graph), 1e-5);
  }
}

TEST(OnnxExport, MissingScaleAndBiasAreWrittenOut) {
  Graph g = group_norm_model(13, 6, 3, "Relu", false, false);
  g.nodes[0].inputs = {"x"};
  g.initializers.clear();
  Graph back = reimport(parse(export_onnx_bytes(g)));
  ASSERT_EQ(back.nodes.size(), 1u);
  EXPECT_EQ(back.nodes[0].inputs.size(), 3u);
  expect_same_outputs(g, back, feeds_for(g), 0);
}

TEST(OnnxExport, RefusesWhatItCannotWrite) {
  PatternGraph b(13);
  b.input("c", {});
  b.input("x", {Dim(2)});
  Node &n = b.add("If", {"c"}, "out");
  Attribute branch;
  branch.type = AttributeType::kGraph;
  n.attributes["then_branch"] = branch;
  b.graph.outputs.push_back(ValueInfo{"out", DataType::kFloat32, Shape()});
  expect_error([&] { export_onnx_bytes(b.graph); }, {"'If_out'", "then_branch", "control-flow"});
}

TEST(OnnxImportFunctions, CallWhoseNameDisagreesWithItsAttributes) {
  onnx::ModelProto model = parse(export_onnx_bytes(group_norm_model(13, 6, 3, "Silu", false, false)));
  for (auto &a : *model.mutable_graph()->mutable_node(0)->mutable_attribute())
    if (a.name() == "num_groups") a.set_i(2);
  expect_error_code([&] { reimport(model); }, ErrorCode::kInvalidModel,
                    {"GroupNorm_G3_eps0.001_Silu", "does not match the node's attributes", "num_groups = 2"});
}

TEST(OnnxImportFunctions, InlinesOtherDomainsWithAttributeReferences) {
  ModelBuilder m(13);
  m.import_domain("custom", 1);
  m.input("x", {"N", "4"}).output("y1").output("y2");
  m.node("ScaledRelu", {"x"}, {"h"}, "custom", "first");
  add_attribute(*m.graph().mutable_node(0), "alpha", 0.3f);
  m.node("ScaledRelu", {"h"}, {"y1"}, "custom",
         "second");  // no alpha: the body's attribute is left out
  m.node("Twice", {"x"}, {"y2"}, "custom", "nested");
  auto *f = m.model().add_functions();
  f->set_name("ScaledRelu");
  f->set_domain("custom");
  f->add_input("X");
  f->add_output("Y");
  f->add_attribute("alpha");
  auto *op = f->add_opset_import();
  op->set_domain("");
  op->set_version(13);
  auto *body = f->add_node();
  body->set_op_type("LeakyRelu");
  body->add_input("X");
  body->add_output("Y");
  auto *ref = body->add_attribute();
  ref->set_name("alpha");
  ref->set_type(onnx::AttributeProto::FLOAT);
  ref->set_ref_attr_name("alpha");
  auto *twice = m.model().add_functions();  // a function calling another
  twice->set_name("Twice");
  twice->set_domain("custom");
  twice->add_input("X");
  twice->add_output("Y");
  *twice->add_opset_import() = *op;
  auto *c1 = twice->add_node();
  c1->set_op_type("ScaledRelu");
  c1->set_domain("custom");
  c1->add_input("X");
  c1->add_output("t");
  auto *c2 = twice->add_node();
  *c2 = *c1;
  c2->set_input(0, "t");
  c2->set_output(0, "Y");
  Graph g = import_onnx_bytes(m.bytes(), "", "functions");
  ASSERT_EQ(g.nodes.size(), 4u);
  for (const Node &n : g.nodes) {
    EXPECT_EQ(n.op_type, "LeakyRelu");
    // The call that set alpha passes it on; the others leave the body's attribute out.
    EXPECT_EQ(n.has_attribute("alpha"), n.outputs[0] == "h") << n.describe();
    if (n.outputs[0] == "h") {
      EXPECT_EQ(n.attr_float("alpha", 0), 0.3f);
    }
  }
  Tensor x = float_tensor({-1, 2, -3, 4}, {1, 4});
  auto out = run_reference(g, {{"x", x}});
  EXPECT_FLOAT_EQ(out.at("y1").data<float>()[0], -0.3f * 0.01f);
  EXPECT_FLOAT_EQ(out.at("y2").data<float>()[2], -3.0f * 0.01f * 0.01f);
}

TEST(OnnxImportFunctions, RefusesAFunctionOfAnotherOpset) {
  ModelBuilder m(13);
  m.import_domain("custom", 1);
  m.input("x", {"2"}).output("y");
  m.node("Act", {"x"}, {"y"}, "custom");
  auto *f = m.model().add_functions();
  f->set_name("Act");
  f->set_domain("custom");
  f->add_input("X");
  f->add_output("Y");
  auto *op = f->add_opset_import();
  op->set_domain("");
  op->set_version(17);
  auto *body = f->add_node();
  body->set_op_type("Relu");
  body->add_input("X");
  body->add_output("Y");
  expect_error_code([&] { import_onnx_bytes(m.bytes(), "", "functions"); }, ErrorCode::kInvalidModel,
                    {"custom::Act imports opset 17", "the model 13"});
}

TEST(OnnxImportFunctions, RefusesFunctionsThatExpandBeyondTheLimit) {
  // F0 calls F1 ten times, F1 calls F2 ten times, ... F7 is one Relu: 10^7 nodes, refused before any is made.
  ModelBuilder m(13);
  m.import_domain("custom", 1);
  m.input("x", {"2"}).output("y");
  m.node("F0", {"x"}, {"y"}, "custom");
  for (int level = 0; level <= 7; ++level) {
    auto* f = m.model().add_functions();
    f->set_name("F" + std::to_string(level));
    f->set_domain("custom");
    f->add_input("X");
    f->add_output("Y");
    auto* op = f->add_opset_import();
    op->set_domain("");
    op->set_version(13);
    auto* callee_import = f->add_opset_import();
    callee_import->set_domain("custom");
    callee_import->set_version(1);
    const int calls = level == 7 ? 1 : 10;
    for (int c = 0; c < calls; ++c) {
      auto* n = f->add_node();
      n->set_op_type(level == 7 ? "Relu" : "F" + std::to_string(level + 1));
      if (level < 7) n->set_domain("custom");
      n->add_input(c == 0 ? "X" : "t" + std::to_string(c - 1));
      n->add_output(c == calls - 1 ? "Y" : "t" + std::to_string(c));
    }
  }
  expect_error_code([&] { import_onnx_bytes(m.bytes(), "", "functions"); }, ErrorCode::kInvalidModel,
                    {"local functions expand to more than 1048576 nodes"});
}

TEST(OnnxExport, FunctionNamesAreExactAndReadBack) {
  Node n;
  n.op_type = "GroupNorm";
  n.domain = kNormrtDomain;
  set_int(n, "num_groups", 32);
  set_float(n, "epsilon", 1e-5f);
  EXPECT_EQ(normrt_function_name(n, DataType::kFloat32), "GroupNorm_G32_eps1e-05");
  set_string(n, "activation", "LeakyRelu");
  EXPECT_EQ(normrt_function_name(n, DataType::kFloat16), "GroupNorm_G32_eps1e-05_LeakyRelu_alpha0.01_float16");
  set_float(n, "epsilon", 9.99999975e-07f);
  EXPECT_EQ(normrt_function_name(n, DataType::kFloat32), "GroupNorm_G32_eps1e-06_LeakyRelu_alpha0.01");
  std::string base;
  EXPECT_TRUE(matches_normrt_function_name("GroupNorm_G32_eps1e-06_LeakyRelu_alpha0.01_float16", n, &base));
  EXPECT_EQ(base, "GroupNorm");
  EXPECT_FALSE(matches_normrt_function_name("GroupNorm_G16_eps1e-06_LeakyRelu_alpha0.01", n, &base));
  EXPECT_EQ(exact_float_text(1.0f / 3.0f), "0.33333334");
}

}  // namespace normrt::test
