// libFuzzer entry point: the engine loader as it reads files (checks before parsing).
#include "fuzz_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  normrt::fuzz::fuzz_engine_file(data, size);
  return 0;
}
