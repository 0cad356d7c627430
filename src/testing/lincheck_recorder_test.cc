// The history recorder under real threads: clients racing on a small store record their
// operations, and the checker judges the recorded history. A correct store (one lock) must pass;
// a store that serves stale reads or acknowledges creates it never applied must not.
#include "testing/lincheck_recorder.h"

#include <atomic>
#include <iostream>
#include <map>
#include <random>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "testing/lincheck_namespace.h"

namespace cistern::lincheck {
namespace {

using In = NamespaceInput;
using Out = NamespaceOutput;

// Files directly under "/", behind one mutex (so linearizable), unless a fault is injected.
class FlatStore {
 public:
  enum class Fault { kNone, kStaleReads, kLostCreates };
  explicit FlatStore(Fault fault) : fault_(fault) {}

  absl::StatusOr<uint64_t> Create(const std::string& path) {
    absl::MutexLock lock(&mu_);
    if (files_.count(path) > 0) return absl::AlreadyExistsError(path);
    const uint64_t id = next_id_++;
    if (fault_ == Fault::kLostCreates && path.rfind("/own", 0) == 0) return id;  // acknowledged, never applied
    files_[path] = id;
    return id;
  }
  absl::Status Rename(const std::string& src, const std::string& dst) {
    absl::MutexLock lock(&mu_);
    auto it = files_.find(src);
    if (it == files_.end()) return absl::NotFoundError(src);
    if (files_.count(dst) > 0) return absl::AlreadyExistsError(dst);
    files_[dst] = it->second;
    files_.erase(src);
    return absl::OkStatus();
  }
  absl::Status Delete(const std::string& path) {
    absl::MutexLock lock(&mu_);
    return files_.erase(path) > 0 ? absl::OkStatus() : absl::NotFoundError(path);
  }
  absl::StatusOr<uint64_t> GetStatus(const std::string& path) {
    absl::MutexLock lock(&mu_);
    const std::map<std::string, uint64_t>& view = fault_ == Fault::kStaleReads ? stale_ : files_;
    auto it = view.find(path);
    if (it == view.end()) return absl::NotFoundError(path);
    return it->second;
  }

