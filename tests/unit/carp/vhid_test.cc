#include <catch2/catch.hpp>

#include <algorithm>
#include <variant>

#include "carp/announce.h"
#include "carp/vhid.h"
#include "carp/wire.h"

using namespace hafw;
using namespace hafw::carp;
using namespace std::chrono_literals;

namespace {

net::IpAddr ip(const char* s) { return *net::IpAddr::parse(s); }

VhidConfig config(uint8_t advskew, bool preempt = false, const char* src = "10.9.0.2", uint8_t advbase = 1) {
  return VhidConfig{.interface = "wan",
                    .vhid = 7,
                    .addresses = {ip("10.9.0.100")},
                    .password = "secret",
                    .advbase = advbase,
                    .advskew = advskew,
                    .preempt = preempt,
                    .src = ip(src)};
}

// An advert as a peer would send it (the state machine does not look at the HMAC).
Advert from_peer(uint8_t advbase, uint8_t advskew, uint8_t demote = 0) {
  return Advert{.src = ip("10.9.0.3"), .dst = ip("224.0.0.18"), .eth_src = net::Mac::virtual_for(7),
                .vhid = 7, .advbase = advbase, .advskew = advskew, .demote = demote};
}

std::vector<Advert> adverts_in(const Output& o) {
  std::vector<Advert> v;
  for (const auto& f : o.frames)
    if (auto d = decode_advert(f.bytes); std::holds_alternative<Advert>(d)) v.push_back(std::get<Advert>(d));
  return v;
}

size_t arps_in(const Output& o) {
  return size_t(std::count_if(o.frames.begin(), o.frames.end(), [](const OutFrame& f) {
    return f.bytes.size() > 13 && f.bytes[12] == 0x08 && f.bytes[13] == 0x06;
  }));
}

constexpr Time kSkew = 3'906'250ns;  // 1/256 s
constexpr Time t0 = 1000s;

// Start a VHID and run it to MASTER through its master-down timer.
Vhid master(VhidConfig cfg) {
  Vhid v(std::move(cfg), 100);
  (void)v.start(t0);
  (void)v.timeout(v.deadline());
  REQUIRE(v.state() == State::Master);
  return v;
}

}  // namespace

TEST_CASE("start: INIT -> BACKUP with master-down = 3*advbase + advskew/256", "[carp][vhid]") {
  Vhid v(config(100), 1);
  CHECK(v.state() == State::Init);
  CHECK(v.deadline() == kNever);
  Output o = v.start(t0);
  CHECK(v.state() == State::Backup);
  REQUIRE(o.transitions.size() == 1);
  CHECK(o.transitions[0].from == State::Init);
  CHECK(o.transitions[0].to == State::Backup);
  CHECK(o.frames.empty());  // a backup never advertises
  CHECK(v.deadline() == t0 + 3s + 100 * kSkew);
}

TEST_CASE("BACKUP -> MASTER exactly when master-down expires", "[carp][vhid]") {
  Vhid v(config(100), 1);
  (void)v.start(t0);
  const Time md = v.deadline();
  CHECK(v.timeout(md - 1ns).empty());
  CHECK(v.state() == State::Backup);

  Output o = v.timeout(md);
  CHECK(v.state() == State::Master);
  REQUIRE(o.transitions.size() == 1);
  CHECK(o.transitions[0].reason == "master down timer expired");
  // The advert first, then a gratuitous ARP per IPv4 VIP.
  REQUIRE(o.frames.size() == 2);
  auto ads = adverts_in(o);
  REQUIRE(ads.size() == 1);
  CHECK(ads[0].advbase == 1);
  CHECK(ads[0].advskew == 100);
  CHECK(o.frames[0].interface == "wan");
  CHECK(o.frames[1].bytes == gratuitous_arp(ip("10.9.0.100"), net::Mac::virtual_for(7)));
  CHECK(v.deadline() == md + 1s + 100 * kSkew);
}

