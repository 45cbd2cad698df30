// Reductions on the GPU: Reduce{Sum,Mean,Max,Min,Prod,L1,L2,SumSquare,LogSum,LogSumExp}, ArgMax/ArgMin,
// Softmax/LogSoftmax and GlobalAveragePool/GlobalMaxPool, with the semantics of src/ops/reduce.cpp,
// softmax.cpp and pool.cpp (identities for empty reductions, NaN propagation, opset-13/18 axes inputs).
//
// Floats accumulate in fp32 (fp16 storage included); integers (int32/int64: Sum, Prod, Max, Min) in int64,
// wrapping like the reference. When the reduced elements of each output are contiguous (the innermost axes: a
// row), a team of threads (one warp for short rows, a block for long ones) reduces each row with coalesced
// loads; otherwise one thread per output walks its elements, and neighbouring threads read neighbouring
// addresses. Softmax over the last axis is a row per team as well (a row of at most 256 16-byte vectors is read
// once, into a warp's registers); over another axis a thread per column.
#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

#include "cuda/cuda_util.h"

namespace normrt {
namespace cuda {
namespace {

enum class Kind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kSumSquare, kLogSum, kLogSumExp };

bool reduce_kind(const std::string& op, Kind* kind) {
  static const std::pair<const char*, Kind> kKinds[] = {
      {"ReduceSum", Kind::kSum},       {"ReduceMean", Kind::kMean},
      {"ReduceMax", Kind::kMax},       {"ReduceMin", Kind::kMin},
      {"ReduceProd", Kind::kProd},     {"ReduceL1", Kind::kL1},
      {"ReduceL2", Kind::kL2},         {"ReduceSumSquare", Kind::kSumSquare},
      {"ReduceLogSum", Kind::kLogSum}, {"ReduceLogSumExp", Kind::kLogSumExp}};
  for (const auto& [name, k] : kKinds)
    if (op == name) {
      *kind = k;
      return true;
    }
  return false;
}

// Accumulator type: fp32 for floats, int64 for integers.
template <typename T>
using Acc = std::conditional_t<std::is_integral_v<T>, int64_t, float>;

template <Kind K, typename A>
struct Reducer {
  static __device__ __forceinline__ A init() {
    if constexpr (K == Kind::kProd) return A(1);
    if constexpr (K == Kind::kMax) {
      if constexpr (std::is_integral_v<A>)
        return static_cast<A>(-0x7fffffffffffffffLL - 1);
      else
        return -INFINITY;
    }
    if constexpr (K == Kind::kMin) {
      if constexpr (std::is_integral_v<A>)
        return static_cast<A>(0x7fffffffffffffffLL);
      else
        return INFINITY;
    }
    return A(0);
  }
  // Folds element value v (m: the row maximum, for LogSumExp).
  static __device__ __forceinline__ A element(A v, A m) {
    if constexpr (K == Kind::kL1) return fabsf(v);
    if constexpr (K == Kind::kL2 || K == Kind::kSumSquare) return v * v;
    if constexpr (K == Kind::kLogSumExp) return isinf(m) ? A(0) : expf(v - m);
    (void)m;
    return v;
  }
  static __device__ __forceinline__ A combine(A a, A b) {
    if constexpr (K == Kind::kMax || K == Kind::kMin) {
      if constexpr (!std::is_integral_v<A>) {
        if (isnan(a) || isnan(b)) return NAN;
      }
      if constexpr (K == Kind::kMax)
        return a < b ? b : a;
      else
        return b < a ? b : a;
    } else if constexpr (K == Kind::kProd) {
      if constexpr (std::is_integral_v<A>)
        return static_cast<A>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
      else
        return a * b;
    } else {
      if constexpr (std::is_integral_v<A>)
        return static_cast<A>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
      else
        return a + b;
    }
  }
  static __device__ __forceinline__ A finish(A a, int64_t count, A m) {
    if constexpr (K == Kind::kMean) return a / static_cast<A>(count);
    if constexpr (K == Kind::kL2) return sqrtf(a);
    if constexpr (K == Kind::kLogSum) return logf(a);
    if constexpr (K == Kind::kLogSumExp) return (isinf(m) || isnan(m)) ? m : m + logf(a);
    (void)count;
    (void)m;
    return a;
  }
};

// The running maximum of LogSumExp: a NaN, once seen, stays.
__device__ __forceinline__ float max_keep_nan(float m, float v) { return (!isnan(m) && (isnan(v) || v > m)) ? v : m; }

// Team-wide combination of one value per thread (Team = 32: a warp; else a whole block of Team threads).
template <int Team, typename A, typename F>
__device__ __forceinline__ A team_reduce(A v, F combine) {
#pragma unroll
  for (int o = 16; o > 0; o /= 2) v = combine(v, __shfl_xor_sync(0xffffffffu, v, o));
  if constexpr (Team > 32) {
    __shared__ A partial[Team / 32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    __syncthreads();  // partial may still be read from a previous call
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = partial[0];
    for (int w = 1; w < Team / 32; ++w) v = combine(v, partial[w]);
  }
  return v;
}

// ---- Reduce over contiguous rows: out[r] = reduce(x[r * count .. r * count + count)) ----
template <typename T, Kind K, int Team>
__global__ void reduce_rows_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t count) {
  using A = Acc<Compute<T>>;
  using R = Reducer<K, A>;
  const int rows_per_block = blockDim.x / Team;
  const int lane = threadIdx.x % Team;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * rows_per_block + threadIdx.x / Team;
  const int64_t step = static_cast<int64_t>(gridDim.x) * rows_per_block;
  // Every thread of a block runs the same number of iterations (team_reduce of a block synchronizes).
  const int64_t iterations = (rows + step - 1) / step;
  for (int64_t it = 0; it < iterations; ++it) {
    const int64_t r = first + it * step;
    const bool active = r < rows;
    const T* row = x + (active ? r : 0) * count;
    A m = A(0);
    if constexpr (K == Kind::kLogSumExp) {
      float local = -INFINITY;
      if (active)
        for (int64_t i = lane; i < count; i += Team) local = max_keep_nan(local, load_as<T>(row[i]));
      m = team_reduce<Team>(local, [](float a, float b) { return max_keep_nan(a, b); });
    }
    A acc = R::init();
    if (active)
      for (int64_t i = lane; i < count; i += Team)
        acc = R::combine(acc, R::element(static_cast<A>(load_as<T>(row[i])), m));
    acc = team_reduce<Team>(acc, [](A a, A b) { return R::combine(a, b); });
    if (active && lane == 0) y[r] = store_as<T>(static_cast<Compute<T>>(R::finish(acc, count, m)));
  }
}

// ---- Reduce, general: one thread per output; kept and reduced axes each through their own strides ----
template <typename T, Kind K>
__global__ void reduce_strided_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t outputs, int64_t count,
                                      Indexer<1, int64_t> kept, Indexer<1, int64_t> reduced) {
  using A = Acc<Compute<T>>;
  using R = Reducer<K, A>;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < outputs; o += stride) {
    int64_t base[1];
    kept.offsets(o, base);
    A m = A(0);
    if constexpr (K == Kind::kLogSumExp) {
      float local = -INFINITY;
      for (int64_t i = 0; i < count; ++i) {
        int64_t off[1];
        reduced.offsets(i, off);
        local = max_keep_nan(local, load_as<T>(x[base[0] + off[0]]));
      }
      m = local;
    }
    A acc = R::init();
    for (int64_t i = 0; i < count; ++i) {
      int64_t off[1];
      reduced.offsets(i, off);
      acc = R::combine(acc, R::element(static_cast<A>(load_as<T>(x[base[0] + off[0]])), m));
    }
    y[o] = store_as<T>(static_cast<Compute<T>>(R::finish(acc, count, m)));
  }
}

