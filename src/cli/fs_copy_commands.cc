// cistern fs: the data commands. put/copyFromLocal, get/copyToLocal and cp copy files (with -R
// whole trees, several files at once on a small thread pool); cat, head and tail print bytes;
// checksum hashes a file's contents.
//
// Local paths: put's source and get's destination are local paths as typed. cp takes either
// side as a local path when it is written "file:///abs/path" or "local:path" (relative allowed);
// every other argument is a Cistern path.
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "cli/context.h"
#include "cli/fs_util.h"
#include "common/path.h"
#include "common/status.h"
#include "common/units.h"
#include "openssl/evp.h"
#include "xxhash.h"

namespace cistern::cli {
namespace {

namespace stdfs = std::filesystem;

constexpr size_t kCopyBufferBytes = 4 << 20;

struct Place {
  bool local = false;
  std::string path;
};

std::string Describe(const Place& p) { return p.local ? absl::StrCat("local:", p.path) : p.path; }

struct CopyFlags {
  std::string write_type;
  std::string block_size;
  bool force = false;
  bool recursive = false;
  int threads = 4;
};

// Reads a whole source, chunk by chunk, into `sink`.
absl::Status ReadSource(FileSystem* fs, const Place& src, const std::function<absl::Status(std::string_view)>& sink) {
  std::vector<char> buf(kCopyBufferBytes);
  if (src.local) {
    std::FILE* in = std::fopen(src.path.c_str(), "rb");
    if (in == nullptr) return ErrnoError("cannot open", src.path);
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(in, &std::fclose);
    while (true) {
      const size_t n = std::fread(buf.data(), 1, buf.size(), in);
      if (n > 0) CISTERN_RETURN_IF_ERROR(sink(std::string_view(buf.data(), n)));
      if (n < buf.size()) {
        if (std::ferror(in)) return ErrnoError("cannot read", src.path);
        return absl::OkStatus();
      }
    }
  }
  absl::StatusOr<std::unique_ptr<FileReader>> reader = fs->Open(src.path, {});
  if (!reader.ok()) return NamePath(reader.status(), src.path);
  while (true) {
    absl::StatusOr<int64_t> n = (*reader)->Read(buf.data(), buf.size());
    if (!n.ok()) return NamePath(n.status(), src.path);
    if (*n == 0) return absl::OkStatus();
    CISTERN_RETURN_IF_ERROR(sink(std::string_view(buf.data(), *n)));
  }
}

absl::StatusOr<CreateOptions> MakeCreateOptions(const CopyFlags& flags) {
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
  return options;
}

// Copies one file. A Cistern destination appears only when complete (the writer's Close); a
// local one is written beside the target and renamed, so neither is ever seen half-written.
absl::Status CopyFile(FileSystem* fs, const Place& src, const Place& dst, const CreateOptions& options) {
  if (!dst.local) {
    absl::StatusOr<std::unique_ptr<FileWriter>> writer = fs->Create(dst.path, options);
    if (!writer.ok()) return NamePath(writer.status(), dst.path);
    absl::Status status = ReadSource(fs, src, [&](std::string_view data) { return (*writer)->Write(data); });
    if (!status.ok()) {
      (*writer)->Abort();
      return NamePath(status, dst.path);
    }
    return NamePath((*writer)->Close(), dst.path);
  }
  if (!options.overwrite && stdfs::exists(dst.path)) {
    return absl::AlreadyExistsError(absl::StrCat(dst.path, " already exists (use -f to overwrite)"));
  }
  const std::string tmp = absl::StrCat(dst.path, ".cistern-tmp");
  std::FILE* out = std::fopen(tmp.c_str(), "wb");
  if (out == nullptr) return ErrnoError("cannot create", tmp);
  absl::Status status = ReadSource(fs, src, [&](std::string_view data) {
    if (std::fwrite(data.data(), 1, data.size(), out) != data.size()) return ErrnoError("cannot write", tmp);
    return absl::OkStatus();
  });
  if (std::fclose(out) != 0 && status.ok()) status = ErrnoError("cannot write", tmp);
  if (status.ok() && std::rename(tmp.c_str(), dst.path.c_str()) != 0) status = ErrnoError("cannot rename to", dst.path);
  if (!status.ok()) std::remove(tmp.c_str());
  return status;
}

struct Entry {
  bool is_directory = false;
  std::string path;
};

// `place` as a file or directory; NOT_FOUND if missing.
absl::StatusOr<Entry> Lookup(FileSystem* fs, const Place& place) {
  if (place.local) {
    std::error_code ec;
    const stdfs::file_status st = stdfs::status(place.path, ec);
    if (ec || !stdfs::exists(st)) return absl::NotFoundError(absl::StrCat("local path ", place.path, " does not exist"));
    return Entry{stdfs::is_directory(st), place.path};
  }
  absl::StatusOr<FileStatus> status = fs->GetStatus(place.path, GetStatusOptions{.include_block_locations = false});
  if (!status.ok()) return NamePath(status.status(), place.path);
  return Entry{status->is_directory, status->path};
}

// Every entry below the directory `dir`, as paths relative to it, parents before children.
absl::StatusOr<std::vector<Entry>> ListTree(FileSystem* fs, const Place& dir) {
  std::vector<Entry> out;
  if (dir.local) {
    std::error_code ec;
    for (auto it = stdfs::recursive_directory_iterator(dir.path, ec); !ec && it != stdfs::recursive_directory_iterator();
         it.increment(ec)) {
      out.push_back(Entry{it->is_directory(), stdfs::relative(it->path(), dir.path).string()});
    }
    if (ec) return absl::InternalError(absl::StrCat("cannot list ", dir.path, ": ", ec.message()));
  } else {
    const size_t prefix = dir.path == "/" ? 1 : dir.path.size() + 1;
    CISTERN_RETURN_IF_ERROR(fs->ListStatus(dir.path, ListOptions{.recursive = true}, [&](const FileStatus& e) {
      if (e.path.size() > prefix) out.push_back(Entry{e.is_directory, e.path.substr(prefix)});
      return absl::OkStatus();
    }));
  }
  // Sorting puts every directory before what is below it.
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.path < b.path; });
  return out;
}

