// file:// adapter over a local (or NFS-mounted) directory tree.
#pragma once

#include <memory>

#include "ufs/under_file_system.h"

namespace cistern::ufs {

std::unique_ptr<UnderFileSystem> NewLocalUnderFileSystem();

}  // namespace cistern::ufs
