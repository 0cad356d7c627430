// Writes a file into Cistern, reads it back and lists its directory.
//   hello_cistern MASTER_HOST:PORT [/path/in/cistern]
#include <cstdio>
#include <memory>
#include <string>

#include "cistern/file_system.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MASTER_HOST:PORT [PATH]\n", argv[0]);
    return 2;
  }
  const std::string path = argc > 2 ? argv[2] : "/examples/hello.txt";
  cistern::ClientOptions options;
  options.master_addresses = {argv[1]};
  auto fs = cistern::FileSystem::Connect(options);
  if (!fs.ok()) {
    std::fprintf(stderr, "connect: %s\n", fs.status().ToString().c_str());
    return 1;
  }

  cistern::CreateOptions create;
  create.recursive = true;
  create.overwrite = true;
  auto writer = (*fs)->Create(path, create);
  if (!writer.ok()) {
    std::fprintf(stderr, "create: %s\n", writer.status().ToString().c_str());
    return 1;
  }
  const std::string text = "hello, cistern\n";
  absl::Status status = (*writer)->Write(text);
  if (status.ok()) status = (*writer)->Close();
  if (!status.ok()) {
    std::fprintf(stderr, "write: %s\n", status.ToString().c_str());
    return 1;
  }

  auto reader = (*fs)->Open(path, {});
  if (!reader.ok()) {
    std::fprintf(stderr, "open: %s\n", reader.status().ToString().c_str());
    return 1;
  }
  std::string back((*reader)->length(), '\0');
  auto n = (*reader)->ReadAt(0, back.data(), back.size());
  if (!n.ok() || back != text) {
    std::fprintf(stderr, "read back failed\n");
    return 1;
  }
  std::printf("read back: %s", back.c_str());

  const std::string dir = path.substr(0, path.rfind('/')).empty() ? "/" : path.substr(0, path.rfind('/'));
  status = (*fs)->ListStatus(dir, {}, [](const cistern::FileStatus& entry) {
    std::printf("%s %lld\n", entry.path.c_str(), static_cast<long long>(entry.length));
    return absl::OkStatus();
  });
  if (!status.ok()) {
    std::fprintf(stderr, "list: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
