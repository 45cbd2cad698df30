// normrt's fused GroupNorm kernels against the same-size device-to-device copy, timed as ../shared/GPU.md says:
// many calls captured in one CUDA graph and replayed, inputs and outputs rotated over enough buffers to exceed
// three times the L2, median of several replays. Also reports the per-call time with launch (plain stream
// launches, no graph). One JSON line per (shape, dtype, layout) on --out, a table on stdout.
//
//   gpu_norm_bench [--out results.jsonl] [--replays 15] [--quick] [--only 8x320x64x64:fp16:NCHW] [--profile]
//                  [--cluster 1|2|4|8|16] [--shape NxCxHxW:G ...] [--hot] [--no-pdl] [--split|--registers|--smem|--grid]
// --cluster fixes the blocks per unit instead of the planner's choice; --shape replaces the default shapes;
// --hot rotates over two buffer pairs only, so small tensors stay in L2 as they do between a network's layers.
// --no-pdl launches without programmatic dependent launch (each call then starts after the previous one ends).
// --split forces the two-kernel algorithm (statistics, then normalize); --registers the NHWC registers kernel
// and --smem the shared-memory one-pass kernels (kCluster), the two kAuto chooses between; --grid the NHWC
// whole-grid one-pass kernel (kGrid).
// --block-threads fixes the NCHW bulk-copy kernel's block size and caps the NHWC TMA kernel's
// (GroupNormArgs::block_threads); shapes that take another kernel are skipped.
// --profile: no timing, three plain launches of GN+SiLU per selected case (for ncu).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cuda/group_norm.h"

namespace {

using normrt::cuda::Activation;
using normrt::cuda::DataType;
using normrt::cuda::GroupNormArgs;
using normrt::cuda::GroupNormPlan;
using normrt::cuda::Layout;
using normrt::cuda::NormAlgorithm;

#define CHECK(call)                                                                                     \
  do {                                                                                                  \
    cudaError_t e_ = (call);                                                                            \
    if (e_ != cudaSuccess) {                                                                            \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_));        \
      std::exit(1);                                                                                     \
    }                                                                                                   \
  } while (0)

__device__ uint32_t hash32(uint64_t i, uint32_t seed) {
  uint64_t z = i * 0x9E3779B97F4A7C15ull + seed;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return static_cast<uint32_t>(z ^ (z >> 31));
}

// Random data, not zeros: roughly normal (sum of three uniforms), a different offset per (element / 4096).
template <typename T>
__global__ void fill_random(T* p, size_t n, uint32_t seed) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const float u = (hash32(i, seed) >> 8) * (1.0f / 16777216.0f) + (hash32(i, seed + 1) >> 8) * (1.0f / 16777216.0f) +
                    (hash32(i, seed + 2) >> 8) * (1.0f / 16777216.0f) - 1.5f;
    const float offset = (hash32(i >> 12, seed + 3) >> 8) * (1.0f / 16777216.0f) - 0.5f;
    const float v = 2.0f * u + offset;
    if constexpr (sizeof(T) == 4) {
      p[i] = v;
    } else if constexpr (std::is_same<T, __half>::value) {
      p[i] = __float2half(v);
    } else {
      p[i] = __float2bfloat16(v);
    }
  }
}

void fill(void* p, size_t n, DataType t, uint32_t seed) {
  const int blocks = 1024, threads = 256;
  if (t == DataType::kFloat32) fill_random<float><<<blocks, threads>>>(static_cast<float*>(p), n, seed);
  if (t == DataType::kFloat16) fill_random<__half><<<blocks, threads>>>(static_cast<__half*>(p), n, seed);
  if (t == DataType::kBFloat16)
    fill_random<__nv_bfloat16><<<blocks, threads>>>(static_cast<__nv_bfloat16*>(p), n, seed);
  CHECK(cudaGetLastError());
}

struct Shape {
  int N, C, H, W, G;
};

const std::vector<Shape> kShapes = {{2, 320, 64, 64, 32}, {8, 320, 64, 64, 32},  {8, 640, 32, 32, 32},
                                    {16, 1280, 16, 16, 32}, {32, 256, 56, 56, 32}, {1, 64, 256, 256, 32},
                                    {1, 512, 64, 64, 32},  {64, 512, 8, 8, 32}};

