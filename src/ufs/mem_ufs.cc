#include "ufs/mem_ufs.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <chrono>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/path.h"
#include "common/status.h"
#include "ufs/uri.h"

namespace cistern::ufs {
namespace {

struct Node {
  bool is_directory = false;
  std::shared_ptr<const std::string> data;  // files only; shared with open readers
  int64_t mtime_ms = 0;
  std::string etag;
  uint32_t mode = 0;
};

// One named store. Keys are normalized paths; "/" always exists.
struct MemStore {
  absl::Mutex mu;
  std::map<std::string, Node, std::less<>> nodes ABSL_GUARDED_BY(mu);
};

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string NextEtag() {
  static std::atomic<uint64_t> generation{0};
  return absl::StrCat("mem-", generation.fetch_add(1) + 1);
}

std::shared_ptr<MemStore> StoreFor(std::string_view authority) {
  static absl::Mutex registry_mu(absl::kConstInit);
  // Leaked on purpose: stores live for the whole process, like a server would.
  static auto* registry = new std::map<std::string, std::shared_ptr<MemStore>, std::less<>>();
  absl::MutexLock lock(&registry_mu);
  auto it = registry->find(authority);
  if (it != registry->end()) return it->second;
  auto store = std::make_shared<MemStore>();
  {
    absl::MutexLock store_lock(&store->mu);
    store->nodes["/"] = Node{true, nullptr, NowMs(), "", 0755};
  }
  registry->emplace(std::string(authority), store);
  return store;
}

struct Resolved {
  std::shared_ptr<MemStore> store;
  std::string path;
  std::string uri;
};

absl::StatusOr<Resolved> Resolve(std::string_view uri) {
  CISTERN_ASSIGN_OR_RETURN(Uri parsed, ParseUri(uri));
  if (parsed.scheme != "mem") {
    return absl::InvalidArgumentError(absl::StrCat("not a mem:// URI: '", std::string(uri), "'"));
  }
  return Resolved{StoreFor(parsed.authority), parsed.path, std::string(uri)};
}

UfsStatus ToStatus(std::string_view path, const Node& node) {
  UfsStatus s;
  s.name = BaseName(path);
  s.is_directory = node.is_directory;
  s.length = node.is_directory ? 0 : static_cast<int64_t>(node.data->size());
  s.mtime_ms = node.mtime_ms;
  s.etag = node.etag;
  s.mode = node.mode;
  return s;
}

// Descendants of `dir` are the keys starting with dir + "/" (all keys for the root).
std::string ChildPrefix(std::string_view dir) { return dir == "/" ? "/" : absl::StrCat(std::string(dir), "/"); }

bool HasDescendants(const std::map<std::string, Node, std::less<>>& nodes, std::string_view dir) {
  std::string prefix = ChildPrefix(dir);
  auto it = nodes.upper_bound(prefix);
  if (dir == "/") return nodes.size() > 1;
  return it != nodes.end() && it->first.compare(0, prefix.size(), prefix) == 0;
}

absl::Status MkdirsLocked(std::map<std::string, Node, std::less<>>& nodes, std::string_view path, uint32_t mode) {
  std::string cur;
  for (const std::string& part : SplitPath(path)) {
    cur = JoinPath(cur.empty() ? "/" : cur, part);
    auto it = nodes.find(cur);
    if (it == nodes.end()) {
      nodes.emplace(cur, Node{true, nullptr, NowMs(), "", mode});
    } else if (!it->second.is_directory) {
      return absl::AlreadyExistsError(absl::StrCat("'", cur, "' exists and is not a directory"));
    }
  }
  return absl::OkStatus();
}

class MemReader : public RandomAccessReader {
 public:
  explicit MemReader(std::shared_ptr<const std::string> data) : data_(std::move(data)) {}
  absl::StatusOr<int64_t> ReadAt(int64_t offset, int64_t n, char* buf) override {
    if (offset < 0 || n < 0) return absl::InvalidArgumentError(absl::StrCat("bad read range ", offset, "+", n));
    const int64_t size = static_cast<int64_t>(data_->size());
    if (offset >= size) return 0;
    const int64_t count = std::min(n, size - offset);
    std::memcpy(buf, data_->data() + offset, static_cast<size_t>(count));
    return count;
  }

 private:
  const std::shared_ptr<const std::string> data_;
};

class MemOutputStream : public UfsOutputStream {
 public:
  MemOutputStream(Resolved target, CreateOptions options) : target_(std::move(target)), options_(options) {}

