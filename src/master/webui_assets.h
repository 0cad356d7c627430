// The web UI's static files (src/master/webui/), embedded in the binary at build time by
// cmake/EmbedWebUi.cmake, so the master serves its UI with no files beside it and no external
// fetches.
#pragma once

#include <cstddef>
#include <string_view>

namespace cistern::master {

struct WebUiAsset {
  const char* path;  // "/ui/index.html"
  const char* content_type;
  const unsigned char* data;
  size_t size;
};

// nullptr if there is no such file.
const WebUiAsset* FindWebUiAsset(std::string_view path);

}  // namespace cistern::master
