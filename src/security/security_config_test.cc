#include "security/security_config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "gtest/gtest.h"
#include "security/secrets.h"

namespace cistern::security {
namespace {

class SecurityConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/security_config_test.XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  std::string File(const std::string& name, const std::string& text, mode_t mode = 0600) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }
  static Config With(std::vector<std::pair<std::string, std::string>> values) {
    Config config;
    for (const auto& [k, v] : values) EXPECT_TRUE(config.Set(k, v, "test").ok()) << k;
    return config;
  }

  std::string dir_;
};

TEST_F(SecurityConfigTest, NoneModeUsesTheOsUserOrTheConfiguredOne) {
  auto plain = LoadSecurityConfig(Config(), ProcessRole::kClient);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->mode, AuthMode::kNone);
  EXPECT_EQ(plain->user, ProcessUser().user);
  EXPECT_EQ(plain->groups, ProcessUser().groups);
  EXPECT_TRUE(plain->token.empty());
  EXPECT_FALSE(plain->tls.enabled);
  EXPECT_EQ(plain->permissions.superuser, ProcessUser().user);

  auto alice = LoadSecurityConfig(With({{"security.login.user", "alice"}, {"security.login.groups", "staff, dev"}}),
                                  ProcessRole::kClient);
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_EQ(alice->user, "alice");
  EXPECT_EQ(alice->groups, (std::vector<std::string>{"staff", "dev"}));
  auto bad = LoadSecurityConfig(With({{"security.login.user", "a b"}}), ProcessRole::kClient);
  EXPECT_NE(bad.status().message().find("security.login.user"), std::string::npos) << bad.status();
}

TEST_F(SecurityConfigTest, TokenModeNeedsSecretsWhereTheRoleNeedsThem) {
  const std::string secret = File("secret", "cluster-secret-0123456789\n");
  const std::string tokens = File("tokens", "alice-token-0123456789 alice staff\n");
  const std::string token = File("token", "alice-token-0123456789");
  Config base = With({{"security.authentication.type", "TOKEN"}});

  auto worker = LoadSecurityConfig(base, ProcessRole::kWorker);
  EXPECT_NE(worker.status().message().find("security.cluster.secret.file"), std::string::npos) << worker.status();
  Config daemon = With({{"security.authentication.type", "TOKEN"}, {"security.cluster.secret.file", secret}});
  worker = LoadSecurityConfig(daemon, ProcessRole::kWorker);
  ASSERT_TRUE(worker.ok()) << worker.status();
  EXPECT_EQ(worker->cluster_secret, "cluster-secret-0123456789");
  EXPECT_EQ(worker->token, DaemonToken("cluster-secret-0123456789"));

  auto master = LoadSecurityConfig(daemon, ProcessRole::kMaster);
  EXPECT_NE(master.status().message().find("security.authentication.tokens.file"), std::string::npos);
  Config full = With({{"security.authentication.type", "TOKEN"},
                      {"security.cluster.secret.file", secret},
                      {"security.authentication.tokens.file", tokens}});
  master = LoadSecurityConfig(full, ProcessRole::kMaster);
  ASSERT_TRUE(master.ok()) << master.status();
  ASSERT_NE(master->tokens, nullptr);
  EXPECT_EQ(master->tokens->Lookup("alice-token-0123456789")->user, "alice");

  auto client = LoadSecurityConfig(With({{"security.authentication.type", "TOKEN"},
                                         {"security.authentication.token.file", token}}),
                                   ProcessRole::kClient);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(client->token, "alice-token-0123456789");
  EXPECT_TRUE(client->cluster_secret.empty());

  // Secrets others can read, short secrets and missing files are refused, naming the key.
  ::chmod(secret.c_str(), 0644);
  auto leaky = LoadSecurityConfig(daemon, ProcessRole::kWorker);
  EXPECT_NE(leaky.status().message().find("readable or writable by every user"), std::string::npos) << leaky.status();
  const std::string short_secret = File("short", "tiny");
  auto tiny = LoadSecurityConfig(
      With({{"security.authentication.type", "TOKEN"}, {"security.cluster.secret.file", short_secret}}),
      ProcessRole::kWorker);
  EXPECT_NE(tiny.status().message().find("at least 16"), std::string::npos) << tiny.status();
  auto missing = LoadSecurityConfig(
      With({{"security.authentication.type", "TOKEN"}, {"security.cluster.secret.file", dir_ + "/none"}}),
      ProcessRole::kWorker);
  EXPECT_NE(missing.status().message().find("no such file"), std::string::npos) << missing.status();
}

