#include "engine/profile.h"

#include <algorithm>
#include <set>

namespace normrt {

namespace {

Error bad_flag(const std::string& message) { return Error(ErrorCode::kInvalidArgument, message); }

Dims parse_dims(const std::string& text, const std::string& item, const std::string& flag) {
  Dims dims;
  if (text == "scalar") return dims;
  size_t start = 0;
  while (true) {
    size_t x = text.find('x', start);
    std::string part = text.substr(start, x == std::string::npos ? std::string::npos : x - start);
    if (part.empty() || part.find_first_not_of("0123456789") != std::string::npos || part.size() > 12)
      throw bad_flag(flag + ": '" + item + "' has an invalid dimension '" + part +
                     "'; write shapes as name:DxDxD with non-negative integers, e.g. images:1x3x224x224");
    dims.push_back(std::stoll(part));
    if (x == std::string::npos) break;
    start = x + 1;
  }
  return dims;
}

std::string shape_str(const Dims& d) { return d.empty() ? "scalar" : dims_to_string(d); }

}  // namespace

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string nearest_name(const std::string& name, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = SIZE_MAX;
  for (const auto& c : candidates) {
    size_t d = edit_distance(name, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

std::map<std::string, Dims> parse_shape_list(const std::string& text, const std::string& flag) {
  std::map<std::string, Dims> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t colon = item.rfind(':');
    if (colon == std::string::npos || colon == 0)
      throw bad_flag(flag + ": '" + item + "' is not of the form name:DxDxD (e.g. images:1x3x224x224)");
    std::string name = item.substr(0, colon);
    if (out.count(name)) throw bad_flag(flag + ": input '" + name + "' is given twice");
    out[name] = parse_dims(item.substr(colon + 1), item, flag);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::vector<Profile> profiles_from_flags(const std::vector<std::string>& min_flags,
                                         const std::vector<std::string>& opt_flags,
                                         const std::vector<std::string>& max_flags) {
  size_t count = std::max({min_flags.size(), opt_flags.size(), max_flags.size()});
  if (min_flags.size() != count || opt_flags.size() != count || max_flags.size() != count)
    throw bad_flag("--minShapes, --optShapes and --maxShapes must be given the same number of times (once per "
                   "profile); got " + std::to_string(min_flags.size()) + ", " + std::to_string(opt_flags.size()) +
                   " and " + std::to_string(max_flags.size()));
  std::vector<Profile> profiles(count);
  for (size_t p = 0; p < count; ++p) {
    auto mins = parse_shape_list(min_flags[p], "--minShapes");
    auto opts = parse_shape_list(opt_flags[p], "--optShapes");
    auto maxs = parse_shape_list(max_flags[p], "--maxShapes");
    std::set<std::string> names;
    for (auto* m : {&mins, &opts, &maxs})
      for (const auto& kv : *m) names.insert(kv.first);
    for (const auto& name : names) {
      const char* missing = !mins.count(name) ? "--minShapes" : !opts.count(name) ? "--optShapes"
                                                              : !maxs.count(name) ? "--maxShapes" : nullptr;
      if (missing)
        throw bad_flag("input '" + name + "' of profile " + std::to_string(p) + " has no " + missing +
                       "; give min, opt and max shapes for every dynamic input");
      profiles[p].inputs[name] = ShapeRange{mins[name], opts[name], maxs[name]};
    }
  }
  return profiles;
}

std::vector<Profile> resolve_profiles(const Graph& graph, std::vector<Profile> profiles) {
  std::vector<std::string> input_names;
  std::string listing;
  for (const auto& in : graph.inputs) {
    input_names.push_back(in.name);
    listing += (listing.empty() ? "" : ", ") + in.name + " " + in.shape.to_string();
  }
  bool has_dynamic = false;
  for (const auto& in : graph.inputs) has_dynamic |= !in.shape.fully_known();
  if (profiles.empty()) {
    if (has_dynamic) {
      std::string dynamic;
      for (const auto& in : graph.inputs)
        if (!in.shape.fully_known()) dynamic += (dynamic.empty() ? "" : ", ") + in.name + " " + in.shape.to_string();
      throw Error(ErrorCode::kShapeError, "the model has dynamic inputs (" + dynamic +
                                              ") and no shape profile was given; pass --minShapes, --optShapes and "
                                              "--maxShapes for each of them (e.g. --minShapes=" +
                                              graph.inputs[0].name + ":...)");
    }
    profiles.emplace_back();
  }
  for (size_t p = 0; p < profiles.size(); ++p) {
    Profile& profile = profiles[p];
    std::string where = profiles.size() > 1 ? " in profile " + std::to_string(p) : "";
    for (const auto& [name, range] : profile.inputs) {
      if (!graph.find_input(name)) {
        throw Error(ErrorCode::kInvalidArgument, "shape given for input '" + name + "'" + where +
                                                     ", but the model has no input of that name; did you mean '" +
                                                     nearest_name(name, input_names) + "'? The inputs are: " + listing);
      }
    }
    for (const auto& in : graph.inputs) {
      auto it = profile.inputs.find(in.name);
      if (it == profile.inputs.end()) {
        if (!in.shape.fully_known())
          throw Error(ErrorCode::kShapeError, "input '" + in.name + "' " + in.shape.to_string() +
                                                  " has dynamic dimensions but no shape" + where +
                                                  "; add it to --minShapes, --optShapes and --maxShapes");
        Dims d = in.shape.concrete();
        profile.inputs[in.name] = ShapeRange{d, d, d};
        continue;
      }
      const ShapeRange& r = it->second;
      const std::pair<const char*, const Dims*> corners[] = {{"min", &r.min}, {"opt", &r.opt}, {"max", &r.max}};
      for (const auto& [label, dims] : corners) {
        if (dims->size() != in.shape.rank())
          throw Error(ErrorCode::kShapeError, "input '" + in.name + "' has rank " + std::to_string(in.shape.rank()) +
                                                  " " + in.shape.to_string() + " but its " + label + " shape " +
                                                  shape_str(*dims) + where + " has rank " + std::to_string(dims->size()));
      }
      for (size_t i = 0; i < in.shape.rank(); ++i) {
        const Dim& d = in.shape.dims[i];
        if (d.known()) {
          for (int64_t v : {r.min[i], r.opt[i], r.max[i]})
            if (v != d.value)
              throw Error(ErrorCode::kShapeError, "input '" + in.name + "' dimension " + std::to_string(i) +
                                                      " is fixed to " + std::to_string(d.value) + " by the model " +
                                                      in.shape.to_string() + ", but the profile" + where + " gives " +
                                                      std::to_string(v) + "; use " + std::to_string(d.value));
        }
        if (r.min[i] > r.opt[i] || r.opt[i] > r.max[i])
          throw Error(ErrorCode::kShapeError, "input '" + in.name + "' dimension " + std::to_string(i) +
                                                  (d.symbol.empty() ? "" : " (" + d.symbol + ")") + where +
                                                  ": min " + std::to_string(r.min[i]) + ", opt " +
                                                  std::to_string(r.opt[i]) + ", max " + std::to_string(r.max[i]) +
                                                  " is not ordered; min <= opt <= max is required");
      }
    }
  }
  return profiles;
}

size_t select_profile(const std::vector<Profile>& profiles, const std::map<std::string, Dims>& shapes) {
  std::vector<std::string> problems;  // why each profile does not fit
  for (size_t p = 0; p < profiles.size(); ++p) {
    std::string problem;
    for (const auto& [name, range] : profiles[p].inputs) {
      auto it = shapes.find(name);
      if (it == shapes.end()) continue;  // missing inputs are reported by the caller
      const Dims& d = it->second;
      if (d.size() != range.min.size()) {
        problem = "input '" + name + "' has rank " + std::to_string(d.size()) + " (" + shape_str(d) +
                  ") but the engine expects rank " + std::to_string(range.min.size());
        break;
      }
      for (size_t i = 0; i < d.size() && problem.empty(); ++i)
        if (d[i] < range.min[i] || d[i] > range.max[i])
          problem = "input '" + name + "' dimension " + std::to_string(i) + " is " + std::to_string(d[i]) +
                    ", outside the range [" + std::to_string(range.min[i]) + ", " + std::to_string(range.max[i]) +
                    "] of profile " + std::to_string(p) + " (min " + shape_str(range.min) + ", max " +
                    shape_str(range.max) + ")";
      if (!problem.empty()) break;
    }
    if (problem.empty()) return p;
    problems.push_back(problem);
  }
  // With several profiles, say why each one refused: the shape may be just outside a profile other than the first.
  std::string message = problems.size() == 1 ? problems[0]
                                             : "the shapes fit none of the engine's " + std::to_string(problems.size()) +
                                                   " profiles: ";
  for (size_t p = 0; problems.size() > 1 && p < problems.size(); ++p) message += (p ? "; " : "") + problems[p];
  throw Error(ErrorCode::kShapeError, message + "; rebuild the engine with a profile that covers this shape");
}

}  // namespace normrt
