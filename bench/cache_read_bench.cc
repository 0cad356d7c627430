// cistern-cache-read-bench: what the worker's read path costs compared with the plain transport
// and the plain under-store, measured in one run on this machine.
//
//   warm:  ReadBlock over gRPC (loopback) of blocks cached in the MEM tier, against a plain TCP
//          loopback stream of the same bytes read from the same block files (same chunk size).
//   short-circuit: the blocks read straight from the worker's block files under a lease
//          (OpenLocalBlock + pread, as a client on the worker's host does: each call leases the
//          block and --lease_ahead next ones, releases batched), against reading the same files
//          with pread without asking the worker (same chunk size); then again with one lease
//          and one release call per block (lease_ahead 0).
//   cold:  ReadBlock of blocks missing from the cache (read-through from the under-store: a
//          file:// file with its page cache dropped first, or --ufs_uri), against reading the
//          same bytes straight from the under-store with the same adapter and the same read size
//          (--ufs_read_kb, the worker's under-store read size in the run).
//
// Usage: cistern-cache-read-bench [--blocks N] [--block_mb M] [--chunk_kb K] [--ufs_read_kb U]
//                                  [--lease_ahead A] [--runs R] [--phases warm,short_circuit,cold] [--mem_dir DIR]
//                                  [--ufs_dir DIR | --ufs_uri URI [--ufs_option key=value]...] [--malloc_tuning 0|1]
//                                  [--variant_arg grpc.key=N]... [--variant_chunk_kb K] [--variant_send_mapped 0|1]
//                                  [--variant_map_window_mb M]
// A --variant_* flag adds, in the warm phase, a second gRPC server and channel differing from the
// default ones by those channel arguments (both sides), chunk size or service option, run in the
// same rounds as TCP and the default (a three-way table with the variant/default ratio).
// --malloc_tuning 0 leaves glibc's malloc thresholds alone (compare in alternating invocations).
// Each comparison runs its baseline and its subject alternately, R times each, so load changes
// on the shared machine hit both; it prints a Markdown table of the medians (MiB/s) and the
// median of the per-run ratios.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/file_reader.h"
#include "client/local_block_file.h"
#include "common/process.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "rpc/channel.h"
#include "rpc/worker_client.h"
#include "spdlog/spdlog.h"
#include "ufs/ufs_mounts.h"
#include "ufs/under_file_system.h"
#include "worker/block_committer.h"
#include "worker/block_store.h"
#include "worker/block_worker_service.h"
#include "worker/local_block_leases.h"
#include "worker/ufs_fetcher.h"

namespace cistern::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Flags {
  int blocks = 4;
  int64_t block_bytes = 64 << 20;
  int64_t chunk_bytes = 1 << 20;
  // Size of each under-store read, the same for the worker's fetch and the direct baseline.
  int64_t ufs_read_bytes = 4 << 20;
  int runs = 5;
  // Blocks a short-circuit reader leases ahead in one call (user.short_circuit.lease_ahead).
  int lease_ahead = 4;
  // Blocks a sequential cold reader asks the worker to fetch ahead (user.file.read_ahead.blocks).
  int read_ahead = 2;
  std::string phases = "warm,short_circuit,cold";
  std::string mem_dir = absl::StrCat("/dev/shm/cistern-bench-", ::getpid());
  std::string ufs_dir = absl::StrCat(fs::temp_directory_path().string(), "/cistern-bench-ufs-", ::getpid());
  // Another under-store for the data file (e.g. s3://bucket/key of a local S3 server), with its
  // mount options; empty = a file in ufs_dir.
  std::string ufs_uri;
  std::map<std::string, std::string> ufs_options;
  // A second gRPC server and channel for the warm phase, differing from the default ones by
  // these channel arguments and/or response chunk size; run alternately with the default one.
  std::vector<std::pair<std::string, int>> variant_args;
  int64_t variant_chunk_bytes = 0;  // 0 = --chunk_kb
  int variant_send_mapped = -1;     // BlockWorkerServiceOptions::send_mapped_blocks; -1 = the default's
  int64_t variant_map_window_bytes = 0;  // BlockWorkerServiceOptions::map_window_bytes; 0 = the default's
  // TuneMallocForBlockData, as the worker and the client programs call it (0: glibc's defaults,
  // to compare in alternating invocations).
  bool malloc_tuning = true;
  bool variant() const { return !variant_args.empty() || variant_chunk_bytes > 0 || variant_send_mapped >= 0 || variant_map_window_bytes > 0; }
};

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "cistern-cache-read-bench: %s\n", message.c_str());
  std::exit(1);
}

