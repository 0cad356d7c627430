// cistern-master: serves the namespace until SIGTERM/SIGINT.
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/config_keys.h"
#include "common/daemon.h"
#include "common/logging.h"
#include "common/process.h"
#include "master/master_process.h"
#include "security/security_config.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  using namespace cistern;
  BlockShutdownSignals();
  // Debian's Abseil is built with deadlock detection on, which makes every Mutex acquisition
  // take one global lock to update a lock graph: a serial point across all RPC threads. Release
  // builds of Abseil have it off; so does the master (tests keep it).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  Config config = LoadDaemonConfigOrExit(argc, argv, "cistern-master");
  const std::string node_id =
      absl::StrCat("master@", config.GetString(conf::kMasterHostname), ":", config.GetInt(conf::kMasterRpcPort));
  if (absl::Status status = InitDaemonLogging(config, "master", node_id); !status.ok()) {
    std::fprintf(stderr, "cistern-master: %s\n", std::string(status.message()).c_str());
    return kExitBadConfig;
  }
  // Bad security settings are bad configuration (status 2), not a failed start.
  if (absl::StatusOr<security::SecurityConfig> security =
          security::LoadSecurityConfig(config, security::ProcessRole::kMaster);
      !security.ok()) {
    spdlog::critical("{}", security.status().ToString());
    std::fprintf(stderr, "cistern-master: %s\n", std::string(security.status().message()).c_str());
    return kExitBadConfig;
  }
  master::MasterProcessOptions options;
  options.update_log_prefix = true;
  options.exit_on_journal_failure = true;
  master::MasterProcess master(config, options);
  if (absl::Status status = master.Start(); !status.ok()) {
    spdlog::critical("start-up failed: {}", status.ToString());
    std::fprintf(stderr, "cistern-master: %s\n", std::string(status.message()).c_str());
    return kExitStartupFailed;
  }
  const int sig = WaitForShutdownSignal();
  spdlog::info("signal {} received, shutting down", sig);
  master.Stop();
  spdlog::info("master stopped");
  return 0;
}
