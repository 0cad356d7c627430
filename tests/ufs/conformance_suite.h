// The UnderFileSystem conformance suite: one typed test suite that every adapter must pass.
// Instantiate it with an Env type per adapter:
//
//   struct MyEnv {
//     static void SetUpSuite();     // start the adapter's server, once per suite
//     static void TearDownSuite();  // stop it
//     static std::string SkipReason();  // non-empty: the suite is skipped (say why)
//     static absl::StatusOr<std::unique_ptr<ufs::UnderFileSystem>> Make();
//     static std::string NewRoot();  // a fresh, unused directory URI for one test
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(My, UfsConformanceTest, testing::Types<MyEnv>);
//
// An adapter that talks to a server also provides (all of them, see ServerEnv below):
//
//     static std::string OptionPrefix();  // "s3.", "azure.", ...: where the HTTP options live
//     static int ServerPort();            // the suite's server, for a fault proxy in front of it
//     // An adapter like Make()'s, but reaching the server at 127.0.0.1:port, plus `extra` options.
//     static absl::StatusOr<std::unique_ptr<ufs::UnderFileSystem>> MakeVia(int port, MountOptions extra);
//     static absl::StatusOr<std::unique_ptr<PrivateServer>> StartPrivateServer();  // one to kill
//     static int64_t PartSizeBytes();     // the part/block size Make() uses
// and may provide
//     static MountOptions WrongCredentialOptions();  // overrides that make the credentials wrong
//     static std::string MissingBucketUri();  // a directory in a bucket/container that does not exist
//
// The rules checked here are the UnderFileSystem contract (src/ufs/under_file_system.h) plus what
// object stores need to be usable as a mount: directories that survive their last file, names
// with characters that URL encoding gets wrong, listings longer than one page.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "testing/subprocess.h"
#include "tests/ufs/fault_proxy.h"
#include "tests/ufs/pattern.h"
#include "ufs/under_file_system.h"
#include "ufs/uri.h"

namespace cistern::ufs::conformance {

using MountOptions = std::map<std::string, std::string>;

// A server of the adapter's protocol that only one test uses, so that it can kill it.
class PrivateServer {
 public:
  virtual ~PrivateServer() = default;
  virtual int port() const = 0;
  virtual void Kill() = 0;
};

template <typename E>
concept ServerEnv = requires(int port, MountOptions extra) {
  { E::OptionPrefix() } -> std::convertible_to<std::string>;
  { E::ServerPort() } -> std::convertible_to<int>;
  E::MakeVia(port, extra);
  E::StartPrivateServer();
  { E::PartSizeBytes() } -> std::convertible_to<int64_t>;
};
template <typename E>
concept ChecksCredentials = requires { E::WrongCredentialOptions(); };
template <typename E>
concept HasBuckets = requires { { E::MissingBucketUri() } -> std::convertible_to<std::string>; };

template <typename Env>
class UfsConformanceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { Env::SetUpSuite(); }
  static void TearDownTestSuite() { Env::TearDownSuite(); }

  void SetUp() override {
    std::string why = Env::SkipReason();
    if (!why.empty()) GTEST_SKIP() << why;
    auto made = Env::Make();
    ASSERT_TRUE(made.ok()) << made.status();
    ufs_ = std::move(*made);
    root_ = Env::NewRoot();
    absl::Status mk = ufs_->Mkdirs(root_, 0755);
    ASSERT_TRUE(mk.ok()) << mk;
  }

  std::string U(std::string_view rel) const { return root_ + "/" + std::string(rel); }
  bool object_store() const { return ufs_->capabilities().object_store; }

  absl::StatusOr<UfsStatus> Put(const std::string& uri, std::string_view data, bool overwrite = false) {
    return PutWith(*ufs_, uri, data, overwrite);
  }

  static absl::StatusOr<UfsStatus> PutWith(UnderFileSystem& ufs, const std::string& uri, std::string_view data,
                                           bool overwrite = false) {
    CreateOptions options;
    options.overwrite = overwrite;
    auto out = ufs.Create(uri, options);
    if (!out.ok()) return out.status();
    // Several writes of uneven sizes, as the worker streams chunks.
    size_t pos = 0, step = 1;
    while (pos < data.size()) {
      size_t n = std::min(step, data.size() - pos);
      absl::Status w = (*out)->Write(data.substr(pos, n));
      if (!w.ok()) return w;
      pos += n;
      step = step * 7 + 3;
    }
    return (*out)->Close();
  }

  absl::StatusOr<std::string> ReadAll(const std::string& uri) { return ReadAllWith(*ufs_, uri); }

