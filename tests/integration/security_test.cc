// The security rules of a real cluster (docs/security.md): TOKEN authentication of users and
// daemons, POSIX permissions through the client, block capabilities checked by workers asked
// directly, superuser-only mounts and chown, the audit log; the permission rules in NONE mode.
// TLS: tls_test.cc (real daemons), rpc_test TlsTest (in-process servers). The default NONE
// cluster is covered by every other integration test.
#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

#include "cistern/file_system.h"
#include "common/status.h"
#include "cluster_fixture.h"
#include "security_helpers.h"
#include "rpc/transport_security.h"
#include "security/secrets.h"

namespace cistern::testing {
namespace {

constexpr char kClusterSecret[] = "cluster-secret-for-the-security-test";
constexpr char kRootToken[] = "root-token-0123456789abcdef";
constexpr char kAliceToken[] = "alice-token-0123456789abcdef";
constexpr char kBobToken[] = "bob-token-0123456789abcdef";

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

  // A client of the worker that calls as `user` with `token`.
  std::unique_ptr<rpc::WorkerClient> WorkerAs(const std::string& user, const std::string& token) {
    rpc::WorkerClientOptions options;
    options.security = Identity(user, token);
    options.rpc_timeout_ms = 10000;
    options.data_timeout_ms = 10000;
    return std::make_unique<rpc::WorkerClient>(absl::StrCat("127.0.0.1:", worker_port_), options);
  }

  // PUT /api/v1/log-level on the daemon at HTTP `port` with a bearer `token` (none if empty):
  // the HTTP status.
  static std::string PutLogLevel(int port, const std::string& level, const std::string& token) {
    std::vector<std::string> args = {"/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
                                     "--data", level};
    if (!token.empty()) {
      args.push_back("-H");
      args.push_back("Authorization: Bearer " + token);
    }
    args.push_back(absl::StrCat("http://127.0.0.1:", port, "/api/v1/log-level"));
    return RunCommand(args, 30000).output;
  }
  static std::string LogLevelOf(int port) {
    return RunCommand({"/usr/bin/curl", "-s", absl::StrCat("http://127.0.0.1:", port, "/api/v1/log-level")}, 30000)
        .output;
  }

