#include "testing/lincheck_namespace.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/path.h"

namespace cistern::lincheck {

NamespaceInput NamespaceInput::CreateFile(std::string path, bool recursive, bool overwrite) {
  NamespaceInput in;
  in.kind = Kind::kCreateFile;
  in.path = std::move(path);
  in.recursive = recursive;
  in.overwrite = overwrite;
  return in;
}

NamespaceInput NamespaceInput::CreateDirectory(std::string path, bool recursive, bool allow_exists) {
  NamespaceInput in;
  in.kind = Kind::kCreateDirectory;
  in.path = std::move(path);
  in.recursive = recursive;
  in.allow_exists = allow_exists;
  return in;
}

NamespaceInput NamespaceInput::Rename(std::string src, std::string dst) {
  NamespaceInput in;
  in.kind = Kind::kRename;
  in.path = std::move(src);
  in.dst = std::move(dst);
  return in;
}

NamespaceInput NamespaceInput::Delete(std::string path, bool recursive) {
  NamespaceInput in;
  in.kind = Kind::kDelete;
  in.path = std::move(path);
  in.recursive = recursive;
  return in;
}

NamespaceInput NamespaceInput::GetStatus(std::string path) {
  NamespaceInput in;
  in.kind = Kind::kGetStatus;
  in.path = std::move(path);
  return in;
}

NamespaceInput NamespaceInput::Exists(std::string path) {
  NamespaceInput in;
  in.kind = Kind::kExists;
  in.path = std::move(path);
  return in;
}

namespace {

using Code = absl::StatusCode;
using Nodes = std::map<std::string, NamespaceNode>;

// The master's path walk (NamespaceStore::Lookup): from the root down, a missing component ends
// the walk (not found); a file with components below it is FAILED_PRECONDITION.
struct Lookup {
  Code code = Code::kOk;                // kOk, or kFailedPrecondition
  const NamespaceNode* node = nullptr;  // kOk: the node, nullptr if missing
};

Lookup Find(const Nodes& nodes, const std::string& path) {
  if (path == "/") return {};  // the root: callers handle it first
  std::string walked;
  const std::vector<std::string> parts = SplitPath(path);
  for (size_t i = 0; i < parts.size(); ++i) {
    walked = JoinPath(walked.empty() ? "/" : walked, parts[i]);
    auto it = nodes.find(walked);
    if (it == nodes.end()) return {};
    if (i + 1 == parts.size()) return {Code::kOk, &it->second};
    if (!it->second.directory) return {Code::kFailedPrecondition, nullptr};
  }
  return {};
}

// [begin, end) of the paths strictly below `path` (map order puts them together: '/' sorts just
// before '0').
std::pair<Nodes::iterator, Nodes::iterator> Below(Nodes& nodes, const std::string& path) {
  return {nodes.lower_bound(path + "/"), nodes.lower_bound(path + "0")};
}

bool HasChildren(const Nodes& nodes, const std::string& path) {
  auto it = nodes.lower_bound(path + "/");
  return it != nodes.end() && it->first.compare(0, path.size() + 1, path + "/") == 0;
}

// The master's CreateParents: walks `path`'s parents, creating missing ones when `recursive`.
Code CreateParents(Nodes& nodes, const std::string& path, bool recursive) {
  const std::vector<std::string> parts = SplitPath(path);
  std::string walked = "/";
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    walked = JoinPath(walked, parts[i]);
    auto it = nodes.find(walked);
    if (it != nodes.end()) {
      if (!it->second.directory) return Code::kFailedPrecondition;
      continue;
    }
    if (!recursive) return Code::kNotFound;
    nodes.emplace(walked, NamespaceNode{true, 0});
  }
  return Code::kOk;
}

// Binds a node's id to the observed one; false if it is known and differs, or if the observed
// id already named another inode.
bool BindId(uint64_t* id, uint64_t observed, std::vector<uint64_t>* used) {
  if (observed == 0 || *id == observed) return true;
  if (*id != 0) return false;
  auto at = std::lower_bound(used->begin(), used->end(), observed);
  if (at != used->end() && *at == observed) return false;
  used->insert(at, observed);
  *id = observed;
  return true;
}

// What applying an operation did (Apply changes the state in place): the code it produces, and
// the node an OK create or getStatus refers to, so Step can check and bind its id.
struct Effect {
  Code code = Code::kOk;
  NamespaceNode* node = nullptr;         // OK create: the new (or, with allow_exists, existing) node
  const NamespaceNode* found = nullptr;  // OK getStatus
  bool root = false;                     // OK getStatus / mkdir of "/"
  bool exists = false;                   // kExists
};

Effect Apply(NamespaceState& state, const NamespaceInput& in) {
  Nodes& nodes = state.nodes;
  using Kind = NamespaceInput::Kind;
  switch (in.kind) {
    case Kind::kCreateFile:
    case Kind::kCreateDirectory: {
      const bool file = in.kind == Kind::kCreateFile;
      if (in.path == "/") {
        if (!file && in.allow_exists) return {Code::kOk, nullptr, nullptr, true};
        return {Code::kAlreadyExists};
      }
      const Lookup existing = Find(nodes, in.path);
      if (existing.code != Code::kOk) return {existing.code};
      if (existing.node != nullptr) {
        if (!file && existing.node->directory && in.allow_exists) {
          return {Code::kOk, &nodes.find(in.path)->second};
        }
        if (existing.node->directory || !file || !in.overwrite) return {Code::kAlreadyExists};
        nodes.erase(in.path);  // overwrite: a new inode replaces the file
      } else if (!file && !in.recursive) {
        // The master checks the parent before the under-store is touched.
        const Lookup parent = Find(nodes, ParentPath(in.path));
        if (parent.code != Code::kOk) return {parent.code};
        if (ParentPath(in.path) != "/" && parent.node == nullptr) return {Code::kNotFound};
      }
      const Code parents = CreateParents(nodes, in.path, in.recursive);
      if (parents != Code::kOk) return {parents};
      return {Code::kOk, &nodes.emplace(in.path, NamespaceNode{!file, 0}).first->second};
    }
    case Kind::kRename: {
      if (in.path == "/" || in.dst == "/" || IsSameOrDescendant(in.dst, in.path)) return {Code::kInvalidArgument};
      const Lookup src = Find(nodes, in.path);
      if (src.code != Code::kOk) return {src.code};
      if (src.node == nullptr) return {Code::kNotFound};
      const Lookup dst = Find(nodes, in.dst);
      if (dst.code != Code::kOk) return {dst.code};
      if (dst.node != nullptr) return {Code::kAlreadyExists};
      const std::string dst_parent = ParentPath(in.dst);
      if (dst_parent != "/") {
        const Lookup parent = Find(nodes, dst_parent);
        if (parent.code != Code::kOk) return {parent.code};
        if (parent.node == nullptr) return {Code::kNotFound};
        if (!parent.node->directory) return {Code::kFailedPrecondition};
      }
      Nodes moved;
      moved.emplace(in.dst, *src.node);
      auto [begin, end] = Below(nodes, in.path);
      for (auto it = begin; it != end; ++it) moved.emplace(in.dst + it->first.substr(in.path.size()), it->second);
      nodes.erase(begin, end);
      nodes.erase(in.path);
      nodes.merge(moved);
      return {Code::kOk};
    }
    case Kind::kDelete: {
      if (in.path == "/") return {Code::kInvalidArgument};
      const Lookup target = Find(nodes, in.path);
      if (target.code != Code::kOk) return {target.code};
      if (target.node == nullptr) return {Code::kNotFound};
      if (target.node->directory && !in.recursive && HasChildren(nodes, in.path)) return {Code::kFailedPrecondition};
      auto [begin, end] = Below(nodes, in.path);
      nodes.erase(begin, end);
      nodes.erase(in.path);
      return {Code::kOk};
    }
    case Kind::kGetStatus:
    case Kind::kExists: {
      const bool exists_query = in.kind == Kind::kExists;
      if (in.path == "/") return {Code::kOk, nullptr, nullptr, true, true};
      const Lookup found = Find(nodes, in.path);
      if (exists_query) return {Code::kOk, nullptr, nullptr, false, found.code == Code::kOk && found.node != nullptr};
      if (found.code != Code::kOk) return {found.code};
      if (found.node == nullptr) return {Code::kNotFound};
      return {Code::kOk, nullptr, found.node};
    }
  }
  return {Code::kInternal};
}

}  // namespace

