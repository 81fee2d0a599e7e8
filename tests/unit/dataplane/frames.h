// Frame builders and the two-node fixture shared by the dataplane tests.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "control/config.h"
#include "dataplane/net.h"
#include "dataplane/view.h"

namespace hafw::test {

using net::Mac;
using Bytes = std::vector<uint8_t>;

inline uint32_t ip4(const char* s) { return net::IpAddr::parse(s)->v4(); }
inline Mac mac(uint8_t last) { return Mac{{0x02, 0x00, 0x00, 0x00, 0x00, last}}; }

// The DESIGN.md example plan, primary node: WAN .201 (VIP .200, vhid 200),
// LAN .2 (VIP .1, vhid 1), sync 172.16.1.2; default route via 198.51.100.1,
// 10/8 via a LAN router, 10.1/16 via a WAN router.
inline const Mac kWanMac = mac(0xa1), kLanMac = mac(0xa2), kSyncMac = mac(0xa3);
inline const Mac kHostMac = mac(0x50);  // a LAN host, 192.168.1.50
inline const Mac kGwMac = mac(0x01);    // WAN gateway 198.51.100.1

inline config::Config example_config() {
  config::Config c;
  auto ifc = [](const char* name, const char* port, const char* addr) {
    config::Interface i;
    i.name = name;
    i.port = port;
    i.address = *net::Prefix::parse(addr);
    return i;
  };
  c.interfaces = {ifc("wan", "0", "198.51.100.201/24"), ifc("lan", "net_af_packet1", "192.168.1.2/24"),
                  ifc("sync", "2", "172.16.1.2/24")};
  config::Vip wan_vip;
  wan_vip.interface = "wan";
  wan_vip.vhid = 200;
  wan_vip.addresses = {*net::IpAddr::parse("198.51.100.200")};
  config::Vip lan_vip;
  lan_vip.interface = "lan";
  lan_vip.vhid = 1;
  lan_vip.addresses = {*net::IpAddr::parse("192.168.1.1")};
  c.carp.vips = {wan_vip, lan_vip};
  c.routes = {
      {*net::Prefix::parse("0.0.0.0/0"), *net::IpAddr::parse("198.51.100.1")},
      {*net::Prefix::parse("10.0.0.0/8"), *net::IpAddr::parse("192.168.1.254")},
      {*net::Prefix::parse("10.1.0.0/16"), *net::IpAddr::parse("198.51.100.254")},
  };
  return c;
}

inline dp::View backup_view() {
  const Mac macs[] = {kWanMac, kLanMac, kSyncMac};
  return dp::View::build(example_config(), macs);
}

// MASTER for both VIPs.
inline dp::View master_view() {
  dp::View v = backup_view();
  v.vips = v.configured_vips;
  return v;
}

inline Bytes eth_frame(Mac dst, Mac src, uint16_t type, std::span<const uint8_t> payload) {
  Bytes f(sizeof(net::EthHdr) + payload.size());
  net::EthHdr e{dst, src, net::be16(type)};
  std::memcpy(f.data(), &e, sizeof e);
  if (!payload.empty()) std::memcpy(f.data() + sizeof e, payload.data(), payload.size());
  return f;
}

inline Bytes arp_frame(uint16_t op, Mac eth_dst, Mac sha, uint32_t spa, Mac tha, uint32_t tpa) {
  net::ArpHdr a{net::be16(1), net::be16(net::kEtherTypeIpv4), 6, 4, net::be16(op), sha, net::be32(spa), tha,
                net::be32(tpa)};
  Bytes f = eth_frame(eth_dst, sha, net::kEtherTypeArp, {reinterpret_cast<const uint8_t*>(&a), sizeof a});
  f.resize(60, 0);  // Ethernet minimum, as it arrives from a real NIC
  return f;
}

inline Bytes arp_request(uint32_t spa, Mac sha, uint32_t tpa) {
  return arp_frame(net::kArpRequest, Mac::broadcast(), sha, spa, Mac{}, tpa);
}

// An IPv4 packet with a valid header checksum.
inline Bytes ipv4_frame(Mac dst, Mac src, uint32_t ip_src, uint32_t ip_dst, uint8_t proto,
                        std::span<const uint8_t> l4, uint8_t ttl = 64, uint16_t frag = 0) {
  Bytes pkt(sizeof(net::Ipv4Hdr) + l4.size());
  net::Ipv4Hdr h{0x45, 0, net::be16(uint16_t(pkt.size())), net::be16(0x1234), net::be16(frag), ttl, proto, 0,
                 net::be32(ip_src), net::be32(ip_dst)};
  std::memcpy(pkt.data(), &h, sizeof h);
  if (!l4.empty()) std::memcpy(pkt.data() + sizeof h, l4.data(), l4.size());
  uint16_t c = net::inet_checksum({pkt.data(), sizeof h});
  std::memcpy(pkt.data() + 10, &c, 2);
  return eth_frame(dst, src, net::kEtherTypeIpv4, pkt);
}

inline Bytes icmp_echo(uint16_t id, uint16_t seq, size_t data_len, uint8_t type = net::kIcmpEchoRequest) {
  Bytes m(sizeof(net::IcmpHdr) + data_len);
  m[0] = type;
  m[4] = uint8_t(id >> 8);
  m[5] = uint8_t(id);
  m[6] = uint8_t(seq >> 8);
  m[7] = uint8_t(seq);
  for (size_t i = 0; i < data_len; ++i) m[8 + i] = uint8_t(i * 7 + 3);
  uint16_t c = net::inet_checksum(m);
  std::memcpy(m.data() + 2, &c, 2);
  return m;
}

inline Bytes udp_payload(size_t n = 16) {
  Bytes u(8 + n);
  u[0] = 0x30; u[1] = 0x39;  // 12345
  u[2] = 0x00; u[3] = 0x35;  // 53
  u[4] = uint8_t((8 + n) >> 8);
  u[5] = uint8_t(8 + n);
  for (size_t i = 0; i < n; ++i) u[8 + i] = uint8_t(i);
  return u;
}

// Header views of a frame (copies: frames are byte vectors).
inline net::EthHdr eth_of(const Bytes& f) {
  net::EthHdr e;
  std::memcpy(&e, f.data(), sizeof e);
  return e;
}
inline net::ArpHdr arp_of(const Bytes& f) {
  net::ArpHdr a;
  std::memcpy(&a, f.data() + sizeof(net::EthHdr), sizeof a);
  return a;
}
inline net::Ipv4Hdr ip_of(const Bytes& f) {
  net::Ipv4Hdr h;
  std::memcpy(&h, f.data() + sizeof(net::EthHdr), sizeof h);
  return h;
}
inline bool ip_checksum_ok(const Bytes& f) {
  return net::inet_checksum({f.data() + sizeof(net::EthHdr), size_t(ip_of(f).ihl_bytes())}) == 0;
}

}  // namespace hafw::test
