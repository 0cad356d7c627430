#include "tests/ufs/fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace cistern::ufs::testing {
namespace {

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads more bytes into `buf`; false at EOF or error.
bool ReadMore(int fd, std::string& buf) {
  char tmp[65536];
  ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
  if (n <= 0) return false;
  buf.append(tmp, static_cast<size_t>(n));
  return true;
}

struct Head {
  std::string text;  // up to and including the blank line
  std::string first_line;
  int64_t content_length = -1;
  bool chunked = false;
  bool expect_continue = false;
  int status = 0;  // responses
};

// Splits one message head off the front of `buf`, reading from `fd` as needed.
bool ReadHead(int fd, std::string& buf, Head& head) {
  size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    if (!ReadMore(fd, buf)) return false;
  }
  head = Head{};
  head.text = buf.substr(0, end + 4);
  buf.erase(0, end + 4);
  std::vector<std::string> lines = absl::StrSplit(head.text, "\r\n");
  head.first_line = lines[0];
  if (absl::StartsWith(head.first_line, "HTTP/")) {
    std::vector<std::string> parts = absl::StrSplit(head.first_line, ' ');
    if (parts.size() > 1) (void)absl::SimpleAtoi(parts[1], &head.status);
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    std::string name = absl::AsciiStrToLower(lines[i].substr(0, colon));
    std::string value(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
    if (name == "content-length") (void)absl::SimpleAtoi(value, &head.content_length);
    if (name == "transfer-encoding" && absl::AsciiStrToLower(value).find("chunked") != std::string::npos) head.chunked = true;
    if (name == "expect" && absl::AsciiStrToLower(value) == "100-continue") head.expect_continue = true;
  }
  return true;
}

bool ReadBody(int fd, std::string& buf, int64_t length, std::string& body) {
  while (static_cast<int64_t>(buf.size()) < length) {
    if (!ReadMore(fd, buf)) return false;
  }
  body = buf.substr(0, static_cast<size_t>(length));
  buf.erase(0, static_cast<size_t>(length));
  return true;
}

// A chunked body, kept encoded, through its terminating chunk.
bool ReadChunked(int fd, std::string& buf, std::string& body) {
  size_t pos = 0;
  while (true) {
    size_t eol;
    while ((eol = buf.find("\r\n", pos)) == std::string::npos) {
      if (!ReadMore(fd, buf)) return false;
    }
    int64_t size = 0;
    std::string hex = buf.substr(pos, eol - pos);
    hex = hex.substr(0, hex.find(';'));
    if (!absl::SimpleHexAtoi(hex, &size)) return false;
    size_t need = eol + 2 + static_cast<size_t>(size) + 2;
    while (buf.size() < need) {
      if (!ReadMore(fd, buf)) return false;
    }
    pos = need;
    if (size == 0) break;
  }
  body = buf.substr(0, pos);
  buf.erase(0, pos);
  return true;
}

// Headers and bodies go out in separate writes: without TCP_NODELAY, Nagle and delayed ACKs
// add 40 ms to every response.
void NoDelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int ConnectLocal(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  NoDelay(fd);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

FaultProxy::FaultProxy(int upstream_port) : upstream_port_(upstream_port) {}

FaultProxy::~FaultProxy() { Stop(); }

absl::Status FaultProxy::Start() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(listen_fd_, 64) != 0) {
    return absl::InternalError(absl::StrCat("fault proxy: bind/listen: ", std::strerror(errno)));
  }
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return absl::OkStatus();
}

void FaultProxy::FailNext(int n, int status, std::string code) {
  absl::MutexLock lock(&mu_);
  fail_count_ = n;
  fail_status_ = status;
  fail_code_ = std::move(code);
}

void FaultProxy::CutNextResponseAfter(int64_t bytes) {
  absl::MutexLock lock(&mu_);
  cut_after_ = bytes;
}

void FaultProxy::StallNext(int n) {
  absl::MutexLock lock(&mu_);
  stall_count_ = n;
}

void FaultProxy::Stop() {
  if (stopping_.exchange(true)) return;
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    threads.swap(connections_);
  }
  for (auto& t : threads) t.join();
}

void FaultProxy::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    NoDelay(fd);
    absl::MutexLock lock(&mu_);
    open_fds_.push_back(fd);
    connections_.emplace_back([this, fd] { Serve(fd); });
  }
}

void FaultProxy::Serve(int client) {
  std::string in;
  while (!stopping_) {
    Head req;
    if (!ReadHead(client, in, req)) break;
    if (req.expect_continue && !WriteAll(client, "HTTP/1.1 100 Continue\r\n\r\n")) break;
    std::string body;
    if (req.content_length > 0 && !ReadBody(client, in, req.content_length, body)) break;
    requests_++;
    int fail_status = 0, stall = 0;
    std::string fail_code;
    int64_t cut = -1;
    {
      absl::MutexLock lock(&mu_);
      if (stall_count_ > 0) {
        stall_count_--;
        stall = 1;
      } else if (fail_count_ > 0) {
        fail_count_--;
        fail_status = fail_status_;
        fail_code = fail_code_;
      }
    }
    if (stall) {
      while (!stopping_) absl::SleepFor(absl::Milliseconds(20));
      break;
    }
    if (fail_status != 0) {
      std::string xml = absl::StrCat("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>", fail_code,
                                     "</Code><Message>injected by the test</Message></Error>");
      const bool head_request = absl::StartsWith(req.first_line, "HEAD ");
      if (!WriteAll(client, absl::StrCat("HTTP/1.1 ", fail_status, " Injected\r\nContent-Type: application/xml\r\n",
                                         "Content-Length: ", xml.size(), "\r\n\r\n", head_request ? "" : xml))) {
        break;
      }
      continue;
    }
    int upstream = ConnectLocal(upstream_port_);
    if (upstream < 0) break;  // the server is gone: the client sees its connection close
    bool ok = WriteAll(upstream, req.text) && WriteAll(upstream, body);
    std::string up_in;
    Head resp;
    while (ok) {
      ok = ReadHead(upstream, up_in, resp);
      if (!ok || resp.status >= 200) break;  // skip the server's own 100 Continue
    }
    std::string resp_body;
    if (ok) {
      const bool no_body = absl::StartsWith(req.first_line, "HEAD ") || resp.status == 204 || resp.status == 304;
      if (no_body) {
      } else if (resp.chunked) {
        ok = ReadChunked(upstream, up_in, resp_body);
      } else if (resp.content_length >= 0) {
        ok = ReadBody(upstream, up_in, resp.content_length, resp_body);
      } else {
        while (ReadMore(upstream, up_in)) {
        }
        resp_body = std::move(up_in);
      }
    }
    ::close(upstream);
    if (!ok) break;
    {
      absl::MutexLock lock(&mu_);
      cut = cut_after_ >= 0 && static_cast<int64_t>(resp_body.size()) > cut_after_ ? cut_after_ : -1;
      if (cut >= 0) cut_after_ = -1;
    }
    if (cut >= 0) {
      WriteAll(client, resp.text);
      WriteAll(client, std::string_view(resp_body).substr(0, static_cast<size_t>(cut)));
      break;  // close mid-body
    }
    if (!WriteAll(client, resp.text) || !WriteAll(client, resp_body)) break;
  }
  ::shutdown(client, SHUT_RDWR);
  ::close(client);
  absl::MutexLock lock(&mu_);
  open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), client), open_fds_.end());
}

}  // namespace cistern::ufs::testing
