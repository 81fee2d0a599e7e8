#include "dataplane/sync_events.h"

#include <algorithm>
#include <stdexcept>

namespace hafw::dp {

namespace {

size_t checked(size_t capacity) {
  if (capacity < 2 || (capacity & (capacity - 1)) != 0)
    throw std::invalid_argument("event ring capacity must be a power of two, at least 2");
  return capacity;
}

}  // namespace

EventRing::EventRing(size_t capacity)
    : capacity_(checked(capacity)), mask_(capacity - 1), slots_(std::make_unique<StateEvent[]>(capacity)) {}

size_t EventRing::pop_burst(std::span<StateEvent> out) {
  const uint64_t t = tail_.load(std::memory_order_relaxed);
  uint64_t avail = head_cache_ - t;
  if (avail < out.size()) {
    // The acquire pairs with the producer's release of head: every slot
    // below it is written.
    head_cache_ = head_.load(std::memory_order_acquire);
    avail = head_cache_ - t;
  }
  const size_t n = size_t(std::min<uint64_t>(avail, out.size()));
  if (n == 0) return 0;
  // At most two runs: up to the end of the array, then from its start.
  const size_t at = size_t(t & mask_);
  const size_t first = std::min(n, capacity_ - at);
  std::copy_n(&slots_[at], first, out.begin());
  std::copy_n(&slots_[0], n - first, out.begin() + first);
  // The release orders the reads above before the producer may reuse the slots.
  tail_.store(t + n, std::memory_order_release);
  return n;
}

EventRings::EventRings(unsigned workers, size_t capacity) {
  for (unsigned w = 0; w < workers; ++w) rings_.push_back(std::make_unique<EventRing>(capacity));
}

size_t EventRings::poll(std::span<StateEvent> out) {
  const size_t k = rings_.size();
  if (k == 0 || out.empty()) return 0;
  size_t n = 0;
  for (bool moved = true; moved && n < out.size();) {
    moved = false;
    // An equal share of the room left, at least one.
    const size_t share = std::max<size_t>(1, (out.size() - n) / k);
    for (size_t i = 0; i < k && n < out.size(); ++i) {
      EventRing& r = *rings_[(first_ + i) % k];
      const size_t got = r.pop_burst(out.subspan(n, std::min(share, out.size() - n)));
      n += got;
      moved = moved || got > 0;
    }
  }
  first_ = (first_ + 1) % k;
  return n;
}

}  // namespace hafw::dp
