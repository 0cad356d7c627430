// Helpers of the security integration tests (security_test.cc, tls_test.cc).
#pragma once

#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "rpc/transport_security.h"
#include "security/identity.h"
#include "security/security_config.h"

namespace cistern::testing {

// Writes `text` to `path`, readable by its owner only (secrets, token files, keys).
inline void WritePrivateFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), 0600);
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// A client identity (and TLS) for calls of this process.
inline std::shared_ptr<const rpc::ChannelSecurity> Identity(const std::string& user, const std::string& token,
                                                     const security::TlsMaterial& tls = {}) {
  auto security = rpc::ChannelSecurity::Create(rpc::ClientIdentity{user, {}, token}, tls);
  EXPECT_TRUE(security.ok()) << security.status();
  return *security;
}

}  // namespace cistern::testing
