// CUDA kernels that move elements without arithmetic: Transpose, Slice, Expand, Tile, DepthToSpace,
// SpaceToDepth (one strided gather), Concat and Split (row copies), Gather, GatherElements, Pad (constant,
// reflect, edge, wrap), Identity and Dropout. They copy words of the element size (or, where rows allow, of
// up to 16 bytes), so every dtype works. Semantics follow src/ops/transpose.cpp, slice_gather.cpp,
// expand_tile.cpp, concat_split.cpp, pad.cpp and identity.cpp.
//
// Gather and GatherElements read their indices on the device, where an out-of-range index cannot throw: such an
// element is written as zero bytes and the kernel raises ctx.error_flag, so that the run fails afterwards with
// the same error as the CPU reference (never a silent zero).
#include <algorithm>
#include <string>

#include "cuda/cuda_util.h"

namespace normrt {
namespace cuda {

template <>
struct Word<16> {
  using type = uint4;
};

namespace {

// Largest power-of-two word (<= 16 bytes) dividing every value (byte counts and addresses).
int word_bytes(std::initializer_list<uint64_t> values) {
  for (int w = 16; w > 1; w /= 2) {
    bool ok = true;
    for (uint64_t v : values) ok = ok && v % w == 0;
    if (ok) return w;
  }
  return 1;
}

uint64_t address(const void* p) { return reinterpret_cast<uintptr_t>(p); }

bool every_element_size_ok(const std::vector<TypeShape>& inputs, size_t count) {
  for (size_t i = 0; i < count && i < inputs.size(); ++i) {
    const size_t s = dtype_size(inputs[i].dtype);
    if (s != 1 && s != 2 && s != 4 && s != 8) return false;
  }
  return true;
}

// Calls fn.template operator()<Bytes>() for the word size.
template <typename Fn>
void with_word(const CudaKernelContext& ctx, int bytes, Fn&& fn) {
  switch (bytes) {
    case 1:
      return fn(Word<1>{});
    case 2:
      return fn(Word<2>{});
    case 4:
      return fn(Word<4>{});
    case 8:
      return fn(Word<8>{});
    case 16:
      return fn(Word<16>{});
    default:
      ctx.fail("unsupported element size " + std::to_string(bytes));
  }
}

// ---- strided gather: out[i] = in[sum_d index_d * stride_d] ----
template <typename W, typename I>
__global__ void strided_gather_kernel(const W* __restrict__ in, W* __restrict__ out, I n, Indexer<1, I> ix) {
  const I stride = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    I off[1];
    ix.offsets(i, off);
    out[i] = in[off[0]];
  }
}

// Copies out (dims `dims`, dense) from `in` (element offset `base`) through per-axis strides.
void strided_gather(const CudaKernelContext& ctx, const void* in, int64_t base, void* out, size_t element,
                    const Dims& dims, const std::vector<int64_t>& strides) {
  const int64_t n = element_count(dims);
  if (n == 0) return;
  StridePlan plan = collapse(dims, {strides});
  if (plan.dims.size() > static_cast<size_t>(kMaxRank)) ctx.fail("more than 8 axes after collapsing");
  // A contiguous innermost run lets several elements move as one wider word.
  int64_t inner = plan.dims.empty() ? 1 : plan.dims.back();
  const bool contiguous_inner = plan.dims.empty() || plan.strides[0].back() == 1;
  const auto* src = static_cast<const unsigned char*>(in) + base * static_cast<int64_t>(element);
  int bytes = static_cast<int>(element);
  if (contiguous_inner) {
    std::initializer_list<uint64_t> values = {static_cast<uint64_t>(inner) * element, address(src), address(out)};
    bytes = std::max<int>(bytes, word_bytes(values));
    for (const auto& s : plan.strides)
      for (size_t d = 0; d + 1 < s.size(); ++d)
        if ((static_cast<uint64_t>(std::llabs(s[d])) * element) % bytes != 0) bytes = static_cast<int>(element);
  }
  if (bytes != static_cast<int>(element)) {
    const int64_t ratio = bytes / static_cast<int64_t>(element);
    if (!plan.dims.empty()) {
      plan.dims.back() /= ratio;
      for (size_t d = 0; d + 1 < plan.dims.size(); ++d) plan.strides[0][d] /= ratio;
    }
  }
  const int64_t words = n * static_cast<int64_t>(element) / bytes;
  const int64_t in_words_bound = words + 1;  // offsets are checked below through the plan's extents
  int64_t max_offset = 0;
  for (size_t d = 0; d < plan.dims.size(); ++d) max_offset += (plan.dims[d] - 1) * std::llabs(plan.strides[0][d]);
  with_word(ctx, bytes, [&](auto word) {
    using W = typename decltype(word)::type;
    const W* in_w = reinterpret_cast<const W*>(src);
    W* out_w = static_cast<W*>(out);
    if (fits_32bit(plan, {in_words_bound, max_offset + 1}))
      strided_gather_kernel<W, uint32_t><<<grid_for(words), kBlock, 0, ctx.stream>>>(
          in_w, out_w, static_cast<uint32_t>(words), make_indexer<1, uint32_t>(plan));
    else
      strided_gather_kernel<W, int64_t>
          <<<grid_for(words), kBlock, 0, ctx.stream>>>(in_w, out_w, words, make_indexer<1, int64_t>(plan));
  });
  check_launch(ctx, "strided gather kernel");
}

bool movable_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  return !inputs.empty() && node.outputs.size() == 1 && every_element_size_ok(inputs, 1) && rank_ok(inputs[0]);
}

// ---- Transpose ----
// Batched 2-D transpose through shared-memory tiles, so that both the reads and the writes are coalesced:
// out[b][c][r] = in[b][r][c] for an input of [rows, cols] per batch (batch offsets through `batch`).
constexpr int kTile = 32;
constexpr int kTileRows = 8;

template <typename W>
__global__ void transpose_tiles_kernel(const W* __restrict__ in, W* __restrict__ out, int64_t batches, int64_t rows,
                                       int64_t cols, Indexer<1, int64_t> batch) {
  __shared__ W tile[kTile][kTile + 1];
  for (int64_t b = blockIdx.z; b < batches; b += gridDim.z) {
    int64_t in_base[1];
    batch.offsets(b, in_base);
    const int64_t out_base = b * rows * cols;
    const int64_t c = static_cast<int64_t>(blockIdx.x) * kTile + threadIdx.x;
    for (int j = threadIdx.y; j < kTile; j += kTileRows) {
      const int64_t r = static_cast<int64_t>(blockIdx.y) * kTile + j;
      if (r < rows && c < cols) tile[j][threadIdx.x] = in[in_base[0] + r * cols + c];
    }
    __syncthreads();
    const int64_t r = static_cast<int64_t>(blockIdx.y) * kTile + threadIdx.x;
    for (int j = threadIdx.y; j < kTile; j += kTileRows) {
      const int64_t c_out = static_cast<int64_t>(blockIdx.x) * kTile + j;
      if (r < rows && c_out < cols) out[out_base + c_out * rows + r] = tile[threadIdx.x][j];
    }
    __syncthreads();
  }
}

// Takes the tiled path when the permutation (collapsed) swaps the two innermost axes of a contiguous input.
bool transpose_tiled(const CudaKernelContext& ctx, const void* in, void* out, size_t element, const Dims& dims,
                     const std::vector<int64_t>& strides) {
  const StridePlan plan = collapse(dims, {strides});
  const size_t k = plan.dims.size();
  if (k < 2) return false;
  const std::vector<int64_t>& s = plan.strides[0];
  const int64_t cols = plan.dims[k - 2], rows = plan.dims[k - 1];
  if (s[k - 2] != 1 || s[k - 1] != cols || rows < 8 || cols < 8) return false;
  StridePlan batch;
  batch.dims.assign(plan.dims.begin(), plan.dims.end() - 2);
  batch.strides = {std::vector<int64_t>(s.begin(), s.end() - 2)};
  const int64_t batches = element_count(batch.dims);
  const dim3 grid(static_cast<unsigned>((cols + kTile - 1) / kTile), static_cast<unsigned>((rows + kTile - 1) / kTile),
                  static_cast<unsigned>(std::min<int64_t>(batches, 65535)));
  if (grid.y > 65535) return false;
  const dim3 block(kTile, kTileRows);
  const Indexer<1, int64_t> batch_ix = make_indexer<1, int64_t>(batch);
  with_word(ctx, static_cast<int>(element), [&](auto word) {
    using W = typename decltype(word)::type;
    transpose_tiles_kernel<W><<<grid, block, 0, ctx.stream>>>(static_cast<const W*>(in), static_cast<W*>(out), batches,
                                                              rows, cols, batch_ix);
  });
  check_launch(ctx, "transpose kernel");
  return true;
}

void transpose_run(CudaKernelContext& ctx) {
  const DeviceValue& x = ctx.in(0);
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  std::vector<int64_t> perm = ctx.node.attr_ints("perm");
  if (!ctx.node.has_attribute("perm"))
    for (int64_t i = 0; i < rank; ++i) perm.push_back(rank - 1 - i);
  if (static_cast<int64_t>(perm.size()) != rank) ctx.fail("perm does not match the input rank");
  const std::vector<int64_t> strides = strides_of(x.dims);
  std::vector<int64_t> in_strides;
  for (int64_t p : perm) in_strides.push_back(strides.at(p));
  if (ctx.outputs[0].numel() == 0) return;
  if (transpose_tiled(ctx, x.data, ctx.outputs[0].data, dtype_size(x.dtype), ctx.outputs[0].dims, in_strides)) return;
  strided_gather(ctx, x.data, 0, ctx.outputs[0].data, dtype_size(x.dtype), ctx.outputs[0].dims, in_strides);
}

// ---- Slice (Slice-10+: starts, ends, axes, steps on the host) ----
bool slice_accepts(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) {
  return opset >= 10 && !node.has_attribute("starts") && inputs.size() >= 3 && movable_accepts(node, opset, inputs);
}

void slice_run(CudaKernelContext& ctx) {
  const DeviceValue& x = ctx.in(0);
  const DeviceValue& y = ctx.outputs[0];
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  const std::vector<int64_t> starts = host_ints(ctx, 1), ends = host_ints(ctx, 2);
  std::vector<int64_t> axes, steps;
  if (ctx.has_input(3)) {
    axes = host_ints(ctx, 3);
  } else {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  steps = ctx.has_input(4) ? host_ints(ctx, 4) : std::vector<int64_t>(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    ctx.fail("starts, ends, axes and steps differ in length");
  const std::vector<int64_t> strides = strides_of(x.dims);
  std::vector<int64_t> out_strides = strides;
  int64_t base = 0;
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t axis = axes[i] < 0 ? axes[i] + rank : axes[i];
    if (axis < 0 || axis >= rank || steps[i] == 0) ctx.fail("invalid slice axes or steps");
    const int64_t dim = x.dims[axis];
    int64_t start = starts[i] < 0 ? starts[i] + dim : starts[i];
    if (steps[i] > 0)
      start = std::clamp<int64_t>(start, 0, dim);
    else
      start = std::clamp<int64_t>(start, -1, dim - 1);
    if (y.dims[axis] > 0) base += start * strides[axis];
    // One element or none: the step never moves (a huge one would overflow the product; fuzzed Slice, CPU side).
    out_strides[axis] = y.dims[axis] > 1 ? steps[i] * strides[axis] : 0;
  }
  strided_gather(ctx, x.data, base, y.data, dtype_size(x.dtype), y.dims, out_strides);
}

// ---- Expand: the output rank is the shape input's length, which must be known and at most kMaxRank ----
bool expand_accepts(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) {
  if (inputs.size() != 2 || !movable_accepts(node, opset, inputs)) return false;
  const Shape& shape = inputs[1].shape;
  return shape.has_rank && shape.rank() == 1 && shape.dims[0].known() && shape.dims[0].value <= kMaxRank;
}

void expand_run(CudaKernelContext& ctx) {
  const DeviceValue& x = ctx.in(0);
  const DeviceValue& y = ctx.outputs[0];
  strided_gather(ctx, x.data, 0, y.data, dtype_size(x.dtype), y.dims, broadcast_strides(x.dims, y.dims));
}

// ---- DepthToSpace / SpaceToDepth: 6-D views (see src/ops/transpose.cpp) ----
bool depth_space_accepts(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) {
  if (!movable_accepts(node, opset, inputs) || inputs[0].shape.rank() != 4) return false;
  const std::string mode = node.attr_string("mode", "DCR");
  return node.attr_int("blocksize", 0) > 0 && (mode == "DCR" || mode == "CRD");
}

void depth_to_space_run(CudaKernelContext& ctx) {
  const DeviceValue& x = ctx.in(0);
  const int64_t b = ctx.node.attr_int("blocksize");
  const bool crd = ctx.node.attr_string("mode", "DCR") == "CRD";
  const int64_t n = x.dims[0], c = x.dims[1], h = x.dims[2], w = x.dims[3], oc = c / (b * b);
  const std::vector<int64_t> s = strides_of(x.dims);
  const std::vector<int64_t> in_strides = crd ? std::vector<int64_t>{s[0], b * b * s[1], s[2], b * s[1], s[3], s[1]}
                                              : std::vector<int64_t>{s[0], s[1], s[2], b * oc * s[1], s[3], oc * s[1]};
  strided_gather(ctx, x.data, 0, ctx.outputs[0].data, dtype_size(x.dtype), {n, oc, h, b, w, b}, in_strides);
}

void space_to_depth_run(CudaKernelContext& ctx) {
  const DeviceValue& x = ctx.in(0);
  const int64_t b = ctx.node.attr_int("blocksize");
  const int64_t n = x.dims[0], c = x.dims[1], h = x.dims[2], w = x.dims[3];
  const std::vector<int64_t> s = strides_of(x.dims);
  strided_gather(ctx, x.data, 0, ctx.outputs[0].data, dtype_size(x.dtype), {n, b, b, c, h / b, w / b},
                 {s[0], s[2], s[3], s[1], b * s[2], b * s[3]});
}

// ---- Tile: out[c] = in[c mod in_dim] per axis ----
struct TileParams {
  int rank;
  int64_t out_dims[kMaxRank];
  int64_t in_dims[kMaxRank];
  int64_t in_strides[kMaxRank];
};

template <typename W>
__global__ void tile_kernel(const W* __restrict__ in, W* __restrict__ out, int64_t n, TileParams p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    int64_t rest = i, offset = 0;
    for (int d = p.rank - 1; d >= 0; --d) {
      const int64_t q = rest / p.out_dims[d];
      offset += ((rest - q * p.out_dims[d]) % p.in_dims[d]) * p.in_strides[d];
      rest = q;
    }
    out[i] = in[offset];
  }
}

void tile_run(CudaKernelContext& ctx) {
  const DeviceValue& x = ctx.in(0);
  const DeviceValue& y = ctx.outputs[0];
  const int64_t n = y.numel();
  if (n == 0) return;
  TileParams p{};
  p.rank = static_cast<int>(x.dims.size());
  const std::vector<int64_t> strides = strides_of(x.dims);
  for (int d = 0; d < p.rank; ++d) {
    p.out_dims[d] = y.dims[d];
    p.in_dims[d] = x.dims[d];
    p.in_strides[d] = strides[d];
  }
  with_word(ctx, static_cast<int>(dtype_size(x.dtype)), [&](auto word) {
    using W = typename decltype(word)::type;
    tile_kernel<W>
        <<<grid_for(n), kBlock, 0, ctx.stream>>>(static_cast<const W*>(x.data), static_cast<W*>(y.data), n, p);
  });
  check_launch(ctx, "tile kernel");
}

// ---- row copies (Concat, Split): dst[r * dst_pitch + c] = src[r * src_pitch + c], c < width (in words) ----
template <typename W, typename I>
__global__ void copy_rows_kernel(const W* __restrict__ src, W* __restrict__ dst, I rows, I width, I src_pitch,
                                 I dst_pitch) {
  const I n = rows * width;
  const I stride = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const I r = i / width, c = i - r * width;
    dst[r * dst_pitch + c] = src[r * src_pitch + c];
  }
}

