// Before the checker is trusted on Cistern's histories it must give the labelled verdict on every
// history in ../shared/testdata/linearizability/: the 102 labelled Jepsen etcd register logs and
// every key-value history (1, 10 and 50 clients, linearizable and not). Also the parsers'
// handling of bad input. Timings are printed, never asserted.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "testing/lincheck_kv.h"
#include "testing/lincheck_register.h"

namespace cistern::lincheck {
namespace {

namespace fs = std::filesystem;

std::string TestdataDir() {
  const char* source = std::getenv("CISTERN_SOURCE_DIR");
  fs::path root = source != nullptr ? fs::path(source) : fs::current_path();
  return (root / ".." / "shared" / "testdata" / "linearizability").lexically_normal().string();
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct Timing {
  double total_s = 0;
  double slowest_s = 0;
  std::string slowest;
  void Add(const std::string& name, double s) {
    total_s += s;
    if (s >= slowest_s) {
      slowest_s = s;
      slowest = name;
    }
  }
};

std::map<std::string, bool> EtcdLabels() {  // file -> linearizable
  std::map<std::string, bool> labels;
  const std::string text = ReadAll(TestdataDir() + "/jepsen-etcd/LABELS");
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    EXPECT_EQ(parts.size(), 2u) << line;
    if (parts.size() != 2) continue;
    EXPECT_TRUE(parts[1] == "linearizable" || parts[1] == "not-linearizable") << line;
    labels[parts[0]] = parts[1] == "linearizable";
  }
  return labels;
}

TEST(LincheckTestdata, EveryLabelledJepsenEtcdHistory) {
  const std::map<std::string, bool> labels = EtcdLabels();
  ASSERT_EQ(labels.size(), 102u);
  // Every log but the one whose run failed to start (empty, no verdict) is labelled.
  for (const auto& entry : fs::directory_iterator(TestdataDir() + "/jepsen-etcd")) {
    const std::string name = entry.path().filename().string();
    if (!absl::EndsWith(name, ".log")) continue;
    EXPECT_TRUE(labels.count(name) > 0 || (name == "etcd_095.log" && fs::file_size(entry.path()) == 0))
        << name << " has no label";
  }
  // Jepsen's reading drops a failed cas; the stricter one keeps it as a cas that saw another
  // value. The labels hold under both.
  for (bool failed_cas_completed : {false, true}) {
    Timing timing;
    int linearizable = 0;
    for (const auto& [name, expected] : labels) {
      absl::StatusOr<RegisterHistory> history =
          ParseJepsenEtcdLog(ReadAll(TestdataDir() + "/jepsen-etcd/" + name), failed_cas_completed);
      ASSERT_TRUE(history.ok()) << name << ": " << history.status();
      const auto start = std::chrono::steady_clock::now();
      CheckResult result = Check(RegisterModel(), *history);
      timing.Add(name, SecondsSince(start));
      EXPECT_EQ(result.verdict, expected ? Verdict::kLinearizable : Verdict::kNotLinearizable)
          << name << " (failed cas " << (failed_cas_completed ? "kept" : "dropped") << "): " << result.summary << "\n"
          << result.report;
      linearizable += expected ? 1 : 0;
    }
    EXPECT_EQ(linearizable, 23);
    std::cerr << "jepsen-etcd, failed cas " << (failed_cas_completed ? "kept" : "dropped") << ": " << labels.size()
              << " histories in " << timing.total_s << " s, slowest " << timing.slowest << " " << timing.slowest_s
              << " s\n";
  }
}

TEST(LincheckTestdata, EveryKeyValueHistory) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(TestdataDir() + "/kv")) {
    names.insert(entry.path().filename().string());
  }
  ASSERT_EQ(names, (std::set<std::string>{"c01-bad.txt", "c01-ok.txt", "c10-bad.txt", "c10-ok.txt", "c50-bad.txt",
                                          "c50-ok.txt"}));
  Timing timing;
  for (const std::string& name : names) {
    absl::StatusOr<KvHistory> history = ParseKvHistory(ReadAll(TestdataDir() + "/kv/" + name));
    ASSERT_TRUE(history.ok()) << name << ": " << history.status();
    const bool expected = absl::EndsWith(name, "-ok.txt");
    const auto start = std::chrono::steady_clock::now();
    CheckResult result = Check(KvModel(), *history);
    const double s = SecondsSince(start);
    timing.Add(name, s);
    EXPECT_EQ(result.verdict, expected ? Verdict::kLinearizable : Verdict::kNotLinearizable)
        << name << ": " << result.summary << "\n"
        << result.report;
    std::cerr << "kv/" << name << ": " << result.summary << " (" << s << " s)\n";
  }
  std::cerr << "kv: " << names.size() << " histories in " << timing.total_s << " s, slowest " << timing.slowest << " "
            << timing.slowest_s << " s\n";
}

