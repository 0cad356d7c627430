#include "rpc/transport_security.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_join.h"
#include "cistern/proto/master.grpc.pb.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "rpc/channel.h"
#include "security/secrets.h"

namespace cistern::rpc {
namespace {

// Answers with who called: the caller's user and groups in the response.
class WhoAmI final : public proto::MetaMaster::Service,
                     public proto::BlockMaster::Service,
                     public proto::FileSystemMaster::Service {
 public:
  grpc::Status GetMasterInfo(grpc::ServerContext* context, const proto::GetMasterInfoRequest*,
                             proto::GetMasterInfoResponse* response) override {
    return Describe(context, response->mutable_version());
  }
  grpc::Status RegisterWorker(grpc::ServerContext* context, const proto::RegisterWorkerRequest*,
                              proto::RegisterWorkerResponse* response) override {
    const security::Caller caller = CallerOf(*context);
    response->set_worker_id(caller.daemon ? 1 : 2);
    return grpc::Status::OK;
  }
  grpc::Status GetStatus(grpc::ServerContext* context, const proto::GetStatusRequest*,
                         proto::GetStatusResponse* response) override {
    return Describe(context, response->mutable_info()->mutable_path());
  }

 private:
  static grpc::Status Describe(grpc::ServerContext* context, std::string* out) {
    const security::Caller caller = CallerOf(*context);
    *out = caller.user + "/" + absl::StrJoin(caller.groups, ",") + (caller.daemon ? "/daemon" : "");
    if (caller.address.empty()) return grpc::Status(grpc::StatusCode::INTERNAL, "no peer address");
    return grpc::Status::OK;
  }
};

class Server {
 public:
  // Installs `security` as the process's (CallerOf applies it).
  explicit Server(const ServerSecurity& security) {
    InstallProcessSecurity(ChannelSecurity::Insecure(), security);
    grpc::ServerBuilder builder;
    ConfigureServerBuilder(&builder);
    builder.AddListeningPort("127.0.0.1:0", ServerCredentials(), &port_);
    builder.RegisterService(static_cast<proto::MetaMaster::Service*>(&service_));
    builder.RegisterService(static_cast<proto::BlockMaster::Service*>(&service_));
    builder.RegisterService(static_cast<proto::FileSystemMaster::Service*>(&service_));
    server_ = builder.BuildAndStart();
  }
  ~Server() { server_->Shutdown(std::chrono::system_clock::now()); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string localhost() const { return "localhost:" + std::to_string(port_); }

 private:
  WhoAmI service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

std::shared_ptr<const ChannelSecurity> Client(ClientIdentity identity, security::TlsMaterial tls = {}) {
  auto security = ChannelSecurity::Create(identity, tls);
  EXPECT_TRUE(security.ok()) << security.status();
  return *security;
}

// Who the server says called GetMasterInfo, or the call's error.
absl::StatusOr<std::string> Who(const std::string& address, const std::shared_ptr<const ChannelSecurity>& security) {
  grpc::ClientContext context;
  SetDeadline(&context, 10000);
  proto::GetMasterInfoResponse response;
  grpc::Status status = proto::MetaMaster::NewStub(GetChannel(address, security))->GetMasterInfo(&context, {}, &response);
  if (!status.ok()) return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  return response.version();
}

absl::StatusOr<std::string> Stat(const std::string& address, const std::shared_ptr<const ChannelSecurity>& security) {
  grpc::ClientContext context;
  SetDeadline(&context, 10000);
  proto::GetStatusResponse response;
  grpc::Status status =
      proto::FileSystemMaster::NewStub(GetChannel(address, security))->GetStatus(&context, {}, &response);
  if (!status.ok()) return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  return response.info().path();
}

absl::StatusOr<uint64_t> Register(const std::string& address, const std::shared_ptr<const ChannelSecurity>& security) {
  grpc::ClientContext context;
  SetDeadline(&context, 10000);
  proto::RegisterWorkerResponse response;
  grpc::Status status =
      proto::BlockMaster::NewStub(GetChannel(address, security))->RegisterWorker(&context, {}, &response);
  if (!status.ok()) return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  return response.worker_id();
}

security::PermissionOptions Superuser(std::string user) {
  security::PermissionOptions options;
  options.superuser = std::move(user);
  options.supergroup = "admins";
  return options;
}

TEST(TransportSecurityTest, NoneModeTrustsTheClaimedIdentityButKeepsSuperuserMethods) {
  ServerSecurity none;
  none.permissions = Superuser("hdfs");
  Server server(none);
  EXPECT_EQ(*Stat(server.address(), Client({"alice", {"staff", "dev"}, ""})), "alice/staff,dev");
  EXPECT_EQ(*Who(server.address(), Client({"hdfs", {}, ""})), "hdfs/");
  EXPECT_EQ(*Who(server.address(), Client({"ops", {"admins"}, ""})), "ops/admins");
  absl::StatusOr<std::string> denied = Who(server.address(), Client({"alice", {"staff"}, ""}));
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(denied.status().message().find("only the superuser"), std::string::npos) << denied.status();
  // Daemon-only methods are open in NONE mode (no secret to tell daemons apart).
  EXPECT_EQ(*Register(server.address(), Client({"alice", {}, ""})), 2u);
  // A claimed name that is not a name is refused.
  EXPECT_EQ(Stat(server.address(), Client({"bad:name", {}, ""})).status().code(), absl::StatusCode::kUnauthenticated);
}

// A call naming its user twice is judged by the first value, by the gate in front of the
// handler and by CallerOf in it alike (the gate reads the wire order, CallerOf gRPC's map).
TEST(TransportSecurityTest, ARepeatedIdentityHeaderCountsByItsFirstValueEverywhere) {
  ServerSecurity none;
  none.permissions = Superuser("hdfs");
  Server server(none);
  const auto who = [&](const std::vector<std::string>& users) -> absl::StatusOr<std::string> {
    grpc::ClientContext context;
    SetDeadline(&context, 10000);
    for (const std::string& user : users) context.AddMetadata(kUserHeader, user);
    proto::GetMasterInfoResponse response;
    grpc::Status status = proto::MetaMaster::NewStub(GetChannel(server.address(), Client({"", {}, ""})))
                              ->GetMasterInfo(&context, {}, &response);
    if (!status.ok()) return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
    return response.version();
  };
  EXPECT_EQ(*who({"hdfs", "alice"}), "hdfs/");
  EXPECT_EQ(who({"alice", "hdfs"}).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(TransportSecurityTest, TokenModeAuthenticatesEveryCall) {
  auto tokens = security::TokenTable::Parse(
      "alice-token-0123456789 alice staff\nhdfs-token-0123456789abc hdfs\nshared-secret-0123456789 *\n", "tokens");
  ASSERT_TRUE(tokens.ok());
  ServerSecurity token;
  token.mode = security::AuthMode::kToken;
  token.tokens = security::TokenStore::Fixed(*tokens);
  token.daemon_token = security::DaemonToken("cluster-secret-0123456789");
  token.permissions = Superuser("hdfs");
  Server server(token);

  // A per-user token names the user, whatever the client claims.
  EXPECT_EQ(*Stat(server.address(), Client({"mallory", {"admins"}, "alice-token-0123456789"})), "alice/staff");
  // A shared secret lets the holder name itself.
  EXPECT_EQ(*Stat(server.address(), Client({"bob", {"eng"}, "shared-secret-0123456789"})), "bob/eng");
  // Missing or wrong tokens: UNAUTHENTICATED.
  for (const std::string& bad : {std::string(""), std::string("alice-token-0123456780"), std::string("x")}) {
    absl::StatusOr<std::string> refused = Stat(server.address(), Client({"alice", {}, bad}));
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated) << bad;
    EXPECT_NE(refused.status().message().find("security.authentication.type=TOKEN"), std::string::npos);
  }
  // Superuser-only methods: the token's user decides.
  EXPECT_EQ(*Who(server.address(), Client({"x", {}, "hdfs-token-0123456789abc"})), "hdfs/");
  EXPECT_EQ(Who(server.address(), Client({"hdfs", {}, "alice-token-0123456789"})).status().code(),
            absl::StatusCode::kPermissionDenied);
  // Daemon-only methods need the daemon token: a user's token is not enough, none is worse.
  EXPECT_EQ(*Register(server.address(), Client({"worker", {}, security::DaemonToken("cluster-secret-0123456789")})),
            1u);
  EXPECT_EQ(Register(server.address(), Client({"hdfs", {}, "hdfs-token-0123456789abc"})).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Register(server.address(), Client({"worker", {}, ""})).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Register(server.address(), Client({"worker", {}, security::DaemonToken("another-secret-0123456789")}))
                .status()
                .code(),
            absl::StatusCode::kUnauthenticated);
  // A daemon is the superuser.
  EXPECT_EQ(*Who(server.address(), Client({"worker", {}, security::DaemonToken("cluster-secret-0123456789")})),
            "worker//daemon");
}

TEST(TransportSecurityTest, WorkersInTokenModeRequireTokensOnlyForDaemonMethods) {
  ServerSecurity worker;
  worker.mode = security::AuthMode::kToken;
  worker.require_token = false;
  worker.daemon_token = security::DaemonToken("cluster-secret-0123456789");
  Server server(worker);
  EXPECT_EQ(*Stat(server.address(), Client({"alice", {}, ""})), "alice/");
  EXPECT_EQ(Register(server.address(), Client({"alice", {}, ""})).status().code(), absl::StatusCode::kUnauthenticated);
}

// A CA and a server certificate for localhost/127.0.0.1, and a client certificate, made with the
// openssl command line.
class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/transport_security_test.XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    const std::string script = R"(set -e; cd ")" + dir_ + R"("
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=cistern-test-ca 2>/dev/null
for who in server client other; do
  openssl req -newkey rsa:2048 -nodes -keyout $who.key -out $who.csr -subj /CN=$who 2>/dev/null
done
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san.ext 2>/dev/null
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=other-ca 2>/dev/null
openssl x509 -req -in other.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial -out other.pem -days 2 2>/dev/null
)";
    ASSERT_EQ(std::system(("bash -c '" + Escape(script) + "'").c_str()), 0) << "openssl failed";
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  static std::string Escape(const std::string& s) {
    std::string out;
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out;
  }
  security::TlsMaterial Tls(const std::string& ca, const std::string& who, bool client_auth = false) {
    auto tls = security::LoadTlsMaterial(true, ca.empty() ? "" : dir_ + "/" + ca + ".pem",
                                         who.empty() ? "" : dir_ + "/" + who + ".pem",
                                         who.empty() ? "" : dir_ + "/" + who + ".key", client_auth, "");
    EXPECT_TRUE(tls.ok()) << tls.status();
    return *tls;
  }

  std::string dir_;
};

TEST_F(TlsTest, TlsClientsTalkToTlsServersAndPlaintextClientsCannot) {
  ServerSecurity tls;
  tls.tls = Tls("", "server");
  tls.permissions = Superuser("alice");
  Server server(tls);
  EXPECT_EQ(*Who(server.localhost(), Client({"alice", {}, ""}, Tls("ca", ""))), "alice/");
  EXPECT_EQ(*Who(server.address(), Client({"alice", {}, ""}, Tls("ca", ""))), "alice/") << "IP SAN";
  // Without TLS the handshake never completes: UNAVAILABLE, nothing served.
  absl::StatusOr<std::string> plaintext = Who(server.address(), Client({"alice", {}, ""}));
  EXPECT_EQ(plaintext.status().code(), absl::StatusCode::kUnavailable) << plaintext.status();
  // A client that does not trust the server's CA refuses it.
  absl::StatusOr<std::string> untrusted = Who(server.address(), Client({"alice", {}, ""}, Tls("other-ca", "")));
  EXPECT_EQ(untrusted.status().code(), absl::StatusCode::kUnavailable) << untrusted.status();
  // A TLS client to a plaintext server fails too.
  ServerSecurity plain;
  plain.permissions = Superuser("alice");
  Server plain_server(plain);
  EXPECT_FALSE(Who(plain_server.address(), Client({"alice", {}, ""}, Tls("ca", ""))).ok());
}

TEST_F(TlsTest, MutualTlsRequiresAClientCertificateFromTheCa) {
  ServerSecurity mtls;
  mtls.tls = Tls("ca", "server", /*client_auth=*/true);
  mtls.permissions = Superuser("alice");
  Server server(mtls);
  EXPECT_EQ(*Who(server.localhost(), Client({"alice", {}, ""}, Tls("ca", "client"))), "alice/");
  EXPECT_FALSE(Who(server.localhost(), Client({"alice", {}, ""}, Tls("ca", ""))).ok()) << "no client certificate";
  EXPECT_FALSE(Who(server.localhost(), Client({"alice", {}, ""}, Tls("ca", "other"))).ok()) << "certificate of another CA";
}

}  // namespace
}  // namespace cistern::rpc