Place Child(const Place& parent, const std::string& relative) {
  if (parent.local) return Place{true, (stdfs::path(parent.path) / relative).string()};
  return Place{false, JoinPath(parent.path, relative)};
}

std::string BaseNameOf(const Place& p) {
  if (p.local) return stdfs::path(p.path).lexically_normal().filename().string();
  absl::StatusOr<std::string> normalized = NormalizePath(p.path);
  return BaseName(normalized.ok() ? *normalized : p.path);
}

absl::Status MakeDirectory(FileSystem* fs, const Place& dir) {
  if (dir.local) {
    std::error_code ec;
    stdfs::create_directories(dir.path, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir.path, ": ", ec.message()));
    return absl::OkStatus();
  }
  return NamePath(fs->CreateDirectory(dir.path, /*recursive=*/true), dir.path);
}

// Runs `jobs` on up to `threads` threads; returns the first error (the others still finish,
// so no half-written destination is left behind by a cancelled copy).
absl::Status RunParallel(std::vector<std::function<absl::Status()>> jobs, int threads) {
  absl::Mutex mu;
  size_t next = 0;
  absl::Status first_error;
  auto worker = [&] {
    while (true) {
      size_t index;
      {
        absl::MutexLock lock(&mu);
        if (next == jobs.size() || !first_error.ok()) return;
        index = next++;
      }
      absl::Status status = jobs[index]();
      if (!status.ok()) {
        absl::MutexLock lock(&mu);
        if (first_error.ok()) first_error = status;
      }
    }
  };
  std::vector<std::thread> pool;
  const int n = std::max(1, std::min<int>(threads, static_cast<int>(jobs.size())));
  for (int i = 0; i < n; ++i) pool.emplace_back(worker);
  for (std::thread& t : pool) t.join();
  return first_error;
}

