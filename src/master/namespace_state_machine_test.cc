#include "master/namespace_state_machine.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <vector>

#include <algorithm>
#include <iterator>
#include <random>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace cistern::master {
namespace {

class StateMachineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/nsm-", ::getpid(), "-",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    Open();
  }
  void TearDown() override {
    Close();
    std::filesystem::remove_all(dir_);
  }
  void Open(bool sync_writes = true, size_t cache_entries = 1000) {
    kv::KvStoreOptions options{dir_, NamespaceColumnFamilies(), sync_writes};
    AddNamespaceKvOptions(&options);
    auto kv = kv::KvStore::Open(options);
    ASSERT_TRUE(kv.ok()) << kv.status();
    kv_ = std::move(*kv);
    store_ = std::make_unique<NamespaceStore>(kv_.get(), cache_entries);
    ASSERT_TRUE(store_->FormatIfEmpty(1000, 0755, "u", "g").ok());
    auto sm = NamespaceStateMachine::Create(store_.get());
    ASSERT_TRUE(sm.ok());
    sm_ = std::move(*sm);
    journal_ = std::make_unique<journal::LocalJournal>(sm_.get());
  }
  void Close() {
    journal_.reset();
    sm_.reset();
    store_.reset();
    kv_.reset();
  }
  absl::StatusOr<proto::JournalResult> Mkdir(const std::string& path, bool recursive = false) {
    proto::JournalEntry e;
    e.mutable_mkdir()->set_path(path);
    e.mutable_mkdir()->set_recursive(recursive);
    e.mutable_mkdir()->set_time_ms(2000);
    return journal_->Submit(e);
  }
  absl::StatusOr<proto::JournalResult> Create(const std::string& path, bool overwrite = false) {
    proto::JournalEntry e;
    e.mutable_create_file()->set_path(path);
    e.mutable_create_file()->set_overwrite(overwrite);
    e.mutable_create_file()->set_block_size_bytes(100);
    e.mutable_create_file()->set_time_ms(3000);
    return journal_->Submit(e);
  }
  absl::StatusOr<proto::JournalResult> Delete(const std::string& path, bool recursive) {
    proto::JournalEntry e;
    e.mutable_delete_()->set_path(path);
    e.mutable_delete_()->set_recursive(recursive);
    return journal_->Submit(e);
  }
  absl::StatusOr<proto::JournalResult> Rename(const std::string& src, const std::string& dst) {
    proto::JournalEntry e;
    e.mutable_rename()->set_src_path(src);
    e.mutable_rename()->set_dst_path(dst);
    return journal_->Submit(e);
  }
  absl::StatusOr<proto::JournalResult> MkdirWithId(const std::string& path, const std::string& operation_id,
                                                   int64_t time_ms) {
    proto::JournalEntry e;
    e.mutable_mkdir()->set_path(path);
    e.mutable_mkdir()->set_time_ms(time_ms);
    e.set_operation_id(operation_id);
    return journal_->Submit(e);
  }
  // Every edge's copy of its child equals the child's record, and every inode but the root has
  // its edge (the invariant listings rely on); returns the number of edges checked.
  int CheckEdgeCopies() {
    int edges = 0;
    EXPECT_TRUE(kv_->Scan(kEdgesCf, "", "", [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
      ++edges;
      EXPECT_GT(value.size(), 8u) << "edge " << key.substr(8) << " carries no copy";
      const uint64_t id = kv::DecodeUint64(value.substr(0, 8));
      auto record = kv_->Get(kInodesCf, InodeKey(id));
      EXPECT_TRUE(record.ok() && record->has_value()) << "edge " << key.substr(8) << " to missing inode " << id;
      if (record.ok() && record->has_value()) {
        EXPECT_EQ(value.substr(8), **record) << "stale copy in the edge of " << key.substr(8);
      }
      return true;
    }).ok());
    int inodes = 0;
    EXPECT_TRUE(kv_->Scan(kInodesCf, "", "", [&](std::string_view, std::string_view) -> absl::StatusOr<bool> {
      ++inodes;
      return true;
    }).ok());
    EXPECT_EQ(inodes, edges + 1) << "inodes without an edge (or edges without an inode)";
    return edges;
  }
  std::vector<std::string> Children(const std::string& path) {
    std::vector<std::string> names;
    auto dir = store_->Resolve(path);
    EXPECT_TRUE(dir.ok()) << dir.status();
    EXPECT_TRUE(store_->ListChildren(dir->id(), "", [&](const proto::Inode& i) -> absl::StatusOr<bool> {
      names.push_back(i.name());
      return true;
    }).ok());
    return names;
  }

  std::string dir_;
  std::unique_ptr<kv::KvStore> kv_;
  std::unique_ptr<NamespaceStore> store_;
  std::unique_ptr<NamespaceStateMachine> sm_;
  std::unique_ptr<journal::LocalJournal> journal_;
};

