// Fused GroupNorm / InstanceNorm / LayerNorm forward kernels for NVIDIA GPUs (sm_90).
//
//   y = act(((x - mean_g) / sqrt(var_g + eps)) * gamma[c] + beta[c]) + residual
//
// Plain C++ launch API on device pointers: no exceptions, every failure is a Status naming the argument.
// Statistics are fp32 for every storage type (fp32, fp16, bf16); see README.md for the algorithms.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace normrt {
namespace cuda {

enum class DataType { kFloat32, kFloat16, kBFloat16 };
enum class Layout { kNCHW, kNHWC };  // NCHW: x[n][c][s]; NHWC: x[n][s][c] (s = flattened spatial index)
enum class Activation { kNone, kRelu, kSilu, kElu, kGelu, kSigmoid, kTanh, kLeakyRelu };

// kCluster: one read of x; a group's data stays in the shared memory of a thread-block cluster.
// kSplit: two kernels (partial statistics, then normalize); x is read twice, the second time mostly from L2.
// kRegisters (NHWC): one read of x into the registers of a cluster's threads (at most 8 16-byte vectors a
//   thread, clusters of up to 16 blocks where the device schedules them); no shared-memory tile. For small
//   tensors, whose time is latency.
// kGrid (NHWC, 16-byte vectors): one read of x into the shared memory of a grid the device holds at once (a
//   cooperative launch, one or two blocks per SM); each block takes whole rows of one sample, and the blocks of
//   a sample merge their partials through the workspace after a grid-wide barrier. For tensors that fit on chip
//   whose groups would otherwise need clusters (which the GPCs do not pack into one wave) or two passes.
// kAuto picks kRegisters for small NHWC tensors whose blocks fit the GPU at once, else kCluster whenever the group
// fits on chip, else kSplit; NHWC tensors that fit kGrid take it instead of kSplit, and instead of clusters the
// device would run in several waves (asked of the device: group_norm_plan_for, without one, assumes one wave).
enum class NormAlgorithm { kAuto, kCluster, kSplit, kRegisters, kGrid };

struct GroupNormArgs {
  const void* x = nullptr;         // [N, C, spatial] or [N, spatial, C], dtype
  void* y = nullptr;               // same shape, layout and dtype as x; may alias x
  const float* gamma = nullptr;    // [C] fp32, or null for 1
  const float* beta = nullptr;     // [C] fp32, or null for 0
  const void* residual = nullptr;  // same shape, layout and dtype as x, added after the activation; or null
  int64_t N = 0;
  int64_t C = 0;
  int64_t spatial = 0;  // H*W (any number of spatial dims, flattened); 1 for LayerNorm over C
  int64_t groups = 0;   // 1..C, divides C; groups == C is InstanceNorm
  Layout layout = Layout::kNCHW;
  DataType dtype = DataType::kFloat32;
  float epsilon = 1e-5f;
  Activation activation = Activation::kNone;
  bool residual_before_activation = false;  // y = act(n + residual) instead of act(n) + residual
  float alpha = 0.0f;  // LeakyRelu's slope or Elu's alpha (ONNX defaults: 0.01 and 1.0); the caller sets it
  void* workspace = nullptr;  // group_norm_workspace_bytes(args) bytes of device memory (kSplit, kGrid); no init
  size_t workspace_bytes = 0;
  NormAlgorithm algorithm = NormAlgorithm::kAuto;
  // Blocks per unit of the one-pass kernels: 0 lets the planner choose; 1, 2, 4 or 8 (16 with kRegisters, on a
  // device that schedules it) fixes it (tuning and benchmarks; the plan fails when a block's share does not fit
  // on chip).
  int cluster_size = 0;
  // Warps per LayerNorm-shaped row (spatial 1, one group, kAuto): 0 lets the planner choose; 1 is the one-warp-per-row
  // kernel, 2..16 a block per row with at most 4 vectors a thread (tuning and benchmarks).
  int row_warps = 0;
  // kRegisters: the vectors a thread the planner aims for (fewer: more threads a block, shorter chains of loads);
  // 0 lets it choose, else 1, 2, 4 or 8 (tuning and benchmarks).
  int register_vectors = 0;
  // Threads a block of the one-pass kernels on the copy engines: fixes the NCHW bulk-copy kernel's, caps the NHWC
  // TMA kernel's (whole rows of vectors, rounded up to whole warps); 0 lets the planner choose, else a multiple of
  // 32 in 64..512 (tuning and benchmarks).
  int block_threads = 0;
  // Programmatic dependent launch (Hopper): the kernel may start while the kernel before it on the stream is
  // still finishing, sets up, then waits for it (griddepcontrol.wait) before reading any tensor. Hides the
  // launch latency that dominates small tensors; off gives a plain launch (same results).
  bool programmatic_launch = true;
};

struct Status {
  cudaError_t cuda = cudaSuccess;  // cudaErrorInvalidValue for bad arguments
  std::string message;             // empty when ok
  bool ok() const { return cuda == cudaSuccess && message.empty(); }
};

// What the launcher will do for these arguments on the current device (for tests, benchmarks, logs).
struct GroupNormPlan {
  NormAlgorithm algorithm = NormAlgorithm::kAuto;  // kCluster, kSplit or kRegisters once planned
  int cluster_size = 0;       // blocks per group (cluster) or per unit (split)
  int threads = 0;            // per block
  int vector_bytes = 0;       // width of each global load/store
  int groups_per_unit = 0;    // NHWC: consecutive groups one block row covers; NCHW: small groups per block
  int groups_per_vector = 0;  // NHWC: the most groups one vector touches (> 1 when V does not divide Cg); else 1
  bool bulk_copy = false;     // NCHW one-pass kernel that moves data with the bulk-copy engine (TMA)
  bool tma = false;           // NHWC one-pass kernel that moves 2-D boxes with the tensor memory accelerator
  bool rows = false;          // whole rows read once into registers (LayerNorm rows of <= 512 vectors)
  int row_warps = 0;          // rows: warps per row (1: a warp per row; more: a block per row)
  int64_t blocks = 0;         // per kernel
  size_t shared_bytes = 0;    // dynamic shared memory per block
  size_t workspace_bytes = 0;
  // Clusters (units) of the one-pass kernel the device can hold at once (cudaOccupancyMaxActiveClusters; kGrid:
  // blocks); more units than this run in waves. 0 from group_norm_plan_for, which has no device to ask.
  int64_t resident_clusters = 0;
};

Status group_norm_plan(const GroupNormArgs& args, GroupNormPlan* plan);

// What a plan depends on in the device; group_norm_plan_for plans for one that need not be present (tests sweep
// shapes on machines without a GPU; x, y and residual only need their alignment).
struct DeviceProperties {
  int sms = 0;
  int smem_optin = 0;  // bytes of shared memory one block may use
  int major = 0;       // compute capability
  int max_cluster = 8;  // the largest cluster the device schedules: 8 (portable) or 16 (H100 SXM, H200)
};
Status group_norm_plan_for(const GroupNormArgs& args, const DeviceProperties& device, GroupNormPlan* plan);
// 0 unless the plan is kSplit or kGrid; callers may always pass at least this much.
size_t group_norm_workspace_bytes(const GroupNormArgs& args);
// Asynchronous on `stream`; capturable into a CUDA graph. Returns the launch error, not the kernel's.
Status group_norm_forward(const GroupNormArgs& args, cudaStream_t stream);

// LayerNorm over the last `cols` elements of each of `rows` rows (gamma/beta [cols]); the same kernels with
// N = rows, C = cols, spatial = 1, groups = 1.
struct LayerNormArgs {
  const void* x = nullptr;
  void* y = nullptr;
  const float* gamma = nullptr;
  const float* beta = nullptr;
  const void* residual = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  DataType dtype = DataType::kFloat32;
  float epsilon = 1e-5f;
  Activation activation = Activation::kNone;
  bool residual_before_activation = false;
  float alpha = 0.0f;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  NormAlgorithm algorithm = NormAlgorithm::kAuto;
  int row_warps = 0;                // as GroupNormArgs::row_warps
  bool programmatic_launch = true;  // as GroupNormArgs::programmatic_launch
};

GroupNormArgs layer_norm_as_group_norm(const LayerNormArgs& args);
Status layer_norm_forward(const LayerNormArgs& args, cudaStream_t stream);

const char* to_string(NormAlgorithm algorithm);
const char* to_string(Activation activation);

}  // namespace cuda
}  // namespace normrt
