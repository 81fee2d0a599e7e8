// State sync's event hook: the single-producer/single-consumer ring, the
// round-robin drain over the workers' rings, and then what a worker pushes
// through the real pipeline (inserts, progress and once-a-second updates,
// the delete of a reopened connection, a full ring). The ring's two-thread
// stress test runs in the concurrency suite too (ThreadSanitizer).
#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "dataplane/pipeline.h"
#include "dataplane/sync_events.h"
#include "dataplane/track.h"
#include "tests/unit/dataplane/frames.h"

using namespace hafw;
using namespace hafw::test;
using dp::EventRing;
using dp::StateEvent;
using dp::StateEventKind;

namespace {

StateEvent event(uint64_t n) {
  return StateEvent{.id = n, .state = dp::StateIndex(n * 7), .kind = StateEventKind(n % 3),
                    .creator = uint8_t(n), .reserved = 0};
}

bool is(const StateEvent& e, uint64_t n) {
  const StateEvent want = event(n);
  return e.id == want.id && e.state == want.state && e.kind == want.kind && e.creator == want.creator;
}

}  // namespace

// ---------------------------------------------------------------- the ring

TEST_CASE("an event ring holds its capacity, refuses the next event, and gives them back in order", "[sync_events]") {
  EventRing r(8);
  CHECK(r.capacity() == 8);
  StateEvent out[16];
  CHECK(r.pop_burst(out) == 0);
  for (uint64_t i = 0; i < 8; ++i) REQUIRE(r.try_push(event(i)));
  CHECK(r.size() == 8);
  CHECK_FALSE(r.try_push(event(8)));  // full: refused, nothing overwritten
  CHECK(r.size() == 8);

  REQUIRE(r.pop_burst({out, 3}) == 3);
  for (uint64_t i = 0; i < 3; ++i) CHECK(is(out[i], i));
  // Room for three again; the new ones wrap around the end of the array.
  for (uint64_t i = 8; i < 11; ++i) REQUIRE(r.try_push(event(i)));
  CHECK_FALSE(r.try_push(event(11)));
  REQUIRE(r.pop_burst(out) == 8);
  for (uint64_t i = 0; i < 8; ++i) CHECK(is(out[i], i + 3));
  CHECK(r.pop_burst(out) == 0);
  CHECK(r.size() == 0);

  // Many times round, in bursts that straddle the wrap.
  uint64_t pushed = 11, popped = 11;
  for (int round = 0; round < 1000; ++round) {
    while (r.try_push(event(pushed))) ++pushed;
    const size_t n = r.pop_burst({out, size_t(1 + round % 7)});
    for (size_t i = 0; i < n; ++i) REQUIRE(is(out[i], popped + i));
    popped += n;
  }
  CHECK(pushed - popped == r.size());
}

TEST_CASE("an event ring's capacity is a power of two", "[sync_events]") {
  CHECK_THROWS_AS(EventRing(0), std::invalid_argument);
  CHECK_THROWS_AS(EventRing(1), std::invalid_argument);
  CHECK_THROWS_AS(EventRing(6), std::invalid_argument);
  CHECK_THROWS_AS(EventRing(65535), std::invalid_argument);
  CHECK(EventRing(2).capacity() == 2);
  CHECK(EventRing(65536).capacity() == 65536);
  // The producer's and the consumer's indices live on lines of their own.
  CHECK(alignof(EventRing) == 64);
  CHECK(sizeof(EventRing) >= 3 * 64);
}