TEST_F(StateMachineTest, MkdirNeedsParentUnlessRecursive) {
  EXPECT_EQ(Mkdir("/a/b").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(Mkdir("/a/b/c", true).ok());
  EXPECT_TRUE(store_->Lookup("/a/b/c")->has_value());
  EXPECT_EQ(Mkdir("/a/b").status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Children("/a"), std::vector<std::string>{"b"});
}

TEST_F(StateMachineTest, ListingIsSortedByName) {
  for (const char* name : {"/zeta", "/alpha", "/Mid", "/beta"}) ASSERT_TRUE(Mkdir(name).ok());
  EXPECT_EQ(Children("/"), (std::vector<std::string>{"Mid", "alpha", "beta", "zeta"}));
}

TEST_F(StateMachineTest, CreateCompleteAndOverwrite) {
  auto created = Create("/f");
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(Create("/f").status().code(), absl::StatusCode::kAlreadyExists);
  proto::JournalEntry complete;
  complete.mutable_complete_file()->set_file_id(created->inode_id());
  complete.mutable_complete_file()->set_length(250);
  complete.mutable_complete_file()->set_persistence_state(proto::PERSISTED);
  ASSERT_TRUE(journal_->Submit(complete).ok());
  EXPECT_EQ(journal_->Submit(complete).status().code(), absl::StatusCode::kFailedPrecondition) << "completed twice";
  auto inode = store_->Resolve("/f");
  ASSERT_TRUE(inode.ok());
  EXPECT_EQ(inode->length(), 250);
  EXPECT_TRUE(inode->completed());
  auto overwritten = Create("/f", true);
  ASSERT_TRUE(overwritten.ok());
  ASSERT_EQ(overwritten->removed_file_ids_size(), 1);
  EXPECT_EQ(overwritten->removed_file_ids(0), created->inode_id());
  EXPECT_FALSE(store_->GetInode(created->inode_id())->has_value());
  EXPECT_EQ(Create("/f/x").status().code(), absl::StatusCode::kFailedPrecondition) << "file as a directory";
}

TEST_F(StateMachineTest, DeleteRefusesNonEmptyDirectoryWithoutRecursive) {
  ASSERT_TRUE(Mkdir("/d/e", true).ok());
  auto f = Create("/d/e/f");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(Delete("/d", false).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Delete("/", true).status().code(), absl::StatusCode::kInvalidArgument);
  auto removed = Delete("/d", true);
  ASSERT_TRUE(removed.ok());
  ASSERT_EQ(removed->removed_file_ids_size(), 1);
  EXPECT_EQ(removed->removed_file_ids(0), f->inode_id());
  EXPECT_TRUE(Children("/").empty());
  EXPECT_EQ(Delete("/d", true).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StateMachineTest, RenameRules) {
  ASSERT_TRUE(Mkdir("/a/b", true).ok());
  ASSERT_TRUE(Create("/a/b/f").ok());
  ASSERT_TRUE(Mkdir("/c").ok());
  EXPECT_EQ(Rename("/a", "/a/b/x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Rename("/a", "/c").status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Rename("/a", "/nope/x").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(Rename("/a/b", "/c/b2").ok());
  EXPECT_TRUE(store_->Lookup("/c/b2/f")->has_value());
  EXPECT_FALSE(store_->Lookup("/a/b")->has_value());
}

TEST_F(StateMachineTest, FailedPreconditionConsumesIndexAndStateSurvivesReopen) {
  ASSERT_TRUE(Mkdir("/keep").ok());
  EXPECT_FALSE(Mkdir("/keep").ok());
  ASSERT_TRUE(Create("/keep/f").ok());
  EXPECT_EQ(sm_->last_applied_index(), 3u);
  Close();
  Open();
  EXPECT_EQ(sm_->last_applied_index(), 3u);
  EXPECT_TRUE(store_->Lookup("/keep/f")->has_value());
  // Ids keep growing after a restart (no reuse of a deleted file's id and so its block ids).
  auto next = Create("/keep/g");
  ASSERT_TRUE(next.ok());
  EXPECT_GT(next->inode_id(), store_->Resolve("/keep/f")->id());
}

// Operation records are kept for the retention time, then pruned a bounded number per applied
// entry; a restart (which forgets where pruning stopped) prunes the same way.
TEST_F(StateMachineTest, OperationRecordsArePrunedAfterTheRetention) {
  Close();
  Open(/*sync_writes=*/false);
  constexpr int kOld = 100;
  for (int i = 0; i < kOld; ++i) ASSERT_TRUE(MkdirWithId(absl::StrCat("/old", i), absl::StrCat("old-op-", i), 1000 + i).ok());
  const int64_t later = 1000 + kOperationRetentionMs + kOld;
  // Entries after the retention prune the old records, at most kMaxPrunedPerEntry each.
  const int needed = (kOld + kMaxPrunedPerEntry - 1) / kMaxPrunedPerEntry;
  for (int i = 0; i < needed; ++i) {
    if (i == needed / 2) {
      Close();
      Open(/*sync_writes=*/false);
    }
    const int before = [&] {
      int n = 0;
      for (int k = 0; k < kOld; ++k) n += store_->GetOperation(absl::StrCat("old-op-", k))->has_value();
      return n;
    }();
    ASSERT_TRUE(MkdirWithId(absl::StrCat("/new", i), absl::StrCat("new-op-", i), later + i).ok());
    int after = 0;
    for (int k = 0; k < kOld; ++k) after += store_->GetOperation(absl::StrCat("old-op-", k))->has_value();
    EXPECT_EQ(before - after, std::min(before, kMaxPrunedPerEntry)) << "entry " << i;
  }
  for (int k = 0; k < kOld; ++k) EXPECT_FALSE(store_->GetOperation(absl::StrCat("old-op-", k))->has_value()) << k;
  for (int i = 0; i < needed; ++i) EXPECT_TRUE(store_->GetOperation(absl::StrCat("new-op-", i))->has_value()) << i;
  // A pruned id is a new operation again.
  EXPECT_EQ(MkdirWithId("/old0", "old-op-0", later + needed).status().code(), absl::StatusCode::kAlreadyExists);
}

// A path walk sees the namespace as of one moment even while renames move its components.
// Neither before nor after the two renames below does "/b/f" exist, yet a walk that read "/b"
// before it became "/c" and then looked for f in that directory after f moved there would
// find it. The renames are committed in the middle of the walk, after its first component.
TEST_F(StateMachineTest, PathWalkIsConsistentWhenRenamesCommitInTheMiddle) {
  for (size_t cache_entries : {size_t{1000}, size_t{0}}) {
    Close();
    std::filesystem::remove_all(dir_);
    Open(/*sync_writes=*/false, cache_entries);
    ASSERT_TRUE(Mkdir("/a").ok());
    ASSERT_TRUE(Mkdir("/b").ok());
    ASSERT_TRUE(Create("/a/f").ok());
    int steps = 0;
    store_->SetWalkStepHookForTest([&] {
      if (++steps != 1) return;
      ASSERT_TRUE(Rename("/b", "/c").ok());
      ASSERT_TRUE(Rename("/a/f", "/c/f").ok());
    });
    auto found = store_->Lookup("/b/f");
    store_->SetWalkStepHookForTest(nullptr);
    ASSERT_TRUE(found.ok()) << found.status();
    EXPECT_FALSE(found->has_value()) << "cache " << cache_entries;
    EXPECT_GT(steps, 1);  // the walk was repeated
    // Committed changes are visible at once, through the cache too.
    EXPECT_TRUE(store_->Lookup("/c/f")->has_value());
    EXPECT_FALSE(store_->Lookup("/a/f")->has_value());
  }
}

// The same under free-running concurrency: readers walk "/b/f" while a writer cycles through
// states in none of which it exists.
TEST_F(StateMachineTest, PathWalksAreConsistentUnderConcurrentRenames) {
  Close();
  Open(/*sync_writes=*/false);
  ASSERT_TRUE(Mkdir("/a").ok());
  ASSERT_TRUE(Mkdir("/b").ok());
  ASSERT_TRUE(Create("/a/f").ok());
  std::atomic<bool> stop{false};
  std::atomic<int64_t> walks{0}, anomalies{0}, errors{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!stop) {
        auto found = store_->Lookup("/b/f");
        errors += !found.ok();
        anomalies += found.ok() && found->has_value();
        ++walks;
      }
    });
  }
  // Applied without waiting for durability (no fsync each), so the cycle is fast.
  auto rename = [&](const std::string& src, const std::string& dst) {
    proto::JournalEntry e;
    e.mutable_rename()->set_src_path(src);
    e.mutable_rename()->set_dst_path(dst);
    auto appended = journal_->Append(e);
    return appended.ok() && appended->outcome.status.ok();
  };
  for (int cycle = 0; cycle < 500; ++cycle) {
    ASSERT_TRUE(rename("/b", "/c"));
    ASSERT_TRUE(rename("/a/f", "/c/f"));
    ASSERT_TRUE(rename("/c/f", "/a/f"));
    ASSERT_TRUE(rename("/c", "/b"));
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(anomalies.load(), 0) << "of " << walks.load() << " walks";
  EXPECT_EQ(errors.load(), 0) << "of " << walks.load() << " walks";
}

TEST_F(StateMachineTest, EdgesCarryTheCurrentInodeThroughEveryMutation) {
  auto submit = [&](const proto::JournalEntry& e) {
    auto result = journal_->Submit(e);
    EXPECT_TRUE(result.ok()) << result.status() << " for " << e.ShortDebugString();
    return result.ok() ? result->inode_id() : 0;
  };
  ASSERT_TRUE(Mkdir("/a/b", true).ok());
  auto created = Create("/a/b/f");
  ASSERT_TRUE(created.ok());
  ASSERT_TRUE(Create("/a/g").ok());
  CheckEdgeCopies();
  proto::JournalEntry complete;
  complete.mutable_complete_file()->set_file_id(created->inode_id());
  complete.mutable_complete_file()->set_length(250);
  complete.mutable_complete_file()->set_time_ms(4000);
  complete.mutable_complete_file()->set_persistence_state(proto::TO_BE_PERSISTED);
  submit(complete);
  CheckEdgeCopies();
  proto::JournalEntry job;
  job.mutable_persist_job()->set_file_id(created->inode_id());
  job.mutable_persist_job()->mutable_job()->set_attempts(1);
  submit(job);
  proto::JournalEntry persisted;
  persisted.mutable_persist_file()->set_file_id(created->inode_id());
  persisted.mutable_persist_file()->mutable_ufs_fingerprint()->set_length(250);
  persisted.mutable_persist_file()->set_time_ms(5000);
  submit(persisted);
  CheckEdgeCopies();
  proto::JournalEntry attr;
  attr.mutable_set_attribute()->set_path("/a");
  attr.mutable_set_attribute()->set_recursive(true);
  attr.mutable_set_attribute()->set_mode(0700);
  attr.mutable_set_attribute()->set_owner("o2");
  attr.mutable_set_attribute()->set_pinned(true);
  attr.mutable_set_attribute()->set_ttl_ms(60000);
  submit(attr);
  CheckEdgeCopies();
  ASSERT_TRUE(Rename("/a/b", "/c").ok());  // a directory to another parent
  ASSERT_TRUE(Rename("/c/f", "/c/f2").ok());
  CheckEdgeCopies();
  proto::JournalEntry sync;
  sync.mutable_ufs_sync()->set_path("/c");
  sync.mutable_ufs_sync()->set_time_ms(6000);
  sync.mutable_ufs_sync()->set_block_size_bytes(100);
  sync.mutable_ufs_sync()->set_complete_listing(true);
  sync.mutable_ufs_sync()->add_removed("f2");  // persisted, so it goes with its under-store copy
  proto::UfsChild* u = sync.mutable_ufs_sync()->add_upserts();
  u->set_name("from-ufs");
  u->set_length(7);
  u->set_mtime_ms(5500);
  submit(sync);
  CheckEdgeCopies();
  ASSERT_TRUE(Delete("/a", true).ok());
  EXPECT_EQ(CheckEdgeCopies(), 2) << "/c and /c/from-ufs";
  // The copies are what a listing returns.
  auto page = store_->ListChildrenPage(store_->Resolve("/c")->id(), "", 10, false);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0]->name(), "from-ufs");
  EXPECT_EQ((*page)[0]->length(), 7);
  Close();
  Open();
  CheckEdgeCopies();
}

