// cistern local start|stop|status: a one-host cluster (one master, one worker) under a home
// directory, for trying Cistern out and for development.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "cli/context.h"
#include "cli/local_cluster.h"
#include "client/client_options.h"
#include "common/config_keys.h"
#include "common/status.h"

extern char** environ;

namespace cistern::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kDaemons[] = {"cistern-master", "cistern-worker"};

struct LocalFlags {
  std::string home;
};

absl::StatusOr<std::string> Home(const LocalFlags& flags) {
  CISTERN_ASSIGN_OR_RETURN(std::string home, LocalHome(flags.home));
  std::error_code ec;
  fs::path absolute = fs::absolute(home, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("bad home directory '", home, "': ", ec.message()));
  return absolute.lexically_normal().string();
}

std::string PidFile(const std::string& home, const std::string& daemon) {
  return absl::StrCat(home, "/run/", daemon, ".pid");
}

// The pid in the daemon's pid file if that process is alive and is the daemon, else 0.
pid_t RunningPid(const std::string& home, const std::string& daemon) {
  std::ifstream in(PidFile(home, daemon));
  std::string text;
  if (!in || !std::getline(in, text)) return 0;
  int pid = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &pid) || pid <= 0) return 0;
  return ProcessIsDaemon(pid, daemon) ? pid : 0;
}

// Loads the local cluster's configuration plus the global --conf overrides.
absl::StatusOr<Config> LocalConfig(Context* context, const std::string& home) {
  ConfigSources sources;
  sources.conf_file = absl::StrCat(home, "/conf/cistern.properties");
  sources.overrides = context->global().conf;
  absl::StatusOr<Config> config = Config::Load(sources);
  if (!config.ok()) return Annotate(config.status(), "invalid configuration");
  return config;
}

std::string WorkerAddress(const Config& config) {
  return absl::StrCat(config.GetString(conf::kWorkerHostname), ":", config.GetInt(conf::kWorkerRpcPort));
}

// Starts `binary` detached from this terminal, output to `out_file`, with CISTERN_CONF_DIR set.
absl::StatusOr<pid_t> Spawn(const std::string& binary, const std::string& out_file, const std::string& conf_dir) {
  // Everything the child needs is prepared before fork: only async-signal-safe calls after.
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "CISTERN_CONF_DIR=", 17) != 0) env_storage.emplace_back(*e);
  }
  env_storage.push_back(absl::StrCat("CISTERN_CONF_DIR=", conf_dir));
  std::vector<char*> envp;
  for (std::string& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string argv0 = binary;
  char* argv[] = {argv0.data(), nullptr};

  int out = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) return absl::InternalError(absl::StrCat("cannot open ", out_file, ": ", std::strerror(errno)));
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    ::close(out);
    return absl::InternalError(absl::StrCat("cannot open /dev/null: ", std::strerror(errno)));
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out);
    ::close(null_fd);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    ::setsid();
    ::dup2(null_fd, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::execve(argv0.c_str(), argv, envp.data());
    const char msg[] = "cistern local: exec failed\n";
    (void)!::write(2, msg, sizeof(msg) - 1);
    ::_exit(127);
  }
  ::close(out);
  ::close(null_fd);
  return pid;
}

std::string Tail(const std::string& file, int64_t from) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  int64_t size = in.tellg();
  int64_t start = std::max<int64_t>(from, size - 4000);
  in.seekg(start);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// Polls `ready` every 200 ms for up to `timeout_ms` while `pid` (our child) lives.
absl::Status WaitReady(const std::string& daemon, pid_t pid, const std::string& out_file, int64_t out_offset,
                       int64_t timeout_ms, const std::function<bool()>& ready) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    int wstatus = 0;
    if (::waitpid(pid, &wstatus, WNOHANG) == pid) {
      std::fprintf(stderr, "%s", Tail(out_file, out_offset).c_str());
      return absl::InternalError(absl::StrCat(daemon, " exited during start-up (",
                                              WIFEXITED(wstatus) ? absl::StrCat("exit code ", WEXITSTATUS(wstatus))
                                                                 : absl::StrCat("signal ", WTERMSIG(wstatus)),
                                              "); see ", out_file));
    }
    if (ready()) return absl::OkStatus();
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "%s", Tail(out_file, out_offset).c_str());
      return absl::DeadlineExceededError(absl::StrCat(daemon, " (pid ", pid, ") not ready after ", timeout_ms / 1000,
                                                      " s; see ", out_file));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// True if something already listens on TCP `port` (of any local address): then the readiness
