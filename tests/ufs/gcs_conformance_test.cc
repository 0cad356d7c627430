// The conformance suite on gs:// against gcs_test_server (tests/ufs/gcs_test_server.cc), a
// server written here from the Cloud Storage XML API documentation: no real GCS server can be
// installed on this machine, so this adapter is tested against that server only. Run once with
// an HMAC key (V4 signatures, recomputed and checked by the server) and once with an OAuth 2.0
// bearer token; 64 KiB parts make the larger files XML API multipart uploads.
#include <atomic>

#include "tests/ufs/conformance_suite.h"
#include "tests/ufs/local_test_server.h"

namespace cistern::ufs::conformance {
namespace {

using cistern::ufs::testing::LocalTestServer;

constexpr char kId[] = "GOOG1EXAMPLEHMACACCESSID";
constexpr char kSecret[] = "bGVhcm5pbmctY2lzdGVybi1nY3Mtc2VjcmV0";
constexpr char kToken[] = "ya29.test-access-token";

std::atomic<int> next_root{0};

std::vector<std::string> ServerArgs() {
  return {"--hmac", absl::StrCat(kId, ":", kSecret), "--bearer", kToken, "--bucket", "conformance",
          "--min-part-size", "1024"};
}

class PrivateGcs : public PrivateServer {
 public:
  absl::Status Start() { return server_.Start(ServerArgs()); }
  int port() const override { return server_.port(); }
  void Kill() override { server_.Stop(); }

 private:
  LocalTestServer server_{"gcs_test_server"};
};

enum class Auth { kHmac, kBearer };

template <Auth kAuth>
struct GcsEnv {
  static inline std::unique_ptr<LocalTestServer> server;
  static inline std::string skip, error;

  static void SetUpSuite() {
    skip = LocalTestServer::SkipReason("gcs_test_server");
    if (!skip.empty()) return;
    server = std::make_unique<LocalTestServer>("gcs_test_server");
    absl::Status started = server->Start(ServerArgs());
    if (!started.ok()) error = started.ToString();
  }
  static void TearDownSuite() { server.reset(); }
  static std::string SkipReason() { return skip; }
  static absl::StatusOr<std::unique_ptr<UnderFileSystem>> Make() {
    if (!error.empty()) return absl::UnavailableError(error);
    return MakeVia(server->port(), {});
  }
  static std::string NewRoot() { return absl::StrCat("gs://conformance/prefix/t", next_root++); }

  static std::string OptionPrefix() { return "gcs."; }
  static int ServerPort() { return server->port(); }
  static int64_t PartSizeBytes() { return 64 * 1024; }
  static absl::StatusOr<std::unique_ptr<UnderFileSystem>> MakeVia(int port, MountOptions extra) {
    if (!error.empty()) return absl::UnavailableError(error);
    MountOptions options = {{"gcs.endpoint", absl::StrCat("http://127.0.0.1:", port)},
                            {"gcs.part_size", "64KiB"},
                            {"gcs.retry_base", "20ms"},
                            {"gcs.retry_max", "200ms"},
                            {"gcs.stall_timeout", "5s"}};
    if (kAuth == Auth::kHmac) {
      options["gcs.hmac_access_id"] = kId;
      options["gcs.hmac_secret"] = kSecret;
    } else {
      options["gcs.bearer_token"] = kToken;
    }
    for (auto& [k, v] : extra) options[k] = v;
    return CreateUnderFileSystem("gs://conformance/", options);
  }
  static MountOptions WrongCredentialOptions() {
    if (kAuth == Auth::kHmac) return {{"gcs.hmac_secret", "d3Jvbmctc2VjcmV0"}};
    return {{"gcs.bearer_token", "ya29.expired"}};
  }
  static absl::StatusOr<std::unique_ptr<PrivateServer>> StartPrivateServer() {
    auto s = std::make_unique<PrivateGcs>();
    absl::Status started = s->Start();
    if (!started.ok()) return started;
    return std::unique_ptr<PrivateServer>(std::move(s));
  }
  static std::string MissingBucketUri() { return "gs://no-such-bucket-here/dir"; }
};

INSTANTIATE_TYPED_TEST_SUITE_P(GcsHmac, UfsConformanceTest, ::testing::Types<GcsEnv<Auth::kHmac>>);
INSTANTIATE_TYPED_TEST_SUITE_P(GcsBearer, UfsConformanceTest, ::testing::Types<GcsEnv<Auth::kBearer>>);

}  // namespace
}  // namespace cistern::ufs::conformance