// A metastore of its own, for tests that compare two of them.
struct Replica {
  explicit Replica(const std::string& dir) {
    kv::KvStoreOptions options{dir, NamespaceColumnFamilies(), /*sync_writes=*/false};
    AddNamespaceKvOptions(&options);
    kv = *kv::KvStore::Open(options);
    store = std::make_unique<NamespaceStore>(kv.get(), /*cache_entries=*/64);
    EXPECT_TRUE(store->FormatIfEmpty(1000, 0755, "u", "g").ok());
    sm = *NamespaceStateMachine::Create(store.get());
  }
  // Every key and value of every column family, but the cluster id (random when formatted).
  std::vector<std::string> Dump() const {
    std::vector<std::string> all;
    for (size_t cf = 0; cf < NamespaceColumnFamilies().size(); ++cf) {
      EXPECT_TRUE(kv->Scan(static_cast<kv::ColumnFamily>(cf), "", "", [&](std::string_view k, std::string_view v) -> absl::StatusOr<bool> {
        if (cf == kMetaCf && k == kMetaClusterId) return true;
        all.push_back(absl::StrCat(cf, "|", absl::CEscape(std::string(k)), "=", absl::CEscape(std::string(v))));
        return true;
      }).ok());
    }
    return all;
  }
  std::unique_ptr<kv::KvStore> kv;
  std::unique_ptr<NamespaceStore> store;
  std::unique_ptr<NamespaceStateMachine> sm;
};

