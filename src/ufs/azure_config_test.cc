#include "ufs/azure_config.h"

#include <map>

#include "gtest/gtest.h"
#include "ufs/azure_ufs.h"
#include "ufs/azure_xml.h"

namespace cistern::ufs {
namespace {

constexpr char kKey[] = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

EnvLookup Env(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

TEST(AzureConfigTest, AccountAndEndpointFromHadoopStyleUris) {
  auto c = ResolveAzureConfig("wasbs://data@myacct.blob.core.windows.net/x", {}, Env({}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->account, "myacct");
  EXPECT_EQ(c->endpoint, "https://myacct.blob.core.windows.net");
  EXPECT_EQ(c->credentials_source, "none");
  auto wasb = ResolveAzureConfig("wasb://data@myacct.blob.core.windows.net/", {}, Env({}));
  EXPECT_EQ(wasb->endpoint, "http://myacct.blob.core.windows.net");
  auto abfs = ResolveAzureConfig("abfss://fs@myacct.dfs.core.windows.net/dir", {}, Env({}));
  EXPECT_EQ(abfs->endpoint, "https://myacct.blob.core.windows.net") << "the Blob API of the same account";
  auto no_account = ResolveAzureConfig("abfs://fs/dir", {}, Env({}));
  EXPECT_EQ(no_account.status().code(), absl::StatusCode::kInvalidArgument);
  auto from_env = ResolveAzureConfig("abfs://fs/dir", {}, Env({{"AZURE_STORAGE_ACCOUNT", "envacct"}}));
  EXPECT_EQ(from_env->account, "envacct");
}

TEST(AzureConfigTest, CredentialChain) {
  auto opt = ResolveAzureConfig("wasb://c@a.blob.core.windows.net/", {{"azure.account_key", kKey}},
                                Env({{"AZURE_STORAGE_SAS_TOKEN", "sv=x"}}));
  ASSERT_TRUE(opt.ok()) << opt.status();
  EXPECT_EQ(opt->account_key.size(), 64u);
  EXPECT_TRUE(opt->sas_token.empty());
  auto sas = ResolveAzureConfig("wasb://c@a.blob.core.windows.net/", {}, Env({{"AZURE_STORAGE_SAS_TOKEN", "?sv=x&sig=y"}}));
  EXPECT_EQ(sas->sas_token, "sv=x&sig=y");
  EXPECT_EQ(sas->credentials_source, "AZURE_STORAGE_SAS_TOKEN");
  auto conn = ResolveAzureConfig(
      "wasb://c/", {},
      Env({{"AZURE_STORAGE_CONNECTION_STRING",
            std::string("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=") + kKey +
                ";BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"}}));
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_EQ(conn->account, "devstoreaccount1");
  EXPECT_EQ(conn->endpoint, "http://127.0.0.1:10000/devstoreaccount1");
  EXPECT_FALSE(conn->account_key.empty());
  auto bad_key = ResolveAzureConfig("wasb://c@a.blob.core.windows.net/", {{"azure.account_key", "not base64!"}}, Env({}));
  EXPECT_EQ(bad_key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad_key.status().message().find("not base64!"), std::string::npos) << "secrets are not echoed";
}

TEST(AzureConfigTest, OptionsAreValidated) {
  auto typo = ResolveAzureConfig("wasb://c@a.blob.core.windows.net/", {{"azure.blocksize", "1MiB"}}, Env({}));
  EXPECT_EQ(typo.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(typo.status().message().find("azure.blocksize"), std::string::npos);
  auto ok = ResolveAzureConfig("wasb://c@a.blob.core.windows.net/",
                               {{"azure.block_size", "4MiB"}, {"azure.max_attempts", "3"}, {"s3.region", "x"}}, Env({}));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->block_size_bytes, 4 << 20);
  EXPECT_EQ(ok->http.max_attempts, 3);
  EXPECT_FALSE(ResolveAzureConfig("wasb://c@a.blob.core.windows.net/", {{"azure.block_size", "10"}}, Env({})).ok());
  EXPECT_FALSE(ResolveAzureConfig("wasb://c@a.blob.core.windows.net/", {{"azure.endpoint", "ftp://x"}}, Env({})).ok());
}

TEST(AzureSharedKeyTest, StringToSignLayout) {
  std::map<std::string, std::string> headers = {{"content-length", "0"},
                                                {"content-type", "application/octet-stream"},
                                                {"x-ms-date", "Tue, 01 Dec 2026 10:00:00 GMT"},
                                                {"x-ms-version", "2021-12-02"},
                                                {"x-ms-blob-type", "BlockBlob"},
                                                {"if-none-match", "*"}};
  std::string s = AzureStringToSign("PUT", headers, "acct", "/acct/c/a%20b", {{"comp", "block"}, {"blockid", "QQ=="}});
  EXPECT_EQ(s,
            "PUT\n\n\n\n\napplication/octet-stream\n\n\n\n*\n\n\n"
            "x-ms-blob-type:BlockBlob\nx-ms-date:Tue, 01 Dec 2026 10:00:00 GMT\nx-ms-version:2021-12-02\n"
            "/acct/acct/c/a%20b\nblockid:QQ==\ncomp:block");
}

TEST(AzureXmlTest, ListBlobsPage) {
  auto page = azurexml::ParseListBlobs(R"(<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://x/" ContainerName="c"><Prefix>d/</Prefix><Blobs>
<Blob><Name>d/a+b c</Name><Properties><Last-Modified>Wed, 01 May 2024 12:34:56 GMT</Last-Modified><Etag>0x8DC</Etag><Content-Length>12</Content-Length></Properties><Metadata/></Blob>
<Blob><Name Encoded="true">d/%EF%BF%BEodd</Name><Properties><Content-Length>0</Content-Length></Properties></Blob>
<Blob><Name>d/hfolder</Name><Properties><Content-Length>0</Content-Length></Properties><Metadata><hdi_isfolder>true</hdi_isfolder></Metadata></Blob>
<BlobPrefix><Name>d/sub/</Name></BlobPrefix></Blobs><NextMarker>2!abc</NextMarker></EnumerationResults>)");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->blobs.size(), 3u);
  EXPECT_EQ(page->blobs[0].name, "d/a+b c");
  EXPECT_EQ(page->blobs[0].size, 12);
  EXPECT_EQ(page->blobs[0].etag, "0x8DC");
  EXPECT_EQ(page->blobs[0].mtime_ms, 1714566896000);
  EXPECT_EQ(page->blobs[1].name, "d/\xef\xbf\xbeodd");
  EXPECT_TRUE(page->blobs[2].hdi_folder);
  EXPECT_EQ(page->prefixes, std::vector<std::string>{"d/sub/"});
  EXPECT_EQ(page->next_marker, "2!abc");
  EXPECT_FALSE(azurexml::ParseListBlobs("<Error/>").ok());
  auto e = azurexml::ParseError("<?xml version=\"1.0\"?><Error><Code>BlobNotFound</Code><Message>no</Message></Error>");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, "BlobNotFound");
}

}  // namespace
}  // namespace cistern::ufs
