// State sync's map from a state's pfsync identity (creator id, id) to its
// slot in the state table: how an update, a delete or a request, which name
// a state only by identity, finds it. Control thread only.
//
// Open addressing with linear probing, at most half full, and backward-shift
// deletion (no tombstones, so a long-lived map does not rot): one cache line
// per lookup at a million states, where std::unordered_map took three
// (bucket, node, and an allocation per insert) and was 40% of the sync
// benchmark. 16 bytes per entry, sized at the start for the whole state
// table (32 bytes per state of dataplane.max_states: a bulk update never
// waits on a rehash), doubling if it ever fills past half.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <optional>
#include <vector>

#include "dataplane/state_table.h"

namespace hafw::control {

class IdIndex {
 public:
  // Room for `expected` entries at most half full.
  explicit IdIndex(size_t expected = 0) : slots_(std::bit_ceil(std::max(kInitial, expected * 2))) {}

  // Start loading the line find() or put() of this identity reads (a caller
  // that has other work to do first).
  void prefetch(uint64_t id, uint32_t creator) const { __builtin_prefetch(&slots_[home(id, creator)]); }

  std::optional<dp::StateIndex> find(uint64_t id, uint32_t creator) const {
    for (size_t i = home(id, creator);; i = next(i)) {
      const Slot& s = slots_[i];
      if (!s.used()) return std::nullopt;
      if (s.id == id && s.creator == creator) return s.state;
    }
  }

  void put(uint64_t id, uint32_t creator, dp::StateIndex state) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    for (size_t i = home(id, creator);; i = next(i)) {
      Slot& s = slots_[i];
      if (!s.used()) {
        s = Slot{id, creator, state};
        ++size_;
        return;
      }
      if (s.id == id && s.creator == creator) {
        s.state = state;
        return;
      }
    }
  }

  void erase(uint64_t id, uint32_t creator) {
    size_t i = home(id, creator);
    for (;; i = next(i)) {
      if (!slots_[i].used()) return;
      if (slots_[i].id == id && slots_[i].creator == creator) break;
    }
    // Backward shift: move up every later entry of the run that may sit in
    // the hole (its home is not between the hole and it).
    for (size_t j = next(i);; j = next(j)) {
      Slot& s = slots_[j];
      if (!s.used()) break;
      const size_t h = home(s.id, s.creator);
      const bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
      if (stays) continue;
      slots_[i] = s;
      i = j;
    }
    slots_[i].state = dp::kNoState;
    --size_;
  }

  void clear() {
    slots_.assign(slots_.size(), Slot{});
    size_ = 0;
  }
  size_t size() const { return size_; }
  size_t bytes() const { return slots_.size() * sizeof(Slot); }

 private:
  struct Slot {
    uint64_t id = 0;
    uint32_t creator = 0;
    dp::StateIndex state = dp::kNoState;  // kNoState: empty
    bool used() const { return state != dp::kNoState; }
  };
  static_assert(sizeof(Slot) == 16);
  static constexpr size_t kInitial = 4096;

  size_t home(uint64_t id, uint32_t creator) const {
    const uint64_t h = (id ^ (uint64_t(creator) << 32 | creator)) * 0x9e3779b97f4a7c15ull;
    return size_t(h >> 20) & (slots_.size() - 1);
  }
  size_t next(size_t i) const { return (i + 1) & (slots_.size() - 1); }
  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    size_ = 0;
    for (const Slot& s : old)
      if (s.used()) put(s.id, s.creator, s.state);
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
};

}  // namespace hafw::control
