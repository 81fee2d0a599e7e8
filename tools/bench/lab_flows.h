// What the benchmarks forward: the lab's address plan, its firewall policy,
// and one flow set of 64-byte UDP frames from LAN hosts to the internet
// through the default route, outbound NAT to the WAN VIP; and its IPv6 twin
// (address6 on both interfaces, the same rule for the LAN's /64, routed and
// filtered without NAT).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "dataplane/net/ipv6.h"
#include "dataplane/net/net.h"
#include "dataplane/policy.h"
#include "dataplane/state_table.h"
#include "dataplane/view.h"

namespace hafw::bench {

inline uint32_t ip4(const char* s) { return net::IpAddr::parse(s)->v4(); }
inline const net::Mac kGatewayMac{{0x02, 0, 0, 0, 0, 0x01}};
inline const net::Mac kHostMac{{0x02, 0, 0, 0, 0, 0x50}};
constexpr uint8_t kWan = 0, kLan = 1;

// Interface 0 WAN 198.51.100.201/24 (VIP .200, vhid 200, default gateway .1),
// interface 1 LAN 192.168.1.2/24 (VIP .1, vhid 1).
inline dp::Topology lab_topology(const net::Mac& wan_mac, const net::Mac& lan_mac) {
  dp::Topology t;
  t.ifaces = {{.port_id = 0, .mac = wan_mac, .addr = ip4("198.51.100.201"), .plen = 24},
              {.port_id = 1, .mac = lan_mac, .addr = ip4("192.168.1.2"), .plen = 24}};
  t.set_routes({{.net = ip4("198.51.100.0"), .len = 24, .gateway = 0, .iface = 0},
                 {.net = ip4("192.168.1.0"), .len = 24, .gateway = 0, .iface = 1},
                 {.net = 0, .len = 0, .gateway = ip4("198.51.100.1"), .iface = 0}});
  t.configured_vips.vips = {
      {.addr = ip4("198.51.100.200"), .iface = 0, .vhid = 200, .vmac = net::Mac::virtual_for(200)},
      {.addr = ip4("192.168.1.1"), .iface = 1, .vhid = 1, .vmac = net::Mac::virtual_for(1)}};
  // IPv6: WAN 2001:db8::201/64 (default gateway 2001:db8::1), LAN 2001:db8:1::2/64.
  t.ifaces[0].addr6 = net::IpAddr::parse("2001:db8::201")->b;
  t.ifaces[0].plen6 = 64;
  t.ifaces[0].ll6 = net::link_local_of(wan_mac);
  t.ifaces[1].addr6 = net::IpAddr::parse("2001:db8:1::2")->b;
  t.ifaces[1].plen6 = 64;
  t.ifaces[1].ll6 = net::link_local_of(lan_mac);
  t.set_routes6({{.net = net::IpAddr::parse("2001:db8::")->b, .len = 64, .gateway = {}, .iface = 0},
                 {.net = net::IpAddr::parse("2001:db8:1::")->b, .len = 64, .gateway = {}, .iface = 1},
                 {.net = {}, .len = 0, .gateway = net::IpAddr::parse("2001:db8::1")->b, .iface = 0}});
  return t;
}

// The gateway resolved, as after the first ARP exchange.
inline dp::NeighborTable lab_neighbors() {
  dp::NeighborTable::Entry gw[] = {{0, ip4("198.51.100.1"), kGatewayMac}};
  dp::NeighborTable::Entry6 gw6[] = {{0, net::IpAddr::parse("2001:db8::1")->b, kGatewayMac}};
  return dp::NeighborTable::build(gw, gw6);
}

inline const net::IpAddr kWanVip = net::IpAddr::v4(ip4("198.51.100.200"));
inline const net::IpAddr kLanNet = net::IpAddr::v4(ip4("192.168.1.0"));

// The lab's firewall, as the config compiler would build it:
//   0: pass in on lan from 192.168.1.0/24 keep state
//   1: pass in on lan from 2001:db8:1::/64 keep state
//   outbound NAT on wan for 192.168.1.0/24 to the WAN VIP
// The WAN has no rules: its replies pass on the states.
inline std::unique_ptr<dp::Policy> lab_policy(dp::StateTable& states, unsigned workers = 1) {
  auto p = std::make_unique<dp::Policy>();
  const dp::NetMatch lan = dp::NetMatch::of(kLanNet, 24);
  p->in[kLan].push_back(dp::RuleView{.index = 0, .action = dp::RuleAction::Pass, .keep_state = true, .proto = 0,
                                     .port = 0, .src = lan, .dst = dp::NetMatch::any()});
  p->in[kLan].push_back(dp::RuleView{.index = 1, .action = dp::RuleAction::Pass, .keep_state = true, .proto = 0,
                                     .port = 0, .src = dp::NetMatch::of(*net::IpAddr::parse("2001:db8:1::"), 64),
                                     .dst = dp::NetMatch::any()});
  p->rule_count = 2;
  p->outbound.push_back(
      {.iface = kWan, .source = lan, .translation = kWanVip, .addr_ref = states.intern_addr(kWanVip)});
  p->allocate_counters(workers);
  return p;
}

// The flow set. Flow f: LAN host 192.168.1.50 + f % 200, source port
// 1024 + (f / 200) % 64512, to server 198.18.0.0 + f % 1024 (RFC 2544's
// benchmarking range, beyond the default route) port 53. Distinct for every
// f < kMaxFlows. Why 1,024 servers rather than one: outbound NAT to one VIP
// has 64,512 ports, so one server:port can see at most that many flows;
// spread over 1,024 servers, a million flows take 1.5% of each server's
// ports and a new flow's first NAT port candidate is nearly always free.
struct Flow {
  uint32_t src, dst;  // host order
  uint16_t sport, dport;
};
constexpr uint32_t kHosts = 200, kServers = 1024, kPorts = 64512;
constexpr uint32_t kFirstHost = 0xc0a80132;    // 192.168.1.50
constexpr uint32_t kFirstServer = 0xc6120000;  // 198.18.0.0
constexpr uint64_t kMaxFlows = uint64_t(kHosts) * kPorts;
constexpr Flow lab_flow(uint64_t f) {
  return {kFirstHost + uint32_t(f % kHosts), kFirstServer + uint32_t(f % kServers),
          uint16_t(1024 + (f / kHosts) % kPorts), 53};
}

// Frame bytes: Ethernet, IPv4 and UDP headers and 18 bytes of zero payload,
// the minimum Ethernet frame without its FCS (64 bytes on the wire).
constexpr uint16_t kFrameLen = 60;

// Writes flow f's frame — to the LAN VIP's virtual MAC, IPv4 header checksum
// and UDP checksum included — from f alone: a fixed template and two sums
// computed once, plus the words that depend on f. No per-flow memory, so a
// generator at a million flows costs what it costs at one.
class FrameWriter {
 public:
  FrameWriter() {
    net::EthHdr eth{.dst = net::Mac::virtual_for(1), .src = kHostMac, .type = net::be16(net::kEtherTypeIpv4)};
    net::Ipv4Hdr ip{.ver_ihl = 0x45, .tos = 0, .total_len = net::be16(kFrameLen - 14), .id = 0,
                    .frag = 0, .ttl = 64, .proto = net::kProtoUdp, .csum = 0, .src = 0, .dst = 0};
    std::memcpy(tmpl_, &eth, sizeof eth);
    std::memcpy(tmpl_ + 14, &ip, sizeof ip);
    const uint16_t dport = net::be16(53), ulen = net::be16(kFrameLen - 34);
    std::memcpy(tmpl_ + 36, &dport, 2);
    std::memcpy(tmpl_ + 38, &ulen, 2);
    // Ones' complement sums of the words that never change: the IPv4 header
    // without its addresses, and the UDP pseudo header (protocol, length)
    // plus the UDP header without the source port (the payload is zero).
    ip_base_ = sum16(tmpl_ + 14, 20);
    udp_base_ = sum16(tmpl_ + 34, kFrameLen - 34) + net::be16(net::kProtoUdp) + ulen;
  }