// Reduces x (dims) over `axes` (sorted, normalized) into the dense output y.
template <typename T, Kind K>
void launch_reduce(const CudaKernelContext& ctx, const void* x, void* y, const Dims& dims,
                   const std::vector<int64_t>& axes) {
  const std::vector<int64_t> strides = strides_of(dims);
  Dims kept_dims, reduced_dims;
  std::vector<int64_t> kept_strides, reduced_strides;
  for (size_t d = 0; d < dims.size(); ++d) {
    if (std::find(axes.begin(), axes.end(), static_cast<int64_t>(d)) != axes.end()) {
      reduced_dims.push_back(dims[d]);
      reduced_strides.push_back(strides[d]);
    } else {
      kept_dims.push_back(dims[d]);
      kept_strides.push_back(strides[d]);
    }
  }
  const int64_t outputs = element_count(kept_dims), count = element_count(reduced_dims);
  if (outputs == 0) return;
  const StridePlan kept = collapse(kept_dims, {kept_strides});
  const StridePlan reduced = collapse(reduced_dims, {reduced_strides});
  const auto* px = static_cast<const T*>(x);
  auto* py = static_cast<T*>(y);
  const bool rows = reduced.dims.empty() || (reduced.dims.size() == 1 && reduced.strides[0][0] == 1 &&
                                             (kept.dims.empty() || kept.strides[0].back() == count));
  const bool dense_rows = rows && (kept.dims.size() <= 1);
  if (dense_rows) {
    if (count <= 1024) {
      reduce_rows_kernel<T, K, 32><<<grid_for(outputs * 32), kBlock, 0, ctx.stream>>>(px, py, outputs, count);
    } else {
      reduce_rows_kernel<T, K, 256><<<grid_for(outputs * 256, 256), 256, 0, ctx.stream>>>(px, py, outputs, count);
    }
  } else {
    reduce_strided_kernel<T, K><<<grid_for(outputs), kBlock, 0, ctx.stream>>>(
        px, py, outputs, count, make_indexer<1, int64_t>(kept), make_indexer<1, int64_t>(reduced));
  }
  check_launch(ctx, "reduce kernel");
}

