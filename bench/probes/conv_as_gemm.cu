// Probe (not built by CMake): NHWC 3x3 convolutions with few output tiles, as im2col + a cuBLASLt GEMM with
// split-K, against what normrt's tune() picks from today (cuDNN's legacy algorithms and its first ten precompiled
// graph engines). The SD-1.5 UNet's 1280-channel convolutions at 8x8 take 35-37 us at batch 1 in tf32 on an H200
// where reading their 59 MB of fp32 weights takes about 12 us (bench/results/2026-11-28-session19.md): few
// output tiles (M = N*H*W = 64 rows) and no split-K among cuDNN's engines. A GEMM with split-K spreads the
// 11520-deep reduction over the SMs. Per problem and precision it prints the best time of each path, the
// im2col's share, the weights' read rate, and the largest difference between the GEMM's and cuDNN's outputs.
// Every time is per launch in a replayed CUDA graph, with the weights rotated over copies that exceed the L2 three
// times (inside a network the weights come from memory, not from the L2).
//
// Built here (the GPU machine runs it from the pack: cp build/conv_as_gemm .devcarry/bin/):
//   nvcc -std=c++17 -O2 -arch=sm_90 -I src -I /usr/local/cuda/include bench/probes/conv_as_gemm.cu
//       src/cuda/cudnn_graph.cpp -L /usr/local/cuda/lib -lcudnn -lcublasLt -o build/conv_as_gemm
#include <cublasLt.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cuda/cudnn_graph.h"
#include "probe_timing.h"

using normrt::cuda::ConvGraph;
using normrt::cuda::ConvGraphSpec;

namespace {

#define CHECK_DNN(x)                                                                 \
  do {                                                                               \
    cudnnStatus_t s = (x);                                                           \
    if (s != CUDNN_STATUS_SUCCESS) {                                                 \
      std::printf("%s:%d %s\n", __FILE__, __LINE__, cudnnGetErrorString(s));         \
      std::exit(1);                                                                  \
    }                                                                                \
  } while (0)
#define CHECK_LT(x)                                                                  \
  do {                                                                               \
    cublasStatus_t s = (x);                                                          \
    if (s != CUBLAS_STATUS_SUCCESS) {                                                \
      std::printf("%s:%d cuBLASLt status %d\n", __FILE__, __LINE__, static_cast<int>(s)); \
      std::exit(1);                                                                  \
    }                                                                                \
  } while (0)

struct Problem {
  const char* name;
  int n, c, h, w, k;  // 3x3, padding 1, stride 1: Y [n, h, w, k]
};

// col[m, (r * 3 + s) * C + c] = x[n, p + r - 1, q + s - 1, c] (zero outside), m = (n * H + p) * W + q; one thread
// per 16-byte vector of C.
template <typename T>
__global__ void im2col_3x3(const T* x, T* col, int n, int h, int w, int c) {
  constexpr int V = 16 / sizeof(T);
  const int vectors = c / V;
  const long long total = static_cast<long long>(n) * h * w * 9 * vectors;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int v = static_cast<int>(i % vectors);
    const int rs = static_cast<int>((i / vectors) % 9);
    const long long m = i / vectors / 9;
    const int q = static_cast<int>(m % w), p = static_cast<int>((m / w) % h), b = static_cast<int>(m / w / h);
    const int y = p + rs / 3 - 1, xq = q + rs % 3 - 1;
    uint4 value = make_uint4(0, 0, 0, 0);
    if (y >= 0 && y < h && xq >= 0 && xq < w)
      value = reinterpret_cast<const uint4*>(x + ((static_cast<long long>(b) * h + y) * w + xq) * c)[v];
    reinterpret_cast<uint4*>(col + (m * 9 + rs) * c)[v] = value;
  }
}

