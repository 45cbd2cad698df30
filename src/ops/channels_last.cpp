#include "ops/channels_last.h"

#include <cstring>

#include "ops/evaluate.h"

namespace normrt {

std::vector<int64_t> to_channels_last_perm(size_t rank) {
  std::vector<int64_t> perm{0};
  for (size_t i = 2; i < rank; ++i) perm.push_back(static_cast<int64_t>(i));
  perm.push_back(1);
  return perm;
}

std::vector<int64_t> to_channels_first_perm(size_t rank) {
  std::vector<int64_t> perm{0, static_cast<int64_t>(rank) - 1};
  for (size_t i = 1; i + 1 < rank; ++i) perm.push_back(static_cast<int64_t>(i));
  return perm;
}

Shape permute_shape(const Shape& shape, const std::vector<int64_t>& perm) {
  if (!shape.has_rank) return shape;
  std::vector<Dim> dims;
  for (int64_t axis : perm) dims.push_back(shape.dims.at(static_cast<size_t>(axis)));
  return Shape(dims);
}

Tensor permute_tensor(const Tensor& tensor, const std::vector<int64_t>& perm) {
  const Dims& in = tensor.dims();
  const size_t rank = in.size();
  Dims out_dims(rank);
  for (size_t i = 0; i < rank; ++i) out_dims[i] = in.at(static_cast<size_t>(perm[i]));
  Tensor out(tensor.dtype(), out_dims);
  if (out.numel() == 0) return out;
  // Element strides of the input, taken in output axis order.
  std::vector<int64_t> in_strides(rank, 1);
  for (size_t i = rank; i-- > 1;) in_strides[i - 1] = in_strides[i] * in[i];
  std::vector<int64_t> strides(rank);
  for (size_t i = 0; i < rank; ++i) strides[i] = in_strides[static_cast<size_t>(perm[i])];
  const size_t bytes = dtype_size(tensor.dtype());
  const auto* src = static_cast<const unsigned char*>(tensor.raw());
  auto* dst = static_cast<unsigned char*>(out.raw());
  std::vector<int64_t> index(rank, 0);
  int64_t offset = 0;
  for (int64_t n = 0; n < out.numel(); ++n) {
    std::memcpy(dst + static_cast<size_t>(n) * bytes, src + static_cast<size_t>(offset) * bytes, bytes);
    for (size_t i = rank; i-- > 0;) {  // odometer over the output index
      offset += strides[i];
      if (++index[i] < out_dims[i]) break;
      offset -= strides[i] * out_dims[i];
      index[i] = 0;
    }
  }
  return out;
}

void infer_channels_last(InferContext& ctx, const Node& twin, const std::vector<bool>& channels_last_inputs,
                         InferFunction infer) {
  InferContext inner(twin, ctx.opset);
  for (size_t i = 0; i < ctx.inputs.size() && i < twin.inputs.size(); ++i) {
    TypeShape ts = ctx.inputs[i];
    const bool permuted = i < channels_last_inputs.size() && channels_last_inputs[i];
    if (permuted && ts.shape.has_rank) {
      if (ts.shape.rank() < 3) ctx.fail("input " + std::to_string(i) + " " + ts.shape.to_string() +
                                        " must be channels-last [N, spatial..., C] of rank >= 3");
      ts.shape = permute_shape(ts.shape, to_channels_first_perm(ts.shape.rank()));
    }
    inner.inputs.push_back(ts);
    inner.values.push_back(permuted ? nullptr : ctx.value(i));
  }
  infer(inner);
  for (size_t o = 0; o < inner.outputs.size(); ++o) {
    const Shape& s = inner.outputs[o].shape;
    ctx.set_output(o, inner.outputs[o].dtype, s.has_rank && s.rank() >= 3 ? permute_shape(s, to_channels_last_perm(s.rank())) : s);
  }
}

void run_channels_last(KernelContext& ctx, const Node& twin, const std::vector<bool>& channels_last_inputs) {
  const OpSchema* schema = find_schema(twin);
  if (!schema) ctx.fail("no channels-first twin op " + twin.op_type + " (internal error)");
  std::vector<Tensor> permuted(ctx.inputs.size());
  std::vector<const Tensor*> inputs;
  for (size_t i = 0; i < ctx.inputs.size() && i < twin.inputs.size(); ++i) {
    if (ctx.inputs[i] && i < channels_last_inputs.size() && channels_last_inputs[i]) {
      permuted[i] = permute_tensor(*ctx.inputs[i], to_channels_first_perm(ctx.inputs[i]->rank()));
      inputs.push_back(&permuted[i]);
    } else {
      inputs.push_back(ctx.inputs[i]);
    }
  }
  std::vector<Tensor> outputs = run_node(twin, ctx.opset, inputs, schema->reference);
  for (size_t o = 0; o < outputs.size() && o < ctx.outputs.size(); ++o) {
    if (!ctx.outputs[o]) continue;
    Tensor back = permute_tensor(outputs[o], to_channels_last_perm(outputs[o].rank()));
    if (back.dims() != ctx.out(o).dims() || back.dtype() != ctx.out(o).dtype())
      ctx.fail("output " + std::to_string(o) + " came back as [" + dims_to_string(back.dims()) + "] (internal error)");
    std::memcpy(ctx.out(o).raw(), back.raw(), back.nbytes());
  }
}

}  // namespace normrt
