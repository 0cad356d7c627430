// Every `cistern` command through real processes: a master, one or two workers and the CLI, as a
// user types them. Commands whose master RPC is missing (an older master) are skipped, naming
// the RPC, rather than failing.
#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "cluster_fixture.h"
#include "nlohmann/json.hpp"
#include "xxhash.h"

namespace cistern {
namespace {

using testing::BinDir;
using testing::CommandResult;
using testing::DiffFiles;
using testing::kMiB;
using testing::RunCommand;
using testing::WriteRandomFile;
namespace fs = std::filesystem;

// Skips the test when the master answers `call` with UNIMPLEMENTED (it predates the RPC).
#define SKIP_UNLESS_MASTER_IMPLEMENTS(call, rpc)                                                  \
  do {                                                                                          \
    absl::Status probe_status = (call).status();                                                \
    if (probe_status.code() == absl::StatusCode::kUnimplemented) {                              \
      GTEST_SKIP() << "the running cistern-master does not implement " rpc " yet (UNIMPLEMENTED)"; \
    }                                                                                           \
  } while (0)

std::string ReadLocal(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteLocal(const std::string& path, const std::string& data) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << data;
}

// The path as the master shows it (the test's temp dir may hold "//").
std::string Normal(const std::string& path) { return fs::path(path).lexically_normal().string(); }

size_t Occurrences(const std::string& text, const std::string& word) {
  size_t n = 0;
  for (size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) ++n;
  return n;
}

// The JSON objects of a --json output, one per line.
std::vector<nlohmann::json> JsonLines(const std::string& output) {
  std::vector<nlohmann::json> out;
  for (absl::string_view line : absl::StrSplit(output, '\n', absl::SkipEmpty())) {
    out.push_back(nlohmann::json::parse(std::string(line)));
  }
  return out;
}

class CliTest : public testing::ClusterFixture {
 protected:
  // Runs the CLI and requires a failure; returns its output.
  std::string CliFails(std::vector<std::string> args, int expected_code = 1) {
    std::string shown = absl::StrJoin(args, " ");
    CommandResult r = Cli(std::move(args));
    EXPECT_EQ(r.exit_code, expected_code) << "cistern " << shown << "\n" << r.output;
    return r.output;
  }
  std::string Put(const std::string& name, const std::string& data, const std::string& dest,
                  const std::string& write_type = "CACHE_THROUGH") {
    const std::string local = absl::StrCat(dir_, "/", name);
    WriteLocal(local, data);
    CliOk({"fs", "put", "--write-type", write_type, local, dest});
    return local;
  }
  nlohmann::json StatJson(const std::string& path) {
    std::vector<nlohmann::json> lines = JsonLines(CliOk({"fs", "stat", "--json", path}));
    EXPECT_EQ(lines.size(), 1u);
    return lines.empty() ? nlohmann::json() : lines[0];
  }
};

TEST_F(CliTest, RmOfNonEmptyDirectorySaysWhyOnce) {
  CliOk({"fs", "mkdir", "-p", "/d/e"});
  const std::string out = CliFails({"fs", "rm", "/d"});
  EXPECT_EQ(Occurrences(out, "use -R"), 1u) << out;
  EXPECT_EQ(Occurrences(out, "\n"), 1u) << "one line: " << out;
  CliOk({"fs", "rm", "-R", "/d"});
  EXPECT_EQ(Cli({"fs", "test", "-e", "/d"}).exit_code, 1);
}

TEST_F(CliTest, LsShowsDashForDirectoriesGlobsAndJson) {
  CliOk({"fs", "mkdir", "/data"});
  CliOk({"fs", "mkdir", "/data/sub"});
  Put("a.bin", "aaaa", "/data/a.bin");
  Put("b.bin", "bbbbbb", "/data/b.bin");
  Put("c.txt", "c", "/data/c.txt");
  const std::string ls = CliOk({"fs", "ls", "/data"});
  bool saw_dir = false;
  for (absl::string_view line : absl::StrSplit(ls, '\n', absl::SkipEmpty())) {
    if (absl::EndsWith(line, " /data/sub")) {
      saw_dir = true;
      EXPECT_TRUE(absl::StrContains(line, "    - /data/sub")) << line;
    } else {
      EXPECT_TRUE(absl::StrContains(line, "100% /data/")) << line;
    }
  }
  EXPECT_TRUE(saw_dir) << ls;

  const std::string glob = CliOk({"fs", "ls", "/data/*.bin"});
  EXPECT_TRUE(absl::StrContains(glob, "/data/a.bin")) << glob;
  EXPECT_TRUE(absl::StrContains(glob, "/data/b.bin")) << glob;
  EXPECT_FALSE(absl::StrContains(glob, "c.txt")) << glob;
  EXPECT_TRUE(absl::StrContains(CliFails({"fs", "ls", "/data/*.csv"}), "/data/*.csv"));

  std::vector<nlohmann::json> entries = JsonLines(CliOk({"fs", "ls", "--json", "/data"}));
  ASSERT_EQ(entries.size(), 4u);
  std::map<std::string, nlohmann::json> by_path;
  for (const auto& e : entries) by_path[e["path"]] = e;
  EXPECT_EQ(by_path["/data/b.bin"]["length"], 6);
  EXPECT_EQ(by_path["/data/b.bin"]["type"], "file");
  EXPECT_EQ(by_path["/data/sub"]["type"], "directory");
  // The sync interval is passed through; every value the master accepts lists the same.
  EXPECT_EQ(JsonLines(CliOk({"fs", "ls", "--json", "--sync-interval", "0", "/data"})).size(), 4u);
  CliFails({"fs", "ls", "--sync-interval", "soon", "/data"});
}

TEST_F(CliTest, UsageAndConfigurationErrorsExitTwo) {
  EXPECT_EQ(Cli({"fs", "ls"}).exit_code, 2);
  EXPECT_EQ(Cli({"fs", "nosuchcommand"}).exit_code, 2);
  CommandResult unknown_key = Cli({"--conf", "no.such.key=1", "fs", "ls", "/"});
  EXPECT_EQ(unknown_key.exit_code, 2) << unknown_key.output;
  EXPECT_TRUE(absl::StrContains(unknown_key.output, "no.such.key")) << unknown_key.output;
  CommandResult bad_value = Cli({"--conf", "user.rpc.timeout=soon", "fs", "ls", "/"});
  EXPECT_EQ(bad_value.exit_code, 2) << bad_value.output;
  EXPECT_TRUE(absl::StrContains(bad_value.output, "user.rpc.timeout")) << bad_value.output;
  // A runtime failure is 1.
  EXPECT_EQ(Cli({"fs", "cat", "/missing"}).exit_code, 1);
}

TEST_F(CliTest, TestAnswersWithExitCodeOnly) {
  CliOk({"fs", "mkdir", "/dir"});
  Put("f", "x", "/dir/f");
  struct Case {
    std::string flag, path;
    int code;
  };
  for (const Case& c : std::vector<Case>{{"-e", "/dir", 0}, {"-e", "/dir/f", 0}, {"-e", "/nope", 1},
                                         {"-d", "/dir", 0}, {"-d", "/dir/f", 1}, {"-d", "/nope", 1},
                                         {"-f", "/dir/f", 0}, {"-f", "/dir", 1}, {"-f", "/nope", 1}}) {
    CommandResult r = Cli({"fs", "test", c.flag, c.path});
    EXPECT_EQ(r.exit_code, c.code) << "test " << c.flag << " " << c.path << ": " << r.output;
    EXPECT_EQ(r.output, "") << "test " << c.flag << " " << c.path;
  }
  EXPECT_EQ(Cli({"fs", "test", "-e", "-d", "/dir"}).exit_code, 2);
  EXPECT_EQ(Cli({"fs", "test", "/dir"}).exit_code, 2);
}

TEST_F(CliTest, TouchCountAndDu) {
  CliOk({"fs", "mkdir", "-p", "/t/a/b"});
  CliOk({"fs", "touch", "/t/empty"});
  CliOk({"fs", "touch", "/t/empty"});  // an existing file is fine
  EXPECT_EQ(StatJson("/t/empty")["length"], 0);
  Put("one", std::string(1000, '1'), "/t/a/one");
  Put("two", std::string(3000, '2'), "/t/a/b/two", "THROUGH");  // not cached until read

  const std::string count = CliOk({"fs", "count", "/t"});
  EXPECT_TRUE(absl::StrContains(count, "DIRS")) << count;
  auto counts = JsonLines(CliOk({"fs", "count", "--json", "/t"}));
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0]["directories"], 3);  // /t, /t/a, /t/a/b
  EXPECT_EQ(counts[0]["files"], 3);
  EXPECT_EQ(counts[0]["bytes"], 4000);