NamespaceState NamespaceModel::Init() const {
  State state;
  for (const std::string& dir : initial_) state.nodes.emplace(dir, NamespaceNode{true, 0});
  return state;
}

std::optional<NamespaceState> NamespaceModel::Step(const State& state, const Input& input,
                                                   const std::optional<Output>& output) const {
  State next = state;
  const Effect effect = Apply(next, input);
  if (!output.has_value()) return next;  // unknown: whatever it produced
  if (output->code != effect.code) return std::nullopt;
  if (effect.code != Code::kOk) return next;
  switch (input.kind) {
    case Input::Kind::kCreateFile:
    case Input::Kind::kCreateDirectory:
      if (effect.root) {
        return BindId(&next.root_id, output->id, &next.used_ids) ? std::optional<State>(next) : std::nullopt;
      }
      if (!BindId(&effect.node->id, output->id, &next.used_ids)) return std::nullopt;
      return next;
    case Input::Kind::kGetStatus: {
      if (effect.root) {
        if (!output->directory || !BindId(&next.root_id, output->id, &next.used_ids)) return std::nullopt;
        return next;
      }
      if (output->directory != effect.found->directory) return std::nullopt;
      if (!BindId(&next.nodes.find(input.path)->second.id, output->id, &next.used_ids)) return std::nullopt;
      return next;
    }
    case Input::Kind::kExists:
      if (output->exists != effect.exists) return std::nullopt;
      return next;
    case Input::Kind::kRename:
    case Input::Kind::kDelete:
      return next;
  }
  return std::nullopt;
}

