#include "master/master_http.h"

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/config_keys.h"
#include "common/version.h"
#include "journal/journal.h"
#include "master/block_master.h"
#include "master/cache_usage.h"
#include "master/file_system_master.h"
#include "master/namespace_store.h"
#include "master/webui_assets.h"
#include "nlohmann/json.hpp"

namespace cistern::master {
namespace {

using nlohmann::json;

constexpr int kDefaultListLimit = 1000;
constexpr int kMaxListLimit = 10000;

http::Response JsonOk(const json& j) {
  // Names may hold any bytes; replace invalid UTF-8 instead of failing the page.
  return http::Response::Json(200, j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
}

http::Response Error(const absl::Status& status) {
  return http::Response::JsonError(http::HttpStatusFor(status), std::string(status.message()));
}

std::string StateName(proto::WorkerState state) { return state == proto::LIVE ? "LIVE" : "LOST"; }

json AddressJson(const proto::NetAddress& a) {
  return {{"host", a.host()}, {"rpc_port", a.rpc_port()}, {"http_port", a.http_port()}};
}

json WorkerJson(const proto::WorkerInfo& w) {
  json tiers = json::array();
  for (const proto::TierUsage& t : w.tiers()) {
    tiers.push_back({{"alias", t.alias()}, {"capacity_bytes", t.capacity_bytes()}, {"used_bytes", t.used_bytes()}});
  }
  const int64_t read = w.cache_read_bytes() + w.ufs_read_bytes();
  return {{"id", w.worker_id()},
          {"address", AddressJson(w.address())},
          {"state", StateName(w.state())},
          {"capacity_bytes", w.capacity_bytes()},
          {"used_bytes", w.used_bytes()},
          {"block_count", w.block_count()},
          {"last_heartbeat_ms", w.last_heartbeat_ms()},
          {"registered_ms", w.registered_ms()},
          {"cache_read_bytes", w.cache_read_bytes()},
          {"ufs_read_bytes", w.ufs_read_bytes()},
          {"cache_hit_ratio", read > 0 ? static_cast<double>(w.cache_read_bytes()) / static_cast<double>(read) : 0.0},
          {"tiers", tiers}};
}

std::string PersistenceName(proto::PersistenceState s) {
  switch (s) {
    case proto::NOT_PERSISTED:
      return "NOT_PERSISTED";
    case proto::TO_BE_PERSISTED:
      return "TO_BE_PERSISTED";
    case proto::PERSISTED:
      return "PERSISTED";
    default:
      return "UNKNOWN";
  }
}

json FileJson(const proto::FileInfo& f) {
  const bool dir = f.kind() == proto::DIRECTORY;
  json j = {{"id", f.file_id()},
            {"path", f.path()},
            {"name", f.name()},
            {"directory", dir},
            {"length", f.length()},
            {"block_size_bytes", f.block_size_bytes()},
            {"mode", f.mode()},
            {"owner", f.owner()},
            {"group", f.group()},
            {"creation_time_ms", f.creation_time_ms()},
            {"modification_time_ms", f.modification_time_ms()},
            {"completed", f.completed()},
            {"persistence_state", PersistenceName(f.persistence_state())},
            {"pinned", f.pinned()},
            {"ufs_path", f.ufs_path()},
            {"mount_point", f.mount_point()},
            {"ttl_ms", f.ttl_ms()}};
  if (!dir) {
    j["cached_bytes"] = f.cached_bytes();
    j["in_cache_percentage"] = f.in_cache_percentage();
    j["block_count"] = f.block_ids_size();
  }
  if (f.blocks_size() > 0) {
    json blocks = json::array();
    for (const proto::BlockInfo& b : f.blocks()) {
      json locations = json::array();
      for (const proto::BlockLocation& l : b.locations()) {
        locations.push_back({{"worker_id", l.worker_id()}, {"address", AddressJson(l.address())}, {"tier", l.tier()}});
      }
      blocks.push_back({{"id", b.block_id()}, {"offset", b.offset()}, {"length", b.length()}, {"locations", locations}});
    }
    j["blocks"] = blocks;
  }
  return j;
}

bool IsSecretKey(std::string_view key) {
  const std::string lower = absl::AsciiStrToLower(std::string(key));
  for (const char* word : {"secret", "password", "credential", "access_key", "token", "account_key", "sas"}) {
    if (absl::StrContains(lower, word)) return true;
  }
  return false;
}

class Api {
 public:
  explicit Api(MasterHttpContext c) : c_(std::move(c)) {}

  http::Response Overview() const {
    std::vector<proto::WorkerInfo> workers = c_.blocks->GetWorkers();
    int live = 0, lost = 0;
    int64_t capacity = 0, used = 0, cache_read = 0, ufs_read = 0;
    std::map<std::string, std::pair<int64_t, int64_t>> tiers;
    for (const proto::WorkerInfo& w : workers) {
      if (w.state() != proto::LIVE) {
        ++lost;
        continue;
      }
      ++live;
      capacity += w.capacity_bytes();
      used += w.used_bytes();
      cache_read += w.cache_read_bytes();
      ufs_read += w.ufs_read_bytes();
      for (const proto::TierUsage& t : w.tiers()) {
        tiers[t.alias()].first += t.capacity_bytes();
        tiers[t.alias()].second += t.used_bytes();
      }
    }
    json tier_list = json::array();
    for (const auto& [alias, u] : tiers) {
      tier_list.push_back({{"alias", alias}, {"capacity_bytes", u.first}, {"used_bytes", u.second}});
    }
    // One master today: it is the leader. Replicated masters (issue 6) report the Raft view here.
    json masters = json::array();
    for (const std::string& address : MasterAddresses(*c_.config)) {
      masters.push_back({{"address", address}, {"leader", address == c_.address}});
    }
    if (masters.empty() || std::none_of(masters.begin(), masters.end(), [](const json& m) { return m["leader"]; })) {
      masters.push_back({{"address", c_.address}, {"leader", true}});
    }
    const int64_t read = cache_read + ufs_read;
    return JsonOk({{"version", kVersion},
                   {"cluster_id", c_.cluster_id},
                   {"address", c_.address},
                   {"http_port", c_.http != nullptr ? c_.http->port() : 0},
                   {"leader", c_.address},
                   {"masters", masters},
                   {"start_time_ms", c_.start_time_ms},
                   {"now_ms", RealClock()->NowMs()},
                   {"applied_index", c_.journal->applied_index()},
                   {"inode_count", c_.store->kv()->ApproximateCount(kInodesCf)},
                   {"workers", {{"live", live}, {"lost", lost}}},
                   {"capacity_bytes", capacity},
                   {"used_bytes", used},
                   {"tiers", tier_list},
                   {"cache_read_bytes", cache_read},
                   {"ufs_read_bytes", ufs_read},
                   {"cache_hit_ratio", read > 0 ? static_cast<double>(cache_read) / static_cast<double>(read) : 0.0}});
  }

  http::Response Workers() const {
    json list = json::array();
    for (const proto::WorkerInfo& w : c_.blocks->GetWorkers()) list.push_back(WorkerJson(w));
    return JsonOk({{"workers", list}});
  }

  http::Response Files(const http::Request& request) const {
    const std::string path = request.Param("path", "/");
    int limit = kDefaultListLimit;
    if (request.HasParam("limit") && (!absl::SimpleAtoi(request.Param("limit"), &limit) || limit < 1)) {
      return http::Response::JsonError(400, absl::StrCat("bad limit '", request.Param("limit"), "': want a positive number"));
    }
    limit = std::min(limit, kMaxListLimit);
    proto::GetStatusRequest get;
    get.set_path(path);
    absl::StatusOr<proto::FileInfo> info = c_.fs->GetStatus(get);
    if (!info.ok()) return Error(info.status());
    json out = {{"status", FileJson(*info)}};
    if (info->kind() != proto::DIRECTORY) return JsonOk(out);
    json children = json::array();
    bool truncated = false;
    proto::ListStatusRequest list;
    list.set_path(info->path());
    const absl::Status limit_reached = absl::ResourceExhaustedError("listing limit reached");
    absl::Status status = c_.fs->ListStatus(list, [&](const proto::ListStatusResponse& page) -> absl::Status {
      for (const proto::FileInfo& child : page.infos()) {
        if (static_cast<int>(children.size()) >= limit) {
          truncated = true;
          return limit_reached;
        }
        children.push_back(FileJson(child));
      }
      return absl::OkStatus();
    });
    if (!status.ok() && !truncated) return Error(status);
    out["children"] = children;
    out["truncated"] = truncated;
    out["limit"] = limit;
    return JsonOk(out);
  }

  http::Response File(const http::Request& request) const {
    proto::GetStatusRequest get;
    get.set_path(request.Param("path", "/"));
    get.set_include_block_locations(true);
    absl::StatusOr<proto::FileInfo> info = c_.fs->GetStatus(get);
    if (!info.ok()) return Error(info.status());
    return JsonOk({{"status", FileJson(*info)}});
  }

  http::Response Mounts() const {
    std::optional<CacheUsageReport> report = c_.scanner->Latest();
    std::map<std::string, MountUsage> usage;
    if (report.has_value()) {
      for (const MountUsage& m : report->mounts) usage[m.path] = m;
    }
    json list = json::array();
    for (const proto::MountInfo& m : c_.fs->GetMountTable()) {
      json options = json::object();
      for (const auto& [k, v] : m.options()) options[k] = IsSecretKey(k) ? "********" : v;
      json entry = {{"id", m.mount_id()}, {"path", m.path()},     {"ufs_uri", m.ufs_uri()},
                    {"read_only", m.read_only()}, {"shared", m.shared()}, {"options", options}};
      if (auto it = usage.find(m.path()); it != usage.end()) {
        const MountUsage& u = it->second;
        entry["usage"] = {{"files", u.files},
                          {"directories", u.directories},
                          {"bytes", u.bytes},
                          {"cached_bytes", u.cached_bytes},
                          {"cached_percentage", u.bytes > 0 ? static_cast<double>(u.cached_bytes) * 100.0 /
                                                                   static_cast<double>(u.bytes)
                                                             : 100.0}};
      }
      list.push_back(entry);
    }
    json out = {{"mounts", list}};
    if (report.has_value()) {
      out["scan"] = {{"finished_ms", report->finished_ms},
                     {"duration_ms", report->duration_ms},
                     {"inodes_scanned", report->inodes_scanned}};
    }
    return JsonOk(out);
  }

  http::Response ConfigInEffect() const {
    json keys = json::array();
    std::map<std::string, const ConfigKey*> declared;
    for (const ConfigKey* key : AllConfigKeys()) declared[std::string(key->name)] = key;
    for (const auto& [name, value] : c_.config->Dump()) {
      json entry = {{"key", name}, {"value", IsSecretKey(name) && !value.empty() ? "********" : value}};
      if (auto it = declared.find(name); it != declared.end()) {
        entry["origin"] = c_.config->Origin(*it->second);
        entry["default"] = std::string(it->second->default_value);
        entry["description"] = std::string(it->second->description);
      }
      keys.push_back(entry);
    }
    return JsonOk({{"keys", keys}});
  }

 private:
  const MasterHttpContext c_;
};

}  // namespace

void AddMasterHttpHandlers(http::HttpServer* server, MasterHttpContext context) {
  // Every API route passes the authorization check first.
  auto gated = [authorize = context.authorize](http::Handler handler) { return http::Gated(authorize, std::move(handler)); };
  auto api = std::make_shared<Api>(std::move(context));
  server->Handle("GET", "/api/v1/overview", gated([api](const http::Request&) { return api->Overview(); }));
  server->Handle("GET", "/api/v1/workers", gated([api](const http::Request&) { return api->Workers(); }));
  server->Handle("GET", "/api/v1/files", gated([api](const http::Request& r) { return api->Files(r); }));
  server->Handle("GET", "/api/v1/file", gated([api](const http::Request& r) { return api->File(r); }));
  server->Handle("GET", "/api/v1/mounts", gated([api](const http::Request&) { return api->Mounts(); }));
  server->Handle("GET", "/api/v1/config", gated([api](const http::Request&) { return api->ConfigInEffect(); }));
  auto asset = [](const std::string& path) {
    const WebUiAsset* found = FindWebUiAsset(path);
    if (found == nullptr) return http::Response::Text(404, absl::StrCat("no such file: ", path, "\n"));
    http::Response r;
    r.content_type = found->content_type;
    r.body.assign(reinterpret_cast<const char*>(found->data), found->size);
    r.headers.push_back({"Cache-Control", "no-cache"});
    return r;
  };
  server->Handle("GET", "/", [asset](const http::Request&) { return asset("/ui/index.html"); });
  server->HandlePrefix("GET", "/ui/", [asset](const http::Request& r) { return asset(r.path); });
}

}  // namespace cistern::master