  auto du = JsonLines(CliOk({"fs", "du", "--json", "/t"}));
  std::map<std::string, nlohmann::json> by_path;
  for (const auto& e : du) by_path[e["path"]] = e;
  ASSERT_EQ(by_path.size(), 2u) << CliOk({"fs", "du", "/t"});
  EXPECT_EQ(by_path["/t/a"]["bytes"], 4000);
  EXPECT_EQ(by_path["/t/a"]["cached_bytes"], 1000);
  EXPECT_EQ(by_path["/t/a"]["cached_percentage"], 25);
  EXPECT_EQ(by_path["/t/empty"]["bytes"], 0);
  auto summary = JsonLines(CliOk({"fs", "du", "-s", "--json", "/t"}));
  ASSERT_EQ(summary.size(), 1u);
  EXPECT_EQ(summary[0]["path"], "/t");
  EXPECT_EQ(summary[0]["bytes"], 4000);
  const std::string human = CliOk({"fs", "du", "-s", "-h", "/t"});
  EXPECT_TRUE(absl::StrContains(human, "(25%) /t")) << human;
  // Reading the THROUGH file caches it.
  CliOk({"fs", "cat", "/t/a/b/two"});
  // The worker reports blocks it read through in its next heartbeat.
  EXPECT_TRUE(testing::WaitFor(
      [&] { return JsonLines(CliOk({"fs", "du", "-s", "--json", "/t"}))[0]["cached_bytes"] == 4000; }, 20000))
      << CliOk({"fs", "du", "-s", "/t"});
}

