// Helpers shared by the libFuzzer targets in fuzz/ (docs/testing.md, "Fuzzing"). A target either
// returns normally or stops the process: FUZZ_CHECK aborts with the failed condition, which
// libFuzzer reports as a crash with the input that caused it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#define FUZZ_CHECK(condition)                                                              \
  do {                                                                                     \
    if (!(condition)) {                                                                    \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

namespace cistern::fuzz {

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

// Takes bytes from the front of a fuzz input: a little structure on top of raw bytes.
class InputReader {
 public:
  InputReader(const uint8_t* data, size_t size) : rest_(AsText(data, size)) {}

  bool empty() const { return rest_.empty(); }
  uint8_t Byte() {
    if (rest_.empty()) return 0;
    const auto b = static_cast<uint8_t>(rest_[0]);
    rest_.remove_prefix(1);
    return b;
  }
  uint64_t Uint64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | Byte();
    return v;
  }
  // A piece of up to `max` bytes whose length is the next byte (or two).
  std::string_view Piece(size_t max = 255) {
    size_t n = Byte();
    if (max > 255) n = (n << 8) | Byte();
    if (n > max) n = max;
    if (n > rest_.size()) n = rest_.size();
    std::string_view piece = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return piece;
  }
  std::string_view Rest() {
    std::string_view all = rest_;
    rest_ = {};
    return all;
  }

 private:
  std::string_view rest_;
};

}  // namespace cistern::fuzz
