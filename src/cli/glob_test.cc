#include "cli/glob.h"

#include <map>
#include <set>

#include "gtest/gtest.h"

namespace cistern::cli {
namespace {

// A namespace of directories (with children) and files.
class FakeTree {
 public:
  FakeTree() {
    dirs_["/"] = {"data", "logs", "f.txt"};
    dirs_["/data"] = {"a.bin", "b.bin", "c.txt", ".hidden.bin", "sub"};
    dirs_["/data/sub"] = {"d.bin"};
    dirs_["/logs"] = {"2026-10", "2026-11"};
    dirs_["/logs/2026-10"] = {"part-0", "part-1"};
    dirs_["/logs/2026-11"] = {"part-0", "x"};
    files_ = {"/f.txt", "/data/a.bin", "/data/b.bin", "/data/c.txt", "/data/.hidden.bin", "/data/sub/d.bin",
              "/logs/2026-10/part-0", "/logs/2026-10/part-1", "/logs/2026-11/part-0", "/logs/2026-11/x"};
  }
  ChildLister lister() {
    return [this](const std::string& dir) -> absl::StatusOr<std::vector<std::string>> {
      ++lists;
      auto it = dirs_.find(dir);
      if (it != dirs_.end()) return it->second;
      if (files_.count(dir)) return absl::FailedPreconditionError(dir + " is a file");
      return absl::NotFoundError(dir);
    };
  }
  PathChecker checker() {
    return [this](const std::string& path) -> absl::StatusOr<bool> {
      return dirs_.count(path) > 0 || files_.count(path) > 0;
    };
  }
  int lists = 0;

 private:
  std::map<std::string, std::vector<std::string>> dirs_;
  std::set<std::string> files_;
};

TEST(GlobTest, HasGlob) {
  EXPECT_TRUE(HasGlob("/a/*.bin"));
  EXPECT_TRUE(HasGlob("/a/?"));
  EXPECT_TRUE(HasGlob("/a/[ab]"));
  EXPECT_FALSE(HasGlob("/a/b.bin"));
}

TEST(GlobTest, StarMatchesWithinOneComponentSortedAndSkipsDotFiles) {
  FakeTree tree;
  auto r = ExpandGlob("/data/*.bin", tree.lister(), tree.checker());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<std::string>{"/data/a.bin", "/data/b.bin"}));
  EXPECT_EQ(tree.lists, 1) << "one listing of the parent";
}

TEST(GlobTest, SeveralComponentsAndClasses) {
  FakeTree tree;
  auto r = ExpandGlob("/logs/2026-1?/part-[0-9]", tree.lister(), tree.checker());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<std::string>{"/logs/2026-10/part-0", "/logs/2026-10/part-1", "/logs/2026-11/part-0"}));
  auto literal_after = ExpandGlob("/logs/*/x", tree.lister(), tree.checker());
  ASSERT_TRUE(literal_after.ok());
  EXPECT_EQ(*literal_after, (std::vector<std::string>{"/logs/2026-11/x"}));
}

TEST(GlobTest, NoMatchIsNotFoundNamingThePattern) {
  FakeTree tree;
  auto r = ExpandGlob("/data/*.csv", tree.lister(), tree.checker());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/data/*.csv"), absl::string_view::npos);
  EXPECT_FALSE(ExpandGlob("/nodir/*", tree.lister(), tree.checker()).ok());
  // A file in the middle of a pattern has no children.
  EXPECT_FALSE(ExpandGlob("/f.txt/*", tree.lister(), tree.checker()).ok());
}

TEST(GlobTest, PlainPathIsReturnedUnchecked) {
  FakeTree tree;
  auto r = ExpandGlob("/not/there", tree.lister(), tree.checker());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<std::string>{"/not/there"}));
  EXPECT_EQ(tree.lists, 0);
}

}  // namespace
}  // namespace cistern::cli