TEST_F(CliTest, HeadTailAndChecksum) {
  std::string data;
  for (int i = 0; i < 5000; ++i) data += static_cast<char>('a' + i % 26);
  const std::string local = Put("letters", data, "/letters");
  EXPECT_EQ(CliOk({"fs", "head", "-c", "10", "/letters"}), data.substr(0, 10));
  EXPECT_EQ(CliOk({"fs", "head", "/letters"}), data.substr(0, 1024));
  EXPECT_EQ(CliOk({"fs", "tail", "-c", "7", "/letters"}), data.substr(data.size() - 7));
  EXPECT_EQ(CliOk({"fs", "tail", "-c", "1MiB", "/letters"}), data);

  CommandResult sha = RunCommand({"/usr/bin/sha256sum", local}, 10000);
  ASSERT_EQ(sha.exit_code, 0);
  const std::string expected_sha = sha.output.substr(0, 64);
  EXPECT_EQ(CliOk({"fs", "checksum", "-a", "sha256", "/letters"}), absl::StrCat(expected_sha, "  /letters\n"));
  const std::string xxh = absl::StrFormat("%016x", XXH64(data.data(), data.size(), 0));
  EXPECT_EQ(CliOk({"fs", "checksum", "/letters"}), absl::StrCat(xxh, "  /letters\n"));
  CliFails({"fs", "checksum", "-a", "md5", "/letters"});
}

