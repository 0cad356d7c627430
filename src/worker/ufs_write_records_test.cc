#include "worker/ufs_write_records.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "worker/ufs_fetcher.h"

namespace cistern::worker {
namespace {

namespace fs = std::filesystem;

class UfsWriteRecordsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "ufs_write_records_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    fs::create_directories(root_ + "/ufs/d");
  }
  void TearDown() override { fs::remove_all(root_); }

  // The temporary files in the under-store directory d/.
  std::vector<std::string> TempFiles() {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(root_ + "/ufs/d")) {
      const std::string name = entry.path().filename().string();
      if (name.find(ufs::kTempNameMarker) != std::string::npos) names.push_back(name);
    }
    return names;
  }
  size_t Records() { return static_cast<size_t>(std::distance(fs::directory_iterator(root_ + "/records"), {})); }

  std::unique_ptr<ufs::UfsOutputStream> Create(const std::string& name) {
    auto store = ufs_.Get("file://" + root_ + "/ufs");
    EXPECT_TRUE(store.ok()) << store.status();
    ufs::CreateOptions options;
    auto out = (*store)->Create("file://" + root_ + "/ufs/d/" + name, options);
    EXPECT_TRUE(out.ok()) << out.status();
    EXPECT_TRUE((*out)->Write("some bytes").ok());
    return *std::move(out);
  }

  std::string root_;
  UfsRegistry ufs_;
};

// A write that ends (closed or aborted) leaves no record; one whose process died leaves its
// record and its temporary file, and the next run's CleanUp deletes both.
TEST_F(UfsWriteRecordsTest, CleanUpDeletesTheTemporaryFilesOfWritesThatNeverEnded) {
  auto records = UfsWriteRecords::Open(root_ + "/records");
  ASSERT_TRUE(records.ok()) << records.status();
  {
    std::unique_ptr<ufs::UfsOutputStream> closed = Create("closed.bin");
    auto record = (*records)->Add(1, *closed);
    ASSERT_NE(record, nullptr);
    EXPECT_EQ(Records(), 1u);
    ASSERT_TRUE(closed->Close().ok());
  }
  {
    std::unique_ptr<ufs::UfsOutputStream> aborted = Create("aborted.bin");
    auto record = (*records)->Add(1, *aborted);
    aborted->Abort();
  }
  EXPECT_EQ(Records(), 0u);
  EXPECT_TRUE(TempFiles().empty());
  EXPECT_TRUE(fs::exists(root_ + "/ufs/d/closed.bin"));

  // "Killed": neither the stream nor the record is ever destroyed by this run.
  std::unique_ptr<ufs::UfsOutputStream> killed = Create("killed.bin");
  std::unique_ptr<UfsWriteRecords::Record> killed_record = (*records)->Add(7, *killed);
  ASSERT_NE(killed_record, nullptr);
  ASSERT_EQ(TempFiles().size(), 1u);
  EXPECT_EQ(Records(), 1u);

  // The next run.
  auto next = UfsWriteRecords::Open(root_ + "/records");
  ASSERT_TRUE(next.ok()) << next.status();
  const UfsWriteRecords::CleanUpResult result = (*next)->CleanUp(&ufs_);
  EXPECT_EQ(result.deleted, 1);
  EXPECT_EQ(result.kept, 0);
  EXPECT_TRUE(TempFiles().empty());
  EXPECT_EQ(Records(), 0u);
  EXPECT_FALSE(fs::exists(root_ + "/ufs/d/killed.bin"));
  EXPECT_TRUE(fs::exists(root_ + "/ufs/d/closed.bin")) << "only temporary files are deleted";
  killed.reset();         // (the test's own stream: its temporary file is gone already)
  killed_record.reset();  // its record too
  EXPECT_EQ((*next)->CleanUp(&ufs_).deleted, 0);
}

// Records are never trusted to name anything but a temporary file: one naming a real file, or
// an unreadable one, is dropped and nothing is deleted; a record whose file is gone counts so.
TEST_F(UfsWriteRecordsTest, CleanUpDeletesOnlyTemporaryFiles) {
  fs::create_directories(root_ + "/records");
  { std::ofstream(root_ + "/ufs/d/real.bin") << "data"; }
  { std::ofstream(root_ + "/records/a.rec") << "1\nfile://" << root_ << "/ufs/d/real.bin\n"; }
  { std::ofstream(root_ + "/records/b.rec") << "not a number\nfile:///x/.y.cistern-tmp-1\n"; }
  { std::ofstream(root_ + "/records/c.rec") << "1\nfile://" << root_ << "/ufs/d/.gone.bin.cistern-tmp-00ff\n"; }
  { std::ofstream(root_ + "/records/stray.txt") << "?"; }
  auto records = UfsWriteRecords::Open(root_ + "/records");
  ASSERT_TRUE(records.ok()) << records.status();
  const UfsWriteRecords::CleanUpResult result = (*records)->CleanUp(&ufs_);
  EXPECT_EQ(result.deleted, 0);
  EXPECT_EQ(result.gone, 1);
  EXPECT_EQ(result.kept, 0);
  EXPECT_TRUE(fs::exists(root_ + "/ufs/d/real.bin"));
  EXPECT_EQ(Records(), 0u);
}

}  // namespace
}  // namespace cistern::worker
