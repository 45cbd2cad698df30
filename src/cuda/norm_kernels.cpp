// CUDA kernels for the normalization ops (src/ops/normalization.cpp): every channel-grouped and row
// normalization runs group_norm_forward / layer_norm_forward (group_norm.h); BatchNormalization (inference)
// runs a per-channel affine kernel (norm_params.h).
//
//   kernel name             op                                      computes
//   cuda_norm_group_fused   ai.normrt::GroupNorm                    GN, affine per channel or group, act, residual
//   cuda_norm_layer_fused   ai.normrt::LayerNorm                    LN over [axis, rank), affine, act, residual
//   cuda_norm_instance      InstanceNormalization                   GN with G = C
//   cuda_norm_group         GroupNormalization (18: per group, 21)  GN
//   cuda_norm_layer         LayerNormalization (no Mean/InvStdDev)  LN
//   cuda_norm_batch         BatchNormalization (inference)          (x - mean) * scale / sqrt(var + eps) + bias
//
// X is float32, float16 or bfloat16 (statistics always fp32). The fused kernels take per-channel fp32 gamma and
// beta: a parameter that is already fp32 and per channel is passed as is; any other (float16, bfloat16 or
// float64; per group; broadcasting over LayerNorm's normalized dims) is widened into an fp32 array in the
// node's workspace by a small kernel at the start of every run (a few microseconds at most; run() allocates
// nothing and reads nothing back, so the whole network stays capturable into one CUDA graph).
#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "cuda/cuda_kernel.h"
#include "cuda/dnn_util.h"
#include "cuda/group_norm.h"
#include "cuda/launch_timing.h"
#include "cuda/norm_params.h"
#include "ops/activation_math.h"