  static absl::StatusOr<std::string> ReadAllWith(UnderFileSystem& ufs, const std::string& uri) {
    auto st = ufs.GetStatus(uri);
    if (!st.ok()) return st.status();
    auto reader = ufs.Open(uri);
    if (!reader.ok()) return reader.status();
    std::string out(static_cast<size_t>(st->length) + 10, '\0');
    int64_t done = 0;
    while (true) {
      auto n = (*reader)->ReadAt(done, static_cast<int64_t>(out.size()) - done, out.data() + done);
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      done += *n;
    }
    out.resize(static_cast<size_t>(done));
    return out;
  }

  // Names of the direct children of `uri`; directories end in '/'.
  std::optional<std::multiset<std::string>> List(const std::string& uri) {
    std::multiset<std::string> names;
    absl::Status s = ufs_->ListDirectory(uri, [&](const UfsStatus& child) {
      names.insert(child.name + (child.is_directory ? "/" : ""));
      return absl::OkStatus();
    });
    // Errors become an entry, so a comparison fails with the reason instead of crashing the suite.
    if (!s.ok()) return std::multiset<std::string>{"<error: " + s.ToString() + ">"};
    return names;
  }

  absl::StatusCode Code(const std::string& uri) { return ufs_->GetStatus(uri).status().code(); }

  std::unique_ptr<UnderFileSystem> ufs_;
  std::string root_;
};

TYPED_TEST_SUITE_P(UfsConformanceTest);

using Names = std::multiset<std::string>;

TYPED_TEST_P(UfsConformanceTest, CreateReadStatus) {
  auto closed = this->Put(this->U("f.txt"), "hello world");
  ASSERT_TRUE(closed.ok()) << closed.status();
  EXPECT_EQ(closed->length, 11);
  EXPECT_FALSE(closed->is_directory);
  EXPECT_EQ(closed->name, "f.txt");
  EXPECT_GT(closed->mtime_ms, 1'600'000'000'000);
  auto st = this->ufs_->GetStatus(this->U("f.txt"));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->name, "f.txt");
  EXPECT_EQ(st->length, 11);
  EXPECT_FALSE(st->is_directory);
  // The fingerprint Close reports is the one GetStatus and listings report.
  EXPECT_EQ(st->etag, closed->etag);
  EXPECT_EQ(st->mtime_ms, closed->mtime_ms);
  if (this->object_store()) {
    EXPECT_FALSE(st->etag.empty());
  }
  bool listed = false;
  ASSERT_TRUE(this->ufs_->ListDirectory(this->root_, [&](const UfsStatus& child) {
    if (child.name == "f.txt") {
      listed = true;
      EXPECT_EQ(child.length, 11);
      EXPECT_EQ(child.etag, st->etag);
      EXPECT_NEAR(static_cast<double>(child.mtime_ms), static_cast<double>(st->mtime_ms), 1000.0);
    }
    return absl::OkStatus();
  }).ok());
  EXPECT_TRUE(listed);
  auto data = this->ReadAll(this->U("f.txt"));
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(*data, "hello world");
}

TYPED_TEST_P(UfsConformanceTest, FingerprintChangesOnOverwrite) {
  auto first = this->Put(this->U("v"), "version-one");
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = this->Put(this->U("v"), "version-two", /*overwrite=*/true);
  ASSERT_TRUE(second.ok()) << second.status();
  auto st = this->ufs_->GetStatus(this->U("v"));
  ASSERT_TRUE(st.ok());
  if (!first->etag.empty()) {
    EXPECT_NE(first->etag, st->etag);
  } else {
    EXPECT_GE(st->mtime_ms, first->mtime_ms);
  }
  EXPECT_EQ(*this->ReadAll(this->U("v")), "version-two");
}

TYPED_TEST_P(UfsConformanceTest, RangedReadsAndReadsPastEof) {
  const std::string data = Pattern(300 * 1024 + 17, 7);
  ASSERT_TRUE(this->Put(this->U("big.bin"), data).ok());
  auto reader = this->ufs_->Open(this->U("big.bin"));
  ASSERT_TRUE(reader.ok()) << reader.status();
  const int64_t size = static_cast<int64_t>(data.size());
  std::string buf(size + 100, '\0');
  struct Case {
    int64_t offset, n, expect;
  };
  for (Case c : std::vector<Case>{{0, 1, 1},
                                  {0, size, size},
                                  {1, 10, 10},
                                  {4096, 65536, 65536},
                                  {size - 5, 5, 5},
                                  {size - 5, 50, 5},   // crosses the end: short read
                                  {size, 10, 0},       // at the end
                                  {size + 1000, 10, 0},  // beyond the end
                                  {12345, 0, 0}}) {
    auto n = (*reader)->ReadAt(c.offset, c.n, buf.data());
    ASSERT_TRUE(n.ok()) << "offset " << c.offset << ": " << n.status();
    ASSERT_EQ(*n, c.expect) << "offset " << c.offset << " n " << c.n;
    if (*n > 0) {
      EXPECT_EQ(std::string_view(buf.data(), *n), std::string_view(data).substr(c.offset, *n)) << "offset " << c.offset;
    }
  }
  // Readers are usable from several threads at once.
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::string local(1000, '\0');
      for (int i = 0; i < 5; ++i) {
        int64_t off = (t * 50'000 + i * 7'919) % (size - 1000);
        auto n = (*reader)->ReadAt(off, 1000, local.data());
        if (!n.ok() || *n != 1000 || local != data.substr(off, 1000)) bad++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TYPED_TEST_P(UfsConformanceTest, EmptyFile) {
  auto closed = this->Put(this->U("empty"), "");
  ASSERT_TRUE(closed.ok()) << closed.status();
  EXPECT_EQ(closed->length, 0);
  auto st = this->ufs_->GetStatus(this->U("empty"));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->length, 0);
  EXPECT_FALSE(st->is_directory);
  auto reader = this->ufs_->Open(this->U("empty"));
  ASSERT_TRUE(reader.ok()) << reader.status();
  char c;
  auto n = (*reader)->ReadAt(0, 1, &c);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0);
  EXPECT_EQ(*this->List(this->root_), Names({"empty"}));
}

