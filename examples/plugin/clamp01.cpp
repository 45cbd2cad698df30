// Clamp01 (domain com.example, version 1): y = min(max(x, 0), 1), elementwise, for the CPU, and for the GPU when
// built with CUDA (clamp01_cuda.cu, NORMRT_EXAMPLE_PLUGIN_CUDA).
// A complete normrt plugin: the op as a class, exported through the C plugin ABI by the header's C++ layer.
// See README.md for its inputs, outputs, types and limits.
#include <cmath>
#include <string>

#include "normrt/plugin.h"

#ifdef NORMRT_EXAMPLE_PLUGIN_CUDA
// clamp01_cuda.cu: enqueues the kernel on `stream` (a cudaStream_t); returns null, or CUDA's launch error.
const char* clamp01_cuda(const float* x, float* y, size_t count, void* stream);
#endif

namespace {

using normrt::plugin::Failure;

class Clamp01 {
 public:
  static constexpr const char* kDomain = "com.example";
  static constexpr const char* kName = "Clamp01";
  static constexpr int32_t kVersion = 1;

  // Clamp01 takes no attributes; any attribute is a mistake in the model, not something to ignore.
  static Clamp01 create(const normrt::plugin::Attributes& attributes) {
    attributes.allow_only({});
    return Clamp01();
  }

  // The fields start with their own format version, so that a later Clamp01 can read engines of this one.
  void serialize(normrt::plugin::FieldWriter& fields) const { fields.i64(kFieldsFormat); }
  static Clamp01 deserialize(normrt::plugin::FieldReader& fields) {
    int64_t format = fields.i64();
    if (format != kFieldsFormat)
      throw Failure(NORMRT_STATUS_CORRUPT_FIELDS,
                    "fields format " + std::to_string(format) + ", this plugin reads " + std::to_string(kFieldsFormat));
    return Clamp01();
  }

  void infer_shapes(const normrt::plugin::Shapes& inputs, const normrt::plugin::OutputShapes& outputs) const {
    if (inputs.size() != 1 || outputs.size() != 1)
      throw Failure(NORMRT_STATUS_INVALID_MODEL, "takes one input and one output, got " +
                                                     std::to_string(inputs.size()) + " inputs and " +
                                                     std::to_string(outputs.size()) + " outputs");
    if (inputs[0].dtype != NORMRT_DTYPE_FLOAT32)
      throw Failure(NORMRT_STATUS_SHAPE_ERROR,
                    "input 0 must be float32 (ONNX type 1) but has ONNX type " + std::to_string(inputs[0].dtype));
    if (inputs[0].rank < 0) throw Failure(NORMRT_STATUS_SHAPE_ERROR, "the rank of input 0 must be known");
    outputs[0] = inputs[0];  // same dtype and shape; copying the dims keeps their symbolic names
  }

  void run_cpu(const normrt_kernel_args& args) const {
    const normrt_tensor& x = args.inputs[0];
    const normrt_tensor& y = args.outputs[0];
    size_t count = 1;
    for (int32_t d = 0; d < x.rank; ++d) count *= static_cast<size_t>(x.dims[d]);
    const float* in = static_cast<const float*>(x.data);
    float* out = static_cast<float*>(y.data);
    // fmin/fmax would turn NaN into 0 or 1; a NaN input stays NaN, as in Clip.
    for (size_t i = 0; i < count; ++i) out[i] = in[i] < 0.0f ? 0.0f : in[i] > 1.0f ? 1.0f : in[i];
  }

#ifdef NORMRT_EXAMPLE_PLUGIN_CUDA
  // Device pointers and the context's stream: only enqueues (the runtime captures it into CUDA graphs).
  void run_cuda(const normrt_kernel_args& args) const {
    const normrt_tensor& x = args.inputs[0];
    size_t count = 1;
    for (int32_t d = 0; d < x.rank; ++d) count *= static_cast<size_t>(x.dims[d]);
    if (const char* error = clamp01_cuda(static_cast<const float*>(x.data), static_cast<float*>(args.outputs[0].data),
                                         count, args.stream))
      throw Failure(NORMRT_STATUS_INTERNAL, std::string("launching the CUDA kernel failed: ") + error);
  }
#endif

 private:
  static constexpr int64_t kFieldsFormat = 1;
};

}  // namespace

NORMRT_PLUGIN_DEFINE_LIBRARY("normrt example plugin (Clamp01)", Clamp01)
