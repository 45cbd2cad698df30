// MatMul (numpy semantics: 1-D operands, broadcast batch dims) and Gemm (transA/transB, alpha, beta, C broadcast to
// [M, N]) through cublasGemmStridedBatchedEx, fp32 and fp16 storage, always with fp32 compute.
//
//  - Row-major Y[M, N] = A[M, K] B[K, N] is column-major Y^T = B^T A^T: cuBLAS gets B first, and no operand is
//    ever copied or transposed.
//  - Batch dims: after dropping extents of 1 and merging dims whose strides chain, the innermost dim is one
//    strided-batched call (stride 0 for a broadcast operand) and any outer dims loop on the host (one call per
//    index; none in the common cases). When B is shared by every batch and A's batches are contiguous, the batch
//    folds into M: one plain GEMM (a Linear layer over [batch, tokens, features]).
//  - fp32 uses CUBLAS_COMPUTE_32F: no TF32 as long as the handle stays in CUBLAS_DEFAULT_MATH (cublasCreate's
//    default; the runtime must not switch it), so fp32 results agree with the fp32 reference to about 1e-6
//    relative; engines of precision "tf32" (--tf32) use CUBLAS_COMPUTE_32F_FAST_TF32. fp16 storage computes in
//    fp32 on tensor cores.
//  - Gemm's C: copied (or broadcast by a small kernel) into Y, then the GEMM accumulates onto it with beta.
//  - ai.normrt MatMulBias (matmul_bias_fusion's Linear layer): one cublasLt GEMM with the bias in its epilogue and
//    the optional residual as its C (beta 1).
#include <algorithm>
#include <climits>
#include <map>
#include <vector>

#include "cuda/cuda_runtime.h"
#include "cuda/dnn_copy.h"
#include "cuda/dnn_util.h"
#include "cuda/launch_timing.h"
#include "ops/shape_util.h"

