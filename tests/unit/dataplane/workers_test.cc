// Two workers on one state table, on real threads (this binary also runs
// under ThreadSanitizer, concurrency suite): both see the first packets of
// the same connections at once, and later each direction of a connection
// runs on a different worker, as NAT's different 5-tuples make RSS do. No
// connection may get two states or two NAT mappings, no two connections may
// share a mapping, and every reply must reach its own client. Each worker
// reports to its state sync event ring while a third thread drains them.
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "dataplane/pipeline.h"
#include "tests/unit/dataplane/frames.h"

using namespace hafw;
using namespace hafw::test;

namespace {

constexpr uint8_t kWan = 0, kLan = 1;
constexpr unsigned kFlows = 3000;
const uint32_t kServer = ip4("198.51.100.10"), kVip = ip4("198.51.100.200");

uint32_t client_of(unsigned f) { return ip4("192.168.1.50") + f % 100; }
uint16_t sport_of_flow(unsigned f) { return uint16_t(10000 + f / 100); }

Bytes request(unsigned f) {
  return udp_frame(Mac::virtual_for(1), kHostMac, client_of(f), kServer, sport_of_flow(f), 53, 8);
}
Bytes reply(uint16_t nat_port) {
  return udp_frame(Mac::virtual_for(200), mac(0x10), kServer, kVip, 53, nat_port, 8);
}

struct Worker {
  Worker(Tables& tables, unsigned n, dp::EventRing* ring) : t(tables), id(n), events(ring) {}
  Tables& t;
  unsigned id;
  dp::EventRing* events;
  dp::WorkerCounters counters;

  // One frame through the pipeline on this worker; the frame as it left, or empty.
  Bytes send(uint8_t in, Bytes f) {
    dp::WorkerCtx ctx{.view = t.view(), .worker = id, .counters = &counters, .states = t.states.get(),
                      .events = events};
    ctx.nat_ports = dp::NatPorts{.seed = 99, .worker = id, .workers = 2};
    ctx.state_id = 1 + id;
    ctx.state_id_step = 2;
    ctx.set_time(std::chrono::seconds(1000));
    const uint16_t len = uint16_t(f.size());
    const dp::PacketMeta p = dp::run_one(ctx, in, f.data(), len);
    if (p.next != dp::Next::Tx) return {};
    f.resize(p.len);
    return f;
  }
};

// The control thread's side: drains the workers' rings on a thread of its
// own until finish() (or the end of the scope, should a check fail first).
class Drain {
 public:
  explicit Drain(dp::EventRings& rings) : rings_(rings), thread_([this] { run(); }) {}
  ~Drain() { finish(); }
  const std::vector<dp::StateEvent>& finish() {
    done_.store(true, std::memory_order_release);
    if (thread_.joinable()) thread_.join();
    return events_;
  }

 private:
  void run() {
    std::vector<dp::StateEvent> buf(256);
    for (;;) {
      const bool last = done_.load(std::memory_order_acquire);  // then one more pass: nothing left behind
      for (size_t n; (n = rings_.poll(buf)) > 0;) events_.insert(events_.end(), buf.begin(), buf.begin() + ptrdiff_t(n));
      if (last) return;
      std::this_thread::yield();
    }
  }
  dp::EventRings& rings_;
  std::atomic<bool> done_{false};
  std::vector<dp::StateEvent> events_;
  std::thread thread_;  // last: starts once the rest is built
};

// The example firewall for two workers: a table of `capacity` states, the
// server and the 100 clients as neighbours.
Tables two_workers(uint32_t capacity) {
  Tables t = master_view();
  t.states = std::make_shared<dp::StateTable>(capacity);
  t.policy = example_policy(*t.states);
  std::vector<dp::NeighborTable::Entry> n = {{kWan, kServer, mac(0x10)}};
  for (unsigned h = 0; h < 100; ++h) n.emplace_back(kLan, ip4("192.168.1.50") + h, mac(uint8_t(h)));
  t.neighbors = dp::NeighborTable::build(n);
  // Each worker's policy counters: the policy was sized for one worker.
  t.policy->allocate_counters(2);
  return t;
}

}  // namespace

