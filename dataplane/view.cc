#include "dataplane/view.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>
#include <stdexcept>

namespace hafw::dp {

NeighborTable NeighborTable::build(std::span<const Entry> entries, std::span<const Entry6> entries6) {
  NeighborTable t;
  if (!entries6.empty()) {
    t.slots6_.assign(std::bit_ceil(std::max<size_t>(8, entries6.size() * 2)), Slot6{});
    t.mask6_ = t.slots6_.size() - 1;
    for (const auto& [iface, addr, mac] : entries6) {
      uint64_t a[2];
      std::memcpy(a, addr.data(), 16);
      const uint64_t tag = uint64_t(iface) + 1;
      for (size_t i = t.slot6_of(tag, a);; i = (i + 1) & t.mask6_) {
        Slot6& s = t.slots6_[i];
        if (s.tag == 0) {
          s = Slot6{{a[0], a[1]}, tag, mac};
          ++t.count6_;
          break;
        }
        if (s.tag == tag && s.addr[0] == a[0] && s.addr[1] == a[1]) {
          s.mac = mac;
          break;
        }
      }
    }
  }
  if (entries.empty()) return t;
  // Load factor <= 1/2 keeps linear-probe chains short, and misses (the
  // Resolve path) terminate quickly.
  t.slots_.assign(std::bit_ceil(std::max<size_t>(8, entries.size() * 2)), Slot{});
  t.mask_ = t.slots_.size() - 1;
  for (const auto& [iface, addr, mac] : entries) {
    const uint64_t key = key_of(iface, addr);
    for (size_t i = t.slot_of(key);; i = (i + 1) & t.mask_) {
      Slot& s = t.slots_[i];
      if (s.key == 0) {
        s = Slot{key, mac};
        ++t.count_;
        break;
      }
      if (s.key == key) {
        s.mac = mac;
        break;
      }
    }
  }
  return t;
}

void Ipv4Lpm::build(std::span<const RouteView> routes) {
  top_.clear();
  groups_.clear();
  if (routes.empty()) return;
  if (routes.size() > kMaxEntries) throw std::length_error("Ipv4Lpm: too many routes");
  // Paint the routes shortest first, so that a longer prefix overwrites the
  // shorter ones it lies in; on equal length the lower index last, so that
  // it wins. A group is made when the first prefix longer than its level
  // lands in an entry, and starts as a copy of that entry: what the shorter
  // prefixes painted there (longer ones come later, and only these make
  // groups, so an entry is never a group when a shorter prefix paints it).
  std::vector<uint32_t> order(routes.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return routes[a].len != routes[b].len ? routes[a].len < routes[b].len : a > b;
  });
  top_.assign(size_t(1) << 16, 0);
  auto group_of = [&](uint16_t& entry) -> size_t {
    if (!(entry & kGroup)) {
      const size_t g = groups_.size() >> 8;
      groups_.resize(groups_.size() + 256, entry);
      entry = uint16_t(kGroup | g);
    }
    return size_t(entry & ~kGroup) << 8;
  };
  auto paint = [](uint16_t* at, size_t n, uint16_t value) { std::fill(at, at + n, value); };
  for (const uint32_t i : order) {
    const uint8_t len = std::min<uint8_t>(routes[i].len, 32);
    const uint32_t net = routes[i].net & net::v4_mask(len);
    const uint16_t value = uint16_t(i + 1);
    if (len <= 16) {
      paint(&top_[net >> 16], size_t(1) << (16 - len), value);
      continue;
    }
    // group_of may grow groups_: index it again after each call.
    const size_t g2 = group_of(top_[net >> 16]);
    if (len <= 24) {
      paint(&groups_[g2 + ((net >> 8) & 0xff)], size_t(1) << (24 - len), value);
      continue;
    }
    uint16_t entry = groups_[g2 + ((net >> 8) & 0xff)];
    const size_t g3 = group_of(entry);
    groups_[g2 + ((net >> 8) & 0xff)] = entry;
    paint(&groups_[g3 + (net & 0xff)], size_t(1) << (32 - len), value);
  }
}

void Ipv6Lpm::build(std::span<const RouteView6> routes) {
  levels_.clear();
  // Lengths present, longest first; each level's routes in index order, so
  // that the first route of a prefix keeps its slot (a connected prefix
  // beats a static route to the same prefix).
  std::vector<uint8_t> lens;
  for (const auto& r : routes) lens.push_back(std::min<uint8_t>(r.len, 128));
  std::sort(lens.begin(), lens.end(), std::greater<>());
  lens.erase(std::unique(lens.begin(), lens.end()), lens.end());
  for (const uint8_t len : lens) {
    Level l{};
    uint8_t m[16] = {};
    for (unsigned b = 0; b < len; ++b) m[b / 8] |= uint8_t(0x80 >> (b % 8));
    std::memcpy(l.mask, m, 16);
    size_t n = 0;
    for (const auto& r : routes) n += std::min<uint8_t>(r.len, 128) == len;
    l.slots.assign(std::bit_ceil(std::max<size_t>(4, n * 2)), Slot{});
    l.slot_mask = l.slots.size() - 1;
    for (uint32_t i = 0; i < routes.size(); ++i) {
      if (std::min<uint8_t>(routes[i].len, 128) != len) continue;
      uint64_t a[2];
      std::memcpy(a, routes[i].net.data(), 16);
      a[0] &= l.mask[0];
      a[1] &= l.mask[1];
      for (size_t k = slot_of(a[0], a[1]) & l.slot_mask;; k = (k + 1) & l.slot_mask) {
        Slot& s = l.slots[k];
        if (s.route == 0) {
          s = Slot{{a[0], a[1]}, i + 1};
          break;
        }
        if (s.net[0] == a[0] && s.net[1] == a[1]) break;  // an earlier route has it
      }
    }
    levels_.push_back(std::move(l));
  }
}

void Topology::set_routes6(std::vector<RouteView6> routes) {
  lpm6_.build(routes);
  routes6_ = std::move(routes);
}

void Topology::set_routes(std::vector<RouteView> routes) {
  lpm_.build(routes);
  routes_ = std::move(routes);
}

}  // namespace hafw::dp
