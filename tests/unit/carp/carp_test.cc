#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <variant>

#include "carp/carp.h"
#include "carp/wire.h"

using namespace hafw;
using namespace hafw::carp;
using namespace std::chrono_literals;

namespace {

net::IpAddr ip(const char* s) { return *net::IpAddr::parse(s); }

constexpr Time t0 = 1000s;
constexpr Time kSkew = 3'906'250ns;

// The example address plan (docs/config.md): WAN VIP .200 vhid 200, LAN VIP .1 vhid 1.
std::vector<VhidConfig> plan(const char* wan_src, const char* lan_src, uint8_t skew, bool preempt = true) {
  return {
      VhidConfig{.interface = "wan", .vhid = 200, .addresses = {ip("198.51.100.200")}, .password = "wanpass",
                 .advbase = 1, .advskew = skew, .preempt = preempt, .src = ip(wan_src)},
      VhidConfig{.interface = "lan", .vhid = 1, .addresses = {ip("192.168.1.1")}, .password = "lanpass",
                 .advbase = 1, .advskew = skew, .preempt = preempt, .src = ip(lan_src)},
  };
}
Carp primary(bool preempt = true) { return Carp(plan("198.51.100.201", "192.168.1.2", 0, preempt)); }
Carp secondary(bool preempt = true) { return Carp(plan("198.51.100.202", "192.168.1.3", 100, preempt)); }

uint64_t drops(const Carp& c, Drop d) { return c.stats().drops[size_t(d)]; }

std::vector<State> states(const Carp& c) {
  std::vector<State> s;
  for (const auto& v : c.status()) s.push_back(v.state);
  return s;
}

// A frame the secondary would send for wan/200, with its own password.
Frame peer_advert(const char* password, uint8_t advskew, uint8_t ttl = 255) {
  const net::IpAddr vip = ip("198.51.100.200");
  Frame f = encode_advert({.vhid = 200, .advbase = 1, .advskew = advskew, .demote = 0, .counter = 5},
                          Auth(password, 200, {&vip, 1}),
                          {.src = ip("198.51.100.202"), .dst = ip("224.0.0.18"), .eth_dst = kCarpGroupMac});
  if (ttl != 255) {  // rewrite TTL and the IP checksum
    f[14 + 8] = ttl;
    f[14 + 10] = f[14 + 11] = 0;
    uint16_t c = net::inet_checksum({&f[14], 20});
    std::memcpy(&f[14 + 10], &c, 2);
  }
  return f;
}

bool is_v6(const Frame& f) { return f.size() > 13 && f[12] == 0x86 && f[13] == 0xdd; }
bool is_na(const Frame& f) { return is_v6(f) && f.size() > 54 && f[14 + 6] == 58 && f[54] == 136; }
bool is_arp(const Frame& f) { return f.size() > 13 && f[12] == 0x08 && f[13] == 0x06; }

// Two nodes with their wan and lan ports on two fake segments, manual clock.
struct Pair {
  Carp a, b;
  bool a_up = true, b_up = true;
  Time now = t0;
  uint64_t delivered = 0;

  Carp& other(const Carp& n) { return &n == &a ? b : a; }
  bool up(const Carp& n) const { return &n == &a ? a_up : b_up; }

  void deliver(Carp& from, const Output& o) {
    Carp& to = other(from);
    if (!up(to)) return;
    for (const auto& f : o.frames) {
      if (f.bytes.size() > 13 && f.bytes[12] == 0x08 && f.bytes[13] == 0x06) continue;  // ARP
      if (is_na(f.bytes)) continue;  // the workers answer or learn ND; only CARP is punted
      ++delivered;
      deliver(to, to.receive(f.bytes, f.interface, now));
    }
  }
  void start() {
    deliver(a, a.start(now));
    deliver(b, b.start(now + 200ms));
  }
  void run_until(Time until) {
    for (;;) {
      Time next = std::min(a_up ? a.next_deadline() : kNever, b_up ? b.next_deadline() : kNever);
      if (next > until) break;
      now = next;
      if (a_up) deliver(a, a.poll(now));
      if (b_up) deliver(b, b.poll(now));
    }
    now = until;
  }
};

}  // namespace

