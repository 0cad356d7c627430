// Test-only: a private network of Linux network namespaces, one per simulated host, for
// multi-host tests (3 masters + 2 workers, each with its own address). Every host namespace has
// a veth pair whose other end sits on a bridge inside a hub namespace, so the host namespace of
// the machine itself is never changed and traffic never leaves the namespaces the test created.
//
//   host i: namespace <prefix>-<name>, interface eth0, address 10.<subnet>.0.<i+1>/24
//   hub:    namespace <prefix>-hub, bridge br0 with the peer ends
//
// Processes run in a host through `ip netns exec` (Exec() builds the argv; `ip netns exec`
// execs the program itself, so a Subprocess's pid is the program's and kill/PDEATHSIG work).
// The destructor deletes every namespace (and with them the veths and the bridge); Create also
// removes namespaces left by test processes that died without cleaning up.
//
// Needs root and iproute2. Thread safety: not thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cistern::testing {

class NetnsNetwork {
 public:
  // UNAVAILABLE (naming the failing command) if namespaces cannot be made here, e.g. not root.
  static absl::StatusOr<std::unique_ptr<NetnsNetwork>> Create(const std::vector<std::string>& hosts);
  ~NetnsNetwork();
  NetnsNetwork(const NetnsNetwork&) = delete;
  NetnsNetwork& operator=(const NetnsNetwork&) = delete;

  const std::vector<std::string>& hosts() const { return hosts_; }
  std::string Namespace(const std::string& host) const;
  // The host's IPv4 address (no prefix length).
  std::string Address(const std::string& host) const;
  // argv running `argv` inside the host's namespace.
  std::vector<std::string> Exec(const std::string& host, const std::vector<std::string>& argv) const;
  // Takes the host's link down (false: partitioned from every other host) or up again.
  absl::Status SetConnected(const std::string& host, bool connected);

 private:
  NetnsNetwork(std::string prefix, std::vector<std::string> hosts, int subnet);
  int Index(const std::string& host) const;

  const std::string prefix_;
  const std::vector<std::string> hosts_;
  const int subnet_;
  std::vector<std::string> created_;  // namespaces to delete
};

}  // namespace cistern::testing
