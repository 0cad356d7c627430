#include "security/token_table.h"

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

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

class TokenStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/token_store_test.XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/tokens";
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  // Replaces the file the way docs/security.md tells operators to: a new file renamed over it.
  void Replace(const std::string& text, mode_t mode = 0600) {
    const std::string next = path_ + ".next";
    std::ofstream(next) << text;
    ASSERT_EQ(::chmod(next.c_str(), mode), 0);
    ASSERT_EQ(std::rename(next.c_str(), path_.c_str()), 0);
  }

  std::string dir_;
  std::string path_;
};

TEST_F(TokenStoreTest, ReloadsAChangedFileAddingAndRevokingTokens) {
  Replace("alice-token-0123456789 alice staff\n");
  auto store = TokenStore::Open(path_, /*check_interval_ms=*/0);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Lookup("alice-token-0123456789").has_value());
  EXPECT_TRUE((*store)->ReloadIfChanged().ok());  // unchanged
  EXPECT_EQ((*store)->reloads(), 0);

  Replace("bob-token-0123456789abc bob\n");
  // With no check interval nothing is re-read on lookups...
  EXPECT_TRUE((*store)->Lookup("alice-token-0123456789").has_value());
  EXPECT_FALSE((*store)->Lookup("bob-token-0123456789abc").has_value());
  // ...but an explicit reload sees the change: bob added, alice revoked.
  ASSERT_TRUE((*store)->ReloadIfChanged().ok());
  EXPECT_EQ((*store)->reloads(), 1);
  EXPECT_FALSE((*store)->Lookup("alice-token-0123456789").has_value());
  auto bob = (*store)->Lookup("bob-token-0123456789abc");
  ASSERT_TRUE(bob.has_value());
  EXPECT_EQ(bob->user, "bob");
  EXPECT_EQ((*store)->size(), 1u);
}

TEST_F(TokenStoreTest, LookupsRereadTheFileOnceTheCheckIntervalPassed) {
  Replace("alice-token-0123456789 alice\n");
  auto store = TokenStore::Open(path_, /*check_interval_ms=*/20);
  ASSERT_TRUE(store.ok()) << store.status();
  Replace("carol-token-0123456789 carol\n");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!(*store)->Lookup("carol-token-0123456789").has_value() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE((*store)->Lookup("carol-token-0123456789").has_value());
  EXPECT_FALSE((*store)->Lookup("alice-token-0123456789").has_value());
}

TEST_F(TokenStoreTest, AChangedFileThatCannotBeLoadedKeepsThePreviousTokens) {
  Replace("alice-token-0123456789 alice\n");
  auto store = TokenStore::Open(path_, 0);
  ASSERT_TRUE(store.ok()) << store.status();
  Replace("alice-token-0123456789 alice\nshort bob\n");  // a bad line
  absl::Status bad = (*store)->ReloadIfChanged();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument) << bad;
  EXPECT_NE(bad.message().find(":2: the token has 5 bytes"), std::string::npos) << bad;
  EXPECT_TRUE((*store)->Lookup("alice-token-0123456789").has_value());
  Replace("dave-token-0123456789 dave\n", 0644);  // readable by everyone
  EXPECT_NE((*store)->ReloadIfChanged().message().find("readable"), std::string::npos);
  EXPECT_FALSE((*store)->Lookup("dave-token-0123456789").has_value());
  ASSERT_EQ(std::remove(path_.c_str()), 0);  // gone
  EXPECT_FALSE((*store)->ReloadIfChanged().ok());
  EXPECT_TRUE((*store)->Lookup("alice-token-0123456789").has_value());
  EXPECT_EQ((*store)->reloads(), 0);
  Replace("dave-token-0123456789 dave\n");  // fixed
  ASSERT_TRUE((*store)->ReloadIfChanged().ok());
  EXPECT_TRUE((*store)->Lookup("dave-token-0123456789").has_value());
  EXPECT_FALSE((*store)->Lookup("alice-token-0123456789").has_value());
}

TEST(TokenStoreFixedTest, NeverChanges) {
  auto table = TokenTable::Parse("alice-token-0123456789 alice\n", "tokens");
  ASSERT_TRUE(table.ok());
  auto store = TokenStore::Fixed(*std::move(table));
  EXPECT_TRUE(store->ReloadIfChanged().ok());
  EXPECT_TRUE(store->Lookup("alice-token-0123456789").has_value());
  EXPECT_FALSE(store->Lookup("bob").has_value());
}

}  // namespace
}  // namespace cistern::security
