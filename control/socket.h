// The daemon's JSON control socket (docs/control.md).
//
// A Unix stream socket, mode 0600, carrying newline-delimited JSON:
//   request  {"cmd": "status", "args": {...}}           args optional, an object
//   reply    {"ok": true, "result": ...}  or  {"ok": false, "error": "..."}
// one reply line per request line, in order. handle_line() is the whole
// protocol (parse, validate, dispatch, wrap errors) as a pure function, so it
// is tested without sockets; ControlServer only moves lines in and out on the
// control thread's io_context. Nothing a client sends can stop the server: a
// bad line gets an error reply, an over-long line an error reply and a close.
// Only root and the socket's owner may talk to it (SO_PEERCRED), and a client
// that stalls in the middle of a request, or stops reading its replies, is
// dropped after ServerOptions::timeout.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>  // before asio: Boost 1.74's awaitable.hpp uses std::exchange without it
#include <vector>

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

namespace hafw::control {

// Thrown by a command handler for a mistake of the user's (unknown command,
// bad argument, rejected config): its message is the error reply as is.
class CommandError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Runs one command. Throws CommandError("unknown command 'x'") for a command
// it does not know. Runs on the control thread; must not block for long.
using Handler = std::function<nlohmann::json(std::string_view cmd, const nlohmann::json& args)>;

// Operators debug from counters: every request and every refused one, by reason.
struct ControlStats {
  uint64_t requests = 0;         // lines answered (good or bad)
  uint64_t errors = 0;           // of which answered with ok:false (sum of the reasons below)
  uint64_t bad_json = 0;         // line is not JSON
  uint64_t bad_request = 0;      // JSON but not {"cmd": string, "args"?: object}
  uint64_t command_errors = 0;   // handler threw CommandError (incl. unknown command)
  uint64_t internal_errors = 0;  // handler threw anything else
  uint64_t too_long = 0;         // line over kMaxLine: error reply, connection closed
  uint64_t truncated = 0;        // client left with an unterminated line (dropped unanswered)
  uint64_t connections = 0;      // accepted
  uint64_t refused_busy = 0;     // turned away at kMaxClients
  uint64_t refused_uid = 0;      // turned away: the peer's uid is neither root nor the socket's owner
  uint64_t request_timeouts = 0; // a request line not finished within the timeout: error reply, closed
  uint64_t reply_timeouts = 0;   // a reply not taken within the timeout: closed
  uint64_t follow_overruns = 0;  // a follower kMaxFollowBacklog lines behind: closed
  uint64_t active = 0;           // connected now
  uint64_t following = 0;        // of which following a feed now

  nlohmann::json to_json() const;
};

// A request line longer than this is refused. The biggest legitimate request
// (config.reload with a config inline) is a few KiB; 1 MiB leaves room for
// the largest config and bounds what one client can make us hold.
inline constexpr size_t kMaxLine = 1u << 20;
// Deepest JSON nesting accepted in a request. Real requests are 2 levels deep
// ({"args": {...}}); 32 leaves room and bounds recursion in the JSON library.
inline constexpr int kMaxDepth = 32;
// Enough for every operator and script at once; bounds the file descriptors
// a misbehaving client loop can take from the daemon.
inline constexpr size_t kMaxClients = 64;

// Lines queued for a follower that does not keep up, before it is dropped:
// about the event log's own length, so a burst (a failover's dozen events)
// never drops a reader, while a stuck one cannot hold our memory.
inline constexpr size_t kMaxFollowBacklog = 1024;

// How long a client may take to finish a request line it has begun, and to
// take a reply: an operator's request is one write, and 5 s is far beyond a
// loaded machine's scheduling delay, while a stalled client gives back its
// slot (one of kMaxClients) promptly.
inline constexpr std::chrono::milliseconds kRequestTimeout{5000};

struct ServerOptions {
  std::chrono::milliseconds timeout = kRequestTimeout;
  // The uids allowed to connect. Unset: root and the socket file's owner
  // (the daemon's user), which is what its mode 0600 allows already; the
  // check also holds where the file's mode does not (a changed mode, a
  // descriptor passed on).
  std::optional<std::vector<uid_t>> allowed_uids;
};

// Splits a client's bytes into request lines. A line longer than kMaxLine
// (without its '\n') is too_long(): nothing after it can be framed.
class LineReader {
 public:
  void append(std::string_view bytes) { buf_.append(bytes); }
  // The next whole line without its '\n', or nullopt if none is complete
  // (or the next is too long).
  std::optional<std::string> next();
  bool too_long() const;
  // Bytes of an unfinished line are held.
  bool partial() const { return !buf_.empty(); }
  std::string_view pending() const { return buf_; }

 private:
  std::string buf_;
  size_t scanned_ = 0;  // bytes of buf_ known to hold no '\n'
};

// The protocol for one line (without its '\n'): the reply object. Never throws.
nlohmann::json handle_line(std::string_view line, const Handler& handler);
nlohmann::json handle_line(std::string_view line, const Handler& handler, ControlStats& stats);
// What the transport needs to know of a request that parsed: its command and
// whether it asks to follow ({"args": {"follow": true}}).
struct RequestInfo {
  std::string cmd;
  bool follow = false;
};
nlohmann::json handle_line(std::string_view line, const Handler& handler, ControlStats& stats, RequestInfo& info);

// The reply as sent: one line of JSON, '\n'-terminated. Never throws (bytes that
// are not UTF-8, e.g. echoed from a bad request, are replaced).
std::string reply_line(const nlohmann::json& reply);

class ControlServer {
 public:
  // Creates the parent directory if missing, removes a stale socket file left
  // by a dead daemon, binds, chmod 0600 and starts accepting on `io`. Throws
  // std::runtime_error with the reason if another daemon answers on `path`, if
  // `path` exists and is not a socket, or if bind fails.
  ControlServer(boost::asio::io_context& io, std::string path, Handler handler, ServerOptions options = {});
  // Stops accepting, closes every client and removes the socket file. Pending
  // handlers on the io_context stay safe to run afterwards.
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Makes `cmd` followable: once a request {"cmd": cmd, "args": {"follow":
  // true}} is answered ok, its connection stays open and receives, as one
  // JSON line each, every item published on `cmd` after it; whatever the
  // client sends then is ignored. Call before the io_context runs, or on it.
  void add_feed(std::string cmd);
  // Queues `item` for every follower of `cmd`. Safe from any thread: the
  // lines go out on the server's io_context, in the order published.
  void publish(const std::string& cmd, const nlohmann::json& item);

  const std::string& path() const { return path_; }
  const ControlStats& stats() const;

  struct Core;  // shared with in-flight sessions (socket.cc)

 private:
  std::string path_;
  std::shared_ptr<Core> core_;
  uint64_t inode_ = 0;  // our socket file, so the destructor never unlinks a successor's
};

}  // namespace hafw::control
