#include "raft/membership.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace cistern::raft {
namespace {

constexpr uint8_t kMembershipVersion = 1;
constexpr uint8_t kConfChangeVersion = 1;

void PutFixed64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Reads from a byte string; every read reports whether enough bytes were left.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool Byte(uint8_t& v) {
    if (pos_ >= data_.size()) return false;
    v = static_cast<uint8_t>(data_[pos_++]);
    return true;
  }
  bool Fixed64(uint64_t& v) {
    if (data_.size() - pos_ < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    pos_ += 8;
    return true;
  }
  bool Varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b;
      if (!Byte(b)) return false;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;  // more than 10 bytes
  }
  bool Bytes(uint64_t n, std::string& out) {
    if (data_.size() - pos_ < n) return false;
    out.assign(data_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  size_t remaining() const { return data_.size() - pos_; }
  std::string_view rest() const { return data_.substr(pos_); }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

absl::Status Truncated(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("raft membership encoding: truncated ", what));
}

absl::Status ReadIds(Reader& r, absl::string_view what, std::set<NodeId>& out) {
  uint64_t n;
  if (!r.Varint(n)) return Truncated(what);
  if (n > r.remaining() / 8) return Truncated(what);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t id;
    if (!r.Fixed64(id)) return Truncated(what);
    if (id == kNoNode) return absl::DataLossError(absl::StrCat("raft membership encoding: node id 0 in ", what));
    if (!out.insert(id).second) {
      return absl::DataLossError(absl::StrCat("raft membership encoding: node ", id, " twice in ", what));
    }
  }
  return absl::OkStatus();
}

std::string Ids(const std::set<NodeId>& ids) { return absl::StrJoin(ids, ","); }

}  // namespace

std::string Membership::DebugString() const {
  return absl::StrCat("voters={", Ids(voters), "} learners={", Ids(learners), "}");
}

const char* ConfChangeTypeName(ConfChangeType type) {
  switch (type) {
    case ConfChangeType::kAddLearner: return "AddLearner";
    case ConfChangeType::kAddVoter: return "AddVoter";
    case ConfChangeType::kRemoveNode: return "RemoveNode";
  }
  return "?";
}

absl::StatusOr<Membership> ApplyConfChange(const Membership& membership, const ConfChange& change) {
  if (change.node == kNoNode) return absl::InvalidArgumentError("configuration change names node 0");
  Membership out = membership;
  const NodeId id = change.node;
  switch (change.type) {
    case ConfChangeType::kAddLearner:
      if (membership.IsVoter(id)) {
        return absl::FailedPreconditionError(absl::StrCat("node ", id, " is a voter; remove it to make it a learner"));
      }
      if (membership.IsLearner(id)) return absl::FailedPreconditionError(absl::StrCat("node ", id, " is already a learner"));
      out.learners.insert(id);
      break;
    case ConfChangeType::kAddVoter:
      if (membership.IsVoter(id)) return absl::FailedPreconditionError(absl::StrCat("node ", id, " is already a voter"));
      out.learners.erase(id);
      out.voters.insert(id);
      break;
    case ConfChangeType::kRemoveNode:
      if (!membership.Contains(id)) return absl::FailedPreconditionError(absl::StrCat("node ", id, " is not a member"));
      if (membership.IsVoter(id) && membership.voters.size() == 1) {
        return absl::FailedPreconditionError(absl::StrCat("node ", id, " is the last voter"));
      }
      out.voters.erase(id);
      out.learners.erase(id);
      out.contexts.erase(id);
      return out;
    default: return absl::InvalidArgumentError(absl::StrCat("unknown configuration change type ", static_cast<int>(change.type)));
  }
  if (!change.context.empty()) out.contexts[id] = change.context;
  return out;
}

std::string EncodeMembership(const Membership& m) {
  std::string out;
  out.push_back(static_cast<char>(kMembershipVersion));
  PutVarint(out, m.voters.size());
  for (NodeId id : m.voters) PutFixed64(out, id);
  PutVarint(out, m.learners.size());
  for (NodeId id : m.learners) PutFixed64(out, id);
  PutVarint(out, m.contexts.size());
  for (const auto& [id, context] : m.contexts) {
    PutFixed64(out, id);
    PutVarint(out, context.size());
    out.append(context);
  }
  return out;
}

absl::StatusOr<Membership> DecodeMembership(std::string_view data) {
  Reader r(data);
  uint8_t version;
  if (!r.Byte(version)) return Truncated("version");
  if (version != kMembershipVersion) {
    return absl::DataLossError(absl::StrCat("raft membership encoding: unknown version ", version));
  }
  Membership m;
  if (absl::Status s = ReadIds(r, "voters", m.voters); !s.ok()) return s;
  if (absl::Status s = ReadIds(r, "learners", m.learners); !s.ok()) return s;
  for (NodeId id : m.learners) {
    if (m.voters.count(id)) {
      return absl::DataLossError(absl::StrCat("raft membership encoding: node ", id, " is both voter and learner"));
    }
  }
  uint64_t n;
  if (!r.Varint(n) || n > r.remaining() / 9) return Truncated("contexts");
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t id, len;
    std::string context;
    if (!r.Fixed64(id) || !r.Varint(len) || !r.Bytes(len, context)) return Truncated("context");
    if (!m.Contains(id)) {
      return absl::DataLossError(absl::StrCat("raft membership encoding: context for non-member ", id));
    }
    m.contexts[id] = std::move(context);
  }
  if (r.remaining() != 0) {
    return absl::DataLossError(absl::StrCat("raft membership encoding: ", r.remaining(), " trailing bytes"));
  }
  return m;
}

std::string EncodeConfChangeEntry(const ConfChangeRecord& record) {
  std::string out;
  out.push_back(static_cast<char>(kConfChangeVersion));
  out.push_back(static_cast<char>(record.change.type));
  PutFixed64(out, record.change.node);
  PutVarint(out, record.change.context.size());
  out.append(record.change.context);
  out.append(EncodeMembership(record.membership));
  return out;
}

absl::StatusOr<ConfChangeRecord> DecodeConfChangeEntry(std::string_view data) {
  Reader r(data);
  uint8_t version, type;
  ConfChangeRecord record;
  uint64_t len;
  if (!r.Byte(version)) return Truncated("configuration change version");
  if (version != kConfChangeVersion) {
    return absl::DataLossError(absl::StrCat("raft configuration change: unknown version ", version));
  }
  if (!r.Byte(type) || !r.Fixed64(record.change.node) || !r.Varint(len) || !r.Bytes(len, record.change.context)) {
    return Truncated("configuration change");
  }
  if (type < static_cast<uint8_t>(ConfChangeType::kAddLearner) || type > static_cast<uint8_t>(ConfChangeType::kRemoveNode)) {
    return absl::DataLossError(absl::StrCat("raft configuration change: unknown type ", type));
  }
  record.change.type = static_cast<ConfChangeType>(type);
  auto membership = DecodeMembership(r.rest());
  if (!membership.ok()) return membership.status();
  record.membership = *std::move(membership);
  if (record.membership.voters.empty()) return absl::DataLossError("raft configuration change: no voters");
  return record;
}

}  // namespace cistern::raft
