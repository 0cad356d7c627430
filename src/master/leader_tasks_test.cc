#include "master/leader_tasks.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "gtest/gtest.h"

namespace cistern::master {
namespace {

bool WaitUntil(const std::function<bool()>& condition, int64_t timeout_ms = 10000) {
  for (int64_t waited = 0; !condition(); waited += 5) {
    if (waited > timeout_ms) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

TEST(LeaderTasksTest, RunOnlyWhileLeadingWithHooksFirstAndRetried) {
  LeaderTasks tasks;
  std::atomic<int> gains{0}, hook_failures_left{2}, runs{0};
  std::atomic<uint64_t> hook_term{0};
  tasks.AddOnGain("hook", [&](uint64_t term) {
    if (hook_failures_left.fetch_sub(1) > 0) return absl::UnavailableError("not yet");
    hook_term = term;
    gains.fetch_add(1);
    return absl::OkStatus();
  });
  tasks.AddPeriodic("tick", 5, [&] {
    EXPECT_TRUE(tasks.ready());
    runs.fetch_add(1);
  });
  tasks.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(runs.load(), 0) << "ran without leadership";
  EXPECT_FALSE(tasks.ready());

  tasks.SetLeading(true, 7);
  ASSERT_TRUE(WaitUntil([&] { return runs.load() >= 3; }));
  EXPECT_EQ(gains.load(), 1);  // after two failed attempts
  EXPECT_EQ(hook_term.load(), 7u);
  EXPECT_TRUE(tasks.ready());

  tasks.SetLeading(false, 7);
  EXPECT_FALSE(tasks.ready());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a run in progress may finish
  const int paused_at = runs.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_EQ(runs.load(), paused_at) << "kept running after losing the leadership";

  tasks.SetLeading(true, 9);  // a new leadership: the hooks run again first
  ASSERT_TRUE(WaitUntil([&] { return gains.load() == 2 && runs.load() > paused_at; }));
  EXPECT_EQ(hook_term.load(), 9u);
  tasks.Stop();
}

TEST(LeaderTasksTest, StopsWhileIdleOrFailing) {
  LeaderTasks tasks;
  tasks.AddOnGain("never", [](uint64_t) { return absl::UnavailableError("no"); });
  tasks.AddPeriodic("idle", 1000000, [] {});
  tasks.Start();
  tasks.SetLeading(true, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_FALSE(tasks.ready());
  tasks.Stop();  // returns promptly
}

}  // namespace
}  // namespace cistern::master
