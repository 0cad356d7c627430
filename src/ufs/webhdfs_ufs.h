// webhdfs://, swebhdfs:// and hdfs:// adapter: HDFS through the WebHDFS REST API
// (/webhdfs/v1/PATH?op=...), over libcurl. URIs are webhdfs://NAMENODE:HTTP_PORT/PATH (Hadoop's own
// WebHDFS scheme; swebhdfs:// is the same over https) or hdfs://NAMENODE[:RPC_PORT]/PATH, for which
// the NameNode's HTTP address is webhdfs.endpoint, else http://NAMENODE:9870 (the RPC port in an
// hdfs:// URI cannot be spoken over HTTP).
//
// OPEN, CREATE and APPEND are two-step: the NameNode answers 307 with a DataNode URL, which gets
// the data. Files are written in chunks of webhdfs.chunk_size (CREATE, then APPENDs) to a hidden
// temporary file beside the target (".NAME.cistern-tmp-NONCE", skipped by listings; the nonce is
// CreateOptions::temp_nonce when given, see TempUri; the file appears with the first CREATE, not at
// Create), renamed into place on Close, so nothing is visible at the path until Close; Abort
// deletes the temporary file.
// Rename is the NameNode's (atomic); an overwriting Close deletes the old file first (a reader in
// that instant sees no file). capabilities(): !object_store, atomic_rename.
//
// Authentication: user.name (simple auth) from webhdfs.user, HADOOP_USER_NAME or USER; or a
// delegation token (webhdfs.delegation_token). Kerberos (SPNEGO) is not supported.
//
// Thread safety: as UnderFileSystem.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "ufs/http_client.h"
#include "ufs/ufs_options.h"
#include "ufs/under_file_system.h"

namespace cistern::ufs {

struct WebHdfsConfig {
  std::string scheme;    // of the URIs accepted: webhdfs, swebhdfs or hdfs
  std::string endpoint;  // "http(s)://namenode:port"
  std::string user;      // user.name; empty = none sent
  std::string delegation_token;
  int64_t chunk_size_bytes = 64LL << 20;
  HttpOptions http;
};

absl::StatusOr<WebHdfsConfig> ResolveWebHdfsConfig(std::string_view uri, const MountOptions& options,
                                                   const EnvLookup& env = nullptr);
const std::vector<std::string>& WebHdfsOptionKeys();

absl::StatusOr<std::unique_ptr<UnderFileSystem>> NewWebHdfsUnderFileSystem(std::string_view uri,
                                                                            const MountOptions& options);
std::unique_ptr<UnderFileSystem> NewWebHdfsUnderFileSystem(WebHdfsConfig config);

// The Status for a WebHDFS error response: the RemoteException's exception name decides where it
// is known (FileNotFoundException NOT_FOUND, AccessControlException PERMISSION_DENIED,
// FileAlreadyExistsException ALREADY_EXISTS, StandbyException/RetriableException/SafeModeException
// UNAVAILABLE, ...), else the HTTP status. The message names the operation, path, HTTP status,
// exception and its message.
absl::Status WebHdfsError(long http_status, std::string_view body, std::string_view op, std::string_view path,
                          int attempts = 1);

}  // namespace cistern::ufs
