// The Azure Blob REST API's XML documents the adapter reads (List Blobs, errors) and writes
// (Put Block List). Kept apart from the transport so they can be unit-tested and fuzzed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace cistern::ufs::azurexml {

struct ListedBlob {
  std::string name;
  int64_t size = 0;
  int64_t mtime_ms = 0;
  std::string etag;        // without quotes
  bool hdi_folder = false;  // a Hadoop (WASB/ABFS) directory marker: metadata hdi_isfolder=true
};

struct ListPage {
  std::vector<ListedBlob> blobs;
  std::vector<std::string> prefixes;  // BlobPrefix names, ending in the delimiter
  std::string next_marker;            // empty on the last page
};

// <EnumerationResults> of List Blobs. Names marked Encoded="true" are percent-decoded.
// INVALID_ARGUMENT (quoting the start of the document) if it is not one.
absl::StatusOr<ListPage> ParseListBlobs(std::string_view xml);

struct Error {
  std::string code;
  std::string message;
};
// <Error><Code>..</Code><Message>..</Message></Error>; nullopt if `xml` is not one.
std::optional<Error> ParseError(std::string_view xml);

// <BlockList><Latest>id</Latest>...</BlockList>
std::string BuildBlockList(const std::vector<std::string>& block_ids);

}  // namespace cistern::ufs::azurexml
