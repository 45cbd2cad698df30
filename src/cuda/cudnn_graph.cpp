#include "cuda/cudnn_graph.h"

#include <algorithm>

namespace normrt {
namespace cuda {
namespace {

// Tensor unique ids within the graph (the variant pack names the pointers by them).
constexpr int64_t kX = 1, kW = 2, kY = 3, kB = 4, kConvOut = 5, kR = 6, kBiased = 7;

#define NORMRT_TRY(call)                                   \
  do {                                                      \
    const cudnnStatus_t status_ = (call);                   \
    if (status_ != CUDNN_STATUS_SUCCESS) return status_;    \
  } while (0)

cudnnStatus_t set(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
                  int64_t count, const void* values) {
  return cudnnBackendSetAttribute(d, name, type, count, values);
}

// Packed strides of logical [N, C, H, W] dims stored NCHW or NHWC.
void strides_of(const int64_t* d, bool channels_last, int64_t* s) {
  if (channels_last) {
    s[1] = 1;
    s[3] = d[1];
    s[2] = d[3] * d[1];
    s[0] = d[2] * d[3] * d[1];
  } else {
    s[3] = 1;
    s[2] = d[3];
    s[1] = d[2] * d[3];
    s[0] = d[1] * d[2] * d[3];
  }
}

cudnnStatus_t make_tensor(BackendDescriptor& t, int64_t uid, cudnnDataType_t type, const int64_t* dims,
                          const int64_t* strides, bool is_virtual) {
  NORMRT_TRY(t.create(CUDNN_BACKEND_TENSOR_DESCRIPTOR));
  const int64_t alignment = 16;
  const bool virtual_flag = is_virtual;
  NORMRT_TRY(set(t.get(), CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type));
  NORMRT_TRY(set(t.get(), CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims));
  NORMRT_TRY(set(t.get(), CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides));
  NORMRT_TRY(set(t.get(), CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid));
  NORMRT_TRY(set(t.get(), CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment));
  if (is_virtual) NORMRT_TRY(set(t.get(), CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &virtual_flag));
  return cudnnBackendFinalize(t.get());
}

// The engine behind a configuration: its global index, whether its numerics are acceptable and whether it is
// compiled at runtime.
cudnnStatus_t inspect_engine(cudnnBackendDescriptor_t config, cudnnDataType_t io_type, bool allow_tf32,
                             ConvGraph::Candidate* out) {
  BackendDescriptor engine;
  NORMRT_TRY(engine.create(CUDNN_BACKEND_ENGINE_DESCRIPTOR));
  int64_t count = 0;
  NORMRT_TRY(cudnnBackendGetAttribute(config, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count,
                                      engine.address()));
  NORMRT_TRY(cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &count,
                                      &out->engine));
  cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
  count = 0;
  NORMRT_TRY(cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                                      CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &count, notes));
  out->acceptable = true;
  for (int64_t i = 0; i < count; ++i) {
    const cudnnBackendNumericalNote_t n = notes[i];
    // fp32 stays fp32 (no TF32 tensor cores, no fp16 conversion); sums accumulate in fp32; runs are repeatable
    // (graph replay is checked bit for bit against the eager run).
    if (n == CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION || n == CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC ||
        n == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS ||
        (io_type == CUDNN_DATA_FLOAT && !allow_tf32 && n == CUDNN_NUMERICAL_NOTE_TENSOR_CORE))
      out->acceptable = false;
  }
  cudnnBackendBehaviorNote_t behaviour[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT];
  count = 0;
  NORMRT_TRY(cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                                      CUDNN_BEHAVIOR_NOTE_TYPE_COUNT, &count, behaviour));
  out->runtime_compiled = std::find(behaviour, behaviour + count, CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION) !=
                          behaviour + count;
  return CUDNN_STATUS_SUCCESS;
}

}  // namespace

cudnnStatus_t BackendDescriptor::create(cudnnBackendDescriptorType_t type) {
  reset();
  return cudnnBackendCreateDescriptor(type, &desc_);
}

void BackendDescriptor::reset() {
  if (desc_) cudnnBackendDestroyDescriptor(desc_);
  desc_ = nullptr;
}