TEST_CASE("two workers share the table: one state and one mapping per connection, replies on the other worker",
          "[firewall][concurrency]") {
  Tables t = two_workers(2 * kFlows);

  // Room for every event of the run, so that none may be lost however the
  // drain is scheduled.
  dp::EventRings rings(2, 16384);
  Worker w0(t, 0, rings.of(0)), w1(t, 1, rings.of(1));
  Drain drain(rings);
  // Phase 1: both workers send every connection's first packet, in opposite
  // orders, at the same time: each connection is created by one of them and
  // joined or hit by the other.
  std::vector<uint16_t> port0(kFlows), port1(kFlows);
  std::thread a([&] {
    for (unsigned f = 0; f < kFlows; ++f) {
      Bytes out = w0.send(kLan, request(f));
      port0[f] = out.empty() ? 0 : sport_of(out);
    }
  });
  std::thread b([&] {
    for (unsigned f = kFlows; f-- > 0;) {
      Bytes out = w1.send(kLan, request(f));
      port1[f] = out.empty() ? 0 : sport_of(out);
    }
  });
  a.join();
  b.join();

  std::set<uint16_t> ports;
  for (unsigned f = 0; f < kFlows; ++f) {
    INFO("flow " << f);
    REQUIRE(port0[f] != 0);
    REQUIRE(port0[f] == port1[f]);  // the same mapping, whichever worker made it
    ports.insert(port0[f]);
  }
  CHECK(ports.size() == kFlows);  // no two connections share (VIP, port) towards the server
  // One live state per connection. (A worker that lost an insert race may
  // leave its withdrawn state dying until the reaper frees it: in_use()
  // counts those too.)
  auto live = [&] {
    size_t n = 0;
    t.states->for_each([&](dp::StateIndex) { return ++n, true; });
    return n;
  };
  CHECK(live() == kFlows);
  const dp::Counters c0 = w0.counters.read(), c1 = w1.counters.read();
  CHECK(c0.states[size_t(dp::StateCounter::Created)] + c1.states[size_t(dp::StateCounter::Created)] == kFlows);

  // Phase 2: replies on the worker that did not send the request, while the
  // other keeps sending requests of the same connections.
  std::vector<Bytes> back(kFlows);
  std::thread r0([&] {
    for (unsigned f = 0; f < kFlows; ++f) {
      if (f % 2 == 0) back[f] = w0.send(kWan, reply(port0[f]));
      else w0.send(kLan, request(f));
    }
  });
  std::thread r1([&] {
    for (unsigned f = 0; f < kFlows; ++f) {
      if (f % 2 == 1) back[f] = w1.send(kWan, reply(port0[f]));
      else w1.send(kLan, request(f));
    }
  });
  r0.join();
  r1.join();
  for (unsigned f = 0; f < kFlows; ++f) {
    INFO("flow " << f);
    REQUIRE_FALSE(back[f].empty());
    CHECK(net::be32(ip_of(back[f]).dst) == client_of(f));
    CHECK(dport_of(back[f]) == sport_of_flow(f));
    CHECK(checksums_ok(back[f]));
  }
  CHECK(live() == kFlows);
  uint64_t drops = 0;
  for (auto d : w0.counters.read().drops) drops += d;
  for (auto d : w1.counters.read().drops) drops += d;
  CHECK(drops == 0);

  // The events: one Insert per connection, naming its state and its id;
  // every Update about a state that was inserted; nothing lost.
  const std::vector<dp::StateEvent>& events = drain.finish();
  std::map<dp::StateIndex, unsigned> inserted;
  size_t updates = 0, other = 0;
  for (const dp::StateEvent& e : events) {
    if (e.kind == dp::StateEventKind::Insert) {
      ++inserted[e.state];
      CHECK(e.id == t.states->at(e.state).id);
      CHECK(e.creator == 0);
    }
  }
  for (const dp::StateEvent& e : events) {
    if (e.kind == dp::StateEventKind::Update) {
      ++updates;
      CHECK(inserted.count(e.state) == 1);
    } else if (e.kind != dp::StateEventKind::Insert) {
      ++other;
    }
  }
  CHECK(inserted.size() == kFlows);
  for (const auto& [s, n] : inserted) CHECK(n == 1);
  CHECK(updates >= kFlows);  // every reply moved its state's progress
  CHECK(other == 0);         // nothing was deleted
  CHECK(w0.counters.read().states[size_t(dp::StateCounter::SyncEventDropped)] == 0);
  CHECK(w1.counters.read().states[size_t(dp::StateCounter::SyncEventDropped)] == 0);
}

