// The state table: every connection the firewall tracks, shared by all
// workers and (with state sync) the sync applier.
//
//   - Lookups take no lock: a reader hashes the key and reads its home bucket,
//     one cache line of 12 slots, each an 8-bit signature of a key's hash and
//     a 32-bit link to a state; the signatures are compared all at once (SSE2)
//     and only a state whose signature matches is touched. Keys that did not
//     fit their home bucket live in the next buckets, and the home bucket's
//     overflow count says so.
//   - Inserts take no lock either: a new state is filled in, then each key
//     claims an empty slot with a compare-and-swap after checking that no
//     live state has it; the key's home bucket carries a version that every
//     insert bumps with a compare-and-swap, and an insert whose version moved
//     under it withdraws its slot and checks again ("insert if absent": two
//     workers never create the same connection twice).
//   - Deletion is two-step. Any thread may kill() a state (TCP closed, a rule
//     change); one reaper thread — the control thread — unlinks dead and
//     expired states in an incremental sweep and retires them to the RCU
//     domain, so a slot is reused only after every worker has passed a
//     quiescent state. Workers never wait for the sweep.
//   - Capacity is fixed at creation (dataplane.max_states). A full table
//     refuses the new state; nothing established is ever evicted to make room.
//
// Each state has two keys: key[0] the flow as the initiator's packets arrive,
// key[1] as the replies arrive (source and destination swapped, and NAT's
// translation applied). Only key[0] is stored; key[1] is derived from it and
// the NAT delta (one endpoint: an interned address and a port), which keeps
// a state at 112 bytes. A lookup returns the state and which key matched —
// the packet's direction. Design, memory layout and numbers:
// docs/state-table.md.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "dataplane/net/flow.h"
#include "dataplane/rcu.h"

namespace hafw::dp {

using StateIndex = uint32_t;
constexpr StateIndex kNoState = ~StateIndex(0);
constexpr uint16_t kNoRule = 0xffff;

// Which endpoint of key[1] NAT replaced: Src translation (outbound NAT: the
// replies come back to the translated address and port) or Dst translation
// (a port forward: the replies come from the internal target).
enum class NatSide : uint8_t { None = 0, Src = 1, Dst = 2 };

// The translated endpoint of a state, as key[1] sees it. For outbound NAT
// (Src) it is the VIP and the allocated port: key[1].dst/dport. For a port
// forward (Dst) it is the target: key[1].src/sport. ICMP query ids stand in
// for both ports (pf's convention, see net::FlowKey), so an ICMP delta sets
// both ports of key[1].
struct NatDelta {
  NatSide side = NatSide::None;
  uint16_t addr = 0;  // AddrPool ref (StateTable::intern_addr)
  uint16_t port = 0;  // network order
};

// pf's per-side progress: TCPS_* for TCP (the order matters: progress only
// rises), and NO_TRAFFIC/SINGLE/MULTIPLE for UDP and other protocols.
namespace tcps {
constexpr uint8_t Closed = 0, Listen = 1, SynSent = 2, SynReceived = 3, Established = 4, CloseWait = 5,
                  FinWait1 = 6, Closing = 7, LastAck = 8, FinWait2 = 9, TimeWait = 10;
}
namespace udps {
constexpr uint8_t NoTraffic = 0, Single = 1, Multiple = 2;
}
// The per-side byte: progress in the low nibble, the window scale the side
// announced in the high nibble (kNoWscale: it sent no window scale option).
constexpr uint8_t kNoWscale = 15;
constexpr uint8_t peer_byte(uint8_t progress, uint8_t wscale) { return uint8_t(progress | wscale << 4); }
constexpr uint8_t progress_of(uint8_t peer) { return peer & 0x0f; }
constexpr uint8_t wscale_of(uint8_t peer) { return peer >> 4; }

// State::flags bits.
namespace sflag {
constexpr uint8_t V6 = 0x01;        // family of the keys
constexpr uint8_t NatMask = 0x06;   // NatSide << 1
constexpr uint8_t Unlinked0 = 0x08; // key[0] is out of the index (or never went in)
constexpr uint8_t Unlinked1 = 0x10; // key[1] likewise
// insert() is still placing the state's keys: the reaper leaves its index
// entries alone until the inserter clears this bit.
constexpr uint8_t Inserting = 0x20;
// Side w's sequence window came from the peer (state sync: an insert or an
// update, at most a second old), so it may lag the connection: side w's
// next segment that is not a RST passes even outside the window, re-anchors
// it, and clears the bit (docs/tracking.md, "Windows learned from the peer").
constexpr uint8_t SyncedWin0 = 0x40;
constexpr uint8_t SyncedWin1 = 0x80;
constexpr uint8_t synced_win(unsigned w) { return w ? SyncedWin1 : SyncedWin0; }
}  // namespace sflag

// One tracked connection: 112 bytes. The first 48 bytes are what a lookup
// reads (key[0], the NAT delta, the expiry); the rest is what the packet path
// updates (TCP windows, progress, counters) and what only the control plane
// reads (identity, creation, rule). Layout and the why of each field:
// docs/state-table.md.
struct State {
  // key[0]: the initiator's packets as they arrive. IPv4 addresses sit in the
  // first 4 bytes (network order), the rest zero.
  std::array<uint8_t, 16> src;
  std::array<uint8_t, 16> dst;
  uint16_t sport;  // network order; ICMP queries: the id (both ports)
  uint16_t dport;
  uint8_t proto;
  std::atomic<uint8_t> flags;  // sflag bits
  uint16_t nat_port;           // NatDelta::port
  uint16_t nat_addr;           // NatDelta::addr
  uint16_t rule;               // the rule that created it (kNoRule: none, e.g. learned from the peer)
  // When the state expires, in the table clock's seconds; 0 once it is dead.
  std::atomic<uint32_t> expire;

