// GroupNorm / InstanceNorm / LayerNorm CUDA kernels against a double-precision CPU reference, on fresh random
// data at many shapes. Every test skips when no CUDA device (compute capability 9.0+) is present.
//
// Tolerance: |y - ref| <= atol + rtol * |ref| with (atol, rtol) = (1e-4, 1e-4) for fp32, (1e-3, 1e-3) for
// fp16 (about two half-ulps: fp16's relative spacing is 2^-10) and (8e-3, 8e-3) for bf16 (spacing 2^-7). The
// reference is computed from the input as rounded to the storage type, so only the kernel's own fp32
// arithmetic and the final rounding of y count.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "cuda/group_norm.h"

namespace {

using normrt::cuda::Activation;
using normrt::cuda::DataType;
using normrt::cuda::GroupNormArgs;
using normrt::cuda::GroupNormPlan;
using normrt::cuda::Layout;
using normrt::cuda::NormAlgorithm;
using normrt::cuda::Status;

// ---- host-side fp16 / bf16 (round to nearest even) ----
uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t exp = (x >> 23) & 0xffu;
  uint32_t mant = x & 0x7fffffu;
  if (exp == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0u));
  const int e = static_cast<int>(exp) - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  if (e <= 0) {
    if (e < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    const int shift = 14 - e;
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // a carry into the exponent is still right
  return static_cast<uint16_t>(sign | h);
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while (!(mant & 0x400u));
      x = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    x = sign | 0x7f800000u | (mant << 13);
  } else {
    x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

uint16_t float_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

float bf16_to_float(uint16_t h) {
  const uint32_t x = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

size_t dtype_size(DataType t) { return t == DataType::kFloat32 ? 4 : 2; }

// Rounds `values` to the storage type in place and returns the stored bytes.
std::vector<uint8_t> to_storage(std::vector<float>& values, DataType t) {
  std::vector<uint8_t> bytes(values.size() * dtype_size(t));
  for (size_t i = 0; i < values.size(); ++i) {
    if (t == DataType::kFloat32) {
      std::memcpy(&bytes[i * 4], &values[i], 4);
    } else {
      const uint16_t h = t == DataType::kFloat16 ? float_to_half(values[i]) : float_to_bf16(values[i]);
      values[i] = t == DataType::kFloat16 ? half_to_float(h) : bf16_to_float(h);
      std::memcpy(&bytes[i * 2], &h, 2);
    }
  }
  return bytes;
}

std::vector<float> from_storage(const std::vector<uint8_t>& bytes, DataType t) {
  const size_t n = bytes.size() / dtype_size(t);
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) {
    if (t == DataType::kFloat32) {
      std::memcpy(&out[i], &bytes[i * 4], 4);
    } else {
      uint16_t h;
      std::memcpy(&h, &bytes[i * 2], 2);
      out[i] = t == DataType::kFloat16 ? half_to_float(h) : bf16_to_float(h);
    }
  }
  return out;
}

// ---- device memory ----
struct DeviceBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  explicit DeviceBuffer(size_t n) : bytes(n) {
    if (n > 0 && cudaMalloc(&ptr, n) != cudaSuccess) ptr = nullptr;
  }
  ~DeviceBuffer() {
    if (ptr) cudaFree(ptr);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <typename T>
  void upload(const std::vector<T>& v) {
    ASSERT_EQ(cudaMemcpy(ptr, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
};

bool have_device() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) return false;
  int major = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0) != cudaSuccess) return false;
  return major >= 9;
}

const char* name(DataType t) {
  return t == DataType::kFloat32 ? "fp32" : t == DataType::kFloat16 ? "fp16" : "bf16";
}

// Index of element (n, ch, s) of an [N, C, HW] (NCHW) or [N, HW, C] (NHWC) tensor.
size_t element_index(Layout layout, int64_t C, int64_t HW, int64_t n, int64_t ch, int64_t s) {
  return layout == Layout::kNCHW ? static_cast<size_t>((n * C + ch) * HW + s)
                                 : static_cast<size_t>((n * HW + s) * C + ch);
}

// Mean and 1 / sqrt(variance + eps) of group g of sample n, in double, two passes over the group.
std::pair<double, double> group_moments(const std::vector<float>& x, Layout layout, int64_t C, int64_t HW,
                                        int64_t G, int64_t n, int64_t g, double eps) {
  const int64_t Cg = C / G;
  double sum = 0;
  for (int64_t ch = g * Cg; ch < (g + 1) * Cg; ++ch)
    for (int64_t s = 0; s < HW; ++s) sum += x[element_index(layout, C, HW, n, ch, s)];
  const double cnt = static_cast<double>(Cg * HW);
  const double mean = sum / cnt;
  double m2 = 0;
  for (int64_t ch = g * Cg; ch < (g + 1) * Cg; ++ch)
    for (int64_t s = 0; s < HW; ++s) {
      const double d = x[element_index(layout, C, HW, n, ch, s)] - mean;
      m2 += d * d;
    }
  return {mean, 1.0 / std::sqrt(m2 / cnt + eps)};
}

double activate(double v, Activation act, double alpha) {
  switch (act) {
    case Activation::kNone:
      return v;
    case Activation::kRelu:
      return v > 0 ? v : 0;
    case Activation::kSilu:
      return v / (1 + std::exp(-v));
    case Activation::kElu:
      return v > 0 ? v : alpha * (std::exp(v) - 1);
    case Activation::kGelu:
      return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
    case Activation::kSigmoid:
      return 1 / (1 + std::exp(-v));
    case Activation::kTanh:
      return std::tanh(v);
    case Activation::kLeakyRelu:
      return v >= 0 ? v : alpha * v;
  }
  return v;
}

struct Case {
  int64_t N = 1, C = 1, HW = 1, G = 1;
  Layout layout = Layout::kNCHW;
  DataType dtype = DataType::kFloat32;
  Activation act = Activation::kNone;
  float alpha = 0.1f;
  bool residual = false;
  bool affine = true;
  bool in_place = false;
  NormAlgorithm algo = NormAlgorithm::kAuto;
  int cluster_size = 0;  // 0: the planner's choice
  int row_warps = 0;     // 0: the planner's choice
  int register_vectors = 0;  // 0: the planner's choice
  int block_threads = 0;      // 0: the planner's choice
  double mean = 0.0, stddev = 1.0;  // of x; each channel also gets an offset of up to +-channel_offset
  double channel_offset = 0.5;
  bool constant = false;  // every group constant (zero variance)
  float eps = 1e-5f;
};

std::string describe(const Case& c) {
  std::ostringstream s;
  s << "N=" << c.N << " C=" << c.C << " HW=" << c.HW << " G=" << c.G
    << (c.layout == Layout::kNCHW ? " NCHW " : " NHWC ") << name(c.dtype)
    << " act=" << normrt::cuda::to_string(c.act) << (c.residual ? " +residual" : "")
    << (c.affine ? "" : " no-affine") << (c.in_place ? " in-place" : "")
    << " algo=" << normrt::cuda::to_string(c.algo) << (c.cluster_size ? " cluster_size=" + std::to_string(c.cluster_size) : "")
    << (c.row_warps ? " row_warps=" + std::to_string(c.row_warps) : "")
    << (c.register_vectors ? " register_vectors=" + std::to_string(c.register_vectors) : "")
    << (c.block_threads ? " block_threads=" + std::to_string(c.block_threads) : "")
    << " mean=" << c.mean << " std=" << c.stddev
    << (c.constant ? " constant" : "");
  return s.str();
}

std::string describe_args(const GroupNormArgs& a) {
  std::ostringstream s;
  s << "N=" << a.N << " C=" << a.C << " HW=" << a.spatial << " G=" << a.groups
    << (a.layout == Layout::kNCHW ? " NCHW " : " NHWC ") << name(a.dtype)
    << " algo=" << normrt::cuda::to_string(a.algorithm);
  return s.str();
}

// Arguments for planning only: the pointers are never dereferenced, only their alignment (256) counts.
GroupNormArgs planning_args(int64_t N, int64_t C, int64_t HW, int64_t G, Layout layout, DataType dtype,
                            NormAlgorithm algorithm = NormAlgorithm::kAuto) {
  GroupNormArgs a;
  a.x = a.y = reinterpret_cast<void*>(256);
  a.N = N;
  a.C = C;
  a.spatial = HW;
  a.groups = G;
  a.layout = layout;
  a.dtype = dtype;
  a.algorithm = algorithm;
  return a;
}

// The planning arguments of a case, its forced knobs included.
GroupNormArgs planning_args_of(const Case& c) {
  GroupNormArgs a = planning_args(c.N, c.C, c.HW, c.G, c.layout, c.dtype, c.algo);
  a.cluster_size = c.cluster_size;
  a.row_warps = c.row_warps;
  a.register_vectors = c.register_vectors;
  a.block_threads = c.block_threads;
  return a;
}

struct Outcome {
  double worst = 0;  // max |y - ref| / (atol + rtol |ref|); <= 1 passes
  NormAlgorithm algo = NormAlgorithm::kAuto;
  GroupNormPlan plan;
  std::vector<uint8_t> y;
};

uint64_t g_seed = 20261125;

// Runs one case on the GPU and checks it against the double reference; returns details for extra checks.
Outcome run_case(const Case& c) {
  Outcome out;
  const size_t count = static_cast<size_t>(c.N * c.C * c.HW);
  const int64_t Cg = c.C / c.G;
  std::mt19937_64 rng(g_seed++);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uni(-1.0, 1.0);

  auto index = [&](int64_t n, int64_t ch, int64_t s) { return element_index(c.layout, c.C, c.HW, n, ch, s); };

  std::vector<double> ch_off(static_cast<size_t>(c.N * c.C));
  for (auto& v : ch_off) v = c.channel_offset * uni(rng);
  std::vector<float> x(count), res(c.residual ? count : 0), gamma(static_cast<size_t>(c.C)),
      beta(static_cast<size_t>(c.C));
  for (int64_t n = 0; n < c.N; ++n)
    for (int64_t ch = 0; ch < c.C; ++ch)
      for (int64_t s = 0; s < c.HW; ++s) {
        const double group_value = c.mean + static_cast<double>((n * c.C + ch) / Cg % 5);
        x[index(n, ch, s)] = static_cast<float>(
            c.constant ? group_value : c.mean + c.stddev * (ch_off[n * c.C + ch] + normal(rng)));
      }
  for (auto& v : res) v = static_cast<float>(normal(rng));
  for (auto& v : gamma) v = static_cast<float>(1.0 + 0.5 * uni(rng));
  for (auto& v : beta) v = static_cast<float>(0.5 * uni(rng));
  const std::vector<uint8_t> xb = to_storage(x, c.dtype);
  const std::vector<uint8_t> rb = to_storage(res, c.dtype);

  // Reference in double from the stored (rounded) values.
  std::vector<double> ref(count);
  for (int64_t n = 0; n < c.N; ++n)
    for (int64_t g = 0; g < c.G; ++g) {
      const auto [mean, rstd] = group_moments(x, c.layout, c.C, c.HW, c.G, n, g, static_cast<double>(c.eps));
      for (int64_t ch = g * Cg; ch < (g + 1) * Cg; ++ch)
        for (int64_t s = 0; s < c.HW; ++s) {
          const size_t i = index(n, ch, s);
          double v = (x[i] - mean) * rstd;
          if (c.affine) v = v * gamma[ch] + beta[ch];
          v = activate(v, c.act, c.alpha);
          if (c.residual) v += res[i];
          ref[i] = v;
        }
    }

  const size_t bytes = count * dtype_size(c.dtype);
  DeviceBuffer dx(bytes), dy(c.in_place ? 0 : bytes), dr(rb.size()), dg(gamma.size() * 4), db(beta.size() * 4);
  EXPECT_NE(dx.ptr, nullptr);
  if (!dx.ptr) return out;
  dx.upload(xb);
  if (!c.in_place) {
    EXPECT_EQ(cudaMemset(dy.ptr, 0xff, bytes), cudaSuccess);  // NaN in every dtype
  }
  if (c.residual) dr.upload(rb);
  dg.upload(gamma);
  db.upload(beta);

  GroupNormArgs a;
  a.x = dx.ptr;
  a.y = c.in_place ? dx.ptr : dy.ptr;
  a.gamma = c.affine ? static_cast<const float*>(dg.ptr) : nullptr;
  a.beta = c.affine ? static_cast<const float*>(db.ptr) : nullptr;
  a.residual = c.residual ? dr.ptr : nullptr;
  a.N = c.N;
  a.C = c.C;
  a.spatial = c.HW;
  a.groups = c.G;
  a.layout = c.layout;
  a.dtype = c.dtype;
  a.epsilon = c.eps;
  a.activation = c.act;
  a.alpha = c.alpha;
  a.algorithm = c.algo;
  a.cluster_size = c.cluster_size;
  a.row_warps = c.row_warps;
  a.register_vectors = c.register_vectors;
  a.block_threads = c.block_threads;
  GroupNormPlan plan;
  Status s = normrt::cuda::group_norm_plan(a, &plan);
  EXPECT_TRUE(s.ok()) << s.message;
  if (!s.ok()) return out;
  out.algo = plan.algorithm;
  out.plan = plan;
  DeviceBuffer ws(plan.workspace_bytes);
  a.workspace = ws.ptr;
  a.workspace_bytes = plan.workspace_bytes;
  s = normrt::cuda::group_norm_forward(a, nullptr);
  EXPECT_TRUE(s.ok()) << s.message;
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);

  out.y.resize(bytes);
  EXPECT_EQ(cudaMemcpy(out.y.data(), a.y, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
  const std::vector<float> y = from_storage(out.y, c.dtype);
  const double atol = c.dtype == DataType::kFloat32 ? 1e-4 : c.dtype == DataType::kFloat16 ? 1e-3 : 8e-3;
  const double rtol = atol;
  size_t bad = 0, first_bad = 0;
  for (size_t i = 0; i < count; ++i) {
    const double err = std::fabs(static_cast<double>(y[i]) - ref[i]);
    const double ratio = std::isfinite(y[i]) ? err / (atol + rtol * std::fabs(ref[i])) : 1e30;
    if (ratio > 1 && bad++ == 0) first_bad = i;
    out.worst = std::max(out.worst, ratio);
  }
  EXPECT_EQ(bad, 0u) << bad << " of " << count << " outputs off; first at " << first_bad << ": got "
                     << y[first_bad] << ", want " << ref[first_bad] << " (plan "
                     << normrt::cuda::to_string(plan.algorithm) << ", cluster " << plan.cluster_size
                     << ", threads " << plan.threads << ", vector " << plan.vector_bytes << " B, k "
                     << plan.groups_per_unit << ")";
  return out;
}

class CudaNorm : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_device()) GTEST_SKIP() << "no CUDA device of compute capability 9.0+";
  }
};

