// Test-only: one of the project's own test servers (gcs_test_server, webhdfs_test_server, built
// into <build>/bin) as a child process on a free port, killed with the object.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "testing/subprocess.h"

namespace cistern::ufs::testing {

class LocalTestServer {
 public:
  // <build>/bin/NAME, from CISTERN_BUILD_DIR (set by CTest).
  static std::string BinaryPath(const std::string& name);
  // Why the server cannot run ("" if it can).
  static std::string SkipReason(const std::string& name);

  explicit LocalTestServer(std::string name) : name_(std::move(name)) {}
  ~LocalTestServer() { Stop(); }

  // Starts NAME --port PORT ARGS... and waits until it answers HTTP.
  absl::Status Start(const std::vector<std::string>& args);
  void Stop();  // SIGKILL; idempotent
  int port() const { return port_; }
  std::string OutputTail() const { return proc_ ? proc_->OutputTail() : ""; }

 private:
  const std::string name_;
  int port_ = 0;
  std::unique_ptr<cistern::testing::Subprocess> proc_;
};

}  // namespace cistern::ufs::testing
