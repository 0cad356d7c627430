#include "journal/raft_wire.h"

namespace cistern::journal {
namespace {

proto::RaftMessageType ToProtoType(raft::MessageType type) {
  switch (type) {
    case raft::MessageType::kPreVote: return proto::RAFT_PRE_VOTE;
    case raft::MessageType::kPreVoteResponse: return proto::RAFT_PRE_VOTE_RESPONSE;
    case raft::MessageType::kVote: return proto::RAFT_VOTE;
    case raft::MessageType::kVoteResponse: return proto::RAFT_VOTE_RESPONSE;
    case raft::MessageType::kAppend: return proto::RAFT_APPEND;
    case raft::MessageType::kAppendResponse: return proto::RAFT_APPEND_RESPONSE;
    case raft::MessageType::kHeartbeat: return proto::RAFT_HEARTBEAT;
    case raft::MessageType::kHeartbeatResponse: return proto::RAFT_HEARTBEAT_RESPONSE;
    case raft::MessageType::kSnapshot: return proto::RAFT_SNAPSHOT;
    case raft::MessageType::kTimeoutNow: return proto::RAFT_TIMEOUT_NOW;
    case raft::MessageType::kReadIndex: return proto::RAFT_READ_INDEX;
    case raft::MessageType::kReadIndexResponse: return proto::RAFT_READ_INDEX_RESPONSE;
  }
  return proto::RAFT_MESSAGE_TYPE_UNSPECIFIED;
}

std::optional<raft::MessageType> FromProtoType(proto::RaftMessageType type) {
  switch (type) {
    case proto::RAFT_PRE_VOTE: return raft::MessageType::kPreVote;
    case proto::RAFT_PRE_VOTE_RESPONSE: return raft::MessageType::kPreVoteResponse;
    case proto::RAFT_VOTE: return raft::MessageType::kVote;
    case proto::RAFT_VOTE_RESPONSE: return raft::MessageType::kVoteResponse;
    case proto::RAFT_APPEND: return raft::MessageType::kAppend;
    case proto::RAFT_APPEND_RESPONSE: return raft::MessageType::kAppendResponse;
    case proto::RAFT_HEARTBEAT: return raft::MessageType::kHeartbeat;
    case proto::RAFT_HEARTBEAT_RESPONSE: return raft::MessageType::kHeartbeatResponse;
    case proto::RAFT_SNAPSHOT: return raft::MessageType::kSnapshot;
    case proto::RAFT_TIMEOUT_NOW: return raft::MessageType::kTimeoutNow;
    case proto::RAFT_READ_INDEX: return raft::MessageType::kReadIndex;
    case proto::RAFT_READ_INDEX_RESPONSE: return raft::MessageType::kReadIndexResponse;
    default: return std::nullopt;
  }
}

}  // namespace

void ToProto(const raft::SnapshotMeta& meta, proto::RaftSnapshotMeta* out) {
  out->set_index(meta.index);
  out->set_term(meta.term);
  out->set_membership(raft::EncodeMembership(meta.membership));
}

absl::StatusOr<raft::SnapshotMeta> FromProto(const proto::RaftSnapshotMeta& in) {
  raft::SnapshotMeta meta;
  meta.index = in.index();
  meta.term = in.term();
  if (!in.membership().empty()) {
    absl::StatusOr<raft::Membership> membership = raft::DecodeMembership(in.membership());
    if (!membership.ok()) return membership.status();
    meta.membership = *std::move(membership);
  }
  return meta;
}

void ToProto(const raft::Entry& e, proto::RaftEntry* out) {
  out->set_term(e.term);
  out->set_index(e.index);
  out->set_data(e.data);
  out->set_type(static_cast<uint32_t>(e.type));
}

std::optional<raft::Entry> FromProto(const proto::RaftEntry& in) {
  if (in.type() != static_cast<uint32_t>(raft::EntryType::kNormal) &&
      in.type() != static_cast<uint32_t>(raft::EntryType::kConfChange)) {
    return std::nullopt;
  }
  return raft::Entry{in.term(), in.index(), in.data(), static_cast<raft::EntryType>(in.type())};
}

void ToProto(const raft::Message& m, proto::RaftMessage* out) {
  out->set_type(ToProtoType(m.type));
  out->set_from(m.from);
  out->set_to(m.to);
  out->set_term(m.term);
  out->set_index(m.index);
  out->set_log_term(m.log_term);
  for (const raft::Entry& e : m.entries) ToProto(e, out->add_entries());
  out->set_commit(m.commit);
  out->set_reject(m.reject);
  out->set_reject_hint(m.reject_hint);
  out->set_seq(m.seq);
  out->set_context(m.context);
  if (m.snapshot.has_value()) ToProto(*m.snapshot, out->mutable_snapshot());
  out->set_leader_transfer(m.leader_transfer);
}

std::optional<raft::Message> FromProto(const proto::RaftMessage& in) {
  std::optional<raft::MessageType> type = FromProtoType(in.type());
  if (!type.has_value()) return std::nullopt;
  raft::Message m;
  m.type = *type;
  m.from = in.from();
  m.to = in.to();
  m.term = in.term();
  m.index = in.index();
  m.log_term = in.log_term();
  m.entries.reserve(in.entries_size());
  for (const proto::RaftEntry& e : in.entries()) {
    std::optional<raft::Entry> entry = FromProto(e);
    if (!entry.has_value()) return std::nullopt;
    m.entries.push_back(*std::move(entry));
  }
  m.commit = in.commit();
  m.reject = in.reject();
  m.reject_hint = in.reject_hint();
  m.seq = in.seq();
  m.context = in.context();
  if (in.has_snapshot()) {
    absl::StatusOr<raft::SnapshotMeta> meta = FromProto(in.snapshot());
    if (!meta.ok()) return std::nullopt;
    m.snapshot = *std::move(meta);
  }
  m.leader_transfer = in.leader_transfer();
  return m;
}

}  // namespace cistern::journal
