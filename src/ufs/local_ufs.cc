#include "ufs/local_ufs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/path.h"
#include "common/status.h"
#include "ufs/uri.h"

namespace cistern::ufs {
namespace {

absl::Status ErrnoStatus(int err, std::string_view op, std::string_view path) {
  std::string msg = absl::StrCat(absl::string_view(op.data(), op.size()), " '",
                                 absl::string_view(path.data(), path.size()), "': ", std::strerror(err));
  switch (err) {
    case ENOENT: case ENOTDIR: return absl::NotFoundError(msg);
    case EEXIST: return absl::AlreadyExistsError(msg);
    case ENOTEMPTY: return absl::FailedPreconditionError(msg);
    case EACCES: case EPERM: return absl::PermissionDeniedError(msg);
    case ENOSPC: case EDQUOT: return absl::ResourceExhaustedError(msg);
    case EISDIR: case EINVAL: case ENAMETOOLONG: return absl::InvalidArgumentError(msg);
    default: return absl::InternalError(msg);
  }
}

absl::StatusOr<std::string> LocalPath(std::string_view uri) {
  CISTERN_ASSIGN_OR_RETURN(Uri parsed, ParseUri(uri));
  if (parsed.scheme != "file") {
    return absl::InvalidArgumentError(absl::StrCat("not a file:// URI: '", std::string(uri), "'"));
  }
  if (!parsed.authority.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("file:// URI with a host is not supported: '", std::string(uri), "'"));
  }
  return parsed.path;
}

UfsStatus FromStat(std::string_view name, const struct stat& st) {
  UfsStatus s;
  s.name = std::string(name);
  s.is_directory = S_ISDIR(st.st_mode);
  s.length = s.is_directory ? 0 : st.st_size;
  s.mtime_ms = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
  s.mode = st.st_mode & 07777;
  return s;
}

absl::Status MkdirsLocal(const std::string& path, uint32_t mode) {
  std::string cur;
  for (const std::string& part : SplitPath(path)) {
    cur += "/" + part;
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) return ErrnoStatus(errno, "mkdir", cur);
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "stat", path);
  if (!S_ISDIR(st.st_mode)) return absl::AlreadyExistsError(absl::StrCat("'", path, "' exists and is not a directory"));
  return absl::OkStatus();
}

class LocalReader : public RandomAccessReader {
 public:
  LocalReader(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~LocalReader() override { ::close(fd_); }
  absl::StatusOr<int64_t> ReadAt(int64_t offset, int64_t n, char* buf) override {
    int64_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, buf + done, static_cast<size_t>(n - done), offset + done);
      if (r < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, "read", path_);
      }
      if (r == 0) break;
      done += r;
    }
    return done;
  }

 private:
  const int fd_;
  const std::string path_;
};

// Writes to a hidden temporary file beside the target and renames it into place on Close, so
// readers never see a partial file.
class LocalOutputStream : public UfsOutputStream {
 public:
  LocalOutputStream(int fd, std::string tmp, std::string path, bool overwrite)
      : fd_(fd), tmp_(std::move(tmp)), path_(std::move(path)), overwrite_(overwrite) {}
  ~LocalOutputStream() override { Abort(); }

  absl::Status Write(std::string_view data) override {
    if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat("write to closed file '", path_, "'"));
    size_t done = 0;
    while (done < data.size()) {
      ssize_t w = ::write(fd_, data.data() + done, data.size() - done);
      if (w < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, "write", path_);
      }
      done += static_cast<size_t>(w);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<UfsStatus> Close() override {
    if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat("file '", path_, "' already closed"));
    if (::fsync(fd_) != 0) {
      absl::Status st = ErrnoStatus(errno, "fsync", path_);
      Abort();
      return st;
    }
    ::close(fd_);
    fd_ = -1;
    int rc = overwrite_ ? ::rename(tmp_.c_str(), path_.c_str())
                        : ::renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, path_.c_str(), RENAME_NOREPLACE);
    if (rc != 0) {
      absl::Status st = ErrnoStatus(errno, "rename into place", path_);
      ::unlink(tmp_.c_str());
      return st;
    }
    struct stat st;
    if (::stat(path_.c_str(), &st) != 0) return ErrnoStatus(errno, "stat", path_);
    return FromStat(BaseName(path_), st);
  }

  void Abort() override {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
      ::unlink(tmp_.c_str());
    }
  }

  std::string temp_uri() const override { return absl::StrCat("file://", tmp_); }

 private:
  int fd_;
  const std::string tmp_;
  const std::string path_;
  const bool overwrite_;
};

// The temporary file a write of `path` with `nonce` goes to (Create and TempUri agree by
// construction).
absl::StatusOr<std::string> TempFile(const std::string& path, std::string_view nonce) {
  CISTERN_RETURN_IF_ERROR(ValidateTempNonce(nonce));
  if (path == "/") return absl::InvalidArgumentError("cannot create a file at '/'");
  return TempPathFor(path, nonce);
}

