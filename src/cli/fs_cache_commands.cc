// cistern fs load / persist: put files into worker caches, or their cached bytes into the
// under-store, and watch it happen (progress bar on a terminal, one result line per path).
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/context.h"
#include "cli/fs_util.h"
#include "cli/progress.h"
#include "common/clock.h"
#include "common/status.h"
#include "common/units.h"
#include "nlohmann/json.hpp"

namespace cistern::cli {
namespace {

std::string Seconds(int64_t ms) { return absl::StrFormat("%.1fs", static_cast<double>(ms) / 1000.0); }

struct LoadFlags {
  std::vector<std::string> paths;
  bool recursive = false;
  int parallel = 4;
  bool json = false;
};

absl::Status Load(Context* context, const LoadFlags& flags) {
  if (flags.parallel <= 0) return absl::InvalidArgumentError(absl::StrCat("--parallel ", flags.parallel, " must be positive"));
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  CISTERN_ASSIGN_OR_RETURN(std::vector<std::string> paths, ExpandPaths(fs, flags.paths));
  for (const std::string& path : paths) {
    ProgressBar bar(!flags.json);
    LoadOptions options;
    options.recursive = flags.recursive;
    options.parallelism = flags.parallel;
    options.progress = [&](const LoadProgress& p) {
      bar.Update(ProgressState{p.bytes_done, p.bytes_total, p.files_done, p.files_total, 0});
    };
    absl::StatusOr<LoadProgress> loaded = fs->Load(path, options);
    bar.Finish();
    if (!loaded.ok()) return NamePath(loaded.status(), path);
    const int64_t ms = bar.elapsed_ms();
    std::string line;
    if (flags.json) {
      line = nlohmann::json({{"path", path},
                             {"files_loaded", loaded->files_done},
                             {"bytes_loaded", loaded->bytes_done},
                             {"files_cached", loaded->files_cached},
                             {"bytes_cached", loaded->bytes_cached},
                             {"seconds", static_cast<double>(ms) / 1000.0}})
                 .dump();
    } else {
      line = absl::StrFormat("%s: loaded %d files (%s) in %s; %d files (%s) were cached already", path,
                             loaded->files_done, FormatBytes(loaded->bytes_done), Seconds(ms), loaded->files_cached,
                             FormatBytes(loaded->bytes_cached));
    }
    CISTERN_RETURN_IF_ERROR(PrintOut(line + "\n"));
  }
  return absl::OkStatus();
}

struct PersistFlags {
  std::vector<std::string> paths;
  bool recursive = false;
  bool no_wait = false;
  std::string timeout = "30m";
  bool json = false;
};

struct Watched {
  int64_t length = 0;
  bool persisted = false;
  std::string path;
  std::string last_error;
};

// Refreshes `files` (by id) from the master: a file, or a directory's files.
absl::Status Observe(FileSystem* fs, const FileStatus& root, std::map<uint64_t, Watched>* files) {
  std::set<uint64_t> seen;
  auto note = [&](const FileStatus& s) {
    auto it = files->find(s.file_id);
    if (it == files->end()) return;
    seen.insert(s.file_id);
    it->second.path = s.path;
    it->second.persisted = s.persistence_state == PersistenceState::kPersisted;
    if (s.persist_job && !s.persist_job->last_error.empty()) it->second.last_error = s.persist_job->last_error;
  };
  if (!root.is_directory) {
    absl::StatusOr<FileStatus> s = fs->GetStatus(root.path, GetStatusOptions{.include_block_locations = false});
    if (s.ok()) note(*s);
    if (!s.ok() && !absl::IsNotFound(s.status())) return s.status();
  } else {
    CISTERN_RETURN_IF_ERROR(fs->ListStatus(root.path, ListOptions{.recursive = true}, [&](const FileStatus& s) {
      if (!s.is_directory) note(s);
      return absl::OkStatus();
    }));
  }
  // Deleted (or replaced) meanwhile: nothing left to wait for.
  for (auto it = files->begin(); it != files->end();) it = seen.count(it->first) ? std::next(it) : files->erase(it);
  return absl::OkStatus();
}

absl::Status Persist(Context* context, const PersistFlags& flags) {
  absl::StatusOr<int64_t> timeout_ms = ParseDurationMs(flags.timeout);
  if (!timeout_ms.ok() || *timeout_ms < 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad --timeout '", flags.timeout, "' (a duration such as 10m; 0 = no limit)"));
  }
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  CISTERN_ASSIGN_OR_RETURN(std::vector<std::string> paths, ExpandPaths(fs, flags.paths));
  for (const std::string& path : paths) {
    absl::StatusOr<FileStatus> root = fs->GetStatus(path, GetStatusOptions{.include_block_locations = false});
    if (!root.ok()) return NamePath(root.status(), path);
    absl::StatusOr<PersistScheduled> scheduled = fs->Persist(path, flags.recursive);
    if (!scheduled.ok()) return NamePath(scheduled.status(), path);
    std::map<uint64_t, Watched> files;
    for (uint64_t id : scheduled->file_ids) files[id];
    if (!files.empty()) {
      // Lengths and paths for the progress line.
      CISTERN_RETURN_IF_ERROR(NamePath(Observe(fs, *root, &files), path));
      if (root->is_directory) {
        CISTERN_RETURN_IF_ERROR(fs->ListStatus(root->path, ListOptions{.recursive = true}, [&](const FileStatus& s) {
          if (auto it = files.find(s.file_id); it != files.end()) it->second.length = s.length;
          return absl::OkStatus();
        }));
      } else if (auto it = files.find(root->file_id); it != files.end()) {
        it->second.length = root->length;
      }
    }
    const int64_t total_files = static_cast<int64_t>(files.size());
    ProgressBar bar(!flags.json && !flags.no_wait);
    while (!flags.no_wait && !files.empty()) {
      ProgressState state;
      state.files_total = total_files;
      state.bytes_total = scheduled->bytes;
      state.files_done = total_files - static_cast<int64_t>(files.size());
      state.bytes_done = scheduled->bytes;
      bool all = true;
      for (const auto& [id, w] : files) {
        if (w.persisted) {
          ++state.files_done;
        } else {
          state.bytes_done -= w.length;
          all = false;
        }
      }
      bar.Update(state);
      if (all) break;
      if (*timeout_ms > 0 && bar.elapsed_ms() > *timeout_ms) {
        bar.Finish();
        int64_t left = 0;
        const Watched* example = nullptr;
        for (const auto& [id, w] : files) {
          if (w.persisted) continue;
          ++left;
          if (example == nullptr || (example->last_error.empty() && !w.last_error.empty())) example = &w;
        }
        return absl::DeadlineExceededError(absl::StrCat(
            left, " of ", total_files, " files not persisted after ", flags.timeout, ", e.g. '", example->path, "'",
            example->last_error.empty() ? "" : absl::StrCat(" (last attempt: ", example->last_error, ")")));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      CISTERN_RETURN_IF_ERROR(NamePath(Observe(fs, *root, &files), path));
    }
    bar.Finish();
    const int64_t ms = bar.elapsed_ms();
    std::string line;
    if (flags.json) {
      line = nlohmann::json({{"path", path},
                             {"files", total_files},
                             {"bytes", scheduled->bytes},
                             {"already_persisted", scheduled->persisted_files},
                             {"waited", !flags.no_wait},
                             {"seconds", static_cast<double>(ms) / 1000.0}})
                 .dump();
    } else if (flags.no_wait) {
      line = absl::StrFormat("%s: %d files (%s) scheduled for persistence; %d persisted already", path, total_files,
                             FormatBytes(scheduled->bytes), scheduled->persisted_files);
    } else {
      line = absl::StrFormat("%s: persisted %d files (%s) in %s; %d persisted already", path, total_files,
                             FormatBytes(scheduled->bytes), Seconds(ms), scheduled->persisted_files);
    }
    CISTERN_RETURN_IF_ERROR(PrintOut(line + "\n"));
  }
  return absl::OkStatus();
}

}  // namespace

void AddFsCacheCommands(CLI::App* fs, Context* context, std::vector<Command>* commands) {
  {
    CLI::App* cmd = fs->add_subcommand(
        "load", "Cache files on workers now (from their under-store), with a progress bar on a terminal");
    auto flags = std::make_shared<LoadFlags>();
    cmd->add_flag("-R,--recursive", flags->recursive, "Load everything below a directory");
    cmd->add_option("--parallel", flags->parallel, "Blocks loaded at the same time (default 4)");
    cmd->add_flag("--json", flags->json, "One JSON object per path and line instead of text (no progress bar)");
    cmd->add_option("path", flags->paths, "Files, directories or glob patterns")->required();
    commands->push_back({cmd, [=] { return Load(context, *flags); }});
  }
  {
    CLI::App* cmd = fs->add_subcommand(
        "persist", "Write files that are only cached (MUST_CACHE, ASYNC_THROUGH) to their under-store now, and wait");
    auto flags = std::make_shared<PersistFlags>();
    cmd->add_flag("-R,--recursive", flags->recursive, "Persist everything below a directory");
    cmd->add_flag("--no-wait", flags->no_wait, "Schedule and return without waiting");
    cmd->add_option("--timeout", flags->timeout, "Give up waiting after this long (default 30m; 0 = no limit)");
    cmd->add_flag("--json", flags->json, "One JSON object per path and line instead of text (no progress bar)");
    cmd->add_option("path", flags->paths, "Files, directories or glob patterns")->required();
    commands->push_back({cmd, [=] { return Persist(context, *flags); }});
  }
}

}  // namespace cistern::cli