void copy_rows(const CudaKernelContext& ctx, const void* src, void* dst, int64_t rows, int64_t width_bytes,
               int64_t src_pitch_bytes, int64_t dst_pitch_bytes) {
  if (rows == 0 || width_bytes == 0) return;
  const int bytes = word_bytes({static_cast<uint64_t>(width_bytes), static_cast<uint64_t>(src_pitch_bytes),
                                static_cast<uint64_t>(dst_pitch_bytes), address(src), address(dst)});
  const int64_t width = width_bytes / bytes, src_pitch = src_pitch_bytes / bytes, dst_pitch = dst_pitch_bytes / bytes;
  const int64_t n = rows * width;
  const bool small = rows * std::max(src_pitch, dst_pitch) < (int64_t{1} << 31);
  with_word(ctx, bytes, [&](auto word) {
    using W = typename decltype(word)::type;
    if (small)
      copy_rows_kernel<W, uint32_t><<<grid_for(n), kBlock, 0, ctx.stream>>>(
          static_cast<const W*>(src), static_cast<W*>(dst), static_cast<uint32_t>(rows), static_cast<uint32_t>(width),
          static_cast<uint32_t>(src_pitch), static_cast<uint32_t>(dst_pitch));
    else
      copy_rows_kernel<W, int64_t><<<grid_for(n), kBlock, 0, ctx.stream>>>(
          static_cast<const W*>(src), static_cast<W*>(dst), rows, width, src_pitch, dst_pitch);
  });
  check_launch(ctx, "row copy kernel");
}

