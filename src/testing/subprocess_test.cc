#include "testing/subprocess.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <set>

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

}  // namespace
}  // namespace cistern::testing