  void write(uint8_t* p, uint64_t f) const {
    const Flow fl = lab_flow(f);
    std::memcpy(p, tmpl_, kFrameLen);
    const uint32_t src = net::be32(fl.src), dst = net::be32(fl.dst);
    const uint16_t sport = net::be16(fl.sport);
    const uint32_t addrs = (src & 0xffff) + (src >> 16) + (dst & 0xffff) + (dst >> 16);
    const uint16_t ip_csum = uint16_t(~fold(ip_base_ + addrs));
    uint16_t udp_csum = uint16_t(~fold(udp_base_ + addrs + sport));
    if (udp_csum == 0) udp_csum = 0xffff;  // RFC 768: 0 would mean "no checksum"
    std::memcpy(p + 24, &ip_csum, 2);
    std::memcpy(p + 26, &src, 4);
    std::memcpy(p + 30, &dst, 4);
    std::memcpy(p + 34, &sport, 2);
    std::memcpy(p + 40, &udp_csum, 2);
  }

 private:
  // Sums of 16-bit words as they lie in memory: ones' complement sums do not
  // depend on byte order (RFC 1071), so the stored result is network order.
  static uint32_t sum16(const uint8_t* p, size_t n) {
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
      uint16_t w;
      std::memcpy(&w, p + i, 2);
      s += w;
    }
    return s;
  }
  static uint32_t fold(uint32_t s) {
    s = (s & 0xffff) + (s >> 16);
    return (s & 0xffff) + (s >> 16);
  }

