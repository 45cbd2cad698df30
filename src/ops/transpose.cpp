// Transpose, DepthToSpace and SpaceToDepth: ops that permute elements. All three are one strided gather: the
// output is walked in order and each element is read from the input through a permuted stride vector. The
// kernels move elements by their size in bytes, so every dtype works.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "ops/op.h"
#include "ops/shape_util.h"

namespace normrt {
namespace {

std::string ints_to_string(const std::vector<int64_t>& values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) s += (i ? "," : "") + std::to_string(values[i]);
  return s + "]";
}

template <typename T>
void gather_strided_typed(const unsigned char* in, unsigned char* out, const Dims& out_dims,
                          const std::vector<int64_t>& in_strides) {
  const T* src = reinterpret_cast<const T*>(in);
  T* dst = reinterpret_cast<T*>(out);
  const size_t rank = out_dims.size();
  int64_t total = 1;
  for (int64_t d : out_dims) total *= d;
  if (total == 0) return;
  if (rank == 0) {
    dst[0] = src[0];
    return;
  }
  // The innermost axis runs as a tight loop; the outer index advances like an odometer.
  const int64_t inner = out_dims[rank - 1], inner_stride = in_strides[rank - 1];
  std::vector<int64_t> index(rank, 0);
  int64_t offset = 0;
  for (int64_t linear = 0; linear < total; linear += inner) {
    for (int64_t i = 0; i < inner; ++i) dst[linear + i] = src[offset + i * inner_stride];
    for (size_t axis = rank - 1; axis-- > 0;) {
      offset += in_strides[axis];
      if (++index[axis] < out_dims[axis]) break;
      offset -= in_strides[axis] * index[axis];
      index[axis] = 0;
    }
  }
}

// out[i0, ..., in] = in[sum_k ik * in_strides[k]] for every output index, element size `size` bytes.
void gather_strided(const Tensor& in, Tensor& out, const std::vector<int64_t>& in_strides) {
  const auto* src = static_cast<const unsigned char*>(in.raw());
  auto* dst = static_cast<unsigned char*>(out.raw());
  switch (dtype_size(in.dtype())) {
    case 1: return gather_strided_typed<uint8_t>(src, dst, out.dims(), in_strides);
    case 2: return gather_strided_typed<uint16_t>(src, dst, out.dims(), in_strides);
    case 4: return gather_strided_typed<uint32_t>(src, dst, out.dims(), in_strides);
    case 8: return gather_strided_typed<uint64_t>(src, dst, out.dims(), in_strides);
    default: break;
  }
  throw Error(ErrorCode::kInternal,
              std::string("gather_strided: unsupported element size of ") + dtype_name(in.dtype()));
}

// ---- Transpose -----------------------------------------------------------------------------------------------

// The permutation: the attribute, or the reversed axes by default. Checked to be a permutation of [0, rank).
template <typename Ctx>
std::vector<int64_t> permutation(const Ctx& ctx, int64_t rank) {
  if (!ctx.node.has_attribute("perm")) {
    std::vector<int64_t> perm(rank);
    for (int64_t i = 0; i < rank; ++i) perm[i] = rank - 1 - i;
    return perm;
  }
  std::vector<int64_t> perm = ctx.node.attr_ints("perm");
  if (static_cast<int64_t>(perm.size()) != rank)
    ctx.fail("perm " + ints_to_string(perm) + " has " + std::to_string(perm.size()) +
             " entries but the input has rank " + std::to_string(rank));
  std::vector<bool> seen(rank, false);
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[p])
      ctx.fail("perm " + ints_to_string(perm) + " is not a permutation of 0.." + std::to_string(rank - 1));
    seen[p] = true;
  }
  return perm;
}

void infer_transpose(InferContext& ctx) {
  const Shape& in = ctx.shape(0);
  if (!in.has_rank) {
    if (ctx.node.has_attribute("perm"))
      ctx.set_output(0, ctx.dtype(0), Shape(std::vector<Dim>(ctx.node.attr_ints("perm").size(), Dim::unknown())));
    else
      ctx.set_output(0, ctx.dtype(0), Shape());
    return;
  }
  std::vector<int64_t> perm = permutation(ctx, static_cast<int64_t>(in.rank()));
  std::vector<Dim> out;
  for (int64_t p : perm) out.push_back(in.dims[p]);
  ctx.set_output(0, ctx.dtype(0), Shape(out));
}

void transpose_reference(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  std::vector<int64_t> perm = permutation(ctx, static_cast<int64_t>(x.rank()));
  std::vector<int64_t> strides = strides_of(x.dims()), in_strides;
  for (int64_t p : perm) in_strides.push_back(strides[p]);
  gather_strided(x, ctx.out(0), in_strides);
}

// ---- DepthToSpace / SpaceToDepth -----------------------------------------------------------------------------

template <typename Ctx>
int64_t blocksize_of(const Ctx& ctx) {
  const int64_t b = ctx.node.attr_int("blocksize");
  int64_t square = 0;
  if (b <= 0 || __builtin_mul_overflow(b, b, &square))
    ctx.fail("blocksize must be positive and its square must fit int64, but it is " + std::to_string(b));
  return b;
}