  // Per side: [w] is the side that sends the packets matching key[w].
  // seqlo[0] doubles as the free list's link while the slot is free.
  std::atomic<uint32_t> seqlo[2];      // pf: the highest sequence number the side sent (+ length)
  std::atomic<uint32_t> seqhi[2];      // pf: the highest sequence number the side may send
  std::atomic<uint16_t> max_win[2];    // the largest window the side announced (unscaled)
  std::atomic<uint8_t> peer[2];        // progress | wscale << 4 (peer_byte)
  std::atomic<uint16_t> packets_hi[2]; // packets[w] >> 32: 48-bit packet counts
  uint8_t creator;                     // ref into the table's creator ids (intern_creator)
  // State sync's rate limit: the low 8 bits of the table clock when a
  // worker last reported an update of the state (dataplane/sync_events.h).
  std::atomic<uint8_t> sync_stamp;
  std::atomic<uint32_t> packets_lo[2];
  uint32_t created;                    // table clock seconds
  uint64_t id;                         // with the creator id, the state's identity across the pair (pfsync)
  std::atomic<uint64_t> bytes[2];
};
static_assert(sizeof(State) == 112, "the state's size is its memory budget: update docs/state-table.md");

// What a new state starts with: what a worker knows of a connection's first
// packet, or what a pfsync full state (INS, a bulk update) carries of a
// state the peer created or had.
struct StateInit {
  net::FlowKey key;  // key[0]
  NatDelta nat;
  uint16_t rule = kNoRule;
  uint32_t lifetime = 0;  // seconds until it expires unless refreshed
  uint64_t id = 0;
  uint8_t creator = 0;    // 0: this node (intern_creator's first id)
  uint32_t seqlo[2] = {};
  uint32_t seqhi[2] = {};
  uint16_t max_win[2] = {};
  uint8_t peer[2] = {peer_byte(0, kNoWscale), peer_byte(0, kNoWscale)};
  // The counters so far (packets: 48 bits, the rest is dropped).
  uint64_t packets[2] = {};
  uint64_t bytes[2] = {};
  // When it was created, in the table clock's seconds; none: the insert's `now`.
  std::optional<uint32_t> created;
  // The windows are the peer's (sflag::SyncedWin0 and 1): the sync applier.
  bool synced = false;
};

struct Hit {
  StateIndex state = kNoState;
  uint8_t dir = 0;  // which key matched: 0 = the initiator's direction, 1 = the reply's
  bool found() const { return state != kNoState; }
};

// A fixed array in memory the kernel may back with 2 MB pages (transparent
// huge pages): a table of a million states spans 125 MB, and with 4 KB pages
// nearly every lookup would also miss the TLB.
template <class T>
class HugeArray {
 public:
  explicit HugeArray(size_t n);
  ~HugeArray();
  HugeArray(const HugeArray&) = delete;
  HugeArray& operator=(const HugeArray&) = delete;
  T& operator[](size_t i) { return p_[i]; }
  const T& operator[](size_t i) const { return p_[i]; }
  size_t bytes() const { return bytes_; }