namespace normrt {
namespace cuda {
namespace {

using IrType = ::normrt::DataType;

constexpr size_t kWorkspaceAlignment = 256;

size_t align_up(size_t bytes) { return (bytes + kWorkspaceAlignment - 1) / kWorkspaceAlignment * kWorkspaceAlignment; }

bool storage_type(IrType t, DataType* out) {
  switch (t) {
    case IrType::kFloat32:
      *out = DataType::kFloat32;
      return true;
    case IrType::kFloat16:
      *out = DataType::kFloat16;
      return true;
    case IrType::kBFloat16:
      *out = DataType::kBFloat16;
      return true;
    default:
      return false;
  }
}

bool is_param_type(IrType t) {
  return t == IrType::kFloat32 || t == IrType::kFloat16 || t == IrType::kBFloat16 || t == IrType::kFloat64;
}

// GeluTanh and HardSwish have no fused form in group_norm.h: such nodes run elsewhere.
bool kernel_activation(FusedActivation kind, Activation* out) {
  switch (kind) {
    case FusedActivation::kNone:
      *out = Activation::kNone;
      return true;
    case FusedActivation::kRelu:
      *out = Activation::kRelu;
      return true;
    case FusedActivation::kLeakyRelu:
      *out = Activation::kLeakyRelu;
      return true;
    case FusedActivation::kElu:
      *out = Activation::kElu;
      return true;
    case FusedActivation::kSigmoid:
      *out = Activation::kSigmoid;
      return true;
    case FusedActivation::kSilu:
      *out = Activation::kSilu;
      return true;
    case FusedActivation::kGelu:
      *out = Activation::kGelu;
      return true;
    case FusedActivation::kTanh:
      *out = Activation::kTanh;
      return true;
    case FusedActivation::kGeluTanh:
    case FusedActivation::kHardSwish:
      return false;
  }
  return false;
}

int64_t product(const Dims& dims, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= dims[i];
  return p;
}

// ---------------------------------------------------------------------------------------------------------
// Which op a kernel serves, and how its node maps onto one group_norm_forward call.

enum class NormOp { kFusedGroupNorm, kFusedLayerNorm, kInstanceNorm, kGroupNormalization, kLayerNormalization };

// A scale or bias as group_norm_forward needs it: either the input's own fp32 [C] array (direct) or `map`
// applied to the input into an fp32 array in the workspace.
struct ParamPlan {
  const DeviceValue* value = nullptr;  // null: absent (1 for gamma, 0 for beta)
  bool direct = false;
  ParamBroadcast map;
};

struct NormCall {
  int64_t N = 0, C = 0, spatial = 1, groups = 1;  // LayerNorm: N = rows, C = cols
  bool channels_last = false;                     // GroupNorm with channels_last = 1: X is [N, spatial..., C]
  bool residual_first = false;                    // residual_before_activation = 1
  ParamPlan gamma, beta;
  const DeviceValue* residual = nullptr;
  Activation activation = Activation::kNone;
  float alpha = 0.0f;
  float epsilon = 1e-5f;
};

ParamPlan per_channel_param(const CudaKernelContext& ctx, size_t input, int64_t C, int64_t groups, bool per_group) {
  ParamPlan p;
  if (!ctx.has_input(input)) return p;
  p.value = &ctx.inputs[input];
  if (per_group && groups != C) {
    p.map.rank = 2;
    p.map.dims[0] = groups;
    p.map.dims[1] = C / groups;
    p.map.strides[0] = 1;
    p.map.strides[1] = 0;
  } else {
    p.map.rank = 1;
    p.map.dims[0] = C;
    p.map.strides[0] = 1;
    p.direct = p.value->dtype == IrType::kFloat32;
  }
  if (p.value->numel() != (per_group ? groups : C))
    ctx.fail("input " + std::to_string(input) + " has " + std::to_string(p.value->numel()) + " elements; expected " +
             std::to_string(per_group ? groups : C));
  return p;
}

// A LayerNorm parameter broadcasting (right-aligned) over the normalized dims X[axis:].
ParamPlan normalized_dims_param(const CudaKernelContext& ctx, size_t input, const Dims& normalized) {
  ParamPlan p;
  if (!ctx.has_input(input)) return p;
  p.value = &ctx.inputs[input];
  const int64_t cols = element_count(normalized);
  if (p.value->numel() == cols) {  // same elements in the same order (the shapes differ by leading 1s at most)
    p.map.rank = 1;
    p.map.dims[0] = cols;
    p.map.strides[0] = 1;
    p.direct = p.value->dtype == IrType::kFloat32;
    return p;
  }
  if (normalized.size() > static_cast<size_t>(ParamBroadcast::kMaxRank))
    ctx.fail("a broadcasting LayerNorm parameter over more than 8 normalized dims is not supported");
  const Dims& pd = p.value->dims;
  if (pd.size() > normalized.size()) ctx.fail("input " + std::to_string(input) + " has more dims than it normalizes");
  p.map.rank = static_cast<int>(normalized.size());
  int64_t stride = 1;
  for (size_t k = normalized.size(); k-- > 0;) {
    p.map.dims[k] = normalized[k];
    const size_t from_right = normalized.size() - 1 - k;
    if (from_right >= pd.size()) continue;  // a dim the parameter lacks: broadcast (stride 0)
    const int64_t extent = pd[pd.size() - 1 - from_right];
    if (extent != 1 && extent != normalized[k])
      ctx.fail("input " + std::to_string(input) + " of shape " + dims_to_string(pd) +
               " does not broadcast to the normalized dims " + dims_to_string(normalized));
    p.map.strides[k] = extent == 1 ? 0 : stride;
    stride *= extent;
  }
  return p;
}

NormCall describe_call(const CudaKernelContext& ctx, NormOp op) {
  const Node& node = ctx.node;
  const Dims& x = ctx.in(0).dims;
  NormCall call;
  call.epsilon = node.attr_float("epsilon", 1e-5f);
  if (op == NormOp::kFusedLayerNorm || op == NormOp::kLayerNormalization) {
    int64_t axis = node.attr_int("axis", -1);
    const int64_t rank = static_cast<int64_t>(x.size());
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) ctx.fail("axis " + std::to_string(node.attr_int("axis", -1)) + " is out of range");
    const Dims normalized(x.begin() + axis, x.end());
    call.N = product(x, 0, static_cast<size_t>(axis));
    call.C = element_count(normalized);
    call.gamma = normalized_dims_param(ctx, 1, normalized);
    call.beta = normalized_dims_param(ctx, 2, normalized);
  } else {
    if (x.size() < 2) ctx.fail("X has rank " + std::to_string(x.size()) + "; expected at least 2");
    call.channels_last = op == NormOp::kFusedGroupNorm && node.attr_int("channels_last", 0) != 0;
    call.N = x[0];
    if (call.channels_last) {
      call.C = x.back();
      call.spatial = product(x, 1, x.size() - 1);
    } else {
      call.C = x[1];
      call.spatial = product(x, 2, x.size());
    }
    bool per_group = false;
    if (op == NormOp::kInstanceNorm) {
      call.groups = call.C;
    } else {
      call.groups = node.attr_int("num_groups");
      if (call.groups <= 0 || call.C % call.groups != 0)
        ctx.fail("num_groups = " + std::to_string(call.groups) + " does not divide C = " + std::to_string(call.C));
      per_group = op == NormOp::kGroupNormalization ? ctx.opset < 21 : node.attr_int("affine_per_group", 0) != 0;
    }
    call.gamma = per_channel_param(ctx, 1, call.C, call.groups, per_group);
    call.beta = per_channel_param(ctx, 2, call.C, call.groups, per_group);
  }
  if (op == NormOp::kFusedGroupNorm || op == NormOp::kFusedLayerNorm) {
    const ActivationSpec act = read_fused_activation(node);
    if (!kernel_activation(act.kind, &call.activation))
      ctx.fail(std::string("activation ") + fused_activation_name(act.kind) + " has no CUDA form");
    call.alpha = act.alpha;
    call.residual_first = act.residual_before_activation;
    if (ctx.has_input(3)) call.residual = &ctx.inputs[3];
  }
  return call;
}

GroupNormArgs group_norm_args(const NormCall& call, DataType dtype) {
  GroupNormArgs a;
  a.N = call.N;
  a.C = call.C;
  a.spatial = call.spatial;
  a.groups = call.groups;
  a.layout = call.channels_last ? Layout::kNHWC : Layout::kNCHW;
  a.dtype = dtype;
  a.epsilon = call.epsilon;
  a.activation = call.activation;
  a.residual_before_activation = call.residual_first;
  a.alpha = call.alpha;
  return a;
}

// Workspace: [gamma fp32 C][beta fp32 C][group_norm scratch], each part 256-byte aligned, plus slack so that
// run() can align the base pointer itself.
struct WorkspaceLayout {
  size_t gamma = 0, beta = 0, scratch = 0, scratch_bytes = 0, total = 0;
};

WorkspaceLayout workspace_layout(const NormCall& call, size_t scratch_bytes) {
  WorkspaceLayout w;
  size_t offset = 0;
  const size_t param_bytes = align_up(static_cast<size_t>(call.C) * sizeof(float));
  if (call.gamma.value && !call.gamma.direct) {
    w.gamma = offset;
    offset += param_bytes;
  }
  if (call.beta.value && !call.beta.direct) {
    w.beta = offset;
    offset += param_bytes;
  }
  w.scratch = offset;
  w.scratch_bytes = scratch_bytes;
  w.total = offset + scratch_bytes == 0 ? 0 : offset + scratch_bytes + kWorkspaceAlignment;
  return w;
}

// The split algorithm's scratch depends on the pointers' alignment (it picks the vector width): plan for
// every alignment the runtime could hand out and keep the largest.
size_t group_norm_scratch_bytes(const NormCall& call, DataType dtype) {
  GroupNormArgs a = group_norm_args(call, dtype);
  size_t most = 0;
  const int element = dtype == DataType::kFloat32 ? 4 : 2;
  for (uintptr_t alignment = 16; alignment >= static_cast<uintptr_t>(element); alignment /= 2) {
    const uintptr_t base = 1 << 20;  // never dereferenced: planning reads addresses only
    a.x = reinterpret_cast<const void*>(base + alignment);
    a.y = reinterpret_cast<void*>(base + alignment);
    a.residual = call.residual ? reinterpret_cast<const void*>(base + alignment) : nullptr;
    most = std::max(most, group_norm_workspace_bytes(a));
  }
  return most;
}

template <NormOp kOp>
size_t norm_workspace(const CudaKernelContext& ctx) {
  const NormCall call = describe_call(ctx, kOp);
  DataType dtype;
  if (!storage_type(ctx.in(0).dtype, &dtype)) ctx.fail("X is not float32, float16 or bfloat16");
  if (call.N * call.C * call.spatial == 0) return 0;
  return workspace_layout(call, group_norm_scratch_bytes(call, dtype)).total;
}

const float* prepare_param(CudaKernelContext& ctx, const ParamPlan& p, char* workspace, size_t offset) {
  if (!p.value) return nullptr;
  if (p.direct) return static_cast<const float*>(p.value->data);
  float* out = reinterpret_cast<float*>(workspace + offset);
  const Status s = broadcast_param_to_float(p.value->data, p.value->dtype, p.map, out, ctx.stream);
  if (!s.ok()) ctx.fail(s.message);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Build-time tuning. The planner's rules (group_norm.cu) are measured at a few shapes each; at others another
// algorithm, cluster size or block size may be faster (H100, 2026-11-27, NHWC batch-8 UNet shapes, cold: 8x640x16x16
// fp16 8.2 us planned, 6.8 us on the registers kernel; 8x320x32x32 fp16 13.1 planned, 11.4 in clusters of 4 x 256
// threads; bench/results/2026-11-27-session17.md). tune() times the planner's choice and the alternatives that
// plan at this shape, and keeps an alternative only when it is clearly faster. The choice is stored as
// "algo=;cluster=;threads=;vectors=;warps=" (GroupNormArgs' knobs; "" is the planner's choice). A knob valid at the
// tuned corner may not plan at every shape of the profile (a cluster size whose share no longer fits): such a
// call takes the planner's choice, which plans wherever the node was accepted.

// The planner's arguments with a tuned configuration's knobs; a malformed configuration reads as "".
GroupNormArgs with_tuned_knobs(GroupNormArgs a, const std::string& config) {
  if (config.empty()) return a;
  const std::map<std::string, int64_t> v = parse_config(config);
  auto get = [&](const char* key) {
    const auto it = v.find(key);
    return it == v.end() || it->second < 0 || it->second > 1024 ? 0 : static_cast<int>(it->second);
  };
  const int algo = get("algo");
  if (algo > static_cast<int>(NormAlgorithm::kGrid)) return a;
  a.algorithm = static_cast<NormAlgorithm>(algo);
  a.cluster_size = get("cluster");
  a.block_threads = get("threads");
  a.register_vectors = get("vectors");
  a.row_warps = get("warps");
  return a;
}

std::string tuned_config_of(const GroupNormArgs& a) {
  return format_config({{"algo", static_cast<int64_t>(a.algorithm)},
                        {"cluster", a.cluster_size},
                        {"threads", a.block_threads},
                        {"vectors", a.register_vectors},
                        {"warps", a.row_warps}});
}

// Runs the tuned configuration, or the planner's choice where the configuration does not plan at this shape
// (group_norm_forward refuses such arguments before it launches anything, with cudaErrorInvalidValue).
Status forward_tuned(const GroupNormArgs& planned, const std::string& config, cudaStream_t stream) {
  if (config.empty()) return group_norm_forward(planned, stream);
  const Status s = group_norm_forward(with_tuned_knobs(planned, config), stream);
  return s.cuda == cudaErrorInvalidValue ? group_norm_forward(planned, stream) : s;
}

// The alternatives to the planner's choice that tune() times: the shared-memory kernels at every cluster size (16
// on the NHWC TMA kernel: H200, 1x512x64x64 fp32 10.8 us against the planner's 11.7, cold) and, on the copy
// engines, with fewer threads; the NHWC registers kernel; LayerNorm rows at every warp count. Only
// algorithms that need no workspace beyond the planner's (never kSplit or kGrid, which the planner already takes
// where they pay).
std::vector<GroupNormArgs> tuning_candidates(const GroupNormArgs& planned, const GroupNormPlan& plan) {
  std::vector<GroupNormArgs> out;
  auto offer = [&](NormAlgorithm algo, int cluster, int threads, int vectors, int warps) {
    GroupNormArgs a = planned;
    a.algorithm = algo;
    a.cluster_size = cluster;
    a.block_threads = threads;
    a.register_vectors = vectors;
    a.row_warps = warps;
    out.push_back(a);
  };
  if (plan.rows) {
    for (int warps : {1, 2, 4, 8, 16}) offer(NormAlgorithm::kAuto, 0, 0, 0, warps);
    return out;
  }
  for (int cluster : {1, 2, 4, 8, 16})  // 16: the NHWC TMA kernel only, where the device schedules it
    for (int threads : {0, 128, 256}) offer(NormAlgorithm::kCluster, cluster, threads, 0, 0);
  if (planned.layout == Layout::kNHWC)
    for (int vectors : {0, 2, 8}) offer(NormAlgorithm::kRegisters, 0, 0, vectors, 0);
  return out;
}

// Two arguments that plan the same launch are timed once.
auto plan_identity(const GroupNormPlan& p) {
  return std::make_tuple(static_cast<int>(p.algorithm), p.cluster_size, p.threads, p.vector_bytes, p.groups_per_unit,
                         p.bulk_copy, p.tma, p.rows, p.row_warps, p.blocks, p.shared_bytes);
}

// Percent by which an alternative must beat the planner's choice, timed in turn with it, to be kept: close
// candidates change places from one timing to the next.
constexpr float kTunedMargin = 0.03f;

// The node's group_norm_forward arguments: its tensors, its parameters (widened into the workspace where needed)
// and the scratch. False when there is nothing to compute (an empty tensor).
bool forward_args(CudaKernelContext& ctx, NormOp op, GroupNormArgs* args) {
  const NormCall call = describe_call(ctx, op);
  DataType dtype;
  if (!storage_type(ctx.in(0).dtype, &dtype)) ctx.fail("X is not float32, float16 or bfloat16");
  if (call.N * call.C * call.spatial == 0) return false;
  const WorkspaceLayout layout = workspace_layout(call, group_norm_scratch_bytes(call, dtype));
  if (ctx.workspace_bytes < layout.total || (layout.total > 0 && !ctx.workspace))
    ctx.fail("workspace of " + std::to_string(ctx.workspace_bytes) + " bytes; needs " + std::to_string(layout.total));
  const uintptr_t raw = reinterpret_cast<uintptr_t>(ctx.workspace);
  char* base = reinterpret_cast<char*>((raw + kWorkspaceAlignment - 1) / kWorkspaceAlignment * kWorkspaceAlignment);
  *args = group_norm_args(call, dtype);
  args->x = ctx.in(0).data;
  args->y = ctx.out(0).data;
  args->residual = call.residual ? call.residual->data : nullptr;
  args->gamma = prepare_param(ctx, call.gamma, base, layout.gamma);
  args->beta = prepare_param(ctx, call.beta, base, layout.beta);
  args->workspace = layout.scratch_bytes ? base + layout.scratch : nullptr;
  args->workspace_bytes = layout.scratch_bytes;
  return true;
}

template <NormOp kOp>
void norm_run(CudaKernelContext& ctx) {
  GroupNormArgs args;
  if (!forward_args(ctx, kOp, &args)) return;
  const Status s = forward_tuned(args, ctx.config, ctx.stream);
  if (!s.ok()) ctx.fail(s.message);
}

template <NormOp kOp>
std::string norm_tune(CudaKernelContext& ctx) {
  GroupNormArgs planned;
  if (!ctx.out(0).data || !forward_args(ctx, kOp, &planned)) return "";
  GroupNormPlan plan;
  if (!group_norm_plan(planned, &plan).ok()) return "";

  std::vector<GroupNormArgs> choices{planned};
  std::vector<decltype(plan_identity(plan))> seen{plan_identity(plan)};
  for (const GroupNormArgs& a : tuning_candidates(planned, plan)) {
    GroupNormPlan p;
    if (!group_norm_plan(a, &p).ok() || p.workspace_bytes > planned.workspace_bytes) continue;
    if (std::find(seen.begin(), seen.end(), plan_identity(p)) != seen.end()) continue;
    seen.push_back(plan_identity(p));
    choices.push_back(a);
  }
  if (choices.size() == 1) return "";
  std::vector<LaunchTimer::Launch> launches;
  for (const GroupNormArgs& a : choices)
    launches.push_back([&ctx, a] { return group_norm_forward(a, ctx.stream).ok(); });
  LaunchTimer timer(ctx.stream);
  const LaunchTimer::Fastest best = timer.fastest(launches);
  if (best.index <= 0) return "";
  // The winner against the planner's choice, in turn, three times each: kept only when clearly faster.
  const int runs = std::max(8, std::min(2000, static_cast<int>(0.5f / std::max(best.ms, 1e-4f))));
  std::vector<float> mine, theirs;
  for (int round = 0; round < 3; ++round) {
    theirs.push_back(timer.time(launches[0], runs));
    mine.push_back(timer.time(launches[static_cast<size_t>(best.index)], runs));
  }
  std::sort(mine.begin(), mine.end());
  std::sort(theirs.begin(), theirs.end());
  if (mine[1] <= 0.0f || theirs[1] <= 0.0f || mine[1] > theirs[1] * (1.0f - kTunedMargin)) return "";
  return tuned_config_of(choices[static_cast<size_t>(best.index)]);
}

// ---------------------------------------------------------------------------------------------------------
// Build-time acceptance. Shapes may be partly unknown; what is known is checked.

bool x_and_params_ok(const std::vector<TypeShape>& inputs, size_t param_count) {
  DataType dtype;
  if (inputs.empty() || !storage_type(inputs[0].dtype, &dtype)) return false;
  for (size_t i = 1; i <= param_count && i < inputs.size(); ++i)
    if (inputs[i].dtype != IrType::kUndefined && !is_param_type(inputs[i].dtype)) return false;
  return true;
}

bool residual_ok(const std::vector<TypeShape>& inputs) {
  return inputs.size() < 4 || inputs[3].dtype == IrType::kUndefined || inputs[3].dtype == inputs[0].dtype;
}

bool activation_ok(const Node& node) {
  try {
    Activation unused;
    return kernel_activation(read_fused_activation(node).kind, &unused);
  } catch (const Error&) {
    return false;
  }
}

// group_norm_forward's limits: one sample (here: one group of the channel-grouped ops, or a whole row) has
// fewer than 2^31 elements. Checked where the shape is known; a larger run-time shape fails naming the node.
bool sample_size_ok(const Shape& x, size_t from) {
  if (!x.has_rank) return true;
  int64_t elements = 1;
  for (size_t d = from; d < x.rank(); ++d) {
    if (!x.dims[d].known()) return true;
    if (x.dims[d].value > (int64_t{1} << 31) / std::max<int64_t>(elements, 1)) return false;
    elements *= std::max<int64_t>(x.dims[d].value, 1);
  }
  return elements < (int64_t{1} << 31);
}

bool accepts_channel_norm(const Node& node, const std::vector<TypeShape>& inputs, bool fused) {
  if (!x_and_params_ok(inputs, 2)) return false;
  if (inputs[0].shape.has_rank && inputs[0].shape.rank() < 2) return false;
  if (fused && (!residual_ok(inputs) || !activation_ok(node))) return false;
  if (node.outputs.size() != 1) return false;
  return sample_size_ok(inputs[0].shape, 1);
}

bool accepts_fused_group_norm(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  try {
    const int64_t channels_last = node.attr_int("channels_last", 0);
    if (channels_last != 0 && channels_last != 1) return false;
    if (channels_last && inputs[0].shape.has_rank && inputs[0].shape.rank() < 3) return false;
  } catch (const Error&) {
    return false;
  }
  return accepts_channel_norm(node, inputs, true);
}
bool accepts_instance_norm(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  return accepts_channel_norm(node, inputs, false);
}
bool accepts_group_normalization(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) {
  return opset >= 18 && accepts_channel_norm(node, inputs, false);
}

int64_t known_axis(const Node& node, const Shape& x) {
  int64_t axis = node.attr_int("axis", -1);
  return axis < 0 ? axis + static_cast<int64_t>(x.rank()) : axis;
}

bool accepts_row_norm(const Node& node, const std::vector<TypeShape>& inputs) {
  if (!x_and_params_ok(inputs, 2)) return false;
  const Shape& x = inputs[0].shape;
  if (!x.has_rank || x.rank() == 0) return false;  // the axis must resolve at build time
  const int64_t axis = known_axis(node, x);
  if (axis < 0 || axis >= static_cast<int64_t>(x.rank())) return false;
  // A parameter that does not cover the normalized dims exactly is expanded through a map of at most 8 dims.
  if (x.rank() - static_cast<size_t>(axis) > static_cast<size_t>(ParamBroadcast::kMaxRank)) {
    for (size_t i = 1; i < 3 && i < inputs.size(); ++i) {
      if (inputs[i].dtype == IrType::kUndefined) continue;
      const Shape& p = inputs[i].shape;
      if (!p.has_rank || p.rank() != x.rank() - static_cast<size_t>(axis)) return false;
      for (size_t k = 0; k < p.rank(); ++k)
        if (!(p.dims[k].known() && x.dims[axis + k].known() && p.dims[k].value == x.dims[axis + k].value)) return false;
    }
  }
  return sample_size_ok(x, static_cast<size_t>(axis));
}

bool accepts_fused_layer_norm(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  return accepts_row_norm(node, inputs) && residual_ok(inputs) && activation_ok(node) && node.outputs.size() == 1;
}

// Mean and InvStdDev are not written: such nodes keep their reference kernel.
bool accepts_layer_normalization(const Node& node, int64_t, const std::vector<TypeShape>& inputs) {
  for (size_t o = 1; o < node.outputs.size(); ++o)
    if (!node.outputs[o].empty()) return false;
  return accepts_row_norm(node, inputs);
}

// ---------------------------------------------------------------------------------------------------------
// BatchNormalization (inference).

ChannelParam channel_param(const CudaKernelContext& ctx, size_t i, int64_t C) {
  const DeviceValue& v = ctx.in(i);
  if (v.numel() != C)
    ctx.fail("input " + std::to_string(i) + " has " + std::to_string(v.numel()) +
             " elements; expected C = " + std::to_string(C));
  return ChannelParam{v.data, v.dtype};
}

bool accepts_batch_norm(const Node& node, int64_t opset, const std::vector<TypeShape>& inputs) {
  if (opset >= 14 && node.attr_int("training_mode", 0) != 0) return false;
  for (size_t o = 1; o < node.outputs.size(); ++o)
    if (!node.outputs[o].empty()) return false;
  if (inputs.size() != 5 || !x_and_params_ok(inputs, 4)) return false;
  for (size_t i = 1; i < 5; ++i)
    if (inputs[i].dtype == IrType::kUndefined) return false;
  return !inputs[0].shape.has_rank || inputs[0].shape.rank() >= 2;
}

size_t batch_norm_workspace(const CudaKernelContext& ctx) {
  const Dims& x = ctx.in(0).dims;
  return x.size() >= 2 ? batch_norm_workspace_bytes(x[1]) : 0;
}

void batch_norm_run(CudaKernelContext& ctx) {
  const Dims& x = ctx.in(0).dims;
  if (x.size() < 2) ctx.fail("X has rank " + std::to_string(x.size()) + "; expected at least 2");
  BatchNormArgs a;
  if (!storage_type(ctx.in(0).dtype, &a.dtype)) ctx.fail("X is not float32, float16 or bfloat16");
  a.N = x[0];
  a.C = x[1];
  a.spatial = product(x, 2, x.size());
  if (a.C == 0) return;
  a.x = ctx.in(0).data;
  a.y = ctx.out(0).data;
  a.scale = channel_param(ctx, 1, a.C);
  a.bias = channel_param(ctx, 2, a.C);
  a.mean = channel_param(ctx, 3, a.C);
  a.var = channel_param(ctx, 4, a.C);
  a.epsilon = ctx.node.attr_float("epsilon", 1e-5f);
  if (ctx.workspace_bytes < batch_norm_workspace_bytes(a.C) || !ctx.workspace)
    ctx.fail("workspace of " + std::to_string(ctx.workspace_bytes) + " bytes; needs " +
             std::to_string(batch_norm_workspace_bytes(a.C)));
  a.folded = static_cast<float*>(ctx.workspace);
  const Status s = batch_norm_inference_forward(a, ctx.stream);
  if (!s.ok()) ctx.fail(s.message);
}

CudaKernel norm_kernel(const char* name, const char* domain, const char* op_type,
                       bool (*accepts)(const Node&, int64_t, const std::vector<TypeShape>&),
                       void (*run)(CudaKernelContext&), size_t (*workspace)(const CudaKernelContext&),
                       std::string (*tune)(CudaKernelContext&) = nullptr) {
  CudaKernel k;
  k.name = name;
  k.domain = domain;
  k.op_type = op_type;
  k.accepts = accepts;
  k.run = run;
  k.workspace = workspace;
  k.tune = tune;
  return k;
}

}  // namespace

NORMRT_REGISTER_CUDA_KERNEL(norm_kernel("cuda_norm_group_fused", kNormrtDomain, "GroupNorm", accepts_fused_group_norm,
                                        norm_run<NormOp::kFusedGroupNorm>, norm_workspace<NormOp::kFusedGroupNorm>,
                                        norm_tune<NormOp::kFusedGroupNorm>));
NORMRT_REGISTER_CUDA_KERNEL(norm_kernel("cuda_norm_layer_fused", kNormrtDomain, "LayerNorm", accepts_fused_layer_norm,
                                        norm_run<NormOp::kFusedLayerNorm>, norm_workspace<NormOp::kFusedLayerNorm>,
                                        norm_tune<NormOp::kFusedLayerNorm>));
NORMRT_REGISTER_CUDA_KERNEL(norm_kernel("cuda_norm_instance", "", "InstanceNormalization", accepts_instance_norm,
                                        norm_run<NormOp::kInstanceNorm>, norm_workspace<NormOp::kInstanceNorm>,
                                        norm_tune<NormOp::kInstanceNorm>));
NORMRT_REGISTER_CUDA_KERNEL(norm_kernel("cuda_norm_group", "", "GroupNormalization", accepts_group_normalization,
                                        norm_run<NormOp::kGroupNormalization>,
                                        norm_workspace<NormOp::kGroupNormalization>,
                                        norm_tune<NormOp::kGroupNormalization>));
NORMRT_REGISTER_CUDA_KERNEL(norm_kernel("cuda_norm_layer", "", "LayerNormalization", accepts_layer_normalization,
                                        norm_run<NormOp::kLayerNormalization>,
                                        norm_workspace<NormOp::kLayerNormalization>,
                                        norm_tune<NormOp::kLayerNormalization>));
NORMRT_REGISTER_CUDA_KERNEL(norm_kernel("cuda_norm_batch", "", "BatchNormalization", accepts_batch_norm,
                                        batch_norm_run, batch_norm_workspace));

}  // namespace cuda
}  // namespace normrt
