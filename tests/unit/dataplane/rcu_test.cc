// QSBR reclamation and snapshot publication: the rules single-threaded, then
// readers and a writer on real threads (this binary also runs under
// ThreadSanitizer, in the concurrency suite).
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "dataplane/rcu.h"
#include "dataplane/snapshot.h"

using namespace hafw;

namespace {

// Counts live instances; a freed one has its magic cleared first, so a
// reader that sees a cleared magic read freed memory.
struct Tracked {
  static inline std::atomic<int> live{0};
  static constexpr uint64_t kMagic = 0x5eed5eed5eed5eedull;
  uint64_t magic = kMagic;
  uint64_t value;
  explicit Tracked(uint64_t v) : value(v) { ++live; }
  ~Tracked() {
    magic = 0;
    --live;
  }
};

}  // namespace

TEST_CASE("a retired object is freed only after every online reader passed a quiescent state", "[rcu]") {
  dp::Qsbr rcu(2);
  rcu.online(0);
  rcu.online(1);
  rcu.retire(new Tracked(1));
  CHECK(rcu.reclaim() == 0);  // neither reader has passed a quiescent point since
  rcu.quiescent(0);
  CHECK(rcu.reclaim() == 0);  // reader 1 may still hold it
  CHECK(Tracked::live == 1);
  rcu.quiescent(1);
  CHECK(rcu.reclaim() == 1);
  CHECK(Tracked::live == 0);
  CHECK(rcu.pending() == 0);
}

TEST_CASE("an offline reader never holds reclamation back", "[rcu]") {
  dp::Qsbr rcu(2);
  rcu.online(0);  // reader 1 never comes online: an idle worker asleep
  rcu.retire(new Tracked(1));
  rcu.quiescent(0);
  CHECK(rcu.reclaim() == 1);
  rcu.offline(0);
  rcu.retire(new Tracked(2));
  CHECK(rcu.reclaim() == 1);  // every reader offline: free at once
  CHECK(Tracked::live == 0);
}

TEST_CASE("objects are freed oldest first, each once its own grace period is over", "[rcu]") {
  dp::Qsbr rcu(1);
  rcu.online(0);
  rcu.retire(new Tracked(1));
  rcu.quiescent(0);
  rcu.retire(new Tracked(2));  // retired after the reader's quiescent point
  CHECK(rcu.reclaim() == 1);
  CHECK(rcu.pending() == 1);
  rcu.quiescent(0);
  CHECK(rcu.reclaim() == 1);
  CHECK(Tracked::live == 0);
}

TEST_CASE("the domain frees what is still pending when it goes away", "[rcu]") {
  {
    dp::Qsbr rcu(1);
    rcu.online(0);
    rcu.retire(new Tracked(1));
    CHECK(rcu.reclaim() == 0);
  }
  CHECK(Tracked::live == 0);
}

TEST_CASE("snapshots publish separately and retire what they replace", "[rcu][snapshot]") {
  dp::Qsbr rcu(1);
  rcu.online(0);
  {
    dp::Snapshots s(rcu);
    CHECK_FALSE(s.load().ready());
    s.publish(std::make_unique<const dp::Topology>());
    s.publish(std::make_unique<const dp::VipSet>());
    CHECK_FALSE(s.load().ready());
    s.publish(std::make_unique<const dp::NeighborTable>());
    CHECK_FALSE(s.load().ready());
    s.publish(std::make_unique<const dp::Policy>());
    const dp::View first = s.load();
    REQUIRE(first.ready());

    // A CARP transition replaces the VIP set and nothing else.
    auto owned = std::make_unique<dp::VipSet>();
    owned->vips.push_back({.addr = 1, .iface = 0, .vhid = 1, .vmac = net::Mac::virtual_for(1)});
    s.publish(std::unique_ptr<const dp::VipSet>(std::move(owned)));
    const dp::View second = s.load();
    CHECK(second.topo == first.topo);
    CHECK(second.neighbors == first.neighbors);
    CHECK(second.policy == first.policy);
    CHECK(second.owned != first.owned);
    CHECK(second.owned->find(1));
    CHECK(s.publications() == 5);
    CHECK(rcu.pending() == 1);  // the first VIP set, until the reader moves on
    rcu.quiescent(0);
    CHECK(rcu.reclaim() == 1);
  }
  rcu.offline(0);
}

TEST_CASE("readers on other threads never see a freed snapshot while the writer republishes", "[rcu][concurrency]") {
  constexpr unsigned kReaders = 3;
  constexpr int kPublishes = 20000;
  dp::Qsbr rcu(kReaders);
  dp::Snapshot<Tracked> snap;
  snap.publish(std::make_unique<const Tracked>(0), rcu);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0}, bad{0};
  std::atomic<unsigned> running{0};

  std::vector<std::thread> readers;
  for (unsigned id = 0; id < kReaders; ++id) {
    readers.emplace_back([&, id] {
      rcu.online(id);
      uint64_t last = 0, n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const Tracked* t = snap.load();
        // Values only grow: a reader never goes back to an older snapshot.
        if (t->magic != Tracked::kMagic || t->value < last) bad.fetch_add(1);
        last = t->value;
        if (++n == 1) running.fetch_add(1);
        rcu.quiescent(id);
        if (n % 1024 == 0) {  // now and then sleep offline, as an idle worker does
          rcu.offline(id);
          std::this_thread::yield();
          rcu.online(id);
        }
      }
      rcu.offline(id);
      reads.fetch_add(n);
    });
  }
  // Publish only once every reader is reading, so they overlap the writer
  // however the threads are scheduled.
  while (running.load() < kReaders) std::this_thread::yield();
  for (int i = 1; i <= kPublishes; ++i) {
    snap.publish(std::make_unique<const Tracked>(uint64_t(i)), rcu);
    rcu.reclaim();
  }
  stop = true;
  for (auto& t : readers) t.join();
  rcu.reclaim();  // every reader is offline now

  CHECK(bad == 0);
  CHECK(reads >= kReaders);
  CHECK(rcu.pending() == 0);
  CHECK(Tracked::live == 1);  // only the current snapshot
}