 private:
  T* p_;
  size_t n_;
  size_t bytes_;
};

class StateTable {
 public:
  // Room for `capacity` states (at least 1, at most 2^30).
  explicit StateTable(uint32_t capacity);
  StateTable(const StateTable&) = delete;
  StateTable& operator=(const StateTable&) = delete;

  static uint64_t hash(const net::FlowKey& k);
  // The same from the key's five words as hash() loads them (a caller that
  // has just built a key in registers; see hash()).
  static uint64_t hash_words(uint64_t w0, uint64_t w1, uint64_t w2, uint64_t w3, uint64_t w4);

  // ---- any thread
  Hit lookup(const net::FlowKey& k) const { return lookup(k, hash(k)); }
  Hit lookup(const net::FlowKey& k, uint64_t hash) const;
  // A burst: hashes[i] = hash(*keys[i]). Every home bucket is prefetched,
  // then the compared lines of every state whose signature matches, before
  // any key is compared, so the DRAM latency of one key hides behind the
  // others. A hit's other lines follow: the whole state is on its way, since
  // the caller updates it next.
  void lookup_bulk(std::span<const net::FlowKey* const> keys, std::span<const uint64_t> hashes,
                   std::span<Hit> out) const;
  // Start loading key k's home bucket (a caller that hashes a burst ahead).
  // Inline: ipv4_input calls it for every packet.
  void prefetch_bucket(uint64_t hash) const { __builtin_prefetch(&buckets_[home(hash)]); }

  enum class Inserted : uint8_t { New, Exists, Full, Conflict };
  struct InsertResult {
    Inserted result;
    Hit hit;  // New: the new state (dir 0); Exists/Conflict: the live state that has the key
  };
  // Insert unless a live state already has key[0] (Exists: that one) or key[1]
  // (Conflict: the new state is withdrawn — e.g. a NAT mapping in use).
  InsertResult insert(const StateInit& init, uint32_t now);

  // Mark dead: lookups stop finding it at once, and its keys are free for a
  // new state at once; the reaper frees it.
  void kill(StateIndex s);
  // Set the expiry to now + lifetime (later or earlier: a TCP state that
  // closes gets a shorter one). Returns false if the state is dying (the
  // caller treats the packet as a miss). Writes only when the value changes,
  // so an established flow writes its line about once a second.
  bool refresh(StateIndex s, uint32_t now, uint32_t lifetime);

  State& at(StateIndex s) { return states_[s]; }
  const State& at(StateIndex s) const { return states_[s]; }
  // key[w] of a state, NAT applied.
  net::FlowKey key(StateIndex s, uint8_t w) const;
  NatDelta nat(StateIndex s) const;
  // Packets of direction w (48 bits: packets_hi:packets_lo).
  uint64_t packets(StateIndex s, uint8_t w) const;
  // Count one packet of `len` bytes in direction w. Each direction is
  // written by the one worker its packets reach (RSS keeps a 5-tuple on one
  // queue), so this is a plain load and store, no locked instruction; two
  // workers on one direction may lose an increment, never corrupt a state.
  void count(StateIndex s, uint8_t w, uint32_t len);

