// Backups of the master's namespace: a consistent copy of the metastore (a RocksDB checkpoint
// taken between two applied journal entries) written by `cistern admin backup`, and starting a
// master from one (master.metastore.restore_from). See docs/ha.md.
//
// A restored metastore starts the journal again from index 0: under Raft every master of the
// new group starts from the same backup (a master added later gets a snapshot).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "journal/journal.h"

namespace cistern::master {

// Writes the state machine's namespace into `dir` (absolute; must not exist; its parent must),
// atomically: a crash leaves no half backup under that name. Returns the applied index it holds.
absl::StatusOr<uint64_t> WriteBackup(journal::StateMachine* state_machine, const std::string& dir);

// If `metastore_dir` holds no metastore yet, fills it from the backup in `backup_dir` with the
// journal position reset (applied index 0, no Raft snapshot metadata); does nothing (and says
// so in the log) if a metastore is already there, so a restarted master keeps its state.
// FAILED_PRECONDITION if `raft_dir` holds Raft state but the metastore is missing (restoring
// under an existing log would break it); INVALID_ARGUMENT if `backup_dir` is not a backup.
absl::Status RestoreMetastoreIfEmpty(const std::string& backup_dir, const std::string& metastore_dir,
                                     const std::string& raft_dir);

}  // namespace cistern::master
