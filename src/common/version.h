#pragma once

namespace cistern {
inline constexpr const char* kVersion = "0.1.0";
}  // namespace cistern