TEST_CASE("MASTER advertises every advbase + advskew/256, counter +1, ARP again after two adverts",
          "[carp][vhid]") {
  Vhid v = master(config(100));
  const Time interval = 1s + 100 * kSkew;
  uint64_t counter = v.counter();
  std::vector<size_t> arps;
  for (int i = 0; i < 4; ++i) {
    const Time due = v.deadline();
    CHECK(v.timeout(due - 1ns).empty());
    Output o = v.timeout(due);
    auto ads = adverts_in(o);
    REQUIRE(ads.size() == 1);
    CHECK(ads[0].counter == counter + 1);  // FreeBSD/ucarp style
    counter = ads[0].counter;
    arps.push_back(arps_in(o));
    CHECK(v.deadline() == due + interval);
    CHECK(v.state() == State::Master);
  }
  CHECK(arps == std::vector<size_t>{0, 1, 0, 0});
  CHECK(v.adverts_sent() == 5);
}

TEST_CASE("MASTER -> BACKUP on a more frequent advert; ignores a less frequent one", "[carp][vhid]") {
  Vhid v = master(config(100));
  const Time now = v.deadline() - 100ms;
  CHECK(v.input(from_peer(1, 200), now).empty());
  CHECK(v.state() == State::Master);

  Output o = v.input(from_peer(1, 0), now);
  CHECK(v.state() == State::Backup);
  REQUIRE(o.transitions.size() == 1);
  CHECK(o.transitions[0].reason == "more frequent master advertised");
  CHECK(o.frames.empty());
  CHECK(v.deadline() == now + 3s + 100 * kSkew);
}

TEST_CASE("equal timing: a MASTER hearing another MASTER steps down", "[carp][vhid]") {
  Vhid v = master(config(100));
  (void)v.input(from_peer(1, 100), t0 + 5s);
  CHECK(v.state() == State::Backup);
}

TEST_CASE("BACKUP and a less preferred master: preempt decides", "[carp][vhid]") {
  const Time now = t0 + 1s;
  SECTION("without preempt the backup stays and re-arms master-down") {
    Vhid v(config(0, false), 1);
    (void)v.start(t0);
    CHECK(v.input(from_peer(1, 100), now).empty());
    CHECK(v.state() == State::Backup);
    CHECK(v.deadline() == now + 3s);
  }
  SECTION("with preempt it takes over on the first advert after its start-up hold") {
    Vhid v(config(0, true), 1);
    (void)v.start(t0);
    // Within one master-down interval of its start it only listens: a
    // restart loop or a flapping link must not pull the VIP back each time.
    CHECK(v.input(from_peer(1, 100), now).empty());
    CHECK(v.state() == State::Backup);
    const Time later = t0 + 3s + 100ms;  // past master-down (3 s), before the re-armed timer
    Output o = v.input(from_peer(1, 100), later);
    CHECK(v.state() == State::Master);
    CHECK(o.transitions.at(0).reason == "preempting less preferred master");
    CHECK(adverts_in(o).size() == 1);
    CHECK(arps_in(o) == 1);
    CHECK(v.deadline() == later + 1s);
  }
  SECTION("with preempt it does not take over from a more preferred master") {
    Vhid v(config(100, true), 1);
    (void)v.start(t0);
    CHECK(v.input(from_peer(1, 0), now).empty());
    CHECK(v.state() == State::Backup);
  }
}

