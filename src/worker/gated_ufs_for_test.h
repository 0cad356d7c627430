// Test-only: an in-memory under-store whose reads wait at a gate the test opens byte by byte,
// so tests can observe what a reader gets while a fetch is still in progress and how many
// under-store reads run at once. Register it with UfsRegistry::SetForTest under
// GatedUfs::kRoot; paths are "gated://test/<name>".
#pragma once

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "ufs/under_file_system.h"

namespace cistern::worker {

class GatedUfs : public ufs::UnderFileSystem {
 public:
  static constexpr const char* kRoot = "gated://test";

  // Shared state; the test keeps a pointer after handing the UFS to a registry.
  struct State {
    absl::Mutex mu;
    std::map<std::string, std::string> files ABSL_GUARDED_BY(mu);
    int64_t gate ABSL_GUARDED_BY(mu) = INT64_MAX;  // a read of bytes at or past `gate` waits
    int reads_in_progress ABSL_GUARDED_BY(mu) = 0;
    int max_reads_in_progress ABSL_GUARDED_BY(mu) = 0;
    int64_t bytes_read ABSL_GUARDED_BY(mu) = 0;

    void SetGate(int64_t offset) {
      absl::MutexLock lock(&mu);
      gate = offset;
    }
    int64_t BytesRead() {
      absl::MutexLock lock(&mu);
      return bytes_read;
    }
    int MaxReadsInProgress() {
      absl::MutexLock lock(&mu);
      return max_reads_in_progress;
    }
    int ReadsInProgress() {
      absl::MutexLock lock(&mu);
      return reads_in_progress;
    }
  };

  explicit GatedUfs(std::shared_ptr<State> state) : state_(std::move(state)) {}

  static std::string Uri(const std::string& name) { return absl::StrCat(kRoot, "/", name); }

  ufs::Capabilities capabilities() const override { return {}; }

  absl::StatusOr<std::unique_ptr<ufs::RandomAccessReader>> Open(std::string_view path) override {
    absl::MutexLock lock(&state_->mu);
    if (!state_->files.contains(std::string(path))) return absl::NotFoundError(std::string(path));
    return std::unique_ptr<ufs::RandomAccessReader>(new Reader(state_, std::string(path)));
  }
  absl::StatusOr<std::unique_ptr<ufs::UfsOutputStream>> Create(std::string_view, const ufs::CreateOptions&) override {
    return absl::UnimplementedError("GatedUfs is read-only");
  }
  absl::StatusOr<ufs::UfsStatus> GetStatus(std::string_view path) override {
    absl::MutexLock lock(&state_->mu);
    auto it = state_->files.find(std::string(path));
    if (it == state_->files.end()) return absl::NotFoundError(std::string(path));
    ufs::UfsStatus status;
    status.length = static_cast<int64_t>(it->second.size());
    return status;
  }
  absl::Status ListDirectory(std::string_view, const std::function<absl::Status(const ufs::UfsStatus&)>&) override {
    return absl::UnimplementedError("GatedUfs has no directories");
  }
  absl::Status Mkdirs(std::string_view, uint32_t) override { return absl::UnimplementedError("read-only"); }
  absl::Status Delete(std::string_view, bool) override { return absl::UnimplementedError("read-only"); }
  absl::Status Rename(std::string_view, std::string_view) override { return absl::UnimplementedError("read-only"); }

 private:
  class Reader : public ufs::RandomAccessReader {
   public:
    Reader(std::shared_ptr<State> state, std::string path) : state_(std::move(state)), path_(std::move(path)) {}
    absl::StatusOr<int64_t> ReadAt(int64_t offset, int64_t n, char* buf) override {
      State& s = *state_;
      absl::MutexLock lock(&s.mu);
      s.reads_in_progress++;
      s.max_reads_in_progress = std::max(s.max_reads_in_progress, s.reads_in_progress);
      auto open = [&s, offset, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) { return offset + n <= s.gate; };
      s.mu.Await(absl::Condition(&open));
      s.reads_in_progress--;
      const std::string& data = s.files.at(path_);
      if (offset >= static_cast<int64_t>(data.size())) return 0;
      const int64_t take = std::min<int64_t>(n, static_cast<int64_t>(data.size()) - offset);
      std::memcpy(buf, data.data() + offset, static_cast<size_t>(take));
      s.bytes_read += take;
      return take;
    }

   private:
    const std::shared_ptr<State> state_;
    const std::string path_;
  };

  const std::shared_ptr<State> state_;
};

}  // namespace cistern::worker
