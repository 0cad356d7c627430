#include "ufs/s3_config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace cistern::ufs {
namespace {

class S3ConfigTest : public testing::Test {
 protected:
  void SetUp() override {
    home_ = testing::TempDir() + "/s3_config_home_" + std::to_string(::getpid());
    std::filesystem::create_directories(home_ + "/.aws");
    env_["HOME"] = home_;
  }
  void TearDown() override { std::filesystem::remove_all(home_); }
  void WriteFile(const std::string& rel, const std::string& text) { std::ofstream(home_ + "/" + rel) << text; }
  EnvLookup Env() {
    return [this](const char* name) -> const char* {
      auto it = env_.find(name);
      return it == env_.end() ? nullptr : it->second.c_str();
    };
  }
  absl::StatusOr<S3Config> Resolve(std::map<std::string, std::string> options = {}) { return ResolveS3Config(options, Env()); }

  std::string home_;
  std::map<std::string, std::string> env_;
};

TEST_F(S3ConfigTest, DefaultsAreAwsAnonymousVirtualHost) {
  auto c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->endpoint, "https://s3.us-east-1.amazonaws.com");
  EXPECT_EQ(c->region, "us-east-1");
  EXPECT_FALSE(c->path_style);
  EXPECT_EQ(c->credentials_source, "none");
  EXPECT_TRUE(c->http.aws_sigv4.empty());
  EXPECT_EQ(c->part_size_bytes, 64LL << 20);
}

TEST_F(S3ConfigTest, MountOptionsWinOverEnvironmentAndProfile) {
  env_["AWS_ACCESS_KEY_ID"] = "envkey";
  env_["AWS_SECRET_ACCESS_KEY"] = "envsecret";
  env_["AWS_REGION"] = "eu-west-1";
  WriteFile(".aws/credentials", "[default]\naws_access_key_id = filekey\naws_secret_access_key = filesecret\n");
  auto c = Resolve({{"s3.access_key", "optkey"}, {"s3.secret_key", "optsecret"}, {"s3.session_token", "tok"},
                    {"s3.region", "ap-south-1"}, {"s3.endpoint", "http://127.0.0.1:9000/"}, {"s3.part_size", "5MiB"},
                    {"sync_interval", "10s"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->access_key, "optkey");
  EXPECT_EQ(c->session_token, "tok");
  EXPECT_EQ(c->credentials_source, "mount options");
  EXPECT_EQ(c->region, "ap-south-1");
  EXPECT_EQ(c->endpoint, "http://127.0.0.1:9000");
  EXPECT_TRUE(c->path_style) << "an IP endpoint cannot do virtual-host style";
  EXPECT_EQ(c->part_size_bytes, 5 << 20);
  EXPECT_EQ(c->http.aws_sigv4, "aws:amz:ap-south-1:s3");
  EXPECT_EQ(c->http.user_pwd, "optkey:optsecret");
}

TEST_F(S3ConfigTest, EnvironmentThenProfile) {
  env_["AWS_ACCESS_KEY_ID"] = "envkey";
  env_["AWS_SECRET_ACCESS_KEY"] = "envsecret";
  env_["AWS_SESSION_TOKEN"] = "envtoken";
  env_["AWS_ENDPOINT_URL"] = "https://minio.example.com";
  auto c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->access_key, "envkey");
  EXPECT_EQ(c->session_token, "envtoken");
  EXPECT_EQ(c->credentials_source, "environment");
  EXPECT_EQ(c->endpoint, "https://minio.example.com");
  EXPECT_FALSE(c->path_style);

  env_.erase("AWS_ACCESS_KEY_ID");
  WriteFile(".aws/credentials",
            "# comment\n[default]\naws_access_key_id=dk\naws_secret_access_key=ds\n\n[work]\n"
            "aws_access_key_id = wk\naws_secret_access_key = ws\naws_session_token = wt\n");
  WriteFile(".aws/config", "[default]\nregion = us-west-2\n[profile work]\nregion = eu-central-1\n");
  c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->access_key, "dk");
  EXPECT_EQ(c->region, "us-west-2");
  env_["AWS_PROFILE"] = "work";
  c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->access_key, "wk");
  EXPECT_EQ(c->session_token, "wt");
  EXPECT_EQ(c->region, "eu-central-1");
  EXPECT_NE(c->credentials_source.find("work"), std::string::npos);
  // An explicitly named profile that does not exist is an error, not anonymous access.
  EXPECT_EQ(Resolve({{"s3.profile", "nope"}}).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(S3ConfigTest, BadOptionsNameTheKey) {
  auto typo = Resolve({{"s3.endpiont", "x"}});
  EXPECT_EQ(typo.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(typo.status().message().find("s3.endpiont"), absl::string_view::npos);
  EXPECT_FALSE(Resolve({{"s3.access_key", "only-key"}}).ok());
  EXPECT_FALSE(Resolve({{"s3.path_style", "maybe"}}).ok());
  EXPECT_FALSE(Resolve({{"s3.part_size", "12"}}).ok());
  EXPECT_FALSE(Resolve({{"s3.endpoint", "ftp://x"}}).ok());
  EXPECT_FALSE(Resolve({{"s3.max_attempts", "0"}}).ok());
  auto timeouts = Resolve({{"s3.connect_timeout", "2s"}, {"s3.stall_timeout", "500ms"}, {"s3.max_attempts", "3"}});
  ASSERT_TRUE(timeouts.ok()) << timeouts.status();
  EXPECT_EQ(timeouts->http.connect_timeout_ms, 2000);
  EXPECT_EQ(timeouts->http.stall_timeout_ms, 500);
  EXPECT_EQ(timeouts->http.max_attempts, 3);
}

}  // namespace
}  // namespace cistern::ufs