template <typename T>
void dispatch_kind(const CudaKernelContext& ctx, Kind kind, const void* x, void* y, const Dims& dims,
                   const std::vector<int64_t>& axes) {
  switch (kind) {
    case Kind::kSum:
      return launch_reduce<T, Kind::kSum>(ctx, x, y, dims, axes);
    case Kind::kMax:
      return launch_reduce<T, Kind::kMax>(ctx, x, y, dims, axes);
    case Kind::kMin:
      return launch_reduce<T, Kind::kMin>(ctx, x, y, dims, axes);
    case Kind::kProd:
      return launch_reduce<T, Kind::kProd>(ctx, x, y, dims, axes);
    default:
      break;
  }
  if constexpr (!std::is_integral_v<T>) {
    switch (kind) {
      case Kind::kMean:
        return launch_reduce<T, Kind::kMean>(ctx, x, y, dims, axes);
      case Kind::kL1:
        return launch_reduce<T, Kind::kL1>(ctx, x, y, dims, axes);
      case Kind::kL2:
        return launch_reduce<T, Kind::kL2>(ctx, x, y, dims, axes);
      case Kind::kSumSquare:
        return launch_reduce<T, Kind::kSumSquare>(ctx, x, y, dims, axes);
      case Kind::kLogSum:
        return launch_reduce<T, Kind::kLogSum>(ctx, x, y, dims, axes);
      case Kind::kLogSumExp:
        return launch_reduce<T, Kind::kLogSumExp>(ctx, x, y, dims, axes);
      default:
        break;
    }
  }
  ctx.fail("unsupported reduction for this type");
}

void reduce_dispatch(const CudaKernelContext& ctx, Kind kind, DataType dtype, const void* x, void* y, const Dims& dims,
                     const std::vector<int64_t>& axes) {
  switch (dtype) {
    case DataType::kFloat32:
      return dispatch_kind<float>(ctx, kind, x, y, dims, axes);
    case DataType::kFloat16:
      return dispatch_kind<__half>(ctx, kind, x, y, dims, axes);
    case DataType::kInt32:
      return dispatch_kind<int32_t>(ctx, kind, x, y, dims, axes);
    case DataType::kInt64:
      return dispatch_kind<int64_t>(ctx, kind, x, y, dims, axes);
    default:
      ctx.fail(std::string("unsupported input type ") + dtype_name(dtype));
  }
}

