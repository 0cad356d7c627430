#include "ufs/azure_xml.h"

#include <pugixml.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "ufs/s3_xml.h"

namespace cistern::ufs::azurexml {
namespace {

bool Load(pugi::xml_document& doc, std::string_view xml) {
  return static_cast<bool>(doc.load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8));
}

// RFC 3986 percent-decoding ('+' stays '+', unlike form decoding).
std::string PercentDecode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && absl::ascii_isxdigit(text[i + 1]) && absl::ascii_isxdigit(text[i + 2])) {
      auto hex = [](char c) { return absl::ascii_isdigit(c) ? c - '0' : absl::ascii_tolower(c) - 'a' + 10; };
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::string Name(const pugi::xml_node& parent) {
  pugi::xml_node name = parent.child("Name");
  std::string text = name.text().as_string();
  if (std::string_view(name.attribute("Encoded").as_string()) == "true") return PercentDecode(text);
  return text;
}

}  // namespace

absl::StatusOr<ListPage> ParseListBlobs(std::string_view xml) {
  pugi::xml_document doc;
  pugi::xml_node root;
  if (Load(doc, xml)) root = doc.child("EnumerationResults");
  if (!root) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed Azure List Blobs response (body starts '", std::string(xml.substr(0, 200)), "')"));
  }
  ListPage page;
  for (pugi::xml_node n : root.child("Blobs").children()) {
    if (std::string_view(n.name()) == "BlobPrefix") {
      page.prefixes.push_back(Name(n));
      continue;
    }
    if (std::string_view(n.name()) != "Blob") continue;
    ListedBlob b;
    b.name = Name(n);
    pugi::xml_node props = n.child("Properties");
    (void)absl::SimpleAtoi(props.child("Content-Length").text().as_string(), &b.size);
    auto mtime = s3xml::ParseHttpDateMs(props.child("Last-Modified").text().as_string());
    if (mtime.ok()) b.mtime_ms = *mtime;
    b.etag = s3xml::StripQuotes(props.child("Etag").text().as_string());
    for (pugi::xml_node m : n.child("Metadata").children()) {
      if (absl::AsciiStrToLower(m.name()) == "hdi_isfolder" &&
          absl::AsciiStrToLower(m.text().as_string()) == "true") {
        b.hdi_folder = true;
      }
    }
    page.blobs.push_back(std::move(b));
  }
  page.next_marker = root.child("NextMarker").text().as_string();
  return page;
}

std::optional<Error> ParseError(std::string_view xml) {
  pugi::xml_document doc;
  if (xml.empty() || !Load(doc, xml)) return std::nullopt;
  pugi::xml_node e = doc.child("Error");
  if (!e) return std::nullopt;
  return Error{e.child("Code").text().as_string(), e.child("Message").text().as_string()};
}

std::string BuildBlockList(const std::vector<std::string>& block_ids) {
  std::string out = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>";
  for (const std::string& id : block_ids) absl::StrAppend(&out, "<Latest>", id, "</Latest>");  // base64: no escaping
  out += "</BlockList>";
  return out;
}

}  // namespace cistern::ufs::azurexml
