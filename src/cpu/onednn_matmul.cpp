// float32 MatMul ("onednn_matmul") and Gemm ("onednn_gemm") on oneDNN's matmul primitive.
// MatMul: 1-D operands are lifted to matrices, batch dims padded with leading 1s and broadcast by oneDNN (it
// accepts a 1 in either operand), up to oneDNN's 12 dims. Gemm: transA/transB are strided views of the
// operands; with alpha = beta = 1, C is the primitive's bias (a broadcastable [1|M, 1|N] view); otherwise C is
// broadcast into Y first and the primitive computes Y = alpha * A'B' + beta * Y (output scale and sum post-op).
// The primitive is cached per input shape in the node's state; the operands are used in place.
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "cpu/cpu_kernel.h"
#include "cpu/onednn_util.h"
#include "ops/shape_util.h"

namespace normrt {
namespace {

using dnnl::memory;

constexpr size_t kMaxMatMulRank = 12;  // oneDNN matmul: "tensors can be up to 12D"

struct MatMulEntry {
  bool fallback = false;
  dnnl::matmul primitive;
  memory::desc a, b, y, bias;
  bool use_bias = false;
  bool prefill_c = false;  // Gemm: Y starts as broadcast C and the sum post-op scales it by beta
};

using MatMulCache = onednn::ShapeCache<MatMulEntry>;

std::unique_ptr<MatMulEntry> build_matmul(const KernelContext& ctx) {
  auto e = std::make_unique<MatMulEntry>();
  Dims a = ctx.in(0).dims(), b = ctx.in(1).dims();
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  const size_t rank = std::max(a.size(), b.size());
  if (rank > kMaxMatMulRank) {
    e->fallback = true;
    return e;
  }
  a.insert(a.begin(), rank - a.size(), 1);
  b.insert(b.begin(), rank - b.size(), 1);
  Dims y(rank);
  for (size_t i = 0; i + 2 < rank; ++i) y[i] = std::max(a[i], b[i]);
  y[rank - 2] = a[rank - 2];
  y[rank - 1] = b[rank - 1];
  e->a = onednn::plain_desc(onednn::to_dims(a));
  e->b = onednn::plain_desc(onednn::to_dims(b));
  e->y = onednn::plain_desc(onednn::to_dims(y));
  try {
    dnnl::matmul::desc desc(e->a, e->b, e->y);
    e->primitive = dnnl::matmul(dnnl::matmul::primitive_desc(desc, onednn::engine()));
  } catch (const dnnl::error&) {
    e = std::make_unique<MatMulEntry>();
    e->fallback = true;
  }
  return e;
}

std::unique_ptr<MatMulEntry> build_gemm(const KernelContext& ctx) {
  auto e = std::make_unique<MatMulEntry>();
  const Tensor& A = ctx.in(0);
  const Tensor& Y = ctx.out(0);
  const bool trans_a = ctx.node.attr_int("transA", 0) != 0;
  const bool trans_b = ctx.node.attr_int("transB", 0) != 0;
  const float alpha = ctx.node.attr_float("alpha", 1.0f), beta = ctx.node.attr_float("beta", 1.0f);
  const int64_t M = Y.dims()[0], N = Y.dims()[1];
  const int64_t K = trans_a ? A.dims()[0] : A.dims()[1];
  e->a = trans_a ? onednn::strided_desc({M, K}, {1, M}) : onednn::plain_desc({M, K});
  e->b = trans_b ? onednn::strided_desc({K, N}, {1, K}) : onednn::plain_desc({K, N});
  e->y = onednn::plain_desc({M, N});
  const bool has_c = ctx.has_input(2) && beta != 0.0f;
  dnnl::primitive_attr attr;
  if (has_c && alpha == 1.0f && beta == 1.0f) {
    const Dims& c = ctx.in(2).dims();
    const int64_t rows = c.size() == 2 ? c[0] : 1;
    const int64_t cols = c.empty() ? 1 : c.back();
    e->bias = onednn::plain_desc({rows, cols});
    e->use_bias = true;
  } else {
    if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
    if (has_c) {
      dnnl::post_ops ops;
      ops.append_sum(beta);
      attr.set_post_ops(ops);
      e->prefill_c = true;
    }
  }
  try {
    dnnl::matmul::desc desc =
        e->use_bias ? dnnl::matmul::desc(e->a, e->b, e->bias, e->y) : dnnl::matmul::desc(e->a, e->b, e->y);
    e->primitive = dnnl::matmul(dnnl::matmul::primitive_desc(desc, attr, onednn::engine()));
  } catch (const dnnl::error&) {
    e = std::make_unique<MatMulEntry>();
    e->fallback = true;
  }
  return e;
}

// Y[i, j] = C broadcast (unidirectionally) to [M, N].
void broadcast_c_into(const Tensor& C, Tensor& Y) {
  const int64_t M = Y.dims()[0], N = Y.dims()[1];
  const std::vector<int64_t> s = broadcast_strides(C.dims(), Y.dims());
  const float* c = C.data<float>();
  float* y = Y.data<float>();
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) y[i * N + j] = c[i * s[0] + j * s[1]];
}

void run_common(KernelContext& ctx, bool gemm) {
  const Tensor& A = ctx.in(0);
  const Tensor& B = ctx.in(1);
  Tensor& Y = ctx.out(0);
  if (A.numel() == 0 || B.numel() == 0 || Y.numel() == 0) {
    onednn::run_reference(ctx);
    return;
  }
  std::vector<Dims> key{A.dims(), B.dims()};
  if (gemm) key.push_back(ctx.has_input(2) ? ctx.in(2).dims() : Dims{-1});
  std::shared_ptr<MatMulCache> cache = MatMulCache::from(ctx.state);
  MatMulEntry* e = cache->find(key);
  if (!e) e = cache->insert(key, gemm ? build_gemm(ctx) : build_matmul(ctx));
  if (e->fallback) {
    onednn::run_reference(ctx);
    return;
  }
  try {
    if (e->prefill_c) broadcast_c_into(ctx.in(2), Y);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, onednn::wrap(e->a, A)},
                                         {DNNL_ARG_WEIGHTS, onednn::wrap(e->b, B)},
                                         {DNNL_ARG_DST, onednn::wrap(e->y, Y)}};
    if (e->use_bias) args[DNNL_ARG_BIAS] = onednn::wrap(e->bias, ctx.in(2));
    dnnl::stream& stream = onednn::stream();
    e->primitive.execute(stream, args);
    stream.wait();
  } catch (const dnnl::error& err) {
    throw Error(ErrorCode::kInternal, ctx.node.describe() + ": oneDNN failed: " + err.what());
  }
}

