// import_onnx_tensor: one serialized TensorProto (an ONNX backend test's input_0.pb) into a normrt Tensor.
// The protobufs are written by hand here (protobuf wire format) so the test needs no ONNX headers.
#include <gtest/gtest.h>

#include <cstring>

#include "onnx/importer.h"
#include "test_util.h"

namespace normrt::test {
namespace {

// Wire format: a key is (field << 3) | wire type; 0 = varint, 2 = length-delimited.
void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void put_int(std::string& out, int field, int64_t v) {
  put_varint(out, static_cast<uint64_t>(field) << 3);
  put_varint(out, static_cast<uint64_t>(v));
}
void put_bytes(std::string& out, int field, const std::string& bytes) {
  put_varint(out, (static_cast<uint64_t>(field) << 3) | 2);
  put_varint(out, bytes.size());
  out += bytes;
}

// TensorProto fields (onnx.proto): dims 1, data_type 2, int64_data 7, name 8, raw_data 9, external_data 13,
// data_location 14.
std::string tensor_proto(int32_t dtype, const Dims& dims, const std::string& raw) {
  std::string out;
  for (int64_t d : dims) put_int(out, 1, d);
  put_int(out, 2, dtype);
  put_bytes(out, 8, "x");
  put_bytes(out, 9, raw);
  return out;
}

TEST(ImportOnnxTensor, RawFloatData) {
  std::vector<float> values = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -0.5f};
  std::string raw(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  Tensor t = import_onnx_tensor(tensor_proto(1, {2, 3}, raw), "input_0.pb");
  EXPECT_EQ(t.dtype(), DataType::kFloat32);
  EXPECT_EQ(t.dims(), (Dims{2, 3}));
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(t.data<float>()[i], values[i]);
}

TEST(ImportOnnxTensor, TypedInt64DataAndScalar) {
  std::string proto;
  put_int(proto, 2, 7);  // int64, no dims: a scalar
  put_int(proto, 7, -42);
  Tensor t = import_onnx_tensor(proto, "input_1.pb");
  EXPECT_EQ(t.dtype(), DataType::kInt64);
  EXPECT_EQ(t.rank(), 0u);
  EXPECT_EQ(t.data<int64_t>()[0], -42);
}

TEST(ImportOnnxTensor, RefusesWhatDoesNotFit) {
  // Four bytes for six floats.
  expect_error([] { import_onnx_tensor(tensor_proto(1, {2, 3}, "abcd"), "input_0.pb"); },
               {"input_0.pb", "holds 4 bytes", "need 24"});
  // Not a protobuf at all (a truncated varint).
  expect_error([] { import_onnx_tensor(std::string("\x08\xff", 2), "output_0.pb"); }, {"output_0.pb", "TensorProto"});
  // A string tensor: no such dtype in normrt.
  expect_error([] { import_onnx_tensor(tensor_proto(8, {1}, ""), "input_2.pb"); }, {"input_2.pb", "element type 8"});
  // External data has no folder to live in.
  std::string proto = tensor_proto(1, {1}, "");
  proto.clear();
  put_int(proto, 1, 1);
  put_int(proto, 2, 1);
  std::string entry;
  put_bytes(entry, 1, "location");
  put_bytes(entry, 2, "weights.bin");
  put_bytes(proto, 13, entry);
  put_int(proto, 14, 1);
  try {
    import_onnx_tensor(proto, "input_3.pb");
    ADD_FAILURE() << "external data was read without a base folder";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidModel) << e.what();
  }
}

}  // namespace
}  // namespace normrt::test
