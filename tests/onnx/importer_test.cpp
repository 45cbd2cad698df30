// ONNX import: well-formed models become the IR faithfully; malformed and hostile ones are refused with a message
// that names the problem and what to do, and never with anything but a normrt::Error.
#include <sys/resource.h>
#include <sys/stat.h>

#include <fstream>

#include "engine/core_test_ops.h"
#include "engine/engine.h"
#include "onnx/importer.h"
#include "onnx/onnx_builder.h"
#include "test_util.h"

namespace normrt::test {
namespace {

// x [N,4] -> Identity -> y
ModelBuilder identity_model(int64_t opset = 17) {
  ModelBuilder m(opset);
  m.input("x", {"N", "4"}).output("y");
  m.node("Identity", {"x"}, {"y"}, "", "id");
  return m;
}

// Lowers the address-space limit to what the process uses now plus `extra` bytes for its lifetime, so that a
// test can show that something is refused *before* a large allocation is attempted.
class AddressSpaceLimit {
 public:
  explicit AddressSpaceLimit(uint64_t extra) {
    ::getrlimit(RLIMIT_AS, &saved_);
    uint64_t used_kib = 0;
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
      if (line.rfind("VmSize:", 0) == 0) used_kib = std::stoull(line.substr(7));
    struct rlimit lowered = saved_;
    lowered.rlim_cur = used_kib * 1024 + extra;
    if (saved_.rlim_max != RLIM_INFINITY && lowered.rlim_cur > saved_.rlim_max) lowered.rlim_cur = saved_.rlim_max;
    ::setrlimit(RLIMIT_AS, &lowered);
  }
  ~AddressSpaceLimit() { ::setrlimit(RLIMIT_AS, &saved_); }

 private:
  struct rlimit saved_;
};

}  // namespace

TEST(OnnxImport, ImportsInputsOutputsOpsetsAndNodes) {
  ModelBuilder m = identity_model();
  m.import_domain(kTestDomain, 1);
  m.graph().mutable_output(0)->Clear();
  m.graph().mutable_output(0)->set_name("z");
  m.node("CoreScale", {"y"}, {"z"}, kTestDomain, "scale");
  Graph g = import_onnx_bytes(m.bytes(), "");
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.inputs[0].name, "x");
  EXPECT_EQ(g.inputs[0].dtype, DataType::kFloat32);
  EXPECT_EQ(g.inputs[0].shape.to_string(), "[N,4]");
  ASSERT_EQ(g.outputs.size(), 1u);
  EXPECT_EQ(g.outputs[0].name, "z");
  EXPECT_EQ(g.opset(""), 17);
  EXPECT_EQ(g.opset(kTestDomain), 1);
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[0].name, "id");
  EXPECT_EQ(g.nodes[1].domain, kTestDomain);
}

TEST(OnnxImport, AiOnnxDomainIsTheDefaultDomain) {
  ModelBuilder m(13);
  m.model().mutable_opset_import(0)->set_domain("ai.onnx");
  m.input("x", {"2"}).output("y");
  m.node("Identity", {"x"}, {"y"}, "ai.onnx");
  Graph g = import_onnx_bytes(m.bytes(), "");
  EXPECT_EQ(g.opset(""), 13);
  EXPECT_EQ(g.nodes[0].domain, "");
}

TEST(OnnxImport, UnnamedAndDuplicateNodeNamesBecomeUnique) {
  ModelBuilder m;
  m.input("x", {"2"}).output("b");
  m.node("Identity", {"x"}, {"a"}, "", "same");
  m.node("Identity", {"a"}, {"b"}, "", "same");
  m.node("Identity", {"x"}, {"c"});
  Graph g = import_onnx_bytes(m.bytes(), "");
  std::set<std::string> names;
  for (const auto& n : g.nodes) names.insert(n.name);
  EXPECT_EQ(names.size(), 3u);
  EXPECT_TRUE(names.count("Identity_2"));
}

TEST(OnnxImport, OpsetOutsideTheSupportedRangeIsRefusedWithTheFix) {
  for (int64_t opset : {1, 10, 22, 99}) {
    expect_error_code([&] { import_onnx_bytes(identity_model(opset).bytes(), ""); }, ErrorCode::kInvalidModel,
                      {"opset " + std::to_string(opset), "11 to 21", "opset_version"});
  }
  for (int64_t opset : {11, 21}) EXPECT_NO_THROW(import_onnx_bytes(identity_model(opset).bytes(), ""));
}

