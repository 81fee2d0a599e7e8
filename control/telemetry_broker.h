// How DPDK's telemetry thread asks the control thread (control/telemetry.h).
//
// A telemetry command must not read the control thread's data, so it posts
// the control command to run (ask) and waits; the control thread runs it
// between two steps of its loop (serve) and hands the result back. Nothing
// is published ahead of a question, so an idle node pays one atomic load per
// loop and an answer is never stale. No DPDK and no socket here: the unit
// and ThreadSanitizer tests drive it with plain threads.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

namespace hafw::control {

class TelemetryBroker {
 public:
  // Any thread but the control thread: run `command` on the control thread
  // and return its reply, or {"error": ...} if the control thread has not
  // answered within `timeout` or the broker is closed. One ask at a time.
  nlohmann::json ask(const std::string& command, std::chrono::milliseconds timeout);
  // The control thread, once per loop: answers the pending ask, if any, with
  // run(command) (an exception becomes {"error": its message}). Returns true
  // if it answered; one atomic load when nobody asked.
  bool serve(const std::function<nlohmann::json(const std::string& command)>& run);
  // From now on every ask fails at once ("hafwd is stopping"), and one that
  // waits returns.
  void close();
  // Counters for stats' control.telemetry (docs/counters.md): requests
  // answered, and asks that gave up waiting.
  nlohmann::json stats_json() const;

 private:
  std::mutex ask_;  // held by the one ask in progress
  mutable std::mutex mu_;  // guards everything below
  std::condition_variable answered_cv_;
  std::atomic<bool> pending_{false};  // an ask waits for serve()
  std::string command_;
  uint64_t asked_ = 0;     // the number of the latest ask
  uint64_t answered_ = 0;  // the number of the latest answer in reply_
  nlohmann::json reply_;
  bool closed_ = false;
  uint64_t requests_ = 0;  // asks answered
  uint64_t timeouts_ = 0;  // asks that gave up
};

}  // namespace hafw::control
