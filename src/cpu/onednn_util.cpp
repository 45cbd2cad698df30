#include "cpu/onednn_util.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

namespace normrt::onednn {

dnnl::engine& engine() {
  static dnnl::engine cpu(dnnl::engine::kind::cpu, 0);
  return cpu;
}

dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

void* scratch(int slot, size_t bytes) {
  struct Buffer {
    std::unique_ptr<void, decltype(&std::free)> data{nullptr, &std::free};
    size_t size = 0;
  };
  thread_local Buffer buffers[2];
  Buffer& b = buffers[slot];
  if (b.size < bytes) {
    const size_t rounded = (bytes + 63) / 64 * 64;
    b.data.reset(std::aligned_alloc(64, rounded));
    if (!b.data) throw std::bad_alloc();
    b.size = rounded;
  }
  return b.data.get();
}

dnnl::memory::dims to_dims(const Dims& dims) { return dnnl::memory::dims(dims.begin(), dims.end()); }

dnnl::memory::dims plain_strides(const dnnl::memory::dims& dims) {
  dnnl::memory::dims strides(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) strides[i - 1] = strides[i] * std::max<dnnl::memory::dim>(dims[i], 1);
  return strides;
}

dnnl::memory::desc plain_desc(const dnnl::memory::dims& dims) { return strided_desc(dims, plain_strides(dims)); }

dnnl::memory::desc strided_desc(const dnnl::memory::dims& dims, const dnnl::memory::dims& strides) {
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, strides);
}

dnnl::memory wrap(const dnnl::memory::desc& desc, const Tensor& tensor) {
  return dnnl::memory(desc, engine(), const_cast<void*>(tensor.raw()));
}

namespace {

constexpr uint64_t kMix = 0xff51afd7ed558ccdull;

uint64_t mix(uint64_t h) {
  h = (h ^ (h >> 33)) * kMix;
  return h ^ (h >> 29);
}

// One chunk: four independent lanes so the multiplies overlap, then a tail byte by byte.
uint64_t fingerprint_chunk(const unsigned char* p, size_t bytes) {
  uint64_t lanes[4] = {0x9e3779b97f4a7c15ull, 0xbf58476d1ce4e5b9ull, 0x94d049bb133111ebull, 0x2545f4914f6cdd1dull};
  size_t i = 0;
  for (; i + 32 <= bytes; i += 32) {
    for (int l = 0; l < 4; ++l) {
      uint64_t v;
      std::memcpy(&v, p + i + 8 * l, 8);
      lanes[l] = (lanes[l] ^ v) * kMix;
      lanes[l] ^= lanes[l] >> 29;
    }
  }
  uint64_t h = bytes;
  for (; i < bytes; ++i) h = h * 131 + p[i];
  for (uint64_t lane : lanes) h = mix(h ^ lane);
  return h;
}

}  // namespace

uint64_t fingerprint(const void* data, size_t bytes) {
  // Fixed-size chunks hashed in parallel and combined in order: the result does not depend on the thread count.
  constexpr size_t kChunk = size_t{1} << 18;
  const auto* p = static_cast<const unsigned char*>(data);
  const int64_t chunks = static_cast<int64_t>((bytes + kChunk - 1) / kChunk);
  std::vector<uint64_t> hashes(static_cast<size_t>(chunks));
#pragma omp parallel for schedule(static) if (chunks > 4)
  for (int64_t c = 0; c < chunks; ++c) {
    const size_t begin = static_cast<size_t>(c) * kChunk;
    hashes[static_cast<size_t>(c)] = fingerprint_chunk(p + begin, std::min(kChunk, bytes - begin));
  }
  uint64_t h = mix(bytes);
  for (uint64_t c : hashes) h = mix(h ^ c);
  return h;
}

void run_reference(KernelContext& ctx) {
  const OpSchema* schema = OpRegistry::global().find(ctx.node.domain, ctx.node.op_type);
  if (!schema || !schema->reference)
    throw Error(ErrorCode::kInternal, ctx.node.describe() + ": no reference kernel to fall back to");
  schema->reference(ctx);
}

}  // namespace normrt::onednn
