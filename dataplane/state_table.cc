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
template class HugeArray<StateTable::Bucket>;


// Memory ordering (docs/state-table.md has the why):
//   - an inserter fills the state, then publishes each key with a release
//     CAS on an empty slot; readers load slots with acquire, so they see a
//     state's keys whenever a slot leads to it;
//   - `expire` is the state's life: 0 is dead. Readers load it with acquire
//     after they matched the key; kill() and the reaper store/CAS it;
//   - inserters only fill empty slots (and empty their own on withdrawal);
//     only the reaper empties a slot that holds a published state.

namespace {

uint32_t checked(uint32_t capacity) {
  if (capacity == 0 || capacity > (1u << 30)) throw std::invalid_argument("state table capacity must be 1..2^30");
  return capacity;
}

// Two keys per state; at most 5 of every 7 slots used when the table is full.
uint64_t bucket_count_for(uint32_t capacity) { return std::bit_ceil((uint64_t(capacity) * 2 + 4) / 5); }

}  // namespace

StateTable::StateTable(uint32_t capacity)
    : capacity_(checked(capacity)),
      mask_(bucket_count_for(capacity) - 1),
      states_(capacity),
      buckets_(bucket_count_for(capacity)) {
  for (uint32_t i = 0; i < capacity; ++i) {
    states_[i].free_next.store(i + 1 < capacity ? i + 1 : kNoState, std::memory_order_relaxed);
    states_[i].expire.store(0, std::memory_order_relaxed);
  }
  free_.store(0, std::memory_order_release);
}