constexpr Activation kActs[] = {Activation::kNone,    Activation::kRelu, Activation::kSilu,
                                Activation::kElu,     Activation::kGelu, Activation::kSigmoid,
                                Activation::kTanh,    Activation::kLeakyRelu};
constexpr DataType kTypes[] = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16};
constexpr Layout kLayouts[] = {Layout::kNCHW, Layout::kNHWC};

struct Shape {
  int64_t N, C, HW, G;
};

// A case of shape sh in this layout and dtype; every other field at its default.
Case case_of(const Shape& sh, Layout layout, DataType dtype, NormAlgorithm algo = NormAlgorithm::kAuto) {
  Case c;
  c.N = sh.N;
  c.C = sh.C;
  c.HW = sh.HW;
  c.G = sh.G;
  c.layout = layout;
  c.dtype = dtype;
  c.algo = algo;
  return c;
}

// N 1..32; G = 1, G = C and in between; channels per group 1, 2, 3, 4, 7, 10, 13, 16, 40, 2048; odd spatial
// sizes. NHWC vectors straddle groups at Cg = 3, 10, 13 and 1 (up to 8 groups in one 16-byte vector).
const Shape kShapes[] = {
    {2, 24, 333, 8},    {4, 48, 77, 48},   {2, 1280, 100, 32},  {1, 2048, 9, 1},
    {1, 4, 1, 1},       {2, 6, 7, 3},      {3, 32, 49, 32},     {1, 24, 1000, 8},  {2, 40, 1031, 4},
    {4, 64, 49, 16},    {1, 13, 7, 1},     {5, 7, 13, 7},       {32, 64, 9, 32},   {8, 320, 64, 32},
    {2, 96, 225, 32},   {1, 320, 4096, 32}, {16, 1280, 16, 32}, {1, 3, 65536, 1},  {1, 64, 16384, 32},
    {2, 512, 64, 32},   {32, 256, 49, 32}, {1, 64, 65536, 32},  {3, 26, 1000, 2},  {1, 48, 1, 16},
};

TEST_F(CudaNorm, ShapesLayoutsTypes) {
  int i = 0;
  double worst[3] = {0, 0, 0};
  for (const Shape& sh : kShapes)
    for (Layout layout : kLayouts)
      for (DataType dtype : kTypes) {
        Case c = case_of(sh, layout, dtype);
        c.act = kActs[i % 8];
        c.residual = i % 3 == 1;
        c.affine = i % 5 != 4;
        ++i;
        SCOPED_TRACE(describe(c));
        const Outcome o = run_case(c);
        worst[static_cast<int>(dtype)] = std::max(worst[static_cast<int>(dtype)], o.worst);
      }
  std::printf("worst error / tolerance: fp32 %.3f fp16 %.3f bf16 %.3f\n", worst[0], worst[1], worst[2]);
}

TEST_F(CudaNorm, EveryActivationWithAndWithoutResidual) {
  for (Activation act : kActs)
    for (bool residual : {false, true})
      for (Layout layout : kLayouts)
        for (DataType dtype : kTypes) {
          Case c;
          c.N = 3;
          c.C = 48;
          c.HW = 100;
          c.G = 8;
          c.layout = layout;
          c.dtype = dtype;
          c.act = act;
          c.alpha = act == Activation::kElu ? 1.0f : 0.01f;
          c.residual = residual;
          SCOPED_TRACE(describe(c));
          run_case(c);
        }
}