namespace normrt {
namespace cuda {
namespace {

using ElementType = ::normrt::DataType;

// One GEMM problem in row-major terms, with its batch loops.
struct GemmProblem {
  int64_t M = 0, N = 0, K = 0;
  bool trans_a = false, trans_b = false;
  // Outer batch dims, looped on the host, with element strides of A, B and Y.
  std::vector<int64_t> outer, outer_a, outer_b, outer_y;
  // The inner batch: one strided-batched call.
  int64_t batch = 1, stride_a = 0, stride_b = 0, stride_y = 0;
};

int as_int(const CudaKernelContext& ctx, int64_t v) {
  if (v < 0 || v > INT_MAX) ctx.fail("extent " + std::to_string(v) + " does not fit cuBLAS's int arguments");
  return static_cast<int>(v);
}

GemmProblem matmul_problem(const CudaKernelContext& ctx) {
  Dims a = ctx.in(0).dims, b = ctx.in(1).dims;
  if (a.empty() || b.empty()) ctx.fail("MatMul of a scalar");
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  GemmProblem p;
  p.M = a[a.size() - 2];
  p.K = a.back();
  p.N = b.back();
  if (b[b.size() - 2] != p.K) ctx.fail("inner dimensions differ");
  const Dims batch_a(a.begin(), a.end() - 2), batch_b(b.begin(), b.end() - 2);
  const Dims batch = broadcast_dims({batch_a, batch_b});
  std::vector<int64_t> sa = broadcast_strides(batch_a, batch), sb = broadcast_strides(batch_b, batch);
  std::vector<int64_t> sy(batch.size());
  int64_t dense = 1;
  for (size_t i = batch.size(); i-- > 0;) {
    sy[i] = dense;
    dense *= batch[i];
  }
  // Element strides; drop extents of 1.
  struct Axis {
    int64_t extent, a, b, y;
  };
  std::vector<Axis> axes;
  for (size_t i = 0; i < batch.size(); ++i)
    if (batch[i] != 1) axes.push_back({batch[i], sa[i] * p.M * p.K, sb[i] * p.K * p.N, sy[i] * p.M * p.N});
  // Merge an axis into the next (inner) one when all three strides chain.
  std::vector<Axis> merged;
  for (const Axis& axis : axes) {
    if (!merged.empty()) {
      Axis& outer = merged.back();  // the outer neighbour of `axis`
      if (outer.a == axis.a * axis.extent && outer.b == axis.b * axis.extent && outer.y == axis.y * axis.extent) {
        outer = {outer.extent * axis.extent, axis.a, axis.b, axis.y};
        continue;
      }
    }
    merged.push_back(axis);
  }
  if (!merged.empty()) {
    const Axis inner = merged.back();
    merged.pop_back();
    p.batch = inner.extent;
    p.stride_a = inner.a;
    p.stride_b = inner.b;
    p.stride_y = inner.y;
  }
  for (const Axis& axis : merged) {
    p.outer.push_back(axis.extent);
    p.outer_a.push_back(axis.a);
    p.outer_b.push_back(axis.b);
    p.outer_y.push_back(axis.y);
  }
  // A shared B and contiguous A batches: fold the batch into M.
  if (p.outer.empty() && p.batch > 1 && p.stride_b == 0 && p.stride_a == p.M * p.K && p.stride_y == p.M * p.N) {
    p.M *= p.batch;
    p.batch = 1;
    p.stride_a = p.stride_y = 0;
  }
  return p;
}

void gemm_call(CudaKernelContext& ctx, const GemmProblem& p, const void* a, const void* b, void* y, float alpha,
               float beta) {
  const ElementType dtype = ctx.in(0).dtype;
  const cudaDataType_t type = cuda_type(dtype);
  const size_t bytes = element_bytes(dtype);
  // Column-major view: Y^T[N, M] = op(B)^T[N, K] * op(A)^T[K, M].
  const cublasOperation_t op_b = p.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int ld_b = as_int(ctx, std::max<int64_t>(1, p.trans_b ? p.K : p.N));
  const int ld_a = as_int(ctx, std::max<int64_t>(1, p.trans_a ? p.M : p.K));
  const int ld_y = as_int(ctx, std::max<int64_t>(1, p.N));
  const int m = as_int(ctx, p.N), n = as_int(ctx, p.M), k = as_int(ctx, p.K), batch = as_int(ctx, p.batch);
  int64_t outer_count = 1;
  for (int64_t e : p.outer) outer_count *= e;
  std::vector<int64_t> index(p.outer.size(), 0);
  for (int64_t call = 0; call < outer_count; ++call) {
    int64_t off_a = 0, off_b = 0, off_y = 0;
    for (size_t i = 0; i < index.size(); ++i) {
      off_a += index[i] * p.outer_a[i];
      off_b += index[i] * p.outer_b[i];
      off_y += index[i] * p.outer_y[i];
    }
    ctx.check(
        cublasGemmStridedBatchedEx(ctx.cublas, op_b, op_a, m, n, k, &alpha, static_cast<const char*>(b) + off_b * bytes,
                                   type, ld_b, p.stride_b, static_cast<const char*>(a) + off_a * bytes, type, ld_a,
                                   p.stride_a, &beta, static_cast<char*>(y) + off_y * bytes, type, ld_y, p.stride_y,
                                   batch,
                                   ctx.allow_tf32 && type == CUDA_R_32F ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F,
                                   CUBLAS_GEMM_DEFAULT),
        "cublasGemmStridedBatchedEx");
    for (size_t i = index.size(); i-- > 0;) {
      if (++index[i] < p.outer[i]) break;
      index[i] = 0;
    }
  }
}

void check_types(const CudaKernelContext& ctx) {
  const ElementType t = ctx.in(0).dtype;
  if (!is_dnn_float(t)) ctx.fail("inputs must be float32 or float16");
  for (size_t i = 1; i < ctx.inputs.size(); ++i)
    if (ctx.has_input(i) && ctx.inputs[i].dtype != t) ctx.fail("inputs must all have the same type");
}

void matmul_run(CudaKernelContext& ctx) {
  check_types(ctx);
  const GemmProblem p = matmul_problem(ctx);
  DeviceValue& y = ctx.out(0);
  if (y.numel() == 0) return;
  if (p.K == 0) {  // an empty sum: zeros (all-zero bits are 0.0 in fp32 and fp16)
    ctx.check(cudaMemsetAsync(y.data, 0, y.nbytes(), ctx.stream), "cudaMemsetAsync");
    return;
  }
  gemm_call(ctx, p, ctx.in(0).data, ctx.in(1).data, y.data, 1.0f, 0.0f);
}

void gemm_run(CudaKernelContext& ctx) {
  check_types(ctx);
  const Dims& a = ctx.in(0).dims;
  const Dims& b = ctx.in(1).dims;
  if (a.size() != 2 || b.size() != 2) ctx.fail("A and B must be matrices");
  GemmProblem p;
  p.trans_a = ctx.node.attr_int("transA", 0) != 0;
  p.trans_b = ctx.node.attr_int("transB", 0) != 0;
  p.M = p.trans_a ? a[1] : a[0];
  p.K = p.trans_a ? a[0] : a[1];
  p.N = p.trans_b ? b[0] : b[1];
  if ((p.trans_b ? b[1] : b[0]) != p.K) ctx.fail("inner dimensions differ");
  const float alpha = ctx.node.attr_float("alpha", 1.0f);
  float beta = ctx.node.attr_float("beta", 1.0f);
  DeviceValue& y = ctx.out(0);
  if (y.dims != Dims{p.M, p.N}) ctx.fail("output [" + dims_to_string(y.dims) + "] is not [M, N]");
  if (y.numel() == 0) return;
  if (ctx.has_input(2) && beta != 0.0f) {
    const DeviceValue& c = ctx.in(2);
    int64_t rows = 1, cols = 1;
    if (c.dims.size() == 1) cols = c.dims[0];
    if (c.dims.size() == 2) {
      rows = c.dims[0];
      cols = c.dims[1];
    }
    if (c.dims.size() > 2 || (rows != 1 && rows != p.M) || (cols != 1 && cols != p.N))
      ctx.fail("C [" + dims_to_string(c.dims) + "] does not broadcast to [M, N]");
    if (rows == p.M && cols == p.N)
      ctx.check(cudaMemcpyAsync(y.data, c.data, y.nbytes(), cudaMemcpyDeviceToDevice, ctx.stream), "cudaMemcpyAsync");
    else
      ctx.check(broadcast_matrix(c.data, rows, cols, y.data, p.M, p.N, element_bytes(y.dtype), ctx.stream),
                "broadcast_matrix");
  } else {
    beta = 0.0f;  // cuBLAS does not read Y when beta is 0
  }
  gemm_call(ctx, p, ctx.in(0).data, ctx.in(1).data, y.data, alpha, beta);
}

// ---- ai.normrt MatMulBias: Y[..., N] = A[..., K] W[K, N] + bias[N] as one cublasLt GEMM, the bias added in its
// epilogue. A's batch dims fold into M (A is contiguous). Column-major, as above: D[N, M] = W^T[N, K] A^T[K, M],
// and the epilogue's bias runs along D's rows, our N.
// 32 MB: room for split-K partial sums in fp32 (tune() below), 64 x 5120 outputs in 16 parts at batch 1.
constexpr size_t kLtWorkspace = size_t{32} << 20;

size_t matmul_bias_workspace(const CudaKernelContext&) { return kLtWorkspace; }

// The largest power of two up to 16 that divides the address: the alignment cuBLASLt may assume.
uint32_t alignment_of(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  uint32_t align = 16;
  while (align > 1 && a % align != 0) align /= 2;
  return align;
}

template <typename T, void (*Destroy)(T)>
struct LtObject {
  T handle = nullptr;
  ~LtObject() {
    if (handle) Destroy(handle);
  }
};
void destroy_desc(cublasLtMatmulDesc_t d) { cublasLtMatmulDescDestroy(d); }
void destroy_layout(cublasLtMatrixLayout_t l) { cublasLtMatrixLayoutDestroy(l); }
void destroy_pref(cublasLtMatmulPreference_t p) { cublasLtMatmulPreferenceDestroy(p); }

// One MatMulBias problem in cuBLASLt's terms: the operation (bias epilogue), the layouts and the preference
// (workspace, the operands' real alignments).
struct LtProblem {
  LtObject<cublasLtMatmulDesc_t, destroy_desc> op;
  LtObject<cublasLtMatrixLayout_t, destroy_layout> lw, la, ly;
  LtObject<cublasLtMatmulPreference_t, destroy_pref> pref;
  cudaDataType_t type = CUDA_R_32F;
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  size_t workspace = 0;
};

void make_lt_problem(CudaKernelContext& ctx, int64_t M, int64_t N, int64_t K, const void* c, LtProblem* p) {
  const DeviceValue& a = ctx.in(0);
  const DeviceValue& w = ctx.in(1);
  DeviceValue& y = ctx.out(0);
  p->type = cuda_type(y.dtype);
  p->compute = ctx.allow_tf32 && p->type == CUDA_R_32F ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  ctx.check(cublasLtMatmulDescCreate(&p->op.handle, p->compute, CUDA_R_32F), "cublasLtMatmulDescCreate");
  const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
  ctx.check(cublasLtMatmulDescSetAttribute(p->op.handle, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)),
            "cublasLtMatmulDescSetAttribute(EPILOGUE)");
  const void* bias_data = ctx.in(2).data;
  ctx.check(cublasLtMatmulDescSetAttribute(p->op.handle, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_data, sizeof(bias_data)),
            "cublasLtMatmulDescSetAttribute(BIAS_POINTER)");
  ctx.check(cublasLtMatrixLayoutCreate(&p->lw.handle, p->type, N, K, N), "cublasLtMatrixLayoutCreate");
  ctx.check(cublasLtMatrixLayoutCreate(&p->la.handle, p->type, K, M, K), "cublasLtMatrixLayoutCreate");
  ctx.check(cublasLtMatrixLayoutCreate(&p->ly.handle, p->type, N, M, N), "cublasLtMatrixLayoutCreate");
  ctx.check(cublasLtMatmulPreferenceCreate(&p->pref.handle), "cublasLtMatmulPreferenceCreate");
  p->workspace = ctx.workspace ? std::min(ctx.workspace_bytes, kLtWorkspace) : 0;  // what workspace() asks for
  ctx.check(cublasLtMatmulPreferenceSetAttribute(p->pref.handle, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &p->workspace,
                                                 sizeof(p->workspace)),
            "cublasLtMatmulPreferenceSetAttribute");
  const std::pair<cublasLtMatmulPreferenceAttributes_t, const void*> aligned[] = {
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, w.data},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, a.data},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, c},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, y.data}};
  for (const auto& [attribute, pointer] : aligned) {
    const uint32_t align = alignment_of(pointer);
    ctx.check(cublasLtMatmulPreferenceSetAttribute(p->pref.handle, attribute, &align, sizeof(align)),
              "cublasLtMatmulPreferenceSetAttribute");
  }
}