TEST_CASE("demotion outweighs timing", "[carp][vhid]") {
  const Time now = t0 + 10s;
  SECTION("MASTER keeps the VIP against a faster but more demoted advert") {
    Vhid v = master(config(100));
    (void)v.input(from_peer(1, 0, 1), now);
    CHECK(v.state() == State::Master);
  }
  SECTION("MASTER yields to a slower but less demoted advert") {
    Vhid v = master(config(0));
    (void)v.set_demotion(2, now);
    Output o = v.input(from_peer(1, 200, 1), now);
    CHECK(v.state() == State::Backup);
    CHECK(o.transitions.at(0).reason == "master with lower demotion advertised");
  }
  SECTION("BACKUP takes over from a demoted master even without preempt") {
    Vhid v(config(100, false), 1);
    (void)v.start(t0);
    Output o = v.input(from_peer(1, 0, 1), now);
    CHECK(v.state() == State::Master);
    CHECK(o.transitions.at(0).reason == "master is demoted");
  }
  SECTION("a BACKUP that has just started waits its master-down interval before it takes over from a demoted master") {
    // The peer's bulk sync (its demotion) ends a few ms after ours when both
    // start together: taking the VIPs for those ms would be a flap.
    Vhid v(config(100, false), 1);
    (void)v.start(t0);
    CHECK(v.input(from_peer(1, 0, 1), t0 + 2ms).empty());
    CHECK(v.state() == State::Backup);
    Output o = v.input(from_peer(1, 0, 1), t0 + 3s + 100 * kSkew);  // the hold is over
    CHECK(v.state() == State::Master);
    CHECK(o.transitions.at(0).reason == "master is demoted");
  }
  SECTION("BACKUP with preempt does not preempt a less demoted master") {
    Vhid v(config(0, true), 1);
    (void)v.start(t0);
    (void)v.set_demotion(1, now);
    (void)v.input(from_peer(1, 100, 0), now);
    CHECK(v.state() == State::Backup);
  }
  SECTION("a MASTER whose demotion changes tells the peer at once") {
    Vhid v = master(config(0));
    Output o = v.set_demotion(5, now);
    auto ads = adverts_in(o);
    REQUIRE(ads.size() == 1);
    CHECK(ads[0].demote == 5);
    CHECK(v.deadline() == now + 1s);
    CHECK(v.set_demotion(5, now).empty());
  }
}

TEST_CASE("BACKUP takes over from a master advertising slower than master-down", "[carp][vhid]") {
  SECTION("advbase 1 backup, advbase 4 master") {
    Vhid v(config(100, false), 1);
    (void)v.start(t0);
    Output o = v.input(from_peer(4, 0), t0 + 1s);
    CHECK(v.state() == State::Master);
    CHECK(o.transitions.at(0).reason == "master advertises slower than master-down");
  }
  SECTION("advbase 3 master is not slower than 3*1 + 100/256") {
    Vhid v(config(100, false), 1);
    (void)v.start(t0);
    (void)v.input(from_peer(3, 0), t0 + 1s);
    CHECK(v.state() == State::Backup);
  }
  SECTION("OpenBSD skips the rule when our advbase is 0") {
    Vhid v(config(100, false, "10.9.0.2", 0), 1);
    (void)v.start(t0);
    (void)v.input(from_peer(1, 0), t0 + 1s);
    CHECK(v.state() == State::Backup);
  }
}

TEST_CASE("bow-out: the backup takes over at once, a master ignores it", "[carp][vhid]") {
  SECTION("backup, even with advbase 0 and no preempt") {
    for (uint8_t advbase : {uint8_t(1), uint8_t(0)}) {
      Vhid v(config(100, false, "10.9.0.2", advbase), 1);
      (void)v.start(t0);
      const Time now = t0 + 10ms;
      Output o = v.input(from_peer(kBowOut, kBowOut), now);
      CHECK(v.state() == State::Master);
      CHECK(o.transitions.at(0).reason == "master bowed out");
      CHECK(adverts_in(o).size() == 1);
      CHECK(arps_in(o) == 1);
    }
  }
  SECTION("master") {
    Vhid v = master(config(100));
    CHECK(v.input(from_peer(kBowOut, kBowOut), t0 + 10s).empty());
    CHECK(v.state() == State::Master);
  }
}

TEST_CASE("shutdown: a MASTER sends one bow-out advert and goes to INIT", "[carp][vhid]") {
  Vhid v = master(config(0));
  Output o = v.shutdown(t0 + 10s);
  auto ads = adverts_in(o);
  REQUIRE(ads.size() == 1);
  CHECK(ads[0].bow_out());
  CHECK(v.state() == State::Init);
  CHECK(v.deadline() == kNever);
  CHECK(o.transitions.at(0).to == State::Init);

  Vhid b(config(100), 1);
  (void)b.start(t0);
  Output ob = b.shutdown(t0 + 1s);
  CHECK(ob.frames.empty());
  CHECK(b.state() == State::Init);
  CHECK(b.input(from_peer(1, 200), t0 + 2s).empty());  // INIT ignores adverts
}

