// .npy files: every supported dtype round-trips; versions 1.0, 2.0 and 3.0 read; Fortran order, other byte
// orders, truncated or damaged files are refused with a message that says what is wrong.
#include "io/npy.h"
#include "onnx/onnx_builder.h"
#include "test_util.h"

namespace normrt::test {
namespace {

// An .npy file as numpy writes it, with the header given (padded to 64 bytes) and `data` after it.
std::string npy_file(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  size_t prefix = major == 1 ? 10 : 12;
  size_t total = prefix + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  for (size_t i = 0; i < (major == 1 ? 2u : 4u); ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string float_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

Tensor parse(const std::string& bytes) { return parse_npy(bytes, "'x.npy'"); }

void expect_refused(const std::string& bytes, const std::vector<std::string>& parts) {
  std::vector<std::string> all = {"'x.npy'"};
  all.insert(all.end(), parts.begin(), parts.end());
  expect_error_code([&] { parse(bytes); }, ErrorCode::kIo, all);
}

}  // namespace

TEST(Npy, RoundTripsEveryDtypeAndShape) {
  const DataType dtypes[] = {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16, DataType::kInt64,
                             DataType::kInt32,   DataType::kInt16,   DataType::kInt8,    DataType::kUInt8,
                             DataType::kUInt16,  DataType::kUInt32,  DataType::kUInt64,  DataType::kBool};
  const Dims shapes[] = {{}, {0}, {1}, {7}, {2, 3, 5}, {1, 1, 1, 1, 3}, {4, 0, 2}};
  TempDir dir;
  for (DataType dtype : dtypes) {
    for (const Dims& dims : shapes) {
      Tensor t(dtype, dims);
      auto* bytes = static_cast<unsigned char*>(t.raw());
      for (size_t i = 0; i < t.nbytes(); ++i) bytes[i] = dtype == DataType::kBool ? i % 2 : static_cast<unsigned char>(i * 37 + 11);
      std::string serialized = serialize_npy(t);
      size_t header_len = static_cast<unsigned char>(serialized[8]) | (static_cast<unsigned char>(serialized[9]) << 8);
      EXPECT_EQ((10 + header_len) % 64, 0u) << "data must start 64-byte aligned";
      Tensor back = parse(serialized);
      EXPECT_EQ(back.dtype(), dtype) << dtype_name(dtype);
      EXPECT_EQ(back.dims(), dims) << dtype_name(dtype) << " " << dims_to_string(dims);
      ASSERT_EQ(back.nbytes(), t.nbytes());
      EXPECT_EQ(std::memcmp(back.raw(), t.raw(), t.nbytes()), 0) << dtype_name(dtype) << " " << dims_to_string(dims);
    }
    Tensor t(dtype, {3, 2});
    write_npy(dir.file("t.npy"), t);
    EXPECT_EQ(read_npy(dir.file("t.npy")).dims(), (Dims{3, 2}));
  }
}

TEST(Npy, WritesTheHeaderNumpyWrites) {
  std::string bytes = serialize_npy(float_tensor({1, 2, 3, 4, 5, 6}, {2, 3}));
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_NE(bytes.find("{'descr': '<f4', 'fortran_order': False, 'shape': (2,3), }"), std::string::npos) << bytes;
  std::string one = serialize_npy(float_tensor({1}, {1}));
  EXPECT_NE(one.find("'shape': (1,)"), std::string::npos);  // a one-element tuple keeps its comma
  std::string scalar = serialize_npy(Tensor(DataType::kFloat32, {}));
  EXPECT_NE(scalar.find("'shape': ()"), std::string::npos);
}

TEST(Npy, ReadsNumpyFilesOfVersions1To3) {
  const std::string data = float_bytes({1, 2, 3, 4, 5, 6});
  for (int major : {1, 2, 3}) {
    Tensor t = parse(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", data, major));
    EXPECT_EQ(t.dims(), (Dims{3, 2})) << "version " << major;
    EXPECT_EQ(t.data<float>()[5], 6.0f);
  }
  // Spacing and key order are numpy's business: accept what it may write.
  Tensor t = parse(npy_file("{'shape': (6,), 'fortran_order': False, 'descr': '=f4'}", data));
  EXPECT_EQ(t.dims(), Dims{6});
  t = parse(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", data.substr(0, 4)));
  EXPECT_EQ(t.dims(), Dims{});
}

TEST(Npy, UnknownVersionIsRefused) {
  expect_refused(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", float_bytes({1}), 4),
                 {"format version 4"});
}

TEST(Npy, FortranOrderIsRefusedWithTheFix) {
  expect_refused(npy_file("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", float_bytes({1, 2, 3, 4, 5, 6})),
                 {"Fortran order", "numpy.ascontiguousarray"});
}

TEST(Npy, OtherByteOrdersAndTypesAreRefusedWithTheSupportedList) {
  for (const char* descr : {">f4", "<c8", "|O", "<U3", "<M8[s]", "<f16"})
    expect_refused(npy_file(std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (1,), }",
                            std::string(16, '\0')),
                   {std::string("'") + descr + "'", "not supported", "little-endian float32"});
  expect_error_code([] { serialize_npy(Tensor(DataType::kBFloat16, {2})); }, ErrorCode::kIo, {"bfloat16"});
}

TEST(Npy, BadMagicIsRefused) {
  std::string bytes = serialize_npy(float_tensor({1, 2}, {2}));
  for (size_t i = 0; i < 6; ++i) {
    std::string damaged = bytes;
    damaged[i] = 'Z';
    expect_refused(damaged, {"does not start with the .npy magic", "numpy.save"});
  }
  expect_refused("", {".npy magic"});
  expect_refused("PK\x03\x04 a zip, maybe an .npz", {".npy magic"});
}

TEST(Npy, EveryTruncationIsRefused) {
  std::string bytes = serialize_npy(float_tensor({1, 2, 3, 4, 5}, {5}));
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::string message = error_message([&] { parse(bytes.substr(0, n)); }, ErrorCode::kIo);
    if (n >= 6) {
      EXPECT_NE(message.find("truncated"), std::string::npos) << "length " << n << ": " << message;
    }
  }
  expect_refused(bytes + "xx", {"needs 20 data bytes but it has 22"});
}

TEST(Npy, MalformedHeadersAreRefusedWithNormrtErrors) {
  const std::string data = float_bytes({1, 2});
  expect_refused(npy_file("{'fortran_order': False, 'shape': (2,), }", data), {"no 'descr' entry"});
  expect_refused(npy_file("{'descr': '<f4', 'shape': (2,), }", data), {"no 'fortran_order' entry"});
  expect_refused(npy_file("{'descr': '<f4', 'fortran_order': False, }", data), {"no 'shape' entry"});
  expect_refused(npy_file("{'descr': <f4, 'fortran_order': False, 'shape': (2,), }", data), {"not a string"});
  for (const char* shape : {"(2, a)", "(2, -1)", "(2,, 1)", "(2", "2", "", "[2]", "(1e3,)", "(2 1,)"})
    expect_refused(npy_file(std::string("{'descr': '<f4', 'fortran_order': False, 'shape': ") + shape + ", }", data),
                   {"shape"});
  // Not a tuple, even when the data would fit a scalar.
  expect_refused(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': 1, }", float_bytes({1})), {"shape 1"});
  expect_refused(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': ", data), {"'x.npy'"});
  std::string header_too_long = npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data);
  header_too_long[8] = '\xff';
  header_too_long[9] = '\xff';
  expect_refused(header_too_long, {"truncated inside its header"});
}

TEST(Npy, AbsurdShapesAreRefusedBeforeAllocating) {
  expect_refused(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000, 1000), }", "abcd"),
                 {"absurdly large"});
  std::string rank = "(";
  for (int i = 0; i < 40; ++i) rank += "1, ";
  expect_refused(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': " + rank + "), }", "abcd"), {"rank 40"});
  // 64 bits overflow: any normrt::Error, never anything else.
  EXPECT_THROW(parse(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (999999999999999, 999999999999999), }", "")),
               Error);
}

TEST(Npy, MissingFileIsAnIoError) {
  TempDir dir;
  expect_error_code([&] { read_npy(dir.file("nothere.npy")); }, ErrorCode::kIo, {"nothere.npy", "No such file"});
}

}  // namespace normrt::test
