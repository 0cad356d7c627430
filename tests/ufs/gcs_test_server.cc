// gcs_test_server: a Google Cloud Storage XML API server for tests (no real GCS server can be
// installed here). It follows the public XML API reference for what the gs:// adapter uses:
//
//   objects: PUT (with x-goog-copy-source for copies, x-goog-if-generation-match preconditions),
//            GET and HEAD (Range, If-Match, x-goog-if-generation-match), DELETE;
//   buckets: GET ?list-type=2 (prefix, delimiter, max-keys <= 1000, continuation-token,
//            start-after), HEAD, GET ?uploads (in-progress multipart uploads);
//   XML API multipart uploads: POST ?uploads, PUT ?partNumber&uploadId, POST ?uploadId (parts
//            checked in order, ETags compared, parts but the last at least --min-part-size),
//            DELETE ?uploadId;
//   errors:  <Error><Code>..</Code><Message>..</Message></Error> with NoSuchKey, NoSuchBucket,
//            NoSuchUpload, InvalidRange, PreconditionFailed, EntityTooSmall, InvalidPart, ...
//
// Every request is authenticated: either "Authorization: Bearer TOKEN" (an OAuth 2.0 access
// token given with --bearer) or a V4 signature with an HMAC key given with --hmac ID:SECRET,
// recomputed here from the canonical request exactly as the signing documentation describes
// (GOOG4-HMAC-SHA256 with x-goog-date and scope DATE/LOCATION/storage/goog4_request, or the
// AWS4-HMAC-SHA256 form GCS also accepts), with x-goog-content-sha256 checked against the body
// and the request time within 15 minutes. Anything else is 401/403.
//
// Usage: gcs_test_server --port N [--hmac ID:SECRET]... [--bearer TOKEN]... [--bucket NAME]...
//                        [--min-part-size BYTES]
// Prints "ready" on stdout once it listens on 127.0.0.1:N. State is in memory.
#include <httplib.h>
#include <pugixml.hpp>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "ufs/crypto.h"

