#include "kv/kv_store.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/options_util.h"
#include "rocksdb/utilities/table_properties_collectors.h"
#include "rocksdb/write_batch.h"

namespace cistern::kv {
namespace {

// RocksDB status -> absl::Status, once, at the module edge.
absl::Status FromRocks(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return absl::OkStatus();
  std::string message = absl::StrCat(std::string(context), ": ", s.ToString());
  if (s.IsNotFound()) return absl::NotFoundError(message);
  if (s.IsCorruption()) return absl::DataLossError(message);
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return absl::FailedPreconditionError(
        absl::StrCat(message, " (is another process using this directory?)"));
  }
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(message);
  if (s.IsBusy() || s.IsTryAgain()) return absl::UnavailableError(message);
  return absl::InternalError(message);
}

}  // namespace

KvWriteBatch::KvWriteBatch() = default;
KvWriteBatch::~KvWriteBatch() = default;
KvWriteBatch::KvWriteBatch(KvWriteBatch&&) noexcept = default;
KvWriteBatch& KvWriteBatch::operator=(KvWriteBatch&&) noexcept = default;

void KvWriteBatch::Put(ColumnFamily cf, std::string_view key, std::string_view value) {
  ops_.push_back(Op{cf, false, std::string(key), std::string(value)});
}
void KvWriteBatch::Delete(ColumnFamily cf, std::string_view key) {
  ops_.push_back(Op{cf, true, std::string(key), {}});
}
int KvWriteBatch::count() const { return static_cast<int>(ops_.size()); }

void KvWriteBatch::ForEach(const std::function<void(ColumnFamily, bool, std::string_view, std::string_view)>& visit) const {
  for (const auto& op : ops_) visit(op.cf, op.is_delete, op.key, op.value);
}

namespace {

class RocksSnapshot final : public KvSnapshot {
 public:
  RocksSnapshot(rocksdb::DB* db) : db_(db), snapshot_(db->GetSnapshot()) {}
  ~RocksSnapshot() override { db_->ReleaseSnapshot(snapshot_); }
  const rocksdb::Snapshot* get() const { return snapshot_; }

 private:
  rocksdb::DB* const db_;
  const rocksdb::Snapshot* const snapshot_;
};

const rocksdb::Snapshot* RocksSnapshotOf(const KvSnapshot* snapshot) {
  return snapshot == nullptr ? nullptr : static_cast<const RocksSnapshot*>(snapshot)->get();
}

// The smallest key greater than every key starting with `prefix` ("" if there is none).
std::string PrefixSuccessor(std::string_view prefix) {
  std::string limit(prefix);
  while (!limit.empty()) {
    if (static_cast<uint8_t>(limit.back()) != 0xff) {
      limit.back() = static_cast<char>(static_cast<uint8_t>(limit.back()) + 1);
      return limit;
    }
    limit.pop_back();
  }
  return limit;
}

}  // namespace

struct KvStore::Impl {
  std::string dir;
  bool sync_writes = true;
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  std::vector<size_t> scan_prefix_lengths;  // per column family, 0 = none

  rocksdb::ColumnFamilyHandle* Handle(ColumnFamily cf) const { return handles.at(static_cast<size_t>(cf)); }

  ~Impl() {
    if (db) {
      for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
      db->Close();
    }
  }
};

KvStore::KvStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KvStore::~KvStore() = default;

absl::StatusOr<std::unique_ptr<KvStore>> KvStore::Open(const KvStoreOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create metastore directory '", options.dir, "': ", ec.message()));
  }
  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.paranoid_checks = true;
  db_options.max_background_jobs = 2;
  db_options.keep_log_file_num = 5;
  db_options.bytes_per_sync = 1 << 20;
  // All memtables together stay within this budget (the fullest is flushed first).
  db_options.db_write_buffer_size = static_cast<size_t>(std::max<int64_t>(options.write_buffer_bytes, 4 << 20));

  // Point lookups dominate (an inode by id, an edge by parent and name, an operation id):
  // bloom filters in files and memtables let a miss skip them, and a hash index inside data
  // blocks saves the binary search. Index and filter blocks live in the block cache, so the
  // memory they take is bounded however large the namespace grows. They are partitioned
  // (a small top-level index pinned in the cache, partitions of 4 KiB loaded as needed): with
  // one whole filter per file, a namespace whose filters outgrow the cache re-reads a filter
  // of megabytes on most lookups (measured: creates fell from ~4,700/s to ~450/s at 1.3
  // million files with the default 64 MiB cache).
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(static_cast<size_t>(std::max<int64_t>(options.block_cache_bytes, 1 << 20)));
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.cache_index_and_filter_blocks = true;
  table.cache_index_and_filter_blocks_with_high_priority = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  table.partition_filters = true;
  table.metadata_block_size = 4096;
  table.pin_top_level_index_and_filter = true;
  table.data_block_index_type = rocksdb::BlockBasedTableOptions::kDataBlockBinaryAndHash;
  table.format_version = 5;
  table.optimize_filters_for_memory = true;
  auto cf_options = [&](ColumnFamily cf) {
    rocksdb::ColumnFamilyOptions o;
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    o.write_buffer_size = std::min<size_t>(64 << 20, db_options.db_write_buffer_size / 2);
    o.level_compaction_dynamic_level_bytes = true;
    o.memtable_prefix_bloom_size_ratio = 0.05;
    o.memtable_whole_key_filtering = true;
    // A file where deletes cluster (pruned operation records, a removed directory's entries) is
    // compacted soon, so scans do not keep stepping over the tombstones.
    o.table_properties_collector_factories.push_back(rocksdb::NewCompactOnDeletionCollectorFactory(128, 64));
    if (auto it = options.scan_prefix_lengths.find(cf); it != options.scan_prefix_lengths.end() && it->second > 0) {
      o.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(it->second));
    }
    return o;
  };
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (size_t i = 0; i < options.column_families.size(); ++i) {
    descriptors.emplace_back(options.column_families[i], cf_options(static_cast<ColumnFamily>(i)));
  }
  auto impl = std::make_unique<Impl>();
  for (size_t i = 0; i < options.column_families.size(); ++i) {
    auto it = options.scan_prefix_lengths.find(static_cast<ColumnFamily>(i));
    impl->scan_prefix_lengths.push_back(it == options.scan_prefix_lengths.end() ? 0 : it->second);
  }
  impl->dir = options.dir;
  impl->sync_writes = options.sync_writes;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, options.dir, descriptors, &handles, &db);
  if (!s.ok()) return FromRocks(s, absl::StrCat("cannot open metastore '", options.dir, "'"));
  impl->db.reset(db);
  // handles[0] is the default family, unused; index i of the caller's list is handles[i + 1].
  db->DestroyColumnFamilyHandle(handles[0]);
  impl->handles.assign(handles.begin() + 1, handles.end());
  return std::unique_ptr<KvStore>(new KvStore(std::move(impl)));
}

