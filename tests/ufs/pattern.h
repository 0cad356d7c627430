// Deterministic pseudo-random test data.
#pragma once

#include <cstdint>
#include <string>

namespace cistern::ufs::conformance {

inline std::string Pattern(int64_t size, uint32_t seed) {
  std::string out(static_cast<size_t>(size), '\0');
  uint64_t x = seed * 2654435761u + 1;
  for (auto& c : out) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  return out;
}

}  // namespace cistern::ufs::conformance
