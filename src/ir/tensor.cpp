#include "normrt/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "normrt/error.h"

namespace normrt {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kInvalidModel: return "invalid model";
    case ErrorCode::kUnsupportedOp: return "unsupported op";
    case ErrorCode::kShapeError: return "shape error";
    case ErrorCode::kCorruptEngine: return "corrupt engine";
    case ErrorCode::kIo: return "I/O error";
    case ErrorCode::kPluginMissing: return "plugin missing";
    case ErrorCode::kInternal: return "internal error";
    case ErrorCode::kDeviceUnavailable: return "device unavailable";
  }
  return "unknown error";
}

size_t dtype_size(DataType dtype) {
  switch (dtype) {
    case DataType::kFloat32: case DataType::kInt32: case DataType::kUInt32: return 4;
    case DataType::kUInt8: case DataType::kInt8: case DataType::kBool: return 1;
    case DataType::kUInt16: case DataType::kInt16: case DataType::kFloat16: case DataType::kBFloat16: return 2;
    case DataType::kInt64: case DataType::kFloat64: case DataType::kUInt64: return 8;
    case DataType::kUndefined: return 0;
  }
  return 0;
}

namespace {
struct DtypeName {
  DataType dtype;
  const char* name;
};
constexpr DtypeName kDtypeNames[] = {
    {DataType::kFloat32, "float32"}, {DataType::kUInt8, "uint8"},     {DataType::kInt8, "int8"},
    {DataType::kUInt16, "uint16"},   {DataType::kInt16, "int16"},     {DataType::kInt32, "int32"},
    {DataType::kInt64, "int64"},     {DataType::kBool, "bool"},       {DataType::kFloat16, "float16"},
    {DataType::kFloat64, "float64"}, {DataType::kUInt32, "uint32"},   {DataType::kUInt64, "uint64"},
    {DataType::kBFloat16, "bfloat16"},
};
}  // namespace

const char* dtype_name(DataType dtype) {
  for (const auto& entry : kDtypeNames)
    if (entry.dtype == dtype) return entry.name;
  return "undefined";
}

DataType dtype_from_name(const std::string& name) {
  for (const auto& entry : kDtypeNames)
    if (name == entry.name) return entry.dtype;
  throw Error(ErrorCode::kInvalidArgument, "unknown data type '" + name + "'");
}

bool is_known_dtype(int32_t value) {
  for (const auto& entry : kDtypeNames)
    if (static_cast<int32_t>(entry.dtype) == value) return true;
  return false;
}

int64_t element_count(const Dims& dims) {
  int64_t count = 1;
  for (int64_t d : dims) {
    if (d < 0) throw Error(ErrorCode::kShapeError, "negative dimension " + std::to_string(d) + " in shape " + dims_to_string(dims));
    if (d != 0 && count > INT64_MAX / d)
      throw Error(ErrorCode::kShapeError, "shape " + dims_to_string(dims) + " has more elements than fit in 64 bits");
    count *= d;
  }
  return count;
}

std::string dims_to_string(const Dims& dims) {
  if (dims.empty()) return "scalar";
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += 'x';
    s += std::to_string(dims[i]);
  }
  return s;
}

namespace {
// Tensors above this size are refused before allocating: no model normrt targets comes near it, and a hostile
// file must not make us try to allocate terabytes.
constexpr size_t kMaxTensorBytes = size_t{1} << 36;  // 64 GiB
constexpr size_t kAlignment = 64;                    // a cache line; what vector loads and oneDNN prefer
}  // namespace

Tensor::Tensor(DataType dtype, Dims dims) : dtype_(dtype), dims_(std::move(dims)) {
  if (dtype_size(dtype) == 0) throw Error(ErrorCode::kInvalidArgument, "cannot allocate a tensor of undefined type");
  numel_ = element_count(dims_);
  if (static_cast<uint64_t>(numel_) > kMaxTensorBytes / dtype_size(dtype))
    throw Error(ErrorCode::kShapeError, "tensor of shape " + dims_to_string(dims_) + " and type " + dtype_name(dtype) +
                                           " needs more than 64 GiB; refusing to allocate it");
  size_t bytes = nbytes();
  size_t padded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (padded == 0) padded = kAlignment;
  void* p = std::aligned_alloc(kAlignment, padded);
  if (!p) throw Error(ErrorCode::kInternal, "out of memory allocating " + std::to_string(bytes) + " bytes");
  std::memset(p, 0, padded);
  storage_ = std::shared_ptr<unsigned char>(static_cast<unsigned char*>(p), [](unsigned char* q) { std::free(q); });
}

Tensor Tensor::reshaped(Dims dims) const {
  if (element_count(dims) != numel_)
    throw Error(ErrorCode::kShapeError,
                "cannot reshape " + dims_to_string(dims_) + " to " + dims_to_string(dims) + ": element counts differ");
  Tensor t = *this;
  t.dims_ = std::move(dims);
  return t;
}

Tensor Tensor::clone() const {
  if (empty()) return Tensor();
  Tensor t(dtype_, dims_);
  std::memcpy(t.raw(), raw(), nbytes());
  return t;
}

}  // namespace normrt
