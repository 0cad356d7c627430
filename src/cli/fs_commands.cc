// cistern fs ls|mkdir|put|get|cat|rm|mv|stat
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/context.h"
#include "cli/format.h"
#include "common/path.h"
#include "common/status.h"
#include "common/units.h"

namespace cistern::cli {
namespace {

constexpr size_t kCopyBufferBytes = 4 << 20;

// Makes sure the message names `path`: the master's messages do, transport errors may not.
absl::Status NamePath(const absl::Status& status, std::string_view path) {
  if (status.ok() || absl::StrContains(status.message(), absl::string_view(path.data(), path.size()))) return status;
  return Annotate(status, path);
}

absl::Status ErrnoError(std::string_view what, const std::string& path) {
  return absl::Status(errno == ENOENT ? absl::StatusCode::kNotFound : absl::StatusCode::kInternal,
                      absl::StrCat(absl::string_view(what.data(), what.size()), " ", path, ": ", std::strerror(errno)));
}

absl::Status Ls(Context* context, const std::string& path, bool recursive, bool human) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  ListOptions options;
  options.recursive = recursive;
  absl::Status status = fs->ListStatus(path, options, [&](const FileStatus& entry) {
    std::string line = FormatLsLine(entry, human);
    line.push_back('\n');
    if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size()) {
      return absl::InternalError("cannot write to stdout");
    }
    return absl::OkStatus();
  });
  return NamePath(status, path);
}

absl::Status Mkdir(Context* context, const std::vector<std::string>& paths, bool parents) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  for (const std::string& path : paths) CISTERN_RETURN_IF_ERROR(NamePath(fs->CreateDirectory(path, parents), path));
  return absl::OkStatus();
}

struct PutFlags {
  std::string write_type;
  std::string block_size;
  bool force = false;
};

absl::Status Put(Context* context, const std::string& local, std::string dest, const PutFlags& flags) {
  CreateOptions options;
  options.overwrite = flags.force;
  options.recursive = true;
  if (!flags.write_type.empty()) {
    CISTERN_ASSIGN_OR_RETURN(options.write_type, ParseWriteType(flags.write_type));
  }
  if (!flags.block_size.empty()) {
    absl::StatusOr<int64_t> size = ParseSizeBytes(flags.block_size);
    if (!size.ok() || *size <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("bad --block-size '", flags.block_size, "'"));
    }
    options.block_size_bytes = *size;
  }
  std::error_code ec;
  if (std::filesystem::is_directory(local, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(local, " is a directory; put copies one file"));
  }
  std::FILE* in = std::fopen(local.c_str(), "rb");
  if (in == nullptr) return ErrnoError("cannot open", local);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(in, &std::fclose);

  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  // Putting into an existing directory keeps the local file's name.
  absl::StatusOr<FileStatus> existing = fs->GetStatus(dest);
  if (existing.ok() && existing->is_directory) {
    dest = JoinPath(existing->path, std::filesystem::path(local).filename().string());
  }
  absl::StatusOr<std::unique_ptr<FileWriter>> writer = fs->Create(dest, options);
  if (!writer.ok()) return NamePath(writer.status(), dest);
  std::vector<char> buf(kCopyBufferBytes);
  while (true) {
    size_t n = std::fread(buf.data(), 1, buf.size(), in);
    if (n > 0) {
      absl::Status status = (*writer)->Write(std::string_view(buf.data(), n));
      if (!status.ok()) {
        (*writer)->Abort();
        return NamePath(status, dest);
      }
    }
    if (n < buf.size()) {
      if (std::ferror(in)) {
        (*writer)->Abort();
        return ErrnoError("cannot read", local);
      }
      break;
    }
  }
  return NamePath((*writer)->Close(), dest);
}

absl::Status Get(Context* context, const std::string& src, std::string local) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  absl::StatusOr<std::unique_ptr<FileReader>> reader = fs->Open(src, {});
  if (!reader.ok()) return NamePath(reader.status(), src);
  std::error_code ec;
  if (std::filesystem::is_directory(local, ec)) {
    local = (std::filesystem::path(local) / BaseName((*reader)->status().path)).string();
  }
  // Write beside the target and rename at the end, so LOCAL is never a partial file.
  const std::string tmp = local + ".tmp";
  std::FILE* out = std::fopen(tmp.c_str(), "wb");
  if (out == nullptr) return ErrnoError("cannot create", tmp);
  std::vector<char> buf(kCopyBufferBytes);
  absl::Status status;
  while (status.ok()) {
    absl::StatusOr<int64_t> n = (*reader)->Read(buf.data(), buf.size());
    if (!n.ok()) {
      status = NamePath(n.status(), src);
      break;
    }
    if (*n == 0) break;
    if (std::fwrite(buf.data(), 1, *n, out) != static_cast<size_t>(*n)) status = ErrnoError("cannot write", tmp);
  }
  if (std::fclose(out) != 0 && status.ok()) status = ErrnoError("cannot write", tmp);
  if (status.ok() && std::rename(tmp.c_str(), local.c_str()) != 0) status = ErrnoError("cannot rename to", local);
  if (!status.ok()) std::remove(tmp.c_str());
  return status;
}

