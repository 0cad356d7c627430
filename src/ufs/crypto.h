// Digests and encodings the HTTP adapters sign and check requests with (OpenSSL underneath).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cistern::ufs {

std::string HexLower(std::string_view bytes);
std::string Sha256Hex(std::string_view data);
std::string Md5Base64(std::string_view data);
// Raw 32-byte HMAC-SHA256 of `data` under `key`.
std::string HmacSha256(std::string_view key, std::string_view data);
std::string Base64Encode(std::string_view bytes);
// nullopt if `text` is not valid base64.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace cistern::ufs
