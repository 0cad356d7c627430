#include "rpc/block_chunk.h"

#include <string>
#include <vector>

#include "cistern/proto/worker.pb.h"
#include "gtest/gtest.h"

namespace cistern::rpc {
namespace {

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 131 + i / 7);
  return s;
}

std::string DataOf(const ReadBlockChunk& chunk) {
  std::string out(static_cast<size_t>(chunk.size()), '\0');
  chunk.CopyTo(0, chunk.size(), out.data());
  return out;
}

// Splits `bytes` into slices of `piece` bytes, as a received message may arrive.
grpc::ByteBuffer Split(const std::string& bytes, size_t piece) {
  std::vector<grpc::Slice> slices;
  for (size_t at = 0; at < bytes.size(); at += piece) slices.emplace_back(bytes.substr(at, piece));
  return grpc::ByteBuffer(slices.data(), slices.size());
}

TEST(BlockChunkTest, EncodedChunkIsAReadBlockResponse) {
  const std::string data = Pattern(300'000);
  char* buffer = nullptr;
  grpc::Slice slice = ChunkSlice(data.size(), &buffer);
  std::copy(data.begin(), data.end(), buffer);
  for (bool from_cache : {false, true}) {
    grpc::ByteBuffer encoded = EncodeReadBlockChunk(slice, from_cache);
    std::vector<grpc::Slice> slices;
    ASSERT_TRUE(encoded.Dump(&slices).ok());
    std::string wire;
    for (const grpc::Slice& s : slices) wire.append(reinterpret_cast<const char*>(s.begin()), s.size());
    proto::ReadBlockResponse parsed;
    ASSERT_TRUE(parsed.ParseFromString(wire));
    EXPECT_EQ(parsed.from_cache(), from_cache);
    EXPECT_TRUE(parsed.data() == data);
  }
}

TEST(BlockChunkTest, ParsesProtobufSerializationInAnySlicing) {
  proto::ReadBlockResponse response;
  response.set_data(Pattern(70'000));
  response.set_from_cache(true);  // protobuf writes field 1 first, then field 2
  const std::string wire = response.SerializeAsString();
  for (size_t piece : {size_t{1}, size_t{3}, size_t{4096}, wire.size()}) {
    grpc::ByteBuffer buffer = Split(wire, piece);
    ReadBlockChunk chunk;
    ASSERT_TRUE(chunk.Parse(&buffer).ok()) << piece;
    EXPECT_TRUE(chunk.from_cache());
    EXPECT_EQ(chunk.size(), 70'000);
    EXPECT_TRUE(DataOf(chunk) == response.data()) << piece;
    std::string middle(1000, '\0');
    chunk.CopyTo(12'345, 1000, middle.data());
    EXPECT_TRUE(middle == response.data().substr(12'345, 1000));
  }
}

TEST(BlockChunkTest, EmptyMessageAndUnknownFields) {
  grpc::ByteBuffer empty = Split("", 1);
  ReadBlockChunk chunk;
  ASSERT_TRUE(chunk.Parse(&empty).ok());
  EXPECT_EQ(chunk.size(), 0);
  EXPECT_FALSE(chunk.from_cache());
  // Field 7 (varint), field 8 (fixed64), field 9 (fixed32), field 10 (bytes), then data "ab".
  const std::string wire = std::string("\x38\x05\x41", 3) + std::string(8, 'x') + std::string("\x4d", 1) +
                           std::string(4, 'y') + std::string("\x52\x02zz\x0a\x02" "ab", 8);
  grpc::ByteBuffer buffer = Split(wire, 2);
  ASSERT_TRUE(chunk.Parse(&buffer).ok());
  EXPECT_EQ(DataOf(chunk), "ab");
}

TEST(BlockChunkTest, MalformedMessagesAreErrorsNotCrashes) {
  for (const std::string& wire : {std::string("\x0a\x05" "abc", 5), std::string("\x0a", 1), std::string("\x10", 1),
                                  std::string("\x0b", 1), std::string(11, '\xff')}) {
    grpc::ByteBuffer buffer = Split(wire, 1);
    ReadBlockChunk chunk;
    absl::Status status = chunk.Parse(&buffer);
    EXPECT_TRUE(absl::IsInternal(status)) << status;
    EXPECT_EQ(chunk.size(), 0);
  }
}

}  // namespace
}  // namespace cistern::rpc