TEST_CASE("the workers' rings are drained round-robin", "[sync_events]") {
  dp::EventRings rings(3, 256);
  CHECK(rings.count() == 3);
  // Two busy workers and a quiet one; the creator says whose event it is,
  // the id its order on that worker.
  for (uint64_t i = 0; i < 100; ++i) {
    REQUIRE(rings.of(0)->try_push({.id = i, .state = 0, .kind = StateEventKind::Update, .creator = 0, .reserved = 0}));
    REQUIRE(rings.of(1)->try_push({.id = i, .state = 0, .kind = StateEventKind::Update, .creator = 1, .reserved = 0}));
  }
  for (uint64_t i = 0; i < 2; ++i)
    REQUIRE(rings.of(2)->try_push({.id = i, .state = 0, .kind = StateEventKind::Insert, .creator = 2, .reserved = 0}));

  StateEvent out[30];
  REQUIRE(rings.poll(out) == 30);
  unsigned per[3] = {};
  uint64_t next[3] = {};
  for (const StateEvent& e : out) {
    REQUIRE(e.creator < 3);
    CHECK(e.id == next[e.creator]++);  // each worker's events in order
    ++per[e.creator];
  }
  CHECK(per[2] == 2);  // the quiet one's two, however busy the others
  CHECK(per[0] == 14);
  CHECK(per[1] == 14);

  // The next poll starts at the next ring: worker 1 leads this time.
  StateEvent one[1];
  REQUIRE(rings.poll(one) == 1);
  CHECK(one[0].creator == 1);
  CHECK(one[0].id == 14);
  REQUIRE(rings.poll(one) == 1);
  CHECK(one[0].creator == 0);  // ring 2 is empty: on to ring 0
  CHECK(one[0].id == 14);

  // Room for everything: everything comes, and then nothing.
  std::vector<StateEvent> all(512);
  CHECK(rings.poll(all) == 202 - 32);
  CHECK(rings.poll(all) == 0);
  CHECK(rings.poll({}) == 0);
}

// One producer pushes 10M numbered events as fast as the ring takes them;
// one consumer pops bursts of varying size and checks that every event
// comes, once, in order, whole. Halfway the consumer stops until the
// producer has found the ring full, so a full ring's refusal is exercised
// under contention too.
TEST_CASE("one producer and one consumer: 10M events, none lost, none twice, in order",
          "[sync_events][concurrency]") {
  constexpr uint64_t kEvents = 10'000'000;
  EventRing r(1024);
  std::atomic<bool> saw_full{false};
  std::atomic<uint64_t> refused{0};
  std::thread producer([&] {
    uint64_t fulls = 0;
    for (uint64_t i = 0; i < kEvents;) {
      if (r.try_push(event(i))) {
        ++i;
      } else {
        ++fulls;
        saw_full.store(true, std::memory_order_release);
      }
    }
    refused.store(fulls);
  });
  uint64_t expect = 0, bad = 0;
  std::vector<StateEvent> out(97);
  bool paused = false;
  while (expect < kEvents) {
    if (!paused && expect >= kEvents / 2) {
      paused = true;
      while (!saw_full.load(std::memory_order_acquire)) std::this_thread::yield();
    }
    const size_t n = r.pop_burst({out.data(), 1 + size_t(expect % out.size())});
    for (size_t i = 0; i < n; ++i) bad += !is(out[i], expect + i);
    expect += n;
  }
  producer.join();
  CHECK(bad == 0);
  CHECK(expect == kEvents);
  CHECK(refused.load() > 0);
  CHECK(r.pop_burst(out) == 0);
}

// ---------------------------------------------------------------- the workers' hook

namespace {

constexpr uint8_t kWan = 0, kLan = 1;
const uint32_t kWanVip = ip4("198.51.100.200");
const uint32_t kClient = ip4("192.168.1.50");
const uint32_t kServer = ip4("198.51.100.10");
const Mac kServerMac = mac(0x10);
const Mac kLanVmac = Mac::virtual_for(1), kWanVmac = Mac::virtual_for(200);

// The example firewall (frames.h), MASTER, with an event ring as hafwd's
// workers have one when sync is on.
struct Node {
  Tables t = master_view();
  dp::WorkerCounters counters;
  EventRing ring;
  Time now = std::chrono::seconds(1000);
  // The worker's context lives as long as the worker: its next state id.
  dp::WorkerCtx c{.view = {}, .counters = &counters, .events = &ring};

