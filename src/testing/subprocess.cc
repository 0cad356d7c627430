#include "testing/subprocess.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

extern char** environ;

namespace cistern::testing {

Subprocess::Subprocess(std::vector<std::string> argv, std::string output_file,
                       std::map<std::string, std::string> extra_env)
    : argv_(std::move(argv)), output_file_(std::move(output_file)), extra_env_(std::move(extra_env)) {}

Subprocess::~Subprocess() { Kill(); }

absl::Status Subprocess::Start() {
  if (pid_ > 0 && !exit_code_) return absl::FailedPreconditionError("already running");
  exit_code_.reset();
  // Build everything the child needs before fork: only async-signal-safe calls after it.
  std::vector<char*> args;
  for (const std::string& a : argv_) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    std::string key = entry.substr(0, entry.find('='));
    if (extra_env_.count(key) == 0) env_storage.push_back(entry);
  }
  for (const auto& [k, v] : extra_env_) env_storage.push_back(k + "=" + v);
  std::vector<char*> env;
  for (std::string& e : env_storage) env.push_back(e.data());
  env.push_back(nullptr);
  int out = ::open(output_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) return absl::InternalError(absl::StrCat("cannot open ", output_file_));
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out);
    return absl::InternalError("fork failed");
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::setpgid(0, 0);
    // Daemons block these themselves; the child must not inherit a blocked mask otherwise.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(out, 1);
    ::dup2(out, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::execve(args[0], args.data(), env.data());
    ::_exit(127);
  }
  ::close(out);
  pid_ = pid;
  return absl::OkStatus();
}

bool Subprocess::running() {
  if (pid_ <= 0 || exit_code_) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return true;
}

void Subprocess::Signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

absl::StatusOr<int> Subprocess::Wait(int64_t timeout_ms) {
  if (pid_ <= 0) return absl::FailedPreconditionError("never started");
  if (!WaitFor([&] { return !running(); }, timeout_ms)) {
    return absl::DeadlineExceededError(absl::StrCat(argv_[0], " (pid ", pid_, ") still running after ", timeout_ms, " ms"));
  }
  return *exit_code_;
}

void Subprocess::Kill() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  exit_code_ = 128 + SIGKILL;
}

std::string Subprocess::OutputTail(size_t max_bytes) const {
  std::ifstream in(output_file_);
  std::stringstream buf;
  buf << in.rdbuf();
  std::string s = buf.str();
  return s.size() > max_bytes ? s.substr(s.size() - max_bytes) : s;
}

CommandResult RunCommand(const std::vector<std::string>& argv, int64_t timeout_ms,
                         const std::map<std::string, std::string>& extra_env) {
  static std::mt19937_64 rng(std::random_device{}());
  const char* tmp = std::getenv("TMPDIR");
  std::string out = absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/cistern-cmd-", ::getpid(), "-",
                                 rng(), ".out");
  CommandResult result;
  {
    Subprocess p(argv, out, extra_env);
    if (!p.Start().ok()) return result;
    auto code = p.Wait(timeout_ms);
    result.exit_code = code.ok() ? *code : -1;
    result.output = p.OutputTail(1 << 30);
  }
  ::unlink(out.c_str());
  return result;
}

namespace {

// The kernel's ephemeral port range (32768-60999 by default): it hands those ports to every
// outgoing connection of every process on the machine.
std::pair<int, int> EphemeralPortRange() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int lo = 0, hi = 0;
  if (in >> lo >> hi && lo > 0 && hi >= lo) return {lo, hi};
  return {32768, 60999};
}

// Whether `port` can be bound on every address right now (a daemon listening on 0.0.0.0 needs
// that; binding the wildcard fails if anything holds the port on any address).
bool CanBind(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return bound;
}

// Whether this process now holds `port` against every other process that picks ports here: a
// lock (flock) on a file named after the port, held until this process exits. Test processes
// run side by side (ctest -j) and a port picked by one is free until its daemon binds it, so
// another could hand out the same port and its daemon would fail with "port in use".
bool ClaimAcrossProcesses(int port) {
  static const std::string* const dir = [] {
    auto* d = new std::string("/tmp/cistern-test-ports");
    ::mkdir(d->c_str(), 0777);
    return d;
  }();
  const std::string path = absl::StrCat(*dir, "/", port);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return true;  // no shared directory: the bind check alone, as before
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return false;
  }
  return true;  // the descriptor, and so the lock, stays open for the life of the process
}

}  // namespace

int PickUnusedPort() {
  // Picked below the ephemeral range: a port from bind(0) comes from that range, and tests pick
  // their ports seconds before the daemons bind them, long enough for some other test's client
  // connection to take it as its local port ("cannot listen ... port in use"). Below the range
  // only another picker can collide: each process starts at a random port and walks on, and a
  // test never hands out one port twice.
  static absl::Mutex mu(absl::kConstInit);
  static absl::flat_hash_set<int>* given ABSL_GUARDED_BY(mu) = new absl::flat_hash_set<int>();
  static int next ABSL_GUARDED_BY(mu) = 0;
  absl::MutexLock lock(&mu);
  // From 10000 up: the ports below are where well-known servers listen.
  const int lo = 10000, hi = EphemeralPortRange().first - 1;
  if (hi - lo >= 1000) {
    if (next == 0) {
      std::random_device seed;
      std::mt19937 rng(seed() ^ static_cast<uint32_t>(::getpid()));
      next = lo + static_cast<int>(rng() % static_cast<uint32_t>(hi - lo + 1));
    }
    for (int attempt = 0; attempt <= hi - lo; ++attempt) {
      const int port = next;
      next = next >= hi ? lo : next + 1;
      if (!given->contains(port) && CanBind(port) && ClaimAcrossProcesses(port)) {
        given->insert(port);
        return port;
      }
    }
  }
  // No room below the ephemeral range (an unusual ip_local_port_range): ask the kernel.
  for (int attempt = 0; attempt < 1000; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) continue;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                       ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
    ::close(fd);
    if (!bound) continue;
    const int port = ntohs(addr.sin_port);
    if (given->insert(port).second) return port;
  }
  std::fprintf(stderr, "PickUnusedPort: no free port after 1000 attempts\n");
  std::abort();
}

bool WaitFor(const std::function<bool()>& condition, int64_t timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace cistern::testing
