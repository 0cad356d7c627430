// webhdfs_test_server: a NameNode and a DataNode speaking the WebHDFS REST API, for tests (no HDFS
// can be installed here). It follows the Hadoop WebHDFS REST API documentation for what the
// webhdfs:// adapter uses:
//
//   NameNode (--port): GETFILESTATUS, LISTSTATUS, LISTSTATUS_BATCH (startAfter, pages of
//     --ls-limit entries with remainingEntries), MKDIRS, DELETE (recursive), RENAME (HDFS
//     semantics: false when the source is missing or the destination's parent is, into an
//     existing destination directory), GETHOMEDIRECTORY; OPEN, CREATE and APPEND answer
//     "307 Temporary Redirect" with a DataNode URL, as a NameNode does.
//   DataNode (a second port, chosen at start): the data of CREATE (201), APPEND (200), OPEN
//     (offset, length).
//   Errors: {"RemoteException":{"exception":..,"javaClassName":..,"message":..}} with the HTTP status
//     Hadoop's ExceptionHandler gives: FileNotFoundException 404, SecurityException and other
//     IOExceptions 403 (AccessControlException, FileAlreadyExistsException,
//     PathIsNotEmptyDirectoryException, ParentNotDirectoryException), IllegalArgumentException and
//     UnsupportedOperationException 400.
//   Authentication: simple auth requires user.name (401 without it); with --user NAME given, only
//     those users are allowed (403 AccessControlException for others); a delegation=TOKEN must be
//     one given with --delegation (403 InvalidToken otherwise).
//
// Usage: webhdfs_test_server --port N [--user NAME]... [--delegation TOKEN]... [--ls-limit N]
#include <httplib.h>

#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace {

using Json = nlohmann::json;

struct Node {
  bool dir = false;
  std::string data;
  int64_t mtime_ms = 0;
  uint32_t perm = 0644;
  std::string owner;
  int64_t id = 0;
};

std::mutex mu;
std::map<std::string, Node> nodes;  // absolute path -> node; "/" always there
int64_t next_id = 16386;
std::set<std::string> users, tokens;
int64_t ls_limit = 1000;
int nn_port = 0, dn_port = 0;

constexpr char kPrefix[] = "/webhdfs/v1";

std::string Encode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

void Error(httplib::Response& res, int status, const std::string& exception, const std::string& java_package,
           const std::string& message) {
  res.status = status;
  Json j = {{"RemoteException",
             {{"exception", exception}, {"javaClassName", java_package + "." + exception}, {"message", message}}}};
  res.set_content(j.dump(), "application/json");
}

void NotFound(httplib::Response& res, const std::string& path) {
  Error(res, 404, "FileNotFoundException", "java.io", "File does not exist: " + path);
}

std::string Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}
std::string Base(const std::string& path) { return path.substr(path.rfind('/') + 1); }

bool IsUnder(const std::string& path, const std::string& dir) {
  return dir == "/" ? path != "/" : absl::StartsWith(path, dir + "/");
}

// The descendants of `path`: "/a/b/..." sorts after "/a/b-x", so start at "/a/b/".
std::pair<std::map<std::string, Node>::iterator, std::map<std::string, Node>::iterator> Subtree(const std::string& path) {
  auto begin = nodes.lower_bound(path == "/" ? "/" : path + "/");
  if (path == "/" && begin != nodes.end() && begin->first == "/") ++begin;
  auto end = begin;
  while (end != nodes.end() && IsUnder(end->first, path)) ++end;
  return {begin, end};
}

