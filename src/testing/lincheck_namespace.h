// Test-only: a sequential model of the part of Cistern's namespace that the HA tests drive
// (create file / directory, rename, delete, getStatus, exists), for checking recorded client
// histories with lincheck.h. It follows the contract in docs/namespace.md and the checks the
// master makes, in the master's order (which error wins when several apply):
//
//   CreateFile(p)       "/" or an existing directory, or an existing file without overwrite:
//                       ALREADY_EXISTS; a file on the way: FAILED_PRECONDITION; a missing parent
//                       without recursive: NOT_FOUND; else OK (recursive creates the parents).
//   CreateDirectory(p)  as CreateFile, except an existing directory with allow_exists is OK.
//   Rename(s, d)        s or d "/", or d inside s: INVALID_ARGUMENT; then s: FAILED_PRECONDITION
//                       (a file on the way) or NOT_FOUND; then d: FAILED_PRECONDITION or
//                       ALREADY_EXISTS; then d's parent: FAILED_PRECONDITION or NOT_FOUND; else
//                       the subtree moves, keeping its ids (never replaces).
//   Delete(p)           "/": INVALID_ARGUMENT; FAILED_PRECONDITION / NOT_FOUND as above; a
//                       non-empty directory without recursive: FAILED_PRECONDITION.
//   GetStatus(p)        FAILED_PRECONDITION / NOT_FOUND, else OK with the id and the kind.
//   Exists(p)           true iff GetStatus would be OK.
//
// Inode ids: a create's OK output names the new id; a getStatus must then report the same id
// (renames keep it; an overwrite or a delete and re-create gives a new one). An id not observed
// yet (an unknown create, parents made by recursive) is bound by the first read that shows it.
// An id never names two inodes, even after the first is deleted (the master never reuses one).
// The model checks that within a group of the history (operations linked by top-level names);
// CheckCreatedIdsAreDistinct checks the ids creates returned across the whole history.
//
// Assumptions: paths are normalized; only the root mount exists and its under-store holds only
// what Cistern itself wrote (nothing appears from outside); the history starts from an empty
// namespace, or from `initial` directories created before it. Operations on different top-level
// names are independent, so the checker splits a history by them (a rename between two joins
// them).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "testing/lincheck.h"
#include "testing/lincheck_recorder.h"

namespace cistern::lincheck {

struct NamespaceInput {
  enum class Kind { kCreateFile, kCreateDirectory, kRename, kDelete, kGetStatus, kExists };
  Kind kind = Kind::kGetStatus;
  std::string path;           // normalized; kRename: the source
  std::string dst;            // kRename: the destination
  bool recursive = false;     // create: make missing parents; delete: non-empty directories too
  bool overwrite = false;     // kCreateFile: replace an existing file
  bool allow_exists = false;  // kCreateDirectory: an existing directory is fine

  static NamespaceInput CreateFile(std::string path, bool recursive = false, bool overwrite = false);
  static NamespaceInput CreateDirectory(std::string path, bool recursive = false, bool allow_exists = false);
  static NamespaceInput Rename(std::string src, std::string dst);
  static NamespaceInput Delete(std::string path, bool recursive = false);
  static NamespaceInput GetStatus(std::string path);
  static NamespaceInput Exists(std::string path);
};

struct NamespaceOutput {
  absl::StatusCode code = absl::StatusCode::kOk;
  uint64_t id = 0;         // OK create / getStatus: the inode id (0: not observed)
  bool directory = false;  // OK getStatus: the kind
  bool exists = false;     // kExists

  static NamespaceOutput Status(absl::StatusCode code) { return {code, 0, false, false}; }
  static NamespaceOutput Created(uint64_t id) { return {absl::StatusCode::kOk, id, false, false}; }
  static NamespaceOutput Found(uint64_t id, bool directory) { return {absl::StatusCode::kOk, id, directory, false}; }
  static NamespaceOutput ExistsAnswer(bool exists) { return {absl::StatusCode::kOk, 0, false, exists}; }
};

struct NamespaceNode {
  bool directory = false;
  uint64_t id = 0;  // 0: not observed yet

  friend bool operator==(const NamespaceNode&, const NamespaceNode&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const NamespaceNode& n) {
    return H::combine(std::move(h), n.directory, n.id);
  }
};

struct NamespaceState {
  std::map<std::string, NamespaceNode> nodes;  // every path but "/", which always exists
  uint64_t root_id = 0;
  std::vector<uint64_t> used_ids;  // sorted: every id observed so far (ids are never reused)

  friend bool operator==(const NamespaceState&, const NamespaceState&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const NamespaceState& s) {
    return H::combine(std::move(h), s.nodes, s.root_id, s.used_ids);
  }
};

class NamespaceModel {
 public:
  using State = NamespaceState;
  using Input = NamespaceInput;
  using Output = NamespaceOutput;

  // `initial`: directories that exist before the history (normalized, parents included).
  explicit NamespaceModel(std::vector<std::string> initial = {}) : initial_(std::move(initial)) {}

  State Init() const;
  std::optional<State> Step(const State& state, const Input& input, const std::optional<Output>& output) const;
  std::vector<std::string> PartitionKeys(const Input& input) const;
  std::string Describe(const Input& input, const std::optional<Output>& output) const;
  std::string DescribeState(const State& state) const;

 private:
  const std::vector<std::string> initial_;
};

using NamespaceHistory = HistoryOf<NamespaceModel>;
using NamespaceRecorder = HistoryRecorder<NamespaceModel>;

// OK if no two successful creates (files, or directories without allow_exists) returned the same
// id; FAILED_PRECONDITION naming both otherwise. Complements Check, which compares ids only
// within a group.
absl::Status CheckCreatedIdsAreDistinct(const NamespaceHistory& history);

// The outcome of a Cistern call as the model sees it: OK and the errors of the namespace
// contract (NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, INVALID_ARGUMENT) are definite;
// anything else (UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, ...) may or may not have taken effect.
bool IsDefiniteNamespaceOutcome(const absl::Status& status);

// Completes `id` from the call's `status`: a definite outcome is recorded as completed with
// `output` (its code taken from `status`; `output` carries the id, kind or answer of an OK
// call), anything else as unknown. A call known not to have been sent is Fail()ed by the caller.
void CompleteNamespaceOperation(NamespaceRecorder& recorder, NamespaceRecorder::OperationId id,
                                const absl::Status& status, NamespaceOutput output = {});

}  // namespace cistern::lincheck
