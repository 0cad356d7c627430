// s3:// adapter for AWS S3 and S3-compatible stores (MinIO, Ceph RGW, ...), over libcurl with
// AWS Signature V4 done by libcurl. URIs are s3://BUCKET/KEY; a directory "a/b" is the key prefix
// "a/b/", made explicit by an empty marker object "a/b/" (Mkdirs, and when a delete or rename
// empties a directory, so directories outlive their last file as on a file system).
//
// Object-store semantics the caller must know (capabilities(): object_store, !atomic_rename):
// - Create buffers one part (s3.part_size) in memory; files above it are multipart uploads, so
//   nothing is visible until Close, and a failed or aborted upload is aborted on the server.
// - Rename is copy + delete, object by object: not atomic, and a failure midway can leave both
//   names with part of the tree.
// - "Do not overwrite" is checked before the upload starts and again before it completes; a
//   concurrent writer in between can still win.
//
// Thread safety: as UnderFileSystem.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "ufs/s3_config.h"
#include "ufs/under_file_system.h"

namespace cistern::ufs {

absl::StatusOr<std::unique_ptr<UnderFileSystem>> NewS3UnderFileSystem(const std::map<std::string, std::string>& options);
std::unique_ptr<UnderFileSystem> NewS3UnderFileSystem(S3Config config);

}  // namespace cistern::ufs
