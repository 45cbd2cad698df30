#include "passes/float16_precision.h"

namespace normrt {

void lower_to_float16(Graph&, const Float16Support&, PassReport&) {
  throw Error(ErrorCode::kInvalidArgument, "float16 engines are not available in this build yet; build with float32");
}

}  // namespace normrt
