// Channels-last tensors ([N, spatial..., C]) and the ops that take them. The layout pass
// (src/passes/channels_last_layout.cpp) writes these for a device whose convolution and normalization kernels
// are faster on channels-last data (tensor-core convolutions on NVIDIA GPUs); the ONNX ops themselves are
// channels-first. Each channels-last op is defined by its channels-first twin: its shape function and reference
// kernel permute to channels-first, call the twin's, and permute the results back, so the two cannot disagree.
#pragma once

#include <vector>

#include "ops/op.h"

namespace normrt {

// Transpose permutations (ONNX semantics: out.dims[i] = in.dims[perm[i]]) for a tensor of `rank` >= 2.
std::vector<int64_t> to_channels_last_perm(size_t rank);   // [N, C, s...] -> [N, s..., C]: {0, 2, ..., r-1, 1}
std::vector<int64_t> to_channels_first_perm(size_t rank);  // [N, s..., C] -> [N, C, s...]: {0, r-1, 1, ..., r-2}

Shape permute_shape(const Shape& shape, const std::vector<int64_t>& perm);
Tensor permute_tensor(const Tensor& tensor, const std::vector<int64_t>& perm);

// Infers `ctx` (a channels-last node) through `infer` run on `twin` (the same node in channels-first form):
// the inputs flagged in `channels_last_inputs` are permuted to channels-first first, every output back after.
// The twin takes the node's first twin.inputs.size() inputs (a channels-last op may have inputs of its own after).
void infer_channels_last(InferContext& ctx, const Node& twin, const std::vector<bool>& channels_last_inputs,
                         InferFunction infer);
// Runs the twin's reference kernel the same way.
void run_channels_last(KernelContext& ctx, const Node& twin, const std::vector<bool>& channels_last_inputs);

}  // namespace normrt