// A cuBLASLt algorithm as the engine stores it: its id and every configuration attribute, each with its size.
struct LtAttribute {
  const char* key;
  cublasLtMatmulAlgoConfigAttributes_t attribute;
  size_t bytes;
};
constexpr LtAttribute kLtAttributes[] = {
    {"lt_tile", CUBLASLT_ALGO_CONFIG_TILE_ID, 4},         {"lt_splitk", CUBLASLT_ALGO_CONFIG_SPLITK_NUM, 4},
    {"lt_reduction", CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, 4}, {"lt_swizzle", CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, 4},
    {"lt_custom", CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION, 4}, {"lt_stages", CUBLASLT_ALGO_CONFIG_STAGES_ID, 4},
    {"lt_inner", CUBLASLT_ALGO_CONFIG_INNER_SHAPE_ID, 2}, {"lt_cluster", CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID, 2}};

std::string lt_algo_config(const cublasLtMatmulAlgo_t& algo) {
  std::map<std::string, int64_t> values;
  int32_t id = 0;
  size_t written = 0;
  if (cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_ID, &id, sizeof(id), &written) !=
      CUBLAS_STATUS_SUCCESS)
    return "";
  values["lt_algo"] = id;
  for (const LtAttribute& a : kLtAttributes) {
    uint32_t v32 = 0;
    uint16_t v16 = 0;
    void* buf = a.bytes == 4 ? static_cast<void*>(&v32) : static_cast<void*>(&v16);
    if (cublasLtMatmulAlgoConfigGetAttribute(&algo, a.attribute, buf, a.bytes, &written) != CUBLAS_STATUS_SUCCESS)
      return "";
    values[a.key] = a.bytes == 4 ? static_cast<int64_t>(v32) : static_cast<int64_t>(v16);
  }
  return format_config(values);
}

// Whether `value` is among the ids an algorithm capability lists (an array of uint32_t).
bool listed_capability(const cublasLtMatmulAlgo_t& algo, cublasLtMatmulAlgoCapAttributes_t cap, int64_t value) {
  size_t bytes = 0;
  if (cublasLtMatmulAlgoCapGetAttribute(&algo, cap, nullptr, 0, &bytes) != CUBLAS_STATUS_SUCCESS) return false;
  std::vector<uint32_t> ids(bytes / sizeof(uint32_t));
  if (ids.empty()) return value == 0;  // the algorithm lists none: only "undefined" (0)
  if (cublasLtMatmulAlgoCapGetAttribute(&algo, cap, ids.data(), ids.size() * sizeof(uint32_t), &bytes) !=
      CUBLAS_STATUS_SUCCESS)
    return false;
  return std::find(ids.begin(), ids.end(), static_cast<uint32_t>(value)) != ids.end();
}

template <typename T>
bool scalar_capability(const cublasLtMatmulAlgo_t& algo, cublasLtMatmulAlgoCapAttributes_t cap, T* out) {
  size_t written = 0;
  return cublasLtMatmulAlgoCapGetAttribute(&algo, cap, out, sizeof(T), &written) == CUBLAS_STATUS_SUCCESS;
}

// The stored algorithm, if this cuBLASLt knows its id, its configuration is within the algorithm's capabilities
// (an engine file is untrusted input: nothing unchecked reaches cuBLASLt), and cuBLASLt confirms it runs this
// problem within the workspace.
bool stored_lt_algo(CudaKernelContext& ctx, const LtProblem& p, cublasLtMatmulAlgo_t* algo) {
  const auto config = parse_config(ctx.config);
  if (!config.count("lt_algo")) return false;
  for (const LtAttribute& a : kLtAttributes) {
    if (!config.count(a.key)) return false;
    const int64_t v = config.at(a.key);
    if (v < 0 || v > (a.bytes == 4 ? int64_t{UINT32_MAX} : int64_t{UINT16_MAX})) return false;
  }
  int ids[256];
  int count = 0;
  if (cublasLtMatmulAlgoGetIds(ctx.cublas_lt, p.compute, CUDA_R_32F, p.type, p.type, p.type, p.type, 256, ids, &count) !=
      CUBLAS_STATUS_SUCCESS)
    return false;
  const int64_t id = config.at("lt_algo");
  if (std::find(ids, ids + std::min(count, 256), id) == ids + std::min(count, 256)) return false;
  if (cublasLtMatmulAlgoInit(ctx.cublas_lt, p.compute, CUDA_R_32F, p.type, p.type, p.type, p.type, static_cast<int>(id),
                             algo) != CUBLAS_STATUS_SUCCESS)
    return false;
  int32_t splitk_support = 0, custom_max = 0;
  uint32_t reduction_mask = 0, swizzle_max = 0;
  if (!scalar_capability(*algo, CUBLASLT_ALGO_CAP_SPLITK_SUPPORT, &splitk_support) ||
      !scalar_capability(*algo, CUBLASLT_ALGO_CAP_REDUCTION_SCHEME_MASK, &reduction_mask) ||
      !scalar_capability(*algo, CUBLASLT_ALGO_CAP_CTA_SWIZZLING_SUPPORT, &swizzle_max) ||
      !scalar_capability(*algo, CUBLASLT_ALGO_CAP_CUSTOM_OPTION_MAX, &custom_max))
    return false;
  const int64_t splitk = config.at("lt_splitk"), reduction = config.at("lt_reduction");
  if (splitk < 1 || (splitk > 1 && (!splitk_support || splitk > 1024))) return false;
  if (reduction != CUBLASLT_REDUCTION_SCHEME_NONE && (reduction & ~int64_t{reduction_mask}) != 0) return false;
  if (config.at("lt_swizzle") > swizzle_max || config.at("lt_custom") > custom_max) return false;
  if (!listed_capability(*algo, CUBLASLT_ALGO_CAP_TILE_IDS, config.at("lt_tile")) ||
      !listed_capability(*algo, CUBLASLT_ALGO_CAP_STAGES_IDS, config.at("lt_stages")))
    return false;
  if (config.at("lt_inner") >= CUBLASLT_MATMUL_INNER_SHAPE_END || config.at("lt_cluster") >= CUBLASLT_CLUSTER_SHAPE_END)
    return false;
  for (const LtAttribute& a : kLtAttributes) {
    const uint32_t v32 = static_cast<uint32_t>(config.at(a.key));
    const uint16_t v16 = static_cast<uint16_t>(config.at(a.key));
    const void* buf = a.bytes == 4 ? static_cast<const void*>(&v32) : static_cast<const void*>(&v16);
    if (cublasLtMatmulAlgoConfigSetAttribute(algo, a.attribute, buf, a.bytes) != CUBLAS_STATUS_SUCCESS) return false;
  }
  cublasLtMatmulHeuristicResult_t check{};
  return cublasLtMatmulAlgoCheck(ctx.cublas_lt, p.op.handle, p.lw.handle, p.la.handle, p.ly.handle, p.ly.handle, algo,
                                 &check) == CUBLAS_STATUS_SUCCESS &&
         check.workspaceSize <= p.workspace;
}

