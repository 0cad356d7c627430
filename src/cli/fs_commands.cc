// cistern fs: the namespace commands (ls, mkdir, rm, mv, stat, test, touch, count, du, location),
// attributes (chmod, chown, chgrp, pin, unpin, setTtl, unsetTtl), cache control (free), and
// mounts (mount, unmount, sync). The data commands are in fs_copy_commands.cc.
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "cli/context.h"
#include "cli/format.h"
#include "cli/fs_util.h"
#include "common/path.h"
#include "common/status.h"
#include "common/units.h"
#include "nlohmann/json.hpp"

namespace cistern::cli {
namespace {

// "--sync-interval": a duration ("0" = always re-check, "5m"), or "-1"/"never".
absl::StatusOr<std::optional<int64_t>> ParseSyncInterval(const std::string& text) {
  if (text.empty()) return std::optional<int64_t>();
  if (text == "-1" || text == "never") return std::optional<int64_t>(-1);
  absl::StatusOr<int64_t> ms = ParseDurationMs(text);
  if (!ms.ok() || *ms < 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad --sync-interval '", text, "' (a duration such as 0, 30s, 5m, or -1)"));
  }
  return std::optional<int64_t>(*ms);
}

struct LsFlags {
  std::vector<std::string> paths;
  bool recursive = false;
  bool human = false;
  bool json = false;
  std::string sync_interval;
};

absl::Status Ls(Context* context, const LsFlags& flags) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  ListOptions options;
  options.recursive = flags.recursive;
  CISTERN_ASSIGN_OR_RETURN(options.sync_interval_ms, ParseSyncInterval(flags.sync_interval));
  CISTERN_ASSIGN_OR_RETURN(std::vector<std::string> paths, ExpandPaths(fs, flags.paths));
  for (const std::string& path : paths) {
    absl::Status status = fs->ListStatus(path, options, [&](const FileStatus& entry) {
      std::string line = flags.json ? FileStatusJson(entry) : FormatLsLine(entry, flags.human);
      line.push_back('\n');
      return PrintOut(line);
    });
    CISTERN_RETURN_IF_ERROR(NamePath(status, path));
  }
  return absl::OkStatus();
}

absl::Status Mkdir(Context* context, const std::vector<std::string>& paths, bool parents) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  for (const std::string& path : paths) CISTERN_RETURN_IF_ERROR(NamePath(fs->CreateDirectory(path, parents), path));
  return absl::OkStatus();
}

absl::Status Rm(Context* context, const std::vector<std::string>& patterns, bool recursive) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  CISTERN_ASSIGN_OR_RETURN(std::vector<std::string> paths, ExpandPaths(fs, patterns));
  // The master's message already says what to do (e.g. "not empty (use -R / recursive)").
  for (const std::string& path : paths) CISTERN_RETURN_IF_ERROR(NamePath(fs->Delete(path, recursive), path));
  return absl::OkStatus();
}

absl::Status Mv(Context* context, const std::string& src, const std::string& dst) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  return NamePath(fs->Rename(src, dst), src);
}

struct Usage {
  int64_t directories = 0;
  int64_t files = 0;
  int64_t bytes = 0;
  int64_t cached_bytes = 0;

  void Add(const FileStatus& s) {
    if (s.is_directory) {
      ++directories;
      return;
    }
    ++files;
    bytes += s.length;
    cached_bytes += s.cached_bytes;
  }
};

// Usage of `path` itself (a file, or a directory with everything below it).
absl::StatusOr<Usage> TotalUsage(FileSystem* fs, const std::string& path) {
  CISTERN_ASSIGN_OR_RETURN(FileStatus root, fs->GetStatus(path, GetStatusOptions{.include_block_locations = false}));
  Usage usage;
  usage.Add(root);
  if (!root.is_directory) return usage;
  CISTERN_RETURN_IF_ERROR(fs->ListStatus(root.path, ListOptions{.recursive = true}, [&](const FileStatus& entry) {
    usage.Add(entry);
    return absl::OkStatus();
  }));
  return usage;
}

