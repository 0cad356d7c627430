#include "ufs/under_file_system.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/path.h"

namespace cistern::ufs {

absl::Status ValidateTempNonce(std::string_view nonce) {
  constexpr size_t kMaxNonce = 64;
  bool ok = !nonce.empty() && nonce.size() <= kMaxNonce;
  for (const char c : nonce) ok = ok && (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
  if (ok) return absl::OkStatus();
  const std::string escaped = absl::CEscape(absl::string_view(nonce.data(), nonce.size()));
  return absl::InvalidArgumentError(absl::StrCat("temporary file nonce '", escaped, "': must be 1 to ", kMaxNonce,
                                                 " ASCII letters, digits, '-' or '_'"));
}

std::string TempPathFor(std::string_view path, std::string_view nonce) {
  const std::string parent = ParentPath(path);
  return absl::StrCat(parent == "/" ? "" : parent, "/.", BaseName(path), std::string(kTempNameMarker),
                      std::string(nonce));
}

}  // namespace cistern::ufs
