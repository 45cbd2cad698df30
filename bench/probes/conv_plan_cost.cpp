// Probe (not built by CMake): what cuDNN's graph API costs the host for the convolutions normrt tunes and runs.
// For SD-1.5 UNet convolutions (NHWC, bias and residual fused as conv_residual_fusion writes them; fp16, and fp32
// with TF32 allowed), it times ConvGraph::build (the operation graph and heuristics), then plan(rank) (the
// execution plan's finalize) for the first 10 ranked engines, with each engine's behaviour notes (runtime
// compilation: a kernel compiled while the plan finalizes) and its run time. tune() finalizes all of them at
// every profile corner; run() builds the graph again and finalizes the chosen engine at each new shape, so the
// finalize times are the first-run stall a new batch size meets. Each problem runs at batch N, then N + 1, to show
// whether cuDNN reuses a compiled kernel for a new shape within the process; then both again with the graph marked
// dynamic-shape and one kernel cache (CUDNN_BACKEND_KERNEL_CACHE_DESCRIPTOR, cuDNN 9.5+) shared by both shapes, the
// documented way to compile once for a graph's topology.
//
// Built here (the GPU machine runs it from the pack: cp build/conv_plan_cost .devcarry/bin/):
//   g++ -std=c++17 -O2 -I src -I /usr/local/cuda/include bench/probes/conv_plan_cost.cpp src/cuda/cudnn_graph.cpp
//       -L /usr/local/cuda/lib -lcudnn -lcudart -o build/conv_plan_cost
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "cuda/cudnn_graph.h"
#include "probe_timing.h"

using normrt::cuda::BackendDescriptor;
using normrt::cuda::ConvGraph;
using normrt::cuda::ConvGraphSpec;

namespace {

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

struct Problem {
  const char* name;
  int64_t n, c, h, w, k, r, stride;
  bool residual;
};

ConvGraphSpec spec_of(const Problem& p, int64_t n, bool fp16) {
  ConvGraphSpec s;
  s.io_type = fp16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
  s.allow_tf32 = !fp16;
  s.channels_last = true;
  const int64_t pad = p.r / 2;
  const int64_t oh = (p.h + 2 * pad - p.r) / p.stride + 1, ow = (p.w + 2 * pad - p.r) / p.stride + 1;
  const int64_t x[4] = {n, p.c, p.h, p.w}, w[4] = {p.k, p.c, p.r, p.r}, y[4] = {n, p.k, oh, ow};
  std::copy(x, x + 4, s.x);
  std::copy(w, w + 4, s.w);
  std::copy(y, y + 4, s.y);
  s.pre_pad[0] = s.pre_pad[1] = s.post_pad[0] = s.post_pad[1] = pad;
  s.stride[0] = s.stride[1] = p.stride;
  s.bias = true;
  s.residual = p.residual;
  return s;
}

// The behaviour notes of the engine behind a finalized plan, as letters: R runtime compilation, else '-'.
std::string behaviour_of(const ConvGraph::Plan& plan) {
  BackendDescriptor config, engine;
  int64_t count = 0;
  if (config.create(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR) != CUDNN_STATUS_SUCCESS ||
      cudnnBackendGetAttribute(plan.plan.get(), CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                               CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count, config.address()) != CUDNN_STATUS_SUCCESS ||
      engine.create(CUDNN_BACKEND_ENGINE_DESCRIPTOR) != CUDNN_STATUS_SUCCESS ||
      cudnnBackendGetAttribute(config.get(), CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count,
                               engine.address()) != CUDNN_STATUS_SUCCESS)
    return "?";
  cudnnBackendBehaviorNote_t notes[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT];
  count = 0;
  if (cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                               CUDNN_BEHAVIOR_NOTE_TYPE_COUNT, &count, notes) != CUDNN_STATUS_SUCCESS)
    return "?";
  std::string s;
  for (int64_t i = 0; i < count; ++i) s += notes[i] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION ? "R" : "o";
  return s.empty() ? "-" : s;
}

struct Buffers {
  void *x = nullptr, *w = nullptr, *b = nullptr, *r = nullptr, *y = nullptr, *workspace = nullptr;
  size_t workspace_bytes = 256u << 20;
  Buffers(const ConvGraphSpec& s, size_t elem) {
    auto bytes = [&](const int64_t* d) { return static_cast<size_t>(d[0] * d[1] * d[2] * d[3]) * elem; };
    CHECK(cudaMalloc(&x, bytes(s.x)));
    CHECK(cudaMalloc(&w, bytes(s.w)));
    CHECK(cudaMalloc(&b, static_cast<size_t>(s.y[1]) * elem));
    CHECK(cudaMalloc(&r, bytes(s.y)));
    CHECK(cudaMalloc(&y, bytes(s.y)));
    CHECK(cudaMalloc(&workspace, workspace_bytes));
    CHECK(cudaMemset(x, 0, bytes(s.x)));
    CHECK(cudaMemset(w, 0, bytes(s.w)));
    CHECK(cudaMemset(b, 0, static_cast<size_t>(s.y[1]) * elem));
    CHECK(cudaMemset(r, 0, bytes(s.y)));
  }
  ~Buffers() {
    for (void* p : {x, w, b, r, y, workspace}) cudaFree(p);
  }
};

