#include "worker/ufs_write_records.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "gtest/gtest.h"
#include "ufs/local_ufs.h"
#include "worker/worker_test_util.h"
#include "worker/ufs_fetcher.h"

namespace cistern::worker {
namespace {

namespace fs = std::filesystem;

// A file:// store whose Create, TempUri and GetStatus a test can intercept.
class HookedUfs : public ufs::UnderFileSystem {
 public:
  HookedUfs() : base_(ufs::NewLocalUnderFileSystem()) {}

  std::function<void(std::string_view uri, const ufs::CreateOptions&)> before_create;
  std::function<absl::StatusOr<std::string>(std::string_view uri, std::string_view nonce)> temp_uri;
  std::function<absl::StatusOr<ufs::UfsStatus>(std::string_view uri)> get_status;

  ufs::Capabilities capabilities() const override { return base_->capabilities(); }
  absl::StatusOr<std::unique_ptr<ufs::RandomAccessReader>> Open(std::string_view path) override { return base_->Open(path); }
  absl::StatusOr<std::unique_ptr<ufs::UfsOutputStream>> Create(std::string_view path,
                                                               const ufs::CreateOptions& options) override {
    if (before_create) before_create(path, options);
    return base_->Create(path, options);
  }
  absl::StatusOr<std::string> TempUri(std::string_view path, std::string_view nonce) const override {
    if (temp_uri) return temp_uri(path, nonce);
    return base_->TempUri(path, nonce);
  }
  absl::StatusOr<ufs::UfsStatus> GetStatus(std::string_view path) override {
    if (get_status) return get_status(path);
    return base_->GetStatus(path);
  }
  absl::Status ListDirectory(std::string_view path,
                             const std::function<absl::Status(const ufs::UfsStatus&)>& visit) override {
    return base_->ListDirectory(path, visit);
  }
  absl::Status Mkdirs(std::string_view path, uint32_t mode) override { return base_->Mkdirs(path, mode); }
  absl::Status Delete(std::string_view path, bool recursive) override { return base_->Delete(path, recursive); }
  absl::Status Rename(std::string_view src, std::string_view dst) override { return base_->Rename(src, dst); }

 private:
  const std::unique_ptr<ufs::UnderFileSystem> base_;
};

class UfsWriteRecordsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "ufs_write_records_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    fs::create_directories(root_ + "/ufs/d");
    auto records = UfsWriteRecords::Open(root_ + "/records");
    ASSERT_TRUE(records.ok()) << records.status();
    records_ = *std::move(records);
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string Uri(const std::string& name) { return "file://" + root_ + "/ufs/d/" + name; }

  // What the CleanUp of a new run over the same records directory (a restarted worker) does.
  UfsWriteRecords::CleanUpResult CleanUpInANewRun() {
    auto next = UfsWriteRecords::Open(root_ + "/records");
    EXPECT_TRUE(next.ok()) << next.status();
    return next.ok() ? (*next)->CleanUp(&ufs_) : UfsWriteRecords::CleanUpResult{};
  }

  // The temporary files in the under-store directory d/.
  std::vector<std::string> TempFiles() {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(root_ + "/ufs/d")) {
      const std::string name = entry.path().filename().string();
      if (name.find(ufs::kTempNameMarker) != std::string::npos) names.push_back(name);
    }
    return names;
  }
  // The temporary file URIs the records name.
  std::vector<std::string> Recorded() { return test_util::RecordedTempUris(root_ + "/records"); }

  std::unique_ptr<ufs::UfsOutputStream> Create(const std::string& name, ufs::UnderFileSystem* store = nullptr) {
    if (store == nullptr) {
      auto found = ufs_.Get("file://" + root_ + "/ufs");
      EXPECT_TRUE(found.ok()) << found.status();
      store = *found;
    }
    auto out = records_->Create(store, 7, Uri(name), ufs::CreateOptions{});
    EXPECT_TRUE(out.ok()) << out.status();
    if (!out.ok()) return nullptr;
    EXPECT_TRUE((*out)->Write("some bytes").ok());
    return *std::move(out);
  }

  // Runs `body` in a child process that then dies by SIGKILL (body may also kill it earlier):
  // no destructor of the child runs, as with kill -9.
  void RunAndKill(const std::function<void()>& body) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      body();
      ::raise(SIGKILL);
      ::_exit(3);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;
  }

  std::string root_;
  UfsRegistry ufs_;
  std::unique_ptr<UfsWriteRecords> records_;
};

