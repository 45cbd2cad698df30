// Tensor: a dense, row-major, host-memory array with a data type and a shape.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace normrt {

// Values follow ONNX's TensorProto.DataType so that files and APIs agree.
enum class DataType : int32_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kBool = 9,
  kFloat16 = 10,
  kFloat64 = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kBFloat16 = 16,
};

// Size in bytes of one element; 0 for kUndefined.
size_t dtype_size(DataType dtype);
// "float32", "int64", ...
const char* dtype_name(DataType dtype);
// Parses dtype_name's spelling; throws normrt::Error for anything else.
DataType dtype_from_name(const std::string& name);
bool is_known_dtype(int32_t value);

using Dims = std::vector<int64_t>;

// Product of dims, overflow-checked; throws normrt::Error on a negative dim or overflow.
int64_t element_count(const Dims& dims);
std::string dims_to_string(const Dims& dims);  // "1x3x224x224"

class Tensor {
 public:
  Tensor() = default;
  // Allocates zero-initialized storage.
  Tensor(DataType dtype, Dims dims);
  // A tensor over memory it did not allocate (no copy): `data` holds numel x dtype_size bytes, aligned to the
  // element size, for as long as `owner` lives; with no owner the caller keeps the memory alive while the
  // tensor or any copy of it is in use. normrt reads inputs and never writes them.
  static Tensor wrap(DataType dtype, Dims dims, void* data, std::shared_ptr<void> owner = nullptr);

  DataType dtype() const { return dtype_; }
  const Dims& dims() const { return dims_; }
  size_t rank() const { return dims_.size(); }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }
  bool empty() const { return dtype_ == DataType::kUndefined; }

  void* raw() { return storage_.get(); }
  const void* raw() const { return storage_.get(); }
  template <typename T>
  T* data() { return static_cast<T*>(raw()); }
  template <typename T>
  const T* data() const { return static_cast<const T*>(raw()); }

  // Same storage, new dims with the same element count.
  Tensor reshaped(Dims dims) const;
  // Deep copy.
  Tensor clone() const;

 private:
  DataType dtype_ = DataType::kUndefined;
  Dims dims_;
  int64_t numel_ = 0;
  std::shared_ptr<unsigned char> storage_;
};

}  // namespace normrt
