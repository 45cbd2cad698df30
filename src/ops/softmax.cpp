// Softmax and LogSoftmax. The two ONNX definitions differ:
//  - opset < 13: the input is coerced to 2-D [prod(dims[:axis]), prod(dims[axis:])] and each row is normalized,
//    i.e. over all dims from `axis` on; axis defaults to 1.
//  - opset >= 13: normalized over the single dim `axis`; axis defaults to -1.
// Both accept axis in [-r, r-1]. Numerically stable: the row maximum is subtracted before exp, and the sum of
// exponentials is accumulated in double. float16 and bfloat16 are computed in float32.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "ops/op.h"
#include "ops/shape_util.h"

namespace normrt {
namespace {

float bfloat16_to_float(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_bfloat16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if (std::isnan(f)) return static_cast<uint16_t>((bits >> 16) | 0x40);  // stay a (quiet) NaN
  bits += 0x7fff + ((bits >> 16) & 1);                                   // round to nearest even
  return static_cast<uint16_t>(bits >> 16);
}

int64_t default_axis(int64_t opset) { return opset < 13 ? 1 : -1; }

void infer_softmax(InferContext& ctx) {
  if (ctx.num_inputs() != 1) ctx.fail("needs 1 input, has " + std::to_string(ctx.num_inputs()));
  const DataType dtype = ctx.dtype(0);
  if (dtype != DataType::kFloat32 && dtype != DataType::kFloat64 && dtype != DataType::kFloat16 &&
      dtype != DataType::kBFloat16)
    ctx.fail(std::string("input 0 has type ") + dtype_name(dtype) +
             ", which is not supported; supported: float32, float64, float16, bfloat16");
  const Shape& shape = ctx.shape(0);
  if (shape.has_rank) {
    if (shape.rank() == 0) ctx.fail("input 0 is a scalar; " + ctx.node.op_type + " needs rank >= 1");
    normalize_axis(ctx, ctx.node.attr_int("axis", default_axis(ctx.opset)), static_cast<int64_t>(shape.rank()));
  }
  ctx.set_output(0, dtype, shape);
}

// Normalizes `outer` groups of `n` elements each, the elements of a group `inner` apart. Load/Store convert
// between the storage type and C.
template <typename C, typename S, typename Load, typename Store>
void softmax_groups(const S* in, S* out, int64_t outer, int64_t n, int64_t inner, bool log, Load load, Store store) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t base = o * n * inner + i;
      C max = load(in[base]);
      for (int64_t k = 1; k < n; ++k) max = std::max(max, load(in[base + k * inner]));
      double sum = 0;
      for (int64_t k = 0; k < n; ++k) sum += std::exp(static_cast<double>(load(in[base + k * inner]) - max));
      if (log) {
        const C log_sum = static_cast<C>(std::log(sum));
        for (int64_t k = 0; k < n; ++k) out[base + k * inner] = store(load(in[base + k * inner]) - max - log_sum);
      } else {
        const double scale = 1.0 / sum;
        for (int64_t k = 0; k < n; ++k)
          out[base + k * inner] =
              store(static_cast<C>(std::exp(static_cast<double>(load(in[base + k * inner]) - max)) * scale));
      }
    }
  }
}

template <bool Log>
void softmax_reference(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Dims& dims = x.dims();
  const int64_t rank = static_cast<int64_t>(dims.size());
  if (rank == 0) ctx.fail("input 0 is a scalar; " + ctx.node.op_type + " needs rank >= 1");
  const int64_t axis = normalize_axis(ctx, ctx.node.attr_int("axis", default_axis(ctx.opset)), rank);
  int64_t outer = 1, n = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= dims[d];
  if (ctx.opset < 13) {
    for (int64_t d = axis; d < rank; ++d) n *= dims[d];
  } else {
    n = dims[axis];
    for (int64_t d = axis + 1; d < rank; ++d) inner *= dims[d];
  }
  if (n == 0 || x.numel() == 0) return;
  Tensor& y = ctx.out(0);
  switch (x.dtype()) {
    case DataType::kFloat32:
      softmax_groups<float>(
          x.data<float>(), y.data<float>(), outer, n, inner, Log, [](float v) { return v; }, [](float v) { return v; });
      return;
    case DataType::kFloat64:
      softmax_groups<double>(
          x.data<double>(), y.data<double>(), outer, n, inner, Log, [](double v) { return v; },
          [](double v) { return v; });
      return;
    case DataType::kFloat16:
      softmax_groups<float>(x.data<uint16_t>(), y.data<uint16_t>(), outer, n, inner, Log, half_to_float, float_to_half);
      return;
    case DataType::kBFloat16:
      softmax_groups<float>(x.data<uint16_t>(), y.data<uint16_t>(), outer, n, inner, Log, bfloat16_to_float,
                            float_to_bfloat16);
      return;
    default:
      ctx.fail(std::string("input 0 has type ") + dtype_name(x.dtype()) + ", which is not supported");
  }
}

}  // namespace

NORMRT_REGISTER_OP("", "Softmax", infer_softmax, softmax_reference<false>);
NORMRT_REGISTER_OP("", "LogSoftmax", infer_softmax, softmax_reference<true>);

}  // namespace normrt
