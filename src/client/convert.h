// The one place where protocol messages become public client types and back, so the public API
// never shows protobuf and every enum is mapped the same way everywhere.
#pragma once

#include "cistern/file_system.h"
#include "cistern/proto/common.pb.h"
#include "cistern/proto/master.pb.h"

namespace cistern::client {

proto::WriteType ToProto(WriteType type);
proto::ReadType ToProto(ReadType type);
proto::TtlAction ToProto(TtlAction action);
TtlAction FromProto(proto::TtlAction action);
// Unset for WRITE_TYPE_UNSPECIFIED.
std::optional<WriteType> FromProto(proto::WriteType type);
PersistenceState FromProto(proto::PersistenceState state);
WorkerState FromProto(proto::WorkerState state);

std::string FormatAddress(const proto::NetAddress& address);

FileStatus ToFileStatus(const proto::FileInfo& info);
WorkerSummary ToWorkerSummary(const proto::WorkerInfo& info);
MountPoint ToMountPoint(const proto::MountInfo& info);
MasterInfo ToMasterInfo(const proto::GetMasterInfoResponse& response);

}  // namespace cistern::client
