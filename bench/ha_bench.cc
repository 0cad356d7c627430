// ha_bench: replicated masters (docs/ha.md), measured with real cistern-master processes on
// loopback, default Raft settings unless --conf says otherwise.
//
//   ha_bench [--trials 20] [--seconds 10] [--threads 8,32,128] [--rounds 3] [--dir /tmp/cistern-ha-bench]
//            [--bin-dir DIR] [--compare-bin-dir DIR [--compare-conf key=value]...] [--cpu-per-master CPUS]
//            [--conf key=value]...
//
//  * throughput: creates (MUST_CACHE files, durable) per second from N client threads through
//    rpc::MasterClient for --seconds, against one master (local journal) and then a group of 3,
//    for each N of --threads (a list: 8,32,128 by default), repeated --rounds times (both groups
//    stay up); prints each round, the means per N and their ratios 3-masters / 1-master, and
//    the ratio of the peaks: each side's highest mean over the N, i.e. the most creates/s it
//    sustains (its throughput), where a small N measures the latency of a create instead. With --compare-bin-dir, a second group of 3
//    runs that directory's cistern-master (e.g. a build before a change) in the same rounds, so
//    both builds are measured under the same load (the two groups of 3 take turns at going first);
//    --compare-conf gives that group settings of its own (e.g. the same build, another setting).
//  * --cpu-per-master CPUS: every master process (the single one and each of a group of 3) runs
//    in a cgroup of its own (cgroup v1 `cpu` controller, CFS quota) capped at CPUS CPUs, to model
//    masters on separate hosts of that size; the client threads stay unconstrained. An
//    additional figure, never the plain one: on one machine the group of 3 still shares its
//    disk, and the client threads still share the CPUs with every master.
//  * failover: --trials times, with a client creating files in a loop, SIGKILL the leader and
//    time from the kill to the client's next successful create; the killed master is restarted
//    and the group converges before the next trial. Prints each trial, the median and the max.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rpc/master_client.h"
#include "testing/subprocess.h"

namespace {

using Clock = std::chrono::steady_clock;
using cistern::rpc::MasterClient;
using cistern::rpc::MasterClientOptions;
using cistern::testing::PickUnusedPort;
using cistern::testing::Subprocess;
namespace proto = cistern::proto;

// CPU caps for master processes: one cgroup per master under the cgroup v1 `cpu` controller
// (--cpu-per-master), removed at the end. Not thread-safe; used by the main thread only.
class CpuCaps {
 public:
  static constexpr char kRoot[] = "/sys/fs/cgroup/cpu";
  // cpus <= 0: no caps.
  explicit CpuCaps(double cpus) : cpus_(cpus) {
    if (cpus_ <= 0) return;
    dir_ = absl::StrCat(kRoot, "/cistern-ha-bench-", getpid());
    if (mkdir(dir_.c_str(), 0755) != 0) {
      error_ = absl::StrCat("cannot create the cgroup '", dir_, "' (", std::strerror(errno),
                            "): --cpu-per-master needs root and the cgroup v1 cpu controller at ", kRoot);
      dir_.clear();
    }
  }
  // REQUIRES: the capped processes are gone (a cgroup with a process in it cannot be removed;
  // a killed one may take a moment to leave).
  ~CpuCaps() {
    for (auto it = groups_.rbegin(); it != groups_.rend(); ++it) RemoveDir(*it);
    if (!dir_.empty()) RemoveDir(dir_);
  }
  bool enabled() const { return cpus_ > 0; }
  const std::string& error() const { return error_; }

  // Moves `pid` into the cgroup `name` (created on first use) capped at the configured CPUs.
  absl::Status Cap(const std::string& name, pid_t pid) {
    if (!enabled()) return absl::OkStatus();
    if (dir_.empty()) return absl::FailedPreconditionError(error_);
    const std::string group = absl::StrCat(dir_, "/", name);
    if (std::find(groups_.begin(), groups_.end(), group) == groups_.end()) {
      if (mkdir(group.c_str(), 0755) != 0) {
        return absl::InternalError(absl::StrCat("cannot create the cgroup '", group, "': ", std::strerror(errno)));
      }
      groups_.push_back(group);
      const int64_t period_us = 100000;
      if (!WriteFile(group + "/cpu.cfs_period_us", absl::StrCat(period_us)) ||
          !WriteFile(group + "/cpu.cfs_quota_us", absl::StrCat(static_cast<int64_t>(cpus_ * period_us)))) {
        return absl::InternalError(absl::StrCat("cannot set the CPU quota of the cgroup '", group, "'"));
      }
    }
    if (!WriteFile(group + "/cgroup.procs", absl::StrCat(pid))) {
      return absl::InternalError(absl::StrCat("cannot move process ", pid, " into the cgroup '", group, "'"));
    }
    return absl::OkStatus();
  }

