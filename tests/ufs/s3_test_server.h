// Test-only: a local S3 server on a free port. moto_server (pip package moto, in the machine's
// Python) is the most faithful S3 model here; @20minutes/s3rver (npm, installed by
// scripts/install-test-servers.sh) verifies AWS Signature V4, which moto does not.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "testing/subprocess.h"

namespace cistern::ufs::testing {

class S3TestServer {
 public:
  enum class Kind { kMoto, kS3rver };

  // Why the server cannot run on this machine ("" if it can).
  static std::string SkipReason(Kind kind);

  explicit S3TestServer(Kind kind) : kind_(kind) {}
  ~S3TestServer() { Stop(); }

  // Starts the server and creates `buckets`.
  absl::Status Start(const std::vector<std::string>& buckets);
  void Stop();  // SIGKILL; idempotent
  bool running() { return proc_ != nullptr && proc_->running(); }

  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& access_key() const { return access_key_; }
  const std::string& secret_key() const { return secret_key_; }
  // Mount options that reach this server with valid credentials (endpoint may be overridden).
  std::map<std::string, std::string> MountOptions() const;
  std::string OutputTail() const { return proc_ ? proc_->OutputTail() : ""; }

 private:
  const Kind kind_;
  int port_ = 0;
  std::string data_dir_;
  std::string access_key_ = "testing";
  std::string secret_key_ = "testing";
  std::unique_ptr<cistern::testing::Subprocess> proc_;
};

}  // namespace cistern::ufs::testing