// Median ms of `runs` executions, each between two events.
float run_ms(cudnnHandle_t handle, cudaStream_t stream, const ConvGraph::Plan& plan, const Buffers& buf,
             bool residual, int runs) {
  cudaEvent_t a, b;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  std::vector<float> ms;
  for (int i = 0; i < runs + 1; ++i) {
    CHECK(cudaEventRecord(a, stream));
    if (ConvGraph::execute(handle, plan, buf.x, buf.w, buf.b, residual ? buf.r : nullptr, buf.y, buf.workspace) !=
        CUDNN_STATUS_SUCCESS)
      return -1;
    CHECK(cudaEventRecord(b, stream));
    CHECK(cudaEventSynchronize(b));
    float m = 0;
    CHECK(cudaEventElapsedTime(&m, a, b));
    if (i > 0) ms.push_back(m);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main() {
  cudaStream_t stream;
  CHECK(cudaStreamCreate(&stream));
  cudnnHandle_t handle;
  if (cudnnCreate(&handle) != CUDNN_STATUS_SUCCESS || cudnnSetStream(handle, stream) != CUDNN_STATUS_SUCCESS) {
    std::printf("cudnnCreate failed\n");
    return 1;
  }
  cudaDeviceProp prop{};
  CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("%s, cuDNN %zu\n", prop.name, cudnnGetVersion());
  // SD-1.5's UNet at a 64x64 latent: the resblock convolutions at each width (their second conv adds the skip),
  // a 1x1 projection with the skip, and a stride-2 downsample.
  const Problem problems[] = {
      {"3x3 320 64x64 +R", 8, 320, 64, 64, 320, 3, 1, true},   {"3x3 320 64x64", 8, 320, 64, 64, 320, 3, 1, false},
      {"3x3 640 32x32 +R", 8, 640, 32, 32, 640, 3, 1, true},   {"3x3 1280 16x16 +R", 8, 1280, 16, 16, 1280, 3, 1, true},
      {"1x1 320 64x64 +R", 8, 320, 64, 64, 320, 1, 1, true},   {"3x3/2 320 64x64", 8, 320, 64, 64, 320, 3, 2, false},
  };
  for (bool fp16 : {true, false})
    for (const Problem& p : problems)
      for (bool dynamic : {false, true}) {
        std::vector<std::unique_ptr<ConvGraph>> graphs;  // alive while the cache that names the first one is
        BackendDescriptor cache;                         // dynamic: one kernel cache for both shapes
        for (int64_t n : {p.n, p.n + 1}) {
          ConvGraphSpec spec = spec_of(p, n, fp16);
          spec.dynamic_shape = dynamic;
          Buffers buf(spec, fp16 ? 2 : 4);
          graphs.push_back(std::make_unique<ConvGraph>());
          ConvGraph& graph = *graphs.back();
          std::string error;
          auto start = std::chrono::steady_clock::now();
          if (!graph.build(handle, spec, &error)) {
            std::printf("%s %s N=%lld%s: build failed: %s\n", fp16 ? "fp16" : "tf32", p.name,
                        static_cast<long long>(n), dynamic ? " dynamic" : "", error.c_str());
            continue;
          }
          const double build_ms = ms_since(start);
          if (dynamic && !cache.get()) {
            cudnnBackendDescriptor_t op_graph = graph.operation_graph();
            if (cache.create(CUDNN_BACKEND_KERNEL_CACHE_DESCRIPTOR) != CUDNN_STATUS_SUCCESS ||
                cudnnBackendSetAttribute(cache.get(), CUDNN_ATTR_KERNEL_CACHE_OPERATION_GRAPH,
                                         CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &op_graph) != CUDNN_STATUS_SUCCESS ||
                cudnnBackendFinalize(cache.get()) != CUDNN_STATUS_SUCCESS) {
              std::printf("  kernel cache refused\n");
              cache.reset();
            }
          }
          std::printf("== %s %s N=%lld%s: build %.1f ms, %zu candidates\n", fp16 ? "fp16" : "tf32", p.name,
                      static_cast<long long>(n), dynamic ? " dynamic + kernel cache" : "", build_ms,
                      graph.candidates());
          double total_finalize = 0;
          for (size_t rank = 0; rank < graph.candidates() && rank < 10; ++rank) {
            start = std::chrono::steady_clock::now();
            auto plan = graph.plan(rank, dynamic ? cache.get() : nullptr);
            const double finalize_ms = ms_since(start);
            total_finalize += finalize_ms;
            if (!plan) {
              std::printf("  rank %zu: no plan (refused or numerics) %.1f ms\n", rank, finalize_ms);
              continue;
            }
            const bool fits = static_cast<size_t>(plan->workspace_bytes) <= buf.workspace_bytes;
            const float run = fits ? run_ms(handle, stream, *plan, buf, spec.residual, 5) : -1;
            std::printf("  rank %zu: engine %lld notes %s finalize %.1f ms, workspace %lld B, run %.4f ms\n", rank,
                        static_cast<long long>(plan->engine), behaviour_of(*plan).c_str(), finalize_ms,
                        static_cast<long long>(plan->workspace_bytes), run);
          }
          std::printf("  finalizing the first 10: %.1f ms\n", total_finalize);
        }
      }
  cudnnDestroy(handle);
  return 0;
}
