// Text formatting of the `cistern` command's output. Pure functions, so the exact output
// users and scripts see is unit-tested.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cistern/file_system.h"

namespace cistern::cli {

// "drwxr-xr-x" / "-rw-r--r--" from the permission bits (setuid/setgid/sticky shown as s/S, t/T).
std::string ModeString(uint32_t mode, bool is_directory);

// "2026-11-24 13:05:09" in local time; "-" for 0.
std::string FormatTimeMs(int64_t ms_since_epoch);

// One `fs ls` line (no newline): mode owner group length persistence mtime in-cache% path
// (in-cache is "-" for directories). `human` prints the length as "1.5GiB" instead of bytes.
std::string FormatLsLine(const FileStatus& status, bool human);

// The multi-line `fs stat` text (ends with a newline).
// What is cached of a directory's whole subtree (fs stat of a directory).
struct SubtreeUsage {
  int64_t files = 0;
  int64_t bytes = 0;
  int64_t cached_bytes = 0;
};
std::string FormatStat(const FileStatus& status, const SubtreeUsage* subtree = nullptr);
// "<cached> of <total> bytes (<percent>%)", the percent rounded down (100% only if all is).
std::string FormatCached(int64_t cached_bytes, int64_t total_bytes);

// The `admin report` text (ends with a newline): the master, the totals, every worker with its
// capacity per tier, and the mount table. `now_ms` is the current wall time, for the age of
// each worker's last heartbeat.
std::string FormatReport(const MasterInfo& master, const std::vector<WorkerSummary>& workers,
                         const std::vector<MountPoint>& mounts, int64_t now_ms);

// The `fs mount` (no arguments) table (ends with a newline).
std::string FormatMountTable(const std::vector<MountPoint>& mounts);

// "1h", "90s", "2d 3h": a duration for humans; "-" for 0.
std::string FormatTtl(int64_t ttl_ms);

// One `fs du` line: bytes, cached bytes, cached percent, path. `human` as in FormatLsLine.
std::string FormatDuLine(const std::string& path, int64_t bytes, int64_t cached_bytes, bool human);

// JSON documents (one line, no trailing newline) of the --json outputs.
std::string FileStatusJson(const FileStatus& status);
std::string ReportJson(const MasterInfo& master, const std::vector<WorkerSummary>& workers,
                       const std::vector<MountPoint>& mounts);
std::string MountTableJson(const std::vector<MountPoint>& mounts);

// "LIVE", "LOST" or "UNKNOWN".
std::string WorkerStateName(WorkerState state);

}  // namespace cistern::cli
