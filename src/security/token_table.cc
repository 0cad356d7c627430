#include "security/token_table.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "security/identity.h"
#include "security/secrets.h"

namespace cistern::security {

absl::StatusOr<TokenTable> TokenTable::Parse(std::string_view text, std::string_view origin) {
  TokenTable table;
  int line_no = 0;
  for (absl::string_view raw : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    ++line_no;
    absl::string_view line = raw.substr(0, raw.find('#'));
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (fields.empty()) continue;
    const std::string where = absl::StrCat(absl::string_view(origin.data(), origin.size()), ":", line_no);
    if (fields.size() < 2 || fields.size() > 3) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": expected 'TOKEN USER [GROUP,...]', found ", fields.size(), " fields"));
    }
    if (fields[0].size() < kMinSecretBytes) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": the token has ", fields[0].size(),
                                                     " bytes; at least ", kMinSecretBytes, " are needed"));
    }
    TokenEntry entry;
    entry.user = std::string(fields[1]);
    if (!entry.wildcard()) CISTERN_RETURN_IF_ERROR_CONTEXT(CheckPrincipalName("user", entry.user), where);
    if (fields.size() == 3) {
      for (absl::string_view group : absl::StrSplit(fields[2], ',')) {
        CISTERN_RETURN_IF_ERROR_CONTEXT(CheckPrincipalName("group", std::string_view(group.data(), group.size())),
                                        where);
        entry.groups.emplace_back(group);
      }
    }
    if (!table.entries_.emplace(Sha256(std::string_view(fields[0].data(), fields[0].size())), std::move(entry)).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": this token appears on an earlier line too"));
    }
  }
  return table;
}

absl::StatusOr<TokenTable> TokenTable::Load(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("token file '", path, "' does not exist"));
  }
  if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("token file '", path, "' is readable or writable by every user; restrict it (chmod 600)"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read token file '", path, "'"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return Parse(buffer.str(), path);
}

const TokenEntry* TokenTable::Lookup(std::string_view token) const {
  auto it = entries_.find(Sha256(token));
  return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace cistern::security
