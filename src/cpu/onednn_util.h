// What the oneDNN kernels (onednn_conv.cpp, onednn_matmul.cpp) share: the process-wide CPU engine, a stream,
// memory descriptors for normrt's dense row-major tensors, the per-node cache kept in KernelContext::state and
// the fallback to the op's reference kernel for a configuration oneDNN refuses at run time.
#pragma once

#include <any>
#include <cstdint>
#include <list>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <utility>
#include <vector>

#include "ops/op.h"

namespace normrt::onednn {

// The one CPU engine of the process.
dnnl::engine& engine();
// A CPU stream. One per thread: CPU execution is synchronous, and a stream per thread keeps concurrent execution
// contexts from sharing one stream object, whose thread safety oneDNN does not promise.
dnnl::stream& stream();

dnnl::memory::dims to_dims(const Dims& dims);
// Row-major strides of dense dims.
dnnl::memory::dims plain_strides(const dnnl::memory::dims& dims);
// A float32 descriptor of a dense row-major tensor with these dims.
dnnl::memory::desc plain_desc(const dnnl::memory::dims& dims);
// A float32 descriptor with explicit strides (transposed or permuted views of dense data).
dnnl::memory::desc strided_desc(const dnnl::memory::dims& dims, const dnnl::memory::dims& strides);
// Wraps tensor data without copying; oneDNN takes a non-const handle even for inputs it only reads.
dnnl::memory wrap(const dnnl::memory::desc& desc, const Tensor& tensor);

// Scratch memory of at least `bytes`, 64-byte aligned, owned by the calling thread. Slot 0 and 1 are separate
// buffers (say, a kernel's input and output in another layout). All oneDNN kernels on a thread share them, as
// a thread runs one node at a time: layout copies of activations cost the largest activation, not one per node.
void* scratch(int slot, size_t bytes);

// 64-bit content fingerprint of a byte range (four independent multiply-mix lanes). Used to check that cached,
// reordered weights still match the weights tensor: a weights input need not be an initializer, and the
// runtime may reuse a buffer for different values.
uint64_t fingerprint(const void* data, size_t bytes);

// Runs the op's reference kernel on ctx: the path for a configuration oneDNN declines at run time.
void run_reference(KernelContext& ctx);

// A small per-node cache keyed by input shapes. Lives in KernelContext::state (std::any holds a shared_ptr
// so the slot stays copyable); without a state slot (tests, one-off runs) the entry is built for the call.
// Bounded so that dynamic shapes cannot grow it without limit: the least recently used entry goes.
template <typename Entry>
class ShapeCache {
 public:
  static constexpr size_t kCapacity = 8;

  // The cache in `state`, created on first use; a fresh private one when state is null.
  static std::shared_ptr<ShapeCache> from(std::any* state) {
    if (!state) return std::make_shared<ShapeCache>();
    if (auto* existing = std::any_cast<std::shared_ptr<ShapeCache>>(state)) return *existing;
    auto created = std::make_shared<ShapeCache>();
    *state = created;
    return created;
  }

  // The entry for `key`, or nullptr.
  Entry* find(const std::vector<Dims>& key) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first != key) continue;
      entries_.splice(entries_.begin(), entries_, it);
      return entries_.front().second.get();
    }
    return nullptr;
  }

  Entry* insert(const std::vector<Dims>& key, std::unique_ptr<Entry> entry) {
    entries_.emplace_front(key, std::move(entry));
    if (entries_.size() > kCapacity) entries_.pop_back();
    return entries_.front().second.get();
  }

  size_t size() const { return entries_.size(); }

 private:
  std::list<std::pair<std::vector<Dims>, std::unique_ptr<Entry>>> entries_;
};

}  // namespace normrt::onednn