void matmul_run(KernelContext& ctx) { run_common(ctx, false); }
void gemm_run(KernelContext& ctx) { run_common(ctx, true); }

bool all_float32(const std::vector<TypeShape>& inputs) {
  for (const TypeShape& t : inputs)
    if (t.dtype != DataType::kFloat32 && t.dtype != DataType::kUndefined) return false;
  return inputs.size() >= 2 && inputs[0].dtype == DataType::kFloat32 && inputs[1].dtype == DataType::kFloat32;
}

bool matmul_accepts(const Node&, int64_t, const std::vector<TypeShape>& inputs) {
  if (inputs.size() != 2 || !all_float32(inputs)) return false;
  for (const TypeShape& t : inputs)
    if (t.shape.has_rank && (t.shape.rank() == 0 || t.shape.rank() > kMaxMatMulRank)) return false;
  return true;
}

bool gemm_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  if (inputs.size() < 2 || inputs.size() > 3 || !all_float32(inputs)) return false;
  try {
    node.attr_int("transA", 0);
    node.attr_int("transB", 0);
    node.attr_float("alpha", 1.0f);
    node.attr_float("beta", 1.0f);
  } catch (const Error&) {
    return false;
  }
  return true;
}

}  // namespace

NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"onednn_matmul", "", "MatMul", matmul_accepts, matmul_run, 10});
NORMRT_REGISTER_CPU_KERNEL(CpuKernel{"onednn_gemm", "", "Gemm", gemm_accepts, gemm_run, 10});

}  // namespace normrt
