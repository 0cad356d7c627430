// The namespace model against Cistern's semantics (docs/namespace.md), alone and inside the
// checker: small hand-made histories, sequential and concurrent, with unknown outcomes.
#include "testing/lincheck_namespace.h"

#include "gtest/gtest.h"

namespace cistern::lincheck {
namespace {

using In = NamespaceInput;
using Out = NamespaceOutput;
using Code = absl::StatusCode;
using Op = NamespaceHistory::value_type;

Op Done(int client, In in, Out out, int64_t call, int64_t ret) {
  return {client, std::move(in), out, Outcome::kOk, call, ret};
}
Op Unknown(int client, In in, int64_t call) { return {client, std::move(in), std::nullopt, Outcome::kInfo, call, 0}; }

// Each operation in turn, one time unit apart.
NamespaceHistory Sequential(std::vector<std::pair<In, Out>> steps) {
  NamespaceHistory history;
  int64_t t = 0;
  for (auto& [in, out] : steps) {
    history.push_back(Done(0, std::move(in), out, t, t + 1));
    t += 2;
  }
  return history;
}

Verdict VerdictOf(const NamespaceHistory& history, const NamespaceModel& model = NamespaceModel()) {
  return Check(model, history).verdict;
}

Out Status(Code code) { return Out::Status(code); }
const Out kOk = Out::Status(Code::kOk);

// The model's answer to `in` after `setup` (which must all succeed as given).
Out Answer(std::vector<std::pair<In, Out>> setup, In in) {
  const NamespaceModel model;
  std::optional<NamespaceState> state = model.Init();
  for (auto& [i, o] : setup) {
    state = model.Step(*state, i, o);
    EXPECT_TRUE(state.has_value()) << model.Describe(i, o);
    if (!state.has_value()) return {};
  }
  for (Code code :
       {Code::kOk, Code::kNotFound, Code::kAlreadyExists, Code::kFailedPrecondition, Code::kInvalidArgument}) {
    for (bool flag : {false, true}) {
      Out out{code, 0, flag, flag};
      if (model.Step(*state, in, out).has_value()) return out;
    }
  }
  ADD_FAILURE() << "no output accepted for " << model.Describe(in, std::nullopt);
  return {};
}

TEST(NamespaceModel, CreateFile) {
  const auto dir = std::make_pair(In::CreateDirectory("/d"), Out::Created(2));
  const auto file = std::make_pair(In::CreateFile("/d/f"), Out::Created(3));
  EXPECT_EQ(Answer({}, In::CreateFile("/d/f")).code, Code::kNotFound);  // no parent
  EXPECT_EQ(Answer({dir}, In::CreateFile("/d/f")).code, Code::kOk);
  EXPECT_EQ(Answer({dir, file}, In::CreateFile("/d/f")).code, Code::kAlreadyExists);
  EXPECT_EQ(Answer({dir, file}, In::CreateFile("/d/f", false, true)).code, Code::kOk);     // overwrite
  EXPECT_EQ(Answer({dir}, In::CreateFile("/d", false, true)).code, Code::kAlreadyExists);  // a directory
  EXPECT_EQ(Answer({dir, file}, In::CreateFile("/d/f/x", true)).code, Code::kFailedPrecondition);
  EXPECT_EQ(Answer({}, In::CreateFile("/")).code, Code::kAlreadyExists);
  // recursive creates the parents as directories
  EXPECT_TRUE(Answer({{In::CreateFile("/a/b/c", true), Out::Created(7)}}, In::GetStatus("/a/b")).directory);
}

TEST(NamespaceModel, CreateDirectory) {
  const auto dir = std::make_pair(In::CreateDirectory("/d"), Out::Created(2));
  EXPECT_EQ(Answer({dir}, In::CreateDirectory("/d")).code, Code::kAlreadyExists);
  EXPECT_EQ(Answer({dir}, In::CreateDirectory("/d", false, true)).code, Code::kOk);
  EXPECT_EQ(Answer({}, In::CreateDirectory("/x/y")).code, Code::kNotFound);
  EXPECT_EQ(Answer({}, In::CreateDirectory("/x/y", true)).code, Code::kOk);
  EXPECT_EQ(Answer({{In::CreateFile("/f", false), Out::Created(3)}}, In::CreateDirectory("/f", false, true)).code,
            Code::kAlreadyExists);  // allow_exists is for directories only
  EXPECT_EQ(Answer({}, In::CreateDirectory("/")).code, Code::kAlreadyExists);
  EXPECT_EQ(Answer({}, In::CreateDirectory("/", false, true)).code, Code::kOk);
}

TEST(NamespaceModel, RenameChecksInTheMastersOrder) {
  const std::vector<std::pair<In, Out>> setup = {{In::CreateDirectory("/d"), Out::Created(2)},
                                                 {In::CreateFile("/d/f"), Out::Created(3)},
                                                 {In::CreateFile("/d/g"), Out::Created(4)}};
  EXPECT_EQ(Answer(setup, In::Rename("/d/f", "/d/h")).code, Code::kOk);
  EXPECT_EQ(Answer(setup, In::Rename("/d/f", "/d/g")).code, Code::kAlreadyExists);         // never replaces
  EXPECT_EQ(Answer(setup, In::Rename("/d/x", "/d/g")).code, Code::kNotFound);              // source first
  EXPECT_EQ(Answer(setup, In::Rename("/d/f", "/e/f")).code, Code::kNotFound);              // no parent
  EXPECT_EQ(Answer(setup, In::Rename("/d/f", "/d/g/x")).code, Code::kFailedPrecondition);  // via a file
  EXPECT_EQ(Answer(setup, In::Rename("/d", "/d/sub")).code, Code::kInvalidArgument);       // inside itself
  EXPECT_EQ(Answer(setup, In::Rename("/", "/x")).code, Code::kInvalidArgument);
  EXPECT_EQ(Answer(setup, In::Rename("/x", "/d/f/y")).code, Code::kNotFound);  // source before destination
}

TEST(NamespaceModel, RenameMovesTheSubtreeWithItsIds) {
  const std::vector<std::pair<In, Out>> setup = {{In::CreateFile("/d/s/f", true), Out::Created(3)},
                                                 {In::GetStatus("/d"), Out::Found(1, true)},
                                                 {In::Rename("/d", "/e"), kOk}};
  EXPECT_EQ(Answer(setup, In::GetStatus("/d")).code, Code::kNotFound);
  EXPECT_EQ(Answer(setup, In::GetStatus("/d/s/f")).code, Code::kNotFound);
  EXPECT_TRUE(Answer(setup, In::GetStatus("/e/s")).directory);
  NamespaceHistory history = Sequential({setup[0],
                                         setup[1],
                                         setup[2],
                                         {In::GetStatus("/e/s/f"), Out::Found(3, false)},
                                         {In::GetStatus("/e"), Out::Found(1, true)}});
  EXPECT_EQ(VerdictOf(history), Verdict::kLinearizable);
  history.back().output = Out::Found(9, true);  // the directory kept id 1
  EXPECT_EQ(VerdictOf(history), Verdict::kNotLinearizable);
}

TEST(NamespaceModel, DeleteGetStatusExists) {
  const std::vector<std::pair<In, Out>> setup = {{In::CreateFile("/d/f", true), Out::Created(3)}};
  EXPECT_EQ(Answer(setup, In::Delete("/d")).code, Code::kFailedPrecondition);  // not empty
  EXPECT_EQ(Answer(setup, In::Delete("/d", true)).code, Code::kOk);
  EXPECT_EQ(Answer(setup, In::Delete("/d/f")).code, Code::kOk);
  EXPECT_EQ(Answer(setup, In::Delete("/x")).code, Code::kNotFound);
  EXPECT_EQ(Answer(setup, In::Delete("/d/f/x")).code, Code::kFailedPrecondition);
  EXPECT_EQ(Answer(setup, In::Delete("/")).code, Code::kInvalidArgument);
  EXPECT_EQ(Answer(setup, In::GetStatus("/d/f/x")).code, Code::kFailedPrecondition);
  EXPECT_FALSE(Answer(setup, In::Exists("/d/f/x")).exists);  // Exists answers false there
  EXPECT_TRUE(Answer(setup, In::Exists("/d/f")).exists);
  EXPECT_TRUE(Answer(setup, In::Exists("/")).exists);
  EXPECT_EQ(Answer({{In::CreateFile("/d/f", true), Out::Created(3)}, {In::Delete("/d", true), kOk}}, In::Exists("/d/f"))
                .exists,
            false);
}

TEST(NamespaceModel, FileIdsMustStayConsistent) {
  const In create = In::CreateFile("/f");
  EXPECT_EQ(VerdictOf(Sequential({{create, Out::Created(5)}, {In::GetStatus("/f"), Out::Found(5, false)}})),
            Verdict::kLinearizable);
  EXPECT_EQ(VerdictOf(Sequential({{create, Out::Created(5)}, {In::GetStatus("/f"), Out::Found(6, false)}})),
            Verdict::kNotLinearizable);
  EXPECT_EQ(VerdictOf(Sequential({{create, Out::Created(5)}, {In::GetStatus("/f"), Out::Found(5, true)}})),
            Verdict::kNotLinearizable);  // a file, not a directory
  // An overwrite gives a new id; a delete and re-create too.
  EXPECT_EQ(VerdictOf(Sequential({{create, Out::Created(5)},
                                  {In::CreateFile("/f", false, true), Out::Created(6)},
                                  {In::GetStatus("/f"), Out::Found(6, false)}})),
            Verdict::kLinearizable);
  EXPECT_EQ(VerdictOf(Sequential({{create, Out::Created(5)},
                                  {In::Delete("/f"), kOk},
                                  {create, Out::Created(8)},
                                  {In::GetStatus("/f"), Out::Found(5, false)}})),
            Verdict::kNotLinearizable);
}

TEST(NamespaceModel, AnIdNeverNamesTwoInodes) {
  // (Within one group of the history: here everything is under /d.)
  EXPECT_EQ(VerdictOf(Sequential({{In::CreateFile("/d/f", true), Out::Created(5)},
                                  {In::Delete("/d/f"), kOk},
                                  {In::CreateFile("/d/g"), Out::Created(5)}})),
            Verdict::kNotLinearizable);
  // An unknown create's id is bound by a read, and must be fresh.
  NamespaceHistory history = {Done(0, In::CreateDirectory("/d"), Out::Created(2), 0, 1),
                              Unknown(0, In::CreateFile("/d/a"), 2),
                              Done(1, In::CreateFile("/d/b"), Out::Created(5), 3, 4),
                              Done(2, In::GetStatus("/d/a"), Out::Found(6, false), 5, 6)};
  EXPECT_EQ(VerdictOf(history), Verdict::kLinearizable);
  history[3].output = Out::Found(5, false);
  EXPECT_EQ(VerdictOf(history), Verdict::kNotLinearizable);
  history[3].output = Out::Found(2, false);
  EXPECT_EQ(VerdictOf(history), Verdict::kNotLinearizable);
}

TEST(NamespaceModel, CreatedIdsAreDistinctAcrossGroups) {
  NamespaceHistory history = Sequential({{In::CreateFile("/a"), Out::Created(5)},
                                         {In::CreateDirectory("/b"), Out::Created(6)},
                                         {In::CreateDirectory("/b", false, true), Out::Created(6)}});
  EXPECT_TRUE(CheckCreatedIdsAreDistinct(history).ok());
  history.push_back(Done(0, In::CreateFile("/c"), Out::Created(5), 10, 11));
  EXPECT_EQ(Check(NamespaceModel(), history).verdict, Verdict::kLinearizable);  // /a and /c: other groups
  absl::Status status = CheckCreatedIdsAreDistinct(history);
  EXPECT_TRUE(absl::IsFailedPrecondition(status));
  EXPECT_NE(status.message().find("id 5 was created twice: by operation #0 (createFile /a -> OK id 5) and by #3"),
            std::string::npos)
      << status;
}

TEST(NamespaceModel, AcknowledgedCreatesAreVisible) {
  EXPECT_EQ(
      VerdictOf(Sequential({{In::CreateFile("/f"), Out::Created(5)}, {In::Exists("/f"), Out::ExistsAnswer(false)}})),
      Verdict::kNotLinearizable);
  EXPECT_EQ(VerdictOf(Sequential({{In::CreateFile("/f"), Out::Created(5)}, {In::CreateFile("/f"), Out::Created(6)}})),
            Verdict::kNotLinearizable);  // applied twice
  EXPECT_EQ(VerdictOf(Sequential(
                {{In::CreateFile("/f"), Out::Created(5)}, {In::CreateFile("/f"), Status(Code::kAlreadyExists)}})),
            Verdict::kLinearizable);
}

TEST(NamespaceModel, InitialDirectories) {
  const NamespaceModel model({"/ha", "/ha/c0"});
  EXPECT_EQ(VerdictOf(Sequential({{In::CreateFile("/ha/c0/f"), Out::Created(5)}}), model), Verdict::kLinearizable);
  EXPECT_EQ(VerdictOf(Sequential({{In::CreateFile("/ha/c1/f"), Out::Created(5)}}), model), Verdict::kNotLinearizable);
}

TEST(NamespaceHistories, ConcurrentCreatesOfOnePathHaveOneWinner) {
  NamespaceHistory one_winner = {Done(0, In::CreateFile("/f"), Out::Created(5), 0, 10),
                                 Done(1, In::CreateFile("/f"), Status(Code::kAlreadyExists), 1, 11),
                                 Done(2, In::GetStatus("/f"), Out::Found(5, false), 12, 13)};
  EXPECT_EQ(VerdictOf(one_winner), Verdict::kLinearizable);
  NamespaceHistory two_winners = one_winner;
  two_winners[1].output = Out::Created(6);
  EXPECT_EQ(VerdictOf(two_winners), Verdict::kNotLinearizable);
  // The loser may even return first: it was applied after the winner.
  NamespaceHistory early_loser = {Done(0, In::CreateFile("/f"), Out::Created(5), 0, 10),
                                  Done(1, In::CreateFile("/f"), Status(Code::kAlreadyExists), 1, 2)};
  EXPECT_EQ(VerdictOf(early_loser), Verdict::kLinearizable);
}

TEST(NamespaceHistories, ReadsOverlappingACreate) {
  // While the create is in flight a read may see the file or not, but once one read saw it no
  // later read may miss it; after the create returns every read sees it.
  const In create = In::CreateFile("/f");
  EXPECT_EQ(
      VerdictOf({Done(0, create, Out::Created(5), 0, 10), Done(1, In::GetStatus("/f"), Status(Code::kNotFound), 1, 2),
                 Done(1, In::GetStatus("/f"), Out::Found(5, false), 3, 4)}),
      Verdict::kLinearizable);
  EXPECT_EQ(
      VerdictOf({Done(0, create, Out::Created(5), 0, 10), Done(1, In::GetStatus("/f"), Out::Found(5, false), 1, 2),
                 Done(1, In::GetStatus("/f"), Status(Code::kNotFound), 3, 4)}),
      Verdict::kNotLinearizable);
  EXPECT_EQ(VerdictOf({Done(0, create, Out::Created(5), 0, 10),
                       Done(1, In::GetStatus("/f"), Status(Code::kNotFound), 11, 12)}),
            Verdict::kNotLinearizable);
  // A read overlapping the create may report the id before the create returns it.
  EXPECT_EQ(
      VerdictOf({Done(0, create, Out::Created(5), 0, 10), Done(1, In::GetStatus("/f"), Out::Found(5, false), 1, 2)}),
      Verdict::kLinearizable);
}

TEST(NamespaceHistories, ConcurrentRenamesOfOneSource) {
  NamespaceHistory history = {Done(0, In::CreateFile("/a"), Out::Created(5), 0, 1),
                              Done(1, In::Rename("/a", "/b"), kOk, 2, 10),
                              Done(2, In::Rename("/a", "/c"), Status(Code::kNotFound), 3, 9),
                              Done(3, In::GetStatus("/b"), Out::Found(5, false), 11, 12),
                              Done(3, In::Exists("/c"), Out::ExistsAnswer(false), 13, 14)};
  CheckResult result = Check(NamespaceModel(), history);
  EXPECT_EQ(result.verdict, Verdict::kLinearizable) << result.report;
  EXPECT_EQ(result.groups, 1u);  // the renames join /a, /b and /c
  history[2].output = kOk;       // both renames won
  EXPECT_EQ(VerdictOf(history), Verdict::kNotLinearizable);
}

TEST(NamespaceHistories, RenameIsAtomicForReaders) {
  // A reader that sees the destination cannot later see the source again.
  NamespaceHistory history = {Done(0, In::CreateFile("/a"), Out::Created(5), 0, 1),
                              Done(1, In::Rename("/a", "/b"), kOk, 2, 20),
                              Done(2, In::Exists("/b"), Out::ExistsAnswer(true), 3, 4),
                              Done(2, In::Exists("/a"), Out::ExistsAnswer(true), 5, 6)};
  EXPECT_EQ(VerdictOf(history), Verdict::kNotLinearizable);
  history[3].output = Out::ExistsAnswer(false);
  EXPECT_EQ(VerdictOf(history), Verdict::kLinearizable);
  // Two readers reading both names in opposite orders may not see both or neither at one time.
  NamespaceHistory neither = {Done(0, In::CreateFile("/a"), Out::Created(5), 0, 1),
                              Done(1, In::Rename("/a", "/b"), kOk, 2, 20),
                              Done(2, In::Exists("/a"), Out::ExistsAnswer(false), 3, 4),
                              Done(2, In::Exists("/b"), Out::ExistsAnswer(false), 5, 6)};
  EXPECT_EQ(VerdictOf(neither), Verdict::kNotLinearizable);
}

TEST(NamespaceHistories, UnknownCreateMayApplyLateOnceOrNever) {
  const In create = In::CreateFile("/f");
  // Timed out; not visible at first, visible later: it was applied late.
  EXPECT_EQ(VerdictOf({Unknown(0, create, 0), Done(1, In::GetStatus("/f"), Status(Code::kNotFound), 5, 6),
                       Done(1, In::GetStatus("/f"), Out::Found(7, false), 7, 8)}),
            Verdict::kLinearizable);
  // Never applied.
  EXPECT_EQ(VerdictOf({Unknown(0, create, 0), Done(1, In::Exists("/f"), Out::ExistsAnswer(false), 50, 51)}),
            Verdict::kLinearizable);
  // Visible, then gone without a delete: not possible.
  EXPECT_EQ(VerdictOf({Unknown(0, create, 0), Done(1, In::GetStatus("/f"), Out::Found(7, false), 5, 6),
                       Done(1, In::GetStatus("/f"), Status(Code::kNotFound), 7, 8)}),
            Verdict::kNotLinearizable);
  // The retry finds it already there (the first attempt was applied); the id the reads report
  // must stay the same.
  NamespaceHistory retried = {Unknown(0, create, 0), Done(0, create, Status(Code::kAlreadyExists), 5, 6),
                              Done(1, In::GetStatus("/f"), Out::Found(7, false), 7, 8),
                              Done(1, In::GetStatus("/f"), Out::Found(7, false), 9, 10)};
  EXPECT_EQ(VerdictOf(retried), Verdict::kLinearizable);
  retried[3].output = Out::Found(8, false);
  EXPECT_EQ(VerdictOf(retried), Verdict::kNotLinearizable);
}

TEST(NamespaceHistories, UnknownDeleteAndRename) {
  NamespaceHistory history = {Done(0, In::CreateFile("/d/f", true), Out::Created(5), 0, 1),
                              Unknown(1, In::Delete("/d", true), 2), Unknown(2, In::Rename("/d/f", "/g"), 3),
                              Done(3, In::Exists("/g"), Out::ExistsAnswer(true), 10, 11),
                              Done(3, In::Exists("/d"), Out::ExistsAnswer(false), 12, 13)};
  // The rename, then the delete.
  EXPECT_EQ(VerdictOf(history), Verdict::kLinearizable);
  // /g appeared, so the rename happened before the delete; then /d cannot still hold /d/f.
  history.push_back(Done(3, In::Exists("/d/f"), Out::ExistsAnswer(true), 14, 15));
  EXPECT_EQ(VerdictOf(history), Verdict::kNotLinearizable);
}

TEST(NamespaceHistories, GroupsByTopLevelName) {
  NamespaceHistory history = {Done(0, In::CreateFile("/a/f", true), Out::Created(5), 0, 1),
                              Done(1, In::CreateFile("/b/f", true), Out::Created(6), 0, 1),
                              Done(2, In::GetStatus("/a/f"), Out::Found(5, false), 2, 3),
                              Done(3, In::GetStatus("/"), Out::Found(1, true), 2, 3)};
  CheckResult result = Check(NamespaceModel(), history);
  EXPECT_EQ(result.verdict, Verdict::kLinearizable) << result.report;
  EXPECT_EQ(result.groups, 3u);
  history.push_back(Done(4, In::Rename("/a/f", "/b/g"), kOk, 4, 5));
  history.push_back(Done(4, In::GetStatus("/b/g"), Out::Found(5, false), 6, 7));
  result = Check(NamespaceModel(), history);
  EXPECT_EQ(result.verdict, Verdict::kLinearizable) << result.report;
  EXPECT_EQ(result.groups, 2u);
  // Splitting never changes the verdict.
  history.back().output = Out::Found(6, false);
  CheckOptions whole;
  whole.partition = false;
  EXPECT_EQ(Check(NamespaceModel(), history).verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(Check(NamespaceModel(), history, whole).verdict, Verdict::kNotLinearizable);
}

TEST(NamespaceHistories, DescribesOperationsInReports) {
  NamespaceHistory history =
      Sequential({{In::CreateFile("/f"), Out::Created(5)}, {In::GetStatus("/f"), Status(Code::kNotFound)}});
  CheckResult result = Check(NamespaceModel(), history);
  ASSERT_EQ(result.verdict, Verdict::kNotLinearizable);
  EXPECT_NE(result.report.find("createFile /f -> OK id 5"), std::string::npos) << result.report;
  EXPECT_NE(result.report.find("getStatus /f -> NOT_FOUND  (the model rejects it here)"), std::string::npos)
      << result.report;
  EXPECT_NE(result.report.find("state after it: /f#5"), std::string::npos) << result.report;
}

TEST(NamespaceOutcome, OnlyContractErrorsAreDefinite) {
  EXPECT_TRUE(IsDefiniteNamespaceOutcome(absl::OkStatus()));
  EXPECT_TRUE(IsDefiniteNamespaceOutcome(absl::NotFoundError("x")));
  EXPECT_TRUE(IsDefiniteNamespaceOutcome(absl::AlreadyExistsError("x")));
  EXPECT_TRUE(IsDefiniteNamespaceOutcome(absl::FailedPreconditionError("x")));
  EXPECT_TRUE(IsDefiniteNamespaceOutcome(absl::InvalidArgumentError("x")));
  EXPECT_FALSE(IsDefiniteNamespaceOutcome(absl::UnavailableError("x")));
  EXPECT_FALSE(IsDefiniteNamespaceOutcome(absl::DeadlineExceededError("x")));
  EXPECT_FALSE(IsDefiniteNamespaceOutcome(absl::InternalError("x")));

  NamespaceRecorder recorder;
  auto a = recorder.Invoke(0, In::CreateFile("/f"));
  auto b = recorder.Invoke(1, In::CreateFile("/f"));
  auto c = recorder.Invoke(2, In::GetStatus("/f"));
  CompleteNamespaceOperation(recorder, a, absl::OkStatus(), Out::Created(5));
  CompleteNamespaceOperation(recorder, b, absl::DeadlineExceededError("timed out"));
  CompleteNamespaceOperation(recorder, c, absl::NotFoundError("no"));
  NamespaceHistory history = recorder.History();
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0].outcome, Outcome::kOk);
  EXPECT_EQ(history[0].output->id, 5u);
  EXPECT_EQ(history[1].outcome, Outcome::kInfo);
  EXPECT_EQ(history[2].outcome, Outcome::kOk);
  EXPECT_EQ(history[2].output->code, Code::kNotFound);
}

}  // namespace
}  // namespace cistern::lincheck
