// Unary elementwise CUDA kernels: math (Sqrt, Exp, Erf, ...), activations (Relu, Sigmoid, Gelu, ...), Clip and
// Cast/CastLike. One grid-stride kernel maps a contiguous tensor with 16-byte vector accesses when the pointers
// allow; fp16 computes in fp32 and rounds once, as the CPU reference (src/ops/unary.cpp, activation.cpp,
// cast.cpp) does. Registered as "cuda_<OpType>".
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "cuda/cuda_util.h"

namespace normrt {
namespace cuda {
namespace {

template <typename TI, typename TO>
__host__ __device__ constexpr int vector_width() {
  return 16 / (sizeof(TI) > sizeof(TO) ? sizeof(TI) : sizeof(TO));
}

// y[i] = op(x[i]); op maps storage type TI to TO.
template <typename TI, typename TO, typename Op>
__global__ void map_kernel(const TI* __restrict__ x, TO* __restrict__ y, int64_t n, bool vectorized, Op op) {
  constexpr int V = vector_width<TI, TO>();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t start = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t done = 0;
  if (vectorized) {
    const int64_t packs = n / V;
    for (int64_t i = start; i < packs; i += stride) {
      const Pack<TI, V> a = reinterpret_cast<const Pack<TI, V>*>(x)[i];
      Pack<TO, V> b;
#pragma unroll
      for (int j = 0; j < V; ++j) b.v[j] = op(a.v[j]);
      reinterpret_cast<Pack<TO, V>*>(y)[i] = b;
    }
    done = packs * V;
  }
  for (int64_t i = done + start; i < n; i += stride) y[i] = op(x[i]);
}

template <typename TI, typename TO, typename Op>
void launch_map(const CudaKernelContext& ctx, const void* x, void* y, int64_t n, Op op) {
  if (n == 0) return;
  constexpr int V = vector_width<TI, TO>();
  const bool vectorized = aligned_to(x, V * sizeof(TI)) && aligned_to(y, V * sizeof(TO));
  map_kernel<TI, TO, Op><<<grid_for(vectorized ? n / V + 1 : n), kBlock, 0, ctx.stream>>>(
      static_cast<const TI*>(x), static_cast<TO*>(y), n, vectorized, op);
  check_launch(ctx, "elementwise kernel");
}

// Storage T -> compute type -> F -> storage T.
template <typename T, typename F>
struct Apply {
  F f;
  __device__ __forceinline__ T operator()(T x) const { return store_as<T>(f(load_as<T>(x))); }
};

enum TypeSet : unsigned { kF = 1, kI = 2, kB = 4 };  // float32/16; int32/64; bool

template <unsigned Types, typename F>
void run_unary(const CudaKernelContext& ctx, F f) {
  const DeviceValue& x = ctx.in(0);
  void* y = ctx.outputs[0].data;
  const int64_t n = x.numel();
  switch (x.dtype) {
    case DataType::kFloat32:
      if constexpr ((Types & kF) != 0) return launch_map<float, float>(ctx, x.data, y, n, Apply<float, F>{f});
      break;
    case DataType::kFloat16:
      if constexpr ((Types & kF) != 0) return launch_map<__half, __half>(ctx, x.data, y, n, Apply<__half, F>{f});
      break;
    case DataType::kInt32:
      if constexpr ((Types & kI) != 0) return launch_map<int32_t, int32_t>(ctx, x.data, y, n, Apply<int32_t, F>{f});
      break;
    case DataType::kInt64:
      if constexpr ((Types & kI) != 0) return launch_map<int64_t, int64_t>(ctx, x.data, y, n, Apply<int64_t, F>{f});
      break;
    case DataType::kBool:
      if constexpr ((Types & kB) != 0) return launch_map<Bool8, Bool8>(ctx, x.data, y, n, Apply<Bool8, F>{f});
      break;
    default:
      break;
  }
  ctx.fail(std::string("unsupported input type ") + dtype_name(x.dtype));
}

// ---- the functions (compute type C: float, or the integer type) ----
template <typename C>
__device__ __forceinline__ C wrap_negate(C x) {
  using U = std::make_unsigned_t<C>;
  return static_cast<C>(U{0} - static_cast<U>(x));
}

__device__ __forceinline__ float sigmoid(float x) {
  if (x >= 0) return 1.0f / (1.0f + expf(-x));
  const float e = expf(x);
  return e / (1.0f + e);
}

__device__ __forceinline__ float clamp01(float v) { return v < 0 ? 0.0f : (v > 1 ? 1.0f : v); }

#define NORMRT_FLOAT_FUNCTION(Name, expression)                                       \
  struct Name {                                                                       \
    float a = 0, b = 0;                                                               \
    __device__ __forceinline__ float operator()(float x) const { return expression; } \
  };
NORMRT_FLOAT_FUNCTION(SqrtF, sqrtf(x))
NORMRT_FLOAT_FUNCTION(ErfF, erff(x))
NORMRT_FLOAT_FUNCTION(ExpF, expf(x))
NORMRT_FLOAT_FUNCTION(LogF, logf(x))
NORMRT_FLOAT_FUNCTION(SinF, sinf(x))
NORMRT_FLOAT_FUNCTION(CosF, cosf(x))
NORMRT_FLOAT_FUNCTION(ReciprocalF, 1.0f / x)
NORMRT_FLOAT_FUNCTION(FloorF, floorf(x))
NORMRT_FLOAT_FUNCTION(CeilF, ceilf(x))
NORMRT_FLOAT_FUNCTION(RoundF, rintf(x))  // halves to even, as ONNX Round
NORMRT_FLOAT_FUNCTION(SigmoidF, sigmoid(x))
NORMRT_FLOAT_FUNCTION(TanhF, tanhf(x))
NORMRT_FLOAT_FUNCTION(LeakyReluF, x < 0 ? a * x : x)
NORMRT_FLOAT_FUNCTION(EluF, x < 0 ? a * expm1f(x) : x)
NORMRT_FLOAT_FUNCTION(SeluF, x <= 0 ? b * (a * expf(x) - a) : b * x)
NORMRT_FLOAT_FUNCTION(HardSigmoidF, (clamp01(a * x + b)))
NORMRT_FLOAT_FUNCTION(HardSwishF, (x * clamp01(x / 6.0f + 0.5f)))
NORMRT_FLOAT_FUNCTION(GeluF, 0.5f * x * (1.0f + erff(x * 0.7071067811865476f)))
NORMRT_FLOAT_FUNCTION(GeluTanhF, 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x))))
NORMRT_FLOAT_FUNCTION(SoftplusF, x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x)))
NORMRT_FLOAT_FUNCTION(SoftsignF, x / (1.0f + fabsf(x)))
#undef NORMRT_FLOAT_FUNCTION

