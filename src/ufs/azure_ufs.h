// wasb://, wasbs://, abfs://, abfss:// adapter for Azure Blob Storage (and Azurite), over the Blob
// REST API with libcurl. URIs are SCHEME://CONTAINER@ACCOUNT.blob.core.windows.net/PATH (the
// forms Hadoop's WASB and ABFS drivers use; an abfs host's ".dfs." is served through the Blob API
// of the same account), or SCHEME://CONTAINER/PATH with the account from options or environment.
// A directory "a/b" is the name prefix "a/b/", made explicit by an empty marker blob "a/b/"; a
// Hadoop marker (an empty blob "a/b" with metadata hdi_isfolder=true) is read as a directory too.
//
// Semantics the caller must know (capabilities(): object_store, !atomic_rename):
// - Create buffers one block (azure.block_size) in memory. A file that fits is one Put Blob on
//   Close; a larger one is staged block by block (Put Block) while written and committed by Put
//   Block List on Close, so nothing is visible until Close. Staged blocks of an aborted upload are
//   uncommitted: invisible, and discarded by Azure (after a week at the latest).
// - "Do not overwrite" is checked at Create and enforced at Close with If-None-Match: *, so a
//   concurrent writer cannot be overwritten.
// - Rename is Copy Blob + Delete Blob, blob by blob: not atomic.
//
// Thread safety: as UnderFileSystem.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "ufs/azure_config.h"
#include "ufs/under_file_system.h"

namespace cistern::ufs {

absl::StatusOr<std::unique_ptr<UnderFileSystem>> NewAzureUnderFileSystem(std::string_view uri,
                                                                          const MountOptions& options);
std::unique_ptr<UnderFileSystem> NewAzureUnderFileSystem(AzureConfig config);

// The Shared Key string-to-sign of a Blob service request (exposed for tests). `headers` have
// lower-case names; `encoded_path` is the URL path as sent; `query` holds decoded names and values.
std::string AzureStringToSign(const std::string& method, const std::map<std::string, std::string>& headers,
                              const std::string& account, const std::string& encoded_path,
                              const std::vector<std::pair<std::string, std::string>>& query);

}  // namespace cistern::ufs