struct Buffers {
  size_t elem;
  void *x = nullptr, *b = nullptr, *col = nullptr, *y_dnn = nullptr, *y_gemm = nullptr, *workspace = nullptr;
  std::vector<void*> w;  // copies of the weights, together more than three L2s
  size_t workspace_bytes = size_t(64) << 20;
  Buffers(const Problem& p, size_t elem_bytes, size_t l2_bytes) : elem(elem_bytes) {
    const size_t x_bytes = size_t(p.n) * p.h * p.w * p.c * elem, w_bytes = size_t(p.k) * 9 * p.c * elem;
    const size_t y_bytes = size_t(p.n) * p.h * p.w * p.k * elem;
    CHECK(cudaMalloc(&x, x_bytes));
    CHECK(cudaMalloc(&b, size_t(p.k) * elem));
    CHECK(cudaMalloc(&col, x_bytes * 9));
    CHECK(cudaMalloc(&y_dnn, y_bytes));
    CHECK(cudaMalloc(&y_gemm, y_bytes));
    CHECK(cudaMalloc(&workspace, workspace_bytes));
    const size_t copies = std::max<size_t>(1, (3 * l2_bytes + w_bytes - 1) / w_bytes);
    for (size_t i = 0; i < copies; ++i) {
      w.push_back(nullptr);
      CHECK(cudaMalloc(&w.back(), w_bytes));
    }
    // Small random values (bits of a hash), the same in every weight copy.
    std::vector<unsigned char> host(std::max(x_bytes, w_bytes));
    auto fill = [&](void* dst, size_t bytes, unsigned seed) {
      for (size_t i = 0; i < bytes / elem; ++i) {
        unsigned h = static_cast<unsigned>(i) * 2654435761u + seed;
        const float v = static_cast<float>((h >> 8) % 2001) / 1000.0f - 1.0f;
        if (elem == 2) {
          const __half hv = __float2half(v * 0.05f);
          std::memcpy(&host[i * 2], &hv, 2);
        } else {
          const float fv = v * 0.05f;
          std::memcpy(&host[i * 4], &fv, 4);
        }
      }
      CHECK(cudaMemcpy(dst, host.data(), bytes, cudaMemcpyHostToDevice));
    };
    fill(x, x_bytes, 1);
    fill(b, size_t(p.k) * elem, 3);
    for (void* copy : w) fill(copy, w_bytes, 2);
  }
  ~Buffers() {
    for (void* p : {x, b, col, y_dnn, y_gemm, workspace}) cudaFree(p);
    for (void* p : w) cudaFree(p);
  }
};

ConvGraphSpec spec_of(const Problem& p, bool fp16) {
  ConvGraphSpec s;
  s.io_type = fp16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
  s.allow_tf32 = !fp16;
  s.channels_last = true;
  const int64_t x[4] = {p.n, p.c, p.h, p.w}, w[4] = {p.k, p.c, 3, 3}, y[4] = {p.n, p.k, p.h, p.w};
  std::copy(x, x + 4, s.x);
  std::copy(w, w + 4, s.w);
  std::copy(y, y + 4, s.y);
  s.pre_pad[0] = s.pre_pad[1] = s.post_pad[0] = s.post_pad[1] = 1;
  s.bias = true;
  return s;
}

constexpr int kIters = 20;

// The best precompiled graph engine among the first ten (conv + bias), as normrt's tune() times them.
double best_graph_engine(cudnnHandle_t dnn, cudaStream_t stream, const Problem& p, bool fp16, Buffers& buf,
                         int64_t* engine) {
  ConvGraph graph;
  std::string error;
  if (!graph.build(dnn, spec_of(p, fp16), &error)) return -1;
  double best = -1;
  size_t timed = 0;
  for (size_t rank = 0; rank < graph.candidates() && timed < 10; ++rank) {
    const ConvGraph::Candidate c = graph.candidate(rank);
    if (!c.acceptable || c.runtime_compiled) continue;
    auto plan = graph.plan(rank);
    if (!plan || static_cast<size_t>(plan->workspace_bytes) > buf.workspace_bytes) continue;
    ++timed;
    if (ConvGraph::execute(dnn, *plan, buf.x, buf.w[0], buf.b, nullptr, buf.y_dnn, buf.workspace) !=
        CUDNN_STATUS_SUCCESS)
      continue;
    CHECK(cudaStreamSynchronize(stream));
    const double us = time_graph(stream, kIters, [&](int i) {
      ConvGraph::execute(dnn, *plan, buf.x, buf.w[i % buf.w.size()], buf.b, nullptr, buf.y_dnn, buf.workspace);
    });
    if (best < 0 || us < best) {
      best = us;
      *engine = plan->engine;
    }
  }
  // y_dnn: the best engine's output, for the comparison below (every engine computes the same convolution).
  return best;
}

