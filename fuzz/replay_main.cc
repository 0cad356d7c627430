// main() for the fuzz targets when they are built without libFuzzer (the default GCC build;
// docs/testing.md, "Fuzzing"): runs LLVMFuzzerTestOneInput on every input of the seed corpus,
// then on random mutations of them (bit flips, byte changes, insertions, deletions, duplicated
// ranges, splices of two inputs, boundary bytes) for a bounded time. No coverage guidance: it
// catches crashes and broken oracles near the seeds, cheaply enough for every CI run; the
// coverage-guided run is scripts/fuzz.sh (clang, libFuzzer, ASan/UBSan).
//
// Arguments, a subset of libFuzzer's: -max_total_time=SECONDS (default 2), -seed=N (default 1),
// -max_len=BYTES (default 4096), -artifact_prefix=PATH; other -flags are ignored; the rest are
// corpus directories or files. A crash (abort, segfault) leaves the input in
// <artifact_prefix>crash-input and fails the test; reproduce with `<target> <that file>`.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// The input being run, for the crash handler.
const std::string* g_current = nullptr;
std::string g_crash_path = "crash-input";

void OnCrash(int sig) {
  if (g_current != nullptr) {
    const int fd = ::open(g_crash_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ssize_t unused = ::write(fd, g_current->data(), g_current->size());
      (void)unused;
      ::close(fd);
    }
    const char msg[] = "fuzz replay: crash; the input is in the crash-input artifact\n";
    ssize_t unused = ::write(2, msg, sizeof(msg) - 1);
    (void)unused;
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void Run(const std::string& input) {
  g_current = &input;
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  g_current = nullptr;
}

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void Mutate(std::string* s, const std::vector<std::string>& corpus, size_t max_len, std::mt19937_64& rng) {
  auto below = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  static constexpr unsigned char kBoundary[] = {0x00, 0x01, 0x7f, 0x80, 0xff, '<', '>', '"', '{', '}', '\\', '\n', '='};
  const int steps = 1 + static_cast<int>(below(4));
  for (int i = 0; i < steps; ++i) {
    switch (below(7)) {
      case 0:  // flip a bit
        if (!s->empty()) (*s)[below(s->size())] ^= static_cast<char>(1u << below(8));
        break;
      case 1:  // a random or boundary byte
        if (!s->empty()) {
          (*s)[below(s->size())] =
              below(2) ? static_cast<char>(rng()) : static_cast<char>(kBoundary[below(sizeof(kBoundary))]);
        }
        break;
      case 2: {  // insert random bytes
        std::string bytes(1 + below(8), '\0');
        for (char& c : bytes) c = static_cast<char>(rng());
        s->insert(below(s->size() + 1), bytes);
        break;
      }
      case 3:  // delete a range
        if (!s->empty()) {
          const size_t at = below(s->size());
          s->erase(at, 1 + below(std::min<size_t>(16, s->size() - at)));
        }
        break;
      case 4:  // duplicate a range
        if (!s->empty()) {
          const size_t at = below(s->size());
          const std::string piece = s->substr(at, 1 + below(std::min<size_t>(32, s->size() - at)));
          s->insert(below(s->size() + 1), piece);
        }
        break;
      case 5: {  // splice with another input
        const std::string& other = corpus[below(corpus.size())];
        *s = s->substr(0, below(s->size() + 1)) + other.substr(below(other.size() + 1));
        break;
      }
      default:  // truncate
        s->resize(below(s->size() + 1));
        break;
    }
  }
  if (s->size() > max_len) s->resize(max_len);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2;
  uint64_t seed = 1;
  size_t max_len = 4096;
  std::vector<std::string> corpus;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("-max_total_time=", 0) == 0) {
      seconds = std::stod(arg.substr(16));
    } else if (arg.rfind("-seed=", 0) == 0) {
      seed = std::stoull(arg.substr(6));
    } else if (arg.rfind("-max_len=", 0) == 0) {
      max_len = std::stoull(arg.substr(9));
    } else if (arg.rfind("-artifact_prefix=", 0) == 0) {
      g_crash_path = arg.substr(17) + "crash-input";
    } else if (!arg.empty() && arg[0] == '-') {
      // a libFuzzer flag this driver has no use for
    } else if (std::filesystem::is_directory(arg)) {
      std::vector<std::filesystem::path> files;
      for (const auto& entry : std::filesystem::directory_iterator(arg)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
      std::sort(files.begin(), files.end());  // a fixed order, so a seed means one run
      for (const auto& f : files) corpus.push_back(ReadAll(f));
    } else if (std::filesystem::is_regular_file(arg)) {
      corpus.push_back(ReadAll(arg));
    } else {
      std::fprintf(stderr, "fuzz replay: %s is neither a file nor a directory\n", arg.c_str());
      return 2;
    }
  }
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) ::signal(sig, OnCrash);
  if (corpus.empty()) corpus.emplace_back();
  for (const std::string& input : corpus) Run(input);

  std::mt19937_64 rng(seed);
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  int64_t runs = 0;
  std::string input;
  while (std::chrono::steady_clock::now() < end) {
    for (int batch = 0; batch < 64; ++batch, ++runs) {
      input = corpus[rng() % corpus.size()];
      Mutate(&input, corpus, max_len, rng);
      Run(input);
    }
  }
  std::printf("fuzz replay: %zu seed inputs, %lld mutated inputs in %.1f s, no crash\n", corpus.size(),
              static_cast<long long>(runs),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return 0;
}
