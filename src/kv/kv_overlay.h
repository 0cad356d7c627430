// KvOverlay: writes not yet in a KvStore, readable together with it. Get and Scan answer as if
// the writes had been applied to the store, so a sequence of dependent updates (the entries of
// a batch being applied) can be computed one after another and then written in one KvStore
// write.
//
// The last write of a key wins. Take returns one operation per key, ordered by column family
// and key: besides writing less, sorted keys make RocksDB's memtable inserts cheaper (each one
// lands next to the previous, so the skiplist search mostly starts from where it was).
//
// Thread safety: not thread-safe; reads of the underlying store are as KvStore's.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kv/kv_store.h"

namespace cistern::kv {

class KvOverlay {
 public:
  // Adds `batch`'s writes on top of what the overlay holds. INVALID_ARGUMENT (and nothing
  // added) if it has a range delete.
  absl::Status Add(KvWriteBatch&& batch);
  bool empty() const { return keys_ == 0; }
  // Keys written (deletes included).
  size_t size() const { return keys_; }
  // One operation per key written, in (column family, key) order; leaves the overlay empty.
  KvWriteBatch Take();

  // What the overlay says about `key`: nullptr if it holds no write of it; otherwise the value
  // written, or std::nullopt if the last write deleted it.
  const std::optional<std::string>* Find(ColumnFamily cf, std::string_view key) const;

  // KvStore::Get / Scan of `store` with the overlay's writes applied on top.
  absl::StatusOr<std::optional<std::string>> Get(const KvStore& store, ColumnFamily cf, std::string_view key,
                                                 const KvSnapshot* snapshot = nullptr) const;
  absl::Status Scan(const KvStore& store, ColumnFamily cf, std::string_view prefix, std::string_view start,
                    const std::function<absl::StatusOr<bool>(std::string_view key, std::string_view value)>& visit,
                    const KvSnapshot* snapshot = nullptr) const;

 private:
  using Writes = std::map<std::string, std::optional<std::string>, std::less<>>;
  const Writes* WritesOf(ColumnFamily cf) const;

  std::vector<Writes> by_cf_;  // index: column family
  size_t keys_ = 0;
};

}  // namespace cistern::kv
