// What the workers read: four immutable snapshots, each published on its own.
//
//   Topology      interfaces, routes and every configured VIP (config reload)
//   VipSet        the VIPs this node is MASTER for (CARP transition)
//   NeighborTable resolved next hops (ARP learned or expired)
//   Policy        rules, NAT and state timeouts (config reload; dataplane/policy.h)
//
// A CARP transition publishes a new VipSet only and a new neighbour publishes
// a NeighborTable only, so neither copies the rest. The control thread swaps
// one pointer per snapshot (dataplane/snapshot.h) and retires the old one to
// the RCU domain, which frees it once every worker has passed a quiescent
// state. A worker therefore never takes a lock and never sees a half-updated
// table. See docs/dataplane.md.
//
// Pure code: no DPDK types, no config: control/compile.cc builds these from
// the configuration.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <tuple>
#include <vector>

#include "dataplane/net/ipv6.h"
#include "dataplane/net/limits.h"
#include "dataplane/net/net.h"
#include "dataplane/policy.h"

namespace hafw::dp {

using net::kMaxIfaces;

struct IfaceView {
  uint16_t port_id;
  net::Mac mac;
  uint32_t addr;  // host order; 0 = no IPv4 address on this interface
  uint8_t plen;
  bool tx_ip_csum = false;  // the port computes IPv4 header checksums on transmit
  // IPv6 (address6): the node's global address and its prefix length; plen6
  // 0 = no IPv6 on this interface (ll6 is then unused too). ll6 is the
  // link-local address made from the MAC (fe80::/64, modified EUI-64).
  net::Addr6 addr6{};
  uint8_t plen6 = 0;
  net::Addr6 ll6{};
  uint16_t mtu = 1500;  // IP MTU of the link: an IPv6 packet longer is answered with packet too big

  bool has6() const { return plen6 != 0; }
  // One of this interface's IPv6 addresses (global or link-local).
  // Word compares inline: ipv6_input asks for every packet's source.
  bool is_addr6(const uint8_t* a) const {
    const uint64_t a0 = net::load64(a), a1 = net::load64(a + 8);
    return has6() && (((a0 ^ net::load64(addr6.data())) | (a1 ^ net::load64(addr6.data() + 8))) == 0 ||
                      ((a0 ^ net::load64(ll6.data())) | (a1 ^ net::load64(ll6.data() + 8))) == 0);
  }
};

struct VipView {
  uint32_t addr;  // host order
  uint8_t iface;
  uint8_t vhid;
  net::Mac vmac;
};

// An IPv6 VIP: the same fields with the 16-byte address.
struct VipView6 {
  net::Addr6 addr;
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

// A set of VIPs. Config rules bound it to net::kMaxVips, and a firewall node
// has a handful: a linear scan of 12-byte entries beats hashing. IPv6 VIPs
// are kept apart (vips6), so the IPv4 scans stay over 12-byte entries and a
// node without IPv6 VIPs pays one empty loop for them.
struct VipSet {
  std::vector<VipView> vips;
  std::vector<VipView6> vips6;

  const VipView* find(uint32_t a) const {
    for (const auto& v : vips)
      if (v.addr == a) return &v;
    return nullptr;
  }
  const VipView* find_on(uint8_t ifc, uint32_t a) const {
    for (const auto& v : vips)
      if (v.iface == ifc && v.addr == a) return &v;
    return nullptr;
  }
  bool has_vmac(uint8_t ifc, const net::Mac& m) const {
    for (const auto& v : vips)
      if (v.iface == ifc && v.vmac == m) return true;
    for (const auto& v : vips6)
      if (v.iface == ifc && v.vmac == m) return true;
    return false;
  }
  const VipView6* find6(const uint8_t* a) const {
    for (const auto& v : vips6)
      if (std::memcmp(v.addr.data(), a, 16) == 0) return &v;
    return nullptr;
  }
  const VipView6* find6_on(uint8_t ifc, const uint8_t* a) const {
    for (const auto& v : vips6)
      if (v.iface == ifc && std::memcmp(v.addr.data(), a, 16) == 0) return &v;
    return nullptr;
  }
  // A VIP of interface ifc whose solicited-node group is `group` (where a
  // Neighbor Solicitation for it arrives).
  bool has_solicited_node6(uint8_t ifc, const uint8_t* group) const {
    for (const auto& v : vips6)
      if (v.iface == ifc && net::is_solicited_node_of(group, v.addr.data())) return true;
    return false;
  }
};

// IPv4 longest-prefix match in DIR-16-8-8 form, built once by the control
// thread for a set of routes and then only read. A 2^16-entry table indexed
// by the top 16 bits of the address either names a route or, where a longer
// prefix starts inside that /16, a group of 256 entries indexed by the next
// 8 bits, whose entries may lead to a last group indexed by the low 8 bits.
// A lookup is one to three dependent loads of 16-bit entries: no loop, and
// the same cost for three routes as for three hundred. The top table is
// 128 KiB; each route longer than /16 adds at most two groups of 512 bytes.
class Ipv4Lpm {
 public:
  // At most kMaxEntries routes: an entry holds a route's index + 1 or a
  // group's number in 15 bits, and each route makes at most two groups.
  static constexpr size_t kMaxEntries = 0x3fff;