absl::Status Cat(Context* context, const std::string& path) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  absl::StatusOr<std::unique_ptr<FileReader>> reader = fs->Open(path, {});
  if (!reader.ok()) return NamePath(reader.status(), path);
  std::vector<char> buf(kCopyBufferBytes);
  while (true) {
    absl::StatusOr<int64_t> n = (*reader)->Read(buf.data(), buf.size());
    if (!n.ok()) return NamePath(n.status(), path);
    if (*n == 0) return absl::OkStatus();
    if (std::fwrite(buf.data(), 1, *n, stdout) != static_cast<size_t>(*n)) {
      return absl::InternalError("cannot write to stdout");
    }
  }
}

absl::Status Rm(Context* context, const std::string& path, bool recursive) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  return NamePath(fs->Delete(path, recursive), path);
}

absl::Status Mv(Context* context, const std::string& src, const std::string& dst) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  return NamePath(fs->Rename(src, dst), src);
}

absl::Status Stat(Context* context, const std::string& path) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  absl::StatusOr<FileStatus> status = fs->GetStatus(path);
  if (!status.ok()) return NamePath(status.status(), path);
  std::string text = FormatStat(*status);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return absl::OkStatus();
}

}  // namespace

void AddFsCommands(CLI::App* root, Context* context, std::vector<Command>* commands) {
  CLI::App* fs = root->add_subcommand("fs", "Work with files and directories");
  fs->require_subcommand(1);
  fs->fallthrough();

  {
    CLI::App* cmd = fs->add_subcommand("ls", "List a directory (one line per entry, in name order)");
    cmd->set_help_flag("--help", "Print this help message and exit");
    auto path = std::make_shared<std::string>();
    auto recursive = std::make_shared<bool>(false);
    auto human = std::make_shared<bool>(false);
    cmd->add_flag("-R,--recursive", *recursive, "List the whole subtree");
    cmd->add_flag("-h,--human-readable", *human, "Print lengths as 1.5GiB instead of bytes");
    cmd->add_option("path", *path, "Directory or file")->required();
    commands->push_back({cmd, [=] { return Ls(context, *path, *recursive, *human); }});
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
    CLI::App* cmd = fs->add_subcommand("put", "Copy a local file into Cistern");
    auto flags = std::make_shared<PutFlags>();
    auto local = std::make_shared<std::string>();
    auto dest = std::make_shared<std::string>();
    cmd->add_option("--write-type", flags->write_type, "MUST_CACHE, CACHE_THROUGH or THROUGH (default: user.file.write.type.default)");
    cmd->add_option("--block-size", flags->block_size, "Block size such as 64MiB (default: user.block.size.default)");
    cmd->add_flag("-f,--force", flags->force, "Overwrite an existing file");
    cmd->add_option("local", *local, "Local file")->required();
    cmd->add_option("dest", *dest, "Destination path (or existing directory)")->required();
    commands->push_back({cmd, [=] { return Put(context, *local, *dest, *flags); }});
  }
  {
    CLI::App* cmd = fs->add_subcommand("get", "Copy a file from Cistern to a local file");
    auto src = std::make_shared<std::string>();
    auto local = std::make_shared<std::string>();
    cmd->add_option("src", *src, "File in Cistern")->required();
    cmd->add_option("local", *local, "Local file (or existing directory)")->required();
    commands->push_back({cmd, [=] { return Get(context, *src, *local); }});
  }
  {
    CLI::App* cmd = fs->add_subcommand("cat", "Write a file's bytes to stdout");
    auto path = std::make_shared<std::string>();
    cmd->add_option("path", *path, "File")->required();
    commands->push_back({cmd, [=] { return Cat(context, *path); }});
  }
  {
    CLI::App* cmd = fs->add_subcommand("rm", "Delete a file or directory");
    auto path = std::make_shared<std::string>();
    auto recursive = std::make_shared<bool>(false);
    cmd->add_flag("-R,-r,--recursive", *recursive, "Delete a directory and everything below it");
    cmd->add_option("path", *path, "Path to delete")->required();
    commands->push_back({cmd, [=] { return Rm(context, *path, *recursive); }});
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
    auto path = std::make_shared<std::string>();
    cmd->add_option("path", *path, "Path")->required();
    commands->push_back({cmd, [=] { return Stat(context, *path); }});
  }
}

}  // namespace cistern::cli
