// Process plumbing for daemons: clean shutdown on SIGTERM/SIGINT.
#pragma once

namespace cistern {

// Blocks SIGTERM and SIGINT in the calling thread (call first in main, before starting
// threads, so every thread inherits the mask).
void BlockShutdownSignals();
// Waits until SIGTERM or SIGINT arrives; returns the signal number.
// REQUIRES: BlockShutdownSignals() was called before any thread was started.
int WaitForShutdownSignal();

}  // namespace cistern
