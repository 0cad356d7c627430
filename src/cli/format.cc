#include "cli/format.h"

#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/units.h"
#include "nlohmann/json.hpp"

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
                         FormatTimeMs(status.modification_time_ms),
                         status.is_directory ? std::string("-") : absl::StrCat(status.in_cache_percentage, "%"),
                         status.path);
}

std::string FormatCached(int64_t cached_bytes, int64_t total_bytes) {
  const int64_t percent = total_bytes > 0 ? cached_bytes * 100 / total_bytes : 100;
  return absl::StrCat(cached_bytes, " of ", total_bytes, " bytes (", percent, "%)");
}

std::string FormatStat(const FileStatus& s, const SubtreeUsage* subtree) {
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
  if (s.persist_job) {
    const PersistJobStatus& j = *s.persist_job;
    std::string job;
    if (j.worker_id != 0) {
      job = absl::StrCat("attempt ", j.attempts, " running on worker ", j.worker_id, " since ",
                         FormatTimeMs(j.attempt_started_ms));
    } else if (j.next_attempt_ms == 0) {
      job = "waiting for the file to be complete";
    } else {
      job = absl::StrCat(j.attempts, j.attempts == 1 ? " attempt" : " attempts", ", next not before ",
                         FormatTimeMs(j.next_attempt_ms));
    }
    line("Persistence", job);
    if (!j.last_error.empty()) line("Persist error", j.last_error);
  }
  if (!s.is_directory) line("Write type", s.write_type ? WriteTypeName(*s.write_type) : "-");
  line("UFS path", s.ufs_path.empty() ? "-" : s.ufs_path);
  line("Mount point", s.mount_point.empty() ? "-" : s.mount_point);
  line("Pinned", s.pinned ? "yes" : "no");
  line("TTL", s.ttl_ms > 0 ? absl::StrCat(FormatTtl(s.ttl_ms), " (", std::string(TtlActionName(s.ttl_action)), ", expires ",
                                          FormatTimeMs(s.creation_time_ms + s.ttl_ms), ")")
                           : "-");
  line("Replication", absl::StrCat("min ", s.replication_min, ", max ",
                                   s.replication_max > 0 ? absl::StrCat(s.replication_max) : "unlimited"));
  line("Last sync", FormatTimeMs(s.last_sync_ms));
  if (s.is_directory) {
    if (subtree != nullptr) {
      line("In cache", absl::StrCat(FormatCached(subtree->cached_bytes, subtree->bytes), " in ", subtree->files, " files"));
    }
    return out;
  }
  if (s.ufs_fingerprint.length > 0 || s.ufs_fingerprint.mtime_ms > 0 || !s.ufs_fingerprint.etag.empty()) {
    line("UFS fingerprint", absl::StrCat("length ", s.ufs_fingerprint.length, ", mtime ",
                                         FormatTimeMs(s.ufs_fingerprint.mtime_ms),
                                         s.ufs_fingerprint.etag.empty() ? "" : ", etag ", s.ufs_fingerprint.etag));
  }
  line("In cache", FormatCached(s.cached_bytes, s.length));
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

std::string FormatReport(const MasterInfo& master, const std::vector<WorkerSummary>& workers,
                         const std::vector<MountPoint>& mounts, int64_t now_ms) {
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
  bool any_tier = false;
  for (const WorkerSummary& w : workers) any_tier |= !w.tiers.empty();
  if (any_tier) {
    absl::StrAppend(&out, "\n", absl::StrFormat("%-14s %-6s %10s %10s %6s\n", "WORKER", "TIER", "CAPACITY", "USED", "USED%"));
    for (const WorkerSummary& w : workers) {
      for (const TierCapacity& t : w.tiers) {
        absl::StrAppend(&out, absl::StrFormat("%-14d %-6s %10s %10s %5d%%\n", w.worker_id, t.alias,
                                              FormatBytes(t.capacity_bytes), FormatBytes(t.used_bytes),
                                              t.capacity_bytes > 0 ? t.used_bytes * 100 / t.capacity_bytes : 0));
      }
    }
  }
  if (!mounts.empty()) absl::StrAppend(&out, "\n", FormatMountTable(mounts));
  return out;
}

std::string FormatMountTable(const std::vector<MountPoint>& mounts) {
  std::string out = absl::StrFormat("%-24s %-48s %-10s %-7s %s\n", "MOUNT POINT", "UFS URI", "ACCESS", "SHARED", "OPTIONS");
  for (const MountPoint& m : mounts) {
    std::string options;
    for (const auto& [key, value] : m.options) absl::StrAppend(&options, options.empty() ? "" : ",", key, "=", value);
    absl::StrAppend(&out, absl::StrFormat("%-24s %-48s %-10s %-7s %s\n", m.path, m.ufs_uri,
                                          m.read_only ? "read-only" : "read-write", m.shared ? "yes" : "no",
                                          options.empty() ? "-" : options));
  }
  return out;
}

std::string FormatTtl(int64_t ttl_ms) {
  if (ttl_ms <= 0) return "-";
  struct Unit {
    const char* name;
    int64_t ms;
  };
  static constexpr Unit kUnits[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
  std::string out;
  int64_t left = ttl_ms;
  for (const Unit& u : kUnits) {
    if (left >= u.ms) {
      absl::StrAppend(&out, out.empty() ? "" : " ", left / u.ms, u.name);
      left %= u.ms;
    }
  }
  return out;
}

std::string FormatDuLine(const std::string& path, int64_t bytes, int64_t cached_bytes, bool human) {
  const int percent = bytes > 0 ? static_cast<int>(cached_bytes * 100 / bytes) : 100;
  return absl::StrFormat("%14s %14s %5s %s", human ? FormatBytes(bytes) : absl::StrCat(bytes),
                         human ? FormatBytes(cached_bytes) : absl::StrCat(cached_bytes), absl::StrCat("(", percent, "%)"),
                         path);
}

namespace {

nlohmann::json StatusToJson(const FileStatus& s) {
  nlohmann::json j = {
      {"path", s.path},
      {"name", s.name},
      {"file_id", s.file_id},
      {"type", s.is_directory ? "directory" : "file"},
      {"length", s.length},
      {"mode", absl::StrFormat("%04o", s.mode)},
      {"owner", s.owner},
      {"group", s.group},
      {"creation_time_ms", s.creation_time_ms},
      {"modification_time_ms", s.modification_time_ms},
      {"persistence_state", std::string(PersistenceStateName(s.persistence_state))},
      {"ufs_path", s.ufs_path},
      {"mount_point", s.mount_point},
      {"pinned", s.pinned},
      {"ttl_ms", s.ttl_ms},
      {"ttl_action", std::string(TtlActionName(s.ttl_action))},
      {"replication_min", s.replication_min},
      {"replication_max", s.replication_max},
      {"last_sync_ms", s.last_sync_ms},
  };
  if (!s.is_directory) {
    j["block_size_bytes"] = s.block_size_bytes;
    j["completed"] = s.completed;
    j["write_type"] = s.write_type ? std::string(WriteTypeName(*s.write_type)) : std::string();
    j["in_cache_percentage"] = s.in_cache_percentage;
    j["cached_bytes"] = s.cached_bytes;
    j["block_ids"] = s.block_ids;
    if (s.persist_job) {
      const PersistJobStatus& p = *s.persist_job;
      j["persist_job"] = {{"attempts", p.attempts},
                          {"last_error", p.last_error},
                          {"worker_id", p.worker_id},
                          {"attempt_started_ms", p.attempt_started_ms},
                          {"next_attempt_ms", p.next_attempt_ms}};
    }
    if (!s.blocks.empty()) {
      nlohmann::json blocks = nlohmann::json::array();
      for (const BlockStatus& b : s.blocks) {
        nlohmann::json locations = nlohmann::json::array();
        for (const BlockLocation& l : b.locations) {
          locations.push_back({{"worker_id", l.worker_id}, {"address", l.address}, {"tier", l.tier}});
        }
        blocks.push_back({{"block_id", b.block_id}, {"offset", b.offset}, {"length", b.length}, {"locations", locations}});
      }
      j["blocks"] = blocks;
    }
  }
  return j;
}

nlohmann::json MountsToJson(const std::vector<MountPoint>& mounts) {
  nlohmann::json out = nlohmann::json::array();
  for (const MountPoint& m : mounts) {
    out.push_back({{"path", m.path}, {"ufs_uri", m.ufs_uri}, {"read_only", m.read_only}, {"shared", m.shared},
                   {"options", m.options}});
  }
  return out;
}

}  // namespace

std::string FileStatusJson(const FileStatus& status) { return StatusToJson(status).dump(); }

std::string MountTableJson(const std::vector<MountPoint>& mounts) { return MountsToJson(mounts).dump(); }

std::string ReportJson(const MasterInfo& master, const std::vector<WorkerSummary>& workers,
                       const std::vector<MountPoint>& mounts) {
  nlohmann::json ws = nlohmann::json::array();
  for (const WorkerSummary& w : workers) {
    nlohmann::json tiers = nlohmann::json::array();
    for (const TierCapacity& t : w.tiers) {
      tiers.push_back({{"alias", t.alias}, {"capacity_bytes", t.capacity_bytes}, {"used_bytes", t.used_bytes}});
    }
    ws.push_back({{"worker_id", w.worker_id}, {"address", w.address}, {"state", WorkerStateName(w.state)},
                  {"capacity_bytes", w.capacity_bytes}, {"used_bytes", w.used_bytes}, {"block_count", w.block_count},
                  {"last_heartbeat_ms", w.last_heartbeat_ms}, {"registered_ms", w.registered_ms}, {"tiers", tiers}});
  }
  nlohmann::json j = {
      {"master",
       {{"address", master.address}, {"version", master.version}, {"cluster_id", master.cluster_id},
        {"start_time_ms", master.start_time_ms}, {"applied_index", master.applied_index},
        {"inode_count", master.inode_count}}},
      {"workers", ws},
      {"mounts", MountsToJson(mounts)},
  };
  return j.dump();
}

}  // namespace cistern::cli
