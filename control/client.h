// Client side of the control socket (docs/control.md): one
// request, one reply, blocking. Used by hafwctl and by tests.
#pragma once

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace hafw::control {

// The daemon answered {"ok": false, "error": ...}; what() is its message.
// Distinct from a transport failure so that callers can word them differently.
class RemoteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Sends {"cmd": cmd, "args": args} to the daemon at socket_path and returns
// the reply's "result". `timeout` bounds the whole exchange. Throws
// RemoteError for an error reply and std::runtime_error for everything else,
// worded for an operator, e.g.
//   "cannot connect to /run/hafw/hafwd.sock: No such file or directory (is hafwd running?)"
nlohmann::json request(const std::string& socket_path, std::string_view cmd, const nlohmann::json& args,
                       std::chrono::milliseconds timeout);

// Like request(), then keeps the connection of a followed feed (`events`
// with {"follow": true}): on_result gets the reply's result, then on_item
// each line the daemon streams, as it comes. Returns only by throwing:
// std::runtime_error("hafwd on PATH closed the connection") when the daemon
// goes away. `timeout` bounds the request and reply, not the wait for items.
[[noreturn]] void follow(const std::string& socket_path, std::string_view cmd, const nlohmann::json& args,
            std::chrono::milliseconds timeout, const std::function<void(const nlohmann::json&)>& on_result,
            const std::function<void(const nlohmann::json&)>& on_item);

// Replies bigger than this are refused: states.list with a large limit is the
// biggest legitimate one, and 256 MiB is far above any sane limit.
inline constexpr size_t kMaxReply = 256u << 20;

}  // namespace hafw::control