int64_t axes_input_opset(const Node& node) { return node.op_type == "ReduceSum" ? 13 : 18; }

bool reduce_accepts(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) {
  Kind kind;
  if (!reduce_kind(node.op_type, &kind) || inputs.empty() || !rank_ok(inputs[0]) || node.outputs.size() != 1)
    return false;
  const DataType t = inputs[0].dtype;
  const bool integer_ok = (t == DataType::kInt32 || t == DataType::kInt64) &&
                          (kind == Kind::kSum || kind == Kind::kProd || kind == Kind::kMax || kind == Kind::kMin);
  if (!is_float_type(t) && !integer_ok) return false;
  if (opset < axes_input_opset(node)) return inputs.size() == 1;
  return !node.has_attribute("axes") &&
         (inputs.size() == 1 || inputs[1].dtype == DataType::kUndefined || inputs[1].dtype == DataType::kInt64);
}

void reduce_run(CudaKernelContext& ctx) {
  Kind kind = Kind::kSum;
  reduce_kind(ctx.node.op_type, &kind);
  const DeviceValue& x = ctx.in(0);
  const DeviceValue& y = ctx.outputs[0];
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  std::vector<int64_t> raw;
  const bool from_input = ctx.opset >= axes_input_opset(ctx.node);
  if (!from_input)
    raw = ctx.node.attr_ints("axes");
  else if (ctx.has_input(1))
    raw = host_ints(ctx, 1);
  std::vector<int64_t> axes;
  if (raw.empty()) {
    if (from_input && ctx.node.attr_int("noop_with_empty_axes", 0) != 0) {
      if (x.nbytes())
        ctx.check(cudaMemcpyAsync(y.data, x.data, x.nbytes(), cudaMemcpyDeviceToDevice, ctx.stream), "cudaMemcpyAsync");
      return;
    }
    for (int64_t a = 0; a < rank; ++a) axes.push_back(a);
  } else {
    for (int64_t a : raw) {
      const int64_t axis = a < 0 ? a + rank : a;
      if (axis < 0 || axis >= rank) ctx.fail("axis " + std::to_string(a) + " is out of range");
      axes.push_back(axis);
    }
    std::sort(axes.begin(), axes.end());
  }
  reduce_dispatch(ctx, kind, x.dtype, x.data, y.data, x.dims, axes);
}

// ---- GlobalAveragePool / GlobalMaxPool: rows of H*W... per (n, c) ----
bool global_pool_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  return inputs.size() == 1 && node.outputs.size() == 1 && is_float_type(inputs[0].dtype) && inputs[0].shape.has_rank &&
         inputs[0].shape.rank() >= 2;
}

void global_pool_run(CudaKernelContext& ctx) {
  const DeviceValue& x = ctx.in(0);
  const DeviceValue& y = ctx.outputs[0];
  const bool is_max = ctx.node.op_type == "GlobalMaxPool";
  const int64_t planes = x.dims[0] * x.dims[1];
  if (planes == 0) return;
  const int64_t size = x.numel() / planes;
  if (size == 0 && !is_max) {  // the reference writes 0 for an empty window
    ctx.check(cudaMemsetAsync(y.data, 0, y.nbytes(), ctx.stream), "cudaMemsetAsync");
    return;
  }
  reduce_dispatch(ctx, is_max ? Kind::kMax : Kind::kMean, x.dtype, x.data, y.data, {planes, size}, {1});
}

