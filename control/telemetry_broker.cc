#include "control/telemetry_broker.h"

#include <exception>

namespace hafw::control {

using nlohmann::json;

namespace {

json error_json(std::string message) { return {{"error", std::move(message)}}; }

}  // namespace

json TelemetryBroker::ask(const std::string& command, std::chrono::milliseconds timeout) {
  std::lock_guard one(ask_);
  std::unique_lock lk(mu_);
  if (closed_) return error_json("hafwd is stopping");
  command_ = command;
  const uint64_t n = ++asked_;
  pending_.store(true, std::memory_order_release);
  const bool answered =
      answered_cv_.wait_for(lk, timeout, [&] { return answered_ == n || closed_; }) && answered_ == n;
  if (!answered) {
    pending_.store(false, std::memory_order_relaxed);
    if (closed_) return error_json("hafwd is stopping");
    ++timeouts_;
    return error_json("hafwd's control thread did not answer within " + std::to_string(timeout.count()) + " ms");
  }
  return std::move(reply_);
}

bool TelemetryBroker::serve(const std::function<json(const std::string&)>& run) {
  if (!pending_.load(std::memory_order_acquire)) return false;
  std::string command;
  uint64_t n;
  {
    std::lock_guard lk(mu_);
    if (!pending_.exchange(false, std::memory_order_relaxed)) return false;
    command = command_;
    n = asked_;
  }
  json reply;
  try {
    reply = run(command);
  } catch (const std::exception& e) {
    reply = error_json(e.what());
  }
  {
    std::lock_guard lk(mu_);
    if (n != asked_) return true;  // that ask gave up; a newer one is pending
    reply_ = std::move(reply);
    answered_ = n;
    ++requests_;
  }
  answered_cv_.notify_all();
  return true;
}

json TelemetryBroker::stats_json() const {
  std::lock_guard lk(mu_);
  return {{"requests", requests_}, {"timeouts", timeouts_}};
}

void TelemetryBroker::close() {
  {
    std::lock_guard lk(mu_);
    closed_ = true;
  }
  answered_cv_.notify_all();
}

}  // namespace hafw::control
