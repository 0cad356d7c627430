// The master's web UI in a real browser: headless Chromium (Debian's chromium) loads each page
// from a running master with two workers, a second mount and real files; the rendered DOM must
// show the data, and a screenshot of every page is kept in <build>/test-artifacts/webui/.
// Also the JSON API's answers to bad requests.
#include "absl/strings/match.h"
#include "cluster_fixture.h"
#include "http/http_server.h"
#include "nlohmann/json.hpp"
#include "security/identity.h"
#include "security/secrets.h"
#include "security_helpers.h"

namespace cistern {
namespace {

using testing::CommandResult;
using testing::kMiB;
using testing::RunCommand;
using testing::WaitFor;
using testing::WriteRandomFile;
namespace fs = std::filesystem;

constexpr const char* kChromium = "/usr/bin/chromium";

class WebUiTest : public testing::ClusterFixture {
 protected:
  std::string ExtraConf() const override { return "master.cache_usage.scan.interval=200ms\n"; }
  int NumWorkers() const override { return 2; }

  std::string Url(const std::string& page) const {
    return absl::StrCat("http://127.0.0.1:", master_http_port_, "/#/", page);
  }

  std::vector<std::string> Browser(const std::string& profile) const {
    return {kChromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--user-data-dir=" + dir_ + "/chromium-" + profile, "--window-size=1280,900",
            "--virtual-time-budget=5000"};
  }

  // The page's DOM after its scripts ran.
  std::string Dom(const std::string& page) {
    std::vector<std::string> argv = Browser("dom");
    argv.push_back("--dump-dom");
    argv.push_back(Url(page));
    CommandResult r = RunCommand(argv, 120000);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output;
  }