// ---- Softmax / LogSoftmax over [outer, n, inner] ----
template <typename T, bool Log, int Team>
__global__ void softmax_rows_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t n) {
  const int rows_per_block = blockDim.x / Team;
  const int lane = threadIdx.x % Team;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * rows_per_block + threadIdx.x / Team;
  const int64_t step = static_cast<int64_t>(gridDim.x) * rows_per_block;
  const int64_t iterations = (rows + step - 1) / step;
  for (int64_t it = 0; it < iterations; ++it) {
    const int64_t r = first + it * step;
    const bool active = r < rows;
    const T* in = x + (active ? r : 0) * n;
    float m = -INFINITY;
    if (active)
      for (int64_t i = lane; i < n; i += Team) m = fmaxf(m, load_as<T>(in[i]));
    m = team_reduce<Team>(m, [](float a, float b) { return fmaxf(a, b); });
    float sum = 0;
    if (active)
      for (int64_t i = lane; i < n; i += Team) sum += expf(load_as<T>(in[i]) - m);
    sum = team_reduce<Team>(sum, [](float a, float b) { return a + b; });
    if (!active) continue;
    T* out = y + r * n;
    if constexpr (Log) {
      const float log_sum = logf(sum);
      for (int64_t i = lane; i < n; i += Team) out[i] = store_as<T>(load_as<T>(in[i]) - m - log_sum);
    } else {
      const float scale = 1.0f / sum;
      for (int64_t i = lane; i < n; i += Team) out[i] = store_as<T>(expf(load_as<T>(in[i]) - m) * scale);
    }
  }
}

// Rows of n = nv * V elements (V per 16-byte vector, nv <= 32 * VECS), 16-byte aligned: one warp per row, which
// it reads once into registers (attention's score rows: 1024 float16 are 4 vectors a lane). Same arithmetic as
// softmax_rows_kernel.
template <typename T, bool Log, int VECS>
__global__ void __launch_bounds__(256) softmax_rows_in_registers_kernel(const T* __restrict__ x, T* __restrict__ y,
                                                                       int64_t rows, int nv) {
  constexpr int V = 16 / static_cast<int>(sizeof(T));
  const int lane = threadIdx.x % 32;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; r < rows; r += warps) {
    const uint4* in = reinterpret_cast<const uint4*>(x) + r * nv;
    float f[VECS][V];
    float m = -INFINITY;
#pragma unroll
    for (int k = 0; k < VECS; ++k) {
      const int i = lane + 32 * k;
      if (i < nv) {
        const uint4 raw = __ldcs(in + i);  // read once: keep L2 for the output's readers
        const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
        for (int j = 0; j < V; ++j) {
          f[k][j] = load_as<T>(e[j]);
          m = fmaxf(m, f[k][j]);
        }
      }
    }
    m = team_reduce<32>(m, [](float a, float b) { return fmaxf(a, b); });
    float sum = 0;
#pragma unroll
    for (int k = 0; k < VECS; ++k)
      if (lane + 32 * k < nv) {
#pragma unroll
        for (int j = 0; j < V; ++j) {
          const float e = expf(f[k][j] - m);
          sum += e;
          if constexpr (!Log) f[k][j] = e;
        }
      }
    sum = team_reduce<32>(sum, [](float a, float b) { return a + b; });
    const float log_sum = Log ? logf(sum) : 0.0f, scale = Log ? 1.0f : 1.0f / sum;
    uint4* out = reinterpret_cast<uint4*>(y) + r * nv;
#pragma unroll
    for (int k = 0; k < VECS; ++k) {
      const int i = lane + 32 * k;
      if (i < nv) {
        uint4 raw;
        T* e = reinterpret_cast<T*>(&raw);
#pragma unroll
        for (int j = 0; j < V; ++j) e[j] = store_as<T>(Log ? f[k][j] - m - log_sum : f[k][j] * scale);
        out[i] = raw;
      }
    }
  }
}

