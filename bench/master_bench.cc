// master_bench: drives a real cistern-master process over gRPC with N client threads and
// reports ops/s for create, getStatus, listStatus (10-entry directories), rename and delete,
// plus the master's RSS and metastore size. With --files/--dirs it first fills the namespace
// (e.g. 10 million files in 10,000 directories) and reports latency at that size.
//
//   master_bench [--threads 16] [--ops 20000] [--files 0] [--dirs 10000] [--dir /tmp/mb]
//
// Figures depend on the machine; compare runs made side by side (see BENCHMARKS.md).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "rpc/master_client.h"
#include "testing/subprocess.h"

namespace {

using Clock = std::chrono::steady_clock;
using cistern::rpc::MasterClient;

int64_t RssKiB(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

int64_t DirBytes(const std::string& dir) {
  int64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) total += static_cast<int64_t>(e.file_size(ec));
  }
  return total;
}

// Runs op(thread, i) for i in [0, count) split over `threads`; returns ops per second.
double Run(int threads, int64_t count, const std::function<bool(int, int64_t)>& op, int64_t* failures) {
  std::atomic<int64_t> next{0}, failed{0};
  auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int64_t i; (i = next.fetch_add(1)) < count;) {
        if (!op(t, i)) failed.fetch_add(1);
      }
    });
  }
  for (auto& th : pool) th.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (failures) *failures = failed.load();
  return static_cast<double>(count) / seconds;
}

