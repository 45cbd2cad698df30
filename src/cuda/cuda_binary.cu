// Binary and n-ary elementwise CUDA kernels with numpy broadcasting: Add, Sub, Mul, Div, Pow, Mod (fmod=1),
// PRelu, the comparisons (Equal, Less, ...), And/Or/Xor, Where and the variadic Sum/Mean/Max/Min.
// Same-shape operands (or one scalar) take a contiguous kernel with 16-byte vector accesses; everything else
// goes through strides precomputed on the host and collapsed to the fewest axes, with 32-bit index arithmetic
// whenever the tensors allow. fp16 computes in fp32; integer arithmetic wraps like the reference
// (src/ops/elementwise.cpp, compare.cpp, activation.cpp). Integer Div and Mod stay on the CPU: their division by
// zero is an error there, which a kernel cannot report.
#include <cmath>
#include <string>
#include <type_traits>

#include "cuda/cuda_util.h"

namespace normrt {
namespace cuda {
namespace {

template <typename T>
struct TypeTag {
  using type = T;
};

enum TypeSet : unsigned { kF = 1, kI = 2, kB = 4 };  // float32/16; int32/64; bool

unsigned type_bit(DataType t) {
  switch (t) {
    case DataType::kFloat32:
    case DataType::kFloat16:
      return kF;
    case DataType::kInt32:
    case DataType::kInt64:
      return kI;
    case DataType::kBool:
      return kB;
    default:
      return 0;
  }
}

template <unsigned Types, typename Fn>
bool dispatch(DataType t, Fn&& fn) {
  switch (t) {
    case DataType::kFloat32:
      if constexpr ((Types & kF) != 0) return fn(TypeTag<float>{}), true;
      break;
    case DataType::kFloat16:
      if constexpr ((Types & kF) != 0) return fn(TypeTag<__half>{}), true;
      break;
    case DataType::kInt32:
      if constexpr ((Types & kI) != 0) return fn(TypeTag<int32_t>{}), true;
      break;
    case DataType::kInt64:
      if constexpr ((Types & kI) != 0) return fn(TypeTag<int64_t>{}), true;
      break;
    case DataType::kBool:
      if constexpr ((Types & kB) != 0) return fn(TypeTag<Bool8>{}), true;
      break;
    default:
      break;
  }
  return false;
}

// ---- kernels ---------------------------------------------------------------------------------------------------
template <typename TA, typename TB, typename TO>
__host__ __device__ constexpr int vector_width() {
  constexpr size_t m = sizeof(TA) > sizeof(TB) ? sizeof(TA) : sizeof(TB);
  return static_cast<int>(16 / (m > sizeof(TO) ? m : sizeof(TO)));
}

// y[i] = op(a[i], b[i]) where a scalar operand (flag set) is read at index 0 for every i.
template <typename TA, typename TB, typename TO, typename Op>
__global__ void binary_contiguous_kernel(const TA* __restrict__ a, const TB* __restrict__ b, TO* __restrict__ y,
                                         int64_t n, bool a_scalar, bool b_scalar, bool vectorized, Op op) {
  constexpr int V = vector_width<TA, TB, TO>();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t start = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t done = 0;
  if (vectorized) {
    const int64_t packs = n / V;
    Pack<TA, V> va;
    Pack<TB, V> vb;
    if (a_scalar)
#pragma unroll
      for (int j = 0; j < V; ++j) va.v[j] = a[0];
    if (b_scalar)
#pragma unroll
      for (int j = 0; j < V; ++j) vb.v[j] = b[0];
    for (int64_t i = start; i < packs; i += stride) {
      if (!a_scalar) va = reinterpret_cast<const Pack<TA, V>*>(a)[i];
      if (!b_scalar) vb = reinterpret_cast<const Pack<TB, V>*>(b)[i];
      Pack<TO, V> vy;
#pragma unroll
      for (int j = 0; j < V; ++j) vy.v[j] = op(va.v[j], vb.v[j]);
      reinterpret_cast<Pack<TO, V>*>(y)[i] = vy;
    }
    done = packs * V;
  }
  for (int64_t i = done + start; i < n; i += stride) y[i] = op(a[a_scalar ? 0 : i], b[b_scalar ? 0 : i]);
}

template <typename TA, typename TB, typename TO, typename Op, typename I>
__global__ void binary_broadcast_kernel(const TA* __restrict__ a, const TB* __restrict__ b, TO* __restrict__ y, I n,
                                        Indexer<2, I> ix, Op op) {
  const I stride = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    I off[2];
    ix.offsets(i, off);
    y[i] = op(a[off[0]], b[off[1]]);
  }
}

template <typename TA, typename TB, typename TO, typename Op>
void launch_binary(const CudaKernelContext& ctx, const DeviceValue& a, const DeviceValue& b, const DeviceValue& y,
                   Op op) {
  const int64_t n = y.numel();
  if (n == 0) return;
  const bool a_full = a.dims == y.dims, b_full = b.dims == y.dims;
  const bool a_scalar = a.numel() == 1, b_scalar = b.numel() == 1;
  if ((a_full || a_scalar) && (b_full || b_scalar)) {
    constexpr int V = vector_width<TA, TB, TO>();
    const bool vectorized = (a_scalar || aligned_to(a.data, V * sizeof(TA))) &&
                            (b_scalar || aligned_to(b.data, V * sizeof(TB))) && aligned_to(y.data, V * sizeof(TO));
    binary_contiguous_kernel<TA, TB, TO, Op><<<grid_for(vectorized ? n / V + 1 : n), kBlock, 0, ctx.stream>>>(
        static_cast<const TA*>(a.data), static_cast<const TB*>(b.data), static_cast<TO*>(y.data), n,
        a_scalar && !a_full, b_scalar && !b_full, vectorized, op);
    return check_launch(ctx, "binary kernel");
  }
  const StridePlan plan = broadcast_plan(y.dims, {a.dims, b.dims});
  if (fits_32bit(plan, {a.numel(), b.numel()})) {
    binary_broadcast_kernel<TA, TB, TO, Op, uint32_t><<<grid_for(n), kBlock, 0, ctx.stream>>>(
        static_cast<const TA*>(a.data), static_cast<const TB*>(b.data), static_cast<TO*>(y.data),
        static_cast<uint32_t>(n), make_indexer<2, uint32_t>(plan), op);
  } else {
    binary_broadcast_kernel<TA, TB, TO, Op, int64_t>
        <<<grid_for(n), kBlock, 0, ctx.stream>>>(static_cast<const TA*>(a.data), static_cast<const TB*>(b.data),
                                                 static_cast<TO*>(y.data), n, make_indexer<2, int64_t>(plan), op);
  }
  check_launch(ctx, "binary broadcast kernel");
}

// ---- operations: storage in, storage out; F works on compute types ----
template <typename T, typename F>
struct SameTypeOp {
  F f;
  __device__ __forceinline__ T operator()(T a, T b) const { return store_as<T>(f(load_as<T>(a), load_as<T>(b))); }
};
template <typename T, typename F>
struct ToBoolOp {
  F f;
  __device__ __forceinline__ Bool8 operator()(T a, T b) const {
    return Bool8{static_cast<uint8_t>(f(load_as<T>(a), load_as<T>(b)) ? 1 : 0)};
  }
};

template <typename C>
using Wrap = std::make_unsigned_t<C>;

struct AddF {
  template <typename C>
  __device__ __forceinline__ C operator()(C x, C y) const {
    if constexpr (std::is_integral_v<C>)
      return static_cast<C>(static_cast<Wrap<C>>(x) + static_cast<Wrap<C>>(y));
    else
      return x + y;
  }
};
struct SubF {
  template <typename C>
  __device__ __forceinline__ C operator()(C x, C y) const {
    if constexpr (std::is_integral_v<C>)
      return static_cast<C>(static_cast<Wrap<C>>(x) - static_cast<Wrap<C>>(y));
    else
      return x - y;
  }
};
struct MulF {
  template <typename C>
  __device__ __forceinline__ C operator()(C x, C y) const {
    if constexpr (std::is_integral_v<C>)
      return static_cast<C>(static_cast<Wrap<C>>(x) * static_cast<Wrap<C>>(y));
    else
      return x * y;
  }
};
struct DivF {
  __device__ __forceinline__ float operator()(float x, float y) const { return x / y; }
};
struct FmodF {
  __device__ __forceinline__ float operator()(float x, float y) const { return fmodf(x, y); }
};
struct EqualF {
  template <typename C>
  __device__ __forceinline__ bool operator()(C x, C y) const {
    return x == y;
  }
};
struct LessF {
  template <typename C>
  __device__ __forceinline__ bool operator()(C x, C y) const {
    return x < y;
  }
};
struct GreaterF {
  template <typename C>
  __device__ __forceinline__ bool operator()(C x, C y) const {
    return x > y;
  }
};
struct LessOrEqualF {
  template <typename C>
  __device__ __forceinline__ bool operator()(C x, C y) const {
    return x <= y;
  }
};
struct GreaterOrEqualF {
  template <typename C>
  __device__ __forceinline__ bool operator()(C x, C y) const {
    return x >= y;
  }
};
struct AndF {
  __device__ __forceinline__ bool operator()(bool x, bool y) const { return x && y; }
};
struct OrF {
  __device__ __forceinline__ bool operator()(bool x, bool y) const { return x || y; }
};
struct XorF {
  __device__ __forceinline__ bool operator()(bool x, bool y) const { return x != y; }
};
// PRelu: x < 0 ? slope * x : x, slope broadcast to x.
struct PreluF {
  __device__ __forceinline__ float operator()(float x, float s) const { return x < 0 ? s * x : x; }
};
// Pow in double, rounded to the base's type, as the reference computes it.
template <typename TB, typename TE>
struct PowOp {
  __device__ __forceinline__ TB operator()(TB x, TE e) const {
    return store_as<TB>(
        static_cast<float>(pow(static_cast<double>(load_as<TB>(x)), static_cast<double>(load_as<TE>(e)))));
  }
};

template <unsigned Types, typename F>
void run_same_type(const CudaKernelContext& ctx, F f) {
  const DeviceValue& a = ctx.in(0);
  const bool ok = dispatch<Types>(a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_binary<T, T, T>(ctx, a, ctx.in(1), ctx.outputs[0], SameTypeOp<T, F>{f});
  });
  if (!ok) ctx.fail(std::string("unsupported input type ") + dtype_name(a.dtype));
}

template <unsigned Types, typename F>
void run_to_bool(const CudaKernelContext& ctx, F f) {
  const DeviceValue& a = ctx.in(0);
  const bool ok = dispatch<Types>(a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_binary<T, T, Bool8>(ctx, a, ctx.in(1), ctx.outputs[0], ToBoolOp<T, F>{f});
  });
  if (!ok) ctx.fail(std::string("unsupported input type ") + dtype_name(a.dtype));
}

