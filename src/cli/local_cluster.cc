#include "cli/local_cluster.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace cistern::cli {

std::string LocalProperties(const std::string& home, uid_t uid) {
  return absl::StrCat(
      "# Local one-host cluster written by `cistern local start`; edit and restart to change it.\n",
      "cistern.home=", home, "\n",
      "log.dir=", home, "/logs\n",
      "master.hostname=localhost\n",
      "master.rpc.port=7700\n",
      "master.http.port=7702\n",
      "master.metastore.dir=", home, "/metastore\n",
      "master.mount.root.ufs=file://", home, "/underfs\n",
      "worker.hostname=localhost\n",
      "worker.rpc.port=7710\n",
      "worker.http.port=7712\n",
      "worker.tier.mem.dir=/dev/shm/cistern-local-", uid, "\n",
      "worker.tier.mem.quota=1GiB\n");
}

std::string LocalUsage(const std::string& home, const std::string& master_address, const std::string& worker_address,
                       const std::string& mem_dir) {
  return absl::StrCat(
      "\nCistern local cluster is running: master ", master_address, ", worker ", worker_address, ".\n\n",
      "Use it (the cistern command also finds it without this when CISTERN_CONF_DIR is unset):\n",
      "  export CISTERN_CONF_DIR=", home, "/conf\n",
      "  cistern fs mkdir -p /data\n",
      "  cistern fs put ./some-file /data/some-file\n",
      "  cistern fs ls -R /\n",
      "  cistern fs cat /data/some-file\n",
      "  cistern admin report\n\n",
      "Web UI:        http://localhost:7702/ (metrics: http://localhost:7702/metrics, worker: :7712/metrics)\n",
      "Configuration: ", home, "/conf/cistern.properties\n",
      "Logs:          ", home, "/logs\n",
      "Under-store:   ", home, "/underfs (files written THROUGH or CACHE_THROUGH appear here)\n",
      "Metadata:      ", home, "/metastore\n",
      "Cache:         ", mem_dir, "\n\n",
      "Stop it with:  cistern local stop", "\n");
}

bool ProcessIsDaemon(pid_t pid, std::string_view daemon) {
  if (pid <= 0) return false;
  std::ifstream stat_in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat;
  if (!stat_in || !std::getline(stat_in, stat)) return false;
  // "pid (comm) S ...": the state follows the last ')'.
  size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return false;
  const char state = stat[close + 2];
  if (state == 'Z' || state == 'X') return false;
  std::ifstream cmd_in(absl::StrCat("/proc/", pid, "/cmdline"), std::ios::binary);
  std::string argv0;
  if (!cmd_in || !std::getline(cmd_in, argv0, '\0')) return false;
  return std::filesystem::path(argv0).filename() == daemon;
}

}  // namespace cistern::cli