// The best legacy algorithm (cuDNN's search, then timed in a graph), without the bias.
double best_legacy(cudnnHandle_t dnn, cudaStream_t stream, const Problem& p, bool fp16, Buffers& buf, int* algo) {
  cudnnTensorDescriptor_t xd, yd;
  cudnnFilterDescriptor_t wd;
  cudnnConvolutionDescriptor_t cd;
  const cudnnDataType_t type = fp16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
  CHECK_DNN(cudnnCreateTensorDescriptor(&xd));
  CHECK_DNN(cudnnCreateTensorDescriptor(&yd));
  CHECK_DNN(cudnnCreateFilterDescriptor(&wd));
  CHECK_DNN(cudnnCreateConvolutionDescriptor(&cd));
  CHECK_DNN(cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NHWC, type, p.n, p.c, p.h, p.w));
  CHECK_DNN(cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NHWC, type, p.n, p.k, p.h, p.w));
  CHECK_DNN(cudnnSetFilter4dDescriptor(wd, type, CUDNN_TENSOR_NHWC, p.k, p.c, 3, 3));
  CHECK_DNN(cudnnSetConvolution2dDescriptor(cd, 1, 1, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  CHECK_DNN(cudnnSetConvolutionMathType(cd, fp16 ? CUDNN_TENSOR_OP_MATH : CUDNN_DEFAULT_MATH));
  cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  int returned = 0;
  CHECK_DNN(cudnnFindConvolutionForwardAlgorithmEx(dnn, xd, buf.x, wd, buf.w[0], cd, yd, buf.y_dnn,
                                                   CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf, buf.workspace,
                                                   buf.workspace_bytes));
  double best = -1;
  const float one = 1.0f, zero = 0.0f;
  for (int i = 0; i < returned && i < 4; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > buf.workspace_bytes) continue;
    CHECK_DNN(cudnnSetConvolutionMathType(cd, perf[i].mathType));
    const double us = time_graph(stream, kIters, [&](int it) {
      cudnnConvolutionForward(dnn, &one, xd, buf.x, wd, buf.w[it % buf.w.size()], cd, perf[i].algo, buf.workspace,
                              buf.workspace_bytes, &zero, yd, buf.y_dnn);
    });
    if (best < 0 || us < best) {
      best = us;
      *algo = perf[i].algo;
    }
  }
  cudnnDestroyTensorDescriptor(xd);
  cudnnDestroyTensorDescriptor(yd);
  cudnnDestroyFilterDescriptor(wd);
  cudnnDestroyConvolutionDescriptor(cd);
  return best;
}

struct GemmResult {
  double im2col_us = -1, gemm_us = -1;
  int splits = 0;
  int algo = -1;
};

