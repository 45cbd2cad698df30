#include "cuda_kernel_test_util.h"

#include <cmath>
#include <cstring>
#include <memory>

#include "ops/evaluate.h"

namespace normrt {
namespace cuda {
namespace testing {

bool gpu_available() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

namespace {

void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw Error(ErrorCode::kInternal, std::string(what) + ": " + cudaGetErrorString(status));
}

struct DeviceBuffer {
  void* ptr = nullptr;
  explicit DeviceBuffer(size_t bytes) { check_cuda(cudaMalloc(&ptr, bytes ? bytes : 1), "cudaMalloc"); }
  ~DeviceBuffer() { cudaFree(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

double element_as_double(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kFloat32: return t.data<float>()[i];
    case DataType::kFloat64: return t.data<double>()[i];
    case DataType::kInt64: return static_cast<double>(t.data<int64_t>()[i]);
    case DataType::kInt32: return t.data<int32_t>()[i];
    case DataType::kInt8: return t.data<int8_t>()[i];
    case DataType::kUInt8: return t.data<uint8_t>()[i];
    case DataType::kBool: return t.data<uint8_t>()[i];
    case DataType::kFloat16: {
      uint16_t h = t.data<uint16_t>()[i];
      uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
      if (exp == 0) {
        if (mant == 0) bits = sign;
        else {
          int e = -1;
          do { mant <<= 1; ++e; } while (!(mant & 0x400));
          bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3ff) << 13;
        }
      } else if (exp == 31) bits = sign | 0x7f800000u | mant << 13;
      else bits = sign | (exp + 112) << 23 | mant << 13;
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    }
    case DataType::kBFloat16: {
      uint32_t bits = static_cast<uint32_t>(t.data<uint16_t>()[i]) << 16;
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    }
    default: throw Error(ErrorCode::kInternal, std::string("compare_tensors: dtype ") + dtype_name(t.dtype()));
  }
}

}  // namespace

std::vector<Tensor> run_reference(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs) {
  return run_node(node, opset, inputs);
}

std::vector<Tensor> run_cuda_node(const std::string& kernel_name, const Node& node, int64_t opset,
                                  const std::vector<const Tensor*>& inputs, const std::string& config,
                                  std::string* tuned) {
  const CudaKernel* kernel = CudaKernelRegistry::global().find(kernel_name);
  if (!kernel) throw Error(ErrorCode::kInternal, "no CUDA kernel named '" + kernel_name + "'");
  const OpSchema* schema = find_schema(node);
  if (!schema) throw Error(ErrorCode::kInternal, node.describe() + " has no schema");

  InferContext infer(node, opset);
  infer.inputs.resize(inputs.size());
  infer.values = inputs;
  std::vector<TypeShape> types(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i]) types[i] = infer.inputs[i] = TypeShape{inputs[i]->dtype(), Shape::from_dims(inputs[i]->dims())};
  if (kernel->accepts && !kernel->accepts(node, opset, types))
    throw Error(ErrorCode::kInternal, "CUDA kernel '" + kernel_name + "' does not accept " + node.describe());
  schema->infer(infer);

  std::vector<std::unique_ptr<DeviceBuffer>> buffers;
  CudaKernelContext ctx(node, opset);
  for (const Tensor* t : inputs) {
    DeviceValue v;
    if (t) {
      v.dtype = t->dtype();
      v.dims = t->dims();
      v.host = t;
      buffers.push_back(std::make_unique<DeviceBuffer>(t->nbytes()));
      v.data = buffers.back()->ptr;
      check_cuda(cudaMemcpy(v.data, t->raw(), t->nbytes(), cudaMemcpyHostToDevice), "upload");
    }
    ctx.inputs.push_back(v);
  }
  std::vector<Tensor> outputs(node.outputs.size());
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    DeviceValue v;
    if (!node.outputs[i].empty()) {
      outputs[i] = Tensor(infer.outputs[i].dtype, infer.outputs[i].shape.concrete());
      v.dtype = outputs[i].dtype();
      v.dims = outputs[i].dims();
      buffers.push_back(std::make_unique<DeviceBuffer>(outputs[i].nbytes()));
      v.data = buffers.back()->ptr;
      // Poison the output so that a kernel that leaves elements unwritten fails the comparison.
      check_cuda(cudaMemset(v.data, 0xff, outputs[i].nbytes()), "cudaMemset");
    }
    ctx.outputs.push_back(v);
  }

