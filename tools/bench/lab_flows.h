// What both benchmarks forward: the lab's address plan and a flow set of
// 64-byte UDP frames from LAN hosts to the internet through the default route.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "dataplane/net/net.h"
#include "dataplane/view.h"

namespace hafw::bench {

inline uint32_t ip4(const char* s) { return net::IpAddr::parse(s)->v4(); }
inline const net::Mac kGatewayMac{{0x02, 0, 0, 0, 0, 0x01}};

// Interface 0 WAN 198.51.100.201/24 (VIP .200, vhid 200, default gateway .1),
// interface 1 LAN 192.168.1.2/24 (VIP .1, vhid 1).
inline dp::Topology lab_topology(const net::Mac& wan_mac, const net::Mac& lan_mac) {
  dp::Topology t;
  t.ifaces = {{.port_id = 0, .mac = wan_mac, .addr = ip4("198.51.100.201"), .plen = 24},
              {.port_id = 1, .mac = lan_mac, .addr = ip4("192.168.1.2"), .plen = 24}};
  t.routes = {{.net = ip4("198.51.100.0"), .len = 24, .gateway = 0, .iface = 0},
              {.net = ip4("192.168.1.0"), .len = 24, .gateway = 0, .iface = 1},
              {.net = 0, .len = 0, .gateway = ip4("198.51.100.1"), .iface = 0}};
  t.configured_vips.vips = {
      {.addr = ip4("198.51.100.200"), .iface = 0, .vhid = 200, .vmac = net::Mac::virtual_for(200)},
      {.addr = ip4("192.168.1.1"), .iface = 1, .vhid = 1, .vmac = net::Mac::virtual_for(1)}};
  return t;
}

// The gateway resolved, as after the first ARP exchange.
inline dp::NeighborTable lab_neighbors() {
  dp::NeighborTable::Entry gw[] = {{0, ip4("198.51.100.1"), kGatewayMac}};
  return dp::NeighborTable::build(gw);
}

// Flow `flow`: a LAN host to the LAN VIP's virtual MAC, bound for
// 203.0.113.10:53 from a source port (and one of 200 hosts) of its own.
inline std::vector<uint8_t> lab_frame(uint32_t flow) {
  std::vector<uint8_t> f(60, 0);
  net::EthHdr eth{.dst = net::Mac::virtual_for(1), .src = net::Mac{{0x02, 0, 0, 0, 0, 0x50}},
                  .type = net::be16(net::kEtherTypeIpv4)};
  net::Ipv4Hdr ip{.ver_ihl = 0x45, .tos = 0, .total_len = net::be16(46), .id = 0, .frag = 0, .ttl = 64,
                  .proto = net::kProtoUdp, .csum = 0, .src = net::be32(ip4("192.168.1.50") + flow % 200),
                  .dst = net::be32(ip4("203.0.113.10"))};
  ip.csum = net::inet_checksum({reinterpret_cast<const uint8_t*>(&ip), sizeof ip});
  std::memcpy(f.data(), &eth, sizeof eth);
  std::memcpy(f.data() + sizeof eth, &ip, sizeof ip);
  const uint16_t sport = net::be16(uint16_t(1024 + flow)), dport = net::be16(53), ulen = net::be16(26);
  std::memcpy(f.data() + 34, &sport, 2);
  std::memcpy(f.data() + 36, &dport, 2);
  std::memcpy(f.data() + 38, &ulen, 2);
  return f;
}

// The bytes a NIC writes anew for every packet that matter to the pipeline:
// Ethernet, IPv4 and the ports.
constexpr size_t kRestoreBytes = 40;

}  // namespace hafw::bench