// Copies `srcs` to `dst` like cp(1): several sources or an existing directory destination put
// each source inside it under its own name.
absl::Status Copy(Context* context, const std::vector<Place>& srcs, const Place& dst, const CopyFlags& flags) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  CISTERN_ASSIGN_OR_RETURN(CreateOptions options, MakeCreateOptions(flags));
  if (flags.threads < 1) return absl::InvalidArgumentError(absl::StrCat("bad --threads ", flags.threads));
  absl::StatusOr<Entry> dst_entry = Lookup(fs, dst);
  if (!dst_entry.ok() && !absl::IsNotFound(dst_entry.status())) return dst_entry.status();
  const bool into_directory = dst_entry.ok() && dst_entry->is_directory;
  if (srcs.size() > 1 && !into_directory) {
    return absl::InvalidArgumentError(absl::StrCat("copying several sources needs an existing directory, not ",
                                                   Describe(dst)));
  }
  std::vector<std::function<absl::Status()>> jobs;
  for (const Place& src : srcs) {
    CISTERN_ASSIGN_OR_RETURN(Entry entry, Lookup(fs, src));
    const Place target = into_directory ? Child(dst, BaseNameOf(src)) : dst;
    if (!entry.is_directory) {
      jobs.push_back([fs, src, target, options] { return CopyFile(fs, src, target, options); });
      continue;
    }
    if (!flags.recursive) {
      return absl::InvalidArgumentError(absl::StrCat(Describe(src), " is a directory (use -R to copy it)"));
    }
    CISTERN_RETURN_IF_ERROR(MakeDirectory(fs, target));
    CISTERN_ASSIGN_OR_RETURN(std::vector<Entry> tree, ListTree(fs, src));
    for (const Entry& e : tree) {
      const Place from = Child(src, e.path), to = Child(target, e.path);
      if (e.is_directory) {
        CISTERN_RETURN_IF_ERROR(MakeDirectory(fs, to));
      } else {
        jobs.push_back([fs, from, to, options] { return CopyFile(fs, from, to, options); });
      }
    }
  }
  return RunParallel(std::move(jobs), flags.threads);
}

Place ParsePlace(const std::string& arg) {
  std::optional<std::string> local = LocalPathOf(arg);
  return local ? Place{true, *local} : Place{false, arg};
}

absl::Status Cp(Context* context, const std::vector<std::string>& args, const CopyFlags& flags) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  std::vector<Place> srcs;
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    Place p = ParsePlace(args[i]);
    if (p.local) {
      srcs.push_back(p);
      continue;
    }
    CISTERN_ASSIGN_OR_RETURN(std::vector<std::string> paths, ExpandPath(fs, p.path));
    for (std::string& path : paths) srcs.push_back(Place{false, std::move(path)});
  }
  return Copy(context, srcs, ParsePlace(args.back()), flags);
}

absl::Status Put(Context* context, const std::vector<std::string>& args, const CopyFlags& flags) {
  std::vector<Place> srcs;
  for (size_t i = 0; i + 1 < args.size(); ++i) srcs.push_back(Place{true, LocalPathOf(args[i]).value_or(args[i])});
  return Copy(context, srcs, Place{false, args.back()}, flags);
}

absl::Status Get(Context* context, const std::vector<std::string>& args, const CopyFlags& flags) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  std::vector<Place> srcs;
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    CISTERN_ASSIGN_OR_RETURN(std::vector<std::string> paths, ExpandPath(fs, args[i]));
    for (std::string& path : paths) srcs.push_back(Place{false, std::move(path)});
  }
  CopyFlags get_flags = flags;
  get_flags.force = true;  // like cp(1), get replaces an existing local file
  return Copy(context, srcs, Place{true, LocalPathOf(args.back()).value_or(args.back())}, get_flags);
}

