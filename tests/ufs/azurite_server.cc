#include "tests/ufs/azurite_server.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "ufs/crypto.h"
#include "ufs/http_client.h"
#include "ufs/azure_ufs.h"
#include "ufs/under_file_system.h"

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

std::string AzuriteBlobMain() {
  const char* dir = std::getenv("CISTERN_TEST_SERVERS_DIR");
  const char* home = std::getenv("HOME");
  std::string base = dir ? dir : absl::StrCat(home ? home : "/root", "/.cache/cistern/test-servers");
  return base + "/node_modules/azurite/dist/src/blob/main.js";
}

}  // namespace

std::string AzuriteServer::SkipReason() {
  if (FindInPath("node").empty()) return "node is not installed (needed for Azurite)";
  if (!std::filesystem::exists(AzuriteBlobMain())) {
    return absl::StrCat("Azurite (npm package azurite) is not installed at ", AzuriteBlobMain(),
                        " (run scripts/install-test-servers.sh)");
  }
  return "";
}

std::map<std::string, std::string> AzuriteServer::MountOptions() const {
  return {{"azure.endpoint", endpoint()}, {"azure.account_key", kKey},  {"azure.retry_base", "20ms"},
          {"azure.retry_max", "200ms"},   {"azure.stall_timeout", "5s"}};
}

absl::Status AzuriteServer::Start(const std::vector<std::string>& containers) {
  port_ = cistern::testing::PickUnusedPort();
  const std::string log = absl::StrCat(::testing::TempDir(), "/azurite_", ::getpid(), "_", port_, ".log");
  proc_ = std::make_unique<cistern::testing::Subprocess>(
      std::vector<std::string>{FindInPath("node"), AzuriteBlobMain(), "--blobHost", "127.0.0.1", "--blobPort",
                               std::to_string(port_), "--inMemoryPersistence", "--silent", "--skipApiVersionCheck",
                               "--disableTelemetry"},
      log);
  absl::Status started = proc_->Start();
  if (!started.ok()) return started;
  HttpOptions probe_options;
  probe_options.max_attempts = 1;
  probe_options.connect_timeout_ms = 500;
  HttpClient probe(probe_options);
  HttpRequest ping;
  ping.url = endpoint() + "?comp=list";
  bool up = cistern::testing::WaitFor([&] { return !proc_->running() || probe.Send(ping).ok(); }, 30'000);
  if (!up || !proc_->running()) {
    return absl::UnavailableError(absl::StrCat("Azurite did not start on ", endpoint(), ": ", proc_->OutputTail()));
  }
  for (const std::string& c : containers) {
    absl::Status created = CreateContainer(c);
    if (!created.ok()) return created;
  }
  return absl::OkStatus();
}

absl::Status AzuriteServer::CreateContainer(const std::string& name) const {
  // Through the adapter's own signing: a container is created by a signed PUT ?restype=container.
  HttpOptions o;
  o.max_attempts = 3;
  HttpClient http(o);
  const std::string date = absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", absl::Now(), absl::UTCTimeZone());
  std::map<std::string, std::string> headers = {{"x-ms-date", date}, {"x-ms-version", "2021-12-02"},
                                                {"content-length", "0"}, {"content-type", "application/octet-stream"}};
  const std::string path = absl::StrCat("/", kAccount, "/", name);
  const std::string to_sign = AzureStringToSign("PUT", headers, kAccount, path, {{"restype", "container"}});
  HttpRequest r;
  r.method = "PUT";
  r.url = absl::StrCat("http://127.0.0.1:", port_, path, "?restype=container");
  r.headers = {"x-ms-date: " + date, "x-ms-version: 2021-12-02", "content-type: application/octet-stream",
               absl::StrCat("Authorization: SharedKey ", kAccount, ":",
                            Base64Encode(HmacSha256(*Base64Decode(kKey), to_sign)))};
  auto resp = http.Send(r);
  if (!resp.ok()) return resp.status();
  if (resp->status != 201 && resp->status != 409) {
    return absl::UnavailableError(absl::StrCat("create container ", name, ": HTTP ", resp->status, " ", resp->body));
  }
  return absl::OkStatus();
}

std::string AzuriteServer::AccountSas(const std::string& permissions) {
  // Account SAS, version 2020-12-06 and later: the string-to-sign ends with the encryption scope.
  const std::string version = "2021-12-02";
  const std::string expiry = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now() + absl::Hours(24), absl::UTCTimeZone());
  const std::string to_sign = absl::StrCat(kAccount, "\n", permissions, "\n", "b", "\n", "sco", "\n", "", "\n", expiry,
                                           "\n", "", "\n", "http", "\n", version, "\n", "", "\n");
  const std::string sig = Base64Encode(HmacSha256(*Base64Decode(kKey), to_sign));
  return absl::StrCat("sv=", version, "&ss=b&srt=sco&sp=", permissions, "&se=", UrlEncode(expiry, false),
                      "&spr=http&sig=", UrlEncode(sig, false));
}

void AzuriteServer::Stop() {
  if (proc_ != nullptr) proc_->Kill();
  proc_.reset();
}

}  // namespace cistern::ufs::testing
