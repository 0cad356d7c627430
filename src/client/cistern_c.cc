// The C API over FileSystem: errors become codes plus a thread-local message.
#include "cistern/cistern_c.h"

#include <memory>
#include <string>

#include "absl/strings/str_split.h"
#include "cistern/file_system.h"
#include "client/client_options.h"
#include "common/config.h"

struct cistern_fs {
  std::unique_ptr<cistern::FileSystem> fs;
};
struct cistern_reader {
  std::unique_ptr<cistern::FileReader> reader;
};
struct cistern_writer {
  std::unique_ptr<cistern::FileWriter> writer;
};

namespace {

thread_local std::string last_error;
thread_local std::string last_path;

int Fail(const absl::Status& status) {
  last_error = std::string(status.message());
  if (last_error.empty()) last_error = status.ToString();
  return static_cast<int>(status.code());
}

int Check(const absl::Status& status) {
  if (status.ok()) return CISTERN_OK;
  return Fail(status);
}

int NullArgument(const char* what) {
  return Fail(absl::InvalidArgumentError(std::string(what) + " is NULL"));
}

void Fill(const cistern::FileStatus& s, cistern_file_info* info) {
  last_path = s.path;
  info->path = last_path.c_str();
  info->is_directory = s.is_directory;
  info->length = s.length;
  info->block_size_bytes = s.block_size_bytes;
  info->mode = s.mode;
  info->modification_time_ms = s.modification_time_ms;
  info->completed = s.completed;
  info->persisted = s.persistence_state == cistern::PersistenceState::kPersisted;
  info->pinned = s.pinned;
  info->in_cache_percentage = s.in_cache_percentage;
}

}  // namespace

extern "C" {

const char* cistern_last_error(void) { return last_error.c_str(); }

int cistern_connect(const char* masters, const char* conf_file, cistern_fs** out) {
  if (out == nullptr) return NullArgument("out");
  cistern::ConfigSources sources;
  if (conf_file != nullptr) sources.conf_file = conf_file;
  absl::StatusOr<cistern::Config> config = cistern::Config::Load(sources);
  if (!config.ok()) return Fail(config.status());
  absl::StatusOr<cistern::ClientOptions> options = cistern::client::ClientOptionsFromConfig(*config);
  if (!options.ok()) return Fail(options.status());
  if (masters != nullptr && *masters != '\0') {
    options->master_addresses = absl::StrSplit(masters, ',', absl::SkipEmpty());
  }
  absl::StatusOr<std::unique_ptr<cistern::FileSystem>> fs = cistern::FileSystem::Connect(*options);
  if (!fs.ok()) return Fail(fs.status());
  *out = new cistern_fs{*std::move(fs)};
  return CISTERN_OK;
}

void cistern_disconnect(cistern_fs* fs) { delete fs; }

int cistern_mkdir(cistern_fs* fs, const char* path, int recursive) {
  if (fs == nullptr || path == nullptr) return NullArgument("fs or path");
  return Check(fs->fs->CreateDirectory(path, recursive != 0));
}

int cistern_delete(cistern_fs* fs, const char* path, int recursive) {
  if (fs == nullptr || path == nullptr) return NullArgument("fs or path");
  return Check(fs->fs->Delete(path, recursive != 0));
}

int cistern_rename(cistern_fs* fs, const char* src, const char* dst) {
  if (fs == nullptr || src == nullptr || dst == nullptr) return NullArgument("fs, src or dst");
  return Check(fs->fs->Rename(src, dst));
}

int cistern_exists(cistern_fs* fs, const char* path, int* exists) {
  if (fs == nullptr || path == nullptr || exists == nullptr) return NullArgument("fs, path or exists");
  absl::StatusOr<bool> result = fs->fs->Exists(path);
  if (!result.ok()) return Fail(result.status());
  *exists = *result;
  return CISTERN_OK;
}

int cistern_stat(cistern_fs* fs, const char* path, cistern_file_info* info) {
  if (fs == nullptr || path == nullptr || info == nullptr) return NullArgument("fs, path or info");
  absl::StatusOr<cistern::FileStatus> status = fs->fs->GetStatus(path);
  if (!status.ok()) return Fail(status.status());
  Fill(*status, info);
  return CISTERN_OK;
}

int cistern_list(cistern_fs* fs, const char* path, int recursive, cistern_list_fn visit, void* arg) {
  if (fs == nullptr || path == nullptr || visit == nullptr) return NullArgument("fs, path or visit");
  cistern::ListOptions options;
  options.recursive = recursive != 0;
  return Check(fs->fs->ListStatus(path, options, [&](const cistern::FileStatus& s) {
    cistern_file_info info;
    Fill(s, &info);
    if (visit(&info, arg) != 0) return absl::CancelledError("listing stopped by the caller");
    return absl::OkStatus();
  }));
}

int cistern_create(cistern_fs* fs, const char* path, const char* write_type, int overwrite, cistern_writer** out) {
  if (fs == nullptr || path == nullptr || out == nullptr) return NullArgument("fs, path or out");
  cistern::CreateOptions options;
  options.overwrite = overwrite != 0;
  options.recursive = true;
  if (write_type != nullptr && *write_type != '\0') {
    absl::StatusOr<cistern::WriteType> type = cistern::ParseWriteType(write_type);
    if (!type.ok()) return Fail(type.status());
    options.write_type = *type;
  }
  absl::StatusOr<std::unique_ptr<cistern::FileWriter>> writer = fs->fs->Create(path, options);
  if (!writer.ok()) return Fail(writer.status());
  *out = new cistern_writer{*std::move(writer)};
  return CISTERN_OK;
}

int cistern_write(cistern_writer* writer, const void* data, size_t size) {
  if (writer == nullptr || (data == nullptr && size > 0)) return NullArgument("writer or data");
  return Check(writer->writer->Write(std::string_view(static_cast<const char*>(data), size)));
}

int cistern_writer_close(cistern_writer* writer) {
  if (writer == nullptr) return NullArgument("writer");
  const int code = Check(writer->writer->Close());
  delete writer;
  return code;
}

void cistern_writer_abort(cistern_writer* writer) {
  if (writer == nullptr) return;
  writer->writer->Abort();
  delete writer;
}

int cistern_open(cistern_fs* fs, const char* path, cistern_reader** out) {
  if (fs == nullptr || path == nullptr || out == nullptr) return NullArgument("fs, path or out");
  absl::StatusOr<std::unique_ptr<cistern::FileReader>> reader = fs->fs->Open(path, {});
  if (!reader.ok()) return Fail(reader.status());
  *out = new cistern_reader{*std::move(reader)};
  return CISTERN_OK;
}

int64_t cistern_read(cistern_reader* reader, void* buf, size_t size) {
  if (reader == nullptr || (buf == nullptr && size > 0)) return -NullArgument("reader or buf");
  absl::StatusOr<int64_t> n = reader->reader->Read(static_cast<char*>(buf), static_cast<int64_t>(size));
  if (!n.ok()) return -Fail(n.status());
  return *n;
}

int64_t cistern_pread(cistern_reader* reader, int64_t offset, void* buf, size_t size) {
  if (reader == nullptr || (buf == nullptr && size > 0)) return -NullArgument("reader or buf");
  absl::StatusOr<int64_t> n = reader->reader->ReadAt(offset, static_cast<char*>(buf), static_cast<int64_t>(size));
  if (!n.ok()) return -Fail(n.status());
  return *n;
}

int64_t cistern_reader_length(const cistern_reader* reader) { return reader == nullptr ? -1 : reader->reader->length(); }

void cistern_reader_close(cistern_reader* reader) { delete reader; }

}  // extern "C"