  explicit Node(size_t ring_size = 1024) : ring(ring_size) {
    t.policy = example_policy(*t.states);
    dp::NeighborTable::Entry n[] = {{kWan, kServer, kServerMac}, {kLan, kClient, kHostMac}};
    t.neighbors = dp::NeighborTable::build(n);
    c.states = t.states.get();
  }

  // The context for the next pass: this pass's snapshots and time.
  dp::WorkerCtx& ctx() {
    c.view = t.view();
    c.set_time(now);
    return c;
  }

  // One frame through the pipeline; the packet as it left.
  dp::PacketMeta send(uint8_t in, Bytes f) {
    const uint16_t len = uint16_t(f.size());
    f.resize(len + 128u);
    last = dp::run_one(ctx(), in, f.data(), len, uint16_t(f.size()));
    f.resize(last.len);
    frame = f;
    return last;
  }

  std::vector<StateEvent> events() {
    std::vector<StateEvent> out(ring.capacity());
    out.resize(ring.pop_burst(out));
    return out;
  }
  uint64_t state_counter(dp::StateCounter c) const { return counters.read().states[size_t(c)]; }

  dp::PacketMeta last{};
  Bytes frame;
};

Bytes from_client(const Bytes& seg) { return tcp_frame(kLanVmac, kHostMac, kClient, kServer, seg); }
Bytes from_server(const Bytes& seg) { return tcp_frame(kWanVmac, kServerMac, kServer, kWanVip, seg); }

}  // namespace

