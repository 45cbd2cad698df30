// The limits SECURITY.md asks for, each at its value N (accepted: the model builds, and its engine saves, loads
// and runs) and at N + 1 (refused with a normrt::Error that names the limit):
//   - the engine format's bounds on ranks, name lengths, counts of opsets, node inputs and profiles: what the
//     reader refuses, the writer must refuse too, so that normrt never writes an engine it cannot load;
//   - nesting in ONNX files (subgraphs, nested types): bounded by protobuf's recursion limit while parsing,
//     since normrt walks no subgraph;
//   - absurd element counts: refused before anything is allocated (the address space is lowered so that an
//     attempted allocation would fail loudly instead of passing by luck).
#include <sys/resource.h>

#include <fstream>

#include "engine/engine.h"
#include "onnx/importer.h"
#include "onnx/onnx_builder.h"
#include "test_util.h"

namespace normrt::test {
namespace {

// Lowers the address-space limit to what the process uses now plus `extra` bytes while it lives.
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

std::shared_ptr<Engine> build(const ModelBuilder& m, const BuildOptions& options = {}) {
  return build_engine(import_onnx_bytes(m.bytes(), ""), options);
}

// The engine goes through its file format and back, and the loaded one runs on `inputs`.
void expect_saves_loads_and_runs(const Engine& engine, const std::map<std::string, Tensor>& inputs) {
  std::shared_ptr<Engine> loaded;
  ASSERT_NO_THROW(loaded = deserialize_engine(serialize_engine(engine), "engine")) << [&] {
    try {
      deserialize_engine(serialize_engine(engine), "engine");
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string();
  }();
  ExecutionContext context(loaded);
  EXPECT_NO_THROW(context.run(inputs));
}

// Saving is refused with kInvalidModel and a message that contains every part.
void expect_save_refused(const Engine& engine, const std::vector<std::string>& parts) {
  expect_error_code([&] { serialize_engine(engine); }, ErrorCode::kInvalidModel, parts);
}

Tensor ones(const Dims& dims) {
  Tensor t(DataType::kFloat32, dims);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = 1.0f;
  return t;
}

}  // namespace

// ---- the engine format --------------------------------------------------------------------------------------

TEST(EngineFormatLimits, RankAt64And65) {
  for (size_t rank : {size_t{64}, size_t{65}}) {
    ModelBuilder m;
    m.input("x", DimSpec(rank, "1")).output("y");
    m.node("Identity", {"x"}, {"y"}, "", "id");
    auto engine = build(m);
    if (rank == 64)
      expect_saves_loads_and_runs(*engine, {{"x", ones(Dims(rank, 1))}});
    else
      expect_save_refused(*engine, {"rank 65", "64"});
  }
}

TEST(EngineFormatLimits, NodeNameAt65536And65537Bytes) {
  for (size_t length : {size_t{65536}, size_t{65537}}) {
    ModelBuilder m;
    m.input("x", {"2"}).output("y");
    m.node("Identity", {"x"}, {"y"}, "", std::string(length, 'n'));
    auto engine = build(m);
    if (length == 65536)
      expect_saves_loads_and_runs(*engine, {{"x", ones({2})}});
    else
      expect_save_refused(*engine, {"65537 bytes", "65536"});
  }
}

TEST(EngineFormatLimits, ValueNameAt65536And65537Bytes) {
  for (size_t length : {size_t{65536}, size_t{65537}}) {
    const std::string name(length, 'v');
    ModelBuilder m;
    m.input(name, {"2"}).output("y");
    m.node("Identity", {name}, {"y"}, "", "id");
    auto engine = build(m);
    if (length == 65536)
      expect_saves_loads_and_runs(*engine, {{name, ones({2})}});
    else
      expect_save_refused(*engine, {"65537 bytes", "65536"});
  }
}

TEST(EngineFormatLimits, DimNameAt4096And4097Bytes) {
  for (size_t length : {size_t{4096}, size_t{4097}}) {
    ModelBuilder m;
    m.input("x", {std::string(length, 'd')}).output("y");
    m.node("Identity", {"x"}, {"y"}, "", "id");
    BuildOptions options;
    options.profiles.push_back(Profile{{{"x", ShapeRange{{1}, {2}, {3}}}}});
    auto engine = build(m, options);
    if (length == 4096)
      expect_saves_loads_and_runs(*engine, {{"x", ones({2})}});
    else
      expect_save_refused(*engine, {"4097 bytes", "4096"});
  }
}

TEST(EngineFormatLimits, AttributeStringAt1MiBAnd1MiBPlusOne) {
  for (size_t length : {size_t{1} << 20, (size_t{1} << 20) + 1}) {
    ModelBuilder m;
    m.input("x", {"2"}).output("y");
    auto& node = m.node("Identity", {"x"}, {"y"}, "", "id");
    auto* a = node.add_attribute();
    a->set_name("note");
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(std::string(length, 's'));
    auto engine = build(m);
    if (length == size_t{1} << 20)
      expect_saves_loads_and_runs(*engine, {{"x", ones({2})}});
    else
      expect_save_refused(*engine, {"1048577 bytes", "1048576"});
  }
}

TEST(EngineFormatLimits, NodeInputsAt65536And65537) {
  for (size_t count : {size_t{65536}, size_t{65537}}) {
    ModelBuilder m;
    m.input("x", {"1"}).output("y");
    m.node("Sum", std::vector<std::string>(count, "x"), {"y"}, "", "sum");
    auto engine = build(m);
    if (count == 65536)
      expect_saves_loads_and_runs(*engine, {{"x", ones({1})}});
    else
      expect_save_refused(*engine, {"65537", "65536"});
  }
}

TEST(EngineFormatLimits, OpsetImportsAt1024And1025) {
  for (int count : {1024, 1025}) {
    ModelBuilder m;  // imports the default domain: count - 1 more
    for (int d = 1; d < count; ++d) m.import_domain("domain" + std::to_string(d), 1);
    m.input("x", {"2"}).output("y");
    m.node("Identity", {"x"}, {"y"}, "", "id");
    auto engine = build(m);
    if (count == 1024)
      expect_saves_loads_and_runs(*engine, {{"x", ones({2})}});
    else
      expect_save_refused(*engine, {"1025", "1024"});
  }
}

TEST(EngineFormatLimits, ProfilesAt4096And4097) {
  for (size_t count : {size_t{4096}, size_t{4097}}) {
    ModelBuilder m;
    m.input("x", {"N"}).output("y");
    m.node("Identity", {"x"}, {"y"}, "", "id");
    BuildOptions options;
    for (size_t p = 0; p < count; ++p)
      options.profiles.push_back(Profile{{{"x", ShapeRange{{1}, {1}, {static_cast<int64_t>(p) + 1}}}}});
    auto engine = build(m, options);
    if (count == 4096)
      expect_saves_loads_and_runs(*engine, {{"x", ones({7})}});
    else
      expect_save_refused(*engine, {"4097", "4096"});
  }
}

TEST(EngineFormatLimits, SourceNameAt4096And4097Bytes) {
  for (size_t length : {size_t{4096}, size_t{4097}}) {
    ModelBuilder m;
    m.input("x", {"2"}).output("y");
    m.node("Identity", {"x"}, {"y"}, "", "id");
    BuildOptions options;
    options.source_name = std::string(length, 'p');
    auto engine = build(m, options);
    if (length == 4096)
      expect_saves_loads_and_runs(*engine, {{"x", ones({2})}});
    else
      expect_save_refused(*engine, {"4097 bytes", "4096"});
  }
}

// A weight whose dims claim 32 GiB, with 12 bytes of data and the checksum forged: refused for its byte count
// before the tensor is allocated.
TEST(EngineFormatLimits, WeightDimsAreCheckedBeforeAllocating) {
  ModelBuilder m;
  m.input("x", {"3"}).output("y");
  m.initializer("w", {3}, {1, 2, 3});
  m.node("Add", {"x", "w"}, {"y"}, "", "add");
  std::string bytes = serialize_engine(*build(m));
  // Section 3 (weights) holds: count 1, name "w" (length, byte), dtype (u32), rank 1 (u64), dim 3 (i64), ...
  uint64_t weights_at = 0;
  std::memcpy(&weights_at, &bytes[24 + 3 * 24 + 8], 8);
  ASSERT_EQ(bytes.substr(weights_at + 16, 1), "w");
  const size_t dim_at = weights_at + 8 + 9 + 4 + 8;
  int64_t dim = 0;
  std::memcpy(&dim, &bytes[dim_at], 8);
  ASSERT_EQ(dim, 3);
  const int64_t huge = int64_t{1} << 33;
  std::memcpy(&bytes[dim_at], &huge, 8);
  // CRC-32 (zlib polynomial) over everything before it.
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i + 4 < bytes.size(); ++i) {
    crc ^= static_cast<unsigned char>(bytes[i]);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  crc = ~crc;
  std::memcpy(&bytes[bytes.size() - 4], &crc, 4);
  AddressSpaceLimit limit(uint64_t{2} << 30);
  expect_error_code([&] { deserialize_engine(bytes, "forged"); }, ErrorCode::kCorruptEngine,
                    {"byte count does not match its shape 8589934592"});
}

// A constant the builder would have to allocate: ConstantOfShape [65536, 65536] float, 16 GiB (found by the ONNX
// fuzzer as a 14 GiB fold), stays a node computed at run time instead of being folded into a weight.
TEST(ConstantFoldingLimits, ConstantsAboveOneGiBStayNodes) {
  ModelBuilder m;
  m.input("x", {"1"}).output("y");
  onnx::TensorProto& shape = m.initializer("shape", {2}, {});
  shape.set_data_type(onnx::TensorProto::INT64);
  const int64_t dims[2] = {65536, 65536};
  shape.set_raw_data(std::string(reinterpret_cast<const char*>(dims), sizeof dims));
  m.node("ConstantOfShape", {"shape"}, {"big"}, "", "big");
  m.node("Add", {"x", "big"}, {"y"}, "", "add");
  AddressSpaceLimit limit(uint64_t{2} << 30);
  std::shared_ptr<Engine> engine;
  ASSERT_NO_THROW(engine = build(m));
  bool kept = false;
  for (const Node& n : engine->graph.nodes) kept |= n.op_type == "ConstantOfShape";
  EXPECT_TRUE(kept);
  bool reported = false;
  for (const PassRecord& r : engine->build_report.records)
    reported |= !r.applied && r.pass == "constant_folding" &&
                r.description.find("computed at run time") != std::string::npos;
  EXPECT_TRUE(reported);
}

// Generated data does not fold: ConstantOfShape [33554432, 3] float (400 MB from 16 bytes; the ONNX fuzzer's
// 136-byte model ran out of memory serializing the engine) stays a node; a Transpose of a weight, which adds no
// more than its input's bytes, still folds.
TEST(ConstantFoldingLimits, ConstantsThatGrowTheModelBy64MiBStayNodes) {
  ModelBuilder m;
  m.input("x", {"1"}).output("y").output("wt");
  onnx::TensorProto& shape = m.initializer("shape", {2}, {});
  shape.set_data_type(onnx::TensorProto::INT64);
  const int64_t dims[2] = {33554432, 3};
  shape.set_raw_data(std::string(reinterpret_cast<const char*>(dims), sizeof dims));
  m.node("ConstantOfShape", {"shape"}, {"big"}, "", "big");
  m.node("ReduceSum", {"big"}, {"sum"}, "", "sum");
  m.node("Add", {"x", "sum"}, {"y"}, "", "add");
  m.initializer("w", {3, 2}, {1, 2, 3, 4, 5, 6});
  m.node("Transpose", {"w"}, {"wt"}, "", "transpose");
  std::shared_ptr<Engine> engine;
  ASSERT_NO_THROW(engine = build(m));
  bool generated_kept = false, transpose_kept = false;
  for (const Node& n : engine->graph.nodes) {
    generated_kept |= n.op_type == "ConstantOfShape";
    transpose_kept |= n.op_type == "Transpose";
  }
  EXPECT_TRUE(generated_kept);
  EXPECT_FALSE(transpose_kept);
  std::string refused;
  for (const PassRecord& r : engine->build_report.records)
    if (!r.applied && r.pass == "constant_folding") refused += r.description + "\n";
  EXPECT_NE(refused.find("would add 384 MiB to the model from 16 bytes of inputs (more than 64 MiB)"),
            std::string::npos)
      << refused;
}

// ---- tensors made at run time -------------------------------------------------------------------------------

// A value whose shape comes from an input at run time: 64 GiB is the most a tensor may take (N, attempted: under
// a lowered address space it fails as out of memory), one more element is refused before allocating (N + 1).
TEST(TensorLimits, SixtyFourGiBIsAttemptedAndOneElementMoreIsRefused) {
  // The filled value's size is unknown until run time; its sum (the output) is a scalar.
  ModelBuilder m;
  m.input("shape", {"1"}, onnx::TensorProto::INT64).output("y");
  m.node("ConstantOfShape", {"shape"}, {"filled"}, "", "fill");
  add_attribute(m.node("ReduceSum", {"filled"}, {"y"}, "", "sum"), "keepdims", int64_t{0});
  auto engine = build(m);
  ExecutionContext context(engine);
  AddressSpaceLimit limit(uint64_t{2} << 30);
  const int64_t limit_elements = (int64_t{1} << 36) / 4;  // float32
  std::string at_limit = error_message([&] { context.run({{"shape", int64_tensor({limit_elements}, {1})}}); },
                                       ErrorCode::kInternal);
  EXPECT_NE(at_limit.find("out of memory"), std::string::npos) << at_limit;
  expect_error_code([&] { context.run({{"shape", int64_tensor({limit_elements + 1}, {1})}}); }, ErrorCode::kShapeError,
                    {"more than 64 GiB", "refusing to allocate"});
}

// ---- nesting in ONNX files ----------------------------------------------------------------------------------

namespace {

// A model whose graph holds an If node nested `depth` levels deep (each level: NodeProto > AttributeProto >
// GraphProto, three protobuf messages).
std::string nested_if_model(int depth) {
  onnx::GraphProto inner;
  inner.set_name("leaf");
  for (int d = 0; d < depth; ++d) {
    onnx::GraphProto outer;
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
  *m.graph().add_node() = inner.node(0);
  return m.bytes();
}

// A model whose output type is a sequence of sequences ... `depth` levels deep around a tensor type.
std::string nested_type_model(int depth) {
  ModelBuilder m;
  m.input("x", {"2"}).output("y");
  m.node("Identity", {"x"}, {"y"}, "", "id");
  auto* vi = m.graph().add_value_info();
  vi->set_name("unused");
  onnx::TypeProto* type = vi->mutable_type();
  for (int d = 0; d < depth; ++d) type = type->mutable_sequence_type()->mutable_elem_type();
  type->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  return m.bytes();
}

}  // namespace

// protobuf's parser refuses messages nested deeper than 100 (its default recursion limit, which normrt keeps),
// counted below the ModelProto: GraphProto, then NodeProto > AttributeProto > GraphProto per If level. 33 levels
// parse (and the If is reported as unsupported); 34 do not parse, and nothing recursed deeper.
TEST(OnnxNestingLimits, SubgraphsAt33And34Levels) {
  std::string message = error_message([&] { build_engine(import_onnx_bytes(nested_if_model(33), ""), {}); },
                                      ErrorCode::kUnsupportedOp);
  EXPECT_NE(message.find("'If'"), std::string::npos) << message;
  expect_error_code([&] { import_onnx_bytes(nested_if_model(34), ""); }, ErrorCode::kInvalidModel,
                    {"could not be parsed"});
}

// GraphProto > ValueInfoProto > TypeProto, then TypeProto.Sequence > TypeProto per level, then the innermost
// TypeProto.Tensor: 48 levels parse, 49 do not.
TEST(OnnxNestingLimits, NestedTypesAt48And49Levels) {
  Graph g = import_onnx_bytes(nested_type_model(48), "");
  EXPECT_EQ(g.nodes.size(), 1u);
  expect_error_code([&] { import_onnx_bytes(nested_type_model(49), ""); }, ErrorCode::kInvalidModel,
                    {"could not be parsed"});
}

}  // namespace normrt::test