int64_t product(const Dims& dims, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= dims[i];
  return p;
}

bool concat_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  if (inputs.empty() || node.outputs.size() != 1) return false;
  for (const TypeShape& t : inputs)
    if (t.dtype != inputs[0].dtype || !t.shape.has_rank || dtype_size(t.dtype) == 0) return false;
  return true;
}

void concat_run(CudaKernelContext& ctx) {
  const DeviceValue& y = ctx.outputs[0];
  const int64_t rank = static_cast<int64_t>(y.dims.size());
  int64_t axis = ctx.node.attr_int("axis");
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) ctx.fail("axis out of range");
  const int64_t element = static_cast<int64_t>(dtype_size(y.dtype));
  const int64_t outer = product(y.dims, 0, axis), inner = product(y.dims, axis + 1, rank);
  const int64_t out_row = y.dims[axis] * inner * element;
  int64_t column = 0;
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    const DeviceValue& x = ctx.in(i);
    const int64_t row = x.dims[axis] * inner * element;
    if (column + row > out_row) ctx.fail("inputs are larger than the output");
    copy_rows(ctx, x.data, static_cast<unsigned char*>(y.data) + column, outer, row, row, out_row);
    column += row;
  }
  if (column != out_row) ctx.fail("inputs do not fill the output");
}

