// The control thread's scheduling (control/sched.h): real-time while it
// mostly sleeps, normal for a stretch of bulk work, real-time again at its
// next nap; a refusal by the kernel leaves it normal and is reported.
#include <catch2/catch.hpp>

#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "control/sched.h"

using namespace hafw;
using namespace std::chrono_literals;

namespace {

struct FakeOps final : control::SchedulerOps {
  std::vector<int> calls;  // the priority of each set()
  bool refuse = false;
  std::string set(int priority) override {
    calls.push_back(priority);
    return refuse ? "SCHED_FIFO priority " + std::to_string(priority) + " refused: Operation not permitted" : "";
  }
};

}  // namespace

TEST_CASE("the control thread starts real-time and keeps it through short work", "[control][sched]") {
  FakeOps ops;
  control::ControlScheduling s(ops, 10);
  CHECK(s.start().empty());
  CHECK(ops.calls == std::vector<int>{10});
  CHECK(s.realtime());
  Time t = 1000s;
  // A CARP step, a burst of punts: work for under 2 ms at a time, then a nap.
  for (int i = 0; i < 100; ++i) {
    s.pass(true, t, t);
    s.pass(true, t + 1900us, t + 1900us);
    s.pass(false, t + 1950us, t + 1950us);
    t += 4ms;
  }
  CHECK(ops.calls == std::vector<int>{10});  // no system call per pass
  CHECK(s.stats_json()["realtime"] == 1);
  CHECK(s.stats_json()["priority"] == 10);
  CHECK(s.stats_json()["busy_demotions"] == 0);
}

TEST_CASE("bulk work past 2 ms without a nap runs at normal priority until the next nap", "[control][sched]") {
  FakeOps ops;
  control::ControlScheduling s(ops, 20);
  REQUIRE(s.start().empty());
  Time t = 1000s;
  s.pass(true, t, t);
  s.pass(true, t + 1ms, t + 1ms);
  CHECK(s.realtime());
  s.pass(true, t + 2ms, t + 2ms);  // a bulk state update still going
  CHECK_FALSE(s.realtime());
  CHECK(ops.calls == std::vector<int>{20, 0});
  for (int i = 3; i < 500; ++i) s.pass(true, t + std::chrono::milliseconds(i), t + std::chrono::milliseconds(i));
  CHECK(ops.calls == std::vector<int>{20, 0});  // dropped once for the stretch
  s.pass(false, t + 500ms, t + 500ms);  // the nap
  CHECK(s.realtime());
  CHECK(ops.calls == std::vector<int>{20, 0, 20});
  CHECK(s.stats_json()["busy_demotions"] == 1);
  // The next stretch is timed from its own start.
  s.pass(true, t + 501ms, t + 501ms);
  s.pass(true, t + 502ms, t + 502ms);
  CHECK(s.realtime());
}

TEST_CASE("the longest pass and the naps that end late are counted: what delays CARP's timers", "[control][sched]") {
  FakeOps ops;
  control::ControlScheduling s(ops, 10);
  REQUIRE(s.start().empty());
  Time t = 1000s;
  s.pass(false, t, t + 40us);
  s.pass(true, t + 1ms, t + 1ms + 7300us);  // a 7.3 ms pass: a bulk of work, or a stall
  s.pass(false, t + 10ms, t + 10ms + 5us);
  // What napped returns is the time the node did not run, which a backup's
  // master-down timer then does not count (Carp::discount_stall).
  CHECK(s.napped(1ms, 1ms + 30us) == Time::zero());  // the usual: on time
  CHECK(s.napped(1ms, 2ms) == Time::zero());         // 1 ms late: still within the bound
  CHECK(s.napped(500us, 500us + 12ms) == 12ms);      // 12 ms late: the thread waited for a CPU
  CHECK(s.napped(1ms, 4ms) == 3ms);
  auto j = s.stats_json();
  CHECK(j["longest_pass_us"] == 7300);
  CHECK(j["late_wakeups"] == 2);
  CHECK(j["longest_late_us"] == 12000);
}

