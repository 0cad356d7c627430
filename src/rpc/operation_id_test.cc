#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rpc/master_client.h"

namespace cistern::rpc {
namespace {

TEST(NewOperationIdTest, IdsAreUniqueAndSortByTime) {
  std::set<std::string> ids;
  std::string previous;
  for (int i = 0; i < 20000; ++i) {
    std::string id = NewOperationId();
    ASSERT_EQ(id.size(), 16u);
    // The time prefix never goes back within a process (microseconds; the wall clock is not
    // stepped here), and ids of different microseconds sort by time.
    EXPECT_GE(id.substr(0, 8), previous.substr(0, 8)) << "id " << i;
    if (i % 1000 == 0) std::this_thread::sleep_for(std::chrono::microseconds(5));
    previous = id;
    EXPECT_TRUE(ids.insert(std::move(id)).second) << "duplicate id at " << i;
  }
  const std::string first = *ids.begin();
  const std::string later = NewOperationId();
  EXPECT_LT(first, later);
  // Threads draw their random halves independently.
  std::vector<std::string> other(2000);
  std::thread t([&] {
    for (auto& id : other) id = NewOperationId();
  });
  t.join();
  for (const std::string& id : other) EXPECT_TRUE(ids.insert(id).second);
}

}  // namespace
}  // namespace cistern::rpc
