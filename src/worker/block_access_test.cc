#include "worker/block_access.h"

#include "absl/strings/str_cat.h"
#include "common/block_id.h"
#include "gtest/gtest.h"
#include "security/secrets.h"

namespace cistern::worker {
namespace {

constexpr uint64_t kFile = 42;
constexpr int64_t kBlockSize = 1 << 20;

class BlockAccessTest : public ::testing::Test {
 protected:
  proto::BlockCapability Issue(proto::BlockAccess access, uint64_t file = kFile) {
    proto::BlockCapability c;
    c.set_file_id(file);
    c.set_access(access);
    c.set_user("alice");
    c.set_ufs_path(absl::StrCat("file:///ufs/f", file));
    c.set_mount_id(1);
    c.set_block_size_bytes(kBlockSize);
    c.set_file_length(access == proto::BLOCK_READ ? 3 * kBlockSize / 2 : 0);
    return caps_.Issue(c, clock_.NowMs());
  }
  static proto::UfsBlockSource Source(uint64_t file, int64_t index, int64_t length) {
    proto::UfsBlockSource s;
    s.set_ufs_path(absl::StrCat("file:///ufs/f", file));
    s.set_mount_id(1);
    s.set_offset_in_file(index * kBlockSize);
    s.set_block_length(length);
    return s;
  }