// Whether `got` holds exactly the keys and values of `want`; if not, what differs.
::testing::AssertionResult SameMetastore(const Replica& got, const Replica& want) {
  const std::vector<std::string> a = got.Dump();
  const std::vector<std::string> b = want.Dump();
  std::vector<std::string> extra, missing;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(extra));
  std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(missing));
  if (extra.empty() && missing.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "the metastore has " << extra.size() << " keys the other lacks (first: "
                                       << (extra.empty() ? "-" : extra[0]) << ") and lacks " << missing.size()
                                       << " (first: " << (missing.empty() ? "-" : missing[0]) << ")";
}

// Random entries over a small namespace, so that they collide: creates, overwrites,
// completes, renames, deletes (recursive too), attribute changes, retried operation ids, and
// time jumps past the operation-record retention (pruning).
std::vector<proto::JournalEntry> RandomEntries(std::mt19937* rng, int count) {
  const std::vector<std::string> paths = {"/a", "/a/b", "/a/b/c", "/a/f", "/a/b/f", "/d", "/d/f", "/f", "/a/b/c/f"};
  auto pick = [&](const std::vector<std::string>& from) { return from[(*rng)() % from.size()]; };
  std::vector<proto::JournalEntry> entries;
  std::vector<std::string> operation_ids;
  int64_t time_ms = 10000;
  for (int i = 0; i < count; ++i) {
    time_ms += (*rng)() % 50 == 0 ? kOperationRetentionMs / 3 : 1 + (*rng)() % 5;
    if (!operation_ids.empty() && (*rng)() % 8 == 0) {
      entries.push_back(entries[(*rng)() % entries.size()]);  // a retry (or a replay) of an earlier entry
      continue;
    }
    proto::JournalEntry e;
    switch ((*rng)() % 8) {
      case 0: {
        e.mutable_mkdir()->set_path(pick(paths));
        e.mutable_mkdir()->set_recursive((*rng)() % 2 == 0);
        e.mutable_mkdir()->set_time_ms(time_ms);
        break;
      }
      case 1:
      case 2: {
        proto::CreateFileEntry* c = e.mutable_create_file();
        c->set_path(pick(paths));
        c->set_recursive((*rng)() % 3 != 0);
        c->set_overwrite((*rng)() % 2 == 0);
        c->set_block_size_bytes(64);
        c->set_write_type((*rng)() % 3 == 0 ? proto::ASYNC_THROUGH : proto::MUST_CACHE);
        c->set_time_ms(time_ms);
        break;
      }
      case 3: {
        proto::CompleteFileEntry* c = e.mutable_complete_file();
        c->set_file_id(2 + (*rng)() % 30);
        c->set_length(100);
        c->set_time_ms(time_ms);
        break;
      }
      case 4: {
        e.mutable_delete_()->set_path(pick(paths));
        e.mutable_delete_()->set_recursive((*rng)() % 2 == 0);
        e.mutable_delete_()->set_time_ms(time_ms);
        break;
      }
      case 5: {
        e.mutable_rename()->set_src_path(pick(paths));
        e.mutable_rename()->set_dst_path(pick(paths) + ((*rng)() % 2 == 0 ? "2" : ""));
        e.mutable_rename()->set_time_ms(time_ms);
        break;
      }
      case 6: {
        proto::SetAttributeEntry* a = e.mutable_set_attribute();
        a->set_path(pick(paths));
        a->set_recursive((*rng)() % 2 == 0);
        a->set_pinned((*rng)() % 2 == 0);
        a->set_ttl_ms((*rng)() % 3 == 0 ? 0 : 1000 * (1 + (*rng)() % 3));
        a->set_time_ms(time_ms);
        break;
      }
      default: {
        e.mutable_mkdir()->set_path(pick(paths) + "/x");
        e.mutable_mkdir()->set_recursive(true);
        e.mutable_mkdir()->set_time_ms(time_ms);
        break;
      }
    }
    if ((*rng)() % 4 != 0) {
      operation_ids.push_back(absl::StrCat("op-", i));
      e.set_operation_id(operation_ids.back());
    }
    entries.push_back(std::move(e));
  }
  return entries;
}

