#include "security/capability.h"

#include "gtest/gtest.h"
#include "security/secrets.h"

namespace cistern::security {
namespace {

proto::BlockCapability Fields() {
  proto::BlockCapability c;
  c.set_file_id(42);
  c.set_access(proto::BLOCK_READ);
  c.set_user("alice");
  c.set_ufs_path("s3://bucket/data/a.bin");
  c.set_mount_id(3);
  c.set_block_size_bytes(64 << 20);
  c.set_file_length(100 << 20);
  return c;
}

TEST(CapabilityTest, IssuedCapabilitiesVerifyUntilTheyExpire) {
  BlockCapabilities caps(CapabilityKey("cluster-secret-0123456789"), 60'000);
  proto::BlockCapability c = caps.Issue(Fields(), 1'000'000);
  EXPECT_EQ(c.expiry_ms(), 1'060'000);
  EXPECT_EQ(c.mac().size(), 32u);
  EXPECT_TRUE(caps.Verify(c, 42, proto::BLOCK_READ, 1'000'000).ok());
  EXPECT_TRUE(caps.Verify(c, 42, proto::BLOCK_READ, 1'060'000).ok());
  absl::Status expired = caps.Verify(c, 42, proto::BLOCK_READ, 1'060'001);
  EXPECT_EQ(expired.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(expired.message().find("expired"), std::string::npos);
}

TEST(CapabilityTest, EveryFieldIsCoveredByTheMac) {
  BlockCapabilities caps(CapabilityKey("cluster-secret-0123456789"), 60'000);
  const proto::BlockCapability good = caps.Issue(Fields(), 0);
  std::vector<proto::BlockCapability> altered(9, good);
  altered[0].set_file_id(43);
  altered[1].set_access(proto::BLOCK_WRITE);
  altered[2].set_user("mallory");
  altered[3].set_expiry_ms(good.expiry_ms() + 1);
  altered[4].set_ufs_path("s3://bucket/secret");
  altered[5].set_mount_id(4);
  altered[6].set_block_size_bytes(1);
  altered[7].set_file_length(1);
  altered[8].mutable_mac()->back() ^= 1;
  for (const proto::BlockCapability& c : altered) {
    absl::Status status = caps.Verify(c, c.file_id(), c.access(), 0);
    EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << c.ShortDebugString();
    EXPECT_NE(status.message().find("does not verify"), std::string::npos) << status;
  }
}

TEST(CapabilityTest, OtherKeysFilesAndAccessesAreRefused) {
  BlockCapabilities caps(CapabilityKey("cluster-secret-0123456789"), 60'000);
  BlockCapabilities other(CapabilityKey("another-secret-0123456789"), 60'000);
  proto::BlockCapability c = caps.Issue(Fields(), 0);
  EXPECT_EQ(other.Verify(c, 42, proto::BLOCK_READ, 0).code(), absl::StatusCode::kPermissionDenied);
  absl::Status wrong_file = caps.Verify(c, 41, proto::BLOCK_READ, 0);
  EXPECT_NE(wrong_file.message().find("not file 41"), std::string::npos) << wrong_file;
  absl::Status wrong_access = caps.Verify(c, 42, proto::BLOCK_WRITE, 0);
  EXPECT_NE(wrong_access.message().find("BLOCK_READ, not BLOCK_WRITE"), std::string::npos) << wrong_access;
  absl::Status missing = caps.Verify(proto::BlockCapability(), 42, proto::BLOCK_READ, 0);
  EXPECT_NE(missing.message().find("no block capability"), std::string::npos) << missing;
}

TEST(CapabilityTest, SigningBytesAreCanonical) {
  proto::BlockCapability a = Fields();
  proto::BlockCapability b = Fields();
  b.set_user("alice");  // same values set again: same bytes
  EXPECT_EQ(CapabilitySigningBytes(a), CapabilitySigningBytes(b));
  // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
  a.set_user("ab");
  a.set_ufs_path("c");
  b.set_user("a");
  b.set_ufs_path("bc");
  EXPECT_NE(CapabilitySigningBytes(a), CapabilitySigningBytes(b));
}

TEST(SecretsTest, DerivedKeysDifferFromTheSecretAndEachOther) {
  const std::string secret = "cluster-secret-0123456789";
  EXPECT_EQ(DaemonToken(secret).size(), 64u);
  EXPECT_EQ(DaemonToken(secret), DaemonToken(secret));
  EXPECT_NE(DaemonToken(secret), DaemonToken("cluster-secret-0123456780"));
  EXPECT_NE(HexEncode(CapabilityKey(secret)), DaemonToken(secret));
  EXPECT_EQ(DaemonToken(secret).find(secret), std::string::npos);
  // RFC 4231 test case 2.
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
}

}  // namespace
}  // namespace cistern::security
