#include "ufs/metered_ufs.h"

#include "absl/strings/match.h"
#include "common/metrics.h"
#include "gtest/gtest.h"
#include "ufs/mem_ufs.h"

namespace cistern::ufs {
namespace {

int64_t Value(const std::string& series) { return Metrics().Value(series); }

TEST(MeteredUfsTest, CountsTimesAndErrorsEveryRequestByMountAndOperation) {
  std::unique_ptr<UnderFileSystem> ufs = NewMeteredUnderFileSystem(NewMemUnderFileSystem(), "/metered");
  auto out = ufs->Create("mem:///a/file", CreateOptions{});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE((*out)->Write("hello").ok());
  ASSERT_TRUE((*out)->Write(" world").ok());
  ASSERT_TRUE((*out)->Close().ok());
  auto reader = ufs->Open("mem:///a/file");
  ASSERT_TRUE(reader.ok()) << reader.status();
  char buf[16];
  EXPECT_EQ(*(*reader)->ReadAt(0, 16, buf), 11);
  EXPECT_TRUE(absl::IsNotFound(ufs->GetStatus("mem:///missing").status()));
  EXPECT_TRUE(ufs->GetStatus("mem:///a/file").ok());

  const std::string m = "mount=\"/metered\",operation=";
  EXPECT_EQ(Value("cistern_ufs_requests_total{" + m + "\"create\"}"), 1);
  EXPECT_EQ(Value("cistern_ufs_requests_total{" + m + "\"write\"}"), 2);
  EXPECT_EQ(Value("cistern_ufs_requests_total{" + m + "\"close\"}"), 1);
  EXPECT_EQ(Value("cistern_ufs_requests_total{" + m + "\"open\"}"), 1);
  EXPECT_EQ(Value("cistern_ufs_requests_total{" + m + "\"read\"}"), 1);
  EXPECT_EQ(Value("cistern_ufs_requests_total{" + m + "\"get_status\"}"), 2);
  EXPECT_EQ(Value("cistern_ufs_request_errors_total{" + m + "\"get_status\",code=\"NOT_FOUND\"}"), 1);
  EXPECT_TRUE(absl::StrContains(Metrics().PrometheusText(),
                                "cistern_ufs_request_duration_seconds_count{" + m + "\"get_status\"} 2\n"));
}

}  // namespace
}  // namespace cistern::ufs
