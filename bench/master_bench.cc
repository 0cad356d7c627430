// master_bench: drives a real cistern-master process over gRPC and reports ops/s, latency and
// CPU cost per operation for create, getStatus, listStatus (10-entry directories), rename and
// delete, plus the master's RSS and metastore size. With --files/--dirs it first fills the
// namespace (e.g. 10 million files in 10,000 directories) and then measures at that size.
//
//   master_bench [--client async|sync] [--concurrency 64] [--channels 4] [--threads 16]
//                [--ops 20000] [--phases create,getStatus,listStatus,rename,delete]
//                [--files 0 --dirs 10000] [--dir /tmp/cistern-master-bench] [--bin-dir DIR]
//                [--conf key=value]... [--progress-s 30] [--fill-s 0] [--max-rss-mib 0]
//                [--user NAME [--groups G1,G2]]
//
// The phases run as the superuser (this process's OS user, which is the master's) unless
// --user names another user: then every call of the phases, the no-op baseline included,
// carries that identity (NONE authentication, so the master takes it as claimed) and the
// master's permission checks run on it, as for any application; the readiness probe and the
// setup of /bench and /phase (made by the superuser and given to the user) stay the
// superuser's.
// The client shares the machine with the master, so how it drives the master matters:
//  * async (default): gRPC's callback API with --concurrency calls in flight over --channels
//    connections, issued from gRPC's own callback threads. This costs the client the least CPU,
//    so the figures say most about the master. Calls go straight to the generated stubs (no
//    client-library retries); mutations still carry an operation id, as the library sends.
//  * sync: --threads threads calling through rpc::MasterClient, one call each at a time, as
//    applications do.
// Each phase reports the CPU time the master and this client spent per operation (from
// /proc/<pid>/stat and getrusage), so a figure taken on a loaded machine can be read
// against what it cost. Two baselines are measured in the same run, and each phase's rate is
// printed as a ratio against one of them, since the machine's load moves absolute figures:
//  * rpc: GetMountTable with the same client and concurrency, an RPC that does no namespace
//    work (answered inline on the callback thread), so it is what the transport alone reaches;
//  * fsync: appends of 256 bytes with fdatasync, one at a time, in the metastore's file system,
//    so it is what one durable write after another reaches (group commit lets creates beat it).
// Exits 1 if any operation failed, 2 if --max-rss-mib is set and the master's peak RSS (VmHWM)
// exceeded it (how the `scale` CTest checks that the namespace lives on disk, not in RAM).
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "cistern/proto/master.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "rpc/channel.h"
#include "rpc/master_client.h"
#include "rpc/transport_security.h"
#include "testing/subprocess.h"

namespace {

using Clock = std::chrono::steady_clock;
using cistern::rpc::MasterClient;
namespace proto = cistern::proto;

// A memory figure of a process from /proc/<pid>/status: VmRSS (now) or VmHWM (peak RSS).
int64_t RssKiB(pid_t pid, std::string_view field = "VmRSS:") {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::stoll(line.substr(field.size()));
  }
  return -1;
}

// User + system CPU time of a process, in microseconds.
int64_t ProcessCpuUs(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');  // the command name may contain spaces
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  int64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  return (utime + stime) * 1000000 / sysconf(_SC_CLK_TCK);
}

int64_t SelfCpuUs() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000000LL + usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return absl::StrCat(one, " ", five, " ", fifteen);
}

int64_t DirBytes(const std::string& dir) {
  int64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) total += static_cast<int64_t>(e.file_size(ec));
  }
  return total;
}

// Appends of 256 bytes, each followed by fdatasync, to a new file in `dir`: syncs per second.
double FsyncRate(const std::string& dir, int count) {
  const std::string path = dir + "/fsync-baseline";
  const int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_APPEND, 0644);
  if (fd < 0) return 0;
  const std::string record(256, 'x');
  const auto start = Clock::now();
  int done = 0;
  for (; done < count; ++done) {
    if (write(fd, record.data(), record.size()) != static_cast<ssize_t>(record.size()) || fdatasync(fd) != 0) break;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  close(fd);
  std::filesystem::remove(path);
  return done == count ? static_cast<double>(done) / seconds : 0;
}

