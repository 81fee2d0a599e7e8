#include "dataplane/state_table.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

#include <sys/mman.h>

namespace hafw::dp {

namespace {

// The reaper hands fully unlinked states to RCU in one batch per sweep.
struct RetiredStates {
  StateTable* table;
  std::vector<StateIndex> states;
};

inline uint64_t rotl(uint64_t x, int r) { return x << r | x >> (64 - r); }

constexpr size_t kHugePage = 2u << 20;

}  // namespace

template <class T>
HugeArray<T>::HugeArray(size_t n) : n_(n) {
  bytes_ = (n * sizeof(T) + kHugePage - 1) / kHugePage * kHugePage;
  void* mem = std::aligned_alloc(kHugePage, bytes_);
  if (!mem) throw std::bad_alloc();
  // Advice only: where THP is off the array simply stays on 4 KB pages.
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
template class HugeArray<std::atomic<uint32_t>>;

// Memory ordering (docs/state-table.md has the why):
//   - an inserter fills the state, then publishes it with a release CAS on
//     the bucket head; readers load heads and links with acquire, so they
//     see a state's keys whenever they can reach it;
//   - `expire` is the state's life: 0 is dead. Readers load it with acquire
//     after they matched the key; kill() and the reaper store/CAS it;
//   - only the reaper changes a link inside a chain; inserters change heads
//     only, with CAS, so an unlink of the head races with inserts through
//     the same CAS and is redone from the new head when it loses.

namespace {

uint32_t checked(uint32_t capacity) {
  if (capacity == 0 || capacity > (1u << 30)) throw std::invalid_argument("state table capacity must be 1..2^30");
  return capacity;
}

// Two keys per state and four buckets per state: at most half the buckets
// hold a key when the table is full, so a hit walks 1.25 links on average.
uint64_t bucket_count_for(uint32_t capacity) { return std::bit_ceil(uint64_t(capacity) * 4); }

}  // namespace

StateTable::StateTable(uint32_t capacity)
    : capacity_(checked(capacity)),
      mask_(bucket_count_for(capacity) - 1),
      states_(capacity),
      heads_(bucket_count_for(capacity)) {
  const uint64_t buckets = mask_ + 1;
  for (uint64_t b = 0; b < buckets; ++b) heads_[b].store(kNoLink, std::memory_order_relaxed);
  for (uint32_t i = 0; i < capacity; ++i) {
    states_[i].next[0].store(i + 1 < capacity ? i + 1 : kNoState, std::memory_order_relaxed);
    states_[i].expire.store(0, std::memory_order_relaxed);
  }
  free_.store(0, std::memory_order_release);
}

uint64_t StateTable::hash(const net::FlowKey& k) {
  // FxHash-style word mixing, then murmur3's finaliser for the avalanche:
  // a handful of multiplies for 38 bytes.
  uint64_t w[4];
  std::memcpy(w, k.src.data(), 16);
  std::memcpy(w + 2, k.dst.data(), 16);
  const uint64_t tail = uint64_t(k.sport) | uint64_t(k.dport) << 16 | uint64_t(k.proto) << 32 |
                        uint64_t(uint8_t(k.af)) << 40;
  constexpr uint64_t kMul = 0x9e3779b97f4a7c15ull;
  uint64_t h = 0;
  for (uint64_t x : w) h = (rotl(h, 5) ^ x) * kMul;
  h = (rotl(h, 5) ^ tail) * kMul;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

Hit StateTable::find(uint32_t l, const net::FlowKey& k) const {
  while (l != kNoLink) {
    const State& s = states_[state_of(l)];
    const uint8_t w = side_of(l);
    if (s.key[w] == k && live(s)) return Hit{state_of(l), w};
    l = s.next[w].load(std::memory_order_acquire);
  }
  return Hit{};
}

Hit StateTable::lookup(const net::FlowKey& k, uint64_t h) const {
  return find(heads_[h & mask_].load(std::memory_order_acquire), k);
}

void StateTable::lookup_bulk(std::span<const net::FlowKey* const> keys, std::span<const uint64_t> hashes,
                             std::span<Hit> out) const {
  constexpr size_t kChunk = 32;
  uint32_t first[kChunk];
  for (size_t base = 0; base < keys.size(); base += kChunk) {
    const size_t n = std::min(kChunk, keys.size() - base);
    for (size_t i = 0; i < n; ++i) __builtin_prefetch(&heads_[hashes[base + i] & mask_]);
    for (size_t i = 0; i < n; ++i) {
      first[i] = heads_[hashes[base + i] & mask_].load(std::memory_order_acquire);
      if (first[i] != kNoLink) {
        // The link and expiry, and the key the link is for (a state spans
        // three cache lines).
        const State& s = states_[state_of(first[i])];
        __builtin_prefetch(&s);
        __builtin_prefetch(&s.key[side_of(first[i])]);
      }
    }
    for (size_t i = 0; i < n; ++i) out[base + i] = find(first[i], *keys[base + i]);
  }
}

StateIndex StateTable::alloc() {
  uint64_t old = free_.load(std::memory_order_acquire);
  for (;;) {
    const uint32_t s = uint32_t(old);
    if (s == kNoState) return kNoState;
    const uint32_t after = states_[s].next[0].load(std::memory_order_relaxed);
    const uint64_t popped = ((old >> 32) + 1) << 32 | after;
    if (free_.compare_exchange_weak(old, popped, std::memory_order_acq_rel, std::memory_order_acquire)) {
      in_use_.fetch_add(1, std::memory_order_relaxed);
      return s;
    }
  }
}

void StateTable::release(StateIndex s) {
  uint64_t old = free_.load(std::memory_order_relaxed);
  uint64_t pushed;
  do {
    states_[s].next[0].store(uint32_t(old), std::memory_order_relaxed);
    pushed = ((old >> 32) + 1) << 32 | s;
  } while (!free_.compare_exchange_weak(old, pushed, std::memory_order_release, std::memory_order_relaxed));
  in_use_.fetch_sub(1, std::memory_order_relaxed);
}

void StateTable::release_batch(void* p) {
  auto* batch = static_cast<RetiredStates*>(p);
  for (StateIndex s : batch->states) batch->table->release(s);
  delete batch;
}

Hit StateTable::link_in(StateIndex s, uint8_t w) {
  State& st = states_[s];
  std::atomic<uint32_t>& head = heads_[hash(st.key[w]) & mask_];
  uint32_t h = head.load(std::memory_order_acquire);
  for (;;) {
    if (Hit dup = find(h, st.key[w]); dup.found()) return dup;
    st.next[w].store(h, std::memory_order_relaxed);
    // A failed CAS reloads h: the chain changed, so check it again.
    if (head.compare_exchange_weak(h, link(s, w), std::memory_order_release, std::memory_order_acquire)) return Hit{};
  }
}

StateTable::InsertResult StateTable::insert(const StateInit& init, uint32_t now) {
  const StateIndex s = alloc();
  if (s == kNoState) return {Inserted::Full, {}};
  State& st = states_[s];
  st.key[0] = init.key[0];
  st.key[1] = init.key[1];
  st.rule = init.rule;
  st.timeout = init.timeout;
  st.id = init.id;
  st.creator = init.creator;
  st.created = now;
  st.tcp[0] = init.tcp[0];
  st.tcp[1] = init.tcp[1];
  for (int w = 0; w < 2; ++w) {
    st.packets[w].store(0, std::memory_order_relaxed);
    st.bytes[w].store(0, std::memory_order_relaxed);
  }
  // A flow whose reply looks exactly like its request (a host talking to
  // itself through the node) has one key only.
  const bool one_key = init.key[0] == init.key[1];
  st.unlinked.store(one_key ? 2 : 0, std::memory_order_relaxed);
  st.expire.store(std::max<uint32_t>(now + init.lifetime, 1), std::memory_order_relaxed);

  if (Hit dup = link_in(s, 0); dup.found()) {
    release(s);  // never reachable: straight back to the free list
    return {Inserted::Exists, dup};
  }
  if (!one_key) {
    if (Hit dup = link_in(s, 1); dup.found()) {
      st.unlinked.fetch_or(2, std::memory_order_relaxed);
      kill(s);  // reachable through key[0]: the reaper frees it
      return {Inserted::Conflict, dup};
    }
  }
  return {Inserted::New, Hit{s, 0}};
}

void StateTable::kill(StateIndex s) { states_[s].expire.store(0, std::memory_order_release); }

bool StateTable::refresh(StateIndex s, uint32_t now, uint32_t lifetime) {
  std::atomic<uint32_t>& e = states_[s].expire;
  const uint32_t want = std::max<uint32_t>(now + lifetime, 1);
  uint32_t cur = e.load(std::memory_order_relaxed);
  for (;;) {
    if (cur == 0) return false;
    if (cur >= want) return true;
    if (e.compare_exchange_weak(cur, want, std::memory_order_relaxed)) return true;
  }
}

size_t StateTable::sweep(uint32_t now, size_t buckets, Rcu& rcu) {
  RetiredStates* batch = nullptr;
  size_t freed = 0;
  for (size_t n = 0; n < buckets; ++n) {
    const size_t b = sweep_cursor_;
    sweep_cursor_ = (sweep_cursor_ + 1) & mask_;
    std::atomic<uint32_t>* prev = &heads_[b];
    uint32_t l = prev->load(std::memory_order_acquire);
    while (l != kNoLink) {
      State& s = states_[state_of(l)];
      const uint8_t w = side_of(l);
      const uint32_t next = s.next[w].load(std::memory_order_acquire);
      uint32_t e = s.expire.load(std::memory_order_acquire);
      // An expired state dies only if no worker refreshed it meanwhile.
      const bool dead = e == 0 || (e <= now && (s.expire.compare_exchange_strong(e, 0, std::memory_order_acq_rel) || e == 0));
      if (!dead) {
        prev = &s.next[w];
        l = next;
        continue;
      }
      uint32_t expect = l;
      if (prev != &heads_[b] || !prev->compare_exchange_strong(expect, next, std::memory_order_acq_rel)) {
        if (prev == &heads_[b]) {
          // Inserts pushed new links in front of it: find what points at it now.
          uint32_t x = prev->load(std::memory_order_acquire);
          while (x != l) {
            prev = &states_[state_of(x)].next[side_of(x)];
            x = prev->load(std::memory_order_acquire);
          }
        }
        prev->store(next, std::memory_order_release);
      }
      const uint8_t bit = uint8_t(1u << w);
      if ((s.unlinked.fetch_or(bit, std::memory_order_acq_rel) | bit) == 3) {
        if (!batch) batch = new RetiredStates{this, {}};
        batch->states.push_back(state_of(l));
        ++freed;
      }
      l = next;
    }
  }
  if (batch) rcu.retire(batch, release_batch);
  return freed;
}

}  // namespace hafw::dp
