// Process plumbing for daemons: clean shutdown on SIGTERM/SIGINT, malloc settings for block data.
#pragma once

namespace cistern {

// Sets glibc malloc to keep freed memory (trim threshold 32 MiB, allocations below 4 MiB from
// the heap) instead of handing it back to the kernel after every burst: gRPC receives block
// data into fresh ~128 KiB buffers, and with the default thresholds the heap is trimmed after
// each few MiB, so every received page is faulted in and zeroed again (a warm read took 1.4x
// the CPU; BENCHMARKS.md, "Warm and short-circuit reads"). Call early in main of a process
// that moves block data. Returns false, changing nothing, when the environment already sets
// malloc's thresholds (MALLOC_TRIM_THRESHOLD_, MALLOC_MMAP_THRESHOLD_ or GLIBC_TUNABLES).
bool TuneMallocForBlockData();

// Blocks SIGTERM and SIGINT in the calling thread (call first in main, before starting
// threads, so every thread inherits the mask).
void BlockShutdownSignals();
// Waits until SIGTERM or SIGINT arrives; returns the signal number.
// REQUIRES: BlockShutdownSignals() was called before any thread was started.
int WaitForShutdownSignal();

}  // namespace cistern
