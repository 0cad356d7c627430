// The S3 REST API's XML documents: parsers for what the adapter reads and builders for what it
// sends. Kept apart from the transport so they can be unit-tested and fuzzed on their own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace cistern::ufs::s3xml {

struct ListedObject {
  std::string key;
  int64_t size = 0;
  int64_t mtime_ms = 0;
  std::string etag;  // without quotes
};

struct ListPage {
  std::vector<ListedObject> objects;
  std::vector<std::string> common_prefixes;
  bool truncated = false;
  std::string next_continuation_token;
};

// ListObjectsV2 result. Keys and prefixes are URL-decoded when the document says
// <EncodingType>url</EncodingType>. INVALID_ARGUMENT (quoting the start of the document) if it is
// not a ListBucketResult.
absl::StatusOr<ListPage> ParseListObjectsV2(std::string_view xml);

struct Error {
  std::string code;
  std::string message;
  std::string key;  // DeleteObjects per-key errors
};

// An <Error> document (the body of S3 error responses, and of some "200 OK" responses of
// CompleteMultipartUpload and CopyObject). nullopt if `xml` is not one.
std::optional<Error> ParseError(std::string_view xml);

// <InitiateMultipartUploadResult><UploadId>.
absl::StatusOr<std::string> ParseUploadId(std::string_view xml);
// <CopyPartResult><ETag> (UploadPartCopy), quotes kept.
absl::StatusOr<std::string> ParseCopyPartEtag(std::string_view xml);
// <DeleteResult>: the per-key errors (empty when every key was deleted).
absl::StatusOr<std::vector<Error>> ParseDeleteResult(std::string_view xml);

// Part etags in part order (part numbers 1..n).
std::string BuildCompleteMultipartUpload(const std::vector<std::string>& etags);
// <Delete><Quiet>true</Quiet><Object><Key>..</Key></Object>...</Delete>
std::string BuildDeleteObjects(const std::vector<std::string>& keys);

// "2024-05-01T12:34:56.789Z" -> ms since the epoch.
absl::StatusOr<int64_t> ParseIso8601Ms(std::string_view text);
// RFC 7231 date ("Wed, 01 May 2024 12:34:56 GMT") -> ms since the epoch.
absl::StatusOr<int64_t> ParseHttpDateMs(std::string_view text);
std::string StripQuotes(std::string_view etag);
std::string UrlDecode(std::string_view text);

}  // namespace cistern::ufs::s3xml