// DepthToSpace's mode: DCR (depth-column-row, the default) or CRD (column-row-depth), both since opset 11.
template <typename Ctx>
bool is_crd(const Ctx& ctx) {
  const std::string mode = ctx.node.attr_string("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") ctx.fail("mode must be \"DCR\" or \"CRD\" but is \"" + mode + "\"");
  return mode == "CRD";
}

// d * factor, refusing a product beyond int64 (a hostile blocksize).
Dim times(const InferContext& ctx, const Dim& d, int64_t factor) {
  if (!d.known()) return Dim::unknown();
  int64_t product = 0;
  if (__builtin_mul_overflow(d.value, factor, &product))
    ctx.fail("dim " + std::to_string(d.value) + " times " + std::to_string(factor) + " does not fit int64");
  return Dim(product);
}

void infer_depth_to_space(InferContext& ctx) {
  const int64_t b = blocksize_of(ctx);
  is_crd(ctx);
  ctx.require_rank(0, 4, 4);
  const Shape& in = ctx.shape(0);
  if (!in.has_rank) {
    ctx.set_output(0, ctx.dtype(0), Shape(std::vector<Dim>(4, Dim::unknown())));
    return;
  }
  const Dim& c = in.dims[1];
  if (c.known() && c.value % (b * b) != 0)
    ctx.fail("channels " + std::to_string(c.value) + " of input " + in.to_string() +
             " are not divisible by blocksize^2 = " + std::to_string(b * b));
  Dim out_c = c.known() ? Dim(c.value / (b * b)) : Dim::unknown();
  ctx.set_output(0, ctx.dtype(0),
                 Shape({in.dims[0], out_c, times(ctx, in.dims[2], b), times(ctx, in.dims[3], b)}));
}

// Output [N, C/b^2, H*b, W*b] viewed as [N, C', H, b, W, b]; each output index (n, c, h, i, w, j) reads input
// channel (i*b + j)*C' + c in DCR mode and c*b*b + i*b + j in CRD mode, at (h, w).
void depth_to_space_reference(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t b = blocksize_of(ctx);
  const bool crd = is_crd(ctx);
  if (x.rank() != 4) ctx.fail("input must have rank 4 but has shape " + dims_to_string(x.dims()));
  const int64_t n = x.dims()[0], c = x.dims()[1], h = x.dims()[2], w = x.dims()[3], oc = c / (b * b);
  const std::vector<int64_t> s = strides_of(x.dims());  // input strides of n, channel, h, w
  std::vector<int64_t> in_strides;
  if (crd)
    in_strides = {s[0], b * b * s[1], s[2], b * s[1], s[3], s[1]};
  else
    in_strides = {s[0], s[1], s[2], b * oc * s[1], s[3], oc * s[1]};
  Tensor view = ctx.out(0).reshaped({n, oc, h, b, w, b});
  gather_strided(x, view, in_strides);
}

void infer_space_to_depth(InferContext& ctx) {
  const int64_t b = blocksize_of(ctx);
  ctx.require_rank(0, 4, 4);
  const Shape& in = ctx.shape(0);
  if (!in.has_rank) {
    ctx.set_output(0, ctx.dtype(0), Shape(std::vector<Dim>(4, Dim::unknown())));
    return;
  }
  std::vector<Dim> out = {in.dims[0], times(ctx, in.dims[1], b * b), Dim::unknown(), Dim::unknown()};
  for (size_t axis = 2; axis < 4; ++axis) {
    const Dim& d = in.dims[axis];
    if (!d.known()) continue;
    if (d.value % b != 0)
      ctx.fail("dim " + std::to_string(axis) + " of input " + in.to_string() + " is not divisible by blocksize " +
               std::to_string(b));
    out[axis] = Dim(d.value / b);
  }
  ctx.set_output(0, ctx.dtype(0), Shape(out));
}

// Output [N, C*b^2, H/b, W/b] viewed as [N, b, b, C, H/b, W/b]: index (n, i, j, c, h, w) reads input
// (n, c, h*b + i, w*b + j).
void space_to_depth_reference(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t b = blocksize_of(ctx);
  if (x.rank() != 4) ctx.fail("input must have rank 4 but has shape " + dims_to_string(x.dims()));
  const int64_t n = x.dims()[0], c = x.dims()[1], h = x.dims()[2], w = x.dims()[3];
  const std::vector<int64_t> s = strides_of(x.dims());
  Tensor view = ctx.out(0).reshaped({n, b, b, c, h / b, w / b});
  gather_strided(x, view, {s[0], s[2], s[3], s[1], b * s[2], b * s[3]});
}

}  // namespace

NORMRT_REGISTER_OP("", "Transpose", infer_transpose, transpose_reference);
NORMRT_REGISTER_OP("", "DepthToSpace", infer_depth_to_space, depth_to_space_reference);
NORMRT_REGISTER_OP("", "SpaceToDepth", infer_space_to_depth, space_to_depth_reference);

}  // namespace normrt