  absl::Status Write(std::string_view data) override {
    if (done_) return absl::FailedPreconditionError(absl::StrCat("write to closed file '", target_.uri, "'"));
    buffer_.append(data);
    return absl::OkStatus();
  }

  absl::StatusOr<UfsStatus> Close() override {
    if (done_) return absl::FailedPreconditionError(absl::StrCat("file '", target_.uri, "' already closed"));
    done_ = true;
    MemStore& store = *target_.store;
    absl::MutexLock lock(&store.mu);
    std::string parent = ParentPath(target_.path);
    auto parent_it = store.nodes.find(parent);
    if (parent_it == store.nodes.end() || !parent_it->second.is_directory) {
      if (!options_.create_parents) {
        return absl::NotFoundError(absl::StrCat("parent of '", target_.uri, "' does not exist"));
      }
      CISTERN_RETURN_IF_ERROR(MkdirsLocked(store.nodes, parent, 0755));
    }
    auto it = store.nodes.find(target_.path);
    if (it != store.nodes.end()) {
      if (it->second.is_directory) return absl::AlreadyExistsError(absl::StrCat("'", target_.uri, "' is a directory"));
      if (!options_.overwrite) return absl::AlreadyExistsError(absl::StrCat("'", target_.uri, "' already exists"));
    }
    Node node{false, std::make_shared<const std::string>(std::move(buffer_)), NowMs(), NextEtag(), options_.mode};
    UfsStatus status = ToStatus(target_.path, node);
    store.nodes[target_.path] = std::move(node);
    return status;
  }

  void Abort() override {
    done_ = true;
    buffer_.clear();
  }

 private:
  const Resolved target_;
  const CreateOptions options_;
  std::string buffer_;
  bool done_ = false;
};

class MemUnderFileSystem : public UnderFileSystem {
 public:
  Capabilities capabilities() const override { return Capabilities{false, true}; }

  absl::StatusOr<std::unique_ptr<RandomAccessReader>> Open(std::string_view uri) override {
    CISTERN_ASSIGN_OR_RETURN(Resolved r, Resolve(uri));
    absl::MutexLock lock(&r.store->mu);
    auto it = r.store->nodes.find(r.path);
    if (it == r.store->nodes.end()) return absl::NotFoundError(absl::StrCat("open '", r.uri, "': no such file"));
    if (it->second.is_directory) return absl::InvalidArgumentError(absl::StrCat("open '", r.uri, "': is a directory"));
    return std::make_unique<MemReader>(it->second.data);
  }

  absl::StatusOr<std::unique_ptr<UfsOutputStream>> Create(std::string_view uri, const CreateOptions& options) override {
    CISTERN_ASSIGN_OR_RETURN(Resolved r, Resolve(uri));
    if (r.path == "/") return absl::InvalidArgumentError(absl::StrCat("cannot create a file at the root '", r.uri, "'"));
    {
      absl::MutexLock lock(&r.store->mu);
      auto& nodes = r.store->nodes;
      auto parent = nodes.find(ParentPath(r.path));
      if (parent == nodes.end() && !options.create_parents) {
        return absl::NotFoundError(absl::StrCat("create '", r.uri, "': parent directory does not exist"));
      }
      if (parent != nodes.end() && !parent->second.is_directory) {
        return absl::AlreadyExistsError(absl::StrCat("create '", r.uri, "': parent is a file"));
      }
      if (options.create_parents) CISTERN_RETURN_IF_ERROR(MkdirsLocked(nodes, ParentPath(r.path), 0755));
      auto it = nodes.find(r.path);
      if (it != nodes.end()) {
        if (it->second.is_directory) return absl::AlreadyExistsError(absl::StrCat("'", r.uri, "' is a directory"));
        if (!options.overwrite) return absl::AlreadyExistsError(absl::StrCat("'", r.uri, "' already exists"));
      }
    }
    return std::make_unique<MemOutputStream>(std::move(r), options);
  }

  absl::StatusOr<UfsStatus> GetStatus(std::string_view uri) override {
    CISTERN_ASSIGN_OR_RETURN(Resolved r, Resolve(uri));
    absl::MutexLock lock(&r.store->mu);
    auto it = r.store->nodes.find(r.path);
    if (it == r.store->nodes.end()) return absl::NotFoundError(absl::StrCat("'", r.uri, "' does not exist"));
    return ToStatus(r.path, it->second);
  }