TEST_CASE("node: start puts every VHID in BACKUP with its master-down timer", "[carp][node]") {
  Carp n = secondary();
  CHECK(n.next_deadline() == kNever);
  Output o = n.start(t0);
  CHECK(o.transitions.size() == 2);
  CHECK(o.frames.empty());
  CHECK(states(n) == std::vector<State>{State::Backup, State::Backup});
  CHECK(n.next_deadline() == t0 + 3s + 100 * kSkew);
  CHECK(n.poll(n.next_deadline() - 1ns).empty());
}

TEST_CASE("node: timers fire per VHID and frames name their interface", "[carp][node]") {
  Carp n = primary();
  (void)n.start(t0);
  Output o = n.poll(t0 + 3s);
  CHECK(states(n) == std::vector<State>{State::Master, State::Master});
  REQUIRE(o.frames.size() == 4);  // advert + ARP per VHID
  CHECK(o.frames[0].interface == "wan");
  CHECK(o.frames[2].interface == "lan");
  CHECK(n.stats().adverts_sent == 2);
  auto st = n.status();
  REQUIRE(st.size() == 2);
  CHECK(st[0].interface == "wan");
  CHECK(st[0].vhid == 200);
  CHECK(st[0].advbase == 1);
  CHECK(st[0].advskew == 0);
  CHECK(st[0].addresses == std::vector<net::IpAddr>{ip("198.51.100.200")});
  CHECK(st[0].last_transition_reason == "master down timer expired");
  CHECK(st[0].adverts_sent == 1);
  CHECK(n.next_deadline() == t0 + 4s);
  (void)n.poll(t0 + 4s);
  CHECK(n.stats().adverts_sent == 4);
}

TEST_CASE("node: wrong password is counted as BadAuth and changes nothing", "[carp][node]") {
  Carp n = primary(false);
  (void)n.start(t0);
  const Time md = n.next_deadline();
  // A more preferred master, but with the wrong password.
  const Output bad = n.receive(peer_advert("wrong", 0), "wan", t0 + 1s);
  CHECK(bad.frames.empty());
  CHECK(bad.transitions.empty());
  REQUIRE(bad.notices.size() == 1);  // the operator hears of it, with the sender
  CHECK(bad.notices[0].find("bad HMAC from") != std::string::npos);
  CHECK(drops(n, Drop::BadAuth) == 1);
  CHECK(n.status()[0].bad_auth == 1);
  CHECK(n.status()[0].adverts_received == 0);
  CHECK(n.next_deadline() == md);  // master-down not re-armed by a forgery
  (void)n.poll(md);
  CHECK(n.status()[0].state == State::Master);
}

TEST_CASE("node: every malformed advert is counted by reason", "[carp][node]") {
  Carp n = primary(false);
  (void)n.start(t0);
  Frame good = peer_advert("wanpass", 100);
  (void)n.receive(peer_advert("wanpass", 100, 64), "wan", t0);
  CHECK(drops(n, Drop::BadTtl) == 1);
  Frame bad_sum = good;
  bad_sum[14 + 20 + 10] ^= 0xff;
  (void)n.receive(bad_sum, "wan", t0);
  CHECK(drops(n, Drop::BadChecksum) == 1);
  Frame bad_ver = good;
  bad_ver[14 + 20] = 0x11;
  bad_ver[14 + 20 + 6] = bad_ver[14 + 20 + 7] = 0;
  uint16_t c = net::inet_checksum({&bad_ver[34], 36});
  std::memcpy(&bad_ver[34 + 6], &c, 2);
  (void)n.receive(bad_ver, "wan", t0);
  CHECK(drops(n, Drop::BadVersion) == 1);
  (void)n.receive(good, "lan", t0);  // vhid 200 lives on wan only
  CHECK(drops(n, Drop::UnknownVhid) == 1);
  (void)n.receive(good, "wan", t0);
  CHECK(n.stats().adverts_received == 1);
  CHECK(n.status()[0].adverts_received == 1);
  CHECK(n.stats().packets_received == 5);
  CHECK(states(n) == std::vector<State>{State::Backup, State::Backup});
}

