// WebHDFS JSON responses (ufs/webhdfs_json.h): whatever a NameNode or something posing as one
// sends must parse or fail with a Status, never throw or crash.
#include "fuzz/fuzz_util.h"
#include "ufs/webhdfs_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cistern::ufs::webhdfsjson;
  const std::string_view body = cistern::fuzz::AsText(data, size);
  absl::StatusOr<cistern::ufs::UfsStatus> status = ParseFileStatus(body, "name");
  if (status.ok()) FUZZ_CHECK(status->name == "name");
  absl::StatusOr<ListPage> page = ParseListing(body);
  if (page.ok()) FUZZ_CHECK(page->remaining >= 0);
  (void)ParseBoolean(body);
  RemoteException e = ParseRemoteException(body);
  FUZZ_CHECK(e.message.find('\n') == std::string::npos);
  return 0;
}
