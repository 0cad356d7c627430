#include "journal/raft_wire.h"

#include "gtest/gtest.h"

namespace cistern::journal {
namespace {

TEST(RaftWireTest, EveryFieldRoundTrips) {
  raft::Message m;
  m.type = raft::MessageType::kAppendResponse;
  m.from = 3;
  m.to = 1;
  m.term = 7;
  m.index = 41;
  m.log_term = 6;
  m.entries = {{6, 41, "x"}, {7, 42, std::string("\0y", 2), raft::EntryType::kConfChange}};
  m.commit = 40;
  m.reject = true;
  m.reject_hint = 39;
  m.seq = 12;
  m.context = "ctx";
  raft::SnapshotMeta meta;
  meta.index = 30;
  meta.term = 5;
  meta.membership.voters = {1, 2, 3};
  meta.membership.learners = {4};
  meta.membership.contexts[4] = "4@h:1:2";
  m.snapshot = meta;
  m.leader_transfer = true;
  proto::RaftMessage wire;
  ToProto(m, &wire);
  proto::RaftMessage parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire.SerializeAsString()));
  std::optional<raft::Message> back = FromProto(parsed);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->type, m.type);
  EXPECT_EQ(back->from, m.from);
  EXPECT_EQ(back->to, m.to);
  EXPECT_EQ(back->term, m.term);
  EXPECT_EQ(back->index, m.index);
  EXPECT_EQ(back->log_term, m.log_term);
  EXPECT_EQ(back->entries, m.entries);
  EXPECT_EQ(back->commit, m.commit);
  EXPECT_EQ(back->reject, m.reject);
  EXPECT_EQ(back->reject_hint, m.reject_hint);
  EXPECT_EQ(back->seq, m.seq);
  EXPECT_EQ(back->context, m.context);
  EXPECT_EQ(back->snapshot, m.snapshot);
  EXPECT_EQ(back->leader_transfer, m.leader_transfer);
}

TEST(RaftWireTest, UnknownTypeIsDropped) {
  proto::RaftMessage wire;
  wire.set_type(static_cast<proto::RaftMessageType>(99));
  EXPECT_FALSE(FromProto(wire).has_value());
  wire.set_type(proto::RAFT_MESSAGE_TYPE_UNSPECIFIED);
  EXPECT_FALSE(FromProto(wire).has_value());
}

}  // namespace
}  // namespace cistern::journal