absl::Status Stat(Context* context, const std::vector<std::string>& patterns, bool json,
                  const std::string& sync_interval) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  GetStatusOptions options;
  CISTERN_ASSIGN_OR_RETURN(options.sync_interval_ms, ParseSyncInterval(sync_interval));
  CISTERN_ASSIGN_OR_RETURN(std::vector<std::string> paths, ExpandPaths(fs, patterns));
  for (size_t i = 0; i < paths.size(); ++i) {
    absl::StatusOr<FileStatus> status = fs->GetStatus(paths[i], options);
    if (!status.ok()) return NamePath(status.status(), paths[i]);
    std::optional<SubtreeUsage> subtree;
    if (status->is_directory) {
      // The whole subtree, summed from paged listings as `fs du -s` does.
      absl::StatusOr<Usage> usage = TotalUsage(fs, status->path);
      if (!usage.ok()) return NamePath(usage.status(), paths[i]);
      subtree = SubtreeUsage{usage->files, usage->bytes, usage->cached_bytes};
    }
    std::string text;
    if (json) {
      nlohmann::json j = nlohmann::json::parse(FileStatusJson(*status));
      if (subtree.has_value()) {
        j["subtree"] = {{"files", subtree->files}, {"bytes", subtree->bytes}, {"cached_bytes", subtree->cached_bytes}};
      }
      text = j.dump() + "\n";
    } else {
      text = FormatStat(*status, subtree.has_value() ? &*subtree : nullptr);
    }
    if (!json && i + 1 < paths.size()) text.push_back('\n');
    CISTERN_RETURN_IF_ERROR(PrintOut(text));
  }
  return absl::OkStatus();
}

struct TestFlags {
  bool exists = false;
  bool directory = false;
  bool file = false;
  std::string path;
};

// Answers through the exit code only: 0 true, 1 false.
absl::Status Test(Context* context, const TestFlags& flags) {
  if (flags.exists + flags.directory + flags.file != 1) {
    context->set_exit_code(kExitUsage);
    return absl::InvalidArgumentError("fs test needs exactly one of -e, -d, -f");
  }
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  bool answer = false;
  if (flags.exists) {
    absl::StatusOr<bool> exists = fs->Exists(flags.path);
    if (!exists.ok()) return NamePath(exists.status(), flags.path);
    answer = *exists;
  } else {
    absl::StatusOr<FileStatus> status = fs->GetStatus(flags.path, GetStatusOptions{.include_block_locations = false});
    if (!status.ok() && !absl::IsNotFound(status.status())) return NamePath(status.status(), flags.path);
    answer = status.ok() && status->is_directory == flags.directory;
  }
  context->set_exit_code(answer ? kExitOk : kExitError);
  return absl::OkStatus();
}

absl::Status Touch(Context* context, const std::vector<std::string>& paths) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  for (const std::string& path : paths) {
    absl::StatusOr<FileStatus> existing = fs->GetStatus(path, GetStatusOptions{.include_block_locations = false});
    if (existing.ok()) {
      if (existing->is_directory) return absl::FailedPreconditionError(absl::StrCat(path, " is a directory"));
      continue;  // Cistern keeps no settable times: an existing file is left as it is.
    }
    if (!absl::IsNotFound(existing.status())) return NamePath(existing.status(), path);
    absl::StatusOr<std::unique_ptr<FileWriter>> writer = fs->Create(path, CreateOptions{});
    if (!writer.ok()) return NamePath(writer.status(), path);
    CISTERN_RETURN_IF_ERROR(NamePath((*writer)->Close(), path));
  }
  return absl::OkStatus();
}

