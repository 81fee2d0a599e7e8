// The state table: every connection the firewall tracks, shared by all
// workers and (with state sync) the sync applier.
//
//   - Lookups take no lock: a reader hashes the key and reads its home bucket,
//     one cache line of 7 slots, each a 32-bit signature of a key's hash and
//     a link to a state; only a state whose signature matches is touched.
//     Keys that did not fit their home bucket live in the next buckets, and
//     the home bucket's overflow count says so.
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
// translation applied). A lookup returns the state and which key matched —
// the packet's direction. Design, memory layout and numbers:
// docs/state-table.md.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "dataplane/net/flow.h"
#include "dataplane/rcu.h"

namespace hafw::dp {

using StateIndex = uint32_t;
constexpr StateIndex kNoState = ~StateIndex(0);

// pf's timeout classes. Their seconds (pf's defaults, later dataplane.timeouts)
// come with the stages that use the table.
enum class Timeout : uint8_t {
  TcpFirst,
  TcpOpening,
  TcpEstablished,
  TcpClosing,
  TcpFinWait,
  TcpClosed,
  UdpFirst,
  UdpSingle,
  UdpMultiple,
  IcmpFirst,
  IcmpError,
  Other,
  Count,
};

// One side of a TCP connection as pf tracks it (sequence window, scaling).
struct TcpPeer {
  uint32_t seqlo = 0;    // lowest sequence number the peer may send
  uint32_t seqhi = 0;    // highest sequence number the peer may send
  uint16_t max_win = 0;  // largest window the peer advertised
  uint8_t wscale = 0;    // window scale, with pf's "scaling seen" bit
  uint8_t state = 0;     // pf's TCPS_* progress of this side
};

struct State {
  // When the state expires, in the table clock's seconds; 0 while it dies.
  std::atomic<uint32_t> expire;
  std::atomic<uint32_t> free_next;  // the free list's link while the slot is free
  uint16_t rule;       // the rule that created it
  Timeout timeout;     // which timeout refreshes it
  std::atomic<uint8_t> unlinked;  // bit w set once key[w] is out of the index (or never in it)
  net::FlowKey key[2];
  uint64_t id;         // with `creator`, the state's identity across the pair (pfsync)
  uint32_t creator;
  uint32_t created;    // table clock seconds
  TcpPeer tcp[2];      // [w]: the side that sends packets matching key[w]
  std::atomic<uint64_t> packets[2];
  std::atomic<uint64_t> bytes[2];
};
// 160 bytes, plus 26-51 bytes of index per state. The target is 128 in all
// (docs/state-table.md says where the bytes go and how to get there).
static_assert(sizeof(State) <= 160, "the state grew: update docs/state-table.md");

// What a new state starts with.
struct StateInit {
  net::FlowKey key[2];
  uint16_t rule = 0;
  Timeout timeout = Timeout::Other;
  uint32_t lifetime = 0;  // seconds until it expires unless refreshed
  uint64_t id = 0;
  uint32_t creator = 0;
  TcpPeer tcp[2] = {};
};

struct Hit {
  StateIndex state = kNoState;
  uint8_t dir = 0;  // which key matched: 0 = the initiator's direction, 1 = the reply's
  bool found() const { return state != kNoState; }
};

// A fixed array in memory the kernel may back with 2 MB pages (transparent
// huge pages): a table of a million states spans 180 MB, and with 4 KB pages
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

  // ---- any thread
  Hit lookup(const net::FlowKey& k) const { return lookup(k, hash(k)); }
  Hit lookup(const net::FlowKey& k, uint64_t hash) const;
  // A burst: hashes[i] = hash(*keys[i]). Every home bucket is prefetched,
  // then every matching state's key, before any key is compared, so the
  // DRAM latency of one key hides behind the others.
  void lookup_bulk(std::span<const net::FlowKey* const> keys, std::span<const uint64_t> hashes,
                   std::span<Hit> out) const;

