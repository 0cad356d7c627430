// Building ClientOptions from a Cistern configuration (kept out of the public header so the
// public API does not depend on the configuration system).
#pragma once

#include "absl/status/statusor.h"
#include "cistern/file_system.h"
#include "common/config.h"

namespace cistern::client {

// Master addresses (MasterAddresses), user.rpc.timeout, user.data.timeout,
// user.rpc.retry_window, user.network.chunk.size, user.block.size.default,
// user.file.write.type.default, user.file.read.type.default, user.ufs.fallback.enabled and
// user.metadata.cache.ttl, user.file.write.retry_buffer, user.short_circuit.enabled, lease_ahead and cold_reads, user.file.read_ahead.blocks; the identity
// (security.login.*, the TOKEN mode token) and TLS (security.tls.*).
absl::StatusOr<ClientOptions> ClientOptionsFromConfig(const Config& config);

}  // namespace cistern::client
