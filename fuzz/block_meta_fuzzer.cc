// The worker's on-disk block records (worker/block_meta.h): a scribbled .meta file or a stray
// file name in a tier directory must be refused, and every valid one round-trips.
#include "fuzz/fuzz_util.h"
#include "worker/block_meta.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cistern;
  const std::string_view bytes = fuzz::AsText(data, size);
  absl::StatusOr<worker::BlockMeta> meta = worker::DecodeBlockMeta(bytes);
  if (meta.ok()) FUZZ_CHECK(worker::EncodeBlockMeta(*meta) == bytes);

  uint64_t block_id = 0;
  if (worker::ParseBlockFileName(bytes, &block_id)) {
    FUZZ_CHECK(block_id != 0);
    FUZZ_CHECK(worker::BlockFileName(block_id) == bytes);
  }
  if (worker::ParseBlockMetaFileName(bytes, &block_id)) {
    FUZZ_CHECK(worker::BlockMetaFileName(block_id) == bytes);
  }
  if (size >= 16) {
    worker::BlockMeta m;
    fuzz::InputReader in(data, size);
    m.length = static_cast<int64_t>(in.Uint64());
    m.checksum = in.Uint64();
    absl::StatusOr<worker::BlockMeta> back = worker::DecodeBlockMeta(worker::EncodeBlockMeta(m));
    if (m.length < 0) {
      FUZZ_CHECK(!back.ok());  // a negative length is refused even in a well-formed record
    } else {
      FUZZ_CHECK(back.ok() && back->length == m.length && back->checksum == m.checksum);
    }
  }
  return 0;
}
