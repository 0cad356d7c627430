// Crash-replay: client threads mutate the namespace of a real cistern-master process while it is
// killed with SIGKILL at a random moment; after a restart, the namespace must hold exactly the
// effects of every acknowledged operation (and nothing that was never attempted). Repeated over
// several rounds on the same metastore.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "rpc/master_client.h"
#include "testing/subprocess.h"

namespace cistern {
namespace {

namespace fs = std::filesystem;
using testing::Subprocess;

enum class Ack { kNotTried, kInFlight, kDone, kFailed };

struct Slot {
  std::atomic<Ack> mkdir{Ack::kNotTried};
  std::atomic<Ack> remove{Ack::kNotTried};
};

class MasterCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::path(::testing::TempDir()) / absl::StrCat("cistern-crash-", ::getpid())).lexically_normal().string();
    fs::remove_all(dir_);
    fs::create_directories(dir_ + "/ufs");
    port_ = testing::PickUnusedPort();
    http_port_ = testing::PickUnusedPort();
    rpc::MasterClientOptions options;
    options.addresses = {absl::StrCat("127.0.0.1:", port_)};
    options.rpc_timeout_ms = 5000;
    options.retry_window_ms = 0;
    client_ = std::make_unique<rpc::MasterClient>(options);
  }
  void TearDown() override {
    if (HasFailure() && master_) std::cerr << master_->OutputTail() << "\n";
    master_.reset();
    fs::remove_all(dir_);
  }
  void StartMaster() {
    const char* build = std::getenv("CISTERN_BUILD_DIR");
    master_ = std::make_unique<Subprocess>(
        std::vector<std::string>{std::string(build ? build : ".") + "/bin/cistern-master", "--conf",
                                 "cistern.home=" + dir_, "--conf", absl::StrCat("master.rpc.port=", port_), "--conf",
                                 absl::StrCat("master.http.port=", http_port_), "--conf",
                                 "master.hostname=127.0.0.1", "--conf", "master.mount.root.ufs=" + dir_ + "/ufs"},
        dir_ + "/master.out");
    ASSERT_TRUE(master_->Start().ok());
    ASSERT_TRUE(testing::WaitFor([&] { return client_->GetMasterInfo({}).ok() || !master_->running(); }, 30000));
    ASSERT_TRUE(master_->running()) << master_->OutputTail();
  }

  std::string dir_;
  int port_ = 0;
  int http_port_ = 0;
  std::unique_ptr<rpc::MasterClient> client_;
  std::unique_ptr<Subprocess> master_;
};

TEST_F(MasterCrashTest, AcknowledgedOperationsSurviveKill9) {
  constexpr int kThreads = 8, kSlots = 4000, kRounds = 3;
  std::mt19937 rng(20261124);
  StartMaster();
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::unique_ptr<Slot[]>> slots;
    for (int t = 0; t < kThreads; ++t) slots.push_back(std::make_unique<Slot[]>(kSlots));
    auto path = [&](int t, int j) { return absl::StrCat("/r", round, "/t", t, "/d", j); };
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int j = 0; j < kSlots && !stop; ++j) {
          Slot& s = slots[t][j];
          proto::CreateDirectoryRequest mkdir;
          mkdir.set_path(path(t, j));
          mkdir.set_recursive(true);
          s.mkdir = Ack::kInFlight;
          s.mkdir = client_->CreateDirectory(mkdir).ok() ? Ack::kDone : Ack::kFailed;
          if (s.mkdir != Ack::kDone) return;  // the master is gone
          if (j % 2 == 1) {
            Slot& prev = slots[t][j - 1];
            proto::DeleteRequest del;
            del.set_path(path(t, j - 1));
            prev.remove = Ack::kInFlight;
            prev.remove = client_->Delete(del).ok() ? Ack::kDone : Ack::kFailed;
            if (prev.remove != Ack::kDone) return;
          }
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 1200));
    master_->Signal(SIGKILL);
    ASSERT_TRUE(master_->Wait(10000).ok());
    stop = true;
    for (auto& th : threads) th.join();
    StartMaster();

    int64_t acknowledged = 0;
    for (int t = 0; t < kThreads; ++t) {
      std::set<std::string> listed;
      proto::ListStatusRequest list;
      list.set_path(absl::StrCat("/r", round, "/t", t));
      absl::Status status = client_->ListStatus(list, [&](const proto::ListStatusResponse& page) {
        for (const auto& info : page.infos()) listed.insert(info.path());
        return absl::OkStatus();
      });
      ASSERT_TRUE(status.ok() || absl::IsNotFound(status)) << status;
      for (int j = 0; j < kSlots; ++j) {
        const Slot& s = slots[t][j];
        const bool present = listed.erase(path(t, j)) > 0;
        if (s.remove == Ack::kDone) {
          EXPECT_FALSE(present) << path(t, j) << ": acknowledged delete lost";
        } else if (s.mkdir == Ack::kDone && s.remove == Ack::kNotTried) {
          EXPECT_TRUE(present) << path(t, j) << ": acknowledged mkdir lost";
        } else if (s.mkdir == Ack::kNotTried) {
          EXPECT_FALSE(present) << path(t, j) << ": appeared without being created";
        }
        acknowledged += (s.mkdir == Ack::kDone) + (s.remove == Ack::kDone);
      }
      EXPECT_TRUE(listed.empty()) << "unexpected entries, e.g. " << *listed.begin();
    }
    EXPECT_GT(acknowledged, 0) << "round " << round << " acknowledged nothing before the kill";
    std::cerr << "round " << round << ": " << acknowledged << " acknowledged operations checked\n";
  }
}

}  // namespace
}  // namespace cistern
