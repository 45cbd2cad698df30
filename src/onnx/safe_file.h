// Reading files named by other people's files (external data) without leaving a folder, and reading whole
// files with a size limit. See shared/SECURITY.md.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace normrt {

// Reads a whole file; refuses files larger than max_bytes. Throws kIo naming the path and the reason.
std::string read_file(const std::string& path, uint64_t max_bytes);

// Bytes in one buffer that starts on a 64-byte boundary (so data at 64-byte offsets can be used in place); shared
// so that views into it keep it alive.
struct FileBytes {
  std::shared_ptr<char> data;
  uint64_t size = 0;
};
// An uninitialized buffer of `size` bytes; `what` names it in the out-of-memory error.
FileBytes aligned_bytes(uint64_t size, const std::string& what);
// read_file's checks and errors, into an aligned buffer (read in chunks, as for_each_chunk).
FileBytes read_file_aligned(const std::string& path, uint64_t max_bytes);

// Runs work(index, offset, length) over [0, size): in one call below 64 MB, else in 16 MB chunks on up to 8
// threads (reading and checksumming a large engine). chunk_count(size) calls are made, indices 0, 1, ...; work
// must not throw.
size_t chunk_count(uint64_t size);
void for_each_chunk(uint64_t size, const std::function<void(size_t index, uint64_t offset, uint64_t length)>& work);

// Reads `length` bytes at `offset` of `relative_path` resolved beneath `base_dir`: absolute paths, "..",
// symlinks and files with more than one hard link are refused; offset + length must lie inside the file.
// length < 0 means "to the end of the file". Throws kInvalidModel naming the tensor and the reason.
std::string read_beneath(const std::string& base_dir, const std::string& relative_path, int64_t offset,
                         int64_t length, const std::string& tensor_name);

}  // namespace normrt
