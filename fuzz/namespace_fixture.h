// A formatted namespace over a real RocksDB metastore for the master's fuzz targets. The store
// lives in /dev/shm for the whole fuzzing process; Reset() wipes every column family and formats
// it again, so each input starts from the same empty namespace without reopening RocksDB.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "fuzz/fuzz_util.h"
#include "kv/kv_store.h"
#include "master/namespace_state_machine.h"
#include "master/namespace_store.h"

namespace cistern::fuzz {

class NamespaceFixture {
 public:
  NamespaceFixture() {
    char dir[] = "/dev/shm/cistern-fuzz-XXXXXX";
    FUZZ_CHECK(::mkdtemp(dir) != nullptr);
    dir_ = dir;
    // The fixture lives as long as the process (RocksDB stays open); its directory goes at exit.
    static std::string* removed_at_exit = nullptr;
    FUZZ_CHECK(removed_at_exit == nullptr);  // one fixture per process
    removed_at_exit = new std::string(dir_);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(*removed_at_exit, ignored);
    });
    kv::KvStoreOptions options{dir_, master::NamespaceColumnFamilies(), /*sync_writes=*/false};
    options.block_cache_bytes = 4 << 20;
    options.write_buffer_bytes = 8 << 20;
    master::AddNamespaceKvOptions(&options);
    absl::StatusOr<std::unique_ptr<kv::KvStore>> kv = kv::KvStore::Open(options);
    FUZZ_CHECK(kv.ok());
    kv_ = *std::move(kv);
  }

  // A fresh, formatted namespace (root only) and a state machine at applied index 0.
  void Reset() {
    state_machine_.reset();
    store_.reset();
    kv::KvWriteBatch wipe;
    for (size_t cf = 0; cf < master::NamespaceColumnFamilies().size(); ++cf) {
      FUZZ_CHECK(kv_->Scan(static_cast<kv::ColumnFamily>(cf), "", "",
                           [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
                             wipe.Delete(static_cast<kv::ColumnFamily>(cf), key);
                             return true;
                           })
                     .ok());
    }
    FUZZ_CHECK(kv_->Write(wipe).ok());
    store_ = std::make_unique<master::NamespaceStore>(kv_.get(), 1000);
    FUZZ_CHECK(store_->FormatIfEmpty(1000, 0755, "root", "root").ok());
    absl::StatusOr<std::unique_ptr<master::NamespaceStateMachine>> machine =
        master::NamespaceStateMachine::Create(store_.get());
    FUZZ_CHECK(machine.ok());
    state_machine_ = *std::move(machine);
  }

  kv::KvStore* kv() { return kv_.get(); }
  master::NamespaceStore* store() { return store_.get(); }
  master::NamespaceStateMachine* state_machine() { return state_machine_.get(); }

 private:
  std::string dir_;
  std::unique_ptr<kv::KvStore> kv_;
  std::unique_ptr<master::NamespaceStore> store_;
  std::unique_ptr<master::NamespaceStateMachine> state_machine_;
};

}  // namespace cistern::fuzz
