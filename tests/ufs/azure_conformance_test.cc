// The conformance suite against Azurite (Azure Blob emulator, npm package azurite), which checks
// Shared Key signatures: once with Shared Key credentials and once with an account SAS. A small
// block size makes the larger files of the suite staged-block uploads (Put Block + Put Block List).
#include <atomic>

#include "tests/ufs/azurite_server.h"
#include "tests/ufs/conformance_suite.h"

namespace cistern::ufs::conformance {
namespace {

using cistern::ufs::testing::AzuriteServer;

std::atomic<int> next_root{0};

class PrivateAzurite : public PrivateServer {
 public:
  absl::Status Start() { return server_.Start({"conformance"}); }
  int port() const override { return server_.port(); }
  void Kill() override { server_.Stop(); }

 private:
  AzuriteServer server_;
};

enum class Auth { kSharedKey, kSas };

template <Auth kAuth>
struct AzuriteEnv {
  static inline std::unique_ptr<AzuriteServer> server;
  static inline std::string skip, error;

  static void SetUpSuite() {
    skip = AzuriteServer::SkipReason();
    if (!skip.empty()) return;
    server = std::make_unique<AzuriteServer>();
    absl::Status started = server->Start({"conformance"});
    if (!started.ok()) error = started.ToString();
  }
  static void TearDownSuite() { server.reset(); }
  static std::string SkipReason() { return skip; }
  static absl::StatusOr<std::unique_ptr<UnderFileSystem>> Make() {
    if (!error.empty()) return absl::UnavailableError(error);
    return MakeVia(server->port(), {});
  }
  static std::string NewRoot() {
    return absl::StrCat("wasb://conformance@", AzuriteServer::kAccount, "/prefix/t", next_root++);
  }

  static std::string OptionPrefix() { return "azure."; }
  static int ServerPort() { return server->port(); }
  static int64_t PartSizeBytes() { return 64 * 1024; }
  static MountOptions BaseOptions(int port) {
    MountOptions options = server->MountOptions();
    options["azure.endpoint"] = AzuriteServer::EndpointFor(port);
    options["azure.block_size"] = "64KiB";
    if (kAuth == Auth::kSas) {
      options.erase("azure.account_key");
      options["azure.sas_token"] = AzuriteServer::AccountSas("rwdlac");
    }
    return options;
  }
  static absl::StatusOr<std::unique_ptr<UnderFileSystem>> MakeVia(int port, MountOptions extra) {
    if (!error.empty()) return absl::UnavailableError(error);
    MountOptions options = BaseOptions(port);
    for (auto& [k, v] : extra) options[k] = v;
    return CreateUnderFileSystem(absl::StrCat("wasb://conformance@", AzuriteServer::kAccount, "/"), options);
  }
  static MountOptions WrongCredentialOptions() {
    if (kAuth == Auth::kSas) return {{"azure.sas_token", AzuriteServer::AccountSas("rwdlac") + "0"}};
    // A valid base64 key that is not the account's.
    return {{"azure.account_key", "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ=="}};
  }
  static absl::StatusOr<std::unique_ptr<PrivateServer>> StartPrivateServer() {
    auto s = std::make_unique<PrivateAzurite>();
    absl::Status started = s->Start();
    if (!started.ok()) return started;
    return std::unique_ptr<PrivateServer>(std::move(s));
  }
  static std::string MissingBucketUri() {
    return absl::StrCat("wasb://no-such-container@", AzuriteServer::kAccount, "/dir");
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(AzuriteSharedKey, UfsConformanceTest, ::testing::Types<AzuriteEnv<Auth::kSharedKey>>);
INSTANTIATE_TYPED_TEST_SUITE_P(AzuriteSas, UfsConformanceTest, ::testing::Types<AzuriteEnv<Auth::kSas>>);

}  // namespace
}  // namespace cistern::ufs::conformance
