// Configuration text and the value parsers behind it: a properties file (Config::ApplyProperties),
// sizes, durations, namespace paths and under-store URIs, which all arrive from files, flags,
// environment variables or RPCs. Oracles: accepted values round-trip where a canonical form
// exists (NormalizePath and ParseUri are idempotent), and a bad value is a Status, not a crash.
#include "common/config.h"
#include "common/path.h"
#include "common/units.h"
#include "fuzz/fuzz_util.h"
#include "ufs/ufs_options.h"
#include "ufs/uri.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cistern;
  const std::string_view text = fuzz::AsText(data, size);

  Config config;
  absl::Status applied = config.ApplyProperties(text, "fuzz.properties");
  if (!applied.ok()) FUZZ_CHECK(applied.code() == absl::StatusCode::kInvalidArgument);

  (void)ParseSizeBytes(text);
  (void)ParseDurationMs(text);

  absl::StatusOr<std::string> path = NormalizePath(text);
  if (path.ok()) {
    absl::StatusOr<std::string> again = NormalizePath(*path);
    FUZZ_CHECK(again.ok() && *again == *path);
    FUZZ_CHECK(path->size() <= kMaxPathLength);
    (void)SplitPath(*path);
    FUZZ_CHECK(IsSameOrDescendant(*path, ParentPath(*path)));
  }

  absl::StatusOr<ufs::Uri> uri = ufs::ParseUri(text);
  if (uri.ok()) {
    absl::StatusOr<ufs::Uri> again = ufs::ParseUri(uri->ToString());
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->ToString() == uri->ToString());
  }
  (void)ufs::ParseEndpoint(text, "fuzz endpoint");
  return 0;
}
