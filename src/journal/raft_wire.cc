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
    default: return std::nullopt;
  }
}

}  // namespace

void ToProto(const raft::Message& m, proto::RaftMessage* out) {
  out->set_type(ToProtoType(m.type));
  out->set_from(m.from);
  out->set_to(m.to);
  out->set_term(m.term);
  out->set_index(m.index);
  out->set_log_term(m.log_term);
  for (const raft::Entry& e : m.entries) {
    proto::RaftEntry* entry = out->add_entries();
    entry->set_term(e.term);
    entry->set_index(e.index);
    entry->set_data(e.data);
  }
  out->set_commit(m.commit);
  out->set_reject(m.reject);
  out->set_reject_hint(m.reject_hint);
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
  for (const proto::RaftEntry& e : in.entries()) m.entries.push_back(raft::Entry{e.term(), e.index(), e.data()});
  m.commit = in.commit();
  m.reject = in.reject();
  m.reject_hint = in.reject_hint();
  return m;
}

}  // namespace cistern::journal
