// The tokens a master accepts in TOKEN mode (security.authentication.tokens.file). One line per
// token, '#' starts a comment:
//
//   TOKEN  USER  [GROUP[,GROUP...]]
//
// A caller presenting TOKEN is USER with those groups. USER "*" makes TOKEN a shared secret:
// its holders are who they say they are (the user and groups their client sends), as in NONE
// mode but only for those who know the secret. Tokens are at least kMinSecretBytes long and
// unique; the table keeps only their SHA-256 digests.
//
// Thread safety: immutable after Parse; share freely.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace cistern::security {

struct TokenEntry {
  std::string user;                 // "*" = the caller's claimed identity
  std::vector<std::string> groups;  // ignored for "*"
  bool wildcard() const { return user == "*"; }
};

class TokenTable {
 public:
  // INVALID_ARGUMENT naming `origin`, the line and the problem (never the token itself).
  static absl::StatusOr<TokenTable> Parse(std::string_view text, std::string_view origin);
  // Reads and parses a file, which must not be readable by other users (ReadSecretFile's rule).
  static absl::StatusOr<TokenTable> Load(const std::string& path);

  // The entry of `token`, or nullptr.
  const TokenEntry* Lookup(std::string_view token) const;
  size_t size() const { return entries_.size(); }

 private:
  std::map<std::string, TokenEntry> entries_;  // by SHA-256 of the token
};

}  // namespace cistern::security