bool split_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  return !inputs.empty() && inputs[0].shape.has_rank && dtype_size(inputs[0].dtype) > 0 && !node.outputs.empty();
}

void split_run(CudaKernelContext& ctx) {
  const DeviceValue& x = ctx.in(0);
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  int64_t axis = ctx.node.attr_int("axis", 0);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) ctx.fail("axis out of range");
  const int64_t element = static_cast<int64_t>(dtype_size(x.dtype));
  const int64_t outer = product(x.dims, 0, axis), inner = product(x.dims, axis + 1, rank);
  const int64_t in_row = x.dims[axis] * inner * element;
  int64_t column = 0;
  for (size_t i = 0; i < ctx.outputs.size(); ++i) {
    const DeviceValue& y = ctx.outputs[i];
    if (!y.present()) ctx.fail("an output of Split is omitted");
    const int64_t row = y.dims[axis] * inner * element;
    if (column + row > in_row) ctx.fail("outputs are larger than the input");
    copy_rows(ctx, static_cast<const unsigned char*>(x.data) + column, y.data, outer, row, in_row, row);
    column += row;
  }
  if (column != in_row) ctx.fail("outputs do not cover the input");
}

// ---- Gather: out[o, k, j] = data[o, idx[k], j]; rows of `inner` elements move as words of up to 16 bytes ----
template <typename W, typename TI>
__global__ void gather_kernel(const W* __restrict__ data, const TI* __restrict__ indices, W* __restrict__ out,
                              int64_t outer, int64_t count, int64_t dim, int64_t inner, int* error_flag,
                              int error_code) {
  const int64_t n = outer * count * inner;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t j = i % inner, row = i / inner;
    const int64_t k = row % count, o = row / count;
    int64_t p = static_cast<int64_t>(indices[k]);
    if (p < 0) p += dim;
    if (p < 0 || p >= dim) {
      out[i] = W{};
      if (error_flag) atomicCAS(error_flag, 0, error_code);
      continue;
    }
    out[i] = data[(o * dim + p) * inner + j];
  }
}