TEST_F(CliTest, PutGetAndCpOfTreesAndFiles) {
  // A local tree: 12 files in nested directories, a few across block boundaries.
  const std::string src = dir_ + "/tree";
  for (int i = 0; i < 12; ++i) {
    fs::create_directories(absl::StrCat(src, "/d", i % 3, "/sub", i % 2));
    WriteRandomFile(absl::StrCat(src, "/d", i % 3, "/sub", i % 2, "/f", i), i * 100 * 1024 + 7, i);
  }
  fs::create_directories(src + "/empty-dir");
  CliOk({"fs", "put", "-R", "--threads", "3", "--block-size", "256KiB", src, "/in"});
  CliOk({"fs", "get", "-R", "/in", dir_ + "/back"});
  for (int i = 0; i < 12; ++i) {
    const std::string rel = absl::StrCat("/d", i % 3, "/sub", i % 2, "/f", i);
    EXPECT_EQ(DiffFiles(src + rel, dir_ + "/back" + rel), "") << rel;
  }
  EXPECT_TRUE(fs::is_directory(dir_ + "/back/empty-dir"));
  EXPECT_EQ(Cli({"fs", "test", "-d", "/in/empty-dir"}).exit_code, 0);
  // Without -R a directory is refused.
  EXPECT_TRUE(absl::StrContains(CliFails({"fs", "put", src, "/in2"}), "-R"));

  // cp within Cistern: a file into a directory, a tree to a new name.
  CliOk({"fs", "mkdir", "/copies"});
  CliOk({"fs", "cp", "/in/d0/sub0/f0", "/copies"});
  EXPECT_EQ(StatJson("/copies/f0")["length"], 7);
  CliOk({"fs", "cp", "-R", "/in/d1", "/copies/d1"});
  CliOk({"fs", "get", "/copies/d1/sub1/f1", dir_ + "/f1"});
  EXPECT_EQ(DiffFiles(src + "/d1/sub1/f1", dir_ + "/f1"), "");
  // An existing destination file needs -f.
  CliFails({"fs", "cp", "/in/d0/sub0/f6", "/copies/f0"});
  CliOk({"fs", "cp", "-f", "/in/d0/sub0/f6", "/copies/f0"});
  EXPECT_EQ(StatJson("/copies/f0")["length"], 6 * 100 * 1024 + 7);

  // cp to and from local paths: file:// and local: prefixes; globs on the Cistern side.
  CliOk({"fs", "cp", "file://" + src + "/d2/sub0/f2", "/from-local"});
  CliOk({"fs", "cp", "/from-local", "local:" + dir_ + "/to-local"});
  EXPECT_EQ(DiffFiles(src + "/d2/sub0/f2", dir_ + "/to-local"), "");
  fs::create_directories(dir_ + "/globbed");
  CliOk({"fs", "cp", "/in/d0/sub0/f*", "file://" + dir_ + "/globbed"});
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir_ + "/globbed")) names.insert(e.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"f0", "f6"}));

  // The hdfs-style names do the same.
  CliOk({"fs", "copyFromLocal", src + "/d0/sub0/f0", "/cfl"});
  CliOk({"fs", "copyToLocal", "/cfl", dir_ + "/ctl"});
  EXPECT_EQ(DiffFiles(src + "/d0/sub0/f0", dir_ + "/ctl"), "");
}

TEST_F(CliTest, StatLocationAndCat) {
  const std::string data(3 * 1024 * 1024 + 5, 'z');
  const std::string local = dir_ + "/z";
  WriteLocal(local, data);
  CliOk({"fs", "put", "--block-size", "1MiB", local, "/z"});
  const std::string stat = CliOk({"fs", "stat", "/z"});
  for (const char* field : {"TTL:", "Pinned:", "Replication:", "Last sync:", "In cache:           3145733 of 3145733 bytes (100%)"}) {
    EXPECT_TRUE(absl::StrContains(stat, field)) << field << "\n" << stat;
  }
  nlohmann::json j = StatJson("/z");
  EXPECT_EQ(j["length"], data.size());
  EXPECT_EQ(j["blocks"].size(), 4u);
  EXPECT_EQ(j["persistence_state"], "PERSISTED");
  const std::string location = CliOk({"fs", "location", "/z"});
  EXPECT_EQ(Occurrences(location, absl::StrCat("127.0.0.1:", worker_port_, " MEM")), 4u) << location;
  auto blocks = JsonLines(CliOk({"fs", "location", "--json", "/z"}));
  ASSERT_EQ(blocks.size(), 4u);
  EXPECT_EQ(blocks[3]["length"], 5);
  EXPECT_EQ(CliOk({"fs", "cat", "/z"}), data);
  CliOk({"fs", "mv", "/z", "/z2"});
  EXPECT_EQ(Cli({"fs", "test", "-f", "/z2"}).exit_code, 0);
}

