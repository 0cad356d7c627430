#include "ufs/local_ufs.h"

#include <sys/stat.h>

#include <filesystem>
#include <set>

#include "gtest/gtest.h"
#include "ufs/under_file_system.h"
#include "ufs/uri.h"

namespace cistern::ufs {
namespace {

class LocalUfsTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::TempDir() + "/local_ufs_test_" + std::to_string(::getpid());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
    auto ufs = CreateUnderFileSystem("file://" + root_);
    ASSERT_TRUE(ufs.ok()) << ufs.status();
    ufs_ = std::move(*ufs);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::string Uri(const std::string& rel) { return "file://" + root_ + rel; }

  std::string root_;
  std::unique_ptr<UnderFileSystem> ufs_;
};

TEST_F(LocalUfsTest, CreateIsInvisibleUntilClose) {
  auto out = ufs_->Create(Uri("/d/e/f.txt"), CreateOptions{});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE((*out)->Write("hello ").ok());
  ASSERT_TRUE((*out)->Write("world").ok());
  EXPECT_EQ(ufs_->GetStatus(Uri("/d/e/f.txt")).status().code(), absl::StatusCode::kNotFound);
  auto closed = (*out)->Close();
  ASSERT_TRUE(closed.ok()) << closed.status();
  EXPECT_EQ(closed->length, 11);
  auto st = ufs_->GetStatus(Uri("/d/e/f.txt"));
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->length, 11);
  EXPECT_FALSE(st->is_directory);

  auto reader = ufs_->Open(Uri("/d/e/f.txt"));
  ASSERT_TRUE(reader.ok());
  char buf[32];
  auto n = (*reader)->ReadAt(6, 32, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "world");
  EXPECT_EQ(*(*reader)->ReadAt(11, 5, buf), 0);
}

TEST_F(LocalUfsTest, AbortAndDestroyLeaveNothing) {
  {
    auto out = ufs_->Create(Uri("/a.txt"), CreateOptions{});
    ASSERT_TRUE(out.ok());
    ASSERT_TRUE((*out)->Write("partial").ok());
  }
  auto out = ufs_->Create(Uri("/b.txt"), CreateOptions{});
  ASSERT_TRUE(out.ok());
  (*out)->Abort();
  EXPECT_TRUE(std::filesystem::is_empty(root_));
}

TEST_F(LocalUfsTest, CreateWithoutOverwriteRefusesExisting) {
  auto out = ufs_->Create(Uri("/x"), CreateOptions{});
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE((*out)->Close().ok());
  EXPECT_EQ(ufs_->Create(Uri("/x"), CreateOptions{}).status().code(), absl::StatusCode::kAlreadyExists);
  CreateOptions overwrite;
  overwrite.overwrite = true;
  auto again = ufs_->Create(Uri("/x"), overwrite);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE((*again)->Write("v2").ok());
  ASSERT_TRUE((*again)->Close().ok());
  EXPECT_EQ(ufs_->GetStatus(Uri("/x"))->length, 2);
}

TEST_F(LocalUfsTest, ListMkdirsRenameDelete) {
  ASSERT_TRUE(ufs_->Mkdirs(Uri("/p/q"), 0755).ok());
  ASSERT_TRUE(ufs_->Mkdirs(Uri("/p/q"), 0755).ok());
  auto out = ufs_->Create(Uri("/p/f"), CreateOptions{});
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE((*out)->Close().ok());
  std::set<std::string> names;
  ASSERT_TRUE(ufs_->ListDirectory(Uri("/p"), [&](const UfsStatus& s) {
    names.insert(s.name + (s.is_directory ? "/" : ""));
    return absl::OkStatus();
  }).ok());
  EXPECT_EQ(names, (std::set<std::string>{"q/", "f"}));

  ASSERT_TRUE(ufs_->Rename(Uri("/p/f"), Uri("/r/g")).ok());
  EXPECT_TRUE(ufs_->GetStatus(Uri("/r/g")).ok());
  EXPECT_EQ(ufs_->Rename(Uri("/p/f"), Uri("/r/h")).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ufs_->Delete(Uri("/p"), false).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(ufs_->Delete(Uri("/p"), true).ok());
  EXPECT_EQ(ufs_->GetStatus(Uri("/p")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ufs_->Delete(Uri("/p"), true).code(), absl::StatusCode::kNotFound);
}

// The caller's nonce names the temporary file (beside the target, hidden, with the marker),
// TempUri says so before Create; a bad nonce is a clear INVALID_ARGUMENT before anything is
// created, and a nonce in use by another write is refused rather than shared.
TEST_F(LocalUfsTest, TemporaryFileUsesTheCallersNonce) {
  auto temp = ufs_->TempUri(Uri("/n/f.bin"), "abc-123");
  ASSERT_TRUE(temp.ok()) << temp.status();
  EXPECT_EQ(*temp, ParseUri(Uri("/n/.f.bin.cistern-tmp-abc-123"))->ToString());  // normalized
  EXPECT_FALSE(std::filesystem::exists(root_ + "/n")) << "TempUri touches nothing";
  CreateOptions options;
  options.temp_nonce = "abc-123";
  auto out = ufs_->Create(Uri("/n/f.bin"), options);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)->temp_uri(), *temp);
  EXPECT_TRUE(std::filesystem::exists(root_ + "/n/.f.bin.cistern-tmp-abc-123"));
  auto twice = ufs_->Create(Uri("/n/f.bin"), options);
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kAlreadyExists) << twice.status();
  ASSERT_TRUE((*out)->Write("x").ok());
  ASSERT_TRUE((*out)->Close().ok());
  EXPECT_FALSE(std::filesystem::exists(root_ + "/n/.f.bin.cistern-tmp-abc-123"));
  EXPECT_TRUE(std::filesystem::exists(root_ + "/n/f.bin"));

  for (const char* bad : {"../../etc/x", "a/b", "dot.dot", "new\nline"}) {
    CreateOptions bad_options;
    bad_options.temp_nonce = bad;
    auto refused = ufs_->Create(Uri("/bad/f.bin"), bad_options);
    ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(refused.status().message().find("temporary file nonce"), absl::string_view::npos) << refused.status();
    EXPECT_EQ(ufs_->TempUri(Uri("/bad/f.bin"), bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(std::filesystem::exists(root_ + "/bad")) << "refused before the parents were made";
}

TEST_F(LocalUfsTest, UnsupportedSchemeIsAClearError) {
  auto ufs = CreateUnderFileSystem("gopher://host/x");
  ASSERT_FALSE(ufs.ok());
  EXPECT_NE(ufs.status().message().find("gopher"), absl::string_view::npos);
}

}  // namespace
}  // namespace cistern::ufs