std::string OutcomeString(const journal::ApplyOutcome& o) {
  return absl::StrCat(o.status.ToString(), " ", o.result.ShortDebugString());
}

// Applying entries in batches of any size gives what applying them one by one gives: the
// same outcome for every entry and the same metastore, key for key (which replicas that batch
// differently depend on).
TEST_F(StateMachineTest, BatchesApplyExactlyAsEntriesOneByOne) {
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    std::mt19937 rng(seed);
    const std::vector<proto::JournalEntry> entries = RandomEntries(&rng, 300);
    Replica one_by_one(absl::StrCat(dir_, "-one-", seed));
    Replica batched(absl::StrCat(dir_, "-batched-", seed));
    std::vector<std::string> expected;
    for (size_t i = 0; i < entries.size(); ++i) {
      auto outcome = one_by_one.sm->Apply(i + 1, entries[i]);
      ASSERT_TRUE(outcome.ok()) << outcome.status();
      expected.push_back(OutcomeString(*outcome));
    }
    int failed = 0;
    for (const std::string& o : expected) failed += o.rfind("OK ", 0) != 0;
    EXPECT_GT(failed, 20) << "the history should exercise failed preconditions too";
    EXPECT_LT(failed, 250) << "the history should mostly succeed";
    for (size_t begin = 0; begin < entries.size();) {
      const size_t n = std::min(entries.size() - begin, size_t{1} + rng() % 40);
      std::vector<const proto::JournalEntry*> batch;
      for (size_t i = begin; i < begin + n; ++i) batch.push_back(&entries[i]);
      auto outcomes = batched.sm->ApplyBatch(begin + 1, batch);
      ASSERT_TRUE(outcomes.ok()) << outcomes.status();
      ASSERT_EQ(outcomes->size(), n);
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(OutcomeString((*outcomes)[i]), expected[begin + i]) << "seed " << seed << ", entry " << begin + i + 1
                                                                      << ": " << entries[begin + i].ShortDebugString();
      }
      begin += n;
    }
    EXPECT_EQ(batched.sm->last_applied_index(), entries.size());
    {
      EXPECT_TRUE(SameMetastore(batched, one_by_one)) << "seed " << seed << ", batched against one by one";
    }
    std::filesystem::remove_all(absl::StrCat(dir_, "-one-", seed));
    std::filesystem::remove_all(absl::StrCat(dir_, "-batched-", seed));
  }
}

