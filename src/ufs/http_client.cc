#include "ufs/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spdlog/spdlog.h"

namespace cistern::ufs {
namespace {

struct Transfer {
  CURL* curl = nullptr;
  const HttpRequest* request = nullptr;
  HttpResponse* response = nullptr;
  bool overflow = false;
  bool stopped_full = false;
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    t->response->headers.clear();  // a new response (after 100 Continue or a redirect)
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name = absl::AsciiStrToLower(absl::string_view(line.data(), colon));
    absl::string_view value = absl::StripAsciiWhitespace(absl::string_view(line.data() + colon + 1, line.size() - colon - 1));
    t->response->headers[name] = std::string(value);
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * n;
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  if (t->request->sink != nullptr && status >= 200 && status < 300) {
    if (t->response->sink_bytes + static_cast<int64_t>(bytes) > t->request->sink_capacity) {
      if (t->request->stop_when_full) {
        const int64_t room = t->request->sink_capacity - t->response->sink_bytes;
        std::memcpy(t->request->sink + t->response->sink_bytes, data, static_cast<size_t>(room));
        t->response->sink_bytes += room;
        t->stopped_full = true;
      } else {
        t->overflow = true;
      }
      return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
    }
    std::memcpy(t->request->sink + t->response->sink_bytes, data, bytes);
    t->response->sink_bytes += static_cast<int64_t>(bytes);
  } else {
    t->response->body.append(data, bytes);
  }
  return bytes;
}

bool RetryableCurlError(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

HttpClient::HttpClient(HttpOptions options) : options_(std::move(options)) { GlobalInit(); }

HttpClient::~HttpClient() {
  absl::MutexLock lock(&mu_);
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* HttpClient::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      return h;
    }
  }
  return curl_easy_init();
}

void HttpClient::Release(void* handle) {
  // curl_easy_reset keeps the handle's connection cache, which is what makes reuse pay.
  curl_easy_reset(static_cast<CURL*>(handle));
  absl::MutexLock lock(&mu_);
  if (idle_.size() < options_.max_idle_handles) {
    idle_.push_back(handle);
    return;
  }
  curl_easy_cleanup(static_cast<CURL*>(handle));
}

bool HttpClient::DefaultRetryable(long status) {
  return status == 500 || status == 502 || status == 503 || status == 504 || status == 429;
}

absl::StatusOr<HttpResponse> HttpClient::SendOnce(const HttpRequest& request) {
  CURL* curl = static_cast<CURL*>(Acquire());
  if (curl == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");
  HttpResponse response;
  Transfer transfer{curl, &request, &response, false};
  char error[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  for (const std::string& h : request.headers) headers = curl_slist_append(headers, h.c_str());

  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_ms));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, std::max<long>(1, static_cast<long>(options_.stall_timeout_ms / 1000)));
  if (options_.request_timeout_ms > 0) curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout_ms));
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  // A server that does not answer "Expect: 100-continue" costs only this long per upload.
  curl_easy_setopt(curl, CURLOPT_EXPECT_100_TIMEOUT_MS, 200L);
  if (!options_.aws_sigv4.empty()) {
    curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, options_.aws_sigv4.c_str());
    curl_easy_setopt(curl, CURLOPT_USERPWD, options_.user_pwd.c_str());
  }
  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT" || request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data() != nullptr ? request.body.data() : "");
    if (request.method == "PUT") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

  CURLcode code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  curl_slist_free_all(headers);
  Release(curl);
  if (code == CURLE_WRITE_ERROR && transfer.stopped_full) code = CURLE_OK;
  if (code != CURLE_OK) {
    std::string what = absl::StrCat(request.method, " ", request.url, ": ",
                                    error[0] != '\0' ? error : curl_easy_strerror(code), " (curl error ",
                                    static_cast<int>(code), ")");
    if (transfer.overflow) {
      return absl::OutOfRangeError(absl::StrCat(what, ": response body longer than the ", request.sink_capacity,
                                                " bytes asked for"));
    }
    if (code == CURLE_OPERATION_TIMEDOUT) return absl::DeadlineExceededError(what);
    if (RetryableCurlError(code)) return absl::UnavailableError(what);
    if (code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL) return absl::InvalidArgumentError(what);
    return absl::InternalError(what);
  }
  return response;
}

absl::StatusOr<HttpResponse> HttpClient::Send(const HttpRequest& request,
                                              const std::function<bool(const HttpResponse&)>& retryable) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  absl::Status last_error;
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<HttpResponse> response = SendOnce(request);
    bool retry;
    if (response.ok()) {
      response->attempts = attempt;
      retry = retryable ? retryable(*response) : DefaultRetryable(response->status);
    } else {
      retry = absl::IsUnavailable(response.status()) || absl::IsDeadlineExceeded(response.status());
    }
    const int max_attempts = request.max_attempts > 0 ? request.max_attempts : options_.max_attempts;
    if (!retry || attempt >= max_attempts) {
      if (!response.ok() && attempt > 1) {
        return absl::Status(response.status().code(),
                            absl::StrCat(response.status().message(), " (after ", attempt, " attempts)"));
      }
      return response;
    }
    // Jitter: a random wait between a quarter of and the whole of an exponentially growing cap,
    // so clients throttled together do not retry together.
    const int64_t cap = std::min<int64_t>(options_.retry_max_ms, options_.retry_base_ms << std::min(attempt - 1, 20));
    const int64_t wait_ms = std::uniform_int_distribution<int64_t>(cap / 4, std::max<int64_t>(cap, 1))(rng);
    spdlog::debug("http retry {} of {} {} in {} ms: {}", attempt, request.method, request.url, wait_ms,
                  response.ok() ? absl::StrCat("HTTP ", response->status) : response.status().ToString());
    absl::SleepFor(absl::Milliseconds(wait_ms));
  }
}

absl::StatusCode HttpStatusToCode(long status) {
  switch (status) {
    case 400: return absl::StatusCode::kInvalidArgument;
    case 401: case 403: return absl::StatusCode::kPermissionDenied;
    case 404: return absl::StatusCode::kNotFound;
    case 405: case 501: return absl::StatusCode::kUnimplemented;
    case 409: return absl::StatusCode::kAborted;
    case 412: return absl::StatusCode::kFailedPrecondition;
    case 416: return absl::StatusCode::kOutOfRange;
    case 429: case 500: case 502: case 503: case 504: return absl::StatusCode::kUnavailable;
    default: return absl::StatusCode::kUnknown;
  }
}

std::string UrlEncode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (unsigned char c : text) {
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

}  // namespace cistern::ufs
