// The control socket: protocol (handle_line) and transport (ControlServer).
#include "control/socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <set>
#include <system_error>

namespace hafw::control {

namespace asio = boost::asio;
using local_stream = asio::local::stream_protocol;
using nlohmann::json;

// ---------------------------------------------------------------- protocol

nlohmann::json ControlStats::to_json() const {
  return json{
      {"requests", requests},
      {"errors", errors},
      {"bad_json", bad_json},
      {"bad_request", bad_request},
      {"command_errors", command_errors},
      {"internal_errors", internal_errors},
      {"too_long", too_long},
      {"truncated", truncated},
      {"connections", connections},
      {"refused_busy", refused_busy},
      {"refused_uid", refused_uid},
      {"request_timeouts", request_timeouts},
      {"reply_timeouts", reply_timeouts},
      {"follow_overruns", follow_overruns},
      {"active", active},
      {"following", following},
  };
}

namespace {

// nlohmann's messages start with "[json.exception.parse_error.101] "; an
// operator wants the part after it ("parse error at line 1, column 9: ...").
std::string json_message(const nlohmann::json::exception& e) {
  std::string_view w = e.what();
  if (w.starts_with("[json.exception.")) {
    if (auto end = w.find("] "); end != std::string_view::npos) w.remove_prefix(end + 2);
  }
  return std::string(w);
}

}  // namespace

nlohmann::json handle_line(std::string_view line, const Handler& handler) {
  ControlStats scratch;
  return handle_line(line, handler, scratch);
}

nlohmann::json handle_line(std::string_view line, const Handler& handler, ControlStats& stats) {
  RequestInfo info;
  return handle_line(line, handler, stats, info);
}

nlohmann::json handle_line(std::string_view line, const Handler& handler, ControlStats& stats, RequestInfo& info) {
  ++stats.requests;
  auto fail = [&stats](uint64_t& reason, std::string message) {
    ++reason;
    ++stats.errors;
    return json{{"ok", false}, {"error", std::move(message)}};
  };

  // Nesting is capped while parsing: serializing and comparing JSON recurse
  // per level, so a reply built from a client's deep args could exhaust the
  // control thread's stack.
  struct TooDeep {};
  auto depth_guard = [](int depth, json::parse_event_t, json&) {
    if (depth > kMaxDepth) throw TooDeep{};
    return true;
  };
  json request;
  try {
    request = json::parse(line, depth_guard);
  } catch (const json::parse_error& e) {
    return fail(stats.bad_json, "invalid JSON: " + json_message(e));
  } catch (const TooDeep&) {
    return fail(stats.bad_request, "request nested deeper than " + std::to_string(kMaxDepth) + " levels");
  }
  if (!request.is_object())
    return fail(stats.bad_request, std::string("request must be a JSON object, got ") + request.type_name());
  // Unknown keys are refused for the same reason the config refuses them: a
  // typo ("arg") must not silently run the command without its arguments.
  for (const auto& [key, value] : request.items()) {
    if (key != "cmd" && key != "args")
      return fail(stats.bad_request, "unknown request key '" + key + "' (a request has \"cmd\" and \"args\")");
  }
  auto cmd_it = request.find("cmd");
  if (cmd_it == request.end()) return fail(stats.bad_request, "missing \"cmd\"");
  if (!cmd_it->is_string() || cmd_it->get_ref<const std::string&>().empty())
    return fail(stats.bad_request, "\"cmd\" must be a non-empty string");
  const std::string& cmd = cmd_it->get_ref<const std::string&>();

  static const json kNoArgs = json::object();
  const json* args = &kNoArgs;
  if (auto it = request.find("args"); it != request.end()) {
    if (!it->is_object())
      return fail(stats.bad_request, std::string("\"args\" must be a JSON object, got ") + it->type_name());
    args = &*it;
  }
  info.cmd = cmd;
  if (auto f = args->find("follow"); f != args->end() && f->is_boolean()) info.follow = f->get<bool>();

  try {
    return json{{"ok", true}, {"result", handler(cmd, *args)}};
  } catch (const CommandError& e) {
    return fail(stats.command_errors, e.what());
  } catch (const json::exception& e) {
    // A handler reading args["enter"].get<bool>() from a string lands here:
    // the user's mistake, worded as such.
    return fail(stats.command_errors, "invalid arguments for '" + cmd + "': " + json_message(e));
  } catch (const std::exception& e) {
    return fail(stats.internal_errors, "internal error in '" + cmd + "': " + e.what());
  } catch (...) {
    return fail(stats.internal_errors, "internal error in '" + cmd + "'");
  }
}

std::optional<std::string> LineReader::next() {
  const size_t nl = buf_.find('\n', scanned_);
  if (nl == std::string::npos) {
    scanned_ = buf_.size();
    return std::nullopt;
  }
  if (nl > kMaxLine) return std::nullopt;  // too_long(): never a request
  std::string line = buf_.substr(0, nl);
  buf_.erase(0, nl + 1);
  scanned_ = 0;
  return line;
}

bool LineReader::too_long() const {
  // A line of exactly kMaxLine bytes still fits; its '\n' may be in the
  // next read.
  return buf_.find('\n') > kMaxLine && buf_.size() > kMaxLine;
}

std::string reply_line(const nlohmann::json& reply) {
  std::string out = reply.dump(-1, ' ', false, json::error_handler_t::replace);
  out.push_back('\n');
  return out;
}

// ---------------------------------------------------------------- transport

namespace {
struct Session;
}  // namespace

// Everything an in-flight handler touches. Sessions and the accept loop hold
// it by shared_ptr, so a handler that runs after ~ControlServer finds `closed`
// set instead of freed memory.
struct ControlServer::Core : std::enable_shared_from_this<ControlServer::Core> {
  Core(asio::io_context& io, Handler h, ServerOptions o)
      : acceptor(io), retry(io), handler(std::move(h)), options(std::move(o)) {}

