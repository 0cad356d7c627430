#include "worker/block_meta.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#define XXH_STATIC_LINKING_ONLY  // for XXH64_state_t as a member
#include "xxhash.h"

namespace cistern::worker {

namespace {

constexpr char kMagic[4] = {'C', 'S', 'B', 'M'};
constexpr uint32_t kVersion = 1;

bool ParseHex16(std::string_view name, uint64_t* block_id) {
  if (name.size() != 16) return false;
  uint64_t value = 0;
  for (char c : name) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return false;
    }
    value = (value << 4) | static_cast<uint64_t>(digit);
  }
  if (value == 0) return false;
  *block_id = value;
  return true;
}

}  // namespace

std::string EncodeBlockMeta(const BlockMeta& meta) {
  std::string out(kBlockMetaBytes, '\0');
  char* p = out.data();
  std::memcpy(p, kMagic, 4);
  absl::little_endian::Store32(p + 4, kVersion);
  absl::little_endian::Store64(p + 8, static_cast<uint64_t>(meta.length));
  absl::little_endian::Store64(p + 16, meta.checksum);
  absl::little_endian::Store64(p + 24, XXH64(p, 24, 0));
  return out;
}

absl::StatusOr<BlockMeta> DecodeBlockMeta(std::string_view record) {
  if (record.size() != kBlockMetaBytes) {
    return absl::DataLossError(absl::StrCat("block meta record has ", record.size(), " bytes, expected ", kBlockMetaBytes));
  }
  const char* p = record.data();
  if (std::memcmp(p, kMagic, 4) != 0) return absl::DataLossError("block meta record has a bad magic");
  const uint32_t version = absl::little_endian::Load32(p + 4);
  if (absl::little_endian::Load64(p + 24) != XXH64(p, 24, 0)) {
    return absl::DataLossError("block meta record fails its self-checksum");
  }
  if (version != kVersion) return absl::DataLossError(absl::StrCat("block meta record has unknown version ", version));
  BlockMeta meta;
  meta.length = static_cast<int64_t>(absl::little_endian::Load64(p + 8));
  meta.checksum = absl::little_endian::Load64(p + 16);
  if (meta.length < 0) return absl::DataLossError(absl::StrCat("block meta record has negative length ", meta.length));
  return meta;
}

std::string BlockFileName(uint64_t block_id) { return absl::StrFormat("%016x", block_id); }

bool ParseBlockFileName(std::string_view name, uint64_t* block_id) { return ParseHex16(name, block_id); }

std::string BlockMetaFileName(uint64_t block_id) { return BlockFileName(block_id) + std::string(kBlockMetaSuffix); }

bool ParseBlockMetaFileName(std::string_view name, uint64_t* block_id) {
  if (name.size() != 16 + kBlockMetaSuffix.size() || name.substr(16) != kBlockMetaSuffix) return false;
  return ParseHex16(name.substr(0, 16), block_id);
}

struct BlockHasher::State {
  XXH64_state_t xxh;
};

BlockHasher::BlockHasher() : state_(std::make_unique<State>()) { XXH64_reset(&state_->xxh, 0); }
BlockHasher::~BlockHasher() = default;

void BlockHasher::Update(std::string_view data) { XXH64_update(&state_->xxh, data.data(), data.size()); }
uint64_t BlockHasher::Digest() const { return XXH64_digest(&state_->xxh); }

uint64_t HashBytes(std::string_view data) { return XXH64(data.data(), data.size(), 0); }

absl::StatusOr<uint64_t> HashFile(int fd, int64_t length, const std::string& path) {
  constexpr size_t kBufferBytes = 1 << 20;
  std::string buffer(kBufferBytes, '\0');
  BlockHasher hasher;
  int64_t done = 0;
  while (done < length) {
    const size_t want = static_cast<size_t>(std::min<int64_t>(kBufferBytes, length - done));
    ssize_t n = ::pread(fd, buffer.data(), want, done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("read '", path, "': ", std::strerror(errno)));
    }
    if (n == 0) {
      return absl::DataLossError(absl::StrCat("'", path, "' ends at ", done, " bytes, expected ", length));
    }
    hasher.Update(std::string_view(buffer.data(), static_cast<size_t>(n)));
    done += n;
  }
  return hasher.Digest();
}

}  // namespace cistern::worker
