#include "engine/memory_plan.h"

#include <algorithm>
#include <numeric>

#include "normrt/error.h"

namespace normrt {

namespace {

size_t align_up(size_t n, size_t alignment) { return (n + alignment - 1) / alignment * alignment; }

bool live_together(const BufferLifetime& a, const BufferLifetime& b) { return a.first <= b.last && b.first <= a.last; }

}  // namespace

MemoryPlan plan_memory(const std::vector<BufferLifetime>& buffers, size_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0)
    throw Error(ErrorCode::kInternal, "memory plan alignment " + std::to_string(alignment) + " is not a power of two");
  for (const BufferLifetime& b : buffers)
    if (b.first > b.last) throw Error(ErrorCode::kInternal, "a buffer's lifetime ends before it starts");
  MemoryPlan plan;
  plan.offsets.assign(buffers.size(), 0);
  std::vector<size_t> order(buffers.size());
  std::iota(order.begin(), order.end(), 0);
  // Largest first; ties by earlier start, then index, so that the plan is deterministic.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (buffers[a].bytes != buffers[b].bytes) return buffers[a].bytes > buffers[b].bytes;
    return buffers[a].first < buffers[b].first;
  });
  std::vector<size_t> placed;
  std::vector<std::pair<size_t, size_t>> busy;  // [begin, end) of placed buffers live at the same time
  for (size_t index : order) {
    const BufferLifetime& buffer = buffers[index];
    if (buffer.bytes == 0) continue;
    const size_t size = align_up(buffer.bytes, alignment);
    busy.clear();
    for (size_t other : placed)
      if (live_together(buffer, buffers[other]))
        busy.emplace_back(plan.offsets[other], plan.offsets[other] + align_up(buffers[other].bytes, alignment));
    std::sort(busy.begin(), busy.end());
    // The smallest gap that fits; past the last busy range when none does.
    size_t best = SIZE_MAX, best_gap = SIZE_MAX, cursor = 0;
    for (const auto& [begin, end] : busy) {
      if (begin > cursor && begin - cursor >= size && begin - cursor < best_gap) {
        best = cursor;
        best_gap = begin - cursor;
      }
      cursor = std::max(cursor, end);
    }
    if (best == SIZE_MAX) best = cursor;
    plan.offsets[index] = best;
    plan.arena_bytes = std::max(plan.arena_bytes, best + size);
    placed.push_back(index);
  }
  return plan;
}

bool find_overlap(const std::vector<BufferLifetime>& buffers, const MemoryPlan& plan, size_t* a, size_t* b) {
  for (size_t i = 0; i < buffers.size(); ++i)
    for (size_t j = i + 1; j < buffers.size(); ++j) {
      if (!buffers[i].bytes || !buffers[j].bytes || !live_together(buffers[i], buffers[j])) continue;
      size_t begin_i = plan.offsets[i], end_i = begin_i + buffers[i].bytes;
      size_t begin_j = plan.offsets[j], end_j = begin_j + buffers[j].bytes;
      if (begin_i < end_j && begin_j < end_i) {
        *a = i;
        *b = j;
        return true;
      }
    }
  return false;
}

}  // namespace normrt
