// Block capabilities as workers receive them from clients (security/capability.h): the fuzzer's
// bytes are a serialized BlockCapability merged over a genuine one (so every field, the MAC
// included, can be replaced or left as issued), then verified the way a worker does. Oracle:
// nothing but the genuine capability's signed fields ever verifies, for its own file and access
// only; everything else is PERMISSION_DENIED, never a crash.
#include <string>

#include "cistern/proto/common.pb.h"
#include "fuzz/fuzz_util.h"
#include "security/capability.h"
#include "security/secrets.h"

namespace {

constexpr int64_t kIssuedAtMs = 1'700'000'000'000;

const cistern::security::BlockCapabilities& Capabilities() {
  static const auto* capabilities = new cistern::security::BlockCapabilities(
      cistern::security::CapabilityKey("fuzz-cluster-secret-0123456789"), 60'000);
  return *capabilities;
}

const cistern::proto::BlockCapability& Genuine() {
  static const auto* genuine = [] {
    cistern::proto::BlockCapability fields;
    fields.set_file_id(42);
    fields.set_access(cistern::proto::BLOCK_READ);
    fields.set_user("alice");
    fields.set_ufs_path("s3://bucket/data/file");
    fields.set_mount_id(7);
    fields.set_block_size_bytes(64 << 20);
    fields.set_file_length(200 << 20);
    return new cistern::proto::BlockCapability(Capabilities().Issue(fields, kIssuedAtMs));
  }();
  return *genuine;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using cistern::proto::BlockCapability;
  const BlockCapability& genuine = Genuine();
  BlockCapability capability = genuine;
  if (size > 0 && !capability.MergeFromString(std::string(cistern::fuzz::AsText(data, size)))) return 0;  // not a message
  const int64_t now = kIssuedAtMs + 1;
  const std::string signed_fields = cistern::security::CapabilitySigningBytes(capability);
  const bool is_genuine = signed_fields == cistern::security::CapabilitySigningBytes(genuine) &&
                          capability.mac() == genuine.mac();
  for (const auto access : {cistern::proto::BLOCK_ACCESS_UNSPECIFIED, cistern::proto::BLOCK_READ,
                            cistern::proto::BLOCK_WRITE}) {
    for (const uint64_t file_id : {uint64_t{42}, capability.file_id(), uint64_t{0}}) {
      const absl::Status verified = Capabilities().Verify(capability, file_id, access, now);
      if (verified.ok()) {
        FUZZ_CHECK(is_genuine);
        FUZZ_CHECK(file_id == 42 && access == cistern::proto::BLOCK_READ);
      } else {
        FUZZ_CHECK(verified.code() == absl::StatusCode::kPermissionDenied);
      }
    }
  }
  // The genuine one verifies for what it grants until it expires.
  if (size == 0) FUZZ_CHECK(Capabilities().Verify(genuine, 42, cistern::proto::BLOCK_READ, now).ok());
  FUZZ_CHECK(!Capabilities().Verify(genuine, 42, cistern::proto::BLOCK_READ, genuine.expiry_ms() + 1).ok());
  return 0;
}
