// The device memory planner (src/engine/memory_plan.h): buffers live at the same time never share bytes, buffers
// that do not are packed into the same memory, offsets are aligned, and the plan is deterministic.
#include <gtest/gtest.h>

#include <random>

#include "engine/memory_plan.h"
#include "normrt/error.h"

namespace normrt::test {
namespace {

void expect_valid(const std::vector<BufferLifetime>& buffers, const MemoryPlan& plan, size_t alignment) {
  ASSERT_EQ(plan.offsets.size(), buffers.size());
  size_t a = 0, b = 0;
  EXPECT_FALSE(find_overlap(buffers, plan, &a, &b)) << "buffers " << a << " and " << b << " overlap";
  for (size_t i = 0; i < buffers.size(); ++i) {
    EXPECT_EQ(plan.offsets[i] % alignment, 0u) << i;
    EXPECT_LE(plan.offsets[i] + buffers[i].bytes, plan.arena_bytes) << i;
  }
}

TEST(MemoryPlan, ChainOfLayersReusesTwoBuffers) {
  // x0 -> x1 -> ... -> x9: each value lives from its producer to its one reader, so two buffers suffice.
  std::vector<BufferLifetime> buffers;
  for (int i = 0; i < 10; ++i) buffers.push_back(BufferLifetime{1000, i - 1, i});
  MemoryPlan plan = plan_memory(buffers);
  expect_valid(buffers, plan, kArenaAlignment);
  EXPECT_EQ(plan.arena_bytes, 2 * 1024u);
}

TEST(MemoryPlan, LiveTogetherNeverShare) {
  std::vector<BufferLifetime> buffers = {{100, 0, 5}, {200, 1, 2}, {300, 2, 3}, {50, 4, 5}, {400, 5, 6}};
  MemoryPlan plan = plan_memory(buffers, 64);
  expect_valid(buffers, plan, 64);
}

TEST(MemoryPlan, ZeroBytesTakeNoSpace) {
  std::vector<BufferLifetime> buffers = {{0, 0, 3}, {256, 0, 3}};
  MemoryPlan plan = plan_memory(buffers);
  EXPECT_EQ(plan.arena_bytes, 256u);
  expect_valid(buffers, plan, kArenaAlignment);
}

TEST(MemoryPlan, RandomLifetimesNeverOverlapAndReuse) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<BufferLifetime> buffers;
    size_t total = 0;
    int n = 1 + static_cast<int>(rng() % 60);
    for (int i = 0; i < n; ++i) {
      int64_t first = static_cast<int64_t>(rng() % 40) - 1;
      int64_t last = first + static_cast<int64_t>(rng() % 10);
      size_t bytes = rng() % 5 == 0 ? 0 : 1 + rng() % 100000;
      buffers.push_back(BufferLifetime{bytes, first, last});
      total += (bytes + 255) / 256 * 256;
    }
    MemoryPlan plan = plan_memory(buffers);
    expect_valid(buffers, plan, kArenaAlignment);
    EXPECT_LE(plan.arena_bytes, total);
    // Never smaller than the bytes live at the busiest step.
    for (int64_t step = -1; step < 50; ++step) {
      size_t live = 0;
      for (const auto& b : buffers)
        if (b.first <= step && step <= b.last) live += b.bytes;
      EXPECT_GE(plan.arena_bytes, live);
    }
    MemoryPlan again = plan_memory(buffers);
    EXPECT_EQ(again.offsets, plan.offsets);
  }
}

TEST(MemoryPlan, RefusesBadInput) {
  EXPECT_THROW(plan_memory({{8, 3, 2}}), Error);
  EXPECT_THROW(plan_memory({{8, 0, 1}}, 3), Error);
}

}  // namespace
}  // namespace normrt::test