TEST_CASE("node: our own advert coming back is dropped as OwnAdvert", "[carp][node]") {
  Carp n = primary();
  (void)n.start(t0);
  Output o = n.poll(t0 + 3s);
  REQUIRE(!o.frames.empty());
  (void)n.receive(o.frames[0].bytes, o.frames[0].interface, t0 + 3s);
  CHECK(drops(n, Drop::OwnAdvert) == 1);
  CHECK(n.stats().adverts_received == 0);
  CHECK(n.status()[0].state == State::Master);
}

TEST_CASE("node pair: primary MASTER, secondary BACKUP; secondary takes over when primary dies",
          "[carp][node]") {
  Pair p{primary(), secondary()};
  p.start();
  p.run_until(t0 + 20s);
  CHECK(states(p.a) == std::vector<State>{State::Master, State::Master});
  CHECK(states(p.b) == std::vector<State>{State::Backup, State::Backup});
  CHECK(p.b.stats().drops == std::array<uint64_t, size_t(Drop::Count)>{});

  p.a_up = false;  // killed: no bow-out
  p.run_until(p.now + 3s + 100 * kSkew);
  CHECK(states(p.b) == std::vector<State>{State::Master, State::Master});
}

TEST_CASE("node pair: maintenance hands over at once and preempt takes it back", "[carp][node]") {
  Pair p{primary(), secondary()};
  p.start();
  p.run_until(t0 + 20s);
  REQUIRE(states(p.a) == std::vector<State>{State::Master, State::Master});

  // The bow-out, the secondary's takeover advert and our step-down all happen
  // at the same instant: no interval with nobody forwarding.
  p.deliver(p.a, p.a.set_maintenance(true, p.now));
  CHECK(states(p.b) == std::vector<State>{State::Master, State::Master});
  CHECK(states(p.a) == std::vector<State>{State::Backup, State::Backup});
  CHECK(p.a.status()[0].advskew == kMaintenanceSkew);
  p.run_until(p.now + 30s);  // stays put
  CHECK(states(p.a) == std::vector<State>{State::Backup, State::Backup});

  p.deliver(p.a, p.a.set_maintenance(false, p.now));
  p.run_until(p.now + 2s);  // the secondary's next advert triggers preemption
  CHECK(states(p.a) == std::vector<State>{State::Master, State::Master});
  CHECK(states(p.b) == std::vector<State>{State::Backup, State::Backup});
}

TEST_CASE("node pair: shutdown bows out and the backup takes over immediately", "[carp][node]") {
  Pair p{primary(false), secondary(false)};
  p.start();
  p.run_until(t0 + 20s);
  REQUIRE(states(p.a) == std::vector<State>{State::Master, State::Master});
  p.deliver(p.a, p.a.shutdown(p.now));
  p.a_up = false;
  CHECK(states(p.a) == std::vector<State>{State::Init, State::Init});
  CHECK(states(p.b) == std::vector<State>{State::Master, State::Master});
  CHECK(p.b.status()[1].last_transition_reason == "master bowed out");
}

TEST_CASE("node pair: demoting the master moves the VIPs without preempt", "[carp][node]") {
  Pair p{primary(false), secondary(false)};
  p.start();
  p.run_until(t0 + 20s);
  p.deliver(p.a, p.a.set_demotion(1, p.now));
  CHECK(states(p.b) == std::vector<State>{State::Master, State::Master});
  CHECK(states(p.a) == std::vector<State>{State::Backup, State::Backup});
  // Healthy again: without preempt the secondary keeps the VIPs.
  p.deliver(p.a, p.a.set_demotion(0, p.now));
  p.run_until(p.now + 20s);
  CHECK(states(p.b) == std::vector<State>{State::Master, State::Master});
}

