// libFuzzer entry point: the engine loader behind its checksum (length and CRC fixed after each mutation).
#include "fuzz_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  normrt::fuzz::fuzz_engine_resealed(data, size);
  return 0;
}