// Every algorithm, forced, at shapes that take another one by default too (kRegisters is NHWC only, and only
// where a unit fits the registers of 16 blocks; kGrid is NHWC only, where the tensor fits the SMs at once).
TEST_F(CudaNorm, EveryForcedAlgorithmAgrees) {
  const Shape shapes[] = {{2, 320, 1024, 32}, {1, 64, 4096, 32}, {3, 24, 49, 6}, {1, 8, 262144, 1},
                          {4, 30, 1000, 10},  {8, 64, 1, 64},    {1, 640, 1024, 32}};
  int i = 0;
  for (const Shape& sh : shapes)
    for (Layout layout : kLayouts)
      for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
        for (NormAlgorithm algo : {NormAlgorithm::kCluster, NormAlgorithm::kSplit, NormAlgorithm::kRegisters,
                                   NormAlgorithm::kGrid}) {
          Case c = case_of(sh, layout, dtype, algo);
          c.act = kActs[i++ % 8];
          c.residual = i % 2 == 0;
          const GroupNormArgs probe = planning_args(c.N, c.C, c.HW, c.G, layout, dtype, algo);
          if (!normrt::cuda::group_norm_plan(probe, nullptr).ok()) continue;  // too big for a cluster, or NCHW
          SCOPED_TRACE(describe(c));
          const Outcome o = run_case(c);
          EXPECT_EQ(o.algo, algo);
        }
}

// The registers kernel with every number of vectors a thread its plan may aim for (1: the most threads a block,
// up to 512; 8: the fewest), at the SD-1.5 UNet's batch-1 shapes and odd ones (straddling vectors, clusters,
// rows that do not divide evenly).
TEST_F(CudaNorm, RegistersKernelAgreesAtEveryVectorsAThread) {
  const Shape shapes[] = {{1, 1280, 64, 32}, {1, 2560, 64, 32}, {1, 640, 256, 32}, {1, 320, 1024, 32},
                          {3, 24, 49, 6},    {2, 30, 99, 10},   {1, 96, 17, 32}};
  int i = 0;
  for (const Shape& sh : shapes)
    for (DataType dtype : kTypes)
      for (int vectors : {1, 2, 4, 8}) {
        Case c = case_of(sh, Layout::kNHWC, dtype, NormAlgorithm::kRegisters);
        c.register_vectors = vectors;
        c.act = kActs[i++ % 8];
        c.residual = i % 2 == 0;
        c.in_place = i % 3 == 0;
        GroupNormArgs probe = planning_args(c.N, c.C, c.HW, c.G, Layout::kNHWC, dtype, NormAlgorithm::kRegisters);
        probe.register_vectors = vectors;
        if (!normrt::cuda::group_norm_plan(probe, nullptr).ok()) continue;  // no cluster holds it in registers
        SCOPED_TRACE(describe(c));
        const Outcome o = run_case(c);
        EXPECT_EQ(o.algo, NormAlgorithm::kRegisters);
      }
}

// The whole-grid NHWC kernel on its own: batch 1 to 7, spatial sizes that split unevenly over the blocks (down
// to blocks with no rows), groups of 1 to 64 channels, vectors straddling groups (Cg = 10, 4, 3 at 16-bit),
// InstanceNorm (G = C), every dtype, activations, residuals and in place.
TEST_F(CudaNorm, GridKernelMatchesTheReference) {
  const Shape shapes[] = {{1, 64, 65536, 32}, {2, 320, 4096, 32}, {3, 320, 1000, 32}, {5, 96, 777, 3},
                          {2, 40, 999, 10},   {4, 64, 1031, 64},  {7, 1280, 256, 32}, {1, 8, 300001, 2},
                          {6, 48, 100, 16},   {2, 2048, 130, 32}, {1, 24, 7, 8}};
  int i = 0;
  size_t ran = 0;
  for (const Shape& sh : shapes)
    for (DataType dtype : kTypes) {
      Case c = case_of(sh, Layout::kNHWC, dtype, NormAlgorithm::kGrid);
      c.act = kActs[i % 8];
      c.residual = i % 3 == 0;
      c.in_place = i % 4 == 1;
      ++i;
      SCOPED_TRACE(describe(c));
      const Outcome o = run_case(c);
      EXPECT_EQ(o.algo, NormAlgorithm::kGrid);
      EXPECT_GT(o.plan.workspace_bytes, 0u);
      ++ran;
    }
  EXPECT_EQ(ran, std::size(shapes) * std::size(kTypes));
}

// kGrid where it cannot run says why and what to use instead: NCHW, and a tensor larger than every SM's shared
// memory together.
TEST_F(CudaNorm, GridRefusalsNameTheLimit) {
  GroupNormArgs a = planning_args(32, 256, 3136, 32, Layout::kNCHW, DataType::kFloat16, NormAlgorithm::kGrid);
  Status s = normrt::cuda::group_norm_plan(a, nullptr);
  EXPECT_NE(s.message.find("kGrid needs NHWC"), std::string::npos) << s.message;
  a.layout = Layout::kNHWC;  // 51 MB: more than the shared memory of the whole GPU
  s = normrt::cuda::group_norm_plan(a, nullptr);
  EXPECT_NE(s.message.find("small enough for the shared memory of every SM at once"), std::string::npos) << s.message;
  EXPECT_NE(s.message.find("use kAuto, kCluster or kSplit"), std::string::npos) << s.message;
  a.N = 1;
  a.cluster_size = 2;
  s = normrt::cuda::group_norm_plan(a, nullptr);
  EXPECT_NE(s.message.find("cluster_size applies to kCluster and kRegisters, not kGrid"), std::string::npos)
      << s.message;
}

TEST_F(CudaNorm, LargeMeanSmallVarianceAndConstantGroupsStayFinite) {
  for (Layout layout : kLayouts)
    for (DataType dtype : kTypes)
      for (NormAlgorithm algo : {NormAlgorithm::kAuto, NormAlgorithm::kSplit, NormAlgorithm::kGrid}) {
        if (algo == NormAlgorithm::kGrid && layout == Layout::kNCHW) continue;
        Case c;
        c.N = 2;
        c.C = 32;
        c.HW = 1000;
        c.G = 8;
        c.layout = layout;
        c.dtype = dtype;
        c.algo = algo;
        c.mean = 1e4;
        c.stddev = 1e-2;
        c.channel_offset = 0.0;  // one mean per group: the hard case
        {
          SCOPED_TRACE(describe(c));
          run_case(c);  // fp16/bf16 round 1e4 +- 1e-2 to a constant: then y = beta exactly
        }
        c.mean = 100.0;
        c.stddev = 0.1;
        {
          SCOPED_TRACE(describe(c));
          run_case(c);
        }
        c.mean = 3.0;
        c.constant = true;
        c.act = Activation::kSilu;
        c.residual = true;
        {
          SCOPED_TRACE(describe(c));
          run_case(c);
        }
      }
}

TEST_F(CudaNorm, InPlaceAndDeterministic) {
  for (NormAlgorithm algo : {NormAlgorithm::kAuto, NormAlgorithm::kSplit, NormAlgorithm::kGrid})
    for (Layout layout : kLayouts) {
      if (algo == NormAlgorithm::kGrid && layout == Layout::kNCHW) continue;
      Case c;
      c.N = 2;
      c.C = 64;
      c.HW = 4096;
      c.G = 32;
      c.layout = layout;
      c.dtype = DataType::kFloat16;
      c.algo = algo;
      c.act = Activation::kSilu;
      c.in_place = true;
      SCOPED_TRACE(describe(c));
      run_case(c);

      c.in_place = false;
      const uint64_t seed = g_seed;
      const Outcome first = run_case(c);
      g_seed = seed;  // same data again
      const Outcome second = run_case(c);
      EXPECT_TRUE(first.y == second.y) << "two runs on the same input differ";
    }
}