struct BinaryEntry {
  const char* op;
  unsigned types;
};
constexpr BinaryEntry kBinaryOps[] = {
    {"Add", kF | kI},
    {"Sub", kF | kI},
    {"Mul", kF | kI},
    {"Div", kF},
    {"Mod", kF},
    {"PRelu", kF},
    {"Equal", kF | kI | kB},
    {"Less", kF | kI},
    {"Greater", kF | kI},
    {"LessOrEqual", kF | kI},
    {"GreaterOrEqual", kF | kI},
    {"And", kB},
    {"Or", kB},
    {"Xor", kB},
};

bool binary_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  if (inputs.size() != 2 || node.outputs.size() != 1 || !ranks_ok(inputs)) return false;
  if (inputs[0].dtype != inputs[1].dtype) return false;
  for (const BinaryEntry& e : kBinaryOps) {
    if (node.op_type != e.op) continue;
    if ((e.types & type_bit(inputs[0].dtype)) == 0) return false;
    if (node.op_type == "Mod") return node.attr_int("fmod", 0) == 1;
    if (node.op_type == "PRelu") return inputs[1].shape.rank() <= inputs[0].shape.rank();
    return true;
  }
  return false;
}

void binary_run(CudaKernelContext& ctx) {
  const std::string& op = ctx.node.op_type;
  if (op == "Add") return run_same_type<kF | kI>(ctx, AddF{});
  if (op == "Sub") return run_same_type<kF | kI>(ctx, SubF{});
  if (op == "Mul") return run_same_type<kF | kI>(ctx, MulF{});
  if (op == "Div") return run_same_type<kF>(ctx, DivF{});
  if (op == "Mod") return run_same_type<kF>(ctx, FmodF{});
  if (op == "PRelu") return run_same_type<kF>(ctx, PreluF{});
  if (op == "Equal") return run_to_bool<kF | kI | kB>(ctx, EqualF{});
  if (op == "Less") return run_to_bool<kF | kI>(ctx, LessF{});
  if (op == "Greater") return run_to_bool<kF | kI>(ctx, GreaterF{});
  if (op == "LessOrEqual") return run_to_bool<kF | kI>(ctx, LessOrEqualF{});
  if (op == "GreaterOrEqual") return run_to_bool<kF | kI>(ctx, GreaterOrEqualF{});
  if (op == "And") return run_to_bool<kB>(ctx, AndF{});
  if (op == "Or") return run_to_bool<kB>(ctx, OrF{});
  if (op == "Xor") return run_to_bool<kB>(ctx, XorF{});
  ctx.fail("is not a binary op of cuda_binary");
}

