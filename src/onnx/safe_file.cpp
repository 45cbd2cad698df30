#include "onnx/safe_file.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "normrt/error.h"

namespace normrt {

namespace {

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

void read_into(int fd, char* out, uint64_t offset, uint64_t length, const std::string& what) {
  uint64_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd, out + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw Error(ErrorCode::kIo, "could not read " + what + ": " + (n == 0 ? "file ended early" : std::strerror(errno)));
    done += static_cast<uint64_t>(n);
  }
}

std::string read_exact(int fd, uint64_t offset, uint64_t length, const std::string& what) {
  std::string data;
  data.resize(length);
  read_into(fd, data.data(), offset, length, what);
  return data;
}

// openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS: the kernel refuses "..", absolute paths and symlinks
// anywhere in the path, which string checks cannot do race-free.
int open_beneath(int dir_fd, const std::string& relative_path) {
  struct open_how how;
  std::memset(&how, 0, sizeof how);
  // O_NONBLOCK: opening a FIFO (which a model archive can carry) must not wait for a writer; it is then refused
  // as not a regular file. Reads from regular files ignore the flag.
  how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, dir_fd, relative_path.c_str(), &how, sizeof how));
}

// Opens a regular file of at most max_bytes for reading; its size goes to *size.
FileDescriptor open_regular(const std::string& path, uint64_t max_bytes, uint64_t* size) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));  // a FIFO is refused, not waited on
  if (fd.get() < 0) throw Error(ErrorCode::kIo, "cannot open '" + path + "': " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) throw Error(ErrorCode::kIo, "cannot stat '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw Error(ErrorCode::kIo, "'" + path + "' is not a regular file");
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    throw Error(ErrorCode::kIo, "'" + path + "' is " + std::to_string(st.st_size) + " bytes, more than the limit of " +
                                    std::to_string(max_bytes));
  *size = static_cast<uint64_t>(st.st_size);
  return fd;
}

}  // namespace

std::string read_file(const std::string& path, uint64_t max_bytes) {
  uint64_t size = 0;
  FileDescriptor fd = open_regular(path, max_bytes, &size);
  return read_exact(fd.get(), 0, size, "'" + path + "'");
}

FileBytes aligned_bytes(uint64_t size, const std::string& what) {
  constexpr uint64_t kAlign = 64;
  const uint64_t padded = std::max(kAlign, (size + kAlign - 1) / kAlign * kAlign);
  void* p = std::aligned_alloc(kAlign, padded);
  if (!p) throw Error(ErrorCode::kInternal, "out of memory for " + what + " (" + std::to_string(size) + " bytes)");
  FileBytes bytes;
  bytes.data = std::shared_ptr<char>(static_cast<char*>(p), [](char* q) { std::free(q); });
  bytes.size = size;
  return bytes;
}

namespace {
constexpr uint64_t kParallelBytes = uint64_t{64} << 20, kChunk = uint64_t{16} << 20;
}  // namespace

size_t chunk_count(uint64_t size) {
  return size < kParallelBytes ? 1 : static_cast<size_t>((size + kChunk - 1) / kChunk);
}

// Large files: most of a read's time goes to faulting in (and the kernel zeroing) the buffer's fresh pages, and
// the checksum is a pass over all of it; both spread over the cores.
void for_each_chunk(uint64_t size, const std::function<void(size_t index, uint64_t offset, uint64_t length)>& work) {
  if (size < kParallelBytes) return work(0, 0, size);
  const int64_t chunks = static_cast<int64_t>(chunk_count(size));
#pragma omp parallel for schedule(dynamic) num_threads(std::min(8, omp_get_max_threads()))
  for (int64_t i = 0; i < chunks; ++i) {
    const uint64_t offset = static_cast<uint64_t>(i) * kChunk;
    work(static_cast<size_t>(i), offset, std::min(kChunk, size - offset));
  }
}

FileBytes read_file_aligned(const std::string& path, uint64_t max_bytes) {
  uint64_t size = 0;
  FileDescriptor fd = open_regular(path, max_bytes, &size);
  const std::string what = "'" + path + "'";
  FileBytes file = aligned_bytes(size, "reading " + what);
  std::vector<std::string> errors(chunk_count(size));
  for_each_chunk(size, [&](size_t index, uint64_t offset, uint64_t length) {
    try {
      read_into(fd.get(), file.data.get() + offset, offset, length, what);
    } catch (const Error& e) {
      errors[index] = e.what();
    }
  });
  for (const std::string& e : errors)
    if (!e.empty()) throw Error(ErrorCode::kIo, e);
  return file;
}

std::string read_beneath(const std::string& base_dir, const std::string& relative_path, int64_t offset,
                         int64_t length, const std::string& tensor_name) {
  // The location comes from the file: shown with control bytes escaped, so that a NUL cannot cut the message
  // short (what() is a C string) and hide the reason.
  std::string shown;
  for (unsigned char c : relative_path) {
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      shown += buf;
    } else {
      shown += static_cast<char>(c);
    }
  }
  auto refuse = [&](const std::string& why) -> Error {
    return Error(ErrorCode::kInvalidModel, "external data of tensor '" + tensor_name + "' at '" + shown +
                                               "' is refused: " + why);
  };
  if (base_dir.empty())
    throw refuse("the model was loaded from memory, so there is no model folder to read external data from; "
                 "load it from its file instead");
  if (relative_path.empty()) throw refuse("the location is empty");
  if (relative_path.find('\0') != std::string::npos) throw refuse("the location contains a NUL byte");
  if (relative_path[0] == '/') throw refuse("absolute paths are not allowed; the file must be inside the model's folder");
  if (offset < 0) throw refuse("negative offset " + std::to_string(offset));

  FileDescriptor dir(::open(base_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) throw Error(ErrorCode::kIo, "cannot open model folder '" + base_dir + "': " + std::strerror(errno));
  FileDescriptor fd(open_beneath(dir.get(), relative_path));
  if (fd.get() < 0) {
    int err = errno;
    if (err == EXDEV || err == ELOOP)
      throw refuse("the path leaves the model's folder or goes through a symbolic link");
    throw refuse(std::string("cannot open it: ") + std::strerror(err));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) throw refuse(std::string("cannot stat it: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw refuse("it is not a regular file");
  if (st.st_nlink > 1) throw refuse("the file has " + std::to_string(st.st_nlink) + " hard links; a hard link can point outside the model's folder");
  uint64_t size = static_cast<uint64_t>(st.st_size);
  uint64_t start = static_cast<uint64_t>(offset);
  if (start > size) throw refuse("offset " + std::to_string(offset) + " is past the end of the " + std::to_string(size) + "-byte file");
  uint64_t count = length < 0 ? size - start : static_cast<uint64_t>(length);
  if (count > size - start)
    throw refuse("offset " + std::to_string(offset) + " + length " + std::to_string(count) + " is past the end of the " +
                 std::to_string(size) + "-byte file");
  return read_exact(fd.get(), start, count, "external data '" + relative_path + "'");
}

}  // namespace normrt
