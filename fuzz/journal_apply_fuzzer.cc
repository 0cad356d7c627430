// The master's state machine applying decoded journal entries (what a replica applies from the
// Raft log, or a restarted master replays): bytes -> a sequence of JournalEntry protos (each
// prefixed by a 2-byte length) -> NamespaceStateMachine::Apply on a real metastore. Oracles:
// Apply never fails for storage reasons (a bad entry is a refused outcome, not a broken
// journal), the applied index advances by one per entry, and the namespace stays a tree: every
// edge names an existing inode whose parent and name match it and carries an exact copy of it,
// every inode but the root is reached by its edge, and parents are directories.
#include <map>
#include <set>

#include "cistern/proto/journal.pb.h"
#include "fuzz/fuzz_util.h"
#include "fuzz/namespace_fixture.h"
#include "google/protobuf/util/message_differencer.h"

namespace {

using namespace cistern;

void CheckTree(kv::KvStore* kv) {
  std::map<uint64_t, proto::Inode> inodes;
  FUZZ_CHECK(kv->Scan(master::kInodesCf, "", "", [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
                FUZZ_CHECK(key.size() == 8);
                proto::Inode inode;
                FUZZ_CHECK(inode.ParseFromArray(value.data(), static_cast<int>(value.size())));
                FUZZ_CHECK(inode.id() == kv::DecodeUint64(key));
                inodes.emplace(inode.id(), std::move(inode));
                return true;
              }).ok());
  FUZZ_CHECK(inodes.count(master::kRootInodeId) == 1);
  std::set<uint64_t> reached = {master::kRootInodeId};
  FUZZ_CHECK(kv->Scan(master::kEdgesCf, "", "", [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
                // Format 2 (master/namespace_store.h): the child's id, then a copy of its inode.
                FUZZ_CHECK(key.size() > 8 && value.size() >= 8);
                const uint64_t parent = kv::DecodeUint64(key);
                const uint64_t child = kv::DecodeUint64(value.substr(0, 8));
                auto p = inodes.find(parent);
                auto c = inodes.find(child);
                if (value.size() > 8 && c != inodes.end()) {
                  proto::Inode copy;
                  FUZZ_CHECK(copy.ParseFromArray(value.data() + 8, static_cast<int>(value.size() - 8)));
                  FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(copy, c->second));  // the copy is the record
                }
                FUZZ_CHECK(p != inodes.end() && p->second.kind() == proto::DIRECTORY);
                FUZZ_CHECK(c != inodes.end());
                FUZZ_CHECK(c->second.parent_id() == parent);
                FUZZ_CHECK(c->second.name() == key.substr(8));
                FUZZ_CHECK(reached.insert(child).second);  // one edge per inode
                return true;
              }).ok());
  FUZZ_CHECK(reached.size() == inodes.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto* fixture = new fuzz::NamespaceFixture();
  fixture->Reset();
  fuzz::InputReader in(data, size);
  uint64_t index = 0;
  for (int i = 0; i < 32 && !in.empty(); ++i) {
    const std::string_view bytes = in.Piece(4096);
    proto::JournalEntry entry;
    if (!entry.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) continue;
    absl::StatusOr<journal::ApplyOutcome> outcome = fixture->state_machine()->Apply(++index, entry);
    if (!outcome.ok()) {
      std::fprintf(stderr, "Apply failed: %s\nentry: %s\n", outcome.status().ToString().c_str(),
                   entry.ShortDebugString().c_str());
    }
    FUZZ_CHECK(outcome.ok());
    FUZZ_CHECK(fixture->state_machine()->last_applied_index() == index);
  }
  CheckTree(fixture->kv());
  return 0;
}