// MatMulBias's operands, checked: M, N, K and the residual (null when absent).
struct BiasGemm {
  int64_t M = 0, N = 0, K = 0;
  const DeviceValue* residual = nullptr;
};

BiasGemm bias_gemm(CudaKernelContext& ctx) {
  check_types(ctx);
  const DeviceValue& a = ctx.in(0);
  const DeviceValue& w = ctx.in(1);
  const DeviceValue& bias = ctx.in(2);
  BiasGemm g;
  g.residual = ctx.has_input(3) ? &ctx.in(3) : nullptr;  // Y's shape: the GEMM's C, beta 1
  if (a.dims.size() < 2 || w.dims.size() != 2 || bias.dims.size() != 1 || bias.dims[0] != w.dims[1])
    ctx.fail("expects A of rank >= 2, W [K, N] and bias [N]; got A [" + dims_to_string(a.dims) + "], W [" +
             dims_to_string(w.dims) + "], bias [" + dims_to_string(bias.dims) + "]");
  g.K = w.dims[0];
  g.N = w.dims[1];
  if (a.dims.back() != g.K) ctx.fail("inner dimensions differ: A [" + dims_to_string(a.dims) + "], W [" + dims_to_string(w.dims) + "]");
  const DeviceValue& y = ctx.out(0);
  if (g.residual && g.residual->dims != y.dims)
    ctx.fail("residual [" + dims_to_string(g.residual->dims) + "] must have Y's shape [" + dims_to_string(y.dims) + "]");
  g.M = g.N == 0 ? 0 : y.numel() / g.N;
  return g;
}

cublasStatus_t launch_lt(CudaKernelContext& ctx, const LtProblem& p, const BiasGemm& g, const cublasLtMatmulAlgo_t& algo) {
  const float alpha = 1.0f, beta = g.residual ? 1.0f : 0.0f;
  DeviceValue& y = ctx.out(0);
  return cublasLtMatmul(ctx.cublas_lt, p.op.handle, &alpha, ctx.in(1).data, p.lw.handle, ctx.in(0).data, p.la.handle,
                        &beta, g.residual ? g.residual->data : y.data, p.ly.handle, y.data, p.ly.handle, &algo,
                        ctx.workspace, p.workspace, ctx.stream);
}

void matmul_bias_run(CudaKernelContext& ctx) {
  const BiasGemm g = bias_gemm(ctx);
  DeviceValue& y = ctx.out(0);
  if (y.numel() == 0) return;
  const int bytes = element_bytes(y.dtype);
  // y += residual, for the paths that do not give the GEMM the residual as C.
  auto add_residual = [&]() {
    if (!g.residual) return;
    const float one = 1.0f;
    ctx.check(cublasAxpyEx(ctx.cublas, as_int(ctx, y.numel()), &one, CUDA_R_32F, g.residual->data, cuda_type(y.dtype),
                           1, y.data, cuda_type(y.dtype), 1, CUDA_R_32F),
              "cublasAxpyEx");
  };
  if (g.K == 0) {  // an empty sum: the bias (and residual) alone
    ctx.check(broadcast_matrix(ctx.in(2).data, 1, g.N, y.data, g.M, g.N, bytes, ctx.stream), "broadcast_matrix");
    add_residual();
    return;
  }
  LtProblem p;
  make_lt_problem(ctx, g.M, g.N, g.K, g.residual ? g.residual->data : y.data, &p);
  // The algorithm tune() measured fastest at the nearest profile corner, else cuBLASLt's heuristic choice.
  cublasLtMatmulAlgo_t algo;
  if (stored_lt_algo(ctx, p, &algo) && launch_lt(ctx, p, g, algo) == CUBLAS_STATUS_SUCCESS) return;
  cublasLtMatmulHeuristicResult_t result{};
  int returned = 0;
  const cublasStatus_t found = cublasLtMatmulAlgoGetHeuristic(ctx.cublas_lt, p.op.handle, p.lw.handle, p.la.handle,
                                                              p.ly.handle, p.ly.handle, p.pref.handle, 1, &result, &returned);
  if (found == CUBLAS_STATUS_SUCCESS && returned > 0) {
    ctx.check(launch_lt(ctx, p, g, result.algo), "cublasLtMatmul");
    return;
  }
  // No epilogue algorithm for this problem: the bias broadcast into Y, a GEMM that accumulates onto it, then the
  // residual.
  ctx.check(broadcast_matrix(ctx.in(2).data, 1, g.N, y.data, g.M, g.N, bytes, ctx.stream), "broadcast_matrix");
  GemmProblem gp;
  gp.M = g.M;
  gp.N = g.N;
  gp.K = g.K;
  gemm_call(ctx, gp, ctx.in(0).data, ctx.in(1).data, y.data, 1.0f, 1.0f);
  add_residual();
}

