// docs/cli.md and the `cistern` binary cannot drift apart: every command `cistern --help` lists,
// at any depth, answers `--help` with exit 0, has a "### <group> <command>..." section in
// docs/cli.md, and every long option its help shows is mentioned in that section.
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "testing/subprocess.h"

namespace cistern {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : ".";
}

std::string Cistern() { return Env("CISTERN_BUILD_DIR") + "/bin/cistern"; }

std::string Help(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {Cistern()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--help");
  testing::CommandResult r = testing::RunCommand(argv, 30000);
  EXPECT_EQ(r.exit_code, 0) << absl::StrJoin(argv, " ") << "\n" << r.output;
  return r.output;
}

// The names under "Subcommands:" in a CLI11 help text.
std::vector<std::string> Subcommands(const std::string& help) {
  std::vector<std::string> out;
  bool in = false;
  for (absl::string_view line : absl::StrSplit(help, '\n')) {
    if (line == "Subcommands:") {
      in = true;
      continue;
    }
    if (!in || line.empty()) continue;
    if (line[0] != ' ') break;
    std::vector<absl::string_view> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (!words.empty()) out.emplace_back(words[0]);
  }
  return out;
}

// The options a CLI11 help text lists, each as its names ("-R", "-r", "--recursive"), --help
// aside.
std::vector<std::vector<std::string>> Options(const std::string& help) {
  std::vector<std::vector<std::string>> out;
  for (absl::string_view line : absl::StrSplit(help, '\n')) {
    absl::string_view trimmed = absl::StripLeadingAsciiWhitespace(line);
    if (!absl::StartsWith(trimmed, "-")) continue;
    absl::string_view names = trimmed.substr(0, trimmed.find(' '));
    std::vector<std::string> option = absl::StrSplit(names, ',', absl::SkipEmpty());
    if (std::find(option.begin(), option.end(), "--help") != option.end()) continue;
    out.push_back(option);
  }
  return out;
}

// The text of the docs section "### <title>" up to the next heading.
std::string Section(const std::string& doc, const std::string& title) {
  const std::string heading = absl::StrCat("\n### ", title, "\n");
  const size_t start = doc.find(heading);
  if (start == std::string::npos) return "";
  const size_t end = doc.find("\n#", start + heading.size());
  return doc.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

TEST(CliDocsTest, EveryCommandHasHelpAndIsDocumented) {
  std::ifstream in(Env("CISTERN_SOURCE_DIR") + "/docs/cli.md");
  ASSERT_TRUE(in) << "cannot read docs/cli.md";
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string doc = buf.str();

  const std::vector<std::string> groups = Subcommands(Help({}));
  ASSERT_GE(groups.size(), 4u);
  int commands = 0;
  // Every leaf command, however deeply nested ("admin journal quorum add"); a group without
  // subcommands (version) is a command itself.
  std::vector<std::vector<std::string>> paths;
  std::vector<std::vector<std::string>> pending;
  for (const std::string& group : groups) pending.push_back({group});
  while (!pending.empty()) {
    std::vector<std::string> path = pending.back();
    pending.pop_back();
    const std::vector<std::string> leaves = Subcommands(Help(path));
    if (leaves.empty()) paths.push_back(path);
    for (const std::string& leaf : leaves) {
      std::vector<std::string> child = path;
      child.push_back(leaf);
      pending.push_back(child);
    }
  }
  for (const std::vector<std::string>& path : paths) {
    ++commands;
    const std::string help = Help(path);
    EXPECT_TRUE(absl::StrContains(help, "Usage:")) << absl::StrJoin(path, " ") << "\n" << help;
    const std::string title = absl::StrJoin(path, " ");
    std::string section = Section(doc, title);
    // An alias ("is `fs put` under its Hadoop name") is documented by the command it names.
    const size_t alias = section.find("is `fs ");
    if (alias != std::string::npos) {
      const size_t end = section.find('`', alias + 4);
      absl::StrAppend(&section, Section(doc, section.substr(alias + 4, end - alias - 4)));
    }
    EXPECT_FALSE(section.empty()) << "docs/cli.md has no section '### " << title << "'";
    if (section.empty()) continue;
    for (const std::vector<std::string>& option : Options(help)) {
      bool mentioned = false;
      for (const std::string& name : option) {
        // Options shared by a whole group may be documented once for the group.
        mentioned |= absl::StrContains(section, absl::StrCat(name, " ")) ||
                     absl::StrContains(section, absl::StrCat(name, "`")) ||
                     absl::StrContains(section, absl::StrCat(name, "]")) ||
                     absl::StrContains(doc, absl::StrCat("takes `", name));
      }
      EXPECT_TRUE(mentioned) << "docs/cli.md section '" << title << "' does not mention "
                             << absl::StrJoin(option, " / ");
    }
  }
  EXPECT_GE(commands, 35) << "fewer commands than expected: is the help parsing broken?";
}

}  // namespace
}  // namespace cistern
