// raft::Message <-> proto::RaftMessage, the wire form of peer messages (proto/raft.proto).
#pragma once

#include <optional>

#include "absl/status/statusor.h"

#include "cistern/proto/raft.pb.h"
#include "raft/raft.h"

namespace cistern::journal {

void ToProto(const raft::Message& message, proto::RaftMessage* out);
// std::nullopt for a message this build does not understand (a newer peer's type, an entry
// type or a membership it cannot decode).
std::optional<raft::Message> FromProto(const proto::RaftMessage& message);

void ToProto(const raft::SnapshotMeta& meta, proto::RaftSnapshotMeta* out);
absl::StatusOr<raft::SnapshotMeta> FromProto(const proto::RaftSnapshotMeta& meta);
void ToProto(const raft::Entry& entry, proto::RaftEntry* out);
std::optional<raft::Entry> FromProto(const proto::RaftEntry& entry);

}  // namespace cistern::journal