// Whether a split-K algorithm adds its parts in fp32: cuBLASLt's in-place and output-type reductions add them in the
// output type, which for float16 would round every partial sum (normrt's GEMMs accumulate in fp32).
bool accumulates_in_fp32(const LtProblem& p, const std::string& config) {
  const auto values = parse_config(config);
  const int64_t splits = values.count("lt_splitk") ? values.at("lt_splitk") : 1;
  const int64_t scheme =
      values.count("lt_reduction") ? values.at("lt_reduction") : static_cast<int64_t>(CUBLASLT_REDUCTION_SCHEME_NONE);
  return p.type == CUDA_R_32F || splits <= 1 || scheme == CUBLASLT_REDUCTION_SCHEME_NONE ||
         scheme == CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
}

// How many of cuBLASLt's ranked algorithms tune() times (its heuristic's first is not always the fastest at the
// small M of batch 1, where split-K and tile shape decide).
constexpr int kTimedLtAlgos = 12;

// Split counts tune() also times for each ranked algorithm that runs unsplit and can split K. At batch 1 M is a few
// dozen tokens, and the heuristic's unsplit kernels give a weight-streaming GEMM too few blocks for the GPU (H200,
// tf32 UNet at 64 tokens: the 1280x1280 out-projection read its 6.5 MB of weights at 0.46 TB/s).
constexpr uint32_t kSplitCounts[] = {2, 3, 4, 6, 8, 12, 16};

// `algo` with K split in `splits` parts that add in fp32 in the workspace (a separate, deterministic reduction),
// if the algorithm offers that and cuBLASLt accepts it for this problem within the workspace.
bool split_k_variant(CudaKernelContext& ctx, const LtProblem& p, cublasLtMatmulAlgo_t algo, uint32_t splits,
                     cublasLtMatmulAlgo_t* out) {
  int32_t splitk_support = 0;
  uint32_t reduction_mask = 0;
  const uint32_t scheme = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
  if (!scalar_capability(algo, CUBLASLT_ALGO_CAP_SPLITK_SUPPORT, &splitk_support) || !splitk_support ||
      !scalar_capability(algo, CUBLASLT_ALGO_CAP_REDUCTION_SCHEME_MASK, &reduction_mask) ||
      !(reduction_mask & scheme))
    return false;
  if (cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splits, sizeof(splits)) !=
          CUBLAS_STATUS_SUCCESS ||
      cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &scheme, sizeof(scheme)) !=
          CUBLAS_STATUS_SUCCESS)
    return false;
  cublasLtMatmulHeuristicResult_t check{};
  if (cublasLtMatmulAlgoCheck(ctx.cublas_lt, p.op.handle, p.lw.handle, p.la.handle, p.ly.handle, p.ly.handle, &algo,
                              &check) != CUBLAS_STATUS_SUCCESS ||
      check.workspaceSize > p.workspace)
    return false;
  *out = algo;
  return true;
}

// Measures cuBLASLt's first ranked algorithms and their split-K variants at these shapes (LaunchTimer) and returns
// the fastest's configuration ("" when none runs: run() then asks the heuristic).
std::string matmul_bias_tune(CudaKernelContext& ctx) {
  const BiasGemm g = bias_gemm(ctx);
  DeviceValue& y = ctx.out(0);
  if (y.numel() == 0 || g.K == 0 || !y.data) return "";
  LtProblem p;
  make_lt_problem(ctx, g.M, g.N, g.K, g.residual ? g.residual->data : y.data, &p);
  cublasLtMatmulHeuristicResult_t results[kTimedLtAlgos];
  int returned = 0;
  if (cublasLtMatmulAlgoGetHeuristic(ctx.cublas_lt, p.op.handle, p.lw.handle, p.la.handle, p.ly.handle, p.ly.handle,
                                     p.pref.handle, kTimedLtAlgos, results, &returned) != CUBLAS_STATUS_SUCCESS)
    return "";
  // The ranked algorithms, then their split-K variants; each configuration once.
  std::vector<cublasLtMatmulAlgo_t> algos;
  std::vector<std::string> configs;
  auto offer = [&](const cublasLtMatmulAlgo_t& algo) {
    std::string config = lt_algo_config(algo);
    if (config.empty() || !accumulates_in_fp32(p, config) ||
        std::find(configs.begin(), configs.end(), config) != configs.end())
      return;
    algos.push_back(algo);
    configs.push_back(std::move(config));
  };
  for (int i = 0; i < returned; ++i)
    if (results[i].state == CUBLAS_STATUS_SUCCESS && results[i].workspaceSize <= p.workspace) offer(results[i].algo);
  const size_t ranked = algos.size();
  for (size_t i = 0; i < ranked; ++i) {
    if (parse_config(configs[i]).at("lt_splitk") != 1) continue;
    for (uint32_t splits : kSplitCounts) {
      cublasLtMatmulAlgo_t split{};
      if (split_k_variant(ctx, p, algos[i], splits, &split)) offer(split);
    }
  }
  std::vector<LaunchTimer::Launch> launches;
  for (size_t i = 0; i < algos.size(); ++i)
    launches.push_back([&, i] { return launch_lt(ctx, p, g, algos[i]) == CUBLAS_STATUS_SUCCESS; });
  LaunchTimer timer(ctx.stream);
  const LaunchTimer::Fastest best = timer.fastest(launches);
  return best.index < 0 ? "" : configs[static_cast<size_t>(best.index)];
}

// ---- ai.normrt PermutedMatMul: the transposes around a MatMul (attention's head split and merge) read and
// written in place by a strided-batched GEMM. Each operand's matrix needs one unit-stride axis (op N or op T,
// with the other axis's stride as its leading dimension); Y's columns (N) must stay unit-stride; the batch axes
// keep whatever strides the perms give them (the innermost one is the strided batch, the others a host loop).
std::vector<int64_t> contiguous_strides(const Dims& dims) {
  std::vector<int64_t> strides(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) strides[i - 1] = strides[i] * dims[i];
  return strides;
}

std::vector<int64_t> perm_attribute(const CudaKernelContext& ctx, const char* name, size_t rank) {
  std::vector<int64_t> perm(rank);
  for (size_t i = 0; i < rank; ++i) perm[i] = static_cast<int64_t>(i);
  if (ctx.node.has_attribute(name)) perm = ctx.node.attr_ints(name);
  if (perm.size() != rank) ctx.fail(std::string(name) + " does not match the rank");
  return perm;
}

