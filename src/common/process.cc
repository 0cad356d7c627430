#include "common/process.h"

#include <malloc.h>
#include <pthread.h>

#include <csignal>
#include <cstdlib>
#include <cstring>

namespace cistern {
namespace {
sigset_t ShutdownSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}
}  // namespace

void BlockShutdownSignals() {
  sigset_t set = ShutdownSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

int WaitForShutdownSignal() {
  sigset_t set = ShutdownSet();
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

bool TuneMallocForBlockData() {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr || std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr ||
      (tunables != nullptr &&
       (std::strstr(tunables, "malloc.trim_threshold") != nullptr || std::strstr(tunables, "malloc.mmap_threshold") != nullptr))) {
    return false;
  }
  return ::mallopt(M_MMAP_THRESHOLD, 4 << 20) == 1 && ::mallopt(M_TRIM_THRESHOLD, 32 << 20) == 1;
}

}  // namespace cistern