  void accept();
  // Tells a client why it is turned away, then hangs up.
  void refuse(local_stream::socket& s, const std::string& why);
  // The peer's uid if it may use the socket, else the refusal's text.
  std::optional<std::string> check_peer(local_stream::socket& s);

  local_stream::acceptor acceptor;
  asio::steady_timer retry;
  Handler handler;
  ServerOptions options;
  ControlStats stats;
  std::set<Session*> sessions;
  std::set<std::string, std::less<>> feeds;
  bool closed = false;
};

namespace {

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r") == std::string_view::npos; }

// A reply or error line written without waiting: one small write into a
// socket buffer nobody else is writing to does not block.
void write_now(local_stream::socket& s, const std::string& line) {
  boost::system::error_code ignored;
  s.non_blocking(true, ignored);
  s.write_some(asio::buffer(line), ignored);
}

// One client: read a line, answer it, read the next. Reading waits for the
// write, so a client that sends without reading is held back by its own
// socket buffer rather than by our memory. Two deadlines: a request line
// begun must end within the timeout, and each reply must be taken within it.
struct Session : std::enable_shared_from_this<Session> {
  Session(std::shared_ptr<ControlServer::Core> c, local_stream::socket s)
      : core(std::move(c)), socket(std::move(s)), read_deadline(socket.get_executor()),
        write_deadline(socket.get_executor()) {}

  ~Session() {
    core->sessions.erase(this);
    --core->stats.active;
  }

  void start() {
    core->sessions.insert(this);
    ++core->stats.active;
    read();
  }

  void read() {
    // The clock of a request starts at its first byte, so an idle
    // connection (an operator's socat) is never timed out.
    if (lines.partial() && !read_armed) arm_read_deadline();
    socket.async_read_some(asio::buffer(chunk), [self = shared_from_this()](boost::system::error_code ec, size_t n) {
      self->on_read(ec, n);
    });
  }

  // A deadline's handler may already be queued when it is cancelled: each
  // arming has its own number, and a handler acts only for the current one.
  void arm_read_deadline() {
    read_armed = true;
    read_deadline.expires_after(core->options.timeout);
    read_deadline.async_wait([self = shared_from_this(), gen = ++read_gen](boost::system::error_code ec) {
      if (ec || gen != self->read_gen || self->core->closed || !self->socket.is_open()) return;
      ++self->core->stats.request_timeouts;
      write_now(self->socket, reply_line({{"ok", false},
                                          {"error", "request not completed within " +
                                                        std::to_string(self->core->options.timeout.count()) +
                                                        " ms; closing"}}));
      self->close();
    });
  }

  void disarm_read_deadline() {
    if (!read_armed) return;
    read_armed = false;
    ++read_gen;
    read_deadline.cancel();
  }

  void on_read(boost::system::error_code ec, size_t n) {
    if (core->closed) return;
    if (ec) {
      // EOF or reset. A request without its newline is not a request: the
      // client left before finishing it, so there is nobody to answer.
      if (socket.is_open() && !blank(lines.pending())) ++core->stats.truncated;
      close();
      return;
    }
    lines.append(std::string_view(chunk.data(), n));
    answer_next();
  }