// ---- Pow: float base, float exponent (either may be fp16) ----
bool pow_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  return inputs.size() == 2 && node.outputs.size() == 1 && ranks_ok(inputs) && is_float_type(inputs[0].dtype) &&
         is_float_type(inputs[1].dtype);
}

void pow_run(CudaKernelContext& ctx) {
  const bool ok = dispatch<kF>(ctx.in(0).dtype, [&](auto base_tag) {
    using TB = typename decltype(base_tag)::type;
    const bool ok_exponent = dispatch<kF>(ctx.in(1).dtype, [&](auto exponent_tag) {
      using TE = typename decltype(exponent_tag)::type;
      launch_binary<TB, TE, TB>(ctx, ctx.in(0), ctx.in(1), ctx.outputs[0], PowOp<TB, TE>{});
    });
    if (!ok_exponent) ctx.fail("unsupported exponent type");
  });
  if (!ok) ctx.fail("unsupported base type");
}

// ---- Where: moves words of the element size ----
template <typename W, typename I>
__global__ void where_kernel(const Bool8* __restrict__ c, const W* __restrict__ x, const W* __restrict__ y,
                             W* __restrict__ out, I n, Indexer<3, I> ix) {
  const I stride = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    I off[3];
    ix.offsets(i, off);
    out[i] = c[off[0]].value ? x[off[1]] : y[off[2]];
  }
}

