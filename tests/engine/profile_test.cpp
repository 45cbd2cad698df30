// Shape profiles: parsing the trtexec-style flags, checking them against the model (every error names the
// input, the dim and the fix), and choosing the profile a run's shapes fall into.
#include "engine/profile.h"
#include "onnx/importer.h"
#include "onnx/onnx_builder.h"
#include "test_util.h"

namespace normrt::test {
namespace {

// images [N,3,H,W], mask [N,1], table [2,5] (static)
Graph three_input_graph() {
  ModelBuilder m;
  m.input("images", {"N", "3", "H", "W"}).input("mask", {"N", "1"}).input("table", {"2", "5"});
  m.output("a").output("b").output("c");
  m.node("Identity", {"images"}, {"a"});
  m.node("Identity", {"mask"}, {"b"});
  m.node("Identity", {"table"}, {"c"});
  return import_onnx_bytes(m.bytes(), "");
}

Profile profile(const std::map<std::string, ShapeRange>& inputs) { return Profile{inputs}; }

const ShapeRange kImages{{1, 3, 32, 32}, {4, 3, 64, 64}, {8, 3, 128, 128}};
const ShapeRange kMask{{1, 1}, {4, 1}, {8, 1}};

}  // namespace

TEST(ProfileFlags, ParsesNamesDimsAndScalars) {
  auto shapes = parse_shape_list("images:1x3x224x224,mask:1x1,s:scalar,out:0:2x3", "--minShapes");
  EXPECT_EQ(shapes.at("images"), (Dims{1, 3, 224, 224}));
  EXPECT_EQ(shapes.at("mask"), (Dims{1, 1}));
  EXPECT_EQ(shapes.at("s"), Dims{});
  EXPECT_EQ(shapes.at("out:0"), (Dims{2, 3}));  // the last ':' splits
}

TEST(ProfileFlags, MalformedItemsNameTheFlagAndTheSyntax) {
  expect_error_code([] { parse_shape_list("images", "--minShapes"); }, ErrorCode::kInvalidArgument,
                    {"--minShapes", "'images'", "name:DxDxD"});
  expect_error_code([] { parse_shape_list(":1x3", "--optShapes"); }, ErrorCode::kInvalidArgument, {"--optShapes", "name:DxDxD"});
  for (const char* bad : {"x:1xax3", "x:1xx3", "x:-1x3", "x:1x3x", "x:", "x:1x9999999999999"})
    expect_error_code([&] { parse_shape_list(bad, "--maxShapes"); }, ErrorCode::kInvalidArgument,
                      {"--maxShapes", "invalid dimension", "non-negative integers"});
  expect_error_code([] { parse_shape_list("x:1x3,", "--minShapes"); }, ErrorCode::kInvalidArgument, {"name:DxDxD"});
  expect_error_code([] { parse_shape_list("x:1x3,x:2x3", "--minShapes"); }, ErrorCode::kInvalidArgument,
                    {"'x'", "given twice"});
}

TEST(ProfileFlags, RepeatedFlagsMakeOneProfileEach) {
  auto profiles = profiles_from_flags({"x:1x3", "x:9x3"}, {"x:2x3", "x:12x3"}, {"x:8x3", "x:16x3"});
  ASSERT_EQ(profiles.size(), 2u);
  EXPECT_EQ(profiles[0].inputs.at("x").opt, (Dims{2, 3}));
  EXPECT_EQ(profiles[1].inputs.at("x").min, (Dims{9, 3}));
  EXPECT_EQ(profiles[1].inputs.at("x").max, (Dims{16, 3}));
  EXPECT_TRUE(profiles_from_flags({}, {}, {}).empty());
}

TEST(ProfileFlags, FlagsMustComeInFullSets) {
  expect_error_code([] { profiles_from_flags({"x:1x3", "x:2x3"}, {"x:2x3"}, {"x:8x3"}); }, ErrorCode::kInvalidArgument,
                    {"same number of times", "got 2, 1 and 1"});
  expect_error_code([] { profiles_from_flags({"x:1x3,y:1"}, {"x:2x3"}, {"x:8x3,y:4"}); }, ErrorCode::kInvalidArgument,
                    {"input 'y'", "profile 0", "no --optShapes", "min, opt and max"});
}

TEST(ProfileResolve, UnknownNameListsTheInputsAndSuggestsTheNearest) {
  Graph g = three_input_graph();
  expect_error_code([&] { resolve_profiles(g, {profile({{"image", kImages}, {"mask", kMask}})}); },
                    ErrorCode::kInvalidArgument,
                    {"'image'", "no input of that name", "did you mean 'images'?",
                     "The inputs are: images [N,3,H,W], mask [N,1], table [2,5]"});
  expect_error_code([&] { resolve_profiles(g, {profile({{"images", kImages}, {"msk", kMask}})}); },
                    ErrorCode::kInvalidArgument, {"'msk'", "did you mean 'mask'?"});
  expect_error_code([&] { resolve_profiles(g, {profile({{"images", kImages}, {"mask", kMask}}),
                                               profile({{"Images", kImages}, {"mask", kMask}})}); },
                    ErrorCode::kInvalidArgument, {"'Images' in profile 1", "did you mean 'images'?"});
}

TEST(ProfileResolve, DynamicInputsNeedAProfile) {
  Graph g = three_input_graph();
  expect_error_code([&] { resolve_profiles(g, {}); }, ErrorCode::kShapeError,
                    {"dynamic inputs", "images [N,3,H,W]", "mask [N,1]", "--minShapes", "--optShapes", "--maxShapes"});
  expect_error_code([&] { resolve_profiles(g, {profile({{"images", kImages}})}); }, ErrorCode::kShapeError,
                    {"input 'mask' [N,1]", "dynamic dimensions but no shape", "add it to --minShapes"});
}

TEST(ProfileResolve, MinOptMaxMustBeOrdered) {
  Graph g = three_input_graph();
  ShapeRange min_above_opt{{4, 3, 32, 32}, {2, 3, 64, 64}, {8, 3, 128, 128}};
  expect_error_code([&] { resolve_profiles(g, {profile({{"images", min_above_opt}, {"mask", kMask}})}); },
                    ErrorCode::kShapeError,
                    {"input 'images' dimension 0 (N)", "min 4, opt 2, max 8", "min <= opt <= max is required"});
  ShapeRange opt_above_max{{1, 3, 32, 32}, {4, 3, 256, 64}, {8, 3, 128, 128}};
  expect_error_code([&] { resolve_profiles(g, {profile({{"images", opt_above_max}, {"mask", kMask}})}); },
                    ErrorCode::kShapeError, {"dimension 2 (H)", "min 32, opt 256, max 128", "min <= opt <= max"});
  ShapeRange min_above_max{{9, 1}, {9, 1}, {8, 1}};
  expect_error_code([&] { resolve_profiles(g, {profile({{"images", kImages}, {"mask", min_above_max}})}); },
                    ErrorCode::kShapeError, {"input 'mask' dimension 0", "min 9, opt 9, max 8"});
}

TEST(ProfileResolve, FixedDimGivenAnotherSizeIsRefusedWithTheRightSize) {
  Graph g = three_input_graph();
  ShapeRange wrong_channels{{1, 4, 32, 32}, {4, 4, 64, 64}, {8, 4, 128, 128}};
  expect_error_code([&] { resolve_profiles(g, {profile({{"images", wrong_channels}, {"mask", kMask}})}); },
                    ErrorCode::kShapeError,
                    {"input 'images' dimension 1", "fixed to 3 by the model [N,3,H,W]", "gives 4", "use 3"});
  ShapeRange wrong_only_at_max{{1, 3, 32, 32}, {4, 3, 64, 64}, {8, 5, 128, 128}};
  expect_error_code([&] { resolve_profiles(g, {profile({{"images", wrong_only_at_max}, {"mask", kMask}})}); },
                    ErrorCode::kShapeError, {"fixed to 3", "gives 5"});
  ShapeRange table{{2, 6}, {2, 6}, {2, 6}};
  expect_error_code(
      [&] { resolve_profiles(g, {profile({{"images", kImages}, {"mask", kMask}, {"table", table}})}); },
      ErrorCode::kShapeError, {"input 'table' dimension 1", "fixed to 5", "gives 6", "use 5"});
}

TEST(ProfileResolve, RankMismatchIsRefusedNamingBothRanks) {
  Graph g = three_input_graph();
  ShapeRange rank3{{1, 3, 32}, {4, 3, 64}, {8, 3, 128}};
  expect_error_code([&] { resolve_profiles(g, {profile({{"images", rank3}, {"mask", kMask}})}); }, ErrorCode::kShapeError,
                    {"input 'images' has rank 4 [N,3,H,W]", "min shape 1x3x32 has rank 3"});
  ShapeRange max_rank3{{1, 1}, {4, 1}, {8, 1, 1}};
  expect_error_code([&] { resolve_profiles(g, {profile({{"images", kImages}, {"mask", max_rank3}})}); },
                    ErrorCode::kShapeError, {"input 'mask' has rank 2", "max shape 8x1x1 has rank 3"});
}

TEST(ProfileResolve, RankMismatchInALaterProfileNamesTheProfileAfterTheShape) {
  Graph g = three_input_graph();
  ShapeRange rank3{{1, 1, 1}, {4, 1, 1}, {8, 1, 1}};
  expect_error_code([&] { resolve_profiles(g, {profile({{"images", kImages}, {"mask", kMask}}),
                                               profile({{"images", kImages}, {"mask", rank3}})}); },
                    ErrorCode::kShapeError, {"input 'mask' has rank 2 [N,1] but its min shape 1x1x1 in profile 1 has rank 3"});
}

TEST(ProfileResolve, StaticInputsAreCompletedAndStaticModelsNeedNoProfile) {
  Graph g = three_input_graph();
  auto resolved = resolve_profiles(g, {profile({{"images", kImages}, {"mask", kMask}})});
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_EQ(resolved[0].inputs.at("table").min, (Dims{2, 5}));
  EXPECT_EQ(resolved[0].inputs.at("table").max, (Dims{2, 5}));

  ModelBuilder m;
  m.input("x", {"2", "3"}).output("y");
  m.node("Identity", {"x"}, {"y"});
  Graph fixed = import_onnx_bytes(m.bytes(), "");
  resolved = resolve_profiles(fixed, {});
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_EQ(resolved[0].inputs.at("x").opt, (Dims{2, 3}));
}

TEST(ProfileSelect, PicksTheFirstProfileThatContainsTheShapes) {
  Graph g = three_input_graph();
  ShapeRange small{{1, 1}, {2, 1}, {4, 1}}, large{{5, 1}, {8, 1}, {16, 1}}, all{{1, 1}, {8, 1}, {16, 1}};
  auto profiles = resolve_profiles(
      g, {profile({{"images", ShapeRange{{1, 3, 8, 8}, {2, 3, 8, 8}, {4, 3, 8, 8}}}, {"mask", small}}),
          profile({{"images", ShapeRange{{5, 3, 8, 8}, {8, 3, 8, 8}, {16, 3, 8, 8}}}, {"mask", large}}),
          profile({{"images", ShapeRange{{1, 3, 1, 1}, {8, 3, 8, 8}, {16, 3, 64, 64}}}, {"mask", all}})});
  auto shapes = [](int64_t n, int64_t hw) {
    return std::map<std::string, Dims>{{"images", {n, 3, hw, hw}}, {"mask", {n, 1}}, {"table", {2, 5}}};
  };
  EXPECT_EQ(select_profile(profiles, shapes(1, 8)), 0u);
  EXPECT_EQ(select_profile(profiles, shapes(4, 8)), 0u);
  EXPECT_EQ(select_profile(profiles, shapes(5, 8)), 1u);
  EXPECT_EQ(select_profile(profiles, shapes(16, 8)), 1u);
  EXPECT_EQ(select_profile(profiles, shapes(2, 20)), 2u);
  expect_error_code([&] { select_profile(profiles, shapes(17, 8)); }, ErrorCode::kShapeError,
                    {"fit none of the engine's 3 profiles", "input 'images' dimension 0 is 17",
                     "outside the range [1, 4] of profile 0", "outside the range [5, 16] of profile 1",
                     "outside the range [1, 16] of profile 2", "rebuild the engine with a profile that covers this shape"});
}

TEST(ProfileSelect, OutsideTheOnlyProfileNamesDimAndRange) {
  Graph g = three_input_graph();
  auto profiles = resolve_profiles(g, {profile({{"images", kImages}, {"mask", kMask}})});
  std::map<std::string, Dims> shapes{{"images", {2, 3, 200, 64}}, {"mask", {2, 1}}, {"table", {2, 5}}};
  expect_error_code([&] { select_profile(profiles, shapes); }, ErrorCode::kShapeError,
                    {"input 'images' dimension 2 is 200", "[32, 128]", "min 1x3x32x32, max 8x3x128x128", "rebuild"});
  shapes = {{"images", {2, 3, 64, 64}}, {"mask", {2, 1}}, {"table", {2, 6}}};
  expect_error_code([&] { select_profile(profiles, shapes); }, ErrorCode::kShapeError,
                    {"input 'table' dimension 1 is 6", "[5, 5]"});
  shapes = {{"images", {2, 3, 64}}, {"mask", {2, 1}}, {"table", {2, 5}}};
  expect_error_code([&] { select_profile(profiles, shapes); }, ErrorCode::kShapeError,
                    {"input 'images' has rank 3", "expects rank 4"});
}

TEST(ProfileNames, NearestNameUsesEditDistance) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("same", "same"), 0u);
  EXPECT_EQ(nearest_name("imgs", {"mask", "images", "table"}), "images");
  EXPECT_EQ(nearest_name("input.1", {"input.2", "output"}), "input.2");
  EXPECT_EQ(nearest_name("x", {}), "");
}

}  // namespace normrt::test
