#include "security/audit_log.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace cistern::security {
namespace {

TEST(AuditLogTest, LinesNameUserAddressOperationPathsAndResult) {
  Caller alice{"alice", {"staff", "dev"}, "ipv4:10.0.0.5:41234"};
  EXPECT_EQ(AuditLog::FormatLine(alice, "Rename", "/data/a", "/data/b", absl::OkStatus()),
            "user=alice groups=staff,dev addr=ipv4:10.0.0.5:41234 op=Rename path=\"/data/a\" dst=\"/data/b\" "
            "result=OK");
  EXPECT_EQ(AuditLog::FormatLine(alice, "Delete", "/x", "", absl::PermissionDeniedError("no")),
            "user=alice groups=staff,dev addr=ipv4:10.0.0.5:41234 op=Delete path=\"/x\" result=PERMISSION_DENIED "
            "message=\"no\"");
  // A path with a newline and quotes stays on one line and in its field.
  const std::string line =
      AuditLog::FormatLine(alice, "CreateFile", "/a\"b\n c", "", absl::OkStatus());
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NE(line.find("path=\"/a\\\"b\\n c\""), std::string::npos) << line;
  EXPECT_NE(AuditLog::FormatLine(Caller::Internal(), "Delete", "/t", "", absl::OkStatus()).find("user=(master)"),
            std::string::npos);
}

TEST(AuditLogTest, WritesFlushedLinesAndRotates) {
  char dir[] = "/tmp/audit_log_test.XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/sub/audit.log";
  auto log = AuditLog::Open(AuditLogOptions{path, 4096, 2});
  ASSERT_TRUE(log.ok()) << log.status();
  Caller bob{"bob", {"users"}, "ipv6:[::1]:5000"};
  (*log)->Record(bob, "GetStatus", "/f", "", absl::OkStatus());
  {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    // Flushed at once: readable before the log is closed.
    EXPECT_NE(text.str().find("user=bob groups=users addr=ipv6:[::1]:5000 op=GetStatus path=\"/f\" result=OK\n"),
              std::string::npos)
        << text.str();
    EXPECT_EQ(text.str().find('Z'), 23u) << "UTC timestamp with milliseconds first";
  }
  for (int i = 0; i < 200; ++i) (*log)->Record(bob, "CreateFile", "/f" + std::to_string(i), "", absl::OkStatus());
  EXPECT_EQ(::access((std::string(dir) + "/sub/audit.1.log").c_str(), F_OK), 0) << "rotated";
  EXPECT_NE(::access((std::string(dir) + "/sub/audit.3.log").c_str(), F_OK), 0) << "at most max_files kept";
  log->reset();
  EXPECT_FALSE(AuditLog::Open(AuditLogOptions{"/proc/no/such/dir/audit.log"}).ok());
  std::system((std::string("rm -rf ") + dir).c_str());
}

}  // namespace
}  // namespace cistern::security