template <int Bytes>
void launch_where(const CudaKernelContext& ctx) {
  using W = typename Word<Bytes>::type;
  const DeviceValue &c = ctx.in(0), &x = ctx.in(1), &y = ctx.in(2);
  const DeviceValue& out = ctx.outputs[0];
  const int64_t n = out.numel();
  if (n == 0) return;
  const StridePlan plan = broadcast_plan(out.dims, {c.dims, x.dims, y.dims});
  const auto* pc = static_cast<const Bool8*>(c.data);
  const auto* px = static_cast<const W*>(x.data);
  const auto* py = static_cast<const W*>(y.data);
  auto* po = static_cast<W*>(out.data);
  if (fits_32bit(plan, {c.numel(), x.numel(), y.numel()}))
    where_kernel<W, uint32_t><<<grid_for(n), kBlock, 0, ctx.stream>>>(pc, px, py, po, static_cast<uint32_t>(n),
                                                                      make_indexer<3, uint32_t>(plan));
  else
    where_kernel<W, int64_t><<<grid_for(n), kBlock, 0, ctx.stream>>>(pc, px, py, po, n, make_indexer<3, int64_t>(plan));
  check_launch(ctx, "where kernel");
}

bool where_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  if (inputs.size() != 3 || node.outputs.size() != 1 || !ranks_ok(inputs)) return false;
  if (inputs[0].dtype != DataType::kBool || inputs[1].dtype != inputs[2].dtype) return false;
  const size_t size = dtype_size(inputs[1].dtype);
  return size == 1 || size == 2 || size == 4 || size == 8;
}

void where_run(CudaKernelContext& ctx) {
  switch (dtype_size(ctx.in(1).dtype)) {
    case 1:
      return launch_where<1>(ctx);
    case 2:
      return launch_where<2>(ctx);
    case 4:
      return launch_where<4>(ctx);
    case 8:
      return launch_where<8>(ctx);
    default:
      ctx.fail("unsupported element size");
  }
}

// ---- Sum / Mean / Max / Min over up to kMaxVariadic broadcast inputs, accumulated in the compute type ----
constexpr int kMaxVariadic = 8;
enum class Variadic { kSum, kMean, kMax, kMin };

template <typename T>
struct VariadicInputs {
  const T* p[kMaxVariadic];
};

