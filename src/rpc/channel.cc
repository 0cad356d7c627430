#include "rpc/channel.h"

#include <map>

#include "absl/synchronization/mutex.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "grpcpp/support/server_interceptor.h"
#include "grpcpp/support/client_interceptor.h"
#include "rpc/server_metrics.h"
#include "rpc/transport_security.h"

namespace cistern::rpc {
namespace {

// Set by SetTransportArgOverridesForBench.
ABSL_CONST_INIT absl::Mutex overrides_mu(absl::kConstInit);
std::vector<std::pair<std::string, int>>* TransportArgOverrides() ABSL_EXCLUSIVE_LOCKS_REQUIRED(overrides_mu) {
  static auto* overrides = new std::vector<std::pair<std::string, int>>();
  return overrides;
}

// Transport settings of every Cistern channel and server, for block data at memory speed on
// loopback and fast networks (measured with cistern-cache-read-bench, see BENCHMARKS.md):
//  * a 16 MiB HTTP/2 stream window without BDP probing, so a sender is not held back by a
//    window still growing from 64 KiB (this alone roughly doubled warm reads);
//  * receive buffers of at most 128 KiB: larger ones are fresh mmaps from malloc whose pages the
//    kernel zero-fills on every read (15% of a warm read's time in page faults); the heap's own
//    trimming had the same effect on these, see TuneMallocForBlockData (common/process.h).
// Tried and not kept, as they won nothing in alternating runs (2026-12-02, BENCHMARKS.md):
// the HTTP/2 max frame size (1-4 MiB instead of 16 KiB: 4x fewer receive slices, no faster, and
// slower once mapped sends and malloc tuning were in), receive buffers of 32 KiB to 1 MiB, a 2 or
// 4 MiB stream window.
template <typename SetInt>
void ApplyTransportArgs(SetInt set_int) {
  std::map<std::string, int> args = {
      {GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 << 20},
      {GRPC_ARG_HTTP2_BDP_PROBE, 0},
      {GRPC_ARG_TCP_MAX_READ_CHUNK_SIZE, 128 << 10},
  };
  {
    absl::MutexLock lock(&overrides_mu);
    for (const auto& [key, value] : *TransportArgOverrides()) args[key] = value;
  }
  // Each key once: parts of gRPC take the first occurrence of a key, others the last.
  for (const auto& [key, value] : args) set_int(key.c_str(), value);
}

// Adds the identity of the channel's ChannelSecurity to every call's metadata.
class IdentityInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit IdentityInterceptor(const ChannelSecurity* security) : security_(security) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      std::multimap<std::string, std::string>* metadata = methods->GetSendInitialMetadata();
      for (const auto& [key, value] : security_->metadata()) metadata->emplace(key, value);
    }
    methods->Proceed();
  }

 private:
  const ChannelSecurity* const security_;
};

class IdentityInterceptorFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit IdentityInterceptorFactory(std::shared_ptr<const ChannelSecurity> security)
      : security_(std::move(security)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(grpc::experimental::ClientRpcInfo*) override {
    return new IdentityInterceptor(security_.get());
  }

 private:
  const std::shared_ptr<const ChannelSecurity> security_;
};

}  // namespace

void SetTransportArgOverridesForBench(std::vector<std::pair<std::string, int>> args) {
  absl::MutexLock lock(&overrides_mu);
  *TransportArgOverrides() = std::move(args);
}

std::shared_ptr<grpc::Channel> GetChannel(const std::string& address,
                                          const std::shared_ptr<const ChannelSecurity>& requested) {
  const std::shared_ptr<const ChannelSecurity> security = requested != nullptr ? requested : DefaultChannelSecurity();
  static absl::Mutex mu;
  // Keyed by the security object too, whose lifetime the map extends (the key's pointer stays
  // valid).
  static auto* channels =
      new std::map<std::pair<std::string, const ChannelSecurity*>,
                   std::pair<std::shared_ptr<const ChannelSecurity>, std::shared_ptr<grpc::Channel>>>();
  absl::MutexLock lock(&mu);
  auto it = channels->find({address, security.get()});
  if (it != channels->end()) return it->second.second;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  // Reconnect quickly after a peer restarts instead of backing off for up to two minutes.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  // gRPC also takes this as the shortest time one connection attempt (connect + handshake) may
  // take. For TLS channels it keeps gRPC's default (20 s): with 100 ms (and even 5 s) a channel
  // that first tried while its server was down never connected on this loaded machine, every
  // attempt cut off mid-handshake ("tcp handshaker shutdown", "Handshake read failed"), while a
  // fresh channel connected. A refused port still fails at once either way.
  if (!security->tls()) args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  ApplyTransportArgs([&](const char* key, int value) { args.SetInt(key, value); });
  if (!security->server_name_override().empty()) {
    args.SetString(GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, security->server_name_override());
  }
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
  if (!security->metadata().empty()) interceptors.push_back(std::make_unique<IdentityInterceptorFactory>(security));
  auto channel = grpc::experimental::CreateCustomChannelWithInterceptors(address, security->credentials(), args,
                                                                          std::move(interceptors));
  channels->emplace(std::make_pair(address, security.get()), std::make_pair(security, channel));
  return channel;
}

void SetDeadline(grpc::ClientContext* context, int64_t timeout_ms) {
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
}

void ConfigureServerBuilder(
    grpc::ServerBuilder* builder,
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> extra) {
  builder->SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder->SetMaxSendMessageSize(kMaxMessageBytes);
  // SO_REUSEPORT would let a second daemon bind the same port silently; refuse instead.
  builder->AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  ApplyTransportArgs([&](const char* key, int value) { builder->AddChannelArgument(key, value); });
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(NewServerMetricsInterceptorFactory());
  for (auto& interceptor : extra) interceptors.push_back(std::move(interceptor));
  builder->experimental().SetInterceptorCreators(std::move(interceptors));
}

}  // namespace cistern::rpc
