// Test-only HTTP/1.1 proxy that sits between an adapter and its server and injects faults into
// chosen requests: error responses (503 SlowDown, 429, 500...), responses cut off mid-body, and
// requests that are never answered. Each request is forwarded on a fresh upstream connection;
// client connections are kept alive as the adapter's connection pool expects.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace cistern::ufs::testing {

class FaultProxy {
 public:
  explicit FaultProxy(int upstream_port);
  ~FaultProxy();

  absl::Status Start();  // listens on 127.0.0.1, port()
  int port() const { return port_; }

  // The next `n` requests get `status` with an S3-style <Error><Code>code</Code> body.
  void FailNext(int n, int status = 503, std::string code = "SlowDown");
  // The next response whose body is longer than `bytes` is cut (connection closed) after `bytes`.
  void CutNextResponseAfter(int64_t bytes);
  // The next `n` requests are read and never answered (until Stop).
  void StallNext(int n);
  // Requests received so far (faulted ones included).
  int requests() const { return requests_.load(); }
  // Closes the listener and every connection.
  void Stop();

 private:
  void AcceptLoop();
  void Serve(int client_fd);

  const int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::thread acceptor_;
  absl::Mutex mu_;
  int fail_count_ ABSL_GUARDED_BY(mu_) = 0;
  int fail_status_ ABSL_GUARDED_BY(mu_) = 503;
  std::string fail_code_ ABSL_GUARDED_BY(mu_);
  int64_t cut_after_ ABSL_GUARDED_BY(mu_) = -1;
  int stall_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::thread> connections_ ABSL_GUARDED_BY(mu_);
  std::vector<int> open_fds_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cistern::ufs::testing
