// The hand-written ReadBlockResponse parser (rpc/block_chunk.h), which reads worker replies in
// place from gRPC slices. Oracles: protobuf's own parser (when both accept a message they agree
// on data and from_cache), and Encode -> Parse round trips. The first byte splits the rest into
// two slices, as gRPC hands messages over in pieces.
#include <string>

#include "cistern/proto/worker.pb.h"
#include "fuzz/fuzz_util.h"
#include "rpc/block_chunk.h"

namespace {

std::string Copy(const cistern::rpc::ReadBlockChunk& chunk) {
  std::string out(static_cast<size_t>(chunk.size()), '\0');
  chunk.CopyTo(0, chunk.size(), out.data());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cistern;
  fuzz::InputReader in(data, size);
  const size_t split = in.Byte();
  const std::string_view bytes = in.Rest();
  const size_t cut = std::min(split, bytes.size());
  grpc::Slice slices[2] = {grpc::Slice(bytes.data(), cut), grpc::Slice(bytes.data() + cut, bytes.size() - cut)};
  grpc::ByteBuffer buffer(slices, 2);

  rpc::ReadBlockChunk chunk;
  absl::Status parsed = chunk.Parse(&buffer);
  proto::ReadBlockResponse reference;
  const bool reference_ok = reference.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  if (parsed.ok() && reference_ok) {
    FUZZ_CHECK(Copy(chunk) == reference.data());
    FUZZ_CHECK(chunk.from_cache() == reference.from_cache());
  }
  if (parsed.ok() && chunk.size() > 1) {
    // A partial copy from the middle matches the whole.
    const int64_t offset = chunk.size() / 3;
    const int64_t n = chunk.size() - offset - 1;
    std::string part(static_cast<size_t>(n), '\0');
    chunk.CopyTo(offset, n, part.data());
    FUZZ_CHECK(part == Copy(chunk).substr(static_cast<size_t>(offset), static_cast<size_t>(n)));
  }

  // Round trip of what a worker would send.
  grpc::ByteBuffer encoded = rpc::EncodeReadBlockChunk(grpc::Slice(bytes.data(), bytes.size()), (split & 1) != 0);
  rpc::ReadBlockChunk decoded;
  FUZZ_CHECK(decoded.Parse(&encoded).ok());
  FUZZ_CHECK(Copy(decoded) == bytes);
  FUZZ_CHECK(decoded.from_cache() == ((split & 1) != 0));
  return 0;
}
