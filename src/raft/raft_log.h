// RaftLog: the part of the Raft log the core keeps in memory, the entries after the last
// compaction point, plus the membership history of the configuration entries among them (a
// change takes effect when appended, so a truncated change must restore the one before it).
// entries()[0] is a sentinel carrying the index and term of the compaction point (the snapshot,
// or index 0 of an empty log), so the term of the entry before the first kept one is known.
// Also tracks how far the driver has persisted (stable) and the bytes of entry data kept.
//
// Thread safety: none (owned by one RawNode).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "raft/membership.h"
#include "raft/quorum.h"

namespace cistern::raft {

using Term = uint64_t;

enum class EntryType : uint8_t {
  kNormal = 0,      // data is the driver's (empty for the no-op a new leader appends)
  kConfChange = 1,  // data is EncodeConfChangeEntry()
};

struct Entry {
  Term term = 0;
  Index index = 0;
  std::string data;
  EntryType type = EntryType::kNormal;
  bool operator==(const Entry&) const = default;
};

class RaftLog {
 public:
  // An empty log after (index, term), where `membership` is in effect.
  RaftLog(Index index, Term term, Membership membership) { Reset(index, term, std::move(membership)); }

  // Drops every entry: the log now starts after (index, term) (an installed snapshot).
  void Reset(Index index, Term term, Membership membership);

  Index first_index() const { return entries_.front().index + 1; }
  Index last_index() const { return entries_.back().index; }
  Term last_term() const { return entries_.back().term; }
  // Known for first_index()-1 <= index <= last_index().
  std::optional<Term> term(Index index) const;
  // REQUIRES: first_index() <= index <= last_index().
  const Entry& at(Index index) const { return entries_[index - entries_.front().index]; }
  const std::vector<Entry>& entries() const { return entries_; }

  // Entries lo..hi (inclusive; REQUIRES first_index() <= lo), at most `max_count` of them and
  // `max_bytes` of data, but at least one when lo <= hi.
  std::vector<Entry> Slice(Index lo, Index hi, size_t max_count, size_t max_bytes) const;
  // The largest index <= `index` (and >= the sentinel) whose term is <= `term`, with its term:
  // where a log that has `term` at `index` can first agree with this one (fast back-off).
  std::pair<Index, Term> FindConflictByTerm(Index index, Term term) const;

  // REQUIRES: e.index == last_index() + 1, e.term >= last_term(), a kConfChange entry decodes.
  void Append(Entry e);
  // Drops the entries from `index` on. REQUIRES: first_index() <= index <= last_index() + 1.
  void TruncateFrom(Index index);
  // Drops the entries up to `index`, which becomes the sentinel.
  // REQUIRES: first_index() - 1 <= index <= last_index().
  void CompactTo(Index index);

  // Entries up to stable_index() are persisted by the driver.
  Index stable_index() const { return stable_; }
  // The driver persisted entries up to (index, term); ignored if that entry was replaced since.
  void StableTo(Index index, Term term);
  void MarkAllStable() { stable_ = last_index(); }

  const Membership& membership() const { return configs_.back().second; }
  // The index of the entry that set membership() (the sentinel's for the base configuration).
  Index membership_index() const { return configs_.back().first; }
  // The membership in effect at `index` (REQUIRES: index >= first_index() - 1).
  const Membership& MembershipAt(Index index) const;

  // Bytes of entry data kept (what compaction frees).
  size_t bytes() const { return bytes_; }

 private:
  std::vector<Entry> entries_;                            // [0] is the sentinel
  std::vector<std::pair<Index, Membership>> configs_;     // by index; [0] is the base
  Index stable_ = 0;
  size_t bytes_ = 0;
};

}  // namespace cistern::raft
