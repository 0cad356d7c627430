// Broken invariants of the Raft core stop the process (a bug, or state that would make this
// server unsafe to run); operating errors and bad input are returned as absl::Status instead.
#pragma once

#include <cstdio>
#include <cstdlib>

#define RAFT_CHECK(cond, ...)                                                        \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "%s:%d: raft invariant failed: %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                             \
      std::fprintf(stderr, "\n");                                                    \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)
