// Identity and Dropout (inference mode: the input passes through; the optional mask is all true).
#include <cstring>

#include "ops/op.h"
#include "ops/shape_util.h"

namespace normrt {
namespace {

void infer_identity(InferContext& ctx) {
  // Dropout-12 and later take training_mode as an input; when it is true the op is random, which inference
  // must not pretend to compute.
  if (ctx.node.op_type == "Dropout" && ctx.opset >= 12 && ctx.has_input(2)) {
    const Tensor* training = ctx.value(2);
    if (training && training->numel() == 1 && element_as_double(*training, 0) != 0.0)
      throw Error(ErrorCode::kUnsupportedOp, ctx.node.describe() + ": training_mode = true is not supported: normrt "
                                                                   "runs inference only; export the model in eval mode");
  }
  ctx.set_output(0, ctx.dtype(0), ctx.shape(0));
  if (ctx.node.op_type == "Dropout" && ctx.node.outputs.size() > 1) ctx.set_output(1, DataType::kBool, ctx.shape(0));
}

void identity_reference(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  std::memcpy(ctx.out(0).raw(), x.raw(), x.nbytes());
  if (ctx.outputs.size() > 1) std::memset(ctx.out(1).raw(), 1, ctx.out(1).nbytes());
}

}  // namespace

NORMRT_REGISTER_OP("", "Identity", infer_identity, identity_reference);
NORMRT_REGISTER_OP("", "Dropout", infer_identity, identity_reference);

}  // namespace normrt
