// The WebHDFS REST API's JSON responses (FileStatus, LISTSTATUS[_BATCH] pages, boolean results,
// RemoteException errors): parsers kept apart from the transport so they can be unit-tested and
// fuzzed on their own. A body that is not the document expected is DATA_LOSS quoting its start.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "ufs/under_file_system.h"

namespace cistern::ufs::webhdfsjson {

// {"FileStatus": {...}}; `name` becomes the status's name.
absl::StatusOr<UfsStatus> ParseFileStatus(std::string_view body, std::string name);

struct ListPage {
  // Entries in listing order; `name` is the pathSuffix ("" for the status of a file listed as
  // itself, which is how WebHDFS answers LISTSTATUS on a file).
  std::vector<UfsStatus> entries;
  int64_t remaining = 0;  // LISTSTATUS_BATCH: entries after this page
};
// {"FileStatuses": {"FileStatus": [...]}} (LISTSTATUS) or {"DirectoryListing": {"partialListing":
// {"FileStatuses": {"FileStatus": [...]}}, "remainingEntries": N}} (LISTSTATUS_BATCH).
absl::StatusOr<ListPage> ParseListing(std::string_view body);

// {"boolean": true|false} (MKDIRS, RENAME, DELETE).
absl::StatusOr<bool> ParseBoolean(std::string_view body);

struct RemoteException {
  std::string exception;  // e.g. "FileNotFoundException"; empty if the body is not one
  std::string message;    // its first line
};
RemoteException ParseRemoteException(std::string_view body);

}  // namespace cistern::ufs::webhdfsjson
