// libFuzzer entry point: the timing cache parser, and its round trip through the writer.
#include "fuzz_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  normrt::fuzz::fuzz_timing_cache(data, size);
  return 0;
}