  ManualClock clock_;
  security::BlockCapabilities caps_{security::CapabilityKey("cluster-secret-0123456789"), 60'000};
  BlockAccess access_{&caps_, &clock_};
  security::Caller user_{"bob", {"other"}};
  security::Caller daemon_ = [] {
    security::Caller c;
    c.user = "cistern";
    c.daemon = true;
    return c;
  }();
};

TEST_F(BlockAccessTest, ReadAheadNeedsWhatAReadThroughOfTheBlockNeeds) {
  proto::ReadAheadBlock ahead;
  ahead.set_block_id(MakeBlockId(kFile, 1));
  *ahead.mutable_ufs() = Source(kFile, 1, kBlockSize / 2);
  const proto::BlockCapability read = Issue(proto::BLOCK_READ);
  EXPECT_TRUE(access_.CheckReadAhead("ReadBlock", ahead, read, user_).ok());
  EXPECT_EQ(access_.CheckReadAhead("ReadBlock", ahead, proto::BlockCapability(), user_).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(access_.CheckReadAhead("ReadBlock", ahead, Issue(proto::BLOCK_WRITE), user_).code(),
            absl::StatusCode::kPermissionDenied);
  // Another file's block, or this block with another file's bytes, is not covered.
  proto::ReadAheadBlock other = ahead;
  other.set_block_id(MakeBlockId(kFile + 1, 1));
  EXPECT_EQ(access_.CheckReadAhead("ReadBlock", other, read, user_).code(), absl::StatusCode::kPermissionDenied);
  other = ahead;
  *other.mutable_ufs() = Source(kFile + 1, 1, kBlockSize / 2);
  absl::Status wrong = access_.CheckReadAhead("CacheBlock", other, read, user_);
  EXPECT_EQ(wrong.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(wrong.message().find("CacheBlock"), std::string::npos) << wrong;
  other = ahead;
  other.set_block_id(MakeBlockId(kFile, 2));  // beyond the file's 1.5 blocks
  *other.mutable_ufs() = Source(kFile, 2, kBlockSize);
  EXPECT_EQ(access_.CheckReadAhead("ReadBlock", other, read, user_).code(), absl::StatusCode::kPermissionDenied);
  // Daemons pass, as for their reads.
  EXPECT_TRUE(access_.CheckReadAhead("ReadBlock", other, proto::BlockCapability(), daemon_).ok());
}

TEST_F(BlockAccessTest, OpenLocalBlockNeedsAReadCapabilityForTheBlocksFile) {
  proto::OpenLocalBlockRequest open;
  open.set_block_id(MakeBlockId(kFile, 1));
  EXPECT_EQ(access_.CheckOpenLocal(open, user_).code(), absl::StatusCode::kPermissionDenied);
  *open.mutable_capability() = Issue(proto::BLOCK_READ, kFile + 1);
  EXPECT_EQ(access_.CheckOpenLocal(open, user_).code(), absl::StatusCode::kPermissionDenied);
  *open.mutable_capability() = Issue(proto::BLOCK_WRITE);
  EXPECT_EQ(access_.CheckOpenLocal(open, user_).code(), absl::StatusCode::kPermissionDenied);
  *open.mutable_capability() = Issue(proto::BLOCK_READ);
  EXPECT_TRUE(access_.CheckOpenLocal(open, user_).ok());
  open.set_block_id(MakeBlockId(kFile, 2));  // beyond the file's 1.5 blocks
  EXPECT_EQ(access_.CheckOpenLocal(open, user_).code(), absl::StatusCode::kPermissionDenied);
  clock_.AdvanceMs(60'001);
  open.set_block_id(MakeBlockId(kFile, 1));
  absl::Status expired = access_.CheckOpenLocal(open, user_);
  EXPECT_EQ(expired.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(expired.message().find("expired"), std::string::npos) << expired;
  EXPECT_TRUE(BlockAccess().CheckOpenLocal(open, user_).ok()) << "no checks without capabilities";
}

// Blocks leased ahead in the same call need the same capability: another file's block (or one
// beyond the file) refuses the whole call, naming that block.
TEST_F(BlockAccessTest, OpenLocalBlockChecksEveryBlockLeasedAhead) {
  proto::OpenLocalBlockRequest open;
  open.set_block_id(MakeBlockId(kFile, 0));
  open.add_also_block_ids(MakeBlockId(kFile, 1));
  *open.mutable_capability() = Issue(proto::BLOCK_READ);
  EXPECT_TRUE(access_.CheckOpenLocal(open, user_).ok());
  open.add_also_block_ids(MakeBlockId(kFile + 1, 0));
  absl::Status other = access_.CheckOpenLocal(open, user_);
  EXPECT_EQ(other.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(other.message().find(absl::StrCat(MakeBlockId(kFile + 1, 0))), std::string::npos) << other;
  open.set_also_block_ids(1, MakeBlockId(kFile, 2));  // beyond the file's 1.5 blocks
  EXPECT_EQ(access_.CheckOpenLocal(open, user_).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(access_.CheckOpenLocal(open, daemon_).ok()) << "daemons are not checked";
}

TEST_F(BlockAccessTest, CacheBlockNeedsACapabilityCoveringItsSourceUnlessTheCallerIsADaemon) {
  proto::CacheBlockRequest cache;
  cache.set_block_id(MakeBlockId(kFile, 1));
  *cache.mutable_ufs() = Source(kFile, 1, kBlockSize / 2);
  EXPECT_EQ(access_.CheckCache(cache, user_).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(access_.CheckCache(cache, daemon_).ok());
  *cache.mutable_capability() = Issue(proto::BLOCK_READ);
  EXPECT_TRUE(access_.CheckCache(cache, user_).ok());
  // Another file's bytes, or another range, under this file's block id.
  *cache.mutable_ufs() = Source(kFile + 1, 1, kBlockSize / 2);
  EXPECT_EQ(access_.CheckCache(cache, user_).code(), absl::StatusCode::kPermissionDenied);
  *cache.mutable_ufs() = Source(kFile, 0, kBlockSize);
  EXPECT_EQ(access_.CheckCache(cache, user_).code(), absl::StatusCode::kPermissionDenied);
  *cache.mutable_ufs() = Source(kFile, 1, kBlockSize);
  EXPECT_EQ(access_.CheckCache(cache, user_).code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(BlockAccessTest, ReadBlockByADaemonOrAWriterReadingBackItsCachedBlocks) {
  proto::ReadBlockRequest read;
  read.set_block_id(MakeBlockId(kFile, 0));
  read.set_length(-1);
  EXPECT_EQ(access_.CheckRead(read, user_).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(access_.CheckRead(read, daemon_).ok()) << "a worker persisting the file reads from its peers";
  *read.mutable_capability() = Issue(proto::BLOCK_WRITE);
  EXPECT_TRUE(access_.CheckRead(read, user_).ok()) << "the writer replays its committed blocks";
  // A WRITE capability never reads through to the under-store.
  *read.mutable_ufs() = Source(kFile, 0, kBlockSize);
  EXPECT_EQ(access_.CheckRead(read, user_).code(), absl::StatusCode::kPermissionDenied);
  *read.mutable_capability() = Issue(proto::BLOCK_READ);
  EXPECT_TRUE(access_.CheckRead(read, user_).ok());
  *read.mutable_capability() = Issue(proto::BLOCK_WRITE, kFile + 1);
  read.clear_ufs();
  EXPECT_EQ(access_.CheckRead(read, user_).code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace cistern::worker