// One operand's matrix [rows, cols] with strides: the cuBLAS operation and leading dimension that read it as the
// column-major matrix [cols, rows] (op N) or through op T.
bool matrix_operand(int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride, cublasOperation_t* op,
                    int64_t* ld) {
  if (col_stride == 1 || cols == 1) {
    *op = CUBLAS_OP_N;
    *ld = rows == 1 ? std::max<int64_t>(cols, 1) : row_stride;
    return *ld >= cols;
  }
  if (row_stride == 1 || rows == 1) {
    *op = CUBLAS_OP_T;
    *ld = col_stride;
    return *ld >= rows;
  }
  return false;
}

// The GEMM a PermutedMatMul node is at the context's shapes.
struct PermutedGemm {
  int64_t M = 0, N = 0, K = 0;
  cublasOperation_t op_a = CUBLAS_OP_N, op_b = CUBLAS_OP_N;
  int64_t ld_a = 0, ld_b = 0, ld_y = 0;
  // The batch axes of extent > 1, with each operand's element step (0 where it broadcasts).
  std::vector<int64_t> extent, step_a, step_b, step_y;
  int64_t batches() const {
    int64_t n = 1;
    for (int64_t e : extent) n *= e;
    return n;
  }
};

PermutedGemm permuted_problem(const CudaKernelContext& ctx) {
  const Dims& a_dims = ctx.in(0).dims;
  const Dims& b_dims = ctx.in(1).dims;
  const Dims& y_dims = ctx.outputs[0].dims;
  const size_t r = y_dims.size();
  if (a_dims.size() < 2 || b_dims.size() < 2 || a_dims.size() > r || b_dims.size() > r)
    ctx.fail("A [" + dims_to_string(a_dims) + "] and B [" + dims_to_string(b_dims) + "] do not match Y [" +
             dims_to_string(y_dims) + "]");
  // Each operand permuted, then left-padded with extent-1 axes to Y's rank.
  auto permuted = [&](const Dims& dims_in, const char* name, Dims* dims, std::vector<int64_t>* strides) {
    const std::vector<int64_t> perm = perm_attribute(ctx, name, dims_in.size());
    const std::vector<int64_t> s = contiguous_strides(dims_in);
    dims->assign(r - dims_in.size(), 1);
    strides->assign(r - dims_in.size(), 0);
    for (int64_t p : perm) {
      dims->push_back(dims_in[static_cast<size_t>(p)]);
      strides->push_back(s[static_cast<size_t>(p)]);
    }
  };
  Dims da, db;
  std::vector<int64_t> sa, sb;
  permuted(a_dims, "perm_a", &da, &sa);
  permuted(b_dims, "perm_b", &db, &sb);
  // Y before perm_y: its axis py[j] is Y's axis j.
  const std::vector<int64_t> py = perm_attribute(ctx, "perm_y", r);
  const std::vector<int64_t> sy_final = contiguous_strides(y_dims);
  Dims dy(r);
  std::vector<int64_t> sy(r);
  for (size_t j = 0; j < r; ++j) {
    dy[static_cast<size_t>(py[j])] = y_dims[j];
    sy[static_cast<size_t>(py[j])] = sy_final[j];
  }
  PermutedGemm g;
  g.M = da[r - 2];
  g.K = da[r - 1];
  g.N = db[r - 1];
  if (db[r - 2] != g.K || dy[r - 2] != g.M || dy[r - 1] != g.N)
    ctx.fail("the permuted shapes do not multiply: A [" + dims_to_string(da) + "], B [" + dims_to_string(db) +
             "], Y [" + dims_to_string(dy) + "]");
  if (sy[r - 1] != 1 && g.N != 1) ctx.fail("perm_y moves Y's last axis; a GEMM writes it with unit stride");
  // Column-major: Y^T[N, M] = B^T[N, K] A^T[K, M]; cuBLAS's first operand is our B.
  if (!matrix_operand(g.K, g.N, sb[r - 2], sb[r - 1], &g.op_b, &g.ld_b) ||
      !matrix_operand(g.M, g.K, sa[r - 2], sa[r - 1], &g.op_a, &g.ld_a))
    ctx.fail("an operand's matrix has no unit-stride axis after its perm");
  g.ld_y = g.M == 1 ? std::max<int64_t>(g.N, 1) : sy[r - 2];
  for (size_t i = 0; i + 2 < r; ++i) {
    if (dy[i] == 1) continue;
    if ((da[i] != dy[i] && da[i] != 1) || (db[i] != dy[i] && db[i] != 1))
      ctx.fail("batch axis " + std::to_string(i) + " does not broadcast");
    g.extent.push_back(dy[i]);
    g.step_a.push_back(da[i] == 1 ? 0 : sa[i]);
    g.step_b.push_back(db[i] == 1 ? 0 : sb[i]);
    g.step_y.push_back(sy[i]);
  }
  return g;
}

// Several batch axes (attention's batch and heads) take one pointer-array GEMM, not a GEMM per outer index
// (H100, 2026-11-26: the host loop made the UNet at batch 8 6% slower than the copies it saves).
bool uses_pointer_arrays(const PermutedGemm& g) {
  return g.extent.size() > 1 && g.extent.size() <= static_cast<size_t>(kMaxGemmBatchAxes);
}

size_t permuted_matmul_workspace(const CudaKernelContext& ctx) {
  const PermutedGemm g = permuted_problem(ctx);
  return uses_pointer_arrays(g) ? 3 * static_cast<size_t>(g.batches()) * sizeof(void*) : 0;
}