absl::Status Count(Context* context, const std::vector<std::string>& patterns, bool json) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  CISTERN_ASSIGN_OR_RETURN(std::vector<std::string> paths, ExpandPaths(fs, patterns));
  if (!json) CISTERN_RETURN_IF_ERROR(PrintOut(absl::StrFormat("%12s %12s %16s %s\n", "DIRS", "FILES", "BYTES", "PATH")));
  for (const std::string& path : paths) {
    absl::StatusOr<Usage> usage = TotalUsage(fs, path);
    if (!usage.ok()) return NamePath(usage.status(), path);
    const std::string line =
        json ? nlohmann::json({{"path", path}, {"directories", usage->directories}, {"files", usage->files},
                               {"bytes", usage->bytes}})
                       .dump()
             : absl::StrFormat("%12d %12d %16d %s", usage->directories, usage->files, usage->bytes, path);
    CISTERN_RETURN_IF_ERROR(PrintOut(line + "\n"));
  }
  return absl::OkStatus();
}

struct DuFlags {
  std::vector<std::string> paths;
  bool summary = false;
  bool human = false;
  bool json = false;
};

absl::Status Du(Context* context, const DuFlags& flags) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  CISTERN_ASSIGN_OR_RETURN(std::vector<std::string> paths, ExpandPaths(fs, flags.paths));
  auto print = [&](const std::string& path, const Usage& u) {
    const std::string line =
        flags.json ? nlohmann::json({{"path", path},
                                     {"bytes", u.bytes},
                                     {"cached_bytes", u.cached_bytes},
                                     {"cached_percentage", u.bytes > 0 ? u.cached_bytes * 100 / u.bytes : 100}})
                         .dump()
                   : FormatDuLine(path, u.bytes, u.cached_bytes, flags.human);
    return PrintOut(line + "\n");
  };
  if (!flags.json) {
    CISTERN_RETURN_IF_ERROR(PrintOut(absl::StrFormat("%14s %14s %5s %s\n", "BYTES", "CACHED", "", "PATH")));
  }
  for (const std::string& path : paths) {
    absl::StatusOr<FileStatus> root = fs->GetStatus(path, GetStatusOptions{.include_block_locations = false});
    if (!root.ok()) return NamePath(root.status(), path);
    if (flags.summary || !root->is_directory) {
      absl::StatusOr<Usage> usage = TotalUsage(fs, root->path);
      if (!usage.ok()) return NamePath(usage.status(), path);
      CISTERN_RETURN_IF_ERROR(print(root->path, *usage));
      continue;
    }
    // One line per child: everything below is charged to the child it is under.
    std::map<std::string, Usage> children;
    const size_t prefix = root->path == "/" ? 1 : root->path.size() + 1;
    absl::Status status = fs->ListStatus(root->path, ListOptions{.recursive = true}, [&](const FileStatus& e) {
      if (e.path.size() <= prefix) return absl::OkStatus();
      const size_t slash = e.path.find('/', prefix);
      children[slash == std::string::npos ? e.path : e.path.substr(0, slash)].Add(e);
      return absl::OkStatus();
    });
    CISTERN_RETURN_IF_ERROR(NamePath(status, path));
    for (const auto& [child, usage] : children) CISTERN_RETURN_IF_ERROR(print(child, usage));
  }
  return absl::OkStatus();
}

absl::Status Location(Context* context, const std::string& path, bool json) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  absl::StatusOr<FileStatus> status = fs->GetStatus(path);
  if (!status.ok()) return NamePath(status.status(), path);
  if (status->is_directory) return absl::FailedPreconditionError(absl::StrCat(status->path, " is a directory"));
  for (size_t i = 0; i < status->blocks.size(); ++i) {
    const BlockStatus& b = status->blocks[i];
    std::string line;
    if (json) {
      nlohmann::json locations = nlohmann::json::array();
      for (const BlockLocation& l : b.locations) {
        locations.push_back({{"worker_id", l.worker_id}, {"address", l.address}, {"tier", l.tier}});
      }
      line = nlohmann::json({{"index", i}, {"block_id", b.block_id}, {"offset", b.offset}, {"length", b.length},
                             {"locations", locations}})
                 .dump();
    } else {
      line = absl::StrFormat("block %d (id %d, offset %d, length %d):", i, b.block_id, b.offset, b.length);
      if (b.locations.empty()) absl::StrAppend(&line, " not cached");
      for (const BlockLocation& l : b.locations) {
        absl::StrAppend(&line, " worker ", l.worker_id, " ", l.address, " ", l.tier.empty() ? "-" : l.tier, ";");
      }
      if (!line.empty() && line.back() == ';') line.pop_back();
    }
    CISTERN_RETURN_IF_ERROR(PrintOut(line + "\n"));
  }
  return absl::OkStatus();
}

