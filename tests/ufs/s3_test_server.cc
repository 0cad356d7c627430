#include "tests/ufs/s3_test_server.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "ufs/http_client.h"

namespace cistern::ufs::testing {
namespace {

std::string FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "", ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string S3rverCli() {
  const char* dir = std::getenv("CISTERN_TEST_SERVERS_DIR");
  const char* home = std::getenv("HOME");
  std::string base = dir ? dir : absl::StrCat(home ? home : "/root", "/.cache/cistern/test-servers");
  return base + "/node_modules/@20minutes/s3rver/lib/cli.js";
}

}  // namespace

std::string S3TestServer::SkipReason(Kind kind) {
  if (kind == Kind::kMoto) {
    if (FindInPath("moto_server").empty()) return "moto_server is not installed (pip install 'moto[server]')";
    return "";
  }
  if (FindInPath("node").empty()) return "node is not installed (needed for @20minutes/s3rver)";
  if (!std::filesystem::exists(S3rverCli())) {
    return absl::StrCat("@20minutes/s3rver is not installed at ", S3rverCli(), " (run scripts/install-test-servers.sh)");
  }
  return "";
}

std::map<std::string, std::string> S3TestServer::MountOptions() const {
  return {{"s3.endpoint", endpoint()},     {"s3.path_style", "true"},       {"s3.region", "us-east-1"},
          {"s3.access_key", access_key_}, {"s3.secret_key", secret_key_}, {"s3.retry_base", "20ms"},
          {"s3.retry_max", "200ms"},      {"s3.stall_timeout", "5s"}};
}

absl::Status S3TestServer::Start(const std::vector<std::string>& buckets) {
  port_ = cistern::testing::PickUnusedPort();
  const std::string log = absl::StrCat(::testing::TempDir(), "/s3server_", ::getpid(), "_", port_, ".log");
  if (kind_ == Kind::kMoto) {
    // Small multipart parts are allowed so tests can exercise multipart uploads cheaply.
    proc_ = std::make_unique<cistern::testing::Subprocess>(
        std::vector<std::string>{FindInPath("moto_server"), "-H", "127.0.0.1", "-p", std::to_string(port_)}, log,
        std::map<std::string, std::string>{{"S3_UPLOAD_PART_MIN_SIZE", "1024"}});
  } else {
    access_key_ = secret_key_ = "S3RVER";  // s3rver's built-in account
    data_dir_ = absl::StrCat(::testing::TempDir(), "/s3rver_", ::getpid(), "_", port_);
    std::vector<std::string> argv = {FindInPath("node"), "-e",
                                     absl::StrCat("require('", S3rverCli(),
                                                  "').parseAsync(['node','s3rver',...process.argv.slice(1)])"
                                                  ".catch(e=>{console.error(e);process.exit(1)})"),
                                     "--", "-d", data_dir_, "-a", "127.0.0.1", "-p", std::to_string(port_), "--silent"};
    for (const std::string& b : buckets) {
      argv.push_back("--configure-bucket");
      argv.push_back(b);
    }
    // Without the legacy provider, s3rver's paged listings fail with 500 on OpenSSL 3.
    proc_ = std::make_unique<cistern::testing::Subprocess>(
        argv, log, std::map<std::string, std::string>{{"NODE_OPTIONS", "--openssl-legacy-provider"}});
  }
  absl::Status started = proc_->Start();
  if (!started.ok()) return started;
  HttpOptions probe_options;
  probe_options.max_attempts = 1;
  probe_options.connect_timeout_ms = 500;
  HttpClient probe(probe_options);
  HttpRequest ping;
  ping.url = endpoint() + "/";
  bool up = cistern::testing::WaitFor([&] { return !proc_->running() || probe.Send(ping).ok(); }, 30'000);
  if (!up || !proc_->running()) {
    return absl::UnavailableError(absl::StrCat("S3 test server did not start on ", endpoint(), ": ", proc_->OutputTail()));
  }
  if (kind_ == Kind::kMoto) {
    for (const std::string& b : buckets) {
      HttpRequest create;
      create.method = "PUT";
      create.url = endpoint() + "/" + b;
      create.headers = {"Content-Type: application/octet-stream"};
      auto r = probe.Send(create);
      if (!r.ok() || r->status != 200) {
        return absl::UnavailableError(absl::StrCat("create bucket ", b, ": ", r.ok() ? r->body : r.status().ToString()));
      }
    }
  }
  return absl::OkStatus();
}

void S3TestServer::Stop() {
  if (proc_ != nullptr) proc_->Kill();
  proc_.reset();
  if (!data_dir_.empty()) std::filesystem::remove_all(data_dir_);
}

}  // namespace cistern::ufs::testing