TEST_F(CliTest, AdminReportAndDoctor) {
  const std::string report = CliOk({"admin", "report"});
  EXPECT_TRUE(absl::StrContains(report, "MEM")) << report;
  EXPECT_TRUE(absl::StrContains(report, "512MiB")) << report;
  EXPECT_TRUE(absl::StrContains(report, "MOUNT POINT")) << report;
  EXPECT_TRUE(absl::StrContains(report, "file://" + Normal(dir_ + "/underfs"))) << report;
  auto json = JsonLines(CliOk({"admin", "report", "--json"}));
  ASSERT_EQ(json.size(), 1u);
  ASSERT_EQ(json[0]["workers"].size(), 1u);
  EXPECT_EQ(json[0]["workers"][0]["state"], "LIVE");
  EXPECT_EQ(json[0]["workers"][0]["tiers"][0]["alias"], "MEM");
  EXPECT_EQ(json[0]["mounts"][0]["path"], "/");

  const std::string doctor = CliOk({"admin", "doctor"});
  EXPECT_TRUE(absl::StrContains(doctor, "[ OK ] master")) << doctor;
  EXPECT_TRUE(absl::StrContains(doctor, "[ OK ] worker")) << doctor;
  EXPECT_TRUE(absl::StrContains(doctor, "[ OK ] mem dir")) << doctor;
  EXPECT_FALSE(absl::StrContains(doctor, "[FAIL]")) << doctor;

  const std::string unreachable = CliFails({"--conf", absl::StrCat("master.rpc.addresses=127.0.0.1:", testing::PickUnusedPort()),
                                            "--conf", "user.rpc.retry_window=0", "admin", "doctor"});
  EXPECT_TRUE(absl::StrContains(unreachable, "[FAIL] master")) << unreachable;
  EXPECT_EQ(Cli({"--conf", "no.such=1", "admin", "doctor"}).exit_code, 2);

  worker_->Signal(SIGKILL);
  ASSERT_TRUE(worker_->Wait(10000).ok());
  const std::string dead = CliFails({"admin", "doctor"});
  EXPECT_TRUE(absl::StrContains(dead, "does not answer")) << dead;
}

TEST_F(CliTest, AttributesChmodChownPinAndTtl) {
  SKIP_UNLESS_MASTER_IMPLEMENTS(master_client_->SetAttribute([] {
    proto::SetAttributeRequest r;
    r.set_path("/probe-does-not-exist");
    r.set_pinned(false);
    return r;
  }()), "SetAttribute");
  CliOk({"fs", "mkdir", "-p", "/attr/sub"});
  Put("f", "data", "/attr/sub/f");
  CliOk({"fs", "chmod", "700", "/attr/sub/f"});
  EXPECT_EQ(StatJson("/attr/sub/f")["mode"], "0700");
  CliOk({"fs", "chmod", "-R", "0750", "/attr"});
  EXPECT_EQ(StatJson("/attr/sub")["mode"], "0750");
  EXPECT_EQ(StatJson("/attr/sub/f")["mode"], "0750");
  CliFails({"fs", "chmod", "9z", "/attr"});

  CliOk({"fs", "chown", "alice:staff", "/attr/sub/f"});
  EXPECT_EQ(StatJson("/attr/sub/f")["owner"], "alice");
  EXPECT_EQ(StatJson("/attr/sub/f")["group"], "staff");
  CliOk({"fs", "chgrp", "-R", "ops", "/attr"});
  EXPECT_EQ(StatJson("/attr/sub/f")["group"], "ops");
  EXPECT_EQ(StatJson("/attr/sub/f")["owner"], "alice");
  CliOk({"fs", "chown", "-R", "bob", "/attr"});
  EXPECT_EQ(StatJson("/attr/sub")["owner"], "bob");

  CliOk({"fs", "pin", "/attr/sub/f"});
  EXPECT_EQ(StatJson("/attr/sub/f")["pinned"], true);
  EXPECT_TRUE(absl::StrContains(CliOk({"fs", "stat", "/attr/sub/f"}), "Pinned:             yes"));
  CliOk({"fs", "unpin", "/attr/sub/f"});
  EXPECT_EQ(StatJson("/attr/sub/f")["pinned"], false);

  CliOk({"fs", "setTtl", "--action", "FREE", "/attr/sub/f", "1h"});
  nlohmann::json j = StatJson("/attr/sub/f");
  EXPECT_EQ(j["ttl_ms"], 3600000);
  EXPECT_EQ(j["ttl_action"], "FREE");
  EXPECT_TRUE(absl::StrContains(CliOk({"fs", "stat", "/attr/sub/f"}), "TTL:                1h (FREE")) << "stat";
  CliOk({"fs", "setTtl", "/attr/sub/f", "2d"});
  EXPECT_EQ(StatJson("/attr/sub/f")["ttl_action"], "DELETE");
  CliFails({"fs", "setTtl", "/attr/sub/f", "soon"});
  CliOk({"fs", "unsetTtl", "/attr/sub/f"});
  EXPECT_EQ(StatJson("/attr/sub/f")["ttl_ms"], 0);
  EXPECT_TRUE(absl::StrContains(CliFails({"fs", "pin", "/attr/none"}), "/attr/none"));
}

