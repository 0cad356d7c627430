#include "worker/ufs_write_records.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"
#include "spdlog/spdlog.h"
#include "worker/storage_dir.h"
#include "worker/ufs_fetcher.h"

namespace cistern::worker {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kRecordSuffix = ".rec";

// The last path component of a URI.
std::string_view BaseNameOf(std::string_view uri) {
  const size_t slash = uri.rfind('/');
  return slash == std::string_view::npos ? uri : uri.substr(slash + 1);
}

// 64 random bits: two workers writing into one under-store directory never pick one name.
uint64_t RandomRun() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

void RemoveRecord(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    spdlog::warn("remove under-store write record {}: {}", path, std::strerror(errno));
  }
}

// The adapter's stream with the write's record, which it removes once the adapter's stream is
// gone and with it the temporary file: renamed by a successful Close, else removed by the
// adapter's abort, which is checked (a store that could not delete it keeps the record for the
// next start's CleanUp).
class RecordedOutputStream final : public ufs::UfsOutputStream {
 public:
  RecordedOutputStream(std::unique_ptr<ufs::UfsOutputStream> base, ufs::UnderFileSystem* store, std::string temp,
                       std::string record)
      : base_(std::move(base)), store_(store), temp_(std::move(temp)), record_(std::move(record)) {}
  ~RecordedOutputStream() override {
    base_.reset();
    if (!closed_) {
      absl::StatusOr<ufs::UfsStatus> left = store_->GetStatus(temp_);
      if (!absl::IsNotFound(left.status())) {
        spdlog::warn("the temporary file {} of an aborted under-store write is not seen gone ({}); keeping its record "
                     "{} for the next start",
                     temp_, left.ok() ? "still there" : left.status().ToString(), record_);
        return;
      }
    }
    RemoveRecord(record_);
  }

  absl::Status Write(std::string_view data) override { return base_->Write(data); }
  absl::StatusOr<ufs::UfsStatus> Close() override {
    absl::StatusOr<ufs::UfsStatus> status = base_->Close();
    closed_ = status.ok();
    return status;
  }
  void Abort() override { base_->Abort(); }
  std::string temp_uri() const override { return base_->temp_uri(); }

 private:
  std::unique_ptr<ufs::UfsOutputStream> base_;
  ufs::UnderFileSystem* const store_;
  const std::string temp_;
  const std::string record_;
  bool closed_ = false;
};

}  // namespace

UfsWriteRecords::UfsWriteRecords(std::string dir) : dir_(std::move(dir)), run_(RandomRun()) {}

absl::StatusOr<std::unique_ptr<UfsWriteRecords>> UfsWriteRecords::Open(std::string dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("create directory '", dir, "' for under-store write records: ", ec.message()));
  return std::unique_ptr<UfsWriteRecords>(new UfsWriteRecords(std::move(dir)));
}

absl::StatusOr<std::string> UfsWriteRecords::Write(uint64_t mount_id, const std::string& temp_uri, uint64_t seq) {
  const std::string path =
      absl::StrCat(dir_, "/", absl::Hex(run_, absl::kZeroPad16), "-", seq, std::string(kRecordSuffix));
  const std::string text = absl::StrCat(mount_id, "\n", temp_uri, "\n");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, "create", path);
  // Synced, with its directory entry, so that the record survives a power loss too (on a disk
  // tier; a MEM tier loses its records with everything else, and the syncs cost nothing there).
  absl::Status status;
  const ssize_t w = ::write(fd, text.data(), text.size());
  if (w != static_cast<ssize_t>(text.size())) {
    status = w < 0 ? ErrnoStatus(errno, "write", path)
                   : absl::ResourceExhaustedError(absl::StrCat("short write to '", path, "'"));
  } else if (::fdatasync(fd) != 0) {
    status = ErrnoStatus(errno, "sync", path);
  }
  ::close(fd);
  if (status.ok()) {
    const int dir_fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0 || ::fsync(dir_fd) != 0) status = ErrnoStatus(errno, "sync directory", dir_);
    if (dir_fd >= 0) ::close(dir_fd);
  }
  if (!status.ok()) {
    ::unlink(path.c_str());
    return status;
  }
  return path;
}

