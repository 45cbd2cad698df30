// Shape profiles: for each dynamic input the smallest, typical and largest shape an engine must accept.
// The syntax of the command line follows trtexec: name:DxDxD, comma-separated; each repetition of the
// --minShapes/--optShapes/--maxShapes set starts a new profile.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace normrt {

struct ShapeRange {
  Dims min, opt, max;
};

struct Profile {
  std::map<std::string, ShapeRange> inputs;
};

// Parses "images:1x3x224x224,mask:1x1" into name -> dims. Names may contain ':' (the last one splits).
std::map<std::string, Dims> parse_shape_list(const std::string& text, const std::string& flag);

// Builds profiles from repeated flag values; the i-th --minShapes, --optShapes and --maxShapes belong to
// profile i. Inputs missing from one of the three flags are errors.
std::vector<Profile> profiles_from_flags(const std::vector<std::string>& min_flags,
                                         const std::vector<std::string>& opt_flags,
                                         const std::vector<std::string>& max_flags);

// Checks profiles against the graph's inputs and completes them: a name that is no input (naming the nearest
// input), a missing dynamic input, a rank that differs, a fixed dim given another size and min > opt > max are
// errors; fully static inputs missing from a profile are added with their fixed shape. With no profile at all
// and a fully static model, one static profile is made.
std::vector<Profile> resolve_profiles(const Graph& graph, std::vector<Profile> profiles);

// The index of the first profile that contains `shapes` (every input within [min, max]); otherwise throws
// a kShapeError that names the first offending input, dim and range.
size_t select_profile(const std::vector<Profile>& profiles, const std::map<std::string, Dims>& shapes);

// Edit distance, for "did you mean" suggestions.
size_t edit_distance(const std::string& a, const std::string& b);
std::string nearest_name(const std::string& name, const std::vector<std::string>& candidates);

}  // namespace normrt
