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

// One `fs ls` line (no newline): mode owner group length persistence mtime in-cache% path.
// `human` prints the length as "1.5GiB" instead of bytes.
std::string FormatLsLine(const FileStatus& status, bool human);

// The multi-line `fs stat` text (ends with a newline).
std::string FormatStat(const FileStatus& status);

// The `admin report` text (ends with a newline). `now_ms` is the current wall time, for the
// age of each worker's last heartbeat.
std::string FormatReport(const MasterInfo& master, const std::vector<WorkerSummary>& workers, int64_t now_ms);

// "LIVE", "LOST" or "UNKNOWN".
std::string WorkerStateName(WorkerState state);

}  // namespace cistern::cli