TEST_CASE("node: unicast adverts go to the peer's MAC once known, broadcast before", "[carp][node]") {
  auto cfg = plan("198.51.100.201", "192.168.1.2", 0);
  cfg[0].peer = ip("198.51.100.202");
  Carp n(cfg);
  (void)n.start(t0);
  Output o = n.poll(t0 + 3s);
  REQUIRE(o.frames[0].interface == "wan");
  CHECK(std::memcmp(o.frames[0].bytes.data(), net::Mac::broadcast().b.data(), 6) == 0);
  auto d = decode_advert(o.frames[0].bytes);
  REQUIRE(std::holds_alternative<Advert>(d));
  CHECK(std::get<Advert>(d).dst == ip("198.51.100.202"));

  const net::Mac peer_mac = *net::Mac::parse("02:00:00:00:02:02");
  n.set_peer_mac(ip("198.51.100.202"), peer_mac);
  Output o2 = n.poll(n.next_deadline());
  REQUIRE(!o2.frames.empty());
  CHECK(std::memcmp(o2.frames[0].bytes.data(), peer_mac.b.data(), 6) == 0);
  // The multicast VHID is unaffected.
  CHECK(std::memcmp(o2.frames[1].bytes.data(), kCarpGroupMac.b.data(), 6) == 0);
}

TEST_CASE("drop and state names", "[carp]") {
  CHECK(std::string(state_name(State::Master)) == "MASTER");
  CHECK(std::string(state_name(State::Backup)) == "BACKUP");
  CHECK(std::string(state_name(State::Init)) == "INIT");
  CHECK(std::string(drop_name(Drop::BadAuth)) == "bad_auth");
  CHECK(std::string(drop_name(Drop::NotCarp)) == "not_carp");
  CHECK(std::string(drop_name(Drop::Count)) == "unknown");
}

TEST_CASE("node: bad-HMAC notices name the sender and come at most once a minute", "[carp][node]") {
  Carp n = primary(false);
  (void)n.start(t0);
  CHECK(n.receive(peer_advert("wrong", 0), "wan", t0 + 1s).notices.size() == 1);
  CHECK(n.receive(peer_advert("wrong", 0), "wan", t0 + 2s).notices.empty());
  CHECK(n.receive(peer_advert("wrong", 0), "wan", t0 + 62s).notices.size() == 1);
  CHECK(n.status()[0].bad_auth == 3);
  CHECK(n.status()[0].last_bad_auth_from.find("198.51.100.202") == 0);
}

TEST_CASE("node: a master that keeps advertising without yielding is reported as a split brain", "[carp][node]") {
  Carp n = primary(true);
  (void)n.start(t0);
  (void)n.poll(t0 + 3s);
  REQUIRE(n.status()[0].state == State::Master);
  // A less preferred master (skew 100) that does not hear us keeps
  // advertising: we stay MASTER; the third advert in a row is reported.
  size_t notices = 0;
  for (int i = 1; i <= 3; ++i) {
    const Output o = n.receive(peer_advert("wanpass", 100), "wan", t0 + 3s + std::chrono::seconds(i));
    notices += o.notices.size();
    CHECK(n.status()[0].state == State::Master);
    CHECK(notices == (i == 3 ? 1u : 0u));
  }
  CHECK(n.status()[0].masters_heard == 3);
  CHECK(n.status()[0].last_master_heard_from.find("198.51.100.202") == 0);
}

namespace {
size_t count_notices(const Output& o, const std::string& prefix) {
  return size_t(std::count_if(o.notices.begin(), o.notices.end(),
                              [&](const std::string& n) { return n.starts_with(prefix); }));
}
}  // namespace

