#include <map>

#include "gtest/gtest.h"
#include "ufs/webhdfs_ufs.h"

namespace cistern::ufs {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

TEST(WebHdfsConfigTest, EndpointFromTheUri) {
  auto w = ResolveWebHdfsConfig("webhdfs://nn.example:9870/data", {}, Env({{"USER", "alice"}}));
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->endpoint, "http://nn.example:9870");
  EXPECT_EQ(w->user, "alice");
  EXPECT_EQ(ResolveWebHdfsConfig("swebhdfs://nn:9871/", {}, Env({}))->endpoint, "https://nn:9871");
  EXPECT_EQ(ResolveWebHdfsConfig("hdfs://nn:8020/x", {}, Env({}))->endpoint, "http://nn:9870") << "RPC port replaced";
  EXPECT_EQ(ResolveWebHdfsConfig("hdfs://nn:8020/x", {{"webhdfs.endpoint", "http://nn:50070"}}, Env({}))->endpoint,
            "http://nn:50070");
  EXPECT_EQ(ResolveWebHdfsConfig("webhdfs:///x", {}, Env({})).status().code(), absl::StatusCode::kInvalidArgument);
  auto user = ResolveWebHdfsConfig("webhdfs://nn:1/", {{"webhdfs.user", "bob"}}, Env({{"HADOOP_USER_NAME", "hd"}}));
  EXPECT_EQ(user->user, "bob");
  EXPECT_EQ(ResolveWebHdfsConfig("webhdfs://nn:1/", {}, Env({{"HADOOP_USER_NAME", "hd"}, {"USER", "u"}}))->user, "hd");
  EXPECT_FALSE(ResolveWebHdfsConfig("webhdfs://nn:1/", {{"webhdfs.chunksize", "1MiB"}}, Env({})).ok());
}

TEST(WebHdfsErrorTest, RemoteExceptionsMapToCodes) {
  auto e = [](long status, const std::string& exception) {
    return WebHdfsError(status,
                        R"({"RemoteException":{"exception":")" + exception +
                            R"(","javaClassName":"x.)" + exception + R"(","message":"the message"}})",
                        "OP", "/p");
  };
  EXPECT_EQ(e(404, "FileNotFoundException").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(e(403, "AccessControlException").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(e(403, "FileAlreadyExistsException").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(e(403, "PathIsNotEmptyDirectoryException").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(e(403, "StandbyException").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(e(403, "SafeModeException").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(e(400, "IllegalArgumentException").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e(403, "DSQuotaExceededException").code(), absl::StatusCode::kResourceExhausted);
  absl::Status s = e(403, "AccessControlException");
  EXPECT_NE(s.message().find("HTTP 403 AccessControlException: the message"), absl::string_view::npos) << s;
  EXPECT_EQ(WebHdfsError(503, "<html>busy</html>", "OP", "/p").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(WebHdfsError(500, "{not json", "OP", "/p").code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace cistern::ufs