absl::Status Cat(Context* context, const std::vector<std::string>& patterns) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  CISTERN_ASSIGN_OR_RETURN(std::vector<std::string> paths, ExpandPaths(fs, patterns));
  for (const std::string& path : paths) CISTERN_RETURN_IF_ERROR(ReadSource(fs, Place{false, path}, PrintOut));
  return absl::OkStatus();
}

// Prints `count` bytes from the start (head) or the end (tail) of a file.
absl::Status Range(Context* context, const std::string& path, const std::string& count_text, bool tail) {
  absl::StatusOr<int64_t> count = ParseSizeBytes(count_text);
  if (!count.ok() || *count < 0) return absl::InvalidArgumentError(absl::StrCat("bad byte count '", count_text, "'"));
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  absl::StatusOr<std::unique_ptr<FileReader>> reader = fs->Open(path, {});
  if (!reader.ok()) return NamePath(reader.status(), path);
  const int64_t length = (*reader)->length();
  const int64_t start = tail ? std::max<int64_t>(0, length - *count) : 0;
  const int64_t end = tail ? length : std::min(length, *count);
  std::vector<char> buf(std::min<int64_t>(kCopyBufferBytes, std::max<int64_t>(end - start, 1)));
  for (int64_t at = start; at < end;) {
    absl::StatusOr<int64_t> n = (*reader)->ReadAt(at, buf.data(), std::min<int64_t>(buf.size(), end - at));
    if (!n.ok()) return NamePath(n.status(), path);
    if (*n == 0) return absl::DataLossError(absl::StrCat(path, " ended at ", at, " of ", length, " bytes"));
    CISTERN_RETURN_IF_ERROR(PrintOut(std::string_view(buf.data(), *n)));
    at += *n;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Hash(FileSystem* fs, const Place& src, const std::string& algorithm) {
  if (algorithm == "xxh64") {
    XXH64_state_t* state = XXH64_createState();
    std::unique_ptr<XXH64_state_t, XXH_errorcode (*)(XXH64_state_t*)> guard(state, &XXH64_freeState);
    XXH64_reset(state, 0);
    CISTERN_RETURN_IF_ERROR(ReadSource(fs, src, [&](std::string_view data) {
      XXH64_update(state, data.data(), data.size());
      return absl::OkStatus();
    }));
    return absl::StrFormat("%016x", XXH64_digest(state));
  }
  if (algorithm == "sha256") {
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) return absl::InternalError("sha256 init failed");
    CISTERN_RETURN_IF_ERROR(ReadSource(fs, src, [&](std::string_view data) {
      EVP_DigestUpdate(ctx.get(), data.data(), data.size());
      return absl::OkStatus();
    }));
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(ctx.get(), digest, &size);
    std::string hex;
    for (unsigned int i = 0; i < size; ++i) absl::StrAppendFormat(&hex, "%02x", digest[i]);
    return hex;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown checksum algorithm '", algorithm, "' (xxh64 or sha256)"));
}

absl::Status Checksum(Context* context, const std::vector<std::string>& patterns, const std::string& algorithm) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  CISTERN_ASSIGN_OR_RETURN(std::vector<std::string> paths, ExpandPaths(fs, patterns));
  for (const std::string& path : paths) {
    CISTERN_ASSIGN_OR_RETURN(std::string digest, Hash(fs, Place{false, path}, algorithm));
    // The layout of sha256sum(1), so the two can be compared with diff.
    CISTERN_RETURN_IF_ERROR(PrintOut(absl::StrCat(digest, "  ", path, "\n")));
  }
  return absl::OkStatus();
}

void AddWriteFlags(CLI::App* cmd, CopyFlags* flags) {
  cmd->add_option("--write-type", flags->write_type,
                  "MUST_CACHE, CACHE_THROUGH, THROUGH or ASYNC_THROUGH (default: user.file.write.type.default)");
  cmd->add_option("--block-size", flags->block_size, "Block size such as 64MiB (default: user.block.size.default)");
}

void AddTreeFlags(CLI::App* cmd, CopyFlags* flags) {
  cmd->add_flag("-R,-r,--recursive", flags->recursive, "Copy directories with everything below them");
  cmd->add_option("--threads", flags->threads, "Files copied at once (default 4)");
}

}  // namespace

