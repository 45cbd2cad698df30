// ai.normrt NhwcMaxPool / NhwcAveragePool (the layout pass's channels-last 2-D pooling; src/ops/pool.cpp): one
// thread per output vector of up to 16 bytes of channels, reading the window's taps directly. Padding taps are
// skipped rather than materialized, so every padding, dilation and ceil_mode window matches ONNX exactly with no
// padded copy (cudnn_pool's channels-first path writes one); arithmetic in fp32. In ResNet's stem pool (3x3,
// stride 2) each input vector is read by about 2.25 windows; the repeats come from L1 and L2.
#include <cuda_fp16.h>

#include <climits>
#include <cmath>

#include "cuda/cuda_kernel.h"
#include "cuda/cuda_util.h"
#include "cuda/dnn_util.h"
#include "ops/conv_geometry.h"

namespace normrt {
namespace cuda {
namespace {

struct NhwcPoolParams {
  int64_t outputs = 0;  // output vectors: N * oH * oW * (C / V)
  int32_t H = 0, W = 0, C = 0, oH = 0, oW = 0, vectors = 0;  // vectors: C / V
  int32_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  int32_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int include_pad = 0;  // average: divide by the taps inside input plus padding (else inside the input only)
};

template <typename T, int V>
struct alignas(sizeof(T) * V) Vec {
  T e[V];
};

// Taps of a window along one axis that lie before `limit` (the input's end, or the end padding's).
__device__ __forceinline__ int taps_before(int start, int k, int d, int limit) {
  int n = 0;
  for (int i = 0; i < k; ++i) n += start + i * d < limit ? 1 : 0;
  return n;
}

template <typename T, int V, bool MAX>
__global__ void nhwc_pool_kernel(const T* __restrict__ x, T* __restrict__ y, const NhwcPoolParams p) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < p.outputs;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t r = i;
    const int c = static_cast<int>(r % p.vectors) * V;
    r /= p.vectors;
    const int ow = static_cast<int>(r % p.oW);
    r /= p.oW;
    const int oh = static_cast<int>(r % p.oH);
    const int64_t n = r / p.oH;
    const int h0 = oh * p.sh - p.pad_top, w0 = ow * p.sw - p.pad_left;
    float acc[V];
#pragma unroll
    for (int e = 0; e < V; ++e) acc[e] = MAX ? -INFINITY : 0.0f;
    int inside = 0;
    for (int a = 0; a < p.kh; ++a) {
      const int ih = h0 + a * p.dh;
      if (ih < 0 || ih >= p.H) continue;
      const T* row = x + (n * p.H + ih) * static_cast<int64_t>(p.W) * p.C + c;
      for (int b = 0; b < p.kw; ++b) {
        const int iw = w0 + b * p.dw;
        if (iw < 0 || iw >= p.W) continue;
        const Vec<T, V> v = *reinterpret_cast<const Vec<T, V>*>(row + static_cast<int64_t>(iw) * p.C);
#pragma unroll
        for (int e = 0; e < V; ++e) {
          const float f = load_as(v.e[e]);
          if constexpr (MAX) {
            // The first maximum wins and a NaN propagates, as in the reference (and PyTorch).
            if (f > acc[e] || (isnan(f) && !isnan(acc[e]))) acc[e] = f;
          } else {
            acc[e] += f;
          }
        }
        ++inside;
      }
    }
    if constexpr (!MAX) {
      // Taps past the end padding (ceil_mode windows) never count, as in ONNX Runtime and PyTorch.
      const int count = p.include_pad ? taps_before(h0, p.kh, p.dh, p.H + p.pad_bottom) *
                                            taps_before(w0, p.kw, p.dw, p.W + p.pad_right)
                                      : inside;
#pragma unroll
      for (int e = 0; e < V; ++e) acc[e] = count > 0 ? acc[e] / static_cast<float>(count) : 0.0f;
    }
    Vec<T, V> out;
#pragma unroll
    for (int e = 0; e < V; ++e) out.e[e] = store_as<T>(acc[e]);
    *reinterpret_cast<Vec<T, V>*>(y + i * V) = out;
  }
}

// The geometry of the node at NHWC input dims x ([N, H, W, C]); fails naming what does not fit.
template <typename Ctx>
NhwcPoolParams make_params(const Ctx& ctx, const Dims& x) {
  const Node& node = ctx.node;
  if (x.size() != 4) ctx.fail("X [" + dims_to_string(x) + "] must have rank 4 ([N, H, W, C])");
  const bool is_max = node.op_type == "NhwcMaxPool";
  const WindowAttrs a = read_window_attrs(ctx, 2, node.attr_ints("kernel_shape"), is_max || ctx.opset >= 19);
  const bool ceil_mode = node.attr_int("ceil_mode", 0) != 0;
  NhwcPoolParams p;
  for (int64_t d : x)
    if (d < 0 || d > INT_MAX) ctx.fail("X [" + dims_to_string(x) + "] has an extent beyond 2^31 - 1");
  for (size_t i = 0; i < 2; ++i)
    if (a.kernel[i] < 1 || a.kernel[i] > INT_MAX || a.strides[i] > INT_MAX || a.dilations[i] > INT_MAX ||
        a.pad_begin(i) > INT_MAX || a.pad_end(i) > INT_MAX)
      ctx.fail("a window attribute of spatial axis " + std::to_string(i) + " is beyond 2^31 - 1");
  const AxisWindow h = resolve_window_axis(a, 0, x[1], ceil_mode);
  const AxisWindow w = resolve_window_axis(a, 1, x[2], ceil_mode);
  if (h.out < 1 || w.out < 1) ctx.fail("the window does not fit the padded input [" + dims_to_string(x) + "]");
  p.H = static_cast<int32_t>(x[1]);
  p.W = static_cast<int32_t>(x[2]);
  p.C = static_cast<int32_t>(x[3]);
  p.oH = static_cast<int32_t>(h.out);
  p.oW = static_cast<int32_t>(w.out);
  p.kh = static_cast<int32_t>(a.kernel[0]);
  p.kw = static_cast<int32_t>(a.kernel[1]);
  p.sh = static_cast<int32_t>(a.strides[0]);
  p.sw = static_cast<int32_t>(a.strides[1]);
  p.dh = static_cast<int32_t>(a.dilations[0]);
  p.dw = static_cast<int32_t>(a.dilations[1]);
  p.pad_top = static_cast<int32_t>(h.pad_begin);
  p.pad_bottom = static_cast<int32_t>(h.pad_end);
  p.pad_left = static_cast<int32_t>(w.pad_begin);
  p.pad_right = static_cast<int32_t>(w.pad_end);
  p.include_pad = node.attr_int("count_include_pad", 0) != 0 ? 1 : 0;
  // The last window's furthest tap and the output's extent must stay within int arithmetic.
  if (static_cast<int64_t>(p.oH - 1) * p.sh + static_cast<int64_t>(p.kh - 1) * p.dh > INT_MAX ||
      static_cast<int64_t>(p.oW - 1) * p.sw + static_cast<int64_t>(p.kw - 1) * p.dw > INT_MAX)
    ctx.fail("the window reaches beyond 2^31 - 1");
  return p;
}

bool nhwc_pool_accepts(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) {
  try {
    if (inputs.size() != 1 || node.outputs.size() != 1) return false;
    if (inputs[0].dtype != DataType::kFloat32 && inputs[0].dtype != DataType::kFloat16) return false;
    const Shape& xs = inputs[0].shape;
    if (!xs.has_rank || xs.rank() != 4) return false;
    AcceptContext ctx{node, opset};
    const WindowAttrs a =
        read_window_attrs(ctx, 2, node.attr_ints("kernel_shape"), node.op_type == "NhwcMaxPool" || opset >= 19);
    Dims x;
    for (const Dim& d : xs.dims) {
      if (!d.known()) return true;  // the geometry is checked again at the run's shapes
      x.push_back(d.value);
    }
    make_params(ctx, x);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

template <typename T, bool MAX>
void launch(const CudaKernelContext& ctx, NhwcPoolParams p, int64_t batch, const void* x, void* y) {
  constexpr int kWide = 16 / sizeof(T);
  const bool wide = p.C % kWide == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
                    reinterpret_cast<uintptr_t>(y) % 16 == 0;
  const int V = wide ? kWide : 1;
  p.vectors = p.C / V;
  const int64_t per_image = static_cast<int64_t>(p.oH) * p.oW * p.vectors;
  p.outputs = batch * per_image;
  if (wide)
    nhwc_pool_kernel<T, kWide, MAX><<<grid_for(p.outputs), kBlock, 0, ctx.stream>>>(static_cast<const T*>(x),
                                                                                   static_cast<T*>(y), p);
  else
    nhwc_pool_kernel<T, 1, MAX><<<grid_for(p.outputs), kBlock, 0, ctx.stream>>>(static_cast<const T*>(x),
                                                                               static_cast<T*>(y), p);
  check_launch(ctx, "nhwc_pool_kernel");
}

void nhwc_pool_run(CudaKernelContext& ctx) {
  const DeviceValue& x = ctx.in(0);
  DeviceValue& y = ctx.out(0);
  const NhwcPoolParams p = make_params(ctx, x.dims);
  const Dims want{x.dims[0], p.oH, p.oW, p.C};
  if (y.dims != want)
    ctx.fail("output [" + dims_to_string(y.dims) + "] is not the [" + dims_to_string(want) + "] the geometry gives");
  if (y.numel() == 0) return;
  const bool is_max = ctx.node.op_type == "NhwcMaxPool";
  if (x.dtype == DataType::kFloat32) {
    is_max ? launch<float, true>(ctx, p, x.dims[0], x.data, y.data)
           : launch<float, false>(ctx, p, x.dims[0], x.data, y.data);
  } else if (x.dtype == DataType::kFloat16) {
    is_max ? launch<__half, true>(ctx, p, x.dims[0], x.data, y.data)
           : launch<__half, false>(ctx, p, x.dims[0], x.data, y.data);
  } else {
    ctx.fail(std::string("X must be float32 or float16, not ") + dtype_name(x.dtype));
  }
}

NORMRT_REGISTER_CUDA_KERNEL(CudaKernel{"cuda_nhwc_max_pool", kNormrtDomain, "NhwcMaxPool", nhwc_pool_accepts,
                                       nhwc_pool_run, nullptr, nullptr, {}, 0});
NORMRT_REGISTER_CUDA_KERNEL(CudaKernel{"cuda_nhwc_average_pool", kNormrtDomain, "NhwcAveragePool",
                                       nhwc_pool_accepts, nhwc_pool_run, nullptr, nullptr, {}, 0});

}  // namespace
}  // namespace cuda
}  // namespace normrt
