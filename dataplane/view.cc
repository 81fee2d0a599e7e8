#include "dataplane/view.h"

#include <algorithm>
#include <bit>

namespace hafw::dp {

namespace {

// Fibonacci hashing of the 40-bit key: one multiply spreads consecutive host
// addresses (the common case on a /24) over the whole table.
uint64_t mix(uint8_t iface, uint32_t addr) {
  return (uint64_t(iface) << 32 | addr) * 0x9e3779b97f4a7c15ull;
}

}  // namespace

size_t NeighborTable::slot_of(uint8_t iface, uint32_t addr) const {
  return size_t(mix(iface, addr) >> 32) & (slots_.size() - 1);
}

NeighborTable NeighborTable::build(std::span<const Entry> entries) {
  NeighborTable t;
  if (entries.empty()) return t;
  // Load factor <= 1/2 keeps linear-probe chains short, and misses (the
  // Resolve path) terminate quickly.
  t.slots_.assign(std::bit_ceil(std::max<size_t>(8, entries.size() * 2)), Slot{});
  const size_t mask = t.slots_.size() - 1;
  for (const auto& [iface, addr, mac] : entries) {
    for (size_t i = t.slot_of(iface, addr);; i = (i + 1) & mask) {
      Slot& s = t.slots_[i];
      if (!s.used) {
        s = Slot{addr, iface, 1, mac};
        ++t.count_;
        break;
      }
      if (s.iface == iface && s.addr == addr) {
        s.mac = mac;
        break;
      }
    }
  }
  return t;
}

const net::Mac* NeighborTable::find(uint8_t iface, uint32_t addr) const {
  if (slots_.empty()) return nullptr;
  const size_t mask = slots_.size() - 1;
  for (size_t i = slot_of(iface, addr);; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (!s.used) return nullptr;  // never full: load factor <= 1/2
    if (s.iface == iface && s.addr == addr) return &s.mac;
  }
}

const RouteView* Topology::route(uint32_t dst) const {
  // A firewall node carries its connected subnets and a few static routes;
  // a linear scan over a dozen 12-byte entries is a couple of cache lines.
  // A DIR-24-8 table (rte_lpm) is the upgrade once route counts grow.
  const RouteView* best = nullptr;
  for (const auto& r : routes)
    if (net::v4_in(dst, r.net, r.len) && (!best || r.len > best->len)) best = &r;
  return best;
}

}  // namespace hafw::dp