  // Answers the next complete line, or reads on.
  void answer_next() {
    while (auto line = lines.next()) {
      disarm_read_deadline();
      if (blank(*line)) continue;  // an operator pressing Enter in socat is not a request
      RequestInfo info;
      json reply = handle_line(*line, core->handler, core->stats, info);
      // Subscribed before anything else can be published, so the follower
      // misses nothing logged after the reply's own list.
      if (info.follow && reply["ok"] == true && core->feeds.contains(info.cmd)) {
        feed = info.cmd;
        ++core->stats.following;
      }
      send(reply_line(reply), /*then_close=*/false);
      return;
    }
    if (lines.too_long()) {
      // No newline within kMaxLine: answer, then hang up, since the rest of
      // that line cannot be told apart from the next request.
      disarm_read_deadline();
      ++core->stats.requests;
      ++core->stats.errors;
      ++core->stats.too_long;
      send(reply_line({{"ok", false}, {"error", "request line longer than " + std::to_string(kMaxLine) + " bytes"}}),
           /*then_close=*/true);
      return;
    }
    read();
  }

  // A follower only reads to notice that the client left.
  void follow_read() {
    socket.async_read_some(asio::buffer(chunk), [self = shared_from_this()](boost::system::error_code ec, size_t) {
      if (self->core->closed) return;
      if (ec) return self->close();
      self->follow_read();
    });
  }

  // A published item, for a follower of its feed.
  void publish(const std::string& line) {
    if (!socket.is_open()) return;
    if (queue.size() >= kMaxFollowBacklog) {
      ++core->stats.follow_overruns;
      return close();
    }
    send(line, false);
  }

  void send(std::string line, bool then_close) {
    queue.push_back({std::move(line), then_close});
    if (!writing) write_next();
  }

  void write_next() {
    writing = true;
    write_deadline.expires_after(core->options.timeout);
    write_deadline.async_wait([self = shared_from_this(), gen = ++write_gen](boost::system::error_code ec) {
      if (ec || gen != self->write_gen || self->core->closed || !self->socket.is_open()) return;
      ++self->core->stats.reply_timeouts;
      self->close();
    });
    asio::async_write(socket, asio::buffer(queue.front().line),
                      [self = shared_from_this()](boost::system::error_code ec, size_t) {
                        ++self->write_gen;
                        self->write_deadline.cancel();
                        self->writing = false;
                        if (self->core->closed || ec) return self->close();
                        const bool then_close = self->queue.front().then_close;
                        self->queue.pop_front();
                        if (then_close) {
                          boost::system::error_code ignored;
                          self->socket.shutdown(local_stream::socket::shutdown_both, ignored);
                          return self->close();
                        }
                        if (!self->queue.empty()) return self->write_next();
                        if (self->feed.empty()) return self->answer_next();
                        if (!self->follow_reading) {
                          self->follow_reading = true;
                          self->follow_read();
                        }
                      });
  }

  void close() {
    boost::system::error_code ignored;
    socket.close(ignored);
    read_deadline.cancel();
    write_deadline.cancel();
    if (!feed.empty()) {
      feed.clear();
      --core->stats.following;
    }
  }

  std::shared_ptr<ControlServer::Core> core;
  local_stream::socket socket;
  asio::steady_timer read_deadline;
  asio::steady_timer write_deadline;
  bool read_armed = false;
  uint64_t read_gen = 0;
  uint64_t write_gen = 0;
  LineReader lines;
  std::array<char, 65536> chunk;
  struct Out {
    std::string line;
    bool then_close;
  };
  std::deque<Out> queue;  // front: being written
  bool writing = false;
  std::string feed;  // the feed followed, if any
  bool follow_reading = false;
};

}  // namespace

void ControlServer::Core::refuse(local_stream::socket& s, const std::string& why) {
  write_now(s, reply_line({{"ok", false}, {"error", why}}));
  boost::system::error_code ignored;
  s.close(ignored);
}

std::optional<std::string> ControlServer::Core::check_peer(local_stream::socket& s) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(s.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return std::string("cannot read the client's credentials: ") + std::strerror(errno);
  for (uid_t u : *options.allowed_uids)
    if (cred.uid == u) return std::nullopt;
  std::string allowed;
  for (uid_t u : *options.allowed_uids) allowed += (allowed.empty() ? "" : ", ") + std::to_string(u);
  return "permission denied: uid " + std::to_string(cred.uid) + " may not use this control socket (allowed: uid " +
         allowed + ")";
}

void ControlServer::Core::accept() {
  acceptor.async_accept([self = shared_from_this()](boost::system::error_code ec, local_stream::socket s) {
    if (self->closed) return;
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      // EMFILE and friends: the pending connection stays queued, so accepting
      // again at once would spin the control thread. Back off briefly.
      self->retry.expires_after(std::chrono::milliseconds(100));
      self->retry.async_wait([self](boost::system::error_code wec) {
        if (!wec && !self->closed) self->accept();
      });
      return;
    }
    if (auto why = self->check_peer(s)) {
      ++self->stats.refused_uid;
      self->refuse(s, *why);
    } else if (self->sessions.size() >= kMaxClients) {
      ++self->stats.refused_busy;
      self->refuse(s, "too many control clients (" + std::to_string(kMaxClients) + ")");
    } else {
      ++self->stats.connections;
      std::make_shared<Session>(self, std::move(s))->start();
    }
    self->accept();
  });
}

