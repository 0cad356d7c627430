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
#include "spdlog/spdlog.h"
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

}  // namespace

UfsWriteRecords::UfsWriteRecords(std::string dir) : dir_(std::move(dir)), run_(std::random_device{}()) {}

absl::StatusOr<std::unique_ptr<UfsWriteRecords>> UfsWriteRecords::Open(std::string dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("create directory '", dir, "' for under-store write records: ", ec.message()));
  return std::unique_ptr<UfsWriteRecords>(new UfsWriteRecords(std::move(dir)));
}

UfsWriteRecords::Record::~Record() {
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
    spdlog::warn("remove under-store write record {}: {}", path_, std::strerror(errno));
  }
}

std::unique_ptr<UfsWriteRecords::Record> UfsWriteRecords::Add(uint64_t mount_id, const ufs::UfsOutputStream& out) {
  const std::string temp = out.temp_uri();
  if (temp.empty()) return nullptr;
  const std::string path = absl::StrCat(dir_, "/", absl::Hex(run_), "-", next_.fetch_add(1), std::string(kRecordSuffix));
  const std::string text = absl::StrCat(mount_id, "\n", temp, "\n");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    spdlog::warn("cannot record the under-store write {} in {}: {}", temp, path, std::strerror(errno));
    return nullptr;
  }
  // Synced, with its directory entry, so that the record survives a power loss too (on a disk
  // tier; a MEM tier loses its records with everything else, and the syncs cost nothing there).
  const bool written =
      ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fdatasync(fd) == 0;
  ::close(fd);
  if (written) {
    const int dir_fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0 || ::fsync(dir_fd) != 0) {
      spdlog::warn("cannot sync the directory {} of under-store write records: {}", dir_, std::strerror(errno));
    }
    if (dir_fd >= 0) ::close(dir_fd);
  }
  if (!written) {
    spdlog::warn("cannot record the under-store write {} in {}", temp, path);
    ::unlink(path.c_str());
    return nullptr;
  }
  return std::make_unique<Record>(path);
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
    if (!std::getline(in, mount_line) || !std::getline(in, temp) || !absl::SimpleAtoi(mount_line, &mount_id) ||
        temp.empty()) {
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
