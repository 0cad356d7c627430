// LeaderTasks: the background work only the serving leader does (the TTL checker, lost-worker
// detection, the persistence scheduler, ...), started when this master gains the leadership and
// paused when it loses it. A single master (local journal) leads from start to stop.
//
// Two kinds of work:
//   - OnGain hooks run once each time leadership is gained, in the order added, before anything
//     else of that leadership (reset soft state, initialize the root mount). A hook that fails
//     is retried while the leadership lasts.
//   - Periodic tasks run every interval on a thread of their own while leading.
// ready() turns true once the hooks of the current leadership have succeeded; the master serves
// clients only then.
//
// Thread safety: Add* before Start; SetLeading is non-blocking and may be called from the
// journal's thread; everything else is thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace cistern::master {

class LeaderTasks {
 public:
  LeaderTasks() = default;
  ~LeaderTasks();

  // `run` gets the term of the leadership it runs for.
  void AddOnGain(std::string name, std::function<absl::Status(uint64_t term)> run);
  void AddPeriodic(std::string name, int64_t interval_ms, std::function<void()> run);

  void Start();
  void SetLeading(bool leading, uint64_t term);
  // Stops every thread; waits for runs in progress.
  void Stop();

  bool ready() const;
  bool leading() const;

 private:
  struct Hook {
    std::string name;
    std::function<absl::Status(uint64_t)> run;
  };
  struct Periodic {
    std::string name;
    int64_t interval_ms;
    std::function<void()> run;
  };
  void RunHooks();
  void RunPeriodic(const Periodic& task);

  std::vector<Hook> hooks_;
  std::vector<Periodic> periodic_;
  std::vector<std::thread> threads_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool leading_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t term_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;        // incremented at every gain
  uint64_t ready_epoch_ ABSL_GUARDED_BY(mu_) = 0;  // epoch whose hooks succeeded
};

}  // namespace cistern::master