bool gather_accepts(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  if (inputs.size() != 2 || node.outputs.size() != 1 || !inputs[0].shape.has_rank || inputs[0].shape.rank() == 0)
    return false;
  const size_t s = dtype_size(inputs[0].dtype);
  return (s == 1 || s == 2 || s == 4 || s == 8) &&
         (inputs[1].dtype == DataType::kInt64 || inputs[1].dtype == DataType::kInt32);
}

void gather_run(CudaKernelContext& ctx) {
  const DeviceValue& data = ctx.in(0);
  const DeviceValue& indices = ctx.in(1);
  const DeviceValue& y = ctx.outputs[0];
  const int64_t rank = static_cast<int64_t>(data.dims.size());
  int64_t axis = ctx.node.attr_int("axis", 0);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) ctx.fail("axis out of range");
  const int64_t element = static_cast<int64_t>(dtype_size(data.dtype));
  const int64_t outer = product(data.dims, 0, axis), dim = data.dims[axis];
  const int64_t inner_bytes = product(data.dims, axis + 1, rank) * element;
  const int64_t count = indices.numel();
  if (y.numel() == 0) return;
  const int bytes = word_bytes({static_cast<uint64_t>(inner_bytes), address(data.data), address(y.data)});
  const int64_t inner = inner_bytes / bytes;
  with_word(ctx, bytes, [&](auto word) {
    using W = typename decltype(word)::type;
    const unsigned grid = grid_for(outer * count * inner);
    if (indices.dtype == DataType::kInt64)
      gather_kernel<W, int64_t><<<grid, kBlock, 0, ctx.stream>>>(static_cast<const W*>(data.data),
                                                                 static_cast<const int64_t*>(indices.data),
                                                                 static_cast<W*>(y.data), outer, count, dim, inner,
                                                                 ctx.error_flag, ctx.error_code);
    else
      gather_kernel<W, int32_t><<<grid, kBlock, 0, ctx.stream>>>(static_cast<const W*>(data.data),
                                                                 static_cast<const int32_t*>(indices.data),
                                                                 static_cast<W*>(y.data), outer, count, dim, inner,
                                                                 ctx.error_flag, ctx.error_code);
  });
  check_launch(ctx, "gather kernel");
}

