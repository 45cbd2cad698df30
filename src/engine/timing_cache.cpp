// TimingCache: see timing_cache.h.
#include "engine/timing_cache.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "normrt/error.h"
#include "onnx/safe_file.h"

namespace normrt {
namespace {

constexpr const char* kHeader = "normrt timing cache 1";

// How a bad file is fixed, at the end of every error about one.
const char* const kFix = "; delete the file (the next build times everything again and writes a new one) or name "
                         "another with --timing-cache";

std::string encode(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '%') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The decoded field, or nullopt for a bad escape or a byte that encode() never writes.
std::optional<std::string> decode(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '%') {
      const int hi = i + 1 < s.size() ? hex_value(s[i + 1]) : -1;
      const int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      return std::nullopt;
    }
  }
  return out;
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 || errno != ENOENT;
}

}  // namespace

TimingCache TimingCache::load(const std::string& path) {
  if (!file_exists(path)) return TimingCache();
  std::string text;
  try {
    text = read_file(path, kMaxFileBytes);
  } catch (const Error& e) {
    throw Error(ErrorCode::kIo, std::string("cannot read timing cache: ") + e.what() + kFix);
  }
  return parse(text, "timing cache '" + path + "'");
}

TimingCache TimingCache::parse(const std::string& text, const std::string& what) {
  TimingCache cache;
  auto malformed = [&](size_t line, const std::string& why) {
    return Error(ErrorCode::kIo, what + " line " + std::to_string(line) + ": " + why + kFix);
  };
  if (text.size() > kMaxFileBytes)
    throw malformed(1, "more than the limit of " + std::to_string(kMaxFileBytes) + " bytes");
  size_t pos = 0, line = 0;
  while (pos < text.size()) {
    ++line;
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) throw malformed(line, "the last line does not end in a newline (a cut-off file?)");
    if (end - pos > kMaxLineBytes)
      throw malformed(line, "longer than " + std::to_string(kMaxLineBytes) + " bytes");
    const std::string row = text.substr(pos, end - pos);
    pos = end + 1;
    if (line == 1) {
      if (row != kHeader)
        throw malformed(1, "not a normrt timing cache (the first line must be '" + std::string(kHeader) + "')");
      continue;
    }
    const size_t tab1 = row.find('\t');
    const size_t tab2 = tab1 == std::string::npos ? tab1 : row.find('\t', tab1 + 1);
    if (tab2 == std::string::npos || row.find('\t', tab2 + 1) != std::string::npos)
      throw malformed(line, "an entry must be three tab-separated fields: scope, problem, choice");
    const auto scope = decode(row.substr(0, tab1));
    const auto problem = decode(row.substr(tab1 + 1, tab2 - tab1 - 1));
    const auto choice = decode(row.substr(tab2 + 1));
    if (!scope || !problem || !choice)
      throw malformed(line, "a field holds a byte outside printable ASCII or a bad %XX escape");
    if (scope->empty() || problem->empty()) throw malformed(line, "an empty scope or problem");
    cache.entries_[{*scope, *problem}] = *choice;
  }
  if (line == 0) throw malformed(1, "the file is empty (the first line must be '" + std::string(kHeader) + "')");
  return cache;
}

std::string TimingCache::serialize() const {
  std::string text = std::string(kHeader) + "\n";
  for (const auto& [key, choice] : entries_)
    text += encode(key.first) + "\t" + encode(key.second) + "\t" + encode(choice) + "\n";
  return text;
}

void TimingCache::save(const std::string& path) const {
  const std::string text = serialize();
  const std::string fix = "; name a writable file with --timing-cache";
  if (text.size() > kMaxFileBytes)
    throw Error(ErrorCode::kIo, "timing cache '" + path + "' would be " + std::to_string(text.size()) +
                                    " bytes, more than the limit of " + std::to_string(kMaxFileBytes) +
                                    "; start a new file with --timing-cache");
  const std::string temporary = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream f(temporary, std::ios::binary | std::ios::trunc);
    if (!f) throw Error(ErrorCode::kIo, "cannot write timing cache '" + temporary + "': " + std::strerror(errno) + fix);
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    f.close();
    if (!f) {
      std::remove(temporary.c_str());
      throw Error(ErrorCode::kIo, "failed writing timing cache '" + temporary + "'" + fix);
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(temporary.c_str());
    throw Error(ErrorCode::kIo, "cannot replace timing cache '" + path + "': " + std::strerror(err) + fix);
  }
}

std::optional<std::string> TimingCache::find(const std::string& scope, const std::string& problem) {
  auto it = entries_.find({scope, problem});
  if (it == entries_.end()) {
    ++misses_;
    return std::nullopt;
  }
  ++hits_;
  return it->second;
}

void TimingCache::put(const std::string& scope, const std::string& problem, const std::string& choice) {
  auto [it, inserted] = entries_.insert_or_assign({scope, problem}, choice);
  (void)it;
  if (inserted) ++added_;
}

}  // namespace normrt
