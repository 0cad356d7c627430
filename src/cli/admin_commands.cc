// cistern admin report | doctor
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/context.h"
#include "cli/format.h"
#include "cli/fs_util.h"
#include "common/clock.h"
#include "common/config_keys.h"
#include "common/status.h"
#include "rpc/worker_client.h"

namespace cistern::cli {
namespace {

absl::Status Report(Context* context, bool json) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  CISTERN_ASSIGN_OR_RETURN(MasterInfo master, fs->GetMasterInfo());
  CISTERN_ASSIGN_OR_RETURN(std::vector<WorkerSummary> workers, fs->GetWorkers());
  CISTERN_ASSIGN_OR_RETURN(std::vector<MountPoint> mounts, fs->GetMountTable());
  return PrintOut(json ? ReportJson(master, workers, mounts) + "\n"
                       : FormatReport(master, workers, mounts, RealClock()->NowMs()));
}

// Checks one thing after another and says what is wrong; exit 0 only if every check passed.
class Doctor {
 public:
  explicit Doctor(Context* context) : context_(context) {}

  absl::Status Run() {
    absl::StatusOr<const Config*> config = context_->config();
    if (!config.ok()) {
      Fail("configuration", std::string(config.status().message()));
      return Finish();
    }
    const std::string file = ChooseConfFile(context_->global());
    Ok("configuration", file.empty() ? "loaded ($CISTERN_CONF_DIR or defaults)" : absl::StrCat("loaded from ", file));
    absl::StatusOr<FileSystem*> fs = context_->fs();
    if (!fs.ok()) {
      Fail("client settings", std::string(fs.status().message()));
      return Finish();
    }
    const std::string masters = absl::StrJoin(MasterAddresses(**config), ",");
    absl::StatusOr<MasterInfo> master = (*fs)->GetMasterInfo();
    if (!master.ok()) {
      Fail("master", absl::StrCat("cannot reach ", masters, ": ", master.status().message(),
                                  " (is cistern-master running? is master.rpc.addresses right?)"));
      return Finish();
    }
    Ok("master", absl::StrCat(master->address, " answers, version ", master->version));
    CheckWorkers(*fs, **config);
    CheckMemDir(**config);
    return Finish();
  }

 private:
  void Ok(const std::string& what, const std::string& detail) { std::printf("[ OK ] %s: %s\n", what.c_str(), detail.c_str()); }
  void Warn(const std::string& what, const std::string& detail) {
    std::printf("[WARN] %s: %s\n", what.c_str(), detail.c_str());
  }
  void Fail(const std::string& what, const std::string& detail) {
    ++failures_;
    std::printf("[FAIL] %s: %s\n", what.c_str(), detail.c_str());
  }

  void CheckWorkers(FileSystem* fs, const Config& config) {
    absl::StatusOr<std::vector<WorkerSummary>> workers = fs->GetWorkers();
    if (!workers.ok()) {
      Fail("workers", std::string(workers.status().message()));
      return;
    }
    int live = 0;
    for (const WorkerSummary& w : *workers) {
      if (w.state != WorkerState::kLive) {
        Warn("worker", absl::StrCat(w.worker_id, " at ", w.address, " is ", WorkerStateName(w.state),
                                    " (no heartbeat for longer than master.worker.timeout)"));
        continue;
      }
      ++live;
      rpc::WorkerClientOptions options;
      options.rpc_timeout_ms = std::min<int64_t>(config.GetDurationMs(conf::kUserRpcTimeout), 5000);
      rpc::WorkerClient client(w.address, options);
      absl::StatusOr<proto::GetMetricsResponse> metrics = client.GetMetrics();
      if (metrics.ok()) {
        Ok("worker", absl::StrCat(w.worker_id, " at ", w.address, " is LIVE and answers"));
      } else {
        Fail("worker", absl::StrCat(w.worker_id, " at ", w.address, " is LIVE in the master but does not answer: ",
                                    metrics.status().message(), " (firewall? wrong worker.hostname?)"));
      }
    }
    if (live == 0) Fail("workers", "no LIVE worker: nothing can be read or written (start cistern-worker)");
  }

  void CheckMemDir(const Config& config) {
    const std::string dir = config.GetString(conf::kWorkerTierMemDir);
    std::error_code ec;
    if (!std::filesystem::exists(dir, ec)) {
      Warn("mem dir", absl::StrCat(dir, " (worker.tier.mem.dir) does not exist on this host; fine unless a worker "
                                        "runs here"));
      return;
    }
    const std::string probe = absl::StrCat(dir, "/.cistern-doctor-", ::getpid());
    const int fd = ::open(probe.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600);
    if (fd < 0) {
      Fail("mem dir", absl::StrCat(dir, " (worker.tier.mem.dir) is not writable: ", std::strerror(errno)));
      return;
    }
    ::close(fd);
    ::unlink(probe.c_str());
    Ok("mem dir", absl::StrCat(dir, " is writable"));
  }

  absl::Status Finish() {
    std::fflush(stdout);
    if (failures_ == 0) return absl::OkStatus();
    if (context_->config_error()) return absl::FailedPreconditionError("invalid configuration (see above)");
    return absl::FailedPreconditionError(absl::StrCat(failures_, " check(s) failed"));
  }

  Context* const context_;
  int failures_ = 0;
};

}  // namespace

void AddAdminCommands(CLI::App* root, Context* context, std::vector<Command>* commands) {
  CLI::App* admin = root->add_subcommand("admin", "Administer the cluster");
  admin->require_subcommand(1);
  admin->fallthrough();
  {
    CLI::App* report = admin->add_subcommand(
        "report", "Show the master, every worker with its usage and capacity per tier, and the mount table");
    auto json = std::make_shared<bool>(false);
    report->add_flag("--json", *json, "One JSON object");
    commands->push_back({report, [=] { return Report(context, *json); }});
  }
  {
    CLI::App* doctor = admin->add_subcommand(
        "doctor", "Check the configuration, the master, the workers and the local mem dir; say what is wrong");
    commands->push_back({doctor, [=] { return Doctor(context).Run(); }});
  }
  AddAdminJournalCommands(admin, context, commands);
}

}  // namespace cistern::cli
