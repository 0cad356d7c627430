// The security rules of a real cluster (docs/security.md): TOKEN authentication of users and
// daemons, POSIX permissions through the client, block capabilities checked by workers asked
// directly, superuser-only mounts and chown, the audit log; the permission rules in NONE mode.
// TLS is tested with in-process servers (rpc_test, TlsTest). The default NONE cluster is covered
// by every other integration test.
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "cistern/file_system.h"
#include "common/status.h"
#include "cluster_fixture.h"
#include "rpc/transport_security.h"
#include "security/secrets.h"

namespace cistern::testing {
namespace {

constexpr char kClusterSecret[] = "cluster-secret-for-the-security-test";
constexpr char kRootToken[] = "root-token-0123456789abcdef";
constexpr char kAliceToken[] = "alice-token-0123456789abcdef";
constexpr char kBobToken[] = "bob-token-0123456789abcdef";

void WritePrivateFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), 0600);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::shared_ptr<const rpc::ChannelSecurity> Identity(const std::string& user, const std::string& token,
                                                     const security::TlsMaterial& tls = {}) {
  auto security = rpc::ChannelSecurity::Create(rpc::ClientIdentity{user, {}, token}, tls);
  EXPECT_TRUE(security.ok()) << security.status();
  return *security;
}

// A cluster with security.authentication.type=TOKEN and the audit log on. This process talks to
// it as the superuser (the fixture's own clients) unless a test says otherwise.
class TokenClusterTest : public ClusterFixture {
 protected:
  void SetUp() override {
    rpc::InstallProcessSecurity(Identity(security::ProcessUser().user, kRootToken), rpc::ServerSecurity{});
    ClusterFixture::SetUp();
  }
  void TearDown() override {
    ClusterFixture::TearDown();
    rpc::InstallProcessSecurity(rpc::ChannelSecurity::Insecure(), rpc::ServerSecurity{});
  }

  std::string ExtraConf() const override {
    WritePrivateFile(dir_ + "/conf/cluster.secret", kClusterSecret);
    WritePrivateFile(dir_ + "/conf/tokens", absl::StrCat(kRootToken, " ", security::ProcessUser().user, "\n",
                                                         kAliceToken, " alice staff\n", kBobToken, " bob other\n"));
    return absl::StrCat("security.authentication.type=TOKEN\n", "security.cluster.secret.file=", dir_,
                        "/conf/cluster.secret\n", "security.authentication.tokens.file=", dir_, "/conf/tokens\n",
                        "master.audit.log.enabled=true\n", "master.audit.log.file=", dir_, "/audit.log\n");
  }

  std::unique_ptr<FileSystem> Connect(const std::string& user, const std::string& token) {
    ClientOptions options;
    options.master_addresses = {absl::StrCat("127.0.0.1:", master_port_)};
    options.user = user;
    options.token = token;
    options.retry_window_ms = 0;
    options.default_block_size_bytes = kMiB;
    absl::StatusOr<std::unique_ptr<FileSystem>> fs = FileSystem::Connect(options);
    EXPECT_TRUE(fs.ok()) << fs.status();
    return fs.ok() ? *std::move(fs) : nullptr;
  }

  static absl::Status WriteFile(FileSystem* fs, const std::string& path, const std::string& data, uint32_t mode) {
    CreateOptions options;
    options.mode = mode;
    CISTERN_ASSIGN_OR_RETURN(std::unique_ptr<FileWriter> writer, fs->Create(path, options));
    CISTERN_RETURN_IF_ERROR(writer->Write(data));
    return writer->Close();
  }

  static absl::StatusOr<std::string> ReadAll(FileSystem* fs, const std::string& path) {
    CISTERN_ASSIGN_OR_RETURN(std::unique_ptr<FileReader> reader, fs->Open(path, {}));
    std::string out(reader->length(), '\0');
    CISTERN_ASSIGN_OR_RETURN(int64_t n, reader->ReadAt(0, out.data(), reader->length()));
    out.resize(n);
    return out;
  }

  // Asks the worker for block `block_id` directly, as `user`, with `capability` if any.
  absl::Status ReadBlockDirectly(const std::string& user, const std::string& token, uint64_t block_id,
                                 const std::string& capability) {
    rpc::WorkerClientOptions options;
    options.security = Identity(user, token);
    options.rpc_timeout_ms = 10000;
    options.data_timeout_ms = 10000;
    rpc::WorkerClient worker(absl::StrCat("127.0.0.1:", worker_port_), options);
    proto::ReadBlockRequest request;
    request.set_block_id(block_id);
    request.set_length(-1);
    if (!capability.empty()) request.mutable_capability()->ParseFromString(capability);
    std::string data;
    return worker.ReadBlock(request, [&](std::string_view chunk, bool) {
      data.append(chunk);
      return absl::OkStatus();
    });
  }

