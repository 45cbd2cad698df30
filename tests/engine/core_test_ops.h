// Test-only ops for the core-path tests, in domain "test.normrt" (registered by core_test_ops.cpp into the test
// binary only; the normrt CLI does not know them):
//   CoreScale(x) -> x * alpha   attribute alpha: FLOAT (default 1); float32 only
//   CoreAdd(a, b) -> a + b      same shapes; float32 only
// Each also has a fast CPU kernel ("core_test_scale_fast", "core_test_add_fast") that counts its calls, so that
// tests can see which kernel an engine chose and whether a loaded engine keeps it.
#pragma once

#include <atomic>

namespace normrt::test {

inline const char* kTestDomain = "test.normrt";
inline const char* kScaleFastKernel = "core_test_scale_fast";
inline const char* kAddFastKernel = "core_test_add_fast";

std::atomic<int>& scale_fast_calls();
std::atomic<int>& add_fast_calls();

}  // namespace normrt::test