  alignas(64) uint8_t tmpl_[64] = {};
  uint32_t ip_base_ = 0, udp_base_ = 0;
};

// Flow `flow`'s frame as a buffer of its own.
inline std::vector<uint8_t> lab_frame(uint64_t flow) {
  std::vector<uint8_t> f(kFrameLen);
  FrameWriter().write(f.data(), flow);
  return f;
}

// The bytes a NIC writes anew for every packet that matter to the pipeline
// and that NAT rewrites: Ethernet, IPv4 and the UDP header.
constexpr size_t kRestoreBytes = 42;

// IPv6 flow f: the same hosts, ports and servers as lab_flow(f) with the
// IPv4 address's low 16 bits as the interface id: 2001:db8:1::xx:xx to
// 2001:db8:ff::xx:xx (a remote /48, through the default route), UDP to
// port 53. The frame: Ethernet, IPv6, UDP and no payload, 62 bytes of
// headers and 2 of zero padding, 64 in all, to the LAN interface's MAC
// (IPv6 VIPs are for later). The bytes restored per packet are all of its
// headers (the hop limit and the MACs change).
constexpr uint16_t kFrameLen6 = 64;
constexpr size_t kRestoreBytes6 = 62;

// Writes IPv6 flow f's frame, UDP checksum included (mandatory over IPv6,
// RFC 8200 §8.1), from f alone, as FrameWriter does for IPv4: a template and
// one sum made once, plus the three words that depend on f (each address's
// last word, the source port).
class FrameWriter6 {
 public:
  explicit FrameWriter6(const net::Mac& lan_mac) {
    const net::EthHdr eth{.dst = lan_mac, .src = kHostMac, .type = net::be16(net::kEtherTypeIpv6)};
    std::memcpy(tmpl_, &eth, sizeof eth);
    uint8_t* ip = tmpl_ + 14;
    ip[0] = 0x60;
    ip[5] = 8;  // payload: the UDP header
    ip[6] = net::kProtoUdp;
    ip[7] = 64;
    const net::Addr6 src = net::IpAddr::parse("2001:db8:1::")->b, dst = net::IpAddr::parse("2001:db8:ff::")->b;
    std::memcpy(ip + 8, src.data(), 16);
    std::memcpy(ip + 24, dst.data(), 16);
    uint8_t* u = ip + 40;
    const uint16_t dport = net::be16(53), ulen = net::be16(8);
    std::memcpy(u + 2, &dport, 2);
    std::memcpy(u + 4, &ulen, 2);
    // The pseudo header (addresses without their last word, the length,
    // the next header) and the UDP header without its source port.
    uint32_t s = net::be16(net::kProtoUdp) + ulen;
    for (size_t i = 0; i < 32 + 8; i += 2) {
      uint16_t w;
      std::memcpy(&w, ip + 8 + i, 2);
      s += w;
    }
    base_ = s;
  }

  void write(uint8_t* p, uint64_t f) const {
    const Flow fl = lab_flow(f);
    std::memcpy(p, tmpl_, kFrameLen6);
    const uint16_t src = net::be16(uint16_t(fl.src)), dst = net::be16(uint16_t(fl.dst));
    const uint16_t sport = net::be16(fl.sport);
    uint32_t s = base_ + src + dst + sport;
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    uint16_t csum = uint16_t(~s);
    if (csum == 0) csum = 0xffff;  // 0 would mean "no checksum", which IPv6 forbids
    std::memcpy(p + 14 + 8 + 14, &src, 2);
    std::memcpy(p + 14 + 24 + 14, &dst, 2);
    std::memcpy(p + 54, &sport, 2);
    std::memcpy(p + 60, &csum, 2);
  }

 private:
  alignas(64) uint8_t tmpl_[kFrameLen6] = {};
  uint32_t base_ = 0;
};

// IPv6 flow `flow`'s frame as a buffer of its own.
inline std::vector<uint8_t> lab_frame6(uint64_t flow, const net::Mac& lan_mac) {
  std::vector<uint8_t> p(kFrameLen6);
  FrameWriter6(lan_mac).write(p.data(), flow);
  return p;
}

}  // namespace hafw::bench
