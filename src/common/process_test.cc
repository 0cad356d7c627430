#include "common/process.h"

#include <stdlib.h>

#include "gtest/gtest.h"

namespace cistern {
namespace {

TEST(TuneMallocForBlockDataTest, LeavesThresholdsTheEnvironmentSetAlone) {
  ::unsetenv("MALLOC_TRIM_THRESHOLD_");
  ::unsetenv("MALLOC_MMAP_THRESHOLD_");
  ::unsetenv("GLIBC_TUNABLES");
  EXPECT_TRUE(TuneMallocForBlockData());
  ::setenv("MALLOC_TRIM_THRESHOLD_", "1000000", 1);
  EXPECT_FALSE(TuneMallocForBlockData());
  ::unsetenv("MALLOC_TRIM_THRESHOLD_");
  ::setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=65536", 1);
  EXPECT_FALSE(TuneMallocForBlockData());
  ::setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0", 1);  // other tunables do not count
  EXPECT_TRUE(TuneMallocForBlockData());
  ::unsetenv("GLIBC_TUNABLES");
}

}  // namespace
}  // namespace cistern