// Y[M, K] = col[M, 9C] W[K, 9C]^T + bias: column-major D[K, M] = op(W: 9C x K stored)^T * col^T, the bias in the
// epilogue (one per row of D). cuBLASLt's first 16 heuristic algorithms, each also with explicit split-K where it
// takes it, timed like the convolutions.
GemmResult best_gemm(cublasLtHandle_t lt, cudaStream_t stream, const Problem& p, bool fp16, Buffers& buf) {
  GemmResult r;
  const int V = 16 / static_cast<int>(buf.elem);
  const long long vectors = static_cast<long long>(p.n) * p.h * p.w * 9 * (p.c / V);
  const int blocks = static_cast<int>(std::min<long long>((vectors + 255) / 256, 132 * 16));
  auto im2col = [&] {
    if (fp16)
      im2col_3x3<__half><<<blocks, 256, 0, stream>>>(static_cast<const __half*>(buf.x), static_cast<__half*>(buf.col),
                                                      p.n, p.h, p.w, p.c);
    else
      im2col_3x3<float><<<blocks, 256, 0, stream>>>(static_cast<const float*>(buf.x), static_cast<float*>(buf.col),
                                                     p.n, p.h, p.w, p.c);
  };
  im2col();
  CHECK(cudaStreamSynchronize(stream));
  r.im2col_us = time_graph(stream, kIters, [&](int) { im2col(); });

  const uint64_t M = uint64_t(p.n) * p.h * p.w, K = p.k, D = uint64_t(9) * p.c;
  const cudaDataType_t type = fp16 ? CUDA_R_16F : CUDA_R_32F;
  cublasLtMatmulDesc_t desc;
  CHECK_LT(cublasLtMatmulDescCreate(&desc, fp16 ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_32F_FAST_TF32, CUDA_R_32F));
  const cublasOperation_t t = CUBLAS_OP_T, n = CUBLAS_OP_N;
  CHECK_LT(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof t));
  CHECK_LT(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &n, sizeof n));
  const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
  CHECK_LT(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue));
  CHECK_LT(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &type, sizeof type));
  cublasLtMatrixLayout_t a_layout, b_layout, d_layout;
  CHECK_LT(cublasLtMatrixLayoutCreate(&a_layout, type, D, K, D));  // W: 9C x K, column-major (row-major K x 9C)
  CHECK_LT(cublasLtMatrixLayoutCreate(&b_layout, type, D, M, D));  // col: 9C x M
  CHECK_LT(cublasLtMatrixLayoutCreate(&d_layout, type, K, M, K));  // Y: K x M (row-major M x K: NHWC)
  cublasLtMatmulPreference_t pref;
  CHECK_LT(cublasLtMatmulPreferenceCreate(&pref));
  CHECK_LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &buf.workspace_bytes,
                                                sizeof buf.workspace_bytes));
  cublasLtMatmulHeuristicResult_t heuristics[16];
  int found = 0;
  CHECK_LT(cublasLtMatmulAlgoGetHeuristic(lt, desc, a_layout, b_layout, d_layout, d_layout, pref, 16, heuristics, &found));
  const float one = 1.0f, zero = 0.0f;
  for (int h = 0; h < found; ++h) {
    for (int splits : {0, 2, 4, 8, 16, 32}) {  // 0: as the heuristics gave it
      cublasLtMatmulAlgo_t algo = heuristics[h].algo;
      if (splits) {
        int supported = 0;
        size_t written = 0;
        if (cublasLtMatmulAlgoCapGetAttribute(&algo, CUBLASLT_ALGO_CAP_SPLITK_SUPPORT, &supported, sizeof supported,
                                              &written) != CUBLAS_STATUS_SUCCESS ||
            !supported)
          continue;
        const uint32_t s = static_cast<uint32_t>(splits);
        if (cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &s, sizeof s) !=
            CUBLAS_STATUS_SUCCESS)
          continue;
      }
      cublasLtMatmulHeuristicResult_t check;
      if (cublasLtMatmulAlgoCheck(lt, desc, a_layout, b_layout, d_layout, d_layout, &algo, &check) !=
              CUBLAS_STATUS_SUCCESS ||
          check.workspaceSize > buf.workspace_bytes)
        continue;
      const void* bias = buf.b;
      CHECK_LT(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
      if (cublasLtMatmul(lt, desc, &one, buf.w[0], a_layout, buf.col, b_layout, &zero, buf.y_gemm, d_layout,
                         buf.y_gemm, d_layout, &algo, buf.workspace, buf.workspace_bytes, stream) !=
          CUBLAS_STATUS_SUCCESS)
        continue;
      CHECK(cudaStreamSynchronize(stream));
      const double us = time_graph(stream, kIters, [&](int i) {
        cublasLtMatmul(lt, desc, &one, buf.w[i % buf.w.size()], a_layout, buf.col, b_layout, &zero, buf.y_gemm,
                       d_layout, buf.y_gemm, d_layout, &algo, buf.workspace, buf.workspace_bytes, stream);
      });
      if (r.gemm_us < 0 || us < r.gemm_us) {
        r.gemm_us = us;
        r.splits = splits;
        r.algo = h;
      }
    }
  }
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatrixLayoutDestroy(a_layout);
  cublasLtMatrixLayoutDestroy(b_layout);
  cublasLtMatrixLayoutDestroy(d_layout);
  cublasLtMatmulDescDestroy(desc);
  return r;
}

