#include "common/config.h"

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/config_keys.h"
#include "gtest/gtest.h"

namespace cistern {
namespace {

TEST(ConfigTest, DefaultsAreTyped) {
  Config config;
  EXPECT_EQ(config.GetInt(conf::kMasterRpcPort), 7700);
  EXPECT_EQ(config.GetSizeBytes(conf::kUserBlockSizeDefault), 64 << 20);
  EXPECT_EQ(config.GetDurationMs(conf::kMasterWorkerTimeout), 30000);
  EXPECT_EQ(config.GetString(conf::kUserFileWriteTypeDefault), "CACHE_THROUGH");
  EXPECT_EQ(config.Origin(conf::kMasterRpcPort), "default");
}

TEST(ConfigTest, PropertiesEnvironmentAndOverridesInOrder) {
  std::string dir = testing::TempDir() + "/config_test_conf";
  std::system(("mkdir -p " + dir).c_str());
  {
    std::ofstream out(dir + "/cistern.properties");
    out << "# comment\n! also a comment\n\nmaster.rpc.port = 9000\nworker.tier.mem.quota=2GiB\n"
        << "user.rpc.timeout: 5s\n";
  }
  setenv("CISTERN_WORKER_RPC_PORT", "9100", 1);
  ConfigSources sources;
  sources.conf_file = dir + "/cistern.properties";
  sources.overrides = {"master.rpc.port=9001"};
  auto config = Config::Load(sources);
  unsetenv("CISTERN_WORKER_RPC_PORT");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->GetInt(conf::kMasterRpcPort), 9001);
  EXPECT_EQ(config->Origin(conf::kMasterRpcPort), "--conf");
  EXPECT_EQ(config->GetInt(conf::kWorkerRpcPort), 9100);
  EXPECT_EQ(config->GetSizeBytes(conf::kWorkerTierMemQuota), int64_t{2} << 30);
  EXPECT_EQ(config->GetDurationMs(conf::kUserRpcTimeout), 5000);
}

TEST(ConfigTest, UnknownKeyIsAnErrorNamingIt) {
  Config config;
  absl::Status st = config.ApplyProperties("master.rpc.prot=1\n", "my.properties");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("master.rpc.prot"), absl::string_view::npos) << st;
  EXPECT_NE(st.message().find("my.properties:1"), absl::string_view::npos) << st;
}

TEST(ConfigTest, BadValuesAreErrorsNamingKeyAndValue) {
  Config config;
  struct Case { const char* key; const char* value; } cases[] = {
      {"master.rpc.port", "seventy"},
      {"worker.tier.mem.quota", "12 parsecs"},
      {"master.worker.timeout", "soon"},
      {"user.file.write.type.default", "SOMETIMES"},
      {"log.level", "loud"},
  };
  for (const auto& c : cases) {
    absl::Status st = config.Set(c.key, c.value, "--conf");
    ASSERT_FALSE(st.ok()) << c.key;
    EXPECT_NE(st.message().find(c.key), absl::string_view::npos) << st;
    EXPECT_NE(st.message().find(c.value), absl::string_view::npos) << st;
  }
  ConfigSources sources;
  sources.read_environment = false;
  sources.overrides = {"no-equals-sign"};
  EXPECT_FALSE(Config::Load(sources).ok());
}

TEST(ConfigTest, MissingExplicitFileIsAnError) {
  ConfigSources sources;
  sources.conf_file = "/nonexistent/cistern.properties";
  auto config = Config::Load(sources);
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("/nonexistent/cistern.properties"), absl::string_view::npos);
}

TEST(ConfigTest, DerivedDirectoriesAndMasterAddresses) {
  Config config;
  ASSERT_TRUE(config.Set("cistern.home", "/x", "test").ok());
  EXPECT_EQ(LogDir(config), "/x/logs");
  EXPECT_EQ(MasterMetastoreDir(config), "/x/master/metastore");
  EXPECT_EQ(MasterRootUfs(config), "/x/underfs");
  EXPECT_EQ(MasterAddresses(config), std::vector<std::string>{"localhost:7700"});
  ASSERT_TRUE(config.Set("master.rpc.addresses", "a:1, b:2", "test").ok());
  EXPECT_EQ(MasterAddresses(config), (std::vector<std::string>{"a:1", "b:2"}));
}

// conf/cistern.properties must document every key, with its default, and nothing else.
TEST(ConfigTest, ShippedPropertiesFileListsEveryKeyWithItsDefault) {
  const char* src = std::getenv("CISTERN_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  std::ifstream in(std::string(src) + "/conf/cistern.properties");
  ASSERT_TRUE(in) << "conf/cistern.properties is missing";
  std::set<std::string> documented;
  std::string line;
  while (std::getline(in, line)) {
    // Keys appear commented out with their default: "# key=default".
    if (line.rfind("# ", 0) != 0) continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = line.substr(2, eq - 2);
    const ConfigKey* k = FindConfigKey(key);
    if (k == nullptr) continue;
    EXPECT_EQ(line.substr(eq + 1), std::string(k->default_value)) << "default of " << key;
    documented.insert(key);
  }
  for (const ConfigKey* key : AllConfigKeys()) {
    EXPECT_TRUE(documented.count(std::string(key->name))) << key->name << " is not in conf/cistern.properties";
  }
}

}  // namespace
}  // namespace cistern
