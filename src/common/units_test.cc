#include "common/units.h"

#include "gtest/gtest.h"

namespace cistern {
namespace {

TEST(UnitsTest, ParsesSizes) {
  EXPECT_EQ(*ParseSizeBytes("0"), 0);
  EXPECT_EQ(*ParseSizeBytes("512"), 512);
  EXPECT_EQ(*ParseSizeBytes("512B"), 512);
  EXPECT_EQ(*ParseSizeBytes("64MiB"), 64 << 20);
  EXPECT_EQ(*ParseSizeBytes("64MB"), 64 << 20);
  EXPECT_EQ(*ParseSizeBytes("64m"), 64 << 20);
  EXPECT_EQ(*ParseSizeBytes(" 2 GiB "), int64_t{2} << 30);
  EXPECT_EQ(*ParseSizeBytes("1.5KiB"), 1536);
  EXPECT_EQ(*ParseSizeBytes("8TiB"), int64_t{8} << 40);
}

TEST(UnitsTest, RejectsBadSizesNamingTheValue) {
  for (const char* bad : {"", "MiB", "-1", "12XB", "1.2.3G", "99999999999PiB"}) {
    auto r = ParseSizeBytes(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(std::string("'") + bad + "'"), absl::string_view::npos)
        << r.status().ToString();
  }
}

TEST(UnitsTest, ParsesDurations) {
  EXPECT_EQ(*ParseDurationMs("250"), 250);
  EXPECT_EQ(*ParseDurationMs("250ms"), 250);
  EXPECT_EQ(*ParseDurationMs("30s"), 30000);
  EXPECT_EQ(*ParseDurationMs("5min"), 300000);
  EXPECT_EQ(*ParseDurationMs("5m"), 300000);
  EXPECT_EQ(*ParseDurationMs("2h"), 7200000);
  EXPECT_EQ(*ParseDurationMs("1d"), 86400000);
  EXPECT_EQ(*ParseDurationMs("-1"), -1);
  EXPECT_FALSE(ParseDurationMs("-5s").ok());
  EXPECT_FALSE(ParseDurationMs("1.5s").ok());
  EXPECT_FALSE(ParseDurationMs("10parsecs").ok());
  EXPECT_FALSE(ParseDurationMs("").ok());
}

TEST(UnitsTest, FormatsSizesAndDurations) {
  EXPECT_EQ(FormatBytes(0), "0B");
  EXPECT_EQ(FormatBytes(1023), "1023B");
  EXPECT_EQ(FormatBytes(1024), "1KiB");
  EXPECT_EQ(FormatBytes(1536), "1.5KiB");
  EXPECT_EQ(FormatBytes(int64_t{64} << 20), "64MiB");
  EXPECT_EQ(FormatDurationMs(250), "250ms");
  EXPECT_EQ(FormatDurationMs(1500), "1.5s");
  EXPECT_EQ(FormatDurationMs(150000), "2m30s");
  EXPECT_EQ(FormatDurationMs(3600000), "1h");
}

}  // namespace
}  // namespace cistern
