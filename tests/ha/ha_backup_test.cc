// Real masters on loopback: `cistern admin backup` writes a consistent copy of the namespace
// while clients write; a new Raft group started from it (master.metastore.restore_from) has
// exactly what the backup holds, takes writes, and keeps its state across a restart.
#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "ha_cluster.h"

namespace cistern {
namespace {

using testing::CommandResult;
using testing::HaCluster;

bool Exists(rpc::MasterClient* client, const std::string& path) {
  proto::ExistsRequest request;
  request.set_path(path);
  absl::StatusOr<proto::ExistsResponse> response = client->Exists(request);
  EXPECT_TRUE(response.ok()) << path << ": " << response.status();
  return response.ok() && response->exists();
}

absl::Status Mkdir(rpc::MasterClient* client, const std::string& path) {
  proto::CreateDirectoryRequest request;
  request.set_path(path);
  request.set_recursive(true);
  return client->CreateDirectory(request).status();
}

TEST(HaBackupTest, NewGroupStartsFromABackupTakenUnderLoad) {
  const std::string backup = absl::StrCat(::testing::TempDir(), "/cistern-ha-backup-", ::getpid());
  std::filesystem::remove_all(backup);
  // The backup holds the mount table too: the restored group's root mount is still the source
  // group's under-store directory, removed at the end.
  std::string source_dir;
  {
    HaCluster cluster("backup-source", 3);
    source_dir = cluster.dir();
    cluster.StartAll();
    ASSERT_GE(cluster.WaitForLeader(), 0);
    auto client = cluster.Client();
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(Mkdir(client.get(), absl::StrCat("/before/", i)).ok());
    // A writer keeps going while the backup is taken: the backup holds a prefix of its creates.
    std::atomic<bool> stop{false};
    std::atomic<int> written{0};
    std::thread writer([&] {
      auto c = cluster.Client();
      for (int i = 0; !stop; ++i) {
        if (!Mkdir(c.get(), absl::StrCat("/during/", i)).ok()) break;
        written = i + 1;
      }
    });
    struct Joiner {  // also when an assertion returns early
      std::atomic<bool>* stop;
      std::thread* thread;
      ~Joiner() {
        *stop = true;
        if (thread->joinable()) thread->join();
      }
    } joiner{&stop, &writer};
    ASSERT_TRUE(testing::WaitFor([&] { return written.load() >= 20; }, 30000));
    const CommandResult made = cluster.Cli({"admin", "backup", backup});
    ASSERT_EQ(made.exit_code, 0) << made.output;
    EXPECT_TRUE(absl::StrContains(made.output, "written to " + backup)) << made.output;
    stop = true;
    writer.join();
    ASSERT_TRUE(Mkdir(client.get(), "/after").ok());

    // Refused with the offending value: an existing directory, a relative path.
    const CommandResult again = cluster.Cli({"admin", "backup", backup});
    EXPECT_NE(again.exit_code, 0);
    EXPECT_TRUE(absl::StrContains(again.output, "'" + backup + "' exists already")) << again.output;
    const CommandResult relative = cluster.Cli({"admin", "backup", "relative/dir"});
    EXPECT_NE(relative.exit_code, 0);
    EXPECT_TRUE(absl::StrContains(relative.output, "'relative/dir'")) << relative.output;
  }

  // A new group, every master from the same backup.
  HaCluster restored("backup-restored", 3, {"master.metastore.restore_from=" + backup});
  restored.StartAll();
  ASSERT_GE(restored.WaitForLeader(), 0);
  auto client = restored.Client();
  for (int i = 0; i < 50; i += 7) EXPECT_TRUE(Exists(client.get(), absl::StrCat("/before/", i))) << i;
  EXPECT_FALSE(Exists(client.get(), "/after"));
  // The creates the backup holds are a prefix: once one is missing, all later ones are.
  int present = 0;
  while (Exists(client.get(), absl::StrCat("/during/", present))) ++present;
  EXPECT_GT(present, 0);
  for (int i = present; i < present + 20; ++i) EXPECT_FALSE(Exists(client.get(), absl::StrCat("/during/", i))) << i;
  ASSERT_TRUE(Mkdir(client.get(), "/new").ok());
  ASSERT_TRUE(restored.WaitConverged());

  // Restarted, the masters keep their own state (restore_from applies to an empty metastore only).
  for (int i = 0; i < restored.size(); ++i) restored.Kill(i);
  restored.StartAll();
  ASSERT_GE(restored.WaitForLeader(), 0);
  auto after_restart = restored.Client();
  EXPECT_TRUE(Exists(after_restart.get(), "/new"));
  EXPECT_TRUE(Exists(after_restart.get(), "/before/0"));
  ASSERT_TRUE(restored.WaitConverged());
  std::filesystem::remove_all(backup);
  std::filesystem::remove_all(source_dir);
}

}  // namespace
}  // namespace cistern