  // Replaces the tokens file as docs/security.md tells operators to: a new file renamed over it.
  void ReplaceTokens(const std::string& text) {
    WritePrivateFile(dir_ + "/conf/tokens.next", text);
    ASSERT_EQ(std::rename((dir_ + "/conf/tokens.next").c_str(), (dir_ + "/conf/tokens").c_str()), 0);
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

// Short-circuit leases (OpenLocalBlock) and `fs load` (CacheBlock) are block access too: a user
// without a READ capability for the file gets neither, and a capability for one file cannot load
// another file's bytes under its own block id. The owner gets both, through the client too.
TEST_F(TokenClusterTest, AUserCannotLeaseOrLoadTheBlocksOfAnotherUsersPrivateFile) {
  auto root = Connect(security::ProcessUser().user, kRootToken);
  auto alice = Connect("alice", kAliceToken);
  auto bob = Connect("bob", kBobToken);
  MakeHome(root.get(), "alice");
  // Two blocks, written THROUGH: in the under-store only, so there is something to load.
  const std::string secret(3 * kMiB / 2, 's');
  CreateOptions through;
  through.mode = 0600;
  through.write_type = WriteType::kThrough;
  absl::StatusOr<std::unique_ptr<FileWriter>> writer = alice->Create("/home/alice/secret", through);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Write(secret).ok());
  ASSERT_TRUE((*writer)->Close().ok());
  ASSERT_TRUE(WriteFile(alice.get(), "/home/alice/public", "for everyone", 0644).ok());
  absl::StatusOr<FileStatus> mine = alice->GetStatus("/home/alice/secret");
  ASSERT_TRUE(mine.ok()) << mine.status();
  ASSERT_FALSE(mine->capability.empty());
  ASSERT_EQ(mine->blocks.size(), 2u);
  absl::StatusOr<FileStatus> seen = bob->GetStatus("/home/alice/secret");
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_TRUE(seen->capability.empty());
  const uint64_t block = seen->blocks[0].block_id;
  absl::StatusOr<FileStatus> pub = bob->GetStatus("/home/alice/public");
  ASSERT_TRUE(pub.ok()) << pub.status();
  ASSERT_FALSE(pub->capability.empty());
  ASSERT_FALSE(pub->blocks.empty());
  auto bob_worker = WorkerAs("bob", kBobToken);
  auto alice_worker = WorkerAs("alice", kAliceToken);

  // CacheBlock of the secret's first block: no capability, or the public file's, is refused.
  proto::CacheBlockRequest cache;
  cache.set_block_id(block);
  cache.mutable_ufs()->set_ufs_path(seen->ufs_path);
  cache.mutable_ufs()->set_mount_id(seen->mount_id);
  cache.mutable_ufs()->set_offset_in_file(0);
  cache.mutable_ufs()->set_block_length(kMiB);
  absl::StatusOr<proto::CacheBlockResponse> cached = bob_worker->CacheBlock(cache);
  EXPECT_EQ(cached.status().code(), absl::StatusCode::kPermissionDenied) << cached.status();
  ASSERT_TRUE(cache.mutable_capability()->ParseFromString(pub->capability));
  cached = bob_worker->CacheBlock(cache);
  EXPECT_EQ(cached.status().code(), absl::StatusCode::kPermissionDenied) << cached.status();
  // The public file's capability with the public file's block id, but the secret's bytes as the
  // source: would cache the secret under a block bob may read.
  proto::CacheBlockRequest swap = cache;
  swap.set_block_id(pub->blocks[0].block_id);
  cached = bob_worker->CacheBlock(swap);
  EXPECT_EQ(cached.status().code(), absl::StatusCode::kPermissionDenied) << cached.status();
  EXPECT_NE(cached.status().message().find("not this block of the file"), std::string::npos) << cached.status();

  // Through the client: bob's load caches nothing, the owner's loads both blocks.
  const int64_t loaded = Counter("cistern_worker_loaded_blocks_total");
  absl::StatusOr<LoadProgress> refused = bob->Load("/home/alice/secret", {});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << refused.status();
  EXPECT_EQ(Counter("cistern_worker_loaded_blocks_total"), loaded);
  absl::StatusOr<LoadProgress> load = alice->Load("/home/alice/secret", {});
  ASSERT_TRUE(load.ok()) << load.status();
  EXPECT_EQ(load->bytes_done, static_cast<int64_t>(secret.size()));
  EXPECT_EQ(Counter("cistern_worker_loaded_blocks_total") - loaded, 2);
  ASSERT_TRUE(cache.mutable_capability()->ParseFromString(mine->capability));
  cached = alice_worker->CacheBlock(cache);
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_TRUE(cached->already_cached());

  // OpenLocalBlock of the now cached block: no capability, or one for another file, is refused;
  // the owner's works.
  proto::OpenLocalBlockRequest open;
  open.set_block_id(block);
  absl::StatusOr<proto::OpenLocalBlockResponse> lease = bob_worker->OpenLocalBlock(open);
  EXPECT_EQ(lease.status().code(), absl::StatusCode::kPermissionDenied) << lease.status();
  ASSERT_TRUE(open.mutable_capability()->ParseFromString(pub->capability));
  lease = bob_worker->OpenLocalBlock(open);
  EXPECT_EQ(lease.status().code(), absl::StatusCode::kPermissionDenied) << lease.status();
  EXPECT_NE(lease.status().message().find("not file"), std::string::npos) << lease.status();
  ASSERT_TRUE(open.mutable_capability()->ParseFromString(mine->capability));
  lease = alice_worker->OpenLocalBlock(open);
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ(lease->length(), kMiB);
  EXPECT_TRUE(alice_worker->ReleaseLocalBlock(lease->lease_id()).ok());

  // The owner's client reads short-circuit (once the master knows the loaded blocks' location;
  // a fresh client, as the other one cached the status from before the load).
  ASSERT_TRUE(WaitFor([&] {
    proto::GetStatusRequest get;
    get.set_path("/home/alice/secret");
    get.set_include_block_locations(true);
    auto now = master_client_->GetStatus(get);
    if (!now.ok()) return false;
    for (const proto::BlockInfo& b : now->info().blocks()) {
      if (b.locations_size() == 0) return false;
    }
    return true;
  }, 30000)) << "the master never learnt where the loaded blocks are";
  alice = Connect("alice", kAliceToken);
  const int64_t leases = Counter("cistern_worker_short_circuit_leases_total");
  ASSERT_EQ(*ReadAll(alice.get(), "/home/alice/secret"), secret);
  EXPECT_EQ(Counter("cistern_worker_short_circuit_leases_total") - leases, 2) << "one lease per block";
}

// ASYNC_THROUGH and `fs persist` with TOKEN: the worker persisting a file reads the blocks other
// workers cache with its daemon identity (no capability), and `fs persist` needs write permission.
// Workers refuse an expired WRITE capability when a block stream opens: a writer slower than the
// capability's lifetime renews it from the master (GetStatus for_write), as readers do.
class ShortCapabilityTest : public TokenClusterTest {
 protected:
  std::string ExtraConf() const override {
    return TokenClusterTest::ExtraConf() + "security.block.capability.lifetime=2s\n";
  }
};

TEST_F(ShortCapabilityTest, AWriteLongerThanTheCapabilitysLifetimeRenewsIt) {
  auto root = Connect(security::ProcessUser().user, kRootToken);
  ASSERT_NE(root, nullptr);
  MakeHome(root.get(), "alice");
  auto alice = Connect("alice", kAliceToken);
  ASSERT_NE(alice, nullptr);
  CreateOptions options;
  options.write_type = WriteType::kMustCache;
  options.block_size_bytes = kMiB;
  options.mode = 0600;
  auto writer = alice->Create("/home/alice/slow.bin", options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  std::string data;
  for (int block = 0; block < 3; ++block) {
    const std::string bytes(static_cast<size_t>(kMiB), static_cast<char>('a' + block));
    ASSERT_TRUE((*writer)->Write(bytes).ok()) << "block " << block;
    data += bytes;
    // Past the lifetime of the capability the next block's stream would open with.
    absl::SleepFor(absl::Milliseconds(2500));
  }
  absl::Status closed = (*writer)->Close();
  ASSERT_TRUE(closed.ok()) << closed;
  auto read = ReadAll(alice.get(), "/home/alice/slow.bin");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(*read == data) << "read back " << read->size() << " bytes";

  // The renewal is the writer's alone: another user may not get a write capability for it, and
  // a complete file has none to renew.
  proto::GetStatusRequest renew;
  renew.set_path("/home/alice/slow.bin");
  renew.set_for_write(true);
  rpc::MasterClientOptions bob_options;
  bob_options.addresses = {absl::StrCat("127.0.0.1:", master_port_)};
  bob_options.security = Identity("bob", kBobToken);
  EXPECT_EQ(rpc::MasterClient(bob_options).GetStatus(renew).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(master_client_->GetStatus(renew).status().code(), absl::StatusCode::kFailedPrecondition);
}

class TokenPersistenceTest : public TokenClusterTest {
 protected:
  int NumWorkers() const override { return 2; }
  std::string ExtraConf() const override {
    return TokenClusterTest::ExtraConf() +
           "master.persistence.check.interval=100ms\nmaster.persistence.retry.initial=200ms\n"
           "master.persistence.retry.max=1s\n";
  }
  bool WaitPersisted(const std::string& path) {
    return WaitFor([&] { return Stat(path).persistence_state() == proto::PERSISTED; }, 90000);
  }
};

TEST_F(TokenPersistenceTest, AsyncThroughFilesPersistAcrossWorkersAndPersistNeedsWritePermission) {
  auto root = Connect(security::ProcessUser().user, kRootToken);
  auto alice = Connect("alice", kAliceToken);
  auto bob = Connect("bob", kBobToken);
  MakeHome(root.get(), "alice");
  std::string data;
  for (int i = 0; i < 16 * kMiB / 16; ++i) data.append(absl::StrFormat("%015d\n", i));
  CreateOptions async;
  async.mode = 0600;
  async.write_type = WriteType::kAsyncThrough;
  absl::StatusOr<std::unique_ptr<FileWriter>> writer = alice->Create("/home/alice/async", async);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Write(data).ok());
  ASSERT_TRUE((*writer)->Close().ok());
  std::set<uint64_t> holders;
  const proto::FileInfo written = Stat("/home/alice/async");
  for (const proto::BlockInfo& b : written.blocks()) {
    for (const proto::BlockLocation& l : b.locations()) holders.insert(l.worker_id());
  }
  EXPECT_EQ(holders.size(), 2u) << "16 blocks, all on one worker: the persister reads no peer";
  ASSERT_TRUE(WaitPersisted("/home/alice/async"));
  EXPECT_EQ(ReadFile(dir_ + "/underfs/home/alice/async"), data);

  CreateOptions must;
  must.mode = 0644;
  must.write_type = WriteType::kMustCache;
  writer = alice->Create("/home/alice/later", must);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Write("persisted on request").ok());
  ASSERT_TRUE((*writer)->Close().ok());
  EXPECT_EQ(bob->Persist("/home/alice/later", false).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Stat("/home/alice/later").persistence_state(), proto::NOT_PERSISTED);
  ASSERT_TRUE(alice->Persist("/home/alice/later", false).ok());
  ASSERT_TRUE(WaitPersisted("/home/alice/later"));
  EXPECT_EQ(ReadFile(dir_ + "/underfs/home/alice/later"), "persisted on request");
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

// The master's HTTP JSON API shows the whole namespace and configuration: in TOKEN mode only the
// superuser's token (or a daemon's) opens it. Health and metrics stay open for probes.
TEST_F(TokenClusterTest, TheMastersHttpApiNeedsTheSuperusersToken) {
  const auto status_of = [&](const std::string& path, const std::string& token) {
    std::vector<std::string> args = {"/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}"};
    if (!token.empty()) {
      args.push_back("-H");
      args.push_back("Authorization: Bearer " + token);
    }
    args.push_back(absl::StrCat("http://127.0.0.1:", master_http_port_, path));
    return RunCommand(args, 30000).output;
  };
  for (const char* path : {"/api/v1/overview", "/api/v1/files?path=/", "/api/v1/config"}) {
    EXPECT_EQ(status_of(path, ""), "401") << path;
    EXPECT_EQ(status_of(path, "not-a-token"), "401") << path;
    EXPECT_EQ(status_of(path, kAliceToken), "403") << path;
    EXPECT_EQ(status_of(path, kRootToken), "200") << path;
    EXPECT_EQ(status_of(path, security::DaemonToken(kClusterSecret)), "200") << path;
  }
  EXPECT_EQ(status_of("/healthz", ""), "200");
  EXPECT_EQ(status_of("/metrics", ""), "200");
}

// PUT /api/v1/log-level changes a running daemon: in TOKEN mode only the superuser's token (or
// a daemon's) may, on the master and on a worker (which has the tokens file too here; without
// it, the next test); `cistern
// admin log-level` sends the configured token.
TEST_F(TokenClusterTest, ChangingADaemonsLogLevelNeedsTheSuperusersToken) {
  const auto put = &TokenClusterTest::PutLogLevel;
  const auto level_of = &TokenClusterTest::LogLevelOf;
  for (int port : {master_http_port_, worker_http_port_}) {
    const std::string before = level_of(port);
    ASSERT_NE(before.find("\"level\""), std::string::npos) << before;
    EXPECT_EQ(put(port, "debug", ""), "401") << port;
    EXPECT_EQ(put(port, "debug", "not-a-token"), "401") << port;
    EXPECT_EQ(put(port, "debug", kAliceToken), "403") << port;
    EXPECT_EQ(level_of(port), before) << "a refused call changed the level";
    EXPECT_EQ(put(port, "debug", kRootToken), "200") << port;
    EXPECT_NE(level_of(port).find("\"debug\""), std::string::npos) << port;
    EXPECT_EQ(put(port, "info", security::DaemonToken(kClusterSecret)), "200") << port;
    EXPECT_NE(level_of(port).find("\"info\""), std::string::npos) << port;
  }

  // The CLI: without a token every daemon refuses; with alice's 403; with the superuser's it works.
  CommandResult none = Cli({"admin", "log-level", "--target", absl::StrCat("127.0.0.1:", worker_http_port_), "warn"});
  EXPECT_NE(none.exit_code, 0) << none.output;
  EXPECT_NE(none.output.find("HTTP 401"), std::string::npos) << none.output;
  CommandResult alice = Cli({"--conf", absl::StrCat("security.authentication.token=", kAliceToken), "admin",
                             "log-level", "--target", absl::StrCat("127.0.0.1:", master_http_port_), "warn"});
  EXPECT_NE(alice.exit_code, 0) << alice.output;
  EXPECT_NE(alice.output.find("HTTP 403"), std::string::npos) << alice.output;
  const std::string root =
      CliOk({"--conf", absl::StrCat("security.authentication.token=", kRootToken), "admin", "log-level", "warn"});
  EXPECT_NE(root.find("master 127.0.0.1:"), std::string::npos) << root;
  EXPECT_NE(root.find("worker "), std::string::npos) << root;
  EXPECT_NE(level_of(master_http_port_).find("\"warn\""), std::string::npos);
  EXPECT_NE(level_of(worker_http_port_).find("\"warn\""), std::string::npos);
  CliOk({"--conf", absl::StrCat("security.authentication.token=", kRootToken), "admin", "log-level", "info"});
}

// A deployment where only the masters hold the tokens file: a worker without it asks the
// masters (a superuser-only call made with the presented token) and answers as they decide.
TEST_F(TokenClusterTest, AWorkerWithoutTheTokensFileAsksTheMastersWhetherATokenIsTheSuperusers) {
  const int port = PickUnusedPort();
  const int http_port = PickUnusedPort();
  const std::string mem_dir = absl::StrCat(mem_dir_, "-no-tokens");
  extra_mem_dirs_.push_back(mem_dir);
  Subprocess worker({BinDir() + "/cistern-worker", "--conf", absl::StrCat("worker.rpc.port=", port), "--conf",
                     absl::StrCat("worker.http.port=", http_port), "--conf", absl::StrCat("worker.tier.mem.dir=", mem_dir),
                     "--conf", "security.authentication.tokens.file="},
                    dir_ + "/worker-no-tokens.out", env_);
  ASSERT_TRUE(worker.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return LogLevelOf(http_port).find("\"level\"") != std::string::npos || !worker.running(); },
                      60000));
  ASSERT_TRUE(worker.running()) << worker.OutputTail();
  const std::string before = LogLevelOf(http_port);
  EXPECT_EQ(PutLogLevel(http_port, "debug", ""), "401");
  EXPECT_EQ(PutLogLevel(http_port, "debug", "not-a-token-0123456789"), "401") << worker.OutputTail();
  EXPECT_EQ(PutLogLevel(http_port, "debug", kAliceToken), "403") << worker.OutputTail();
  EXPECT_EQ(LogLevelOf(http_port), before) << "a refused call changed the level";
  EXPECT_EQ(PutLogLevel(http_port, "debug", kRootToken), "200") << worker.OutputTail();
  EXPECT_NE(LogLevelOf(http_port).find("\"debug\""), std::string::npos);
  EXPECT_EQ(PutLogLevel(http_port, "info", security::DaemonToken(kClusterSecret)), "200");
  EXPECT_NE(LogLevelOf(http_port).find("\"info\""), std::string::npos);
  // The master recorded the refused checks in its audit log (alice's token, unknown token).
  const std::string audit = ReadFile(dir_ + "/audit.log");
  bool recorded = false;
  for (absl::string_view line : absl::StrSplit(audit, '\n')) {
    recorded |= absl::StrContains(line, "op=GetMasterInfo") && absl::StrContains(line, "result=PERMISSION_DENIED");
  }
  EXPECT_TRUE(recorded) << audit;
  // With the masters down the worker cannot tell: 503, not a guess.
  master_.reset();
  EXPECT_EQ(PutLogLevel(http_port, "debug", kRootToken), "503");
  EXPECT_NE(LogLevelOf(http_port).find("\"info\""), std::string::npos);
}

class TokenReloadTest : public TokenClusterTest {
 protected:
  std::string ExtraConf() const override {
    return TokenClusterTest::ExtraConf() + "security.authentication.tokens.reload.interval=100ms\n";
  }
};

// Tokens added to or removed from the tokens file take effect on the running master (gRPC and
// HTTP) and on a worker that reads the file too, without a restart; a broken file changes
// nothing.
TEST_F(TokenReloadTest, TokensAddedOrRevokedInTheFileTakeEffectWithoutARestart) {
  const std::string me = security::ProcessUser().user;
  constexpr char kNewRootToken[] = "new-root-token-0123456789abcdef";
  auto bob = Connect("bob", kBobToken);
  ASSERT_TRUE(bob->GetStatus("/").ok());
  auto fresh = Connect(me, kNewRootToken);
  EXPECT_EQ(fresh->GetStatus("/").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(PutLogLevel(master_http_port_, "info", kNewRootToken), "401");

  // bob's token revoked, a new superuser token added.
  ReplaceTokens(absl::StrCat(kRootToken, " ", me, "\n", kAliceToken, " alice staff\n", kNewRootToken, " ", me, "\n"));
  EXPECT_TRUE(WaitFor([&] { return bob->GetStatus("/").status().code() == absl::StatusCode::kUnauthenticated; }, 30000));
  EXPECT_TRUE(WaitFor([&] { return fresh->GetStatus("/").ok(); }, 30000));
  EXPECT_TRUE(WaitFor([&] { return PutLogLevel(master_http_port_, "info", kNewRootToken) == "200"; }, 30000));
  EXPECT_TRUE(WaitFor([&] { return PutLogLevel(worker_http_port_, "info", kNewRootToken) == "200"; }, 30000));
  EXPECT_NE(ReadFile(dir_ + "/master.out").find("tokens file '" + dir_ + "/conf/tokens' reloaded"), std::string::npos);

  // A file with a bad line is refused, logged, and the tokens stay as they were.
  ReplaceTokens(absl::StrCat(kNewRootToken, " ", me, "\nshort bob\n"));
  // (The file is checked at the first call after the interval.)
  EXPECT_TRUE(WaitFor(
      [&] {
        (void)fresh->GetStatus("/");
        return ReadFile(dir_ + "/master.out").find("cannot be loaded") != std::string::npos;
      },
      30000))
      << master_->OutputTail();
  EXPECT_TRUE(fresh->GetStatus("/").ok());
  auto alice = Connect("alice", kAliceToken);
  EXPECT_TRUE(alice->GetStatus("/").ok());
  EXPECT_EQ(bob->GetStatus("/").status().code(), absl::StatusCode::kUnauthenticated);
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
