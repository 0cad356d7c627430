#include "cli/format.h"

#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/units.h"

namespace cistern::cli {

std::string ModeString(uint32_t mode, bool is_directory) {
  std::string s = is_directory ? "d" : "-";
  const char* rwx = "rwx";
  for (int who = 2; who >= 0; --who) {
    for (int bit = 2; bit >= 0; --bit) s.push_back((mode >> (who * 3 + bit)) & 1 ? rwx[2 - bit] : '-');
  }
  auto special = [&](size_t index, uint32_t flag, char set_exec, char set_noexec) {
    if (mode & flag) s[index] = s[index] == 'x' ? set_exec : set_noexec;
  };
  special(3, 04000, 's', 'S');
  special(6, 02000, 's', 'S');
  special(9, 01000, 't', 'T');
  return s;
}

std::string FormatTimeMs(int64_t ms_since_epoch) {
  if (ms_since_epoch <= 0) return "-";
  const time_t seconds = static_cast<time_t>(ms_since_epoch / 1000);
  struct tm tm;
  localtime_r(&seconds, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string FormatLsLine(const FileStatus& status, bool human) {
  const std::string length = human ? FormatBytes(status.length) : absl::StrCat(status.length);
  return absl::StrFormat("%-10s %-10s %-10s %12s %-15s %s %4s %s", ModeString(status.mode, status.is_directory),
                         status.owner.empty() ? "-" : status.owner, status.group.empty() ? "-" : status.group,
                         length, PersistenceStateName(status.persistence_state),
                         FormatTimeMs(status.modification_time_ms), absl::StrCat(status.in_cache_percentage, "%"),
                         status.path);
}

std::string FormatStat(const FileStatus& s) {
  std::string out;
  auto line = [&](std::string_view name, std::string_view value) {
    absl::StrAppend(&out, absl::StrFormat("%-19s %s\n", std::string(name) + ":", value));
  };
  line("Path", s.path);
  line("Type", s.is_directory ? "directory" : "file");
  line("Length", absl::StrCat(s.length, " (", FormatBytes(s.length), ")"));
  if (!s.is_directory) line("Block size", absl::StrCat(s.block_size_bytes, " (", FormatBytes(s.block_size_bytes), ")"));
  line("Mode", absl::StrFormat("%s (%04o)", ModeString(s.mode, s.is_directory), s.mode));
  line("Owner", s.owner);
  line("Group", s.group);
  line("Created", FormatTimeMs(s.creation_time_ms));
  line("Modified", FormatTimeMs(s.modification_time_ms));
  if (!s.is_directory) line("Completed", s.completed ? "yes" : "no");
  line("Persistence state", PersistenceStateName(s.persistence_state));
  if (!s.is_directory) line("Write type", s.write_type ? WriteTypeName(*s.write_type) : "-");
  line("UFS path", s.ufs_path.empty() ? "-" : s.ufs_path);
  line("Mount point", s.mount_point.empty() ? "-" : s.mount_point);
  if (s.is_directory) return out;
  line("In cache", absl::StrCat(s.in_cache_percentage, "%"));
  line("Pinned", s.pinned ? "yes" : "no");
  line("Blocks", absl::StrCat(s.is_directory ? 0 : std::max(s.blocks.size(), s.block_ids.size())));
  for (size_t i = 0; i < s.blocks.size(); ++i) {
    const BlockStatus& b = s.blocks[i];
    std::string locations;
    for (const BlockLocation& l : b.locations) {
      absl::StrAppend(&locations, locations.empty() ? "" : ", ", "worker ", l.worker_id, " ", l.address,
                      l.tier.empty() ? "" : " ", l.tier);
    }
    absl::StrAppend(&out, absl::StrFormat("  block %d: id %d offset %d length %d locations [%s]\n", i, b.block_id,
                                          b.offset, b.length, locations));
  }
  if (s.blocks.empty()) {
    for (size_t i = 0; i < s.block_ids.size(); ++i) {
      absl::StrAppend(&out, absl::StrFormat("  block %d: id %d\n", i, s.block_ids[i]));
    }
  }
  return out;
}

std::string WorkerStateName(WorkerState state) {
  switch (state) {
    case WorkerState::kLive: return "LIVE";
    case WorkerState::kLost: return "LOST";
    case WorkerState::kUnknown: break;
  }
  return "UNKNOWN";
}

std::string FormatReport(const MasterInfo& master, const std::vector<WorkerSummary>& workers, int64_t now_ms) {
  std::string out;
  int live = 0;
  int64_t capacity = 0, used = 0, blocks = 0;
  for (const WorkerSummary& w : workers) {
    if (w.state == WorkerState::kLive) {
      ++live;
      capacity += w.capacity_bytes;
      used += w.used_bytes;
      blocks += w.block_count;
    }
  }
  absl::StrAppend(&out, absl::StrFormat("%-16s %s\n", "Master:", master.address));
  absl::StrAppend(&out, absl::StrFormat("%-16s %s\n", "Version:", master.version));
  absl::StrAppend(&out, absl::StrFormat("%-16s %s\n", "Cluster id:", master.cluster_id));
  absl::StrAppend(&out, absl::StrFormat("%-16s %s\n", "Started:", FormatTimeMs(master.start_time_ms)));
  absl::StrAppend(&out, absl::StrFormat("%-16s %d\n", "Inodes:", master.inode_count));
  absl::StrAppend(&out, absl::StrFormat("%-16s %d\n", "Applied index:", master.applied_index));
  absl::StrAppend(&out, absl::StrFormat("%-16s %d live, %d lost\n", "Workers:", live, workers.size() - live));
  absl::StrAppend(&out, absl::StrFormat("%-16s %s (live workers)\n", "Capacity:", FormatBytes(capacity)));
  absl::StrAppend(&out, absl::StrFormat("%-16s %s\n", "Used:", FormatBytes(used)));
  absl::StrAppend(&out, absl::StrFormat("%-16s %d\n", "Cached blocks:", blocks));
  if (workers.empty()) return out;
  absl::StrAppend(&out, "\n", absl::StrFormat("%-14s %-24s %-6s %10s %10s %8s %s\n", "ID", "ADDRESS", "STATE", "CAPACITY",
                                              "USED", "BLOCKS", "LAST HEARTBEAT"));
  for (const WorkerSummary& w : workers) {
    const std::string age = w.last_heartbeat_ms > 0
                                ? absl::StrCat(FormatDurationMs(std::max<int64_t>(0, now_ms - w.last_heartbeat_ms)), " ago")
                                : "never";
    absl::StrAppend(&out, absl::StrFormat("%-14d %-24s %-6s %10s %10s %8d %s\n", w.worker_id, w.address,
                                          WorkerStateName(w.state), FormatBytes(w.capacity_bytes),
                                          FormatBytes(w.used_bytes), w.block_count, age));
  }
  return out;
}

}  // namespace cistern::cli