// ---- GatherElements: out[i] = data[i with axis coordinate replaced by idx[i]] ----
struct GatherElementsParams {
  int rank;
  int axis;
  int64_t out_dims[kMaxRank];
  int64_t data_strides[kMaxRank];
  int64_t dim;
};

template <typename W, typename TI>
__global__ void gather_elements_kernel(const W* __restrict__ data, const TI* __restrict__ indices, W* __restrict__ out,
                                       int64_t n, GatherElementsParams p, int* error_flag, int error_code) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    int64_t rest = i, offset = 0;
    for (int d = p.rank - 1; d >= 0; --d) {
      const int64_t q = rest / p.out_dims[d];
      if (d != p.axis) offset += (rest - q * p.out_dims[d]) * p.data_strides[d];
      rest = q;
    }
    int64_t k = static_cast<int64_t>(indices[i]);
    if (k < 0) k += p.dim;
    if (k < 0 || k >= p.dim) {
      out[i] = W{};
      if (error_flag) atomicCAS(error_flag, 0, error_code);
      continue;
    }
    out[i] = data[offset + k * p.data_strides[p.axis]];
  }
}

bool gather_elements_accepts(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) {
  return gather_accepts(node, opset, inputs) && rank_ok(inputs[0]) && rank_ok(inputs[1]) &&
         inputs[0].shape.rank() == inputs[1].shape.rank();
}

