#include <algorithm>

#include "cuda/cuda_util.h"

namespace normrt {
namespace cuda {

StridePlan collapse(const Dims& dims, const std::vector<std::vector<int64_t>>& strides) {
  StridePlan plan;
  plan.strides.resize(strides.size());
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] == 1) continue;
    bool merge = !plan.dims.empty();
    for (size_t k = 0; k < strides.size() && merge; ++k) merge = plan.strides[k].back() == strides[k][d] * dims[d];
    if (merge) {
      plan.dims.back() *= dims[d];
      for (size_t k = 0; k < strides.size(); ++k) plan.strides[k].back() = strides[k][d];
    } else {
      plan.dims.push_back(dims[d]);
      for (size_t k = 0; k < strides.size(); ++k) plan.strides[k].push_back(strides[k][d]);
    }
  }
  return plan;
}

StridePlan broadcast_plan(const Dims& out, const std::vector<Dims>& inputs) {
  std::vector<std::vector<int64_t>> strides;
  for (const Dims& in : inputs) strides.push_back(broadcast_strides(in, out));
  return collapse(out, strides);
}

bool fits_32bit(const StridePlan& plan, const std::vector<int64_t>& operand_sizes) {
  constexpr int64_t kLimit = int64_t{1} << 31;
  int64_t total = 1;
  for (int64_t d : plan.dims) total *= d;
  if (total >= kLimit) return false;
  for (int64_t size : operand_sizes)
    if (size >= kLimit) return false;
  for (const auto& strides : plan.strides)
    for (int64_t s : strides)
      if (s < 0 || s >= kLimit) return false;
  return true;
}

int multiprocessor_count() {
  int device = 0, count = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device) != cudaSuccess || count <= 0) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

unsigned grid_for(int64_t work, int block) {
  static const int sm_count = [] {
    const int count = multiprocessor_count();
    return count > 0 ? count : 132;
  }();
  const int64_t blocks = (work + block - 1) / block;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(blocks, int64_t{sm_count} * 2048 / block * 4)));
}

bool is_float_type(DataType t) { return t == DataType::kFloat32 || t == DataType::kFloat16; }

bool rank_ok(const TypeShape& input) { return input.shape.has_rank && input.shape.rank() <= kMaxRank; }

bool ranks_ok(const std::vector<TypeShape>& inputs) {
  for (const TypeShape& t : inputs)
    if (t.dtype != DataType::kUndefined && !rank_ok(t)) return false;
  return true;
}

std::vector<int64_t> host_ints(const CudaKernelContext& ctx, size_t input) {
  const DeviceValue& v = ctx.in(input);
  if (!v.host) ctx.fail("input " + std::to_string(input) + " is not known on the host");
  const Tensor& t = *v.host;
  std::vector<int64_t> out(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (t.dtype() == DataType::kInt64)
      out[i] = t.data<int64_t>()[i];
    else if (t.dtype() == DataType::kInt32)
      out[i] = t.data<int32_t>()[i];
    else
      ctx.fail("input " + std::to_string(input) + " must be int64 or int32 but is " + dtype_name(t.dtype()));
  }
  return out;
}

}  // namespace cuda
}  // namespace normrt