std::string Dir(int64_t d) { return absl::StrCat("/bench/d", d); }
std::string File(int64_t d, int64_t f) { return absl::StrCat(Dir(d), "/f", f); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Benchmark of cistern-master metadata operations"};
  int threads = 16;
  int64_t ops = 20000, files = 0, dirs = 10000;
  std::string dir = "/tmp/cistern-master-bench";
  std::string bin_dir;
  app.add_option("--threads", threads);
  app.add_option("--ops", ops, "operations per measured phase");
  app.add_option("--files", files, "files to fill the namespace with first (scale run)");
  app.add_option("--dirs", dirs, "directories the fill spreads files over");
  app.add_option("--dir", dir, "scratch directory (metastore, under-store)");
  app.add_option("--bin-dir", bin_dir, "directory holding cistern-master (default: beside this program)");
  CLI11_PARSE(app, argc, argv);
  if (bin_dir.empty()) bin_dir = std::filesystem::canonical("/proc/self/exe").parent_path().string();

  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/ufs");
  const int port = cistern::testing::PickUnusedPort();
  cistern::testing::Subprocess master(
      {bin_dir + "/cistern-master", "--conf", absl::StrCat("cistern.home=", dir), "--conf",
       absl::StrCat("master.rpc.port=", port), "--conf", "master.hostname=127.0.0.1", "--conf",
       absl::StrCat("master.mount.root.ufs=", dir, "/ufs"), "--conf", "log.level=warn"},
      dir + "/master.out");
  if (!master.Start().ok()) return 1;
  cistern::rpc::MasterClientOptions options;
  options.addresses = {absl::StrCat("127.0.0.1:", port)};
  options.rpc_timeout_ms = 60000;
  options.retry_window_ms = 20000;
  MasterClient client(options);
  if (!cistern::testing::WaitFor([&] { return client.GetMasterInfo({}).ok(); }, 30000)) {
    std::fprintf(stderr, "master did not start:\n%s\n", master.OutputTail().c_str());
    return 1;
  }
  auto mkdir = [&](const std::string& path) {
    cistern::proto::CreateDirectoryRequest r;
    r.set_path(path);
    r.set_recursive(true);
    r.set_allow_exists(true);
    return client.CreateDirectory(r).ok();
  };
  auto create = [&](const std::string& path) {
    cistern::proto::CreateFileRequest r;
    r.set_path(path);
    r.set_write_type(cistern::proto::MUST_CACHE);
    return client.CreateFile(r).ok();
  };
  std::printf("cistern-master benchmark: %d client threads, %lld ops per phase, pid %d\n", threads,
              static_cast<long long>(ops), master.pid());

  if (files > 0) {
    int64_t failed = 0;
    Run(threads, dirs, [&](int, int64_t d) { return mkdir(Dir(d)); }, &failed);
    const auto start = Clock::now();
    double rate = Run(threads, files, [&](int, int64_t i) { return create(File(i % dirs, i / dirs)); }, &failed);
    std::printf("fill: %lld files in %lld dirs at %.0f creates/s (%.0f s), %lld failed\n",
                static_cast<long long>(files), static_cast<long long>(dirs), rate,
                std::chrono::duration<double>(Clock::now() - start).count(), static_cast<long long>(failed));
    const int64_t bytes = DirBytes(dir + "/master/metastore");
    std::printf("fill: master RSS %lld MiB, metastore %lld MiB, %.0f bytes per inode\n",
                static_cast<long long>(RssKiB(master.pid()) / 1024), static_cast<long long>(bytes >> 20),
                static_cast<double>(bytes) / static_cast<double>(files + dirs));
  }

  // Phase directories: ops/10 directories of 10 files each, so listings are 10 entries.
  const int64_t phase_dirs = std::max<int64_t>(ops / 10, 1);
  int64_t failed = 0;
  Run(threads, phase_dirs, [&](int, int64_t d) { return mkdir(absl::StrCat("/phase/d", d)); }, &failed);
  auto phase_file = [&](int64_t i) { return absl::StrCat("/phase/d", i % phase_dirs, "/f", i / phase_dirs); };
  double create_rate = Run(threads, ops, [&](int, int64_t i) { return create(phase_file(i)); }, &failed);
  std::printf("create      %10.0f ops/s  (%lld failed)\n", create_rate, static_cast<long long>(failed));
  double stat_rate = Run(threads, ops * 5, [&](int, int64_t i) {
    cistern::proto::GetStatusRequest r;
    r.set_path(phase_file((i * 7919) % ops));
    return client.GetStatus(r).ok();
  }, &failed);
  std::printf("getStatus   %10.0f ops/s  (%lld failed)\n", stat_rate, static_cast<long long>(failed));
  double list_rate = Run(threads, ops, [&](int, int64_t i) {
    cistern::proto::ListStatusRequest r;
    r.set_path(absl::StrCat("/phase/d", i % phase_dirs));
    int64_t n = 0;
    absl::Status s = client.ListStatus(r, [&](const cistern::proto::ListStatusResponse& page) {
      n += page.infos_size();
      return absl::OkStatus();
    });
    return s.ok() && n == 10;
  }, &failed);
  std::printf("listStatus  %10.0f ops/s  (%lld failed, 10 entries each)\n", list_rate, static_cast<long long>(failed));
  double rename_rate = Run(threads, ops, [&](int, int64_t i) {
    cistern::proto::RenameRequest r;
    r.set_src_path(phase_file(i));
    r.set_dst_path(phase_file(i) + ".renamed");
    return client.Rename(r).ok();
  }, &failed);
  std::printf("rename      %10.0f ops/s  (%lld failed)\n", rename_rate, static_cast<long long>(failed));
  double delete_rate = Run(threads, ops, [&](int, int64_t i) {
    cistern::proto::DeleteRequest r;
    r.set_path(phase_file(i) + ".renamed");
    return client.Delete(r).ok();
  }, &failed);
  std::printf("delete      %10.0f ops/s  (%lld failed)\n", delete_rate, static_cast<long long>(failed));
  std::printf("master RSS  %10lld MiB\n", static_cast<long long>(RssKiB(master.pid()) / 1024));
  master.Signal(SIGTERM);
  (void)master.Wait(20000);
  std::filesystem::remove_all(dir);
  return 0;
}
