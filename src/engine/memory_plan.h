// Offsets of device buffers in one arena, reusing memory between values whose lifetimes do not overlap. Pure
// logic without any device type, so that the CPU tests check it and libnormrt stays free of CUDA.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace normrt {

// A buffer that must hold its bytes from step `first` to step `last` (both inclusive).
struct BufferLifetime {
  size_t bytes = 0;
  int64_t first = 0;
  int64_t last = 0;
};

struct MemoryPlan {
  std::vector<size_t> offsets;  // per buffer, a multiple of the alignment
  size_t arena_bytes = 0;       // the arena size the offsets need
};

// Arena alignment: cuDNN and 16-byte vector loads want at least 128; 256 matches cudaMalloc's.
constexpr size_t kArenaAlignment = 256;

// Greedy by size: the largest buffers first, each at the lowest offset where it overlaps no placed buffer that
// is live at the same time (best fit among the gaps). Zero-byte buffers get offset 0 and take no space.
MemoryPlan plan_memory(const std::vector<BufferLifetime>& buffers, size_t alignment = kArenaAlignment);

// Whether two buffers live at the same time share bytes; the first such pair, for tests. Returns false if none.
bool find_overlap(const std::vector<BufferLifetime>& buffers, const MemoryPlan& plan, size_t* a, size_t* b);

}  // namespace normrt
