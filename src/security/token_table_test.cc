#include "security/token_table.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "gtest/gtest.h"

namespace cistern::security {
namespace {

TEST(TokenTableTest, ParsesUsersGroupsAndWildcards) {
  auto table = TokenTable::Parse(R"(# tokens
alice-token-0123456789  alice  staff,dev
bob-token-0123456789abc bob     # no groups
shared-secret-0123456789 *
)", "tokens");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->size(), 3u);
  const TokenEntry* alice = table->Lookup("alice-token-0123456789");
  ASSERT_NE(alice, nullptr);
  EXPECT_EQ(alice->user, "alice");
  EXPECT_EQ(alice->groups, (std::vector<std::string>{"staff", "dev"}));
  ASSERT_NE(table->Lookup("bob-token-0123456789abc"), nullptr);
  EXPECT_TRUE(table->Lookup("bob-token-0123456789abc")->groups.empty());
  EXPECT_TRUE(table->Lookup("shared-secret-0123456789")->wildcard());
  EXPECT_EQ(table->Lookup("alice-token-012345678"), nullptr);
  EXPECT_EQ(table->Lookup(""), nullptr);
}

TEST(TokenTableTest, RejectsBadLinesNamingTheLineButNotTheToken) {
  struct Case {
    std::string text;
    std::string expect;
  };
  for (const Case& c : std::vector<Case>{
           {"short alice", "tokens:1: the token has 5 bytes"},
           {"long-enough-token-123 alice\n\nlong-enough-token-456", "tokens:3: expected 'TOKEN USER"},
           {"long-enough-token-123 a b c", "tokens:1: expected"},
           {"long-enough-token-123 al:ice", "tokens:1: user"},
           {"long-enough-token-123 alice staff,,dev", "tokens:1: group"},
           {"long-enough-token-123 alice\nlong-enough-token-123 bob", "tokens:2: this token appears"},
       }) {
    auto table = TokenTable::Parse(c.text, "tokens");
    ASSERT_FALSE(table.ok()) << c.text;
    EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(table.status().message().find(c.expect), std::string::npos) << table.status();
    EXPECT_EQ(table.status().message().find("long-enough-token"), std::string::npos) << "token leaked";
  }
}

TEST(TokenTableTest, LoadRefusesFilesOthersCanRead) {
  char dir[] = "/tmp/token_table_test.XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/tokens";
  std::ofstream(path) << "long-enough-token-123 alice\n";
  ::chmod(path.c_str(), 0644);
  auto open = TokenTable::Load(path);
  EXPECT_EQ(open.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(open.status().message().find("readable"), std::string::npos);
  ::chmod(path.c_str(), 0600);
  auto loaded = TokenTable::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_NE(loaded->Lookup("long-enough-token-123"), nullptr);
  EXPECT_FALSE(TokenTable::Load(std::string(dir) + "/missing").ok());
  std::system((std::string("rm -rf ") + dir).c_str());
}

}  // namespace
}  // namespace cistern::security
