#include "rpc/server_metrics.h"

#include <atomic>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cistern/proto/master.grpc.pb.h"
#include "common/metrics.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "rpc/channel.h"

namespace cistern::rpc {
namespace {

// Answers OK on odd calls and NOT_FOUND on even ones.
class FlakyMetaMaster final : public proto::MetaMaster::Service {
 public:
  grpc::Status GetMasterInfo(grpc::ServerContext*, const proto::GetMasterInfoRequest*,
                             proto::GetMasterInfoResponse*) override {
    return ++calls_ % 2 == 1 ? grpc::Status::OK : grpc::Status(grpc::StatusCode::NOT_FOUND, "nope");
  }

 private:
  std::atomic<int> calls_{0};
};

TEST(ServerMetricsTest, EveryCallIsCountedByMethodAndCodeWithItsLatency) {
  FlakyMetaMaster service;
  grpc::ServerBuilder builder;
  ConfigureServerBuilder(&builder);
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = proto::MetaMaster::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  for (int i = 0; i < 5; ++i) {
    grpc::ClientContext context;
    SetDeadline(&context, 10000);
    proto::GetMasterInfoResponse response;
    stub->GetMasterInfo(&context, proto::GetMasterInfoRequest(), &response);
  }
  const std::string labels = "grpc_service=\"cistern.proto.MetaMaster\",grpc_method=\"GetMasterInfo\"";
  EXPECT_EQ(Metrics().Value(absl::StrCat("cistern_rpc_server_started_total{", labels, "}")), 5);
  EXPECT_EQ(Metrics().Value(absl::StrCat("cistern_rpc_server_handled_total{", labels, ",grpc_code=\"OK\"}")), 3);
  EXPECT_EQ(Metrics().Value(absl::StrCat("cistern_rpc_server_handled_total{", labels, ",grpc_code=\"NOT_FOUND\"}")), 2);
  const std::string text = Metrics().PrometheusText();
  EXPECT_TRUE(absl::StrContains(text, absl::StrCat("cistern_rpc_server_handling_seconds_count{", labels, "} 5\n")))
      << text;
  EXPECT_TRUE(absl::StrContains(text, absl::StrCat("cistern_rpc_server_handling_seconds_bucket{", labels,
                                                   ",le=\"+Inf\"} 5\n")));
  server->Shutdown();
}

}  // namespace
}  // namespace cistern::rpc