namespace {

using cistern::ufs::Base64Encode;
using cistern::ufs::HexLower;
using cistern::ufs::HmacSha256;
using cistern::ufs::Sha256Hex;

struct Object {
  std::string data;
  int64_t generation = 0;
  std::string etag;  // with quotes
  int64_t mtime_ms = 0;
  std::string content_type;
};

struct Upload {
  std::string bucket, key;
  std::map<int, std::pair<std::string, std::string>> parts;  // number -> (data, etag with quotes)
};

struct State {
  std::mutex mu;
  std::map<std::string, std::map<std::string, Object>> buckets;
  std::map<std::string, Upload> uploads;
  int64_t next_generation = 1'700'000'000'000'000;
  int64_t next_upload = 1;
};

State state;
std::map<std::string, std::string> hmac_keys;  // access id -> secret
std::set<std::string> bearer_tokens;
int64_t min_part_size = 5 << 20;

std::string Md5Hex(std::string_view data) {
  std::string b64 = cistern::ufs::Md5Base64(data);
  // Md5Base64 gives base64; recompute hex from the decoded bytes.
  return HexLower(*cistern::ufs::Base64Decode(b64));
}

std::string HttpDate(int64_t ms) {
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}
std::string IsoDate(int64_t ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

std::string XmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

void Fail(httplib::Response& res, int status, const std::string& code, const std::string& message) {
  res.status = status;
  res.set_content(absl::StrCat("<?xml version='1.0' encoding='UTF-8'?><Error><Code>", code, "</Code><Message>",
                               XmlEscape(message), "</Message></Error>"),
                  "application/xml; charset=UTF-8");
}

// RFC 3986 encoding as the V4 canonical request wants it (unreserved characters kept).
std::string UriEncode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string Header(const httplib::Request& req, const std::string& name) {
  return req.has_header(name.c_str()) ? req.get_header_value(name.c_str()) : "";
}

// Checks the request's credentials; on failure fills `res` and returns false.
bool Authenticate(const httplib::Request& req, httplib::Response& res) {
  const std::string auth = Header(req, "Authorization");
  if (auth.empty()) {
    Fail(res, 401, "AuthenticationRequired", "anonymous requests are not allowed on this server");
    return false;
  }
  if (absl::StartsWith(auth, "Bearer ")) {
    if (bearer_tokens.count(auth.substr(7)) == 0) {
      Fail(res, 401, "AuthenticationRequired", "Invalid Credentials");
      return false;
    }
    return true;
  }
  std::string algorithm = auth.substr(0, auth.find(' '));
  std::string key_prefix, request_type, date_header;
  if (algorithm == "GOOG4-HMAC-SHA256") {
    key_prefix = "GOOG4", request_type = "goog4_request", date_header = "x-goog-date";
  } else if (algorithm == "AWS4-HMAC-SHA256") {
    key_prefix = "AWS4", request_type = "aws4_request", date_header = "x-amz-date";
  } else {
    Fail(res, 400, "InvalidArgument", "unsupported Authorization: " + algorithm);
    return false;
  }
  std::map<std::string, std::string> fields;
  for (absl::string_view part : absl::StrSplit(absl::string_view(auth).substr(algorithm.size()), ',')) {
    part = absl::StripAsciiWhitespace(part);
    size_t eq = part.find('=');
    if (eq != absl::string_view::npos) fields[std::string(part.substr(0, eq))] = std::string(part.substr(eq + 1));
  }
  std::vector<std::string> scope = absl::StrSplit(fields["Credential"], '/');
  if (scope.size() != 5 || scope[4] != request_type) {
    Fail(res, 400, "AuthorizationHeaderMalformed", "bad credential scope '" + fields["Credential"] + "'");
    return false;
  }
  auto secret = hmac_keys.find(scope[0]);
  if (secret == hmac_keys.end()) {
    Fail(res, 403, "InvalidAccessKeyId", "no such HMAC key: " + scope[0]);
    return false;
  }
  const std::string when = Header(req, date_header);
  absl::Time t;
  std::string err;
  // "%Y" would swallow all eight digits of "YYYYMMDD": split the date first.
  const bool parsed = when.size() == 16 &&
                      absl::ParseTime("%Y-%m-%dT%H%M%SZ",
                                      absl::StrCat(when.substr(0, 4), "-", when.substr(4, 2), "-", when.substr(6)),
                                      absl::UTCTimeZone(), &t, &err);
  if (!parsed || when.substr(0, 8) != scope[1]) {
    Fail(res, 400, "AuthorizationHeaderMalformed", "bad or missing " + date_header + " '" + when + "'");
    return false;
  }
  if (absl::AbsDuration(absl::Now() - t) > absl::Minutes(15)) {
    Fail(res, 403, "RequestTimeTooSkewed", "request time " + when + " is more than 15 minutes off");
    return false;
  }
  // Canonical request.
  const std::string target = req.target;
  const size_t q = target.find('?');
  const std::string path = target.substr(0, q);
  std::vector<std::pair<std::string, std::string>> params;
  if (q != std::string::npos) {
    for (absl::string_view kv : absl::StrSplit(absl::string_view(target).substr(q + 1), '&', absl::SkipEmpty())) {
      size_t eq = kv.find('=');
      std::string k = httplib::detail::decode_url(std::string(kv.substr(0, eq)), false);
      std::string v = eq == absl::string_view::npos ? "" : httplib::detail::decode_url(std::string(kv.substr(eq + 1)), false);
      params.emplace_back(UriEncode(k, false), UriEncode(v, false));
    }
  }
  std::sort(params.begin(), params.end());
  std::vector<std::string> query_parts;
  for (auto& [k, v] : params) query_parts.push_back(k + "=" + v);
  std::string canonical_headers;
  std::vector<std::string> signed_names = absl::StrSplit(fields["SignedHeaders"], ';');
  bool host_signed = false;
  for (const std::string& name : signed_names) {
    host_signed |= name == "host";
    std::string value(absl::StripAsciiWhitespace(Header(req, name)));
    // cpp-httplib 0.11 percent-decodes header values; the copy source was sent encoded (RFC 3986,
    // '/' kept, as the gs:// adapter and the GCS tools encode it): encode it back to what was signed.
    if (name == "x-goog-copy-source" || name == "x-amz-copy-source") value = UriEncode(value, true);
    // Sequential spaces collapse to one.
    std::string collapsed;
    for (char c : value) {
      if (c == ' ' && !collapsed.empty() && collapsed.back() == ' ') continue;
      collapsed.push_back(c);
    }
    absl::StrAppend(&canonical_headers, name, ":", collapsed, "\n");
  }
  if (!host_signed) {
    Fail(res, 400, "AuthorizationHeaderMalformed", "the host header must be signed");
    return false;
  }
  std::string payload = Header(req, "x-goog-content-sha256");
  if (payload.empty()) payload = Header(req, "x-amz-content-sha256");
  if (payload.empty()) payload = "UNSIGNED-PAYLOAD";
  if (payload != "UNSIGNED-PAYLOAD" && payload != Sha256Hex(req.body)) {
    Fail(res, 400, "BadDigest", "the content SHA-256 does not match the body");
    return false;
  }
  const std::string canonical = absl::StrCat(req.method, "\n", path, "\n", absl::StrJoin(query_parts, "&"), "\n",
                                             canonical_headers, "\n", fields["SignedHeaders"], "\n", payload);
  const std::string to_sign =
      absl::StrCat(algorithm, "\n", when, "\n", absl::StrJoin(std::vector<std::string>(scope.begin() + 1, scope.end()), "/"),
                   "\n", Sha256Hex(canonical));
  std::string key = HmacSha256(key_prefix + secret->second, scope[1]);
  key = HmacSha256(key, scope[2]);
  key = HmacSha256(key, scope[3]);
  key = HmacSha256(key, scope[4]);
  if (HexLower(HmacSha256(key, to_sign)) != fields["Signature"]) {
    Fail(res, 403, "SignatureDoesNotMatch",
         "The request signature we calculated does not match the signature you provided. String to sign: " + to_sign +
             "\nCanonical request: " + canonical);
    return false;
  }
  return true;
}

// "/bucket/key" (decoded) -> bucket, key.
std::pair<std::string, std::string> Split(const std::string& path) {
  std::string p = path.substr(1);
  size_t slash = p.find('/');
  if (slash == std::string::npos) return {p, ""};
  return {p.substr(0, slash), p.substr(slash + 1)};
}

void ObjectHeaders(httplib::Response& res, const Object& o) {
  res.set_header("ETag", o.etag);
  res.set_header("Last-Modified", HttpDate(o.mtime_ms));
  res.set_header("x-goog-generation", std::to_string(o.generation));
  res.set_header("x-goog-metageneration", "1");
  res.set_header("x-goog-stored-content-length", std::to_string(o.data.size()));
  res.set_header("x-goog-hash", "md5=" + cistern::ufs::Md5Base64(o.data));
  res.set_header("Accept-Ranges", "bytes");
}

// Generation and ETag preconditions; false (and `res` filled) if one fails.
bool Preconditions(const httplib::Request& req, httplib::Response& res, const Object* existing) {
  const std::string gen = Header(req, "x-goog-if-generation-match");
  if (!gen.empty()) {
    const std::string have = existing ? std::to_string(existing->generation) : "0";
    if (gen != have) {
      Fail(res, 412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold.");
      return false;
    }
  }
  const std::string if_match = Header(req, "If-Match");
  if (!if_match.empty() && (existing == nullptr || if_match != existing->etag)) {
    Fail(res, 412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold.");
    return false;
  }
  return true;
}

void ListObjects(const httplib::Request& req, httplib::Response& res, const std::map<std::string, Object>& objects,
                 const std::string& bucket) {
  const std::string prefix = req.get_param_value("prefix");
  const std::string delimiter = req.get_param_value("delimiter");
  int64_t max_keys = 1000;
  if (req.has_param("max-keys") && (!absl::SimpleAtoi(req.get_param_value("max-keys"), &max_keys) || max_keys < 0)) {
    Fail(res, 400, "InvalidArgument", "bad max-keys");
    return;
  }
  max_keys = std::min<int64_t>(max_keys, 1000);
  // The continuation token is the last key or common prefix of the previous page, base64.
  std::string after = req.get_param_value("start-after");
  if (req.has_param("continuation-token")) {
    auto decoded = cistern::ufs::Base64Decode(req.get_param_value("continuation-token"));
    if (!decoded) {
      Fail(res, 400, "InvalidArgument", "The continuation token provided is incorrect");
      return;
    }
    after = *decoded;
  }
  // A page that ended on a common prefix continues after every key under it.
  const std::string skip_under = !delimiter.empty() && absl::EndsWith(after, delimiter) ? after : "";
  std::string contents, prefixes, last;
  int64_t count = 0;
  bool truncated = false;
  for (auto it = after.empty() ? objects.lower_bound(prefix) : objects.upper_bound(after); it != objects.end(); ++it) {
    const std::string& key = it->first;
    if (!absl::StartsWith(key, prefix)) break;
    // Skip the rest of a common prefix already returned.
    if (!skip_under.empty() && absl::StartsWith(key, skip_under)) continue;
    std::string common;
    if (!delimiter.empty()) {
      size_t d = key.find(delimiter, prefix.size());
      if (d != std::string::npos) common = key.substr(0, d + delimiter.size());
    }
    if (!common.empty() && common == last) continue;
    if (count == max_keys) {
      truncated = true;
      break;
    }
    if (!common.empty()) {
      absl::StrAppend(&prefixes, "<CommonPrefixes><Prefix>", XmlEscape(common), "</Prefix></CommonPrefixes>");
      last = common;
    } else {
      const Object& o = it->second;
      absl::StrAppend(&contents, "<Contents><Key>", XmlEscape(key), "</Key><Generation>", o.generation,
                      "</Generation><MetaGeneration>1</MetaGeneration><LastModified>", IsoDate(o.mtime_ms),
                      "</LastModified><ETag>", XmlEscape(o.etag), "</ETag><Size>", o.data.size(),
                      "</Size><StorageClass>STANDARD</StorageClass></Contents>");
      last = key;
    }
    count++;
  }
  std::string body = absl::StrCat("<?xml version='1.0' encoding='UTF-8'?><ListBucketResult xmlns='http://doc.s3.amazonaws.com/2006-03-01'><Name>",
                                  XmlEscape(bucket), "</Name><Prefix>", XmlEscape(prefix), "</Prefix><KeyCount>", count,
                                  "</KeyCount><MaxKeys>", max_keys, "</MaxKeys>",
                                  delimiter.empty() ? "" : absl::StrCat("<Delimiter>", XmlEscape(delimiter), "</Delimiter>"),
                                  "<IsTruncated>", truncated ? "true" : "false", "</IsTruncated>",
                                  truncated ? absl::StrCat("<NextContinuationToken>", Base64Encode(last), "</NextContinuationToken>") : "",
                                  contents, prefixes, "</ListBucketResult>");
  res.set_content(body, "application/xml; charset=UTF-8");
}

void Handle(const httplib::Request& req, httplib::Response& res) {
  // Ranges are served here (and errors answered whole): stop cpp-httplib from slicing the
  // response again by the Range it parsed. The request object is the server's own, not const.
  const_cast<httplib::Request&>(req).ranges.clear();
  if (!Authenticate(req, res)) return;
  auto [bucket, key] = Split(req.path);
  std::lock_guard<std::mutex> lock(state.mu);
  auto b = state.buckets.find(bucket);
  if (bucket.empty() || b == state.buckets.end()) {
    Fail(res, 404, "NoSuchBucket", "The specified bucket does not exist.");
    return;
  }
  auto& objects = b->second;
  const std::string& m = req.method;
  if (key.empty()) {
    if (m == "HEAD") return;
    if (m == "GET" && req.has_param("uploads")) {
      std::string body = "<?xml version='1.0' encoding='UTF-8'?><ListMultipartUploadsResult>";
      for (auto& [id, u] : state.uploads) {
        if (u.bucket == bucket) absl::StrAppend(&body, "<Upload><Key>", XmlEscape(u.key), "</Key><UploadId>", id, "</UploadId></Upload>");
      }
      res.set_content(body + "</ListMultipartUploadsResult>", "application/xml");
      return;
    }
    if (m == "GET") {
      if (req.get_param_value("list-type") != "2") {
        Fail(res, 400, "InvalidArgument", "this server implements ListObjectsV2 (list-type=2) only");
        return;
      }
      ListObjects(req, res, objects, bucket);
      return;
    }
    Fail(res, 405, "MethodNotAllowed", "The specified method is not allowed against this resource.");
    return;
  }
  auto found = objects.find(key);
  const Object* existing = found == objects.end() ? nullptr : &found->second;
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());

  if (m == "POST" && req.has_param("uploads")) {
    const std::string id = absl::StrCat("upload-", state.next_upload++);
    state.uploads[id] = Upload{bucket, key, {}};
    res.set_content(absl::StrCat("<?xml version='1.0' encoding='UTF-8'?><InitiateMultipartUploadResult><Bucket>",
                                 XmlEscape(bucket), "</Bucket><Key>", XmlEscape(key), "</Key><UploadId>", id,
                                 "</UploadId></InitiateMultipartUploadResult>"),
                    "application/xml");
    return;
  }
  if (req.has_param("uploadId")) {
    auto u = state.uploads.find(req.get_param_value("uploadId"));
    if (u == state.uploads.end() || u->second.bucket != bucket || u->second.key != key) {
      Fail(res, 404, "NoSuchUpload", "The specified multipart upload does not exist.");
      return;
    }
    if (m == "PUT") {
      int part = 0;
      if (!absl::SimpleAtoi(req.get_param_value("partNumber"), &part) || part < 1 || part > 10000) {
        Fail(res, 400, "InvalidArgument", "bad partNumber");
        return;
      }
      const std::string etag = "\"" + Md5Hex(req.body) + "\"";
      u->second.parts[part] = {req.body, etag};
      res.set_header("ETag", etag);
      return;
    }
    if (m == "DELETE") {
      state.uploads.erase(u);
      res.status = 204;
      return;
    }
    if (m == "POST") {
      pugi::xml_document doc;
      if (!doc.load_buffer(req.body.data(), req.body.size())) {
        Fail(res, 400, "MalformedXML", "The XML you provided was not well-formed.");
        return;
      }
      std::string data, md5s;
      int expected = 0, count = 0;
      std::vector<pugi::xml_node> parts;
      for (pugi::xml_node p : doc.child("CompleteMultipartUpload").children("Part")) parts.push_back(p);
      for (size_t i = 0; i < parts.size(); ++i) {
        int number = parts[i].child("PartNumber").text().as_int();
        std::string etag = parts[i].child("ETag").text().as_string();
        if (number <= expected) {
          Fail(res, 400, "InvalidPartOrder", "The list of parts was not in ascending order.");
          return;
        }
        expected = number;
        auto have = u->second.parts.find(number);
        if (have == u->second.parts.end() || have->second.second != etag) {
          Fail(res, 400, "InvalidPart", absl::StrCat("part ", number, " was not uploaded or its ETag differs"));
          return;
        }
        if (i + 1 < parts.size() && static_cast<int64_t>(have->second.first.size()) < min_part_size) {
          Fail(res, 400, "EntityTooSmall", absl::StrCat("part ", number, " is smaller than the minimum part size"));
          return;
        }
        data += have->second.first;
        md5s += *cistern::ufs::Base64Decode(cistern::ufs::Md5Base64(have->second.first));
        count++;
      }
      if (count == 0) {
        Fail(res, 400, "MalformedXML", "no parts");
        return;
      }
      if (!Preconditions(req, res, existing)) return;
      Object o{std::move(data), state.next_generation++, absl::StrCat("\"", Md5Hex(md5s), "-", count, "\""), now_ms,
               "application/octet-stream"};
      const std::string etag = o.etag;
      objects[key] = std::move(o);
      state.uploads.erase(u);
      res.set_content(absl::StrCat("<?xml version='1.0' encoding='UTF-8'?><CompleteMultipartUploadResult><Bucket>",
                                   XmlEscape(bucket), "</Bucket><Key>", XmlEscape(key), "</Key><ETag>", XmlEscape(etag),
                                   "</ETag></CompleteMultipartUploadResult>"),
                      "application/xml");
      return;
    }
  }
  if (m == "GET" || m == "HEAD") {
    if (existing == nullptr) {
      Fail(res, 404, "NoSuchKey", "The specified key does not exist.");
      return;
    }
    if (!Preconditions(req, res, existing)) return;
    ObjectHeaders(res, *existing);
    const int64_t size = static_cast<int64_t>(existing->data.size());
    const std::string range = Header(req, "Range");
    if (range.empty()) {
      res.set_content(existing->data, existing->content_type.c_str());
      return;
    }
    // One range: bytes=A-B, bytes=A-, bytes=-N.
    int64_t first = 0, last = size - 1;
    std::string spec = absl::StartsWith(range, "bytes=") ? range.substr(6) : "";
    size_t dash = spec.find('-');
    bool ok = dash != std::string::npos && spec.find(',') == std::string::npos;
    if (ok && dash == 0) {
      int64_t n = 0;
      ok = absl::SimpleAtoi(spec.substr(1), &n) && n > 0;
      first = std::max<int64_t>(0, size - n);
    } else if (ok) {
      ok = absl::SimpleAtoi(spec.substr(0, dash), &first);
      if (ok && dash + 1 < spec.size()) ok = absl::SimpleAtoi(spec.substr(dash + 1), &last) && last >= first;
      last = std::min(last, size - 1);
    }
    if (!ok || first >= size) {
      res.set_header("Content-Range", absl::StrCat("bytes */", size));
      Fail(res, 416, "InvalidRange", "The requested range cannot be satisfied.");
      return;
    }
    res.status = 206;
    res.set_header("Content-Range", absl::StrCat("bytes ", first, "-", last, "/", size));
    res.set_content(existing->data.substr(first, last - first + 1), existing->content_type.c_str());
    return;
  }
  if (m == "PUT") {
    std::string data = req.body;
    const std::string copy_source = Header(req, "x-goog-copy-source");
    if (!copy_source.empty()) {
      // Already percent-decoded by cpp-httplib (see Authenticate).
      auto [src_bucket, src_key] = Split(copy_source[0] == '/' ? copy_source : "/" + copy_source);
      auto sb = state.buckets.find(src_bucket);
      if (sb == state.buckets.end()) {
        Fail(res, 404, "NoSuchBucket", "The specified bucket does not exist.");
        return;
      }
      auto so = sb->second.find(src_key);
      if (so == sb->second.end()) {
        Fail(res, 404, "NoSuchKey", "The specified key does not exist.");
        return;
      }
      data = so->second.data;
    }
    if (!Preconditions(req, res, existing)) return;
    std::string type = Header(req, "Content-Type");
    Object o{std::move(data), state.next_generation++, "", now_ms, type.empty() ? "application/octet-stream" : type};
    o.etag = "\"" + Md5Hex(o.data) + "\"";
    res.set_header("ETag", o.etag);
    res.set_header("x-goog-generation", std::to_string(o.generation));
    if (!copy_source.empty()) {
      res.set_content(absl::StrCat("<?xml version='1.0' encoding='UTF-8'?><CopyObjectResult><LastModified>",
                                   IsoDate(now_ms), "</LastModified><ETag>", XmlEscape(o.etag),
                                   "</ETag></CopyObjectResult>"),
                      "application/xml");
    }
    objects[key] = std::move(o);
    return;
  }
  if (m == "DELETE") {
    if (existing == nullptr) {
      Fail(res, 404, "NoSuchKey", "The specified key does not exist.");
      return;
    }
    if (!Preconditions(req, res, existing)) return;
    objects.erase(found);
    res.status = 204;
    return;
  }
  Fail(res, 405, "MethodNotAllowed", "The specified method is not allowed against this resource.");
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--port") {
      port = std::atoi(value.c_str());
    } else if (flag == "--hmac") {
      size_t colon = value.find(':');
      if (colon == std::string::npos) {
        std::cerr << "--hmac wants ID:SECRET\n";
        return 2;
      }
      hmac_keys[value.substr(0, colon)] = value.substr(colon + 1);
    } else if (flag == "--bearer") {
      bearer_tokens.insert(value);
    } else if (flag == "--bucket") {
      state.buckets[value];
    } else if (flag == "--min-part-size") {
      min_part_size = std::atoll(value.c_str());
    } else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (port <= 0) {
    std::cerr << "usage: gcs_test_server --port N [--hmac ID:SECRET]... [--bearer TOKEN]... [--bucket NAME]...\n";
    return 2;
  }
  httplib::Server server;
  server.set_keep_alive_max_count(1000);
  server.set_tcp_nodelay(true);  // else Nagle + delayed ACKs cost 40 ms per response
  server.set_payload_max_length(1LL << 32);
  server.Get(".*", Handle);
  server.Put(".*", Handle);
  server.Post(".*", Handle);
  server.Delete(".*", Handle);
  if (!server.bind_to_port("127.0.0.1", port)) {
    std::cerr << "cannot listen on 127.0.0.1:" << port << "\n";
    return 1;
  }
  std::cout << "ready" << std::endl;
  server.listen_after_bind();
  return 0;
}
