// Operations end to end against real daemons (cluster_fixture.h): the HTTP endpoints of master
// and worker, metrics that move with real reads, a real Prometheus server scraping both, the log
// level changed at runtime with `cistern admin log-level`, and cached bytes in `fs stat`/`fs du`.
#include <unistd.h>

#include <chrono>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "cluster_fixture.h"
#include "http/http_server.h"
#include "nlohmann/json.hpp"

namespace cistern {
namespace {

using testing::kMiB;
using testing::Subprocess;
using testing::WaitFor;
using testing::WriteRandomFile;
namespace fs = std::filesystem;

class OpsTest : public testing::ClusterFixture {
 protected:
  // Reads go over gRPC (the metrics of that path are checked), not through short-circuit leases.
  std::string ExtraConf() const override {
    return "master.cache_usage.scan.interval=200ms\nuser.short_circuit.enabled=false\n";
  }

  std::string MasterHttp() const { return absl::StrCat("127.0.0.1:", master_http_port_); }
  std::string WorkerHttp() const { return absl::StrCat("127.0.0.1:", worker_http_port_); }

  http::HttpResult Get(const std::string& address, const std::string& target) {
    absl::StatusOr<http::HttpResult> r = http::Fetch("GET", address, target);
    EXPECT_TRUE(r.ok()) << address << target << ": " << r.status();
    return r.ok() ? *r : http::HttpResult{};
  }

