// The conformance suite against an S3 server started by the test: moto_server, the most faithful
// S3 model available here. A small part size makes the larger files of the suite multipart
// uploads. moto checks no signatures, so the wrong-credentials case is skipped here; it runs
// against @20minutes/s3rver, which does, in s3_integration_test.cc (s3rver is not used for the
// whole suite: its listings drop common prefixes of nested keys and double-escape '&' and '\''
// in keys).
#include <atomic>

#include "tests/ufs/conformance_suite.h"
#include "tests/ufs/s3_test_server.h"

namespace cistern::ufs::conformance {
namespace {

using cistern::ufs::testing::S3TestServer;

std::atomic<int> next_root{0};

class PrivateMoto : public PrivateServer {
 public:
  absl::Status Start() { return server_.Start({"conformance"}); }
  int port() const override { return server_.port(); }
  void Kill() override { server_.Stop(); }

 private:
  S3TestServer server_{S3TestServer::Kind::kMoto};
};

struct MotoEnv {
  static inline std::unique_ptr<S3TestServer> server;
  static inline std::string skip, error;

  static void SetUpSuite() {
    skip = S3TestServer::SkipReason(S3TestServer::Kind::kMoto);
    if (!skip.empty()) return;
    server = std::make_unique<S3TestServer>(S3TestServer::Kind::kMoto);
    absl::Status started = server->Start({"conformance"});
    if (!started.ok()) error = started.ToString();
  }
  static void TearDownSuite() { server.reset(); }
  static std::string SkipReason() { return skip; }
  static absl::StatusOr<std::unique_ptr<UnderFileSystem>> Make() { return MakeVia(server->port(), {}); }
  static std::string NewRoot() { return absl::StrCat("s3://conformance/prefix/t", next_root++); }

  static std::string OptionPrefix() { return "s3."; }
  static int ServerPort() { return server->port(); }
  static int64_t PartSizeBytes() { return 64 * 1024; }
  static absl::StatusOr<std::unique_ptr<UnderFileSystem>> MakeVia(int port, MountOptions extra) {
    if (!error.empty()) return absl::UnavailableError(error);
    auto options = server->MountOptions();
    options["s3.endpoint"] = absl::StrCat("http://127.0.0.1:", port);
    options["s3.part_size"] = "64KiB";
    for (auto& [k, v] : extra) options[k] = v;
    return CreateUnderFileSystem("s3://conformance/", options);
  }
  static absl::StatusOr<std::unique_ptr<PrivateServer>> StartPrivateServer() {
    auto s = std::make_unique<PrivateMoto>();
    absl::Status started = s->Start();
    if (!started.ok()) return started;
    return std::unique_ptr<PrivateServer>(std::move(s));
  }
  static std::string MissingBucketUri() { return "s3://no-such-bucket-here/dir"; }
};

INSTANTIATE_TYPED_TEST_SUITE_P(S3Moto, UfsConformanceTest, ::testing::Types<MotoEnv>);

}  // namespace
}  // namespace cistern::ufs::conformance
