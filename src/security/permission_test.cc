#include "security/permission.h"

#include "gtest/gtest.h"

namespace cistern::security {
namespace {

const PermissionChecker kChecker(PermissionOptions{true, "hdfs", "supergroup"});

Caller User(std::string name, std::vector<std::string> groups = {}) { return Caller{std::move(name), std::move(groups)}; }

TEST(PermissionTest, OwnerGroupOtherClassesDoNotFallThrough) {
  const Ownership file{"alice", "staff", 0640};
  EXPECT_TRUE(kChecker.Check(User("alice"), file, kRead | kWrite, "/f").ok());
  EXPECT_FALSE(kChecker.Check(User("alice"), file, kExecute, "/f").ok());
  EXPECT_TRUE(kChecker.Check(User("bob", {"staff"}), file, kRead, "/f").ok());
  EXPECT_FALSE(kChecker.Check(User("bob", {"staff"}), file, kWrite, "/f").ok());
  EXPECT_FALSE(kChecker.Check(User("carol", {"users"}), file, kRead, "/f").ok());
  // The owner class applies to the owner even when the group or others have more.
  const Ownership odd{"alice", "staff", 0077};
  EXPECT_FALSE(kChecker.Check(User("alice", {"staff"}), odd, kRead, "/odd").ok());
  EXPECT_TRUE(kChecker.Check(User("bob", {"staff"}), odd, kRead | kWrite | kExecute, "/odd").ok());
}

TEST(PermissionTest, DenialsNameUserAccessPathAndInode) {
  absl::Status denied = kChecker.Check(User("bob"), Ownership{"alice", "staff", 0600}, kRead, "/home/alice/f");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.message(),
            "permission denied: user bob may not read '/home/alice/f' (owner alice, group staff, mode 0600)");
  EXPECT_NE(kChecker.Check(User("bob"), Ownership{"a", "g", 0}, kWrite | kExecute, "/d").message().find("write+execute"),
            std::string::npos);
}

TEST(PermissionTest, SuperusersPassEverything) {
  const Ownership secret{"alice", "staff", 0000};
  EXPECT_TRUE(kChecker.Check(User("hdfs"), secret, kRead | kWrite | kExecute, "/s").ok());
  EXPECT_TRUE(kChecker.Check(User("ops", {"supergroup"}), secret, kRead, "/s").ok());
  EXPECT_TRUE(kChecker.Check(Caller::Internal(), secret, kRead, "/s").ok());
  Caller daemon = User("worker");
  daemon.daemon = true;
  EXPECT_TRUE(kChecker.Check(daemon, secret, kWrite, "/s").ok());
  EXPECT_TRUE(kChecker.CheckSuperuser(User("hdfs"), "mount").ok());
  absl::Status refused = kChecker.CheckSuperuser(User("alice"), "mount '/m'");
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(refused.message().find("only the superuser (hdfs, or a member of group supergroup) may mount '/m'"),
            std::string::npos)
      << refused;
}

TEST(PermissionTest, OwnerAndStickyRules) {
  const Ownership file{"alice", "staff", 0777};
  EXPECT_TRUE(kChecker.CheckOwner(User("alice"), file, "/f", "chmod").ok());
  EXPECT_TRUE(kChecker.CheckOwner(User("hdfs"), file, "/f", "chmod").ok());
  absl::Status refused = kChecker.CheckOwner(User("bob"), file, "/f", "chmod");
  EXPECT_NE(refused.message().find("only the owner or the superuser may chmod '/f'"), std::string::npos) << refused;

  const Ownership tmp{"root", "root", 01777};
  EXPECT_TRUE(kChecker.CheckSticky(User("alice"), tmp, file, "/tmp/f").ok());
  EXPECT_FALSE(kChecker.CheckSticky(User("bob"), tmp, file, "/tmp/f").ok());
  EXPECT_TRUE(kChecker.CheckSticky(User("root"), tmp, file, "/tmp/f").ok());  // the directory's owner
  EXPECT_TRUE(kChecker.CheckSticky(User("bob"), Ownership{"root", "root", 0777}, file, "/d/f").ok());
}

TEST(PermissionTest, DisabledChecksPassButSuperuserStillKnown) {
  PermissionChecker off(PermissionOptions{false, "hdfs", "supergroup"});
  EXPECT_TRUE(off.Check(User("bob"), Ownership{"alice", "staff", 0}, kRead, "/f").ok());
  EXPECT_TRUE(off.CheckSuperuser(User("bob"), "mount").ok());
  EXPECT_FALSE(off.IsSuperuser(User("bob")));
}

}  // namespace
}  // namespace cistern::security
