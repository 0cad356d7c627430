// Block capabilities (docs/security.md, "Worker block access"): the master hands a client a
// short-lived capability with a file's block locations (read) or with a new file (write); the
// worker verifies it before it serves or accepts any block of that file, so knowing a block id
// is not enough to read or overwrite data.
//
// A capability names the file, the access, the user it was issued to, its expiry (wall clock)
// and what the worker may do in the under-store on the holder's behalf (the file's URI and mount,
// block size and length, so a read-through reads exactly that file's blocks). Its MAC is
// HMAC-SHA256 under the capability key (secrets.h) over a canonical big-endian encoding of those
// fields (docs/formats.md, "Block capabilities"), so only the masters, and nobody who lacks the
// cluster secret, can make one, and no field can be changed.
//
// Thread safety: immutable; share freely.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "cistern/proto/common.pb.h"

namespace cistern::security {

class BlockCapabilities {
 public:
  // `key` is CapabilityKey(cluster secret); `lifetime_ms` how long an issued capability lasts.
  BlockCapabilities(std::string key, int64_t lifetime_ms) : key_(std::move(key)), lifetime_ms_(lifetime_ms) {}

  // Signs `fields` (their mac and expiry_ms are replaced) to expire lifetime_ms after now_ms.
  proto::BlockCapability Issue(proto::BlockCapability fields, int64_t now_ms) const;
  // OK if `capability` was issued under this key, has not expired at now_ms, and grants
  // `access` on `file_id`; else PERMISSION_DENIED saying which of these failed.
  absl::Status Verify(const proto::BlockCapability& capability, uint64_t file_id, proto::BlockAccess access,
                      int64_t now_ms) const;

  int64_t lifetime_ms() const { return lifetime_ms_; }

 private:
  std::string Mac(const proto::BlockCapability& capability) const;

  const std::string key_;
  const int64_t lifetime_ms_;
};

// The canonical bytes a capability's MAC covers (exposed for tests and docs/formats.md).
std::string CapabilitySigningBytes(const proto::BlockCapability& capability);

}  // namespace cistern::security
