// PLACEHOLDER while the v2 table is written on its own branch: compiles
// against the v2 header, finds nothing and refuses every insert.
#include "dataplane/state_table.h"

#include <cstdlib>
#include <new>
#include <stdexcept>

#include <sys/mman.h>

namespace hafw::dp {

namespace {
constexpr size_t kHugePage = 2u << 20;
}

template <class T>
HugeArray<T>::HugeArray(size_t n) : n_(n) {
  bytes_ = (n * sizeof(T) + kHugePage - 1) / kHugePage * kHugePage;
  void* mem = std::aligned_alloc(kHugePage, bytes_);
  if (!mem) throw std::bad_alloc();
  madvise(mem, bytes_, MADV_HUGEPAGE);
  p_ = static_cast<T*>(mem);
  for (size_t i = 0; i < n; ++i) new (&p_[i]) T();
}

template <class T>
HugeArray<T>::~HugeArray() {
  for (size_t i = 0; i < n_; ++i) p_[i].~T();
  std::free(p_);
}

template class HugeArray<State>;
template class HugeArray<StateTable::Bucket>;

StateTable::StateTable(uint32_t capacity)
    : capacity_(capacity), nbuckets_(1), states_(capacity), buckets_(1) {}

uint64_t StateTable::hash(const net::FlowKey&) { return 0; }
Hit StateTable::lookup(const net::FlowKey&, uint64_t) const { return {}; }
void StateTable::lookup_bulk(std::span<const net::FlowKey* const>, std::span<const uint64_t>,
                             std::span<Hit> out) const {
  for (auto& h : out) h = Hit{};
}
void StateTable::prefetch_bucket(uint64_t) const {}
StateTable::InsertResult StateTable::insert(const StateInit&, uint32_t) { return {Inserted::Full, {}}; }
void StateTable::kill(StateIndex) {}
bool StateTable::refresh(StateIndex, uint32_t, uint32_t) { return false; }
net::FlowKey StateTable::key(StateIndex, uint8_t) const { return {}; }
NatDelta StateTable::nat(StateIndex) const { return {}; }
uint64_t StateTable::packets(StateIndex, uint8_t) const { return 0; }
void StateTable::count(StateIndex, uint8_t, uint32_t) {}
uint16_t StateTable::intern_addr(const net::IpAddr& a) {
  for (size_t i = 0; i < pool_used_; ++i)
    if (pool_[i] == a.b) return uint16_t(i);
  if (pool_used_ >= kAddrPool) return kNoAddr;
  pool_[pool_used_] = a.b;
  return uint16_t(pool_used_++);
}

uint8_t StateTable::intern_creator(uint32_t id) {
  for (size_t i = 0; i < creators_used_; ++i)
    if (creators_[i] == id) return uint8_t(i);
  if (creators_used_ >= kNoCreator) return kNoCreator;
  creators_[creators_used_] = id;
  return uint8_t(creators_used_++);
}
size_t StateTable::sweep(uint32_t, size_t, Rcu&) { return 0; }

}  // namespace hafw::dp