TYPED_TEST_P(UfsConformanceTest, OverwriteOrNot) {
  ASSERT_TRUE(this->Put(this->U("x"), "first").ok());
  auto refused = this->Put(this->U("x"), "second");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kAlreadyExists) << refused.status();
  EXPECT_EQ(*this->ReadAll(this->U("x")), "first");
  auto replaced = this->Put(this->U("x"), "third!", /*overwrite=*/true);
  ASSERT_TRUE(replaced.ok()) << replaced.status();
  EXPECT_EQ(replaced->length, 6);
  EXPECT_EQ(*this->ReadAll(this->U("x")), "third!");
  // Overwrite of a missing file simply creates it.
  ASSERT_TRUE(this->Put(this->U("y"), "new", /*overwrite=*/true).ok());
  EXPECT_EQ(*this->ReadAll(this->U("y")), "new");
}

TYPED_TEST_P(UfsConformanceTest, InvisibleUntilCloseAndAbortLeavesNothing) {
  {
    auto out = this->ufs_->Create(this->U("d/pending"), CreateOptions{});
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_TRUE((*out)->Write("some data").ok());
    EXPECT_EQ(this->Code(this->U("d/pending")), absl::StatusCode::kNotFound);
    ASSERT_TRUE((*out)->Close().ok());
    EXPECT_EQ(*this->ReadAll(this->U("d/pending")), "some data");
  }
  {
    auto out = this->ufs_->Create(this->U("aborted"), CreateOptions{});
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_TRUE((*out)->Write(Pattern(10000, 1)).ok());
    (*out)->Abort();
  }
  {
    auto out = this->ufs_->Create(this->U("dropped"), CreateOptions{});
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_TRUE((*out)->Write("never closed").ok());
  }  // destroyed without Close: aborted
  EXPECT_EQ(this->Code(this->U("aborted")), absl::StatusCode::kNotFound);
  EXPECT_EQ(this->Code(this->U("dropped")), absl::StatusCode::kNotFound);
  EXPECT_EQ(*this->List(this->root_), Names({"d/"}));
  // An aborted overwrite keeps the old content.
  {
    CreateOptions overwrite;
    overwrite.overwrite = true;
    auto out = this->ufs_->Create(this->U("d/pending"), overwrite);
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_TRUE((*out)->Write("replacement").ok());
    (*out)->Abort();
  }
  EXPECT_EQ(*this->ReadAll(this->U("d/pending")), "some data");
}

