#include "dataplane/view.h"

#include <algorithm>
#include <bit>
#include <string>

#include "control/config.h"

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

const RouteView* View::route(uint32_t dst) const {
  // A firewall node carries its connected subnets and a few static routes;
  // a linear scan over a dozen 12-byte entries is a couple of cache lines.
  // A DIR-24-8 table (rte_lpm) is the upgrade once route counts grow.
  const RouteView* best = nullptr;
  for (const auto& r : routes)
    if (net::v4_in(dst, r.net, r.len) && (!best || r.len > best->len)) best = &r;
  return best;
}

View View::build(const config::Config& cfg, std::span<const net::Mac> port_macs) {
  View v;
  const size_t n = std::min<size_t>(cfg.interfaces.size(), kMaxIfaces);
  for (size_t i = 0; i < n; ++i) {
    const auto& ifc = cfg.interfaces[i];
    IfaceView iv{.port_id = uint16_t(i), .mac = i < port_macs.size() ? port_macs[i] : net::Mac{}, .addr = 0,
                 .plen = 0};
    if (!ifc.port.empty() && ifc.port.size() <= 5 &&
        ifc.port.find_first_not_of("0123456789") == std::string::npos) {
      unsigned long p = std::stoul(ifc.port);
      if (p <= 0xffff) iv.port_id = uint16_t(p);
    }
    if (ifc.address.addr.is_v4()) {
      iv.addr = ifc.address.addr.v4();
      iv.plen = ifc.address.len;
      v.routes.push_back(RouteView{.net = iv.addr & net::v4_mask(iv.plen), .len = iv.plen, .gateway = 0,
                                   .iface = uint8_t(i)});
    }
    v.ifaces.push_back(iv);
  }
  for (const auto& r : cfg.routes) {
    if (!r.destination.addr.is_v4() || !r.gateway.is_v4()) continue;
    const uint32_t gw = r.gateway.v4();
    // The gateway must sit on a connected subnet (config validation says so);
    // a route whose gateway we cannot reach is left out rather than guessed.
    for (size_t i = 0; i < v.ifaces.size(); ++i) {
      const auto& iv = v.ifaces[i];
      if (iv.addr == 0 || !net::v4_in(gw, iv.addr, iv.plen)) continue;
      v.routes.push_back(RouteView{.net = r.destination.addr.v4() & net::v4_mask(r.destination.len),
                                   .len = r.destination.len, .gateway = gw, .iface = uint8_t(i)});
      break;
    }
  }
  for (const auto& vip : cfg.carp.vips) {
    for (size_t i = 0; i < n; ++i) {
      if (cfg.interfaces[i].name != vip.interface) continue;
      for (const auto& a : vip.addresses)
        if (a.is_v4())
          v.configured_vips.push_back(VipView{.addr = a.v4(), .iface = uint8_t(i), .vhid = vip.vhid,
                                              .vmac = net::Mac::virtual_for(vip.vhid)});
      break;
    }
  }
  return v;
}

}  // namespace hafw::dp
