#include "control/sched.h"

#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace hafw::control {

std::string LinuxScheduler::set(int priority) {
  sched_param p{};
  p.sched_priority = priority;
  int rc = ::pthread_setschedparam(::pthread_self(), priority > 0 ? SCHED_FIFO : SCHED_OTHER, &p);
  // The kernel's default slack rounds a normal thread's sleeps up by 50 us;
  // a real-time thread has none. 1 ns asks for none at normal priority too
  // (after the policy change, which may reset it).
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  if (rc == 0) return "";
  return std::string(priority > 0 ? "SCHED_FIFO priority " + std::to_string(priority) : "SCHED_OTHER") +
         " refused: " + std::strerror(rc);
}

std::string ControlScheduling::start() {
  if (priority_ == 0) return "";
  apply(priority_);
  return error_;
}

void ControlScheduling::apply(int priority) {
  std::string err = ops_.set(priority);
  if (err.empty()) {
    realtime_ = priority > 0;
    return;
  }
  ++refused_;
  error_ = std::move(err);
}

void ControlScheduling::napped(Time asked, Time slept) {
  const Time late = slept - asked;
  if (late <= kLateWakeup) return;
  ++late_wakeups_;
  longest_late_ = std::max(longest_late_, late);
}

void ControlScheduling::pass(bool worked, Time start, Time now) {
  longest_pass_ = std::max(longest_pass_, now - start);
  if (!worked) {
    busy_ = false;
    if (demoted_) {
      demoted_ = false;
      apply(priority_);
    }
    return;
  }
  if (!busy_) {
    busy_ = true;
    busy_since_ = now;
    return;
  }
  if (realtime_ && now - busy_since_ >= kBusyLimit) {
    apply(0);
    if (!realtime_) {
      demoted_ = true;
      ++busy_demotions_;
    }
  }
}

nlohmann::json ControlScheduling::stats_json() const {
  return {{"realtime", realtime_ ? 1 : 0},
          {"priority", realtime_ ? priority_ : 0},
          {"busy_demotions", busy_demotions_},
          {"refused", refused_},
          {"longest_pass_us", std::chrono::duration_cast<std::chrono::microseconds>(longest_pass_).count()},
          {"late_wakeups", late_wakeups_},
          {"longest_late_us", std::chrono::duration_cast<std::chrono::microseconds>(longest_late_).count()}};
}

}  // namespace hafw::control
