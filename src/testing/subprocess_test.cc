#include "testing/subprocess.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <set>
#include <string>

#include "gtest/gtest.h"

namespace cistern::testing {
namespace {

TEST(PickUnusedPortTest, PortsAreDistinctBindableAndOutsideTheEphemeralRange) {
  int ephemeral_lo = 32768, ephemeral_hi = 60999;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> ephemeral_lo >> ephemeral_hi;
  std::set<int> seen;
  for (int i = 0; i < 200; ++i) {
    const int port = PickUnusedPort();
    EXPECT_TRUE(seen.insert(port).second) << "port " << port << " handed out twice";
    if (ephemeral_lo - 10000 >= 1000) {
      EXPECT_GE(port, 10000);
      EXPECT_LT(port, ephemeral_lo) << "port " << port << " is in the ephemeral range, where clients' connects take ports";
    }
  }
  // The last one can be listened on by a daemon on every address.
  const int port = *seen.rbegin();
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << "port " << port;
  EXPECT_EQ(::listen(fd, 1), 0);
  ::close(fd);
}

TEST(PickUnusedPortTest, APickedPortIsHeldAgainstOtherProcesses) {
  const int port = PickUnusedPort();
  const std::string claim = "/tmp/cistern-test-ports/" + std::to_string(port);
  // Another process picking ports the same way finds the port's claim taken.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const int fd = ::open(claim.c_str(), O_RDWR | O_CLOEXEC);
    ::_exit(fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the claim on " << claim << " is not held";
}

}  // namespace
}  // namespace cistern::testing
