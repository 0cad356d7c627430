// Azure Blob response documents (ufs/azure_xml.h).
#include "fuzz/fuzz_util.h"
#include "ufs/azure_xml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cistern::ufs::azurexml;
  const std::string_view xml = cistern::fuzz::AsText(data, size);
  (void)ParseListBlobs(xml);
  (void)ParseError(xml);
  return 0;
}
