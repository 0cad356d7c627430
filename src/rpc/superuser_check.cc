#include "rpc/superuser_check.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cistern/proto/master.grpc.pb.h"
#include "rpc/channel.h"
#include "rpc/grpc_status.h"
#include "rpc/transport_security.h"

namespace cistern::rpc {

absl::StatusOr<SuperuserCheck> SuperuserCheck::Create(std::vector<std::string> masters, std::string claimed_user,
                                                      const security::TlsMaterial& tls, int64_t timeout_ms) {
  if (masters.empty()) return absl::InvalidArgumentError("SuperuserCheck: no master addresses");
  absl::StatusOr<std::shared_ptr<const ChannelSecurity>> channel =
      ChannelSecurity::Create(ClientIdentity{std::move(claimed_user), {}, ""}, tls);
  if (!channel.ok()) return channel.status();
  SuperuserCheck check;
  check.masters_ = std::move(masters);
  check.channel_ = *std::move(channel);
  check.timeout_ms_ = timeout_ms;
  return check;
}

absl::Status SuperuserCheck::Check(std::string_view token) const {
  // A valid token is one field of a tokens file: printable, no spaces. Anything else cannot be
  // valid, and would not be valid gRPC metadata either.
  for (const char c : token) {
    if (c <= 0x20 || c >= 0x7f) return absl::UnauthenticatedError("an invalid token");
  }
  std::vector<std::string> unanswered;
  for (const std::string& master : masters_) {
    grpc::ClientContext context;
    SetDeadline(&context, timeout_ms_);
    context.AddMetadata(kAuthorizationHeader, absl::StrCat("Bearer ", std::string(token)));
    proto::GetMasterInfoResponse response;
    const grpc::Status status =
        proto::MetaMaster::NewStub(GetChannel(master, channel_))->GetMasterInfo(&context, {}, &response);
    switch (status.error_code()) {
      case grpc::StatusCode::OK:
        return absl::OkStatus();
      case grpc::StatusCode::UNAUTHENTICATED:
      case grpc::StatusCode::PERMISSION_DENIED:
        return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                            absl::StrCat(status.error_message(), " (checked by master ", master, ")"));
      default:  // unreachable, restarting, or not the leader: ask the next one
        unanswered.push_back(absl::StrCat(master, ": ", status.error_message()));
    }
  }
  return absl::UnavailableError(absl::StrCat("cannot check the token: no master answered (",
                                             absl::StrJoin(unanswered, "; "), ")"));
}

}  // namespace cistern::rpc