TEST_F(StateMachineTest, InstalledEffectsLeaveTheStateApplyingWouldHave) {
  for (uint32_t seed = 1; seed <= 8; ++seed) {
    std::mt19937 rng(seed);
    const std::vector<proto::JournalEntry> entries = RandomEntries(&rng, 300);
    Replica leader(absl::StrCat(dir_, "-leader-", seed));
    Replica follower(absl::StrCat(dir_, "-follower-", seed));
    // The leader applies the first 240 entries in batches; the follower installs their effects,
    // several batches per install.
    std::vector<std::pair<size_t, std::string>> pending;  // (end of the batch, effects)
    size_t installed = 0;
    for (size_t begin = 0; begin < 240;) {
      const size_t n = std::min<size_t>(240 - begin, 1 + rng() % 30);
      std::vector<const proto::JournalEntry*> batch;
      for (size_t i = begin; i < begin + n; ++i) batch.push_back(&entries[i]);
      std::string effects;
      auto outcomes = leader.sm->ApplyBatchWithEffects(begin + 1, batch, &effects);
      ASSERT_TRUE(outcomes.ok()) << outcomes.status();
      ASSERT_FALSE(effects.empty());
      begin += n;
      pending.emplace_back(begin, std::move(effects));
      if (rng() % 3 == 0 || begin == 240) {
        std::vector<const std::string*> chain;
        for (const auto& [end, e] : pending) chain.push_back(&e);
        ASSERT_TRUE(follower.sm->InstallEffects(installed + 1, begin, chain).ok()) << "seed " << seed;
        installed = begin;
        pending.clear();
      }
    }
    EXPECT_EQ(follower.sm->last_applied_index(), 240u);
    // Then both apply the rest: the follower's in-memory state (next inode id) followed too.
    std::vector<const proto::JournalEntry*> rest;
    for (size_t i = 240; i < entries.size(); ++i) rest.push_back(&entries[i]);
    auto leader_outcomes = leader.sm->ApplyBatch(241, rest);
    auto follower_outcomes = follower.sm->ApplyBatch(241, rest);
    ASSERT_TRUE(leader_outcomes.ok() && follower_outcomes.ok());
    for (size_t i = 0; i < rest.size(); ++i) {
      EXPECT_EQ(OutcomeString((*follower_outcomes)[i]), OutcomeString((*leader_outcomes)[i])) << "entry " << 241 + i;
    }
    EXPECT_EQ(follower.sm->last_applied_index(), entries.size());
    EXPECT_TRUE(SameMetastore(follower, leader)) << "seed " << seed << ", follower against leader";
    std::filesystem::remove_all(absl::StrCat(dir_, "-leader-", seed));
    std::filesystem::remove_all(absl::StrCat(dir_, "-follower-", seed));
  }
}

