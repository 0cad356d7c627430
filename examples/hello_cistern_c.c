/* The same through the C API: write, read back, stat.
 *   hello_cistern_c MASTER_HOST:PORT [PATH] */
#include <stdio.h>
#include <string.h>

#include "cistern/cistern_c.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s MASTER_HOST:PORT [PATH]\n", argv[0]);
    return 2;
  }
  const char* path = argc > 2 ? argv[2] : "/examples/hello-c.txt";
  const char* text = "hello from C\n";
  cistern_fs* fs = NULL;
  cistern_writer* writer = NULL;
  cistern_reader* reader = NULL;
  cistern_file_info info;
  char buf[64] = {0};
  if (cistern_connect(argv[1], NULL, &fs) != CISTERN_OK ||
      cistern_create(fs, path, NULL, 1, &writer) != CISTERN_OK ||
      cistern_write(writer, text, strlen(text)) != CISTERN_OK || cistern_writer_close(writer) != CISTERN_OK ||
      cistern_open(fs, path, &reader) != CISTERN_OK) {
    fprintf(stderr, "cistern: %s\n", cistern_last_error());
    return 1;
  }
  int64_t n = cistern_read(reader, buf, sizeof(buf) - 1);
  cistern_reader_close(reader);
  if (n != (int64_t)strlen(text) || strcmp(buf, text) != 0 || cistern_stat(fs, path, &info) != CISTERN_OK) {
    fprintf(stderr, "read back failed: %s\n", cistern_last_error());
    return 1;
  }
  printf("read back: %s%s %lld bytes\n", buf, info.path, (long long)info.length);
  cistern_disconnect(fs);
  return 0;
}