  enum class Inserted : uint8_t { New, Exists, Full, Conflict };
  struct InsertResult {
    Inserted result;
    Hit hit;  // New: the new state (dir 0); Exists: the live state that has the key
  };
  // Insert unless a live state already has key[0] (Exists: that one) or key[1]
  // (Conflict: the new state is withdrawn — e.g. a NAT mapping in use).
  InsertResult insert(const StateInit& init, uint32_t now);

  // Mark dead: lookups stop finding it at once; the reaper frees it.
  void kill(StateIndex s);
  // Push the expiry out to now + lifetime. Returns false if the state is
  // dying (the caller treats the packet as a miss). At most one write per
  // second per state, so established flows do not bounce its cache line.
  bool refresh(StateIndex s, uint32_t now, uint32_t lifetime);

  State& at(StateIndex s) { return states_[s]; }
  const State& at(StateIndex s) const { return states_[s]; }

  // ---- the reaper (one thread)
  // Visit the next `buckets` buckets (wrapping around): take dead states and
  // those expired at `now` out of the index, and retire the fully removed
  // ones to `rcu`, which returns their slots to the free list after a grace
  // period. Returns the number of states removed for good.
  size_t sweep(uint32_t now, size_t buckets, Rcu& rcu);

  uint32_t capacity() const { return capacity_; }
  size_t bucket_count() const { return mask_ + 1; }
  // Live or dying states not yet back on the free list.
  uint32_t in_use() const { return in_use_.load(std::memory_order_relaxed); }

 public:
  // One cache line: 7 slots, each (signature << 32 | state << 1 | key), 0 =
  // empty; how many keys with this home bucket or an earlier one were pushed
  // past it; and the version every insert of a key with this home bumps.
  struct alignas(64) Bucket {
    std::atomic<uint64_t> slot[7];
    std::atomic<uint32_t> overflow;
    std::atomic<uint32_t> version;
  };
  static_assert(sizeof(Bucket) == 64);

 private:
  static constexpr unsigned kSlots = 7;
  // How far past its home bucket a key may go. The index is sized for at
  // most 5 of 7 slots used, where linear probing rarely leaves home at all.
  static constexpr unsigned kMaxProbe = 64;

  static uint64_t slot_value(uint32_t sig, StateIndex s, uint8_t w) {
    return uint64_t(sig) << 32 | uint64_t(s) << 1 | w;
  }
  static uint32_t sig_of(uint64_t hash) { return uint32_t(hash >> 32) | 1; }  // never 0: 0 is empty
  static StateIndex state_of(uint64_t v) { return StateIndex(uint32_t(v) >> 1); }
  static uint8_t side_of(uint64_t v) { return uint8_t(v & 1); }

  bool live(const State& s) const { return s.expire.load(std::memory_order_acquire) != 0; }
  Bucket& bucket(uint64_t i) { return buckets_[i & mask_]; }
  const Bucket& bucket(uint64_t i) const { return buckets_[i & mask_]; }
  // The live state holding key k, searching from k's home bucket.
  Hit find(const net::FlowKey& k, uint64_t hash) const;
  // Put key[w] of s in the index unless a live state has it.
  enum class IndexResult : uint8_t { Indexed, Exists, NoRoom };
  struct Indexed {
    IndexResult result;
    Hit dup;  // Exists: the live state that has the key
  };
  Indexed index(StateIndex s, uint8_t w);
  void add_overflow(uint64_t home, uint64_t at, int32_t delta);
  StateIndex alloc();
  void release(StateIndex s);  // back on the free list
  static void release_batch(void* batch);

  uint32_t capacity_;
  uint64_t mask_;  // bucket_count - 1
  HugeArray<State> states_;
  HugeArray<Bucket> buckets_;
  // Free slots: a stack through State::free_next, head tagged against ABA
  // (tag << 32 | slot).
  std::atomic<uint64_t> free_;
  std::atomic<uint32_t> in_use_{0};
  size_t sweep_cursor_ = 0;  // reaper only
};

}  // namespace hafw::dp