 private:
  static void RemoveDir(const std::string& dir) {
    for (int attempt = 0; rmdir(dir.c_str()) != 0 && errno == EBUSY && attempt < 50; ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  static bool WriteFile(const std::string& path, const std::string& value) {
    std::ofstream out(path);
    out << value;
    out.flush();
    return static_cast<bool>(out);
  }

  const double cpus_;
  std::string dir_;
  std::string error_;
  std::vector<std::string> groups_;
};

struct Master {
  uint64_t id = 0;
  int rpc_port = 0;
  int raft_port = 0;
  int http_port = 0;
  std::unique_ptr<Subprocess> process;
  std::string address() const { return absl::StrCat("127.0.0.1:", rpc_port); }
};

class Group {
 public:
  Group(std::string dir, std::string bin_dir, int n, std::vector<std::string> conf, CpuCaps* caps)
      : dir_(std::move(dir)), bin_dir_(std::move(bin_dir)), conf_(std::move(conf)), caps_(caps) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ + "/ufs");
    for (int i = 0; i < n; ++i) {
      Master m;
      m.id = static_cast<uint64_t>(i + 1);
      m.rpc_port = PickUnusedPort();
      m.raft_port = PickUnusedPort();
      m.http_port = PickUnusedPort();
      masters_.push_back(std::move(m));
    }
  }
  ~Group() {
    for (Master& m : masters_) m.process.reset();  // SIGKILL
    std::filesystem::remove_all(dir_);
  }

  int size() const { return static_cast<int>(masters_.size()); }

  bool Start(int i) {
    Master& m = masters_[i];
    std::vector<std::string> peers;
    for (const Master& p : masters_) peers.push_back(absl::StrCat(p.id, "@127.0.0.1:", p.rpc_port, ":", p.raft_port));
    std::vector<std::string> argv = {bin_dir_ + "/cistern-master"};
    std::vector<std::string> settings = {absl::StrCat("cistern.home=", dir_, "/m", m.id), "master.hostname=127.0.0.1",
                                         absl::StrCat("master.rpc.port=", m.rpc_port),
                                         absl::StrCat("master.http.port=", m.http_port),
                                         "master.mount.root.ufs=" + dir_ + "/ufs", absl::StrCat("log.dir=", dir_, "/logs-", m.id)};
    if (size() > 1) settings.push_back("master.raft.peers=" + absl::StrJoin(peers, ","));
    settings.insert(settings.end(), conf_.begin(), conf_.end());
    for (const std::string& kv : settings) {
      argv.push_back("--conf");
      argv.push_back(kv);
    }
    m.process = std::make_unique<Subprocess>(argv, absl::StrCat(dir_, "/m", m.id, ".out"));
    if (absl::Status s = m.process->Start(); !s.ok()) {
      std::fprintf(stderr, "cannot start master %d: %s\n", i + 1, s.ToString().c_str());
      return false;
    }
    // The cgroup's name: the group's directory and the master, e.g. "three-m2".
    const std::string name = absl::StrCat(std::filesystem::path(dir_).filename().string(), "-m", m.id);
    if (absl::Status s = caps_->Cap(name, m.process->pid()); !s.ok()) {
      std::fprintf(stderr, "master %d: %s\n", i + 1, s.ToString().c_str());
      return false;
    }
    return true;
  }
  void Kill(int i) { masters_[i].process->Kill(); }

