// Timing candidate launches at build time (tune()), by the GPU's clock alone.
//
// Events around launches queued back to back measure the host as much as the GPU whenever a launch costs the
// host longer than it runs: cuDNN's and cuBLASLt's calls take several microseconds of host time, and at batch 1
// most kernels run for less. LaunchTimer first queues a kernel that holds the stream, so the timed launches are
// all queued before the GPU reaches them and run back to back, as they do in a CUDA graph. (H200, the tf32 SD-1.5
// UNet tuned at batch 1: 1.439 ms a run with it, 1.489 ms with the host-side timings it replaced. Close
// candidates still change places from one build to the next.)
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace normrt {
namespace cuda {

// Queues a one-thread kernel that returns `ns` nanoseconds after it starts (the GPU's global timer).
void launch_hold(cudaStream_t stream, int64_t ns);

class LaunchTimer {
 public:
  // A launch queues work on the timer's stream and says whether it could; a candidate that cannot is not timed.
  using Launch = std::function<bool()>;

  explicit LaunchTimer(cudaStream_t stream);
  ~LaunchTimer();
  LaunchTimer(const LaunchTimer&) = delete;
  LaunchTimer& operator=(const LaunchTimer&) = delete;

  // Milliseconds per launch over `runs` launches queued behind a hold, or -1 when a launch fails. If queueing
  // took the host longer than the hold lasted, the hold doubles and the launches are timed again.
  float time(const Launch& launch, int runs);

  // The fastest of `launches` and its milliseconds per launch (index -1 when none runs). Each runs once to warm
  // up, is timed with enough launches to fill about half a millisecond, and the three fastest are timed twice
  // more, in turn, and compared by the median of their three timings: single timings move by a few percent
  // (clocks, other work), as much as the gap between close candidates.
  struct Fastest {
    int index = -1;
    float ms = -1.0f;
  };
  Fastest fastest(const std::vector<Launch>& launches);

  // Milliseconds of one launch with the L2 cache cold, as a network finds a layer's weights: the median of `runs`
  // timings, each of a single launch after `flush_bytes` (about twice the L2) of `flush` were overwritten. The
  // hold runs first, so the host has queued the launch before the GPU reaches it; timed straight after the
  // flush, a launch's host work would count as GPU time. -1 when the launch fails.
  float time_cold(const Launch& launch, void* flush, size_t flush_bytes, int runs);

  int64_t hold_ns() const { return hold_ns_; }

 private:
  // One timing: the hold, then `queue` (the events and launches), then the wait. -1 when anything failed.
  // *outlasted says whether the hold outlasted the host's queueing; if not (the GPU may have waited for the
  // host), the hold has doubled and the timing should be taken again.
  float time_once(const std::function<bool()>& queue, bool* outlasted);

  cudaStream_t stream_;
  cudaEvent_t start_ = nullptr;
  cudaEvent_t stop_ = nullptr;
  int64_t hold_ns_ = 200000;
};

}  // namespace cuda
}  // namespace normrt