  // ---- the control thread (config compile, the sync applier)
  // The address NAT deltas refer to by a 16-bit ref: VIPs and port-forward
  // targets, a few dozen per cluster. Append-only: a ref never changes
  // meaning. Returns kNoAddr when the pool is full (kAddrPool entries).
  static constexpr uint16_t kNoAddr = 0xffff;
  static constexpr size_t kAddrPool = 4096;
  uint16_t intern_addr(const net::IpAddr& a);
  const std::array<uint8_t, 16>& pool_addr(uint16_t ref) const { return pool_[ref]; }
  // pfsync creator ids (this node's, then each peer's). Id 0 is this node
  // (set_own_creator); returns kNoCreator when 255 are taken.
  static constexpr uint8_t kNoCreator = 0xff;
  void set_own_creator(uint32_t id) { creators_[0] = id; }
  uint8_t intern_creator(uint32_t id);
  uint32_t creator_id(uint8_t ref) const { return creators_[ref]; }

  // The sync applier: a compressed update from the peer (pfsync's UPD_C) for
  // a live state. Per side w, the peer's tracking (seqlo, seqhi, max_win and
  // the peer byte: progress and window scale) replaces ours unless ours is
  // newer: a higher progress, or the same progress with seqlo ahead (pf's
  // rule; progress never goes back), and each side taken gets its
  // sflag::SyncedWin bit. If at least one side was taken, the expiry
  // becomes expire_at (table clock seconds, at least 1). Stale: one side or
  // both of ours were newer and kept — the applier answers with its own
  // copy, as pf does. Dead: the state is dead, or died meanwhile.
  enum class Update : uint8_t { Applied, Stale, Dead };
  Update apply_update(StateIndex s, const uint32_t seqlo[2], const uint32_t seqhi[2], const uint16_t max_win[2],
                      const uint8_t peer[2], uint32_t expire_at);

  // ---- the reaper (one thread)
  // Visit the next `buckets` buckets (wrapping around): take dead states and
  // those expired at `now` out of the index, and retire the fully removed
  // ones to `rcu`, which returns their slots to the free list after a grace
  // period. Returns the number of states removed for good.
  size_t sweep(uint32_t now, size_t buckets, Rcu& rcu);
  // Every live state reachable through its key[0] (the control thread only:
  // states.list, the sync bulk update). fn(StateIndex) returns false to stop.
  template <class F>
  void for_each(F&& fn) const;
  // The same over `count` buckets from bucket `from` on (a walk spread over
  // several control-loop steps: the sync bulk update). Returns the bucket to
  // go on from; bucket_count() when the walk is through. A fn that returns
  // false stops the walk in the middle of a bucket: the return value is then
  // that bucket, to be visited again.
  template <class F>
  uint64_t for_each_bucket(uint64_t from, uint64_t count, F&& fn) const;

  uint32_t capacity() const { return capacity_; }
  size_t bucket_count() const { return nbuckets_; }
  // Live or dying states not yet back on the free list.
  uint32_t in_use() const { return in_use_.load(std::memory_order_relaxed); }
  // Bytes of the state array and the index: the table's memory per state is
  // memory_bytes() / capacity().
  size_t memory_bytes() const { return states_.bytes() + buckets_.bytes(); }

  // One cache line: 12 signatures (8 bits, never 0 where a slot is used),
  // how many keys with this home bucket or an earlier one were pushed past
  // it, the version every insert of a key with this home bumps, and 12
  // links (state << 1 | key) + 1, 0 = empty.
  struct alignas(64) Bucket {
    std::atomic<uint64_t> sig_lo;  // slots 0-7
    std::atomic<uint32_t> sig_hi;  // slots 8-11
    std::atomic<uint16_t> overflow;
    std::atomic<uint16_t> version;
    std::atomic<uint32_t> ref[12];
  };
  static_assert(sizeof(Bucket) == 64);

 private:
  static constexpr unsigned kSlots = 12;
  // How far past its home bucket a key may go. The index is sized for at
  // most 80% of its slots used, where bucketised linear probing rarely
  // leaves home at all.
  static constexpr unsigned kMaxProbe = 64;

