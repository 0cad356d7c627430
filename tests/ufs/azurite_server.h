// Test-only: Azurite's Blob service (npm package azurite, installed by
// scripts/install-test-servers.sh) on a free port, in memory. Azurite checks Shared Key and SAS
// signatures against its well-known development account devstoreaccount1.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "testing/subprocess.h"

namespace cistern::ufs::testing {

class AzuriteServer {
 public:
  static constexpr char kAccount[] = "devstoreaccount1";
  // Azurite's documented development key (public; it only opens the local emulator).
  static constexpr char kKey[] =
      "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

  // Why Azurite cannot run here ("" if it can).
  static std::string SkipReason();

  AzuriteServer() = default;
  ~AzuriteServer() { Stop(); }

  // Starts the server and creates `containers`.
  absl::Status Start(const std::vector<std::string>& containers);
  void Stop();  // SIGKILL; idempotent
  int port() const { return port_; }
  // "http://127.0.0.1:PORT/devstoreaccount1", the blob endpoint (path-style).
  std::string endpoint() const { return EndpointFor(port_); }
  static std::string EndpointFor(int port) { return "http://127.0.0.1:" + std::to_string(port) + "/" + kAccount; }
  // Mount options that reach this server with Shared Key credentials.
  std::map<std::string, std::string> MountOptions() const;
  std::string OutputTail() const { return proc_ ? proc_->OutputTail() : ""; }

  // An account SAS (query string) for the blob service, signed with the account key, valid for
  // a day, with permissions `permissions` (e.g. "rwdlac").
  static std::string AccountSas(const std::string& permissions);

  // Creates a container with Shared Key auth; OK if it exists.
  absl::Status CreateContainer(const std::string& name) const;

 private:
  int port_ = 0;
  std::unique_ptr<cistern::testing::Subprocess> proc_;
};

}  // namespace cistern::ufs::testing
