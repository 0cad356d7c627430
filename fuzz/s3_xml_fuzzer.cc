// S3 (and GCS XML API) response documents (ufs/s3_xml.h), plus the date and URL decoders they use.
#include "fuzz/fuzz_util.h"
#include "ufs/s3_xml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cistern::ufs::s3xml;
  const std::string_view xml = cistern::fuzz::AsText(data, size);
  (void)ParseListObjectsV2(xml);
  (void)ParseError(xml);
  (void)ParseUploadId(xml);
  (void)ParseCopyPartEtag(xml);
  (void)ParseDeleteResult(xml);
  (void)ParseIso8601Ms(xml);
  (void)ParseHttpDateMs(xml);
  (void)StripQuotes(xml);
  FUZZ_CHECK(UrlDecode(xml).size() <= xml.size());
  return 0;
}
