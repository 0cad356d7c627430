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
#include "client/client_options.h"
#include "common/clock.h"
#include "common/config_keys.h"
#include "common/status.h"
#include "http/http_server.h"
#include "nlohmann/json.hpp"
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

struct LogLevelFlags {
  std::string target = "all";
  std::string level;  // empty = show
};

// A daemon's HTTP endpoint: what to call it and where it listens.
struct HttpTarget {
  std::string name;     // "master 127.0.0.1:7700", "worker 3 10.0.0.5:7710"
  std::string address;  // host:http_port
};

absl::StatusOr<std::vector<HttpTarget>> LogLevelTargets(Context* context, const std::string& target) {
  std::vector<HttpTarget> out;
  if (target != "all" && target != "master" && target != "worker") {
    // host:port of one daemon's HTTP server.
    if (target.find(':') == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad --target '", target, "': want master, worker, all or host:port of a daemon's HTTP port"));
    }
    out.push_back({target, target});
    return out;
  }
  CISTERN_ASSIGN_OR_RETURN(const Config* config, context->config());
  if (target != "worker") {
    // Every configured master, on the configured HTTP port (standbys too, so not via the leader).
    const int64_t http_port = config->GetInt(conf::kMasterHttpPort);
    for (const std::string& address : MasterAddresses(*config)) {
      const std::string host = address.substr(0, address.rfind(':'));
      out.push_back({absl::StrCat("master ", address), absl::StrCat(host, ":", http_port)});
    }
  }
  if (target != "master") {
    CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
    CISTERN_ASSIGN_OR_RETURN(std::vector<WorkerSummary> workers, fs->GetWorkers());
    for (const WorkerSummary& w : workers) {
      if (w.state != WorkerState::kLive) continue;
      if (w.http_port == 0) return absl::FailedPreconditionError(absl::StrCat("worker ", w.address, " reported no HTTP port"));
      out.push_back({absl::StrCat("worker ", w.worker_id, " ", w.address), absl::StrCat(w.host, ":", w.http_port)});
    }
  }
  return out;
}

absl::Status LogLevel(Context* context, const LogLevelFlags& flags) {
  CISTERN_ASSIGN_OR_RETURN(std::vector<HttpTarget> targets, LogLevelTargets(context, flags.target));
  if (targets.empty()) return absl::NotFoundError(absl::StrCat("no daemon matches --target ", flags.target));
  // TOKEN mode: changing a level needs the superuser's token (docs/security.md, "HTTP endpoints").
  CISTERN_ASSIGN_OR_RETURN(const Config* config, context->config());
  CISTERN_ASSIGN_OR_RETURN(const ClientOptions options, client::ClientOptionsFromConfig(*config));
  int failures = 0;
  for (const HttpTarget& t : targets) {
    absl::StatusOr<http::HttpResult> result =
        flags.level.empty() ? http::Fetch("GET", t.address, "/api/v1/log-level", {}, 5000, options.token)
                            : http::Fetch("PUT", t.address, "/api/v1/log-level", flags.level, 5000, options.token);
    std::string line;
    if (!result.ok()) {
      line = absl::StrCat(t.name, ": ", result.status().message());
    } else {
      nlohmann::json j = nlohmann::json::parse(result->body, nullptr, /*allow_exceptions=*/false);
      if (result->status == 200 && j.is_object() && j.contains("level")) {
        CISTERN_RETURN_IF_ERROR(PrintOut(absl::StrCat(t.name, ": ", j["level"].get<std::string>(), "\n")));
        continue;
      }
      line = absl::StrCat(t.name, ": HTTP ", result->status, ": ",
                          j.is_object() && j.contains("error") ? j["error"].get<std::string>() : result->body);
    }
    ++failures;
    std::fprintf(stderr, "cistern: %s\n", line.c_str());
  }
  if (failures > 0) return absl::UnavailableError(absl::StrCat(failures, " of ", targets.size(), " daemon(s) failed"));
  return absl::OkStatus();
}

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
  {
    CLI::App* cmd = admin->add_subcommand(
        "log-level", "Show or change the log level of running daemons (through their HTTP port), without a restart");
    auto flags = std::make_shared<LogLevelFlags>();
    cmd->add_option("--target", flags->target,
                    "Which daemons: all (default), master (every configured master), worker (every live worker) or "
                    "host:port of one daemon's HTTP port");
    cmd->add_option("level", flags->level, "New level: trace, debug, info, warn or error; omitted = show the levels")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
    commands->push_back({cmd, [=] { return LogLevel(context, *flags); }});
  }
  AddAdminJournalCommands(admin, context, commands);
}

}  // namespace cistern::cli