TEST_CASE("node: a split master across interfaces is reported once it outlasts a master-down interval",
          "[carp][node][split]") {
  Carp n = primary();
  (void)n.start(t0);
  (void)n.poll(t0 + 3s);
  REQUIRE(states(n) == std::vector<State>{State::Master, State::Master});
  CHECK_FALSE(n.split().active);

  // The LAN link fails and nothing else demotes (carp.demotion_scope
  // "interface"): WAN stays MASTER here while LAN is INIT.
  const Time down = t0 + 3500ms;
  Output o = n.set_link("lan", false, down);
  CHECK(states(n) == std::vector<State>{State::Master, State::Init});
  CHECK(n.split().active);
  CHECK_FALSE(n.split().reported);
  CHECK(count_notices(o, "split master") == 0);
  // The report is a deadline of its own: one master-down interval (3 s at skew 0).
  CHECK(n.next_deadline() <= down + 3s);
  Output all;
  for (Time t = n.next_deadline(); t < down + 3s; t = n.next_deadline()) all.append(n.poll(t));
  CHECK(count_notices(all, "split master") == 0);
  o = n.poll(down + 3s);
  REQUIRE(count_notices(o, "split master: ") == 1);
  CHECK(o.notices.back().find("MASTER: wan vhid 200; not MASTER: lan vhid 1 (INIT)") != std::string::npos);
  CHECK(n.split().reported);
  CHECK(n.split().times == 1);
  CHECK(n.split().since == down);
  CHECK(n.split().detail == "MASTER: wan vhid 200; not MASTER: lan vhid 1 (INIT)");
  // Told once, not per advert.
  all = {};
  for (Time t = n.next_deadline(); t < down + 10s; t = n.next_deadline()) all.append(n.poll(t));
  CHECK(count_notices(all, "split master") == 0);

  // The link returns: LAN listens as BACKUP (still split), then, hearing no
  // master, takes over: the split is over, and that is told too.
  o = n.set_link("lan", true, down + 10s);
  CHECK(n.split().detail == "MASTER: wan vhid 200; not MASTER: lan vhid 1 (BACKUP)");
  CHECK(count_notices(o, "split master") == 0);
  all = {};
  while (n.status()[1].state != State::Master) all.append(n.poll(n.next_deadline()));
  CHECK(count_notices(all, "split master over") == 1);
  CHECK_FALSE(n.split().active);
  CHECK(n.split().times == 1);
}

TEST_CASE("node: a split shorter than a master-down interval is not reported", "[carp][node][split]") {
  Carp n = primary();
  (void)n.start(t0);
  (void)n.poll(t0 + 3s);
  Output all = n.set_link("lan", false, t0 + 3500ms);
  for (Time t = n.next_deadline(); t < t0 + 5s; t = n.next_deadline()) all.append(n.poll(t));
  // The WAN VHID follows before the grace runs out (the node-wide demotion
  // does this in a second; here its link goes too): nothing is split any more.
  all.append(n.set_link("wan", false, t0 + 5s));
  CHECK_FALSE(n.split().active);
  all.append(n.poll(t0 + 20s));
  CHECK(count_notices(all, "split master") == 0);
  CHECK(n.split().times == 0);
}

TEST_CASE("node pair: a demoted node moving every VIP reports no split", "[carp][node][split]") {
  Pair p{primary(), secondary()};
  p.start();
  p.run_until(t0 + 5s);
  REQUIRE(states(p.a) == std::vector<State>{State::Master, State::Master});
  p.deliver(p.a, p.a.set_demotion(1, p.now));
  p.run_until(t0 + 30s);
  CHECK(states(p.b) == std::vector<State>{State::Master, State::Master});
  CHECK(p.a.split().times == 0);
  CHECK(p.b.split().times == 0);
}

namespace {

// The LAN VHID with IPv6 VIPs: only 2001:db8:1::1 (v6only), or that and
// 192.168.1.1 (dual stack). src6 is the link-local address of the node's LAN
// MAC (02:00:00:00:01:0N).
std::vector<VhidConfig> plan6(bool dual, const char* src, const char* src6, uint8_t skew) {
  VhidConfig v{.interface = "lan", .vhid = 1, .addresses = {ip("2001:db8:1::1")}, .password = "lanpass",
               .advbase = 1, .advskew = skew, .preempt = true, .src = ip(src), .src6 = ip(src6)};
  if (dual) v.addresses.insert(v.addresses.begin(), ip("192.168.1.1"));
  return {v};
}
Carp primary6(bool dual) { return Carp(plan6(dual, "192.168.1.2", "fe80::ff:fe00:102", 0)); }
Carp secondary6(bool dual) { return Carp(plan6(dual, "192.168.1.3", "fe80::ff:fe00:103", 100)); }

std::vector<Advert> adverts_of(const Output& o) {
  std::vector<Advert> v;
  for (const auto& f : o.frames)
    if (auto d = decode_advert(f.bytes); std::holds_alternative<Advert>(d)) v.push_back(std::get<Advert>(d));
  return v;
}

size_t count(const Output& o, bool (*what)(const Frame&)) {
  return size_t(std::count_if(o.frames.begin(), o.frames.end(), [&](const OutFrame& f) { return what(f.bytes); }));
}

}  // namespace