namespace {

[[noreturn]] void fail_errno(const std::string& what, int err) {
  throw std::runtime_error(what + ": " + std::strerror(err));
}

// A socket file that exists may belong to a live daemon (a second hafwd
// started by mistake) or be left over from one that died. Only the live one
// accepts a connection; removing its file would silently cut operators off it.
void clear_stale_socket(const std::string& path) {
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    fail_errno("cannot check control socket " + path, errno);
  }
  if (!S_ISSOCK(st.st_mode))
    throw std::runtime_error("control socket path " + path + " exists and is not a socket; refusing to replace it");

  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) fail_errno("socket", errno);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.data(), path.size());
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa));
  int err = errno;
  ::close(fd);
  // EAGAIN: listening with a full backlog — alive all the same.
  if (rc == 0 || err == EAGAIN || err == EINPROGRESS)
    throw std::runtime_error("control socket " + path +
                             " is in use: another hafwd is running (stop it, or give this one another control.socket)");
  if (err != ECONNREFUSED && err != ENOENT) fail_errno("cannot check control socket " + path, err);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) fail_errno("cannot remove stale control socket " + path, errno);
}

}  // namespace

ControlServer::ControlServer(boost::asio::io_context& io, std::string path, Handler handler, ServerOptions options)
    : path_(std::move(path)), core_(std::make_shared<Core>(io, std::move(handler), std::move(options))) {
  if (path_.empty()) throw std::runtime_error("control socket path is empty");
  if (path_.size() >= sizeof(sockaddr_un{}.sun_path))
    throw std::runtime_error("control socket path " + path_ + " is too long (at most " +
                             std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes)");

  std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) throw std::runtime_error("cannot create directory " + parent.string() + ": " + ec.message());
  }
  clear_stale_socket(path_);

  boost::system::error_code ec;
  core_->acceptor.open(local_stream(), ec);
  if (ec) throw std::runtime_error("cannot open control socket: " + ec.message());
  // The socket file must never be reachable by others, not even between
  // bind and chmod: bind under a umask that leaves only the owner's bits.
  // The daemon binds once at startup, before it starts other threads.
  mode_t old_mask = ::umask(0177);
  core_->acceptor.bind(local_stream::endpoint(path_), ec);
  ::umask(old_mask);
  if (ec) throw std::runtime_error("cannot bind control socket " + path_ + ": " + ec.message());
  if (::chmod(path_.c_str(), 0600) != 0) fail_errno("cannot chmod control socket " + path_, errno);
  core_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on control socket " + path_ + ": " + ec.message());

  struct stat st{};
  if (::stat(path_.c_str(), &st) != 0) fail_errno("cannot stat control socket " + path_, errno);
  inode_ = st.st_ino;
  if (!core_->options.allowed_uids) {
    core_->options.allowed_uids = std::vector<uid_t>{0};
    if (st.st_uid != 0) core_->options.allowed_uids->push_back(st.st_uid);
  }
  core_->accept();
}

void ControlServer::add_feed(std::string cmd) { core_->feeds.insert(std::move(cmd)); }

void ControlServer::publish(const std::string& cmd, const nlohmann::json& item) {
  asio::post(core_->acceptor.get_executor(), [core = core_, cmd, line = reply_line(item)] {
    if (core->closed) return;
    for (Session* s : core->sessions)
      if (s->feed == cmd) s->publish(line);
  });
}

ControlServer::~ControlServer() {
  core_->closed = true;
  boost::system::error_code ignored;
  core_->acceptor.close(ignored);
  core_->retry.cancel();
  for (Session* s : core_->sessions) s->close();
  // Only our own file: if a successor already replaced it, leave theirs be.
  struct stat st{};
  if (::lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == inode_) ::unlink(path_.c_str());
}

const ControlStats& ControlServer::stats() const { return core_->stats; }

}  // namespace hafw::control
