// Tensor::wrap: tensors over caller memory (numpy arrays, DLPack tensors, C++ buffers) without a copy.
#include <cstdint>

#include "normrt/error.h"
#include "normrt/tensor.h"

namespace normrt {

Tensor Tensor::wrap(DataType dtype, Dims dims, void* data, std::shared_ptr<void> owner) {
  size_t size = dtype_size(dtype);
  if (size == 0) throw Error(ErrorCode::kInvalidArgument, "cannot wrap memory as a tensor of undefined type");
  Tensor t;
  t.numel_ = element_count(dims);  // checks negative dims and overflow
  if (t.numel_ > 0 && !data)
    throw Error(ErrorCode::kInvalidArgument, "cannot wrap a null pointer as a " + dims_to_string(dims) + " tensor");
  if (reinterpret_cast<uintptr_t>(data) % size != 0)
    throw Error(ErrorCode::kInvalidArgument, std::string("memory for a ") + dtype_name(dtype) + " tensor must be " +
                                                 std::to_string(size) + "-byte aligned");
  t.dtype_ = dtype;
  t.dims_ = std::move(dims);
  // The aliasing constructor: shares ownership with `owner` (possibly none) and points at `data`.
  t.storage_ = std::shared_ptr<unsigned char>(std::move(owner), static_cast<unsigned char*>(data));
  return t;
}

}  // namespace normrt