TEST(OnnxImport, MissingDefaultOpsetIsRefused) {
  ModelBuilder m = identity_model();
  m.model().clear_opset_import();
  expect_error_code([&] { import_onnx_bytes(m.bytes(), ""); }, ErrorCode::kInvalidModel,
                    {"no opset", "truncated"});
}

TEST(OnnxImport, UnreadableFileNamesThePathAndTheReason) {
  TempDir dir;
  expect_error_code([&] { import_onnx_file(dir.file("missing.onnx")); }, ErrorCode::kIo,
                    {dir.file("missing.onnx"), "No such file"});
  expect_error_code([&] { import_onnx_file(dir.path()); }, ErrorCode::kIo, {dir.path(), "not a regular file"});
  std::string path = identity_model().save(dir);
  ::chmod(path.c_str(), 0);
  if (::geteuid() != 0)  // root reads anything
    expect_error_code([&] { import_onnx_file(path); }, ErrorCode::kIo, {path, "Permission denied"});
}

TEST(OnnxImport, NotAnOnnxFileIsRefused) {
  TempDir dir;
  write_bytes(dir.file("x.onnx"), "this is not a protobuf \xff\xff\xff\xff");
  expect_error_code([&] { import_onnx_file(dir.file("x.onnx")); }, ErrorCode::kInvalidModel,
                    {dir.file("x.onnx"), "could not be parsed", "truncated or corrupt"});
  write_bytes(dir.file("empty.onnx"), "");
  expect_error_code([&] { import_onnx_file(dir.file("empty.onnx")); }, ErrorCode::kInvalidModel, {"no graph"});
}

TEST(OnnxImport, TruncatedFileIsRefused) {
  TempDir dir;
  std::string bytes = identity_model().bytes();
  write_bytes(dir.file("cut.onnx"), bytes.substr(0, bytes.size() / 2));
  expect_error_code([&] { import_onnx_file(dir.file("cut.onnx")); }, ErrorCode::kInvalidModel,
                    {dir.file("cut.onnx"), "truncated"});
}

TEST(OnnxImport, EveryTruncationIsRefused) {
  ModelBuilder m = identity_model();
  m.initializer("w", {3}, {1, 2, 3});
  std::string bytes = m.bytes();
  ASSERT_NO_THROW(import_onnx_bytes(bytes, ""));
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::string message = error_message([&] { import_onnx_bytes(bytes.substr(0, n), ""); }, ErrorCode::kInvalidModel);
    EXPECT_FALSE(message.empty()) << "truncated to " << n << " of " << bytes.size() << " bytes";
  }
}

// Every single-byte change of a small model either imports and builds, or is refused with a normrt::Error;
// nothing else may escape (std::length_error, bad_alloc, out_of_range ...) and nothing may crash.
TEST(OnnxImport, ByteFlipsNeverEscapeAsAnythingButNormrtError) {
  ModelBuilder m;
  m.import_domain(kTestDomain, 1);
  m.input("x", {"2", "3"}).output("y", {"2", "3"});
  m.initializer("w", {2, 3}, {1, 2, 3, 4, 5, 6});
  m.node("CoreAdd", {"x", "w"}, {"s"}, kTestDomain, "add");
  add_attribute(m.node("CoreScale", {"s"}, {"y"}, kTestDomain, "scale"), "alpha", 2.0f);
  const std::string bytes = m.bytes();
  int imported = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (unsigned char mask : {0xffu, 0x01u, 0x80u}) {
      std::string mutated = bytes;
      mutated[i] = static_cast<char>(mutated[i] ^ mask);
      try {
        Graph g = import_onnx_bytes(mutated, "");
        ++imported;
        auto engine = build_engine(std::move(g), {});
        ExecutionContext context(engine);
        std::map<std::string, Tensor> inputs;
        for (const auto& in : engine->graph.inputs)
          if (in.dtype != DataType::kUndefined && in.shape.fully_known())
            inputs[in.name] = Tensor(in.dtype, in.shape.concrete());
        context.run(inputs);
      } catch (const Error&) {
      } catch (const std::exception& e) {
        ADD_FAILURE() << "byte " << i << " ^ " << int(mask) << ": " << typeid(e).name() << ": " << e.what();
      }
    }
  }
  EXPECT_GT(imported, 0);  // the loop did exercise the paths after parsing
}

