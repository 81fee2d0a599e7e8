// The state table: insert-if-absent, both directions (plain, NAT'd, ICMP,
// IPv6), a full table, kill, refresh, expiry and reclamation under RCU,
// counters, listing; then workers and a reaper on real threads (this binary
// also runs under ThreadSanitizer, concurrency suite).
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "dataplane/rcu.h"
#include "dataplane/state_table.h"

using namespace hafw;
using Inserted = dp::StateTable::Inserted;
using dp::NatSide;
using dp::StateTable;

namespace {

std::array<uint8_t, 16> v4(uint32_t host_order) {
  std::array<uint8_t, 16> a{};
  const uint32_t be = net::be32(host_order);
  std::memcpy(a.data(), &be, 4);
  return a;
}

net::FlowKey flow(uint8_t proto, std::array<uint8_t, 16> src, uint16_t sport, std::array<uint8_t, 16> dst,
                  uint16_t dport, net::Family af = net::Family::V4) {
  net::FlowKey k;
  k.af = af;
  k.proto = proto;
  k.src = src;
  k.dst = dst;
  k.sport = net::be16(sport);
  k.dport = net::be16(dport);
  return k;
}

constexpr uint32_t kServer = 0xc0000201;  // 192.0.2.1
constexpr uint32_t kVip = 0xc6336401;     // 198.51.100.1

// A UDP flow from 10.0.x.y:port to 192.0.2.1:53.
net::FlowKey fwd(uint32_t n) {
  return flow(net::kProtoUdp, v4(0x0a000000 | (n & 0xffff)), uint16_t(1024 + (n >> 16)), v4(kServer), 53);
}

using net::reversed;

dp::StateInit init(uint32_t n, uint32_t lifetime = 60) {
  dp::StateInit i;
  i.key = fwd(n);
  i.lifetime = lifetime;
  i.id = n;
  return i;
}

// Outbound NAT of flow n to the VIP, port 20000 + n: the replies come back
// as 192.0.2.1:53 -> VIP:20000+n.
dp::StateInit nat_init(uint16_t vip_ref, uint32_t n, uint32_t lifetime = 60) {
  dp::StateInit i = init(n, lifetime);
  i.nat = {NatSide::Src, vip_ref, net::be16(uint16_t(20000 + n))};
  return i;
}

net::FlowKey nat_reply(uint32_t n) {
  return flow(net::kProtoUdp, v4(kServer), 53, v4(kVip), uint16_t(20000 + n));
}

net::IpAddr addr(uint32_t host_order) { return net::IpAddr::v4(host_order); }

// lookup_bulk over `keys` gives what lookup gives for each.
bool bulk_matches_single(const StateTable& t, const std::vector<net::FlowKey>& keys) {
  std::vector<const net::FlowKey*> ptrs;
  std::vector<uint64_t> hashes;
  for (const auto& k : keys) {
    ptrs.push_back(&k);
    hashes.push_back(StateTable::hash(k));
  }
  std::vector<dp::Hit> out(keys.size());
  t.lookup_bulk(ptrs, hashes, out);
  for (size_t i = 0; i < keys.size(); ++i) {
    const dp::Hit one = t.lookup(keys[i]);
    if (out[i].state != one.state || out[i].dir != one.dir) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("a new state is found from both directions and only once", "[state]") {
  StateTable t(64);
  auto r = t.insert(init(1), 100);
  REQUIRE(r.result == Inserted::New);
  const dp::Hit there = t.lookup(fwd(1));
  const dp::Hit back = t.lookup(reversed(fwd(1)));
  REQUIRE(there.found());
  REQUIRE(back.found());
  CHECK(there.state == r.hit.state);
  CHECK(back.state == r.hit.state);
  CHECK(there.dir == 0);
  CHECK(back.dir == 1);
  CHECK(t.key(r.hit.state, 0) == fwd(1));
  CHECK(t.key(r.hit.state, 1) == reversed(fwd(1)));
  CHECK(t.at(r.hit.state).id == 1);
  CHECK(t.at(r.hit.state).created == 100);
  CHECK(t.at(r.hit.state).expire == 160);
  CHECK(t.nat(r.hit.state).side == NatSide::None);
  CHECK_FALSE(t.lookup(fwd(2)).found());
  CHECK(t.in_use() == 1);

  // The same connection again: the existing state, no second one; nor from
  // the other side (its key[0] is the first one's key[1]).
  auto again = t.insert(init(1), 101);
  CHECK(again.result == Inserted::Exists);
  CHECK(again.hit.state == r.hit.state);
  dp::StateInit other_way = init(1);
  other_way.key = reversed(fwd(1));
  auto back_again = t.insert(other_way, 101);
  CHECK(back_again.result == Inserted::Exists);
  CHECK(back_again.hit.state == r.hit.state);
  CHECK(back_again.hit.dir == 1);
  CHECK(t.in_use() == 1);
}

TEST_CASE("a new state starts with what it was given", "[state]") {
  StateTable t(8);
  dp::StateInit i = init(5, 30);
  i.rule = 17;
  i.creator = t.intern_creator(0xabcdef);
  i.seqlo[0] = 1000;
  i.seqlo[1] = 2000;
  i.seqhi[0] = 3000;
  i.seqhi[1] = 4000;
  i.max_win[0] = 512;
  i.max_win[1] = 1024;
  i.peer[0] = dp::peer_byte(dp::tcps::SynSent, 7);
  i.peer[1] = dp::peer_byte(dp::tcps::Closed, dp::kNoWscale);
  auto r = t.insert(i, 50);
  REQUIRE(r.result == Inserted::New);
  const dp::State& s = t.at(r.hit.state);
  CHECK(s.rule == 17);
  CHECK(t.creator_id(s.creator) == 0xabcdef);
  CHECK(s.id == 5);
  CHECK(s.created == 50);
  CHECK(s.expire == 80);
  CHECK(s.seqlo[0] == 1000);
  CHECK(s.seqlo[1] == 2000);
  CHECK(s.seqhi[0] == 3000);
  CHECK(s.seqhi[1] == 4000);
  CHECK(s.max_win[0] == 512);
  CHECK(s.max_win[1] == 1024);
  CHECK(dp::progress_of(s.peer[0]) == dp::tcps::SynSent);
  CHECK(dp::wscale_of(s.peer[0]) == 7);
  CHECK(dp::wscale_of(s.peer[1]) == dp::kNoWscale);
  CHECK(t.packets(r.hit.state, 0) == 0);
  CHECK(t.packets(r.hit.state, 1) == 0);
  CHECK(s.bytes[0] == 0);
}

TEST_CASE("outbound NAT: the reply comes back to the VIP and the allocated port", "[state][nat]") {
  StateTable t(64);
  const uint16_t vip = t.intern_addr(addr(kVip));
  auto r = t.insert(nat_init(vip, 7), 100);
  REQUIRE(r.result == Inserted::New);
  CHECK(t.key(r.hit.state, 1) == nat_reply(7));
  const dp::NatDelta d = t.nat(r.hit.state);
  CHECK(d.side == NatSide::Src);
  CHECK(d.addr == vip);
  CHECK(d.port == net::be16(20007));

  const dp::Hit back = t.lookup(nat_reply(7));
  CHECK(back.state == r.hit.state);
  CHECK(back.dir == 1);
  CHECK(t.lookup(fwd(7)).dir == 0);
  // The untranslated reply is not this connection.
  CHECK_FALSE(t.lookup(reversed(fwd(7))).found());
}

TEST_CASE("port forward: the reply comes from the internal target", "[state][nat]") {
  StateTable t(64);
  constexpr uint32_t kClient = 0xcb007105, kTarget = 0x0a010101;
  const uint16_t target = t.intern_addr(addr(kTarget));
  dp::StateInit i;
  i.key = flow(net::kProtoTcp, v4(kClient), 40000, v4(kVip), 80);
  i.nat = {NatSide::Dst, target, net::be16(8080)};
  i.lifetime = 60;
  auto r = t.insert(i, 1);
  REQUIRE(r.result == Inserted::New);
  const net::FlowKey reply = flow(net::kProtoTcp, v4(kTarget), 8080, v4(kClient), 40000);
  CHECK(t.key(r.hit.state, 1) == reply);
  CHECK(t.nat(r.hit.state).side == NatSide::Dst);
  const dp::Hit back = t.lookup(reply);
  CHECK(back.state == r.hit.state);
  CHECK(back.dir == 1);
  CHECK_FALSE(t.lookup(reversed(i.key)).found());
}

TEST_CASE("ICMP queries: NAT replaces the id, which stands in both ports", "[state][nat]") {
  StateTable t(64);
  const uint16_t vip = t.intern_addr(addr(kVip));
  const uint16_t target = t.intern_addr(addr(0x0a010102));
  CHECK(vip != target);
  // Echo from 10.0.0.9 to the server, id 0x1234, translated to the VIP, id 0x5678.
  dp::StateInit out;
  out.key = flow(net::kProtoIcmp, v4(0x0a000009), 0x1234, v4(kServer), 0x1234);
  out.nat = {NatSide::Src, vip, net::be16(0x5678)};
  out.lifetime = 10;
  auto a = t.insert(out, 1);
  REQUIRE(a.result == Inserted::New);
  const net::FlowKey out_reply = flow(net::kProtoIcmp, v4(kServer), 0x5678, v4(kVip), 0x5678);
  CHECK(t.key(a.hit.state, 1) == out_reply);
  CHECK(t.lookup(out_reply).state == a.hit.state);
  CHECK(t.lookup(out_reply).dir == 1);

  // Echo to a forwarded address, the target answering with id 0x9abc.
  dp::StateInit in;
  in.key = flow(net::kProtoIcmp, v4(0xcb007107), 0x4321, v4(kVip), 0x4321);
  in.nat = {NatSide::Dst, target, net::be16(0x9abc)};
  in.lifetime = 10;
  auto b = t.insert(in, 1);
  REQUIRE(b.result == Inserted::New);
  const net::FlowKey in_reply = flow(net::kProtoIcmp, v4(0x0a010102), 0x9abc, v4(0xcb007107), 0x9abc);
  CHECK(t.key(b.hit.state, 1) == in_reply);
  CHECK(t.lookup(in_reply).state == b.hit.state);
  // Only one port translated is not the reply.
  net::FlowKey half = in_reply;
  half.dport = net::be16(0x4321);
  CHECK_FALSE(t.lookup(half).found());
}

TEST_CASE("a state whose reply key is taken is withdrawn (a NAT port clash)", "[state][nat]") {
  StateTable t(64);
  dp::Qsbr rcu(1);
  rcu.online(0);
  const uint16_t vip = t.intern_addr(addr(kVip));
  auto first = t.insert(nat_init(vip, 1), 100);
  REQUIRE(first.result == Inserted::New);
  // Another initiator given the same VIP port: its reply would be flow 1's.
  dp::StateInit clash = init(2);
  clash.nat = {NatSide::Src, vip, net::be16(20001)};
  auto r = t.insert(clash, 100);
  CHECK(r.result == Inserted::Conflict);
  CHECK(r.hit.state == first.hit.state);
  CHECK(r.hit.dir == 1);
  CHECK_FALSE(t.lookup(fwd(2)).found());  // not half-installed
  CHECK(t.lookup(nat_reply(1)).state == first.hit.state);
  CHECK(t.lookup(fwd(1)).state == first.hit.state);
  // The withdrawn state comes back to the free list after a grace period.
  CHECK(t.in_use() == 2);
  CHECK(t.sweep(100, t.bucket_count(), rcu) == 1);
  rcu.quiescent(0);
  rcu.reclaim();
  CHECK(t.in_use() == 1);
  // With another port it goes in.
  clash.nat.port = net::be16(20002);
  CHECK(t.insert(clash, 100).result == Inserted::New);
}

TEST_CASE("IPv6 keys are found from both directions and never match IPv4 ones", "[state]") {
  StateTable t(64);
  std::array<uint8_t, 16> a{}, b{};
  a[0] = 0x20, a[1] = 0x01, a[2] = 0x0d, a[3] = 0xb8, a[15] = 1;
  b[0] = 0x20, b[1] = 0x01, b[2] = 0x0d, b[3] = 0xb8, b[14] = 0x12, b[15] = 2;
  const net::FlowKey k = flow(net::kProtoTcp, a, 50000, b, 443, net::Family::V6);
  dp::StateInit i;
  i.key = k;
  i.lifetime = 60;
  auto r = t.insert(i, 1);
  REQUIRE(r.result == Inserted::New);
  CHECK(t.at(r.hit.state).flags & dp::sflag::V6);
  CHECK(t.key(r.hit.state, 0) == k);
  CHECK(t.key(r.hit.state, 1) == reversed(k));
  CHECK(t.lookup(k).dir == 0);
  CHECK(t.lookup(reversed(k)).state == r.hit.state);
  CHECK(t.lookup(reversed(k)).dir == 1);
  // The last address byte matters; so does the family.
  net::FlowKey near = k;
  near.dst[15] = 3;
  CHECK_FALSE(t.lookup(near).found());
  net::FlowKey as_v4 = k;
  as_v4.af = net::Family::V4;
  CHECK_FALSE(t.lookup(as_v4).found());
  dp::StateInit i4 = i;
  i4.key = as_v4;
  auto r4 = t.insert(i4, 1);
  CHECK(r4.result == Inserted::New);
  CHECK(r4.hit.state != r.hit.state);
  CHECK(t.lookup(as_v4).state == r4.hit.state);
  CHECK(t.lookup(k).state == r.hit.state);
}

TEST_CASE("a flow whose reply is its own request has one key and is freed", "[state]") {
  StateTable t(4);
  dp::Qsbr rcu(1);
  rcu.online(0);
  dp::StateInit i;
  i.key = flow(net::kProtoUdp, v4(0x0a000001), 5000, v4(0x0a000001), 5000);
  i.lifetime = 60;
  auto r = t.insert(i, 1);
  REQUIRE(r.result == Inserted::New);
  CHECK(t.lookup(i.key).state == r.hit.state);
  CHECK(t.insert(i, 1).result == Inserted::Exists);
  t.kill(r.hit.state);
  CHECK(t.sweep(1, t.bucket_count(), rcu) == 1);
  rcu.quiescent(0);
  rcu.reclaim();
  CHECK(t.in_use() == 0);
}

TEST_CASE("a full table refuses new states and keeps every established one", "[state]") {
  StateTable t(100);
  for (uint32_t n = 0; n < 100; ++n) REQUIRE(t.insert(init(n), 100).result == Inserted::New);
  CHECK(t.insert(init(1000), 100).result == Inserted::Full);
  for (uint32_t n = 0; n < 100; ++n) {
    INFO(n);
    CHECK(t.lookup(fwd(n)).found());
    CHECK(t.lookup(reversed(fwd(n))).found());
  }
  CHECK(t.in_use() == 100);
  // Still full: the refused insert left nothing behind.
  CHECK(t.insert(init(1001), 100).result == Inserted::Full);
  CHECK(t.in_use() == 100);
}

TEST_CASE("killed and expired states stop matching at once and are freed after a grace period", "[state]") {
  StateTable t(4);
  dp::Qsbr rcu(1);
  rcu.online(0);
  auto a = t.insert(init(1, 60), 100);
  auto b = t.insert(init(2, 10), 100);
  auto c = t.insert(init(3, 60), 100);
  REQUIRE(a.result == Inserted::New);
  REQUIRE(b.result == Inserted::New);
  REQUIRE(c.result == Inserted::New);

  t.kill(a.hit.state);
  CHECK_FALSE(t.lookup(fwd(1)).found());
  CHECK_FALSE(t.lookup(reversed(fwd(1))).found());
  CHECK_FALSE(t.refresh(a.hit.state, 100, 60));
  // A killed state's key is free for a new connection at once.
  auto a2 = t.insert(init(1), 101);
  CHECK(a2.result == Inserted::New);
  CHECK(a2.hit.state != a.hit.state);

  // Flow 2 expires at 110 unless refreshed; flow 3 is refreshed to 200.
  CHECK(t.refresh(c.hit.state, 140, 60));
  CHECK(t.sweep(109, t.bucket_count(), rcu) == 1);  // only the killed one
  CHECK(t.lookup(fwd(2)).found());
  CHECK(t.sweep(110, t.bucket_count(), rcu) == 1);  // flow 2's time is up
  CHECK_FALSE(t.lookup(fwd(2)).found());
  CHECK_FALSE(t.refresh(b.hit.state, 110, 60));  // too late: dead
  CHECK(t.lookup(fwd(3)).found());
  CHECK(t.lookup(fwd(1)).state == a2.hit.state);

  // Unlinked, but the reader has not passed a quiescent state: not free yet.
  CHECK(t.in_use() == 4);
  CHECK(t.insert(init(9), 120).result == Inserted::Full);
  rcu.reclaim();
  CHECK(t.in_use() == 4);
  rcu.quiescent(0);
  rcu.reclaim();
  CHECK(t.in_use() == 2);
  CHECK(t.insert(init(9), 120).result == Inserted::New);
  CHECK(t.insert(init(10), 120).result == Inserted::New);
  CHECK(t.lookup(fwd(3)).found());
}

TEST_CASE("refresh moves the expiry later or earlier and fails on a dead state", "[state]") {
  StateTable t(8);
  dp::Qsbr rcu(1);
  rcu.online(0);
  auto r = t.insert(init(1, 60), 100);  // expires at 160
  REQUIRE(r.result == Inserted::New);
  const dp::StateIndex s = r.hit.state;
  CHECK(t.refresh(s, 150, 60));  // later: 210
  CHECK(t.at(s).expire == 210);
  CHECK(t.refresh(s, 150, 60));  // the same value: nothing to write
  CHECK(t.at(s).expire == 210);
  CHECK(t.sweep(209, t.bucket_count(), rcu) == 0);
  CHECK(t.lookup(fwd(1)).found());

  // A connection that closed gets a short expiry, earlier than it had.
  CHECK(t.refresh(s, 160, 5));
  CHECK(t.at(s).expire == 165);
  CHECK(t.sweep(164, t.bucket_count(), rcu) == 0);
  CHECK(t.lookup(fwd(1)).found());
  CHECK(t.sweep(165, t.bucket_count(), rcu) == 1);
  CHECK_FALSE(t.lookup(fwd(1)).found());
  CHECK_FALSE(t.refresh(s, 166, 60));
  CHECK(t.at(s).expire == 0);

  // A zero lifetime at time 0 still leaves the state alive (0 means dead).
  auto z = t.insert(init(2, 0), 0);
  REQUIRE(z.result == Inserted::New);
  CHECK(t.at(z.hit.state).expire == 1);
  CHECK(t.refresh(z.hit.state, 0, 0));
  CHECK(t.lookup(fwd(2)).found());
}

TEST_CASE("a state from the peer starts with its counters, its creation time and its windows marked",
          "[state][sync]") {
  StateTable t(8);
  dp::StateInit i = nat_init(t.intern_addr(addr(kVip)), 6, 3600);
  i.creator = t.intern_creator(0x5eed);
  i.packets[0] = 12;
  i.packets[1] = (1ull << 40) + 3;  // past the low 32 bits
  i.bytes[0] = 3400;
  i.bytes[1] = 9'000'000'000;
  i.created = 640;  // the peer made it 360 s ago
  i.synced = true;
  auto r = t.insert(i, 1000);
  REQUIRE(r.result == Inserted::New);
  const dp::StateIndex st = r.hit.state;
  const dp::State& s = t.at(st);
  CHECK(s.created == 640);
  CHECK(s.expire == 4600);
  CHECK(t.packets(st, 0) == 12);
  CHECK(t.packets(st, 1) == (1ull << 40) + 3);
  CHECK(s.bytes[0] == 3400);
  CHECK(s.bytes[1] == 9'000'000'000);
  CHECK(s.flags & dp::sflag::SyncedWin0);
  CHECK(s.flags & dp::sflag::SyncedWin1);
  CHECK(s.sync_stamp == uint8_t(1000));  // no update due in the insert's second
  // The sync bits do not disturb the keys: found both ways, NAT applied.
  CHECK(t.lookup(fwd(6)).state == st);
  CHECK(t.lookup(nat_reply(6)).state == st);
  CHECK(t.lookup(nat_reply(6)).dir == 1);
  t.count(st, 1, 100);
  CHECK(t.packets(st, 1) == (1ull << 40) + 4);

  // A worker's own state: created now, its windows its own.
  auto own = t.insert(init(7), 1000);
  REQUIRE(own.result == Inserted::New);
  CHECK(t.at(own.hit.state).created == 1000);
  CHECK((t.at(own.hit.state).flags & (dp::sflag::SyncedWin0 | dp::sflag::SyncedWin1)) == 0);
}

namespace {

// A TCP state with both sides at `progress` and side w at seqlo[w].
dp::StateIndex tcp_state(StateTable& t, uint32_t n, uint8_t progress, uint32_t lo0, uint32_t lo1) {
  dp::StateInit i = init(n, 3600);
  i.key.proto = net::kProtoTcp;
  i.seqlo[0] = lo0;
  i.seqlo[1] = lo1;
  i.seqhi[0] = lo0 + 65535;
  i.seqhi[1] = lo1 + 65535;
  i.max_win[0] = i.max_win[1] = 65535;
  i.peer[0] = i.peer[1] = dp::peer_byte(progress, dp::kNoWscale);
  auto r = t.insert(i, 100);
  REQUIRE(r.result == Inserted::New);
  return r.hit.state;
}

struct Upd {
  uint32_t seqlo[2], seqhi[2];
  uint16_t max_win[2];
  uint8_t peer[2];
};

Upd upd(uint8_t p0, uint32_t lo0, uint8_t p1, uint32_t lo1, uint8_t ws = dp::kNoWscale) {
  return Upd{{lo0, lo1}, {lo0 + 40000, lo1 + 40000}, {4000, 5000}, {dp::peer_byte(p0, ws), dp::peer_byte(p1, ws)}};
}

StateTable::Update apply(StateTable& t, dp::StateIndex s, const Upd& u, uint32_t expire_at) {
  return t.apply_update(s, u.seqlo, u.seqhi, u.max_win, u.peer, expire_at);
}

constexpr uint8_t kSynced = dp::sflag::SyncedWin0 | dp::sflag::SyncedWin1;

}  // namespace

TEST_CASE("a compressed update from the peer replaces both sides when it is newer", "[state][sync]") {
  using namespace dp::tcps;
  StateTable t(16);
  const dp::StateIndex s = tcp_state(t, 1, Established, 1000, 5000);
  CHECK((t.at(s).flags & kSynced) == 0);
  REQUIRE(apply(t, s, upd(Established, 2000, Established, 6000, 7), 9000) == StateTable::Update::Applied);
  const dp::State& st = t.at(s);
  CHECK(st.seqlo[0] == 2000);
  CHECK(st.seqlo[1] == 6000);
  CHECK(st.seqhi[0] == 42000);
  CHECK(st.seqhi[1] == 46000);
  CHECK(st.max_win[0] == 4000);
  CHECK(st.max_win[1] == 5000);
  CHECK(dp::wscale_of(st.peer[0]) == 7);  // the peer's copy carries the scales too
  CHECK(st.expire == 9000);
  CHECK((st.flags & kSynced) == kSynced);

  // The same again: nothing newer on either side, still taken (equal is not older).
  CHECK(apply(t, s, upd(Established, 2000, Established, 6000, 7), 9001) == StateTable::Update::Applied);
  CHECK(st.expire == 9001);
  // More progress wins even with seqlo behind (a side that closed).
  CHECK(apply(t, s, upd(FinWait2, 1990, Established, 6000, 7), 9002) == StateTable::Update::Applied);
  CHECK(dp::progress_of(st.peer[0]) == FinWait2);
  CHECK(st.seqlo[0] == 1990);
  // An expiry of 0 would kill it: it becomes 1.
  CHECK(apply(t, s, upd(FinWait2, 1990, Established, 6000, 7), 0) == StateTable::Update::Applied);
  CHECK(st.expire == 1);
}

TEST_CASE("a compressed update never moves a side back, and says it is stale", "[state][sync]") {
  using namespace dp::tcps;
  StateTable t(16);

  SECTION("one side behind: that side kept, the other taken, the expiry moved") {
    const dp::StateIndex s = tcp_state(t, 1, Established, 2000, 5000);
    CHECK(apply(t, s, upd(Established, 1500, Established, 6000), 9000) == StateTable::Update::Stale);
    const dp::State& st = t.at(s);
    CHECK(st.seqlo[0] == 2000);  // ours: further on
    CHECK(st.seqhi[0] == 2000 + 65535);
    CHECK(st.max_win[0] == 65535);
    CHECK(st.seqlo[1] == 6000);  // theirs
    CHECK(st.max_win[1] == 5000);
    CHECK(st.expire == 9000);
    CHECK((st.flags & kSynced) == dp::sflag::SyncedWin1);  // only the side that came from the peer
  }
  SECTION("lower progress is older, whatever its sequence numbers") {
    const dp::StateIndex s = tcp_state(t, 2, FinWait2, 2000, 5000);
    CHECK(apply(t, s, upd(Established, 90000, FinWait2, 5000), 9000) == StateTable::Update::Stale);
    CHECK(dp::progress_of(t.at(s).peer[0]) == FinWait2);
    CHECK(t.at(s).seqlo[0] == 2000);
    CHECK(t.at(s).seqlo[1] == 5000);
  }
  SECTION("both sides older: nothing changes, not even the expiry") {
    const dp::StateIndex s = tcp_state(t, 3, Established, 2000, 5000);
    const uint32_t expire = t.at(s).expire;
    CHECK(apply(t, s, upd(SynSent, 3000, Established, 4000), 9000) == StateTable::Update::Stale);
    CHECK(t.at(s).expire == expire);
    CHECK(t.at(s).seqlo[0] == 2000);
    CHECK(t.at(s).seqlo[1] == 5000);
    CHECK((t.at(s).flags & kSynced) == 0);
  }
  SECTION("sequence numbers compare across the 2^32 wrap") {
    const dp::StateIndex s = tcp_state(t, 4, Established, 0xfffffff0u, 5000);
    CHECK(apply(t, s, upd(Established, 0x10, Established, 5000), 9000) == StateTable::Update::Applied);
    CHECK(t.at(s).seqlo[0] == 0x10);
    CHECK(apply(t, s, upd(Established, 0xffffff00u, Established, 5000), 9000) == StateTable::Update::Stale);
    CHECK(t.at(s).seqlo[0] == 0x10);
  }
  SECTION("UDP: only progress counts") {
    dp::StateInit i = init(5, 60);
    i.peer[0] = dp::peer_byte(dp::udps::Multiple, dp::kNoWscale);
    i.peer[1] = dp::peer_byte(dp::udps::Single, dp::kNoWscale);
    const dp::StateIndex s = t.insert(i, 100).hit.state;
    CHECK(apply(t, s, upd(dp::udps::Single, 0, dp::udps::Multiple, 0), 900) == StateTable::Update::Stale);
    CHECK(dp::progress_of(t.at(s).peer[0]) == dp::udps::Multiple);
    CHECK(dp::progress_of(t.at(s).peer[1]) == dp::udps::Multiple);
    CHECK(t.at(s).expire == 900);
    CHECK(apply(t, s, upd(dp::udps::Multiple, 0, dp::udps::Multiple, 0), 950) == StateTable::Update::Applied);
  }
  SECTION("a dead state takes nothing") {
    const dp::StateIndex s = tcp_state(t, 6, Established, 2000, 5000);
    t.kill(s);
    CHECK(apply(t, s, upd(Established, 3000, Established, 6000), 9000) == StateTable::Update::Dead);
    CHECK(t.at(s).expire == 0);
    CHECK(t.at(s).seqlo[0] == 2000);
  }
}

TEST_CASE("packet counts are 48 bits: they carry across the 32-bit wrap", "[state]") {
  StateTable t(8);
  auto r = t.insert(init(1), 1);
  REQUIRE(r.result == Inserted::New);
  const dp::StateIndex s = r.hit.state;
  t.count(s, 0, 100);
  t.count(s, 1, 60);
  t.count(s, 1, 40);
  CHECK(t.packets(s, 0) == 1);
  CHECK(t.packets(s, 1) == 2);
  CHECK(t.at(s).bytes[0] == 100);
  CHECK(t.at(s).bytes[1] == 100);

  t.at(s).packets_lo[0].store(0xfffffffe);
  t.count(s, 0, 1);
  CHECK(t.packets(s, 0) == 0xffffffffull);
  t.count(s, 0, 1);
  CHECK(t.packets(s, 0) == 0x100000000ull);
  t.count(s, 0, 1);
  CHECK(t.packets(s, 0) == 0x100000001ull);
  CHECK(t.at(s).bytes[0] == 103);
  CHECK(t.packets(s, 1) == 2);  // the other direction untouched

  // The top of the 48 bits.
  t.at(s).packets_hi[1].store(0xfffe);
  t.at(s).packets_lo[1].store(0xffffffff);
  t.count(s, 1, 1);
  CHECK(t.packets(s, 1) == 0xffff00000000ull);
}

TEST_CASE("for_each visits every live state once, and stops when asked", "[state]") {
  StateTable t(300);
  const uint16_t vip = t.intern_addr(addr(kVip));
  std::set<dp::StateIndex> live;
  std::vector<dp::StateIndex> all;
  for (uint32_t n = 0; n < 300; ++n) {
    auto r = t.insert(n % 2 ? nat_init(vip, n) : init(n), 1);
    REQUIRE(r.result == Inserted::New);
    all.push_back(r.hit.state);
  }
  for (size_t i = 0; i < all.size(); ++i) {
    if (i % 3 == 0) t.kill(all[i]);
    else live.insert(all[i]);
  }
  std::multiset<dp::StateIndex> seen;
  t.for_each([&](dp::StateIndex s) {
    seen.insert(s);
    return true;
  });
  CHECK(seen.size() == live.size());
  CHECK(std::set<dp::StateIndex>(seen.begin(), seen.end()) == live);

  int calls = 0;
  t.for_each([&](dp::StateIndex) { return ++calls < 5; });
  CHECK(calls == 5);
}

TEST_CASE("NAT addresses and creator ids are interned once, append-only", "[state]") {
  StateTable t(1);
  const uint16_t a = t.intern_addr(addr(kVip));
  const uint16_t b = t.intern_addr(addr(kServer));
  CHECK(a != b);
  CHECK(t.intern_addr(addr(kVip)) == a);
  CHECK(t.pool_addr(a) == v4(kVip));
  CHECK(t.pool_addr(b) == v4(kServer));
  for (uint32_t i = 2; i < StateTable::kAddrPool; ++i) REQUIRE(t.intern_addr(addr(0x0b000000 + i)) == i);
  CHECK(t.intern_addr(addr(0x0c000000)) == StateTable::kNoAddr);
  CHECK(t.intern_addr(addr(kServer)) == b);  // still there

  t.set_own_creator(0x1111);
  CHECK(t.intern_creator(0x1111) == 0);
  const uint8_t p = t.intern_creator(0x2222);
  CHECK(p == 1);
  CHECK(t.intern_creator(0x2222) == 1);
  CHECK(t.creator_id(1) == 0x2222);
  for (uint32_t i = 2; i < StateTable::kNoCreator; ++i) REQUIRE(t.intern_creator(0x3000 + i) == i);
  CHECK(t.intern_creator(0x4444) == StateTable::kNoCreator);
}

TEST_CASE("a million states take at most 128 bytes each", "[state]") {
  StateTable t(1u << 20);
  CHECK(double(t.memory_bytes()) / t.capacity() <= 128.0);
  // Room for both keys of every state in at most 80% of the slots.
  CHECK(t.bucket_count() * 12 * 8 >= uint64_t(t.capacity()) * 2 * 10);
  // And no more: sized to the capacity, not rounded up (to a power of two, say).
  CHECK(t.bucket_count() * 12 * 8 < (uint64_t(t.capacity()) * 2 * 10) + 12 * 10);
}

TEST_CASE("bulk lookup finds what single lookups find", "[state]") {
  StateTable t(1024);
  const uint16_t vip = t.intern_addr(addr(kVip));
  for (uint32_t n = 0; n < 1000; n += 2) REQUIRE(t.insert(n % 4 ? nat_init(vip, n) : init(n), 1).result == Inserted::New);
  std::vector<net::FlowKey> keys;
  for (uint32_t n = 0; n < 100; ++n) {
    const uint32_t f = n * 7;
    keys.push_back(n % 3 == 0 ? fwd(f) : f % 4 ? nat_reply(f) : reversed(fwd(f)));
  }
  std::vector<const net::FlowKey*> ptrs;
  std::vector<uint64_t> hashes;
  for (auto& k : keys) {
    ptrs.push_back(&k);
    hashes.push_back(StateTable::hash(k));
  }
  std::vector<dp::Hit> out(keys.size());
  t.lookup_bulk(ptrs, hashes, out);
  size_t found = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    INFO(i);
    const dp::Hit one = t.lookup(keys[i]);
    CHECK(out[i].state == one.state);
    CHECK(out[i].dir == one.dir);
    CHECK(out[i].found() == ((i * 7) % 2 == 0));
    CHECK(out[i].dir == (i % 3 == 0 ? 0 : (out[i].found() ? 1 : 0)));
    found += out[i].found();
  }
  CHECK(found == 50);
}

TEST_CASE("a small table filled, emptied and refilled many times keeps finding every key", "[state]") {
  // 24 states, 48 keys in 5 buckets of 12 slots: a bucket often has more
  // keys than slots, so keys land past their home bucket (and wrap from the
  // last bucket to the first), and the overflow counts go up and down.
  StateTable t(24);
  REQUIRE(t.bucket_count() == 5);
  dp::Qsbr rcu(1);
  rcu.online(0);
  const uint16_t vip = t.intern_addr(addr(kVip));
  std::mt19937 rng(7);
  int spilled = 0;
  for (int round = 0; round < 500; ++round) {
    std::vector<net::FlowKey> there, back;
    std::vector<dp::StateIndex> states;
    std::vector<int> homed(t.bucket_count());
    for (int i = 0; i < 24; ++i) {
      // Plain flows from source ports above 17408, NAT'd ones from 1024
      // with a VIP port each: a repeated draw can only give Exists.
      const uint32_t n = rng();
      auto r = t.insert(i % 2 ? nat_init(vip, n & 0x7fff) : init((n & 0x7fffffff) | 0x40000000, 10), 10);
      if (r.result == Inserted::Exists) {
        --i;
        continue;
      }
      REQUIRE(r.result == Inserted::New);
      states.push_back(r.hit.state);
      there.push_back(t.key(r.hit.state, 0));
      back.push_back(t.key(r.hit.state, 1));
      for (const auto& k : {there.back(), back.back()})
        ++homed[(uint64_t(uint32_t(StateTable::hash(k))) * t.bucket_count()) >> 32];
    }
    spilled += *std::max_element(homed.begin(), homed.end()) > 12;
    CHECK(t.insert(init((rng() & 0x7fffffff) | 0x40000000), 10).result == Inserted::Full);
    for (size_t i = 0; i < states.size(); ++i) {
      INFO("round " << round << " flow " << i);
      REQUIRE(t.lookup(there[i]).state == states[i]);
      REQUIRE(t.lookup(back[i]).state == states[i]);
      REQUIRE(t.lookup(back[i]).dir == 1);
    }
    // The bulk lookup agrees, keys past their home included (and misses).
    std::vector<net::FlowKey> all = there;
    all.insert(all.end(), back.begin(), back.end());
    for (int i = 0; i < 8; ++i) all.push_back(init(rng() | 0x80000000u).key);
    REQUIRE(bulk_matches_single(t, all));
    // Kill half, sweep them out, check the rest, then let everything go.
    for (size_t i = 0; i < states.size(); i += 2) t.kill(states[i]);
    REQUIRE(bulk_matches_single(t, all));  // dead, not yet swept: misses
    CHECK(t.sweep(10, t.bucket_count(), rcu) == 12);
    for (size_t i = 1; i < states.size(); i += 2) {
      REQUIRE(t.lookup(there[i]).state == states[i]);
      REQUIRE(t.lookup(back[i]).state == states[i]);
    }
    for (size_t i = 0; i < states.size(); i += 2) {
      REQUIRE_FALSE(t.lookup(there[i]).found());
      REQUIRE_FALSE(t.lookup(back[i]).found());
    }
    for (size_t i = 1; i < states.size(); i += 2) t.kill(states[i]);
    CHECK(t.sweep(10, t.bucket_count(), rcu) == 12);
    rcu.quiescent(0);
    rcu.reclaim();
    REQUIRE(t.in_use() == 0);
  }
  // The test did what it says: many rounds had a bucket with more keys than slots.
  CHECK(spilled > 100);
}

TEST_CASE("two workers inserting the same connections create each exactly once", "[state][concurrency]") {
  constexpr uint32_t kFlows = 4000;
  // Room for the states of lost races: a loser whose key was already in the
  // index when it lost leaves its state to the reaper (a reader may hold it),
  // and nothing sweeps until the end.
  StateTable t(2 * kFlows + 16);
  dp::Qsbr rcu(1);
  const uint16_t vip = t.intern_addr(addr(kVip));
  std::vector<StateTable::InsertResult> got[2];
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int id = 0; id < 2; ++id) {
    got[id].resize(kFlows);
    threads.emplace_back([&, id] {
      // Both start together and go through the flows in the same order (half
      // of them NAT'd), so they race for most of them.
      ready.fetch_add(1);
      while (ready.load() < 2) {
      }
      for (uint32_t n = 0; n < kFlows; ++n) got[id][n] = t.insert(n % 2 ? nat_init(vip, n) : init(n), 1);
    });
  }
  for (auto& th : threads) th.join();
  for (uint32_t n = 0; n < kFlows; ++n) {
    const auto& a = got[0][n];
    const auto& b = got[1][n];
    INFO("flow " << n << ": " << int(a.result) << " state " << a.hit.state << ", " << int(b.result) << " state "
                 << b.hit.state);
    REQUIRE(((a.result == Inserted::New && b.result == Inserted::Exists) ||
             (a.result == Inserted::Exists && b.result == Inserted::New)));
    REQUIRE(a.hit.state == b.hit.state);
    REQUIRE(t.lookup(fwd(n)).state == a.hit.state);
  }
  t.sweep(1, t.bucket_count(), rcu);
  rcu.reclaim();
  CHECK(t.in_use() == kFlows);
}

TEST_CASE("workers insert, look up and kill while the reaper sweeps: nothing pinned is ever lost",
          "[state][concurrency]") {
  constexpr unsigned kWorkers = 3;
  constexpr uint32_t kPinned = 2000;  // never killed: every lookup must find them
  constexpr uint32_t kChurn = 20000;  // keys each worker inserts and kills
  // Roomy, and tight: with 256 spare states inserts often find the table
  // full and the index is dense enough that keys spill past their home.
  const uint32_t spare = GENERATE(4096u, 256u);
  INFO("spare states " << spare);
  StateTable t(kPinned + spare);
  const uint16_t vip = t.intern_addr(addr(kVip));
  const auto make = [&](uint32_t n) { return n % 2 ? nat_init(vip, n, 1u << 30) : init(n, 1u << 30); };
  // The key a pinned flow's packets come with, in direction w.
  const auto pinned_key = [](uint32_t p, int w) { return w == 0 ? fwd(p) : p % 2 ? nat_reply(p) : reversed(fwd(p)); };
  dp::Qsbr rcu(kWorkers + 1);
  for (uint32_t n = 0; n < kPinned; ++n) REQUIRE(t.insert(make(n), 1).result == Inserted::New);

  std::atomic<bool> stop{false};
  std::atomic<unsigned> done{0};
  std::atomic<uint64_t> lost{0}, wrong{0}, inserted{0}, full{0}, checked{0};
  const auto verify = [&](const net::FlowKey& k, uint32_t p, int w, const dp::Hit& h) {
    if (!h.found()) lost.fetch_add(1);
    else if (h.dir != w || !(t.key(h.state, h.dir) == k) || t.at(h.state).id != p) wrong.fetch_add(1);
  };
  std::vector<std::thread> threads;
  for (unsigned id = 0; id < kWorkers; ++id) {
    threads.emplace_back([&, id] {
      rcu.online(id);
      std::mt19937 rng(id);
      // Workers 0 and 1 share a churn key range, so they race to insert the same flows.
      const uint32_t base = kPinned + (id / 2) * kChurn;
      std::set<dp::StateIndex> mine;
      for (uint32_t i = 0; i < kChurn; ++i) {
        auto r = t.insert(make(base + i), 1);
        if (r.result == Inserted::New) {
          inserted.fetch_add(1);
          // Kill half of what we created right away, keep the rest a while.
          if (rng() & 1) t.kill(r.hit.state);
          else mine.insert(r.hit.state);
        } else if (r.result == Inserted::Exists && (rng() & 3) == 0) {
          // The partner's connection closes at once, maybe while its insert
          // is still placing the keys.
          t.kill(r.hit.state);
        } else if (r.result == Inserted::Full) {
          full.fetch_add(1);
        }
        // Both directions of a pinned flow must always be found, with their key.
        const uint32_t p = uint32_t(rng() % kPinned);
        const int w = int(rng() & 1);
        const net::FlowKey k = pinned_key(p, w);
        verify(k, p, w, t.lookup(k));
        if (mine.size() > 64) {
          t.kill(*mine.begin());
          mine.erase(mine.begin());
        }
        rcu.quiescent(id);
      }
      for (auto s : mine) t.kill(s);
      rcu.offline(id);
      done.fetch_add(1);
    });
  }
  // A checker: bursts of pinned keys through the bulk lookup until the workers are done.
  threads.emplace_back([&] {
    rcu.online(kWorkers);
    std::mt19937 rng(99);
    net::FlowKey keys[32];
    const net::FlowKey* ptrs[32];
    uint64_t hashes[32];
    dp::Hit hits[32];
    uint32_t ps[32];
    int ws[32];
    do {
      for (int j = 0; j < 32; ++j) {
        ps[j] = uint32_t(rng() % kPinned);
        ws[j] = int(rng() & 1);
        keys[j] = pinned_key(ps[j], ws[j]);
        ptrs[j] = &keys[j];
        hashes[j] = StateTable::hash(keys[j]);
      }
      t.lookup_bulk(ptrs, hashes, hits);
      for (int j = 0; j < 32; ++j) verify(keys[j], ps[j], ws[j], hits[j]);
      checked.fetch_add(32);
      rcu.quiescent(kWorkers);
    } while (done.load() < kWorkers);
    rcu.offline(kWorkers);
  });
  // The reaper: sweep continuously, as the control thread does.
  std::thread reaper([&] {
    while (!stop.load()) {
      t.sweep(1, 64, rcu);
      rcu.reclaim();
    }
  });
  for (auto& th : threads) th.join();
  stop = true;
  reaper.join();
  // Everything churned is dead now: a full sweep and a reclaim free it all.
  t.sweep(1, t.bucket_count(), rcu);
  rcu.reclaim();

  INFO("inserted " << inserted << ", full " << full << ", bulk-checked " << checked);
  CHECK(lost == 0);
  CHECK(wrong == 0);
  CHECK(inserted > 0);
  CHECK(checked > 0);
  CHECK(t.in_use() == kPinned);  // every churned slot came back; none leaked, none freed twice
  for (uint32_t n = 0; n < kPinned; ++n) {
    REQUIRE(t.lookup(pinned_key(n, 0)).found());
    REQUIRE(t.lookup(pinned_key(n, 1)).found());
  }
  size_t listed = 0;
  t.for_each([&](dp::StateIndex) { return ++listed, true; });
  CHECK(listed == kPinned);
}
