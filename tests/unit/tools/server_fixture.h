// A ControlServer on a temporary socket, driven by its own io_context thread,
// plus a raw client for the byte-level cases request() cannot produce.
#pragma once

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "control/socket.h"

namespace hafw::test {

// mkdtemp under TMPDIR; removed with everything in it.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "hafw-ctl-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

struct ServerThread {
  boost::asio::io_context io;
  std::unique_ptr<control::ControlServer> server;
  std::thread thread;

  ServerThread(const std::string& path, control::Handler h)
      : server(std::make_unique<control::ControlServer>(io, path, std::move(h))) {
    thread = std::thread([this] { io.run(); });
  }
  // Stops the loop first, so stats() and the handler's captures are read
  // only by this thread afterwards.
  void stop() {
    if (thread.joinable()) {
      io.stop();
      thread.join();
    }
  }
  ~ServerThread() {
    stop();
    server.reset();
  }
};

class RawClient {
 public:
  explicit RawClient(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path.data(), path.size());
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
      throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
    // A test that would hang fails instead.
    timeval tv{.tv_sec = 10, .tv_usec = 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~RawClient() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Sends as much as the peer takes; a peer that hangs up early is not an error here.
  void send(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }
  // The next line without its '\n'; "<eof>" if the server hung up first.
  std::string line() {
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string l = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return l;
      }
      char b[4096];
      ssize_t n = ::recv(fd_, b, sizeof(b), 0);
      if (n <= 0) return "<eof>";
      buf_.append(b, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  std::string buf_;
};

}  // namespace hafw::test
