// Configurations tuned at several corners of a profile: joined into the one string an engine stores, and taken
// back per plan by input 0's element count (nearest in ratio); plain strings pass through; malformed ones read
// as "" (the kernel's safe default), never a crash. No GPU needed.
#include <gtest/gtest.h>

#include "cuda/cuda_kernel.h"

namespace normrt {
namespace cuda {
namespace {

TEST(TunedConfigs, OneChoiceStaysAPlainString) {
  EXPECT_EQ(join_tuned_configs({}), "");
  EXPECT_EQ(join_tuned_configs({{800, "algo=1;math=0"}, {100, "algo=1;math=0"}}), "algo=1;math=0");
  EXPECT_EQ(tuned_config_for("algo=1;math=0", 12345), "algo=1;math=0");
  EXPECT_EQ(tuned_config_for("", 12345), "");
}

TEST(TunedConfigs, EachShapeTakesTheNearestCorner) {
  // opt (batch 8) first, then min (batch 1) and max (batch 32), as the builder tunes them.
  const std::string joined =
      join_tuned_configs({{8000, "engine=7;rank=0"}, {1000, "algo=1;math=1"}, {32000, "engine=9;rank=2"}});
  EXPECT_EQ(joined, "@8000:engine=7;rank=0|@1000:algo=1;math=1|@32000:engine=9;rank=2");
  EXPECT_EQ(tuned_config_for(joined, 1000), "algo=1;math=1");
  EXPECT_EQ(tuned_config_for(joined, 2000), "algo=1;math=1");   // batch 2: nearer 1 than 8 in ratio
  EXPECT_EQ(tuned_config_for(joined, 4000), "engine=7;rank=0");  // batch 4: nearer 8 than 1
  EXPECT_EQ(tuned_config_for(joined, 8000), "engine=7;rank=0");
  EXPECT_EQ(tuned_config_for(joined, 24000), "engine=9;rank=2");
  EXPECT_EQ(tuned_config_for(joined, 0), "algo=1;math=1");  // an empty input: the smallest corner
  // Two corners at one count (a dynamic dim elsewhere): the first is kept.
  EXPECT_EQ(join_tuned_configs({{8000, "algo=1"}, {8000, "algo=2"}, {100, "algo=3"}}), "@8000:algo=1|@100:algo=3");
  // A corner whose tune() chose nothing keeps its "" (cuDNN's heuristics at run time).
  EXPECT_EQ(tuned_config_for(join_tuned_configs({{8000, "algo=1"}, {100, ""}}), 100), "");
}

TEST(TunedConfigs, MalformedStringsReadAsNoConfiguration) {
  for (const char* bad : {"@", "@:", "@x:algo=1", "@12", "@-5:algo=1", "@0:algo=1", "@8000:algo=1|junk",
                          "@8000:algo=1|", "@99999999999999999999999:algo=1", "@1e3:algo=1"})
    EXPECT_EQ(tuned_config_for(bad, 8000), "") << bad;
}

}  // namespace
}  // namespace cuda
}  // namespace normrt