absl::Status SetAttr(Context* context, const std::vector<std::string>& patterns, const SetAttributeOptions& options) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  CISTERN_ASSIGN_OR_RETURN(std::vector<std::string> paths, ExpandPaths(fs, patterns));
  for (const std::string& path : paths) CISTERN_RETURN_IF_ERROR(NamePath(fs->SetAttribute(path, options).status(), path));
  return absl::OkStatus();
}

absl::Status Chown(Context* context, const std::string& spec, const std::vector<std::string>& paths, bool recursive) {
  SetAttributeOptions options;
  options.recursive = recursive;
  std::vector<std::string> parts = absl::StrSplit(spec, absl::MaxSplits(':', 1));
  if (parts.empty() || (parts[0].empty() && (parts.size() < 2 || parts[1].empty()))) {
    return absl::InvalidArgumentError(absl::StrCat("bad owner '", spec, "' (expected OWNER, OWNER:GROUP or :GROUP)"));
  }
  if (!parts[0].empty()) options.owner = parts[0];
  if (parts.size() == 2 && !parts[1].empty()) options.group = parts[1];
  return SetAttr(context, paths, options);
}

absl::Status SetTtl(Context* context, const std::string& path, const std::string& duration, const std::string& action) {
  absl::StatusOr<int64_t> ttl_ms = ParseDurationMs(duration);
  if (!ttl_ms.ok() || *ttl_ms <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad TTL '", duration, "' (a positive duration such as 90s, 1h, 7d)"));
  }
  SetAttributeOptions options;
  options.ttl_ms = *ttl_ms;
  CISTERN_ASSIGN_OR_RETURN(options.ttl_action, ParseTtlAction(action));
  return SetAttr(context, {path}, options);
}

absl::Status Free(Context* context, const std::vector<std::string>& patterns, const FreeOptions& options) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  CISTERN_ASSIGN_OR_RETURN(std::vector<std::string> paths, ExpandPaths(fs, patterns));
  for (const std::string& path : paths) {
    absl::StatusOr<FreeResult> result = fs->Free(path, options);
    if (!result.ok()) return NamePath(result.status(), path);
    CISTERN_RETURN_IF_ERROR(PrintOut(absl::StrFormat("%s: freed %d blocks of %d files\n", path, result->freed_blocks,
                                                     result->freed_files)));
  }
  return absl::OkStatus();
}

absl::Status Sync(Context* context, const std::vector<std::string>& paths, bool recursive) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  for (const std::string& path : paths) {
    absl::StatusOr<SyncResult> result = fs->SyncMetadata(path, recursive);
    if (!result.ok()) return NamePath(result.status(), path);
    CISTERN_RETURN_IF_ERROR(PrintOut(absl::StrFormat("%s: %d created, %d updated, %d removed\n", path,
                                                     result->created, result->updated, result->removed)));
  }
  return absl::OkStatus();
}

struct MountFlags {
  bool read_only = false;
  bool shared = false;
  bool json = false;
  std::vector<std::string> options;
  std::string path;
  std::string uri;
};

absl::Status Mount(Context* context, const MountFlags& flags) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  if (flags.path.empty() && flags.uri.empty()) {
    CISTERN_ASSIGN_OR_RETURN(std::vector<MountPoint> mounts, fs->GetMountTable());
    return PrintOut(flags.json ? MountTableJson(mounts) + "\n" : FormatMountTable(mounts));
  }
  if (flags.uri.empty()) {
    context->set_exit_code(kExitUsage);
    return absl::InvalidArgumentError("fs mount needs both PATH and URI (or neither, to list the mounts)");
  }
  MountOptions options;
  options.read_only = flags.read_only;
  options.shared = flags.shared;
  for (const std::string& kv : flags.options) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat("bad --option '", kv, "' (expected key=value)"));
    }
    options.options[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return NamePath(fs->Mount(flags.path, flags.uri, options), flags.path);
}