// A write that ends (closed or aborted) leaves no record and no temporary file.
TEST_F(UfsWriteRecordsTest, EndedWritesLeaveNothing) {
  {
    std::unique_ptr<ufs::UfsOutputStream> closed = Create("closed.bin");
    ASSERT_NE(closed, nullptr);
    EXPECT_EQ(Recorded(), std::vector<std::string>{closed->temp_uri()});
    ASSERT_TRUE(closed->Close().ok());
  }
  {
    std::unique_ptr<ufs::UfsOutputStream> aborted = Create("aborted.bin");
    ASSERT_NE(aborted, nullptr);
    aborted->Abort();
  }
  { std::unique_ptr<ufs::UfsOutputStream> destroyed = Create("destroyed.bin"); }
  EXPECT_TRUE(Recorded().empty());
  EXPECT_TRUE(TempFiles().empty());
  EXPECT_TRUE(fs::exists(root_ + "/ufs/d/closed.bin"));
  EXPECT_FALSE(fs::exists(root_ + "/ufs/d/aborted.bin"));
}

// The record, synced, names the temporary file before the adapter is asked to create it, and
// the adapter writes exactly the file recorded (the nonce the records chose).
TEST_F(UfsWriteRecordsTest, RecordIsWrittenBeforeTheTemporaryFileExists) {
  HookedUfs store;
  int creates = 0;
  store.before_create = [&](std::string_view uri, const ufs::CreateOptions& options) {
    ++creates;
    EXPECT_FALSE(options.temp_nonce.empty());
    auto temp = store.TempUri(uri, options.temp_nonce);
    ASSERT_TRUE(temp.ok()) << temp.status();
    EXPECT_EQ(Recorded(), std::vector<std::string>{*temp});
    EXPECT_TRUE(TempFiles().empty()) << "the temporary file exists before Create";
  };
  std::unique_ptr<ufs::UfsOutputStream> out = Create("x.bin", &store);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(creates, 1);
  ASSERT_EQ(TempFiles().size(), 1u);
  EXPECT_EQ(Recorded(), std::vector<std::string>{out->temp_uri()});
  EXPECT_EQ(out->temp_uri(), Uri(TempFiles()[0]));
  ASSERT_TRUE(out->Close().ok());
  out.reset();
  EXPECT_TRUE(Recorded().empty());
}

// kill -9 between the record and the adapter's Create: the record names a file that never
// appeared, and the next run's CleanUp counts it gone and drops it.
TEST_F(UfsWriteRecordsTest, KilledBeforeTheTemporaryFileIsCreated) {
  HookedUfs store;
  store.before_create = [](std::string_view, const ufs::CreateOptions&) { ::raise(SIGKILL); };
  RunAndKill([&] { (void)records_->Create(&store, 7, Uri("early.bin"), ufs::CreateOptions{}); });
  EXPECT_TRUE(TempFiles().empty());
  ASSERT_EQ(Recorded().size(), 1u);
  EXPECT_NE(Recorded()[0].find(ufs::kTempNameMarker), std::string::npos) << Recorded()[0];

  const UfsWriteRecords::CleanUpResult result = CleanUpInANewRun();
  EXPECT_EQ(result.deleted, 0);
  EXPECT_EQ(result.gone, 1);
  EXPECT_EQ(result.kept, 0);
  EXPECT_TRUE(Recorded().empty());
}

// kill -9 mid-write: the record and the temporary file stay; the next run's CleanUp deletes
// both, and nothing else.
TEST_F(UfsWriteRecordsTest, KilledMidWriteCleanUpDeletesTheTemporaryFile) {
  std::unique_ptr<ufs::UfsOutputStream> closed = Create("closed.bin");
  ASSERT_NE(closed, nullptr);
  ASSERT_TRUE(closed->Close().ok());
  closed.reset();
  RunAndKill([&] {
    std::unique_ptr<ufs::UfsOutputStream> out = Create("killed.bin");
    if (out == nullptr) ::_exit(1);
    (void)out.release();  // still open when the process dies
  });
  ASSERT_EQ(TempFiles().size(), 1u);
  EXPECT_EQ(Recorded(), std::vector<std::string>{Uri(TempFiles()[0])});

  auto next = UfsWriteRecords::Open(root_ + "/records");
  ASSERT_TRUE(next.ok()) << next.status();
  const UfsWriteRecords::CleanUpResult result = (*next)->CleanUp(&ufs_);
  EXPECT_EQ(result.deleted, 1);
  EXPECT_EQ(result.gone, 0);
  EXPECT_EQ(result.kept, 0);
  EXPECT_TRUE(TempFiles().empty());
  EXPECT_TRUE(Recorded().empty());
  EXPECT_FALSE(fs::exists(root_ + "/ufs/d/killed.bin"));
  EXPECT_TRUE(fs::exists(root_ + "/ufs/d/closed.bin")) << "only temporary files are deleted";
  EXPECT_EQ((*next)->CleanUp(&ufs_).deleted, 0);
}

