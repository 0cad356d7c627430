#include "kv/kv_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <shared_mutex>

#include "absl/strings/str_cat.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/utilities/checkpoint.h"
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
void KvWriteBatch::DeleteRange(ColumnFamily cf, std::string_view begin, std::string_view end) {
  ops_.push_back(Op{cf, true, std::string(begin), std::string(end), true});
}
int KvWriteBatch::count() const { return static_cast<int>(ops_.size()); }

void KvWriteBatch::ForEach(const std::function<void(ColumnFamily, bool, std::string_view, std::string_view)>& visit) const {
  for (const auto& op : ops_) {
    if (!op.is_range) visit(op.cf, op.is_delete, op.key, op.value);
  }
}

void KvWriteBatch::Append(KvWriteBatch other) {
  if (ops_.empty()) {
    ops_ = std::move(other.ops_);
    return;
  }
  ops_.reserve(ops_.size() + other.ops_.size());
  for (Op& op : other.ops_) ops_.push_back(std::move(op));
}

namespace {

// Encode's format, per operation: varint column family, one flags byte (kDeleteFlag,
// kRangeFlag), varint key length, key, varint value length, value.
constexpr uint8_t kDeleteFlag = 1;
constexpr uint8_t kRangeFlag = 2;

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view* in, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && !in->empty(); shift += 7) {
    const auto byte = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    *v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

bool GetBytes(std::string_view* in, std::string* out) {
  uint64_t n = 0;
  if (!GetVarint(in, &n) || n > in->size()) return false;
  out->assign(in->data(), n);
  in->remove_prefix(n);
  return true;
}

}  // namespace

std::string KvWriteBatch::Encode() const {
  size_t size = 0;
  for (const Op& op : ops_) size += op.key.size() + op.value.size() + 8;
  std::string out;
  out.reserve(size);
  for (const Op& op : ops_) {
    PutVarint(&out, static_cast<uint64_t>(op.cf));
    out.push_back(static_cast<char>((op.is_delete ? kDeleteFlag : 0) | (op.is_range ? kRangeFlag : 0)));
    PutVarint(&out, op.key.size());
    out.append(op.key);
    PutVarint(&out, op.value.size());
    out.append(op.value);
  }
  return out;
}

absl::StatusOr<KvWriteBatch> KvWriteBatch::Decode(std::string_view bytes, int column_families) {
  KvWriteBatch batch;
  std::string_view in = bytes;
  while (!in.empty()) {
    const size_t offset = bytes.size() - in.size();
    uint64_t cf = 0;
    Op op;
    if (!GetVarint(&in, &cf) || in.empty()) {
      return absl::DataLossError(absl::StrCat("write batch encoding cut off at byte ", offset));
    }
    if (cf >= static_cast<uint64_t>(std::max(column_families, 0))) {
      return absl::DataLossError(absl::StrCat("write batch operation at byte ", offset, " names column family ", cf,
                                              " of ", column_families));
    }
    const auto flags = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    if ((flags & ~(kDeleteFlag | kRangeFlag)) != 0 || ((flags & kRangeFlag) != 0 && (flags & kDeleteFlag) == 0)) {
      return absl::DataLossError(absl::StrCat("write batch operation at byte ", offset, " has flags ", flags));
    }
    if (!GetBytes(&in, &op.key) || !GetBytes(&in, &op.value)) {
      return absl::DataLossError(absl::StrCat("write batch operation at byte ", offset, " is cut off"));
    }
    op.cf = static_cast<ColumnFamily>(cf);
    op.is_delete = (flags & kDeleteFlag) != 0;
    op.is_range = (flags & kRangeFlag) != 0;
    batch.ops_.push_back(std::move(op));
  }
  return batch;
}

namespace {

// Where ReplaceWith parks the old contents while it swaps directories.
std::string ReplacedDir(const std::string& dir) { return dir + ".replaced"; }

absl::Status FsyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open directory '", dir, "' to sync it"));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("fsync of directory '", dir, "' failed"));
  return absl::OkStatus();
}