absl::Status Unmount(Context* context, const std::string& path) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  return NamePath(fs->Unmount(path), path);
}

}  // namespace

void AddFsCommands(CLI::App* root, Context* context, std::vector<Command>* commands) {
  CLI::App* fs = root->add_subcommand("fs", "Work with files and directories");
  fs->require_subcommand(1);
  fs->fallthrough();
  // Every data argument that names Cistern paths accepts glob patterns ('/data/*.bin').

  {
    CLI::App* cmd = fs->add_subcommand("ls", "List directories (one line per entry, in name order)");
    cmd->set_help_flag("--help", "Print this help message and exit");
    auto flags = std::make_shared<LsFlags>();
    cmd->add_flag("-R,--recursive", flags->recursive, "List the whole subtree");
    cmd->add_flag("-h,--human-readable", flags->human, "Print lengths as 1.5GiB instead of bytes");
    cmd->add_flag("--json", flags->json, "One JSON object per entry and line");
    cmd->add_option("--sync-interval", flags->sync_interval,
                    "Re-check the under-store if the master's view is older than this (0 = always, -1 = never)");
    cmd->add_option("path", flags->paths, "Directories, files or glob patterns")->required();
    commands->push_back({cmd, [=] { return Ls(context, *flags); }});
  }
  {
    CLI::App* cmd = fs->add_subcommand("mkdir", "Create directories");
    auto paths = std::make_shared<std::vector<std::string>>();
    auto parents = std::make_shared<bool>(false);
    cmd->add_flag("-p,--parents", *parents, "Create missing parents; an existing directory is not an error");
    cmd->add_option("path", *paths, "Directories to create")->required();
    commands->push_back({cmd, [=] { return Mkdir(context, *paths, *parents); }});
  }
  {
    CLI::App* cmd = fs->add_subcommand("rm", "Delete files or directories (and their under-store copies)");
    auto paths = std::make_shared<std::vector<std::string>>();
    auto recursive = std::make_shared<bool>(false);
    cmd->add_flag("-R,-r,--recursive", *recursive, "Delete a directory and everything below it");
    cmd->add_option("path", *paths, "Paths or glob patterns to delete")->required();
    commands->push_back({cmd, [=] { return Rm(context, *paths, *recursive); }});
  }
  {
    CLI::App* cmd = fs->add_subcommand("mv", "Rename a file or directory");
    auto src = std::make_shared<std::string>();
    auto dst = std::make_shared<std::string>();
    cmd->add_option("src", *src, "Existing path")->required();
    cmd->add_option("dst", *dst, "New path (must not exist)")->required();
    commands->push_back({cmd, [=] { return Mv(context, *src, *dst); }});
  }
  {
    CLI::App* cmd = fs->add_subcommand("stat", "Show everything about a file or directory, with its blocks");
    auto paths = std::make_shared<std::vector<std::string>>();
    auto json = std::make_shared<bool>(false);
    auto sync_interval = std::make_shared<std::string>();
    cmd->add_flag("--json", *json, "One JSON object per path and line");
    cmd->add_option("--sync-interval", *sync_interval,
                    "Re-check the under-store if the master's view is older than this (0 = always, -1 = never)");
    cmd->add_option("path", *paths, "Paths or glob patterns")->required();
    commands->push_back({cmd, [=] { return Stat(context, *paths, *json, *sync_interval); }});
  }
  {
    CLI::App* cmd = fs->add_subcommand("test", "Answer with the exit code (0 yes, 1 no) whether a path exists / is a "
                                               "directory / is a file; prints nothing");
    auto flags = std::make_shared<TestFlags>();
    cmd->add_flag("-e", flags->exists, "The path exists");
    cmd->add_flag("-d", flags->directory, "The path is a directory");
    cmd->add_flag("-f", flags->file, "The path is a file");
    cmd->add_option("path", flags->path, "Path")->required();
    commands->push_back({cmd, [=] { return Test(context, *flags); }});
  }
  {
    CLI::App* cmd = fs->add_subcommand("touch", "Create empty files (an existing file is left unchanged)");
    auto paths = std::make_shared<std::vector<std::string>>();
    cmd->add_option("path", *paths, "Files to create")->required();
    commands->push_back({cmd, [=] { return Touch(context, *paths); }});
  }
  {
    CLI::App* cmd = fs->add_subcommand("count", "Count directories, files and bytes below paths");
    auto paths = std::make_shared<std::vector<std::string>>();
    auto json = std::make_shared<bool>(false);
    cmd->add_flag("--json", *json, "One JSON object per path and line");
    cmd->add_option("path", *paths, "Paths or glob patterns")->required();
    commands->push_back({cmd, [=] { return Count(context, *paths, *json); }});
  }
  {
    CLI::App* cmd = fs->add_subcommand("du", "Show bytes and cached bytes of each entry of a directory");
    cmd->set_help_flag("--help", "Print this help message and exit");
    auto flags = std::make_shared<DuFlags>();
    cmd->add_flag("-s,--summary", flags->summary, "One total line per path instead of one line per entry");
    cmd->add_flag("-h,--human-readable", flags->human, "Print sizes as 1.5GiB instead of bytes");
    cmd->add_flag("--json", flags->json, "One JSON object per line");
    cmd->add_option("path", flags->paths, "Paths or glob patterns")->required();
    commands->push_back({cmd, [=] { return Du(context, *flags); }});
  }
  {
    CLI::App* cmd = fs->add_subcommand("location", "Show where each block of a file is cached (worker and tier)");
    auto path = std::make_shared<std::string>();
    auto json = std::make_shared<bool>(false);
    cmd->add_flag("--json", *json, "One JSON object per block and line");
    cmd->add_option("path", *path, "File")->required();
    commands->push_back({cmd, [=] { return Location(context, *path, *json); }});
  }
  {
    CLI::App* cmd = fs->add_subcommand("chmod", "Change permission bits (octal, e.g. 755)");
    auto mode = std::make_shared<std::string>();
    auto paths = std::make_shared<std::vector<std::string>>();
    auto recursive = std::make_shared<bool>(false);
    cmd->add_flag("-R,--recursive", *recursive, "Also everything below a directory");
    cmd->add_option("mode", *mode, "Octal mode such as 755 or 0644")->required();
    cmd->add_option("path", *paths, "Paths or glob patterns")->required();
    commands->push_back({cmd, [=]() -> absl::Status {
                           SetAttributeOptions options;
                           options.recursive = *recursive;
                           CISTERN_ASSIGN_OR_RETURN(options.mode, ParseOctalMode(*mode));
                           return SetAttr(context, *paths, options);
                         }});
  }
  {
    CLI::App* cmd = fs->add_subcommand("chown", "Change the owner (and group) of paths");
    auto spec = std::make_shared<std::string>();
    auto paths = std::make_shared<std::vector<std::string>>();
    auto recursive = std::make_shared<bool>(false);
    cmd->add_flag("-R,--recursive", *recursive, "Also everything below a directory");
    cmd->add_option("owner", *spec, "OWNER, OWNER:GROUP or :GROUP")->required();
    cmd->add_option("path", *paths, "Paths or glob patterns")->required();
    commands->push_back({cmd, [=] { return Chown(context, *spec, *paths, *recursive); }});
  }
  {
    CLI::App* cmd = fs->add_subcommand("chgrp", "Change the group of paths");
    auto group = std::make_shared<std::string>();
    auto paths = std::make_shared<std::vector<std::string>>();
    auto recursive = std::make_shared<bool>(false);
    cmd->add_flag("-R,--recursive", *recursive, "Also everything below a directory");
    cmd->add_option("group", *group, "Group")->required();
    cmd->add_option("path", *paths, "Paths or glob patterns")->required();
    commands->push_back({cmd, [=]() -> absl::Status {
                           if (group->empty()) return absl::InvalidArgumentError("empty group");
                           SetAttributeOptions options;
                           options.recursive = *recursive;
                           options.group = *group;
                           return SetAttr(context, *paths, options);
                         }});
  }
  for (bool pin : {true, false}) {
    CLI::App* cmd = fs->add_subcommand(pin ? "pin" : "unpin",
                                       pin ? "Pin paths: their blocks are never evicted or freed (unless forced)"
                                           : "Unpin paths: their blocks may be evicted again");
    auto paths = std::make_shared<std::vector<std::string>>();
    cmd->add_option("path", *paths, "Paths or glob patterns")->required();
    commands->push_back({cmd, [=] {
                           SetAttributeOptions options;
                           options.pinned = pin;
                           return SetAttr(context, *paths, options);
                         }});
  }
  {
    CLI::App* cmd = fs->add_subcommand("setTtl", "Set a path's time to live, counted from its creation");
    auto path = std::make_shared<std::string>();
    auto duration = std::make_shared<std::string>();
    auto action = std::make_shared<std::string>("DELETE");
    cmd->add_option("--action", *action, "What happens on expiry: DELETE (default) or FREE");
    cmd->add_option("path", *path, "Path")->required();
    cmd->add_option("duration", *duration, "Time to live such as 90s, 1h, 7d")->required();
    commands->push_back({cmd, [=] { return SetTtl(context, *path, *duration, *action); }});
  }
  {
    CLI::App* cmd = fs->add_subcommand("unsetTtl", "Remove a path's time to live");
    auto path = std::make_shared<std::string>();
    cmd->add_option("path", *path, "Path")->required();
    commands->push_back({cmd, [=] {
                           SetAttributeOptions options;
                           options.ttl_ms = 0;
                           return SetAttr(context, {*path}, options);
                         }});
  }
  {
    CLI::App* cmd = fs->add_subcommand("free", "Drop the cached blocks of paths (the files stay, in the under-store)");
    auto paths = std::make_shared<std::vector<std::string>>();
    auto options = std::make_shared<FreeOptions>();
    cmd->add_flag("-R,--recursive", options->recursive, "Free everything below a directory");
    cmd->add_flag("-f,--force", options->forced, "Also pinned and unpersisted files (their data is then lost)");
    cmd->add_option("path", *paths, "Paths or glob patterns")->required();
    commands->push_back({cmd, [=] { return Free(context, *paths, *options); }});
  }
  {
    CLI::App* cmd = fs->add_subcommand("sync", "Compare paths with their under-store now and apply the changes");
    auto paths = std::make_shared<std::vector<std::string>>();
    auto recursive = std::make_shared<bool>(false);
    cmd->add_flag("-R,--recursive", *recursive, "Sync the whole subtree");
    cmd->add_option("path", *paths, "Paths")->required();
    commands->push_back({cmd, [=] { return Sync(context, *paths, *recursive); }});
  }
  {
    CLI::App* cmd = fs->add_subcommand("mount", "Mount an under-store at a path; without arguments, list the mounts");
    auto flags = std::make_shared<MountFlags>();
    cmd->add_flag("--readonly", flags->read_only, "Refuse writes below the mount");
    cmd->add_flag("--shared", flags->shared, "The under-store is shared with other clusters");
    cmd->add_option("--option", flags->options, "Adapter option key=value (e.g. sync_interval=1m); repeatable")
        ->allow_extra_args(false);
    cmd->add_flag("--json", flags->json, "List the mounts as a JSON array");
    cmd->add_option("path", flags->path, "Namespace path to mount at (must not exist)");
    cmd->add_option("uri", flags->uri, "Under-store URI, e.g. file:///data or s3://bucket/prefix");
    commands->push_back({cmd, [=] { return Mount(context, *flags); }});
  }
  {
    CLI::App* cmd = fs->add_subcommand("unmount", "Remove a mount (the under-store is untouched)");
    auto path = std::make_shared<std::string>();
    cmd->add_option("path", *path, "Mount point")->required();
    commands->push_back({cmd, [=] { return Unmount(context, *path); }});
  }
  AddFsCopyCommands(fs, context, commands);
  AddFsCacheCommands(fs, context, commands);
}

}  // namespace cistern::cli