  // The value of one series in a /metrics text, or -1.
  static double Sample(const std::string& text, const std::string& series) {
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      if (absl::StartsWith(line, series + " ")) {
        double v = 0;
        if (absl::SimpleAtod(line.substr(series.size() + 1), &v)) return v;
      }
    }
    return -1;
  }
};

TEST_F(OpsTest, HealthReadinessAndMetricsOfMasterAndWorker) {
  for (const std::string& address : {MasterHttp(), WorkerHttp()}) {
    EXPECT_EQ(Get(address, "/healthz").body, "ok\n") << address;
    EXPECT_EQ(Get(address, "/readyz").status, 200) << address;
  }
  const std::string local = dir_ + "/f.bin";
  WriteRandomFile(local, 3 * kMiB, 7);
  CliOk({"fs", "put", "--write-type", "THROUGH", local, "/f.bin"});
  CliOk({"fs", "cat", "/f.bin"});  // from the under-store, cached on the way
  CliOk({"fs", "cat", "/f.bin"});  // from the cache

  // The heartbeat age appears once the master has answered a heartbeat, which may come after
  // the reads on a loaded machine.
  std::string worker = Get(WorkerHttp(), "/metrics").body;
  for (int i = 0; i < 100 && Sample(worker, "cistern_worker_heartbeat_age_seconds") < 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    worker = Get(WorkerHttp(), "/metrics").body;
  }
  EXPECT_EQ(Sample(worker, "cistern_worker_ufs_read_bytes_total"), 3 * kMiB) << worker;
  EXPECT_EQ(Sample(worker, "cistern_worker_cache_read_bytes_total"), 3 * kMiB);
  EXPECT_EQ(Sample(worker, "cistern_worker_cache_hit_ratio"), 0.5);
  EXPECT_EQ(Sample(worker, "cistern_worker_ufs_fetches_total"), 1);
  EXPECT_EQ(Sample(worker, absl::StrCat("cistern_worker_tier_used_bytes{tier=\"MEM\",dir=\"", mem_dir_, "\"}")), 3 * kMiB);
  EXPECT_EQ(Sample(worker, "cistern_worker_registered"), 1);
  EXPECT_GE(Sample(worker, "cistern_worker_heartbeat_age_seconds"), 0);
  EXPECT_EQ(Sample(worker, "cistern_rpc_server_handled_total{grpc_service=\"cistern.proto.BlockWorker\","
                           "grpc_method=\"ReadBlock\",grpc_code=\"OK\"}"),
            2);
  EXPECT_EQ(Sample(worker, absl::StrCat("cistern_ufs_requests_total{mount=\"file://\",operation=\"open\"}")), 1)
      << worker;

  // The master learns the worker's read counters from heartbeats, and the cache usage scan the
  // mount's cached bytes.
  std::string master;
  ASSERT_TRUE(WaitFor([&] {
    master = Get(MasterHttp(), "/metrics").body;
    return Sample(master, "cistern_master_cache_hit_ratio") == 0.5 &&
           Sample(master, "cistern_master_mount_cached_bytes{mount=\"/\"}") == 3 * kMiB;
  }, 20000)) << master;
  EXPECT_EQ(Sample(master, "cistern_master_workers{state=\"LIVE\"}"), 1);
  EXPECT_EQ(Sample(master, "cistern_master_mount_bytes{mount=\"/\"}"), 3 * kMiB);
  EXPECT_EQ(Sample(master, "cistern_master_capacity_bytes{tier=\"MEM\"}"), 512 * kMiB);
  EXPECT_EQ(Sample(master, "cistern_rpc_server_handled_total{grpc_service=\"cistern.proto.FileSystemMaster\","
                           "grpc_method=\"CompleteFile\",grpc_code=\"OK\"}"),
            1);
  EXPECT_TRUE(absl::StrContains(master, "cistern_rpc_server_handling_seconds_bucket{grpc_service="
                                        "\"cistern.proto.FileSystemMaster\",grpc_method=\"CreateFile\",le=\"+Inf\"} 1\n"));
  EXPECT_GE(Sample(master, "cistern_ufs_requests_total{mount=\"/\",operation=\"get_status\"}"), 1) << master;
  EXPECT_GT(Sample(master, "process_resident_memory_bytes"), 0);

  // A worker that loses the master is alive but not ready.
  master_.reset();
  ASSERT_TRUE(WaitFor([&] { return Get(WorkerHttp(), "/healthz").status == 200; }, 5000));
}

TEST_F(OpsTest, PrometheusScrapesMasterAndWorker) {
  if (!fs::exists("/usr/bin/prometheus")) {
    GTEST_SKIP() << "Debian package 'prometheus' (/usr/bin/prometheus) is not installed; scripts/install-deps.sh installs it";
  }
  const std::string local = dir_ + "/p.bin";
  WriteRandomFile(local, 2 * kMiB, 9);
  CliOk({"fs", "put", "--write-type", "CACHE_THROUGH", local, "/p.bin"});
  CliOk({"fs", "cat", "/p.bin"});

  const int port = testing::PickUnusedPort();
  const std::string prom = dir_ + "/prometheus";
  fs::create_directories(prom + "/data");
  std::ofstream(prom + "/prometheus.yml") << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                                          << "scrape_configs:\n"
                                          << "  - job_name: cistern-master\n    static_configs:\n"
                                          << "      - targets: ['" << MasterHttp() << "']\n"
                                          << "  - job_name: cistern-worker\n    static_configs:\n"
                                          << "      - targets: ['" << WorkerHttp() << "']\n";
  Subprocess server({"/usr/bin/prometheus", "--config.file=" + prom + "/prometheus.yml",
                     "--storage.tsdb.path=" + prom + "/data", absl::StrCat("--web.listen-address=127.0.0.1:", port)},
                    prom + "/prometheus.out");
  ASSERT_TRUE(server.Start().ok());
  const std::string address = absl::StrCat("127.0.0.1:", port);
  // Query back through Prometheus's HTTP API: a worker counter and both targets up.
  auto query = [&](const std::string& q) -> nlohmann::json {
    absl::StatusOr<http::HttpResult> r = http::Fetch("GET", address, "/api/v1/query?query=" + http::UrlEncode(q));
    if (!r.ok() || r->status != 200) return nullptr;
    nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
    if (!j.is_object() || j["status"] != "success") return nullptr;
    return j["data"]["result"];
  };
  nlohmann::json result;
  const bool scraped = WaitFor([&] {
    result = query("cistern_worker_cache_read_bytes_total");
    return result.is_array() && result.size() == 1 && result[0]["value"][1] == std::to_string(2 * kMiB);
  }, 60000);
  ASSERT_TRUE(scraped) << (result.is_null() ? "no answer" : result.dump()) << "\n" << server.OutputTail();
  EXPECT_EQ(result[0]["metric"]["job"], "cistern-worker");
  nlohmann::json up;
  ASSERT_TRUE(WaitFor([&] {
    up = query("sum(up{job=~\"cistern-.*\"})");
    return up.is_array() && up.size() == 1 && up[0]["value"][1] == "2";
  }, 30000)) << up.dump();
  nlohmann::json rpc = query("cistern_rpc_server_handled_total{grpc_method=\"CreateFile\",grpc_code=\"OK\"}");
  ASSERT_TRUE(rpc.is_array() && rpc.size() == 1) << rpc.dump();
  EXPECT_EQ(rpc[0]["metric"]["job"], "cistern-master");
  server.Signal(SIGTERM);
  EXPECT_TRUE(server.Wait(30000).ok());
}

TEST_F(OpsTest, LogLevelChangesAtRuntime) {
  std::string out = CliOk({"admin", "log-level"});
  EXPECT_TRUE(absl::StrContains(out, absl::StrCat("master 127.0.0.1:", master_port_, ": info"))) << out;
  EXPECT_TRUE(absl::StrContains(out, absl::StrCat("127.0.0.1:", worker_port_, ": info"))) << out;
  out = CliOk({"admin", "log-level", "--target", "worker", "debug"});
  EXPECT_TRUE(absl::StrContains(out, ": debug")) << out;
  EXPECT_FALSE(absl::StrContains(out, "master")) << out;
  EXPECT_EQ(Get(WorkerHttp(), "/api/v1/log-level").body, "{\"level\":\"debug\"}\n");
  EXPECT_EQ(Get(MasterHttp(), "/api/v1/log-level").body, "{\"level\":\"info\"}\n");
  out = CliOk({"admin", "log-level", "--target", MasterHttp(), "warn"});
  EXPECT_EQ(out, absl::StrCat(MasterHttp(), ": warn\n"));
  EXPECT_EQ(Get(MasterHttp(), "/api/v1/log-level").body, "{\"level\":\"warn\"}\n");
  // The change is in the daemon's log file.
  std::ifstream log(dir_ + "/home/logs/worker.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(absl::StrContains(text, "log level changed from info to debug")) << text.substr(0, 2000);

  testing::CommandResult bad = Cli({"admin", "log-level", "loud"});
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  bad = Cli({"admin", "log-level", "--target", "127.0.0.1:1", "info"});
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_TRUE(absl::StrContains(bad.output, "127.0.0.1:1")) << bad.output;
  bad = Cli({"admin", "log-level", "--target", "nonsense", "info"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(bad.output, "nonsense")) << bad.output;
}

TEST_F(OpsTest, StatAndDuShowCachedBytesAndPercent) {
  const std::string local = dir_ + "/c.bin";
  WriteRandomFile(local, 5 * kMiB, 3);
  CliOk({"fs", "mkdir", "-p", "/ds"});
  CliOk({"fs", "put", "--write-type", "CACHE_THROUGH", "--block-size", "1MiB", local, "/ds/cached.bin"});
  CliOk({"fs", "put", "--write-type", "THROUGH", "--block-size", "1MiB", local, "/ds/cold.bin"});
  std::string out = CliOk({"fs", "stat", "/ds/cached.bin"});
  EXPECT_TRUE(absl::StrContains(out, "In cache:           5242880 of 5242880 bytes (100%)")) << out;
  out = CliOk({"fs", "stat", "/ds/cold.bin"});
  EXPECT_TRUE(absl::StrContains(out, "In cache:           0 of 5242880 bytes (0%)")) << out;
  out = CliOk({"fs", "stat", "/ds"});
  EXPECT_TRUE(absl::StrContains(out, "In cache:           5242880 of 10485760 bytes (50%) in 2 files")) << out;
  out = CliOk({"fs", "du", "-s", "/ds"});
  EXPECT_TRUE(absl::StrContains(out, absl::StrFormat("%14d %14d %5s %s", 10485760, 5242880, "(50%)", "/ds"))) << out;
  out = CliOk({"fs", "du", "-s", "--json", "/ds"});
  EXPECT_TRUE(absl::StrContains(out, "\"cached_bytes\":5242880")) << out;
  // Reading the head of the cold file caches its first block (and only that).
  // The fetched block reaches the master with the worker's next heartbeat.
  CliOk({"fs", "head", "/ds/cold.bin"});
  EXPECT_TRUE(WaitFor([&] {
    out = CliOk({"fs", "stat", "--json", "/ds/cold.bin"});
    return absl::StrContains(out, "\"cached_bytes\":1048576");
  }, 20000)) << out;
  EXPECT_EQ(Counter("cistern_worker_ufs_read_ahead_fetches_total"), 0) << "a head read asks for no read-ahead";
  EXPECT_EQ(Counter("cistern_worker_ufs_block_reads_total"), 1);

  // Reading it through: halfway through block 0 the reader has the worker fetch blocks 1 and 2,
  // then every block names the next two; each block is read from the under-store once.
  CliOk({"fs", "get", "/ds/cold.bin", dir_ + "/cold-back.bin"});
  EXPECT_EQ(cistern::testing::DiffFiles(local, dir_ + "/cold-back.bin"), "");
  EXPECT_EQ(Counter("cistern_worker_ufs_read_ahead_fetches_total"), 4);
  EXPECT_EQ(Counter("cistern_worker_ufs_block_reads_total"), 5);
}

}  // namespace
}  // namespace cistern
