#include "control/sched.h"

#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
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

Time ControlScheduling::napped(Time asked, Time slept) {
  const Time late = slept - asked;
  if (late <= kLateWakeup) return Time::zero();
  ++late_wakeups_;
  longest_late_ = std::max(longest_late_, late);
  if (late > kStallWarn) {
    ++stalls_;
    stall_longest_ = std::max(stall_longest_, late);
  }
  return late;
}

std::string ControlScheduling::take_stall_report(Time now) {
  if (stalls_ == 0 || (reported_ && now - last_report_ < kStallReportEvery)) return "";
  char longest[32];
  std::snprintf(longest, sizeof longest, "%.1f",
                double(std::chrono::duration_cast<std::chrono::microseconds>(stall_longest_).count()) / 1000);
  std::string m = "control thread woke late " + std::to_string(stalls_) + (stalls_ == 1 ? " time" : " times") +
                  " by more than 5 ms, the longest " + longest + " ms" +
                  (realtime_ ? " at real-time priority" : " at normal priority") +
                  ": the machine is overloaded or its CPU is held elsewhere (a hypervisor); sub-second CARP "
                  "timers can see a takeover that is not a failure";
  stalls_ = 0;
  stall_longest_ = {};
  last_report_ = now;
  reported_ = true;
  return m;
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
