// libFuzzer entry point: the ONNX importer, the builder with a static profile, the engine writer and reader, and the runtime.
#include "fuzz_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  normrt::fuzz::fuzz_onnx_model(data, size);
  return 0;
}
