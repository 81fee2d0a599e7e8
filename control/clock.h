// The control thread's clock, injected so that CARP and sync timers are
// tested with a manual clock (advance()) and never with sleeps.
#pragma once

#include <chrono>

#include "dataplane/net/time.h"

namespace hafw {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Time now() const = 0;
};

class SteadyClock final : public Clock {
 public:
  Time now() const override {
    return std::chrono::duration_cast<Time>(std::chrono::steady_clock::now().time_since_epoch());
  }
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(Time start = std::chrono::seconds(1000)) : t_(start) {}
  Time now() const override { return t_; }
  void advance(Time d) { t_ += d; }

 private:
  Time t_;
};

}  // namespace hafw
