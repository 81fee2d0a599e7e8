// The control thread's CPU scheduling (control.realtime_priority).
//
// CARP's sub-second mode leaves the backup 3 * skew/256 s (11.7 ms at skew
// 3) to hear the master: a control thread that waits that long for a CPU
// behind other work on a loaded machine makes a false failover. So, as
// keepalived's vrrp_rt_priority does, hafwd runs its control thread under
// SCHED_FIFO: when its timer or a punted advert wakes it, it runs at once.
// The thread sleeps almost all the time; when it has real work for longer
// than kBusyLimit without a nap (a bulk state update, a large states.list)
// it drops back to normal scheduling for the rest of that stretch, so that
// it never starves the workers or anything else on its core, and takes the
// real-time priority back at its next nap. docs/carp.md "Fast timers".
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "dataplane/net/time.h"

namespace hafw::control {

// The one system call, injected so that the policy is tested without root.
class SchedulerOps {
 public:
  virtual ~SchedulerOps() = default;
  // The calling thread to SCHED_FIFO at priority (1-99), or SCHED_OTHER for
  // 0. Returns "" or why the kernel refused.
  virtual std::string set(int priority) = 0;
};

// sched_setscheduler on the calling thread; also sets its timer slack to
// 1 ns, so that even at normal priority a nap ends when it was asked to.
class LinuxScheduler final : public SchedulerOps {
 public:
  std::string set(int priority) override;
};

class ControlScheduling {
 public:
  // Real work for this long without a nap and the thread gives up its
  // real-time priority until the next nap. A CARP step, a burst of punts or
  // a socket command takes microseconds; 2 ms is bulk work.
  static constexpr Time kBusyLimit = std::chrono::milliseconds(2);

  // priority 0: the thread stays at normal scheduling.
  ControlScheduling(SchedulerOps& ops, int priority) : ops_(ops), priority_(priority) {}

  // Take the real-time priority. "" on success or when priority is 0; else
  // the kernel's reason (no CAP_SYS_NICE, a cgroup without real-time
  // budget): the thread then stays normal and says so in stats.
  std::string start();

  // After each pass of the control loop, which ran from `start` to `now`:
  // worked = it did something and will not nap; at its next nap it is
  // real-time again.
  void pass(bool worked, Time start, Time now);
  // After each nap: asked for `asked`, slept `slept`. A nap that ends more
  // than kLateWakeup late is a scheduling delay CARP's timers suffer too;
  // returns how late it ended then (zero otherwise): a time this node did
  // not run, which a backup's master-down timer must not count as
  // listening (carp::Carp::discount_stall).
  Time napped(Time asked, Time slept);
  static constexpr Time kLateWakeup = std::chrono::milliseconds(1);

  // Naps that ended more than kStallWarn late since the last report, at
  // most one report per kStallReportEvery: "" when there is nothing to say
  // yet. A stall this long is longer than a sub-second master-down interval
  // can take (11.7 ms at skew 3), so the operator learns that the machine,
  // not the peer, made the takeover that follows.
  std::string take_stall_report(Time now);
  static constexpr Time kStallWarn = std::chrono::milliseconds(5);
  static constexpr Time kStallReportEvery = std::chrono::seconds(10);

  bool realtime() const { return realtime_; }
  // control.scheduling in stats (docs/counters.md).
  nlohmann::json stats_json() const;

 private:
  void apply(int priority);

  SchedulerOps& ops_;
  int priority_;
  bool realtime_ = false;    // SCHED_FIFO now
  bool demoted_ = false;     // dropped for a busy stretch, to be taken back at the nap
  bool busy_ = false;        // inside a stretch of passes that worked
  Time busy_since_{};
  uint64_t busy_demotions_ = 0;
  uint64_t refused_ = 0;     // set() calls the kernel refused
  Time longest_pass_{};
  uint64_t late_wakeups_ = 0;
  Time longest_late_{};
  uint64_t stalls_ = 0;  // late by more than kStallWarn, since the last report
  Time stall_longest_{};
  Time last_report_{};
  bool reported_ = false;
  std::string error_;        // the last refusal
};

}  // namespace hafw::control
