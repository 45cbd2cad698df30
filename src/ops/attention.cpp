// ai.normrt Attention(Q, K, V): scaled dot-product attention over heads, in the token-major layout the projections
// write (no head transposes):
//
//   Q [N, Lq, H, D], K [N, Lk, H, D], V [N, Lk, H, Dv]  ->  Y [N, Lq, H, Dv]
//   Y[n, i, h, :] = sum_j softmax_j(scale * <Q[n, i, h, :], K[n, j, h, :]>) * V[n, j, h, :]
//
// attention_fusion writes it for the MatMul / Softmax / MatMul that exporters write out, so that a device runs one
// kernel that never stores the [N, H, Lq, Lk] scores. The reference computes in double and rounds once.
#include <cmath>

#include "ops/op.h"
#include "ops/shape_util.h"

namespace normrt {
namespace {

std::string dim_text(const Dim& d) { return d.known() ? std::to_string(d.value) : (d.symbol.empty() ? "?" : d.symbol); }

// Two dims that must agree: fails naming both when they are known and differ.
void require_equal(const InferContext& ctx, const Dim& a, const std::string& a_name, const Dim& b,
                   const std::string& b_name) {
  if (a.known() && b.known() && a.value != b.value)
    ctx.fail(a_name + " is " + dim_text(a) + " but " + b_name + " is " + dim_text(b));
}

void infer_attention(InferContext& ctx) {
  if (ctx.num_inputs() != 3 || !ctx.has_input(0) || !ctx.has_input(1) || !ctx.has_input(2))
    ctx.fail("takes three inputs: Q [N, Lq, H, D], K [N, Lk, H, D] and V [N, Lk, H, Dv]");
  const DataType t = ctx.dtype(0);
  if (t != DataType::kFloat32 && t != DataType::kFloat16 && t != DataType::kBFloat16 && t != DataType::kFloat64)
    ctx.fail(std::string("Q has type ") + dtype_name(t) + "; expected float32, float16, bfloat16 or float64");
  for (size_t i = 1; i < 3; ++i)
    if (ctx.dtype(i) != t)
      ctx.fail(std::string(i == 1 ? "K" : "V") + " has type " + dtype_name(ctx.dtype(i)) + " but Q has type " +
               dtype_name(t));
  const float scale = ctx.node.attr_float("scale", 1.0f);
  if (!std::isfinite(scale)) ctx.fail("scale must be finite");
  const Shape &q = ctx.shape(0), &k = ctx.shape(1), &v = ctx.shape(2);
  const char* names[] = {"Q", "K", "V"};
  const Shape* shapes[] = {&q, &k, &v};
  for (int i = 0; i < 3; ++i)
    if (shapes[i]->has_rank && shapes[i]->rank() != 4)
      ctx.fail(std::string(names[i]) + " " + shapes[i]->to_string() + " must have rank 4 ([N, L, H, D])");
  if (!q.has_rank || !k.has_rank || !v.has_rank) {
    ctx.set_output(0, t, Shape());
    return;
  }
  require_equal(ctx, q.dims[0], "Q's batch", k.dims[0], "K's");
  require_equal(ctx, q.dims[0], "Q's batch", v.dims[0], "V's");
  require_equal(ctx, k.dims[1], "K's length", v.dims[1], "V's");
  require_equal(ctx, q.dims[2], "Q's heads", k.dims[2], "K's");
  require_equal(ctx, q.dims[2], "Q's heads", v.dims[2], "V's");
  require_equal(ctx, q.dims[3], "Q's head size", k.dims[3], "K's");
  const Dim& lk = k.dims[1];
  if (lk.known() && lk.value == 0 && q.dims[1].known() && q.dims[1].value > 0)
    ctx.fail("K and V have no tokens (length 0): a softmax over no keys is undefined");
  ctx.set_output(0, t, Shape(std::vector<Dim>{q.dims[0], q.dims[1], q.dims[2], v.dims[3]}));
}

void attention_reference(KernelContext& ctx) {
  const Tensor &q = ctx.in(0), &k = ctx.in(1), &v = ctx.in(2);
  Tensor& y = ctx.out(0);
  const Dims& qd = q.dims();
  const int64_t N = qd[0], Lq = qd[1], H = qd[2], D = qd[3], Lk = k.dims()[1], Dv = v.dims()[3];
  if (Lk == 0 && Lq > 0) ctx.fail("K and V have no tokens (length 0): a softmax over no keys is undefined");
  const double scale = ctx.node.attr_float("scale", 1.0f);
  const std::vector<double> Q = to_doubles(q), K = to_doubles(k), V = to_doubles(v);
  std::vector<double> Y(static_cast<size_t>(N * Lq * H * Dv)), scores(static_cast<size_t>(Lk));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Lq; ++i) {
        const double* qi = &Q[static_cast<size_t>(((n * Lq + i) * H + h) * D)];
        double top = -INFINITY;
        for (int64_t j = 0; j < Lk; ++j) {
          const double* kj = &K[static_cast<size_t>(((n * Lk + j) * H + h) * D)];
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) dot += qi[d] * kj[d];
          scores[static_cast<size_t>(j)] = scale * dot;
          top = std::max(top, scale * dot);
        }
        double total = 0;
        for (double& s : scores) total += (s = std::exp(s - top));
        double* yi = &Y[static_cast<size_t>(((n * Lq + i) * H + h) * Dv)];
        for (int64_t j = 0; j < Lk; ++j) {
          const double p = scores[static_cast<size_t>(j)] / total;
          const double* vj = &V[static_cast<size_t>(((n * Lk + j) * H + h) * Dv)];
          for (int64_t d = 0; d < Dv; ++d) yi[d] += p * vj[d];
        }
      }
  from_doubles(Y, y);
}

}  // namespace

NORMRT_REGISTER_OP(kNormrtDomain, "Attention", infer_attention, attention_reference);

}  // namespace normrt