class LocalUnderFileSystem : public UnderFileSystem {
 public:
  Capabilities capabilities() const override { return Capabilities{false, true}; }

  absl::StatusOr<std::unique_ptr<RandomAccessReader>> Open(std::string_view uri) override {
    CISTERN_ASSIGN_OR_RETURN(std::string path, LocalPath(uri));
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "open", path);
    struct stat st;
    if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
      ::close(fd);
      return absl::InvalidArgumentError(absl::StrCat("'", path, "' is a directory"));
    }
    return std::make_unique<LocalReader>(fd, path);
  }

  absl::StatusOr<std::unique_ptr<UfsOutputStream>> Create(std::string_view uri,
                                                          const CreateOptions& options) override {
    CISTERN_ASSIGN_OR_RETURN(std::string path, LocalPath(uri));
    if (path == "/") return absl::InvalidArgumentError("cannot create a file at '/'");
    // Before anything is touched.
    if (!options.temp_nonce.empty()) CISTERN_RETURN_IF_ERROR(ValidateTempNonce(options.temp_nonce));
    std::string parent = ParentPath(path);
    if (options.create_parents) CISTERN_RETURN_IF_ERROR(MkdirsLocal(parent, 0755));
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) return absl::AlreadyExistsError(absl::StrCat("'", path, "' is a directory"));
      if (!options.overwrite) return absl::AlreadyExistsError(absl::StrCat("'", path, "' already exists"));
    }
    std::string nonce = options.temp_nonce;
    if (nonce.empty()) {
      thread_local std::mt19937_64 rng(std::random_device{}());
      nonce = absl::StrCat(absl::Hex(rng()));
    }
    CISTERN_ASSIGN_OR_RETURN(std::string tmp, TempFile(path, nonce));
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, options.mode);
    if (fd < 0) return ErrnoStatus(errno, "create", tmp);
    return std::make_unique<LocalOutputStream>(fd, tmp, path, options.overwrite);
  }

  absl::StatusOr<std::string> TempUri(std::string_view uri, std::string_view nonce) const override {
    CISTERN_ASSIGN_OR_RETURN(std::string path, LocalPath(uri));
    CISTERN_ASSIGN_OR_RETURN(std::string tmp, TempFile(path, nonce));
    return absl::StrCat("file://", tmp);
  }

  absl::StatusOr<UfsStatus> GetStatus(std::string_view uri) override {
    CISTERN_ASSIGN_OR_RETURN(std::string path, LocalPath(uri));
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "stat", path);
    return FromStat(BaseName(path), st);
  }

  absl::Status ListDirectory(std::string_view uri,
                             const std::function<absl::Status(const UfsStatus&)>& visit) override {
    CISTERN_ASSIGN_OR_RETURN(std::string path, LocalPath(uri));
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return ErrnoStatus(errno, "list", path);
    absl::Status result;
    while (struct dirent* ent = ::readdir(dir)) {
      std::string_view name = ent->d_name;
      if (name == "." || name == ".." || name.find(kTempNameMarker) != std::string_view::npos) continue;
      struct stat st;
      std::string child = JoinPath(path, name);
      if (::lstat(child.c_str(), &st) != 0) continue;  // raced with a delete
      result = visit(FromStat(name, st));
      if (!result.ok()) break;
    }
    ::closedir(dir);
    return result;
  }

  absl::Status Mkdirs(std::string_view uri, uint32_t mode) override {
    CISTERN_ASSIGN_OR_RETURN(std::string path, LocalPath(uri));
    return MkdirsLocal(path, mode);
  }

  absl::Status Delete(std::string_view uri, bool recursive) override {
    CISTERN_ASSIGN_OR_RETURN(std::string path, LocalPath(uri));
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "delete", path);
    if (!S_ISDIR(st.st_mode)) {
      if (::unlink(path.c_str()) != 0) return ErrnoStatus(errno, "delete", path);
      return absl::OkStatus();
    }
    if (recursive) {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
      if (ec) return ErrnoStatus(ec.value(), "delete", path);
      return absl::OkStatus();
    }
    if (::rmdir(path.c_str()) != 0) return ErrnoStatus(errno, "delete", path);
    return absl::OkStatus();
  }

  absl::Status Rename(std::string_view src_uri, std::string_view dst_uri) override {
    CISTERN_ASSIGN_OR_RETURN(std::string src, LocalPath(src_uri));
    CISTERN_ASSIGN_OR_RETURN(std::string dst, LocalPath(dst_uri));
    CISTERN_RETURN_IF_ERROR(MkdirsLocal(ParentPath(dst), 0755));
    if (::renameat2(AT_FDCWD, src.c_str(), AT_FDCWD, dst.c_str(), RENAME_NOREPLACE) != 0) {
      return ErrnoStatus(errno, absl::StrCat("rename '", src, "' to"), dst);
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<UnderFileSystem> NewLocalUnderFileSystem() {
  return std::make_unique<LocalUnderFileSystem>();
}

}  // namespace cistern::ufs