std::vector<std::string> NamespaceModel::PartitionKeys(const Input& input) const {
  auto top = [](const std::string& path) {
    const std::vector<std::string> parts = SplitPath(path);
    return parts.empty() ? std::string("/") : parts[0];
  };
  std::vector<std::string> keys = {top(input.path)};
  if (input.kind == Input::Kind::kRename) keys.push_back(top(input.dst));
  return keys;
}

std::string NamespaceModel::Describe(const Input& input, const std::optional<Output>& output) const {
  std::string what;
  switch (input.kind) {
    case Input::Kind::kCreateFile:
      what = absl::StrCat("createFile ", input.path, input.recursive ? " recursive" : "",
                          input.overwrite ? " overwrite" : "");
      break;
    case Input::Kind::kCreateDirectory:
      what = absl::StrCat("createDirectory ", input.path, input.recursive ? " recursive" : "",
                          input.allow_exists ? " allow_exists" : "");
      break;
    case Input::Kind::kRename:
      what = absl::StrCat("rename ", input.path, " ", input.dst);
      break;
    case Input::Kind::kDelete:
      what = absl::StrCat("delete ", input.path, input.recursive ? " recursive" : "");
      break;
    case Input::Kind::kGetStatus:
      what = absl::StrCat("getStatus ", input.path);
      break;
    case Input::Kind::kExists:
      what = absl::StrCat("exists ", input.path);
      break;
  }
  if (!output.has_value()) return absl::StrCat(what, " -> ?");
  if (output->code != Code::kOk) return absl::StrCat(what, " -> ", absl::StatusCodeToString(output->code));
  switch (input.kind) {
    case Input::Kind::kCreateFile:
    case Input::Kind::kCreateDirectory:
      return absl::StrCat(what, " -> OK", output->id != 0 ? absl::StrCat(" id ", output->id) : "");
    case Input::Kind::kGetStatus:
      return absl::StrCat(what, " -> ", output->directory ? "directory" : "file",
                          output->id != 0 ? absl::StrCat(" id ", output->id) : "");
    case Input::Kind::kExists:
      return absl::StrCat(what, " -> ", output->exists ? "true" : "false");
    default:
      return absl::StrCat(what, " -> OK");
  }
}

std::string NamespaceModel::DescribeState(const State& state) const {
  if (state.nodes.empty()) return "empty namespace";
  constexpr size_t kShown = 40;
  std::string out;
  size_t shown = 0;
  for (const auto& [path, node] : state.nodes) {
    if (shown++ == kShown) {
      absl::StrAppend(&out, " ... (", state.nodes.size(), " paths)");
      break;
    }
    absl::StrAppend(&out, shown > 1 ? " " : "", path, node.directory ? "/" : "",
                    node.id != 0 ? absl::StrCat("#", node.id) : "");
  }
  return out;
}

absl::Status CheckCreatedIdsAreDistinct(const NamespaceHistory& history) {
  std::map<uint64_t, size_t> creator;  // id -> the operation that created it
  for (size_t i = 0; i < history.size(); ++i) {
    const NamespaceHistory::value_type& op = history[i];
    const bool create =
        op.input.kind == NamespaceInput::Kind::kCreateFile || op.input.kind == NamespaceInput::Kind::kCreateDirectory;
    if (!create || op.outcome != Outcome::kOk || !op.output.has_value() || op.output->code != Code::kOk ||
        op.output->id == 0) {
      continue;
    }
    if (op.input.kind == NamespaceInput::Kind::kCreateDirectory && op.input.allow_exists) continue;  // may be old
    auto [it, inserted] = creator.emplace(op.output->id, i);
    if (!inserted) {
      const NamespaceModel model;
      return absl::FailedPreconditionError(absl::StrCat(
          "id ", op.output->id, " was created twice: by operation #", it->second, " (",
          model.Describe(history[it->second].input, history[it->second].output), ") and by #", i, " (",
          model.Describe(op.input, op.output), ")"));
    }
  }
  return absl::OkStatus();
}

bool IsDefiniteNamespaceOutcome(const absl::Status& status) {
  switch (status.code()) {
    case Code::kOk:
    case Code::kNotFound:
    case Code::kAlreadyExists:
    case Code::kFailedPrecondition:
    case Code::kInvalidArgument:
      return true;
    default:
      return false;
  }
}

void CompleteNamespaceOperation(NamespaceRecorder& recorder, NamespaceRecorder::OperationId id,
                                const absl::Status& status, NamespaceOutput output) {
  if (!IsDefiniteNamespaceOutcome(status)) {
    recorder.Info(id);
    return;
  }
  output.code = status.code();
  recorder.Ok(id, output);
}

}  // namespace cistern::lincheck
