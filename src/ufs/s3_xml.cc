#include "ufs/s3_xml.h"

#include <pugixml.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace cistern::ufs::s3xml {
namespace {

absl::Status NotA(std::string_view what, std::string_view xml, std::string_view why = "") {
  std::string start(xml.substr(0, 200));
  return absl::InvalidArgumentError(absl::StrCat("malformed S3 ", std::string(what), " response", why.empty() ? "" : ": ",
                                                 std::string(why), " (body starts '", start, "')"));
}

bool Load(pugi::xml_document& doc, std::string_view xml) {
  return static_cast<bool>(doc.load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8));
}

std::string Text(const pugi::xml_node& parent, const char* name) { return parent.child(name).text().as_string(); }

std::string Save(const pugi::xml_document& doc) {
  struct Writer : pugi::xml_writer {
    std::string out;
    void write(const void* data, size_t size) override { out.append(static_cast<const char*>(data), size); }
  } writer;
  doc.save(writer, "", pugi::format_raw | pugi::format_no_declaration);
  return std::move(writer.out);
}

}  // namespace

std::string UrlDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() + 0 && absl::ascii_isxdigit(text[i + 1]) && absl::ascii_isxdigit(text[i + 2])) {
      auto hex = [](char c) { return absl::ascii_isdigit(c) ? c - '0' : absl::ascii_tolower(c) - 'a' + 10; };
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else if (text[i] == '+') {
      out.push_back(' ');  // S3 encodes spaces in listings as '+' (form encoding)
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::string StripQuotes(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return std::string(etag);
}

absl::StatusOr<int64_t> ParseIso8601Ms(std::string_view text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime("%Y-%m-%d%ET%H:%M:%E*S%Ez", std::string(text), &t, &err) &&
      !absl::ParseTime("%Y-%m-%d%ET%H:%M:%E*SZ", std::string(text), &t, &err)) {
    return absl::InvalidArgumentError(absl::StrCat("bad S3 timestamp '", std::string(text), "': ", err));
  }
  return absl::ToUnixMillis(t);
}

absl::StatusOr<int64_t> ParseHttpDateMs(std::string_view text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", std::string(text), &t, &err)) {
    return absl::InvalidArgumentError(absl::StrCat("bad HTTP date '", std::string(text), "': ", err));
  }
  return absl::ToUnixMillis(t);
}

absl::StatusOr<ListPage> ParseListObjectsV2(std::string_view xml) {
  pugi::xml_document doc;
  if (!Load(doc, xml)) return NotA("ListObjectsV2", xml, "not XML");
  pugi::xml_node root = doc.child("ListBucketResult");
  if (!root) return NotA("ListObjectsV2", xml, "no ListBucketResult");
  const bool url_encoded = absl::AsciiStrToLower(Text(root, "EncodingType")) == "url";
  auto decode = [&](std::string s) { return url_encoded ? UrlDecode(s) : s; };
  ListPage page;
  page.truncated = absl::AsciiStrToLower(Text(root, "IsTruncated")) == "true";
  page.next_continuation_token = Text(root, "NextContinuationToken");
  for (pugi::xml_node c : root.children("Contents")) {
    ListedObject o;
    o.key = decode(Text(c, "Key"));
    if (!absl::SimpleAtoi(Text(c, "Size"), &o.size)) return NotA("ListObjectsV2", xml, "bad Size");
    auto mtime = ParseIso8601Ms(Text(c, "LastModified"));
    if (!mtime.ok()) return NotA("ListObjectsV2", xml, std::string(mtime.status().message()));
    o.mtime_ms = *mtime;
    o.etag = StripQuotes(Text(c, "ETag"));
    page.objects.push_back(std::move(o));
  }
  for (pugi::xml_node p : root.children("CommonPrefixes")) page.common_prefixes.push_back(decode(Text(p, "Prefix")));
  if (page.truncated && page.next_continuation_token.empty()) {
    return NotA("ListObjectsV2", xml, "truncated without NextContinuationToken");
  }
  return page;
}

std::optional<Error> ParseError(std::string_view xml) {
  pugi::xml_document doc;
  if (xml.empty() || !Load(doc, xml)) return std::nullopt;
  pugi::xml_node e = doc.child("Error");
  if (!e) return std::nullopt;
  return Error{Text(e, "Code"), Text(e, "Message"), Text(e, "Key")};
}

absl::StatusOr<std::string> ParseUploadId(std::string_view xml) {
  pugi::xml_document doc;
  if (!Load(doc, xml)) return NotA("CreateMultipartUpload", xml, "not XML");
  std::string id = Text(doc.child("InitiateMultipartUploadResult"), "UploadId");
  if (id.empty()) return NotA("CreateMultipartUpload", xml, "no UploadId");
  return id;
}

absl::StatusOr<std::string> ParseCopyPartEtag(std::string_view xml) {
  pugi::xml_document doc;
  if (!Load(doc, xml)) return NotA("UploadPartCopy", xml, "not XML");
  std::string etag = Text(doc.child("CopyPartResult"), "ETag");
  if (etag.empty()) return NotA("UploadPartCopy", xml, "no ETag");
  return etag;
}

absl::StatusOr<std::vector<Error>> ParseDeleteResult(std::string_view xml) {
  pugi::xml_document doc;
  if (!Load(doc, xml)) return NotA("DeleteObjects", xml, "not XML");
  pugi::xml_node root = doc.child("DeleteResult");
  if (!root) return NotA("DeleteObjects", xml, "no DeleteResult");
  std::vector<Error> errors;
  for (pugi::xml_node e : root.children("Error")) errors.push_back(Error{Text(e, "Code"), Text(e, "Message"), Text(e, "Key")});
  return errors;
}

std::string BuildCompleteMultipartUpload(const std::vector<std::string>& etags) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("CompleteMultipartUpload");
  root.append_attribute("xmlns") = "http://s3.amazonaws.com/doc/2006-03-01/";
  for (size_t i = 0; i < etags.size(); ++i) {
    pugi::xml_node part = root.append_child("Part");
    part.append_child("PartNumber").text() = static_cast<unsigned long long>(i + 1);
    part.append_child("ETag").text() = etags[i].c_str();
  }
  return Save(doc);
}

std::string BuildDeleteObjects(const std::vector<std::string>& keys) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("Delete");
  root.append_attribute("xmlns") = "http://s3.amazonaws.com/doc/2006-03-01/";
  root.append_child("Quiet").text() = "true";
  for (const std::string& key : keys) root.append_child("Object").append_child("Key").text() = key.c_str();
  return Save(doc);
}

}  // namespace cistern::ufs::s3xml