  // Makes /home/<user> owned by the user (the superuser creates it and hands it over).
  void MakeHome(FileSystem* root, const std::string& user) {
    ASSERT_TRUE(root->CreateDirectory("/home/" + user, /*recursive=*/true).ok());
    SetAttributeOptions chown;
    chown.owner = user;
    chown.group = user == "alice" ? "staff" : "other";
    chown.mode = 0755;
    absl::StatusOr<FileStatus> handed = root->SetAttribute("/home/" + user, chown);
    ASSERT_TRUE(handed.ok()) << handed.status();
  }
};

TEST_F(TokenClusterTest, AUserCannotReadAnotherUsersPrivateFileThroughTheClientOrFromAWorker) {
  auto root = Connect(security::ProcessUser().user, kRootToken);
  auto alice = Connect("alice", kAliceToken);
  auto bob = Connect("bob", kBobToken);
  MakeHome(root.get(), "alice");

  const std::string secret(3 * kMiB / 2, 's');
  ASSERT_TRUE(WriteFile(alice.get(), "/home/alice/secret", secret, 0600).ok());
  ASSERT_TRUE(WriteFile(alice.get(), "/home/alice/public", "for everyone", 0644).ok());
  absl::StatusOr<FileStatus> status = alice->GetStatus("/home/alice/secret");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->owner, "alice");
  EXPECT_EQ(status->group, "staff");
  EXPECT_EQ(status->mode, 0600u);
  ASSERT_EQ(*ReadAll(alice.get(), "/home/alice/secret"), secret);
  EXPECT_EQ(*ReadAll(bob.get(), "/home/alice/public"), "for everyone");

  // Through the client: refused when opening.
  absl::StatusOr<std::string> refused = ReadAll(bob.get(), "/home/alice/secret");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << refused.status();
  EXPECT_NE(refused.status().message().find("bob"), std::string::npos) << refused.status();

  // Bob may still see that the file exists (traverse), but gets no capability with it.
  absl::StatusOr<FileStatus> seen = bob->GetStatus("/home/alice/secret");
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_TRUE(seen->capability.empty());
  ASSERT_FALSE(seen->blocks.empty());
  const uint64_t block = seen->blocks[0].block_id;

  // Asking the worker directly: no capability, one for another file, or a forged one.
  absl::Status direct = ReadBlockDirectly("bob", kBobToken, block, "");
  EXPECT_EQ(direct.code(), absl::StatusCode::kPermissionDenied) << direct;
  const std::string other = (*bob->GetStatus("/home/alice/public")).capability;
  ASSERT_FALSE(other.empty());
  direct = ReadBlockDirectly("bob", kBobToken, block, other);
  EXPECT_EQ(direct.code(), absl::StatusCode::kPermissionDenied) << direct;
  proto::BlockCapability forged;
  ASSERT_TRUE(forged.ParseFromString(other));
  forged.set_file_id(seen->file_id);
  direct = ReadBlockDirectly("bob", kBobToken, block, forged.SerializeAsString());
  EXPECT_EQ(direct.code(), absl::StatusCode::kPermissionDenied) << direct;
  EXPECT_NE(direct.message().find("does not verify"), std::string::npos) << direct;
  // The owner's own capability works when asking directly.
  EXPECT_TRUE(ReadBlockDirectly("alice", kAliceToken, block, status->capability).ok());

  // Bob cannot write into alice's directory or delete her file either.
  EXPECT_EQ(WriteFile(bob.get(), "/home/alice/bobs", "x", 0644).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(bob->Delete("/home/alice/secret", false).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(alice->Exists("/home/alice/secret").value_or(false));
}

TEST_F(TokenClusterTest, ChmodChownChgrpMountAndAdminFollowThePosixRules) {
  auto root = Connect(security::ProcessUser().user, kRootToken);
  auto alice = Connect("alice", kAliceToken);
  auto bob = Connect("bob", kBobToken);
  MakeHome(root.get(), "alice");
  ASSERT_TRUE(WriteFile(alice.get(), "/home/alice/f", "data", 0644).ok());

  SetAttributeOptions chmod;
  chmod.mode = 0600;
  EXPECT_EQ(bob->SetAttribute("/home/alice/f", chmod).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(alice->SetAttribute("/home/alice/f", chmod).ok());
  SetAttributeOptions chown;
  chown.owner = "bob";
  EXPECT_EQ(alice->SetAttribute("/home/alice/f", chown).status().code(), absl::StatusCode::kPermissionDenied);
  SetAttributeOptions chgrp;
  chgrp.group = "other";  // alice is not in it
  EXPECT_EQ(alice->SetAttribute("/home/alice/f", chgrp).status().code(), absl::StatusCode::kPermissionDenied);
  absl::StatusOr<FileStatus> given = root->SetAttribute("/home/alice/f", chown);
  ASSERT_TRUE(given.ok()) << given.status();
  EXPECT_EQ(given->owner, "bob");

  fs::create_directories(dir_ + "/other-ufs");
  absl::Status mount = alice->Mount("/mnt", "file://" + dir_ + "/other-ufs", {});
  EXPECT_EQ(mount.code(), absl::StatusCode::kPermissionDenied) << mount;
  EXPECT_TRUE(root->Mount("/mnt", "file://" + dir_ + "/other-ufs", {}).ok());
  EXPECT_EQ(alice->Unmount("/mnt").code(), absl::StatusCode::kPermissionDenied);
  // Admin calls (cistern admin report) are the superuser's.
  EXPECT_EQ(alice->GetMasterInfo().status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(root->GetMasterInfo().ok());

  // The audit log has the operations with their callers and results.
  const std::string audit = ReadFile(dir_ + "/audit.log");
  EXPECT_NE(audit.find("user=alice groups=staff"), std::string::npos) << audit;
  EXPECT_NE(audit.find("op=CreateFile path=\"/home/alice/f\" result=OK"), std::string::npos) << audit;
  EXPECT_NE(audit.find("user=bob groups=other"), std::string::npos) << audit;
  EXPECT_NE(audit.find("op=SetAttribute path=\"/home/alice/f\" result=PERMISSION_DENIED"), std::string::npos)
      << audit;
  EXPECT_NE(audit.find("op=Mount"), std::string::npos) << audit;
  EXPECT_EQ(audit.find(kAliceToken), std::string::npos) << "token in the audit log";
}

TEST_F(TokenClusterTest, CallersWithoutAValidTokenAndDaemonsWithoutTheClusterSecretAreRefused) {
  auto nobody = Connect("alice", "");
  EXPECT_EQ(nobody->GetStatus("/").status().code(), absl::StatusCode::kUnauthenticated);
  auto guesser = Connect("alice", "alice-token-0123456789abcdeX");
  EXPECT_EQ(guesser->GetStatus("/").status().code(), absl::StatusCode::kUnauthenticated);

  // Registering as a worker: a user's token is not enough, a daemon token from another secret
  // is none at all.
  const auto register_as = [&](const std::shared_ptr<const rpc::ChannelSecurity>& security) {
    rpc::MasterClientOptions options;
    options.addresses = {absl::StrCat("127.0.0.1:", master_port_)};
    options.security = security;
    options.rpc_timeout_ms = 10000;
    options.retry_window_ms = 0;
    return rpc::MasterClient(options).RegisterWorker({}).status();
  };
  EXPECT_EQ(register_as(Identity("alice", kAliceToken)).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(register_as(Identity("w", "")).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(register_as(Identity("w", security::DaemonToken("another-cluster-secret-0123"))).code(),
            absl::StatusCode::kUnauthenticated);

  // A real worker with the wrong secret never joins.
  WritePrivateFile(dir_ + "/conf/wrong.secret", "another-cluster-secret-0123");
  const int port = PickUnusedPort();
  Subprocess stray({BinDir() + "/cistern-worker", "--conf", absl::StrCat("worker.rpc.port=", port), "--conf",
                    absl::StrCat("worker.http.port=", PickUnusedPort()), "--conf",
                    absl::StrCat("worker.tier.mem.dir=", mem_dir_, "-stray"), "--conf",
                    absl::StrCat("security.cluster.secret.file=", dir_, "/conf/wrong.secret")},
                   dir_ + "/stray-worker.out", env_);
  ASSERT_TRUE(stray.Start().ok());
  EXPECT_TRUE(WaitFor([&] { return stray.OutputTail().find("UNAUTHENTICATED") != std::string::npos; }, 30000))
      << stray.OutputTail();
  auto workers = master_client_->GetWorkerInfoList({});
  ASSERT_TRUE(workers.ok()) << workers.status();
  EXPECT_EQ(workers->workers_size(), 1);
  fs::remove_all(absl::StrCat(mem_dir_, "-stray"));
}

// NONE mode (the default): identities are taken as claimed, but the permission rules hold.
class NoneClusterTest : public ClusterFixture {};

TEST_F(NoneClusterTest, PermissionsApplyToTheClaimedUsers) {
  const auto connect = [&](const std::string& user, std::vector<std::string> groups) {
    ClientOptions options;
    options.master_addresses = {absl::StrCat("127.0.0.1:", master_port_)};
    options.user = user;
    options.groups = std::move(groups);
    options.retry_window_ms = 0;
    return *FileSystem::Connect(options);
  };
  auto root = connect(security::ProcessUser().user, {});
  auto alice = connect("alice", {"staff"});
  auto bob = connect("bob", {"other"});
  ASSERT_TRUE(root->CreateDirectory("/home/alice", true).ok());
  SetAttributeOptions chown;
  chown.owner = "alice";
  ASSERT_TRUE(root->SetAttribute("/home/alice", chown).ok());
  CreateOptions create;
  create.mode = 0600;
  auto writer = alice->Create("/home/alice/private", create);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Write("mine").ok());
  ASSERT_TRUE((*writer)->Close().ok());
  EXPECT_TRUE(alice->Open("/home/alice/private", {}).ok());
  EXPECT_EQ(bob->Open("/home/alice/private", {}).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(bob->Create("/home/alice/x", {}).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(bob->Mount("/m", "file:///tmp", {}).code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace cistern::testing