namespace {

// The key as five words: both addresses, then ports, protocol and family.
struct KeyWords {
  uint64_t w[5];
  explicit KeyWords(const net::FlowKey& k) {
    std::memcpy(w, k.src.data(), 16);
    std::memcpy(w + 2, k.dst.data(), 16);
    w[4] = uint64_t(k.sport) | uint64_t(k.dport) << 16 | uint64_t(k.proto) << 32 | uint64_t(uint8_t(k.af)) << 40;
  }
};

// FxHash-style word mixing, then murmur3's finaliser for the avalanche. (Two
// hardware CRC32C chains, rte_hash's choice, measured no faster here.)
uint64_t hash_mix(const KeyWords& k) {
  constexpr uint64_t kMul = 0x9e3779b97f4a7c15ull;
  uint64_t h = 0;
  for (uint64_t x : k.w) h = (rotl(h, 5) ^ x) * kMul;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

}  // namespace

uint64_t StateTable::hash(const net::FlowKey& k) { return hash_mix(KeyWords(k)); }

namespace {

// Bit i set when slot i carries `sig`. Loads and compares without a branch
// per slot: where the match sits is random, and a branch per slot would
// mispredict on most lookups.
template <class B>
inline unsigned matches(const B& b, uint32_t sig, unsigned slots) {
  unsigned m = 0;
  for (unsigned i = 0; i < slots; ++i)
    m |= unsigned(uint32_t(b.slot[i].load(std::memory_order_acquire) >> 32) == sig) << i;
  return m;
}

}  // namespace

Hit StateTable::find(const net::FlowKey& k, uint64_t h) const {
  const uint32_t sig = sig_of(h);
  for (unsigned d = 0; d < kMaxProbe; ++d) {
    const Bucket& b = bucket(h + d);
    for (unsigned m = matches(b, sig, kSlots); m != 0; m &= m - 1) {
      const uint64_t v = b.slot[__builtin_ctz(m)].load(std::memory_order_acquire);
      const State& s = states_[state_of(v)];
      if (uint32_t(v >> 32) == sig && s.key[side_of(v)] == k && live(s)) return Hit{state_of(v), side_of(v)};
    }
    if (b.overflow.load(std::memory_order_acquire) == 0) break;
  }
  return Hit{};
}

Hit StateTable::lookup(const net::FlowKey& k, uint64_t h) const { return find(k, h); }

void StateTable::lookup_bulk(std::span<const net::FlowKey* const> keys, std::span<const uint64_t> hashes,
                             std::span<Hit> out) const {
  constexpr size_t kChunk = 32;
  unsigned cand[kChunk];
  for (size_t base = 0; base < keys.size(); base += kChunk) {
    const size_t n = std::min(kChunk, keys.size() - base);
    for (size_t i = 0; i < n; ++i) __builtin_prefetch(&bucket(hashes[base + i]));
    // The states whose signature matches in the home bucket: their keys,
    // which may straddle two cache lines, and their expiry.
    for (size_t i = 0; i < n; ++i) {
      const Bucket& b = bucket(hashes[base + i]);
      cand[i] = matches(b, sig_of(hashes[base + i]), kSlots);
      for (unsigned m = cand[i]; m != 0; m &= m - 1) {
        const uint64_t v = b.slot[__builtin_ctz(m)].load(std::memory_order_relaxed);
        const State& s = states_[state_of(v)];
        const auto* key = reinterpret_cast<const char*>(&s.key[side_of(v)]);
        __builtin_prefetch(&s);
        __builtin_prefetch(key);
        __builtin_prefetch(key + sizeof(net::FlowKey) - 1);
      }
    }
    for (size_t i = 0; i < n; ++i) {
      const net::FlowKey& k = *keys[base + i];
      const uint64_t h = hashes[base + i];
      const Bucket& b = bucket(h);
      Hit hit;
      for (unsigned m = cand[i]; m != 0 && !hit.found(); m &= m - 1) {
        const uint64_t v = b.slot[__builtin_ctz(m)].load(std::memory_order_acquire);
        const State& s = states_[state_of(v)];
        if (uint32_t(v >> 32) == sig_of(h) && s.key[side_of(v)] == k && live(s)) hit = Hit{state_of(v), side_of(v)};
      }
      // Rare: the key was pushed past its home bucket, or the home bucket
      // changed since it was read: the full search.
      if (!hit.found() && (b.overflow.load(std::memory_order_acquire) != 0 || cand[i] != 0)) hit = find(k, h);
      out[base + i] = hit;
    }
  }
}

StateIndex StateTable::alloc() {
  uint64_t old = free_.load(std::memory_order_acquire);
  for (;;) {
    const uint32_t s = uint32_t(old);
    if (s == kNoState) return kNoState;
    const uint32_t after = states_[s].free_next.load(std::memory_order_relaxed);
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
    states_[s].free_next.store(uint32_t(old), std::memory_order_relaxed);
    pushed = ((old >> 32) + 1) << 32 | s;
  } while (!free_.compare_exchange_weak(old, pushed, std::memory_order_release, std::memory_order_relaxed));
  in_use_.fetch_sub(1, std::memory_order_relaxed);
}

void StateTable::release_batch(void* p) {
  auto* batch = static_cast<RetiredStates*>(p);
  for (StateIndex s : batch->states) batch->table->release(s);
  delete batch;
}

void StateTable::add_overflow(uint64_t home, uint64_t at, int32_t delta) {
  for (uint64_t i = home; i != at; ++i) bucket(i).overflow.fetch_add(uint32_t(delta), std::memory_order_acq_rel);
}

StateTable::Indexed StateTable::index(StateIndex s, uint8_t w) {
  const net::FlowKey& k = states_[s].key[w];
  const uint64_t h = hash(k);
  const uint64_t value = slot_value(sig_of(h), s, w);
  Bucket& home = bucket(h);
  for (;;) {
    // Every insert of a key with this home bumps the version: if it moved
    // between our check and our claim, someone may have put the same key in,
    // so withdraw and check again.
    uint32_t version = home.version.load(std::memory_order_acquire);
    if (Hit dup = find(k, h); dup.found()) return {IndexResult::Exists, dup};
    std::atomic<uint64_t>* claimed = nullptr;
    uint64_t at = h;
    for (unsigned d = 0; d < kMaxProbe && !claimed; ++d) {
      at = h + d;
      Bucket& b = bucket(at);
      for (unsigned i = 0; i < kSlots && !claimed; ++i) {
        uint64_t empty = 0;
        if (b.slot[i].load(std::memory_order_relaxed) != 0) continue;
        // Readers must look past the buckets in between before they can
        // meet the key here.
        add_overflow(h, at, 1);
        if (b.slot[i].compare_exchange_strong(empty, value, std::memory_order_release, std::memory_order_relaxed))
          claimed = &b.slot[i];
        else
          add_overflow(h, at, -1);
      }
    }
    if (!claimed) return {IndexResult::NoRoom, {}};  // cannot happen below 5 of 7 slots used
    if (home.version.compare_exchange_strong(version, version + 1, std::memory_order_acq_rel))
      return {IndexResult::Indexed, {}};
    claimed->store(0, std::memory_order_release);
    add_overflow(h, at, -1);
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

  if (const Indexed r = index(s, 0); r.result != IndexResult::Indexed) {
    release(s);  // never reachable: straight back to the free list
    return r.result == IndexResult::Exists ? InsertResult{Inserted::Exists, r.dup} : InsertResult{Inserted::Full, {}};
  }
  if (!one_key) {
    if (const Indexed r = index(s, 1); r.result != IndexResult::Indexed) {
      st.unlinked.fetch_or(2, std::memory_order_relaxed);
      kill(s);  // reachable through key[0]: the reaper frees it
      return r.result == IndexResult::Exists ? InsertResult{Inserted::Conflict, r.dup}
                                             : InsertResult{Inserted::Full, {}};
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
    const uint64_t at = sweep_cursor_;
    sweep_cursor_ = (sweep_cursor_ + 1) & mask_;
    Bucket& b = bucket(at);
    for (unsigned i = 0; i < kSlots; ++i) {
      const uint64_t v = b.slot[i].load(std::memory_order_acquire);
      if (v == 0) continue;
      State& s = states_[state_of(v)];
      const uint8_t w = side_of(v);
      uint32_t e = s.expire.load(std::memory_order_acquire);
      // An expired state dies only if no worker refreshed it meanwhile.
      const bool dead = e == 0 || (e <= now && (s.expire.compare_exchange_strong(e, 0, std::memory_order_acq_rel) || e == 0));
      if (!dead) continue;
      // Only the reaper empties a published slot, so this one is still ours.
      b.slot[i].store(0, std::memory_order_release);
      const uint64_t home = hash(s.key[w]);
      if (((at - home) & mask_) != 0) add_overflow(home, home + ((at - home) & mask_), -1);
      const uint8_t bit = uint8_t(1u << w);
      if ((s.unlinked.fetch_or(bit, std::memory_order_acq_rel) | bit) == 3) {
        if (!batch) batch = new RetiredStates{this, {}};
        batch->states.push_back(state_of(v));
        ++freed;
      }
    }
  }
  if (batch) rcu.retire(batch, release_batch);
  return freed;
}

}  // namespace hafw::dp
