#include "cuda/dnn_util.h"

#include <climits>
#include <sstream>

namespace normrt {
namespace cuda {

bool is_dnn_float(::normrt::DataType t) {
  return t == ::normrt::DataType::kFloat32 || t == ::normrt::DataType::kFloat16;
}

cudnnDataType_t cudnn_type(::normrt::DataType t) {
  return t == ::normrt::DataType::kFloat16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
}

cudaDataType_t cuda_type(::normrt::DataType t) { return t == ::normrt::DataType::kFloat16 ? CUDA_R_16F : CUDA_R_32F; }

uint32_t negative_infinity_bits(::normrt::DataType t) {
  return t == ::normrt::DataType::kFloat16 ? 0xfc00u : 0xff800000u;
}

int element_bytes(::normrt::DataType t) { return t == ::normrt::DataType::kFloat16 ? 2 : 4; }

std::vector<int> int_dims(const CudaKernelContext& ctx, const std::vector<int64_t>& dims) {
  std::vector<int> out;
  for (int64_t d : dims) {
    if (d < 0 || d > INT_MAX) ctx.fail("extent " + std::to_string(d) + " does not fit cuDNN's int dimensions");
    out.push_back(static_cast<int>(d));
  }
  return out;
}

void set_packed_tensor(const CudaKernelContext& ctx, cudnnTensorDescriptor_t desc, ::normrt::DataType t,
                       const std::vector<int>& dims) {
  std::vector<int> strides(dims.size());
  int64_t stride = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    if (stride > INT_MAX) ctx.fail("a tensor of more than 2^31 elements does not fit cuDNN's int strides");
    strides[i] = static_cast<int>(stride);
    stride *= dims[i] > 0 ? dims[i] : 1;
  }
  ctx.check(cudnnSetTensorNdDescriptor(desc, cudnn_type(t), static_cast<int>(dims.size()), dims.data(), strides.data()),
            "cudnnSetTensorNdDescriptor");
}

void set_channels_last_tensor(const CudaKernelContext& ctx, cudnnTensorDescriptor_t desc, ::normrt::DataType t,
                              const std::vector<int>& dims) {
  if (dims.size() != 4) ctx.fail("a channels-last cuDNN tensor must have rank 4 (internal error)");
  if (static_cast<int64_t>(dims[0]) * dims[1] * dims[2] * dims[3] > INT_MAX)
    ctx.fail("a tensor of more than 2^31 elements does not fit cuDNN's int strides");
  ctx.check(cudnnSetTensor4dDescriptor(desc, CUDNN_TENSOR_NHWC, cudnn_type(t), dims[0], dims[1], dims[2], dims[3]),
            "cudnnSetTensor4dDescriptor");
}

void AcceptContext::fail(const std::string& message) const { throw Error(ErrorCode::kInvalidModel, message); }

std::string format_config(const std::map<std::string, int64_t>& values) {
  std::string s;
  for (const auto& [key, value] : values) s += (s.empty() ? "" : ";") + key + "=" + std::to_string(value);
  return s;
}

std::map<std::string, int64_t> parse_config(const std::string& config) {
  std::map<std::string, int64_t> values;
  std::stringstream in(config);
  std::string item;
  while (std::getline(in, item, ';')) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) continue;
    try {
      size_t used = 0;
      const std::string text = item.substr(eq + 1);
      const int64_t v = std::stoll(text, &used);
      if (used == text.size()) values[item.substr(0, eq)] = v;
    } catch (const std::exception&) {
      // A malformed entry reads as absent: the kernel then picks a safe default.
    }
  }
  return values;
}

}  // namespace cuda
}  // namespace normrt