template <typename T, bool Log>
__global__ void softmax_columns_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t n,
                                       int64_t inner) {
  const int64_t columns = outer * inner;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < columns; c += stride) {
    const int64_t o = c / inner, i = c - o * inner;
    const T* in = x + o * n * inner + i;
    T* out = y + o * n * inner + i;
    float m = -INFINITY;
    for (int64_t k = 0; k < n; ++k) m = fmaxf(m, load_as<T>(in[k * inner]));
    float sum = 0;
    for (int64_t k = 0; k < n; ++k) sum += expf(load_as<T>(in[k * inner]) - m);
    if constexpr (Log) {
      const float log_sum = logf(sum);
      for (int64_t k = 0; k < n; ++k) out[k * inner] = store_as<T>(load_as<T>(in[k * inner]) - m - log_sum);
    } else {
      const float scale = 1.0f / sum;
      for (int64_t k = 0; k < n; ++k) out[k * inner] = store_as<T>(expf(load_as<T>(in[k * inner]) - m) * scale);
    }
  }
}

template <typename T, bool Log>
void launch_softmax(const CudaKernelContext& ctx, int64_t outer, int64_t n, int64_t inner) {
  const auto* x = static_cast<const T*>(ctx.in(0).data);
  auto* y = static_cast<T*>(ctx.outputs[0].data);
  constexpr int64_t V = 16 / sizeof(T);
  const bool vectors = n % V == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(y) % 16 == 0;
  if (inner == 1 && vectors && n / V <= 32 * 8) {
    const int nv = static_cast<int>(n / V);
    const unsigned grid = grid_for(outer * 32, 256);
    if (nv <= 32)
      softmax_rows_in_registers_kernel<T, Log, 1><<<grid, 256, 0, ctx.stream>>>(x, y, outer, nv);
    else if (nv <= 64)
      softmax_rows_in_registers_kernel<T, Log, 2><<<grid, 256, 0, ctx.stream>>>(x, y, outer, nv);
    else if (nv <= 128)
      softmax_rows_in_registers_kernel<T, Log, 4><<<grid, 256, 0, ctx.stream>>>(x, y, outer, nv);
    else
      softmax_rows_in_registers_kernel<T, Log, 8><<<grid, 256, 0, ctx.stream>>>(x, y, outer, nv);
  } else if (inner == 1) {
    if (n <= 1024)
      softmax_rows_kernel<T, Log, 32><<<grid_for(outer * 32), kBlock, 0, ctx.stream>>>(x, y, outer, n);
    else
      softmax_rows_kernel<T, Log, 256><<<grid_for(outer * 256, 256), 256, 0, ctx.stream>>>(x, y, outer, n);
  } else {
    softmax_columns_kernel<T, Log><<<grid_for(outer * inner), kBlock, 0, ctx.stream>>>(x, y, outer, n, inner);
  }
  check_launch(ctx, "softmax kernel");
}

bool softmax_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  return inputs.size() == 1 && node.outputs.size() == 1 && is_float_type(inputs[0].dtype) && inputs[0].shape.has_rank &&
         inputs[0].shape.rank() >= 1;
}

void softmax_run(CudaKernelContext& ctx) {
  const DeviceValue& x = ctx.in(0);
  const bool log = ctx.node.op_type == "LogSoftmax";
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  int64_t axis = ctx.node.attr_int("axis", ctx.opset < 13 ? 1 : -1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) ctx.fail("axis out of range");
  int64_t outer = 1, n = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dims[d];
  if (ctx.opset < 13) {
    for (int64_t d = axis; d < rank; ++d) n *= x.dims[d];
  } else {
    n = x.dims[axis];
    for (int64_t d = axis + 1; d < rank; ++d) inner *= x.dims[d];
  }
  if (n == 0 || x.numel() == 0) return;
  if (x.dtype == DataType::kFloat32)
    return log ? launch_softmax<float, true>(ctx, outer, n, inner) : launch_softmax<float, false>(ctx, outer, n, inner);
  if (x.dtype == DataType::kFloat16)
    return log ? launch_softmax<__half, true>(ctx, outer, n, inner)
               : launch_softmax<__half, false>(ctx, outer, n, inner);
  ctx.fail(std::string("unsupported input type ") + dtype_name(x.dtype));
}