void AddFsCopyCommands(CLI::App* fs, Context* context, std::vector<Command>* commands) {
  for (const char* name : {"put", "copyFromLocal"}) {
    CLI::App* cmd = fs->add_subcommand(name, "Copy local files or directories into Cistern");
    auto flags = std::make_shared<CopyFlags>();
    auto args = std::make_shared<std::vector<std::string>>();
    AddWriteFlags(cmd, flags.get());
    AddTreeFlags(cmd, flags.get());
    cmd->add_flag("-f,--force", flags->force, "Overwrite existing files");
    cmd->add_option("args", *args, "LOCAL... DEST: local sources, then a Cistern path (or existing directory)")
        ->required()
        ->expected(2, -1);
    commands->push_back({cmd, [=] { return Put(context, *args, *flags); }});
  }
  for (const char* name : {"get", "copyToLocal"}) {
    CLI::App* cmd = fs->add_subcommand(name, "Copy files or directories from Cistern to the local file system");
    auto flags = std::make_shared<CopyFlags>();
    auto args = std::make_shared<std::vector<std::string>>();
    AddTreeFlags(cmd, flags.get());
    cmd->add_option("args", *args, "SRC... LOCAL: Cistern paths or glob patterns, then a local path (or directory)")
        ->required()
        ->expected(2, -1);
    commands->push_back({cmd, [=] { return Get(context, *args, *flags); }});
  }
  {
    CLI::App* cmd = fs->add_subcommand(
        "cp", "Copy files or directories; a side written file:///abs/path or local:path is a local path");
    auto flags = std::make_shared<CopyFlags>();
    auto args = std::make_shared<std::vector<std::string>>();
    AddWriteFlags(cmd, flags.get());
    AddTreeFlags(cmd, flags.get());
    cmd->add_flag("-f,--force", flags->force, "Overwrite existing files");
    cmd->add_option("args", *args, "SRC... DST")->required()->expected(2, -1);
    commands->push_back({cmd, [=] { return Cp(context, *args, *flags); }});
  }
  {
    CLI::App* cmd = fs->add_subcommand("cat", "Write files' bytes to stdout");
    auto paths = std::make_shared<std::vector<std::string>>();
    cmd->add_option("path", *paths, "Files or glob patterns")->required();
    commands->push_back({cmd, [=] { return Cat(context, *paths); }});
  }
  for (bool tail : {false, true}) {
    CLI::App* cmd = fs->add_subcommand(tail ? "tail" : "head",
                                       tail ? "Write the last bytes of a file to stdout"
                                            : "Write the first bytes of a file to stdout");
    auto path = std::make_shared<std::string>();
    auto count = std::make_shared<std::string>("1KiB");
    cmd->add_option("-c,--bytes", *count, "How many bytes, such as 100 or 4KiB (default 1KiB)");
    cmd->add_option("path", *path, "File")->required();
    commands->push_back({cmd, [=] { return Range(context, *path, *count, tail); }});
  }
  {
    CLI::App* cmd = fs->add_subcommand("checksum", "Print the checksum of files' contents (as sha256sum does)");
    auto paths = std::make_shared<std::vector<std::string>>();
    auto algorithm = std::make_shared<std::string>("xxh64");
    cmd->add_option("-a,--algorithm", *algorithm, "xxh64 (default) or sha256");
    cmd->add_option("path", *paths, "Files or glob patterns")->required();
    commands->push_back({cmd, [=] { return Checksum(context, *paths, *algorithm); }});
  }
}

}  // namespace cistern::cli
