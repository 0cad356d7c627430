#include "tests/ufs/local_test_server.h"

#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "ufs/http_client.h"

namespace cistern::ufs::testing {

std::string LocalTestServer::BinaryPath(const std::string& name) {
  const char* dir = std::getenv("CISTERN_BUILD_DIR");
  return absl::StrCat(dir != nullptr ? dir : ".", "/bin/", name);
}

std::string LocalTestServer::SkipReason(const std::string& name) {
  if (::access(BinaryPath(name).c_str(), X_OK) != 0) {
    return absl::StrCat(name, " is not built at ", BinaryPath(name), " (build the target, or set CISTERN_BUILD_DIR)");
  }
  return "";
}

absl::Status LocalTestServer::Start(const std::vector<std::string>& args) {
  port_ = cistern::testing::PickUnusedPort();
  std::vector<std::string> argv = {BinaryPath(name_), "--port", std::to_string(port_)};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string log = absl::StrCat(::testing::TempDir(), "/", name_, "_", ::getpid(), "_", port_, ".log");
  proc_ = std::make_unique<cistern::testing::Subprocess>(argv, log);
  absl::Status started = proc_->Start();
  if (!started.ok()) return started;
  HttpOptions probe_options;
  probe_options.max_attempts = 1;
  probe_options.connect_timeout_ms = 500;
  HttpClient probe(probe_options);
  HttpRequest ping;
  ping.url = absl::StrCat("http://127.0.0.1:", port_, "/");
  bool up = cistern::testing::WaitFor([&] { return !proc_->running() || probe.Send(ping).ok(); }, 30'000);
  if (!up || !proc_->running()) {
    return absl::UnavailableError(absl::StrCat(name_, " did not start on port ", port_, ": ", proc_->OutputTail()));
  }
  return absl::OkStatus();
}

void LocalTestServer::Stop() {
  if (proc_ != nullptr) proc_->Kill();
  proc_.reset();
}

}  // namespace cistern::ufs::testing