TEST_F(StateMachineTest, BadEffectsAreRefusedAndChangeNothing) {
  Replica leader(dir_ + "-leader");
  Replica follower(dir_ + "-follower");
  std::vector<proto::JournalEntry> entries(3);
  entries[0].mutable_mkdir()->set_path("/a");
  entries[1].mutable_mkdir()->set_path("/a/b");
  entries[2].mutable_mkdir()->set_path("/c");
  std::vector<const proto::JournalEntry*> first = {&entries[0], &entries[1]};
  std::vector<const proto::JournalEntry*> second = {&entries[2]};
  std::string effects1, effects2;
  ASSERT_TRUE(leader.sm->ApplyBatchWithEffects(1, first, &effects1).ok());
  ASSERT_TRUE(leader.sm->ApplyBatchWithEffects(3, second, &effects2).ok());
  const std::vector<std::string> before = follower.Dump();

  const std::string garbage = "\x0a\xff\xff";  // a write_batch field longer than the message
  const std::string cut = effects2.substr(0, effects2.size() / 2);
  proto::NamespaceApplyEffects wrong_family;
  ASSERT_TRUE(wrong_family.ParseFromString(effects2));
  kv::KvWriteBatch batch;
  batch.Put(static_cast<kv::ColumnFamily>(NamespaceColumnFamilies().size()), "k", "v");
  wrong_family.set_write_batch(batch.Encode());
  const std::string wrong_family_bytes = wrong_family.SerializeAsString();
  for (const std::string* bad : {&garbage, &cut, &wrong_family_bytes}) {
    // The good first batch is not written either: a chain installs whole or not at all.
    std::vector<const std::string*> chain = {&effects1, bad};
    absl::Status status = follower.sm->InstallEffects(1, 3, chain);
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
    EXPECT_EQ(follower.sm->last_applied_index(), 0u);
    EXPECT_EQ(follower.Dump(), before);
  }
  std::vector<const std::string*> out_of_order = {&effects2};
  EXPECT_EQ(follower.sm->InstallEffects(3, 3, out_of_order).code(), absl::StatusCode::kInternal);
  std::vector<const std::string*> chain = {&effects1, &effects2};
  ASSERT_TRUE(follower.sm->InstallEffects(1, 3, chain).ok());
  EXPECT_TRUE(SameMetastore(follower, leader));
}

