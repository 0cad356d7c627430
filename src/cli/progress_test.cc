#include "cli/progress.h"

#include "gtest/gtest.h"

namespace cistern::cli {
namespace {

TEST(ProgressTest, ShowsBytesFilesRateAndTimeLeft) {
  ProgressState s;
  s.bytes_done = 1 << 30;
  s.bytes_total = 4LL << 30;
  s.files_done = 3;
  s.files_total = 12;
  s.elapsed_ms = 2000;
  EXPECT_EQ(FormatProgress(s, 100), "[=======>                      ]  25% 1GiB/4GiB  3/12 files  512MiB/s  ETA 6s");
}

TEST(ProgressTest, FitsNarrowTerminalsAndCountsFilesWithoutBytes) {
  ProgressState s;
  s.files_done = 1;
  s.files_total = 2;
  const std::string line = FormatProgress(s, 40);
  EXPECT_LE(line.size(), 40u) << line;
  EXPECT_NE(line.find(" 50%"), std::string::npos) << line;
  EXPECT_NE(line.find("1/2 files"), std::string::npos) << line;
  EXPECT_EQ(line.find("ETA"), std::string::npos) << "no rate yet, no estimate";
  const std::string tiny = FormatProgress(s, 10);
  EXPECT_EQ(tiny.find('['), std::string::npos) << "the bar goes first when there is no room";
  s.files_done = 2;
  s.bytes_total = 10;
  s.bytes_done = 10;
  s.elapsed_ms = 1000;
  const std::string done = FormatProgress(s, 100);
  EXPECT_NE(done.find("100%"), std::string::npos) << done;
  EXPECT_EQ(done.find("ETA"), std::string::npos) << done;
}

}  // namespace
}  // namespace cistern::cli