TEST(OnnxImport, CycleIsRefusedNamingANodeOnIt) {
  ModelBuilder m;
  m.input("x", {"2"}).output("b");
  m.node("Identity", {"b"}, {"a"}, "", "first");
  m.node("Identity", {"a"}, {"b"}, "", "second");
  expect_error_code([&] { import_onnx_bytes(m.bytes(), ""); }, ErrorCode::kInvalidModel, {"cycle", "(Identity)"});
  ModelBuilder self;
  self.input("x", {"2"}).output("a");
  self.node("Identity", {"a"}, {"a"}, "", "loop");
  expect_error_code([&] { import_onnx_bytes(self.bytes(), ""); }, ErrorCode::kInvalidModel, {"cycle", "'loop'"});
}

TEST(OnnxImport, NodesOutOfOrderAreSorted) {
  ModelBuilder m;
  m.input("x", {"2"}).output("b");
  m.node("Identity", {"a"}, {"b"}, "", "second");
  m.node("Identity", {"x"}, {"a"}, "", "first");
  Graph g = import_onnx_bytes(m.bytes(), "");
  EXPECT_EQ(g.nodes[0].name, "first");
  EXPECT_EQ(g.nodes[1].name, "second");
}

TEST(OnnxImport, DanglingInputIsRefused) {
  ModelBuilder m;
  m.input("x", {"2"}).output("y");
  m.node("Identity", {"nowhere"}, {"y"}, "", "reader");
  expect_error_code([&] { import_onnx_bytes(m.bytes(), ""); }, ErrorCode::kInvalidModel,
                    {"'reader'", "'nowhere'", "no graph input, initializer or earlier node produces"});
}

TEST(OnnxImport, ValueProducedTwiceIsRefused) {
  ModelBuilder m;
  m.input("x", {"2"}).output("y");
  m.node("Identity", {"x"}, {"y"}, "", "one");
  m.node("Identity", {"x"}, {"y"}, "", "two");
  expect_error_code([&] { import_onnx_bytes(m.bytes(), ""); }, ErrorCode::kInvalidModel, {"'y'", "produced twice"});

  ModelBuilder shadow_input;  // a node writing over a graph input
  shadow_input.input("x", {"2"}).output("x");
  shadow_input.node("Identity", {"x"}, {"x"}, "", "overwrite");
  EXPECT_THROW(import_onnx_bytes(shadow_input.bytes(), ""), Error);

  ModelBuilder shadow_init;  // a node writing over an initializer
  shadow_init.input("x", {"2"}).output("w");
  shadow_init.initializer("w", {2}, {1, 2});
  shadow_init.node("Identity", {"x"}, {"w"}, "", "overwrite");
  expect_error_code([&] { import_onnx_bytes(shadow_init.bytes(), ""); }, ErrorCode::kInvalidModel,
                    {"'w'", "produced twice"});
}

onnx::NodeProto& add_constant(ModelBuilder& m, const std::string& output, const std::vector<float>& values) {
  auto& node = m.node("Constant", {}, {output}, "", "const_" + output);
  auto* a = node.add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  auto* t = a->mutable_t();
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(static_cast<int64_t>(values.size()));
  for (float v : values) t->add_float_data(v);
  return node;
}

TEST(OnnxImport, ConstantProducingAGraphInputOrInitializerIsRefused) {
  // Otherwise the constant would silently replace what the caller passes for x.
  ModelBuilder m;
  m.input("x", {"2"}).output("y");
  add_constant(m, "x", {5, 6});
  m.node("Identity", {"x"}, {"y"});
  expect_error_code([&] { import_onnx_bytes(m.bytes(), ""); }, ErrorCode::kInvalidModel, {"'x'", "produced twice"});

  ModelBuilder twice;
  twice.input("x", {"2"}).output("y");
  twice.initializer("c", {2}, {1, 2});
  add_constant(twice, "c", {5, 6});
  twice.node("Identity", {"c"}, {"y"});
  expect_error_code([&] { import_onnx_bytes(twice.bytes(), ""); }, ErrorCode::kInvalidModel, {"'c'", "produced twice"});
}