  // CPU time (user + system) the group's running masters have used so far, in seconds.
  double CpuSeconds() const {
    double total = 0;
    for (const Master& m : masters_) {
      if (!m.process || !m.process->running()) continue;
      std::ifstream stat(absl::StrCat("/proc/", m.process->pid(), "/stat"));
      std::string line;
      std::getline(stat, line);
      // Fields 14 and 15 (utime, stime) follow the command name, which is in parentheses.
      const size_t close = line.rfind(')');
      if (close == std::string::npos) continue;
      std::istringstream fields(line.substr(close + 2));
      std::string field;
      double ticks = 0;
      for (int f = 3; f <= 15 && fields >> field; ++f) {
        if (f >= 14) ticks += std::strtod(field.c_str(), nullptr);
      }
      total += ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
    }
    return total;
  }

  std::vector<std::string> Addresses() const {
    std::vector<std::string> out;
    for (const Master& m : masters_) out.push_back(m.address());
    return out;
  }
  std::unique_ptr<MasterClient> Client(int64_t retry_window_ms = 60000) const {
    MasterClientOptions options;
    options.addresses = Addresses();
    options.retry_window_ms = retry_window_ms;
    options.rpc_timeout_ms = 5000;
    return std::make_unique<MasterClient>(options);
  }
  absl::StatusOr<proto::GetJournalInfoResponse> Info(int i) const {
    MasterClientOptions options;
    options.addresses = {masters_[i].address()};
    options.follow_leader = false;
    options.retry_window_ms = 0;
    options.rpc_timeout_ms = 2000;
    return MasterClient(options).GetJournalInfo({});
  }

