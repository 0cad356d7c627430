// S3-specific behaviour against local servers: multipart uploads and their cleanup, retries of
// injected 503/429/500 responses, cut and stalled transfers, a server killed mid-transfer,
// missing buckets, SigV4 checked by a verifying server (@20minutes/s3rver), the credential chain,
// and interoperability with the AWS CLI.
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/ufs/pattern.h"
#include "tests/ufs/fault_proxy.h"
#include "tests/ufs/s3_test_server.h"
#include "ufs/http_client.h"
#include "ufs/under_file_system.h"

namespace cistern::ufs {
namespace {

using conformance::Pattern;
using testing::FaultProxy;
using testing::S3TestServer;

constexpr char kBucket[] = "itest";

int64_t ElapsedMs(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
}

class S3IntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_ = S3TestServer::SkipReason(S3TestServer::Kind::kMoto);
    if (!skip_.empty()) return;
    moto_ = new S3TestServer(S3TestServer::Kind::kMoto);
    absl::Status s = moto_->Start({kBucket});
    if (!s.ok()) error_ = s.ToString();
  }
  static void TearDownTestSuite() {
    delete moto_;
    moto_ = nullptr;
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(error_.empty()) << error_;
    prefix_ = absl::StrCat("s3://", kBucket, "/", ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }

  std::unique_ptr<UnderFileSystem> Make(std::map<std::string, std::string> overrides = {}) {
    auto options = moto_->MountOptions();
    for (auto& [k, v] : overrides) options[k] = v;
    auto ufs = CreateUnderFileSystem(prefix_, options);
    EXPECT_TRUE(ufs.ok()) << ufs.status();
    return ufs.ok() ? std::move(*ufs) : nullptr;
  }

  static absl::Status Put(UnderFileSystem& ufs, const std::string& uri, std::string_view data) {
    CreateOptions options;
    options.overwrite = true;
    auto out = ufs.Create(uri, options);
    if (!out.ok()) return out.status();
    for (size_t pos = 0; pos < data.size(); pos += 7000) {
      absl::Status w = (*out)->Write(data.substr(pos, 7000));
      if (!w.ok()) return w;
    }
    return (*out)->Close().status();
  }

  static absl::StatusOr<std::string> Read(UnderFileSystem& ufs, const std::string& uri, int64_t offset, int64_t n) {
    auto reader = ufs.Open(uri);
    if (!reader.ok()) return reader.status();
    std::string buf(static_cast<size_t>(n), '\0');
    auto got = (*reader)->ReadAt(offset, n, buf.data());
    if (!got.ok()) return got.status();
    buf.resize(static_cast<size_t>(*got));
    return buf;
  }

  // In-progress multipart uploads in the bucket, straight from the server.
  static int PendingUploads(const S3TestServer& server) {
    HttpOptions o;
    o.aws_sigv4 = "aws:amz:us-east-1:s3";
    o.user_pwd = server.access_key() + ":" + server.secret_key();
    HttpClient http(o);
    HttpRequest r;
    r.url = absl::StrCat(server.endpoint(), "/", kBucket, "?uploads=");
    r.headers = {"x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"};
    auto resp = http.Send(r);
    if (!resp.ok() || resp->status != 200) return -1;
    int count = 0;
    for (size_t pos = 0; (pos = resp->body.find("<Upload>", pos)) != std::string::npos; ++pos) count++;
    return count;
  }

  static inline S3TestServer* moto_ = nullptr;
  static inline std::string skip_, error_;
  std::string prefix_;
};

TEST_F(S3IntegrationTest, MultipartUploadWithSmallParts) {
  auto ufs = Make({{"s3.part_size", "5KiB"}});
  const std::string data = Pattern(51 * 1024 + 3, 11);
  auto out = ufs->Create(prefix_ + "/multi.bin", CreateOptions{});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE((*out)->Write(data.substr(0, 20000)).ok());
  EXPECT_EQ(PendingUploads(*moto_), 1) << "parts go up while the file is written";
  EXPECT_EQ(ufs->GetStatus(prefix_ + "/multi.bin").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE((*out)->Write(data.substr(20000)).ok());
  auto closed = (*out)->Close();
  ASSERT_TRUE(closed.ok()) << closed.status();
  EXPECT_EQ(closed->length, static_cast<int64_t>(data.size()));
  EXPECT_TRUE(absl::EndsWith(closed->etag, "-11")) << closed->etag << ": 10 full parts + 1 short one";
  EXPECT_EQ(PendingUploads(*moto_), 0);
  auto back = Read(*ufs, prefix_ + "/multi.bin", 0, static_cast<int64_t>(data.size()));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == data);
}

TEST_F(S3IntegrationTest, AbortedAndDroppedUploadsLeaveNoParts) {
  auto ufs = Make({{"s3.part_size", "4KiB"}});
  {
    auto out = ufs->Create(prefix_ + "/aborted", CreateOptions{});
    ASSERT_TRUE(out.ok());
    ASSERT_TRUE((*out)->Write(Pattern(20000, 1)).ok());
    EXPECT_EQ(PendingUploads(*moto_), 1);
    (*out)->Abort();
  }
  {
    auto out = ufs->Create(prefix_ + "/dropped", CreateOptions{});
    ASSERT_TRUE(out.ok());
    ASSERT_TRUE((*out)->Write(Pattern(20000, 2)).ok());
  }
  EXPECT_EQ(PendingUploads(*moto_), 0);
  EXPECT_EQ(ufs->GetStatus(prefix_ + "/aborted").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ufs->GetStatus(prefix_ + "/dropped").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(S3IntegrationTest, FailedCompleteAbortsTheUpload) {
  FaultProxy proxy(moto_->port());
  ASSERT_TRUE(proxy.Start().ok());
  auto ufs = Make({{"s3.endpoint", absl::StrCat("http://127.0.0.1:", proxy.port())},
                   {"s3.part_size", "4KiB"},
                   {"s3.max_attempts", "2"}});
  CreateOptions overwrite;
  overwrite.overwrite = true;  // no existence check: the next requests are the upload's own
  auto out = ufs->Create(prefix_ + "/failed", overwrite);
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE((*out)->Write(Pattern(10000, 3)).ok());  // two parts up, 1808 bytes buffered
  proxy.FailNext(3, 500, "InternalError");  // last part: both attempts fail; then one more
  auto closed = (*out)->Close();
  EXPECT_EQ(closed.status().code(), absl::StatusCode::kUnavailable) << closed.status();
  EXPECT_NE(closed.status().message().find("InternalError"), absl::string_view::npos) << closed.status();
  // The abort went through once the faults were used up: no orphan parts.
  EXPECT_TRUE(::cistern::testing::WaitFor([&] { return PendingUploads(*moto_) == 0; }, 5000));
  EXPECT_EQ(ufs->GetStatus(prefix_ + "/failed").status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE((*out)->Write("more").ok()) << "a failed stream stays failed";
}

TEST_F(S3IntegrationTest, ThrottlingAndServerErrorsAreRetried) {
  FaultProxy proxy(moto_->port());
  ASSERT_TRUE(proxy.Start().ok());
  auto ufs = Make({{"s3.endpoint", absl::StrCat("http://127.0.0.1:", proxy.port())}, {"s3.max_attempts", "5"}});
  ASSERT_TRUE(Put(*ufs, prefix_ + "/obj", "retry me").ok());

  for (auto [status, code] : std::vector<std::pair<int, std::string>>{{503, "SlowDown"}, {429, "TooManyRequests"},
                                                                       {500, "InternalError"}}) {
    const int before = proxy.requests();
    proxy.FailNext(3, status, code);
    auto data = Read(*ufs, prefix_ + "/obj", 0, 100);  // HEAD (3 failures + 1) then GET
    ASSERT_TRUE(data.ok()) << code << ": " << data.status();
    EXPECT_EQ(*data, "retry me");
    EXPECT_EQ(proxy.requests() - before, 5) << code;
  }

  // Retries are bounded: a store that keeps failing is an UNAVAILABLE error naming status and code.
  proxy.FailNext(1000, 503, "SlowDown");
  auto start = std::chrono::steady_clock::now();
  const int before = proxy.requests();
  auto st = ufs->GetStatus(prefix_ + "/obj");
  EXPECT_EQ(st.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(st.status().message().find("HTTP 503"), absl::string_view::npos) << st.status();
  EXPECT_NE(st.status().message().find("5 attempts"), absl::string_view::npos) << st.status();
  EXPECT_EQ(proxy.requests() - before, 5);
  EXPECT_LT(ElapsedMs(start), 5000);
  // Requests with a response body also name the store's error code.
  auto listing = ufs->ListDirectory(prefix_, [](const UfsStatus&) { return absl::OkStatus(); });
  EXPECT_EQ(listing.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(listing.message().find("HTTP 503 SlowDown"), absl::string_view::npos) << listing;
  proxy.FailNext(0);
}

TEST_F(S3IntegrationTest, ResponseCutMidBodyIsRetried) {
  FaultProxy proxy(moto_->port());
  ASSERT_TRUE(proxy.Start().ok());
  auto ufs = Make({{"s3.endpoint", absl::StrCat("http://127.0.0.1:", proxy.port())}});
  const std::string data = Pattern(200'000, 5);
  ASSERT_TRUE(Put(*ufs, prefix_ + "/big", data).ok());
  auto reader = ufs->Open(prefix_ + "/big");
  ASSERT_TRUE(reader.ok());
  proxy.CutNextResponseAfter(1000);
  std::string buf(150'000, '\0');
  auto n = (*reader)->ReadAt(10'000, 150'000, buf.data());
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 150'000);
  EXPECT_TRUE(buf == data.substr(10'000, 150'000));
}

TEST_F(S3IntegrationTest, StalledServerTimesOutInsteadOfHanging) {
  FaultProxy proxy(moto_->port());
  ASSERT_TRUE(proxy.Start().ok());
  auto ufs = Make({{"s3.endpoint", absl::StrCat("http://127.0.0.1:", proxy.port())},
                   {"s3.stall_timeout", "1s"},
                   {"s3.max_attempts", "2"}});
  proxy.StallNext(2);
  auto start = std::chrono::steady_clock::now();
  auto st = ufs->GetStatus(prefix_ + "/anything");
  EXPECT_TRUE(absl::IsDeadlineExceeded(st.status()) || absl::IsUnavailable(st.status())) << st.status();
  EXPECT_LT(ElapsedMs(start), 8000);
}

TEST_F(S3IntegrationTest, ServerKilledMidTransferIsACleanError) {
  S3TestServer doomed(S3TestServer::Kind::kMoto);
  ASSERT_TRUE(doomed.Start({kBucket}).ok());
  FaultProxy proxy(doomed.port());
  ASSERT_TRUE(proxy.Start().ok());
  auto options = doomed.MountOptions();
  options["s3.endpoint"] = absl::StrCat("http://127.0.0.1:", proxy.port());
  options["s3.part_size"] = "4KiB";
  options["s3.max_attempts"] = "3";
  options["s3.connect_timeout"] = "1s";
  auto made = CreateUnderFileSystem(prefix_, options);
  ASSERT_TRUE(made.ok());
  UnderFileSystem& ufs = **made;
  const std::string data = Pattern(300'000, 9);
  ASSERT_TRUE(Put(ufs, prefix_ + "/victim", data).ok());
  auto reader = ufs.Open(prefix_ + "/victim");
  ASSERT_TRUE(reader.ok());
  auto out = ufs.Create(prefix_ + "/half-written", CreateOptions{});
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE((*out)->Write(Pattern(9000, 1)).ok());

  // The server dies while a read is in flight: the first response is cut mid-body, the retries
  // find nothing listening.
  proxy.CutNextResponseAfter(5000);
  std::thread killer([&] { doomed.Stop(); });
  killer.join();
  auto start = std::chrono::steady_clock::now();
  std::string buf(data.size(), '\0');
  auto n = (*reader)->ReadAt(0, static_cast<int64_t>(data.size()), buf.data());
  EXPECT_EQ(n.status().code(), absl::StatusCode::kUnavailable) << n.status();
  auto more = (*out)->Write(Pattern(9000, 2));
  auto closed = more.ok() ? (*out)->Close().status() : more;
  EXPECT_FALSE(closed.ok());
  EXPECT_TRUE(absl::IsUnavailable(closed) || absl::IsDeadlineExceeded(closed)) << closed;
  EXPECT_EQ(ufs.GetStatus(prefix_ + "/victim").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(ElapsedMs(start), 20'000);
}

// Virtual-host style: the bucket is in the host name (curl resolves *.localhost to loopback).
TEST_F(S3IntegrationTest, VirtualHostStyle) {
  auto ufs = Make({{"s3.endpoint", absl::StrCat("http://localhost:", moto_->port())}, {"s3.path_style", "false"}});
  ASSERT_TRUE(Put(*ufs, prefix_ + "/vh dir/obj+1", "virtual").ok());
  auto back = Read(*ufs, prefix_ + "/vh dir/obj+1", 0, 100);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, "virtual");
  std::set<std::string> names;
  ASSERT_TRUE(ufs->ListDirectory(prefix_ + "/vh dir", [&](const UfsStatus& s) {
    names.insert(s.name);
    return absl::OkStatus();
  }).ok());
  EXPECT_EQ(names, (std::set<std::string>{"obj+1"}));
  // The same object is visible path-style: both styles address one bucket.
  EXPECT_TRUE(Make()->GetStatus(prefix_ + "/vh dir/obj+1").ok());
  ASSERT_TRUE(ufs->Delete(prefix_ + "/vh dir", true).ok());
  EXPECT_EQ(Make()->GetStatus(prefix_ + "/vh dir/obj+1").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(S3IntegrationTest, MissingBucketIsNotFound) {
  auto ufs = Make();
  for (const char* uri : {"s3://no-such-bucket/", "s3://no-such-bucket/key"}) {
    auto st = ufs->GetStatus(uri);
    EXPECT_EQ(st.status().code(), absl::StatusCode::kNotFound) << uri << ": " << st.status();
  }
  auto listing = ufs->ListDirectory("s3://no-such-bucket/", [](const UfsStatus&) { return absl::OkStatus(); });
  EXPECT_EQ(listing.code(), absl::StatusCode::kNotFound) << listing;
  EXPECT_NE(listing.message().find("NoSuchBucket"), absl::string_view::npos) << listing;
  // The bucket is checked when the upload happens.
  auto out = ufs->Create("s3://no-such-bucket/k", CreateOptions{});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE((*out)->Write("x").ok());
  auto closed = (*out)->Close();
  EXPECT_EQ(closed.status().code(), absl::StatusCode::kNotFound) << closed.status();
  EXPECT_NE(closed.status().message().find("NoSuchBucket"), absl::string_view::npos) << closed.status();
}

// s3rver recomputes every request's SigV4 signature: each request kind the adapter sends must be
// signed right, and a wrong secret must fail at once, not after retries.
TEST_F(S3IntegrationTest, SignaturesVerifiedByS3rver) {
  std::string why = S3TestServer::SkipReason(S3TestServer::Kind::kS3rver);
  if (!why.empty()) GTEST_SKIP() << why;
  S3TestServer s3rver(S3TestServer::Kind::kS3rver);
  ASSERT_TRUE(s3rver.Start({"signed"}).ok()) << s3rver.OutputTail();
  auto options = s3rver.MountOptions();
  options["s3.part_size"] = "8KiB";
  options["s3.list_page_size"] = "2";
  auto made = CreateUnderFileSystem("s3://signed/", options);
  ASSERT_TRUE(made.ok());
  UnderFileSystem& ufs = **made;
  const std::string big = Pattern(30'000, 4);
  ASSERT_TRUE(Put(ufs, "s3://signed/d/small +%#?.txt", "tiny").ok());  // single PUT, encoded key
  ASSERT_TRUE(Put(ufs, "s3://signed/d/big", big).ok());                 // multipart
  ASSERT_TRUE(ufs.Mkdirs("s3://signed/d/sub", 0755).ok());
  ASSERT_TRUE(Put(ufs, "s3://signed/d/third", "3").ok());
  auto got = Read(ufs, "s3://signed/d/big", 100, 1000);                // ranged GET
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(*got == big.substr(100, 1000));
  std::set<std::string> names;  // ListObjectsV2 with delimiter and continuation tokens
  ASSERT_TRUE(ufs.ListDirectory("s3://signed/d", [&](const UfsStatus& s) {
    names.insert(s.name);
    return absl::OkStatus();
  }).ok());
  EXPECT_EQ(names, (std::set<std::string>{"small +%#?.txt", "big", "sub", "third"}));
  ASSERT_TRUE(ufs.Rename("s3://signed/d/big", "s3://signed/e/big").ok());  // copy + delete
  ASSERT_TRUE(ufs.Delete("s3://signed/d", true).ok());                     // DeleteObjects (Content-MD5)
  EXPECT_EQ(ufs.GetStatus("s3://signed/d/third").status().code(), absl::StatusCode::kNotFound);

  options["s3.secret_key"] = "wrong";
  auto bad = CreateUnderFileSystem("s3://signed/", options);
  ASSERT_TRUE(bad.ok());
  auto start = std::chrono::steady_clock::now();
  auto denied = (*bad)->GetStatus("s3://signed/");  // a bucket listing: the error body names the code
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied) << denied.status();
  EXPECT_NE(denied.status().message().find("SignatureDoesNotMatch"), absl::string_view::npos) << denied.status();
  EXPECT_LT(ElapsedMs(start), 2000);
  auto denied_put = Put(**bad, "s3://signed/e/x", "x");
  EXPECT_EQ(denied_put.code(), absl::StatusCode::kPermissionDenied) << denied_put;

  // The credential chain: environment variables, then a profile in the shared credentials file.
  std::map<std::string, std::string> no_keys = {{"s3.endpoint", s3rver.endpoint()}};
  ::setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
  auto from_env = CreateUnderFileSystem("s3://signed/", no_keys);
  ASSERT_TRUE(from_env.ok());
  EXPECT_TRUE((*from_env)->GetStatus("s3://signed/e/big").ok());
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  const std::string creds = ::testing::TempDir() + "/s3_itest_credentials";
  std::ofstream(creds) << "[good]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n"
                       << "[bad]\naws_access_key_id = S3RVER\naws_secret_access_key = nope\n";
  ::setenv("AWS_SHARED_CREDENTIALS_FILE", creds.c_str(), 1);
  no_keys["s3.profile"] = "good";
  EXPECT_TRUE((*CreateUnderFileSystem("s3://signed/", no_keys))->GetStatus("s3://signed/e/big").ok());
  no_keys["s3.profile"] = "bad";
  EXPECT_EQ((*CreateUnderFileSystem("s3://signed/", no_keys))->GetStatus("s3://signed/e/big").status().code(),
            absl::StatusCode::kPermissionDenied);
  ::unsetenv("AWS_SHARED_CREDENTIALS_FILE");
  std::filesystem::remove(creds);
}

// Objects the AWS CLI wrote (multipart included) read back through the adapter, and objects the
// adapter wrote are byte-identical for the AWS CLI.
TEST_F(S3IntegrationTest, InteroperatesWithTheAwsCli) {
  std::string aws;
  for (const char* candidate : {"/usr/bin/aws", "/usr/local/bin/aws"}) {
    if (::access(candidate, X_OK) == 0) aws = candidate;
  }
  if (aws.empty()) {
    auto which = ::cistern::testing::RunCommand({"/bin/sh", "-c", "command -v aws"}, 10'000);
    if (which.exit_code == 0) aws = std::string(absl::StripTrailingAsciiWhitespace(which.output));
  }
  if (aws.empty()) GTEST_SKIP() << "the AWS CLI (aws) is not installed";
  const std::string dir = ::testing::TempDir() + "/s3_itest_aws_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config") << "[default]\nregion = us-east-1\ns3 =\n  multipart_threshold = 5MB\n"
                                 << "  multipart_chunksize = 5MB\n";
  std::map<std::string, std::string> env = {{"AWS_ACCESS_KEY_ID", moto_->access_key()},
                                            {"AWS_SECRET_ACCESS_KEY", moto_->secret_key()},
                                            {"AWS_CONFIG_FILE", dir + "/config"},
                                            {"PATH", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin"},
                                            {"HOME", dir}};
  const std::string data = Pattern(12 * 1024 * 1024 + 77, 21);
  std::ofstream(dir + "/upload.bin", std::ios::binary) << data;
  const std::string key = std::string(kBucket) + "/InteroperatesWithTheAwsCli/from aws+cli.bin";
  auto put = ::cistern::testing::RunCommand(
      {aws, "--endpoint-url", moto_->endpoint(), "s3", "cp", dir + "/upload.bin", "s3://" + key}, 60'000, env);
  ASSERT_EQ(put.exit_code, 0) << put.output;
  auto ufs = Make();
  auto st = ufs->GetStatus("s3://" + key);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_TRUE(absl::StrContains(st->etag, "-")) << "the AWS CLI uploaded it in parts: " << st->etag;
  auto back = Read(*ufs, "s3://" + key, 0, static_cast<int64_t>(data.size()) + 10);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == data);

  const std::string ours = std::string(kBucket) + "/InteroperatesWithTheAwsCli/from cistern #1.bin";
  auto big = Make({{"s3.part_size", "5MiB"}});
  ASSERT_TRUE(Put(*big, "s3://" + ours, data).ok());
  auto get = ::cistern::testing::RunCommand(
      {aws, "--endpoint-url", moto_->endpoint(), "s3", "cp", "s3://" + ours, dir + "/download.bin"}, 60'000, env);
  ASSERT_EQ(get.exit_code, 0) << get.output;
  std::ifstream in(dir + "/download.bin", std::ios::binary);
  std::string downloaded((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(downloaded.size(), data.size());
  EXPECT_TRUE(downloaded == data);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cistern::ufs