TYPED_TEST_P(UfsConformanceTest, ListingOfMoreThanOnePage) {
  constexpr int kFiles = 1100;  // past S3's 1,000-key page
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kFiles; i += 4) {
        if (!this->Put(this->U(absl::StrCat("many/f", i)), absl::StrCat(i)).ok()) failures++;
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);
  ASSERT_TRUE(this->ufs_->Mkdirs(this->U("many/sub"), 0755).ok());
  std::map<std::string, int64_t> seen;
  int dirs = 0;
  absl::Status s = this->ufs_->ListDirectory(this->U("many"), [&](const UfsStatus& child) {
    if (child.is_directory) {
      dirs++;
      EXPECT_EQ(child.name, "sub");
    } else {
      EXPECT_TRUE(seen.emplace(child.name, child.length).second) << "listed twice: " << child.name;
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(dirs, 1);
  ASSERT_EQ(seen.size(), static_cast<size_t>(kFiles));
  for (int i = 0; i < kFiles; ++i) {
    auto it = seen.find(absl::StrCat("f", i));
    ASSERT_NE(it, seen.end()) << "f" << i;
    EXPECT_EQ(it->second, static_cast<int64_t>(absl::StrCat(i).size()));
  }
  // A visitor error stops the listing and is returned.
  int visited = 0;
  absl::Status stopped = this->ufs_->ListDirectory(this->U("many"), [&](const UfsStatus&) {
    return ++visited == 3 ? absl::CancelledError("enough") : absl::OkStatus();
  });
  EXPECT_EQ(stopped.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(visited, 3);
}

TYPED_TEST_P(UfsConformanceTest, NamesThatNeedEncoding) {
  const std::vector<std::string> names = {"with space",   "unicode-\xc3\xa9\xe6\x97\xa5\xe6\x9c\xac", "a+b",
                                          "100%",         "50%25",  "hash#tag", "what?",  "a&b=c",
                                          "tilde~x",      "quote'd", "semi;colon", "star*", "plus+ space",
                                          "(paren)",      "comma,", "at@sign", "dollar$", "caret^"};
  std::vector<std::string> bodies;
  for (size_t i = 0; i < names.size(); ++i) {
    bodies.push_back(absl::StrCat("body of ", names[i]));
    auto put = this->Put(this->U("names/" + names[i]), bodies.back());
    ASSERT_TRUE(put.ok()) << names[i] << ": " << put.status();
    EXPECT_EQ(put->name, names[i]);
  }
  ASSERT_TRUE(this->ufs_->Mkdirs(this->U("names/dir with space+%#?"), 0755).ok());
  ASSERT_TRUE(this->Put(this->U("names/dir with space+%#?/inner file"), "inner").ok());
  Names expected(names.begin(), names.end());
  expected.insert("dir with space+%#?/");
  EXPECT_EQ(*this->List(this->U("names")), expected);
  for (size_t i = 0; i < names.size(); ++i) {
    auto st = this->ufs_->GetStatus(this->U("names/" + names[i]));
    ASSERT_TRUE(st.ok()) << names[i] << ": " << st.status();
    EXPECT_EQ(st->name, names[i]);
    EXPECT_EQ(*this->ReadAll(this->U("names/" + names[i])), bodies[i]) << names[i];
  }
  EXPECT_EQ(*this->List(this->U("names/dir with space+%#?")), Names({"inner file"}));
  absl::Status renamed = this->ufs_->Rename(this->U("names/a+b"), this->U("names/c+d %"));
  ASSERT_TRUE(renamed.ok()) << renamed;
  EXPECT_EQ(*this->ReadAll(this->U("names/c+d %")), "body of a+b");
  ASSERT_TRUE(this->ufs_->Delete(this->U("names/dir with space+%#?"), true).ok());
  EXPECT_EQ(this->Code(this->U("names/dir with space+%#?/inner file")), absl::StatusCode::kNotFound);
}

TYPED_TEST_P(UfsConformanceTest, Directories) {
  ASSERT_TRUE(this->ufs_->Mkdirs(this->U("a/b/c"), 0755).ok());
  ASSERT_TRUE(this->ufs_->Mkdirs(this->U("a/b/c"), 0755).ok()) << "Mkdirs of an existing directory is OK";
  for (const char* dir : {"a", "a/b", "a/b/c"}) {
    auto st = this->ufs_->GetStatus(this->U(dir));
    ASSERT_TRUE(st.ok()) << dir << ": " << st.status();
    EXPECT_TRUE(st->is_directory) << dir;
  }
  EXPECT_EQ(this->ufs_->GetStatus(this->U("a/b"))->name, "b");
  EXPECT_EQ(*this->List(this->U("a")), Names({"b/"}));
  EXPECT_EQ(*this->List(this->U("a/b/c")), Names());
  // Creating a file creates its parents.
  ASSERT_TRUE(this->Put(this->U("p/q/r/file"), "x").ok());
  EXPECT_TRUE(this->ufs_->GetStatus(this->U("p/q"))->is_directory);
  EXPECT_EQ(*this->List(this->U("p")), Names({"q/"}));
  // A directory stays when its last file goes (object stores keep a marker).
  ASSERT_TRUE(this->ufs_->Delete(this->U("p/q/r/file"), false).ok());
  auto r = this->ufs_->GetStatus(this->U("p/q/r"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->is_directory);
  EXPECT_EQ(*this->List(this->U("p/q/r")), Names());
  // Mkdirs over a file fails.
  ASSERT_TRUE(this->Put(this->U("plain"), "x").ok());
  EXPECT_EQ(this->ufs_->Mkdirs(this->U("plain"), 0755).code(), absl::StatusCode::kAlreadyExists);
  // The root of the test is a directory; so is the store's root.
  EXPECT_TRUE(this->ufs_->GetStatus(this->root_)->is_directory);
}

TYPED_TEST_P(UfsConformanceTest, DeleteFilesAndTrees) {
  ASSERT_TRUE(this->Put(this->U("t/one"), "1").ok());
  ASSERT_TRUE(this->Put(this->U("t/sub/two"), "2").ok());
  ASSERT_TRUE(this->Put(this->U("t/sub/deeper/three"), "3").ok());
  ASSERT_TRUE(this->Put(this->U("t-sibling"), "keep").ok());  // shares the prefix "t"
  ASSERT_TRUE(this->ufs_->Mkdirs(this->U("t/empty"), 0755).ok());

  ASSERT_TRUE(this->ufs_->Delete(this->U("t/one"), false).ok());
  EXPECT_EQ(this->Code(this->U("t/one")), absl::StatusCode::kNotFound);
  EXPECT_EQ(this->ufs_->Delete(this->U("t/one"), false).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(this->ufs_->Delete(this->U("t/empty"), false).ok());
  EXPECT_EQ(this->Code(this->U("t/empty")), absl::StatusCode::kNotFound);

  EXPECT_EQ(this->ufs_->Delete(this->U("t"), false).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*this->ReadAll(this->U("t/sub/two")), "2") << "a refused delete removes nothing";
  ASSERT_TRUE(this->ufs_->Delete(this->U("t"), true).ok());
  for (const char* gone : {"t", "t/sub", "t/sub/two", "t/sub/deeper/three"}) {
    EXPECT_EQ(this->Code(this->U(gone)), absl::StatusCode::kNotFound) << gone;
  }
  EXPECT_EQ(*this->ReadAll(this->U("t-sibling")), "keep");
  EXPECT_EQ(*this->List(this->root_), Names({"t-sibling"}));
}

TYPED_TEST_P(UfsConformanceTest, RenameFilesAndDirectories) {
  ASSERT_TRUE(this->Put(this->U("src.txt"), "payload").ok());
  ASSERT_TRUE(this->ufs_->Rename(this->U("src.txt"), this->U("moved/dst.txt")).ok());
  EXPECT_EQ(this->Code(this->U("src.txt")), absl::StatusCode::kNotFound);
  EXPECT_EQ(*this->ReadAll(this->U("moved/dst.txt")), "payload");

  ASSERT_TRUE(this->Put(this->U("other"), "other").ok());
  EXPECT_EQ(this->ufs_->Rename(this->U("other"), this->U("moved/dst.txt")).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(*this->ReadAll(this->U("other")), "other");
  EXPECT_EQ(this->ufs_->Rename(this->U("missing"), this->U("whatever")).code(), absl::StatusCode::kNotFound);

  ASSERT_TRUE(this->Put(this->U("dir/a"), "A").ok());
  ASSERT_TRUE(this->Put(this->U("dir/sub/b"), "B").ok());
  ASSERT_TRUE(this->ufs_->Mkdirs(this->U("dir/emptysub"), 0755).ok());
  ASSERT_TRUE(this->ufs_->Rename(this->U("dir"), this->U("renamed")).ok());
  EXPECT_EQ(this->Code(this->U("dir")), absl::StatusCode::kNotFound);
  EXPECT_EQ(this->Code(this->U("dir/a")), absl::StatusCode::kNotFound);
  EXPECT_EQ(*this->ReadAll(this->U("renamed/a")), "A");
  EXPECT_EQ(*this->ReadAll(this->U("renamed/sub/b")), "B");
  EXPECT_TRUE(this->ufs_->GetStatus(this->U("renamed"))->is_directory);
  EXPECT_EQ(*this->List(this->U("renamed")), Names({"a", "sub/", "emptysub/"}));
  EXPECT_EQ(*this->List(this->root_), Names({"moved/", "other", "renamed/"}));
}

TYPED_TEST_P(UfsConformanceTest, MissingPathsAreNotFound) {
  const std::string missing = this->U("no/such/thing");
  EXPECT_EQ(this->ufs_->GetStatus(missing).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(this->ufs_->Open(missing).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(this->ufs_->ListDirectory(missing, [](const UfsStatus&) { return absl::OkStatus(); }).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(this->ufs_->Delete(missing, true).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(this->ufs_->Rename(missing, this->U("elsewhere")).code(), absl::StatusCode::kNotFound);
  auto st = this->ufs_->GetStatus(missing);
  EXPECT_NE(st.status().message().find("no/such/thing"), std::string::npos) << st.status();
  // A directory is not a readable file.
  ASSERT_TRUE(this->ufs_->Mkdirs(this->U("adir"), 0755).ok());
  EXPECT_FALSE(this->ufs_->Open(this->U("adir")).ok());
}


// Files of exactly one, two and several parts, and one byte short of a part: part boundaries are
// where multipart uploads (S3), staged blocks (Azure), resumable chunks (GCS) lose or repeat bytes.
TYPED_TEST_P(UfsConformanceTest, MultipartFiles) {
  int64_t part = 64 * 1024;
  if constexpr (ServerEnv<TypeParam>) part = TypeParam::PartSizeBytes();
  for (int64_t size : {part - 1, part, part + 1, 2 * part, 3 * part + 17}) {
    const std::string data = Pattern(size, static_cast<uint32_t>(size));
    const std::string uri = this->U(absl::StrCat("parts/", size));
    auto closed = this->Put(uri, data);
    ASSERT_TRUE(closed.ok()) << size << ": " << closed.status();
    EXPECT_EQ(closed->length, size);
    auto back = this->ReadAll(uri);
    ASSERT_TRUE(back.ok()) << size << ": " << back.status();
    EXPECT_EQ(back->size(), data.size()) << size;
    EXPECT_TRUE(*back == data) << "content differs, size " << size;
  }
  // A multipart overwrite replaces the whole file.
  const std::string small = "short now";
  ASSERT_TRUE(this->Put(this->U(absl::StrCat("parts/", 2 * part)), small, /*overwrite=*/true).ok());
  EXPECT_EQ(*this->ReadAll(this->U(absl::StrCat("parts/", 2 * part))), small);
}

TYPED_TEST_P(UfsConformanceTest, WrongCredentialsArePermissionDenied) {
  if constexpr (!ServerEnv<TypeParam> || !ChecksCredentials<TypeParam>) {
    GTEST_SKIP() << "this store or its test server checks no credentials";
  } else {
    ASSERT_TRUE(this->Put(this->U("secret"), "data").ok());
    ::cistern::ufs::testing::FaultProxy proxy(TypeParam::ServerPort());
    ASSERT_TRUE(proxy.Start().ok());
    auto bad = TypeParam::MakeVia(proxy.port(), TypeParam::WrongCredentialOptions());
    ASSERT_TRUE(bad.ok()) << bad.status();
    auto expect_denied = [&](const absl::Status& s, const char* what) {
      EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << what << ": " << s;
    };
    int before = proxy.requests();
    expect_denied((*bad)->GetStatus(this->U("secret")).status(), "GetStatus");
    // Not retried: a wrong key fails at once instead of hanging in backoff.
    EXPECT_LE(proxy.requests() - before, 2);
    expect_denied((*bad)->Open(this->U("secret")).status(), "Open");
    expect_denied((*bad)->ListDirectory(this->root_, [](const UfsStatus&) { return absl::OkStatus(); }), "List");
    auto put = this->PutWith(**bad, this->U("intruder"), "x");
    expect_denied(put.status(), "Create/Write/Close");
    EXPECT_EQ(this->Code(this->U("intruder")), absl::StatusCode::kNotFound);
    expect_denied((*bad)->Delete(this->U("secret"), false), "Delete");
    EXPECT_EQ(*this->ReadAll(this->U("secret")), "data");
  }
}

TYPED_TEST_P(UfsConformanceTest, MissingBucketIsNotFound) {
  if constexpr (!HasBuckets<TypeParam>) {
    GTEST_SKIP() << "this store has no buckets or containers";
  } else {
    const std::string dir = TypeParam::MissingBucketUri();
    EXPECT_EQ(this->ufs_->GetStatus(dir).status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(this->ufs_->GetStatus(dir + "/file").status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(this->ufs_->Open(dir + "/file").status().code(), absl::StatusCode::kNotFound);
    absl::Status listed = this->ufs_->ListDirectory(dir, [](const UfsStatus&) { return absl::OkStatus(); });
    EXPECT_EQ(listed.code(), absl::StatusCode::kNotFound) << listed;
    auto put = this->Put(dir + "/file", "x");
    EXPECT_EQ(put.status().code(), absl::StatusCode::kNotFound) << put.status();
    EXPECT_EQ(this->ufs_->Mkdirs(dir + "/sub", 0755).code(), absl::StatusCode::kNotFound);
  }
}

TYPED_TEST_P(UfsConformanceTest, InjectedErrorsAreRetried) {
  if constexpr (!ServerEnv<TypeParam>) {
    GTEST_SKIP() << "no server to inject faults in front of";
  } else {
    ::cistern::ufs::testing::FaultProxy proxy(TypeParam::ServerPort());
    ASSERT_TRUE(proxy.Start().ok());
    const std::string p = TypeParam::OptionPrefix();
    auto ufs = TypeParam::MakeVia(proxy.port(), {{p + "max_attempts", "5"}});
    ASSERT_TRUE(ufs.ok()) << ufs.status();
    const std::string data = Pattern(3 * TypeParam::PartSizeBytes() + 5, 3);
    ASSERT_TRUE(this->PutWith(**ufs, this->U("obj"), data).ok());
    struct Fault {
      int status;
      const char* code;
    };
    for (Fault f : {Fault{503, "SlowDown"}, Fault{429, "TooManyRequests"}, Fault{500, "InternalError"},
                    Fault{503, "ServerBusy"}}) {
      proxy.FailNext(3, f.status, f.code);
      auto st = (*ufs)->GetStatus(this->U("obj"));
      ASSERT_TRUE(st.ok()) << f.code << ": " << st.status();
      EXPECT_EQ(st->length, static_cast<int64_t>(data.size()));
      proxy.FailNext(2, f.status, f.code);
      auto back = this->ReadAllWith(**ufs, this->U("obj"));
      ASSERT_TRUE(back.ok()) << f.code << ": " << back.status();
      EXPECT_TRUE(*back == data) << f.code;
      proxy.FailNext(2, f.status, f.code);
      absl::Status listed = (*ufs)->ListDirectory(this->root_, [](const UfsStatus&) { return absl::OkStatus(); });
      EXPECT_TRUE(listed.ok()) << f.code << ": " << listed;
    }
    // Uploads survive faults between their parts.
    const std::string second = Pattern(2 * TypeParam::PartSizeBytes() + 9, 4);
    {
      CreateOptions options;
      auto out = (*ufs)->Create(this->U("obj2"), options);
      ASSERT_TRUE(out.ok()) << out.status();
      for (size_t pos = 0; pos < second.size(); pos += 10'000) {
        proxy.FailNext(1, 503, "SlowDown");
        ASSERT_TRUE((*out)->Write(std::string_view(second).substr(pos, 10'000)).ok());
      }
      proxy.FailNext(2, 503, "SlowDown");
      auto closed = (*out)->Close();
      ASSERT_TRUE(closed.ok()) << closed.status();
    }
    proxy.FailNext(0);
    EXPECT_TRUE(*this->ReadAll(this->U("obj2")) == second);
    // Retries are bounded: a store that keeps failing is UNAVAILABLE, naming the HTTP status.
    proxy.FailNext(1000, 503, "SlowDown");
    const int before = proxy.requests();
    auto failed = (*ufs)->GetStatus(this->U("obj"));
    EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable) << failed.status();
    EXPECT_NE(failed.status().message().find("503"), absl::string_view::npos) << failed.status();
    EXPECT_EQ(proxy.requests() - before, 5);
    proxy.FailNext(0);
  }
}

TYPED_TEST_P(UfsConformanceTest, StalledServerTimesOutAndIsRetried) {
  if constexpr (!ServerEnv<TypeParam>) {
    GTEST_SKIP() << "no server to stall";
  } else {
    ASSERT_TRUE(this->Put(this->U("slow"), "patience").ok());
    ::cistern::ufs::testing::FaultProxy proxy(TypeParam::ServerPort());
    ASSERT_TRUE(proxy.Start().ok());
    const std::string p = TypeParam::OptionPrefix();
    auto ufs = TypeParam::MakeVia(proxy.port(), {{p + "stall_timeout", "1s"}, {p + "max_attempts", "3"}});
    ASSERT_TRUE(ufs.ok()) << ufs.status();
    proxy.StallNext(1);  // the first attempt hangs; the second one answers
    auto st = (*ufs)->GetStatus(this->U("slow"));
    ASSERT_TRUE(st.ok()) << st.status();
    EXPECT_EQ(st->length, 8);
    proxy.StallNext(1);
    auto back = this->ReadAllWith(**ufs, this->U("slow"));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, "patience");
    // A server that never answers is an error after the bounded attempts, not a hang.
    proxy.StallNext(1000);
    auto hung = (*ufs)->GetStatus(this->U("slow"));
    EXPECT_TRUE(absl::IsDeadlineExceeded(hung.status()) || absl::IsUnavailable(hung.status())) << hung.status();
  }
}

TYPED_TEST_P(UfsConformanceTest, ServerKilledMidTransfer) {
  if constexpr (!ServerEnv<TypeParam>) {
    GTEST_SKIP() << "no server to kill";
  } else {
    auto server = TypeParam::StartPrivateServer();
    ASSERT_TRUE(server.ok()) << server.status();
    ::cistern::ufs::testing::FaultProxy proxy((*server)->port());
    ASSERT_TRUE(proxy.Start().ok());
    const std::string p = TypeParam::OptionPrefix();
    auto made = TypeParam::MakeVia(proxy.port(), {{p + "max_attempts", "3"}, {p + "connect_timeout", "1s"},
                                                  {p + "stall_timeout", "2s"}});
    ASSERT_TRUE(made.ok()) << made.status();
    UnderFileSystem& ufs = **made;
    ASSERT_TRUE(ufs.Mkdirs(this->root_, 0755).ok());
    const int64_t part = TypeParam::PartSizeBytes();
    const std::string data = Pattern(4 * part, 9);
    ASSERT_TRUE(this->PutWith(ufs, this->U("victim"), data).ok());
    auto reader = ufs.Open(this->U("victim"));
    ASSERT_TRUE(reader.ok()) << reader.status();
    auto out = ufs.Create(this->U("half-written"), CreateOptions{});
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_TRUE((*out)->Write(Pattern(part + 10, 1)).ok());  // one part is up
    // The server dies while a read is in flight: the response is cut mid-body, and the retries
    // find nothing listening.
    proxy.CutNextResponseAfter(part / 2);
    (*server)->Kill();
    std::string buf(data.size(), '\0');
    auto n = (*reader)->ReadAt(0, static_cast<int64_t>(data.size()), buf.data());
    EXPECT_EQ(n.status().code(), absl::StatusCode::kUnavailable) << n.status();
    absl::Status more = (*out)->Write(Pattern(part, 2));
    absl::Status closed = more.ok() ? (*out)->Close().status() : more;
    EXPECT_TRUE(absl::IsUnavailable(closed) || absl::IsDeadlineExceeded(closed)) << closed;
    auto st = ufs.GetStatus(this->U("victim"));
    EXPECT_EQ(st.status().code(), absl::StatusCode::kUnavailable) << st.status();
  }
}

// A caller can name the temporary file a write uses (CreateOptions::temp_nonce) and learn the
// name before the file exists (TempUri), so that it can record it first
// (worker/ufs_write_records.h). Bad nonces are refused before anything is created.
TYPED_TEST_P(UfsConformanceTest, TemporaryFileNamedByTheCaller) {
  const std::string target = this->U("t/chosen.bin");
  const std::string nonce = "0123abcdef-7_x";
  auto temp = this->ufs_->TempUri(target, nonce);
  ASSERT_TRUE(temp.ok()) << temp.status();
  CreateOptions options;
  options.temp_nonce = nonce;
  for (const std::string& bad : {std::string(), std::string("a/b"), std::string(".."), std::string("sp ace"),
                                std::string("nul\0x", 5), std::string(65, 'a')}) {
    auto refused = this->ufs_->TempUri(target, bad);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << "'" << bad << "': " << refused.status();
    if (bad.empty() || temp->empty()) continue;  // empty: the adapter picks; no temporary file: ignored
    CreateOptions bad_options;
    bad_options.temp_nonce = bad;
    auto out = this->ufs_->Create(target, bad_options);
    ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << "'" << bad << "': " << out.status();
    EXPECT_NE(out.status().message().find("nonce"), std::string::npos) << out.status();
  }
  EXPECT_EQ(this->Code(target), absl::StatusCode::kNotFound);
  if (temp->empty()) {
    // No temporary file (an object store's upload): the nonce changes nothing.
    ASSERT_TRUE(this->ufs_->Create(target, options).ok());
    return;
  }
  // (Compared normalized: a test root may have "//" in it.)
  auto expected = ParseUri(this->U(absl::StrCat("t/.chosen.bin", std::string(kTempNameMarker), nonce)));
  ASSERT_TRUE(expected.ok()) << expected.status();
  EXPECT_EQ(*temp, expected->ToString());
  EXPECT_EQ(this->Code(*temp), absl::StatusCode::kNotFound) << "TempUri creates nothing";
  auto out = this->ufs_->Create(target, options);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)->temp_uri(), *temp);
  // Past one WebHDFS chunk, so that its temporary file exists by now.
  const std::string data = Pattern(100 * 1024, 5);
  ASSERT_TRUE((*out)->Write(data).ok());
  EXPECT_EQ(this->Code(*temp), absl::StatusCode::kOk) << "the write goes to the chosen temporary file";
  EXPECT_EQ(this->Code(target), absl::StatusCode::kNotFound);
  EXPECT_EQ(*this->List(this->U("t")), Names()) << "listings skip temporary files";
  ASSERT_TRUE((*out)->Close().ok());
  EXPECT_EQ(*this->ReadAll(target), data);
  EXPECT_EQ(this->Code(*temp), absl::StatusCode::kNotFound);
}

REGISTER_TYPED_TEST_SUITE_P(UfsConformanceTest, CreateReadStatus, FingerprintChangesOnOverwrite,
                            RangedReadsAndReadsPastEof, EmptyFile, OverwriteOrNot,
                            InvisibleUntilCloseAndAbortLeavesNothing, ListingOfMoreThanOnePage,
                            NamesThatNeedEncoding, Directories, DeleteFilesAndTrees, RenameFilesAndDirectories,
                            MissingPathsAreNotFound, MultipartFiles, WrongCredentialsArePermissionDenied,
                            MissingBucketIsNotFound, InjectedErrorsAreRetried, StalledServerTimesOutAndIsRetried,
                            ServerKilledMidTransfer, TemporaryFileNamedByTheCaller);

}  // namespace cistern::ufs::conformance
