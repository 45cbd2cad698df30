#include "io/npy.h"

#include <cstring>
#include <fstream>

#include "normrt/error.h"
#include "onnx/safe_file.h"

namespace normrt {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr uint64_t kMaxNpyBytes = uint64_t{1} << 36;

struct DescrEntry {
  const char* descr;
  DataType dtype;
};
constexpr DescrEntry kDescrs[] = {
    {"<f4", DataType::kFloat32}, {"<f8", DataType::kFloat64}, {"<f2", DataType::kFloat16},
    {"<i8", DataType::kInt64},   {"<i4", DataType::kInt32},   {"<i2", DataType::kInt16},
    {"|i1", DataType::kInt8},    {"|u1", DataType::kUInt8},   {"<u2", DataType::kUInt16},
    {"<u4", DataType::kUInt32},  {"<u8", DataType::kUInt64},  {"|b1", DataType::kBool},
};

Error bad(const std::string& what, const std::string& message) {
  return Error(ErrorCode::kIo, what + " is not a usable .npy file: " + message);
}

// The value text after 'key': in the header dict.
std::string dict_value(const std::string& header, const std::string& key, const std::string& what) {
  size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) throw bad(what, "its header has no '" + key + "' entry");
  size_t colon = header.find(':', k);
  if (colon == std::string::npos) throw bad(what, "its header is malformed near '" + key + "'");
  size_t start = header.find_first_not_of(' ', colon + 1);
  if (start == std::string::npos) throw bad(what, "its header is malformed near '" + key + "'");
  size_t end;
  if (header[start] == '(') {
    end = header.find(')', start);
    if (end == std::string::npos) throw bad(what, "its shape tuple is not closed");
    return header.substr(start, end - start + 1);
  }
  end = header.find_first_of(",}", start);
  if (end == std::string::npos) throw bad(what, "its header is malformed near '" + key + "'");
  std::string v = header.substr(start, end - start);
  while (!v.empty() && v.back() == ' ') v.pop_back();
  return v;
}

}  // namespace

Tensor parse_npy(const std::string& bytes, const std::string& what) {
  if (bytes.size() < 6 || std::memcmp(bytes.data(), kMagic, 6) != 0)
    throw bad(what, "it does not start with the .npy magic (save arrays with numpy.save)");
  if (bytes.size() < 10) throw bad(what, "it is truncated inside its header");
  unsigned major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, header_start;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw bad(what, "it is truncated inside its header");
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    header_start = 12;
  } else {
    throw bad(what, "format version " + std::to_string(major) + " is unknown");
  }
  if (header_len > bytes.size() - header_start) throw bad(what, "it is truncated inside its header");
  std::string header = bytes.substr(header_start, header_len);

  std::string descr = dict_value(header, "descr", what);
  if (descr.size() < 2 || (descr.front() != '\'' && descr.front() != '"'))
    throw bad(what, "its descr " + descr + " is not a string");
  descr = descr.substr(1, descr.size() - 2);
  if (descr == "=f4") descr = "<f4";
  DataType dtype = DataType::kUndefined;
  for (const auto& e : kDescrs)
    if (descr == e.descr) dtype = e.dtype;
  if (dtype == DataType::kUndefined)
    throw bad(what, "its data type '" + descr + "' is not supported (use little-endian float32, float16, float64, "
                    "int8..int64, uint8..uint64 or bool)");
  if (dict_value(header, "fortran_order", what) != "False")
    throw bad(what, "it is in Fortran order; save a C-contiguous array (numpy.ascontiguousarray)");
  std::string shape_text = dict_value(header, "shape", what);
  if (shape_text.size() < 2 || shape_text.front() != '(' || shape_text.back() != ')')
    throw bad(what, "its shape " + shape_text + " is not a tuple");
  // Comma-separated non-negative integers, spaces allowed around them, one trailing comma allowed: "(3,)".
  const std::string items = shape_text.substr(1, shape_text.size() - 2);
  Dims dims;
  for (size_t pos = 0;;) {
    size_t comma = items.find(',', pos);
    std::string part = items.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t a = part.find_first_not_of(' '), b = part.find_last_not_of(' ');
    part = a == std::string::npos ? "" : part.substr(a, b - a + 1);
    if (part.empty()) {
      if (comma == std::string::npos) break;  // "()" or the end after a trailing comma
      throw bad(what, "its shape " + shape_text + " is malformed");
    }
    if (part.size() > 15 || part.find_first_not_of("0123456789") != std::string::npos)
      throw bad(what, "its shape " + shape_text + " is malformed");
    dims.push_back(std::stoll(part));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  if (dims.size() > 32) throw bad(what, "its rank " + std::to_string(dims.size()) + " is absurd");
  int64_t count = element_count(dims);
  uint64_t data_bytes = static_cast<uint64_t>(count);
  if (data_bytes > kMaxNpyBytes / dtype_size(dtype)) throw bad(what, "its shape " + shape_text + " is absurdly large");
  data_bytes *= dtype_size(dtype);
  size_t data_start = header_start + header_len;
  if (bytes.size() - data_start != data_bytes)
    throw bad(what, "its shape " + dims_to_string(dims) + " needs " + std::to_string(data_bytes) + " data bytes but it has " +
                        std::to_string(bytes.size() - data_start) + " (truncated?)");
  Tensor t(dtype, dims);
  if (data_bytes) std::memcpy(t.raw(), bytes.data() + data_start, data_bytes);
  return t;
}

Tensor read_npy(const std::string& path) { return parse_npy(read_file(path, kMaxNpyBytes + (1 << 20)), "'" + path + "'"); }

std::string serialize_npy(const Tensor& tensor) {
  const char* descr = nullptr;
  for (const auto& e : kDescrs)
    if (e.dtype == tensor.dtype()) descr = e.descr;
  if (!descr) throw Error(ErrorCode::kIo, std::string("cannot write ") + dtype_name(tensor.dtype()) + " tensors to .npy");
  std::string shape = "(";
  for (size_t i = 0; i < tensor.rank(); ++i) shape += std::to_string(tensor.dims()[i]) + (tensor.rank() == 1 || i + 1 < tensor.rank() ? "," : "");
  shape += ")";
  std::string header = "{'descr': '" + std::string(descr) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Header padded with spaces so that the data starts on a 64-byte boundary, ending in a newline.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out(kMagic, 6);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  out.append(static_cast<const char*>(tensor.raw()), tensor.nbytes());
  return out;
}

void write_npy(const std::string& path, const Tensor& tensor) {
  std::string bytes = serialize_npy(tensor);
  std::ofstream f(path, std::ios::binary);
  if (!f) throw Error(ErrorCode::kIo, "cannot write '" + path + "'");
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw Error(ErrorCode::kIo, "failed writing '" + path + "'");
}

}  // namespace normrt
