#include "cli/glob.h"

#include <fnmatch.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/path.h"
#include "common/status.h"

namespace cistern::cli {

bool HasGlob(std::string_view path) { return path.find_first_of("*?[") != std::string_view::npos; }

absl::StatusOr<std::vector<std::string>> ExpandGlob(const std::string& pattern, const ChildLister& list,
                                                    const PathChecker& exists) {
  if (!HasGlob(pattern)) return std::vector<std::string>{pattern};
  std::vector<std::string> current = {"/"};
  for (const std::string& component : SplitPath(pattern)) {
    std::vector<std::string> next;
    for (const std::string& dir : current) {
      if (!HasGlob(component)) {
        const std::string path = JoinPath(dir, component);
        CISTERN_ASSIGN_OR_RETURN(bool present, exists(path));
        if (present) next.push_back(path);
        continue;
      }
      absl::StatusOr<std::vector<std::string>> names = list(dir);
      if (!names.ok()) {
        // A file or a vanished directory simply has no children to match.
        if (absl::IsNotFound(names.status()) || absl::IsFailedPrecondition(names.status())) continue;
        return names.status();
      }
      for (const std::string& name : *names) {
        if (::fnmatch(component.c_str(), name.c_str(), FNM_PERIOD) == 0) next.push_back(JoinPath(dir, name));
      }
    }
    current = std::move(next);
    if (current.empty()) break;
  }
  if (current.empty()) return absl::NotFoundError(absl::StrCat("no path matches ", pattern));
  std::sort(current.begin(), current.end());
  return current;
}

}  // namespace cistern::cli