// max |y_gemm - y_dnn| over the outputs (both with the bias: the graph engine's, last run at the end).
double max_difference(const Problem& p, const Buffers& buf) {
  const size_t count = size_t(p.n) * p.h * p.w * p.k;
  std::vector<unsigned char> a(count * buf.elem), b(count * buf.elem);
  CHECK(cudaMemcpy(a.data(), buf.y_gemm, a.size(), cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(b.data(), buf.y_dnn, b.size(), cudaMemcpyDeviceToHost));
  double worst = 0;
  for (size_t i = 0; i < count; ++i) {
    float x, y;
    if (buf.elem == 2) {
      x = __half2float(reinterpret_cast<const __half*>(a.data())[i]);
      y = __half2float(reinterpret_cast<const __half*>(b.data())[i]);
    } else {
      x = reinterpret_cast<const float*>(a.data())[i];
      y = reinterpret_cast<const float*>(b.data())[i];
    }
    worst = std::max(worst, static_cast<double>(std::fabs(x - y)));
  }
  return worst;
}

}  // namespace

int main() {
  cudaStream_t stream;
  CHECK(cudaStreamCreate(&stream));
  cudnnHandle_t dnn;
  CHECK_DNN(cudnnCreate(&dnn));
  CHECK_DNN(cudnnSetStream(dnn, stream));
  cublasLtHandle_t lt;
  CHECK_LT(cublasLtCreate(&lt));
  cudaDeviceProp prop{};
  CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("%s (%d SMs, L2 %d MB), cuDNN %zu, cuBLASLt %zu; us per launch in a replayed graph\n", prop.name,
              prop.multiProcessorCount, prop.l2CacheSize >> 20, cudnnGetVersion(), cublasLtGetVersion());
  // The SD-1.5 UNet (32x32 latent) convolutions that are slowest at batch 1, at batch 1 and 8.
  const Problem problems[] = {
      {"mid 1280->1280 8x8", 1, 1280, 8, 8, 1280},   {"up1 2560->1280 8x8", 1, 2560, 8, 8, 1280},
      {"up2 1920->640 16x16", 1, 1920, 16, 16, 640}, {"up3 960->320 32x32", 1, 960, 32, 32, 320},
      {"unpool 640->640 32x32", 1, 640, 32, 32, 640}, {"mid 1280->1280 8x8", 8, 1280, 8, 8, 1280},
      {"up1 2560->1280 8x8", 8, 2560, 8, 8, 1280},   {"up3 960->320 32x32", 8, 960, 32, 32, 320},
  };
  std::printf("%-24s %-4s %2s | %9s %9s | %8s %8s %8s %5s | %8s %9s\n", "problem", "type", "N", "legacy", "graph",
              "im2col", "gemm", "sum", "split", "W GB/s", "max diff");
  for (bool fp16 : {true, false})
    for (const Problem& p : problems) {
      Buffers buf(p, fp16 ? 2 : 4, static_cast<size_t>(prop.l2CacheSize));
      int algo = -1;
      int64_t engine = -1;
      const double legacy = best_legacy(dnn, stream, p, fp16, buf, &algo);
      const double graph = best_graph_engine(dnn, stream, p, fp16, buf, &engine);
      const GemmResult g = best_gemm(lt, stream, p, fp16, buf);
      const double sum = g.im2col_us + g.gemm_us;
      const double w_bytes = double(p.k) * 9 * p.c * buf.elem;
      const double best_dnn = graph > 0 && (legacy < 0 || graph < legacy) ? graph : legacy;
      std::printf("%-24s %-4s %2d | %6.1f a%d %6.1f e%lld | %8.1f %8.1f %8.1f %5d | %8.0f %9.2e  (%.2fx)\n", p.name,
                  fp16 ? "fp16" : "tf32", p.n, legacy, algo, graph, static_cast<long long>(engine), g.im2col_us,
                  g.gemm_us, sum, g.splits, w_bytes / (g.gemm_us * 1e3), max_difference(p, buf), best_dnn / sum);
    }
  cublasLtDestroy(lt);
  cudnnDestroy(dnn);
  return 0;
}