TEST(OnnxImport, ConstantNodesBecomeInitializers) {
  ModelBuilder m;
  m.input("x", {"2"}).output("y").output("k");
  add_constant(m, "c", {5, 6});
  m.node("Identity", {"x"}, {"y"});
  auto& ints = m.node("Constant", {}, {"k"});
  auto* a = ints.add_attribute();
  a->set_name("value_ints");
  a->set_type(onnx::AttributeProto::INTS);
  a->add_ints(7);
  a->add_ints(-8);
  Graph g = import_onnx_bytes(m.bytes(), "");
  ASSERT_TRUE(g.is_initializer("c"));
  EXPECT_EQ(g.initializers["c"].data<float>()[1], 6.0f);
  ASSERT_TRUE(g.is_initializer("k"));
  EXPECT_EQ(g.initializers["k"].dtype(), DataType::kInt64);
  EXPECT_EQ(g.initializers["k"].data<int64_t>()[1], -8);
  EXPECT_EQ(g.nodes.size(), 1u);

  ModelBuilder sparse;
  sparse.input("x", {"2"}).output("y");
  auto& s = sparse.node("Constant", {}, {"y"}, "", "sparse");
  auto* sa = s.add_attribute();
  sa->set_name("value_string");
  sa->set_type(onnx::AttributeProto::STRING);
  sa->set_s("text");
  expect_error_code([&] { import_onnx_bytes(sparse.bytes(), ""); }, ErrorCode::kUnsupportedOp,
                    {"'sparse'", "value_string"});
}

TEST(OnnxImport, DuplicateGraphOutputsAndInputsAreRefused) {
  ModelBuilder outs;
  outs.input("x", {"2"}).output("y").output("y");
  outs.node("Identity", {"x"}, {"y"});
  expect_error_code([&] { import_onnx_bytes(outs.bytes(), ""); }, ErrorCode::kInvalidModel,
                    {"graph output 'y'", "declared twice"});
  ModelBuilder ins;
  ins.input("x", {"2"}).input("x", {"2"}).output("y");
  ins.node("Identity", {"x"}, {"y"});
  expect_error_code([&] { import_onnx_bytes(ins.bytes(), ""); }, ErrorCode::kInvalidModel,
                    {"graph input 'x'", "declared twice"});
  ModelBuilder never;
  never.input("x", {"2"}).output("y").output("ghost");
  never.node("Identity", {"x"}, {"y"});
  expect_error_code([&] { import_onnx_bytes(never.bytes(), ""); }, ErrorCode::kInvalidModel,
                    {"graph output 'ghost'", "never produced"});
}

TEST(OnnxImport, InputsNeedATypeAndAShape) {
  ModelBuilder m;
  m.output("y");
  auto* in = m.graph().add_input();
  in->set_name("x");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  m.node("Identity", {"x"}, {"y"});
  expect_error_code([&] { import_onnx_bytes(m.bytes(), ""); }, ErrorCode::kInvalidModel,
                    {"input 'x'", "no element type or no shape", "re-export"});
  ModelBuilder strings;
  strings.input("x", {"2"}, onnx::TensorProto::STRING).output("y");
  strings.node("Identity", {"x"}, {"y"});
  expect_error_code([&] { import_onnx_bytes(strings.bytes(), ""); }, ErrorCode::kInvalidModel,
                    {"'x'", "unsupported element type 8"});
  ModelBuilder negative;
  negative.input("x", {"2"}).output("y");
  negative.graph().mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_value(-3);
  negative.node("Identity", {"x"}, {"y"});
  expect_error_code([&] { import_onnx_bytes(negative.bytes(), ""); }, ErrorCode::kInvalidModel, {"negative dimension -3"});
}

TEST(OnnxImport, InitializerListedAsInputIsNotAnInput) {
  ModelBuilder m;
  m.input("x", {"2"}).input("w", {"2"}).output("y");
  m.initializer("w", {2}, {1, 2});
  m.node("Identity", {"w"}, {"y"});
  Graph g = import_onnx_bytes(m.bytes(), "");
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.inputs[0].name, "x");
  ModelBuilder twice;
  twice.input("x", {"2"}).output("y");
  twice.initializer("w", {2}, {1, 2});
  twice.initializer("w", {2}, {3, 4});
  twice.node("Identity", {"w"}, {"y"});
  expect_error_code([&] { import_onnx_bytes(twice.bytes(), ""); }, ErrorCode::kInvalidModel,
                    {"initializer 'w'", "declared twice"});
}