struct ReluF {
  template <typename C>
  __device__ __forceinline__ C operator()(C x) const {
    return x < C(0) ? C(0) : x;
  }
};
struct NegF {
  template <typename C>
  __device__ __forceinline__ C operator()(C x) const {
    if constexpr (std::is_integral_v<C>)
      return wrap_negate(x);
    else
      return -x;
  }
};
struct AbsF {
  template <typename C>
  __device__ __forceinline__ C operator()(C x) const {
    if constexpr (std::is_integral_v<C>)
      return x < 0 ? wrap_negate(x) : x;
    else
      return fabsf(x);
  }
};
struct NotF {
  __device__ __forceinline__ bool operator()(bool x) const { return !x; }
};

// ---- unary registration ----
struct UnaryEntry {
  const char* op;
  unsigned types;
};
constexpr UnaryEntry kUnaryOps[] = {
    {"Sqrt", kF},       {"Erf", kF},      {"Exp", kF},       {"Log", kF},         {"Sin", kF},       {"Cos", kF},
    {"Reciprocal", kF}, {"Floor", kF},    {"Ceil", kF},      {"Round", kF},       {"Sigmoid", kF},   {"Tanh", kF},
    {"LeakyRelu", kF},  {"Elu", kF},      {"Selu", kF},      {"HardSigmoid", kF}, {"HardSwish", kF}, {"Gelu", kF},
    {"Softplus", kF},   {"Softsign", kF}, {"Relu", kF | kI}, {"Neg", kF | kI},    {"Abs", kF | kI},  {"Not", kB},
};

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

bool unary_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  if (inputs.size() != 1 || node.outputs.size() != 1) return false;
  for (const UnaryEntry& e : kUnaryOps)
    if (node.op_type == e.op) {
      if ((e.types & type_bit(inputs[0].dtype)) == 0) return false;
      if (node.op_type == "Gelu") {
        const std::string approximate = node.attr_string("approximate", "none");
        return approximate == "none" || approximate == "tanh";
      }
      return true;
    }
  return false;
}