TEST_CASE("advbase 0: sub-second adverts and master-down", "[carp][vhid]") {
  Vhid v(config(20, false, "10.9.0.2", 0), 1);
  (void)v.start(t0);
  CHECK(v.deadline() == t0 + 20 * kSkew);  // 78.125 ms: skew not tripled
  (void)v.timeout(v.deadline() - 1ns);
  CHECK(v.state() == State::Backup);
  const Time md = v.deadline();
  (void)v.timeout(md);
  CHECK(v.state() == State::Master);
  CHECK(v.deadline() == md + 20 * kSkew);
  auto ads = adverts_in(v.timeout(v.deadline()));
  REQUIRE(ads.size() == 1);
  CHECK(ads[0].advbase == 0);
  CHECK(ads[0].advskew == 20);

  SECTION("advbase 0 with advskew 0 (refused by config) still never spins") {
    Vhid z(config(0, false, "10.9.0.2", 0), 1);
    (void)z.start(t0);
    CHECK(z.deadline() == t0 + kSkew);
  }
}

TEST_CASE("maintenance: MASTER bows out, forwards until the peer's advert, then BACKUP", "[carp][vhid]") {
  Vhid v = master(config(0, true));
  const Time now = t0 + 10s;
  Output o = v.set_maintenance(true, now);
  auto ads = adverts_in(o);
  REQUIRE(ads.size() == 1);
  CHECK(ads[0].bow_out());
  CHECK(v.state() == State::Master);  // make-before-break
  CHECK(v.advskew() == kMaintenanceSkew);

  SECTION("the peer takes over and we step down") {
    Output p = v.input(from_peer(1, 100), now + 1ms);
    CHECK(v.state() == State::Backup);
    CHECK(p.transitions.at(0).reason == "peer took over (maintenance)");
    // Even with preempt on, a backup in maintenance does not take the VIP back.
    (void)v.input(from_peer(1, 100), now + 1s);
    CHECK(v.state() == State::Backup);
    // Leaving maintenance: preempt acts on the master's next advert.
    (void)v.set_maintenance(false, now + 2s);
    CHECK(v.advskew() == 0);
    (void)v.input(from_peer(1, 100), now + 3s);
    CHECK(v.state() == State::Master);
  }
  SECTION("nobody takes over: a lone node keeps serving, advertising skew 254") {
    CHECK(v.deadline() == now + 3s + 254 * kSkew);
    Output t = v.timeout(v.deadline());
    CHECK(v.state() == State::Master);
    auto ta = adverts_in(t);
    REQUIRE(ta.size() == 1);
    CHECK(ta[0].advskew == kMaintenanceSkew);
    CHECK(ta[0].advbase == 1);
  }
}

TEST_CASE("own adverts are recognised", "[carp][vhid]") {
  Vhid v = master(config(0));
  Output o = v.timeout(v.deadline());
  auto ads = adverts_in(o);
  REQUIRE(ads.size() == 1);
  CHECK(v.is_own(ads[0]));
  Advert reflected = ads[0];
  reflected.src = ip("10.9.0.77");  // same cookie from elsewhere: a replay
  CHECK(v.is_own(reflected));
  CHECK_FALSE(v.is_own(from_peer(1, 0)));
}

namespace {

// Two VHIDs on one fake segment: every advert one sends reaches the other
// (after decode + HMAC check), under a manual clock driven by the deadlines.
struct Link {
  std::vector<Vhid*> nodes;
  std::vector<bool> up;
  Time now = t0;

  void deliver(size_t from, const Output& o) {
    for (const auto& f : o.frames) {
      auto d = decode_advert(f.bytes);
      if (!std::holds_alternative<Advert>(d)) continue;  // gratuitous ARP
      for (size_t i = 0; i < nodes.size(); ++i)
        if (i != from && up[i] && nodes[i]->authentic(std::get<Advert>(d)))
          deliver(i, nodes[i]->input(std::get<Advert>(d), now));
    }
  }
  // Advance to the next deadline (at most `until`) and fire it.
  bool step(Time until) {
    Time next = kNever;
    for (size_t i = 0; i < nodes.size(); ++i)
      if (up[i]) next = std::min(next, nodes[i]->deadline());
    if (next > until) {
      now = until;
      return false;
    }
    now = next;
    for (size_t i = 0; i < nodes.size(); ++i)
      if (up[i] && nodes[i]->deadline() <= now) deliver(i, nodes[i]->timeout(now));
    return true;
  }
  void run_until(Time until) {
    while (step(until)) {
    }
  }
};

}  // namespace

