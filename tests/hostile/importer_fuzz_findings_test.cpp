// Importer inputs that the ONNX fuzz target (fuzz/onnx_import_fuzzer) found mishandled, each as a small model.
// Some are undefined behaviour that only the sanitizer build (build-asan, scripts/sanitize.sh) reports; the
// input the fuzzer found is also replayed from fuzz/regressions/onnx_import/.
#include "onnx/importer.h"
#include "onnx/onnx_builder.h"
#include "test_util.h"

namespace normrt::test {

// Empty tensors in typed storage (float_data, double_data, int64_data with no entries): protobuf's empty
// repeated fields have a null data(), which must not reach memcpy (UBSan: null passed as a nonnull argument).
TEST(ImporterFuzzFindings, EmptyTypedTensorsImport) {
  ModelBuilder m;
  m.input("x", {"2"}).output("y");
  m.node("Identity", {"x"}, {"y"}, "", "id");
  const int types[] = {onnx::TensorProto::FLOAT, onnx::TensorProto::DOUBLE, onnx::TensorProto::INT64,
                       onnx::TensorProto::INT32, onnx::TensorProto::UINT64};
  for (int type : types) {
    auto* t = m.graph().add_initializer();
    t->set_name("empty" + std::to_string(type));
    t->set_data_type(type);
    t->add_dims(0);
    t->add_dims(3);
  }
  Graph g = import_onnx_bytes(m.bytes(), "");
  for (int type : types) {
    const Tensor& t = g.initializers.at("empty" + std::to_string(type));
    EXPECT_EQ(t.numel(), 0);
    EXPECT_EQ(t.dims(), (Dims{0, 3}));
  }
}

}  // namespace normrt::test