absl::StatusOr<std::optional<std::string>> KvStore::Get(ColumnFamily cf, std::string_view key,
                                                        const KvSnapshot* snapshot) const {
  std::string value;
  rocksdb::ReadOptions read_options;
  read_options.snapshot = RocksSnapshotOf(snapshot);
  rocksdb::Status s = impl_->db->Get(read_options, impl_->Handle(cf),
                                     rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "metastore read");
  return std::optional<std::string>(std::move(value));
}

absl::Status KvStore::Write(const KvWriteBatch& batch) {
  rocksdb::WriteBatch wb;
  for (const auto& op : batch.ops_) {
    rocksdb::Slice key(op.key.data(), op.key.size());
    rocksdb::Status s = op.is_delete ? wb.Delete(impl_->Handle(op.cf), key)
                                     : wb.Put(impl_->Handle(op.cf), key, rocksdb::Slice(op.value.data(), op.value.size()));
    if (!s.ok()) return FromRocks(s, "metastore batch");
  }
  rocksdb::WriteOptions write_options;
  write_options.sync = impl_->sync_writes;
  return FromRocks(impl_->db->Write(write_options, &wb), "metastore write");
}

absl::Status KvStore::SyncWal() { return FromRocks(impl_->db->SyncWAL(), "metastore sync"); }

absl::Status KvStore::Scan(
    ColumnFamily cf, std::string_view prefix, std::string_view start,
    const std::function<absl::StatusOr<bool>(std::string_view key, std::string_view value)>& visit,
    const KvSnapshot* snapshot) const {
  rocksdb::ReadOptions read_options;
  read_options.snapshot = RocksSnapshotOf(snapshot);
  const size_t prefix_length = impl_->scan_prefix_lengths.at(static_cast<size_t>(cf));
  if (prefix_length > 0 && prefix.size() >= prefix_length) {
    read_options.prefix_same_as_start = true;  // lets the prefix bloom filters skip files
  } else {
    read_options.total_order_seek = true;
  }
  // Stops the iterator at the end of the prefix instead of stepping over what follows (e.g.
  // deleted keys of the next prefix).
  const std::string limit = PrefixSuccessor(prefix);
  rocksdb::Slice upper_bound(limit);
  if (!limit.empty()) read_options.iterate_upper_bound = &upper_bound;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(read_options, impl_->Handle(cf)));
  std::string_view seek = start.empty() || start < prefix ? prefix : start;
  for (it->Seek(rocksdb::Slice(seek.data(), seek.size())); it->Valid(); it->Next()) {
    std::string_view key(it->key().data(), it->key().size());
    if (key.substr(0, prefix.size()) != prefix) break;
    absl::StatusOr<bool> more = visit(key, std::string_view(it->value().data(), it->value().size()));
    if (!more.ok()) return more.status();
    if (!*more) return absl::OkStatus();
  }
  return FromRocks(it->status(), "metastore scan");
}

std::unique_ptr<KvSnapshot> KvStore::Snapshot() const { return std::make_unique<RocksSnapshot>(impl_->db.get()); }

int64_t KvStore::ApproximateCount(ColumnFamily cf) const {
  uint64_t n = 0;
  impl_->db->GetIntProperty(impl_->Handle(cf), "rocksdb.estimate-num-keys", &n);
  return static_cast<int64_t>(n);
}

const std::string& KvStore::dir() const { return impl_->dir; }

std::string EncodeUint64(uint64_t value) {
  std::string out;
  AppendUint64(&out, value);
  return out;
}

void AppendUint64(std::string* out, uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>((value >> shift) & 0xff));
}

uint64_t DecodeUint64(std::string_view bytes) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | static_cast<uint8_t>(bytes[static_cast<size_t>(i)]);
  return value;
}

}  // namespace cistern::kv