TEST(OnnxImport, RawDataLengthMustMatchTheShape) {
  for (size_t bytes : {0u, 8u, 11u, 13u, 16u}) {
    ModelBuilder m = identity_model();
    auto& w = m.initializer("w", {3}, {});
    w.set_raw_data(std::string(bytes, '\0'));
    expect_error_code([&] { import_onnx_bytes(m.bytes(), ""); }, ErrorCode::kInvalidModel,
                      {"tensor 'w'", "holds " + std::to_string(bytes) + " bytes", "need 12"});
  }
  ModelBuilder typed = identity_model();
  auto& t = typed.initializer("t", {3}, {});
  t.clear_raw_data();
  t.add_float_data(1);
  t.add_float_data(2);
  expect_error_code([&] { import_onnx_bytes(typed.bytes(), ""); }, ErrorCode::kInvalidModel,
                    {"tensor 't'", "holds 2 values", "needs 3"});
  ModelBuilder ints = identity_model();
  auto& i = *ints.graph().add_initializer();
  i.set_name("i");
  i.set_data_type(onnx::TensorProto::INT64);
  i.add_dims(2);
  i.add_int64_data(1);
  expect_error_code([&] { import_onnx_bytes(ints.bytes(), ""); }, ErrorCode::kInvalidModel,
                    {"tensor 'i'", "holds 1 values", "needs 2"});
}

TEST(OnnxImport, TypedDataOfEveryKindImports) {
  ModelBuilder m = identity_model();
  auto add = [&](const std::string& name, int type) -> onnx::TensorProto& {
    auto& t = *m.graph().add_initializer();
    t.set_name(name);
    t.set_data_type(type);
    t.add_dims(2);
    return t;
  };
  auto& f = add("f", onnx::TensorProto::FLOAT);
  f.add_float_data(1.5f);
  f.add_float_data(-2);
  auto& d = add("d", onnx::TensorProto::DOUBLE);
  d.add_double_data(0.25);
  d.add_double_data(3);
  auto& l = add("l", onnx::TensorProto::INT64);
  l.add_int64_data(-5);
  l.add_int64_data(int64_t{1} << 40);
  auto& u = add("u", onnx::TensorProto::UINT32);
  u.add_uint64_data(7);
  u.add_uint64_data(4000000000u);
  auto& b = add("b", onnx::TensorProto::BOOL);
  b.add_int32_data(1);
  b.add_int32_data(0);
  auto& h = add("h", onnx::TensorProto::FLOAT16);
  h.add_int32_data(0x3c00);
  h.add_int32_data(0xc000);
  Graph g = import_onnx_bytes(m.bytes(), "");
  EXPECT_EQ(g.initializers["f"].data<float>()[0], 1.5f);
  EXPECT_EQ(g.initializers["d"].data<double>()[0], 0.25);
  EXPECT_EQ(g.initializers["l"].data<int64_t>()[1], int64_t{1} << 40);
  EXPECT_EQ(g.initializers["u"].data<uint32_t>()[1], 4000000000u);
  EXPECT_EQ(g.initializers["b"].data<uint8_t>()[0], 1);
  EXPECT_EQ(g.initializers["h"].data<uint16_t>()[1], 0xc000);
}

TEST(OnnxImport, AbsurdDimsAreRefused) {
  ModelBuilder overflow = identity_model();
  overflow.initializer("w", {int64_t{1} << 40, int64_t{1} << 40}, {});
  expect_error_code([&] { import_onnx_bytes(overflow.bytes(), ""); }, ErrorCode::kInvalidModel, {"tensor 'w'", "64 bits"});
  ModelBuilder huge = identity_model();
  huge.initializer("w", {int64_t{1} << 20, int64_t{1} << 20, 16}, {});
  expect_error_code([&] { import_onnx_bytes(huge.bytes(), ""); }, ErrorCode::kInvalidModel, {"tensor 'w'", "absurdly large"});
  ModelBuilder negative = identity_model();
  negative.initializer("w", {2, -1}, {});
  expect_error_code([&] { import_onnx_bytes(negative.bytes(), ""); }, ErrorCode::kInvalidModel,
                    {"tensor 'w'", "negative dimension -1"});
}