  absl::Status ListDirectory(std::string_view uri, const std::function<absl::Status(const UfsStatus&)>& visit) override {
    CISTERN_ASSIGN_OR_RETURN(Resolved r, Resolve(uri));
    std::vector<UfsStatus> children;
    {
      absl::MutexLock lock(&r.store->mu);
      auto& nodes = r.store->nodes;
      auto self = nodes.find(r.path);
      if (self == nodes.end()) return absl::NotFoundError(absl::StrCat("list '", r.uri, "': no such directory"));
      if (!self->second.is_directory) return absl::NotFoundError(absl::StrCat("list '", r.uri, "': not a directory"));
      const std::string prefix = ChildPrefix(r.path);
      for (auto it = nodes.upper_bound(prefix); it != nodes.end() && it->first.compare(0, prefix.size(), prefix) == 0;
           ++it) {
        if (it->first.find('/', prefix.size()) != std::string::npos) continue;  // deeper descendant
        children.push_back(ToStatus(it->first, it->second));
      }
    }
    for (const UfsStatus& child : children) CISTERN_RETURN_IF_ERROR(visit(child));
    return absl::OkStatus();
  }

  absl::Status Mkdirs(std::string_view uri, uint32_t mode) override {
    CISTERN_ASSIGN_OR_RETURN(Resolved r, Resolve(uri));
    absl::MutexLock lock(&r.store->mu);
    return MkdirsLocked(r.store->nodes, r.path, mode);
  }

  absl::Status Delete(std::string_view uri, bool recursive) override {
    CISTERN_ASSIGN_OR_RETURN(Resolved r, Resolve(uri));
    if (r.path == "/") return absl::InvalidArgumentError(absl::StrCat("cannot delete the root '", r.uri, "'"));
    absl::MutexLock lock(&r.store->mu);
    auto& nodes = r.store->nodes;
    auto it = nodes.find(r.path);
    if (it == nodes.end()) return absl::NotFoundError(absl::StrCat("delete '", r.uri, "': no such file or directory"));
    if (it->second.is_directory) {
      if (HasDescendants(nodes, r.path)) {
        if (!recursive) return absl::FailedPreconditionError(absl::StrCat("delete '", r.uri, "': directory is not empty"));
        const std::string prefix = ChildPrefix(r.path);
        auto first = nodes.upper_bound(prefix);
        auto last = first;
        while (last != nodes.end() && last->first.compare(0, prefix.size(), prefix) == 0) ++last;
        nodes.erase(first, last);
      }
    }
    nodes.erase(r.path);
    return absl::OkStatus();
  }

  absl::Status Rename(std::string_view src_uri, std::string_view dst_uri) override {
    CISTERN_ASSIGN_OR_RETURN(Resolved src, Resolve(src_uri));
    CISTERN_ASSIGN_OR_RETURN(Resolved dst, Resolve(dst_uri));
    if (src.store != dst.store) {
      return absl::InvalidArgumentError(absl::StrCat("rename '", src.uri, "' to '", dst.uri, "': different stores"));
    }
    if (src.path == "/" || IsSameOrDescendant(dst.path, src.path)) {
      return absl::InvalidArgumentError(absl::StrCat("cannot rename '", src.uri, "' to '", dst.uri, "'"));
    }
    absl::MutexLock lock(&src.store->mu);
    auto& nodes = src.store->nodes;
    auto it = nodes.find(src.path);
    if (it == nodes.end()) return absl::NotFoundError(absl::StrCat("rename '", src.uri, "': no such file or directory"));
    if (nodes.count(dst.path) > 0) return absl::AlreadyExistsError(absl::StrCat("rename to '", dst.uri, "': destination exists"));
    CISTERN_RETURN_IF_ERROR(MkdirsLocked(nodes, ParentPath(dst.path), 0755));
    std::vector<std::pair<std::string, Node>> moved;
    moved.emplace_back(dst.path, it->second);
    nodes.erase(it);
    const std::string prefix = ChildPrefix(src.path);
    for (auto child = nodes.upper_bound(prefix);
         child != nodes.end() && child->first.compare(0, prefix.size(), prefix) == 0;) {
      moved.emplace_back(absl::StrCat(dst.path, child->first.substr(src.path.size())), std::move(child->second));
      child = nodes.erase(child);
    }
    for (auto& [path, node] : moved) nodes[path] = std::move(node);
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<UnderFileSystem> NewMemUnderFileSystem() { return std::make_unique<MemUnderFileSystem>(); }

void ClearMemStoreForTest(std::string_view authority) {
  std::shared_ptr<MemStore> store = StoreFor(authority);
  absl::MutexLock lock(&store->mu);
  auto root = store->nodes.extract("/");
  store->nodes.clear();
  store->nodes.insert(std::move(root));
}

}  // namespace cistern::ufs
