#include "ufs/s3_xml.h"

#include "gtest/gtest.h"
#include "ufs/http_client.h"

namespace cistern::ufs::s3xml {
namespace {

TEST(S3XmlTest, ParsesListObjectsV2WithUrlEncoding) {
  const char* xml = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>d%2F</Prefix>
<KeyCount>3</KeyCount><MaxKeys>2</MaxKeys><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>
<NextContinuationToken>tok+/=</NextContinuationToken>
<Contents><Key>d/a+b%2B%25</Key><LastModified>2024-05-01T12:34:56.789Z</LastModified><ETag>&quot;abc&quot;</ETag><Size>42</Size></Contents>
<Contents><Key>d/%C3%A9</Key><LastModified>2024-05-01T12:34:56Z</LastModified><ETag>"x-2"</ETag><Size>0</Size></Contents>
<CommonPrefixes><Prefix>d/sub%23/</Prefix></CommonPrefixes></ListBucketResult>)";
  auto page = ParseListObjectsV2(xml);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "d/a b+%");
  EXPECT_EQ(page->objects[0].size, 42);
  EXPECT_EQ(page->objects[0].etag, "abc");
  EXPECT_EQ(page->objects[0].mtime_ms, 1714566896789);
  EXPECT_EQ(page->objects[1].key, "d/\xc3\xa9");
  EXPECT_EQ(page->objects[1].etag, "x-2");
  EXPECT_EQ(page->common_prefixes, std::vector<std::string>{"d/sub#/"});
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_continuation_token, "tok+/=");
}

TEST(S3XmlTest, KeysAreLiteralWithoutEncodingType) {
  auto page = ParseListObjectsV2(
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a+b%20</Key>"
      "<LastModified>2024-05-01T12:34:56.000Z</LastModified><ETag>e</ETag><Size>1</Size></Contents></ListBucketResult>");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->objects[0].key, "a+b%20");
  EXPECT_FALSE(page->truncated);
}

TEST(S3XmlTest, RejectsMalformedDocuments) {
  EXPECT_FALSE(ParseListObjectsV2("").ok());
  EXPECT_FALSE(ParseListObjectsV2("<not xml").ok());
  EXPECT_FALSE(ParseListObjectsV2("<Error><Code>AccessDenied</Code></Error>").ok());
  EXPECT_FALSE(ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>").ok());
  EXPECT_FALSE(ParseListObjectsV2("<ListBucketResult><Contents><Key>k</Key><Size>x</Size></Contents></ListBucketResult>").ok());
  EXPECT_FALSE(ParseUploadId("<InitiateMultipartUploadResult/>").ok());
  EXPECT_FALSE(ParseDeleteResult("<Other/>").ok());
}

TEST(S3XmlTest, ParsesErrorsAndResults) {
  auto e = ParseError("<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>gone</Message></Error>");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, "NoSuchKey");
  EXPECT_EQ(e->message, "gone");
  EXPECT_FALSE(ParseError("").has_value());
  EXPECT_FALSE(ParseError("<CompleteMultipartUploadResult/>").has_value());
  EXPECT_EQ(*ParseUploadId("<InitiateMultipartUploadResult><UploadId>u-1</UploadId></InitiateMultipartUploadResult>"), "u-1");
  auto errors = ParseDeleteResult("<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key><Code>AccessDenied</Code>"
                                  "<Message>no</Message></Error></DeleteResult>");
  ASSERT_TRUE(errors.ok());
  ASSERT_EQ(errors->size(), 1u);
  EXPECT_EQ((*errors)[0].key, "b");
}

TEST(S3XmlTest, BuildsEscapedRequestBodies) {
  EXPECT_EQ(BuildCompleteMultipartUpload({"\"e1\"", "\"e2\""}),
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Part><PartNumber>1</PartNumber>"
            "<ETag>\"e1\"</ETag></Part><Part><PartNumber>2</PartNumber><ETag>\"e2\"</ETag></Part></CompleteMultipartUpload>");
  EXPECT_EQ(BuildDeleteObjects({"a&b<c"}),
            "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet><Object><Key>a&amp;b&lt;c</Key>"
            "</Object></Delete>");
}

TEST(S3XmlTest, DatesAndEncoding) {
  EXPECT_EQ(*ParseHttpDateMs("Wed, 01 May 2024 12:34:56 GMT"), 1714566896000);
  EXPECT_FALSE(ParseHttpDateMs("yesterday").ok());
  EXPECT_EQ(StripQuotes("\"abc\""), "abc");
  EXPECT_EQ(StripQuotes("abc"), "abc");
  EXPECT_EQ(UrlEncode("a b+c/%d~e#?", true), "a%20b%2Bc/%25d~e%23%3F");
  EXPECT_EQ(UrlEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(UrlEncode("\xc3\xa9", false), "%C3%A9");
  EXPECT_EQ(UrlDecode("a%20b%2Bc+d%zz"), "a b+c d%zz");
}

}  // namespace
}  // namespace cistern::ufs::s3xml
