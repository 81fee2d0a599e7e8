// State sync's event hook: the single-producer/single-consumer ring and the
// round-robin drain over the workers' rings. The ring's two-thread stress
// test runs in the concurrency suite too (ThreadSanitizer).
#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "dataplane/sync_events.h"

using namespace hafw;
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