void Check(const absl::Status& status, const std::string& what) {
  if (!status.ok()) Die(absl::StrCat(what, ": ", status.ToString()));
}

// Reads a whole leased block file through `buffer`; returns the bytes read.
int64_t ReadWholeBlock(client::LocalBlockFile* file, int64_t block_bytes, std::string* buffer) {
  int64_t at = 0;
  while (at < block_bytes) {
    auto n = file->ReadAt(at, static_cast<int64_t>(buffer->size()), buffer->data());
    Check(n.status(), "short-circuit read");
    if (*n == 0) Die("short-circuit read ended early");
    at += *n;
  }
  return at;
}

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(absl::StrCat(arg, " needs a value"));
      return argv[++i];
    };
    if (arg == "--blocks") {
      flags.blocks = std::atoi(value().c_str());
    } else if (arg == "--block_mb") {
      flags.block_bytes = int64_t{std::atoi(value().c_str())} << 20;
    } else if (arg == "--chunk_kb") {
      flags.chunk_bytes = int64_t{std::atoi(value().c_str())} << 10;
    } else if (arg == "--ufs_read_kb") {
      flags.ufs_read_bytes = int64_t{std::atoi(value().c_str())} << 10;
    } else if (arg == "--lease_ahead") {
      flags.lease_ahead = std::atoi(value().c_str());
    } else if (arg == "--read_ahead") {
      flags.read_ahead = std::atoi(value().c_str());
    } else if (arg == "--runs") {
      flags.runs = std::atoi(value().c_str());
    } else if (arg == "--phases") {
      flags.phases = value();
    } else if (arg == "--mem_dir") {
      flags.mem_dir = value();
    } else if (arg == "--ufs_dir") {
      flags.ufs_dir = value();
    } else if (arg == "--ufs_uri") {
      flags.ufs_uri = value();
    } else if (arg == "--ufs_option") {
      const std::string option = value();
      const size_t eq = option.find('=');
      if (eq == std::string::npos) Die(absl::StrCat("--ufs_option ", option, ": expected key=value"));
      flags.ufs_options[option.substr(0, eq)] = option.substr(eq + 1);
    } else if (arg == "--variant_arg") {
      const std::string option = value();
      const size_t eq = option.find('=');
      if (eq == std::string::npos) Die(absl::StrCat("--variant_arg ", option, ": expected key=integer"));
      flags.variant_args.emplace_back(option.substr(0, eq), std::atoi(option.c_str() + eq + 1));
    } else if (arg == "--malloc_tuning") {
      flags.malloc_tuning = std::atoi(value().c_str()) != 0;
    } else if (arg == "--variant_map_window_mb") {
      flags.variant_map_window_bytes = int64_t{std::atoi(value().c_str())} << 20;
    } else if (arg == "--variant_send_mapped") {
      flags.variant_send_mapped = std::atoi(value().c_str()) != 0 ? 1 : 0;
    } else if (arg == "--variant_chunk_kb") {
      flags.variant_chunk_bytes = int64_t{std::atoi(value().c_str())} << 10;
    } else {
      Die(absl::StrCat("unknown flag ", arg, " (--blocks --block_mb --chunk_kb --ufs_read_kb --lease_ahead --read_ahead --runs --phases --mem_dir --ufs_dir --ufs_uri --ufs_option --variant_arg --variant_chunk_kb --variant_send_mapped --variant_map_window_mb --malloc_tuning)"));
    }
  }
  if (flags.lease_ahead < 0 || flags.lease_ahead > 64) Die("--lease_ahead must be in [0, 64]");
  if (flags.read_ahead < 0 || flags.read_ahead > 16) Die("--read_ahead must be in [0, 16]");
  if (flags.blocks <= 0 || flags.block_bytes <= 0 || flags.chunk_bytes <= 0 || flags.ufs_read_bytes <= 0 || flags.runs <= 0) Die("flags must be positive");
  return flags;
}

class NoMaster : public worker::BlockCommitter {
 public:
  absl::Status CommitBlock(uint64_t, int64_t, std::string_view) override { return absl::OkStatus(); }
};