  // Longest prefix wins; on equal length the route with the lower index.
  // Host bits of a route's net are ignored. Throws std::length_error past
  // kMaxEntries.
  void build(std::span<const RouteView> routes);
  // The index of the route for dst, plus 1; 0: none.
  uint32_t lookup(uint32_t dst) const {
    if (top_.empty()) return 0;  // no routes
    uint32_t e = top_[dst >> 16];
    if (e & kGroup) {
      e = groups_[(e & ~kGroup) << 8 | ((dst >> 8) & 0xff)];
      if (e & kGroup) e = groups_[(e & ~kGroup) << 8 | (dst & 0xff)];
    }
    return e;
  }

 private:
  static constexpr uint32_t kGroup = 0x8000;  // the entry names a group, not a route
  std::vector<uint16_t> top_;     // 2^16 entries, or none without routes
  std::vector<uint16_t> groups_;  // 256 entries per group
};

struct RouteView6 {
  net::Addr6 net;      // host bits zero
  uint8_t len;
  net::Addr6 gateway;  // all zero = connected (the destination itself is the next hop)
  uint8_t iface;
};

// IPv6 longest-prefix match: one hash table per prefix length present,
// tried from the longest length down, so a lookup costs one probe per
// distinct length (a firewall has a handful: /64 connected, /48 sites,
// /0 default), whatever the number of routes. Each table is open
// addressing at load factor <= 1/2 on the masked prefix. Built once per
// topology by the control thread, then only read.
class Ipv6Lpm {
 public:
  // Longest prefix wins; on equal prefix the route with the lower index.
  void build(std::span<const RouteView6> routes);
  // The index of the route for dst, plus 1; 0: none.
  uint32_t lookup(const uint8_t* dst) const {
    uint64_t a[2];
    std::memcpy(a, dst, 16);
    for (const Level& l : levels_) {
      const uint64_t k0 = a[0] & l.mask[0], k1 = a[1] & l.mask[1];
      for (size_t i = slot_of(k0, k1) & l.slot_mask;; i = (i + 1) & l.slot_mask) {
        const Slot& s = l.slots[i];
        if (s.route == 0) break;
        if (s.net[0] == k0 && s.net[1] == k1) return s.route;
      }
    }
    return 0;
  }