  // A slot's link: (state << 1 | key) + 1, so that 0 is an empty slot.
  static uint32_t ref_of(StateIndex s, uint8_t w) { return (s << 1 | w) + 1; }
  static StateIndex state_of(uint32_t ref) { return (ref - 1) >> 1; }
  static uint8_t key_of(uint32_t ref) { return uint8_t((ref - 1) & 1); }
  // The 8-bit signature: the hash's top byte, never 0 (an unused slot's).
  static uint8_t sig_of(uint64_t hash) {
    const uint8_t s = uint8_t(hash >> 56);
    return uint8_t(s | (s == 0));
  }

  // The home bucket's number.
  uint64_t home(uint64_t hash) const { return (uint64_t(uint32_t(hash)) * nbuckets_) >> 32; }
  uint64_t next(uint64_t b) const { return b + 1 == nbuckets_ ? 0 : b + 1; }
  // Buckets a search or a claim may visit: kMaxProbe, or all of a small index.
  unsigned probe_limit() const { return nbuckets_ < kMaxProbe ? unsigned(nbuckets_) : kMaxProbe; }
  bool live(const State& s) const { return s.expire.load(std::memory_order_acquire) != 0; }
  // Does key[w] of state s equal k?
  bool key_equals(const State& s, uint8_t w, const net::FlowKey& k) const;
  // The same for a caller that knows w.
  bool key0_equals(const State& s, const net::FlowKey& k) const;
  bool key1_equals(const State& s, const net::FlowKey& k) const;
  Hit find(const net::FlowKey& k, uint64_t hash) const;
  enum class IndexResult : uint8_t { Indexed, Exists, NoRoom };
  struct Indexed {
    IndexResult result;
    Hit dup;  // Exists: the live state that has the key
  };
  // Put key[w] of s in the index unless a live state has it. `shown` is set
  // once the key was visible in the index, even if it was withdrawn again.
  Indexed index(StateIndex s, uint8_t w, bool& shown);
  struct Place {
    uint64_t bucket;
    unsigned slot;
    bool found() const { return slot < kSlots; }
  };
  // Claim an empty slot for `ref` in the probe range of home bucket `home`
  // (raising the overflow counts of the buckets in between first).
  Place claim(uint64_t home, uint32_t ref);
  // Empty a slot (its signature first, then its link) and lower the overflow
  // counts its key had raised.
  void vacate(uint64_t home, Place at);
  // Add delta to the overflow counts of the `dist` buckets from `home` on.
  void add_overflow(uint64_t home, uint64_t dist, int delta);
  static void set_sig(Bucket& b, unsigned slot, uint8_t sig);
  static void clear_sig(Bucket& b, unsigned slot);
  // A state whose key[0] was seen in the index but that lost the insert
  // race: dead, back in the index without a signature, for the reaper to
  // retire through RCU (a reader may hold it).
  void bury(StateIndex s);
  StateIndex alloc();
  void release(StateIndex s);  // back on the free list
  static void release_batch(void* batch);