// Drops the page cache of `path` so the next read comes from the device.
// A gRPC server on a free loopback port serving `service`; dies if it cannot start.
std::unique_ptr<grpc::Server> StartServer(grpc::Service* service, int* port, const std::string& what) {
  grpc::ServerBuilder builder;
  rpc::ConfigureServerBuilder(&builder);
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) Die(absl::StrCat("cannot start the ", what, " gRPC server"));
  return server;
}

void DropPageCache(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Die(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// One side of a comparison: `before` (untimed) then `body`, which must move `bytes` bytes.
struct Side {
  std::function<void()> before;
  std::function<int64_t()> body;
};

struct Comparison {
  double subject_mib_s = 0;   // medians over the runs
  double baseline_mib_s = 0;
  double time_ratio = 0;      // median over the runs of subject time / baseline time of that run
  // Median CPU time of the whole process (all threads: client, server, fetches) per run, in ms.
  double subject_cpu_ms = 0;
  double baseline_cpu_ms = 0;
  double subject_ms = 0;      // median wall time per run
  double baseline_ms = 0;
};

// CPU time of the whole process so far (user + system, all threads).
double ProcessCpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

// Runs baseline and subject alternately (baseline, subject, baseline, ...) `runs` times, so a
// change in the machine's load hits both sides alike, and pairs each subject run with the
// baseline run just before it.
Comparison Compare(int runs, int64_t bytes, const Side& subject, const Side& baseline) {
  auto timed = [bytes](const Side& side, std::vector<double>* cpu_ms) {
    if (side.before) side.before();
    const double cpu_start = ProcessCpuSeconds();
    const auto start = Clock::now();
    const int64_t moved = side.body();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    cpu_ms->push_back((ProcessCpuSeconds() - cpu_start) * 1e3);
    if (moved != bytes) Die(absl::StrCat("moved ", moved, " bytes, expected ", bytes));
    return seconds;
  };
  std::vector<double> subject_rates, baseline_rates, ratios, subject_cpu, baseline_cpu, subject_ms, baseline_ms;
  for (int r = 0; r < runs; ++r) {
    const double base = timed(baseline, &baseline_cpu);
    const double subj = timed(subject, &subject_cpu);
    baseline_rates.push_back(static_cast<double>(bytes) / (1 << 20) / base);
    subject_rates.push_back(static_cast<double>(bytes) / (1 << 20) / subj);
    baseline_ms.push_back(base * 1e3);
    subject_ms.push_back(subj * 1e3);
    ratios.push_back(subj / base);
  }
  return Comparison{Median(subject_rates), Median(baseline_rates), Median(ratios), Median(subject_cpu),
                    Median(baseline_cpu), Median(subject_ms), Median(baseline_ms)};
}

// Runs `baseline` and then each of `subjects` in every round, the subjects in the opposite order
// every other round; returns the wall times (seconds) per round, baseline first, and in `cpu` (if
// given) the process's CPU seconds of each.
std::vector<std::vector<double>> TimeRounds(int runs, int64_t bytes, const Side& baseline,
                                            const std::vector<const Side*>& subjects,
                                            std::vector<std::vector<double>>* cpu = nullptr) {
  auto timed = [bytes](const Side& side, double* cpu_seconds) {
    if (side.before) side.before();
    const double cpu_start = ProcessCpuSeconds();
    const auto start = Clock::now();
    const int64_t moved = side.body();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    *cpu_seconds = ProcessCpuSeconds() - cpu_start;
    if (moved != bytes) Die(absl::StrCat("moved ", moved, " bytes, expected ", bytes));
    return seconds;
  };
  std::vector<std::vector<double>> rounds;
  if (cpu != nullptr) cpu->clear();
  for (int r = 0; r < runs; ++r) {
    std::vector<double> times(subjects.size() + 1), cpu_times(subjects.size() + 1);
    times[0] = timed(baseline, &cpu_times[0]);
    for (size_t i = 0; i < subjects.size(); ++i) {
      const size_t k = r % 2 == 0 ? i : subjects.size() - 1 - i;
      times[k + 1] = timed(*subjects[k], &cpu_times[k + 1]);
    }
    rounds.push_back(std::move(times));
    if (cpu != nullptr) cpu->push_back(std::move(cpu_times));
  }
  return rounds;
}

// A TCP loopback server that streams whole files in chunks; the client asks for a file by
// sending its index as 4 bytes.
class TcpFileServer {
 public:
  TcpFileServer(std::vector<std::string> files, int64_t chunk_bytes) : files_(std::move(files)), chunk_bytes_(chunk_bytes) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(listen_fd_, 4) != 0) {
      Die(absl::StrCat("tcp listen: ", std::strerror(errno)));
    }
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TcpFileServer() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  void Serve() {
    int conn = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) return;
    std::string buffer(static_cast<size_t>(chunk_bytes_), '\0');
    uint32_t index = 0;
    while (::recv(conn, &index, sizeof(index), MSG_WAITALL) == sizeof(index)) {
      int fd = ::open(files_.at(index).c_str(), O_RDONLY | O_CLOEXEC);
      int64_t offset = 0;
      ssize_t n;
      while ((n = ::pread(fd, buffer.data(), buffer.size(), offset)) > 0) {
        for (ssize_t sent = 0; sent < n;) {
          ssize_t w = ::send(conn, buffer.data() + sent, static_cast<size_t>(n - sent), MSG_NOSIGNAL);
          if (w <= 0) break;
          sent += w;
        }
        offset += n;
      }
      ::close(fd);
    }
    ::close(conn);
  }

  const std::vector<std::string> files_;
  const int64_t chunk_bytes_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

int Run(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  // The one process stands for a worker and a client, which both tune malloc.
  const bool malloc_tuned = flags.malloc_tuning && TuneMallocForBlockData();
  spdlog::set_level(spdlog::level::warn);
  const int64_t total = flags.blocks * flags.block_bytes;
  fs::remove_all(flags.mem_dir);
  fs::create_directories(flags.ufs_dir);

  // The under-store file: `blocks` blocks of pseudo-random bytes.
  const bool local_ufs = flags.ufs_uri.empty();
  const std::string ufs_file = local_ufs ? flags.ufs_dir + "/data.bin" : flags.ufs_uri;
  const std::string ufs_uri = local_ufs ? "file://" + ufs_file : flags.ufs_uri;
  // The store root is the mount the worker reads through (with the options).
  const std::string mount_uri =
      local_ufs ? "file://" + flags.ufs_dir : ufs_uri.substr(0, ufs_uri.find('/', ufs_uri.find("://") + 3));
  auto adapter = ufs::CreateUnderFileSystem(mount_uri, flags.ufs_options);
  Check(adapter.status(), "under-store adapter");
  {
    std::string block(static_cast<size_t>(flags.block_bytes), '\0');
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i + 8 <= block.size(); i += 8) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      std::memcpy(block.data() + i, &x, 8);
    }
    ufs::CreateOptions create;
    create.overwrite = true;
    create.create_parents = true;
    auto out = (*adapter)->Create(ufs_uri, create);
    Check(out.status(), absl::StrCat("create ", ufs_uri));
    for (int b = 0; b < flags.blocks; ++b) {
      block[0] = static_cast<char>(b);
      Check((*out)->Write(block), absl::StrCat("write ", ufs_uri));
    }
    Check((*out)->Close().status(), absl::StrCat("close ", ufs_uri));
    if (local_ufs) {
      const int fd = ::open(ufs_file.c_str(), O_RDONLY | O_CLOEXEC);
      ::fsync(fd);
      ::close(fd);
    }
  }
  // Only a local file has a page cache to drop.
  auto drop_ufs_cache = [&] {
    if (local_ufs) DropPageCache(ufs_file);
  };

  auto store = worker::BlockStore::Open(worker::BlockStoreOptions::SingleDir(flags.mem_dir, total + (64 << 20)));
  Check(store.status(), "open MEM tier");
  worker::UfsRegistry ufs;
  ufs.SetMounts(1, {ufs::UfsMount{1, mount_uri, flags.ufs_options}});
  worker::UfsFetcherOptions fetcher_options;
  fetcher_options.read_chunk_bytes = flags.ufs_read_bytes;
  worker::UfsBlockFetcher fetcher(store->get(), &ufs, fetcher_options);
  NoMaster master;
  worker::BlockWorkerServiceOptions service_options;
  service_options.default_chunk_size_bytes = flags.chunk_bytes;
  worker::LocalBlockLeases leases(worker::LocalBlockLeasesOptions{});
  service_options.leases = &leases;
  worker::BlockWorkerService service(store->get(), &fetcher, &ufs, &master, service_options);
  int port = 0;
  std::unique_ptr<grpc::Server> server = StartServer(&service, &port, "worker's");
  auto shared_client =
      std::make_shared<rpc::WorkerClient>(absl::StrCat("127.0.0.1:", port), rpc::WorkerClientOptions{30000, 600000});
  rpc::WorkerClient& client = *shared_client;

  auto block_id = [](int b) { return (uint64_t{1} << 24) | static_cast<uint64_t>(b); };
  auto request = [&](int b, bool with_source) {
    proto::ReadBlockRequest r;
    r.set_block_id(block_id(b));
    r.set_offset(0);
    r.set_length(-1);
    r.set_chunk_size_bytes(static_cast<int32_t>(flags.chunk_bytes));
    if (with_source) {
      r.mutable_ufs()->set_ufs_path(ufs_uri);
      r.mutable_ufs()->set_mount_id(1);
      r.mutable_ufs()->set_offset_in_file(b * flags.block_bytes);
      r.mutable_ufs()->set_block_length(flags.block_bytes);
    }
    return r;
  };
  // The file as a client sees it: persisted, no block cached anywhere (so the reader asks for
  // read-ahead of every next block, all served by the one worker).
  FileStatus file_status;
  file_status.length = total;
  file_status.block_size_bytes = flags.block_bytes;
  file_status.persistence_state = PersistenceState::kPersisted;
  file_status.ufs_path = ufs_uri;
  file_status.mount_id = 1;
  for (int b = 0; b < flags.blocks; ++b) file_status.block_ids.push_back(block_id(b));
  const std::vector<BlockStatus> file_blocks = client::FileBlocks(file_status);
  // The read-ahead hint a sequential FileReader sends halfway through block `b` when it did not
  // name the next blocks with it (its first block).
  auto read_ahead_hint = [&](int b, int read_ahead) {
    proto::CacheBlockRequest hint;
    hint.set_block_id(block_id(b));
    hint.set_read_ahead_only(true);
    client::SetUfsSource(file_status, file_blocks[b], hint.mutable_ufs());
    client::AddReadAhead(file_status, file_blocks, static_cast<size_t>(b), read_ahead,
                         [](const BlockStatus&) { return true; }, hint.mutable_read_ahead());
    Check(client.CacheBlock(hint).status(), "read-ahead hint");
  };
  // Streams block `b` over gRPC. `read_ahead` > 0: as a sequential FileReader does, block 0
  // sends the read-ahead hint halfway through, later blocks name the next ones in the request.
  auto stream_block = [&](int b, bool with_source, bool expect_cached, int read_ahead) {
    proto::ReadBlockRequest r = request(b, with_source);
    if (read_ahead > 0 && b > 0) {
      client::AddReadAhead(file_status, file_blocks, static_cast<size_t>(b), read_ahead,
                           [](const BlockStatus&) { return true; }, r.mutable_read_ahead());
    }
    int64_t got = 0;
    bool hinted = read_ahead == 0 || b > 0;
    absl::Status status = client.ReadBlock(r, [&](std::string_view data, bool from_cache) {
      // A block read ahead may be cached by the time it is asked for.
      if (got == 0 && read_ahead == 0 && from_cache != expect_cached) {
        return absl::InternalError(absl::StrCat("block ", b, ": from_cache=", from_cache));
      }
      got += static_cast<int64_t>(data.size());
      if (!hinted && got >= flags.block_bytes / 2) {
        hinted = true;
        read_ahead_hint(b, read_ahead);
      }
      return absl::OkStatus();
    });
    Check(status, absl::StrCat("ReadBlock ", b));
    return got;
  };
  auto read_all_blocks = [&](bool with_source, bool expect_cached, int read_ahead = 0) {
    int64_t bytes = 0;
    for (int b = 0; b < flags.blocks; ++b) bytes += stream_block(b, with_source, expect_cached, read_ahead);
    return bytes;
  };
  auto drop_cached_blocks = [&] {
    // Read-ahead fetches of the run before end when their blocks are cached.
    while (fetcher.flights_in_progress() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    for (int b = 0; b < flags.blocks; ++b) Check((*store)->Remove(block_id(b)), "remove block");
    drop_ufs_cache();
  };

  auto wants = [&](std::string_view phase) {
    for (absl::string_view p : absl::StrSplit(flags.phases, ',')) {
      if (std::string_view(p.data(), p.size()) == phase) return true;
    }
    return false;
  };
  std::printf("Blocks: %d x %lld MiB, chunk %lld KiB, %d interleaved runs per side (median); MEM tier %s, under-store %s; malloc %s\n\n",
              flags.blocks, static_cast<long long>(flags.block_bytes >> 20),
              static_cast<long long>(flags.chunk_bytes >> 10), flags.runs, flags.mem_dir.c_str(), ufs_file.c_str(),
              malloc_tuned ? "tuned (TuneMallocForBlockData)" : "glibc defaults or the environment's");
  std::printf("| read | MiB/s | baseline | baseline MiB/s | throughput ratio | time ratio | ms, CPU ms (process) | baseline ms, CPU ms |\n|---|---:|---|---:|---:|---:|---:|---:|\n");
  auto print = [](const char* subject, const char* baseline, const Comparison& c) {
    std::printf("| %s | %.0f | %s | %.0f | %.2f | %.2f | %.0f, %.0f | %.0f, %.0f |\n", subject, c.subject_mib_s, baseline,
                c.baseline_mib_s, 1 / c.time_ratio, c.time_ratio, c.subject_ms, c.subject_cpu_ms, c.baseline_ms,
                c.baseline_cpu_ms);
    std::fflush(stdout);
  };

  // Cold: read-through of missing blocks vs the under-store adapter directly, both with the
  // under-store file's page cache dropped first.
  const Side direct_ufs{drop_ufs_cache, [&] {
                          auto file = (*adapter)->Open(ufs_uri);
                          Check(file.status(), "open under-store file");
                          std::string buffer(static_cast<size_t>(flags.ufs_read_bytes), '\0');
                          int64_t bytes = 0;
                          while (bytes < total) {
                            auto n = (*file)->ReadAt(bytes, static_cast<int64_t>(buffer.size()), buffer.data());
                            Check(n.status(), "read under-store file");
                            if (*n == 0) break;
                            bytes += *n;
                          }
                          return bytes;
                        }};
  const Side read_through{drop_cached_blocks, [&] { return read_all_blocks(true, false); }};
  if (wants("cold")) {
    print("cold: ReadBlock read-through (caches)", "direct under-store read", Compare(flags.runs, total, read_through, direct_ufs));
    if (flags.read_ahead > 0) {
      const Side sequential{drop_cached_blocks, [&] { return read_all_blocks(true, false, flags.read_ahead); }};
      const std::string row = absl::StrCat("cold: sequential read-through, read-ahead ", flags.read_ahead, " blocks");
      print(row.c_str(), "direct under-store read", Compare(flags.runs, total, sequential, direct_ufs));
    }
    // A client on the worker's host, as FileReader reads a cold file there: the first block
    // streams over gRPC (with the read-ahead hint halfway), then the worker caches each block
    // (CacheBlock, naming the next blocks to read ahead) and the client reads the block file
    // under a lease.
    const Side cold_local{drop_cached_blocks, [&] {
                            std::string buffer(static_cast<size_t>(flags.chunk_bytes), '\0');
                            int64_t bytes = stream_block(0, true, false, flags.read_ahead);
                            client::LocalBlockLeaser leaser(shared_client, proto::CACHE);
                            for (int b = 1; b < flags.blocks; ++b) {
                              proto::CacheBlockRequest cache;
                              cache.set_block_id(block_id(b));
                              client::SetUfsSource(file_status, file_blocks[b], cache.mutable_ufs());
                              client::AddReadAhead(file_status, file_blocks, static_cast<size_t>(b), flags.read_ahead,
                                                   [](const BlockStatus&) { return true; }, cache.mutable_read_ahead());
                              auto file = client::LocalBlockFile::CacheAndOpen(&leaser, cache, flags.block_bytes);
                              Check(file.status(), absl::StrCat("cold short-circuit open of block ", b));
                              bytes += ReadWholeBlock(file->get(), flags.block_bytes, &buffer);
                            }
                            leaser.Flush();
                            return bytes;
                          }};
    const std::string local_row = absl::StrCat("cold, client on the worker's host: CacheBlock (read-ahead ",
                                                flags.read_ahead, ") + short-circuit read");
    print(local_row.c_str(), "direct under-store read", Compare(flags.runs, total, cold_local, direct_ufs));
  } else {
    read_through.before();
    read_through.body();
  }

  // Warm: the blocks are cached now (the cold read-through cached them).
  for (int b = 0; b < flags.blocks; ++b) {
    if (!(*store)->Contains(block_id(b))) Die(absl::StrCat("block ", b, " was not cached by the read-through"));
  }
  read_all_blocks(false, true);  // also verifies checksums once
  std::vector<std::string> files;
  for (int b = 0; b < flags.blocks; ++b) files.push_back(flags.mem_dir + "/" + worker::BlockFileName(block_id(b)));
  if (wants("warm")) {
    TcpFileServer tcp(files, flags.chunk_bytes);
    int sock = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(tcp.port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) Die("tcp connect");
    const Side plain_tcp{nullptr, [&] {
                           std::string buffer(static_cast<size_t>(flags.chunk_bytes), '\0');
                           int64_t bytes = 0;
                           for (uint32_t b = 0; b < static_cast<uint32_t>(flags.blocks); ++b) {
                             if (::send(sock, &b, sizeof(b), MSG_NOSIGNAL) != sizeof(b)) Die("tcp send");
                             int64_t got = 0;
                             while (got < flags.block_bytes) {
                               ssize_t n = ::recv(sock, buffer.data(),
                                                  static_cast<size_t>(std::min<int64_t>(buffer.size(), flags.block_bytes - got)), 0);
                               if (n <= 0) Die("tcp recv");
                               got += n;
                             }
                             bytes += got;
                           }
                           return bytes;
                         }};
    const Side warm_grpc{nullptr, [&] { return read_all_blocks(false, true); }};
    if (!flags.variant()) {
      print("warm: ReadBlock over gRPC from MEM", "plain TCP loopback, same bytes", Compare(flags.runs, total, warm_grpc, plain_tcp));
    } else {
      // The variant: its own server over the same store, and a client whose channel is created
      // while the variant's arguments are set (a channel takes its arguments when created).
      rpc::SetTransportArgOverridesForBench(flags.variant_args);
      worker::BlockWorkerServiceOptions variant_options = service_options;
      const int64_t variant_chunk = flags.variant_chunk_bytes > 0 ? flags.variant_chunk_bytes : flags.chunk_bytes;
      variant_options.default_chunk_size_bytes = variant_chunk;
      if (flags.variant_send_mapped >= 0) variant_options.send_mapped_blocks = flags.variant_send_mapped != 0;
      if (flags.variant_map_window_bytes > 0) variant_options.map_window_bytes = flags.variant_map_window_bytes;
      worker::BlockWorkerService variant_service(store->get(), &fetcher, &ufs, &master, variant_options);
      int variant_port = 0;
      std::unique_ptr<grpc::Server> variant_server = StartServer(&variant_service, &variant_port, "variant's");
      rpc::WorkerClient variant_client(absl::StrCat("127.0.0.1:", variant_port), rpc::WorkerClientOptions{30000, 600000});
      rpc::SetTransportArgOverridesForBench({});
      const Side warm_variant{nullptr, [&] {
                                int64_t bytes = 0;
                                for (int b = 0; b < flags.blocks; ++b) {
                                  proto::ReadBlockRequest r = request(b, false);
                                  r.set_chunk_size_bytes(static_cast<int32_t>(variant_chunk));
                                  Check(variant_client.ReadBlock(r, [&](std::string_view data, bool from_cache) {
                                          if (!from_cache) return absl::InternalError("variant: not from the cache");
                                          bytes += static_cast<int64_t>(data.size());
                                          return absl::OkStatus();
                                        }),
                                        absl::StrCat("variant ReadBlock ", b));
                                }
                                return bytes;
                              }};
      std::string variant_name;
      for (const auto& [key, value] : flags.variant_args) absl::StrAppend(&variant_name, key, "=", value, " ");
      absl::StrAppend(&variant_name, "chunk ", variant_chunk >> 10, " KiB, send_mapped_blocks ",
                      variant_options.send_mapped_blocks ? "on" : "off", ", map window ",
                      variant_options.map_window_bytes >> 20, " MiB");
      std::vector<std::vector<double>> cpu;
      const std::vector<std::vector<double>> rounds =
          TimeRounds(flags.runs, total, plain_tcp, {&warm_grpc, &warm_variant}, &cpu);
      auto column = [&](size_t k, bool ratio_to, size_t of) {
        std::vector<double> v;
        for (const auto& times : rounds) v.push_back(ratio_to ? times[of] / times[k] : static_cast<double>(total) / (1 << 20) / times[k]);
        return Median(v);
      };
      auto cpu_ms = [&](size_t k) {
        std::vector<double> v;
        for (const auto& times : cpu) v.push_back(times[k] * 1e3);
        return Median(v);
      };
      std::printf("\nWarm, three sides alternating (TCP, default, variant; the two gRPC sides swap order every round):\n\n");
      std::printf("| side | MiB/s | throughput ratio to TCP | throughput ratio to default | CPU ms (process) |\n|---|---:|---:|---:|---:|\n");
      std::printf("| plain TCP loopback | %.0f | 1.00 | | %.0f |\n", column(0, false, 0), cpu_ms(0));
      std::printf("| gRPC, default | %.0f | %.2f | 1.00 | %.0f |\n", column(1, false, 0), column(1, true, 0), cpu_ms(1));
      std::printf("| gRPC, variant: %s | %.0f | %.2f | %.2f | %.0f |\n", variant_name.c_str(), column(2, false, 0), column(2, true, 0),
                  column(2, true, 1), cpu_ms(2));
      std::fflush(stdout);
      variant_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    }
    ::close(sock);
  }

  // Short-circuit: lease each block from the worker and pread its file, against pread of the
  // same files alone.
  if (wants("short_circuit")) {
    // As a client's sequential reader does it: one leaser for the file on this worker, each block
    // leased with the next `lease_ahead` ones, releases batched, the rest released at the end.
    auto short_circuit_side = [&](int lease_ahead) {
      return Side{nullptr, [&, lease_ahead] {
                               std::string buffer(static_cast<size_t>(flags.chunk_bytes), '\0');
                               int64_t bytes = 0;
                               client::LocalBlockLeaser leaser(shared_client, proto::CACHE);
                               for (int b = 0; b < flags.blocks; ++b) {
                                 std::vector<uint64_t> ahead;
                                 for (int next = b + 1; next <= b + lease_ahead && next < flags.blocks; ++next) {
                                   ahead.push_back(block_id(next));
                                 }
                                 auto file = client::LocalBlockFile::Open(
                                     &leaser, block_id(b), flags.block_bytes,
                                     proto::BlockCapability(), ahead);  // the bench worker checks none
                                 Check(file.status(), absl::StrCat("short-circuit open of block ", b));
                                 bytes += ReadWholeBlock(file->get(), flags.block_bytes, &buffer);
                                 if (lease_ahead == 0) leaser.Flush();  // one release per block, as before batching
                               }
                               leaser.Flush();
                               return bytes;
                             }};
    };
    const Side local_file{nullptr, [&] {
                            std::string buffer(static_cast<size_t>(flags.chunk_bytes), '\0');
                            int64_t bytes = 0;
                            for (const std::string& path : files) {
                              const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
                              if (fd < 0) Die(absl::StrCat("open ", path, ": ", std::strerror(errno)));
                              ssize_t n;
                              while ((n = ::pread(fd, buffer.data(), buffer.size(), bytes % flags.block_bytes)) > 0) {
                                bytes += n;
                                if (bytes % flags.block_bytes == 0) break;
                              }
                              ::close(fd);
                            }
                            return bytes;
                          }};
    const std::string ahead_row =
        absl::StrCat("short-circuit: leases ", flags.lease_ahead + 1, " blocks per OpenLocalBlock, pread");
    print(ahead_row.c_str(), "pread of the same files",
          Compare(flags.runs, total, short_circuit_side(flags.lease_ahead), local_file));
    if (flags.lease_ahead != 0) {
      print("short-circuit: OpenLocalBlock + release per block, pread", "pread of the same files",
            Compare(flags.runs, total, short_circuit_side(0), local_file));
    }
  }

  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  store->reset();
  fs::remove_all(flags.mem_dir);
  fs::remove_all(flags.ufs_dir);
  if (!local_ufs) (*adapter)->Delete(ufs_uri, false).IgnoreError();
  return 0;
}

}  // namespace
}  // namespace cistern::bench

int main(int argc, char** argv) { return cistern::bench::Run(argc, argv); }
