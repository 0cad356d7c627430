#include "cli/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/clock.h"
#include "common/units.h"

namespace cistern::cli {

std::string FormatProgress(const ProgressState& s, int width) {
  const double fraction =
      s.bytes_total > 0 ? std::clamp(static_cast<double>(s.bytes_done) / static_cast<double>(s.bytes_total), 0.0, 1.0)
                        : (s.files_total > 0 ? static_cast<double>(s.files_done) / static_cast<double>(s.files_total) : 1.0);
  std::string tail = absl::StrFormat(" %3d%% %s/%s  %d/%d files", static_cast<int>(fraction * 100),
                                     FormatBytes(s.bytes_done), FormatBytes(s.bytes_total), s.files_done, s.files_total);
  if (s.elapsed_ms > 0) {
    const double rate = static_cast<double>(s.bytes_done) * 1000.0 / static_cast<double>(s.elapsed_ms);
    absl::StrAppend(&tail, "  ", FormatBytes(static_cast<int64_t>(rate)), "/s");
    if (rate > 0 && s.bytes_done < s.bytes_total) {
      const int64_t left_ms = static_cast<int64_t>(static_cast<double>(s.bytes_total - s.bytes_done) * 1000.0 / rate);
      // Whole seconds: a ticking tenth is noise in a progress line.
      absl::StrAppend(&tail, "  ETA ", FormatDurationMs(std::max<int64_t>(left_ms / 1000, 1) * 1000));
    }
  }
  const int bar = std::min(30, width - static_cast<int>(tail.size()) - 2);
  if (bar < 5) return tail.substr(1);
  const int filled = static_cast<int>(fraction * bar);
  std::string line = "[";
  line.append(static_cast<size_t>(filled), '=');
  if (filled < bar) {
    line.push_back('>');
    line.append(static_cast<size_t>(bar - filled - 1), ' ');
  }
  line.push_back(']');
  return line + tail;
}

ProgressBar::ProgressBar(bool enabled)
    : enabled_(enabled && ::isatty(STDERR_FILENO) == 1), start_ms_(RealClock()->MonotonicMs()) {}

ProgressBar::~ProgressBar() {
  if (drawn_) Finish();
}

int64_t ProgressBar::elapsed_ms() const { return RealClock()->MonotonicMs() - start_ms_; }

void ProgressBar::Update(ProgressState state) {
  const int64_t now = RealClock()->MonotonicMs();
  state.elapsed_ms = now - start_ms_;
  last_ = state;
  if (!enabled_ || (last_draw_ms_ >= 0 && now - last_draw_ms_ < 100)) return;
  last_draw_ms_ = now;
  int width = 80;
  struct winsize ws;
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) width = ws.ws_col;
  const std::string line = FormatProgress(state, width - 1);
  // \r and clear-to-end-of-line: redraw in place.
  std::fprintf(stderr, "\r%s\x1b[K", line.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::Finish() {
  if (!enabled_) return;
  last_draw_ms_ = -1;
  Update(last_);
  std::fprintf(stderr, "\n");
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace cistern::cli
