// How cuda_attention (attention.cu) runs a call: the planner on its own, so that its choices can be checked for
// devices that need not be present.
#pragma once

#include <cstdint>

#include "normrt/tensor.h"

namespace normrt {
namespace cuda {

struct AttentionPlan {
  int m_tiles = 1;      // 16-query mma tiles a warp: 2 only for float16 heads padded to 48 or 64 on large grids
  int block_rows = 64;  // queries a block of 4 warps: 64 * m_tiles
  int splits = 1;       // blocks sharing one query block's keys (a combine kernel merges them); at most 8
};

// The plan for Q [N, Lq, H, D] against Lk keys on a GPU of `multiprocessors` SMs (0: unknown, the plain plan).
AttentionPlan plan_attention(int64_t N, int64_t H, int64_t Lq, int64_t Lk, int64_t D, ::normrt::DataType dtype,
                             int multiprocessors);

}  // namespace cuda
}  // namespace normrt