template <typename T, Variadic Kind, typename I>
__global__ void variadic_kernel(VariadicInputs<T> in, int count, T* __restrict__ y, I n, Indexer<kMaxVariadic, I> ix) {
  using C = Compute<T>;
  const I stride = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    I off[kMaxVariadic];
    ix.offsets(i, off);
    C acc = load_as<T>(in.p[0][off[0]]);
    for (int k = 1; k < count; ++k) {
      const C v = load_as<T>(in.p[k][off[k]]);
      if constexpr (Kind == Variadic::kSum || Kind == Variadic::kMean) {
        acc = AddF{}(acc, v);
      } else if constexpr (std::is_floating_point_v<C>) {
        if (isnan(acc) || isnan(v))
          acc = NAN;  // like numpy.maximum / minimum
        else
          acc = Kind == Variadic::kMax ? (acc < v ? v : acc) : (v < acc ? v : acc);
      } else {
        acc = Kind == Variadic::kMax ? (acc < v ? v : acc) : (v < acc ? v : acc);
      }
    }
    if constexpr (Kind == Variadic::kMean) acc = acc / static_cast<C>(count);
    y[i] = store_as<T>(acc);
  }
}

template <typename T, Variadic Kind>
void launch_variadic(const CudaKernelContext& ctx) {
  const DeviceValue& out = ctx.outputs[0];
  const int64_t n = out.numel();
  if (n == 0) return;
  const int count = static_cast<int>(ctx.inputs.size());
  std::vector<Dims> dims;
  VariadicInputs<T> in{};
  std::vector<int64_t> sizes;
  for (int k = 0; k < kMaxVariadic; ++k) {
    // Unused slots repeat input 0 so that the plan has kMaxVariadic operands.
    const DeviceValue& v = ctx.in(k < count ? k : 0);
    dims.push_back(v.dims);
    sizes.push_back(v.numel());
    in.p[k] = static_cast<const T*>(v.data);
  }
  const StridePlan plan = broadcast_plan(out.dims, dims);
  if (fits_32bit(plan, sizes))
    variadic_kernel<T, Kind, uint32_t><<<grid_for(n), kBlock, 0, ctx.stream>>>(
        in, count, static_cast<T*>(out.data), static_cast<uint32_t>(n), make_indexer<kMaxVariadic, uint32_t>(plan));
  else
    variadic_kernel<T, Kind, int64_t><<<grid_for(n), kBlock, 0, ctx.stream>>>(
        in, count, static_cast<T*>(out.data), n, make_indexer<kMaxVariadic, int64_t>(plan));
  check_launch(ctx, "variadic kernel");
}

bool variadic_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  if (inputs.empty() || static_cast<int>(inputs.size()) > kMaxVariadic || node.outputs.size() != 1) return false;
  if (!ranks_ok(inputs)) return false;
  for (const TypeShape& t : inputs)
    if (t.dtype != inputs[0].dtype) return false;
  const unsigned allowed = node.op_type == "Mean" ? kF : kF | kI;
  return (type_bit(inputs[0].dtype) & allowed) != 0;
}

template <Variadic Kind>
void run_variadic_kind(const CudaKernelContext& ctx) {
  constexpr unsigned kTypes = Kind == Variadic::kMean ? kF : kF | kI;
  const bool ok = dispatch<kTypes>(ctx.in(0).dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_variadic<T, Kind>(ctx);
  });
  if (!ok) ctx.fail(std::string("unsupported input type ") + dtype_name(ctx.in(0).dtype));
}

void variadic_run(CudaKernelContext& ctx) {
  const std::string& op = ctx.node.op_type;
  if (op == "Sum") return run_variadic_kind<Variadic::kSum>(ctx);
  if (op == "Mean") return run_variadic_kind<Variadic::kMean>(ctx);
  if (op == "Max") return run_variadic_kind<Variadic::kMax>(ctx);
  if (op == "Min") return run_variadic_kind<Variadic::kMin>(ctx);
  ctx.fail("is not a variadic op");
}

[[maybe_unused]] const bool registered = [] {
  CudaKernelRegistry& registry = CudaKernelRegistry::global();
  for (const BinaryEntry& e : kBinaryOps)
    registry.add(make_kernel(std::string("cuda_") + e.op, e.op, binary_accepts, binary_run));
  registry.add(make_kernel("cuda_Pow", "Pow", pow_accepts, pow_run));
  registry.add(make_kernel("cuda_Where", "Where", where_accepts, where_run));
  for (const char* op : {"Sum", "Mean", "Max", "Min"})
    registry.add(make_kernel(std::string("cuda_") + op, op, variadic_accepts, variadic_run));
  return true;
}();

}  // namespace
}  // namespace cuda
}  // namespace normrt