Json Status(const std::string& path, const Node& n, const std::string& suffix) {
  int64_t children = 0;
  if (n.dir) {
    auto [begin, end] = Subtree(path);
    for (auto it = begin; it != end; ++it) {
      if (Parent(it->first) == path) children++;
    }
  }
  char perm[8];
  std::snprintf(perm, sizeof(perm), "%o", n.perm);
  return Json{{"accessTime", n.dir ? 0 : n.mtime_ms},
              {"blockSize", n.dir ? 0 : 134217728},
              {"childrenNum", children},
              {"fileId", n.id},
              {"group", "supergroup"},
              {"length", n.dir ? 0 : static_cast<int64_t>(n.data.size())},
              {"modificationTime", n.mtime_ms},
              {"owner", n.owner},
              {"pathSuffix", suffix},
              {"permission", perm},
              {"replication", n.dir ? 0 : 1},
              {"storagePolicy", 0},
              {"type", n.dir ? "DIRECTORY" : "FILE"}};
}

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// The caller's user, or empty after filling `res` with the error.
std::string Authenticate(const httplib::Request& req, httplib::Response& res) {
  if (req.has_param("delegation")) {
    if (tokens.count(req.get_param_value("delegation")) == 0) {
      Error(res, 403, "InvalidToken", "org.apache.hadoop.security.token.SecretManager",
            "token (HDFS_DELEGATION_TOKEN token for cistern) can't be found in cache");
      return "";
    }
    return "delegated";
  }
  std::string user = req.get_param_value("user.name");
  if (user.empty()) {
    Error(res, 401, "SecurityException", "java.lang", "Failed to obtain user group information: no user.name");
    return "";
  }
  if (!users.empty() && users.count(user) == 0) {
    Error(res, 403, "AccessControlException", "org.apache.hadoop.security",
          "Permission denied: user=" + user + ", access=ALL, inode=\"/\":hdfs:supergroup:drwxr-xr-x");
    return "";
  }
  return user;
}

// Creates the missing directories of `dir`; false (and `res` filled) if a component is a file.
bool MakeDirs(const std::string& dir, const std::string& owner, uint32_t perm, httplib::Response& res) {
  std::string path;
  for (absl::string_view part : absl::StrSplit(dir, '/', absl::SkipEmpty())) {
    path += "/" + std::string(part);
    auto it = nodes.find(path);
    if (it == nodes.end()) {
      nodes[path] = Node{true, "", NowMs(), perm, owner, next_id++};
    } else if (!it->second.dir) {
      if (path == dir) {
        Error(res, 403, "FileAlreadyExistsException", "org.apache.hadoop.fs", "Path is not a directory: " + path);
      } else {
        Error(res, 403, "ParentNotDirectoryException", "org.apache.hadoop.fs", "Parent path is not a directory: " + path);
      }
      return false;
    }
  }
  return true;
}

std::string DataNodeUrl(const httplib::Request& req, const std::string& path, const std::string& op) {
  std::string url = absl::StrCat("http://127.0.0.1:", dn_port, kPrefix, Encode(path, true), "?op=", op,
                                 "&namenoderpcaddress=127.0.0.1:", nn_port);
  for (const char* p : {"user.name", "delegation", "overwrite", "permission", "offset", "length"}) {
    if (req.has_param(p)) absl::StrAppend(&url, "&", p, "=", Encode(req.get_param_value(p), false));
  }
  return url;
}

bool PathOf(const httplib::Request& req, httplib::Response& res, std::string& path) {
  if (!absl::StartsWith(req.path, kPrefix)) {
    Error(res, 404, "IllegalArgumentException", "java.lang", "not a WebHDFS path: " + req.path);
    return false;
  }
  path = req.path.substr(sizeof(kPrefix) - 1);
  if (path.empty()) path = "/";
  if (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path[0] != '/' || absl::StrContains(path, "//")) {
    Error(res, 400, "IllegalArgumentException", "java.lang", "Invalid path name " + path);
    return false;
  }
  return true;
}

