// The state table: insert-if-absent, both directions, full table, kill,
// expiry and reclamation under RCU; then workers and a reaper on real
// threads (this binary also runs under ThreadSanitizer, concurrency suite).
#include <catch2/catch.hpp>

#include <atomic>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "dataplane/rcu.h"
#include "dataplane/state_table.h"

using namespace hafw;
using Inserted = dp::StateTable::Inserted;
using dp::StateTable;

namespace {

// A UDP flow from 10.0.x.y:port to 192.0.2.1:53 and its reply key.
net::FlowKey fwd(uint32_t n) {
  net::FlowKey k;
  k.af = net::Family::V4;
  k.proto = net::kProtoUdp;
  const uint32_t src = net::be32(0x0a000000 | (n & 0xffff)), dst = net::be32(0xc0000201);
  std::memcpy(k.src.data(), &src, 4);
  std::memcpy(k.dst.data(), &dst, 4);
  k.sport = net::be16(uint16_t(1024 + (n >> 16)));
  k.dport = net::be16(53);
  return k;
}

net::FlowKey reversed(const net::FlowKey& k) {
  net::FlowKey r = k;
  std::swap(r.src, r.dst);
  std::swap(r.sport, r.dport);
  return r;
}

dp::StateInit init(uint32_t n, uint32_t lifetime = 60) {
  dp::StateInit i;
  i.key[0] = fwd(n);
  i.key[1] = reversed(i.key[0]);
  i.lifetime = lifetime;
  i.id = n;
  i.timeout = dp::Timeout::UdpFirst;
  return i;
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
  CHECK(t.at(r.hit.state).id == 1);
  CHECK_FALSE(t.lookup(fwd(2)).found());
  CHECK(t.in_use() == 1);

  // The same connection again: the existing state, no second one.
  auto again = t.insert(init(1), 101);
  CHECK(again.result == Inserted::Exists);
  CHECK(again.hit.state == r.hit.state);
  CHECK(t.in_use() == 1);
}

TEST_CASE("a state whose reply key is taken is withdrawn", "[state]") {
  StateTable t(64);
  REQUIRE(t.insert(init(1), 100).result == Inserted::New);
  // Another initiator whose translated reply would collide with flow 1's
  // reply (what a NAT port clash looks like).
  dp::StateInit clash = init(2);
  clash.key[1] = reversed(fwd(1));
  auto r = t.insert(clash, 100);
  CHECK(r.result == Inserted::Conflict);
  CHECK_FALSE(t.lookup(fwd(2)).found());  // not half-installed
  CHECK(t.lookup(reversed(fwd(1))).state == t.lookup(fwd(1)).state);
}

TEST_CASE("a full table refuses new states and keeps every established one", "[state]") {
  StateTable t(100);
  for (uint32_t n = 0; n < 100; ++n) REQUIRE(t.insert(init(n), 100).result == Inserted::New);
  CHECK(t.insert(init(1000), 100).result == Inserted::Full);
  for (uint32_t n = 0; n < 100; ++n) {
    INFO(n);
    CHECK(t.lookup(fwd(n)).found());
  }
  CHECK(t.in_use() == 100);
}

TEST_CASE("killed and expired states stop matching at once and are freed after a grace period", "[state]") {
  StateTable t(4);
  dp::Qsbr rcu(1);
  rcu.online(0);
  auto a = t.insert(init(1, 60), 100);
  auto b = t.insert(init(2, 10), 100);
  auto c = t.insert(init(3, 60), 100);
  REQUIRE(c.result == Inserted::New);

  t.kill(a.hit.state);
  CHECK_FALSE(t.lookup(fwd(1)).found());
  CHECK_FALSE(t.lookup(reversed(fwd(1))).found());
  CHECK_FALSE(t.refresh(a.hit.state, 100, 60));
  // A killed state's key is free for a new connection at once.
  auto a2 = t.insert(init(1), 101);
  CHECK(a2.result == Inserted::New);

  // Flow 2 expires at 110 unless refreshed; flow 3 is refreshed to 200.
  CHECK(t.refresh(c.hit.state, 140, 60));
  CHECK(t.sweep(109, t.bucket_count(), rcu) == 1);  // only the killed one
  CHECK(t.lookup(fwd(2)).found());
  CHECK(t.sweep(110, t.bucket_count(), rcu) == 1);  // flow 2's time is up
  CHECK_FALSE(t.lookup(fwd(2)).found());
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
  (void)b;
}

TEST_CASE("bulk lookup finds what single lookups find", "[state]") {
  StateTable t(1024);
  for (uint32_t n = 0; n < 1000; n += 2) REQUIRE(t.insert(init(n), 1).result == Inserted::New);
  std::vector<net::FlowKey> keys;
  for (uint32_t n = 0; n < 70; ++n) keys.push_back(n % 3 ? fwd(n * 7) : reversed(fwd(n * 7)));
  std::vector<const net::FlowKey*> ptrs;
  std::vector<uint64_t> hashes;
  for (auto& k : keys) {
    ptrs.push_back(&k);
    hashes.push_back(StateTable::hash(k));
  }
  std::vector<dp::Hit> out(keys.size());
  t.lookup_bulk(ptrs, hashes, out);
  for (size_t i = 0; i < keys.size(); ++i) {
    INFO(i);
    const dp::Hit one = t.lookup(keys[i]);
    CHECK(out[i].state == one.state);
    CHECK(out[i].dir == one.dir);
    CHECK(out[i].found() == ((i * 7) % 2 == 0));
  }
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
  dp::Qsbr rcu(kWorkers);
  for (uint32_t n = 0; n < kPinned; ++n) REQUIRE(t.insert(init(n, 1u << 30), 1).result == Inserted::New);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> lost{0}, wrong{0}, inserted{0}, dup_new{0};
  std::vector<std::thread> workers;
  for (unsigned id = 0; id < kWorkers; ++id) {
    workers.emplace_back([&, id] {
      rcu.online(id);
      std::mt19937 rng(id);
      // Two workers share each churn key range, so they race to insert the same flows.
      const uint32_t base = kPinned + (id / 2) * kChurn;
      std::set<dp::StateIndex> mine;
      for (uint32_t i = 0; i < kChurn; ++i) {
        const uint32_t n = base + i;
        auto r = t.insert(init(n, 1u << 30), 1);
        if (r.result == Inserted::New) {
          inserted.fetch_add(1);
          // Kill half of what we created right away, keep the rest a while.
          if (rng() & 1) t.kill(r.hit.state);
          else mine.insert(r.hit.state);
        }
        // Both directions of a pinned flow must always be found, with their key.
        const uint32_t p = uint32_t(rng() % kPinned);
        const net::FlowKey k = (rng() & 1) ? fwd(p) : reversed(fwd(p));
        const dp::Hit h = t.lookup(k);
        if (!h.found()) lost.fetch_add(1);
        else if (!(t.at(h.state).key[h.dir] == k) || t.at(h.state).id != p) wrong.fetch_add(1);
        if (mine.size() > 64) {
          t.kill(*mine.begin());
          mine.erase(mine.begin());
        }
        rcu.quiescent(id);
      }
      for (auto s : mine) t.kill(s);
      rcu.offline(id);
      (void)dup_new;
    });
  }
  // The reaper: sweep continuously, as the control thread does.
  std::thread reaper([&] {
    while (!stop.load()) {
      t.sweep(1, 256, rcu);
      rcu.reclaim();
    }
  });
  for (auto& w : workers) w.join();
  stop = true;
  reaper.join();
  // Everything churned is dead now: a full sweep and a reclaim free it all.
  t.sweep(1, t.bucket_count(), rcu);
  rcu.reclaim();

  CHECK(lost == 0);
  CHECK(wrong == 0);
  CHECK(inserted > 0);
  CHECK(t.in_use() == kPinned);  // every churned slot came back; none leaked, none freed twice
  for (uint32_t n = 0; n < kPinned; ++n) REQUIRE(t.lookup(fwd(n)).found());
}

TEST_CASE("a small table filled, emptied and refilled many times keeps finding every key", "[state]") {
  // 16 keys per fill in 4 buckets of 7 slots: keys often land past their
  // home bucket, so the overflow counts are exercised both ways.
  StateTable t(8);
  dp::Qsbr rcu(1);
  rcu.online(0);
  std::mt19937 rng(7);
  for (int round = 0; round < 500; ++round) {
    std::vector<uint32_t> flows;
    std::vector<dp::StateIndex> states;
    for (int i = 0; i < 8; ++i) {
      const uint32_t n = rng();
      auto r = t.insert(init(n, 10), 10);  // expires at 20
      REQUIRE(r.result == Inserted::New);
      flows.push_back(n);
      states.push_back(r.hit.state);
    }
    CHECK(t.insert(init(rng()), 10).result == Inserted::Full);
    for (size_t i = 0; i < flows.size(); ++i) {
      INFO("round " << round << " flow " << i);
      REQUIRE(t.lookup(fwd(flows[i])).state == states[i]);
      REQUIRE(t.lookup(reversed(fwd(flows[i]))).state == states[i]);
    }
    // Kill half, sweep them out, check the rest, then let everything expire.
    for (size_t i = 0; i < flows.size(); i += 2) t.kill(states[i]);
    t.sweep(10, t.bucket_count(), rcu);
    for (size_t i = 1; i < flows.size(); i += 2) REQUIRE(t.lookup(fwd(flows[i])).found());
    for (size_t i = 0; i < flows.size(); i += 2) REQUIRE_FALSE(t.lookup(fwd(flows[i])).found());
    t.sweep(10 + 10, t.bucket_count(), rcu);
    rcu.quiescent(0);
    rcu.reclaim();
    REQUIRE(t.in_use() == 0);
  }
}