// Holds the store's swap lock shared for its lifetime, so ReplaceWith never closes the database
// under it (snapshots live for one read, on one thread).
class RocksSnapshot final : public KvSnapshot {
 public:
  // The lock is taken first (members initialize in order): `db` is read only once it cannot change.
  RocksSnapshot(std::shared_mutex* swap_mu, const std::unique_ptr<rocksdb::DB>* db)
      : lock_(*swap_mu), db_(db->get()), snapshot_(db_->GetSnapshot()) {}
  ~RocksSnapshot() override { db_->ReleaseSnapshot(snapshot_); }
  const rocksdb::Snapshot* get() const { return snapshot_; }

 private:
  std::shared_lock<std::shared_mutex> lock_;
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
  KvStoreOptions options;
  // Shared by every call, exclusive while ReplaceWith swaps the database underneath. A
  // std::shared_mutex (glibc: readers first) rather than absl::Mutex, because a Scan's visitor
  // may call into the store again and a nested shared lock must not queue behind a writer.
  mutable std::shared_mutex swap_mu;
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  std::vector<size_t> scan_prefix_lengths;  // per column family, 0 = none

  rocksdb::ColumnFamilyHandle* Handle(ColumnFamily cf) const { return handles.at(static_cast<size_t>(cf)); }

  absl::Status OpenDb() {
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
    scan_prefix_lengths.clear();
    for (size_t i = 0; i < options.column_families.size(); ++i) {
      auto it = options.scan_prefix_lengths.find(static_cast<ColumnFamily>(i));
      scan_prefix_lengths.push_back(it == options.scan_prefix_lengths.end() ? 0 : it->second);
    }
    std::vector<rocksdb::ColumnFamilyHandle*> opened;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(db_options, options.dir, descriptors, &opened, &raw);
    if (!s.ok()) return FromRocks(s, absl::StrCat("cannot open metastore '", options.dir, "'"));
    db.reset(raw);
    // opened[0] is the default family, unused; index i of the caller's list is opened[i + 1].
    db->DestroyColumnFamilyHandle(opened[0]);
    handles.assign(opened.begin() + 1, opened.end());
    return absl::OkStatus();
  }

  void CloseDb() {
    if (!db) return;
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    handles.clear();
    db->Close();
    db.reset();
  }

  ~Impl() { CloseDb(); }
};

KvStore::KvStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KvStore::~KvStore() = default;

absl::StatusOr<std::unique_ptr<KvStore>> KvStore::Open(const KvStoreOptions& options) {
  std::error_code ec;
  // Finish or undo a ReplaceWith that a crash interrupted: the new contents are in place once
  // `dir` exists again; until then the old ones are in the parking directory.
  const std::string parked = ReplacedDir(options.dir);
  if (std::filesystem::exists(parked, ec)) {
    if (std::filesystem::exists(options.dir, ec)) {
      std::filesystem::remove_all(parked, ec);
    } else {
      std::filesystem::rename(parked, options.dir, ec);
    }
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot recover metastore '", options.dir, "' from an interrupted swap: ", ec.message()));
    }
  }
  std::filesystem::create_directories(options.dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create metastore directory '", options.dir, "': ", ec.message()));
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (absl::Status s = impl->OpenDb(); !s.ok()) return s;
  return std::unique_ptr<KvStore>(new KvStore(std::move(impl)));
}

absl::Status KvStore::CreateCheckpoint(const std::string& dir) const {
  std::shared_lock<std::shared_mutex> lock(impl_->swap_mu);
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(impl_->db.get(), &raw);
  if (!s.ok()) return FromRocks(s, "metastore checkpoint");
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // A flush first: the checkpoint holds everything written, synced or not, as table files.
  return FromRocks(checkpoint->CreateCheckpoint(dir, /*log_size_for_flush=*/0),
                   absl::StrCat("metastore checkpoint into '", dir, "'"));
}