TEST_F(StateMachineTest, ABatchMustFollowTheAppliedIndex) {
  proto::JournalEntry e;
  e.mutable_mkdir()->set_path("/x");
  const proto::JournalEntry* batch[] = {&e, &e};
  EXPECT_EQ(sm_->ApplyBatch(5, batch).status().code(), absl::StatusCode::kInternal);
  auto outcomes = sm_->ApplyBatch(sm_->last_applied_index() + 1, batch);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  EXPECT_TRUE((*outcomes)[0].status.ok());
  EXPECT_EQ((*outcomes)[1].status.code(), absl::StatusCode::kAlreadyExists);  // saw the first one's write
  EXPECT_EQ(sm_->last_applied_index(), 2u);
}

TEST_F(StateMachineTest, VersionOneStoreIsUpgradedWhenOpened) {
  ASSERT_TRUE(Mkdir("/d").ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Create(absl::StrCat("/d/f", i)).ok());
  // Turn it back into a version 1 store: edges hold only the child id.
  kv::KvWriteBatch old;
  ASSERT_TRUE(kv_->Scan(kEdgesCf, "", "", [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
    old.Put(kEdgesCf, key, value.substr(0, 8));
    return true;
  }).ok());
  old.Put(kMetaCf, kMetaFormatVersion, kv::EncodeUint64(1));
  ASSERT_TRUE(kv_->Write(old).ok());
  Close();
  Open();
  EXPECT_EQ(CheckEdgeCopies(), 6);
  EXPECT_EQ(store_->GetMetaUint64(kMetaFormatVersion).value_or(0), kFormatVersion);
  EXPECT_EQ(Children("/d"), (std::vector<std::string>{"f0", "f1", "f2", "f3", "f4"}));
}

TEST_F(StateMachineTest, UnknownFormatVersionIsRefused) {
  kv::KvWriteBatch batch;
  batch.Put(kMetaCf, kMetaFormatVersion, kv::EncodeUint64(kFormatVersion + 1));
  ASSERT_TRUE(kv_->Write(batch).ok());
  absl::Status status = store_->FormatIfEmpty(1000, 0755, "u", "g");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("format version 3"), std::string::npos) << status;
}

}  // namespace
}  // namespace cistern::master