TEST_F(CudaNorm, BenchmarkShapesTakeTheOnePassPathWithWideLoads) {
  const Shape shapes[] = {{2, 320, 4096, 32},  {8, 320, 4096, 32}, {8, 640, 1024, 32}, {16, 1280, 256, 32},
                          {32, 256, 3136, 32}, {1, 64, 65536, 32}, {1, 512, 4096, 32}, {64, 512, 64, 32}};
  for (const Shape& sh : shapes)
    for (DataType dtype : {DataType::kFloat32, DataType::kFloat16}) {
      GroupNormArgs a = planning_args(sh.N, sh.C, sh.HW, sh.G, Layout::kNCHW, dtype);
      GroupNormPlan plan;
      ASSERT_TRUE(normrt::cuda::group_norm_plan(a, &plan).ok());
      EXPECT_EQ(plan.algorithm, NormAlgorithm::kCluster) << sh.N << "x" << sh.C << "x" << sh.HW;
      EXPECT_EQ(plan.vector_bytes, 16);
      EXPECT_TRUE(plan.bulk_copy);
      a.layout = Layout::kNHWC;
      ASSERT_TRUE(normrt::cuda::group_norm_plan(a, &plan).ok());
      EXPECT_EQ(plan.vector_bytes, 16) << "NHWC " << sh.N << "x" << sh.C << "x" << sh.HW;
      std::printf("NHWC %s %lldx%lldx%lld G=%lld: %s cluster=%d threads=%d vector=%dB k=%d blocks=%lld smem=%zu\n",
                  name(dtype), static_cast<long long>(sh.N), static_cast<long long>(sh.C),
                  static_cast<long long>(sh.HW), static_cast<long long>(sh.G),
                  normrt::cuda::to_string(plan.algorithm), plan.cluster_size, plan.threads, plan.vector_bytes,
                  plan.groups_per_unit, static_cast<long long>(plan.blocks), plan.shared_bytes);
    }
}

// NCHW groups that need clusters of 8 blocks in more than one wave at the planner's block size run in one wave:
// in clusters of 8 with fewer threads a block where that fits (H100 and H200: 2x320x64x64 fp32 at 192 threads,
// 1x64x256x256 fp16 at 320, 1x512x64x64 fp32 at 320), else in the largest smaller cluster that does; and
// compute the same values.
TEST_F(CudaNorm, NchwClustersOfSeveralWavesRunInOneWave) {
  // The planner's block size at clusters of 8, fixed here to see that it needs several waves.
  const std::tuple<Shape, DataType, int> cases[] = {{{2, 320, 4096, 32}, DataType::kFloat32, 320},
                                                    {{1, 64, 65536, 32}, DataType::kFloat16, 512},
                                                    {{1, 512, 4096, 32}, DataType::kFloat32, 512}};
  for (const auto& [sh, dtype, threads] : cases) {
    SCOPED_TRACE(std::to_string(sh.N) + "x" + std::to_string(sh.C) + "x" + std::to_string(sh.HW) + " " + name(dtype));
    GroupNormArgs a = planning_args(sh.N, sh.C, sh.HW, sh.G, Layout::kNCHW, dtype);
    a.cluster_size = 8;
    a.block_threads = threads;
    GroupNormPlan eight, chosen;
    ASSERT_TRUE(normrt::cuda::group_norm_plan(a, &eight).ok());
    if (static_cast<int64_t>(eight.resident_clusters) * 8 >= eight.blocks) {
      GTEST_SKIP() << "this GPU holds all " << eight.blocks << " blocks in clusters of 8 at once";
    }
    a.cluster_size = 0;
    a.block_threads = 0;
    ASSERT_TRUE(normrt::cuda::group_norm_plan(a, &chosen).ok());
    EXPECT_TRUE(chosen.bulk_copy);
    EXPECT_GE(chosen.cluster_size, 2);
    EXPECT_TRUE((chosen.cluster_size == 8 && chosen.threads < threads) || chosen.cluster_size < 8)
        << chosen.cluster_size << " blocks of " << chosen.threads << " threads";
    EXPECT_GE(static_cast<int64_t>(chosen.resident_clusters) * chosen.cluster_size, chosen.blocks);
    Case c = case_of(sh, Layout::kNCHW, dtype, NormAlgorithm::kAuto);
    c.act = Activation::kSilu;
    const Outcome o = run_case(c);
    EXPECT_EQ(o.plan.cluster_size, chosen.cluster_size);
    EXPECT_EQ(o.plan.threads, chosen.threads);
    EXPECT_LE(o.worst, 1.0);
  }
}

