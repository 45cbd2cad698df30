// MatMul (numpy matmul: 1-D operands get a dimension prepended/appended and removed again, batch dims
// broadcast) and Gemm (Y = alpha * A' * B' + beta * C, C optional and unidirectionally broadcast to [M, N]).
// Neither changed semantics between opsets 11 and 21 (opset 13 added bfloat16). The reference kernels
// accumulate floating types in double and integer types in 64 bits.
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/channels_last.h"
#include "ops/evaluate.h"
#include "ops/shape_util.h"

namespace normrt {
namespace {

bool is_float_type(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kFloat64 || t == DataType::kBFloat16;
}
bool is_int_type(DataType t) {
  return t == DataType::kInt32 || t == DataType::kInt64 || t == DataType::kUInt32 || t == DataType::kUInt64;
}

void check_types(const InferContext& ctx, size_t count) {
  const DataType t = ctx.dtype(0);
  if (!is_float_type(t) && !is_int_type(t))
    ctx.fail(std::string("input 0 has type ") + dtype_name(t) +
             "; expected float32, float16, bfloat16, float64, int32, int64, uint32 or uint64");
  if (t == DataType::kBFloat16 && ctx.opset < 13)
    ctx.fail("bfloat16 inputs need opset 13 or later; the model has opset " + std::to_string(ctx.opset));
  for (size_t i = 1; i < count; ++i)
    if (ctx.has_input(i) && ctx.dtype(i) != t)
      ctx.fail("input " + std::to_string(i) + " has type " + dtype_name(ctx.dtype(i)) + " but input 0 has type " +
               dtype_name(t));
}

std::string dim_text(const Dim& d) { return d.known() ? std::to_string(d.value) : (d.symbol.empty() ? "?" : d.symbol); }

void infer_matmul(InferContext& ctx) {
  check_types(ctx, 2);
  const Shape& a = ctx.shape(0);
  const Shape& b = ctx.shape(1);
  if (!a.has_rank || !b.has_rank) {
    ctx.set_output(0, ctx.dtype(0), Shape());
    return;
  }
  if (a.rank() == 0 || b.rank() == 0)
    ctx.fail("inputs " + a.to_string() + " and " + b.to_string() + " must have rank >= 1 (MatMul of a scalar)");
  const Dim& k_a = a.dims.back();
  const Dim& k_b = b.rank() == 1 ? b.dims[0] : b.dims[b.rank() - 2];
  if (k_a.known() && k_b.known() && k_a.value != k_b.value)
    ctx.fail("input 0 " + a.to_string() + " has inner dimension " + dim_text(k_a) + " but input 1 " + b.to_string() +
             " has " + dim_text(k_b));
  std::vector<Dim> batch_a, batch_b;
  if (a.rank() > 2) batch_a.assign(a.dims.begin(), a.dims.end() - 2);
  if (b.rank() > 2) batch_b.assign(b.dims.begin(), b.dims.end() - 2);
  Shape out = broadcast_shapes(ctx, {Shape(batch_a), Shape(batch_b)});
  if (a.rank() >= 2) out.dims.push_back(a.dims[a.rank() - 2]);
  if (b.rank() >= 2) out.dims.push_back(b.dims.back());
  ctx.set_output(0, ctx.dtype(0), out);
}

// ai.normrt MatMulBias(A, B, bias[, residual]) = MatMul(A, B) + bias (+ residual): a Linear layer and the
// residual add after it (the matmul_bias_fusion pass writes it), B [K, N] a matrix, bias [N] and residual (of Y's
// shape exactly) of A's float type.
void infer_matmul_bias(InferContext& ctx) {
  if ((ctx.num_inputs() != 3 && ctx.num_inputs() != 4) || !ctx.has_input(0) || !ctx.has_input(1) || !ctx.has_input(2))
    ctx.fail("takes three or four inputs: A, B [K, N], bias [N] and optionally a residual of Y's shape");
  infer_matmul(ctx);
  const DataType t = ctx.dtype(0);
  if (t != DataType::kFloat32 && t != DataType::kFloat16 && t != DataType::kBFloat16 && t != DataType::kFloat64)
    ctx.fail(std::string("input 0 has type ") + dtype_name(t) + "; expected a float type");
  if (ctx.dtype(2) != t)
    ctx.fail(std::string("bias has type ") + dtype_name(ctx.dtype(2)) + " but input 0 has type " + dtype_name(t));
  const Shape& b = ctx.shape(1);
  const Shape& bias = ctx.shape(2);
  if (b.has_rank && b.rank() != 2) ctx.fail("input 1 " + b.to_string() + " must be a matrix [K, N]");
  if (ctx.shape(0).has_rank && ctx.shape(0).rank() < 2) ctx.fail("input 0 " + ctx.shape(0).to_string() + " must have rank >= 2");
  if (bias.has_rank && bias.rank() != 1) ctx.fail("bias " + bias.to_string() + " must have rank 1 ([N])");
  if (bias.has_rank && b.has_rank && bias.dims[0].known() && b.dims[1].known() && bias.dims[0].value != b.dims[1].value)
    ctx.fail("bias " + bias.to_string() + " must have N = " + std::to_string(b.dims[1].value) + " elements");
  if (ctx.num_inputs() == 4 && ctx.has_input(3)) require_residual_like_output(ctx, 3, "residual");
}

// ai.normrt PermutedMatMul(A, B): Transpose(MatMul(Transpose(A, perm_a), Transpose(B, perm_b)), perm_y), each
// perm optional (identity when absent). matmul_transpose_folding writes it for attention's head split and merge,
// whose transposes a strided GEMM reads in place. A and B have rank >= 2 after their perms.
std::vector<int64_t> checked_perm(const InferContext& ctx, const char* name, size_t rank) {
  if (!ctx.node.has_attribute(name)) return {};
  std::vector<int64_t> perm = ctx.node.attr_ints(name);
  std::vector<bool> seen(rank, false);
  bool ok = perm.size() == rank;
  for (int64_t v : perm) {
    ok = ok && v >= 0 && v < static_cast<int64_t>(rank) && !seen[static_cast<size_t>(v)];
    if (ok) seen[static_cast<size_t>(v)] = true;
  }
  if (!ok) ctx.fail(std::string(name) + " is not a permutation of the " + std::to_string(rank) + " axes");
  return perm;
}

void infer_permuted_matmul(InferContext& ctx) {
  if (ctx.num_inputs() != 2 || !ctx.has_input(0) || !ctx.has_input(1)) ctx.fail("takes two inputs, A and B");
  check_types(ctx, 2);
  if (!ctx.shape(0).has_rank || !ctx.shape(1).has_rank) {
    ctx.set_output(0, ctx.dtype(0), Shape());
    return;
  }
  Shape a = ctx.shape(0), b = ctx.shape(1);
  if (a.rank() < 2 || b.rank() < 2) ctx.fail("inputs " + a.to_string() + " and " + b.to_string() + " must have rank >= 2");
  if (auto pa = checked_perm(ctx, "perm_a", a.rank()); !pa.empty()) a = permute_shape(a, pa);
  if (auto pb = checked_perm(ctx, "perm_b", b.rank()); !pb.empty()) b = permute_shape(b, pb);
  const Dim& k_a = a.dims.back();
  const Dim& k_b = b.dims[b.rank() - 2];
  if (k_a.known() && k_b.known() && k_a.value != k_b.value)
    ctx.fail("A permuted " + a.to_string() + " has inner dimension " + dim_text(k_a) + " but B permuted " +
             b.to_string() + " has " + dim_text(k_b));
  Shape out = broadcast_shapes(ctx, {Shape(std::vector<Dim>(a.dims.begin(), a.dims.end() - 2)),
                                     Shape(std::vector<Dim>(b.dims.begin(), b.dims.end() - 2))});
  out.dims.push_back(a.dims[a.rank() - 2]);
  out.dims.push_back(b.dims.back());
  if (auto py = checked_perm(ctx, "perm_y", out.rank()); !py.empty()) out = permute_shape(out, py);
  ctx.set_output(0, ctx.dtype(0), out);
}

// The reference: the transposes and the MatMul, written out.
void permuted_matmul_reference(KernelContext& ctx) {
  auto permuted = [&](const Tensor& t, const char* name) {
    return ctx.node.has_attribute(name) ? permute_tensor(t, ctx.node.attr_ints(name)) : t;
  };
  const Tensor a = permuted(ctx.in(0), "perm_a"), b = permuted(ctx.in(1), "perm_b");
  Node matmul;
  matmul.op_type = "MatMul";
  matmul.name = ctx.node.name + "/matmul";
  matmul.inputs = {"a", "b"};
  matmul.outputs = {"y"};
  const Tensor y = permuted(run_node(matmul, 13, {&a, &b})[0], "perm_y");
  Tensor& out = ctx.out(0);
  if (out.dims() != y.dims() || out.dtype() != y.dtype())
    ctx.fail("computed [" + dims_to_string(y.dims()) + "], expected [" + dims_to_string(out.dims()) + "]");
  std::memcpy(out.raw(), y.raw(), y.nbytes());
}

// ai.normrt MatMulGroup(A, B_1, ..., B_n) -> Y_1, ..., Y_n: Y_i = MatMul(A, B_i) for matrices B_i [K, N] of one
// shape, A of rank >= 2. matmul_grouping writes it for the projections that read one tensor (attention's q, k and
// v), which a device then runs as one batched GEMM.
void infer_matmul_group(InferContext& ctx) {
  const size_t n = ctx.num_inputs();
  if (n < 3 || ctx.node.outputs.size() != n - 1)
    ctx.fail("takes A and two or more matrices B_i, and has one output per matrix (" + std::to_string(n) +
             " inputs, " + std::to_string(ctx.node.outputs.size()) + " outputs)");
  for (size_t i = 0; i < n; ++i)
    if (!ctx.has_input(i)) ctx.fail("input " + std::to_string(i) + " is missing");
  check_types(ctx, n);
  const Shape& a = ctx.shape(0);
  if (a.has_rank && a.rank() < 2) ctx.fail("A " + a.to_string() + " must have rank >= 2");
  for (size_t i = 1; i < n; ++i) {
    const Shape& b = ctx.shape(i);
    if (b.has_rank && b.rank() != 2) ctx.fail("B_" + std::to_string(i) + " " + b.to_string() + " must be a matrix [K, N]");
    const Shape& b1 = ctx.shape(1);
    for (size_t d = 0; b.has_rank && b1.has_rank && d < 2; ++d)
      if (b.dims[d].known() && b1.dims[d].known() && b.dims[d].value != b1.dims[d].value)
        ctx.fail("B_" + std::to_string(i) + " " + b.to_string() + " and B_1 " + b1.to_string() + " differ in shape");
  }
  for (size_t i = 1; i < n; ++i) {
    InferContext one(ctx.node, ctx.opset);
    one.inputs = {ctx.input(0), ctx.input(i)};
    infer_matmul(one);
    ctx.set_output(i - 1, one.outputs[0].dtype, one.outputs[0].shape);
  }
}

void matmul_group_reference(KernelContext& ctx) {
  Node matmul;
  matmul.op_type = "MatMul";
  matmul.name = ctx.node.name + "/matmul";
  matmul.inputs = {"a", "b"};
  matmul.outputs = {"y"};
  for (size_t i = 1; i < ctx.inputs.size(); ++i) {
    const Tensor y = run_node(matmul, 13, {&ctx.in(0), &ctx.in(i)})[0];
    Tensor& out = ctx.out(i - 1);
    if (out.dims() != y.dims() || out.dtype() != y.dtype())
      ctx.fail("computed [" + dims_to_string(y.dims()) + "], expected [" + dims_to_string(out.dims()) + "]");
    std::memcpy(out.raw(), y.raw(), y.nbytes());
  }
}

void infer_gemm(InferContext& ctx) {
  check_types(ctx, 3);
  ctx.require_rank(0, 2, 2);
  ctx.require_rank(1, 2, 2);
  const Shape& a = ctx.shape(0);
  const Shape& b = ctx.shape(1);
  const bool trans_a = ctx.node.attr_int("transA", 0) != 0;
  const bool trans_b = ctx.node.attr_int("transB", 0) != 0;
  Dim m = Dim::unknown(), n = Dim::unknown();
  if (a.has_rank) {
    m = a.dims[trans_a ? 1 : 0];
    const Dim& k = a.dims[trans_a ? 0 : 1];
    if (b.has_rank) {
      const Dim& kb = b.dims[trans_b ? 1 : 0];
      if (k.known() && kb.known() && k.value != kb.value)
        ctx.fail("input 0 (A) " + a.to_string() + (trans_a ? " transposed" : "") + " has inner dimension " +
                 dim_text(k) + " but input 1 (B) " + b.to_string() + (trans_b ? " transposed" : "") + " has " +
                 dim_text(kb));
    }
  }
  if (b.has_rank) n = b.dims[trans_b ? 0 : 1];
  if (ctx.has_input(2)) {
    ctx.require_rank(2, 0, 2);
    const Shape& c = ctx.shape(2);
    if (c.has_rank) {
      const Dim target[2] = {m, n};
      for (size_t i = 0; i < c.rank(); ++i) {
        const Dim& d = c.dims[i];
        const Dim& t = target[2 - c.rank() + i];
        if (d.known() && d.value != 1 && t.known() && d.value != t.value)
          ctx.fail("input 2 (C) " + c.to_string() + " cannot be broadcast to the output [" + dim_text(m) + "," +
                   dim_text(n) + "]");
      }
    }
  }
  ctx.set_output(0, ctx.dtype(0), Shape({m, n}));
}

// Reads element i as double (float types) or int64 (integer types) through one accumulator type.
template <typename Acc>
Acc load(const Tensor& t, int64_t i);
template <>
double load<double>(const Tensor& t, int64_t i) {
  return t.dtype() == DataType::kFloat32 ? t.data<float>()[i] : element_as_double(t, i);
}
template <>
int64_t load<int64_t>(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kInt32:
      return t.data<int32_t>()[i];
    case DataType::kUInt32:
      return t.data<uint32_t>()[i];
    case DataType::kUInt64:
      return static_cast<int64_t>(t.data<uint64_t>()[i]);
    default:
      return t.data<int64_t>()[i];
  }
}
template <typename Acc>
void store(Tensor& t, int64_t i, Acc v);
template <>
void store<double>(Tensor& t, int64_t i, double v) {
  if (t.dtype() == DataType::kFloat32)
    t.data<float>()[i] = static_cast<float>(v);
  else
    set_element_from_double(t, i, v);
}
template <>
void store<int64_t>(Tensor& t, int64_t i, int64_t v) {
  switch (t.dtype()) {
    case DataType::kInt32:
      t.data<int32_t>()[i] = static_cast<int32_t>(v);
      return;
    case DataType::kUInt32:
      t.data<uint32_t>()[i] = static_cast<uint32_t>(v);
      return;
    case DataType::kUInt64:
      t.data<uint64_t>()[i] = static_cast<uint64_t>(v);
      return;
    default:
      t.data<int64_t>()[i] = v;
      return;
  }
}

template <typename Acc>
std::vector<Acc> load_all(const Tensor& t) {
  std::vector<Acc> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = load<Acc>(t, i);
  return v;
}

template <typename Acc>
void matmul_typed(KernelContext& ctx) {
  const Tensor& A = ctx.in(0);
  const Tensor& B = ctx.in(1);
  Tensor& Y = ctx.out(0);
  // Lift 1-D operands to matrices: [K] -> [1, K] on the left, [K] -> [K, 1] on the right.
  Dims a_dims = A.dims(), b_dims = B.dims();
  if (a_dims.size() == 1) a_dims.insert(a_dims.begin(), 1);
  if (b_dims.size() == 1) b_dims.push_back(1);
  const int64_t M = a_dims[a_dims.size() - 2], K = a_dims.back(), N = b_dims.back();
  if (b_dims[b_dims.size() - 2] != K)
    ctx.fail("inner dimensions differ: A [" + dims_to_string(A.dims()) + "], B [" + dims_to_string(B.dims()) + "]");
  const Dims batch_a(a_dims.begin(), a_dims.end() - 2), batch_b(b_dims.begin(), b_dims.end() - 2);
  const Dims batch = broadcast_dims({batch_a, batch_b});
  const std::vector<int64_t> stride_a = broadcast_strides(batch_a, batch), stride_b = broadcast_strides(batch_b, batch);
  const std::vector<Acc> a = load_all<Acc>(A), b = load_all<Acc>(B);
  // ai.normrt MatMulBias: the bias [N] joins each row before the one rounding to the output type.
  const std::vector<Acc> bias = ctx.node.op_type == "MatMulBias" ? load_all<Acc>(ctx.in(2)) : std::vector<Acc>{};
  if (ctx.node.op_type == "MatMulBias" && static_cast<int64_t>(bias.size()) != N)
    ctx.fail("bias [" + dims_to_string(ctx.in(2).dims()) + "] must have N = " + std::to_string(N) + " elements");
  const Tensor* residual = ctx.node.op_type == "MatMulBias" && ctx.has_input(3) ? &ctx.in(3) : nullptr;
  if (residual && residual->dims() != Y.dims())
    ctx.fail("residual [" + dims_to_string(residual->dims()) + "] must have Y's shape [" + dims_to_string(Y.dims()) + "]");
  std::vector<Acc> row(static_cast<size_t>(N));
  for_each_broadcast(batch, {stride_a, stride_b}, [&](int64_t linear, const std::vector<int64_t>& offsets) {
    const Acc* ap = &a[static_cast<size_t>(offsets[0] * M * K)];
    const Acc* bp = &b[static_cast<size_t>(offsets[1] * K * N)];
    for (int64_t i = 0; i < M; ++i) {
      std::fill(row.begin(), row.end(), Acc(0));
      for (int64_t k = 0; k < K; ++k) {
        const Acc av = ap[i * K + k];
        for (int64_t j = 0; j < N; ++j) row[static_cast<size_t>(j)] += av * bp[k * N + j];
      }
      for (int64_t j = 0; j < N; ++j) {
        const int64_t at = (linear * M + i) * N + j;
        store<Acc>(Y, at, row[static_cast<size_t>(j)] + (bias.empty() ? Acc(0) : bias[j]) +
                              (residual ? load<Acc>(*residual, at) : Acc(0)));
      }
    }
  });
}

void matmul_reference(KernelContext& ctx) {
  if (is_int_type(ctx.in(0).dtype()))
    matmul_typed<int64_t>(ctx);
  else
    matmul_typed<double>(ctx);
}

template <typename Acc>
void gemm_typed(KernelContext& ctx) {
  const Tensor& A = ctx.in(0);
  const Tensor& B = ctx.in(1);
  Tensor& Y = ctx.out(0);
  const bool trans_a = ctx.node.attr_int("transA", 0) != 0;
  const bool trans_b = ctx.node.attr_int("transB", 0) != 0;
  const double alpha = ctx.node.attr_float("alpha", 1.0f), beta = ctx.node.attr_float("beta", 1.0f);
  const int64_t M = Y.dims()[0], N = Y.dims()[1];
  const int64_t K = trans_a ? A.dims()[0] : A.dims()[1];
  const std::vector<Acc> a = load_all<Acc>(A), b = load_all<Acc>(B);
  std::vector<int64_t> c_strides;
  if (ctx.has_input(2)) c_strides = broadcast_strides(ctx.in(2).dims(), Y.dims());
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      Acc acc = 0;
      for (int64_t k = 0; k < K; ++k) {
        const Acc av = trans_a ? a[static_cast<size_t>(k * M + i)] : a[static_cast<size_t>(i * K + k)];
        const Acc bv = trans_b ? b[static_cast<size_t>(j * K + k)] : b[static_cast<size_t>(k * N + j)];
        acc += av * bv;
      }
      const Acc c = ctx.has_input(2) ? load<Acc>(ctx.in(2), i * c_strides[0] + j * c_strides[1]) : Acc(0);
      // Integers stay exact when alpha and beta are 1 (the common case); otherwise the scaling goes through double.
      if (std::is_integral<Acc>::value && alpha == 1.0 && beta == 1.0)
        store<Acc>(Y, i * N + j, acc + c);
      else
        store<Acc>(Y, i * N + j, static_cast<Acc>(alpha * static_cast<double>(acc) + beta * static_cast<double>(c)));
    }
}

void gemm_reference(KernelContext& ctx) {
  if (is_int_type(ctx.in(0).dtype()))
    gemm_typed<int64_t>(ctx);
  else
    gemm_typed<double>(ctx);
}

}  // namespace

NORMRT_REGISTER_OP("", "MatMul", infer_matmul, matmul_reference);
NORMRT_REGISTER_OP("", "Gemm", infer_gemm, gemm_reference);
NORMRT_REGISTER_OP(kNormrtDomain, "MatMulBias", infer_matmul_bias, matmul_reference);
NORMRT_REGISTER_OP(kNormrtDomain, "PermutedMatMul", infer_permuted_matmul, permuted_matmul_reference);
NORMRT_REGISTER_OP(kNormrtDomain, "MatMulGroup", infer_matmul_group, matmul_group_reference);

}  // namespace normrt