TEST_CASE("workers report a new state, its progress, at most one other update a second, and its reopening",
          "[sync_events][pipeline]") {
  Node node;
  using namespace dp::tcpf;
  const uint32_t c_isn = 1000, s_isn = 5000000;

  // The SYN creates the state: one Insert, with the state's index and id.
  REQUIRE(node.send(kLan, from_client(tcp_segment(40000, 80, c_isn, 0, Syn, 64240))).next == dp::Next::Tx);
  const dp::StateIndex st = node.last.state;
  const uint64_t id = node.t.states->at(st).id;
  const uint16_t nat_port = sport_of(node.frame);
  auto ev = node.events();
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == StateEventKind::Insert);
  CHECK(ev[0].state == st);
  CHECK(ev[0].id == id);
  CHECK(ev[0].creator == 0);

  // The same second: the SYN-ACK and the ACK move progress, so each is an
  // Update; data changes no progress, so none.
  REQUIRE(node.send(kWan, from_server(tcp_segment(80, nat_port, s_isn, c_isn + 1, Syn | Ack, 65160))).next ==
          dp::Next::Tx);
  REQUIRE(node.send(kLan, from_client(tcp_segment(40000, 80, c_isn + 1, s_isn + 1, Ack, 64240))).next ==
          dp::Next::Tx);
  ev = node.events();
  REQUIRE(ev.size() == 2);
  for (const StateEvent& e : ev) {
    CHECK(e.kind == StateEventKind::Update);
    CHECK(e.state == st);
    CHECK(e.id == id);
  }
  REQUIRE(node.send(kLan, from_client(tcp_segment(40000, 80, c_isn + 1, s_isn + 1, Ack | Psh, 64240, 100))).next ==
          dp::Next::Tx);
  REQUIRE(node.send(kWan, from_server(tcp_segment(80, nat_port, s_isn + 1, c_isn + 101, Ack | Psh, 65160, 500))).next ==
          dp::Next::Tx);
  CHECK(node.events().empty());

  // A second later, data is due an update: one, whichever side sends.
  node.now += std::chrono::seconds(1);
  REQUIRE(node.send(kLan, from_client(tcp_segment(40000, 80, c_isn + 101, s_isn + 501, Ack | Psh, 64240, 100))).next ==
          dp::Next::Tx);
  REQUIRE(node.send(kWan, from_server(tcp_segment(80, nat_port, s_isn + 501, c_isn + 201, Ack, 65160))).next ==
          dp::Next::Tx);
  REQUIRE(node.send(kLan, from_client(tcp_segment(40000, 80, c_isn + 201, s_isn + 501, Ack | Psh, 64240, 100))).next ==
          dp::Next::Tx);
  ev = node.events();
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == StateEventKind::Update);
  CHECK(ev[0].id == id);

  // A dropped segment reports nothing.
  node.now += std::chrono::seconds(1);
  CHECK(node.send(kWan, from_server(tcp_segment(80, nat_port, s_isn + 50000000, c_isn + 301, Ack, 65160, 10))).drop ==
        dp::DropReason::TcpOutOfWindow);
  CHECK(node.events().empty());

  // The close: every FIN and the ACKs that answer them move progress.
  REQUIRE(node.send(kLan, from_client(tcp_segment(40000, 80, c_isn + 301, s_isn + 501, Fin | Ack, 64240))).next ==
          dp::Next::Tx);
  REQUIRE(node.send(kWan, from_server(tcp_segment(80, nat_port, s_isn + 501, c_isn + 302, Fin | Ack, 65160))).next ==
          dp::Next::Tx);
  REQUIRE(node.send(kLan, from_client(tcp_segment(40000, 80, c_isn + 302, s_isn + 502, Ack, 64240))).next ==
          dp::Next::Tx);
  ev = node.events();
  CHECK(ev.size() == 3);
  for (const StateEvent& e : ev) CHECK(e.kind == StateEventKind::Update);

  // A new SYN on the same ports: the closed state is deleted (its own id),
  // and the new connection inserted (a new id).
  REQUIRE(node.send(kLan, from_client(tcp_segment(40000, 80, c_isn + 900000, 0, Syn, 64240))).next == dp::Next::Tx);
  ev = node.events();
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].kind == StateEventKind::Delete);
  CHECK(ev[0].state == st);
  CHECK(ev[0].id == id);
  CHECK(ev[1].kind == StateEventKind::Insert);
  CHECK(ev[1].state == node.last.state);
  CHECK(ev[1].id == node.t.states->at(node.last.state).id);
  CHECK(ev[1].id != id);
  CHECK(node.state_counter(dp::StateCounter::SyncEventDropped) == 0);
}

TEST_CASE("UDP and ICMP states: progress is reported at once, the rest once a second", "[sync_events][pipeline]") {
  Node node;
  auto request = [] { return udp_frame(kLanVmac, kHostMac, kClient, kServer, 5000, 53); };
  REQUIRE(node.send(kLan, request()).next == dp::Next::Tx);
  const uint16_t nat_port = sport_of(node.frame);
  auto ev = node.events();
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == StateEventKind::Insert);
  auto reply = [&] { return udp_frame(kWanVmac, kServerMac, kServer, kWanVip, 53, nat_port); };
  REQUIRE(node.send(kWan, reply()).next == dp::Next::Tx);  // the responder SINGLE, the initiator MULTIPLE
  REQUIRE(node.send(kLan, request()).next == dp::Next::Tx);  // the responder MULTIPLE
  REQUIRE(node.send(kLan, request()).next == dp::Next::Tx);  // nothing moves
  REQUIRE(node.send(kWan, reply()).next == dp::Next::Tx);
  ev = node.events();
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].kind == StateEventKind::Update);
  CHECK(ev[1].kind == StateEventKind::Update);
  node.now += std::chrono::seconds(1);
  for (int i = 0; i < 5; ++i) REQUIRE(node.send(kLan, request()).next == dp::Next::Tx);
  CHECK(node.events().size() == 1);

  // ICMP echo: an Insert, then nothing more in the same second.
  REQUIRE(node.send(kLan, ipv4_frame(kLanVmac, kHostMac, kClient, kServer, net::kProtoIcmp, icmp_echo(7, 1, 8)))
              .next == dp::Next::Tx);
  ev = node.events();
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == StateEventKind::Insert);
  REQUIRE(node.send(kLan, ipv4_frame(kLanVmac, kHostMac, kClient, kServer, net::kProtoIcmp, icmp_echo(7, 2, 8)))
              .next == dp::Next::Tx);
  CHECK(node.events().empty());
}

