// Reading files named by other people's files (external data) without leaving a folder, and reading whole
// files with a size limit. See shared/SECURITY.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace normrt {

// Reads a whole file; refuses files larger than max_bytes. Throws kIo naming the path and the reason.
std::string read_file(const std::string& path, uint64_t max_bytes);

// A whole file in one buffer that starts on a 64-byte boundary (so data at 64-byte offsets can be used in place),
// not zero-filled before the read; shared so that views into it keep it alive.
struct FileBytes {
  std::shared_ptr<char> data;
  uint64_t size = 0;
};
// read_file's checks and errors, into an aligned buffer.
FileBytes read_file_aligned(const std::string& path, uint64_t max_bytes);

// Reads `length` bytes at `offset` of `relative_path` resolved beneath `base_dir`: absolute paths, "..",
// symlinks and files with more than one hard link are refused; offset + length must lie inside the file.
// length < 0 means "to the end of the file". Throws kInvalidModel naming the tensor and the reason.
std::string read_beneath(const std::string& base_dir, const std::string& relative_path, int64_t offset,
                         int64_t length, const std::string& tensor_name);

}  // namespace normrt