TEST_F(CliTest, FreeDropsCachedBlocks) {
  SKIP_UNLESS_MASTER_IMPLEMENTS(master_client_->Free([] {
    proto::FreeRequest r;
    r.set_path("/probe-does-not-exist");
    return r;
  }()), "Free");
  const std::string data(2 * 1024 * 1024, 'q');
  Put("q", data, "/q");
  Put("m", "must", "/m", "MUST_CACHE");
  EXPECT_EQ(StatJson("/q")["in_cache_percentage"], 100);
  const std::string out = CliOk({"fs", "free", "/q"});
  EXPECT_TRUE(absl::StrContains(out, "/q: freed")) << out;
  EXPECT_TRUE(testing::WaitFor([&] { return StatJson("/q")["in_cache_percentage"] == 0; }, 20000))
      << CliOk({"fs", "location", "/q"});
  EXPECT_TRUE(absl::StrContains(CliOk({"fs", "location", "/q"}), "not cached"));
  EXPECT_EQ(CliOk({"fs", "cat", "/q"}), data) << "a freed persisted file reads back from the under-store";
  // A file only in the cache is not freed without -f.
  CliFails({"fs", "free", "/m"});
  EXPECT_EQ(CliOk({"fs", "cat", "/m"}), "must");
}

TEST_F(CliTest, LoadRightAfterFreeCachesTheFileAndShowsItAtOnce) {
  const std::string data(2 * 1024 * 1024, 'l');
  Put("l", data, "/l");
  CliOk({"fs", "free", "/l"});
  // The worker may still hold the blocks: the free travels with its next heartbeat reply. The
  // load must win over that pending free, and the master must know of the blocks when it returns.
  CliOk({"fs", "load", "/l"});
  EXPECT_EQ(StatJson("/l")["in_cache_percentage"], 100) << CliOk({"fs", "location", "/l"});
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // 5 heartbeats
  EXPECT_EQ(StatJson("/l")["in_cache_percentage"], 100) << CliOk({"fs", "location", "/l"});
  EXPECT_FALSE(absl::StrContains(CliOk({"fs", "location", "/l"}), "not cached"));
}

TEST_F(CliTest, MountListSyncAndUnmount) {
  SKIP_UNLESS_MASTER_IMPLEMENTS(master_client_->Unmount([] {
    proto::UnmountRequest r;
    r.set_path("/probe-does-not-exist");
    return r;
  }()), "Unmount");
  const std::string other = dir_ + "/other-ufs";
  WriteLocal(other + "/x.txt", "hello");
  WriteLocal(other + "/dir/y.txt", "world!");
  CliOk({"fs", "mount", "--readonly", "--option", "sync_interval=-1", "/mnt", "file://" + other});
  const std::string table = CliOk({"fs", "mount"});
  EXPECT_TRUE(absl::StrContains(table, "/mnt")) << table;
  EXPECT_TRUE(absl::StrContains(table, "file://" + Normal(other))) << table;
  EXPECT_TRUE(absl::StrContains(table, "read-only")) << table;
  EXPECT_TRUE(absl::StrContains(table, "sync_interval=-1")) << table;
  auto mounts = nlohmann::json::parse(CliOk({"fs", "mount", "--json"}));
  bool found = false;
  for (const auto& m : mounts) found |= m["path"] == "/mnt" && m["read_only"] == true;
  EXPECT_TRUE(found) << mounts.dump();

  const std::string ls = CliOk({"fs", "ls", "-R", "/mnt"});
  EXPECT_TRUE(absl::StrContains(ls, "/mnt/x.txt")) << ls;
  EXPECT_TRUE(absl::StrContains(ls, "/mnt/dir/y.txt")) << ls;
  EXPECT_EQ(CliOk({"fs", "cat", "/mnt/dir/y.txt"}), "world!");
  // Read-only: no writes below the mount.
  CliFails({"fs", "mkdir", "/mnt/new"});

  // A file appears in the under-store: sync -R brings it in; the listing reports it.
  WriteLocal(other + "/dir/z.txt", "zz");
  const std::string sync = CliOk({"fs", "sync", "-R", "/mnt"});
  EXPECT_TRUE(absl::StrContains(sync, "/mnt: 1 created")) << sync;
  EXPECT_EQ(CliOk({"fs", "cat", "/mnt/dir/z.txt"}), "zz");
  // And with --sync-interval 0 a listing re-checks by itself.
  WriteLocal(other + "/late.txt", "late");
  EXPECT_TRUE(absl::StrContains(CliOk({"fs", "ls", "--sync-interval", "0", "/mnt"}), "/mnt/late.txt"));
  EXPECT_EQ(Cli({"fs", "test", "-f", "/mnt/late.txt"}).exit_code, 0);
  const std::string late = CliOk({"fs", "stat", "/mnt/late.txt"});
  EXPECT_FALSE(absl::StrContains(late, "Last sync:          -\n")) << late;

  CliOk({"fs", "unmount", "/mnt"});
  EXPECT_EQ(Cli({"fs", "test", "-e", "/mnt"}).exit_code, 1);
  EXPECT_FALSE(absl::StrContains(CliOk({"fs", "mount"}), "/mnt"));
  EXPECT_EQ(ReadLocal(other + "/x.txt"), "hello") << "unmount must not touch the under-store";
  CliFails({"fs", "mount", "/only-path"}, 2);
}