// A write whose record cannot be written is refused, and the store is not touched.
TEST_F(UfsWriteRecordsTest, WriteIsRefusedWhenItsRecordCannotBeWritten) {
  fs::remove_all(root_ + "/records");
  { std::ofstream(root_ + "/records") << "a file where the directory was"; }
  HookedUfs store;
  bool created = false;
  store.before_create = [&](std::string_view, const ufs::CreateOptions&) { created = true; };
  auto out = records_->Create(&store, 7, Uri("refused.bin"), ufs::CreateOptions{});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("record the under-store write"), std::string::npos) << out.status();
  EXPECT_FALSE(created);
  EXPECT_TRUE(TempFiles().empty());
}

// An adapter that would write another temporary file than it announced is an error, and
// leaves neither the file nor a record.
TEST_F(UfsWriteRecordsTest, AdapterThatIgnoresTheNonceIsRefused) {
  HookedUfs store;
  store.temp_uri = [&](std::string_view, std::string_view) -> absl::StatusOr<std::string> {
    return Uri(".elsewhere.cistern-tmp-1");
  };
  auto out = records_->Create(&store, 7, Uri("liar.bin"), ufs::CreateOptions{});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInternal) << out.status();
  EXPECT_TRUE(TempFiles().empty());
  EXPECT_TRUE(Recorded().empty());
}

// A store without temporary files (an object store) is not recorded.
TEST_F(UfsWriteRecordsTest, StoresWithoutTemporaryFilesAreNotRecorded) {
  HookedUfs store;
  store.temp_uri = [](std::string_view, std::string_view) -> absl::StatusOr<std::string> { return std::string(); };
  std::unique_ptr<ufs::UfsOutputStream> out = Create("plain.bin", &store);
  ASSERT_NE(out, nullptr);
  EXPECT_TRUE(Recorded().empty());
  ASSERT_TRUE(out->Close().ok());
}

// An aborted write whose temporary file cannot be seen to be gone keeps its record for the
// next start.
TEST_F(UfsWriteRecordsTest, AbortedWriteKeepsItsRecordUnlessTheFileIsSeenGone) {
  HookedUfs store;
  store.get_status = [](std::string_view uri) -> absl::StatusOr<ufs::UfsStatus> {
    return absl::UnavailableError(absl::StrCat("store down for ", std::string(uri)));
  };
  std::unique_ptr<ufs::UfsOutputStream> out = Create("unsure.bin", &store);
  ASSERT_NE(out, nullptr);
  const std::string temp = out->temp_uri();
  out->Abort();
  out.reset();
  EXPECT_TRUE(TempFiles().empty());
  EXPECT_EQ(Recorded(), std::vector<std::string>{temp});
  EXPECT_EQ(CleanUpInANewRun().gone, 1);
  EXPECT_TRUE(Recorded().empty());
}

// Records are never trusted to name anything but a temporary file: one naming a real file, or
// an unreadable or torn one, is dropped and nothing is deleted; a record whose file is gone
// counts so.
TEST_F(UfsWriteRecordsTest, CleanUpDeletesOnlyTemporaryFiles) {
  { std::ofstream(root_ + "/ufs/d/real.bin") << "data"; }
  { std::ofstream(root_ + "/ufs/d/.torn.bin.cistern-tmp-1") << "data"; }
  { std::ofstream(root_ + "/records/a.rec") << "1\nfile://" << root_ << "/ufs/d/real.bin\n"; }
  { std::ofstream(root_ + "/records/b.rec") << "not a number\nfile:///x/.y.cistern-tmp-1\n"; }
  { std::ofstream(root_ + "/records/c.rec") << "1\nfile://" << root_ << "/ufs/d/.gone.bin.cistern-tmp-00ff\n"; }
  { std::ofstream(root_ + "/records/d.rec") << "1\nfile://" << root_ << "/ufs/d/.torn.bin.cistern-tmp-1"; }
  { std::ofstream(root_ + "/records/stray.txt") << "?"; }
  const UfsWriteRecords::CleanUpResult result = records_->CleanUp(&ufs_);
  EXPECT_EQ(result.deleted, 0);
  EXPECT_EQ(result.gone, 1);
  EXPECT_EQ(result.kept, 0);
  EXPECT_TRUE(fs::exists(root_ + "/ufs/d/real.bin"));
  EXPECT_TRUE(fs::exists(root_ + "/ufs/d/.torn.bin.cistern-tmp-1")) << "a torn record names nothing";
  EXPECT_TRUE(Recorded().empty());
}

}  // namespace
}  // namespace cistern::worker
