// Control socket client: plain POSIX, blocking with one deadline.
#include "control/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace hafw::control {

namespace {

using Clock = std::chrono::steady_clock;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Waits for `events` on fd until the deadline; false on timeout.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{.fd = fd, .events = events, .revents = 0};
    int rc = ::poll(&p, 1, static_cast<int>(left));
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
  }
}

std::string connect_hint(int err) {
  switch (err) {
    case ENOENT:
    case ECONNREFUSED:
      return " (is hafwd running?)";
    case EACCES:
    case EPERM:
      return " (the control socket is mode 0600: run as the daemon's user)";
    default:
      return "";
  }
}

}  // namespace

nlohmann::json request(const std::string& socket_path, std::string_view cmd, const nlohmann::json& args,
                       std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const std::string where = "hafwd on " + socket_path;

  sockaddr_un sa{};
  if (socket_path.empty()) throw std::runtime_error("control socket path is empty");
  if (socket_path.size() >= sizeof(sa.sun_path))
    throw std::runtime_error("control socket path " + socket_path + " is too long");
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, socket_path.data(), socket_path.size());

  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  for (;;) {
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) == 0) break;
    int err = errno;
    if (err == EINTR) continue;
    // EAGAIN: the daemon's accept backlog is full. It is alive, just busy.
    if (err == EAGAIN && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    throw std::runtime_error("cannot connect to " + socket_path + ": " + std::strerror(err) + connect_hint(err));
  }

  std::string out = nlohmann::json{{"cmd", cmd}, {"args", args}}.dump(
                        -1, ' ', false, nlohmann::json::error_handler_t::replace) +
                    '\n';
  size_t sent = 0;
  // A daemon that refuses us (too many clients) says why and hangs up before
  // reading: on EPIPE, stop sending and read the explanation it left.
  int send_error = 0;
  while (sent < out.size() && send_error == 0) {
    ssize_t n = ::send(fd.get(), out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_for(fd.get(), POLLOUT, deadline))
        throw std::runtime_error(where + " did not take the request within " + std::to_string(timeout.count()) +
                                 " ms");
      continue;
    }
    send_error = errno;
    if (send_error != EPIPE && send_error != ECONNRESET)
      throw std::runtime_error("sending to " + where + ": " + std::strerror(send_error));
  }

  std::string in;
  size_t scanned = 0;
  for (;;) {
    if (auto nl = in.find('\n', scanned); nl != std::string::npos) {
      in.resize(nl);
      break;
    }
    scanned = in.size();
    if (in.size() > kMaxReply) throw std::runtime_error("reply from " + where + " is too large");
    char buf[65536];
    ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n > 0) {
      in.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      if (send_error) throw std::runtime_error("sending to " + where + ": " + std::strerror(send_error));
      throw std::runtime_error(where + " closed the connection without a reply");
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_for(fd.get(), POLLIN, deadline))
        throw std::runtime_error("no reply from " + where + " within " + std::to_string(timeout.count()) + " ms");
      continue;
    }
    throw std::runtime_error("reading from " + where + ": " + std::strerror(errno));
  }

  nlohmann::json reply = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (reply.is_discarded() || !reply.is_object() || !reply.contains("ok") || !reply["ok"].is_boolean())
    throw std::runtime_error("malformed reply from " + where);
  if (!reply["ok"].get<bool>()) {
    const auto& e = reply.value("error", nlohmann::json());
    throw RemoteError(e.is_string() ? e.get<std::string>() : std::string("error without a message"));
  }
  return reply.value("result", nlohmann::json());
}

}  // namespace hafw::control