  void Screenshot(const std::string& page, const std::string& name) {
    const std::string dir = std::string(std::getenv("CISTERN_BUILD_DIR") ? std::getenv("CISTERN_BUILD_DIR") : ".") +
                            "/test-artifacts/webui";
    fs::create_directories(dir);
    const std::string file = dir + "/" + name + ".png";
    fs::remove(file);
    std::vector<std::string> argv = Browser("shot");
    argv.push_back("--screenshot=" + file);
    argv.push_back(Url(page));
    CommandResult r = RunCommand(argv, 120000);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    ASSERT_TRUE(fs::exists(file)) << r.output;
    EXPECT_GT(fs::file_size(file), 20000u) << file << " looks empty";
  }
};

TEST_F(WebUiTest, EveryPageShowsTheClustersRealData) {
  if (!fs::exists(kChromium)) {
    GTEST_SKIP() << "Debian package 'chromium' (" << kChromium << ") is not installed; scripts/install-deps.sh installs it";
  }
  const std::string local = dir_ + "/model.bin";
  WriteRandomFile(local, 3 * kMiB, 5);
  CliOk({"fs", "mkdir", "-p", "/datasets/imagenet"});
  CliOk({"fs", "put", "--write-type", "CACHE_THROUGH", "--block-size", "1MiB", local, "/datasets/imagenet/train-0001.bin"});
  CliOk({"fs", "put", "--write-type", "THROUGH", local, "/datasets/imagenet/train-0002.bin"});
  fs::create_directories(dir_ + "/archive");
  WriteRandomFile(dir_ + "/archive/old-logs.tar", 2 * kMiB, 6);
  CliOk({"fs", "mount", "/archive", "file://" + dir_ + "/archive"});
  CliOk({"fs", "ls", "/archive"});
  // The mounts page shows the scan's figures once it has seen the new mount.
  ASSERT_TRUE(WaitFor([&] {
    auto r = http::Fetch("GET", absl::StrCat("127.0.0.1:", master_http_port_), "/api/v1/mounts");
    return r.ok() && absl::StrContains(r->body, "\"path\":\"/archive\"") &&
           absl::StrContains(r->body, "\"bytes\":2097152") && absl::StrContains(r->body, "\"cached_bytes\":3145728");
  }, 20000));

  const std::string overview = Dom("overview");
  EXPECT_TRUE(absl::StrContains(overview, absl::StrCat("127.0.0.1:", master_port_))) << overview;
  EXPECT_TRUE(absl::StrContains(overview, "Live workers</div><div class=\"value\">2</div>")) << overview;
  EXPECT_TRUE(absl::StrContains(overview, "1.0 GiB")) << "two 512 MiB MEM tiers\n" << overview;

  const std::string workers = Dom("workers");
  EXPECT_TRUE(absl::StrContains(workers, "Workers (2)")) << workers;
  EXPECT_TRUE(absl::StrContains(workers, absl::StrCat("127.0.0.1:", worker_port_))) << workers;
  EXPECT_TRUE(absl::StrContains(workers, absl::StrCat("127.0.0.1:", extra_worker_ports_[0]))) << workers;
  EXPECT_TRUE(absl::StrContains(workers, "<b>MEM</b>")) << workers;

  const std::string browse = Dom("browse?path=%2Fdatasets%2Fimagenet");
  EXPECT_TRUE(absl::StrContains(browse, "train-0001.bin")) << browse;
  EXPECT_TRUE(absl::StrContains(browse, "train-0002.bin")) << browse;
  EXPECT_TRUE(absl::StrContains(browse, "3.0 MiB (100.0%)")) << browse;
  EXPECT_TRUE(absl::StrContains(browse, "0 B (0.0%)")) << browse;

  const std::string file = Dom("file?path=%2Fdatasets%2Fimagenet%2Ftrain-0001.bin");
  EXPECT_TRUE(absl::StrContains(file, "3145728 bytes")) << file;
  int located = 0;
  for (size_t at = file.find("(MEM)"); at != std::string::npos; at = file.find("(MEM)", at + 1)) ++located;
  EXPECT_EQ(located, 3) << "each of the three 1 MiB blocks with its worker\n" << file;

  const std::string mounts = Dom("mounts");
  EXPECT_TRUE(absl::StrContains(mounts, "/archive")) << mounts;
  EXPECT_TRUE(absl::StrContains(mounts, "EveryPageShowsTheClustersRealData/archive</code>")) << mounts;
  EXPECT_TRUE(absl::StrContains(mounts, "0.0%")) << "nothing of /archive is cached\n" << mounts;

  const std::string config = Dom("config");
  EXPECT_TRUE(absl::StrContains(config, "master.cache_usage.scan.interval")) << config;
  EXPECT_TRUE(absl::StrContains(config, "200ms")) << config;

  for (const auto& [page, name] : std::vector<std::pair<std::string, std::string>>{
           {"overview", "overview"},
           {"workers", "workers"},
           {"browse?path=%2Fdatasets%2Fimagenet", "browse"},
           {"file?path=%2Fdatasets%2Fimagenet%2Ftrain-0001.bin", "file"},
           {"mounts", "mounts"},
           {"config", "config"}}) {
    Screenshot(page, name);
  }
}

TEST_F(WebUiTest, TheJsonApiAnswersBadRequestsWithErrors) {
  const std::string master = absl::StrCat("127.0.0.1:", master_http_port_);
  auto missing = http::Fetch("GET", master, "/api/v1/files?path=%2Fno%2Fsuch");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  EXPECT_TRUE(absl::StrContains(nlohmann::json::parse(missing->body)["error"].get<std::string>(), "/no/such"))
      << missing->body;
  auto bad_limit = http::Fetch("GET", master, "/api/v1/files?path=%2F&limit=-3");
  EXPECT_EQ(bad_limit->status, 400);
  EXPECT_TRUE(absl::StrContains(bad_limit->body, "-3")) << bad_limit->body;
  auto relative = http::Fetch("GET", master, "/api/v1/file?path=relative");
  EXPECT_EQ(relative->status, 400) << relative->body;
  EXPECT_EQ(http::Fetch("GET", master, "/api/v1/nothing")->status, 404);
  EXPECT_EQ(http::Fetch("GET", master, "/ui/missing.js")->status, 404);
  auto index = http::Fetch("GET", master, "/");
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  EXPECT_FALSE(absl::StrContains(index->body, "http://")) << "the UI must not load anything from elsewhere";
  auto js = http::Fetch("GET", master, "/ui/app.js");
  EXPECT_EQ(js->content_type, "text/javascript; charset=utf-8");
  EXPECT_FALSE(absl::StrContains(js->body, "https://")) << "no external fetches";
}

// TOKEN mode: the API wants the superuser's token; the UI, opened without one, shows its sign-in
// form (the token then goes to sessionStorage and on every fetch as a bearer header).
class WebUiTokenTest : public WebUiTest {
 protected:
  static constexpr char kClusterSecret[] = "cluster-secret-for-the-webui-test";
  static constexpr char kRootToken[] = "root-token-0123456789abcdef";
  static constexpr char kAliceToken[] = "alice-token-0123456789abcdef";

