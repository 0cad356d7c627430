// mem:// adapter: an in-memory under-store for tests. All adapters with the same authority
// ("mem://a/x" and "mem://a/y") share one process-wide tree, so a master, a worker and a client in
// one test process see the same files, like processes sharing a real store. Behaves like a local
// file system: real directories, atomic rename, files visible only after Close.
#pragma once

#include <memory>
#include <string_view>

#include "ufs/under_file_system.h"

namespace cistern::ufs {

std::unique_ptr<UnderFileSystem> NewMemUnderFileSystem();

// Drops every file and directory of the store named `authority` (the root stays).
void ClearMemStoreForTest(std::string_view authority);

}  // namespace cistern::ufs
