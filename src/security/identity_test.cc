#include "security/identity.h"

#include <unistd.h>

#include "gtest/gtest.h"

namespace cistern::security {
namespace {

TEST(IdentityTest, ProcessUserHasANameAndAPrimaryGroup) {
  Caller me = ProcessUser();
  EXPECT_FALSE(me.user.empty());
  ASSERT_FALSE(me.groups.empty());
  if (::geteuid() == 0) {
    EXPECT_EQ(me.user, "root");
    EXPECT_EQ(me.groups[0], "root");
  }
  EXPECT_TRUE(me.InGroup(me.groups[0]));
  EXPECT_FALSE(me.InGroup("no-such-group-here"));
  EXPECT_EQ(GroupsOfUser(me.user).at(0), me.groups[0]);
  EXPECT_TRUE(GroupsOfUser("no-such-user-here").empty());
}

TEST(IdentityTest, PrincipalNames) {
  EXPECT_TRUE(CheckPrincipalName("user", "alice").ok());
  EXPECT_TRUE(CheckPrincipalName("user", "svc-etl_01@EXAMPLE.COM").ok());
  for (std::string bad : {std::string(""), std::string("a b"), std::string("a,b"), std::string("a:b"),
                          std::string("a\nb"), std::string("a\0b", 3), std::string(256, 'x')}) {
    absl::Status status = CheckPrincipalName("user", bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(status.message().find("user"), std::string::npos);
  }
}

TEST(IdentityTest, CallerDescribesItself) {
  Caller c{"alice", {"staff", "dev"}, "ipv4:10.0.0.5:41234"};
  EXPECT_EQ(c.ToString(), "alice (groups staff,dev) from ipv4:10.0.0.5:41234");
  EXPECT_TRUE(Caller::Internal().internal);
}

}  // namespace
}  // namespace cistern::security
