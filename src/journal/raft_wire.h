// raft::Message <-> proto::RaftMessage, the wire form of peer messages (proto/raft.proto).
#pragma once

#include <optional>

#include "cistern/proto/raft.pb.h"
#include "raft/raft.h"

namespace cistern::journal {

void ToProto(const raft::Message& message, proto::RaftMessage* out);
// std::nullopt for a message this build does not understand (e.g. a newer peer's type).
std::optional<raft::Message> FromProto(const proto::RaftMessage& message);

}  // namespace cistern::journal
