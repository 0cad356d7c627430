#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "ufs/azure_ufs.h"
#include "ufs/gcs_config.h"
#include "ufs/local_ufs.h"
#include "ufs/mem_ufs.h"
#include "ufs/s3_ufs.h"
#include "ufs/under_file_system.h"
#include "ufs/webhdfs_ufs.h"
#include "ufs/uri.h"

namespace cistern::ufs {

absl::StatusOr<std::unique_ptr<UnderFileSystem>> CreateUnderFileSystem(
    std::string_view uri, const std::map<std::string, std::string>& options) {
  CISTERN_ASSIGN_OR_RETURN(Uri parsed, ParseUri(uri));
  if (parsed.scheme == "file") return NewLocalUnderFileSystem();
  if (parsed.scheme == "mem") return NewMemUnderFileSystem();
  if (parsed.scheme == "s3") return NewS3UnderFileSystem(options);
  if (parsed.scheme == "webhdfs" || parsed.scheme == "swebhdfs" || parsed.scheme == "hdfs") {
    return NewWebHdfsUnderFileSystem(uri, options);
  }
  if (parsed.scheme == "gs") {
    CISTERN_ASSIGN_OR_RETURN(S3Config config, ResolveGcsConfig(options));
    return NewS3UnderFileSystem(std::move(config));
  }
  if (parsed.scheme == "wasb" || parsed.scheme == "wasbs" || parsed.scheme == "abfs" || parsed.scheme == "abfss") {
    return NewAzureUnderFileSystem(uri, options);
  }
  return absl::InvalidArgumentError(absl::StrCat("unsupported under-store scheme '", parsed.scheme,
                                                 "' in URI '", std::string(uri), "' (supported: file, mem, s3, gs, wasb, wasbs, abfs, abfss, webhdfs, swebhdfs, hdfs)"));
}

}  // namespace cistern::ufs