TEST_CASE("two nodes converge to one MASTER (the lower skew); the other takes over when it dies",
          "[carp][vhid]") {
  Vhid a(config(0, false, "10.9.0.2"), 1000);
  Vhid b(config(100, false, "10.9.0.3"), 2000);
  Link link{.nodes = {&a, &b}, .up = {true, true}};
  (void)a.start(t0);
  (void)b.start(t0 + 300ms);  // boots a little later
  link.run_until(t0 + 30s);
  CHECK(a.state() == State::Master);
  CHECK(b.state() == State::Backup);
  CHECK(b.adverts_received() >= 25);

  // The master dies silently; the backup takes over within 3*advbase + skew/256.
  const Time died = link.now;
  link.up[0] = false;
  while (b.state() != State::Master && link.step(died + 10s)) {
  }
  CHECK(b.state() == State::Master);
  CHECK(link.now - died <= 3s + 100 * kSkew);
  CHECK(link.now - died > 2s);
  CHECK(b.last_transition_reason() == "master down timer expired");
}

TEST_CASE("two nodes that both became MASTER settle on the more preferred one", "[carp][vhid]") {
  // Started on a partitioned link, both become MASTER; then the link heals.
  Vhid a(config(100, false, "10.9.0.2"), 1);
  Vhid b(config(0, false, "10.9.0.3"), 2);
  Link link{.nodes = {&a, &b}, .up = {true, true}};
  (void)a.start(t0);
  (void)b.start(t0);
  (void)a.timeout(a.deadline());
  (void)b.timeout(b.deadline());
  REQUIRE(a.state() == State::Master);
  REQUIRE(b.state() == State::Master);
  link.now = std::min(a.deadline(), b.deadline()) - 1ns;
  link.run_until(link.now + 10s);
  CHECK(b.state() == State::Master);
  CHECK(a.state() == State::Backup);
}

TEST_CASE("link down: INIT, silent, no timer; link up: BACKUP for a full master-down", "[carp][vhid]") {
  Vhid v = master(config(0));
  const Time t = v.deadline();
  Output down = v.set_link(false, t);
  CHECK(v.state() == State::Init);
  CHECK(down.frames.empty());  // nothing can go out on a dead link
  REQUIRE(down.transitions.size() == 1);
  CHECK(down.transitions[0].reason == "interface link down");
  CHECK(v.deadline() == kNever);
  // Adverts and timers do nothing while the link is down.
  CHECK(v.input(from_peer(1, 100), t + 1s).empty());
  CHECK(v.set_link(false, t + 1s).empty());

  Output up = v.set_link(true, t + 2s);
  CHECK(v.state() == State::Backup);
  REQUIRE(up.transitions.size() == 1);
  CHECK(up.transitions[0].reason == "interface link up");
  CHECK(v.deadline() == t + 2s + 3s);  // waits a full master-down before it may take over
  CHECK(up.frames.empty());
}

TEST_CASE("a VHID whose link is down at start waits in INIT for it", "[carp][vhid]") {
  Vhid v(config(0), 1);
  (void)v.set_link(false, t0);
  CHECK(v.start(t0).empty());
  CHECK(v.state() == State::Init);
  (void)v.set_link(true, t0 + 1s);
  CHECK(v.state() == State::Backup);
}

TEST_CASE("after shutdown a link coming back does not restart the VHID", "[carp][vhid]") {
  Vhid v = master(config(0));
  (void)v.shutdown(t0);
  (void)v.set_link(false, t0);
  CHECK(v.set_link(true, t0).empty());
  CHECK(v.state() == State::Init);
}

TEST_CASE("every state change is counted, so flapping shows", "[carp][vhid]") {
  Vhid v(config(0), 1);
  CHECK(v.transitions() == 0);
  (void)v.start(t0);                              // INIT -> BACKUP
  (void)v.timeout(v.deadline());                  // BACKUP -> MASTER
  (void)v.input(from_peer(1, 0), t0 + 4s);        // another master, equal timing: steps down
  CHECK(v.state() == State::Backup);
  CHECK(v.transitions() == 3);
  CHECK(v.last_transition_reason() == "more frequent master advertised");
}
