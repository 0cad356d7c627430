#include "client/block_splitter.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace cistern::client {
namespace {

// Records what the splitter emits and checks the ordering rules as it goes.
struct Recorder {
  std::map<int64_t, std::string> blocks;
  std::vector<std::pair<int64_t, int64_t>> ended;  // (index, length)
  std::vector<size_t> chunk_sizes;
  int64_t current = 0;
  BlockSplitter::Sink sink() {
    return {[this](int64_t index, std::string_view chunk) {
              EXPECT_EQ(index, current) << "chunk for a block other than the open one";
              chunk_sizes.push_back(chunk.size());
              blocks[index].append(chunk);
              return absl::OkStatus();
            },
            [this](int64_t index, int64_t length) {
              EXPECT_EQ(index, current);
              EXPECT_EQ(static_cast<int64_t>(blocks[index].size()), length);
              ended.emplace_back(index, length);
              ++current;
              return absl::OkStatus();
            }};
  }
};

std::string Bytes(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

TEST(BlockSplitterTest, SplitsIntoBlocksAndChunks) {
  BlockSplitter splitter(/*block_size=*/10, /*chunk_size=*/4);
  Recorder r;
  const std::string data = Bytes(25);
  // Odd write sizes cross chunk and block boundaries.
  for (size_t at = 0; at < data.size();) {
    size_t n = std::min<size_t>(3 + at % 5, data.size() - at);
    ASSERT_TRUE(splitter.Append(std::string_view(data).substr(at, n), r.sink()).ok());
    at += n;
  }
  ASSERT_TRUE(splitter.Finish(r.sink()).ok());
  EXPECT_EQ(splitter.length(), 25);
  EXPECT_EQ(splitter.block_count(), 3);
  ASSERT_EQ(r.ended.size(), 3u);
  EXPECT_EQ(r.ended[0], std::make_pair(int64_t{0}, int64_t{10}));
  EXPECT_EQ(r.ended[1], std::make_pair(int64_t{1}, int64_t{10}));
  EXPECT_EQ(r.ended[2], std::make_pair(int64_t{2}, int64_t{5}));
  EXPECT_EQ(r.blocks[0] + r.blocks[1] + r.blocks[2], data);
  for (size_t size : r.chunk_sizes) EXPECT_LE(size, 4u);
}

TEST(BlockSplitterTest, LargeWriteIsEmittedInFullChunks) {
  BlockSplitter splitter(/*block_size=*/8, /*chunk_size=*/4);
  Recorder r;
  const std::string data = Bytes(16);
  ASSERT_TRUE(splitter.Append(data, r.sink()).ok());
  // Exactly two full blocks: both end during Append, Finish adds nothing.
  EXPECT_EQ(r.ended.size(), 2u);
  ASSERT_TRUE(splitter.Finish(r.sink()).ok());
  EXPECT_EQ(r.ended.size(), 2u);
  EXPECT_EQ(r.chunk_sizes, (std::vector<size_t>{4, 4, 4, 4}));
  EXPECT_EQ(r.blocks[0] + r.blocks[1], data);
}

TEST(BlockSplitterTest, EmptyFileHasNoBlocks) {
  BlockSplitter splitter(8, 4);
  Recorder r;
  ASSERT_TRUE(splitter.Append("", r.sink()).ok());
  ASSERT_TRUE(splitter.Finish(r.sink()).ok());
  EXPECT_TRUE(r.ended.empty());
  EXPECT_TRUE(r.chunk_sizes.empty());
  EXPECT_EQ(splitter.block_count(), 0);
}

TEST(BlockSplitterTest, ChunkLargerThanBlockIsCappedAtBlock) {
  BlockSplitter splitter(/*block_size=*/3, /*chunk_size=*/100);
  Recorder r;
  ASSERT_TRUE(splitter.Append(Bytes(7), r.sink()).ok());
  ASSERT_TRUE(splitter.Finish(r.sink()).ok());
  EXPECT_EQ(r.chunk_sizes, (std::vector<size_t>{3, 3, 1}));
  EXPECT_EQ(r.ended.size(), 3u);
}

TEST(BlockSplitterTest, SinkErrorStopsAppend) {
  BlockSplitter splitter(8, 2);
  int chunks = 0;
  BlockSplitter::Sink sink{[&](int64_t, std::string_view) {
                             return ++chunks == 2 ? absl::UnavailableError("worker gone") : absl::OkStatus();
                           },
                           [](int64_t, int64_t) { return absl::OkStatus(); }};
  absl::Status status = splitter.Append(Bytes(8), sink);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(chunks, 2);
}

}  // namespace
}  // namespace cistern::client