TEST(LincheckTestdata, SplittingByKeyDoesNotChangeTheVerdict) {
  // Unsplit, the search sees every key at once; affordable for the small histories.
  CheckOptions whole;
  whole.partition = false;
  for (const char* name : {"c01-ok.txt", "c01-bad.txt", "c10-ok.txt"}) {
    absl::StatusOr<KvHistory> history = ParseKvHistory(ReadAll(TestdataDir() + "/kv/" + name));
    ASSERT_TRUE(history.ok()) << name << ": " << history.status();
    CheckResult split = Check(KvModel(), *history);
    CheckResult unsplit = Check(KvModel(), *history, whole);
    EXPECT_EQ(unsplit.groups, 1u);
    EXPECT_EQ(split.verdict, unsplit.verdict) << name << ": " << split.summary << " vs " << unsplit.summary;
    EXPECT_NE(split.verdict, Verdict::kUnknown) << name;
  }
}

TEST(LincheckParsers, JepsenEtcdLog) {
  absl::StatusOr<RegisterHistory> history = ParseJepsenEtcdLog(
      "INFO  jepsen.util - 0\t:invoke\t:write\t4\n"
      "INFO  jepsen.util - 1\t:invoke\t:cas\t[4 2]\n"
      "INFO  jepsen.util - 0   :ok     :write  4\n"
      "INFO  jepsen.util - 1\t:fail\t:cas\t[4 2]\n"
      "INFO  jepsen.util - 2\t:invoke\t:read\tnil\n"
      "INFO  jepsen.util - 2\t:ok\t:read\t4\n"
      "INFO  jepsen.util - 3\t:invoke\t:read\tnil\n"
      "INFO  jepsen.util - 3\t:fail\t:read\t:timed-out\n"
      "INFO  jepsen.util - 4\t:invoke\t:cas\t[1 3]\n"
      "INFO  jepsen.util - 4\t:info\t:cas\t:timed-out\n"
      "INFO  jepsen.util - 5\t:invoke\t:write\t0\n");
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->size(), 6u);
  const auto& h = *history;
  EXPECT_EQ(h[0].outcome, Outcome::kOk);
  EXPECT_EQ(h[0].input.value, 4);
  EXPECT_EQ(h[0].call_time, 1);
  EXPECT_EQ(h[0].return_time, 3);
  EXPECT_EQ(h[1].outcome, Outcome::kFail);
  EXPECT_EQ(h[1].input.expected, 4);
  EXPECT_EQ(h[1].input.value, 2);
  EXPECT_EQ(h[2].output->value, 4);
  EXPECT_EQ(h[3].outcome, Outcome::kFail);
  EXPECT_EQ(h[4].outcome, Outcome::kInfo);
  EXPECT_EQ(h[4].client, 4);
  EXPECT_EQ(h[5].outcome, Outcome::kInfo);  // still open at the end
  absl::StatusOr<RegisterHistory> kept = ParseJepsenEtcdLog(
      "INFO  jepsen.util - 1\t:invoke\t:cas\t[4 2]\n"
      "INFO  jepsen.util - 1\t:fail\t:cas\t[4 2]\n",
      /*failed_cas_completed=*/true);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ((*kept)[0].outcome, Outcome::kOk);
  EXPECT_FALSE((*kept)[0].output->swapped);

  for (const char* bad :
       {"hello\n", "INFO  jepsen.util - x\t:invoke\t:read\tnil\n", "INFO  jepsen.util - 1\t:invoke\t:frob\t1\n",
        "INFO  jepsen.util - 1\t:ok\t:read\t1\n", "INFO  jepsen.util - 1\t:invoke\t:cas\t[1]\n",
        "INFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:invoke\t:read\tnil\n",
        "INFO  jepsen.util - 1\t:invoke\t:write\t1\nINFO  jepsen.util - 1\t:ok\t:write\t2\n",
        "INFO  jepsen.util - 1\t:invoke\t:write\t1\nINFO  jepsen.util - 1\t:ok\t:read\t1\n"}) {
    absl::StatusOr<RegisterHistory> parsed = ParseJepsenEtcdLog(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(parsed.status())) << bad;
    EXPECT_TRUE(absl::StrContains(parsed.status().message(), "line ")) << parsed.status();
  }
}

