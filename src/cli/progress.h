// Progress of long `cistern fs` commands (load, persist): a one-line bar with bytes, files, rate
// and time left, redrawn in place on a terminal and not shown at all when stderr is not one (a
// script or a pipe sees only the command's final output on stdout).
#pragma once

#include <cstdint>
#include <string>

namespace cistern::cli {

struct ProgressState {
  int64_t bytes_done = 0;
  int64_t bytes_total = 0;
  int64_t files_done = 0;
  int64_t files_total = 0;
  int64_t elapsed_ms = 0;
};

// "[=========>          ]  45% 1.2GiB/2.6GiB  12/40 files  310MiB/s  ETA 5s" in `width`
// columns at most (the bar shrinks first). Pure, for tests.
std::string FormatProgress(const ProgressState& state, int width);

// Draws the line on stderr, at most every 100 ms, when stderr is a terminal.
class ProgressBar {
 public:
  // `enabled` false draws nothing (e.g. --json); a non-terminal stderr draws nothing either.
  explicit ProgressBar(bool enabled);
  ~ProgressBar();
  // `state.elapsed_ms` is filled in here.
  void Update(ProgressState state);
  // Draws the last state and ends the line.
  void Finish();
  int64_t elapsed_ms() const;

 private:
  const bool enabled_;
  const int64_t start_ms_;
  int64_t last_draw_ms_ = -1;
  ProgressState last_;
  bool drawn_ = false;
};

}  // namespace cistern::cli
