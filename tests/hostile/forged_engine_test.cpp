// Engine files whose checksum was forged (a CRC-32 is no signature: anyone who edits a file can recompute it).
// Everything after the checksum check must still hold on its own: every truncation, with its length field and
// checksum rewritten to match, is refused with a message that says where the file stops making sense.
#include "engine/engine.h"
#include "fuzz_harness.h"
#include "onnx/importer.h"
#include "onnx/onnx_builder.h"
#include "test_util.h"

namespace normrt::test {
namespace {

std::string sample_engine_bytes() {
  ModelBuilder m;
  m.input("x", {"N", "3"}).output("y");
  m.initializer("w", {3}, {1, 2, 3});
  m.node("Add", {"x", "w"}, {"y"}, "", "add");
  BuildOptions options;
  options.profiles.push_back(Profile{{{"x", ShapeRange{{1, 3}, {2, 3}, {4, 3}}}}});
  return serialize_engine(*build_engine(import_onnx_bytes(m.bytes(), ""), options));
}

// Sets the length field to the real size and recomputes the checksum.
void reseal(std::string& bytes) {
  uint64_t total = bytes.size();
  std::memcpy(&bytes[16], &total, 8);
  uint32_t crc = fuzz::crc32_of(bytes.data(), bytes.size() - 4);
  std::memcpy(&bytes[bytes.size() - 4], &crc, 4);
}

}  // namespace

// Found by fuzz/engine_resealed_fuzzer: a file cut inside its section table, resealed, had its first section
// start past the end of the file; the bounds check subtracted the offset from the size without checking it first
// and the wrapped difference let the parser read past the buffer.
TEST(ForgedEngine, EveryResealedTruncationIsRefusedWhereTheFileEnds) {
  const std::string bytes = sample_engine_bytes();
  const size_t first_entry_end = 24 + 24;
  for (size_t length = 28; length < bytes.size(); ++length) {
    std::string cut = bytes.substr(0, length);
    reseal(cut);
    std::string message = error_message([&] { deserialize_engine(cut, "cut"); }, ErrorCode::kCorruptEngine);
    // Cut inside the first table entry: the header reader runs out of bytes. After it: some section (the first
    // one, while the cut is inside the table) does not fit in what is left.
    const char* expected = length < first_entry_end ? "bytes early" : "is not where the sections before it end";
    EXPECT_NE(message.find(expected), std::string::npos) << "cut at " << length << ": " << message;
  }
}

}  // namespace normrt::test
