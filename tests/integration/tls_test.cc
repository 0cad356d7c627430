// TLS on every port of a real cluster (docs/security.md, "TLS"), in its own test process: the
// TLS channels this process makes to the cluster stay in its channel cache after the test, and a
// later cluster in the same process connected only slowly (seen as a NoneClusterTest timeout).
#include <sys/stat.h>

#include <fstream>

#include "absl/strings/str_join.h"
#include "cistern/file_system.h"
#include "cluster_fixture.h"
#include "rpc/transport_security.h"
#include "rpc/worker_client.h"
#include "security_helpers.h"

namespace cistern::testing {
namespace {

// TLS on every port of a real cluster, with certificates made at test time by openssl: the
// master and the worker talk TLS to each other (the worker registers), a client with the CA
// writes and reads, the CLI with the cluster's configuration works, and a plaintext client or a
// client trusting another CA gets nowhere.
class TlsClusterTest : public ClusterFixture {
 protected:
  void SetUp() override {
    tls_dir_ = absl::StrCat(::testing::TempDir(), "/cistern-tls-", ::getpid());
    fs::remove_all(tls_dir_);
    fs::create_directories(tls_dir_);
    MakeCa("ca");
    MakeCa("other-ca");
    // The server certificate names what clients dial: 127.0.0.1 (master.hostname and
    // worker.hostname) as an IP SAN, and localhost.
    std::ofstream(tls_dir_ + "/san.ext") << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
    Openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
             tls_dir_ + "/node.key", "-out", tls_dir_ + "/node.csr", "-subj", "/CN=cistern-node"});
    Openssl({"x509", "-req", "-in", tls_dir_ + "/node.csr", "-CA", tls_dir_ + "/ca.pem", "-CAkey", tls_dir_ + "/ca.key",
             "-CAcreateserial", "-out", tls_dir_ + "/node.pem", "-days", "2", "-extfile", tls_dir_ + "/san.ext"});
    ::chmod((tls_dir_ + "/node.key").c_str(), 0600);
    if (HasFatalFailure()) return;
    // This process's own clients (the fixture's) dial with TLS and the CA.
    security::TlsMaterial tls;
    tls.enabled = true;
    tls.ca_pem = ReadFile(tls_dir_ + "/ca.pem");
    rpc::InstallProcessSecurity(Identity(security::ProcessUser().user, "", tls), rpc::ServerSecurity{});
    ClusterFixture::SetUp();
  }
  void TearDown() override {
    ClusterFixture::TearDown();
    rpc::InstallProcessSecurity(rpc::ChannelSecurity::Insecure(), rpc::ServerSecurity{});
    fs::remove_all(tls_dir_);
  }
  std::string ExtraConf() const override {
    return absl::StrCat("security.tls.enabled=true\n", "security.tls.cert.file=", tls_dir_, "/node.pem\n",
                        "security.tls.key.file=", tls_dir_, "/node.key\n", "security.tls.ca.file=", tls_dir_,
                        "/ca.pem\n");
  }

  void Openssl(std::vector<std::string> args) {
    args.insert(args.begin(), "/usr/bin/openssl");
    CommandResult r = RunCommand(args, 60000);
    ASSERT_EQ(r.exit_code, 0) << absl::StrJoin(args, " ") << "\n" << r.output;
  }
  void MakeCa(const std::string& name) {
    Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
             tls_dir_ + "/" + name + ".key", "-out", tls_dir_ + "/" + name + ".pem", "-days", "2", "-subj",
             "/CN=cistern-test-" + name});
  }

  absl::StatusOr<std::unique_ptr<FileSystem>> Connect(bool tls, const std::string& ca) {
    ClientOptions options;
    options.master_addresses = {absl::StrCat("127.0.0.1:", master_port_)};
    options.retry_window_ms = 0;
    options.rpc_timeout_ms = 10000;
    options.tls.enabled = tls;
    if (tls) options.tls.ca_file = tls_dir_ + "/" + ca + ".pem";
    return FileSystem::Connect(options);
  }

  std::string tls_dir_;
};

TEST_F(TlsClusterTest, ClientsWithTheCaWorkAndPlaintextOrUntrustingClientsCannotTalkToTheCluster) {
  // SetUp saw the worker register over TLS.
  absl::StatusOr<std::unique_ptr<FileSystem>> fs = Connect(/*tls=*/true, "ca");
  ASSERT_TRUE(fs.ok()) << fs.status();
  const std::string data(3 * kMiB / 2, 't');
  {
    absl::StatusOr<std::unique_ptr<FileWriter>> writer = (*fs)->Create("/over-tls", {});
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->Write(data).ok());
    absl::Status closed = (*writer)->Close();
    ASSERT_TRUE(closed.ok()) << closed;
  }
  {
    absl::StatusOr<std::unique_ptr<FileReader>> reader = (*fs)->Open("/over-tls", {});
    ASSERT_TRUE(reader.ok()) << reader.status();
    std::string back(data.size(), '\0');
    absl::StatusOr<int64_t> n = (*reader)->ReadAt(0, back.data(), static_cast<int64_t>(back.size()));
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(*n, static_cast<int64_t>(data.size()));
    EXPECT_TRUE(back == data);
  }
  EXPECT_NE(CliOk({"fs", "ls", "/"}).find("over-tls"), std::string::npos);

  // Plaintext against TLS ports: the handshake never completes.
  absl::StatusOr<std::unique_ptr<FileSystem>> plain = Connect(/*tls=*/false, "");
  absl::Status refused = plain.ok() ? (*plain)->GetStatus("/over-tls").status() : plain.status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  rpc::WorkerClientOptions worker_options;
  worker_options.security = rpc::ChannelSecurity::Insecure();
  worker_options.rpc_timeout_ms = 5000;
  absl::Status worker_refused =
      rpc::WorkerClient(absl::StrCat("127.0.0.1:", worker_port_), worker_options).GetMetrics().status();
  EXPECT_EQ(worker_refused.code(), absl::StatusCode::kUnavailable) << worker_refused;
  // TLS, but trusting another CA: the server's certificate does not verify.
  absl::StatusOr<std::unique_ptr<FileSystem>> untrusting = Connect(/*tls=*/true, "other-ca");
  refused = untrusting.ok() ? (*untrusting)->GetStatus("/over-tls").status() : untrusting.status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
}

}  // namespace
}  // namespace cistern::testing
