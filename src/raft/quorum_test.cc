// Runs etcd-raft's data-driven quorum cases (../shared/testdata/raft-quorum/*.txt): each case is
// a command line, "----", then expected output whose last line is the answer.
#include "raft/quorum.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"

namespace cistern::raft {
namespace {

namespace fs = std::filesystem;

std::string TestdataDir() {
  const char* source = std::getenv("CISTERN_SOURCE_DIR");
  fs::path root = source != nullptr ? fs::path(source) : fs::current_path();
  return (root / ".." / "shared" / "testdata" / "raft-quorum").lexically_normal().string();
}

// "(1, 2,3)" -> {"1","2","3"}; "zero" -> {}.
std::vector<std::string> ParseList(std::string value) {
  std::vector<std::string> out;
  if (value == "zero") return out;
  std::string inner = std::string(absl::StripSuffix(absl::StripPrefix(value, "("), ")"));
  for (absl::string_view part : absl::StrSplit(inner, ',', absl::SkipWhitespace())) {
    out.emplace_back(absl::StripAsciiWhitespace(part));
  }
  return out;
}

struct Case {
  std::string file;
  int line = 0;
  std::string command;
  std::map<std::string, std::string> args;
  std::string expected;
};

std::vector<Case> LoadCases() {
  std::vector<Case> cases;
  for (const char* name : {"majority_commit.txt", "majority_vote.txt", "joint_commit.txt", "joint_vote.txt"}) {
    std::ifstream in(TestdataDir() + "/" + name);
    EXPECT_TRUE(in.good()) << "missing test data " << TestdataDir() << "/" << name;
    std::string line;
    int number = 0;
    Case current;
    bool in_output = false;
    std::string last_output;
    auto finish = [&] {
      if (!current.command.empty()) {
        current.expected = last_output;
        cases.push_back(current);
      }
      current = Case();
      in_output = false;
      last_output.clear();
    };
    while (std::getline(in, line)) {
      ++number;
      if (in_output) {
        if (line.empty()) {
          finish();
        } else {
          last_output = line;
        }
        continue;
      }
      if (line.empty() || line[0] == '#') continue;
      if (line == "----") {
        in_output = true;
        continue;
      }
      // Command line: "committed cfg=(1, 2) idx=(12,_)" (lists may contain spaces).
      current.file = name;
      current.line = number;
      std::istringstream words(line);
      words >> current.command;
      std::string rest;
      std::getline(words, rest);
      size_t pos = 0;
      while ((pos = rest.find('=', pos)) != std::string::npos) {
        size_t key_start = rest.rfind(' ', pos);
        std::string key = rest.substr(key_start == std::string::npos ? 0 : key_start + 1, pos - key_start - 1);
        size_t value_end = rest[pos + 1] == '(' ? rest.find(')', pos) + 1 : rest.find(' ', pos);
        current.args[key] = rest.substr(pos + 1, value_end == std::string::npos ? std::string::npos : value_end - pos - 1);
        pos = value_end == std::string::npos ? rest.size() : value_end;
      }
    }
    finish();
  }
  return cases;
}

TEST(QuorumTest, PassesEtcdDataDrivenCases) {
  std::vector<Case> cases = LoadCases();
  ASSERT_EQ(cases.size(), 127u) << "expected etcd-raft's 127 quorum cases";
  for (const Case& c : cases) {
    std::vector<NodeId> cfg, cfgj;
    for (const auto& s : ParseList(c.args.count("cfg") ? c.args.at("cfg") : "zero")) cfg.push_back(std::stoull(s));
    const bool joint = c.args.count("cfgj") > 0;
    for (const auto& s : ParseList(joint ? c.args.at("cfgj") : "zero")) cfgj.push_back(std::stoull(s));
    // Values are given for the voters of cfg, then those of cfgj not already in cfg.
    std::vector<NodeId> ids = cfg;
    for (NodeId id : cfgj) {
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    }
    JointConfig config(MajorityConfig({cfg.begin(), cfg.end()}), MajorityConfig({cfgj.begin(), cfgj.end()}));
    std::string got;
    if (c.command == "committed") {
      std::vector<std::string> idx = ParseList(c.args.count("idx") ? c.args.at("idx") : "zero");
      ASSERT_EQ(idx.size(), ids.size()) << c.file << ":" << c.line;
      std::map<NodeId, Index> acked;
      for (size_t i = 0; i < ids.size(); ++i) {
        if (idx[i] != "_") acked[ids[i]] = std::stoull(idx[i]);
      }
      auto fn = [&](NodeId id) -> std::optional<Index> {
        auto it = acked.find(id);
        return it == acked.end() ? std::nullopt : std::optional<Index>(it->second);
      };
      const Index committed = joint ? config.CommittedIndex(fn) : config.incoming().CommittedIndex(fn);
      got = std::to_string(committed);
      // etcd renders the empty quorum's answer as "<empty majority quorum>∞".
      if (c.expected.find("∞") != std::string::npos) {
        EXPECT_EQ(committed, kInfiniteIndex) << c.file << ":" << c.line;
        continue;
      }
    } else {
      std::vector<std::string> votes = ParseList(c.args.count("votes") ? c.args.at("votes") : "zero");
      ASSERT_EQ(votes.size(), ids.size()) << c.file << ":" << c.line;
      std::map<NodeId, bool> cast;
      for (size_t i = 0; i < ids.size(); ++i) {
        if (votes[i] != "_") cast[ids[i]] = votes[i] == "y";
      }
      auto fn = [&](NodeId id) -> std::optional<bool> {
        auto it = cast.find(id);
        return it == cast.end() ? std::nullopt : std::optional<bool>(it->second);
      };
      const VoteResult r = joint ? config.Vote(fn) : config.incoming().Vote(fn);
      got = r == VoteResult::kWon ? "VoteWon" : r == VoteResult::kLost ? "VoteLost" : "VotePending";
    }
    EXPECT_EQ(got, c.expected) << c.file << ":" << c.line << " " << c.command;
  }
}

}  // namespace
}  // namespace cistern::raft