TEST(LincheckParsers, KvHistory) {
  absl::StatusOr<KvHistory> history = ParseKvHistory(
      "{:process 0, :type :invoke, :f :append, :key \"0\", :value \"x 0 0 y\"}\n"
      "{:process 1, :type :invoke, :f :get, :key \"0\", :value nil}\n"
      "{:process 0, :type :ok, :f :append, :key \"0\", :value \"x 0 0 y\"}\n"
      "{:process 1, :type :ok, :f :get, :key \"0\", :value \"x 0 0 y\"}\n"
      "{:process 2, :type :invoke, :f :put, :key \"1\", :value \"a \\\"q\\\"\"}\n"
      "{:process 2, :type :info, :f :put, :key \"1\", :value \"a \\\"q\\\"\"}\n"
      "{:value nil, :key \"1\", :f :get, :type :invoke, :process 3}\n");
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->size(), 4u);
  const auto& h = *history;
  EXPECT_EQ(h[0].input.kind, KvInput::Kind::kAppend);
  EXPECT_EQ(h[0].outcome, Outcome::kOk);
  EXPECT_EQ(h[1].output->value, "x 0 0 y");
  EXPECT_EQ(h[2].input.value, "a \"q\"");
  EXPECT_EQ(h[2].outcome, Outcome::kInfo);
  EXPECT_EQ(h[3].outcome, Outcome::kInfo);  // never completed
  EXPECT_EQ(h[3].client, 3);

  for (const char* bad : {"nonsense\n", "{:process 0, :type :invoke, :f :get, :key \"0\", :value nil\n",
                          "{:process 0, :type :invoke, :f :frob, :key \"0\", :value nil}\n",
                          "{:process 0, :type :invoke, :f :put, :key \"0\", :value nil}\n",
                          "{:process 0, :type :ok, :f :get, :key \"0\", :value \"\"}\n",
                          "{:process 0, :type :invoke, :f :get, :key 0, :value nil}\n",
                          "{:process 0, :type :invoke, :f :get, :key \"0\", :value \"x}\n",
                          "{:process 0, :type :invoke, :f :get, :key \"0\", :value nil} trailing\n",
                          "{:process 0, :process 1, :type :invoke, :f :get, :key \"0\", :value nil}\n"}) {
    absl::StatusOr<KvHistory> parsed = ParseKvHistory(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(parsed.status())) << bad;
    EXPECT_TRUE(absl::StrContains(parsed.status().message(), "line 1")) << parsed.status();
  }
}

}  // namespace
}  // namespace cistern::lincheck
