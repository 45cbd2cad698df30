// LaunchTimer (tune()'s timings) measures the GPU, not the host: launches that cost the host longer than they run
// still time at their kernel's duration, and the fastest of several candidates wins whatever the host adds.
// The candidates are hold kernels of known duration, each followed by a host sleep standing in for a library
// call's host overhead (timed back to back from the host, they would all take the sleep's time).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "cuda/launch_timing.h"
#include "cuda_kernel_test_util.h"

namespace normrt {
namespace cuda {
namespace {

class Stream {
 public:
  Stream() { EXPECT_EQ(cudaStreamCreate(&stream_), cudaSuccess); }
  ~Stream() { cudaStreamDestroy(stream_); }
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

// A launch that keeps the GPU busy for kernel_us and the host for host_us.
LaunchTimer::Launch hold_then_sleep(cudaStream_t stream, int kernel_us, int host_us) {
  return [=] {
    launch_hold(stream, kernel_us * 1000LL);
    std::this_thread::sleep_for(std::chrono::microseconds(host_us));
    return true;
  };
}

TEST(LaunchTimer, TimesTheKernelWhenTheHostIsSlower) {
  NORMRT_REQUIRE_GPU();
  Stream stream;
  LaunchTimer timer(stream.get());
  const float ms = timer.time(hold_then_sleep(stream.get(), 20, 80), 10);
  EXPECT_GE(ms, 0.019f);
  EXPECT_LE(ms, 0.030f) << "the timing includes the host's 80 us a launch";
  EXPECT_GE(timer.hold_ns(), 10 * 80000) << "the hold grows past the time the host took to queue";
}

TEST(LaunchTimer, PicksTheShortestKernelWhateverTheHostAdds) {
  NORMRT_REQUIRE_GPU();
  Stream stream;
  LaunchTimer timer(stream.get());
  // The host's time falls as the kernel's grows: timed from the host, the slowest kernel would win.
  const LaunchTimer::Fastest best = timer.fastest({hold_then_sleep(stream.get(), 30, 40),
                                                   hold_then_sleep(stream.get(), 12, 120),
                                                   hold_then_sleep(stream.get(), 20, 60),
                                                   hold_then_sleep(stream.get(), 40, 20)});
  EXPECT_EQ(best.index, 1);
  EXPECT_GE(best.ms, 0.011f);
  EXPECT_LE(best.ms, 0.018f);
}

TEST(LaunchTimer, LaunchesThatFailAreNotTimed) {
  NORMRT_REQUIRE_GPU();
  Stream stream;
  LaunchTimer timer(stream.get());
  const LaunchTimer::Launch refused = [] { return false; };
  EXPECT_LT(timer.time(refused, 5), 0.0f);
  EXPECT_EQ(timer.fastest({}).index, -1);
  EXPECT_EQ(timer.fastest({refused, refused}).index, -1);
  // Fails after its warm-up: timed never, so it cannot win.
  int calls = 0;
  const LaunchTimer::Launch flaky = [&] { return ++calls == 1; };
  const LaunchTimer::Fastest best = timer.fastest({refused, flaky, hold_then_sleep(stream.get(), 10, 0)});
  EXPECT_EQ(best.index, 2);
  EXPECT_GT(best.ms, 0.0f);
  EXPECT_EQ(cudaStreamSynchronize(stream.get()), cudaSuccess) << "a refused launch leaves the stream usable";
}

TEST(LaunchTimer, AFinalistThatFailsWhenTimedAgainIsDropped) {
  NORMRT_REQUIRE_GPU();
  Stream stream;
  LaunchTimer timer(stream.get());
  // The first candidate is the shortest, and is timed in full before the others run; once they have run (the
  // finalists' second timings), it fails. Its first timing must not let it win.
  bool others_ran = false;
  const LaunchTimer::Launch fails_later = [&] {
    if (others_ran) return false;
    launch_hold(stream.get(), 5000);
    return true;
  };
  const auto other = [&](int kernel_us) -> LaunchTimer::Launch {
    return [&, kernel_us] {
      others_ran = true;
      launch_hold(stream.get(), kernel_us * 1000LL);
      return true;
    };
  };
  const LaunchTimer::Fastest best = timer.fastest({fails_later, other(30), other(15)});
  EXPECT_EQ(best.index, 2);
  EXPECT_GE(best.ms, 0.014f);
  EXPECT_EQ(cudaStreamSynchronize(stream.get()), cudaSuccess);
}

// time_cold (tuning's cold-cache comparison of two corners' choices): a library call's host work before its
// kernel, here a sleep, must not count, though each timing is a single launch straight after the flush.
TEST(LaunchTimer, ColdTimingCountsTheKernelNotTheHostWorkBeforeIt) {
  NORMRT_REQUIRE_GPU();
  Stream stream;
  LaunchTimer timer(stream.get());
  const size_t flush_bytes = 64u << 20;
  void* flush = nullptr;
  ASSERT_EQ(cudaMalloc(&flush, flush_bytes), cudaSuccess);
  const LaunchTimer::Launch sleep_then_hold = [&] {
    std::this_thread::sleep_for(std::chrono::microseconds(300));
    launch_hold(stream.get(), 20000);
    return true;
  };
  const float ms = timer.time_cold(sleep_then_hold, flush, flush_bytes, 5);
  EXPECT_GE(ms, 0.019f);
  EXPECT_LE(ms, 0.060f) << "the timing includes the host's 300 us before the kernel";
  EXPECT_GE(timer.hold_ns(), 300000) << "the hold grows past the time the host took to queue";
  EXPECT_LT(timer.time_cold([] { return false; }, flush, flush_bytes, 5), 0.0f);
  EXPECT_EQ(cudaStreamSynchronize(stream.get()), cudaSuccess) << "a refused launch leaves the stream usable";
  cudaFree(flush);
}

}  // namespace
}  // namespace cuda
}  // namespace normrt