void permuted_matmul_run(CudaKernelContext& ctx) {
  check_types(ctx);
  const DeviceValue& av = ctx.in(0);
  const DeviceValue& bv = ctx.in(1);
  DeviceValue& y = ctx.out(0);
  if (y.numel() == 0) return;
  const PermutedGemm g = permuted_problem(ctx);
  if (g.K == 0) {
    ctx.check(cudaMemsetAsync(y.data, 0, y.nbytes(), ctx.stream), "cudaMemsetAsync");
    return;
  }
  const cudaDataType_t type = cuda_type(y.dtype);
  const int64_t bytes = element_bytes(y.dtype);
  const float alpha = 1.0f, beta = 0.0f;
  const cublasComputeType_t compute =
      ctx.allow_tf32 && type == CUDA_R_32F ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  const int m = as_int(ctx, g.N), n = as_int(ctx, g.M), k = as_int(ctx, g.K);
  const int ld_b = as_int(ctx, g.ld_b), ld_a = as_int(ctx, g.ld_a), ld_y = as_int(ctx, g.ld_y);
  if (uses_pointer_arrays(g)) {
    const int64_t count = g.batches();
    if (!ctx.workspace || ctx.workspace_bytes < 3 * static_cast<size_t>(count) * sizeof(void*))
      ctx.fail("the pointer arrays need " + std::to_string(3 * count * sizeof(void*)) + " bytes of workspace");
    GemmPointerArgs args;
    args.a = static_cast<const char*>(av.data);
    args.b = static_cast<const char*>(bv.data);
    args.y = static_cast<char*>(y.data);
    args.axes = static_cast<int>(g.extent.size());
    for (size_t i = 0; i < g.extent.size(); ++i) {
      args.extent[i] = g.extent[i];
      args.step_a[i] = g.step_a[i] * bytes;
      args.step_b[i] = g.step_b[i] * bytes;
      args.step_y[i] = g.step_y[i] * bytes;
    }
    void** slots = static_cast<void**>(ctx.workspace);
    const void** a_ptrs = const_cast<const void**>(slots);
    const void** b_ptrs = a_ptrs + count;
    void** y_ptrs = slots + 2 * count;
    ctx.check(gemm_pointer_arrays(args, a_ptrs, b_ptrs, y_ptrs, ctx.stream), "gemm_pointer_arrays");
    ctx.check(cublasGemmBatchedEx(ctx.cublas, g.op_b, g.op_a, m, n, k, &alpha, b_ptrs, type, ld_b, a_ptrs, type, ld_a,
                                  &beta, y_ptrs, type, ld_y, as_int(ctx, count), compute, CUBLAS_GEMM_DEFAULT),
              "cublasGemmBatchedEx");
    return;
  }
  // At most one batch axis (or more than the pointer kernel takes): the innermost is the strided batch, the
  // others loop here.
  std::vector<int64_t> extent = g.extent;
  int64_t batch = 1, stride_a = 0, stride_b = 0, stride_y = 0;
  if (!extent.empty()) {
    batch = extent.back();
    stride_a = g.step_a.back();
    stride_b = g.step_b.back();
    stride_y = g.step_y.back();
    extent.pop_back();
  }
  int64_t calls = 1;
  for (int64_t e : extent) calls *= e;
  std::vector<int64_t> index(extent.size(), 0);
  for (int64_t call = 0; call < calls; ++call) {
    int64_t off_a = 0, off_b = 0, off_y = 0;
    for (size_t i = 0; i < index.size(); ++i) {
      off_a += index[i] * g.step_a[i];
      off_b += index[i] * g.step_b[i];
      off_y += index[i] * g.step_y[i];
    }
    ctx.check(cublasGemmStridedBatchedEx(ctx.cublas, g.op_b, g.op_a, m, n, k, &alpha,
                                         static_cast<const char*>(bv.data) + off_b * bytes, type, ld_b, stride_b,
                                         static_cast<const char*>(av.data) + off_a * bytes, type, ld_a, stride_a, &beta,
                                         static_cast<char*>(y.data) + off_y * bytes, type, ld_y, stride_y,
                                         as_int(ctx, batch), compute, CUBLAS_GEMM_DEFAULT),
              "cublasGemmStridedBatchedEx");
    for (size_t i = index.size(); i-- > 0;) {
      if (++index[i] < extent[i]) break;
      index[i] = 0;
    }
  }
}

bool same_float_types(const std::vector<TypeShape>& inputs) {
  if (inputs.size() < 2 || !is_dnn_float(inputs[0].dtype)) return false;
  for (size_t i = 1; i < inputs.size(); ++i)
    if (inputs[i].dtype != ElementType::kUndefined && inputs[i].dtype != inputs[0].dtype) return false;
  return true;
}

bool matmul_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  if (node.outputs.size() != 1 || inputs.size() != 2 || !same_float_types(inputs)) return false;
  for (const TypeShape& t : inputs)
    if (!t.shape.has_rank || t.shape.rank() == 0) return false;
  return true;
}

bool gemm_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  if (node.outputs.size() != 1 || inputs.size() < 2 || inputs.size() > 3 || !same_float_types(inputs)) return false;
  if (!inputs[0].shape.has_rank || inputs[0].shape.rank() != 2) return false;
  if (!inputs[1].shape.has_rank || inputs[1].shape.rank() != 2) return false;
  if (inputs.size() == 3 && inputs[2].dtype != ElementType::kUndefined &&
      (!inputs[2].shape.has_rank || inputs[2].shape.rank() > 2))
    return false;
  return true;
}

NORMRT_REGISTER_CUDA_KERNEL(CudaKernel{
    "cublas_matmul", "", "MatMul", matmul_accepts, matmul_run, nullptr, nullptr, {}, 0});
NORMRT_REGISTER_CUDA_KERNEL(CudaKernel{"cublas_gemm", "", "Gemm", gemm_accepts, gemm_run, nullptr, nullptr, {}, 0});

bool matmul_bias_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  if (node.outputs.size() != 1 || (inputs.size() != 3 && inputs.size() != 4) || !same_float_types(inputs)) return false;
  return inputs[0].shape.has_rank && inputs[0].shape.rank() >= 2 && inputs[1].shape.has_rank &&
         inputs[1].shape.rank() == 2 && inputs[2].shape.has_rank && inputs[2].shape.rank() == 1;
}

// Whether the perms leave each matrix a unit-stride axis and Y's last axis last (see permuted_matmul_run).
bool permuted_matmul_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  if (node.outputs.size() != 1 || inputs.size() != 2 || !same_float_types(inputs)) return false;
  for (size_t i = 0; i < 2; ++i) {
    if (!inputs[i].shape.has_rank || inputs[i].shape.rank() < 2) return false;
    const int64_t rank = static_cast<int64_t>(inputs[i].shape.rank());
    const char* name = i == 0 ? "perm_a" : "perm_b";
    if (!node.has_attribute(name)) continue;
    const std::vector<int64_t> perm = node.attr_ints(name);
    if (static_cast<int64_t>(perm.size()) != rank) return false;
    if (perm[rank - 1] != rank - 1 && perm[rank - 2] != rank - 1) return false;
  }
  if (node.has_attribute("perm_y")) {
    const std::vector<int64_t> perm = node.attr_ints("perm_y");
    if (perm.empty() || perm.back() != static_cast<int64_t>(perm.size()) - 1) return false;
  }
  return true;
}

NORMRT_REGISTER_CUDA_KERNEL(CudaKernel{"cublas_permuted_matmul", kNormrtDomain, "PermutedMatMul",
                                       permuted_matmul_accepts, permuted_matmul_run, permuted_matmul_workspace, nullptr, {},
                                       0});
NORMRT_REGISTER_CUDA_KERNEL(CudaKernel{"cublaslt_matmul_bias", kNormrtDomain, "MatMulBias", matmul_bias_accepts,
                                       matmul_bias_run, matmul_bias_workspace, matmul_bias_tune, {}, 0});

