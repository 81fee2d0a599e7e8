// State sync's event hook: what the workers tell the control thread about
// the states they insert, update and delete, so that the sync engine can
// stream them to the peer (pfsync's INS, UPD_C and DEL_C).
//
// One ring per worker, single producer (the worker) and single consumer (the
// control thread), lock-free: a push is a store of 16 bytes and a release
// store of the head, and never blocks; a full ring refuses the event, which
// the worker counts (states.sync_event_dropped) and forgets. The peer then
// learns the state from its next update, or by asking (pfsync's update
// request). An event names the state by its index and its pfsync identity
// (id and creator ref), read when the event was made: by the time the
// control thread reads it the slot may hold another state, and the id says
// which. When the workers push what: docs/dataplane.md, "State sync events".
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "dataplane/state_table.h"

namespace hafw::dp {

enum class StateEventKind : uint8_t { Insert, Update, Delete };

struct StateEvent {
  uint64_t id;           // State::id when the event was made
  StateIndex state;
  StateEventKind kind;
  uint8_t creator;       // State::creator: 0 this node's state, else the peer's (intern_creator)
  uint16_t reserved;
};
static_assert(sizeof(StateEvent) == 16, "four events per cache line");

// A single-producer, single-consumer ring of StateEvents. The producer owns
// `head` and the consumer `tail`, each on a cache line of its own with the
// side's cached copy of the other's index: a push reads the consumer's line
// only when its copy says the ring is full, a pop the producer's only when
// its copy says it is empty, so in a steady stream the two cores do not
// bounce a line per event.
class EventRing {
 public:
  // `capacity` must be a power of two, at least 2 (std::invalid_argument).
  explicit EventRing(size_t capacity);
  EventRing(const EventRing&) = delete;
  EventRing& operator=(const EventRing&) = delete;

  // ---- the producer (one worker)
  // False when the ring is full: nothing was written.
  bool try_push(const StateEvent& e) {
    const uint64_t h = head_.load(std::memory_order_relaxed);
    if (h - tail_cache_ == capacity_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (h - tail_cache_ == capacity_) return false;
    }
    slots_[h & mask_] = e;
    head_.store(h + 1, std::memory_order_release);
    return true;
  }

  // ---- the consumer (the control thread)
  // Moves up to out.size() events, oldest first, into `out`; returns how many.
  size_t pop_burst(std::span<StateEvent> out);

  size_t capacity() const { return capacity_; }
  // Events in the ring; exact only on a quiet ring (either side may be moving).
  size_t size() const {
    return size_t(head_.load(std::memory_order_acquire) - tail_.load(std::memory_order_acquire));
  }

 private:
  // Read by both sides, written only here: a line of its own.
  alignas(64) const size_t capacity_;
  const size_t mask_;
  const std::unique_ptr<StateEvent[]> slots_;
  // The producer's line: the next index to write, and the last tail it read.
  alignas(64) std::atomic<uint64_t> head_{0};
  uint64_t tail_cache_ = 0;
  // The consumer's line: the next index to read, and the last head it read.
  alignas(64) std::atomic<uint64_t> tail_{0};
  uint64_t head_cache_ = 0;
};

// One ring per worker, drained together by the control thread.
class EventRings {
 public:
  EventRings(unsigned workers, size_t capacity);

  EventRing* of(unsigned worker) { return rings_[worker].get(); }
  unsigned count() const { return unsigned(rings_.size()); }
  // Up to out.size() events from all rings. Round-robin: each pass offers
  // every ring an equal share of the room left, and each call starts at the
  // ring after the one the last call started at, so a worker streaming
  // events cannot starve the others' (PacketIo::poll_events).
  size_t poll(std::span<StateEvent> out);

 private:
  std::vector<std::unique_ptr<EventRing>> rings_;
  size_t first_ = 0;  // the ring the next poll starts at
};

}  // namespace hafw::dp