// Calls done(ok) exactly once when the operation finished.
using Done = std::function<void(bool ok)>;
using Issue = std::function<void(int64_t i, Done done)>;

struct PhaseResult {
  int64_t ops = 0;
  int64_t failed = 0;
  double seconds = 0;
  std::vector<uint32_t> latency_us;  // per operation
  int64_t master_cpu_us = 0;
  int64_t client_cpu_us = 0;
  double rate() const { return static_cast<double>(ops) / seconds; }
  uint32_t Percentile(double p) {
    if (latency_us.empty()) return 0;
    const size_t k = std::min(latency_us.size() - 1, static_cast<size_t>(p * static_cast<double>(latency_us.size())));
    std::nth_element(latency_us.begin(), latency_us.begin() + static_cast<int64_t>(k), latency_us.end());
    return latency_us[k];
  }
};

class Bench {
 public:
  // `identity`: the metadata every call of the phases carries (see AddIdentity).
  Bench(pid_t master_pid, std::string address, int channels, MasterClient* client,
        std::vector<std::pair<std::string, std::string>> identity)
      : master_pid_(master_pid), client_(client) {
    Identity() = std::move(identity);
    for (int c = 0; c < std::max(channels, 1); ++c) {
      grpc::ChannelArguments args;
      args.SetMaxReceiveMessageSize(cistern::rpc::kMaxMessageBytes);
      // Each channel its own connection (channels with equal arguments would share one).
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetInt("cistern.bench.channel", c);
      stubs_.push_back(proto::FileSystemMaster::NewStub(
          grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args)));
    }
  }

  bool async = true;
  int concurrency = 64;
  int threads = 16;
  int64_t progress_s = 0;  // print progress every so many seconds (0 = never)
  // Stop issuing operations after so many seconds (0 = never); the phase's ops are then those
  // issued, always the first ones by index (the deadline is checked before taking an index).
  int64_t max_seconds = 0;

  // Runs `count` operations; `async_op` issues operation i with the callback API, `sync_op`
  // performs it on the calling thread.
  PhaseResult Run(const std::string& name, int64_t count, const std::function<void(proto::FileSystemMaster::Stub*, int64_t, Done)>& async_op,
                  const std::function<bool(int64_t)>& sync_op, bool record_latency = true) {
    PhaseResult result;
    result.ops = count;
    if (record_latency) result.latency_us.assign(static_cast<size_t>(count), 0);
    const int64_t master_cpu = ProcessCpuUs(master_pid_);
    const int64_t client_cpu = SelfCpuUs();
    std::atomic<int64_t> next{0}, failed{0}, finished{0};
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::seconds(max_seconds);
    auto past_deadline = [&] { return max_seconds > 0 && Clock::now() >= deadline; };
    std::atomic<bool> stop_progress{false};
    std::thread progress;
    if (progress_s > 0) {
      progress = std::thread([&] {
        auto last = Clock::now();
        int64_t last_done = 0;
        while (!stop_progress) {
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          if (Clock::now() - last < std::chrono::seconds(progress_s)) continue;
          const int64_t done = finished.load();
          const double dt = std::chrono::duration<double>(Clock::now() - last).count();
          std::printf("  %s progress: %lld/%lld (%.0f ops/s now), %lld failed, master RSS %lld MiB, load %s, %.0f s\n",
                      name.c_str(), static_cast<long long>(done), static_cast<long long>(count),
                      static_cast<double>(done - last_done) / dt, static_cast<long long>(failed.load()),
                      static_cast<long long>(RssKiB(master_pid_) / 1024), LoadAverage().c_str(),
                      std::chrono::duration<double>(Clock::now() - start).count());
          std::fflush(stdout);
          last = Clock::now();
          last_done = done;
        }
      });
    }
    auto record = [&](int64_t i, Clock::time_point began, bool ok) {
      if (!ok) failed.fetch_add(1);
      if (record_latency) {
        result.latency_us[static_cast<size_t>(i)] = static_cast<uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - began).count());
      }
      finished.fetch_add(1);
    };
    if (async) {
      absl::Mutex mu;
      int active = std::max(1, concurrency);
      const int lanes = active;
      // One lane keeps one call in flight: each completion issues the lane's next call.
      std::function<void(int)> step = [&](int lane) {
        const int64_t i = past_deadline() ? count : next.fetch_add(1);
        if (i >= count) {
          absl::MutexLock lock(&mu);
          --active;
          return;
        }
        const auto began = Clock::now();
        async_op(stubs_[static_cast<size_t>(lane) % stubs_.size()].get(), i, [&, lane, i, began](bool ok) {
          record(i, began, ok);
          step(lane);
        });
      };
      for (int lane = 0; lane < lanes; ++lane) step(lane);
      absl::MutexLock lock(&mu);
      mu.Await(absl::Condition(+[](int* n) { return *n == 0; }, &active));
    } else {
      std::vector<std::thread> pool;
      for (int t = 0; t < std::max(threads, 1); ++t) {
        pool.emplace_back([&] {
          for (int64_t i; !past_deadline() && (i = next.fetch_add(1)) < count;) {
            const auto began = Clock::now();
            record(i, began, sync_op(i));
          }
        });
      }
      for (auto& th : pool) th.join();
    }
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    stop_progress = true;
    if (progress.joinable()) progress.join();
    result.ops = std::min(next.load(), count);
    result.failed = failed.load();
    result.master_cpu_us = ProcessCpuUs(master_pid_) - master_cpu;
    result.client_cpu_us = SelfCpuUs() - client_cpu;
    return result;
  }

  // `baseline` > 0: also prints the rate as a ratio of it, named `baseline_name`.
  void Print(const std::string& name, PhaseResult& r, const std::string& note = "", double baseline = 0,
             const char* baseline_name = "rpc") {
    const double per_op = static_cast<double>(r.ops);
    const std::string ratio = baseline > 0 ? absl::StrFormat("  %5.2fx %s", r.rate() / baseline, baseline_name) : "";
    std::printf("%-20s %9.0f ops/s%s  p50 %6u us  p99 %6u us  master %5.0f us/op  client %5.0f us/op  (%lld failed%s)\n",
                name.c_str(), r.rate(), ratio.c_str(), r.Percentile(0.5), r.Percentile(0.99),
                static_cast<double>(r.master_cpu_us) / per_op, static_cast<double>(r.client_cpu_us) / per_op,
                static_cast<long long>(r.failed), note.c_str());
    std::fflush(stdout);
    failed_ += r.failed;
  }
  int64_t failed() const { return failed_; }

  // The transport baseline: an RPC without namespace work.
  PhaseResult Noops(const std::string& name, int64_t count) {
    return Run(name, count,
        [&](proto::FileSystemMaster::Stub* stub, int64_t, Done done) {
          auto call = std::make_shared<Call<proto::GetMountTableRequest, proto::GetMountTableResponse>>();
          stub->async()->GetMountTable(&call->context, &call->request, &call->response,
                                       [call, done](grpc::Status s) { done(s.ok()); });
        },
        [&](int64_t) { return client_->GetMountTable({}).ok(); });
  }

  // The operations, in both client styles.
  PhaseResult Mkdirs(const std::string& name, int64_t count, const std::function<std::string(int64_t)>& path) {
    return Run(name, count,
        [&](proto::FileSystemMaster::Stub* stub, int64_t i, Done done) {
          auto call = std::make_shared<Call<proto::CreateDirectoryRequest, proto::CreateDirectoryResponse>>();
          call->request.set_path(path(i));
          call->request.set_recursive(true);
          call->request.set_allow_exists(true);
          call->request.set_operation_id(cistern::rpc::NewOperationId());
          stub->async()->CreateDirectory(&call->context, &call->request, &call->response,
                                         [call, done](grpc::Status s) { done(s.ok()); });
        },
        [&](int64_t i) {
          proto::CreateDirectoryRequest r;
          r.set_path(path(i));
          r.set_recursive(true);
          r.set_allow_exists(true);
          return client_->CreateDirectory(r).ok();
        });
  }
  PhaseResult Creates(const std::string& name, int64_t count, const std::function<std::string(int64_t)>& path,
                      bool record_latency = true) {
    return Run(name, count,
        [&](proto::FileSystemMaster::Stub* stub, int64_t i, Done done) {
          auto call = std::make_shared<Call<proto::CreateFileRequest, proto::CreateFileResponse>>();
          call->request.set_path(path(i));
          call->request.set_write_type(proto::MUST_CACHE);
          call->request.set_operation_id(cistern::rpc::NewOperationId());
          stub->async()->CreateFile(&call->context, &call->request, &call->response,
                                    [call, done](grpc::Status s) { done(s.ok()); });
        },
        [&](int64_t i) {
          proto::CreateFileRequest r;
          r.set_path(path(i));
          r.set_write_type(proto::MUST_CACHE);
          return client_->CreateFile(r).ok();
        },
        record_latency);
  }
  PhaseResult Stats(const std::string& name, int64_t count, const std::function<std::string(int64_t)>& path) {
    return Run(name, count,
        [&](proto::FileSystemMaster::Stub* stub, int64_t i, Done done) {
          auto call = std::make_shared<Call<proto::GetStatusRequest, proto::GetStatusResponse>>();
          call->request.set_path(path(i));
          stub->async()->GetStatus(&call->context, &call->request, &call->response,
                                   [call, done](grpc::Status s) { done(s.ok()); });
        },
        [&](int64_t i) {
          proto::GetStatusRequest r;
          r.set_path(path(i));
          return client_->GetStatus(r).ok();
        });
  }
  PhaseResult Lists(const std::string& name, int64_t count, int64_t entries,
                    const std::function<std::string(int64_t)>& path) {
    return Run(name, count,
        [&](proto::FileSystemMaster::Stub* stub, int64_t i, Done done) {
          auto* reader = new ListReader(entries, std::move(done));
          reader->request.set_path(path(i));
          cistern::rpc::SetDeadline(&reader->context, kTimeoutMs);
          stub->async()->ListStatus(&reader->context, &reader->request, reader);
          reader->Begin();
        },
        [&](int64_t i) {
          proto::ListStatusRequest r;
          r.set_path(path(i));
          int64_t n = 0;
          absl::Status s = client_->ListStatus(r, [&](const proto::ListStatusResponse& page) {
            n += page.infos_size();
            return absl::OkStatus();
          });
          return s.ok() && (entries < 0 || n == entries);
        });
  }
  PhaseResult Renames(const std::string& name, int64_t count, const std::function<std::string(int64_t)>& src,
                      const std::function<std::string(int64_t)>& dst) {
    return Run(name, count,
        [&](proto::FileSystemMaster::Stub* stub, int64_t i, Done done) {
          auto call = std::make_shared<Call<proto::RenameRequest, proto::RenameResponse>>();
          call->request.set_src_path(src(i));
          call->request.set_dst_path(dst(i));
          call->request.set_operation_id(cistern::rpc::NewOperationId());
          stub->async()->Rename(&call->context, &call->request, &call->response,
                                [call, done](grpc::Status s) { done(s.ok()); });
        },
        [&](int64_t i) {
          proto::RenameRequest r;
          r.set_src_path(src(i));
          r.set_dst_path(dst(i));
          return client_->Rename(r).ok();
        });
  }
  PhaseResult Deletes(const std::string& name, int64_t count, const std::function<std::string(int64_t)>& path) {
    return Run(name, count,
        [&](proto::FileSystemMaster::Stub* stub, int64_t i, Done done) {
          auto call = std::make_shared<Call<proto::DeleteRequest, proto::DeleteResponse>>();
          call->request.set_path(path(i));
          call->request.set_operation_id(cistern::rpc::NewOperationId());
          stub->async()->Delete(&call->context, &call->request, &call->response,
                                [call, done](grpc::Status s) { done(s.ok()); });
        },
        [&](int64_t i) {
          proto::DeleteRequest r;
          r.set_path(path(i));
          return client_->Delete(r).ok();
        });
  }

 private:
  static constexpr int64_t kTimeoutMs = 120000;

  // The identity metadata every call of the phases carries (what rpc::MasterClient's channels
  // add through their interceptor; these raw stubs add it themselves): the process's, or that
  // of --user. Set once before the phases run.
  static std::vector<std::pair<std::string, std::string>>& Identity() {
    static auto* identity = new std::vector<std::pair<std::string, std::string>>();
    return *identity;
  }
  static void AddIdentity(grpc::ClientContext* context) {
    for (const auto& [key, value] : Identity()) context->AddMetadata(key, value);
  }
  template <typename Request, typename Response>
  struct Call {
    Call() {
      cistern::rpc::SetDeadline(&context, kTimeoutMs);
      AddIdentity(&context);
    }
    grpc::ClientContext context;
    Request request;
    Response response;
  };

  // Reads a streamed listing and checks it has the expected number of entries.
  class ListReader : public grpc::ClientReadReactor<proto::ListStatusResponse> {
   public:
    // `expected` < 0: any number of entries.
    ListReader(int64_t expected, Done done) : expected_(expected), done_(std::move(done)) { AddIdentity(&context); }
    void Begin() {
      StartRead(&page_);
      StartCall();
    }
    void OnReadDone(bool ok) override {
      if (!ok) return;
      received_ += page_.infos_size();
      StartRead(&page_);
    }
    void OnDone(const grpc::Status& status) override {
      const bool ok = status.ok() && (expected_ < 0 || received_ == expected_);
      Done done = std::move(done_);
      delete this;
      done(ok);
    }
    grpc::ClientContext context;
    proto::ListStatusRequest request;

   private:
    const int64_t expected_;
    Done done_;
    proto::ListStatusResponse page_;
    int64_t received_ = 0;
  };

  const pid_t master_pid_;
  MasterClient* const client_;
  int64_t failed_ = 0;
  std::vector<std::unique_ptr<proto::FileSystemMaster::Stub>> stubs_;
};