// ---- ai.normrt MatMulGroup: Y_i[..., N] = A[..., K] B_i[K, N] for n matrices of one shape, as one batched GEMM
// whose pointer arrays (A n times, each B_i, each Y_i: unrelated buffers) a one-block kernel writes. Attention's
// q, k and v projections at batch 1 are three GEMMs of a few dozen tiles each; batched, they fill the GPU once
// instead of three times.
//
// The arrays are written once per set of addresses, into device memory the node keeps (GroupPointerArrays), so a
// replayed CUDA graph runs the GEMM alone: the pointer kernel costs a launch of a few microseconds per group, seven
// of them in the SD-1.5 UNet at batch 1. A set is never rewritten, since a captured graph that skipped the kernel
// reads it; past kMaxKeptPointerSets sets, or where memory cannot be allocated (during a capture), the kernel writes
// the arrays into the workspace on every run.

constexpr size_t kMaxKeptPointerSets = 64;

struct GroupPointerArrays {
  std::map<std::vector<const void*>, DeviceBuffer> written;  // addresses (A, each B_i, each Y_i) -> their arrays
};

size_t matmul_group_workspace(const CudaKernelContext&) {
  return 3 * static_cast<size_t>(kMaxGemmPointerList) * sizeof(void*);
}

// Device pointer arrays for `list` (a_ptrs, then b_ptrs, then y_ptrs, kMaxGemmPointerList each): kept ones when
// this node wrote them before, else written now, into kept memory when it can be allocated.
void** group_pointer_arrays(CudaKernelContext& ctx, const GemmPointerList& list) {
  GroupPointerArrays* kept = nullptr;
  if (ctx.state) {
    if (!ctx.state->has_value()) ctx.state->emplace<GroupPointerArrays>();
    kept = std::any_cast<GroupPointerArrays>(ctx.state);
  }
  std::vector<const void*> key;
  for (int i = 0; i < list.count; ++i) key.insert(key.end(), {list.a[i], list.b[i], list.y[i]});
  void** slots = nullptr;
  if (kept) {
    if (auto it = kept->written.find(key); it != kept->written.end()) return static_cast<void**>(it->second.data());
    cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
    ctx.check(cudaStreamIsCapturing(ctx.stream, &capturing), "cudaStreamIsCapturing");
    if (capturing == cudaStreamCaptureStatusNone && kept->written.size() < kMaxKeptPointerSets) {
      DeviceBuffer arrays(matmul_group_workspace(ctx));
      slots = static_cast<void**>(arrays.data());
      kept->written.emplace(std::move(key), std::move(arrays));
    }
  }
  if (!slots) {
    if (!ctx.workspace || ctx.workspace_bytes < matmul_group_workspace(ctx)) ctx.fail("the pointer arrays need workspace");
    slots = static_cast<void**>(ctx.workspace);
  }
  ctx.check(gemm_pointer_list(list, const_cast<const void**>(slots), const_cast<const void**>(slots) + kMaxGemmPointerList,
                              slots + 2 * kMaxGemmPointerList, ctx.stream),
            "gemm_pointer_list");
  return slots;
}

void matmul_group_run(CudaKernelContext& ctx) {
  check_types(ctx);
  const size_t count = ctx.inputs.size() - 1;
  if (count < 1 || count > static_cast<size_t>(kMaxGemmPointerList) || ctx.outputs.size() != count)
    ctx.fail("takes A and 1 to " + std::to_string(kMaxGemmPointerList) + " matrices, one output each");
  const DeviceValue& a = ctx.in(0);
  if (a.dims.size() < 2) ctx.fail("A [" + dims_to_string(a.dims) + "] must have rank >= 2");
  const int64_t K = a.dims.back();
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < a.dims.size(); ++d) rows *= a.dims[d];
  const Dims& b_dims = ctx.in(1).dims;
  if (b_dims.size() != 2 || b_dims[0] != K) ctx.fail("B_1 [" + dims_to_string(b_dims) + "] must be [K, N] with K = " + std::to_string(K));
  const int64_t N = b_dims[1];
  Dims y_dims(a.dims.begin(), a.dims.end() - 1);
  y_dims.push_back(N);
  GemmPointerList list;
  list.count = static_cast<int>(count);
  for (size_t i = 0; i < count; ++i) {
    if (ctx.in(i + 1).dims != b_dims) ctx.fail("the matrices B_i differ in shape");
    DeviceValue& y = ctx.out(i);
    if (y.dims != y_dims) ctx.fail("output " + std::to_string(i) + " [" + dims_to_string(y.dims) + "] is not [" + dims_to_string(y_dims) + "]");
    list.a[i] = a.data;
    list.b[i] = ctx.in(i + 1).data;
    list.y[i] = y.data;
  }
  if (rows == 0 || N == 0) return;
  if (K == 0) {  // an empty sum: zeros
    for (size_t i = 0; i < count; ++i)
      ctx.check(cudaMemsetAsync(ctx.out(i).data, 0, ctx.out(i).nbytes(), ctx.stream), "cudaMemsetAsync");
    return;
  }
  void** slots = group_pointer_arrays(ctx, list);
  const void** a_ptrs = const_cast<const void**>(slots);
  const void** b_ptrs = a_ptrs + kMaxGemmPointerList;
  void** y_ptrs = slots + 2 * kMaxGemmPointerList;
  // Column-major: Y_i^T [N, rows] = B_i^T [N, K] A^T [K, rows].
  const cudaDataType_t type = cuda_type(a.dtype);
  const float alpha = 1.0f, beta = 0.0f;
  const cublasComputeType_t compute =
      ctx.allow_tf32 && type == CUDA_R_32F ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  const int m = as_int(ctx, N), n = as_int(ctx, rows), k = as_int(ctx, K);
  ctx.check(cublasGemmBatchedEx(ctx.cublas, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, b_ptrs, type, m, a_ptrs, type, k,
                                &beta, y_ptrs, type, m, static_cast<int>(count), compute, CUBLAS_GEMM_DEFAULT),
            "cublasGemmBatchedEx");
}

bool matmul_group_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  if (inputs.size() < 2 || inputs.size() > static_cast<size_t>(kMaxGemmPointerList) + 1 ||
      node.outputs.size() != inputs.size() - 1 || !same_float_types(inputs))
    return false;
  if (!inputs[0].shape.has_rank || inputs[0].shape.rank() < 2) return false;
  for (size_t i = 1; i < inputs.size(); ++i)
    if (!inputs[i].shape.has_rank || inputs[i].shape.rank() != 2) return false;
  return true;
}

NORMRT_REGISTER_CUDA_KERNEL(CudaKernel{"cublas_matmul_group", kNormrtDomain, "MatMulGroup", matmul_group_accepts,
                                       matmul_group_run, matmul_group_workspace, nullptr, {}, 0});

}  // namespace
}  // namespace cuda
}  // namespace normrt