// checks below would talk to that process instead of ours.
bool PortInUse(int64_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool in_use = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 && errno == EADDRINUSE;
  ::close(fd);
  return in_use;
}

// Stops daemons this invocation started (our children) after a failed start, so a retry does not
// find half a cluster running.
void StopStarted(const std::string& home, const std::vector<std::pair<std::string, pid_t>>& started) {
  for (auto it = started.rbegin(); it != started.rend(); ++it) {
    ::kill(it->second, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (::waitpid(it->second, nullptr, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(it->second, SIGKILL);
        ::waitpid(it->second, nullptr, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::remove(PidFile(home, it->first).c_str());
  }
}

absl::Status Start(Context* context, const LocalFlags& flags) {
  CISTERN_ASSIGN_OR_RETURN(std::string home, Home(flags));
  for (const char* sub : {"conf", "logs", "run", "underfs", "metastore"}) {
    std::error_code ec;
    fs::create_directories(absl::StrCat(home, "/", sub), ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot create ", home, "/", sub, ": ", ec.message()));
  }
  const std::string conf_dir = absl::StrCat(home, "/conf");
  const std::string conf_file = absl::StrCat(conf_dir, "/cistern.properties");
  if (!fs::exists(conf_file)) {
    std::ofstream out(conf_file);
    out << LocalProperties(home, ::getuid());
    if (!out.flush()) return absl::InternalError(absl::StrCat("cannot write ", conf_file));
  }
  CISTERN_ASSIGN_OR_RETURN(Config config, LocalConfig(context, home));

  for (const char* daemon : kDaemons) {
    if (pid_t pid = RunningPid(home, daemon); pid != 0) {
      return absl::AlreadyExistsError(absl::StrCat(daemon, " is already running (pid ", pid, ") for ", home,
                                                   "; stop it with: cistern local stop --home ", home));
    }
  }
  for (const ConfigKey* key : {&conf::kMasterRpcPort, &conf::kWorkerRpcPort}) {
    if (PortInUse(config.GetInt(*key))) {
      return absl::FailedPreconditionError(absl::StrCat("port ", config.GetInt(*key), " (", std::string(key->name),
                                                        ") is already in use by another process; change it in ",
                                                        conf_file));
    }
  }
  std::error_code ec;
  const fs::path bin_dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
  if (ec) return absl::InternalError(absl::StrCat("cannot read /proc/self/exe: ", ec.message()));

  CISTERN_ASSIGN_OR_RETURN(ClientOptions options, client::ClientOptionsFromConfig(config));
  options.rpc_timeout_ms = 2000;
  options.retry_window_ms = 0;
  CISTERN_ASSIGN_OR_RETURN(std::unique_ptr<FileSystem> cluster, FileSystem::Connect(options));
  const std::string worker_address = WorkerAddress(config);

  std::vector<std::pair<std::string, pid_t>> started;
  for (const char* daemon : kDaemons) {
    const std::string binary = (bin_dir / daemon).string();
    if (::access(binary.c_str(), X_OK) != 0) {
      StopStarted(home, started);
      return absl::NotFoundError(absl::StrCat("cannot find ", binary, " (it must sit beside the cistern binary)"));
    }
    const std::string out_file = absl::StrCat(home, "/logs/", daemon, ".out");
    std::error_code size_ec;
    const int64_t out_offset = fs::exists(out_file) ? static_cast<int64_t>(fs::file_size(out_file, size_ec)) : 0;
    absl::StatusOr<pid_t> spawned = Spawn(binary, out_file, conf_dir);
    if (!spawned.ok()) {
      StopStarted(home, started);
      return spawned.status();
    }
    const pid_t pid = *spawned;
    {
      std::ofstream pid_out(PidFile(home, daemon));
      pid_out << pid << "\n";
    }
    std::function<bool()> ready;
    if (std::string_view(daemon) == "cistern-master") {
      ready = [&] { return cluster->GetMasterInfo().ok(); };
    } else {
      ready = [&] {
        absl::StatusOr<std::vector<WorkerSummary>> workers = cluster->GetWorkers();
        if (!workers.ok()) return false;
        for (const WorkerSummary& w : *workers) {
          if (w.state == WorkerState::kLive && w.address == worker_address) return true;
        }
        return false;
      };
    }
    started.emplace_back(daemon, pid);
    absl::Status status = WaitReady(daemon, pid, out_file, out_offset, 30000, ready);
    if (!status.ok()) {
      StopStarted(home, started);
      return status;
    }
    std::printf("Started %s (pid %d)\n", daemon, pid);
  }
  std::printf("%s", LocalUsage(home, MasterAddresses(config).front(), worker_address,
                               config.GetString(conf::kWorkerTierMemDir))
                        .c_str());
  return absl::OkStatus();
}

absl::Status Stop(const LocalFlags& flags) {
  CISTERN_ASSIGN_OR_RETURN(std::string home, Home(flags));
  // The worker first, so it does not spend its last seconds retrying a master that is gone.
  for (const char* daemon : {"cistern-worker", "cistern-master"}) {
    pid_t pid = RunningPid(home, daemon);
    if (pid == 0) {
      std::printf("%s is not running\n", daemon);
    } else {
      ::kill(pid, SIGTERM);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (ProcessIsDaemon(pid, daemon) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (ProcessIsDaemon(pid, daemon)) {
        ::kill(pid, SIGKILL);
        std::printf("Killed %s (pid %d): it did not stop within 20 s of SIGTERM\n", daemon, pid);
      } else {
        std::printf("Stopped %s (pid %d)\n", daemon, pid);
      }
    }
    std::remove(PidFile(home, daemon).c_str());
  }
  return absl::OkStatus();
}

absl::Status Status(Context* context, const LocalFlags& flags) {
  CISTERN_ASSIGN_OR_RETURN(std::string home, Home(flags));
  std::string master_address = "-", worker_address = "-";
  if (fs::exists(absl::StrCat(home, "/conf/cistern.properties"))) {
    absl::StatusOr<Config> config = LocalConfig(context, home);
    if (config.ok()) {
      master_address = MasterAddresses(*config).front();
      worker_address = WorkerAddress(*config);
    }
  }
  std::printf("Local cluster home: %s\n", home.c_str());
  for (const char* daemon : kDaemons) {
    pid_t pid = RunningPid(home, daemon);
    const std::string& address = std::string_view(daemon) == "cistern-master" ? master_address : worker_address;
    if (pid != 0) {
      std::printf("%-15s running (pid %d) at %s\n", daemon, pid, address.c_str());
    } else {
      std::printf("%-15s not running\n", daemon);
    }
  }
  return absl::OkStatus();
}

}  // namespace

void AddLocalCommands(CLI::App* root, Context* context, std::vector<Command>* commands) {
  CLI::App* local = root->add_subcommand("local", "Run a one-host cluster (master and worker) for trying Cistern out");
  local->require_subcommand(1);
  local->fallthrough();
  auto flags = std::make_shared<LocalFlags>();
  const std::string home_help = "Cluster directory (default: $CISTERN_LOCAL_HOME, else $HOME/.cistern/local)";
  CLI::App* start = local->add_subcommand("start", "Start the local master and worker and wait until they serve");
  start->add_option("--home", flags->home, home_help);
  commands->push_back({start, [=] { return Start(context, *flags); }});
  CLI::App* stop = local->add_subcommand("stop", "Stop the local cluster (SIGTERM, then SIGKILL after 20 s)");
  stop->add_option("--home", flags->home, home_help);
  commands->push_back({stop, [=] { return Stop(*flags); }});
  CLI::App* status = local->add_subcommand("status", "Show whether the local daemons run, their pids and addresses");
  status->add_option("--home", flags->home, home_help);
  commands->push_back({status, [=] { return Status(context, *flags); }});
}

}  // namespace cistern::cli
