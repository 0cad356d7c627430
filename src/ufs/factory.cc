#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "ufs/local_ufs.h"
#include "ufs/under_file_system.h"
#include "ufs/uri.h"

namespace cistern::ufs {

absl::StatusOr<std::unique_ptr<UnderFileSystem>> CreateUnderFileSystem(
    std::string_view uri, const std::map<std::string, std::string>& options) {
  CISTERN_ASSIGN_OR_RETURN(Uri parsed, ParseUri(uri));
  if (parsed.scheme == "file") return NewLocalUnderFileSystem();
  return absl::InvalidArgumentError(absl::StrCat("unsupported under-store scheme '", parsed.scheme,
                                                 "' in URI '", std::string(uri), "' (supported: file)"));
}

}  // namespace cistern::ufs