// ---- ArgMax / ArgMin: one thread per output ----
template <typename T, bool IsMax>
__global__ void arg_reduce_kernel(const T* __restrict__ x, int64_t* __restrict__ y, int64_t outer, int64_t extent,
                                  int64_t inner, bool last) {
  const int64_t outputs = outer * inner;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < outputs; c += stride) {
    const int64_t o = c / inner, i = c - o * inner;
    const T* in = x + o * extent * inner + i;
    int64_t best = 0;
    Compute<T> b = load_as<T>(in[0]);
    for (int64_t k = 1; k < extent; ++k) {
      const Compute<T> v = load_as<T>(in[k * inner]);
      const bool better = IsMax ? (last ? v >= b : v > b) : (last ? v <= b : v < b);
      if (better) {
        best = k;
        b = v;
      }
    }
    y[c] = best;
  }
}

bool arg_reduce_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  if (inputs.size() != 1 || node.outputs.size() != 1 || !inputs[0].shape.has_rank || inputs[0].shape.rank() == 0)
    return false;
  const DataType t = inputs[0].dtype;
  return is_float_type(t) || t == DataType::kInt32 || t == DataType::kInt64;
}

template <typename T>
void launch_arg_reduce(const CudaKernelContext& ctx, bool is_max, int64_t outer, int64_t extent, int64_t inner,
                       bool last) {
  const auto* x = static_cast<const T*>(ctx.in(0).data);
  auto* y = static_cast<int64_t*>(ctx.outputs[0].data);
  if (is_max)
    arg_reduce_kernel<T, true><<<grid_for(outer * inner), kBlock, 0, ctx.stream>>>(x, y, outer, extent, inner, last);
  else
    arg_reduce_kernel<T, false><<<grid_for(outer * inner), kBlock, 0, ctx.stream>>>(x, y, outer, extent, inner, last);
  check_launch(ctx, "arg reduce kernel");
}

void arg_reduce_run(CudaKernelContext& ctx) {
  const DeviceValue& x = ctx.in(0);
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  int64_t axis = ctx.node.attr_int("axis", 0);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) ctx.fail("axis out of range");
  const bool is_max = ctx.node.op_type == "ArgMax";
  const bool last = ctx.node.attr_int("select_last_index", 0) != 0;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dims[d];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= x.dims[d];
  const int64_t extent = x.dims[axis];
  if (outer * inner == 0) return;
  if (extent == 0) ctx.fail("cannot take ArgMax/ArgMin of an empty axis");
  switch (x.dtype) {
    case DataType::kFloat32:
      return launch_arg_reduce<float>(ctx, is_max, outer, extent, inner, last);
    case DataType::kFloat16:
      return launch_arg_reduce<__half>(ctx, is_max, outer, extent, inner, last);
    case DataType::kInt32:
      return launch_arg_reduce<int32_t>(ctx, is_max, outer, extent, inner, last);
    case DataType::kInt64:
      return launch_arg_reduce<int64_t>(ctx, is_max, outer, extent, inner, last);
    default:
      ctx.fail(std::string("unsupported input type ") + dtype_name(x.dtype));
  }
}

[[maybe_unused]] const bool registered = [] {
  CudaKernelRegistry& r = CudaKernelRegistry::global();
  for (const char* op : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                         "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"})
    r.add(make_kernel(std::string("cuda_") + op, op, reduce_accepts, reduce_run, {1}));
  r.add(make_kernel("cuda_GlobalAveragePool", "GlobalAveragePool", global_pool_accepts, global_pool_run));
  r.add(make_kernel("cuda_GlobalMaxPool", "GlobalMaxPool", global_pool_accepts, global_pool_run));
  r.add(make_kernel("cuda_Softmax", "Softmax", softmax_accepts, softmax_run));
  r.add(make_kernel("cuda_LogSoftmax", "LogSoftmax", softmax_accepts, softmax_run));
  r.add(make_kernel("cuda_ArgMax", "ArgMax", arg_reduce_accepts, arg_reduce_run));
  r.add(make_kernel("cuda_ArgMin", "ArgMin", arg_reduce_accepts, arg_reduce_run));
  return true;
}();

}  // namespace
}  // namespace cuda
}  // namespace normrt
