// The conformance suite on webhdfs:// against webhdfs_test_server (tests/ufs/webhdfs_test_server.cc),
// a NameNode + DataNode written here from the WebHDFS REST API documentation: no HDFS can be
// installed on this machine, so this adapter is tested against that server only. Run once with
// simple authentication (user.name; the server admits one user) and once with a delegation
// token; 64 KiB chunks make the larger files a CREATE followed by APPENDs, and the server pages
// LISTSTATUS_BATCH by 1,000 entries as dfs.ls.limit does.
#include <atomic>

#include "tests/ufs/conformance_suite.h"
#include "tests/ufs/local_test_server.h"

namespace cistern::ufs::conformance {
namespace {

using cistern::ufs::testing::LocalTestServer;

constexpr char kToken[] = "HAAEY2lzdGVybgAAAAAAigGTdelegation";

std::atomic<int> next_root{0};

std::vector<std::string> ServerArgs() { return {"--user", "cistern", "--delegation", kToken}; }

class PrivateWebHdfs : public PrivateServer {
 public:
  absl::Status Start() { return server_.Start(ServerArgs()); }
  int port() const override { return server_.port(); }
  void Kill() override { server_.Stop(); }

 private:
  LocalTestServer server_{"webhdfs_test_server"};
};

enum class Auth { kUser, kDelegationToken };

template <Auth kAuth>
struct WebHdfsEnv {
  static inline std::unique_ptr<LocalTestServer> server;
  static inline std::string skip, error;

  static void SetUpSuite() {
    skip = LocalTestServer::SkipReason("webhdfs_test_server");
    if (!skip.empty()) return;
    server = std::make_unique<LocalTestServer>("webhdfs_test_server");
    absl::Status started = server->Start(ServerArgs());
    if (!started.ok()) error = started.ToString();
  }
  static void TearDownSuite() { server.reset(); }
  static std::string SkipReason() { return skip; }
  static absl::StatusOr<std::unique_ptr<UnderFileSystem>> Make() {
    if (!error.empty()) return absl::UnavailableError(error);
    return MakeVia(server->port(), {});
  }
  static std::string NewRoot() {
    return absl::StrCat("webhdfs://127.0.0.1:", server ? server->port() : 0, "/conformance/t", next_root++);
  }

  static std::string OptionPrefix() { return "webhdfs."; }
  static int ServerPort() { return server->port(); }
  static int64_t PartSizeBytes() { return 64 * 1024; }
  static absl::StatusOr<std::unique_ptr<UnderFileSystem>> MakeVia(int port, MountOptions extra) {
    if (!error.empty()) return absl::UnavailableError(error);
    MountOptions options = {{"webhdfs.endpoint", absl::StrCat("http://127.0.0.1:", port)},
                            {"webhdfs.chunk_size", "64KiB"},
                            {"webhdfs.retry_base", "20ms"},
                            {"webhdfs.retry_max", "200ms"},
                            {"webhdfs.stall_timeout", "5s"}};
    if (kAuth == Auth::kUser) {
      options["webhdfs.user"] = "cistern";
    } else {
      options["webhdfs.delegation_token"] = kToken;
    }
    for (auto& [k, v] : extra) options[k] = v;
    return CreateUnderFileSystem(absl::StrCat("webhdfs://127.0.0.1:", server->port(), "/"), options);
  }
  static MountOptions WrongCredentialOptions() {
    if (kAuth == Auth::kUser) return {{"webhdfs.user", "mallory"}};
    return {{"webhdfs.delegation_token", "HAAEexpired"}};
  }
  static absl::StatusOr<std::unique_ptr<PrivateServer>> StartPrivateServer() {
    auto s = std::make_unique<PrivateWebHdfs>();
    absl::Status started = s->Start();
    if (!started.ok()) return started;
    return std::unique_ptr<PrivateServer>(std::move(s));
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(WebHdfsUser, UfsConformanceTest, ::testing::Types<WebHdfsEnv<Auth::kUser>>);
INSTANTIATE_TYPED_TEST_SUITE_P(WebHdfsDelegation, UfsConformanceTest,
                               ::testing::Types<WebHdfsEnv<Auth::kDelegationToken>>);

}  // namespace
}  // namespace cistern::ufs::conformance
