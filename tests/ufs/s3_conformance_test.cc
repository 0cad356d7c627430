// The conformance suite against an S3 server started by the test: moto_server, the most faithful
// S3 model available here. A small part size makes the larger files of the suite multipart
// uploads. (@20minutes/s3rver is used only for signature checks in s3_integration_test.cc: its
// listings drop common prefixes of nested keys and double-escape '&' and '\'' in keys.)
#include <atomic>

#include "tests/ufs/conformance_suite.h"
#include "tests/ufs/s3_test_server.h"

namespace cistern::ufs::conformance {
namespace {

using cistern::ufs::testing::S3TestServer;

std::atomic<int> next_root{0};

template <S3TestServer::Kind kKind>
struct S3Env {
  static inline std::unique_ptr<S3TestServer> server;
  static inline std::string skip, error;

  static void SetUpSuite() {
    skip = S3TestServer::SkipReason(kKind);
    if (!skip.empty()) return;
    server = std::make_unique<S3TestServer>(kKind);
    absl::Status started = server->Start({"conformance"});
    if (!started.ok()) error = started.ToString();
  }
  static void TearDownSuite() { server.reset(); }
  static std::string SkipReason() { return skip; }
  static absl::StatusOr<std::unique_ptr<UnderFileSystem>> Make() {
    if (!error.empty()) return absl::UnavailableError(error);
    auto options = server->MountOptions();
    options["s3.part_size"] = "64KiB";
    return CreateUnderFileSystem("s3://conformance/", options);
  }
  static std::string NewRoot() { return absl::StrCat("s3://conformance/prefix/t", next_root++); }
};

using MotoEnv = S3Env<S3TestServer::Kind::kMoto>;

INSTANTIATE_TYPED_TEST_SUITE_P(S3Moto, UfsConformanceTest, ::testing::Types<MotoEnv>);

}  // namespace
}  // namespace cistern::ufs::conformance
