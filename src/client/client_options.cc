#include "client/client_options.h"

#include "absl/strings/str_cat.h"
#include "common/config_keys.h"
#include "common/status.h"
#include "security/security_config.h"

namespace cistern::client {

absl::StatusOr<ClientOptions> ClientOptionsFromConfig(const Config& config) {
  ClientOptions options;
  options.master_addresses = MasterAddresses(config);
  options.rpc_timeout_ms = config.GetDurationMs(conf::kUserRpcTimeout);
  options.data_timeout_ms = config.GetDurationMs(conf::kUserDataTimeout);
  options.retry_window_ms = config.GetDurationMs(conf::kUserRpcRetryWindow);
  options.chunk_size_bytes = config.GetSizeBytes(conf::kUserNetworkChunkSize);
  options.default_block_size_bytes = config.GetSizeBytes(conf::kUserBlockSizeDefault);
  options.ufs_fallback_enabled = config.GetBool(conf::kUserUfsFallbackEnabled);
  options.metadata_cache_ttl_ms = config.GetDurationMs(conf::kUserMetadataCacheTtl);
  options.write_retry_buffer_bytes = config.GetSizeBytes(conf::kUserFileWriteRetryBuffer);
  options.short_circuit_enabled = config.GetBool(conf::kUserShortCircuitEnabled);
  options.short_circuit_lease_ahead = static_cast<int>(config.GetInt(conf::kUserShortCircuitLeaseAhead));
  if (options.short_circuit_lease_ahead < 0 || options.short_circuit_lease_ahead > 64) {
    return absl::InvalidArgumentError(absl::StrCat("user.short_circuit.lease_ahead = ", options.short_circuit_lease_ahead,
                                                   ": must be in [0, 64]"));
  }
  options.short_circuit_cold_reads = config.GetBool(conf::kUserShortCircuitColdReads);
  options.read_ahead_blocks = static_cast<int>(config.GetInt(conf::kUserFileReadAheadBlocks));
  if (options.read_ahead_blocks < 0 || options.read_ahead_blocks > 16) {
    return absl::InvalidArgumentError(absl::StrCat("user.file.read_ahead.blocks = ", options.read_ahead_blocks,
                                                   ": must be in [0, 16]"));
  }
  CISTERN_ASSIGN_OR_RETURN(options.default_write_type,
                           ParseWriteType(config.GetString(conf::kUserFileWriteTypeDefault)));
  CISTERN_ASSIGN_OR_RETURN(options.default_read_type,
                           ParseReadType(config.GetString(conf::kUserFileReadTypeDefault)));
  CISTERN_ASSIGN_OR_RETURN(security::SecurityConfig security,
                           security::LoadSecurityConfig(config, security::ProcessRole::kClient));
  options.user = security.user;
  options.groups = security.groups;
  options.token = security.token;
  options.tls.enabled = config.GetBool(conf::kSecurityTlsEnabled);
  options.tls.ca_file = config.GetString(conf::kSecurityTlsCaFile);
  options.tls.cert_file = config.GetString(conf::kSecurityTlsCertFile);
  options.tls.key_file = config.GetString(conf::kSecurityTlsKeyFile);
  options.tls.server_name = config.GetString(conf::kSecurityTlsServerName);
  if (options.chunk_size_bytes <= 0 || options.default_block_size_bytes <= 0) {
    return absl::InvalidArgumentError("user.network.chunk.size and user.block.size.default must be positive");
  }
  return options;
}

}  // namespace cistern::client
