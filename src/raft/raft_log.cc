#include "raft/raft_log.h"

#include <algorithm>

#include "raft/fatal.h"

namespace cistern::raft {

void RaftLog::Reset(Index index, Term term, Membership membership) {
  entries_.clear();
  entries_.push_back(Entry{term, index, {}});
  configs_.clear();
  configs_.emplace_back(index, std::move(membership));
  stable_ = index;
  bytes_ = 0;
}

std::optional<Term> RaftLog::term(Index index) const {
  if (index < entries_.front().index || index > last_index()) return std::nullopt;
  return entries_[index - entries_.front().index].term;
}

std::vector<Entry> RaftLog::Slice(Index lo, Index hi, size_t max_count, size_t max_bytes) const {
  RAFT_CHECK(lo >= first_index(), "slice from %llu below first index %llu", (unsigned long long)lo,
             (unsigned long long)first_index());
  std::vector<Entry> out;
  size_t bytes = 0;
  for (Index i = lo; i <= std::min(hi, last_index()) && out.size() < max_count; ++i) {
    const Entry& e = at(i);
    if (!out.empty() && bytes + e.data.size() > max_bytes) break;
    bytes += e.data.size();
    out.push_back(e);
  }
  return out;
}

std::pair<Index, Term> RaftLog::FindConflictByTerm(Index index, Term term) const {
  index = std::min(index, last_index());
  for (Index i = index; i > entries_.front().index; --i) {
    const Term t = at(i).term;
    if (t <= term) return {i, t};
  }
  return {entries_.front().index, entries_.front().term};
}

void RaftLog::Append(Entry e) {
  RAFT_CHECK(e.index == last_index() + 1 && e.term >= last_term(), "append of %llu/%llu after %llu/%llu",
             (unsigned long long)e.index, (unsigned long long)e.term, (unsigned long long)last_index(),
             (unsigned long long)last_term());
  if (e.type == EntryType::kConfChange) {
    auto record = DecodeConfChangeEntry(e.data);
    RAFT_CHECK(record.ok(), "configuration entry %llu: %s", (unsigned long long)e.index,
               std::string(record.status().message()).c_str());
    configs_.emplace_back(e.index, std::move(record->membership));
  }
  bytes_ += e.data.size();
  entries_.push_back(std::move(e));
}

void RaftLog::TruncateFrom(Index index) {
  RAFT_CHECK(index >= first_index() && index <= last_index() + 1, "truncate from %llu of [%llu, %llu]",
             (unsigned long long)index, (unsigned long long)first_index(), (unsigned long long)last_index());
  for (Index i = index; i <= last_index(); ++i) bytes_ -= at(i).data.size();
  entries_.resize(index - entries_.front().index);
  while (configs_.size() > 1 && configs_.back().first >= index) configs_.pop_back();
  stable_ = std::min(stable_, index - 1);
}

void RaftLog::CompactTo(Index index) {
  RAFT_CHECK(index + 1 >= first_index() && index <= last_index(), "compact to %llu of [%llu, %llu]",
             (unsigned long long)index, (unsigned long long)first_index(), (unsigned long long)last_index());
  const size_t drop = index - entries_.front().index;
  for (size_t i = 1; i <= drop; ++i) bytes_ -= entries_[i].data.size();
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(drop));
  entries_.front().data.clear();
  entries_.front().type = EntryType::kNormal;
  // Keep the configuration in effect at the new sentinel and every later one.
  size_t keep = 0;
  while (keep + 1 < configs_.size() && configs_[keep + 1].first <= index) ++keep;
  configs_.erase(configs_.begin(), configs_.begin() + static_cast<std::ptrdiff_t>(keep));
  stable_ = std::max(stable_, index);
}

void RaftLog::StableTo(Index index, Term term) {
  auto t = this->term(index);
  if (t.has_value() && *t == term) stable_ = std::max(stable_, index);
}

const Membership& RaftLog::MembershipAt(Index index) const {
  RAFT_CHECK(index + 1 >= first_index(), "membership at compacted index %llu", (unsigned long long)index);
  for (size_t i = configs_.size(); i > 0; --i) {
    if (configs_[i - 1].first <= index) return configs_[i - 1].second;
  }
  return configs_.front().second;
}

}  // namespace cistern::raft
