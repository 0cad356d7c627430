#include "ufs/ufs_mounts.h"

#include "gtest/gtest.h"

namespace cistern::ufs {
namespace {

TEST(UfsMountsTest, UriIsUnderRespectsComponentBoundaries) {
  EXPECT_TRUE(UriIsUnder("s3://b/p/x", "s3://b/p"));
  EXPECT_TRUE(UriIsUnder("s3://b/p", "s3://b/p/"));
  EXPECT_TRUE(UriIsUnder("s3://b/anything", "s3://b/"));
  EXPECT_FALSE(UriIsUnder("s3://b/p2/x", "s3://b/p"));
  EXPECT_FALSE(UriIsUnder("s3://c/p/x", "s3://b/p"));
  EXPECT_FALSE(UriIsUnder("gs://b/p/x", "s3://b/p"));
  EXPECT_TRUE(UriIsUnder("/data/x", "file:///data"));
  EXPECT_FALSE(UriIsUnder("not a uri", "s3://b/"));
}

TEST(UfsMountsTest, FindMountByIdThenLongestPrefix) {
  std::vector<UfsMount> mounts = {{1, "s3://b/", {{"s3.region", "a"}}},
                                  {2, "s3://b/deep/er", {{"s3.region", "b"}}},
                                  {3, "s3://b/deep/er", {{"s3.region", "c"}}}};
  EXPECT_EQ(FindMount(mounts, "s3://b/x")->mount_id, 1u);
  EXPECT_EQ(FindMount(mounts, "s3://b/deep/er/f")->mount_id, 2u) << "longest prefix, first of equals";
  EXPECT_EQ(FindMount(mounts, "s3://b/deep/er/f", 3)->mount_id, 3u) << "the named mount";
  EXPECT_EQ(FindMount(mounts, "s3://b/x", 3)->mount_id, 1u) << "a named mount the URI is not under is ignored";
  EXPECT_EQ(FindMount(mounts, "s3://other/x"), nullptr);
}

TEST(UfsMountsTest, SecretsAreRedacted) {
  for (const char* key : {"s3.secret_key", "s3.session_token", "azure.account_key", "azure.sas_token",
                          "azure.connection_string", "gcs.hmac_secret", "gcs.bearer_token",
                          "webhdfs.delegation_token"}) {
    EXPECT_TRUE(IsSecretOption(key)) << key;
  }
  for (const char* key : {"s3.access_key", "s3.endpoint", "gcs.hmac_access_id", "webhdfs.user", "sync_interval"}) {
    EXPECT_FALSE(IsSecretOption(key)) << key;
  }
  MountOptions r = RedactSecrets({{"s3.access_key", "AKIA"}, {"s3.secret_key", "shh"}});
  EXPECT_EQ(r["s3.access_key"], "AKIA");
  EXPECT_EQ(r["s3.secret_key"], kRedacted);
}

}  // namespace
}  // namespace cistern::ufs
