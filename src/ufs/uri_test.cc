#include "ufs/uri.h"

#include "gtest/gtest.h"

namespace cistern::ufs {
namespace {

TEST(UriTest, Parses) {
  auto a = ParseUri("/data/x");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->scheme, "file");
  EXPECT_EQ(a->path, "/data/x");
  auto b = ParseUri("file:///data//x/");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->ToString(), "file:///data/x");
  auto c = ParseUri("S3://bucket/key/a");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->scheme, "s3");
  EXPECT_EQ(c->authority, "bucket");
  EXPECT_EQ(c->path, "/key/a");
  EXPECT_EQ(c->Root(), "s3://bucket");
  auto d = ParseUri("s3://bucket");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->path, "/");
}

TEST(UriTest, RejectsBadUris) {
  for (const char* bad : {"", "relative/path", "://x", "file:///../x", "sc heme://x/y"}) {
    auto r = ParseUri(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
}

TEST(UriTest, Joins) {
  EXPECT_EQ(JoinUri("file:///u", "/a/b"), "file:///u/a/b");
  EXPECT_EQ(JoinUri("file:///u/", "a"), "file:///u/a");
  EXPECT_EQ(JoinUri("/u", "/a"), "/u/a");
  EXPECT_EQ(JoinUri("s3://b", "/k"), "s3://b/k");
  EXPECT_EQ(JoinUri("/u", "/"), "/u");
  EXPECT_EQ(JoinUri("file:///", "/a"), "file:///a");
}

}  // namespace
}  // namespace cistern::ufs