  void SetUp() override {
    rpc::InstallProcessSecurity(testing::Identity(security::ProcessUser().user, kRootToken), rpc::ServerSecurity{});
    WebUiTest::SetUp();
  }
  void TearDown() override {
    WebUiTest::TearDown();
    rpc::InstallProcessSecurity(rpc::ChannelSecurity::Insecure(), rpc::ServerSecurity{});
  }
  std::string ExtraConf() const override {
    testing::WritePrivateFile(dir_ + "/conf/cluster.secret", kClusterSecret);
    testing::WritePrivateFile(dir_ + "/conf/tokens", absl::StrCat(kRootToken, " ", security::ProcessUser().user, "\n",
                                                                  kAliceToken, " alice staff\n"));
    return absl::StrCat("security.authentication.type=TOKEN\nsecurity.cluster.secret.file=", dir_,
                        "/conf/cluster.secret\nsecurity.authentication.tokens.file=", dir_, "/conf/tokens\n");
  }
  int NumWorkers() const override { return 1; }
};

TEST_F(WebUiTokenTest, WithoutATokenTheUiAsksForOneAndTheApiTakesItAsABearerHeader) {
  const std::string master = absl::StrCat("127.0.0.1:", master_http_port_);
  // The page and its script load without a token; only the API is gated.
  EXPECT_EQ(http::Fetch("GET", master, "/")->status, 200);
  EXPECT_EQ(http::Fetch("GET", master, "/ui/app.js")->status, 200);
  // What the UI's fetches get: 401 without a token, 403 with a user's, data with the superuser's.
  EXPECT_EQ(http::Fetch("GET", master, "/api/v1/overview")->status, 401);
  EXPECT_EQ(http::Fetch("GET", master, "/api/v1/overview", {}, 5000, kAliceToken)->status, 403);
  auto overview = http::Fetch("GET", master, "/api/v1/overview", {}, 5000, kRootToken);
  ASSERT_TRUE(overview.ok());
  EXPECT_EQ(overview->status, 200) << overview->body;
  EXPECT_TRUE(absl::StrContains(overview->body, "\"inode_count\"")) << overview->body;

  if (!fs::exists(kChromium)) {
    GTEST_SKIP() << "Debian package 'chromium' (" << kChromium << ") is not installed; scripts/install-deps.sh installs it";
  }
  const std::string dom = Dom("overview");
  EXPECT_TRUE(absl::StrContains(dom, "<h1>Sign in</h1>")) << dom;
  EXPECT_TRUE(absl::StrContains(dom, "This cluster needs a token.")) << dom;
  EXPECT_TRUE(absl::StrContains(dom, "id=\"login\"")) << dom;
  EXPECT_TRUE(absl::StrContains(dom, "type=\"password\"")) << dom;
  EXPECT_FALSE(absl::StrContains(dom, "Live workers")) << "no data without a token\n" << dom;
}

}  // namespace
}  // namespace cistern
