#include "worker/storage_dir.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "spdlog/spdlog.h"

namespace cistern::worker {

namespace fs = std::filesystem;

namespace {
constexpr const char* kLockFileName = ".lock";
constexpr const char* kTmpDirName = "tmp";
}  // namespace

absl::Status ErrnoStatus(int err, std::string_view what, std::string_view path) {
  std::string message = absl::StrCat(std::string(what), " '", std::string(path), "': ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(message);
  if (err == EACCES || err == EPERM || err == EROFS) return absl::PermissionDeniedError(message);
  return absl::InternalError(message);
}

absl::Status WriteNewFile(const std::string& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, "create", path);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t w = ::write(fd, data.data() + done, data.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      absl::Status status = ErrnoStatus(errno, "write", path);
      ::close(fd);
      ::unlink(path.c_str());
      return status;
    }
    done += static_cast<size_t>(w);
  }
  if (::close(fd) != 0) {
    absl::Status status = ErrnoStatus(errno, "close", path);
    ::unlink(path.c_str());
    return status;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  std::string out(max_bytes + 1, '\0');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t r = ::read(fd, out.data() + done, out.size() - done);
    if (r < 0) {
      if (errno == EINTR) continue;
      absl::Status status = ErrnoStatus(errno, "read", path);
      ::close(fd);
      return status;
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  ::close(fd);
  out.resize(done);
  return out;
}

StorageDir::StorageDir(std::string alias, int tier_index, std::string path, int64_t capacity_bytes)
    : alias_(std::move(alias)), tier_index_(tier_index), path_(std::move(path)),
      tmp_dir_(absl::StrCat(path_, "/", kTmpDirName)), capacity_bytes_(capacity_bytes) {}

StorageDir::~StorageDir() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

absl::StatusOr<std::unique_ptr<StorageDir>> StorageDir::Open(std::string alias, int tier_index, std::string path,
                                                             int64_t capacity_bytes) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(alias, " tier directory is empty"));
  if (capacity_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(alias, " tier directory ", path, ": quota must be positive, got ", capacity_bytes, " bytes"));
  }
  std::unique_ptr<StorageDir> dir(new StorageDir(std::move(alias), tier_index, std::move(path), capacity_bytes));
  const std::string& p = dir->path_;
  std::error_code ec;
  fs::create_directories(p, ec);
  if (ec) return absl::InternalError(absl::StrCat("create directory '", p, "': ", ec.message()));
  const std::string lock_path = absl::StrCat(p, "/", kLockFileName);
  dir->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (dir->lock_fd_ < 0) return ErrnoStatus(errno, "create lock file", lock_path);
  if (::flock(dir->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("directory '", p, "' is in use by another worker (", lock_path, " is locked)"));
  }
  struct statfs fs_info{};
  if (::statfs(p.c_str(), &fs_info) == 0) {
    dir->in_memory_ = fs_info.f_type == TMPFS_MAGIC || fs_info.f_type == RAMFS_MAGIC;
  }
  // Temporary files are writes that never committed (a crash or an aborted stream).
  fs::remove_all(dir->tmp_dir_, ec);
  if (ec) return absl::InternalError(absl::StrCat("remove '", dir->tmp_dir_, "': ", ec.message()));
  fs::create_directory(dir->tmp_dir_, ec);
  if (ec) return absl::InternalError(absl::StrCat("create directory '", dir->tmp_dir_, "': ", ec.message()));
  return dir;
}

std::string StorageDir::BlockPath(uint64_t block_id) const { return absl::StrCat(path_, "/", BlockFileName(block_id)); }

std::string StorageDir::MetaPath(uint64_t block_id) const {
  return absl::StrCat(path_, "/", BlockMetaFileName(block_id));
}

std::string StorageDir::NewTempPath(uint64_t block_id) {
  return absl::StrCat(tmp_dir_, "/", BlockFileName(block_id), ".", next_temp_.fetch_add(1));
}

absl::Status StorageDir::DeleteBlockFiles(uint64_t block_id) const {
  absl::Status status;
  for (const std::string& path : {MetaPath(block_id), BlockPath(block_id)}) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT && status.ok()) status = ErrnoStatus(errno, "delete", path);
  }
  return status;
}

absl::StatusOr<std::vector<StorageDir::FoundBlock>> StorageDir::Recover(int* removed) {
  struct Files {
    bool has_block = false;
    bool has_meta = false;
    int64_t size = 0;
    int64_t mtime_ns = 0;
  };
  std::map<uint64_t, Files> files;
  int deleted = 0;
  auto remove = [&](const std::string& path, std::string_view why) {
    spdlog::warn("{} tier {}: removing {} ({})", alias_, path_, path, why);
    if (::unlink(path.c_str()) == 0) ++deleted;
  };

  std::error_code ec;
  fs::directory_iterator it(path_, ec);
  if (ec) return absl::InternalError(absl::StrCat("list '", path_, "': ", ec.message()));
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path& path = it->path();
    const std::string name = path.filename().string();
    if (name == kTmpDirName || name == kLockFileName || name == kUfsWriteRecordsDirName) continue;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) continue;
    uint64_t block_id = 0;
    if (S_ISREG(st.st_mode) && ParseBlockFileName(name, &block_id)) {
      Files& f = files[block_id];
      f.has_block = true;
      f.size = static_cast<int64_t>(st.st_size);
      f.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    } else if (S_ISREG(st.st_mode) && ParseBlockMetaFileName(name, &block_id)) {
      files[block_id].has_meta = true;
    } else if (S_ISDIR(st.st_mode)) {
      spdlog::warn("{} tier {}: ignoring directory {}", alias_, path_, path.string());
    } else {
      remove(path.string(), "not a block file");
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("list '", path_, "': ", ec.message()));

  std::vector<FoundBlock> found;
  for (const auto& [block_id, f] : files) {
    if (!f.has_meta) {
      remove(BlockPath(block_id), "block without checksum record");
      continue;
    }
    if (!f.has_block) {
      remove(MetaPath(block_id), "checksum record without block");
      continue;
    }
    absl::StatusOr<std::string> record = ReadSmallFile(MetaPath(block_id), kBlockMetaBytes);
    absl::StatusOr<BlockMeta> meta =
        record.ok() ? DecodeBlockMeta(*record) : absl::StatusOr<BlockMeta>(record.status());
    if (!meta.ok() || meta->length != f.size) {
      const std::string why = !meta.ok() ? std::string(meta.status().message())
                                         : absl::StrCat("file has ", f.size, " bytes, record says ", meta->length);
      remove(MetaPath(block_id), why);
      remove(BlockPath(block_id), why);
      continue;
    }
    found.push_back({block_id, *meta, f.mtime_ns});
  }
  if (removed != nullptr) *removed = deleted;
  return found;
}

}  // namespace cistern::worker
