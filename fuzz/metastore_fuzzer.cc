// The metastore's decoders facing a corrupted store: arbitrary keys and values written into the
// namespace's column families (after a formatted root), then every read path of NamespaceStore
// (path walks, listings, inode and edge lookups, mounts, pins, TTL and operation scans) and the
// key codecs. Reads must answer or fail with a Status (DATA_LOSS for what does not decode),
// never crash or loop; keys built by the codecs must decode back to what built them.
#include "fuzz/fuzz_util.h"
#include "fuzz/namespace_fixture.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cistern;
  static auto* fixture = new fuzz::NamespaceFixture();
  fixture->Reset();
  fuzz::InputReader in(data, size);

  // Key codecs.
  const uint64_t a = in.Uint64();
  const uint64_t b = in.Uint64();
  FUZZ_CHECK(kv::DecodeUint64(kv::EncodeUint64(a)) == a);
  const std::string name(in.Piece());
  const std::string edge = master::EdgeKey(a, name);
  FUZZ_CHECK(edge.size() == 8 + name.size() && kv::DecodeUint64(edge) == a && edge.substr(8) == name);
  FUZZ_CHECK(edge.compare(0, 8, master::EdgePrefix(a)) == 0);
  const std::string ttl = master::TtlKey(static_cast<int64_t>(a >> 1), b);
  FUZZ_CHECK(ttl.size() == 16 && kv::DecodeUint64(ttl) == (a >> 1) && kv::DecodeUint64(ttl.substr(8)) == b);

  // Corrupt the store.
  kv::KvWriteBatch batch;
  const size_t cfs = master::NamespaceColumnFamilies().size();
  for (int i = 0; i < 16 && !in.empty(); ++i) {
    const auto cf = static_cast<kv::ColumnFamily>(in.Byte() % cfs);
    const std::string_view key = in.Piece();
    const std::string_view value = in.Piece(1024);
    if (in.Byte() & 1) {
      batch.Delete(cf, key);
    } else {
      batch.Put(cf, key, value);
    }
  }
  FUZZ_CHECK(fixture->kv()->Write(batch).ok());

  master::NamespaceStore* store = fixture->store();
  for (const char* path : {"/", "/a", "/a/b", "/a/b/c"}) {
    (void)store->Walk(path);
    (void)store->Lookup(path);
  }
  for (uint64_t id : {master::kRootInodeId, a, b}) {
    (void)store->GetInode(id);
    (void)store->GetChildId(id, name);
    (void)store->HasChildren(id);
    int visited = 0;
    (void)store->ListChildren(id, "", [&](const proto::Inode&) -> absl::StatusOr<bool> { return ++visited < 100; });
    (void)store->ListChildrenPage(id, "", 50, false);
  }
  for (std::string_view key : {master::kMetaAppliedIndex, master::kMetaNextInodeId, master::kMetaNextMountId}) {
    (void)store->GetMetaUint64(key);
  }
  (void)store->GetMetaString(master::kMetaClusterId);
  (void)store->LoadMounts();
  (void)store->PinnedFiles();
  (void)store->GetOperation(name);
  int expired = 0;
  (void)store->ForEachExpired(INT64_MAX, [&](int64_t, uint64_t) -> absl::StatusOr<bool> { return ++expired < 100; });
  // A restarted master over this store.
  (void)master::NamespaceStateMachine::Create(store);
  return 0;
}
