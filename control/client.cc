// Control socket client: plain POSIX, blocking with one deadline.
#include "control/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>
#include <utility>

namespace hafw::control {

namespace {

using Clock = std::chrono::steady_clock;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
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

// What read_line returns when the deadline passes (not valid JSON, so never
// a line the daemon sent).
const std::string kTimedOut = "\x01timed out";

// The next line without its '\n' (`in` keeps what follows), nullopt when
// the daemon closed the connection first. No deadline: wait as long as it takes.
std::optional<std::string> read_line(const Fd& fd, const std::string& where,
                                     std::optional<Clock::time_point> deadline, std::string& in) {
  size_t scanned = 0;
  for (;;) {
    if (auto nl = in.find('\n', scanned); nl != std::string::npos) {
      std::string line = in.substr(0, nl);
      in.erase(0, nl + 1);
      return line;
    }
    scanned = in.size();
    if (in.size() > kMaxReply) throw std::runtime_error("reply from " + where + " is too large");
    char buf[65536];
    ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n > 0) {
      in.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return std::nullopt;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!deadline) {
        pollfd p{.fd = fd.get(), .events = POLLIN, .revents = 0};
        if (::poll(&p, 1, -1) < 0 && errno != EINTR)
          throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
      } else if (!wait_for(fd.get(), POLLIN, *deadline)) {
        return kTimedOut;
      }
      continue;
    }
    throw std::runtime_error("reading from " + where + ": " + std::strerror(errno));
  }
}

// Sends the request and reads its reply line; `in` keeps what came after it.
nlohmann::json exchange(const Fd& fd, const std::string& where, std::string_view cmd, const nlohmann::json& args,
                        Clock::time_point deadline, std::chrono::milliseconds timeout, std::string& in) {
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

  std::optional<std::string> line = read_line(fd, where, deadline, in);
  if (!line) {
    if (send_error) throw std::runtime_error("sending to " + where + ": " + std::strerror(send_error));
    throw std::runtime_error(where + " closed the connection without a reply");
  }
  if (*line == kTimedOut)
    throw std::runtime_error("no reply from " + where + " within " + std::to_string(timeout.count()) + " ms");
  nlohmann::json reply = nlohmann::json::parse(*line, nullptr, /*allow_exceptions=*/false);
  if (reply.is_discarded() || !reply.is_object() || !reply.contains("ok") || !reply["ok"].is_boolean())
    throw std::runtime_error("malformed reply from " + where);
  if (!reply["ok"].get<bool>()) {
    const auto& e = reply.value("error", nlohmann::json());
    throw RemoteError(e.is_string() ? e.get<std::string>() : std::string("error without a message"));
  }
  return reply.value("result", nlohmann::json());
}

Fd connect_to(const std::string& socket_path, Clock::time_point deadline) {
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
  return fd;
}

}  // namespace

nlohmann::json request(const std::string& socket_path, std::string_view cmd, const nlohmann::json& args,
                       std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  Fd fd = connect_to(socket_path, deadline);
  std::string in;
  return exchange(fd, "hafwd on " + socket_path, cmd, args, deadline, timeout, in);
}

[[noreturn]] void follow(const std::string& socket_path, std::string_view cmd, const nlohmann::json& args,
            std::chrono::milliseconds timeout, const std::function<void(const nlohmann::json&)>& on_result,
            const std::function<void(const nlohmann::json&)>& on_item) {
  const std::string where = "hafwd on " + socket_path;
  std::string in;
  Fd fd = connect_to(socket_path, Clock::now() + timeout);
  on_result(exchange(fd, where, cmd, args, Clock::now() + timeout, timeout, in));
  for (;;) {
    std::optional<std::string> line = read_line(fd, where, std::nullopt, in);
    if (!line) throw std::runtime_error(where + " closed the connection");
    nlohmann::json item = nlohmann::json::parse(*line, nullptr, /*allow_exceptions=*/false);
    if (item.is_discarded()) throw std::runtime_error("malformed line from " + where);
    on_item(item);
  }
}

}  // namespace hafw::control
