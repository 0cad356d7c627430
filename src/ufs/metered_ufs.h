// An UnderFileSystem that counts and times every request of the adapter it wraps:
//
//   cistern_ufs_requests_total{mount,operation}
//   cistern_ufs_request_errors_total{mount,operation,code}   (NOT_FOUND included: lookups of
//                                                              missing paths are normal)
//   cistern_ufs_request_duration_seconds{mount,operation}    (histogram)
//
// operation is one of open, read, create, write, close, get_status, list, mkdirs, delete,
// rename. `mount` names the under-store: the master passes the mount's namespace path, the
// worker the store root it reads ("s3://bucket") since workers do not know mount points.
// Depends only on common's metrics registry.
#pragma once

#include <memory>
#include <string>

#include "ufs/under_file_system.h"

namespace cistern::ufs {

std::unique_ptr<UnderFileSystem> NewMeteredUnderFileSystem(std::unique_ptr<UnderFileSystem> base, std::string mount);

}  // namespace cistern::ufs
