#include "common/thread_pool.h"

#include <atomic>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace cistern {
namespace {

TEST(ThreadPoolTest, RunsTasksInOrderOnOneThread) {
  std::vector<int> order;
  {
    ThreadPool pool("test", 1, 100);
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(pool.TrySchedule([&order, i] { order.push_back(i); }));
  }  // the destructor runs what is queued
  ASSERT_EQ(order.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(order[i], i);
}

TEST(ThreadPoolTest, RefusesWorkBeyondTheQueueBound) {
  absl::Notification release;
  std::atomic<int> ran{0};
  {
    ThreadPool pool("test", 1, 2);
    absl::Notification started;
    ASSERT_TRUE(pool.TrySchedule([&] {
      started.Notify();
      release.WaitForNotification();
      ++ran;
    }));
    started.WaitForNotification();  // the only thread is busy; the queue holds two more
    EXPECT_TRUE(pool.TrySchedule([&] { ++ran; }));
    EXPECT_TRUE(pool.TrySchedule([&] { ++ran; }));
    EXPECT_FALSE(pool.TrySchedule([&] { ++ran; }));
    EXPECT_EQ(pool.queued(), 2u);
    release.Notify();
  }
  EXPECT_EQ(ran.load(), 3);
}

TEST(ThreadPoolTest, RunsTasksConcurrently) {
  ThreadPool pool("test", 4, 100);
  // Four tasks that each wait for all four to have started can only finish if they overlap.
  std::atomic<int> started{0};
  absl::Notification done[4];
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(pool.TrySchedule([&, i] {
      ++started;
      while (started.load() < 4) std::this_thread::yield();
      done[i].Notify();
    }));
  }
  for (auto& d : done) EXPECT_TRUE(d.WaitForNotificationWithTimeout(absl::Seconds(60)));
}

}  // namespace
}  // namespace cistern