  // Read by every lookup: one line, written only at creation.
  uint32_t capacity_;
  uint64_t nbuckets_;
  HugeArray<State> states_;
  HugeArray<Bucket> buckets_;
  // Free slots: a stack through State::seqlo[0], head tagged against ABA
  // (tag << 32 | slot). Every insert writes it: a line of its own, away
  // from what lookups read.
  alignas(64) std::atomic<uint64_t> free_;
  std::atomic<uint32_t> in_use_{0};
  alignas(64) size_t sweep_cursor_ = 0;  // reaper only
  std::array<std::array<uint8_t, 16>, kAddrPool> pool_{};
  size_t pool_used_ = 0;  // control thread only
  std::array<uint32_t, 256> creators_{};
  size_t creators_used_ = 1;  // control thread only
};

// The key's five 64-bit words: both addresses, then the 8 bytes that end
// the key (the last two of dst, the ports, protocol and family). Each
// address is folded with one 64x64->128 multiply (the two run in parallel),
// and a third joins them with the last word. Inline: the callers hash a
// burst in a loop.
inline uint64_t StateTable::hash_words(uint64_t w0, uint64_t w1, uint64_t w2, uint64_t w3, uint64_t w4) {
  const auto mix = [](uint64_t a, uint64_t b) {
    const unsigned __int128 m = static_cast<unsigned __int128>(a) * b;
    return uint64_t(m) ^ uint64_t(m >> 64);
  };
  const uint64_t a = mix(w0 ^ 0xa0761d6478bd642full, w1 ^ 0xe7037ed1a0b428dbull);
  const uint64_t b = mix(w2 ^ 0x8ebc6af09c88c6e3ull, w3 ^ 0x589965cc75374cc3ull);
  return mix(a ^ w4 ^ 0x2d358dccaa6c78a5ull, b ^ 0x8bb84b93962eacc9ull);
}

inline uint64_t StateTable::hash(const net::FlowKey& k) {
  const auto* p = reinterpret_cast<const uint8_t*>(&k);
  uint64_t w[5];
  std::memcpy(w, p, 32);
  std::memcpy(&w[4], p + 30, 8);
  return hash_words(w[0], w[1], w[2], w[3], w[4]);
}

// refresh() and count() are inline: every packet on a state calls both, and
// each is a few loads and stores.
inline bool StateTable::refresh(StateIndex s, uint32_t now, uint32_t lifetime) {
  std::atomic<uint32_t>& e = states_[s].expire;
  const uint64_t at = uint64_t(now) + lifetime;
  const uint32_t want = at == 0 ? 1 : at > UINT32_MAX ? UINT32_MAX : uint32_t(at);  // clamped to [1, 2^32 - 1]
  uint32_t cur = e.load(std::memory_order_relaxed);
  for (;;) {
    if (cur == 0) return false;
    if (cur == want) return true;
    if (e.compare_exchange_weak(cur, want, std::memory_order_relaxed)) return true;
  }
}

inline void StateTable::count(StateIndex s, uint8_t w, uint32_t len) {
  State& st = states_[s];
  const uint32_t lo = st.packets_lo[w].load(std::memory_order_relaxed) + 1;
  st.packets_lo[w].store(lo, std::memory_order_release);
  if (lo == 0)
    st.packets_hi[w].store(uint16_t(st.packets_hi[w].load(std::memory_order_relaxed) + 1),
                           std::memory_order_release);
  st.bytes[w].store(st.bytes[w].load(std::memory_order_relaxed) + len, std::memory_order_relaxed);
}

template <class F>
void StateTable::for_each(F&& fn) const {
  for (uint64_t b = 0; b < nbuckets_; ++b) {
    const Bucket& bk = buckets_[b];
    for (unsigned i = 0; i < kSlots; ++i) {
      const uint32_t ref = bk.ref[i].load(std::memory_order_acquire);
      if (ref == 0 || key_of(ref) != 0) continue;
      const StateIndex s = state_of(ref);
      // A state still being inserted may yet withdraw: not listed.
      if (states_[s].flags.load(std::memory_order_acquire) & sflag::Inserting) continue;
      if (live(states_[s]) && !fn(s)) return;
    }
  }
}

template <class F>
uint64_t StateTable::for_each_bucket(uint64_t from, uint64_t count, F&& fn) const {
  const uint64_t end = from + count < nbuckets_ ? from + count : nbuckets_;
  for (uint64_t b = from; b < end; ++b) {
    const Bucket& bk = buckets_[b];
    for (unsigned i = 0; i < kSlots; ++i) {
      const uint32_t ref = bk.ref[i].load(std::memory_order_acquire);
      if (ref == 0 || key_of(ref) != 0) continue;
      const StateIndex s = state_of(ref);
      if (states_[s].flags.load(std::memory_order_acquire) & sflag::Inserting) continue;
      if (live(states_[s]) && !fn(s)) return b;
    }
  }
  return end;
}

}  // namespace hafw::dp