void gather_elements_run(CudaKernelContext& ctx) {
  const DeviceValue& data = ctx.in(0);
  const DeviceValue& indices = ctx.in(1);
  const DeviceValue& y = ctx.outputs[0];
  const int64_t rank = static_cast<int64_t>(data.dims.size());
  int64_t axis = ctx.node.attr_int("axis", 0);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) ctx.fail("axis out of range");
  for (int64_t d = 0; d < rank; ++d)
    if (d != axis && indices.dims[d] > data.dims[d]) ctx.fail("indices exceed data off the gather axis");
  const int64_t n = y.numel();
  if (n == 0) return;
  GatherElementsParams p{};
  p.rank = static_cast<int>(rank);
  p.axis = static_cast<int>(axis);
  p.dim = data.dims[axis];
  const std::vector<int64_t> strides = strides_of(data.dims);
  for (int64_t d = 0; d < rank; ++d) {
    p.out_dims[d] = indices.dims[d];
    p.data_strides[d] = strides[d];
  }
  with_word(ctx, static_cast<int>(dtype_size(data.dtype)), [&](auto word) {
    using W = typename decltype(word)::type;
    if (indices.dtype == DataType::kInt64)
      gather_elements_kernel<W, int64_t><<<grid_for(n), kBlock, 0, ctx.stream>>>(
          static_cast<const W*>(data.data), static_cast<const int64_t*>(indices.data), static_cast<W*>(y.data), n, p,
          ctx.error_flag, ctx.error_code);
    else
      gather_elements_kernel<W, int32_t><<<grid_for(n), kBlock, 0, ctx.stream>>>(
          static_cast<const W*>(data.data), static_cast<const int32_t*>(indices.data), static_cast<W*>(y.data), n, p,
          ctx.error_flag, ctx.error_code);
  });
  check_launch(ctx, "gather elements kernel");
}

// ---- Pad (opset 11+: pads and axes on the host, constant_value on the device) ----
enum PadMode : int { kConstant, kReflect, kEdge, kWrap };

struct PadParams {
  int rank;
  int mode;
  int64_t out_dims[kMaxRank];
  int64_t begin[kMaxRank];
  int64_t low[kMaxRank];  // the cropped input range [low, high) of each axis
  int64_t high[kMaxRank];
  int64_t in_strides[kMaxRank];
};

template <typename W>
__global__ void pad_kernel(const W* __restrict__ in, W* __restrict__ out, const W* __restrict__ constant, int64_t n,
                           PadParams p) {
  const W fill = constant ? *constant : W{};
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    int64_t rest = i, offset = 0;
    bool inside = true;
    for (int d = p.rank - 1; d >= 0; --d) {
      const int64_t q = rest / p.out_dims[d];
      const int64_t c = rest - q * p.out_dims[d] - p.begin[d];  // coordinate in the uncropped input
      rest = q;
      int64_t source = c;
      if (c < p.low[d] || c >= p.high[d]) {
        const int64_t count = p.high[d] - p.low[d];
        int64_t r = c - p.low[d];
        switch (p.mode) {
          case kConstant:
            inside = false;
            break;
          case kEdge:
            r = r < 0 ? 0 : count - 1;
            break;
          case kReflect:
            r = r < 0 ? -r : 2 * (count - 1) - r;
            break;
          default:
            r = ((r % count) + count) % count;
            break;
        }
        source = p.low[d] + r;
      }
      offset += source * p.in_strides[d];
    }
    out[i] = inside ? in[offset] : fill;
  }
}

bool pad_accepts(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) {
  if (opset < 11 || node.has_attribute("pads") || inputs.size() < 2 || !movable_accepts(node, opset, inputs))
    return false;
  if (inputs.size() > 2 && inputs[2].dtype != DataType::kUndefined && inputs[2].dtype != inputs[0].dtype) return false;
  const std::string mode = node.attr_string("mode", "constant");
  return mode == "constant" || mode == "reflect" || mode == "edge" || (mode == "wrap" && opset >= 19);
}