void NameNode(const httplib::Request& req, httplib::Response& res) {
  std::string path;
  if (!PathOf(req, res, path)) return;
  const std::string user = Authenticate(req, res);
  if (user.empty()) return;
  const std::string op = absl::AsciiStrToUpper(req.get_param_value("op"));
  const std::string& m = req.method;
  std::lock_guard<std::mutex> lock(mu);
  auto it = nodes.find(path);
  auto boolean = [&](bool b) { res.set_content(Json{{"boolean", b}}.dump(), "application/json"); };
  if (m == "GET" && op == "GETFILESTATUS") {
    if (it == nodes.end()) return NotFound(res, path);
    res.set_content(Json{{"FileStatus", Status(path, it->second, "")}}.dump(), "application/json");
    return;
  }
  if (m == "GET" && (op == "LISTSTATUS" || op == "LISTSTATUS_BATCH")) {
    if (it == nodes.end()) return NotFound(res, path);
    Json list = Json::array();
    int64_t remaining = 0;
    if (!it->second.dir) {
      list.push_back(Status(path, it->second, ""));
    } else {
      const std::string after = op == "LISTSTATUS_BATCH" ? req.get_param_value("startAfter") : "";
      if (!after.empty() && after.find('/') != std::string::npos) {
        Error(res, 400, "IllegalArgumentException", "java.lang", "startAfter must be a name: " + after);
        return;
      }
      const std::string base = path == "/" ? "" : path;
      for (auto c = nodes.upper_bound(base + "/" + after); c != nodes.end() && IsUnder(c->first, path); ++c) {
        if (Parent(c->first) != path) continue;
        if (!after.empty() && Base(c->first) <= after) continue;
        if (op == "LISTSTATUS_BATCH" && static_cast<int64_t>(list.size()) == ls_limit) {
          remaining++;
          continue;
        }
        list.push_back(Status(c->first, c->second, Base(c->first)));
      }
    }
    if (op == "LISTSTATUS") {
      res.set_content(Json{{"FileStatuses", {{"FileStatus", list}}}}.dump(), "application/json");
    } else {
      res.set_content(Json{{"DirectoryListing", {{"partialListing", {{"FileStatuses", {{"FileStatus", list}}}}},
                                                  {"remainingEntries", remaining}}}}
                          .dump(),
                      "application/json");
    }
    return;
  }
  if (m == "GET" && op == "GETHOMEDIRECTORY") {
    res.set_content(Json{{"Path", "/user/" + user}}.dump(), "application/json");
    return;
  }
  if ((m == "GET" && op == "OPEN") || (m == "PUT" && op == "CREATE") || (m == "POST" && op == "APPEND")) {
    res.status = 307;
    res.set_header("Location", DataNodeUrl(req, path, op));
    res.set_content("", "application/octet-stream");
    return;
  }
  if (m == "PUT" && op == "MKDIRS") {
    uint32_t perm = 0755;
    if (req.has_param("permission")) perm = static_cast<uint32_t>(std::stoul(req.get_param_value("permission"), nullptr, 8));
    if (!MakeDirs(path, user, perm, res)) return;
    return boolean(true);
  }
  if (m == "DELETE" && op == "DELETE") {
    if (it == nodes.end() || path == "/") return boolean(false);
    const bool recursive = req.get_param_value("recursive") == "true";
    auto [begin, end] = Subtree(path);
    if (it->second.dir && begin != end && !recursive) {
      Error(res, 403, "PathIsNotEmptyDirectoryException", "org.apache.hadoop.fs", "`" + path + " is non empty': Directory is not empty");
      return;
    }
    nodes.erase(begin, end);
    nodes.erase(path);
    return boolean(true);
  }
  if (m == "PUT" && op == "RENAME") {
    std::string dst = req.get_param_value("destination");
    if (dst.empty() || dst[0] != '/') {
      Error(res, 400, "IllegalArgumentException", "java.lang", "Invalid value for webhdfs parameter \"destination\": " + dst);
      return;
    }
    if (it == nodes.end() || path == "/") return boolean(false);
    auto d = nodes.find(dst);
    if (d != nodes.end() && d->second.dir) dst = (dst == "/" ? "" : dst) + "/" + Base(path);  // into the directory
    if (nodes.count(dst) > 0 || dst == path || IsUnder(dst, path)) return boolean(false);
    auto parent = nodes.find(Parent(dst));
    if (parent == nodes.end() || !parent->second.dir) return boolean(false);
    std::map<std::string, Node> moved;
    moved[dst] = it->second;
    auto [begin, end] = Subtree(path);
    for (auto c = begin; c != end; ++c) moved[dst + c->first.substr(path.size())] = c->second;
    nodes.erase(begin, end);
    nodes.erase(path);
    for (auto& [p, n] : moved) nodes[p] = std::move(n);
    return boolean(true);
  }
  if (op.empty() || (op != "GETFILESTATUS" && op != "LISTSTATUS" && op != "LISTSTATUS_BATCH" && op != "OPEN" &&
                     op != "CREATE" && op != "APPEND" && op != "MKDIRS" && op != "DELETE" && op != "RENAME")) {
    Error(res, 400, "IllegalArgumentException", "java.lang", "Invalid value for webhdfs parameter \"op\": " + op);
    return;
  }
  Error(res, 400, "UnsupportedOperationException", "java.lang", op + " is not supported with HTTP " + m);
}