  cudaStream_t stream;
  check_cuda(cudaStreamCreate(&stream), "cudaStreamCreate");
  std::shared_ptr<void> stream_guard(nullptr, [&](void*) { cudaStreamDestroy(stream); });
  cudnnHandle_t cudnn;
  ctx.check(cudnnCreate(&cudnn), "cudnnCreate");
  std::shared_ptr<void> cudnn_guard(nullptr, [&](void*) { cudnnDestroy(cudnn); });
  ctx.check(cudnnSetStream(cudnn, stream), "cudnnSetStream");
  cublasHandle_t cublas;
  ctx.check(cublasCreate(&cublas), "cublasCreate");
  std::shared_ptr<void> cublas_guard(nullptr, [&](void*) { cublasDestroy(cublas); });
  ctx.check(cublasSetStream(cublas, stream), "cublasSetStream");
  cublasLtHandle_t lt;
  ctx.check(cublasLtCreate(&lt), "cublasLtCreate");
  std::shared_ptr<void> lt_guard(nullptr, [&](void*) { cublasLtDestroy(lt); });
  ctx.stream = stream;
  ctx.cudnn = cudnn;
  ctx.cublas = cublas;
  ctx.cublas_lt = lt;
  std::any state;
  ctx.state = &state;

  ctx.config = config;
  std::unique_ptr<DeviceBuffer> workspace;
  if (kernel->tune && config.empty()) {
    const size_t tune_bytes = size_t(256) << 20;
    workspace = std::make_unique<DeviceBuffer>(tune_bytes);
    ctx.workspace = workspace->ptr;
    ctx.workspace_bytes = tune_bytes;
    ctx.config = kernel->tune(ctx);
    if (tuned) *tuned = ctx.config;
  }
  size_t bytes = kernel->workspace ? kernel->workspace(ctx) : 0;
  if (bytes > ctx.workspace_bytes) {
    workspace = std::make_unique<DeviceBuffer>(bytes);
    ctx.workspace = workspace->ptr;
    ctx.workspace_bytes = bytes;
  }
  DeviceBuffer error_flag(sizeof(int));
  check_cuda(cudaMemset(error_flag.ptr, 0, sizeof(int)), "cudaMemset");
  ctx.error_flag = static_cast<int*>(error_flag.ptr);
  ctx.error_code = 1;
  kernel->run(ctx);
  check_cuda(cudaStreamSynchronize(stream), "kernel execution");
  check_cuda(cudaGetLastError(), "kernel launch");
  int raised = 0;
  check_cuda(cudaMemcpy(&raised, error_flag.ptr, sizeof(int), cudaMemcpyDeviceToHost), "download");
  if (raised)
    throw Error(ErrorCode::kInvalidArgument,
                node.describe() + ": " + (kernel->data_error ? kernel->data_error : "the kernel found invalid data"));
  for (size_t i = 0; i < outputs.size(); ++i)
    if (!outputs[i].empty())
      check_cuda(cudaMemcpy(outputs[i].raw(), ctx.outputs[i].data, outputs[i].nbytes(), cudaMemcpyDeviceToHost),
                 "download");
  return outputs;
}

std::string compare_tensors(const Tensor& got, const Tensor& want, double atol, double rtol) {
  if (got.dtype() != want.dtype())
    return std::string("dtype ") + dtype_name(got.dtype()) + " != " + dtype_name(want.dtype());
  if (got.dims() != want.dims()) return "dims " + dims_to_string(got.dims()) + " != " + dims_to_string(want.dims());
  const bool exact = !(want.dtype() == DataType::kFloat32 || want.dtype() == DataType::kFloat16 ||
                       want.dtype() == DataType::kBFloat16 || want.dtype() == DataType::kFloat64);
  double worst = 0;
  int64_t worst_i = -1;
  for (int64_t i = 0; i < want.numel(); ++i) {
    double g = element_as_double(got, i), w = element_as_double(want, i);
    if ((std::isnan(w) && std::isnan(g)) || g == w) continue;  // g == w: equal infinities too
    double excess = std::fabs(g - w) - (exact ? 0.0 : atol + rtol * std::fabs(w));
    if (std::isnan(g) || std::isnan(excess)) excess = INFINITY;
    if (excess > worst) {
      worst = excess;
      worst_i = i;
    }
  }
  if (worst_i < 0) return "";
  return "element " + std::to_string(worst_i) + " of " + dims_to_string(want.dims()) + ": got " +
         std::to_string(element_as_double(got, worst_i)) + ", want " + std::to_string(element_as_double(want, worst_i));
}

}  // namespace testing
}  // namespace cuda
}  // namespace normrt