// The client leaves a failed worker for another one, and for the under-store when none is left.
class CliFailoverTest : public CliTest {
 protected:
  int NumWorkers() const override { return 2; }
  // The master keeps a killed worker LIVE for a while: the client must cope on its own.
  std::string ExtraConf() const override { return "master.worker.timeout=60s\n"; }
};

TEST_F(CliFailoverTest, ReadSwitchesWorkersThenFallsBackToTheUnderStore) {
  const std::string local = dir_ + "/p.bin";
  WriteRandomFile(local, 3 * kMiB + 11, 9);
  CliOk({"fs", "put", "--write-type", "CACHE_THROUGH", "--block-size", "1MiB", local, "/p.bin"});
  // Kill the worker holding block 0; the read goes to the other one (which reads the block
  // through from the under-store).
  nlohmann::json j = StatJson("/p.bin");
  ASSERT_FALSE(j["blocks"][0]["locations"].empty());
  const std::string holder = j["blocks"][0]["locations"][0]["address"];
  testing::Subprocess* victim =
      holder == absl::StrCat("127.0.0.1:", worker_port_) ? worker_.get() : extra_workers_[0].get();
  testing::Subprocess* survivor = victim == worker_.get() ? extra_workers_[0].get() : worker_.get();
  victim->Signal(SIGKILL);
  ASSERT_TRUE(victim->Wait(10000).ok());
  CliOk({"fs", "get", "/p.bin", dir_ + "/p1.bin"});
  EXPECT_EQ(DiffFiles(local, dir_ + "/p1.bin"), "");

  // No worker at all: a persisted file still reads, straight from the under-store...
  survivor->Signal(SIGKILL);
  ASSERT_TRUE(survivor->Wait(10000).ok());
  CliOk({"fs", "get", "/p.bin", dir_ + "/p2.bin"});
  EXPECT_EQ(DiffFiles(local, dir_ + "/p2.bin"), "");
  EXPECT_EQ(CliOk({"fs", "tail", "-c", "11", "/p.bin"}), ReadLocal(local).substr(3 * kMiB));
  // ...unless the fallback is switched off.
  CliFails({"--conf", "user.ufs.fallback.enabled=false", "fs", "cat", "/p.bin"});
}

TEST_F(CliTest, WriteToADeadWorkerFailsAndLeavesNothing) {
  worker_->Signal(SIGKILL);
  ASSERT_TRUE(worker_->Wait(10000).ok());
  const std::string local = dir_ + "/w.bin";
  WriteRandomFile(local, 2 * kMiB, 4);
  for (const char* type : {"MUST_CACHE", "CACHE_THROUGH", "THROUGH"}) {
    const std::string path = absl::StrCat("/w-", type);
    CliFails({"fs", "put", "--write-type", type, local, path});
    EXPECT_EQ(Cli({"fs", "test", "-e", path}).exit_code, 1) << type << ": the failed file is visible";
  }
  EXPECT_FALSE(fs::exists(dir_ + "/underfs/w-THROUGH"));
  EXPECT_FALSE(fs::exists(dir_ + "/underfs/w-CACHE_THROUGH"));
}

}  // namespace
}  // namespace cistern