 private:
  struct Slot {
    uint64_t net[2];  // the prefix as it lies in memory, host bits zero
    uint32_t route;   // index + 1; 0 = unused
  };
  struct Level {
    uint64_t mask[2];
    size_t slot_mask;
    std::vector<Slot> slots;
  };
  static size_t slot_of(uint64_t k0, uint64_t k1) {
    return size_t(((k0 ^ (k1 * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull) >> 32);
  }
  std::vector<Level> levels_;  // longest prefix length first
};

struct Topology {
  std::vector<IfaceView> ifaces;  // index = iface number used everywhere; at most kMaxIfaces
  // Every VIP in the configuration, owned or not. Lets a worker tell "a VIP
  // the peer owns" (counted as vip_not_owned) from traffic never ours.
  VipSet configured_vips;
  // The sync interface (sync.interface), kNoSyncIface when there is none: it
  // takes ARP and state sync frames only (docs/sync.md).
  static constexpr uint8_t kNoSyncIface = 0xff;
  uint8_t sync_iface = kNoSyncIface;

  // Connected + static routes, looked up by longest-prefix match. Setting
  // them builds the lookup table (the control thread, once per snapshot).
  void set_routes(std::vector<RouteView> routes);
  const std::vector<RouteView>& routes() const { return routes_; }

  // Longest-prefix match; on equal length the earlier route wins, so a
  // connected route beats a static one for the same prefix.
  const RouteView* route(uint32_t dst) const {
    const uint32_t e = lpm_.lookup(dst);
    return e ? &routes_[e - 1] : nullptr;
  }

  // IPv6: connected prefixes (address6) and static routes.
  void set_routes6(std::vector<RouteView6> routes);
  const std::vector<RouteView6>& routes6() const { return routes6_; }
  const RouteView6* route6(const uint8_t* dst) const {
    const uint32_t e = lpm6_.lookup(dst);
    return e ? &routes6_[e - 1] : nullptr;
  }
  // Any interface's IPv6 address (weak host model, as for IPv4).
  bool is_node_addr6(const uint8_t* a) const {
    for (const auto& i : ifaces)
      if (i.is_addr6(a)) return true;
    return false;
  }

  const IfaceView* iface(uint8_t i) const { return i < ifaces.size() ? &ifaces[i] : nullptr; }
  bool is_node_addr(uint32_t a) const {
    for (const auto& i : ifaces)
      if (i.addr != 0 && i.addr == a) return true;
    return false;
  }

 private:
  std::vector<RouteView> routes_;
  Ipv4Lpm lpm_;
  std::vector<RouteView6> routes6_;
  Ipv6Lpm lpm6_;
};

// (iface, IPv4 address) -> MAC. Built once by the control thread, then only
// read: open addressing with linear probing at load factor <= 1/2, so a hit
// costs one or two cache lines and a miss stops at the first empty slot.
class NeighborTable {
 public:
  using Entry = std::tuple<uint8_t, uint32_t, net::Mac>;
  using Entry6 = std::tuple<uint8_t, net::Addr6, net::Mac>;

  // Empty: one unused slot, so that find() needs no test for an empty table.
  NeighborTable() : slots_(1), slots6_(1) {}
  // Duplicate keys: the last one wins. IPv6 neighbours in a table of their
  // own, so the IPv4 slots stay 16 bytes.
  static NeighborTable build(std::span<const Entry> entries, std::span<const Entry6> entries6 = {});
  // IPv6: the same probing over (iface, 16-byte address).
  const net::Mac* find6(uint8_t iface, const uint8_t* addr) const {
    uint64_t a[2];
    std::memcpy(a, addr, 16);
    const uint64_t tag = uint64_t(iface) + 1;  // 0 = unused
    for (size_t i = slot6_of(tag, a); ; i = (i + 1) & mask6_) {
      const Slot6& s = slots6_[i];
      if (s.tag == tag && s.addr[0] == a[0] && s.addr[1] == a[1]) return &s.mac;
      if (s.tag == 0) return nullptr;
    }
  }
  size_t size6() const { return count6_; }
  // Inline: ipv4_output looks up every forwarded packet's next hop. One
  // 64-bit compare per slot: the key packs the interface, the address and a
  // used bit, so an unused slot (key 0) never matches.
  const net::Mac* find(uint8_t iface, uint32_t addr) const {
    const uint64_t key = key_of(iface, addr);
    for (size_t i = slot_of(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s.mac;
      if (s.key == 0) return nullptr;  // never full: load factor <= 1/2
    }
  }
  size_t size() const { return count_; }

 private:
  struct Slot {
    uint64_t key;  // key_of(iface, addr); 0 = unused
    net::Mac mac;
  };
  static uint64_t key_of(uint8_t iface, uint32_t addr) { return uint64_t(1) << 40 | uint64_t(iface) << 32 | addr; }
  // Fibonacci hashing: one multiply spreads consecutive host addresses (the
  // common case on a /24) over the whole table.
  size_t slot_of(uint64_t key) const { return size_t((key * 0x9e3779b97f4a7c15ull) >> 32) & mask_; }

  std::vector<Slot> slots_;  // size is a power of two
  size_t mask_ = 0;          // slots_.size() - 1
  size_t count_ = 0;

  struct Slot6 {
    uint64_t addr[2];
    uint64_t tag;  // iface + 1; 0 = unused
    net::Mac mac;
  };
  size_t slot6_of(uint64_t tag, const uint64_t* a) const {
    return size_t(((a[0] ^ a[1] ^ tag) * 0x9e3779b97f4a7c15ull) >> 32) & mask6_;
  }
  std::vector<Slot6> slots6_;
  size_t mask6_ = 0;
  size_t count6_ = 0;
};

// The snapshots one worker pass reads, loaded once per pass.
struct View {
  const Topology* topo = nullptr;
  const VipSet* owned = nullptr;  // VIPs this node is MASTER for
  const NeighborTable* neighbors = nullptr;
  const Policy* policy = nullptr;

  bool ready() const { return topo && owned && neighbors && policy; }
};

}  // namespace hafw::dp