TEST_CASE("node pair: an IPv6-only VHID elects over IPv6 adverts and fails over", "[carp][node][ipv6]") {
  Pair p{primary6(false), secondary6(false)};
  p.start();
  // The primary's first advert: IPv6 only, from its link-local address to
  // ff02::12, and one unsolicited NA (no ARP: no IPv4 VIP).
  Output first = p.a.poll(t0 + 3s);
  p.now = t0 + 3s;
  const auto ads = adverts_of(first);
  REQUIRE(ads.size() == 1);
  CHECK(ads[0].src == ip("fe80::ff:fe00:102"));
  CHECK(ads[0].dst == ip("ff02::12"));
  CHECK(std::all_of(first.frames.begin(), first.frames.end(), [](const OutFrame& f) { return is_v6(f.bytes); }));
  CHECK(count(first, is_na) == 1);
  CHECK(count(first, is_arp) == 0);
  p.deliver(p.a, first);
  p.run_until(t0 + 20s);
  CHECK(states(p.a) == std::vector<State>{State::Master});
  CHECK(states(p.b) == std::vector<State>{State::Backup});
  // Every advert the backup got went through the HMAC and the election.
  CHECK(p.b.stats().adverts_received >= 15);
  CHECK(p.b.stats().drops == std::array<uint64_t, size_t(Drop::Count)>{});
  CHECK(p.b.status()[0].bad_auth == 0);

  p.a_up = false;  // killed: no bow-out
  const Time md = p.b.next_deadline();  // the last advert heard + 3 s + 100/256 s
  REQUIRE(md > p.now);
  p.run_until(md - 1ns);
  CHECK(states(p.b) == std::vector<State>{State::Backup});
  Output takeover = p.b.poll(md);
  CHECK(states(p.b) == std::vector<State>{State::Master});
  CHECK(adverts_of(takeover).size() == 1);
  CHECK(adverts_of(takeover)[0].src == ip("fe80::ff:fe00:103"));
  CHECK(count(takeover, is_na) == 1);
}

TEST_CASE("node: a dual-stack VHID advertises over IPv4 and IPv6 each interval", "[carp][node][ipv6]") {
  Carp n = primary6(true);
  (void)n.start(t0);
  Output o = n.poll(t0 + 3s);
  REQUIRE(states(n) == std::vector<State>{State::Master});
  // The advert in both families with one counter, then ARP and NA.
  auto ads = adverts_of(o);
  REQUIRE(ads.size() == 2);
  CHECK(ads[0].src == ip("192.168.1.2"));
  CHECK(ads[0].dst == ip("224.0.0.18"));
  CHECK(ads[1].src == ip("fe80::ff:fe00:102"));
  CHECK(ads[1].dst == ip("ff02::12"));
  CHECK(ads[0].counter == ads[1].counter);
  CHECK(count(o, is_arp) == 1);
  CHECK(count(o, is_na) == 1);
  CHECK(n.stats().adverts_sent == 2);
  // One interval on: two adverts again, no announcements; the second
  // interval repeats ARP and NA together (sc_delayed_arp = 2).
  Output o2 = n.poll(t0 + 4s);
  CHECK(adverts_of(o2).size() == 2);
  CHECK(count(o2, is_arp) + count(o2, is_na) == 0);
  Output o3 = n.poll(t0 + 5s);
  CHECK(adverts_of(o3).size() == 2);
  CHECK(count(o3, is_arp) == 1);
  CHECK(count(o3, is_na) == 1);
  CHECK(count(n.poll(t0 + 6s), is_na) == 0);
  // A dual-stack peer's IPv4 and IPv6 adverts both authenticate here.
  Carp b = secondary6(true);
  (void)b.start(t0);
  for (const auto& f : o2.frames) (void)b.receive(f.bytes, "lan", t0 + 4s);
  CHECK(b.stats().adverts_received == 2);
  CHECK(b.status()[0].bad_auth == 0);
  // Our own IPv6 advert come back is ours (by its link-local source).
  for (const auto& f : o2.frames) (void)n.receive(f.bytes, "lan", t0 + 4s);
  CHECK(drops(n, Drop::OwnAdvert) == 2);
}

