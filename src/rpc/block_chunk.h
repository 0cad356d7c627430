// ReadBlock response chunks without protobuf copies. A chunk on the wire is exactly a serialized
// proto::ReadBlockResponse (field 2 `from_cache`, then field 1 `data`), so any gRPC client of
// BlockWorker.ReadBlock can read it; but the worker builds it from a small header slice and a
// slice that points at its own buffer (no serialization copy), and the client copies the data
// straight from gRPC's receive slices into the caller's memory (no parse copy).
//
// Thread safety: EncodeReadBlockChunk and ChunkSlice are thread-safe; a ReadBlockChunk is used by
// one thread at a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"

namespace cistern::rpc {

// A writable buffer of `size` bytes whose memory comes from a process-wide pool and goes back to
// it when gRPC (and everyone else) has dropped the slice. Fill `*data` before handing the slice
// to gRPC; never write it afterwards.
grpc::Slice ChunkSlice(size_t size, char** data);

// The serialized ReadBlockResponse {from_cache, data}, sharing `data` (not copying it).
grpc::ByteBuffer EncodeReadBlockChunk(const grpc::Slice& data, bool from_cache);

// One received ReadBlockResponse, parsed in place.
class ReadBlockChunk {
 public:
  // Takes the message's slices from `buffer`. INTERNAL if the bytes are not a ReadBlockResponse.
  absl::Status Parse(grpc::ByteBuffer* buffer);
  int64_t size() const { return size_; }
  bool from_cache() const { return from_cache_; }
  // Copies data bytes [offset, offset + n) into `dst`. REQUIRES: offset + n <= size().
  void CopyTo(int64_t offset, int64_t n, char* dst) const;
  void Clear();

 private:
  struct Segment {
    const char* data;
    int64_t size;
  };
  std::vector<grpc::Slice> slices_;
  std::vector<Segment> segments_;
  int64_t size_ = 0;
  bool from_cache_ = false;
};

}  // namespace cistern::rpc
