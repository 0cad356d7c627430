#include "kv/kv_overlay.h"

#include <algorithm>

#include "common/status.h"

namespace cistern::kv {

absl::Status KvOverlay::Add(KvWriteBatch&& batch) {
  for (const KvWriteBatch::Op& op : batch.ops_) {
    if (op.is_range) return absl::InvalidArgumentError("a range delete cannot be read through an overlay");
  }
  for (KvWriteBatch::Op& op : batch.ops_) {
    if (static_cast<size_t>(op.cf) >= by_cf_.size()) by_cf_.resize(static_cast<size_t>(op.cf) + 1);
    Writes& writes = by_cf_[static_cast<size_t>(op.cf)];
    auto [it, added] = writes.try_emplace(std::move(op.key));
    if (added) ++keys_;
    if (op.is_delete) {
      it->second.reset();
    } else {
      it->second = std::move(op.value);
    }
  }
  batch.ops_.clear();
  return absl::OkStatus();
}

KvWriteBatch KvOverlay::Take() {
  KvWriteBatch batch;
  batch.ops_.reserve(keys_);
  for (size_t cf = 0; cf < by_cf_.size(); ++cf) {
    Writes& writes = by_cf_[cf];
    while (!writes.empty()) {
      auto node = writes.extract(writes.begin());
      const bool is_delete = !node.mapped().has_value();
      batch.ops_.push_back(KvWriteBatch::Op{static_cast<ColumnFamily>(cf), is_delete, std::move(node.key()),
                                            is_delete ? std::string() : std::move(*node.mapped())});
    }
  }
  keys_ = 0;
  return batch;
}

const KvOverlay::Writes* KvOverlay::WritesOf(ColumnFamily cf) const {
  if (cf < 0 || static_cast<size_t>(cf) >= by_cf_.size() || by_cf_[static_cast<size_t>(cf)].empty()) return nullptr;
  return &by_cf_[static_cast<size_t>(cf)];
}

const std::optional<std::string>* KvOverlay::Find(ColumnFamily cf, std::string_view key) const {
  const Writes* writes = WritesOf(cf);
  if (writes == nullptr) return nullptr;
  auto it = writes->find(key);
  return it == writes->end() ? nullptr : &it->second;
}

absl::StatusOr<std::optional<std::string>> KvOverlay::Get(const KvStore& store, ColumnFamily cf, std::string_view key,
                                                          const KvSnapshot* snapshot) const {
  if (const std::optional<std::string>* written = Find(cf, key); written != nullptr) return *written;
  return store.Get(cf, key, snapshot);
}

absl::Status KvOverlay::Scan(const KvStore& store, ColumnFamily cf, std::string_view prefix, std::string_view start,
                             const std::function<absl::StatusOr<bool>(std::string_view, std::string_view)>& visit,
                             const KvSnapshot* snapshot) const {
  const Writes* writes = WritesOf(cf);
  if (writes == nullptr) return store.Scan(cf, prefix, start, visit, snapshot);
  // The store's keys and the overlay's, merged in key order; where both have a key, the
  // overlay's write decides (a delete hides the store's value).
  auto it = writes->lower_bound(std::max(start, prefix));
  auto in_range = [&] { return it != writes->end() && std::string_view(it->first).substr(0, prefix.size()) == prefix; };
  bool stopped = false;
  // Visits the overlay's values before `limit` (all that are left when nullptr).
  auto drain = [&](const std::string_view* limit) -> absl::StatusOr<bool> {
    for (; in_range() && (limit == nullptr || it->first < *limit); ++it) {
      if (!it->second.has_value()) continue;
      CISTERN_ASSIGN_OR_RETURN(bool more, visit(it->first, *it->second));
      if (!more) {
        ++it;
        return false;
      }
    }
    return true;
  };
  CISTERN_RETURN_IF_ERROR(store.Scan(cf, prefix, start, [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
    CISTERN_ASSIGN_OR_RETURN(bool more, drain(&key));
    if (more && in_range() && it->first == key) {
      const std::optional<std::string>& written = (it++)->second;
      if (!written.has_value()) return true;  // deleted in the overlay
      CISTERN_ASSIGN_OR_RETURN(more, visit(key, *written));
    } else if (more) {
      CISTERN_ASSIGN_OR_RETURN(more, visit(key, value));
    }
    stopped = !more;
    return more;
  }, snapshot));
  if (stopped) return absl::OkStatus();
  return drain(nullptr).status();
}

}  // namespace cistern::kv