TEST_CASE("node: IPv6 adverts are refused by the IPv4 rules (hop limit, HMAC)", "[carp][node][ipv6]") {
  Carp n = secondary6(true);
  (void)n.start(t0);
  Carp a = primary6(true);
  (void)a.start(t0);
  Output o = a.poll(t0 + 3s);
  Frame v6;
  for (const auto& f : o.frames)
    if (is_v6(f.bytes) && !is_na(f.bytes)) v6 = f.bytes;
  REQUIRE(v6.size() == kAdvertFrameLen6);
  Frame routed = v6;
  routed[14 + 7] = 64;
  (void)n.receive(routed, "lan", t0);
  CHECK(drops(n, Drop::BadTtl) == 1);
  // A peer whose VHID lacks the IPv6 VIP: its IPv6 advert fails our HMAC.
  Carp other(std::vector<VhidConfig>{[] {
    auto v = plan6(true, "192.168.1.4", "fe80::ff:fe00:104", 0)[0];
    v.addresses.push_back(ip("2001:db8:1::2"));
    return v;
  }()});
  (void)other.start(t0);
  for (const auto& f : other.poll(t0 + 3s).frames) (void)n.receive(f.bytes, "lan", t0 + 3s);
  CHECK(drops(n, Drop::BadAuth) == 2);  // its IPv4 and its IPv6 advert
  CHECK(n.status()[0].last_bad_auth_from.find("fe80::ff:fe00:104") != std::string::npos);
  // Its ARP and two NAs were offered too: not CARP. Every frame is counted.
  CHECK(n.stats().packets_received == 1 + 5);
  CHECK(drops(n, Drop::NotCarp) == 3);
}

TEST_CASE("node: a dual-stack master that does not yield is reported after three rounds, not three frames",
          "[carp][node][ipv6]") {
  Carp n = primary6(true);
  (void)n.start(t0);
  (void)n.poll(t0 + 3s);
  REQUIRE(n.status()[0].state == State::Master);
  // A less preferred dual-stack master (skew 100) that does not hear us:
  // each round brings its IPv4 and its IPv6 advert.
  Carp other = secondary6(true);
  (void)other.start(t0);
  (void)other.poll(t0 + 3s + 100 * kSkew);
  size_t notices = 0;
  for (int i = 1; i <= 3; ++i) {
    const Time at = t0 + 3s + std::chrono::seconds(i);
    const Output round = other.poll(other.next_deadline());
    REQUIRE(adverts_of(round).size() == 2);
    for (const auto& f : round.frames) notices += n.receive(f.bytes, "lan", at).notices.size();
    CHECK(n.status()[0].state == State::Master);
    CHECK(notices == (i == 3 ? 1u : 0u));
  }
  CHECK(n.status()[0].masters_heard == 6);  // every frame is counted
}

// ------------------------------------------------------------ receive path
//
// Carp::poll's heard_through: a master-down timeout waits until the receive
// path has looked past it (PacketIo::received_through), so that an advert
// still in a worker's queue is not taken for a silent master.

namespace {

constexpr Time kMasterDown = 3s + 100 * kSkew;  // the secondary's, advbase 1 skew 100

// The primary's advert for wan/200 (advskew 0, from its own address).
Frame primary_advert() {
  const net::IpAddr vip = ip("198.51.100.200");
  return encode_advert({.vhid = 200, .advbase = 1, .advskew = 0, .demote = 0, .counter = 9},
                       Auth("wanpass", 200, {&vip, 1}),
                       {.src = ip("198.51.100.201"), .dst = ip("224.0.0.18"), .eth_dst = kCarpGroupMac});
}

}  // namespace

