#include "client/convert.h"

#include "gtest/gtest.h"

namespace cistern::client {
namespace {

TEST(ConvertTest, EnumNamesRoundTrip) {
  for (WriteType t : {WriteType::kMustCache, WriteType::kCacheThrough, WriteType::kThrough, WriteType::kAsyncThrough}) {
    auto parsed = ParseWriteType(WriteTypeName(t));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, t);
    EXPECT_EQ(FromProto(ToProto(t)), t);
  }
  for (ReadType t : {ReadType::kCache, ReadType::kNoCache, ReadType::kCachePromote}) {
    auto parsed = ParseReadType(ReadTypeName(t));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, t);
  }
  EXPECT_EQ(ToProto(WriteType::kThrough), proto::THROUGH);
  EXPECT_EQ(ToProto(ReadType::kNoCache), proto::NO_CACHE);
  auto bad = ParseWriteType("through");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("through"), absl::string_view::npos);
  EXPECT_FALSE(ParseReadType("").ok());
  EXPECT_FALSE(FromProto(proto::WRITE_TYPE_UNSPECIFIED).has_value());
}

TEST(ConvertTest, PersistenceStates) {
  EXPECT_EQ(FromProto(proto::PERSISTED), PersistenceState::kPersisted);
  EXPECT_EQ(FromProto(proto::NOT_PERSISTED), PersistenceState::kNotPersisted);
  EXPECT_EQ(FromProto(proto::TO_BE_PERSISTED), PersistenceState::kToBePersisted);
  EXPECT_EQ(FromProto(proto::PERSISTENCE_STATE_UNSPECIFIED), PersistenceState::kUnknown);
  EXPECT_EQ(PersistenceStateName(PersistenceState::kPersisted), "PERSISTED");
  EXPECT_EQ(PersistenceStateName(PersistenceState::kNotPersisted), "NOT_PERSISTED");
}

TEST(ConvertTest, FileInfoToFileStatus) {
  proto::FileInfo info;
  info.set_file_id(7);
  info.set_path("/a/b.bin");
  info.set_name("b.bin");
  info.set_kind(proto::FILE);
  info.set_length(100);
  info.set_block_size_bytes(64);
  info.add_block_ids(7 << 24);
  info.add_block_ids((7 << 24) | 1);
  info.set_mode(0640);
  info.set_owner("alice");
  info.set_group("staff");
  info.set_creation_time_ms(1000);
  info.set_modification_time_ms(2000);
  info.set_completed(true);
  info.set_persistence_state(proto::PERSISTED);
  info.set_write_type(proto::CACHE_THROUGH);
  info.set_ufs_path("file:///u/a/b.bin");
  info.set_in_cache_percentage(50);
  info.set_mount_point("/");
  proto::BlockInfo* block = info.add_blocks();
  block->set_block_id(7 << 24);
  block->set_offset(0);
  block->set_length(64);
  proto::BlockLocation* loc = block->add_locations();
  loc->set_worker_id(3);
  loc->mutable_address()->set_host("w3");
  loc->mutable_address()->set_rpc_port(7710);
  loc->set_tier("MEM");

  FileStatus s = ToFileStatus(info);
  EXPECT_EQ(s.file_id, 7u);
  EXPECT_EQ(s.path, "/a/b.bin");
  EXPECT_FALSE(s.is_directory);
  EXPECT_EQ(s.length, 100);
  EXPECT_EQ(s.block_size_bytes, 64);
  EXPECT_EQ(s.block_ids.size(), 2u);
  EXPECT_EQ(s.mode, 0640u);
  EXPECT_EQ(s.owner, "alice");
  EXPECT_EQ(s.group, "staff");
  EXPECT_EQ(s.modification_time_ms, 2000);
  EXPECT_TRUE(s.completed);
  EXPECT_EQ(s.persistence_state, PersistenceState::kPersisted);
  EXPECT_EQ(s.write_type, WriteType::kCacheThrough);
  EXPECT_EQ(s.ufs_path, "file:///u/a/b.bin");
  EXPECT_EQ(s.in_cache_percentage, 50);
  ASSERT_EQ(s.blocks.size(), 1u);
  ASSERT_EQ(s.blocks[0].locations.size(), 1u);
  EXPECT_EQ(s.blocks[0].locations[0].address, "w3:7710");
  EXPECT_EQ(s.blocks[0].locations[0].worker_id, 3u);

  info.set_kind(proto::DIRECTORY);
  EXPECT_TRUE(ToFileStatus(info).is_directory);
}

TEST(ConvertTest, WorkerAndMasterInfo) {
  proto::WorkerInfo w;
  w.set_worker_id(4);
  w.mutable_address()->set_host("127.0.0.1");
  w.mutable_address()->set_rpc_port(7710);
  w.set_state(proto::LOST);
  w.set_capacity_bytes(10);
  w.set_used_bytes(5);
  w.set_block_count(2);
  WorkerSummary s = ToWorkerSummary(w);
  EXPECT_EQ(s.address, "127.0.0.1:7710");
  EXPECT_EQ(s.state, WorkerState::kLost);
  EXPECT_EQ(s.used_bytes, 5);

  proto::GetMasterInfoResponse m;
  m.set_version("0.1.0");
  m.set_cluster_id("c1");
  m.mutable_address()->set_host("m");
  m.mutable_address()->set_rpc_port(7700);
  m.set_inode_count(12);
  m.set_applied_index(99);
  MasterInfo info = ToMasterInfo(m);
  EXPECT_EQ(info.address, "m:7700");
  EXPECT_EQ(info.inode_count, 12);
  EXPECT_EQ(info.applied_index, 99u);
}

}  // namespace
}  // namespace cistern::client
