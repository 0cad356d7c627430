#include "common/path.h"

#include "gtest/gtest.h"

namespace cistern {
namespace {

TEST(PathTest, Normalizes) {
  EXPECT_EQ(*NormalizePath("/"), "/");
  EXPECT_EQ(*NormalizePath("//"), "/");
  EXPECT_EQ(*NormalizePath("/a//b/./c/"), "/a/b/c");
  EXPECT_EQ(*NormalizePath("/a/../b"), "/b");
  EXPECT_EQ(*NormalizePath("/a/b/.."), "/a");
}

TEST(PathTest, RejectsBadPathsNamingThem) {
  EXPECT_EQ(NormalizePath("").status().code(), absl::StatusCode::kInvalidArgument);
  auto relative = NormalizePath("a/b");
  ASSERT_FALSE(relative.ok());
  EXPECT_NE(relative.status().message().find("'a/b'"), absl::string_view::npos);
  EXPECT_FALSE(NormalizePath("/..").ok());
  EXPECT_FALSE(NormalizePath("/a/../..").ok());
  EXPECT_FALSE(NormalizePath(std::string("/a\0b", 4)).ok());
  EXPECT_FALSE(NormalizePath("/" + std::string(256, 'x')).ok());
  EXPECT_TRUE(NormalizePath("/" + std::string(255, 'x')).ok());
  std::string longpath;
  while (longpath.size() <= kMaxPathLength) longpath += "/abcdefgh";
  EXPECT_FALSE(NormalizePath(longpath).ok());
}

TEST(PathTest, SplitsAndJoins) {
  EXPECT_TRUE(SplitPath("/").empty());
  EXPECT_EQ(SplitPath("/a/b"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ParentPath("/a/b"), "/a");
  EXPECT_EQ(ParentPath("/a"), "/");
  EXPECT_EQ(ParentPath("/"), "/");
  EXPECT_EQ(BaseName("/a/b"), "b");
  EXPECT_EQ(BaseName("/"), "");
  EXPECT_EQ(JoinPath("/", "a"), "/a");
  EXPECT_EQ(JoinPath("/a", "b"), "/a/b");
  EXPECT_TRUE(IsSameOrDescendant("/a/b", "/a"));
  EXPECT_TRUE(IsSameOrDescendant("/a", "/a"));
  EXPECT_TRUE(IsSameOrDescendant("/a", "/"));
  EXPECT_FALSE(IsSameOrDescendant("/ab", "/a"));
  EXPECT_FALSE(IsSameOrDescendant("/a", "/a/b"));
}

}  // namespace
}  // namespace cistern