 private:
  const Fault fault_;
  absl::Mutex mu_;
  std::map<std::string, uint64_t> files_ ABSL_GUARDED_BY(mu_);
  const std::map<std::string, uint64_t> stale_;  // what a reader stuck at the start sees
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 2;
};

// `clients` threads run random creates, renames, deletes and reads over a few shared names and
// private names (created, then read: a read that must see the create). Some calls "time out":
// the client records an unknown outcome, whether or not the store applied them. Each client's
// choices depend only on the seed; the store's answers depend on the interleaving.
NamespaceHistory RunClients(FlatStore::Fault fault, int clients, int ops_per_client, uint32_t seed) {
  FlatStore store(fault);
  NamespaceRecorder recorder;
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937 rng(seed + c);
      ready.fetch_add(1);
      while (ready.load() < clients) std::this_thread::yield();  // start together
      auto name = [&] { return absl::StrCat("/f", rng() % 4); };
      for (int i = 0; i < ops_per_client; ++i) {
        const bool times_out = rng() % 25 == 0;
        auto finish = [&](NamespaceRecorder::OperationId id, const absl::Status& status, Out out = {}) {
          std::this_thread::yield();  // let other clients' calls overlap this one
          CompleteNamespaceOperation(recorder, id, times_out ? absl::DeadlineExceededError("lost reply") : status, out);
        };
        switch (rng() % 5) {
          case 0: {
            const std::string path = i % 2 == 0 ? name() : absl::StrCat("/own", c, "_", i);
            auto id = recorder.Invoke(c, In::CreateFile(path));
            absl::StatusOr<uint64_t> created = store.Create(path);
            finish(id, created.status(), created.ok() ? Out::Created(*created) : Out{});
            if (i % 2 == 1 && !times_out) {
              auto read = recorder.Invoke(c, In::GetStatus(path));
              absl::StatusOr<uint64_t> found = store.GetStatus(path);
              CompleteNamespaceOperation(recorder, read, found.status(),
                                         found.ok() ? Out::Found(*found, false) : Out{});
            }
            break;
          }
          case 1: {
            const std::string src = name(), dst = name();
            auto id = recorder.Invoke(c, In::Rename(src, dst));
            finish(id, src == dst ? absl::InvalidArgumentError("same") : store.Rename(src, dst));
            break;
          }
          case 2: {
            const std::string path = name();
            auto id = recorder.Invoke(c, In::Delete(path));
            finish(id, store.Delete(path));
            break;
          }
          default: {
            const std::string path = name();
            auto id = recorder.Invoke(c, In::GetStatus(path));
            absl::StatusOr<uint64_t> found = store.GetStatus(path);
            finish(id, found.status(), found.ok() ? Out::Found(*found, false) : Out{});
            break;
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  return recorder.History();
}

// How many operations overlap another one (for the log: the clients did race).
int Overlapping(const NamespaceHistory& history) {
  int overlapping = 0;
  for (size_t i = 0; i < history.size(); ++i) {
    for (size_t j = 0; j < history.size(); ++j) {
      const auto& a = history[i];
      const auto& b = history[j];
      if (i != j && a.client != b.client && a.call_time < b.return_time && b.call_time < a.return_time) {
        ++overlapping;
        break;
      }
    }
  }
  return overlapping;
}

TEST(HistoryRecorder, CorrectStorePassesUnderRacingClients) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    NamespaceHistory history = RunClients(FlatStore::Fault::kNone, 4, 300, seed);
    CheckResult result = Check(NamespaceModel(), history);
    std::cerr << "seed " << seed << ": " << Overlapping(history) << " of " << history.size()
              << " operations overlap another client's; " << result.summary << "\n";
    EXPECT_EQ(result.verdict, Verdict::kLinearizable) << "seed " << seed << ": " << result.summary << "\n"
                                                      << result.report;
  }
}

TEST(HistoryRecorder, StaleReadsAreCaught) {
  NamespaceHistory history = RunClients(FlatStore::Fault::kStaleReads, 4, 300, 7);
  CheckResult result = Check(NamespaceModel(), history);
  EXPECT_EQ(result.verdict, Verdict::kNotLinearizable) << result.summary;
}

TEST(HistoryRecorder, AcknowledgedButLostCreatesAreCaught) {
  NamespaceHistory history = RunClients(FlatStore::Fault::kLostCreates, 4, 300, 11);
  CheckResult result = Check(NamespaceModel(), history);
  EXPECT_EQ(result.verdict, Verdict::kNotLinearizable) << result.summary;
}

TEST(HistoryRecorder, TimestampsOrderEveryEventAndOpenCallsAreUnknown) {
  NamespaceRecorder recorder;
  auto a = recorder.Invoke(0, In::CreateFile("/a"));
  auto b = recorder.Invoke(1, In::GetStatus("/a"));
  recorder.Ok(a, Out::Created(2));
  auto c = recorder.Invoke(1, In::Delete("/a"));
  recorder.Fail(c);
  auto d = recorder.Invoke(2, In::Exists("/a"));
  recorder.Info(d);
  NamespaceHistory history = recorder.History();
  ASSERT_EQ(history.size(), 4u);
  EXPECT_EQ(recorder.size(), 4u);
  EXPECT_LT(history[0].call_time, history[1].call_time);
  EXPECT_LT(history[1].call_time, history[0].return_time);
  EXPECT_LT(history[0].return_time, history[2].call_time);
  EXPECT_LT(history[2].call_time, history[2].return_time);
  EXPECT_EQ(history[0].outcome, Outcome::kOk);
  EXPECT_EQ(history[1].outcome, Outcome::kInfo);  // b never completed
  EXPECT_EQ(history[2].outcome, Outcome::kFail);
  EXPECT_EQ(history[3].outcome, Outcome::kInfo);
  EXPECT_FALSE(history[1].output.has_value());
  (void)b;
}

TEST(HistoryRecorderDeathTest, CompletingTwiceIsABug) {
  NamespaceRecorder recorder;
  auto a = recorder.Invoke(0, In::CreateFile("/a"));
  recorder.Ok(a, Out::Created(2));
  EXPECT_DEATH(recorder.Fail(a), "completed twice");
}

}  // namespace
}  // namespace cistern::lincheck