absl::StatusOr<std::unique_ptr<ufs::UfsOutputStream>> UfsWriteRecords::Create(ufs::UnderFileSystem* store,
                                                                             uint64_t mount_id, std::string_view uri,
                                                                             ufs::CreateOptions options) {
  const uint64_t seq = next_.fetch_add(1);
  options.temp_nonce = absl::StrFormat("%016x-%d", run_, seq);
  CISTERN_ASSIGN_OR_RETURN(const std::string temp, store->TempUri(uri, options.temp_nonce));
  if (temp.empty()) return store->Create(uri, options);  // nothing the write could leave behind
  absl::StatusOr<std::string> record = Write(mount_id, temp, seq);
  if (!record.ok()) {
    // Refused rather than run unrecorded: a kill would then leave its temporary file for ever.
    return Annotate(record.status(), absl::StrCat("record the under-store write of '", std::string(uri),
                                                  "' (refused: its temporary file could outlive a crash unrecorded)"));
  }
  absl::StatusOr<std::unique_ptr<ufs::UfsOutputStream>> out = store->Create(uri, options);
  if (!out.ok()) {
    RemoveRecord(*record);  // a failed Create leaves nothing behind
    return out.status();
  }
  if ((*out)->temp_uri() != temp) {
    // An adapter whose TempUri and Create disagree would defeat the records: fail loudly.
    const std::string actual = (*out)->temp_uri();
    out->reset();  // aborted: its temporary file is removed
    RemoveRecord(*record);
    return absl::InternalError(absl::StrCat("under-store adapter of '", std::string(uri),
                                            "' writes the temporary file '", actual, "', not the '", temp,
                                            "' it announced"));
  }
  return std::unique_ptr<ufs::UfsOutputStream>(
      new RecordedOutputStream(*std::move(out), store, temp, *std::move(record)));
}

UfsWriteRecords::CleanUpResult UfsWriteRecords::CleanUp(UfsRegistry* ufs) {
  CleanUpResult result;
  std::vector<fs::path> records;
  std::error_code ec;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    records.push_back(it->path());
  }
  if (ec) spdlog::warn("list under-store write records in {}: {}", dir_, ec.message());
  for (const fs::path& record : records) {
    const std::string name = record.filename().string();
    auto drop_record = [&] { fs::remove(record, ec); };
    if (name.size() <= kRecordSuffix.size() || name.substr(name.size() - kRecordSuffix.size()) != kRecordSuffix) {
      spdlog::warn("under-store write records: removing {} (not a record)", record.string());
      drop_record();
      continue;
    }
    std::ifstream in(record);
    std::string mount_line, temp;
    uint64_t mount_id = 0;
    // A record is written whole before its file is created: a torn one (no final newline) names
    // nothing that was ever created.
    if (!std::getline(in, mount_line) || !std::getline(in, temp) || in.eof() ||
        !absl::SimpleAtoi(mount_line, &mount_id) || temp.empty()) {
      spdlog::warn("under-store write records: removing {} (unreadable)", record.string());
      drop_record();
      continue;
    }
    if (BaseNameOf(temp).find(ufs::kTempNameMarker) == std::string_view::npos) {
      spdlog::warn("under-store write records: {} names {}, which is not a temporary file; not deleting it",
                   record.string(), temp);
      drop_record();
      continue;
    }
    absl::StatusOr<ufs::UnderFileSystem*> store = ufs->Get(temp, mount_id);
    if (!store.ok()) {
      spdlog::warn("under-store write records: cannot reach the store of {} ({}); trying at the next start", temp,
                   store.status().ToString());
      ++result.kept;
      continue;
    }
    absl::Status deleted = (*store)->Delete(temp, /*recursive=*/false);
    if (deleted.ok()) {
      spdlog::info("deleted {}, left by an under-store write of this worker that never ended", temp);
      ++result.deleted;
    } else if (absl::IsNotFound(deleted)) {
      ++result.gone;
    } else {
      spdlog::warn("under-store write records: delete {}: {}; trying at the next start", temp, deleted.ToString());
      ++result.kept;
      continue;
    }
    drop_record();
  }
  return result;
}

}  // namespace cistern::worker