void unary_run(CudaKernelContext& ctx) {
  const Node& node = ctx.node;
  const std::string& op = node.op_type;
  if (op == "Sqrt") return run_unary<kF>(ctx, SqrtF{});
  if (op == "Erf") return run_unary<kF>(ctx, ErfF{});
  if (op == "Exp") return run_unary<kF>(ctx, ExpF{});
  if (op == "Log") return run_unary<kF>(ctx, LogF{});
  if (op == "Sin") return run_unary<kF>(ctx, SinF{});
  if (op == "Cos") return run_unary<kF>(ctx, CosF{});
  if (op == "Reciprocal") return run_unary<kF>(ctx, ReciprocalF{});
  if (op == "Floor") return run_unary<kF>(ctx, FloorF{});
  if (op == "Ceil") return run_unary<kF>(ctx, CeilF{});
  if (op == "Round") return run_unary<kF>(ctx, RoundF{});
  if (op == "Sigmoid") return run_unary<kF>(ctx, SigmoidF{});
  if (op == "Tanh") return run_unary<kF>(ctx, TanhF{});
  if (op == "LeakyRelu") return run_unary<kF>(ctx, LeakyReluF{node.attr_float("alpha", 0.01f)});
  if (op == "Elu") return run_unary<kF>(ctx, EluF{node.attr_float("alpha", 1.0f)});
  if (op == "Selu")
    return run_unary<kF>(ctx, SeluF{node.attr_float("alpha", 1.67326319217681884765625f),
                                    node.attr_float("gamma", 1.05070102214813232421875f)});
  if (op == "HardSigmoid")
    return run_unary<kF>(ctx, HardSigmoidF{node.attr_float("alpha", 0.2f), node.attr_float("beta", 0.5f)});
  if (op == "HardSwish") return run_unary<kF>(ctx, HardSwishF{});
  if (op == "Gelu") {
    if (node.attr_string("approximate", "none") == "tanh") return run_unary<kF>(ctx, GeluTanhF{});
    return run_unary<kF>(ctx, GeluF{});
  }
  if (op == "Softplus") return run_unary<kF>(ctx, SoftplusF{});
  if (op == "Softsign") return run_unary<kF>(ctx, SoftsignF{});
  if (op == "Relu") return run_unary<kF | kI>(ctx, ReluF{});
  if (op == "Neg") return run_unary<kF | kI>(ctx, NegF{});
  if (op == "Abs") return run_unary<kF | kI>(ctx, AbsF{});
  if (op == "Not") return run_unary<kB>(ctx, NotF{});
  ctx.fail("is not a unary op of cuda_unary");
}

// ---- Clip: bounds from inputs 1 and 2 on the device (opset >= 11) or the attributes (before) ----
template <typename T>
struct ClipOp {
  using C = Compute<T>;
  const T* lo_ptr;
  const T* hi_ptr;
  C lo, hi;
  __device__ __forceinline__ T operator()(T x) const {
    C v = load_as<T>(x);
    const C l = lo_ptr ? load_as<T>(*lo_ptr) : lo;
    const C h = hi_ptr ? load_as<T>(*hi_ptr) : hi;
    if (v < l) v = l;  // max first, then min: min > max gives max everywhere, as ONNX says
    if (v > h) v = h;
    return store_as<T>(v);
  }
};

template <typename T>
void run_clip_typed(const CudaKernelContext& ctx) {
  using C = Compute<T>;
  ClipOp<T> op{nullptr, nullptr, std::numeric_limits<C>::lowest(), std::numeric_limits<C>::max()};
  if constexpr (std::is_floating_point_v<C>) {
    op.lo = -std::numeric_limits<C>::infinity();
    op.hi = std::numeric_limits<C>::infinity();
  }
  if (ctx.opset < 11) {
    if (ctx.node.has_attribute("min")) op.lo = static_cast<C>(ctx.node.attr_float("min", 0.0f));
    if (ctx.node.has_attribute("max")) op.hi = static_cast<C>(ctx.node.attr_float("max", 0.0f));
  } else {
    for (size_t i = 1; i < 3; ++i) {
      if (!ctx.has_input(i)) continue;
      if (ctx.in(i).numel() != 1) ctx.fail("min and max must be scalars");
      (i == 1 ? op.lo_ptr : op.hi_ptr) = static_cast<const T*>(ctx.in(i).data);
    }
  }
  launch_map<T, T>(ctx, ctx.in(0).data, ctx.outputs[0].data, ctx.in(0).numel(), op);
}

bool clip_accepts(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) {
  if (inputs.empty() || inputs.size() > 3 || node.outputs.size() != 1) return false;
  const DataType t = inputs[0].dtype;
  if (!is_float_type(t) && t != DataType::kInt32 && t != DataType::kInt64) return false;
  for (size_t i = 1; i < inputs.size(); ++i) {
    if (inputs[i].dtype == DataType::kUndefined) continue;
    if (opset < 11 || inputs[i].dtype != t) return false;
    const Shape& s = inputs[i].shape;
    if (s.fully_known() && element_count(s.concrete()) != 1) return false;
  }
  return true;
}

