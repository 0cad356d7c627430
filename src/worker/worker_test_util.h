// Test-only helpers shared by the worker's unit tests and the integration tests (header only).
#pragma once

#include <linux/magic.h>
#include <stdlib.h>
#include <sys/vfs.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

namespace cistern::worker::test_util {

// Whether `path` is on a tmpfs.
inline bool OnTmpfs(const std::string& path) {
  struct statfs info{};
  return ::statfs(path.c_str(), &info) == 0 && info.f_type == TMPFS_MAGIC;
}

// A new directory under /dev/shm whose name starts with `name`, or "" when /dev/shm is missing
// or not a tmpfs (the caller skips its test).
inline std::string MakeTmpfsTempDir(const std::string& name) {
  std::string dir = "/dev/shm/" + name + ".XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) return "";
  if (!OnTmpfs(dir)) {
    std::filesystem::remove_all(dir);
    return "";
  }
  return dir;
}

// The temporary-file URIs the under-store write records in `records_dir` name, read from the
// files themselves (a mount id line, then the URI), not through UfsWriteRecords.
inline std::vector<std::string> RecordedTempUris(const std::string& records_dir) {
  std::vector<std::string> temps;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(records_dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::ifstream in(it->path());
    std::string mount, temp;
    std::getline(in, mount);
    std::getline(in, temp);
    temps.push_back(temp);
  }
  return temps;
}

}  // namespace cistern::worker::test_util