TEST_CASE("a state learned from the peer is reported with its creator when its traffic arrives",
          "[sync_events][pipeline]") {
  Node node;
  dp::StateTable& t = *node.t.states;
  // The peer's UDP state, as the sync applier installs it: the flow's
  // request as key[0], translated to the WAN VIP and port 40001.
  dp::StateInit init;
  init.key.proto = net::kProtoUdp;
  init.key.src = net::IpAddr::v4(kClient).b;
  init.key.dst = net::IpAddr::v4(kServer).b;
  init.key.sport = net::be16(5000);
  init.key.dport = net::be16(53);
  init.nat = dp::NatDelta{.side = dp::NatSide::Src, .addr = t.intern_addr(net::IpAddr::v4(kWanVip)),
                          .port = net::be16(40001)};
  dp::first_packet_init(init, net::kProtoUdp);
  init.lifetime = 60;
  init.id = 0xabcdef;
  init.creator = t.intern_creator(0x5eed);
  init.synced = true;
  const auto r = t.insert(init, node.ctx().now_s);
  REQUIRE(r.result == dp::StateTable::Inserted::New);
  CHECK(node.events().empty());  // the applier's own insert is no worker's event

  // A second later the reply reaches this node (a takeover): one Update,
  // the peer's id and creator ref, and the reply goes to the client.
  node.now += std::chrono::seconds(1);
  REQUIRE(node.send(kWan, udp_frame(kWanVmac, kServerMac, kServer, kWanVip, 53, 40001)).next == dp::Next::Tx);
  CHECK(node.last.state == r.hit.state);
  const auto ev = node.events();
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == StateEventKind::Update);
  CHECK(ev[0].id == 0xabcdef);
  CHECK(ev[0].creator == init.creator);
  CHECK(ev[0].creator != 0);
}

TEST_CASE("a TCP connection from the peer a megabyte behind is forwarded at the takeover, then checked strictly",
          "[sync_events][pipeline]") {
  Node node;
  dp::StateTable& t = *node.t.states;
  using namespace dp::tcpf;
  // The connection as the peer's last update had it: client 40000 -> server
  // 80 through the WAN VIP's port 41000, both sides established, each edge
  // a megabyte behind where the hosts are now.
  const uint32_t c_nxt = 3'000'000, s_nxt = 9'000'000, lag = 1u << 20;
  dp::StateInit init;
  init.key.proto = net::kProtoTcp;
  init.key.src = net::IpAddr::v4(kClient).b;
  init.key.dst = net::IpAddr::v4(kServer).b;
  init.key.sport = net::be16(40000);
  init.key.dport = net::be16(80);
  init.nat = dp::NatDelta{.side = dp::NatSide::Src, .addr = t.intern_addr(net::IpAddr::v4(kWanVip)),
                          .port = net::be16(41000)};
  init.seqlo[0] = c_nxt - lag;
  init.seqlo[1] = s_nxt - lag;
  init.seqhi[0] = s_nxt - lag + 65535;  // what the server had acknowledged then, plus its window
  init.seqhi[1] = c_nxt - lag + 65535;
  init.max_win[0] = init.max_win[1] = 65535;
  init.peer[0] = init.peer[1] = dp::peer_byte(dp::tcps::Established, dp::kNoWscale);
  init.lifetime = 86400;
  init.id = 0x77;
  init.creator = t.intern_creator(0x5eed);
  init.synced = true;
  REQUIRE(t.insert(init, node.ctx().now_s).result == dp::StateTable::Inserted::New);

  node.now += std::chrono::seconds(1);
  // The client's next segment leaves translated; the server's answer comes back.
  REQUIRE(node.send(kLan, from_client(tcp_segment(40000, 80, c_nxt, s_nxt, Ack | Psh, 65535, 500))).next ==
          dp::Next::Tx);
  CHECK(net::be32(ip_of(node.frame).src) == kWanVip);
  CHECK(sport_of(node.frame) == 41000);
  REQUIRE(node.send(kWan, tcp_frame(kWanVmac, kServerMac, kServer, kWanVip,
                                    tcp_segment(80, 41000, s_nxt, c_nxt + 500, Ack | Psh, 65535, 800)))
              .next == dp::Next::Tx);
  CHECK(dport_of(node.frame) == 40000);
  CHECK(checksums_ok(node.frame));
  // Strict again: a segment a megabyte ahead of the server's edge is dropped.
  CHECK(node.send(kWan, tcp_frame(kWanVmac, kServerMac, kServer, kWanVip,
                                  tcp_segment(80, 41000, s_nxt + 800 + lag, c_nxt + 500, Ack, 65535, 10)))
            .drop == dp::DropReason::TcpOutOfWindow);
  // The new master reports the peer's state back, once this second.
  const auto ev = node.events();
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == StateEventKind::Update);
  CHECK(ev[0].id == 0x77);
  CHECK(ev[0].creator == init.creator);
}

