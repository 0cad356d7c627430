// Test-only: real child processes (daemons, the CLI) with their output captured to files. A
// Subprocess is killed (SIGKILL) when destroyed if still running, and every child also gets
// PR_SET_PDEATHSIG, so a crashing or failing test never leaves daemons behind.
//
// Thread safety: one thread at a time per Subprocess.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cistern::testing {

class Subprocess {
 public:
  // `argv[0]` is the program path. stdout and stderr go to `output_file` (appended).
  Subprocess(std::vector<std::string> argv, std::string output_file,
             std::map<std::string, std::string> extra_env = {});
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  absl::Status Start();
  bool running();
  pid_t pid() const { return pid_; }
  // Sends `sig`; no-op if not running.
  void Signal(int sig);
  // Waits up to timeout_ms for exit; returns the exit code (128+signal if killed by a signal)
  // or DEADLINE_EXCEEDED.
  absl::StatusOr<int> Wait(int64_t timeout_ms);
  // SIGKILL and reap.
  void Kill();
  const std::string& output_file() const { return output_file_; }
  // The last `max_bytes` of the output file, for failure messages.
  std::string OutputTail(size_t max_bytes = 4000) const;

 private:
  const std::vector<std::string> argv_;
  const std::string output_file_;
  const std::map<std::string, std::string> extra_env_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr interleaved
};

// Runs a command to completion (killed after timeout_ms) and returns its exit code and output.
CommandResult RunCommand(const std::vector<std::string>& argv, int64_t timeout_ms,
                         const std::map<std::string, std::string>& extra_env = {});

// A TCP port on 127.0.0.1 that was free a moment ago.
int PickUnusedPort();

// Polls `condition` every 50 ms until it returns true or timeout_ms passes.
bool WaitFor(const std::function<bool()>& condition, int64_t timeout_ms);

}  // namespace cistern::testing