absl::Status KvStore::ReplaceWith(const std::string& source_dir) {
  std::unique_lock<std::shared_mutex> lock(impl_->swap_mu);
  const std::string& dir = impl_->options.dir;
  const std::string parked = ReplacedDir(dir);
  const std::string parent = std::filesystem::path(dir).parent_path().string();
  impl_->CloseDb();
  std::error_code ec;
  std::filesystem::remove_all(parked, ec);
  std::filesystem::rename(dir, parked, ec);
  if (!ec) std::filesystem::rename(source_dir, dir, ec);
  absl::Status status = ec ? absl::InternalError(absl::StrCat("cannot move '", source_dir, "' into place as metastore '",
                                                              dir, "': ", ec.message()))
                           : FsyncDir(parent.empty() ? "." : parent);
  if (status.ok()) status = impl_->OpenDb();
  if (!status.ok()) {
    // Put the old contents back, so the store stays usable.
    std::error_code undo;
    if (std::filesystem::exists(parked, undo)) {
      std::filesystem::remove_all(dir, undo);
      std::filesystem::rename(parked, dir, undo);
    }
    absl::Status reopened = impl_->OpenDb();
    if (!reopened.ok()) return absl::InternalError(absl::StrCat(status.message(), "; reopening the old contents failed too: ", reopened.message()));
    return status;
  }
  std::filesystem::remove_all(parked, ec);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> KvStore::Get(ColumnFamily cf, std::string_view key,
                                                        const KvSnapshot* snapshot) const {
  std::shared_lock<std::shared_mutex> lock(impl_->swap_mu);
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
  std::shared_lock<std::shared_mutex> lock(impl_->swap_mu);
  rocksdb::WriteBatch wb;
  for (const auto& op : batch.ops_) {
    if (op.cf < 0 || static_cast<size_t>(op.cf) >= impl_->handles.size()) {
      return absl::InvalidArgumentError(absl::StrCat("metastore batch names column family ", op.cf, " of ",
                                                     impl_->handles.size()));
    }
    rocksdb::Slice key(op.key.data(), op.key.size());
    const rocksdb::Slice value(op.value.data(), op.value.size());
    rocksdb::Status s = op.is_range    ? wb.DeleteRange(impl_->Handle(op.cf), key, value)
                        : op.is_delete ? wb.Delete(impl_->Handle(op.cf), key)
                                       : wb.Put(impl_->Handle(op.cf), key, value);
    if (!s.ok()) return FromRocks(s, "metastore batch");
  }
  rocksdb::WriteOptions write_options;
  write_options.sync = impl_->options.sync_writes;
  return FromRocks(impl_->db->Write(write_options, &wb), "metastore write");
}

absl::Status KvStore::FlushInBackground() {
  std::shared_lock<std::shared_mutex> lock(impl_->swap_mu);
  rocksdb::FlushOptions options;
  options.wait = false;
  options.allow_write_stall = true;  // never block writers for it
  return FromRocks(impl_->db->Flush(options, impl_->handles), "metastore flush");
}

absl::Status KvStore::SyncWal() {
  std::shared_lock<std::shared_mutex> lock(impl_->swap_mu);
  return FromRocks(impl_->db->SyncWAL(), "metastore sync");
}

absl::Status KvStore::Scan(
    ColumnFamily cf, std::string_view prefix, std::string_view start,
    const std::function<absl::StatusOr<bool>(std::string_view key, std::string_view value)>& visit,
    const KvSnapshot* snapshot) const {
  std::shared_lock<std::shared_mutex> lock(impl_->swap_mu);
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

std::unique_ptr<KvSnapshot> KvStore::Snapshot() const {
  return std::make_unique<RocksSnapshot>(&impl_->swap_mu, &impl_->db);
}

int64_t KvStore::ApproximateCount(ColumnFamily cf) const {
  std::shared_lock<std::shared_mutex> lock(impl_->swap_mu);
  uint64_t n = 0;
  impl_->db->GetIntProperty(impl_->Handle(cf), "rocksdb.estimate-num-keys", &n);
  return static_cast<int64_t>(n);
}

const std::string& KvStore::dir() const { return impl_->options.dir; }

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
