// A timing cache: the choices a device backend's tuning made (which convolution algorithm, which GEMM
// configuration), kept in a file between builds, as TensorRT's timing cache is. A build that finds a problem in
// the cache takes the stored choice without timing it, so rebuilding a model gives the same engine (timings of
// close candidates change places from one build to the next) in less time, and models that share layers share
// their tuning.
//
// Each entry is (scope, problem, choice). The scope names what the choice is valid for: the GPU, its architecture
// and the library versions (a choice is an index into cuDNN's or cuBLASLt's lists); entries of other scopes stay in
// the file untouched, so one file can serve several machines.
//
// File format, text, version 1 (written by save(), read by load()):
//   normrt timing cache 1
//   SCOPE<TAB>PROBLEM<TAB>CHOICE        one line per entry, each field percent-encoded (bytes outside
//                                       printable ASCII, and '%', as %XX)
// The file is not trusted: it is read only up to kMaxFileBytes, with lines up to kMaxLineBytes; anything else
// (another header, a line without three fields, a bad escape) is an error naming the file, the line and the fix.
// A choice is no more trusted than one in an engine file: the kernels check it before use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace normrt {

class TimingCache {
 public:
  static constexpr size_t kMaxFileBytes = 64u << 20;
  static constexpr size_t kMaxLineBytes = 64u << 10;

  // The cache in `path`; empty when the file does not exist (the build then creates it).
  static TimingCache load(const std::string& path);
  // Writes every entry to `path` (a new file renamed over the old one, so a reader never sees half a file).
  void save(const std::string& path) const;
  // The file's contents, as load() reads them (errors name `what`) and save() writes them.
  static TimingCache parse(const std::string& text, const std::string& what);
  std::string serialize() const;

  // The stored choice for `problem` in `scope`; counts a hit or a miss.
  std::optional<std::string> find(const std::string& scope, const std::string& problem);
  // Stores (or replaces) a choice.
  void put(const std::string& scope, const std::string& problem, const std::string& choice);

  size_t size() const { return entries_.size(); }
  size_t hits() const { return hits_; }
  size_t misses() const { return misses_; }
  size_t added() const { return added_; }

 private:
  std::map<std::pair<std::string, std::string>, std::string> entries_;
  size_t hits_ = 0;
  size_t misses_ = 0;
  size_t added_ = 0;
};

}  // namespace normrt
