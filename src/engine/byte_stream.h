// Little-endian binary writing and length-tracked reading for engine files. Every read checks that the bytes
// exist; counts are bounded by the bytes that remain, so a hostile length cannot cause a huge allocation.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "normrt/error.h"

namespace normrt {

class ByteWriter {
 public:
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u32(uint32_t v) { raw(&v, 4); }
  void u64(uint64_t v) { raw(&v, 8); }
  void i64(int64_t v) { raw(&v, 8); }
  void f32(float v) { raw(&v, 4); }
  void str(const std::string& s) {
    u64(s.size());
    out_.append(s);
  }
  void raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string& bytes() { return out_; }

 private:
  std::string out_;
};

class ByteReader {
 public:
  ByteReader(const char* data, size_t size, std::string what) : data_(data), size_(size), what_(std::move(what)) {}

  uint8_t u8() { return static_cast<uint8_t>(*take(1)); }
  uint32_t u32() { return load<uint32_t>(); }
  uint64_t u64() { return load<uint64_t>(); }
  int64_t i64() { return load<int64_t>(); }
  float f32() { return load<float>(); }
  std::string str(uint64_t max_length = uint64_t{1} << 20) {
    uint64_t n = u64();
    if (n > max_length) fail("a string of " + std::to_string(n) + " bytes exceeds the limit of " + std::to_string(max_length));
    const char* p = take(n);
    return std::string(p, n);
  }
  // A count of items each at least min_item_bytes long: bounded by what remains.
  uint64_t count(uint64_t min_item_bytes, uint64_t limit) {
    uint64_t n = u64();
    if (n > limit || (min_item_bytes && n > remaining() / min_item_bytes))
      fail("a count of " + std::to_string(n) + " is larger than the data allows");
    return n;
  }
  const char* take(uint64_t n) {
    if (n > remaining()) fail("it ends " + std::to_string(n - remaining()) + " bytes early");
    const char* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  uint64_t remaining() const { return size_ - pos_; }
  [[noreturn]] void fail(const std::string& message) const {
    throw Error(ErrorCode::kCorruptEngine, what_ + " is corrupt: " + message + " (at byte " + std::to_string(pos_) +
                                               "); rebuild the engine");
  }

 private:
  template <typename T>
  T load() {
    T v;
    std::memcpy(&v, take(sizeof(T)), sizeof(T));
    return v;
  }
  const char* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  std::string what_;
};

}  // namespace normrt