// Dims that are large but under the absurdity limit, with a few bytes of data: the mismatch must be found before
// the 32 GiB the dims claim are allocated (the address space is limited so that allocating would fail loudly).
TEST(OnnxImport, DataSizeIsCheckedBeforeAllocating) {
  ModelBuilder raw = identity_model();
  raw.initializer("w", {int64_t{1} << 33}, {1.0f});
  ModelBuilder typed = identity_model();
  auto& t = typed.initializer("t", {int64_t{1} << 33}, {});
  t.clear_raw_data();
  t.add_float_data(1.0f);
  ModelBuilder attribute = identity_model();
  auto& c = attribute.node("Constant", {}, {"c"}, "", "big_constant");
  auto* a = c.add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  a->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
  a->mutable_t()->add_dims(int64_t{1} << 33);
  a->mutable_t()->set_raw_data("abcd");
  const std::string bytes[] = {raw.bytes(), typed.bytes(), attribute.bytes()};
  AddressSpaceLimit limit(uint64_t{2} << 30);
  for (const auto& b : bytes) {
    std::string message = error_message([&] { import_onnx_bytes(b, ""); }, ErrorCode::kInvalidModel);
    EXPECT_NE(message.find("need"), std::string::npos) << message;
  }
}

TEST(OnnxImport, AttributeOfTheWrongTypeIsRefusedNamingNodeAndAttribute) {
  ModelBuilder m;
  m.import_domain(kTestDomain, 1);
  m.input("x", {"2"}).output("y");
  add_attribute(m.node("CoreScale", {"x"}, {"y"}, kTestDomain, "scaler"), "alpha", int64_t{2});
  Graph g = import_onnx_bytes(m.bytes(), "");  // the importer keeps attributes as they are typed
  expect_error_code([&] { build_engine(std::move(g), {}); }, ErrorCode::kInvalidModel,
                    {"attribute 'alpha'", "'scaler'", "must be FLOAT but is INT"});
}

// Control flow is unsupported; nested subgraphs are never walked, and protobuf's own nesting limit turns very
// deep ones into a parse error. Either way: a normrt::Error, no stack overflow.
TEST(OnnxImport, DeeplyNestedSubgraphsAreRefusedCleanly) {
  for (int depth : {1, 20, 200, 1000}) {
    onnx::GraphProto inner;
    inner.set_name("leaf");
    for (int d = 0; d < depth; ++d) {
      onnx::GraphProto outer;
      outer.set_name("level" + std::to_string(d));
      auto* node = outer.add_node();
      node->set_op_type("If");
      node->add_input("cond");
      node->add_output("r");
      auto* a = node->add_attribute();
      a->set_name("then_branch");
      a->set_type(onnx::AttributeProto::GRAPH);
      *a->mutable_g() = std::move(inner);
      inner = std::move(outer);
    }
    ModelBuilder m;
    m.input("cond", {}, onnx::TensorProto::BOOL).output("r");
    auto* node = m.graph().add_node();
    *node = inner.node(0);
    std::string message = error_message([&] { build_engine(import_onnx_bytes(m.bytes(), ""), {}); },
                                        depth <= 20 ? ErrorCode::kUnsupportedOp : ErrorCode::kInvalidModel);
    EXPECT_NE(message.find(depth <= 20 ? "'If'" : "could not be parsed"), std::string::npos) << depth << ": " << message;
  }
}

TEST(OnnxImport, DeepChainImportsAndBuildsWithoutRecursion) {
  constexpr int kDepth = 20000;
  ModelBuilder m;
  m.input("x", {"3"}).output("v" + std::to_string(kDepth));
  // Written in reverse so that sorting has the whole chain to reorder.
  for (int i = kDepth; i >= 1; --i) m.node("Identity", {i == 1 ? "x" : "v" + std::to_string(i - 1)}, {"v" + std::to_string(i)});
  Graph g = import_onnx_bytes(m.bytes(), "");
  ASSERT_EQ(g.nodes.size(), static_cast<size_t>(kDepth));
  EXPECT_EQ(g.nodes.front().inputs[0], "x");
  auto engine = build_engine(std::move(g), {});
  ExecutionContext context(engine);
  Tensor x = float_tensor({1, 2, 3}, {3});
  auto out = context.run({{"x", x}});
  EXPECT_EQ(relative_error(out[0].second, x), 0.0);
}

}  // namespace normrt::test
