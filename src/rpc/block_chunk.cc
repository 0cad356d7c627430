#include "rpc/block_chunk.h"

#include <cstring>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace cistern::rpc {
namespace {

// ReadBlockResponse field tags: (field number << 3) | wire type.
constexpr uint8_t kDataTag = (1 << 3) | 2;       // bytes data = 1
constexpr uint8_t kFromCacheTag = (2 << 3) | 0;  // bool from_cache = 2

// Reused chunk buffers: a fresh multi-MiB allocation is a fresh mmap whose pages the kernel
// zero-fills on first touch, which costs about as much as copying the chunk.
class BufferPool {
 public:
  struct Buffer {
    BufferPool* pool;
    size_t capacity;
    std::unique_ptr<char[]> data;
  };

  Buffer* Get(size_t size) {
    {
      absl::MutexLock lock(&mu_);
      for (size_t i = 0; i < free_.size(); ++i) {
        if (free_[i]->capacity >= size) {
          Buffer* b = free_[i];
          free_[i] = free_.back();
          free_.pop_back();
          return b;
        }
      }
    }
    // Not value-initialized: the caller overwrites it.
    return new Buffer{this, size, std::unique_ptr<char[]>(new char[size])};
  }

  void Put(Buffer* buffer) {
    {
      absl::MutexLock lock(&mu_);
      if (free_.size() < kMaxPooled) {
        free_.push_back(buffer);
        return;
      }
    }
    delete buffer;
  }

 private:
  static constexpr size_t kMaxPooled = 32;
  absl::Mutex mu_;
  std::vector<Buffer*> free_ ABSL_GUARDED_BY(mu_);
};

BufferPool& Pool() {
  static auto* pool = new BufferPool();  // never destroyed: slices may outlive static destruction
  return *pool;
}

void ReturnBuffer(void* user_data) {
  auto* buffer = static_cast<BufferPool::Buffer*>(user_data);
  buffer->pool->Put(buffer);
}

size_t PutVarint(uint64_t value, uint8_t* out) {
  size_t n = 0;
  while (value >= 0x80) {
    out[n++] = static_cast<uint8_t>(value | 0x80);
    value >>= 7;
  }
  out[n++] = static_cast<uint8_t>(value);
  return n;
}

// Reads a message spread over slices, byte by byte or by ranges.
class SliceCursor {
 public:
  explicit SliceCursor(const std::vector<grpc::Slice>& slices) : slices_(slices) { SkipEmpty(); }

  bool done() const { return index_ == slices_.size(); }

  bool ReadByte(uint8_t* byte) {
    if (done()) return false;
    *byte = slices_[index_].begin()[offset_];
    Advance(1);
    return true;
  }

  bool ReadVarint(uint64_t* value) {
    *value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t byte = 0;
      if (!ReadByte(&byte)) return false;
      *value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }

  // Consumes `n` bytes, passing each contiguous piece to `piece` (if given).
  template <typename Piece>
  bool Take(uint64_t n, Piece&& piece) {
    while (n > 0) {
      if (done()) return false;
      const size_t available = slices_[index_].size() - offset_;
      const size_t take = static_cast<size_t>(std::min<uint64_t>(available, n));
      piece(reinterpret_cast<const char*>(slices_[index_].begin()) + offset_, take);
      Advance(take);
      n -= take;
    }
    return true;
  }

 private:
  void Advance(size_t n) {
    offset_ += n;
    if (offset_ == slices_[index_].size()) {
      ++index_;
      offset_ = 0;
      SkipEmpty();
    }
  }
  void SkipEmpty() {
    while (index_ < slices_.size() && slices_[index_].size() == 0) ++index_;
  }

  const std::vector<grpc::Slice>& slices_;
  size_t index_ = 0;
  size_t offset_ = 0;
};

}  // namespace

grpc::Slice ChunkSlice(size_t size, char** data) {
  BufferPool::Buffer* buffer = Pool().Get(size);
  *data = buffer->data.get();
  return grpc::Slice(buffer->data.get(), size, &ReturnBuffer, buffer);
}

grpc::ByteBuffer EncodeReadBlockChunk(const grpc::Slice& data, bool from_cache) {
  uint8_t header[16];
  size_t n = 0;
  if (from_cache) {
    header[n++] = kFromCacheTag;
    header[n++] = 1;
  }
  header[n++] = kDataTag;
  n += PutVarint(data.size(), header + n);
  grpc::Slice slices[2] = {grpc::Slice(header, n), data};
  return grpc::ByteBuffer(slices, data.size() > 0 ? 2 : 1);
}

absl::Status ReadBlockChunk::Parse(grpc::ByteBuffer* buffer) {
  Clear();
  grpc::Status dumped = buffer->Dump(&slices_);
  if (!dumped.ok()) return absl::InternalError(absl::StrCat("ReadBlock chunk: ", dumped.error_message()));
  buffer->Clear();
  SliceCursor cursor(slices_);
  auto malformed = [&](const char* what) {
    Clear();
    return absl::InternalError(absl::StrCat("malformed ReadBlock response: ", what));
  };
  while (!cursor.done()) {
    uint64_t tag = 0;
    if (!cursor.ReadVarint(&tag)) return malformed("truncated tag");
    const uint64_t field = tag >> 3;
    const int wire = static_cast<int>(tag & 7);
    if (field == 1 && wire == 2) {
      uint64_t length = 0;
      if (!cursor.ReadVarint(&length)) return malformed("truncated data length");
      // A repeated occurrence replaces the earlier one (protobuf semantics for scalars).
      segments_.clear();
      size_ = 0;
      if (!cursor.Take(length, [&](const char* p, size_t n) {
            segments_.push_back({p, static_cast<int64_t>(n)});
            size_ += static_cast<int64_t>(n);
          })) {
        return malformed("truncated data");
      }
      continue;
    }
    uint64_t value = 0;
    switch (wire) {
      case 0:
        if (!cursor.ReadVarint(&value)) return malformed("truncated varint");
        if (field == 2) from_cache_ = value != 0;
        break;
      case 1:
        if (!cursor.Take(8, [](const char*, size_t) {})) return malformed("truncated fixed64");
        break;
      case 2:
        if (!cursor.ReadVarint(&value) || !cursor.Take(value, [](const char*, size_t) {})) {
          return malformed("truncated field");
        }
        break;
      case 5:
        if (!cursor.Take(4, [](const char*, size_t) {})) return malformed("truncated fixed32");
        break;
      default:
        return malformed("unknown wire type");
    }
  }
  return absl::OkStatus();
}

void ReadBlockChunk::CopyTo(int64_t offset, int64_t n, char* dst) const {
  for (const Segment& s : segments_) {
    if (n == 0) return;
    if (offset >= s.size) {
      offset -= s.size;
      continue;
    }
    const int64_t take = std::min(n, s.size - offset);
    std::memcpy(dst, s.data + offset, static_cast<size_t>(take));
    dst += take;
    n -= take;
    offset = 0;
  }
}

void ReadBlockChunk::Clear() {
  slices_.clear();
  segments_.clear();
  size_ = 0;
  from_cache_ = false;
}

}  // namespace cistern::rpc
