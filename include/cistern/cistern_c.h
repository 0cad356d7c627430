/* The C API of the Cistern client (libcistern_c.so), for C programs and foreign-function
 * interfaces (python/cistern.py uses it through ctypes). It wraps the C++ FileSystem of
 * cistern/file_system.h.
 *
 * Handles are opaque. Every call returns CISTERN_OK (0) or an error code (the absl::StatusCode
 * numbers below); the message of the last error on the calling thread is cistern_last_error().
 * Reads return a byte count (>= 0) or a negated error code.
 *
 * Thread safety: a cistern_fs may be shared by threads; a reader or writer is used by one thread
 * at a time and must be closed before its cistern_fs is freed. */
#ifndef CISTERN_CISTERN_C_H_
#define CISTERN_CISTERN_C_H_

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define CISTERN_C_API __attribute__((visibility("default")))
#else
#define CISTERN_C_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

enum {
  CISTERN_OK = 0,
  CISTERN_ERR_CANCELLED = 1,
  CISTERN_ERR_UNKNOWN = 2,
  CISTERN_ERR_INVALID_ARGUMENT = 3,
  CISTERN_ERR_DEADLINE_EXCEEDED = 4,
  CISTERN_ERR_NOT_FOUND = 5,
  CISTERN_ERR_ALREADY_EXISTS = 6,
  CISTERN_ERR_PERMISSION_DENIED = 7,
  CISTERN_ERR_RESOURCE_EXHAUSTED = 8,
  CISTERN_ERR_FAILED_PRECONDITION = 9,
  CISTERN_ERR_ABORTED = 10,
  CISTERN_ERR_OUT_OF_RANGE = 11,
  CISTERN_ERR_UNIMPLEMENTED = 12,
  CISTERN_ERR_INTERNAL = 13,
  CISTERN_ERR_UNAVAILABLE = 14,
  CISTERN_ERR_DATA_LOSS = 15,
};

typedef struct cistern_fs cistern_fs;
typedef struct cistern_reader cistern_reader;
typedef struct cistern_writer cistern_writer;

typedef struct cistern_file_info {
  const char* path; /* valid until the next call on the same thread */
  int is_directory;
  int64_t length;
  int64_t block_size_bytes;
  uint32_t mode;
  int64_t modification_time_ms;
  int completed;
  int persisted;
  int pinned;
  int in_cache_percentage;
} cistern_file_info;

/* The message of the calling thread's last error ("" if none). */
CISTERN_C_API const char* cistern_last_error(void);

/* Connects to the masters "host:port[,host:port...]"; `conf_file` (may be NULL) is a
 * cistern.properties whose user.* keys set the client options; with NULL masters the
 * configuration's master.rpc.addresses is used. */
CISTERN_C_API int cistern_connect(const char* masters, const char* conf_file, cistern_fs** out);
CISTERN_C_API void cistern_disconnect(cistern_fs* fs);

CISTERN_C_API int cistern_mkdir(cistern_fs* fs, const char* path, int recursive);
CISTERN_C_API int cistern_delete(cistern_fs* fs, const char* path, int recursive);
CISTERN_C_API int cistern_rename(cistern_fs* fs, const char* src, const char* dst);
CISTERN_C_API int cistern_exists(cistern_fs* fs, const char* path, int* exists);
CISTERN_C_API int cistern_stat(cistern_fs* fs, const char* path, cistern_file_info* info);
/* Calls `visit` for each entry of directory `path` (the file itself for a file); a non-zero
 * return from `visit` stops the listing and is returned as CISTERN_ERR_CANCELLED. */
typedef int (*cistern_list_fn)(const cistern_file_info* info, void* arg);
CISTERN_C_API int cistern_list(cistern_fs* fs, const char* path, int recursive, cistern_list_fn visit, void* arg);

/* `write_type` is "MUST_CACHE", "CACHE_THROUGH", "THROUGH" or NULL (the default). */
CISTERN_C_API int cistern_create(cistern_fs* fs, const char* path, const char* write_type, int overwrite, cistern_writer** out);
CISTERN_C_API int cistern_write(cistern_writer* writer, const void* data, size_t size);
/* Commits the file and frees the writer (also on error). */
CISTERN_C_API int cistern_writer_close(cistern_writer* writer);
/* Removes the incomplete file and frees the writer. */
CISTERN_C_API void cistern_writer_abort(cistern_writer* writer);

CISTERN_C_API int cistern_open(cistern_fs* fs, const char* path, cistern_reader** out);
CISTERN_C_API int64_t cistern_read(cistern_reader* reader, void* buf, size_t size);
CISTERN_C_API int64_t cistern_pread(cistern_reader* reader, int64_t offset, void* buf, size_t size);
CISTERN_C_API int64_t cistern_reader_length(const cistern_reader* reader);
CISTERN_C_API void cistern_reader_close(cistern_reader* reader);

#ifdef __cplusplus
}
#endif

#endif /* CISTERN_CISTERN_C_H_ */