void pad_run(CudaKernelContext& ctx) {
  const DeviceValue& x = ctx.in(0);
  const DeviceValue& y = ctx.outputs[0];
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  const std::string mode = ctx.node.attr_string("mode", "constant");
  const std::vector<int64_t> pads = host_ints(ctx, 1);
  std::vector<int64_t> axes;
  if (ctx.has_input(3)) {
    axes = host_ints(ctx, 3);
  } else {
    for (int64_t a = 0; a < rank; ++a) axes.push_back(a);
  }
  if (pads.size() != 2 * axes.size()) ctx.fail("pads does not match the axes");
  PadParams p{};
  p.rank = static_cast<int>(rank);
  p.mode = mode == "constant" ? kConstant : mode == "reflect" ? kReflect : mode == "edge" ? kEdge : kWrap;
  std::vector<int64_t> begin(rank, 0), end(rank, 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t axis = axes[i] < 0 ? axes[i] + rank : axes[i];
    if (axis < 0 || axis >= rank) ctx.fail("pad axis out of range");
    begin[axis] = pads[i];
    end[axis] = pads[i + axes.size()];
  }
  const std::vector<int64_t> strides = strides_of(x.dims);
  for (int64_t d = 0; d < rank; ++d) {
    p.out_dims[d] = y.dims[d];
    p.begin[d] = begin[d];
    p.low[d] = std::max<int64_t>(-begin[d], 0);
    p.high[d] = x.dims[d] - std::max<int64_t>(-end[d], 0);
    p.in_strides[d] = strides[d];
    if (y.dims[d] != x.dims[d] + begin[d] + end[d]) ctx.fail("output does not match the pads");
    const int64_t cropped = p.high[d] - p.low[d], pad = std::max<int64_t>({begin[d], end[d], 0});
    if (pad > 0 && p.mode == kReflect && pad >= cropped) ctx.fail("reflect pad must be smaller than the axis");
    if (pad > 0 && p.mode != kConstant && cropped <= 0) ctx.fail("cannot pad an empty axis in this mode");
  }
  const int64_t n = y.numel();
  if (n == 0) return;
  const void* constant = ctx.has_input(2) && ctx.in(2).numel() > 0 ? ctx.in(2).data : nullptr;
  with_word(ctx, static_cast<int>(dtype_size(x.dtype)), [&](auto word) {
    using W = typename decltype(word)::type;
    pad_kernel<W><<<grid_for(n), kBlock, 0, ctx.stream>>>(static_cast<const W*>(x.data), static_cast<W*>(y.data),
                                                          static_cast<const W*>(constant), n, p);
  });
  check_launch(ctx, "pad kernel");
}

// ---- Identity, Dropout (inference: a copy; the optional mask is all true) ----
bool identity_accepts(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) {
  if (inputs.empty() || dtype_size(inputs[0].dtype) == 0) return false;
  // Dropout-12's training_mode input, when given, is only known to be false on the host: leave it to the CPU.
  return !(node.op_type == "Dropout" && opset >= 12 && inputs.size() > 2 && inputs[2].dtype != DataType::kUndefined);
}

void identity_run(CudaKernelContext& ctx) {
  const DeviceValue& x = ctx.in(0);
  if (x.nbytes())
    ctx.check(cudaMemcpyAsync(ctx.outputs[0].data, x.data, x.nbytes(), cudaMemcpyDeviceToDevice, ctx.stream),
              "cudaMemcpyAsync");
  if (ctx.outputs.size() > 1 && ctx.outputs[1].present() && ctx.outputs[1].nbytes())
    ctx.check(cudaMemsetAsync(ctx.outputs[1].data, 1, ctx.outputs[1].nbytes(), ctx.stream), "cudaMemsetAsync");
}

[[maybe_unused]] const bool registered = [] {
  CudaKernelRegistry& r = CudaKernelRegistry::global();
  r.add(make_kernel("cuda_Transpose", "Transpose", movable_accepts, transpose_run));
  r.add(make_kernel("cuda_Slice", "Slice", slice_accepts, slice_run, {1, 2, 3, 4}));
  r.add(make_kernel("cuda_Expand", "Expand", expand_accepts, expand_run));
  r.add(make_kernel("cuda_Tile", "Tile", movable_accepts, tile_run));
  r.add(make_kernel("cuda_DepthToSpace", "DepthToSpace", depth_space_accepts, depth_to_space_run));
  r.add(make_kernel("cuda_SpaceToDepth", "SpaceToDepth", depth_space_accepts, space_to_depth_run));
  r.add(make_kernel("cuda_Concat", "Concat", concat_accepts, concat_run));
  r.add(make_kernel("cuda_Split", "Split", split_accepts, split_run));
  CudaKernel gather = make_kernel("cuda_Gather", "Gather", gather_accepts, gather_run);
  gather.data_error = "an index is outside the range [-n, n) of the data's gather axis (size n); fix the indices";
  r.add(gather);
  CudaKernel gather_elements =
      make_kernel("cuda_GatherElements", "GatherElements", gather_elements_accepts, gather_elements_run);
  gather_elements.data_error = gather.data_error;
  r.add(gather_elements);
  r.add(make_kernel("cuda_Pad", "Pad", pad_accepts, pad_run, {1, 3}));
  r.add(make_kernel("cuda_Identity", "Identity", identity_accepts, identity_run));
  r.add(make_kernel("cuda_Dropout", "Dropout", identity_accepts, identity_run));
  return true;
}();

}  // namespace
}  // namespace cuda
}  // namespace normrt