TEST_CASE("a full event ring loses the event, counts it, and the packet goes on", "[sync_events][pipeline]") {
  Node node(2);
  REQUIRE(node.ring.try_push(event(1)));
  REQUIRE(node.ring.try_push(event(2)));
  // A burst of three new flows: three Inserts refused, three packets forwarded.
  dp::WorkerCtx& ctx = node.ctx();
  std::vector<Bytes> frames;
  for (uint16_t i = 0; i < 3; ++i) frames.push_back(udp_frame(kLanVmac, kHostMac, kClient, kServer, uint16_t(6000 + i), 53));
  dp::Burst b;
  for (auto& f : frames) {
    const uint16_t len = uint16_t(f.size());
    f.resize(len + 64u);
    b.set(b.n++, f.data(), len, kLan, uint16_t(f.size()));
  }
  dp::run_burst(ctx, b);
  for (uint16_t i = 0; i < b.n; ++i) CHECK(b.pkt[i].next == dp::Next::Tx);
  CHECK(node.state_counter(dp::StateCounter::Created) == 3);
  CHECK(node.state_counter(dp::StateCounter::SyncEventDropped) == 3);
  // What was in the ring is untouched.
  const auto ev = node.events();
  REQUIRE(ev.size() == 2);
  CHECK(is(ev[0], 1));
  CHECK(is(ev[1], 2));

  // With room again, the next due event goes in.
  node.now += std::chrono::seconds(1);
  REQUIRE(node.send(kLan, udp_frame(kLanVmac, kHostMac, kClient, kServer, 6000, 53)).next == dp::Next::Tx);
  CHECK(node.events().size() == 1);
  CHECK(node.state_counter(dp::StateCounter::SyncEventDropped) == 3);
}

TEST_CASE("a worker without a ring reports nothing and counts no loss", "[sync_events][pipeline]") {
  Node node;
  dp::WorkerCtx ctx = node.ctx();  // a copy, without the ring
  ctx.events = nullptr;
  Bytes f = udp_frame(kLanVmac, kHostMac, kClient, kServer, 5000, 53);
  const dp::PacketMeta p = dp::run_one(ctx, kLan, f.data(), uint16_t(f.size()));
  CHECK(p.next == dp::Next::Tx);
  CHECK(node.ring.size() == 0);
  CHECK(node.state_counter(dp::StateCounter::SyncEventDropped) == 0);
}
