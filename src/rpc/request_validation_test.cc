#include "rpc/request_validation.h"

#include <string>

#include "gtest/gtest.h"

namespace cistern::rpc {
namespace {

// The status is INVALID_ARGUMENT and its message names every one of `parts`.
void ExpectInvalid(const absl::Status& status, std::initializer_list<std::string> parts) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  for (const std::string& part : parts) {
    EXPECT_NE(std::string(status.message()).find(part), std::string::npos) << "'" << part << "' not in " << status;
  }
}

TEST(RequestValidationTest, WellFormedRequestsPass) {
  proto::CreateFileRequest create;
  create.set_path("/a/b");
  create.set_block_size_bytes(64 << 20);
  create.set_write_type(proto::CACHE_THROUGH);
  create.set_mode(0644);
  create.set_operation_id(std::string(16, 'x'));
  EXPECT_TRUE(ValidateRequest(create).ok());

  proto::ReadBlockRequest read;
  read.set_block_id(1 << 24);
  read.set_length(-1);
  read.set_read_type(proto::NO_CACHE);
  EXPECT_TRUE(ValidateRequest(read).ok());

  proto::RegisterWorkerRequest reg;
  reg.mutable_address()->set_host("w1");
  reg.mutable_address()->set_rpc_port(7710);
  reg.add_tiers()->set_alias("MEM");
  EXPECT_TRUE(ValidateRequest(reg).ok());
}

TEST(RequestValidationTest, NumbersOutOfRangeNameFieldAndValue) {
  proto::CreateFileRequest create;
  create.set_path("/f");
  create.set_block_size_bytes(-5);
  ExpectInvalid(ValidateRequest(create), {"CreateFileRequest.block_size_bytes", "-5"});
  create.set_block_size_bytes(int64_t{1} << 40);
  ExpectInvalid(ValidateRequest(create), {"block_size_bytes", "1099511627776"});

  proto::CompleteFileRequest complete;
  complete.set_file_id(7);
  complete.set_length(-1);
  ExpectInvalid(ValidateRequest(complete), {"CompleteFileRequest.length", "-1"});
  complete.set_length(0);
  complete.set_file_id(0);
  ExpectInvalid(ValidateRequest(complete), {"file_id"});

  proto::ReadBlockRequest read;
  read.set_block_id(5);
  read.set_offset(-3);
  ExpectInvalid(ValidateRequest(read), {"ReadBlockRequest.offset", "-3"});
  read.set_offset(0);
  read.set_length(-2);
  ExpectInvalid(ValidateRequest(read), {"ReadBlockRequest.length", "-2"});
  read.set_length(int64_t{1} << 50);
  ExpectInvalid(ValidateRequest(read), {"length", "1125899906842624"});
  read.set_length(10);
  read.mutable_ufs()->set_ufs_path("file:///x");
  read.mutable_ufs()->set_block_length(0);
  ExpectInvalid(ValidateRequest(read), {"ufs.block_length", "0"});
  read.mutable_ufs()->set_block_length(10);
  EXPECT_TRUE(ValidateRequest(read).ok());
  proto::ReadAheadBlock* ahead = read.add_read_ahead();
  ahead->set_block_id(6);
  ExpectInvalid(ValidateRequest(read), {"read_ahead.ufs", "block 6"});
  ahead->mutable_ufs()->set_ufs_path("file:///x");
  ahead->mutable_ufs()->set_block_length(-1);
  ExpectInvalid(ValidateRequest(read), {"read_ahead.ufs.block_length", "-1"});
  ahead->mutable_ufs()->set_block_length(10);
  EXPECT_TRUE(ValidateRequest(read).ok());
  for (int i = 0; i < kMaxReadAheadBlocksPerCall; ++i) *read.add_read_ahead() = *ahead;
  ExpectInvalid(ValidateRequest(read), {"read_ahead", "65 entries", "at most 64"});

  proto::GetStatusRequest stat;
  stat.set_path("/");
  stat.set_sync_interval_ms(-7);
  ExpectInvalid(ValidateRequest(stat), {"sync_interval_ms", "-7"});

  proto::SetAttributeRequest set;
  set.set_path("/f");
  set.set_mode(010000);
  ExpectInvalid(ValidateRequest(set), {"SetAttributeRequest.mode", "010000"});
  set.clear_mode();
  set.set_ttl_ms(-1);
  ExpectInvalid(ValidateRequest(set), {"ttl_ms", "-1"});
  set.clear_ttl_ms();
  set.set_replication_min(3);
  set.set_replication_max(2);
  ExpectInvalid(ValidateRequest(set), {"replication_max", "2"});

  proto::RegisterWorkerRequest reg;
  reg.mutable_address()->set_host("w1");
  reg.mutable_address()->set_rpc_port(70000);
  ExpectInvalid(ValidateRequest(reg), {"address.rpc_port", "70000"});
  reg.mutable_address()->set_rpc_port(1);
  proto::CachedBlock* block = reg.add_blocks();
  block->set_block_id(9);
  block->set_length(-1);
  ExpectInvalid(ValidateRequest(reg), {"blocks.length", "-1"});

  proto::WorkerHeartbeatRequest heartbeat;
  heartbeat.set_worker_id(3);
  heartbeat.add_tiers()->set_alias("MEM");
  heartbeat.mutable_tiers(0)->set_used_bytes(-10);
  ExpectInvalid(ValidateRequest(heartbeat), {"tiers.used_bytes", "-10"});

  proto::WriteBlockHeader header;
  header.set_block_id(1);
  header.set_length_hint(-1);
  ExpectInvalid(ValidateRequest(header), {"WriteBlockHeader.length_hint", "-1"});
}

TEST(RequestValidationTest, OversizedStringsAndListsAreRejected) {
  proto::GetStatusRequest stat;
  stat.set_path("/" + std::string(5000, 'a'));
  ExpectInvalid(ValidateRequest(stat), {"GetStatusRequest.path", "5001 bytes", "longer than 4096"});
  stat.set_path("");
  ExpectInvalid(ValidateRequest(stat), {"path", "must not be empty"});

  proto::DeleteRequest del;
  del.set_path("/x");
  del.set_operation_id(std::string(65, 'o'));
  ExpectInvalid(ValidateRequest(del), {"operation_id", "65 bytes"});

  proto::MountRequest mount;
  mount.set_path("/m");
  mount.set_ufs_uri("s3://b/p");
  for (int i = 0; i < 65; ++i) (*mount.mutable_options())["k" + std::to_string(i)] = "v";
  ExpectInvalid(ValidateRequest(mount), {"MountRequest.options", "65 entries"});

  proto::RegisterWorkerRequest reg;
  reg.mutable_address()->set_host(std::string(300, 'h'));
  reg.mutable_address()->set_rpc_port(1);
  ExpectInvalid(ValidateRequest(reg), {"address.host", "300 bytes"});

  proto::SetAttributeRequest set;
  set.set_path("/f");
  set.set_owner("bad user");
  ExpectInvalid(ValidateRequest(set), {"owner", "'bad user'"});
  set.set_owner("");
  ExpectInvalid(ValidateRequest(set), {"owner", "must not be empty"});
  set.set_owner(std::string(256, 'u'));
  ExpectInvalid(ValidateRequest(set), {"owner", "256 bytes"});
  set.set_owner("alice");
  set.set_group("a,b");
  ExpectInvalid(ValidateRequest(set), {"group", "'a,b'"});
}

TEST(RequestValidationTest, UnknownEnumValuesAreRejectedAtAnyDepth) {
  proto::CreateFileRequest create;
  create.set_path("/f");
  create.set_write_type(static_cast<proto::WriteType>(42));
  ExpectInvalid(ValidateRequest(create), {"CreateFileRequest.write_type", "42", "WriteType"});

  proto::ReadBlockRequest read;
  read.set_block_id(1);
  read.set_read_type(static_cast<proto::ReadType>(-3));
  ExpectInvalid(ValidateRequest(read), {"read_type", "-3"});

  proto::SetAttributeRequest set;
  set.set_path("/f");
  set.set_ttl_action(static_cast<proto::TtlAction>(9));
  ExpectInvalid(ValidateRequest(set), {"ttl_action", "9"});

  proto::RaftMessageBatch batch;
  proto::RaftMessage* message = batch.add_messages();
  message->set_from(1);
  message->set_to(2);
  message->set_type(static_cast<proto::RaftMessageType>(1000));
  ExpectInvalid(ValidateRequest(batch), {"messages.type", "1000", "RaftMessageType"});
  message->set_type(proto::RAFT_APPEND);
  EXPECT_TRUE(ValidateRequest(batch).ok());
  message->set_from(0);
  ExpectInvalid(ValidateRequest(batch), {"messages.from"});
  message->set_from(1);
  proto::RaftApplyEffects* effects = batch.add_effects();
  effects->set_from(1);
  effects->set_first_index(5);
  effects->set_last_index(9);
  EXPECT_TRUE(ValidateRequest(batch).ok());
  effects->set_last_index(4);
  ExpectInvalid(ValidateRequest(batch), {"effects.first_index", "5..4"});
  effects->set_first_index(0);
  effects->set_last_index(0);
  ExpectInvalid(ValidateRequest(batch), {"effects.first_index", "0..0"});
  effects->set_first_index(1);
  effects->set_from(0);
  ExpectInvalid(ValidateRequest(batch), {"effects.from"});

  // An enum inside a repeated message field.
  proto::FileInfo info;
  info.add_blocks()->add_locations();
  info.set_kind(static_cast<proto::FileKind>(77));
  ExpectInvalid(CheckEnumsKnown(info), {"FileInfo.kind", "77"});
}

TEST(RequestValidationTest, PrincipalNames) {
  EXPECT_TRUE(CheckPrincipalName("user", "alice").ok());
  EXPECT_TRUE(CheckPrincipalName("user", "svc-etl_01@REALM").ok());
  ExpectInvalid(CheckPrincipalName("user", "a\nb"), {"user"});
  ExpectInvalid(CheckPrincipalName("group", "a:b"), {"group"});
  ExpectInvalid(CheckPrincipalName("group", std::string("a\0b", 3)), {"group"});
}

}  // namespace
}  // namespace cistern::rpc