std::string FillDir(int64_t d) { return absl::StrCat("/bench/d", d); }
std::string FillFile(int64_t d, int64_t f) { return absl::StrCat(FillDir(d), "/f", f); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Benchmark of cistern-master metadata operations"};
  std::string client_kind = "async";
  int threads = 16, concurrency = 64, channels = 4;
  int64_t ops = 20000, files = 0, dirs = 10000, progress_s = 30, max_rss_mib = 0, fill_s = 0;
  std::string dir = "/tmp/cistern-master-bench";
  std::string bin_dir;
  std::string phases = "create,getStatus,listStatus,rename,delete";
  std::vector<std::string> conf;
  std::string user, groups;
  app.add_option("--client", client_kind, "async (callback API, --concurrency calls in flight) or sync (--threads)")
      ->check(CLI::IsMember({"async", "sync"}));
  app.add_option("--threads", threads, "client threads (sync client)");
  app.add_option("--concurrency", concurrency, "calls in flight (async client)");
  app.add_option("--channels", channels, "connections (async client)");
  app.add_option("--ops", ops, "operations per measured phase (getStatus: 5x)");
  app.add_option("--phases", phases, "comma-separated subset of create,getStatus,listStatus,rename,delete");
  app.add_option("--files", files, "files to fill the namespace with first (scale run)");
  app.add_option("--dirs", dirs, "directories the fill spreads files over");
  app.add_option("--dir", dir, "scratch directory (metastore, under-store)");
  app.add_option("--bin-dir", bin_dir, "directory holding cistern-master (default: beside this program)");
  app.add_option("--conf", conf, "extra master configuration, key=value (repeatable)");
  app.add_option("--progress-s", progress_s, "print fill progress every so many seconds");
  app.add_option("--fill-s", fill_s, "stop the fill after so many seconds and measure at the size reached (0: no limit)");
  app.add_option("--max-rss-mib", max_rss_mib, "exit 2 if the master's RSS exceeds this at any report (0: no bound)");
  app.add_option("--user", user,
                 "run the phases as this user instead of the superuser (the master's OS user): permission checks "
                 "then apply; /bench and /phase are made by the superuser and given to this user");
  app.add_option("--groups", groups, "the groups of --user, comma-separated (default: none)");
  CLI11_PARSE(app, argc, argv);
  if (bin_dir.empty()) bin_dir = std::filesystem::canonical("/proc/self/exe").parent_path().string();
  const std::vector<std::string> phase_list = absl::StrSplit(phases, ',', absl::SkipEmpty());
  auto wants = [&](const std::string& p) { return std::find(phase_list.begin(), phase_list.end(), p) != phase_list.end(); };

  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/ufs");
  const int port = cistern::testing::PickUnusedPort();
  std::vector<std::string> master_argv = {bin_dir + "/cistern-master", "--conf", absl::StrCat("cistern.home=", dir),
                                          "--conf", absl::StrCat("master.rpc.port=", port), "--conf",
                                          // not the default HTTP port, which another master may hold
                                          absl::StrCat("master.http.port=", cistern::testing::PickUnusedPort()), "--conf",
                                          "master.hostname=127.0.0.1", "--conf",
                                          absl::StrCat("master.mount.root.ufs=", dir, "/ufs"), "--conf", "log.level=warn"};
  for (const std::string& c : conf) {
    master_argv.push_back("--conf");
    master_argv.push_back(c);
  }
  cistern::testing::Subprocess master(master_argv, dir + "/master.out");
  if (!master.Start().ok()) return 1;
  cistern::rpc::MasterClientOptions options;
  const std::string address = absl::StrCat("127.0.0.1:", port);
  options.addresses = {address};
  options.rpc_timeout_ms = 120000;
  options.retry_window_ms = 20000;
  MasterClient client(options);
  if (!cistern::testing::WaitFor([&] { return client.GetMasterInfo({}).ok(); }, 30000)) {
    std::fprintf(stderr, "master did not start:\n%s\n", master.OutputTail().c_str());
    return 1;
  }
  // The phases' identity: the process's own (the superuser of a master it started), or --user.
  std::shared_ptr<const cistern::rpc::ChannelSecurity> phase_security = cistern::rpc::DefaultChannelSecurity();
  if (!user.empty()) {
    auto made = cistern::rpc::ChannelSecurity::Create(
        cistern::rpc::ClientIdentity{user, absl::StrSplit(groups, ',', absl::SkipEmpty()), ""},
        cistern::security::TlsMaterial{});
    if (!made.ok()) {
      std::fprintf(stderr, "--user %s: %s\n", user.c_str(), made.status().ToString().c_str());
      return 1;
    }
    phase_security = *std::move(made);
    // The directories the phases work in belong to the user, so it may create, rename and delete there.
    for (const char* top : {"/bench", "/phase"}) {
      proto::CreateDirectoryRequest mkdir;
      mkdir.set_path(top);
      mkdir.set_allow_exists(true);
      proto::SetAttributeRequest chown;
      chown.set_path(top);
      chown.set_owner(user);
      absl::Status given = client.CreateDirectory(mkdir).status();
      if (given.ok()) given = client.SetAttribute(chown).status();
      if (!given.ok()) {
        std::fprintf(stderr, "cannot give %s to --user %s: %s\n", top, user.c_str(), given.ToString().c_str());
        return 1;
      }
    }
  }
  options.security = phase_security;
  MasterClient phase_client(options);
  Bench bench(master.pid(), address, channels, &phase_client, phase_security->metadata());
  bench.async = client_kind == "async";
  bench.concurrency = concurrency;
  bench.threads = threads;
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  std::printf("cistern-master benchmark on %s (%u cores): %s client, %s, %lld ops per phase, as %s, master pid %d, load %s\n",
              host, std::thread::hardware_concurrency(), client_kind.c_str(),
              bench.async ? absl::StrCat(concurrency, " calls in flight over ", channels, " connections").c_str()
                          : absl::StrCat(threads, " threads").c_str(),
              static_cast<long long>(ops), user.empty() ? "the superuser" : absl::StrCat("user ", user).c_str(),
              master.pid(), LoadAverage().c_str());
  std::fflush(stdout);
  auto rss_mib = [&] { return static_cast<long long>(RssKiB(master.pid()) / 1024); };

  // The baselines, before the namespace grows (see the top of this file).
  PhaseResult noop = bench.Noops("baseline rpc", ops * 5);
  bench.Print("baseline rpc", noop, ", GetMountTable");
  const double rpc_rate = noop.rate();
  std::filesystem::create_directories(dir + "/master/metastore");
  const double fsync_rate = FsyncRate(dir + "/master/metastore", 2000);
  std::printf("baseline fsync       %9.0f syncs/s (256-byte appends with fdatasync, one at a time)\n", fsync_rate);
  std::fflush(stdout);

  if (files > 0) {
    PhaseResult mk = bench.Mkdirs("fill mkdir", dirs, [](int64_t d) { return FillDir(d); });
    bench.Print("fill mkdir", mk, "", fsync_rate, "fsync");
    bench.progress_s = progress_s;
    bench.max_seconds = fill_s;
    PhaseResult fill = bench.Creates("fill", files, [dirs](int64_t i) { return FillFile(i % dirs, i / dirs); },
                                     /*record_latency=*/false);
    bench.progress_s = 0;
    bench.max_seconds = 0;
    if (fill.ops < files) std::printf("fill stopped by --fill-s after %lld of %lld files\n", static_cast<long long>(fill.ops), static_cast<long long>(files));
    files = fill.ops;
    bench.Print("fill create", fill, absl::StrCat(", ", files, " files in ", dirs, " dirs, ", static_cast<int64_t>(fill.seconds), " s"),
                fsync_rate, "fsync");
    const int64_t bytes = DirBytes(dir + "/master/metastore");
    std::printf("after fill: master RSS %lld MiB, metastore %lld MiB on disk, %.0f bytes per inode, load %s\n",
                rss_mib(), static_cast<long long>(bytes >> 20),
                static_cast<double>(bytes) / static_cast<double>(files + dirs), LoadAverage().c_str());
    std::fflush(stdout);
    // Latency at this size: random files and whole directories of the fill, one call at a time
    // (unloaded latency) and with the configured concurrency (throughput).
    const int64_t per_dir = files / dirs;
    auto random_file = [files, dirs](int64_t i) {
      const int64_t k = static_cast<int64_t>((static_cast<uint64_t>(i) * 2654435761ULL + 12345) % static_cast<uint64_t>(files));
      return FillFile(k % dirs, k / dirs);
    };
    auto random_dir = [dirs](int64_t i) { return FillDir(static_cast<int64_t>((static_cast<uint64_t>(i) * 40503ULL) % static_cast<uint64_t>(dirs))); };
    const int saved = bench.concurrency, saved_threads = bench.threads;
    bench.concurrency = 1;
    bench.threads = 1;
    PhaseResult s1 = bench.Stats("scale getStatus", std::min<int64_t>(ops, 20000), random_file);
    bench.Print("scale getStatus c1", s1, ", random files");
    PhaseResult l1 = bench.Lists("scale listStatus", std::min<int64_t>(ops / 10, 2000), files % dirs == 0 ? per_dir : -1, random_dir);
    bench.Print("scale listStatus c1", l1, absl::StrCat(", ", per_dir, " entries each"));
    bench.concurrency = saved;
    bench.threads = saved_threads;
    PhaseResult sn = bench.Stats("scale getStatus", ops * 5, random_file);
    bench.Print("scale getStatus", sn, ", random files", rpc_rate);
    PhaseResult ln = bench.Lists("scale listStatus", std::min<int64_t>(ops / 5, 10000), files % dirs == 0 ? per_dir : -1, random_dir);
    bench.Print("scale listStatus", ln, absl::StrCat(", ", per_dir, " entries each"), rpc_rate);
    std::printf("after scale reads: master RSS %lld MiB\n", rss_mib());
  }

  // Phase directories: ops/10 directories of 10 files each, so listings are 10 entries.
  const int64_t phase_dirs = std::max<int64_t>(ops / 10, 1);
  auto phase_file = [phase_dirs](int64_t i) { return absl::StrCat("/phase/d", i % phase_dirs, "/f", i / phase_dirs); };
  PhaseResult setup = bench.Mkdirs("mkdir", phase_dirs, [](int64_t d) { return absl::StrCat("/phase/d", d); });
  bench.Print("mkdir", setup, "", fsync_rate, "fsync");
  if (wants("create") || wants("getStatus") || wants("listStatus") || wants("rename") || wants("delete")) {
    PhaseResult r = bench.Creates("create", ops, phase_file);
    bench.Print("create", r, "", fsync_rate, "fsync");
  }
  if (wants("getStatus")) {
    PhaseResult r = bench.Stats("getStatus", ops * 5, [&](int64_t i) { return phase_file((i * 7919) % ops); });
    bench.Print("getStatus", r, "", rpc_rate);
  }
  if (wants("listStatus")) {
    PhaseResult r = bench.Lists("listStatus", ops, 10, [phase_dirs](int64_t i) { return absl::StrCat("/phase/d", i % phase_dirs); });
    bench.Print("listStatus", r, ", 10 entries each", rpc_rate);
  }
  if (wants("rename") || wants("delete")) {
    PhaseResult r = bench.Renames("rename", ops, phase_file, [&](int64_t i) { return phase_file(i) + ".renamed"; });
    bench.Print("rename", r, "", fsync_rate, "fsync");
  }
  if (wants("delete")) {
    PhaseResult r = bench.Deletes("delete", ops, [&](int64_t i) { return phase_file(i) + ".renamed"; });
    bench.Print("delete", r, "", fsync_rate, "fsync");
  }
  const int64_t peak_rss_kib = RssKiB(master.pid(), "VmHWM:");
  std::printf("master RSS %lld MiB (peak %lld MiB), metastore %lld MiB, load %s\n", rss_mib(),
              static_cast<long long>(peak_rss_kib / 1024),
              static_cast<long long>(DirBytes(dir + "/master/metastore") >> 20), LoadAverage().c_str());
  std::fflush(stdout);
  master.Signal(SIGTERM);
  (void)master.Wait(20000);
  std::filesystem::remove_all(dir);
  if (bench.failed() > 0) {
    std::printf("FAILED: %lld operations failed\n", static_cast<long long>(bench.failed()));
    return 1;
  }
  if (max_rss_mib > 0 && peak_rss_kib > max_rss_mib * 1024) {
    std::printf("FAILED: master RSS reached %lld MiB, over the bound of %lld MiB\n",
                static_cast<long long>(peak_rss_kib / 1024), static_cast<long long>(max_rss_mib));
    return 2;
  }
  return 0;
}
