// A 2-D convolution (with its bias add and a residual add fused in) through cuDNN's graph API. The legacy API of cudnn_conv.cpp
// reaches only the eight classic algorithms; the graph API reaches every engine cuDNN 9 has for the GPU, which
// on Hopper include the fastest tensor-core kernels (those PyTorch gets). cudnn_conv.cpp times these engines
// beside the legacy algorithms when it tunes a node and keeps the faster.
#pragma once

#include <cudnn.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace normrt {
namespace cuda {

// A cuDNN backend descriptor, destroyed with its owner.
class BackendDescriptor {
 public:
  BackendDescriptor() = default;
  ~BackendDescriptor() { reset(); }
  BackendDescriptor(const BackendDescriptor&) = delete;
  BackendDescriptor& operator=(const BackendDescriptor&) = delete;
  // Creates a descriptor of `type` (an earlier one is destroyed).
  cudnnStatus_t create(cudnnBackendDescriptorType_t type);
  cudnnBackendDescriptor_t get() const { return desc_; }
  cudnnBackendDescriptor_t* address() { return &desc_; }
  void reset();

 private:
  cudnnBackendDescriptor_t desc_ = nullptr;
};

struct ConvGraphSpec {
  cudnnDataType_t io_type = CUDNN_DATA_FLOAT;  // X, W, B and Y: CUDNN_DATA_FLOAT or CUDNN_DATA_HALF
  int64_t x[4] = {}, w[4] = {}, y[4] = {};    // logical [N, C, H, W], [K, C, R, S], [N, K, P, Q]
  bool channels_last = false;                  // memory NHWC (filter KRSC) instead of NCHW (KCRS)
  int64_t pre_pad[2] = {}, post_pad[2] = {}, stride[2] = {1, 1}, dilation[2] = {1, 1};
  bool bias = false;      // Y = conv(X, W) + B[k], the add fused in the same engine
  bool residual = false;  // ... + R (Y's shape and layout), also fused: the sums stay fp32 until Y is written
  bool allow_tf32 = false;  // float32: engines on TF32 tensor cores are acceptable (precision "tf32")
  // The operation graph marked dynamic-shape, which lets a kernel cache (plan()'s argument) hand a kernel compiled
  // for one shape to the same graph at another. Off in normrt's kernels; bench/probes/conv_plan_cost.cpp measures
  // what it saves.
  bool dynamic_shape = false;
};

// The operation graph of one spec and the engine configurations cuDNN's heuristics (mode A) rank for it.
class ConvGraph {
 public:
  struct Plan {
    BackendDescriptor plan;
    int64_t workspace_bytes = 0;
    int64_t engine = -1;  // cuDNN's global engine index
    size_t rank = 0;      // position in the heuristics' list (candidate(rank) tells the rest)
  };
  // What a ranked configuration is, read without finalizing a plan (which compiles a runtime-compiled engine).
  struct Candidate {
    int64_t engine = -1;
    bool acceptable = false;  // its numerics are what normrt promises (plan()'s rule)
    // cuDNN compiles its kernel while finalizing the plan, for these exact shapes: 0.3-2.9 s per plan on the H100
    // for the fused conv + bias + residual graphs, again at every new batch size and in every process (measured
    // by bench/probes/conv_plan_cost.cpp, session 19).
    bool runtime_compiled = false;
  };

  // False with `error` set when cuDNN refuses the graph or ranks no configuration for it.
  bool build(cudnnHandle_t handle, const ConvGraphSpec& spec, std::string* error);
  size_t candidates() const { return configs_.size(); }
  // The execution plan of candidate `rank`, or null when cuDNN cannot finalize it or its numerics are not what
  // normrt promises: no TF32 (unless allowed) or fp16 conversion of fp32 data, fp32 accumulation, deterministic.
  // `kernel_cache` (a finalized CUDNN_BACKEND_KERNEL_CACHE_DESCRIPTOR, dynamic-shape graphs only) lends the plan a
  // kernel compiled before and keeps the one it compiles.
  std::unique_ptr<Plan> plan(size_t rank, cudnnBackendDescriptor_t kernel_cache = nullptr) const;
  Candidate candidate(size_t rank) const;
  // The plan of engine `engine` (-1: none) at rank `rank`, else at any rank, else the heuristics' first
  // candidate that makes a plan; null when none does. Only acceptable candidates that are not runtime-compiled
  // are finalized: a run at a new shape must not stall for a compiler (tune() never picks one either).
  std::unique_ptr<Plan> choose(int64_t engine, size_t rank) const;

  // Runs `plan` on the handle's stream; b and r are null when the spec has no bias or residual. Pointers must be
  // 16-byte aligned (aligned() checks).
  static cudnnStatus_t execute(cudnnHandle_t handle, const Plan& plan, const void* x, const void* w, const void* b,
                               const void* r, void* y, void* workspace);
  static bool aligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }
  // The finalized operation graph (a kernel cache is made for one).
  cudnnBackendDescriptor_t operation_graph() const { return graph_.get(); }

 private:
  cudnnHandle_t handle_ = nullptr;
  cudnnDataType_t io_type_ = CUDNN_DATA_FLOAT;
  bool allow_tf32_ = false;
  BackendDescriptor x_, w_, y_, b_, r_, conv_out_, biased_, conv_desc_, conv_op_, add_desc_, add_op_, residual_op_,
      graph_, heuristics_;
  std::vector<std::unique_ptr<BackendDescriptor>> configs_;
};

}  // namespace cuda
}  // namespace normrt
