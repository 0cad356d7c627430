#!/usr/bin/env python3
"""Shows that the Raft tests catch bugs: injects one bug at a time into src/raft (a textual
mutation), rebuilds raft_test, runs it, prints which tests fail, and restores the source.

Usage: scripts/raft-mutants.py [MUTANT_NUMBER ...]   (default: all; build dir: $BUILD_DIR or build)
Environment: SEEDS (simulation seeds per suite, default 300), FILTER (gtest filter),
TIMEOUT (seconds per test run, default 600). Run it on a clean tree: it edits sources in place
and restores them afterwards, also when interrupted.
"""
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = ROOT / os.environ.get("BUILD_DIR", "build")

# (what the bug is, file, text to replace, replacement)
MUTANTS = [
    ("vote granted without the up-to-date log check", "src/raft/raft.cc",
     "if (can_vote && LogUpToDate(m.index, m.log_term)) {", "if (can_vote) {"),
    ("entries of earlier terms committed by counting", "src/raft/raft.cc",
     "if (index == kInfiniteIndex || index <= commit_ || log_.term(index) != term_) return false;",
     "if (index == kInfiniteIndex || index <= commit_) return false;"),
    ("vote forgotten at restart", "src/raft/raft.cc",
     "  vote_ = state.hard_state.vote;", "  vote_ = kNoNode;"),
    ("ReadIndex answered without a heartbeat round", "src/raft/raft.cc",
     "if (voters_.voters() == std::set<NodeId>{config_.id} || LeaseValid()) {", "if (true) {"),
    ("ReadIndex answered before the leader committed in its term", "src/raft/raft.cc",
     "  if (!CommittedInTerm()) {\n    // Until then", "  if (false) {\n    // Until then"),
    ("lease one tick longer than election_ticks", "src/raft/raft.cc",
     "ticks_ - *lease_start_ < config_.election_ticks - 2;", "ticks_ - *lease_start_ < config_.election_ticks + 1;"),
    ("lease margin of 1 tick instead of 2", "src/raft/raft.cc",
     "ticks_ - *lease_start_ < config_.election_ticks - 2;", "ticks_ - *lease_start_ < config_.election_ticks - 1;"),
    ("conflicting suffix not truncated on append", "src/raft/raft.cc",
     "    if (conflict <= log_.last_index()) log_.TruncateFrom(conflict);\n"
     "    for (size_t i = first_new; i < m.entries.size(); ++i) log_.Append(m.entries[i]);",
     "    for (size_t i = first_new; i < m.entries.size(); ++i)\n"
     "      if (m.entries[i].index > log_.last_index()) log_.Append(m.entries[i]);"),
    ("snapshot installed without its membership", "src/raft/raft.cc",
     "    log_.Reset(s.index, s.term, s.membership);", "    log_.Reset(s.index, s.term, log_.membership());"),
    ("several membership changes in flight", "src/raft/raft.cc",
     "  if (log_.membership_index() > commit_) {\n    return absl::UnavailableError(",
     "  if (false) {\n    return absl::UnavailableError("),
    ("membership change before committing in term", "src/raft/raft.cc",
     "  if (!CommittedInTerm()) {\n    return absl::UnavailableError(absl::StrCat(\"leader \"",
     "  if (false) {\n    return absl::UnavailableError(absl::StrCat(\"leader \""),
    ("truncation keeps the truncated membership", "src/raft/raft_log.cc",
     "  while (configs_.size() > 1 && configs_.back().first >= index) configs_.pop_back();\n", ""),
    ("heartbeat commit beyond the follower's match", "src/raft/raft.cc",
     "    m.commit = std::min(pr.match(), commit_);", "    m.commit = commit_;"),
    ("check-quorum step-down removed", "src/raft/raft.cc",
     "      if (active != VoteResult::kWon) {", "      if (false) {"),
    ("a server with a pending removal never campaigns", "src/raft/raft.cc",
     "  return change > commit_ && change >= log_.first_index() && log_.MembershipAt(change - 1).IsVoter(config_.id);",
     "  return false;"),
    ("transfer votes held to the lease", "src/raft/raft.cc",
     "if (vote_request && !m.leader_transfer && config_.check_quorum && InLease()) {",
     "if (vote_request && config_.check_quorum && InLease()) {"),
    ("a restarted voter votes at once", "src/raft/raft.cc",
     "  return (leader_ != kNoNode || starting_) && election_elapsed_ < config_.election_ticks;",
     "  return leader_ != kNoNode && election_elapsed_ < config_.election_ticks;"),
    ("follower fast-forwards to a snapshot it lacks", "src/raft/raft.cc",
     "  } else if (log_.term(s.index) == s.term) {", "  } else if (s.index <= log_.last_index()) {"),
    ("a joining server snapshots with an unknown membership", "src/raft/raft.cc",
     "  if (membership.voters.empty()) {\n    // A server that joined", "  if (false) {\n    // A server that joined"),
]


def build():
    return subprocess.run(["ninja", "-C", str(BUILD), "-j2", "raft_test"], capture_output=True, text=True)


def run_tests():
    cmd = [str(BUILD / "bin/raft_test")]
    if "FILTER" in os.environ:
        cmd.append("--gtest_filter=" + os.environ["FILTER"])
    env = dict(os.environ, CISTERN_SOURCE_DIR=str(ROOT), CISTERN_RAFT_SIM_SEEDS=os.environ.get("SEEDS", "300"))
    env.pop("CISTERN_RAFT_SIM_SEED", None)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=int(os.environ.get("TIMEOUT", "600")))
        return r.stdout, False
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return out, True


def main():
    wanted = {int(a) for a in sys.argv[1:]}
    for i, (name, path, old, new) in enumerate(MUTANTS):
        if wanted and i not in wanted:
            continue
        file = ROOT / path
        original = file.read_text()
        if original.count(old) != 1:
            print(f"[{i}] {name}: the text to mutate is not in {path} exactly once; update this script")
            continue
        try:
            file.write_text(original.replace(old, new))
            b = build()
            if b.returncode != 0:
                print(f"[{i}] {name}: build failed\n{b.stdout[-1500:]}")
                continue
            out, hung = run_tests()
        finally:
            file.write_text(original)
        failed = sorted(set(re.findall(r"^\[  FAILED  \] (\S+)\.(\S+)", out, re.M)))
        failed = [f"{suite}.{test}" for suite, test in failed]
        if hung:
            started = re.findall(r"^\[ RUN      \] (\S+)", out, re.M)
            print(f"[{i}] {name}: hung in {started[-1] if started else '?'}")
        else:
            print(f"[{i}] {name}: {', '.join(failed) if failed else 'NOT CAUGHT'}")
        seed = re.search(r"failing seed \d+ \(\d nodes\): [^\n]*", out)
        if seed:
            print("      " + seed.group(0)[:200])
        sys.stdout.flush()
    build()


if __name__ == "__main__":
    main()