TEST_F(SecurityConfigTest, TlsNeedsReadablePemFiles) {
  const std::string pem = File("cert.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", 0644);
  const std::string key = File("key.pem", "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n");
  auto daemon_without_cert = LoadSecurityConfig(With({{"security.tls.enabled", "true"}}), ProcessRole::kWorker);
  EXPECT_NE(daemon_without_cert.status().message().find("security.tls.cert.file"), std::string::npos);
  auto client = LoadSecurityConfig(With({{"security.tls.enabled", "true"}, {"security.tls.ca.file", pem}}),
                                   ProcessRole::kClient);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE(client->tls.enabled);
  EXPECT_NE(client->tls.ca_pem.find("BEGIN CERTIFICATE"), std::string::npos);
  auto not_pem = LoadSecurityConfig(With({{"security.tls.enabled", "true"}, {"security.tls.ca.file", key + "x"}}),
                                    ProcessRole::kClient);
  EXPECT_NE(not_pem.status().message().find("cannot read"), std::string::npos) << not_pem.status();
  auto wrong_key = LoadSecurityConfig(With({{"security.tls.enabled", "true"},
                                            {"security.tls.cert.file", pem},
                                            {"security.tls.key.file", pem}}),
                                      ProcessRole::kWorker);
  EXPECT_NE(wrong_key.status().message().find("no private key"), std::string::npos) << wrong_key.status();
  auto mtls_without_ca = LoadSecurityConfig(With({{"security.tls.enabled", "true"},
                                                  {"security.tls.cert.file", pem},
                                                  {"security.tls.key.file", key},
                                                  {"security.tls.client_auth", "true"}}),
                                            ProcessRole::kMaster);
  EXPECT_NE(mtls_without_ca.status().message().find("security.tls.ca.file"), std::string::npos);
}

TEST_F(SecurityConfigTest, SuperuserBearerAsksTheRemoteCheckOnlyWithoutATokensFile) {
  const std::string secret = File("secret", "cluster-secret-0123456789\n");
  Config worker_conf = With({{"security.authentication.type", "TOKEN"},
                             {"security.cluster.secret.file", secret},
                             {"security.superuser", "root"}});
  auto worker = LoadSecurityConfig(worker_conf, ProcessRole::kWorker);
  ASSERT_TRUE(worker.ok()) << worker.status();
  std::vector<std::string> asked;
  RemoteTokenCheck remote = [&](std::string_view token) {
    asked.emplace_back(token);
    return token == "root-token-0123456789" ? absl::OkStatus() : absl::PermissionDeniedError("not the superuser");
  };
  // The daemon token and a missing token are decided locally.
  EXPECT_TRUE(AuthorizeSuperuserBearer(*worker, "Bearer " + DaemonToken("cluster-secret-0123456789"), "x", remote).ok());
  EXPECT_EQ(AuthorizeSuperuserBearer(*worker, "", "x", remote).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(asked.empty());
  // Any other token: the remote's verdict.
  EXPECT_TRUE(AuthorizeSuperuserBearer(*worker, "Bearer root-token-0123456789", "x", remote).ok());
  EXPECT_EQ(AuthorizeSuperuserBearer(*worker, "Bearer bob-token-0123456789", "x", remote).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(asked, (std::vector<std::string>{"root-token-0123456789", "bob-token-0123456789"}));
  // Without a remote check such a worker knows only the daemon token.
  EXPECT_EQ(AuthorizeSuperuserBearer(*worker, "Bearer root-token-0123456789", "x").code(),
            absl::StatusCode::kUnauthenticated);

  // With a tokens file of its own it decides by that file, never asking.
  const std::string tokens = File("tokens", "root-token-0123456789 root\nbob-token-0123456789 bob\n");
  Config with_tokens = worker_conf;
  ASSERT_TRUE(with_tokens.Set("security.authentication.tokens.file", tokens, "test").ok());
  auto local = LoadSecurityConfig(with_tokens, ProcessRole::kWorker);
  ASSERT_TRUE(local.ok()) << local.status();
  asked.clear();
  EXPECT_TRUE(AuthorizeSuperuserBearer(*local, "Bearer root-token-0123456789", "x", remote).ok());
  EXPECT_EQ(AuthorizeSuperuserBearer(*local, "Bearer bob-token-0123456789", "x", remote).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(AuthorizeSuperuserBearer(*local, "Bearer nobody-token-0123456789", "x", remote).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(asked.empty());
}

}  // namespace
}  // namespace cistern::security
