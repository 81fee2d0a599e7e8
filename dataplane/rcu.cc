#include "dataplane/rcu.h"

namespace hafw::dp {

// Memory ordering. A reader publishes the epoch it has seen (quiescent) after
// everything it read before; the writer's acquire load of that slot then
// orders those reads before the free. Going online is a store followed by
// loads of shared pointers while the writer stores a pointer then loads the
// slot: a store-load pattern that needs sequential consistency on both sides
// (Snapshots loads and publishes with seq_cst for the same reason), so that
// either the reader sees the new pointer or the writer sees the reader online.

Qsbr::Qsbr(unsigned readers) : readers_(readers), slots_(std::make_unique<Slot[]>(readers)) {}

Qsbr::~Qsbr() {
  for (const auto& r : retired_) r.free_fn(r.p);
}

void Qsbr::quiescent(unsigned id) {
  slots_[id].seen.store(epoch_.load(std::memory_order_acquire), std::memory_order_release);
}

void Qsbr::offline(unsigned id) { slots_[id].seen.store(kOffline, std::memory_order_release); }

void Qsbr::online(unsigned id) {
  slots_[id].seen.store(epoch_.load(std::memory_order_seq_cst), std::memory_order_seq_cst);
}

void Qsbr::retire(void* p, void (*free_fn)(void*)) {
  // Readers that report this epoch or a later one have passed a quiescent
  // point after the caller unpublished `p`.
  const uint64_t token = epoch_.fetch_add(1, std::memory_order_seq_cst) + 1;
  retired_.push_back(Retired{token, p, free_fn});
}

bool Qsbr::safe(uint64_t token) const {
  for (unsigned i = 0; i < readers_; ++i)
    if (slots_[i].seen.load(std::memory_order_seq_cst) < token) return false;
  return true;
}

size_t Qsbr::reclaim() {
  size_t n = 0;
  while (!retired_.empty() && safe(retired_.front().token)) {
    retired_.front().free_fn(retired_.front().p);
    retired_.pop_front();
    ++n;
  }
  return n;
}

}  // namespace hafw::dp
