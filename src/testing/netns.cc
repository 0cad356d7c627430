#include "testing/netns.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "testing/subprocess.h"

namespace cistern::testing {
namespace {

// RunCommand and Subprocess exec a path (no PATH lookup).
const std::string kIp = [] {
  for (const char* path : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (::access(path, X_OK) == 0) return std::string(path);
  }
  return std::string("/usr/sbin/ip");
}();
constexpr const char* kPrefix = "cst";

absl::Status Run(const std::vector<std::string>& argv) {
  CommandResult r = RunCommand(argv, 30000);
  if (r.exit_code != 0) {
    return absl::UnavailableError(absl::StrCat("`", absl::StrJoin(argv, " "), "` failed (", r.exit_code, "): ", r.output));
  }
  return absl::OkStatus();
}

// Deletes namespaces "cst<pid>-..." whose test process is gone.
void RemoveStale() {
  CommandResult r = RunCommand({kIp, "netns", "list"}, 30000);
  if (r.exit_code != 0) return;
  for (absl::string_view line : absl::StrSplit(r.output, '\n', absl::SkipEmpty())) {
    const std::string name(line.substr(0, line.find(' ')));
    if (name.rfind(kPrefix, 0) != 0) continue;
    const size_t dash = name.find('-');
    int pid = 0;
    if (dash == std::string::npos || !absl::SimpleAtoi(name.substr(3, dash - 3), &pid) || pid <= 0) continue;
    if (::kill(pid, 0) == 0 || errno == EPERM) continue;  // still running
    RunCommand({kIp, "netns", "del", name}, 30000);
  }
}

}  // namespace

NetnsNetwork::NetnsNetwork(std::string prefix, std::vector<std::string> hosts, int subnet)
    : prefix_(std::move(prefix)), hosts_(std::move(hosts)), subnet_(subnet) {}

absl::StatusOr<std::unique_ptr<NetnsNetwork>> NetnsNetwork::Create(const std::vector<std::string>& hosts) {
  if (::geteuid() != 0) return absl::UnavailableError("network namespaces need root");
  if (hosts.empty() || hosts.size() > 200) return absl::InvalidArgumentError("want 1..200 hosts");
  RemoveStale();
  static int instance = 0;
  const std::string prefix = absl::StrCat(kPrefix, ::getpid(), "-", instance++);
  // Namespaces are isolated from each other, so concurrent networks may share a subnet; vary it
  // anyway so addresses in logs tell networks apart.
  const int subnet = 200 + (::getpid() + instance) % 50;
  std::unique_ptr<NetnsNetwork> net(new NetnsNetwork(prefix, hosts, subnet));
  const std::string hub = prefix + "-hub";
  if (absl::Status s = Run({kIp, "netns", "add", hub}); !s.ok()) return s;
  net->created_.push_back(hub);
  if (absl::Status s = Run({kIp, "-n", hub, "link", "add", "br0", "type", "bridge"}); !s.ok()) return s;
  if (absl::Status s = Run({kIp, "-n", hub, "link", "set", "br0", "up"}); !s.ok()) return s;
  for (size_t i = 0; i < hosts.size(); ++i) {
    const std::string ns = net->Namespace(hosts[i]);
    if (absl::Status s = Run({kIp, "netns", "add", ns}); !s.ok()) return s;
    net->created_.push_back(ns);
    const std::string peer = absl::StrCat("v", i);
    // Create the pair inside the host namespace, then move the peer end to the hub.
    for (const std::vector<std::string>& argv : std::vector<std::vector<std::string>>{
             {kIp, "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", peer},
             {kIp, "-n", ns, "link", "set", peer, "netns", hub},
             {kIp, "-n", hub, "link", "set", peer, "master", "br0"},
             {kIp, "-n", hub, "link", "set", peer, "up"},
             {kIp, "-n", ns, "addr", "add", absl::StrCat(net->Address(hosts[i]), "/24"), "dev", "eth0"},
             {kIp, "-n", ns, "link", "set", "eth0", "up"},
             {kIp, "-n", ns, "link", "set", "lo", "up"}}) {
      if (absl::Status s = Run(argv); !s.ok()) return s;
    }
  }
  return net;
}

NetnsNetwork::~NetnsNetwork() {
  for (auto it = created_.rbegin(); it != created_.rend(); ++it) RunCommand({kIp, "netns", "del", *it}, 30000);
}

int NetnsNetwork::Index(const std::string& host) const {
  auto it = std::find(hosts_.begin(), hosts_.end(), host);
  if (it == hosts_.end()) {
    std::fprintf(stderr, "netns: unknown host '%s'\n", host.c_str());
    std::abort();
  }
  return static_cast<int>(it - hosts_.begin());
}

std::string NetnsNetwork::Namespace(const std::string& host) const { return absl::StrCat(prefix_, "-", host); }

std::string NetnsNetwork::Address(const std::string& host) const {
  return absl::StrCat("10.", subnet_, ".0.", Index(host) + 1);
}

std::vector<std::string> NetnsNetwork::Exec(const std::string& host, const std::vector<std::string>& argv) const {
  std::vector<std::string> out = {kIp, "netns", "exec", Namespace(host)};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

absl::Status NetnsNetwork::SetConnected(const std::string& host, bool connected) {
  return Run({kIp, "-n", Namespace(host), "link", "set", "eth0", connected ? "up" : "down"});
}

}  // namespace cistern::testing