  // The serving leader's index, or -1 after `timeout_ms`.
  int WaitForLeader(int64_t timeout_ms) const {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < deadline) {
      for (int i = 0; i < size(); ++i) {
        if (!masters_[i].process || !masters_[i].process->running()) continue;
        auto info = Info(i);
        if (info.ok() && info->serving()) return i;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  // Every master applied the same index.
  bool WaitConverged(int64_t timeout_ms) const {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < deadline) {
      uint64_t applied = 0;
      bool same = true;
      for (int i = 0; i < size() && same; ++i) {
        auto info = Info(i);
        if (!info.ok()) {
          same = false;
        } else if (i == 0) {
          applied = info->applied_index();
        } else {
          same = info->applied_index() == applied;
        }
      }
      if (same) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

 private:
  const std::string dir_;
  const std::string bin_dir_;
  const std::vector<std::string> conf_;
  CpuCaps* const caps_;
  std::vector<Master> masters_;
};

proto::CreateFileRequest Create(const std::string& path) {
  proto::CreateFileRequest request;
  request.set_path(path);
  request.set_recursive(true);
  request.set_write_type(proto::MUST_CACHE);
  return request;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Throughput {
  double creates_per_s = 0;
  double cpu_us_per_create = 0;  // of the group's masters (all of them), not of the clients
};

// Creates per second against `group` from `threads` threads for `seconds`.
Throughput CreateThroughput(const Group& group, int threads, int seconds, const std::string& tag) {
  const double cpu_before = group.CpuSeconds();
  std::atomic<bool> stop{false};
  std::atomic<int64_t> done{0};
  std::atomic<int64_t> failed{0};
  std::vector<std::thread> workers;
  const auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      auto client = group.Client();
      for (int i = 0; !stop; ++i) {
        if (client->CreateFile(Create(absl::StrCat("/", tag, "/t", t, "/f", i))).ok()) {
          done.fetch_add(1);
        } else {
          failed.fetch_add(1);
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  const double rate = static_cast<double>(done.load()) / Seconds(Clock::now() - start);
  const double cpu = group.CpuSeconds() - cpu_before;
  if (failed.load() > 0) std::printf("  (%lld creates failed)\n", static_cast<long long>(failed.load()));
  return Throughput{rate, done.load() > 0 ? cpu * 1e6 / static_cast<double>(done.load()) : 0.0};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("ha_bench: failover time and create throughput of replicated masters");
  int trials = 20;
  int seconds = 10;
  std::vector<int> thread_counts = {8, 32, 128};
  int rounds = 3;
  std::string dir = "/tmp/cistern-ha-bench";
  std::string bin_dir = std::filesystem::path(argv[0]).parent_path().string();
  std::string compare_bin_dir;
  std::vector<std::string> conf;
  std::vector<std::string> compare_conf;
  double cpu_per_master = 0;
  app.add_option("--trials", trials, "Failover trials");
  app.add_option("--seconds", seconds, "Seconds of each throughput run");
  app.add_option("--threads", thread_counts, "Client threads of the throughput runs, a comma-separated list")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  app.add_option("--rounds", rounds, "Throughput rounds (each: 1 master, then 3)")->check(CLI::PositiveNumber);
  app.add_option("--dir", dir, "Scratch directory (removed)");
  app.add_option("--bin-dir", bin_dir, "Where cistern-master is");
  app.add_option("--compare-bin-dir", compare_bin_dir,
                 "Also measure a group of 3 running the cistern-master in this directory, in the same rounds");
  app.add_option("--cpu-per-master", cpu_per_master,
                 "Cap every master process at this many CPUs (a cgroup each), to model separate hosts")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--conf", conf, "More master settings, key=value");
  app.add_option("--compare-conf", compare_conf,
                 "Settings of the comparison group only (after --conf), key=value; with --compare-bin-dir");
  CLI11_PARSE(app, argc, argv);

  // Throughput: 1 master vs 3, same run, in alternating rounds so that a change in the load of
  // the (shared) machine weighs on both alike.
  CpuCaps caps(cpu_per_master);
  if (!caps.error().empty()) {
    std::fprintf(stderr, "%s\n", caps.error().c_str());
    return 1;
  }
  if (caps.enabled()) std::printf("every master capped at %.2f CPUs (cgroup cpu quota)\n", cpu_per_master);
  Group one(dir + "/one", bin_dir, 1, conf, &caps);
  if (!one.Start(0) || one.WaitForLeader(60000) < 0) return 1;
  Group group(dir + "/three", bin_dir, 3, conf, &caps);
  for (int i = 0; i < 3; ++i) {
    if (!group.Start(i)) return 1;
  }
  if (group.WaitForLeader(60000) < 0) {
    std::fprintf(stderr, "no leader\n");
    return 1;
  }
  std::unique_ptr<Group> other;
  if (!compare_bin_dir.empty()) {
    std::vector<std::string> other_conf = conf;
    other_conf.insert(other_conf.end(), compare_conf.begin(), compare_conf.end());
    other = std::make_unique<Group>(dir + "/compare", compare_bin_dir, 3, other_conf, &caps);
    for (int i = 0; i < 3; ++i) {
      if (!other->Start(i)) return 1;
    }
    if (other->WaitForLeader(60000) < 0) {
      std::fprintf(stderr, "no leader in the comparison group\n");
      return 1;
    }
  }
  // Means per client count (index into thread_counts).
  const size_t counts = thread_counts.size();
  std::vector<double> single(counts), replicated(counts), compared(counts);
  std::vector<double> single_cpu(counts), replicated_cpu(counts), compared_cpu(counts);  // us per create, means
  for (int round = 0; round < rounds; ++round) {
    for (size_t c = 0; c < counts; ++c) {
      const int threads = thread_counts[c];
      const std::string tag = absl::StrCat("r", round, "/c", threads);
      const Throughput one_run = CreateThroughput(one, threads, seconds, "one/" + tag);
      const double one_rate = one_run.creates_per_s;
      // The two groups of 3 take turns at going first: the group measured right after the single
      // master was seen to gain ~10% from its place alone on the loaded machine.
      const bool other_first = other != nullptr && round % 2 == 1;
      Throughput other_run;
      if (other_first) other_run = CreateThroughput(*other, threads, seconds, "compare/" + tag);
      const Throughput three_run = CreateThroughput(group, threads, seconds, "three/" + tag);
      const double three_rate = three_run.creates_per_s;
      if (other && !other_first) other_run = CreateThroughput(*other, threads, seconds, "compare/" + tag);
      const double other_rate = other_run.creates_per_s;
      std::printf("round %d, %d clients: creates/s 1 master %.0f, 3 masters %.0f (%.2f)", round + 1, threads, one_rate,
                  three_rate, one_rate > 0 ? three_rate / one_rate : 0.0);
      if (other) {
        std::printf(", 3 masters of --compare-bin-dir %.0f (%.2f)%s", other_rate,
                    one_rate > 0 ? other_rate / one_rate : 0.0, other_first ? " (measured first)" : "");
        compared[c] += other_rate / rounds;
        compared_cpu[c] += other_run.cpu_us_per_create / rounds;
      }
      std::printf("\n");
      std::fflush(stdout);
      single[c] += one_rate / rounds;
      replicated[c] += three_rate / rounds;
      single_cpu[c] += one_run.cpu_us_per_create / rounds;
      replicated_cpu[c] += three_run.cpu_us_per_create / rounds;
    }
  }
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  size_t peak_one = 0, peak_three = 0, peak_other = 0;
  for (size_t c = 0; c < counts; ++c) {
    std::printf("%d clients: creates/s 1 master (local journal) %.0f, 3 masters (Raft) %.0f, ratio %.2f; "
                "master CPU per create %.0f us vs %.0f us (all 3)",
                thread_counts[c], single[c], replicated[c], ratio(replicated[c], single[c]), single_cpu[c],
                replicated_cpu[c]);
    if (other) {
      std::printf("; 3 masters of --compare-bin-dir %.0f, ratio %.2f, CPU per create %.0f us", compared[c],
                  ratio(compared[c], single[c]), compared_cpu[c]);
    }
    std::printf("\n");
    if (single[c] > single[peak_one]) peak_one = c;
    if (replicated[c] > replicated[peak_three]) peak_three = c;
    if (compared[c] > compared[peak_other]) peak_other = c;
  }
  // How well the log writes were grouped: synced log writes per master against entries.
  for (int i = 0; i < group.size(); ++i) {
    if (auto info = group.Info(i); info.ok()) {
      std::printf("  master %d (%s): %llu log entries, %llu log writes, %llu apply batches\n", i + 1, info->role().c_str(),
                  static_cast<unsigned long long>(info->last_index()), static_cast<unsigned long long>(info->log_syncs()),
                  static_cast<unsigned long long>(info->apply_batches()));
    }
  }
  std::printf("peak creates/s: 1 master %.0f (%d clients), 3 masters %.0f (%d clients)\n", single[peak_one],
              thread_counts[peak_one], replicated[peak_three], thread_counts[peak_three]);
  std::printf("throughput ratio 3 masters / 1 master (peaks): %.2f\n", ratio(replicated[peak_three], single[peak_one]));
  if (other) {
    std::printf("peak creates/s, 3 masters of --compare-bin-dir: %.0f (%d clients), ratio to 1 master %.2f\n",
                compared[peak_other], thread_counts[peak_other], ratio(compared[peak_other], single[peak_one]));
  }

  // Failover.
  std::vector<double> failover_s;
  for (int trial = 0; trial < trials; ++trial) {
    if (!group.WaitConverged(60000)) {
      std::fprintf(stderr, "trial %d: the group did not converge\n", trial);
      return 1;
    }
    const int leader = group.WaitForLeader(60000);
    if (leader < 0) return 1;
    std::atomic<bool> stop{false};
    std::atomic<bool> killed{false};
    std::atomic<int64_t> recovered_ns{0};
    Clock::time_point killed_at;
    std::thread writer([&] {
      auto client = group.Client();
      for (int i = 0; !stop; ++i) {
        const bool after_kill = killed.load();
        if (client->CreateFile(Create(absl::StrCat("/failover/t", trial, "/f", i))).ok() && after_kill) {
          recovered_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - killed_at).count();
          return;
        }
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    killed_at = Clock::now();
    group.Kill(leader);
    killed = true;
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (recovered_ns.load() == 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    stop = true;
    writer.join();
    if (recovered_ns.load() == 0) {
      std::fprintf(stderr, "trial %d: no create succeeded within 60 s of the kill\n", trial);
      return 1;
    }
    failover_s.push_back(static_cast<double>(recovered_ns.load()) / 1e9);
    std::printf("failover trial %d: killed master %d, next create after %.3f s\n", trial + 1, leader + 1,
                failover_s.back());
    std::fflush(stdout);
    if (!group.Start(leader)) return 1;
  }
  if (!failover_s.empty()) {
    std::vector<double> sorted = failover_s;
    std::sort(sorted.begin(), sorted.end());
    const size_t n = sorted.size();
    const double median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    std::printf("failover over %zu trials: median %.3f s, max %.3f s, min %.3f s\n", n, median, sorted.back(),
                sorted.front());
  }
  return 0;
}
