#include "ufs/gcs_config.h"

#include <fstream>
#include <map>

#include "gtest/gtest.h"

namespace cistern::ufs {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

TEST(GcsConfigTest, DefaultsAndHmacSigning) {
  auto c = ResolveGcsConfig({{"gcs.hmac_access_id", "GOOG1X"}, {"gcs.hmac_secret", "s"}}, Env({}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->dialect, S3Dialect::kGcs);
  EXPECT_EQ(c->scheme, "gs");
  EXPECT_EQ(c->endpoint, "https://storage.googleapis.com");
  EXPECT_TRUE(c->path_style);
  EXPECT_EQ(c->http.aws_sigv4, "goog:goog:auto:storage");
  EXPECT_EQ(c->http.user_pwd, "GOOG1X:s");
  EXPECT_FALSE(ResolveGcsConfig({{"gcs.hmac_access_id", "x"}}, Env({})).ok()) << "id without secret";
}

TEST(GcsConfigTest, CredentialChain) {
  auto bearer = ResolveGcsConfig({{"gcs.bearer_token", "ya29.a"}, {"gcs.hmac_access_id", "x"}, {"gcs.hmac_secret", "y"}},
                                 Env({}));
  EXPECT_EQ(bearer->bearer_token, "ya29.a");
  EXPECT_TRUE(bearer->http.aws_sigv4.empty()) << "a bearer token replaces signing";
  auto env = ResolveGcsConfig({}, Env({{"GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.env"}}));
  EXPECT_EQ(env->bearer_token, "ya29.env");
  const std::string boto = ::testing::TempDir() + "/gcs_config_test.boto";
  std::ofstream(boto) << "[Credentials]\ngs_access_key_id = GOOG1BOTO\ngs_secret_access_key = sec\n";
  auto from_boto = ResolveGcsConfig({}, Env({{"BOTO_CONFIG", boto}}));
  ASSERT_TRUE(from_boto.ok()) << from_boto.status();
  EXPECT_EQ(from_boto->access_key, "GOOG1BOTO");
  EXPECT_EQ(ResolveGcsConfig({}, Env({}))->credentials_source, "none");
  const std::string token = ::testing::TempDir() + "/gcs_config_test.token";
  std::ofstream(token) << "ya29.file\n";
  EXPECT_EQ(ResolveGcsConfig({{"gcs.bearer_token_file", token}}, Env({}))->bearer_token, "ya29.file");
  EXPECT_EQ(ResolveGcsConfig({{"gcs.bearer_token_file", "/nonexistent/t"}}, Env({})).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(GcsConfigTest, OptionsAreValidated) {
  EXPECT_EQ(ResolveGcsConfig({{"gcs.partsize", "1MiB"}}, Env({})).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ResolveGcsConfig({{"gcs.endpoint", "http://h/path"}}, Env({})).ok());
  auto tuned = ResolveGcsConfig({{"gcs.part_size", "8MiB"}, {"gcs.stall_timeout", "3s"}, {"azure.x", "ignored"}}, Env({}));
  ASSERT_TRUE(tuned.ok()) << tuned.status();
  EXPECT_EQ(tuned->part_size_bytes, 8 << 20);
  EXPECT_EQ(tuned->http.stall_timeout_ms, 3000);
}

}  // namespace
}  // namespace cistern::ufs
