#include "rpc/server_metrics.h"

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "grpcpp/support/server_interceptor.h"

namespace cistern::rpc {
namespace {

constexpr int kCodes = 17;  // grpc::StatusCode 0 (OK) .. 16 (UNAUTHENTICATED)

// The series of one method, resolved once so a call touches only atomics. A code's series is
// created when the method first ends with that code (no 17 zero series per method).
struct MethodMetrics {
  std::string service;
  std::string method;
  CounterFamily* handled_family = nullptr;
  Counter* started = nullptr;
  mutable std::array<std::atomic<Counter*>, kCodes> handled{};
  Histogram* latency = nullptr;

  Counter* Handled(int code) const {
    Counter* counter = handled[code].load(std::memory_order_acquire);
    if (counter == nullptr) {
      counter = handled_family->WithLabels({service, method, absl::StatusCodeToString(static_cast<absl::StatusCode>(code))});
      handled[code].store(counter, std::memory_order_release);  // WithLabels is idempotent: racing stores agree
    }
    return counter;
  }
};

class MethodTable {
 public:
  MethodTable()
      : started_(Metrics().GetCounterFamily("cistern_rpc_server_started_total", "RPCs started by the server",
                                            {"grpc_service", "grpc_method"})),
        handled_(Metrics().GetCounterFamily("cistern_rpc_server_handled_total",
                                            "RPCs completed by the server, by status code",
                                            {"grpc_service", "grpc_method", "grpc_code"})),
        latency_(Metrics().GetHistogramFamily("cistern_rpc_server_handling_seconds",
                                              "Time from the start of an RPC to its status (whole stream for streams)",
                                              {"grpc_service", "grpc_method"})) {}

  // `full_method` is "/package.Service/Method".
  const MethodMetrics* Get(const char* full_method) {
    const std::string key = full_method != nullptr ? full_method : "";
    {
      absl::ReaderMutexLock lock(&mu_);
      if (auto it = methods_.find(key); it != methods_.end()) return &it->second;
    }
    std::string service = "unknown";
    std::string method = key;
    if (const size_t slash = key.rfind('/'); slash != std::string::npos && slash > 0) {
      service = key.substr(1, slash - 1);
      method = key.substr(slash + 1);
    }
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = methods_.try_emplace(key);
    MethodMetrics& metrics = it->second;
    if (inserted) {
      metrics.service = service;
      metrics.method = method;
      metrics.handled_family = handled_;
      metrics.started = started_->WithLabels({service, method});
      metrics.latency = latency_->WithLabels({service, method});
    }
    return &metrics;
  }

 private:
  CounterFamily* const started_;
  CounterFamily* const handled_;
  HistogramFamily* const latency_;
  absl::Mutex mu_;
  std::map<std::string, MethodMetrics> methods_ ABSL_GUARDED_BY(mu_);  // nodes never move
};

MethodTable& Table() {
  static auto* table = new MethodTable();
  return *table;
}

class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit MetricsInterceptor(const MethodMetrics* metrics)
      : metrics_(metrics), start_(std::chrono::steady_clock::now()) {
    metrics_->started->Increment();
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const int code = static_cast<int>(methods->GetSendStatus().error_code());
      metrics_->Handled(code >= 0 && code < kCodes ? code : 2)->Increment();  // 2 = UNKNOWN
      metrics_->latency->Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
    methods->Proceed();
  }

 private:
  const MethodMetrics* const metrics_;
  const std::chrono::steady_clock::time_point start_;
};

class MetricsInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(Table().Get(info->method()));
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewServerMetricsInterceptorFactory() {
  return std::make_unique<MetricsInterceptorFactory>();
}

}  // namespace cistern::rpc
