#include "ufs/webhdfs_json.h"

#include "gtest/gtest.h"

namespace cistern::ufs::webhdfsjson {
namespace {

TEST(WebHdfsJsonTest, ParsesStatusesListingsAndBooleans) {
  auto status = ParseFileStatus(
      R"({"FileStatus":{"type":"FILE","length":42,"modificationTime":1700000000000,"permission":"640"}})", "f");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->name, "f");
  EXPECT_FALSE(status->is_directory);
  EXPECT_EQ(status->length, 42);
  EXPECT_EQ(status->mode, 0640u);

  auto page = ParseListing(R"({"DirectoryListing":{"partialListing":{"FileStatuses":{"FileStatus":[)"
                           R"({"pathSuffix":"a","type":"DIRECTORY"},{"pathSuffix":"b","length":3}]}},)"
                           R"("remainingEntries":5}})");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->entries.size(), 2u);
  EXPECT_TRUE(page->entries[0].is_directory);
  EXPECT_EQ(page->entries[1].length, 3);
  EXPECT_EQ(page->remaining, 5);

  EXPECT_TRUE(*ParseBoolean(R"({"boolean":true})"));
  const RemoteException e =
      ParseRemoteException(R"({"RemoteException":{"exception":"FileNotFoundException","message":"no\nmore"}})");
  EXPECT_EQ(e.exception, "FileNotFoundException");
  EXPECT_EQ(e.message, "no");
}

// A server may send anything: wrong types, missing members, other documents. Each is an error
// (or a default), never an exception or a crash.
TEST(WebHdfsJsonTest, MalformedDocumentsAreErrorsNotCrashes) {
  for (const char* body : {"", "[]", "null", "{", R"({"FileStatuses":{"FileStatus":[1,2]}})",
                           R"({"FileStatuses":{"FileStatus":{}}})", R"({"FileStatuses":7})",
                           R"({"DirectoryListing":{"partialListing":3}})", R"({"DirectoryListing":[]})",
                           // found by webhdfs_json_fuzzer: a negative page count
                           R"({"DirectoryListing":{"partialListing":{"FileStatuses":{"FileStatus":[]}},)"
                           R"("remainingEntries":-2}})"}) {
    auto page = ParseListing(body);
    EXPECT_EQ(page.status().code(), absl::StatusCode::kDataLoss) << body;
  }
  auto odd = ParseListing(R"({"FileStatuses":{"FileStatus":[{"pathSuffix":7,"length":"x","type":[],)"
                          R"("permission":{},"modificationTime":1e300}]}})");
  ASSERT_TRUE(odd.ok()) << odd.status();
  EXPECT_EQ(odd->entries[0].name, "");
  EXPECT_EQ(odd->entries[0].length, 0);
  EXPECT_EQ(ParseFileStatus(R"({"FileStatus":[]})", "x").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseBoolean(R"({"boolean":"yes"})").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(ParseRemoteException(R"({"RemoteException":{"exception":1}})").exception.empty());
  EXPECT_TRUE(ParseRemoteException("not json").exception.empty());
}

}  // namespace
}  // namespace cistern::ufs::webhdfsjson