// Median microseconds per call of a graph of `iters` calls built by `body(i)`.
template <typename Body>
double time_graph(cudaStream_t stream, int iters, int replays, Body body) {
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  for (int i = 0; i < iters; ++i) body(i);
  CHECK(cudaStreamEndCapture(stream, &graph));
  CHECK(cudaGraphInstantiate(&exec, graph, 0));
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < 3; ++i) CHECK(cudaGraphLaunch(exec, stream));
  std::vector<double> times;
  for (int r = 0; r < replays; ++r) {
    CHECK(cudaEventRecord(start, stream));
    CHECK(cudaGraphLaunch(exec, stream));
    CHECK(cudaEventRecord(stop, stream));
    CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    CHECK(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(1000.0 * ms / iters);
  }
  CHECK(cudaEventDestroy(start));
  CHECK(cudaEventDestroy(stop));
  CHECK(cudaGraphExecDestroy(exec));
  CHECK(cudaGraphDestroy(graph));
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Median microseconds per call of `iters` plain stream launches (launch cost included).
template <typename Body>
double time_launches(cudaStream_t stream, int iters, int replays, Body body) {
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < iters; ++i) body(i);
  std::vector<double> times;
  for (int r = 0; r < replays; ++r) {
    CHECK(cudaEventRecord(start, stream));
    for (int i = 0; i < iters; ++i) body(i);
    CHECK(cudaEventRecord(stop, stream));
    CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    CHECK(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(1000.0 * ms / iters);
  }
  CHECK(cudaEventDestroy(start));
  CHECK(cudaEventDestroy(stop));
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

const char* dtype_name(DataType t) {
  return t == DataType::kFloat32 ? "fp32" : t == DataType::kFloat16 ? "fp16" : "bf16";
}

}  // namespace

int main(int argc, char** argv) {
  const char* out_path = nullptr;
  int replays = 15;
  bool quick = false, profile = false;
  int cluster_size = 0;
  int row_warps = 0;
  int register_vectors = 0;
  int block_threads = 0;
  std::vector<std::string> only;
  std::vector<Shape> shapes;  // --shape; kShapes when none is given
  bool hot = false;
  bool programmatic = true;
  NormAlgorithm algorithm = NormAlgorithm::kAuto;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--out") && i + 1 < argc) {
      out_path = argv[++i];
    } else if (!std::strcmp(argv[i], "--replays") && i + 1 < argc) {
      replays = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--quick")) {
      quick = true;
    } else if (!std::strcmp(argv[i], "--hot")) {
      hot = true;
    } else if (!std::strcmp(argv[i], "--no-pdl")) {
      programmatic = false;
    } else if (!std::strcmp(argv[i], "--split")) {
      algorithm = NormAlgorithm::kSplit;
    } else if (!std::strcmp(argv[i], "--registers")) {
      algorithm = NormAlgorithm::kRegisters;
    } else if (!std::strcmp(argv[i], "--smem")) {
      algorithm = NormAlgorithm::kCluster;
    } else if (!std::strcmp(argv[i], "--grid")) {
      algorithm = NormAlgorithm::kGrid;
    } else if (!std::strcmp(argv[i], "--profile")) {
      profile = true;
    } else if (!std::strcmp(argv[i], "--only") && i + 1 < argc) {
      only.push_back(argv[++i]);
    } else if (!std::strcmp(argv[i], "--shape") && i + 1 < argc) {
      // Replaces the default list (repeatable): NxCxHxW:G, e.g. ResNet-50's 1x256x56x56:32.
      Shape sh{};
      if (std::sscanf(argv[++i], "%dx%dx%dx%d:%d", &sh.N, &sh.C, &sh.H, &sh.W, &sh.G) != 5 || sh.N <= 0 ||
          sh.C <= 0 || sh.H <= 0 || sh.W <= 0 || sh.G <= 0 || sh.C % sh.G != 0) {
        std::fprintf(stderr, "--shape wants NxCxHxW:G with G dividing C, got %s\n", argv[i]);
        return 2;
      }
      shapes.push_back(sh);
    } else if (!std::strcmp(argv[i], "--cluster") && i + 1 < argc) {
      cluster_size = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--row-warps") && i + 1 < argc) {
      row_warps = std::atoi(argv[++i]);  // LayerNorm-shaped rows (HxW 1x1, G 1) only
    } else if (!std::strcmp(argv[i], "--register-vectors") && i + 1 < argc) {
      register_vectors = std::atoi(argv[++i]);  // what the kRegisters plan aims for a thread
    } else if (!std::strcmp(argv[i], "--block-threads") && i + 1 < argc) {
      block_threads = std::atoi(argv[++i]);  // the copy-engine kernels' block size
    } else {
      std::fprintf(stderr, "usage: %s [--out results.jsonl] [--replays N] [--quick] [--only NxCxHxW:dtype:layout]"
                   " [--profile] [--cluster 1|2|4|8|16] [--row-warps 1..16] [--register-vectors 1|2|4|8] [--block-threads 64..512] [--shape NxCxHxW:G ...] [--hot] [--no-pdl]"
                   " [--split|--registers|--smem|--grid]\n", argv[0]);
      return 2;
    }
  }
  if (shapes.empty()) shapes = kShapes;
  FILE* out = out_path ? std::fopen(out_path, "w") : nullptr;
  if (out_path && !out) {
    std::fprintf(stderr, "cannot write %s\n", out_path);
    return 1;
  }

  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  const double l2 = prop.l2CacheSize;
  cudaStream_t stream;
  CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));

  // The ceiling: a 1 GiB device-to-device copy (bytes read + bytes written).
  double peak_tbs = 0;
  {
    const size_t big = size_t{1} << 30;
    void *a, *b;
    CHECK(cudaMalloc(&a, big));
    CHECK(cudaMalloc(&b, big));
    fill(a, big / 4, DataType::kFloat32, 7);
    const double us = time_graph(stream, 5, 5, [&](int) {
      CHECK(cudaMemcpyAsync(b, a, big, cudaMemcpyDeviceToDevice, stream));
    });
    peak_tbs = 2.0 * big / (us * 1e-6) / 1e12;
    CHECK(cudaFree(a));
    CHECK(cudaFree(b));
  }
  std::printf("# %s, %d SMs, L2 %.0f MB; 1 GiB copy: %.2f TB/s (read + write)\n", prop.name,
              prop.multiProcessorCount, l2 / 1e6, peak_tbs);
  if (out)
    std::fprintf(out, "{\"gpu\": \"%s\", \"sms\": %d, \"l2_bytes\": %.0f, \"copy_1GiB_tbs\": %.4f}\n", prop.name,
                 prop.multiProcessorCount, l2, peak_tbs);

  std::printf("%-16s %-4s %-4s %7s %7s | %8s %8s %8s %6s %6s | %8s | %s\n", "shape", "type", "lay", "MB",
              "floor", "copy us", "GN us", "GN+SiLU", "%copy", "%copy", "launch", "plan");
  for (DataType dtype : {DataType::kFloat16, DataType::kFloat32})
    for (Layout layout : {Layout::kNCHW, Layout::kNHWC})
      for (const Shape& sh : shapes) {
        if (quick && sh.N > 8) continue;
        char key[96];
        std::snprintf(key, sizeof(key), "%dx%dx%dx%d:%s:%s", sh.N, sh.C, sh.H, sh.W, dtype_name(dtype),
                      layout == Layout::kNCHW ? "NCHW" : "NHWC");
        if (!only.empty() && std::find(only.begin(), only.end(), std::string(key)) == only.end()) continue;
        const size_t esize = dtype == DataType::kFloat32 ? 4 : 2;
        const size_t count = static_cast<size_t>(sh.N) * sh.C * sh.H * sh.W;
        const size_t bytes = count * esize;
        // x and y rotate over `sets` pairs: together more than 3x the L2, so every call reads from HBM (--hot:
        // two pairs, which stay in L2).
        const int sets = hot ? 2 : std::max(2, static_cast<int>(std::ceil(3.0 * l2 / (2.0 * bytes))) + 1);
        const double est_us = 2.0 * bytes / (peak_tbs * 1e12) * 1e6 + 2.0;
        const int iters = std::max(20, std::min(1000, static_cast<int>(3000.0 / est_us)));

        std::vector<void*> xs(sets), ys(sets);
        for (int s = 0; s < sets; ++s) {
          CHECK(cudaMalloc(&xs[s], bytes));
          CHECK(cudaMalloc(&ys[s], bytes));
          fill(xs[s], count, dtype, 100 + s);
          CHECK(cudaMemset(ys[s], 0, bytes));
        }
        float *gamma, *beta;
        CHECK(cudaMalloc(&gamma, sh.C * sizeof(float)));
        CHECK(cudaMalloc(&beta, sh.C * sizeof(float)));
        fill(gamma, sh.C, DataType::kFloat32, 3);
        fill(beta, sh.C, DataType::kFloat32, 4);

        GroupNormArgs a;
        a.gamma = gamma;
        a.beta = beta;
        a.N = sh.N;
        a.C = sh.C;
        a.spatial = static_cast<int64_t>(sh.H) * sh.W;
        a.groups = sh.G;
        a.layout = layout;
        a.dtype = dtype;
        a.epsilon = 1e-5f;
        a.x = xs[0];
        a.y = ys[0];
        a.cluster_size = cluster_size;
        a.row_warps = sh.H * sh.W == 1 && sh.G == 1 ? row_warps : 0;
        a.register_vectors = register_vectors;
        a.block_threads = block_threads;
        a.programmatic_launch = programmatic;
        a.algorithm = algorithm;
        GroupNormPlan plan;
        normrt::cuda::Status st = normrt::cuda::group_norm_plan(a, &plan);
        // A fixed cluster size or the registers kernel need not fit every shape.
        if (!st.ok() && (cluster_size || a.row_warps || block_threads ||
                         algorithm == NormAlgorithm::kRegisters ||
                         algorithm == NormAlgorithm::kGrid)) {
          std::printf("%s: no plan with --cluster %d --row-warps %d --block-threads %d --algorithm %s: %s\n", key,
                      cluster_size, a.row_warps, block_threads, normrt::cuda::to_string(algorithm),
                      st.message.c_str());
          for (int s = 0; s < sets; ++s) {
            CHECK(cudaFree(xs[s]));
            CHECK(cudaFree(ys[s]));
          }
          CHECK(cudaFree(gamma));
          CHECK(cudaFree(beta));
          continue;
        }
        if (!st.ok()) {
          std::fprintf(stderr, "plan failed: %s\n", st.message.c_str());
          return 1;
        }
        void* ws = nullptr;
        if (plan.workspace_bytes) CHECK(cudaMalloc(&ws, plan.workspace_bytes));
        a.workspace = ws;
        a.workspace_bytes = plan.workspace_bytes;

        auto run = [&](int i, Activation act) {
          GroupNormArgs c = a;
          c.x = xs[i % sets];
          c.y = ys[i % sets];
          c.activation = act;
          normrt::cuda::Status s = normrt::cuda::group_norm_forward(c, stream);
          if (!s.ok()) {
            std::fprintf(stderr, "group_norm_forward: %s\n", s.message.c_str());
            std::exit(1);
          }
        };
        // Warm-up outside the capture (first launch sets the kernel's shared-memory limit).
        run(0, Activation::kSilu);
        run(0, Activation::kNone);
        CHECK(cudaStreamSynchronize(stream));
        CHECK(cudaGetLastError());
        if (profile) {
          for (int i = 1; i <= 3; ++i) run(i, Activation::kSilu);
          CHECK(cudaStreamSynchronize(stream));
          for (int s = 0; s < sets; ++s) {
            CHECK(cudaFree(xs[s]));
            CHECK(cudaFree(ys[s]));
          }
          continue;
        }

        const double copy_us = time_graph(stream, iters, replays, [&](int i) {
          CHECK(cudaMemcpyAsync(ys[i % sets], xs[i % sets], bytes, cudaMemcpyDeviceToDevice, stream));
        });
        const double gn_us = time_graph(stream, iters, replays, [&](int i) { run(i, Activation::kNone); });
        const double silu_us = time_graph(stream, iters, replays, [&](int i) { run(i, Activation::kSilu); });
        const double launch_us =
            time_launches(stream, iters, std::max(3, replays / 3), [&](int i) { run(i, Activation::kSilu); });
        CHECK(cudaStreamSynchronize(stream));
        CHECK(cudaGetLastError());

        // Sanity: the output is finite (the tests check values; this catches a broken benchmark build).
        {
          std::vector<uint16_t> h(std::min<size_t>(count, 4096) * esize / 2);
          CHECK(cudaMemcpy(h.data(), ys[0], h.size() * 2, cudaMemcpyDeviceToHost));
          bool finite = true;
          for (size_t i = 0; i < h.size(); ++i) {
            if (esize == 2 && (h[i] & 0x7c00u) == 0x7c00u) finite = false;
            if (esize == 4 && i % 2 == 1 && (h[i] & 0x7f80u) == 0x7f80u) finite = false;
          }
          if (!finite) std::printf("WARNING: non-finite output\n");
        }

        const double floor_us = 2.0 * bytes / (peak_tbs * 1e12) * 1e6;
        char shape[64];
        std::snprintf(shape, sizeof(shape), "%dx%dx%dx%d", sh.N, sh.C, sh.H, sh.W);
        // res: clusters the device holds at once; waves: how many rounds the kernel's units take.
        const long long units = plan.blocks / std::max(1, plan.cluster_size);
        char waves[64] = "";
        if (plan.resident_clusters > 0)
          std::snprintf(waves, sizeof(waves), " res=%lld waves=%lld", static_cast<long long>(plan.resident_clusters),
                        (units + plan.resident_clusters - 1) / plan.resident_clusters);
        char plan_text[200];
        char kind[32];
        std::snprintf(kind, sizeof(kind), "%s", plan.bulk_copy ? "+bulk" : plan.tma ? "+tma" : "");
        if (plan.rows) std::snprintf(kind, sizeof(kind), "+rows(%d warps a row)", plan.row_warps);
        std::snprintf(plan_text, sizeof(plan_text), "%s%s cl=%d thr=%d vec=%dB k=%d blk=%lld smem=%zuK%s",
                      normrt::cuda::to_string(plan.algorithm), kind, plan.cluster_size,
                      plan.threads, plan.vector_bytes,
                      plan.groups_per_unit, static_cast<long long>(plan.blocks), plan.shared_bytes / 1024, waves);
        std::printf("%-16s %-4s %-4s %7.1f %7.2f | %8.2f %8.2f %8.2f %5.0f%% %5.0f%% | %8.2f | %s\n", shape,
                    dtype_name(dtype), layout == Layout::kNCHW ? "NCHW" : "NHWC", 2.0 * bytes / 1e6, floor_us,
                    copy_us, gn_us, silu_us, 100.0 * copy_us / gn_us, 100.0 * copy_us / silu_us, launch_us,
                    plan_text);
        std::fflush(stdout);
        if (out) {
          std::fprintf(out,
                       "{\"N\": %d, \"C\": %d, \"H\": %d, \"W\": %d, \"G\": %d, \"dtype\": \"%s\", \"layout\": \"%s\", "
                       "\"bytes_moved\": %zu, \"floor_us\": %.3f, \"copy_us\": %.3f, \"normrt_gn_us\": %.3f, "
                       "\"normrt_gn_silu_us\": %.3f, \"normrt_launch_us\": %.3f, \"iters\": %d, \"sets\": %d, "
                       "\"plan\": \"%s\", \"pdl\": %s}\n",
                       sh.N, sh.C, sh.H, sh.W, sh.G, dtype_name(dtype), layout == Layout::kNCHW ? "NCHW" : "NHWC",
                       2 * bytes, floor_us, copy_us, gn_us, silu_us, launch_us, iters, sets, plan_text,
                       programmatic ? "true" : "false");
          std::fflush(out);
        }
        for (int s = 0; s < sets; ++s) {
          CHECK(cudaFree(xs[s]));
          CHECK(cudaFree(ys[s]));
        }
        CHECK(cudaFree(gamma));
        CHECK(cudaFree(beta));
        if (ws) CHECK(cudaFree(ws));
      }
  if (out) std::fclose(out);
  CHECK(cudaStreamDestroy(stream));
  return 0;
}