TEST_CASE("stalls over 5 ms are reported at most every 10 s, with their count and the longest", "[control][sched]") {
  FakeOps ops;
  control::ControlScheduling s(ops, 10);
  REQUIRE(s.start().empty());
  Time t = 1000s;
  s.napped(1ms, 5ms);  // 4 ms late: counted late, not a stall
  CHECK(s.take_stall_report(t) == "");
  s.napped(1ms, 13ms);   // 12 ms late
  s.napped(1ms, 23ms + 200us);  // 22.2 ms late
  CHECK(s.take_stall_report(t) ==
        "control thread woke late 2 times by more than 5 ms, the longest 22.2 ms at real-time priority: the machine "
        "is overloaded or its CPU is held elsewhere (a hypervisor); sub-second CARP timers can see a takeover that is "
        "not a failure");
  CHECK(s.take_stall_report(t + 1s) == "");  // nothing new
  s.napped(1ms, 8ms);
  CHECK(s.take_stall_report(t + 9s) == "");  // new, but within 10 s of the last report
  CHECK(s.take_stall_report(t + 10s).rfind("control thread woke late 1 time by more than 5 ms, the longest 7.0 ms", 0) == 0);
  CHECK(s.stats_json()["late_wakeups"] == 4);
}

TEST_CASE("priority 0 leaves the thread alone", "[control][sched]") {
  FakeOps ops;
  control::ControlScheduling s(ops, 0);
  CHECK(s.start().empty());
  for (int i = 0; i < 10; ++i) s.pass(true, Time(std::chrono::milliseconds(i)), Time(std::chrono::milliseconds(i)));
  s.pass(false, 20ms, 20ms);
  CHECK(ops.calls.empty());
  CHECK(s.stats_json()["realtime"] == 0);
  CHECK(s.stats_json()["priority"] == 0);
}

TEST_CASE("a refused real-time priority is reported and the thread stays normal", "[control][sched]") {
  FakeOps ops;
  ops.refuse = true;
  control::ControlScheduling s(ops, 10);
  CHECK(s.start() == "SCHED_FIFO priority 10 refused: Operation not permitted");
  CHECK_FALSE(s.realtime());
  // Not real-time, so nothing to drop or take back.
  for (int i = 0; i < 10; ++i) s.pass(true, Time(std::chrono::milliseconds(i)), Time(std::chrono::milliseconds(i)));
  s.pass(false, 20ms, 20ms);
  CHECK(ops.calls == std::vector<int>{10});
  CHECK(s.stats_json()["realtime"] == 0);
  CHECK(s.stats_json()["refused"] == 1);
}

TEST_CASE("LinuxScheduler sets SCHED_FIFO and no timer slack on the calling thread only, and takes it back", "[control][sched]") {
  int before = -1, during = -1, prio = -1, after = -1;
  long slack = -1;
  std::string err_on, err_off;
  std::thread t([&] {
    control::LinuxScheduler ops;
    before = sched_getscheduler(0);
    err_on = ops.set(5);
    during = sched_getscheduler(0);
    sched_param p{};
    sched_getparam(0, &p);
    prio = p.sched_priority;
    err_off = ops.set(0);
    after = sched_getscheduler(0);
    slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
  });
  t.join();
  CHECK(before == SCHED_OTHER);
  CHECK(sched_getscheduler(0) == SCHED_OTHER);  // this thread was never touched
  if (geteuid() == 0) {
    CHECK(err_on.empty());
    CHECK(during == SCHED_FIFO);
    CHECK(prio == 5);
  } else {
    CHECK(err_on == "SCHED_FIFO priority 5 refused: Operation not permitted");
    CHECK(during == SCHED_OTHER);
  }
  CHECK(err_off.empty());
  CHECK(after == SCHED_OTHER);
  CHECK(slack == 1);  // at normal priority too, naps end when asked, not up to 50 us later
}