TEST_CASE("two workers creating different connections at once never hand out one NAT port twice",
          "[firewall][concurrency][nat]") {
  // 3,000 connections per worker, each worker its own clients' (so neither
  // joins the other's), all to one server port: every new flow searches the
  // same port range at the same time as the other worker's.
  Tables t = two_workers(4 * kFlows);
  dp::EventRings rings(2, 16384);
  Worker w0(t, 0, rings.of(0)), w1(t, 1, rings.of(1));
  Drain drain(rings);
  // Worker w's flow f: the request of flow 2f + w (clients and source ports
  // differ between the two sets).
  std::vector<uint16_t> port[2] = {std::vector<uint16_t>(kFlows), std::vector<uint16_t>(kFlows)};
  auto create = [&](Worker& w) {
    for (unsigned f = 0; f < kFlows; ++f) {
      Bytes out = w.send(kLan, request(2 * f + w.id));
      port[w.id][f] = out.empty() ? 0 : sport_of(out);
    }
  };
  std::thread a([&] { create(w0); });
  std::thread b([&] { create(w1); });
  a.join();
  b.join();
  const uint16_t lo = t.policy->nat_port_lo;
  std::set<uint16_t> all;
  for (unsigned w = 0; w < 2; ++w)
    for (unsigned f = 0; f < kFlows; ++f) {
      INFO("worker " << w << " flow " << f);
      REQUIRE(port[w][f] != 0);
      CHECK(unsigned(port[w][f] - lo) % 2 == w);  // the worker's share of the range
      all.insert(port[w][f]);
    }
  CHECK(all.size() == 2 * kFlows);  // no port for two connections
  // Each reply on the other worker reaches its own client. (Checked after
  // the threads: Catch2's assertions are not thread-safe.)
  std::vector<Bytes> back[2] = {std::vector<Bytes>(kFlows), std::vector<Bytes>(kFlows)};
  auto answer = [&](Worker& on, unsigned creator) {
    for (unsigned f = 0; f < kFlows; ++f) back[creator][f] = on.send(kWan, reply(port[creator][f]));
  };
  std::thread c([&] { answer(w1, 0); });
  std::thread d([&] { answer(w0, 1); });
  c.join();
  d.join();
  for (unsigned w = 0; w < 2; ++w)
    for (unsigned f = 0; f < kFlows; ++f) {
      const unsigned flow = 2 * f + w;
      INFO("flow " << flow);
      REQUIRE_FALSE(back[w][f].empty());
      CHECK(net::be32(ip_of(back[w][f]).dst) == client_of(flow));
      CHECK(dport_of(back[w][f]) == sport_of_flow(flow));
    }
  const dp::Counters c0 = w0.counters.read(), c1 = w1.counters.read();
  CHECK(c0.states[size_t(dp::StateCounter::Created)] == kFlows);
  CHECK(c1.states[size_t(dp::StateCounter::Created)] == kFlows);
  CHECK(c0.states[size_t(dp::StateCounter::Raced)] + c1.states[size_t(dp::StateCounter::Raced)] == 0);
  uint64_t drops = 0;
  for (auto x : c0.drops) drops += x;
  for (auto x : c1.drops) drops += x;
  CHECK(drops == 0);
  drain.finish();
}