void DataNode(const httplib::Request& req, httplib::Response& res) {
  std::string path;
  if (!PathOf(req, res, path)) return;
  const std::string user = Authenticate(req, res);
  if (user.empty()) return;
  const std::string op = req.get_param_value("op");
  std::lock_guard<std::mutex> lock(mu);
  auto it = nodes.find(path);
  if (req.method == "PUT" && op == "CREATE") {
    if (it != nodes.end() && it->second.dir) {
      Error(res, 403, "FileAlreadyExistsException", "org.apache.hadoop.fs", path + " already exists as a directory");
      return;
    }
    if (it != nodes.end() && req.get_param_value("overwrite") != "true") {
      Error(res, 403, "FileAlreadyExistsException", "org.apache.hadoop.fs", "File " + path + " already exists");
      return;
    }
    if (!MakeDirs(Parent(path), user, 0755, res)) return;
    uint32_t perm = 0644;
    if (req.has_param("permission")) perm = static_cast<uint32_t>(std::stoul(req.get_param_value("permission"), nullptr, 8));
    nodes[path] = Node{false, req.body, NowMs(), perm, user, next_id++};
    res.status = 201;
    res.set_header("Location", absl::StrCat("hdfs://127.0.0.1:", nn_port, Encode(path, true)));
    res.set_content("", "application/octet-stream");
    return;
  }
  if (it == nodes.end() || it->second.dir) return NotFound(res, path);
  if (req.method == "POST" && op == "APPEND") {
    it->second.data += req.body;
    it->second.mtime_ms = NowMs();
    res.set_content("", "application/octet-stream");
    return;
  }
  if (req.method == "GET" && op == "OPEN") {
    int64_t offset = 0, length = -1;
    if (req.has_param("offset") && !absl::SimpleAtoi(req.get_param_value("offset"), &offset)) offset = -1;
    if (req.has_param("length") && !absl::SimpleAtoi(req.get_param_value("length"), &length)) length = -2;
    const int64_t size = static_cast<int64_t>(it->second.data.size());
    if (offset < 0 || length < -1 || offset > size) {
      Error(res, 403, "IOException", "java.io", absl::StrCat("Offset=", offset, " out of the range [0, ", size, ")"));
      return;
    }
    const int64_t n = length < 0 ? size - offset : std::min(length, size - offset);
    res.set_content(it->second.data.substr(offset, n), "application/octet-stream");
    return;
  }
  Error(res, 400, "IllegalArgumentException", "java.lang", "Invalid value for webhdfs parameter \"op\": " + op);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--port") {
      nn_port = std::atoi(value.c_str());
    } else if (flag == "--user") {
      users.insert(value);
    } else if (flag == "--delegation") {
      tokens.insert(value);
    } else if (flag == "--ls-limit") {
      ls_limit = std::atoll(value.c_str());
    } else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (nn_port <= 0 || ls_limit <= 0) {
    std::cerr << "usage: webhdfs_test_server --port N [--user NAME]... [--delegation TOKEN]... [--ls-limit N]\n";
    return 2;
  }
  nodes["/"] = Node{true, "", NowMs(), 0755, "hdfs", 16385};
  httplib::Server namenode, datanode;
  for (httplib::Server* s : {&namenode, &datanode}) {
    s->set_keep_alive_max_count(1000);
    s->set_tcp_nodelay(true);  // else Nagle + delayed ACKs cost 40 ms per response
    s->set_payload_max_length(1LL << 32);
  }
  namenode.Get(".*", NameNode).Put(".*", NameNode).Post(".*", NameNode).Delete(".*", NameNode);
  datanode.Get(".*", DataNode).Put(".*", DataNode).Post(".*", DataNode);
  dn_port = datanode.bind_to_any_port("127.0.0.1");
  if (dn_port <= 0 || !namenode.bind_to_port("127.0.0.1", nn_port)) {
    std::cerr << "cannot listen on 127.0.0.1:" << nn_port << "\n";
    return 1;
  }
  std::thread dn([&] { datanode.listen_after_bind(); });
  std::cout << "ready: NameNode 127.0.0.1:" << nn_port << ", DataNode 127.0.0.1:" << dn_port << std::endl;
  namenode.listen_after_bind();
  datanode.stop();
  dn.join();
  return 0;
}
