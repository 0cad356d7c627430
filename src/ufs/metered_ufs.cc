#include "ufs/metered_ufs.h"

#include <array>
#include <chrono>

#include "common/metrics.h"

namespace cistern::ufs {
namespace {

enum Op { kOpen, kRead, kCreate, kWrite, kClose, kGetStatus, kList, kMkdirs, kDelete, kRename, kOpCount };
constexpr std::array<const char*, kOpCount> kOpNames = {"open",   "read", "create", "write",  "close",
                                                        "get_status", "list", "mkdirs", "delete", "rename"};

// The series of one mount, shared by the adapter and its readers and streams.
class MountMetrics {
 public:
  explicit MountMetrics(std::string mount) : mount_(std::move(mount)) {
    CounterFamily* requests = Metrics().GetCounterFamily("cistern_ufs_requests_total", "Under-store requests",
                                                         {"mount", "operation"});
    HistogramFamily* latency = Metrics().GetHistogramFamily(
        "cistern_ufs_request_duration_seconds", "Under-store request latency", {"mount", "operation"});
    errors_ = Metrics().GetCounterFamily("cistern_ufs_request_errors_total",
                                         "Under-store requests that failed, by status code",
                                         {"mount", "operation", "code"});
    for (int op = 0; op < kOpCount; ++op) {
      requests_[op] = requests->WithLabels({mount_, kOpNames[op]});
      latency_[op] = latency->WithLabels({mount_, kOpNames[op]});
    }
  }

  // Runs `call` and records it.
  template <typename F>
  auto Record(Op op, F&& call) {
    const auto start = std::chrono::steady_clock::now();
    auto result = call();
    latency_[op]->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    requests_[op]->Increment();
    const absl::Status& status = StatusOf(result);
    if (!status.ok()) {
      errors_->WithLabels({mount_, kOpNames[op], absl::StatusCodeToString(status.code())})->Increment();
    }
    return result;
  }

 private:
  static const absl::Status& StatusOf(const absl::Status& s) { return s; }
  template <typename T>
  static const absl::Status& StatusOf(const absl::StatusOr<T>& s) {
    return s.status();
  }

  const std::string mount_;
  std::array<Counter*, kOpCount> requests_;
  std::array<Histogram*, kOpCount> latency_;
  CounterFamily* errors_;
};

class MeteredReader final : public RandomAccessReader {
 public:
  MeteredReader(std::unique_ptr<RandomAccessReader> base, std::shared_ptr<MountMetrics> metrics)
      : base_(std::move(base)), metrics_(std::move(metrics)) {}
  absl::StatusOr<int64_t> ReadAt(int64_t offset, int64_t n, char* buf) override {
    return metrics_->Record(kRead, [&] { return base_->ReadAt(offset, n, buf); });
  }

 private:
  const std::unique_ptr<RandomAccessReader> base_;
  const std::shared_ptr<MountMetrics> metrics_;
};

class MeteredOutputStream final : public UfsOutputStream {
 public:
  MeteredOutputStream(std::unique_ptr<UfsOutputStream> base, std::shared_ptr<MountMetrics> metrics)
      : base_(std::move(base)), metrics_(std::move(metrics)) {}
  absl::Status Write(std::string_view data) override {
    return metrics_->Record(kWrite, [&] { return base_->Write(data); });
  }
  absl::StatusOr<UfsStatus> Close() override {
    return metrics_->Record(kClose, [&] { return base_->Close(); });
  }
  void Abort() override { base_->Abort(); }
  std::string temp_uri() const override { return base_->temp_uri(); }

 private:
  const std::unique_ptr<UfsOutputStream> base_;
  const std::shared_ptr<MountMetrics> metrics_;
};

class MeteredUnderFileSystem final : public UnderFileSystem {
 public:
  MeteredUnderFileSystem(std::unique_ptr<UnderFileSystem> base, std::string mount)
      : base_(std::move(base)), metrics_(std::make_shared<MountMetrics>(std::move(mount))) {}

  Capabilities capabilities() const override { return base_->capabilities(); }

  absl::StatusOr<std::unique_ptr<RandomAccessReader>> Open(std::string_view path) override {
    auto reader = metrics_->Record(kOpen, [&] { return base_->Open(path); });
    if (!reader.ok()) return reader.status();
    return std::unique_ptr<RandomAccessReader>(new MeteredReader(std::move(*reader), metrics_));
  }
  absl::StatusOr<std::unique_ptr<UfsOutputStream>> Create(std::string_view path, const CreateOptions& options) override {
    auto stream = metrics_->Record(kCreate, [&] { return base_->Create(path, options); });
    if (!stream.ok()) return stream.status();
    return std::unique_ptr<UfsOutputStream>(new MeteredOutputStream(std::move(*stream), metrics_));
  }
  absl::StatusOr<std::string> TempUri(std::string_view path, std::string_view nonce) const override {
    return base_->TempUri(path, nonce);  // computed, not an operation on the store
  }
  absl::StatusOr<UfsStatus> GetStatus(std::string_view path) override {
    return metrics_->Record(kGetStatus, [&] { return base_->GetStatus(path); });
  }
  absl::Status ListDirectory(std::string_view path,
                             const std::function<absl::Status(const UfsStatus&)>& visit) override {
    return metrics_->Record(kList, [&] { return base_->ListDirectory(path, visit); });
  }
  absl::Status Mkdirs(std::string_view path, uint32_t mode) override {
    return metrics_->Record(kMkdirs, [&] { return base_->Mkdirs(path, mode); });
  }
  absl::Status Delete(std::string_view path, bool recursive) override {
    return metrics_->Record(kDelete, [&] { return base_->Delete(path, recursive); });
  }
  absl::Status Rename(std::string_view src, std::string_view dst) override {
    return metrics_->Record(kRename, [&] { return base_->Rename(src, dst); });
  }

 private:
  const std::unique_ptr<UnderFileSystem> base_;
  const std::shared_ptr<MountMetrics> metrics_;
};

}  // namespace

std::unique_ptr<UnderFileSystem> NewMeteredUnderFileSystem(std::unique_ptr<UnderFileSystem> base, std::string mount) {
  return std::make_unique<MeteredUnderFileSystem>(std::move(base), std::move(mount));
}

}  // namespace cistern::ufs