bool ConvGraph::build(cudnnHandle_t handle, const ConvGraphSpec& spec, std::string* error) {
  handle_ = handle;
  io_type_ = spec.io_type;
  allow_tf32_ = spec.allow_tf32;
  configs_.clear();
  const auto fail = [&](const char* what, cudnnStatus_t status) {
    *error = std::string(what) + ": " + cudnnGetErrorString(status);
    return false;
  };
  int64_t xs[4], ws[4], ys[4];
  strides_of(spec.x, spec.channels_last, xs);
  strides_of(spec.w, spec.channels_last, ws);
  strides_of(spec.y, spec.channels_last, ys);
  cudnnStatus_t s;
  if ((s = make_tensor(x_, kX, spec.io_type, spec.x, xs, false))) return fail("X tensor", s);
  if ((s = make_tensor(w_, kW, spec.io_type, spec.w, ws, false))) return fail("W tensor", s);
  if ((s = make_tensor(y_, kY, spec.io_type, spec.y, ys, false))) return fail("Y tensor", s);
  // With a bias or a residual the convolution writes a virtual fp32 tensor that the adds read (one kernel, no
  // round trip): conv -> [+ B] -> [+ R] -> Y.
  const bool epilogue = spec.bias || spec.residual;
  if (epilogue && (s = make_tensor(conv_out_, kConvOut, CUDNN_DATA_FLOAT, spec.y, ys, true)))
    return fail("virtual tensor", s);
  if (spec.bias) {
    const int64_t bd[4] = {1, spec.y[1], 1, 1}, bs[4] = {spec.y[1], 1, 1, 1};
    if ((s = make_tensor(b_, kB, spec.io_type, bd, bs, false))) return fail("B tensor", s);
  }
  if (spec.residual) {
    if ((s = make_tensor(r_, kR, spec.io_type, spec.y, ys, false))) return fail("R tensor", s);
    if (spec.bias && (s = make_tensor(biased_, kBiased, CUDNN_DATA_FLOAT, spec.y, ys, true)))
      return fail("virtual tensor", s);
  }
  const auto conv_setup = [&]() -> cudnnStatus_t {
    NORMRT_TRY(conv_desc_.create(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR));
    const int64_t spatial = 2;
    const cudnnDataType_t compute = CUDNN_DATA_FLOAT;
    const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    cudnnBackendDescriptor_t d = conv_desc_.get();
    NORMRT_TRY(set(d, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial));
    NORMRT_TRY(set(d, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &compute));
    NORMRT_TRY(set(d, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode));
    NORMRT_TRY(set(d, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, spec.pre_pad));
    NORMRT_TRY(set(d, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, spec.post_pad));
    NORMRT_TRY(set(d, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, spec.dilation));
    NORMRT_TRY(set(d, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, spec.stride));
    NORMRT_TRY(cudnnBackendFinalize(d));
    NORMRT_TRY(conv_op_.create(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR));
    cudnnBackendDescriptor_t op = conv_op_.get();
    const float alpha = 1.0f, beta = 0.0f;
    cudnnBackendDescriptor_t x = x_.get(), w = w_.get(), y = epilogue ? conv_out_.get() : y_.get();
    NORMRT_TRY(set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x));
    NORMRT_TRY(set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &w));
    NORMRT_TRY(set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y));
    NORMRT_TRY(set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &d));
    NORMRT_TRY(set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha));
    NORMRT_TRY(set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &beta));
    return cudnnBackendFinalize(op);
  };
  if ((s = conv_setup())) return fail("convolution operation", s);
  if (epilogue) {
    // One pointwise add descriptor (fp32 math) serves both adds.
    const auto add_desc_setup = [&]() -> cudnnStatus_t {
      NORMRT_TRY(add_desc_.create(CUDNN_BACKEND_POINTWISE_DESCRIPTOR));
      const cudnnPointwiseMode_t mode = CUDNN_POINTWISE_ADD;
      const cudnnDataType_t precision = CUDNN_DATA_FLOAT;
      NORMRT_TRY(set(add_desc_.get(), CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode));
      NORMRT_TRY(set(add_desc_.get(), CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &precision));
      return cudnnBackendFinalize(add_desc_.get());
    };
    if ((s = add_desc_setup())) return fail("pointwise add", s);
  }
  const auto add_setup = [&](BackendDescriptor& op_desc, BackendDescriptor& in, BackendDescriptor& other,
                             BackendDescriptor& out) -> cudnnStatus_t {
    NORMRT_TRY(op_desc.create(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR));
    cudnnBackendDescriptor_t op = op_desc.get(), pw = add_desc_.get(), a = in.get(), b = other.get(), y = out.get();
    NORMRT_TRY(set(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pw));
    NORMRT_TRY(set(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &a));
    NORMRT_TRY(set(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b));
    NORMRT_TRY(set(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y));
    return cudnnBackendFinalize(op);
  };
  std::vector<cudnnBackendDescriptor_t> ops{conv_op_.get()};
  if (spec.bias) {
    if ((s = add_setup(add_op_, conv_out_, b_, spec.residual ? biased_ : y_))) return fail("bias add operation", s);
    ops.push_back(add_op_.get());
  }
  if (spec.residual) {
    if ((s = add_setup(residual_op_, spec.bias ? biased_ : conv_out_, r_, y_))) return fail("residual add operation", s);
    ops.push_back(residual_op_.get());
  }
  const auto graph_setup = [&]() -> cudnnStatus_t {
    NORMRT_TRY(graph_.create(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR));
    NORMRT_TRY(set(graph_.get(), CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                   static_cast<int64_t>(ops.size()), ops.data()));
    NORMRT_TRY(set(graph_.get(), CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle));
    if (spec.dynamic_shape) {
      const bool dynamic = true;
      NORMRT_TRY(set(graph_.get(), CUDNN_ATTR_OPERATIONGRAPH_IS_DYNAMIC_SHAPE_ENABLED, CUDNN_TYPE_BOOLEAN, 1, &dynamic));
    }
    NORMRT_TRY(cudnnBackendFinalize(graph_.get()));
    NORMRT_TRY(heuristics_.create(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR));
    cudnnBackendDescriptor_t g = graph_.get();
    const cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
    NORMRT_TRY(set(heuristics_.get(), CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g));
    NORMRT_TRY(set(heuristics_.get(), CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode));
    NORMRT_TRY(cudnnBackendFinalize(heuristics_.get()));
    int64_t count = 0;
    NORMRT_TRY(cudnnBackendGetAttribute(heuristics_.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                        CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, nullptr));
    std::vector<cudnnBackendDescriptor_t> raw;
    for (int64_t i = 0; i < count; ++i) {
      configs_.push_back(std::make_unique<BackendDescriptor>());
      NORMRT_TRY(configs_.back()->create(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
      raw.push_back(configs_.back()->get());
    }
    int64_t returned = 0;
    NORMRT_TRY(cudnnBackendGetAttribute(heuristics_.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                        CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &returned, raw.data()));
    configs_.resize(static_cast<size_t>(std::min(returned, count)));
    return CUDNN_STATUS_SUCCESS;
  };
  if ((s = graph_setup())) {
    configs_.clear();
    return fail("operation graph", s);
  }
  if (configs_.empty()) {
    *error = "cuDNN's heuristics rank no engine for this convolution";
    return false;
  }
  return true;
}

std::unique_ptr<ConvGraph::Plan> ConvGraph::plan(size_t rank, cudnnBackendDescriptor_t kernel_cache) const {
  if (rank >= configs_.size()) return nullptr;
  cudnnBackendDescriptor_t config = configs_[rank]->get();
  const Candidate c = candidate(rank);
  if (!c.acceptable) return nullptr;
  auto p = std::make_unique<Plan>();
  p->engine = c.engine;
  p->rank = rank;
  if (p->plan.create(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR) != CUDNN_STATUS_SUCCESS) return nullptr;
  cudnnHandle_t handle = handle_;
  if (set(p->plan.get(), CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle) ||
      set(p->plan.get(), CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &config) ||
      (kernel_cache &&
       set(p->plan.get(), CUDNN_ATTR_EXECUTION_PLAN_KERNEL_CACHE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &kernel_cache)) ||
      cudnnBackendFinalize(p->plan.get()))
    return nullptr;
  int64_t count = 0;
  if (cudnnBackendGetAttribute(p->plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &count,
                               &p->workspace_bytes) != CUDNN_STATUS_SUCCESS || p->workspace_bytes < 0)
    return nullptr;
  return p;
}

ConvGraph::Candidate ConvGraph::candidate(size_t rank) const {
  Candidate c;
  if (rank >= configs_.size() ||
      inspect_engine(configs_[rank]->get(), io_type_, allow_tf32_, &c) != CUDNN_STATUS_SUCCESS)
    return Candidate{};
  return c;
}

std::unique_ptr<ConvGraph::Plan> ConvGraph::choose(int64_t engine, size_t rank) const {
  // Candidates are read first and only a usable one is finalized: finalizing each to learn its engine would
  // compile every runtime-compiled one on the way (12 s at the first run of a tf32 UNet at batch 3, session 19).
  const auto usable = [&](size_t i, int64_t wanted) {
    const Candidate c = candidate(i);
    return c.acceptable && !c.runtime_compiled && (wanted < 0 || c.engine == wanted);
  };
  if (engine >= 0 && rank < configs_.size() && usable(rank, engine))
    if (auto p = plan(rank)) return p;
  for (int64_t wanted : {engine, int64_t{-1}})
    for (size_t i = 0; i < configs_.size(); ++i)
      if (usable(i, wanted))
        if (auto p = plan(i)) return p;
  return nullptr;
}

cudnnStatus_t ConvGraph::execute(cudnnHandle_t handle, const Plan& plan, const void* x, const void* w, const void* b,
                                 const void* r, void* y, void* workspace) {
  BackendDescriptor pack;
  NORMRT_TRY(pack.create(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR));
  void* pointers[5] = {const_cast<void*>(x), const_cast<void*>(w), y};
  int64_t uids[5] = {kX, kW, kY};
  int64_t count = 3;
  if (b) {
    pointers[count] = const_cast<void*>(b);
    uids[count++] = kB;
  }
  if (r) {
    pointers[count] = const_cast<void*>(r);
    uids[count++] = kR;
  }
  NORMRT_TRY(set(pack.get(), CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, count, pointers));
  NORMRT_TRY(set(pack.get(), CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, count, uids));
  NORMRT_TRY(set(pack.get(), CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace));
  NORMRT_TRY(cudnnBackendFinalize(pack.get()));
  return cudnnBackendExecute(handle, plan.plan.get(), pack.get());
}

}  // namespace cuda
}  // namespace normrt
