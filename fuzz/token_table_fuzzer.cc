// Tokens files (security/token_table.h), which masters and workers read at start and re-read
// when they change: whatever the file holds must parse or fail with a Status naming the line,
// never crash; a table that parses holds exactly the tokens of its lines, each with its user.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "fuzz/fuzz_util.h"
#include "security/token_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using cistern::security::TokenTable;
  const std::string_view text = cistern::fuzz::AsText(data, size);
  absl::StatusOr<TokenTable> table = TokenTable::Parse(text, "tokens");
  if (!table.ok()) {
    FUZZ_CHECK(table.status().code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(absl::StartsWith(table.status().message(), "tokens:"));
    return 0;
  }
  // The oracle: the lines as documented (comment from '#', fields split by blanks).
  size_t lines = 0;
  for (absl::string_view raw : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    absl::string_view line = raw.substr(0, raw.find('#'));
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (fields.empty()) continue;
    ++lines;
    FUZZ_CHECK(fields.size() == 2 || fields.size() == 3);
    auto entry = table->Lookup(std::string_view(fields[0].data(), fields[0].size()));
    FUZZ_CHECK(entry != nullptr);
    FUZZ_CHECK(entry->user == fields[1]);
    FUZZ_CHECK(entry->wildcard() == (fields[1] == "*"));
  }
  FUZZ_CHECK(table->size() == lines);
  return 0;
}
