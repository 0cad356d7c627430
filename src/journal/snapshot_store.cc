#include "journal/snapshot_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cistern/proto/raft.pb.h"
#include "common/status.h"
#include "journal/raft_wire.h"
#include "spdlog/spdlog.h"

namespace cistern::journal {
namespace fs = std::filesystem;
namespace {

absl::Status FsyncPath(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open '", path, "' to sync it"));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("fsync of '", path, "' failed"));
  return absl::OkStatus();
}

std::string SnapshotDirName(const raft::SnapshotMeta& meta) { return absl::StrCat("snap-", meta.index, "-", meta.term); }

absl::StatusOr<raft::SnapshotMeta> ReadMeta(const std::string& dir) {
  std::ifstream in(dir + "/meta", std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("snapshot '", dir, "' has no meta file"));
  std::stringstream buf;
  buf << in.rdbuf();
  proto::RaftSnapshotMeta record;
  if (!record.ParseFromString(buf.str())) return absl::DataLossError(absl::StrCat("snapshot '", dir, "': meta does not parse"));
  return FromProto(record);
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ListFilesRecursively(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) files.push_back(fs::relative(it->path(), dir, ec).string());
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot list '", dir, "': ", ec.message()));
  std::sort(files.begin(), files.end());
  return files;
}

absl::Status SyncTree(const std::string& dir) {
  std::error_code ec;
  std::vector<std::string> dirs = {dir};
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec)) {
      dirs.push_back(it->path().string());
    } else if (it->is_regular_file(ec)) {
      CISTERN_RETURN_IF_ERROR(FsyncPath(it->path().string(), false));
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot list '", dir, "': ", ec.message()));
  for (const std::string& d : dirs) CISTERN_RETURN_IF_ERROR(FsyncPath(d, true));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SnapshotStore>> SnapshotStore::Open(const std::string& root, int keep) {
  std::unique_ptr<SnapshotStore> store(new SnapshotStore(root, std::max(keep, 1)));
  CISTERN_RETURN_IF_ERROR(store->Load());
  return store;
}

absl::Status SnapshotStore::Load() {
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec) return absl::FailedPreconditionError(absl::StrCat("cannot create snapshot directory '", root_, "': ", ec.message()));
  absl::MutexLock lock(&mu_);
  for (const fs::directory_entry& entry : fs::directory_iterator(root_, ec)) {
    const std::string name = entry.path().filename().string();
    if (absl::StartsWith(name, "staging-")) {
      fs::remove_all(entry.path(), ec);  // a snapshot a crash interrupted
      continue;
    }
    if (!absl::StartsWith(name, "snap-")) continue;
    absl::StatusOr<raft::SnapshotMeta> meta = ReadMeta(entry.path().string());
    if (!meta.ok()) {
      spdlog::warn("ignoring snapshot '{}': {}", entry.path().string(), meta.status().ToString());
      continue;
    }
    snapshots_.push_back(StoredSnapshot{*std::move(meta), entry.path().string()});
  }
  std::sort(snapshots_.begin(), snapshots_.end(),
            [](const StoredSnapshot& a, const StoredSnapshot& b) { return a.meta.index < b.meta.index; });
  return absl::OkStatus();
}

std::optional<StoredSnapshot> SnapshotStore::Latest() const {
  absl::MutexLock lock(&mu_);
  if (snapshots_.empty()) return std::nullopt;
  return snapshots_.back();
}

absl::StatusOr<std::string> SnapshotStore::NewStagingDir() {
  std::string dir;
  {
    absl::MutexLock lock(&mu_);
    dir = absl::StrCat(root_, "/staging-", ::getpid(), "-", next_staging_++);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create '", dir, "': ", ec.message()));
  return dir;
}

absl::StatusOr<StoredSnapshot> SnapshotStore::Commit(const std::string& staging_dir, const raft::SnapshotMeta& meta) {
  proto::RaftSnapshotMeta record;
  ToProto(meta, &record);
  {
    std::ofstream out(staging_dir + "/meta", std::ios::binary | std::ios::trunc);
    out << record.SerializeAsString();
    if (!out) return absl::InternalError(absl::StrCat("cannot write the meta of snapshot '", staging_dir, "'"));
  }
  CISTERN_RETURN_IF_ERROR(SyncTree(staging_dir));
  const std::string dir = absl::StrCat(root_, "/", SnapshotDirName(meta));
  std::error_code ec;
  fs::remove_all(dir, ec);  // the same snapshot taken again
  fs::rename(staging_dir, dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot move snapshot '", staging_dir, "' into place: ", ec.message()));
  CISTERN_RETURN_IF_ERROR(FsyncPath(root_, true));
  StoredSnapshot stored{meta, dir};
  std::vector<std::string> pruned;
  {
    absl::MutexLock lock(&mu_);
    snapshots_.erase(std::remove_if(snapshots_.begin(), snapshots_.end(),
                                    [&](const StoredSnapshot& s) { return s.dir == dir; }),
                     snapshots_.end());
    snapshots_.push_back(stored);
    std::sort(snapshots_.begin(), snapshots_.end(),
              [](const StoredSnapshot& a, const StoredSnapshot& b) { return a.meta.index < b.meta.index; });
    while (static_cast<int>(snapshots_.size()) > keep_) {
      pruned.push_back(snapshots_.front().dir);
      snapshots_.erase(snapshots_.begin());
    }
  }
  for (const std::string& old : pruned) fs::remove_all(old, ec);
  return stored;
}

void SnapshotStore::Discard(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace cistern::journal
