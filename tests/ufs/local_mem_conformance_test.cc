// The conformance suite against the adapters that need no server: file:// and mem://.
#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "tests/ufs/conformance_suite.h"
#include "ufs/mem_ufs.h"

namespace cistern::ufs::conformance {
namespace {

std::atomic<int> next_root{0};

struct LocalEnv {
  static std::string Base() { return ::testing::TempDir() + "/ufs_conformance_" + std::to_string(::getpid()); }
  static void SetUpSuite() { std::filesystem::create_directories(Base()); }
  static void TearDownSuite() { std::filesystem::remove_all(Base()); }
  static std::string SkipReason() { return ""; }
  static absl::StatusOr<std::unique_ptr<UnderFileSystem>> Make() { return CreateUnderFileSystem("file://" + Base()); }
  static std::string NewRoot() { return absl::StrCat("file://", Base(), "/t", next_root++); }
};

struct MemEnv {
  static void SetUpSuite() {}
  static void TearDownSuite() { ClearMemStoreForTest("conformance"); }
  static std::string SkipReason() { return ""; }
  static absl::StatusOr<std::unique_ptr<UnderFileSystem>> Make() { return CreateUnderFileSystem("mem://conformance/"); }
  static std::string NewRoot() { return absl::StrCat("mem://conformance/t", next_root++); }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Local, UfsConformanceTest, ::testing::Types<LocalEnv>);
INSTANTIATE_TYPED_TEST_SUITE_P(Mem, UfsConformanceTest, ::testing::Types<MemEnv>);

}  // namespace
}  // namespace cistern::ufs::conformance
