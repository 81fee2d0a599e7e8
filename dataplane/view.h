// The immutable snapshot the workers read: interfaces, owned VIPs, routes and
// resolved neighbours.
//
// The control thread builds a new View whenever something a worker acts on
// changes (CARP transition, neighbour learned, config reload), publishes it by
// swapping one pointer, and the DPDK glue reclaims the old one after every
// worker has passed a quiescent state (rte_rcu_qsbr). A worker therefore never
// takes a lock and never sees a half-updated table. See docs/dataplane.md.
//
// Pure code: no DPDK types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <tuple>
#include <vector>

#include "dataplane/net.h"

namespace hafw::config {
struct Config;
}

namespace hafw::dp {

// Interface numbers are uint8_t everywhere; 16 ports is more than any
// firewall appliance this targets (WAN, LAN, DMZ, sync and a few VLAN-less
// spares) and keeps per-interface arrays in one cache line of indices.
constexpr unsigned kMaxIfaces = 16;

struct IfaceView {
  uint16_t port_id;
  net::Mac mac;
  uint32_t addr;  // host order; 0 = no IPv4 address on this interface
  uint8_t plen;
};

struct VipView {
  uint32_t addr;  // host order
  uint8_t iface;
  uint8_t vhid;
  net::Mac vmac;
};

struct RouteView {
  uint32_t net;      // host order, host bits zero
  uint8_t len;
  uint32_t gateway;  // host order; 0 = connected (the destination itself is the next hop)
  uint8_t iface;
};

// (iface, IPv4 address) -> MAC. Built once by the control thread, then only
// read: open addressing with linear probing at load factor <= 1/2, so a hit
// costs one or two cache lines and a miss stops at the first empty slot.
class NeighborTable {
 public:
  using Entry = std::tuple<uint8_t, uint32_t, net::Mac>;

  NeighborTable() = default;
  // Duplicate keys: the last one wins.
  static NeighborTable build(std::span<const Entry> entries);
  const net::Mac* find(uint8_t iface, uint32_t addr) const;
  size_t size() const { return count_; }

 private:
  struct Slot {
    uint32_t addr;
    uint8_t iface;
    uint8_t used;
    net::Mac mac;
  };
  size_t slot_of(uint8_t iface, uint32_t addr) const;

  std::vector<Slot> slots_;  // size is a power of two (or zero)
  size_t count_ = 0;
};

struct View {
  std::vector<IfaceView> ifaces;  // index = iface number used everywhere
  std::vector<VipView> vips;      // VIPs this node is MASTER for (owned)
  // Every VIP in the configuration, owned or not. Lets a worker tell "a VIP
  // the peer owns" (counted as VipNotOwned) from traffic that was never ours.
  // View::build fills it; the control thread leaves it alone.
  std::vector<VipView> configured_vips;
  std::vector<RouteView> routes;  // connected + static; lookup is longest-prefix match
  NeighborTable neighbors;
  uint64_t generation = 0;

  // Longest-prefix match; on equal length the earlier route wins, so a
  // connected route beats a static one for the same prefix.
  const RouteView* route(uint32_t dst) const;

  // Connected routes from the interfaces plus the static routes (each bound
  // to the interface whose subnet holds its gateway); configured_vips from
  // carp.vips; no owned VIPs and no neighbours. port_macs[i] is interface i's
  // MAC. port_id is the numeric `port` when it is one, else the index (the
  // glue maps device names itself).
  static View build(const config::Config& cfg, std::span<const net::Mac> port_macs);

  // ---- lookups the stages use (a handful of entries: a linear scan beats hashing)
  const IfaceView* iface(uint8_t i) const { return i < ifaces.size() ? &ifaces[i] : nullptr; }
  bool is_node_addr(uint32_t a) const {
    for (const auto& i : ifaces)
      if (i.addr != 0 && i.addr == a) return true;
    return false;
  }
  const VipView* owned_vip(uint32_t a) const {
    for (const auto& v : vips)
      if (v.addr == a) return &v;
    return nullptr;
  }
  const VipView* owned_vip_on(uint8_t ifc, uint32_t a) const {
    for (const auto& v : vips)
      if (v.iface == ifc && v.addr == a) return &v;
    return nullptr;
  }
  bool owns_vmac(uint8_t ifc, const net::Mac& m) const {
    for (const auto& v : vips)
      if (v.iface == ifc && v.vmac == m) return true;
    return false;
  }
  bool is_configured_vip(uint32_t a) const {
    for (const auto& v : configured_vips)
      if (v.addr == a) return true;
    return false;
  }
  bool is_configured_vmac(uint8_t ifc, const net::Mac& m) const {
    for (const auto& v : configured_vips)
      if (v.iface == ifc && v.vmac == m) return true;
    return false;
  }
};

}  // namespace hafw::dp