void clip_run(CudaKernelContext& ctx) {
  switch (ctx.in(0).dtype) {
    case DataType::kFloat32:
      return run_clip_typed<float>(ctx);
    case DataType::kFloat16:
      return run_clip_typed<__half>(ctx);
    case DataType::kInt32:
      return run_clip_typed<int32_t>(ctx);
    case DataType::kInt64:
      return run_clip_typed<int64_t>(ctx);
    default:
      ctx.fail(std::string("unsupported input type ") + dtype_name(ctx.in(0).dtype));
  }
}

// ---- Cast / CastLike (rules of src/ops/cast.cpp: float -> int truncates, NaN -> 0, saturates) ----
template <typename T>
struct IntRange {
  static constexpr T lowest = std::numeric_limits<T>::lowest();
  static constexpr T highest = std::numeric_limits<T>::max();
};

template <typename TO>
__device__ __forceinline__ TO saturating_truncate(double v) {
  if (isnan(v)) return 0;
  v = trunc(v);
  if (v <= static_cast<double>(IntRange<TO>::lowest)) return IntRange<TO>::lowest;
  if (v >= static_cast<double>(IntRange<TO>::highest)) return IntRange<TO>::highest;
  return static_cast<TO>(v);
}

template <typename TI, typename TO>
struct CastOp {
  __device__ __forceinline__ TO operator()(TI x) const {
    using CI = Compute<TI>;
    using CO = Compute<TO>;
    const CI v = load_as<TI>(x);
    if constexpr (std::is_same_v<TO, Bool8>) {
      return Bool8{static_cast<uint8_t>(v != CI(0) ? 1 : 0)};
    } else if constexpr (std::is_integral_v<CO> && std::is_floating_point_v<CI>) {
      return saturating_truncate<CO>(static_cast<double>(v));
    } else {
      return store_as<TO>(static_cast<CO>(v));
    }
  }
};

template <typename T>
struct TypeTag {
  using type = T;
};

template <typename Fn>
bool dispatch_cast_type(DataType t, Fn&& fn) {
  switch (t) {
    case DataType::kFloat32:
      fn(TypeTag<float>{});
      return true;
    case DataType::kFloat16:
      fn(TypeTag<__half>{});
      return true;
    case DataType::kInt32:
      fn(TypeTag<int32_t>{});
      return true;
    case DataType::kInt64:
      fn(TypeTag<int64_t>{});
      return true;
    case DataType::kInt8:
      fn(TypeTag<int8_t>{});
      return true;
    case DataType::kUInt8:
      fn(TypeTag<uint8_t>{});
      return true;
    case DataType::kBool:
      fn(TypeTag<Bool8>{});
      return true;
    default:
      return false;
  }
}

bool cast_type_ok(DataType t) {
  return dispatch_cast_type(t, [](auto) {});
}

bool cast_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  if (inputs.empty() || !cast_type_ok(inputs[0].dtype) || node.outputs.size() != 1) return false;
  if (node.op_type == "CastLike") return inputs.size() == 2 && cast_type_ok(inputs[1].dtype);
  const int64_t to = node.attr_int("to", 0);
  return inputs.size() == 1 && to > 0 && to < 64 && is_known_dtype(static_cast<int32_t>(to)) &&
         cast_type_ok(static_cast<DataType>(to));
}

void cast_run(CudaKernelContext& ctx) {
  const DeviceValue& x = ctx.in(0);
  DeviceValue& y = ctx.out(0);
  if (x.dtype == y.dtype) {
    if (x.nbytes())
      ctx.check(cudaMemcpyAsync(y.data, x.data, x.nbytes(), cudaMemcpyDeviceToDevice, ctx.stream), "cudaMemcpyAsync");
    return;
  }
  const bool ok = dispatch_cast_type(x.dtype, [&](auto in_tag) {
    using TI = typename decltype(in_tag)::type;
    const bool ok_out = dispatch_cast_type(y.dtype, [&](auto out_tag) {
      using TO = typename decltype(out_tag)::type;
      launch_map<TI, TO>(ctx, x.data, y.data, x.numel(), CastOp<TI, TO>{});
    });
    if (!ok_out) ctx.fail(std::string("cannot cast to ") + dtype_name(y.dtype));
  });
  if (!ok) ctx.fail(std::string("cannot cast from ") + dtype_name(x.dtype));
}

[[maybe_unused]] const bool registered = [] {
  CudaKernelRegistry& registry = CudaKernelRegistry::global();
  for (const UnaryEntry& e : kUnaryOps)
    registry.add(make_kernel(std::string("cuda_") + e.op, e.op, unary_accepts, unary_run));
  registry.add(make_kernel("cuda_Clip", "Clip", clip_accepts, clip_run));
  registry.add(make_kernel("cuda_Cast", "Cast", cast_accepts, cast_run));
  registry.add(make_kernel("cuda_CastLike", "CastLike", cast_accepts, cast_run));
  return true;
}();

}  // namespace
}  // namespace cuda
}  // namespace normrt
