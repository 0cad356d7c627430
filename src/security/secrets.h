// Shared secrets and what is derived from them (docs/security.md):
//
//   cluster secret (security.cluster.secret.file, the same on every master and worker)
//     -> daemon token  = hex(HMAC-SHA256(secret, "cistern daemon token v1"))
//        what masters and workers present to each other (worker registration, heartbeats,
//        Raft); a sniffed daemon token does not reveal the secret;
//     -> capability key = HMAC-SHA256(secret, "cistern block capability v1")
//        what masters sign block capabilities with and workers verify them with.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cistern::security {

// Secrets shorter than this are refused: a guessable secret protects nothing.
inline constexpr size_t kMinSecretBytes = 16;

// Reads a secret from `path`: the file's contents without surrounding whitespace. Refuses
// (naming `what` and the path) a missing or unreadable file, one that other users may read
// (mode o+r or o+w), and a secret shorter than kMinSecretBytes.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path, std::string_view what);

std::string HmacSha256(std::string_view key, std::string_view data);
std::string Sha256(std::string_view data);
std::string HexEncode(std::string_view bytes);
// Compares without an early exit, so the time taken does not tell how much of a guess matched.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

std::string DaemonToken(std::string_view cluster_secret);
std::string CapabilityKey(std::string_view cluster_secret);

}  // namespace cistern::security
