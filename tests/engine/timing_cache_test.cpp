// The timing cache file (engine/timing_cache.h): what goes in comes back byte for byte, entries of other GPUs
// survive a rewrite, and a file that is not one it wrote is an error naming the file, the line and the fix,
// never a crash or a silently empty cache.
#include "engine/timing_cache.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>

#include "normrt/error.h"
#include "temp_files.h"

namespace normrt::test {
namespace {

// The message of the error load() throws for `path` (fails the test when it loads).
std::string load_error(const std::string& path) {
  try {
    TimingCache::load(path);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    return e.what();
  }
  ADD_FAILURE() << path << " loaded";
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(TimingCache, RoundTripKeepsEveryByteAndEveryScope) {
  TempDir dir;
  const std::string path = dir.file("t.cache");
  TimingCache cache = TimingCache::load(path);  // no file yet: empty
  EXPECT_EQ(cache.size(), 0u);
  const std::string awkward("tab\there, newline\nthere, 100% \x01\x7f\xff and a NUL \0 too", 46);
  cache.put("NVIDIA H100; sm 9.0", "conv|in float32[1,4,32,32]", "engine=51;rank=0");
  cache.put("NVIDIA H100; sm 9.0", awkward, awkward);
  cache.put("NVIDIA H200; sm 9.0", "conv|in float32[1,4,32,32]", "algo=1;math=0");
  cache.put("NVIDIA H200; sm 9.0", "gemm", "");  // "" is a choice: the kernel's heuristic at run time
  EXPECT_EQ(cache.added(), 4u);
  cache.put("NVIDIA H200; sm 9.0", "gemm", "lt_algo=43");  // replaces, adds nothing
  EXPECT_EQ(cache.added(), 4u);
  cache.save(path);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp" + std::to_string(::getpid())));

  TimingCache again = TimingCache::load(path);
  EXPECT_EQ(again.size(), 4u);
  EXPECT_EQ(again.find("NVIDIA H100; sm 9.0", "conv|in float32[1,4,32,32]"), "engine=51;rank=0");
  EXPECT_EQ(again.find("NVIDIA H100; sm 9.0", awkward), awkward);
  EXPECT_EQ(again.find("NVIDIA H200; sm 9.0", "conv|in float32[1,4,32,32]"), "algo=1;math=0");
  EXPECT_EQ(again.find("NVIDIA H200; sm 9.0", "gemm"), "lt_algo=43");
  EXPECT_EQ(again.find("NVIDIA A100; sm 8.0", "gemm"), std::nullopt);
  EXPECT_EQ(again.hits(), 4u);
  EXPECT_EQ(again.misses(), 1u);
  EXPECT_EQ(again.added(), 0u);
  // Every line is printable ASCII: the file survives tools that read text.
  for (unsigned char c : read_bytes(path)) EXPECT_TRUE(c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f)) << int(c);
}

TEST(TimingCache, FilesItDidNotWriteAreErrorsNamingTheLineAndTheFix) {
  TempDir dir;
  const std::string header = "normrt timing cache 1\n";
  struct Case {
    std::string bytes, expected;
  };
  const std::vector<Case> cases = {
      {"", "line 1: the file is empty"},
      {"normrt timing cache 2\n", "line 1: not a normrt timing cache"},
      {"\x89PNG\r\n\x1a\n", "line 1: not a normrt timing cache"},
      {header + "scope\tproblem\tchoice", "line 2: the last line does not end in a newline"},
      {header + "scope\tproblem\n", "line 2: an entry must be three tab-separated fields"},
      {header + "scope\tproblem\tchoice\textra\n", "line 2: an entry must be three tab-separated fields"},
      {header + "\n", "line 2: an entry must be three tab-separated fields"},
      {header + "s\tp\tc\nscope\tproblem\tbad %G1 escape\n", "line 3: a field holds a byte outside printable ASCII"},
      {header + "scope\tproblem\tcut %4\n", "line 2: a field holds a byte outside printable ASCII or a bad %XX"},
      {header + "scope\tproblem\tchoice\r\n", "line 2: a field holds a byte outside printable ASCII"},
      {header + "scope\tpro\x01" "blem\tchoice\n", "line 2: a field holds a byte outside printable ASCII"},
      {header + "\tproblem\tchoice\n", "line 2: an empty scope or problem"},
      {header + "scope\t\tchoice\n", "line 2: an empty scope or problem"},
      {header + "scope\tproblem\t" + std::string(TimingCache::kMaxLineBytes, 'x') + "\n", "line 2: longer than"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string path = dir.file("case" + std::to_string(i) + ".cache");
    write_bytes(path, cases[i].bytes);
    const std::string message = load_error(path);
    EXPECT_TRUE(contains(message, "timing cache '" + path + "' " + cases[i].expected)) << message;
    EXPECT_TRUE(contains(message, "delete the file")) << message;
    EXPECT_TRUE(contains(message, "--timing-cache")) << message;
  }
}

TEST(TimingCache, AbsurdSizesAndThingsThatAreNotFilesAreRefusedBeforeReading) {
  TempDir dir;
  const std::string big = dir.file("big.cache");
  write_bytes(big, "normrt timing cache 1\n");
  ASSERT_EQ(::truncate(big.c_str(), static_cast<off_t>(TimingCache::kMaxFileBytes) + 1), 0);  // sparse
  std::string message = load_error(big);
  EXPECT_TRUE(contains(message, "more than the limit of " + std::to_string(TimingCache::kMaxFileBytes))) << message;
  EXPECT_TRUE(contains(message, "delete the file")) << message;

  message = load_error(dir.path());
  EXPECT_TRUE(contains(message, "is not a regular file")) << message;

  const std::string fifo = dir.file("fifo.cache");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  message = load_error(fifo);  // refused, not waited on
  EXPECT_TRUE(contains(message, "is not a regular file")) << message;
}

TEST(TimingCache, SavingWhereNoFileCanBeWrittenNamesThePath) {
  TempDir dir;
  TimingCache cache;
  cache.put("scope", "problem", "choice");
  const std::string path = dir.file("no/such/folder/t.cache");
  try {
    cache.save(path);
    ADD_FAILURE() << "saved";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_TRUE(contains(e.what(), "cannot write timing cache '" + path)) << e.what();
    EXPECT_TRUE(contains(e.what(), "name a writable file with --timing-cache")) << e.what();
  }
  // Over an existing cache: replaced whole.
  const std::string good = dir.file("t.cache");
  write_bytes(good, "normrt timing cache 1\nold\tproblem\tchoice\n");
  cache.save(good);
  EXPECT_EQ(read_bytes(good), "normrt timing cache 1\nscope\tproblem\tchoice\n");
}

// The message of the error save() throws for `path` (fails the test when it saves).
std::string save_error(const TimingCache& cache, const std::string& path) {
  try {
    cache.save(path);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    return e.what();
  }
  ADD_FAILURE() << path << " saved";
  return "";
}

// No temporary file of a failed save is left beside the path.
bool leftovers(const std::string& folder) {
  for (const auto& entry : std::filesystem::directory_iterator(folder))
    if (contains(entry.path().filename().string(), ".tmp")) return true;
  return false;
}

TEST(TimingCache, ASaveThatCannotReplaceTheFileOrWriteItWholeSaysSoAndLeavesNothingBehind) {
  TempDir dir;
  TimingCache cache;
  cache.put("scope", "problem", "choice");

  // The path is a folder: the temporary file is written, the rename fails.
  const std::string folder = dir.file("a folder");
  std::filesystem::create_directory(folder);
  std::string message = save_error(cache, folder);
  EXPECT_TRUE(contains(message, "cannot replace timing cache '" + folder + "'")) << message;
  EXPECT_TRUE(contains(message, "name a writable file with --timing-cache")) << message;
  EXPECT_FALSE(leftovers(dir.path()));

  // The disk is full (a file size limit stands in for it): the write fails.
  struct rlimit old_limit {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  void (*old_handler)(int) = std::signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of the signal
  for (int i = 0; i < 2000; ++i) cache.put("scope", "problem " + std::to_string(i), std::string(100, 'c'));
  struct rlimit small = old_limit;
  small.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const std::string path = dir.file("t.cache");
  message = save_error(cache, path);
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_TRUE(contains(message, "failed writing timing cache '" + path)) << message;
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(leftovers(dir.path()));
}

TEST(TimingCache, ACacheThatWouldPassTheSizeLimitIsNotWritten) {
  TempDir dir;
  TimingCache cache;
  const std::string choice(60000, 'c');  // under the line limit
  for (size_t i = 0; i * choice.size() <= TimingCache::kMaxFileBytes; ++i)
    cache.put("scope", "problem " + std::to_string(i), choice);
  const std::string path = dir.file("t.cache");
  write_bytes(path, "normrt timing cache 1\nscope\tproblem\tchoice\n");
  const std::string message = save_error(cache, path);
  EXPECT_TRUE(contains(message, "more than the limit of " + std::to_string(TimingCache::kMaxFileBytes))) << message;
  EXPECT_TRUE(contains(message, "start a new file with --timing-cache")) << message;
  EXPECT_EQ(read_bytes(path), "normrt timing cache 1\nscope\tproblem\tchoice\n") << "the old file stays whole";
  EXPECT_FALSE(leftovers(dir.path()));
}

}  // namespace
}  // namespace normrt::test
