#include "security/capability.h"

#include "absl/strings/str_cat.h"
#include "security/secrets.h"

namespace cistern::security {
namespace {

void PutU64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}

void PutString(std::string* out, const std::string& s) {
  PutU64(out, s.size());
  out->append(s);
}

}  // namespace

std::string CapabilitySigningBytes(const proto::BlockCapability& c) {
  std::string out = "cistern block capability v1";
  out.push_back('\0');
  PutU64(&out, c.file_id());
  PutU64(&out, static_cast<uint64_t>(c.access()));
  PutString(&out, c.user());
  PutU64(&out, static_cast<uint64_t>(c.expiry_ms()));
  PutString(&out, c.ufs_path());
  PutU64(&out, c.mount_id());
  PutU64(&out, static_cast<uint64_t>(c.block_size_bytes()));
  PutU64(&out, static_cast<uint64_t>(c.file_length()));
  return out;
}

std::string BlockCapabilities::Mac(const proto::BlockCapability& capability) const {
  return HmacSha256(key_, CapabilitySigningBytes(capability));
}

proto::BlockCapability BlockCapabilities::Issue(proto::BlockCapability fields, int64_t now_ms) const {
  fields.set_expiry_ms(now_ms + lifetime_ms_);
  fields.clear_mac();
  fields.set_mac(Mac(fields));
  return fields;
}

absl::Status BlockCapabilities::Verify(const proto::BlockCapability& c, uint64_t file_id, proto::BlockAccess access,
                                       int64_t now_ms) const {
  if (c.mac().empty()) {
    return absl::PermissionDeniedError(
        absl::StrCat("no block capability for file ", file_id, ": ask the master for the file first (it issues one to "
                     "callers who may ", access == proto::BLOCK_WRITE ? "write" : "read", " the file)"));
  }
  if (!ConstantTimeEquals(c.mac(), Mac(c))) {
    return absl::PermissionDeniedError(absl::StrCat("block capability for file ", c.file_id(),
                                                    " does not verify (forged, altered, or signed with another "
                                                    "cluster secret)"));
  }
  if (c.file_id() != file_id) {
    return absl::PermissionDeniedError(
        absl::StrCat("block capability is for file ", c.file_id(), ", not file ", file_id));
  }
  if (c.access() != access) {
    return absl::PermissionDeniedError(absl::StrCat("block capability for file ", file_id, " grants ",
                                                    proto::BlockAccess_Name(c.access()), ", not ",
                                                    proto::BlockAccess_Name(access)));
  }
  if (now_ms > c.expiry_ms()) {
    return absl::PermissionDeniedError(absl::StrCat("block capability for file ", file_id, " (user ", c.user(),
                                                    ") expired ", now_ms - c.expiry_ms(),
                                                    " ms ago; get the file's status again"));
  }
  return absl::OkStatus();
}

}  // namespace cistern::security
