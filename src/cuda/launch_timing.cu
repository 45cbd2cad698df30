// LaunchTimer: see launch_timing.h.
#include "cuda/launch_timing.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "cuda/cuda_runtime.h"

namespace normrt {
namespace cuda {
namespace {

__device__ __forceinline__ uint64_t global_ns() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void hold_kernel(int64_t ns) {
  const uint64_t start = global_ns();
  while (global_ns() - start < static_cast<uint64_t>(ns)) __nanosleep(500);
}

// The longest hold: queueing that takes the host longer than this is not a launch worth timing this way.
constexpr int64_t kMaxHoldNs = 50'000'000;
// Launches per timing fill about this much GPU time (half a millisecond), within [kMinRuns, kMaxRuns].
constexpr float kTargetMs = 0.5f;
constexpr int kMinRuns = 3;
constexpr int kMaxRuns = 64;
constexpr size_t kFinalists = 3;
constexpr int kFinalTimings = 3;

}  // namespace

void launch_hold(cudaStream_t stream, int64_t ns) {
  hold_kernel<<<1, 1, 0, stream>>>(ns);
  check_cuda(cudaGetLastError(), "launching the timing hold kernel");
}

LaunchTimer::LaunchTimer(cudaStream_t stream) : stream_(stream) {
  check_cuda(cudaEventCreate(&start_), "cudaEventCreate");
  if (cudaEventCreate(&stop_) != cudaSuccess) {
    cudaEventDestroy(start_);
    check_cuda(cudaGetLastError(), "cudaEventCreate");
  }
}

LaunchTimer::~LaunchTimer() {
  cudaEventDestroy(start_);
  cudaEventDestroy(stop_);
}

float LaunchTimer::time_once(const std::function<bool()>& queue, bool* outlasted) {
  launch_hold(stream_, hold_ns_);
  const auto queued_from = std::chrono::steady_clock::now();
  bool ok = queue();
  const int64_t queue_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - queued_from).count();
  float ms = 0.0f;
  ok = ok && cudaEventSynchronize(stop_) == cudaSuccess && cudaEventElapsedTime(&ms, start_, stop_) == cudaSuccess;
  if (!ok) {
    cudaStreamSynchronize(stream_);
    cudaGetLastError();  // a refused launch is the candidate's failure, not the stream's
    return -1.0f;
  }
  // The hold must outlast the queueing by a margin (the hold starts when the GPU reaches it, not before).
  *outlasted = queue_ns * 5 < hold_ns_ * 4 || hold_ns_ >= kMaxHoldNs;
  if (!*outlasted) hold_ns_ = std::min(kMaxHoldNs, 2 * std::max(hold_ns_, queue_ns));
  return ms;
}

float LaunchTimer::time(const Launch& launch, int runs) {
  runs = std::max(runs, 1);
  for (;;) {
    bool outlasted = false;
    const float ms = time_once(
        [&] {
          bool ok = cudaEventRecord(start_, stream_) == cudaSuccess;
          for (int r = 0; r < runs && ok; ++r) ok = launch();
          return ok && cudaEventRecord(stop_, stream_) == cudaSuccess;
        },
        &outlasted);
    if (ms < 0) return -1.0f;
    if (outlasted) return ms / static_cast<float>(runs);
  }
}

float LaunchTimer::time_cold(const Launch& launch, void* flush, size_t flush_bytes, int runs) {
  std::vector<float> times;
  while (static_cast<int>(times.size()) < std::max(runs, 1)) {
    bool outlasted = false;
    const float ms = time_once(
        [&] {
          return cudaMemsetAsync(flush, static_cast<int>(times.size()), flush_bytes, stream_) == cudaSuccess &&
                 cudaEventRecord(start_, stream_) == cudaSuccess && launch() &&
                 cudaEventRecord(stop_, stream_) == cudaSuccess;
        },
        &outlasted);
    if (ms < 0) return -1.0f;
    if (outlasted) times.push_back(ms);  // else the GPU may have waited for the host: again, behind a longer hold
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

LaunchTimer::Fastest LaunchTimer::fastest(const std::vector<Launch>& launches) {
  struct Timed {
    int index;
    int runs;
    std::vector<float> ms;
  };
  std::vector<Timed> timed;
  for (size_t i = 0; i < launches.size(); ++i) {
    if (!launches[i]()) continue;  // warm-up (first-launch setup), and a check that it runs
    const float once = time(launches[i], 1);
    if (once < 0) continue;
    const int runs = std::clamp(static_cast<int>(std::ceil(kTargetMs / std::max(once, 1e-4f))), kMinRuns, kMaxRuns);
    const float ms = time(launches[i], runs);
    if (ms >= 0) timed.push_back({static_cast<int>(i), runs, {ms}});
  }
  if (timed.empty()) return {};
  std::sort(timed.begin(), timed.end(), [](const Timed& a, const Timed& b) { return a.ms[0] < b.ms[0]; });
  timed.resize(std::min(timed.size(), kFinalists));
  for (int round = 1; round < kFinalTimings && timed.size() > 1; ++round)
    for (Timed& t : timed) {
      const float ms = time(launches[t.index], t.runs);
      if (ms >= 0) t.ms.push_back(ms);
      else t.ms.clear();  // failed on a later launch: not a candidate to keep
    }
  Fastest best;
  for (Timed& t : timed) {
    if (t.ms.empty()) continue;
    std::sort(t.ms.begin(), t.ms.end());
    const float median = t.ms[t.ms.size() / 2];
    if (best.index < 0 || median < best.ms) best = {t.index, median};
  }
  return best;
}

}  // namespace cuda
}  // namespace normrt