TEST_CASE("node: a master-down timeout waits for the receive path; an advert still in it cancels the takeover",
          "[carp][node][hold]") {
  Carp n = secondary();
  n.start(t0);
  const Time down = t0 + kMasterDown;
  REQUIRE(n.next_deadline() == down);

  // The timer is due, but the workers last emptied their queues 1 ms before.
  Output o = n.poll(down, down - 1ms);
  CHECK(o.frames.empty());
  CHECK(states(n) == std::vector<State>{State::Backup, State::Backup});
  CHECK(n.next_deadline() == down + 50us);  // look again soon, not spin
  for (const auto& v : n.status()) CHECK(v.takeovers_held == 1);

  // The master's wan advert was in the queue: it comes out now.
  n.receive(primary_advert(), "wan", down + 30us);
  // The receive path is past the deadline: lan heard nothing and takes
  // over; wan heard its master and stays.
  n.poll(down + 50us, down + 40us);
  CHECK(states(n) == std::vector<State>{State::Backup, State::Master});
  const auto st = n.status();
  CHECK(st[0].takeovers_held == 1);
  CHECK(st[0].takeovers_averted == 1);
  CHECK(st[0].transitions == 1);  // INIT -> BACKUP only
  CHECK(st[1].takeovers_averted == 0);
  CHECK(st[1].last_transition_reason == "master down timer expired");
}

TEST_CASE("node: a receive path that stays behind holds a takeover one master-down interval at most",
          "[carp][node][hold]") {
  Carp n = secondary();
  n.start(t0);
  const Time down = t0 + kMasterDown;
  n.poll(down, t0);
  n.poll(down + kMasterDown - 1us, t0);
  CHECK(states(n) == std::vector<State>{State::Backup, State::Backup});
  n.poll(down + kMasterDown, t0);  // a worker stuck that long: the node takes over anyway
  CHECK(states(n) == std::vector<State>{State::Master, State::Master});
  for (const auto& v : n.status()) {
    CHECK(v.takeovers_held == 1);
    CHECK(v.takeovers_averted == 0);
  }
}

TEST_CASE("node: a receive path already past the deadline takes over at once", "[carp][node][hold]") {
  Carp n = secondary();
  n.start(t0);
  const Time down = t0 + kMasterDown;
  n.poll(down, down);
  CHECK(states(n) == std::vector<State>{State::Master, State::Master});
  for (const auto& v : n.status()) CHECK(v.takeovers_held == 0);
}

TEST_CASE("node: a stall of the backup itself does not count as listening to a silent master",
          "[carp][node][hold]") {
  Carp n = secondary();
  n.start(t0);
  const Time down = t0 + kMasterDown;
  // 20 ms before its timer would run out, the node stops running for 30 ms.
  n.discount_stall(30ms);
  CHECK(n.next_deadline() == down + 30ms);
  n.poll(down + 1ms, kNever);
  CHECK(states(n) == std::vector<State>{State::Backup, State::Backup});
  for (const auto& v : n.status()) CHECK(v.stalls_discounted == 1);

  // The master's advert restarts the wan timer; the lan one keeps running.
  n.receive(primary_advert(), "wan", down + 2ms);
  // Stalls add up to one master-down interval per advert heard, no more:
  // a node that keeps stalling still takes over from a dead master.
  n.discount_stall(10s);
  CHECK(n.status()[0].state == State::Backup);
  const Time lan_deadline = down + kMasterDown;  // 30 ms + the rest of the interval
  n.poll(lan_deadline - 1us, kNever);
  CHECK(n.status()[1].state == State::Backup);
  n.poll(lan_deadline, kNever);
  CHECK(n.status()[1].state == State::Master);
  // wan: restarted at down + 2 ms, pushed one whole interval.
  n.poll(down + 2ms + 2 * kMasterDown - 1us, kNever);
  CHECK(n.status()[0].state == State::Backup);
  n.poll(down + 2ms + 2 * kMasterDown, kNever);
  CHECK(n.status()[0].state == State::Master);
}

TEST_CASE("node: a master's timers are not moved by a stall", "[carp][node][hold]") {
  Carp n = primary();
  n.start(t0);
  n.poll(t0 + 3s, kNever);  // master down: MASTER, adverts every second
  REQUIRE(states(n) == std::vector<State>{State::Master, State::Master});
  const Time next = n.next_deadline();
  n.discount_stall(500ms);
  CHECK(n.next_deadline() == next);
  for (const auto& v : n.status()) CHECK(v.stalls_discounted == 0);
}
