#include "dataplane/state_table.h"

#include <emmintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

#include <sys/mman.h>

namespace hafw::dp {

// Memory ordering (docs/state-table.md, "Memory ordering", has the why):
//   - an inserter fills the state with plain and relaxed stores, then claims
//     a slot with an acq_rel CAS of its link (0 -> ref) and only then sets
//     the slot's signature byte (a release RMW on the signature word);
//   - whoever empties a slot clears its signature byte first, then stores
//     0 in the link (release); the next claimant's CAS reads that store, so
//     it finds the byte at 0 and may OR its own signature in;
//   - readers load the signature words (acquire), then each candidate's link
//     (acquire), then the state: a reader that sees a signature sees the link
//     that was claimed before it, and through the link the filled state. A
//     stale signature only costs a key compare: the link says 0 (skip) or
//     leads to another state, whose key or liveness decides;
//   - `expire` is the state's life, 0 is dead (kill() stores it with
//     release, the reaper CASes an expired value to 0);
//   - only the reaper empties a slot of a state whose insert is over, and it
//     leaves the slots of a state with sflag::Inserting alone, so it never
//     races an inserter that withdraws its own slot;
//   - a state goes back on the free list only after an RCU grace period,
//     unless no reader can ever have reached it (its key[0] was never shown).

namespace {

// The reaper hands fully unlinked states to RCU in one batch per sweep.
struct RetiredStates {
  StateTable* table;
  std::vector<StateIndex> states;
};

constexpr size_t kHugePage = 2u << 20;
constexpr size_t kPage = 4096;

}  // namespace

template <class T>
HugeArray<T>::HugeArray(size_t n) : n_(n) {
  // Whole 2 MB pages for an array that can use one; a smaller one (a test's
  // table, a lab's) stays on 4 KB pages and takes no more than it needs.
  const size_t align = n * sizeof(T) >= kHugePage ? kHugePage : kPage;
  bytes_ = std::max<size_t>((n * sizeof(T) + align - 1) / align * align, align);
  void* mem = std::aligned_alloc(align, bytes_);
  if (!mem) throw std::bad_alloc();
  // Advice only: where THP is off the array simply stays on 4 KB pages.
  if (align == kHugePage) madvise(mem, bytes_, MADV_HUGEPAGE);
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

namespace {

uint32_t checked(uint32_t capacity) {
  if (capacity == 0 || capacity > (1u << 30)) throw std::invalid_argument("state table capacity must be 1..2^30");
  return capacity;
}

// Two keys per state, at most 80% of the 12 slots of a bucket used when the
// table is full: ceil(2 * capacity / 9.6) = ceil(capacity * 5 / 24).
uint64_t bucket_count_for(uint32_t capacity) { return std::max<uint64_t>(1, (uint64_t(capacity) * 5 + 23) / 24); }

constexpr uint8_t kProtoIcmp6 = 58;

bool is_icmp(uint8_t proto) { return proto == net::kProtoIcmp || proto == kProtoIcmp6; }

// Which half of the reply's port word (sport in the low 16 bits, dport in
// the high 16: the little-endian load of the two adjacent ports) NAT
// replaces, by NAT side | ICMP << 2. Src: key[1].dport; Dst: key[1].sport;
// an ICMP query carries its id in both ports, so both.
constexpr uint32_t kNatPortMask[8] = {0, 0xffff0000u, 0x0000ffffu, 0, 0, 0xffffffffu, 0xffffffffu, 0};

using net::load32;
using net::load64;

inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// Bit i set when slot i's signature is `sig`: the twelve bytes compared at
// once, no branch per slot.
inline unsigned sig_matches(const StateTable::Bucket& b, uint8_t sig) {
  const uint64_t lo = b.sig_lo.load(std::memory_order_acquire);
  const uint32_t hi = b.sig_hi.load(std::memory_order_acquire);
  const __m128i v = _mm_unpacklo_epi64(_mm_cvtsi64_si128(int64_t(lo)), _mm_cvtsi32_si128(int32_t(hi)));
  const __m128i eq = _mm_cmpeq_epi8(v, _mm_set1_epi8(char(sig)));
  return unsigned(_mm_movemask_epi8(eq)) & 0xfffu;
}

}  // namespace

StateTable::StateTable(uint32_t capacity)
    : capacity_(checked(capacity)),
      nbuckets_(bucket_count_for(capacity)),
      states_(capacity),
      buckets_(bucket_count_for(capacity)) {
  for (uint32_t i = 0; i < capacity; ++i) {
    states_[i].seqlo[0].store(i + 1 < capacity ? i + 1 : kNoState, std::memory_order_relaxed);
    states_[i].expire.store(0, std::memory_order_relaxed);
    states_[i].flags.store(0, std::memory_order_relaxed);
  }
  free_.store(0, std::memory_order_release);
}


// ---- keys

net::FlowKey StateTable::key(StateIndex s, uint8_t w) const {
  const State& st = states_[s];
  const uint8_t flags = st.flags.load(std::memory_order_relaxed);
  net::FlowKey k;
  k.proto = st.proto;
  k.af = (flags & sflag::V6) ? net::Family::V6 : net::Family::V4;
  if (w == 0) {
    k.src = st.src;
    k.dst = st.dst;
    k.sport = st.sport;
    k.dport = st.dport;
    return k;
  }
  const auto side = NatSide((flags & sflag::NatMask) >> 1);
  k.src = side == NatSide::Dst ? pool_[st.nat_addr] : st.dst;
  k.dst = side == NatSide::Src ? pool_[st.nat_addr] : st.src;
  k.sport = st.dport;
  k.dport = st.sport;
  if (side == NatSide::Src || (side == NatSide::Dst && is_icmp(st.proto))) k.dport = st.nat_port;
  if (side == NatSide::Dst || (side == NatSide::Src && is_icmp(st.proto))) k.sport = st.nat_port;
  return k;
}

// key[0] against a key: the addresses as two 16-byte compares, then the 8
// bytes that end the key but its family (the last three of dst, the ports,
// the protocol), and the family from the flags. The 8-byte load stops short
// of the flags byte: inserts and the reaper change its other bits with
// atomics while a lookup may read the state, so it is only read atomically.
inline bool StateTable::key0_equals(const State& s, const net::FlowKey& k) const {
  const auto* sp = reinterpret_cast<const uint8_t*>(&s);
  const auto* kp = reinterpret_cast<const uint8_t*>(&k);
  const __m128i diff = _mm_or_si128(_mm_xor_si128(load128(sp), load128(kp)), _mm_xor_si128(load128(sp + 16), load128(kp + 16)));
  const unsigned addrs = unsigned(_mm_movemask_epi8(_mm_cmpeq_epi8(diff, _mm_setzero_si128()))) ^ 0xffffu;
  static_assert(offsetof(State, proto) == 36 && offsetof(State, flags) == 37 &&
                offsetof(net::FlowKey, proto) == 36 && offsetof(net::FlowKey, af) == 37);
  const uint64_t st = load64(sp + 29), kt = load64(kp + 29);
  const uint64_t af = (s.flags.load(std::memory_order_relaxed) & sflag::V6) ? uint8_t(net::Family::V6)
                                                                             : uint8_t(net::Family::V4);
  const uint64_t tail = (st ^ kt) | (uint64_t(uint8_t(k.af)) ^ af);
  return (addrs | tail) == 0;
}

// key[1] against a key, without building it: the reply's source is the
// state's destination (or a port forward's target, from the pool), its
// destination the state's source (or outbound NAT's VIP), its ports
// swapped with the translated one put in. Chosen with masks, not jumps: NAT
// side and protocol vary from state to state.
inline bool StateTable::key1_equals(const State& s, const net::FlowKey& k) const {
  const uint8_t flags = s.flags.load(std::memory_order_relaxed);
  const unsigned side = (flags & sflag::NatMask) >> 1;
  const uintptr_t a = reinterpret_cast<uintptr_t>(s.src.data());
  const uintptr_t b = reinterpret_cast<uintptr_t>(s.dst.data());
  const uintptr_t pool = reinterpret_cast<uintptr_t>(pool_[s.nat_addr].data());
  const auto* src = reinterpret_cast<const uint8_t*>(b ^ ((b ^ pool) & -uintptr_t(side == unsigned(NatSide::Dst))));
  const auto* dst = reinterpret_cast<const uint8_t*>(a ^ ((a ^ pool) & -uintptr_t(side == unsigned(NatSide::Src))));
  const uint32_t ports0 = load32(&s.sport);
  const uint32_t swapped = ports0 >> 16 | ports0 << 16;
  const uint32_t mask = kNatPortMask[side | unsigned(is_icmp(s.proto)) << 2];
  const uint32_t ports = swapped ^ ((swapped ^ uint32_t(s.nat_port) * 0x10001u) & mask);
  const __m128i diff = _mm_or_si128(_mm_xor_si128(load128(src), load128(k.src.data())),
                                    _mm_xor_si128(load128(dst), load128(k.dst.data())));
  const unsigned addrs = unsigned(_mm_movemask_epi8(_mm_cmpeq_epi8(diff, _mm_setzero_si128()))) ^ 0xffffu;
  const uint32_t af = (flags & sflag::V6) ? uint8_t(net::Family::V6) : uint8_t(net::Family::V4);
  const uint32_t tail = (ports ^ load32(&k.sport)) | uint32_t(s.proto ^ k.proto) | (af ^ uint8_t(k.af));
  return (addrs | tail) == 0;
}

// key[w] compared where it lies: for w = 1 the addresses are read from the
// state or the address pool and the ports are swapped and masked in a
// register, so no FlowKey is built. The direction of a hit is random, so
// nothing here branches on w or on the NAT side: the pointers and the port
// word are chosen with masks (a compiler turns a ?: of pointers into a jump).
inline bool StateTable::key_equals(const State& s, uint8_t w, const net::FlowKey& k) const {
  const uint8_t flags = s.flags.load(std::memory_order_relaxed);
  const unsigned side = (flags & sflag::NatMask) >> 1;
  const uintptr_t a = reinterpret_cast<uintptr_t>(s.src.data());
  const uintptr_t b = reinterpret_cast<uintptr_t>(s.dst.data());
  const uintptr_t pool = reinterpret_cast<uintptr_t>(pool_[s.nat_addr].data());
  const uintptr_t on_w = -uintptr_t(w);
  const uintptr_t on_src = -uintptr_t(side == unsigned(NatSide::Src));
  const uintptr_t on_dst = -uintptr_t(side == unsigned(NatSide::Dst));
  const uintptr_t src1 = b ^ ((b ^ pool) & on_dst);  // key[1].src: the target, or the state's dst
  const uintptr_t dst1 = a ^ ((a ^ pool) & on_src);  // key[1].dst: the VIP, or the state's src
  const auto* src = reinterpret_cast<const uint8_t*>(a ^ ((a ^ src1) & on_w));
  const auto* dst = reinterpret_cast<const uint8_t*>(b ^ ((b ^ dst1) & on_w));
  const uint32_t ports0 = load32(&s.sport);
  const uint32_t swapped = ports0 >> 16 | ports0 << 16;
  const uint32_t mask = kNatPortMask[side | unsigned(is_icmp(s.proto)) << 2];
  const uint32_t ports1 = swapped ^ ((swapped ^ uint32_t(s.nat_port) * 0x10001u) & mask);
  const uint32_t ports = ports0 ^ ((ports0 ^ ports1) & uint32_t(on_w));
  const __m128i diff = _mm_or_si128(_mm_xor_si128(load128(src), load128(k.src.data())),
                                    _mm_xor_si128(load128(dst), load128(k.dst.data())));
  const unsigned addrs = unsigned(_mm_movemask_epi8(_mm_cmpeq_epi8(diff, _mm_setzero_si128()))) ^ 0xffffu;
  const uint32_t af = (flags & sflag::V6) ? uint8_t(net::Family::V6) : uint8_t(net::Family::V4);
  const uint32_t tail = (ports ^ load32(&k.sport)) | uint32_t(s.proto ^ k.proto) | (af ^ uint8_t(k.af));
  return (addrs | tail) == 0;
}

// ---- lookups

Hit StateTable::find(const net::FlowKey& k, uint64_t h) const {
  const uint8_t sig = sig_of(h);
  uint64_t b = home(h);
  for (unsigned d = 0, n = probe_limit(); d < n; ++d, b = next(b)) {
    const Bucket& bk = buckets_[b];
    for (unsigned m = sig_matches(bk, sig); m != 0; m &= m - 1) {
      const uint32_t ref = bk.ref[__builtin_ctz(m)].load(std::memory_order_acquire);
      if (ref == 0) continue;
      const State& s = states_[state_of(ref)];
      if (key_equals(s, key_of(ref), k) && live(s)) return Hit{state_of(ref), key_of(ref)};
    }
    if (bk.overflow.load(std::memory_order_acquire) == 0) break;
  }
  return Hit{};
}

Hit StateTable::lookup(const net::FlowKey& k, uint64_t h) const { return find(k, h); }

namespace {

// A state's first 48 bytes, which a lookup compares (key[0], the NAT
// delta, the expiry): one line or two, by where the state starts in its line.
inline void prefetch_head(const State* s) {
  const auto* p = reinterpret_cast<const char*>(s);
  __builtin_prefetch(p);
  __builtin_prefetch(p + offsetof(State, seqlo) - 1);
}

// All of it, two or three lines: the first candidate of each key, whose
// tail (the TCP windows, progress, counters) the caller updates right after
// a hit. Asked for with the head, not after the compare, so that at a
// million states the tail's DRAM miss overlaps the head's instead of
// following it. A 112-byte state meets at most three lines, and each holds
// one of these three bytes.
inline void prefetch_state(const State* s) {
  const auto* p = reinterpret_cast<const char*>(s);
  __builtin_prefetch(p);
  __builtin_prefetch(p + 56);
  __builtin_prefetch(p + sizeof(State) - 1);
}

}  // namespace

void StateTable::lookup_bulk(std::span<const net::FlowKey* const> keys, std::span<const uint64_t> hashes,
                             std::span<Hit> out) const {
  constexpr size_t kChunk = 32;
  // The arrays' addresses in registers: the compiler cannot tell that the
  // stores to `out` leave the table's members alone.
  const State* const states = &states_[0];
  const Bucket* const buckets = &buckets_[0];
  const uint64_t nb = nbuckets_;
  const Bucket* home_of[kChunk];
  uint32_t first[kChunk];  // the link of the first slot whose signature matched
  // Keys by what step 3 does with them: dir0/dir1, compare with that key of
  // the candidate's state; none, no candidate at home.
  uint8_t dir0[kChunk], dir1[kChunk], none[kChunk];
  uint8_t again[kChunk];  // keys the fast path did not settle
  for (size_t base = 0; base < keys.size(); base += kChunk) {
    const size_t n = std::min(kChunk, keys.size() - base);
    const uint64_t* h = &hashes[base];
    const net::FlowKey* const* k = &keys[base];
    Hit* o = &out[base];
    // 1. Every home bucket on its way.
    for (size_t i = 0; i < n; ++i) {
      home_of[i] = &buckets[(uint64_t(uint32_t(h[i])) * nb) >> 32];
      __builtin_prefetch(home_of[i]);
    }
    // 2. The signatures; the whole of each key's first candidate (the state
    // of the first slot whose signature matches) and the compared lines of
    // any other; where keys were pushed past the home bucket, the next bucket.
    // Each key is sorted by which of its candidate's keys it would be, so
    // that step 3 runs one loop per direction, with no jump on it.
    unsigned n0 = 0, n1 = 0, nn = 0, na = 0;
    unsigned several = 0;  // bit i: key i has more than one candidate
    for (size_t i = 0; i < n; ++i) {
      const Bucket& b = *home_of[i];
      const unsigned m = sig_matches(b, sig_of(h[i]));
      // Slot 11 when nothing matched, only so that the load needs no jump.
      const uint32_t ref = b.ref[__builtin_ctz(m | 0x800u)].load(std::memory_order_acquire) & -uint32_t(m != 0);
      first[i] = ref;
      prefetch_state(&states[state_of(ref | (ref == 0))]);
      several |= unsigned((m & (m - 1)) != 0) << i;
      // Past the last bucket this aims at nothing, which a prefetch may.
      __builtin_prefetch(reinterpret_cast<const char*>(&b) +
                         (b.overflow.load(std::memory_order_relaxed) != 0 ? sizeof(Bucket) : 0));
      const unsigned w = key_of(ref);
      dir0[n0] = uint8_t(i);
      dir1[n1] = uint8_t(i);
      none[nn] = uint8_t(i);
      n0 += ref != 0 && w == 0;
      n1 += ref != 0 && w == 1;
      nn += ref == 0;
    }
    // The other candidates' lines (one key in thirty has any): in a loop of
    // their own, since a branch into them in the loop above cost 8 cycles a
    // lookup at 1K states, for every key.
    for (unsigned x = several; x != 0; x &= x - 1) {
      const unsigned i = unsigned(__builtin_ctz(x));
      const Bucket& b = *home_of[i];
      const unsigned m = sig_matches(b, sig_of(h[i]));
      for (unsigned o2 = m & (m - 1); o2 != 0; o2 &= o2 - 1) {
        const uint32_t r = b.ref[__builtin_ctz(o2)].load(std::memory_order_relaxed);
        prefetch_head(&states[state_of(r | (r == 0))]);
      }
    }
    // 2b. No candidate at home: a miss, unless keys were pushed past it; then
    // the next bucket's candidate joins step 3 (a key further on, or a
    // second candidate there, is for the full search).
    for (unsigned j = 0; j < nn; ++j) {
      const unsigned i = none[j];
      const Bucket& b = *home_of[i];
      o[i] = Hit{};
      if (b.overflow.load(std::memory_order_acquire) == 0) continue;
      const Bucket& b2 = buckets[next(uint64_t(&b - buckets))];
      const unsigned m = sig_matches(b2, sig_of(h[i]));
      const uint32_t ref = b2.ref[__builtin_ctz(m | 0x800u)].load(std::memory_order_acquire) & -uint32_t(m != 0);
      first[i] = ref;
      prefetch_state(&states[state_of(ref | (ref == 0))]);
      const unsigned w = key_of(ref);
      dir0[n0] = uint8_t(i);
      dir1[n1] = uint8_t(i);
      again[na] = uint8_t(i);
      n0 += ref != 0 && w == 0;
      n1 += ref != 0 && w == 1;
      na += ref == 0;
    }
    // 3. Compare. A link read in step 2 may be stale by now: the state it
    // leads to is still safe to read (RCU), and its key and life decide.
    for (unsigned j = 0; j < n0; ++j) {
      const unsigned i = dir0[j];
      const StateIndex si = state_of(first[i]);
      const State& s = states[si];
      const bool hit = key0_equals(s, *k[i]) & live(s);
      o[i] = Hit{hit ? si : kNoState, 0};
      again[na] = uint8_t(i);
      na += !hit;
    }
    for (unsigned j = 0; j < n1; ++j) {
      const unsigned i = dir1[j];
      const StateIndex si = state_of(first[i]);
      const State& s = states[si];
      const bool hit = key1_equals(s, *k[i]) & live(s);
      o[i] = Hit{hit ? si : kNoState, uint8_t(hit)};
      again[na] = uint8_t(i);
      na += !hit;
    }
    // 4. The rest (another candidate, a key further on, a link gone): the
    // full search.
    for (unsigned j = 0; j < na; ++j) {
      const unsigned i = again[j];
      o[i] = find(*k[i], h[i]);
    }
  }
}

// ---- the free list

StateIndex StateTable::alloc() {
  uint64_t old = free_.load(std::memory_order_acquire);
  for (;;) {
    const uint32_t s = uint32_t(old);
    if (s == kNoState) return kNoState;
    // The link of a slot another thread may pop and refill meanwhile: an
    // atomic load, and the tag makes our CAS fail if it did.
    const uint32_t after = states_[s].seqlo[0].load(std::memory_order_relaxed);
    const uint64_t popped = ((old >> 32) + 1) << 32 | after;
    if (free_.compare_exchange_weak(old, popped, std::memory_order_acquire, std::memory_order_acquire)) {
      in_use_.fetch_add(1, std::memory_order_relaxed);
      return s;
    }
  }
}

void StateTable::release(StateIndex s) {
  uint64_t old = free_.load(std::memory_order_relaxed);
  uint64_t pushed;
  do {
    states_[s].seqlo[0].store(uint32_t(old), std::memory_order_relaxed);
    pushed = ((old >> 32) + 1) << 32 | s;
  } while (!free_.compare_exchange_weak(old, pushed, std::memory_order_release, std::memory_order_relaxed));
  in_use_.fetch_sub(1, std::memory_order_relaxed);
}

void StateTable::release_batch(void* p) {
  auto* batch = static_cast<RetiredStates*>(p);
  for (StateIndex s : batch->states) batch->table->release(s);
  delete batch;
}

// ---- slots

void StateTable::set_sig(Bucket& b, unsigned slot, uint8_t sig) {
  // The byte is 0 (whoever emptied the slot cleared it before the link we
  // replaced), and only the slot's owner writes it: OR it in.
  if (slot < 8)
    b.sig_lo.fetch_or(uint64_t(sig) << (8 * slot), std::memory_order_release);
  else
    b.sig_hi.fetch_or(uint32_t(sig) << (8 * (slot - 8)), std::memory_order_release);
}

void StateTable::clear_sig(Bucket& b, unsigned slot) {
  if (slot < 8)
    b.sig_lo.fetch_and(~(uint64_t(0xff) << (8 * slot)), std::memory_order_release);
  else
    b.sig_hi.fetch_and(~(uint32_t(0xff) << (8 * (slot - 8))), std::memory_order_release);
}

void StateTable::add_overflow(uint64_t home, uint64_t dist, int delta) {
  for (uint64_t b = home, d = 0; d < dist; ++d, b = next(b))
    buckets_[b].overflow.fetch_add(uint16_t(delta), std::memory_order_acq_rel);
}

StateTable::Place StateTable::claim(uint64_t home, uint32_t ref) {
  uint64_t b = home;
  for (unsigned d = 0, n = probe_limit(); d < n; ++d, b = next(b)) {
    Bucket& bk = buckets_[b];
    // Unsigned slots are the empty ones, and those being claimed or emptied
    // right now (their link says which).
    for (unsigned free = sig_matches(bk, 0); free != 0; free &= free - 1) {
      const unsigned i = unsigned(__builtin_ctz(free));
      if (bk.ref[i].load(std::memory_order_relaxed) != 0) continue;
      // Raised before the key can be met past them, lowered if we lose.
      add_overflow(home, d, 1);
      uint32_t empty = 0;
      if (bk.ref[i].compare_exchange_strong(empty, ref, std::memory_order_acq_rel, std::memory_order_relaxed))
        return Place{b, i};
      add_overflow(home, d, -1);
    }
  }
  return Place{0, kSlots};
}

void StateTable::vacate(uint64_t home, Place at) {
  Bucket& bk = buckets_[at.bucket];
  clear_sig(bk, at.slot);
  bk.ref[at.slot].store(0, std::memory_order_release);
  add_overflow(home, at.bucket >= home ? at.bucket - home : at.bucket + nbuckets_ - home, -1);
}

// ---- insert

StateTable::Indexed StateTable::index(StateIndex s, uint8_t w, bool& shown) {
  const net::FlowKey k = key(s, w);
  const uint64_t h = hash(k);
  const uint64_t hb = home(h);
  const uint8_t sig = sig_of(h);
  Bucket& home_bucket = buckets_[hb];
  for (;;) {
    // Every insert of a key with this home bumps the version: if it moved
    // between our check and our claim, the same key may have gone in
    // meanwhile (another worker creating the same connection), so withdraw
    // and check again.
    uint16_t version = home_bucket.version.load(std::memory_order_acquire);
    if (const Hit dup = find(k, h); dup.found()) return {IndexResult::Exists, dup};
    const Place at = claim(hb, ref_of(s, w));
    if (!at.found()) return {IndexResult::NoRoom, {}};
    set_sig(buckets_[at.bucket], at.slot, sig);
    shown = true;
    if (home_bucket.version.compare_exchange_strong(version, uint16_t(version + 1), std::memory_order_acq_rel,
                                                    std::memory_order_relaxed))
      return {IndexResult::Indexed, {}};
    vacate(hb, at);
  }
}

void StateTable::bury(StateIndex s) {
  State& st = states_[s];
  st.expire.store(0, std::memory_order_release);
  st.flags.fetch_or(sflag::Unlinked1, std::memory_order_relaxed);
  const uint64_t hb = home(hash(key(s, 0)));
  if (claim(hb, ref_of(s, 0)).found()) {
    st.flags.fetch_and(uint8_t(~sflag::Inserting), std::memory_order_release);
    return;
  }
  // No empty slot in reach, which 80% occupancy makes all but impossible:
  // straight back to the free list.
  release(s);
}

StateTable::InsertResult StateTable::insert(const StateInit& init, uint32_t now) {
  const StateIndex s = alloc();
  if (s == kNoState) return {Inserted::Full, {}};
  State& st = states_[s];
  const net::FlowKey& k = init.key;
  st.src = k.src;
  st.dst = k.dst;
  st.sport = k.sport;
  st.dport = k.dport;
  st.proto = k.proto;
  const uint8_t side = uint8_t(init.nat.side) & 3;
  st.nat_port = side ? init.nat.port : 0;
  st.nat_addr = side ? uint16_t(init.nat.addr & (kAddrPool - 1)) : 0;
  st.rule = init.rule;
  st.creator = init.creator;
  // The insert is reported (an Insert event, or the peer's own INS): no
  // update is due in the same second.
  st.sync_stamp.store(uint8_t(now), std::memory_order_relaxed);
  st.created = init.created.value_or(now);
  st.id = init.id;
  for (int w = 0; w < 2; ++w) {
    st.seqlo[w].store(init.seqlo[w], std::memory_order_relaxed);
    st.seqhi[w].store(init.seqhi[w], std::memory_order_relaxed);
    st.max_win[w].store(init.max_win[w], std::memory_order_relaxed);
    st.peer[w].store(init.peer[w], std::memory_order_relaxed);
    st.packets_hi[w].store(uint16_t(init.packets[w] >> 32), std::memory_order_relaxed);
    st.packets_lo[w].store(uint32_t(init.packets[w]), std::memory_order_relaxed);
    st.bytes[w].store(init.bytes[w], std::memory_order_relaxed);
  }
  const uint8_t synced = init.synced ? sflag::SyncedWin0 | sflag::SyncedWin1 : 0;
  uint8_t flags = uint8_t((k.af == net::Family::V6 ? sflag::V6 : 0) | side << 1 | sflag::Inserting | synced);
  st.flags.store(flags, std::memory_order_relaxed);
  // A flow whose reply looks exactly like its request (a host talking to
  // itself through the node) has one key only.
  const bool one_key = key(s, 1) == k;
  if (one_key) st.flags.store(flags |= sflag::Unlinked1, std::memory_order_relaxed);
  st.expire.store(uint32_t(std::clamp<uint64_t>(uint64_t(now) + init.lifetime, 1, UINT32_MAX)),
                  std::memory_order_relaxed);

  bool shown = false;
  if (const Indexed r = index(s, 0, shown); r.result != IndexResult::Indexed) {
    // Never reachable: straight back to the free list. Reachable for a
    // moment (we withdrew after a lost race): through the reaper and RCU.
    if (shown) bury(s);
    else release(s);
    return {r.result == IndexResult::Exists ? Inserted::Exists : Inserted::Full, r.dup};
  }
  InsertResult result{Inserted::New, Hit{s, 0}};
  if (!one_key) {
    bool ignored = false;
    if (const Indexed r = index(s, 1, ignored); r.result != IndexResult::Indexed) {
      // Reachable through key[0]: dead now, the reaper frees it.
      st.flags.fetch_or(sflag::Unlinked1, std::memory_order_relaxed);
      kill(s);
      result = {r.result == IndexResult::Exists ? Inserted::Conflict : Inserted::Full, r.dup};
    }
  }
  // Done with the index: the reaper may take the state's slots from now on.
  st.flags.fetch_and(uint8_t(~sflag::Inserting), std::memory_order_release);
  return result;
}

// ---- life

void StateTable::kill(StateIndex s) { states_[s].expire.store(0, std::memory_order_release); }

NatDelta StateTable::nat(StateIndex s) const {
  const State& st = states_[s];
  return NatDelta{NatSide((st.flags.load(std::memory_order_relaxed) & sflag::NatMask) >> 1), st.nat_addr,
                  st.nat_port};
}

// ---- counters

uint64_t StateTable::packets(StateIndex s, uint8_t w) const {
  const State& st = states_[s];
  for (;;) {
    const uint16_t hi = st.packets_hi[w].load(std::memory_order_acquire);
    const uint32_t lo = st.packets_lo[w].load(std::memory_order_acquire);
    if (st.packets_hi[w].load(std::memory_order_acquire) == hi) return uint64_t(hi) << 32 | lo;
  }
}


// ---- the control thread

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

// ---- the sync applier

namespace {

constexpr bool seq_gt(uint32_t a, uint32_t b) { return int32_t(a - b) > 0; }

}  // namespace

StateTable::Update StateTable::apply_update(StateIndex s, const uint32_t seqlo[2], const uint32_t seqhi[2],
                                            const uint16_t max_win[2], const uint8_t peer[2], uint32_t expire_at) {
  State& st = states_[s];
  if (!live(st)) return Update::Dead;
  const bool tcp = st.proto == net::kProtoTcp;
  uint8_t taken = 0;  // sflag::SyncedWin bits of the sides the peer's copy replaced
  for (unsigned w = 0; w < 2; ++w) {
    uint8_t cur = st.peer[w].load(std::memory_order_acquire);
    const uint8_t ours = progress_of(cur), theirs = progress_of(peer[w]);
    // pf's rule: our side is newer if it got further, or as far with more
    // sent (TCP); then ours stays and the peer hears our copy.
    if (ours > theirs || (tcp && ours == theirs && seq_gt(st.seqlo[w].load(std::memory_order_relaxed), seqlo[w])))
      continue;
    // The windows before the progress byte (released by its CAS): a worker
    // that sees the peer's progress sees the windows that go with it, as
    // tracking publishes a side's first segment.
    st.seqlo[w].store(seqlo[w], std::memory_order_relaxed);
    st.seqhi[w].store(seqhi[w], std::memory_order_relaxed);
    st.max_win[w].store(max_win[w], std::memory_order_relaxed);
    // Progress never goes back: a worker that raised it meanwhile wins, and
    // that side counts as ours.
    bool set = false;
    while (!set && progress_of(cur) <= theirs)
      set = st.peer[w].compare_exchange_weak(cur, peer[w], std::memory_order_release, std::memory_order_acquire);
    if (set) taken |= sflag::synced_win(w);
  }
  if (taken == 0) return Update::Stale;
  st.flags.fetch_or(taken, std::memory_order_release);
  const uint32_t want = expire_at == 0 ? 1 : expire_at;
  uint32_t e = st.expire.load(std::memory_order_relaxed);
  // Never over 0: a state that died meanwhile stays dead.
  while (e != 0 && e != want && !st.expire.compare_exchange_weak(e, want, std::memory_order_relaxed)) {
  }
  if (e == 0) return Update::Dead;
  return taken == (sflag::SyncedWin0 | sflag::SyncedWin1) ? Update::Applied : Update::Stale;
}

// ---- the reaper

size_t StateTable::sweep(uint32_t now, size_t buckets, Rcu& rcu) {
  RetiredStates* batch = nullptr;
  size_t freed = 0;
  for (size_t n = 0; n < buckets; ++n) {
    const uint64_t at = sweep_cursor_;
    sweep_cursor_ = next(sweep_cursor_);
    Bucket& b = buckets_[at];
    for (unsigned i = 0; i < kSlots; ++i) {
      const uint32_t ref = b.ref[i].load(std::memory_order_acquire);
      if (ref == 0) continue;
      const StateIndex si = state_of(ref);
      State& s = states_[si];
      // Its inserter may still withdraw this slot: next time round.
      if (s.flags.load(std::memory_order_acquire) & sflag::Inserting) continue;
      uint32_t e = s.expire.load(std::memory_order_acquire);
      // An expired state dies only if no worker refreshed it meanwhile.
      const bool dead =
          e == 0 || (e <= now && (s.expire.compare_exchange_strong(e, 0, std::memory_order_acq_rel) || e == 0));
      if (!dead) continue;
      // The link we read may have been withdrawn and the slot reclaimed by
      // another insert before the inserter finished; once the inserter is
      // done, only we empty a slot holding this link.
      if (b.ref[i].load(std::memory_order_acquire) != ref) continue;
      const uint8_t w = key_of(ref);
      vacate(home(hash(key(si, w))), Place{at, i});
      const uint8_t bit = w ? sflag::Unlinked1 : sflag::Unlinked0;
      constexpr uint8_t both = sflag::Unlinked0 | sflag::Unlinked1;
      if (((s.flags.fetch_or(bit, std::memory_order_acq_rel) | bit) & both) == both) {
        if (!batch) batch = new RetiredStates{this, {}};
        batch->states.push_back(si);
        ++freed;
      }
    }
  }
  if (batch) rcu.retire(batch, release_batch);
  return freed;
}

}  // namespace hafw::dp