// Programmatic dependent launch: the second of two chained calls may start while the first still runs, and
// must wait for it before reading. The intermediate tensor starts as NaN, so a read before the first call has
// written it shows up in the second call's output. Direct launches and a replayed CUDA graph, on every kernel
// family (NCHW bulk copy, NHWC TMA, the generic NHWC kernel, the split pair, the cooperative grid kernel,
// LayerNorm rows).
TEST_F(CudaNorm, ChainedCallsWaitForTheCallBefore) {
  struct Chain {
    Shape shape;
    Layout layout;
    DataType dtype;
    NormAlgorithm algo;
  };
  const Chain chains[] = {{{8, 320, 4096, 32}, Layout::kNCHW, DataType::kFloat16, NormAlgorithm::kAuto},
                          {{8, 320, 4096, 32}, Layout::kNHWC, DataType::kFloat16, NormAlgorithm::kAuto},
                          {{3, 24, 333, 8}, Layout::kNHWC, DataType::kFloat32, NormAlgorithm::kAuto},
                          {{2, 640, 1031, 32}, Layout::kNHWC, DataType::kFloat32, NormAlgorithm::kSplit},
                          {{2, 640, 1031, 32}, Layout::kNHWC, DataType::kFloat16, NormAlgorithm::kGrid},
                          {{1, 64, 65536, 32}, Layout::kNCHW, DataType::kBFloat16, NormAlgorithm::kSplit},
                          {{4096, 768, 1, 1}, Layout::kNCHW, DataType::kFloat16, NormAlgorithm::kAuto}};
  for (const Chain& ch : chains) {
    const Shape& sh = ch.shape;
    const size_t count = static_cast<size_t>(sh.N * sh.C * sh.HW);
    const size_t bytes = count * dtype_size(ch.dtype);
    std::mt19937_64 rng(g_seed++);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::vector<float> x(count);
    for (auto& v : x) v = static_cast<float>(2.0 + 3.0 * normal(rng));
    DeviceBuffer dx(bytes), dm(bytes), dy(bytes);
    ASSERT_NE(dy.ptr, nullptr);
    dx.upload(to_storage(x, ch.dtype));
    GroupNormArgs first;
    first.N = sh.N;
    first.C = sh.C;
    first.spatial = sh.HW;
    first.groups = sh.G;
    first.layout = ch.layout;
    first.dtype = ch.dtype;
    first.activation = Activation::kSilu;
    first.algorithm = ch.algo;
    first.x = dx.ptr;
    first.y = dm.ptr;
    GroupNormArgs second = first;
    second.activation = Activation::kNone;
    second.x = dm.ptr;
    second.y = dy.ptr;
    GroupNormPlan plan;
    ASSERT_TRUE(normrt::cuda::group_norm_plan(first, &plan).ok());
    DeviceBuffer ws1(plan.workspace_bytes), ws2(plan.workspace_bytes);
    first.workspace = ws1.ptr;
    second.workspace = ws2.ptr;
    first.workspace_bytes = second.workspace_bytes = plan.workspace_bytes;
    cudaStream_t stream;
    ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);

    const std::string what = describe_args(first) + " plan " + normrt::cuda::to_string(plan.algorithm) +
                             (plan.bulk_copy ? "+bulk" : plan.tma ? "+tma" : plan.rows ? "+rows" : "");
    auto check = [&](const char* how) {
      std::vector<uint8_t> mb(bytes), yb(bytes);
      ASSERT_EQ(cudaMemcpy(mb.data(), dm.ptr, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
      ASSERT_EQ(cudaMemcpy(yb.data(), dy.ptr, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
      const std::vector<float> m = from_storage(mb, ch.dtype), y = from_storage(yb, ch.dtype);
      const int64_t Cg = sh.C / sh.G;
      const double tol = ch.dtype == DataType::kFloat32 ? 1e-4 : ch.dtype == DataType::kFloat16 ? 1e-3 : 8e-3;
      size_t bad = 0;
      for (int64_t n = 0; n < sh.N; ++n)
        for (int64_t g = 0; g < sh.G; ++g) {
          const auto [mean, rstd] = group_moments(m, ch.layout, sh.C, sh.HW, sh.G, n, g, 1e-5);
          for (int64_t c = g * Cg; c < (g + 1) * Cg; ++c)
            for (int64_t s = 0; s < sh.HW; ++s) {
              const size_t i = element_index(ch.layout, sh.C, sh.HW, n, c, s);
              const double ref = (m[i] - mean) * rstd;
              if (!std::isfinite(m[i]) || !(std::fabs(y[i] - ref) <= tol * (1 + std::fabs(ref)))) ++bad;
            }
        }
      EXPECT_EQ(bad, 0u) << how << ": " << bad << " of " << count << " outputs of the second call off; " << what;
    };

    ASSERT_EQ(cudaMemset(dm.ptr, 0xff, bytes), cudaSuccess);  // NaN in every dtype
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    Status s = normrt::cuda::group_norm_forward(first, stream);
    ASSERT_TRUE(s.ok()) << s.message;
    s = normrt::cuda::group_norm_forward(second, stream);
    ASSERT_TRUE(s.ok()) << s.message;
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    check("direct launches");

    cudaGraph_t graph;
    cudaGraphExec_t exec;
    ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    EXPECT_TRUE(normrt::cuda::group_norm_forward(first, stream).ok());
    EXPECT_TRUE(normrt::cuda::group_norm_forward(second, stream).ok());
    ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
    ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
    for (auto& v : x) v = static_cast<float>(-1.0 + 0.5 * normal(rng));
    dx.upload(to_storage(x, ch.dtype));
    ASSERT_EQ(cudaMemset(dm.ptr, 0xff, bytes), cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    check("graph replay");
    EXPECT_EQ(cudaGraphExecDestroy(exec), cudaSuccess);
    EXPECT_EQ(cudaGraphDestroy(graph), cudaSuccess);
    EXPECT_EQ(cudaStreamDestroy(stream), cudaSuccess);
  }
}

// The planner on its own, for devices that need not be present (this runs without a GPU, in CI too): every plan
// of a wide sweep fits the device it was made for, and the NHWC kernel's invariants hold (whole vectors per row,
// at most 8 groups per vector, 16-byte vectors wherever C allows them).
TEST(CudaNormPlan, EveryPlanFitsTheDevice) {
  const normrt::cuda::DeviceProperties devices[] = {{132, 232448, 9, 16}, {114, 232448, 9, 8}, {16, 101376, 9, 8}};
  const int64_t channels[] = {1, 3, 4, 6, 7, 8, 13, 24, 26, 32, 40, 48, 64, 96, 128, 256, 320, 512, 640, 960, 1280,
                              2048, 4096};
  const int64_t spatials[] = {1, 7, 49, 100, 1024, 3136, 4096, 65536};
  size_t plans = 0, refused = 0;
  for (const auto& dev : devices)
    for (int64_t C : channels)
      for (int64_t G : {int64_t{1}, int64_t{2}, int64_t{8}, int64_t{32}, C})
        for (int64_t HW : spatials)
          for (int64_t N : {1, 3, 32})
            for (Layout layout : kLayouts)
              for (DataType dtype : kTypes)
                for (NormAlgorithm algo : {NormAlgorithm::kAuto, NormAlgorithm::kSplit}) {
                  if (G > C || C % G != 0) continue;
                  const GroupNormArgs a = planning_args(N, C, HW, G, layout, dtype, algo);
                  GroupNormPlan plan;
                  const Status s = normrt::cuda::group_norm_plan_for(a, dev, &plan);
                  const std::string what = describe_args(a) + " on " + std::to_string(dev.sms) + " SMs";
                  if (!s.ok()) {
                    // Only NHWC groups wider than one block's row of vectors are refused, and say so.
                    EXPECT_NE(s.message.find("NHWC with more than"), std::string::npos) << what << ": " << s.message;
                    ++refused;
                    continue;
                  }
                  ++plans;
                  const int64_t esize = dtype == DataType::kFloat32 ? 4 : 2;
                  ASSERT_TRUE(plan.threads >= 32 && plan.threads <= 1024 && plan.threads % 32 == 0) << what;
                  ASSERT_LE(plan.shared_bytes, static_cast<size_t>(dev.smem_optin)) << what;
                  ASSERT_GE(plan.blocks, 1) << what;
                  ASSERT_TRUE(plan.vector_bytes == 2 || plan.vector_bytes == 4 || plan.vector_bytes == 8 ||
                              plan.vector_bytes == 16) << what;
                  ASSERT_GE(plan.vector_bytes, esize) << what;
                  if (plan.algorithm == NormAlgorithm::kRegisters) {
                    // NHWC only, at most 512-thread blocks in clusters of up to 16; one wave, or two without clusters.
                    ASSERT_EQ(layout, Layout::kNHWC) << what;
                    ASSERT_EQ(plan.vector_bytes, 16) << what;
                    ASSERT_LE(plan.threads, 512) << what;
                    ASSERT_TRUE(plan.cluster_size >= 1 && plan.cluster_size <= dev.max_cluster) << what;
                    ASSERT_EQ(plan.blocks % plan.cluster_size, 0) << what;
                    ASSERT_LE(plan.blocks, plan.cluster_size == 1 ? 2 * dev.sms : dev.sms) << what;
                    ASSERT_EQ(plan.workspace_bytes, 0u) << what;
                  } else if (plan.algorithm == NormAlgorithm::kGrid) {
                    // NHWC, one or two blocks of at most 512 threads per SM, all resident at once.
                    ASSERT_EQ(layout, Layout::kNHWC) << what;
                    ASSERT_EQ(plan.vector_bytes, 16) << what;
                    ASSERT_LE(plan.threads, 512) << what;
                    ASSERT_LE(plan.blocks, 2 * dev.sms) << what;
                    ASSERT_LE(plan.shared_bytes, plan.blocks > dev.sms ? (dev.smem_optin + 1024) / 2 - 1024
                                                                       : static_cast<size_t>(dev.smem_optin))
                        << what;
                    ASSERT_EQ(plan.blocks % N, 0) << what;
                    ASSERT_GE(plan.workspace_bytes, static_cast<size_t>(plan.blocks * G * 16 + N * G * 8)) << what;
                  } else if (plan.algorithm == NormAlgorithm::kCluster) {
                    ASSERT_TRUE(plan.cluster_size >= 1 && plan.cluster_size <= 8) << what;
                    ASSERT_EQ(plan.blocks % plan.cluster_size, 0) << what;
                  } else {
                    ASSERT_GT(plan.workspace_bytes, 0u) << what;
                  }
                  if (layout == Layout::kNHWC) {
                    ASSERT_EQ((C * esize) % plan.vector_bytes, 0) << what;
                    ASSERT_TRUE(plan.groups_per_vector >= 1 && plan.groups_per_vector <= 8) << what;
                    if ((C * esize) % 16 == 0 && C / G <= 512) {
                      ASSERT_EQ(plan.vector_bytes, 16) << what;
                    }
                  } else {
                    ASSERT_EQ(plan.groups_per_vector, 1) << what;
                  }
                }
  std::printf("%zu plans checked, %zu refused\n", plans, refused);
  EXPECT_GT(plans, 10000u);
}

// NHWC row widths (the planner alone; no GPU needed): rows hold at least 32 channels, and 16 for 16-bit groups
// of at most 4 channels, whose 32-channel rows left a ResNet-50 batch-1 sample with too few units (H100: 1.2-1.3x
// slower); fp32 keeps 32.
// The plan of an NHWC GroupNorm(32) on an H100 that need not be present; `what` describes the arguments.
GroupNormPlan h100_nhwc_plan(int64_t N, int64_t C, int64_t HW, DataType dtype, std::string* what,
                             int max_cluster = 16) {
  const normrt::cuda::DeviceProperties h100{132, 232448, 9, max_cluster};
  const GroupNormArgs a = planning_args(N, C, HW, 32, Layout::kNHWC, dtype);
  *what = describe_args(a);
  GroupNormPlan plan;
  const Status s = normrt::cuda::group_norm_plan_for(a, h100, &plan);
  EXPECT_TRUE(s.ok()) << *what << ": " << s.message;
  return plan;
}

TEST(CudaNormPlan, NhwcRowsOfNarrowHalfGroupsHoldSixteenChannels) {
  struct Want {
    int64_t C, HW;
    DataType dtype;
    int channels_per_row;
  };
  const Want wants[] = {{64, 3136, DataType::kFloat16, 16},   {128, 784, DataType::kFloat16, 16},
                        {64, 12544, DataType::kBFloat16, 16}, {256, 3136, DataType::kFloat16, 32},
                        {512, 49, DataType::kFloat16, 32},    {64, 3136, DataType::kFloat32, 32},
                        {128, 784, DataType::kFloat32, 32}};
  for (const Want& w : wants) {
    std::string what;
    const GroupNormPlan plan = h100_nhwc_plan(1, w.C, w.HW, w.dtype, &what);
    EXPECT_EQ(plan.groups_per_unit * (w.C / 32), w.channels_per_row) << what;
  }
}

// Small NHWC tensors (ResNet-50-GN at batch 1) take the registers kernel, in the smallest clusters that keep a
// block's share near 8K elements; tensors too large for one wave of it keep the shared-memory kernels.
TEST(CudaNormPlan, SmallNhwcTensorsTakeTheRegistersKernel) {
  struct Want {
    int64_t N, C, HW;
    DataType dtype;
    NormAlgorithm algorithm;
    int cluster_size;
  };
  const Want wants[] = {
      {1, 512, 49, DataType::kFloat16, NormAlgorithm::kRegisters, 1},
      {1, 256, 196, DataType::kFloat16, NormAlgorithm::kRegisters, 1},
      {1, 512, 784, DataType::kFloat16, NormAlgorithm::kRegisters, 4},
      {1, 256, 3136, DataType::kFloat16, NormAlgorithm::kRegisters, 8},
      {1, 64, 12544, DataType::kFloat16, NormAlgorithm::kRegisters, 16},  // nothing smaller holds it
      {8, 2048, 49, DataType::kFloat16, NormAlgorithm::kRegisters, 1},    // two waves of one-block units
      {8, 128, 784, DataType::kFloat16, NormAlgorithm::kRegisters, 2},
      {1, 512, 49, DataType::kFloat32, NormAlgorithm::kRegisters, 1},
      {8, 128, 784, DataType::kFloat32, NormAlgorithm::kCluster, 0},      // 128 blocks in clusters of 4
      {8, 64, 3136, DataType::kFloat16, NormAlgorithm::kCluster, 0},
      {1, 320, 4096, DataType::kFloat32, NormAlgorithm::kCluster, 0},     // clusters of 16: too many blocks
      {8, 320, 4096, DataType::kFloat16, NormAlgorithm::kCluster, 0},
  };
  for (const Want& w : wants) {
    std::string what;
    const GroupNormPlan plan = h100_nhwc_plan(w.N, w.C, w.HW, w.dtype, &what);
    EXPECT_EQ(plan.algorithm, w.algorithm) << what;
    if (w.cluster_size) {
      EXPECT_EQ(plan.cluster_size, w.cluster_size) << what;
    }
  }
  // A GPU that schedules clusters of at most 8 (fewer SMs per GPC) never gets 16: that unit takes the TMA kernel.
  std::string what;
  EXPECT_EQ(h100_nhwc_plan(1, 64, 12544, DataType::kFloat16, &what, 8).algorithm, NormAlgorithm::kCluster) << what;
  GroupNormArgs a = planning_args(1, 64, 12544, 32, Layout::kNHWC, DataType::kFloat16, NormAlgorithm::kRegisters);
  a.cluster_size = 16;
  const Status s = normrt::cuda::group_norm_plan_for(a, {132, 232448, 9, 8}, nullptr);
  EXPECT_NE(s.message.find("cluster_size 16: this GPU schedules clusters of at most 8 blocks"), std::string::npos)
      << s.message;
}

// LayerNorm rows: rows of many vectors take a block per row (one vector a thread) while the warps stay within 48
// an SM, more rows or rows of at most 32 vectors a warp per row; a forced count that leaves too many vectors a thread, or a shape the rows kernel does not take,
// is refused with what to ask for instead.
TEST(CudaNormPlan, FewLongRowsTakeABlockPerRow) {
  const normrt::cuda::DeviceProperties h200{132, 232448, 9, 16};
  struct Want {
    int64_t rows, cols;
    DataType dtype;
    int row_warps;
  };
  const Want wants[] = {
      {64, 1280, DataType::kFloat32, 10},   // the UNet's 8x8 level at batch 1: 320 vectors
      {64, 1280, DataType::kFloat16, 5},    // 160 vectors
      {256, 640, DataType::kFloat32, 5},
      {1024, 320, DataType::kFloat16, 2},
      {633, 1280, DataType::kFloat32, 10},  // 6330 warps: 48 an SM
      {634, 1280, DataType::kFloat32, 1},
      {2048, 640, DataType::kFloat32, 1},
      {4096, 320, DataType::kFloat32, 1},
      {64, 128, DataType::kFloat32, 1},     // 32 vectors: one a lane already
      {1, 2048, DataType::kFloat32, 16},
  };
  for (const Want& w : wants) {
    GroupNormArgs a = planning_args(w.rows, w.cols, 1, 1, Layout::kNCHW, w.dtype);
    GroupNormPlan plan;
    const Status s = normrt::cuda::group_norm_plan_for(a, h200, &plan);
    const std::string what = describe_args(a);
    ASSERT_TRUE(s.ok()) << s.message << " " << what;
    EXPECT_TRUE(plan.rows) << what;
    EXPECT_EQ(plan.row_warps, w.row_warps) << what;
    if (w.row_warps > 1) {
      EXPECT_EQ(plan.threads, 32 * w.row_warps) << what;
    }
  }
  GroupNormArgs a = planning_args(64, 1280, 1, 1, Layout::kNCHW, DataType::kFloat32);
  a.row_warps = 2;  // 320 vectors over 64 threads: 5 a thread
  Status s = normrt::cuda::group_norm_plan_for(a, h200, nullptr);
  EXPECT_NE(s.message.find("row_warps 2 leaves more than 4 vectors a thread for rows of 320 vectors: ask for at "
                           "least 3 warps, or 1"),
            std::string::npos)
      << s.message;
  a.row_warps = 0;
  a.register_vectors = 3;
  s = normrt::cuda::group_norm_plan_for(a, h200, nullptr);
  EXPECT_NE(s.message.find("register_vectors must be 0 (the planner's choice), 1, 2, 4 or 8, got 3"),
            std::string::npos)
      << s.message;
  a.register_vectors = 0;
  a.row_warps = 17;
  s = normrt::cuda::group_norm_plan_for(a, h200, nullptr);
  EXPECT_NE(s.message.find("row_warps must be 0 (the planner's choice) or 1..16, got 17"), std::string::npos)
      << s.message;
  a = planning_args(2, 320, 4096, 32, Layout::kNCHW, DataType::kFloat32);
  a.row_warps = 4;
  s = normrt::cuda::group_norm_plan_for(a, h200, nullptr);
  EXPECT_NE(s.message.find("row_warps applies to the rows kernel"), std::string::npos) << s.message;
  EXPECT_NE(s.message.find("leave row_warps 0"), std::string::npos) << s.message;
}

// The bulk kernel's knobs (the planner alone; no GPU needed): a block size and a slice per warp are taken as
// asked; packed small groups split into whole warps or are refused; values out of range and shapes that take
// another kernel are refused with what to ask for.
TEST(CudaNormPlan, BulkKernelBlockSizeIsTakenOrRefusedWithTheReason) {
  const normrt::cuda::DeviceProperties h100{132, 232448, 9, 16};
  GroupNormPlan plan;
  GroupNormArgs a = planning_args(16, 1280, 256, 32, Layout::kNCHW, DataType::kFloat16);
  ASSERT_TRUE(normrt::cuda::group_norm_plan_for(a, h100, &plan).ok());
  EXPECT_TRUE(plan.bulk_copy);
  EXPECT_EQ(plan.threads, 320);
  a.block_threads = 256;
  Status s = normrt::cuda::group_norm_plan_for(a, h100, &plan);
  ASSERT_TRUE(s.ok()) << s.message;
  EXPECT_EQ(plan.threads, 256);

  // 64x512x8x8 fp16: groups of 2 KB, packed several to a block, one team of whole warps each.
  a = planning_args(64, 512, 64, 32, Layout::kNCHW, DataType::kFloat16);
  ASSERT_TRUE(normrt::cuda::group_norm_plan_for(a, h100, &plan).ok());
  ASSERT_GT(plan.groups_per_unit, 1);
  const int packed = plan.groups_per_unit;
  a.block_threads = 32 * packed + 32;
  s = normrt::cuda::group_norm_plan_for(a, h100, &plan);
  EXPECT_NE(s.message.find("teams of whole warps"), std::string::npos) << s.message;
  EXPECT_NE(s.message.find("ask for a multiple of " + std::to_string(32 * packed)), std::string::npos) << s.message;
  a.block_threads = 64 * packed;
  ASSERT_TRUE(normrt::cuda::group_norm_plan_for(a, h100, &plan).ok());
  EXPECT_EQ(plan.threads, 64 * packed);

  for (int bad : {-32, 32, 100, 544}) {
    a.block_threads = bad;
    s = normrt::cuda::group_norm_plan_for(a, h100, &plan);
    EXPECT_NE(s.message.find("block_threads must be 0 (the planner's choice) or a multiple of 32 in 64..512, got " +
                             std::to_string(bad)),
              std::string::npos)
        << s.message;
  }
  // The NHWC TMA kernel takes at most that many: whole rows of 10 vectors (40 fp32 channels), in whole warps.
  a = planning_args(16, 1280, 256, 32, Layout::kNHWC, DataType::kFloat32);
  a.block_threads = 256;
  ASSERT_TRUE(normrt::cuda::group_norm_plan_for(a, h100, &plan).ok());
  EXPECT_TRUE(plan.tma);
  EXPECT_EQ(plan.threads, 256);  // 25 rows of 10 vectors, rounded up to 8 warps
  a.block_threads = 64;
  ASSERT_TRUE(normrt::cuda::group_norm_plan_for(a, h100, &plan).ok());
  EXPECT_EQ(plan.threads, 64);  // 6 rows
  a = planning_args(2, 320, 4096, 32, Layout::kNCHW, DataType::kFloat16, NormAlgorithm::kSplit);
  a.block_threads = 256;
  s = normrt::cuda::group_norm_plan_for(a, h100, &plan);
  EXPECT_NE(s.message.find("block_threads applies to the one-pass kernels on the copy engines"), std::string::npos)
      << s.message;
  EXPECT_NE(s.message.find("leave it 0"), std::string::npos) << s.message;
  a = planning_args(64, 1280, 1, 1, Layout::kNCHW, DataType::kFloat32);  // LayerNorm-shaped rows
  a.block_threads = 128;  // asks for the group kernel instead of the rows kernel
  ASSERT_TRUE(normrt::cuda::group_norm_plan_for(a, h100, &plan).ok());
  EXPECT_FALSE(plan.rows);
  EXPECT_EQ(plan.threads, 128);
}

// NHWC groups too large for a cluster's shared memory take the whole-grid kernel (one read of x) where the
// tensor fits every SM's shared memory at once, and the two-pass split where it does not.
TEST(CudaNormPlan, NhwcGroupsTooLargeForAClusterTakeTheGridKernel) {
  std::string what;
  GroupNormPlan plan = h100_nhwc_plan(1, 64, 65536, DataType::kFloat16, &what);
  EXPECT_EQ(plan.algorithm, NormAlgorithm::kGrid) << what;
  EXPECT_EQ(plan.blocks, 132) << what;  // one block of 62 KB on each of the 132 SMs
  EXPECT_GE(plan.workspace_bytes, size_t{132} * 32 * 16 + 32 * 8) << what;
  plan = h100_nhwc_plan(1, 64, 65536, DataType::kFloat32, &what);
  EXPECT_EQ(plan.algorithm, NormAlgorithm::kGrid) << what;
  EXPECT_EQ(plan.blocks, 264) << what;  // 124 KB a block: two of 62 KB on each SM instead
  plan = h100_nhwc_plan(1, 64, 4 * 65536, DataType::kFloat32, &what);  // 67 MB: more than the SMs hold
  EXPECT_EQ(plan.algorithm, NormAlgorithm::kSplit) << what;
  plan = h100_nhwc_plan(32, 256, 3136, DataType::kFloat16, &what);  // groups fit clusters: kept
  EXPECT_EQ(plan.algorithm, NormAlgorithm::kCluster) << what;
}

TEST_F(CudaNorm, LayerNorm) {
  // Rows of whole 16-byte vectors up to 512 of them take the one-warp-per-row kernel (768, 320, 1280, 2048, 4096
  // and 40 in float16; 1000, 1024, 1280 and 2048 in float32), the others the group kernels. Few rows take blocks
  // of fewer warps.
  const int64_t shapes[][2] = {{1, 768},  {7, 1000},   {64, 4096},  {3, 13},   {2, 1 << 20}, {8192, 320},
                               {5, 1280}, {33, 2048},  {300, 40},   {2, 1024}, {4, 2056},    {64, 1280},
                               {9, 8192}, {1000, 1280}, {5, 4100}};
  int i = 0;
  for (const auto& sh : shapes)
    for (DataType dtype : kTypes) {
      // LayerNorm over cols == GroupNorm with C = cols, spatial = 1, one group: check it through the wrapper.
      Case c;
      c.N = sh[0];
      c.C = sh[1];
      c.HW = 1;
      c.G = 1;
      c.dtype = dtype;
      c.residual = i % 2 == 0;
      c.affine = i % 3 != 2;    // without gamma and beta the rows kernel takes 1 and 0
      c.in_place = i % 4 == 1;  // y may alias x: every row is read before it is written
      c.act = kActs[i++ % 8];
      SCOPED_TRACE(describe(c));
      normrt::cuda::LayerNormArgs ln;
      ln.rows = c.N;
      ln.cols = c.C;
      ln.dtype = dtype;
      ln.x = ln.y = reinterpret_cast<void*>(256);
      const GroupNormArgs g = normrt::cuda::layer_norm_as_group_norm(ln);
      EXPECT_EQ(g.N, c.N);
      EXPECT_EQ(g.C, c.C);
      EXPECT_EQ(g.spatial, 1);
      EXPECT_EQ(g.groups, 1);
      EXPECT_EQ(g.layout, Layout::kNCHW);
      const Outcome o = run_case(c);
      const int64_t V = dtype == DataType::kFloat32 ? 4 : 8;
      EXPECT_EQ(o.plan.rows, c.C % V == 0 && c.C / V <= 512);
    }
}

// Every number of warps a row may take computes the same thing: one warp per row and blocks of 2..16 warps a row
// (up to 4 vectors a thread, threads with no vector, rows of 5 vectors), over more rows than blocks (each block
// loops), with and without affine, residual and in place.
TEST_F(CudaNorm, LayerNormRowTeamsAgree) {
  const int64_t shapes[][2] = {{1, 768}, {5, 1280}, {64, 1280}, {7, 1000}, {33, 2048}, {3, 1536},
                               {300, 40}, {2, 1024}, {2000, 640}, {130, 160}};
  int i = 0;
  for (const auto& sh : shapes)
    for (DataType dtype : kTypes) {
      const int64_t V = dtype == DataType::kFloat32 ? 4 : 8;
      const int64_t nv = sh[1] / V;
      for (int warps : {0, 1, 2, 3, 5, 8, 16}) {
        if (warps > 1 && (nv + 32 * warps - 1) / (32 * warps) > 4) continue;
        Case c;
        c.N = sh[0];
        c.C = sh[1];
        c.dtype = dtype;
        c.row_warps = warps;
        c.residual = i % 2 == 0;
        c.affine = i % 3 != 2;
        c.in_place = i % 4 == 1;
        c.act = kActs[i++ % 8];
        SCOPED_TRACE(describe(c));
        const Outcome o = run_case(c);
        EXPECT_TRUE(o.plan.rows);
        if (warps) {
          EXPECT_EQ(o.plan.row_warps, warps);
        }
      }
    }
}

// Every cluster size the planner may choose computes the same thing, on the NHWC TMA kernel (sector-aligned
// rows, straddling vectors, clipped last boxes, trailing blocks with no rows, up to 16 blocks), the NHWC registers
// kernel (up to 16 blocks, blocks with no rows) and the NCHW bulk kernel alike.
TEST_F(CudaNorm, EveryClusterSizeAgrees) {
  const Shape shapes[] = {{2, 320, 3136, 32}, {3, 30, 1000, 10}, {1, 640, 49, 32}, {2, 64, 4096, 32},
                          {1, 96, 2051, 8}, {1, 64, 12544, 32}, {2, 40, 5, 4}};
  int i = 0;
  int tma = 0, registers = 0, tma16 = 0;
  for (const Shape& sh : shapes)
    for (Layout layout : kLayouts)
      for (DataType dtype : kTypes)
        for (NormAlgorithm algo : {NormAlgorithm::kCluster, NormAlgorithm::kRegisters})
        for (int cluster_size : {1, 2, 4, 8, 16}) {
          if (cluster_size == 16 && algo != NormAlgorithm::kRegisters && layout != Layout::kNHWC) continue;
          Case c = case_of(sh, layout, dtype, algo);
          c.cluster_size = cluster_size;
          c.act = kActs[i++ % 8];
          c.residual = i % 2 == 0;
          c.in_place = i % 3 == 0;
          const Status s = normrt::cuda::group_norm_plan(planning_args_of(c), nullptr);
          if (!s.ok()) {  // a block's share does not fit: the message says so and names the way out
            if (s.message.find("this GPU schedules clusters of at most 8") != std::string::npos) continue;
            // 16 on the shared-memory kernels: the NHWC TMA kernel only (16-byte vectors, rows of at most 256).
            if (cluster_size == 16 && algo == NormAlgorithm::kCluster &&
                (s.message.find("or 16 with kRegisters or the NHWC TMA kernel") != std::string::npos ||
                 s.message.find("needs the NHWC TMA kernel") != std::string::npos))
              continue;
            if (algo == NormAlgorithm::kRegisters) {
              EXPECT_NE(s.message.find("kRegisters needs NHWC"), std::string::npos) << s.message;
              const int64_t esize = dtype == DataType::kFloat32 ? 4 : 2;
              if (cluster_size < 16 && layout == Layout::kNHWC && (sh.C * esize) % 16 == 0) {
                EXPECT_NE(s.message.find("larger cluster_size"), std::string::npos) << s.message;
              }
            } else {
              EXPECT_NE(s.message.find("does not fit"), std::string::npos) << s.message;
              if (cluster_size < 8) {
                EXPECT_NE(s.message.find("larger cluster_size"), std::string::npos) << s.message;
              }
            }
            continue;
          }
          SCOPED_TRACE(describe(c));
          const Outcome o = run_case(c);
          EXPECT_EQ(o.plan.cluster_size, cluster_size);
          EXPECT_EQ(o.plan.algorithm, algo);
          if (o.plan.tma) {
            EXPECT_GE(o.plan.resident_clusters, 1);
            ++tma;
            tma16 += cluster_size == 16;
          }
          if (algo == NormAlgorithm::kRegisters) {
            EXPECT_GE(o.plan.resident_clusters, 1);
            ++registers;
          }
        }
  EXPECT_GT(tma, 20);
  EXPECT_GT(registers, 40);
  GroupNormArgs probe = planning_args(2, 320, 3136, 32, Layout::kNHWC, DataType::kFloat16, NormAlgorithm::kCluster);
  probe.cluster_size = 16;
  if (normrt::cuda::group_norm_plan(probe, nullptr).ok()) {  // the GPU schedules clusters of 16
    EXPECT_GT(tma16, 3);
  }
}

// The one-pass kernels on the copy engines at every block size they may be given: the NCHW bulk-copy kernel
// (groups in clusters of 1 to 8 blocks, small groups packed several to a block, spatial sizes whose channels
// straddle 16-byte vectors) takes it exactly; the NHWC TMA kernel (forced with kCluster) takes at most that many,
// whole rows of vectors. Activations, residuals and in place, every dtype in turn.
TEST_F(CudaNorm, CopyEngineKernelsAgreeAtEveryBlockSize) {
  const Shape shapes[] = {{1, 320, 4096, 32}, {4, 1280, 256, 32}, {3, 64, 1000, 8},
                          {2, 32, 6, 4},      {4, 96, 56, 32},    {1, 64, 12544, 32}};
  int i = 0, bulk = 0, tma = 0;
  for (const Shape& sh : shapes)
    for (Layout layout : kLayouts)
      for (int cluster_size : {0, 1, 2, 8})
        for (int threads : {0, 64, 96, 256, 512}) {
          const DataType dtype = kTypes[i % 3];
          const NormAlgorithm algo = layout == Layout::kNHWC ? NormAlgorithm::kCluster : NormAlgorithm::kAuto;
          Case c = case_of(sh, layout, dtype, algo);
          c.cluster_size = cluster_size;
          c.block_threads = threads;
          c.act = kActs[i++ % 8];
          c.residual = i % 2 == 0;
          c.in_place = i % 3 == 0;
          const Status s = normrt::cuda::group_norm_plan(planning_args_of(c), nullptr);
          if (!s.ok()) {  // the share does not fit a block, packed groups do not split into whole warps, or the
                          // NHWC rows are too wide for a TMA box
            const bool named = s.message.find("does not fit") != std::string::npos ||
                               s.message.find("teams of whole warps") != std::string::npos ||
                               (layout == Layout::kNHWC &&
                                s.message.find("applies to the one-pass kernels on the copy engines") !=
                                    std::string::npos);
            EXPECT_TRUE(named) << describe(c) << ": " << s.message;
            continue;
          }
          SCOPED_TRACE(describe(c));
          const Outcome o = run_case(c);
          EXPECT_TRUE(o.plan.bulk_copy || o.plan.tma);
          if (threads && o.plan.bulk_copy) {
            EXPECT_EQ(o.plan.threads, threads);
          }
          if (threads && o.plan.tma) {
            EXPECT_LE(o.plan.threads, threads);
          }
          bulk += o.plan.bulk_copy;
          tma += o.plan.tma;
        }
  EXPECT_GT(bulk, 60);
  EXPECT_GT(tma, 30);
}

// One-pass grids on the copy engines (NCHW bulk copy of one group a block, NHWC TMA) that need several waves at
// the planner's block size take fewer threads a block where that holds more of them at once (H100 and H200:
// 16x1280x16x16 in one wave of 256 threads instead of two of 320 or 512; 32x256x56x56 fp16 in two waves instead
// of four); a grid of one wave keeps its block size.
TEST_F(CudaNorm, CopyEngineGridsOfSeveralWavesTakeFewerThreads) {
  struct Expect {
    Shape sh;
    Layout layout;
    DataType dtype;
    int planned_threads;  // the planner's block size before the device is asked
  };
  const Expect cases[] = {{{16, 1280, 256, 32}, Layout::kNCHW, DataType::kFloat16, 320},
                          {{16, 1280, 256, 32}, Layout::kNCHW, DataType::kFloat32, 512},
                          {{32, 256, 3136, 32}, Layout::kNCHW, DataType::kFloat16, 512},
                          {{8, 640, 1024, 32}, Layout::kNCHW, DataType::kFloat16, 512},
                          {{16, 1280, 256, 32}, Layout::kNHWC, DataType::kFloat32, 512}};
  auto waves = [](const GroupNormPlan& p) {
    const int64_t units = p.blocks / std::max(1, p.cluster_size);
    return (units + p.resident_clusters - 1) / std::max<int64_t>(1, p.resident_clusters);
  };
  for (const Expect& e : cases) {
    SCOPED_TRACE(std::to_string(e.sh.N) + "x" + std::to_string(e.sh.C) + "x" + std::to_string(e.sh.HW) + " " +
                 name(e.dtype) + (e.layout == Layout::kNCHW ? " NCHW" : " NHWC"));
    GroupNormArgs a = planning_args(e.sh.N, e.sh.C, e.sh.HW, e.sh.G, e.layout, e.dtype);
    GroupNormPlan planned, chosen;
    a.block_threads = e.planned_threads;
    ASSERT_TRUE(normrt::cuda::group_norm_plan(a, &planned).ok());
    a.block_threads = 0;
    ASSERT_TRUE(normrt::cuda::group_norm_plan(a, &chosen).ok());
    ASSERT_TRUE(e.layout == Layout::kNCHW ? chosen.bulk_copy : chosen.tma);
    ASSERT_EQ(planned.threads, e.planned_threads);
    ASSERT_GT(planned.resident_clusters, 0);
    ASSERT_GT(chosen.resident_clusters, 0);
    if (waves(planned) == 1) {
      EXPECT_EQ(chosen.threads, e.planned_threads);
      continue;
    }
    EXPECT_LT(chosen.threads, e.planned_threads);
    EXPECT_LT(waves(chosen), waves(planned));
    Case c = case_of(e.sh, e.layout, e.dtype);
    c.act = Activation::kSilu;
    c.residual = true;
    const Outcome o = run_case(c);
    EXPECT_EQ(o.plan.threads, chosen.threads);
  }
}

TEST_F(CudaNorm, BadArgumentsAreErrorsThatSayWhy) {
  DeviceBuffer buf(1 << 20);
  GroupNormArgs a;
  a.x = a.y = buf.ptr;
  a.N = 2;
  a.C = 30;
  a.spatial = 10;
  a.groups = 4;
  Status s = normrt::cuda::group_norm_forward(a, nullptr);
  EXPECT_EQ(s.cuda, cudaErrorInvalidValue);
  EXPECT_NE(s.message.find("groups must divide C"), std::string::npos) << s.message;

  a.groups = 3;
  a.x = nullptr;
  s = normrt::cuda::group_norm_forward(a, nullptr);
  EXPECT_NE(s.message.find("x is null"), std::string::npos) << s.message;

  a.x = buf.ptr;
  a.algorithm = NormAlgorithm::kSplit;
  s = normrt::cuda::group_norm_forward(a, nullptr);
  EXPECT_NE(s.message.find("workspace"), std::string::npos) << s.message;
  EXPECT_GT(normrt::cuda::group_norm_workspace_bytes(a), 0u);

  a.algorithm = NormAlgorithm::kCluster;
  a.N = 1;
  a.C = 1;
  a.groups = 1;
  a.spatial = 1 << 22;  // 16 MB in one group: more than a cluster's shared memory
  a.x = a.y = reinterpret_cast<void*>(256);
  s = normrt::cuda::group_norm_plan(a, nullptr);
  EXPECT_NE(s.message.find("does not fit"), std::string::npos) << s.message;
  a.algorithm = NormAlgorithm::kAuto;
  GroupNormPlan plan;
  ASSERT_TRUE(normrt::cuda::group_norm_plan(a, &plan).ok());
  EXPECT_EQ(plan.algorithm, NormAlgorithm::kSplit);

  a.cluster_size = 3;
  s = normrt::cuda::group_norm_plan(a, nullptr);
  EXPECT_NE(
      s.message.find("cluster_size must be 0 (the planner's choice), 1, 2, 4 or 8 (or 16 with kRegisters or the NHWC "
                     "TMA kernel), got 3"),
      std::string::npos)
      << s.message;
  a.cluster_size = 16;  // beyond the portable cluster size: the registers kernel only
  s = normrt::cuda::group_norm_plan(a, nullptr);
  EXPECT_NE(s.message.find("(or 16 with kRegisters or the NHWC TMA kernel), got 16"), std::string::npos) << s.message;
  a.algorithm = NormAlgorithm::kRegisters;  // NCHW
  s = normrt::cuda::group_norm_plan(a, nullptr);
  EXPECT_NE(s.message.find("kRegisters needs NHWC"), std::string::npos) << s.message;
  EXPECT_NE(s.message.find("use kAuto, kCluster or kSplit"), std::string::npos) << s.message;
  a.algorithm = NormAlgorithm::kAuto;
  a.cluster_size = 8;
  s = normrt::cuda::group_norm_plan(a, nullptr);  // 16 MB: not even an 8-block cluster holds it
  EXPECT_NE(s.message.find("does not fit the shared memory of a 8-block cluster; use NormAlgorithm::kSplit"),
            std::string::npos)
      << s.message;
  a.cluster_size = 2;
  a.algorithm = NormAlgorithm::kSplit;
  s = normrt::cuda::group_norm_plan(a, nullptr);
  EXPECT_NE(s.message.find("cluster_size applies to the one-pass kernels"), std::string::npos) << s.message;
  a.cluster_size = 0;
  a.algorithm = NormAlgorithm::kAuto;

  a.spatial = 10;
  a.epsilon = -1.0f;
  s = normrt::cuda::group_norm_plan(a, nullptr);
  EXPECT_NE(s.message.find("epsilon"), std::string::npos) << s.message;
}

}  // namespace
