// Frame builders and the two-node fixture shared by the dataplane tests.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "dataplane/counters.h"
#include "dataplane/net/ipv6.h"
#include "dataplane/net/net.h"
#include "dataplane/pipeline.h"
#include "dataplane/policy.h"
#include "dataplane/state_table.h"
#include "dataplane/view.h"

namespace hafw::test {

using net::Mac;
using Bytes = std::vector<uint8_t>;

inline uint32_t ip4(const char* s) { return net::IpAddr::parse(s)->v4(); }
inline Mac mac(uint8_t last) { return Mac{{0x02, 0x00, 0x00, 0x00, 0x00, last}}; }

// The example address plan (docs/config.md), primary node: WAN .201 (VIP
// .200, vhid 200), LAN .2 (VIP .1, vhid 1), sync 172.16.1.2; default route
// via 198.51.100.1, 10/8 via a LAN router, 10.1/16 via a WAN router. The
// control tests check that compiling docs' example config gives exactly this.
inline const Mac kWanMac = mac(0xa1), kLanMac = mac(0xa2), kSyncMac = mac(0xa3);
inline const Mac kHostMac = mac(0x50);  // a LAN host, 192.168.1.50
inline const Mac kGwMac = mac(0x01);    // WAN gateway 198.51.100.1

inline dp::Topology example_topology() {
  dp::Topology t;
  t.ifaces = {{.port_id = 0, .mac = kWanMac, .addr = ip4("198.51.100.201"), .plen = 24},
              {.port_id = 1, .mac = kLanMac, .addr = ip4("192.168.1.2"), .plen = 24},
              {.port_id = 2, .mac = kSyncMac, .addr = ip4("172.16.1.2"), .plen = 24}};
  t.set_routes({{.net = ip4("198.51.100.0"), .len = 24, .gateway = 0, .iface = 0},
                 {.net = ip4("192.168.1.0"), .len = 24, .gateway = 0, .iface = 1},
                 {.net = ip4("172.16.1.0"), .len = 24, .gateway = 0, .iface = 2},
                 {.net = 0, .len = 0, .gateway = ip4("198.51.100.1"), .iface = 0},
                 {.net = ip4("10.0.0.0"), .len = 8, .gateway = ip4("192.168.1.254"), .iface = 1},
                 {.net = ip4("10.1.0.0"), .len = 16, .gateway = ip4("198.51.100.254"), .iface = 0}});
  t.configured_vips.vips = {
      {.addr = ip4("198.51.100.200"), .iface = 0, .vhid = 200, .vmac = Mac::virtual_for(200)},
      {.addr = ip4("192.168.1.1"), .iface = 1, .vhid = 1, .vmac = Mac::virtual_for(1)}};
  return t;
}

// A rule for a hand-built policy (the control side compiles the config's).
inline dp::RuleView rule(uint16_t index, dp::RuleAction action, uint8_t proto = 0,
                         dp::NetMatch src = dp::NetMatch::any(), dp::NetMatch dst = dp::NetMatch::any(),
                         uint16_t port = 0, bool keep_state = true) {
  return dp::RuleView{.index = index, .action = action, .keep_state = keep_state, .proto = proto,
                      .port = net::be16(port), .src = src, .dst = dst};
}
inline dp::NetMatch net4(const char* addr, uint8_t len) { return dp::NetMatch::of(*net::IpAddr::parse(addr), len); }

// "pass in on every interface, keep state": what the L2/L3 tests run with,
// so that they see forwarding as it was before the firewall.
inline std::shared_ptr<dp::Policy> pass_all_policy(size_t ifaces = 3) {
  auto p = std::make_shared<dp::Policy>();
  for (size_t i = 0; i < ifaces; ++i) p->in[i].push_back(rule(uint16_t(i), dp::RuleAction::Pass));
  p->rule_count = uint16_t(ifaces);
  p->allocate_counters(1);
  return p;
}

// The example plan's firewall (docs/examples/primary.json, simplified), on
// interfaces 0 = WAN, 1 = LAN:
//   0: pass in on lan from 192.168.1.0/24 to any
//   1: pass in on wan tcp to 192.168.1.50 port 80   (the port forward's target)
//   2: block in on wan to 192.168.1.0/24
//   outbound NAT on wan for 192.168.1.0/24 to the WAN VIP 198.51.100.200
//   port forward wan tcp 198.51.100.200:8080 -> 192.168.1.50:80
// NAT addresses are interned in `states`, which the policy is then for.
inline std::shared_ptr<dp::Policy> example_policy(dp::StateTable& states) {
  auto p = std::make_shared<dp::Policy>();
  p->in[1].push_back(rule(0, dp::RuleAction::Pass, 0, net4("192.168.1.0", 24)));
  p->in[0].push_back(rule(1, dp::RuleAction::Pass, net::kProtoTcp, dp::NetMatch::any(), net4("192.168.1.50", 32), 80));
  p->in[0].push_back(rule(2, dp::RuleAction::Block, 0, dp::NetMatch::any(), net4("192.168.1.0", 24)));
  p->rule_count = 3;
  const net::IpAddr vip = *net::IpAddr::parse("198.51.100.200"), target = *net::IpAddr::parse("192.168.1.50");
  p->outbound.push_back(
      {.iface = 0, .source = net4("192.168.1.0", 24), .translation = vip, .addr_ref = states.intern_addr(vip)});
  p->forwards.push_back({.iface = 0, .proto = net::kProtoTcp, .destination = vip, .port = net::be16(8080),
                         .target = target, .target_port = net::be16(80), .target_ref = states.intern_addr(target)});
  p->allocate_counters(1);
  return p;
}

// The four snapshots by value, so a test can change any of them, and the
// state table the packets run against (shared by copies of a Tables).
struct Tables {
  dp::Topology topo;
  dp::VipSet owned;
  dp::NeighborTable neighbors;
  std::shared_ptr<dp::Policy> policy = pass_all_policy();
  std::shared_ptr<dp::StateTable> states = std::make_shared<dp::StateTable>(1024);

  dp::View view() const { return dp::View{&topo, &owned, &neighbors, policy.get()}; }
};

inline Tables backup_view() { return Tables{example_topology(), {}, {}}; }

// MASTER for both VIPs.
inline Tables master_view() {
  Tables t = backup_view();
  t.owned = t.topo.configured_vips;
  return t;
}

// One frame through the real pipeline: its exit, as the worker's I/O sees it.
enum class Exit { Forward, Reply, ToControl, Drop, Reassemble };
struct Result {
  Exit exit;
  uint8_t out_iface;
  dp::DropReason drop;
  uint32_t nexthop;  // ToControl/Resolve: the next hop to ARP for
  dp::PuntReason punt;
};

inline Result process(const Tables& t, uint8_t in, uint8_t* frame, uint16_t& len,
                      dp::WorkerCounters* counters = nullptr, Time now = std::chrono::seconds(1000)) {
  dp::WorkerCounters scratch;
  dp::WorkerCtx ctx{.view = t.view(), .counters = counters ? counters : &scratch, .states = t.states.get()};
  ctx.set_time(now);
  const dp::PacketMeta p = dp::run_one(ctx, in, frame, len);
  len = p.len;
  Result r{Exit::Drop, p.out, p.drop, p.nexthop, p.punt};
  if (p.next == dp::Next::Tx) r.exit = p.out == in ? Exit::Reply : Exit::Forward;
  else if (p.next == dp::Next::Control) r.exit = Exit::ToControl;
  else if (p.next == dp::Next::Reassemble) r.exit = Exit::Reassemble;
  return r;
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

// The TCP or UDP checksum of an IPv4 packet at `ip` (its pseudo header and
// the whole segment), as it would be written into the header: 0 when the
// stored checksum is right.
inline uint16_t l4_checksum(const uint8_t* ip) {
  const size_t ihl = size_t(ip[0] & 0x0f) * 4, total = size_t(ip[2]) << 8 | ip[3];
  Bytes pseudo(12 + total - ihl);
  std::memcpy(pseudo.data(), ip + 12, 8);
  pseudo[9] = ip[9];
  pseudo[10] = uint8_t((total - ihl) >> 8);
  pseudo[11] = uint8_t(total - ihl);
  std::memcpy(pseudo.data() + 12, ip + ihl, total - ihl);
  return net::inet_checksum(pseudo);
}

// Fill in the TCP or UDP checksum of an Ethernet/IPv4 frame.
inline Bytes& with_l4_checksum(Bytes& f) {
  uint8_t* ip = f.data() + sizeof(net::EthHdr);
  const size_t ihl = size_t(ip[0] & 0x0f) * 4;
  uint8_t* csum = ip + ihl + (ip[9] == net::kProtoTcp ? 16 : 6);
  csum[0] = csum[1] = 0;
  uint16_t c = l4_checksum(ip);
  if (ip[9] == net::kProtoUdp && c == 0) c = 0xffff;
  std::memcpy(csum, &c, 2);
  return f;
}

// Every checksum of a frame is right: IPv4 header, TCP/UDP (pseudo header
// included; UDP 0 = none), ICMP (the whole message).
inline bool checksums_ok(const Bytes& f) {
  if (!ip_checksum_ok(f)) return false;
  const uint8_t* ip = f.data() + sizeof(net::EthHdr);
  const size_t ihl = size_t(ip[0] & 0x0f) * 4, total = size_t(ip[2]) << 8 | ip[3];
  switch (ip[9]) {
    case net::kProtoTcp:
      return l4_checksum(ip) == 0;
    case net::kProtoUdp:
      return (ip[ihl + 6] == 0 && ip[ihl + 7] == 0) || l4_checksum(ip) == 0;
    case net::kProtoIcmp:
      return net::inet_checksum({ip + ihl, total - ihl}) == 0;
    default:
      return true;
  }
}

// A TCP segment (20-byte header, or 24 with a window scale option on a SYN)
// with `data_len` bytes of data; the checksum is filled in by tcp_frame.
inline Bytes tcp_segment(uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
                         uint16_t win = 65535, size_t data_len = 0, int wscale = -1) {
  const size_t hlen = wscale >= 0 ? 24 : 20;
  Bytes t(hlen + data_len, 0);
  t[0] = uint8_t(sport >> 8), t[1] = uint8_t(sport);
  t[2] = uint8_t(dport >> 8), t[3] = uint8_t(dport);
  for (int i = 0; i < 4; ++i) t[4 + i] = uint8_t(seq >> (24 - 8 * i)), t[8 + i] = uint8_t(ack >> (24 - 8 * i));
  t[12] = uint8_t((hlen / 4) << 4);
  t[13] = flags;
  t[14] = uint8_t(win >> 8), t[15] = uint8_t(win);
  if (wscale >= 0) t[20] = 1, t[21] = 3, t[22] = 3, t[23] = uint8_t(wscale);  // NOP, window scale
  for (size_t i = 0; i < data_len; ++i) t[hlen + i] = uint8_t('a' + i % 26);
  return t;
}

inline Bytes tcp_frame(Mac dst, Mac src, uint32_t ip_src, uint32_t ip_dst, const Bytes& seg, uint8_t ttl = 64) {
  Bytes f = ipv4_frame(dst, src, ip_src, ip_dst, net::kProtoTcp, seg, ttl);
  return with_l4_checksum(f);
}

// UDP with a real checksum (udp_payload leaves it 0, "none").
inline Bytes udp_frame(Mac dst, Mac src, uint32_t ip_src, uint32_t ip_dst, uint16_t sport, uint16_t dport,
                       size_t n = 16, uint8_t ttl = 64) {
  Bytes u = udp_payload(n);
  u[0] = uint8_t(sport >> 8), u[1] = uint8_t(sport), u[2] = uint8_t(dport >> 8), u[3] = uint8_t(dport);
  Bytes f = ipv4_frame(dst, src, ip_src, ip_dst, net::kProtoUdp, u, ttl);
  return with_l4_checksum(f);
}

// Transport fields of an Ethernet/IPv4 frame.
// An IPv6 frame: header, then `payload` (extension headers and transport).
inline Bytes ip6_frame(Mac dst, Mac src, const std::array<uint8_t, 16>& s, const std::array<uint8_t, 16>& d,
                       uint8_t next, const Bytes& payload, uint8_t hops = 64) {
  Bytes ip(40);
  ip[0] = 0x60;
  ip[4] = uint8_t(payload.size() >> 8);
  ip[5] = uint8_t(payload.size());
  ip[6] = next;
  ip[7] = hops;
  std::memcpy(&ip[8], s.data(), 16);
  std::memcpy(&ip[24], d.data(), 16);
  ip.insert(ip.end(), payload.begin(), payload.end());
  return eth_frame(dst, src, net::kEtherTypeIpv6, ip);
}

// Fills the ICMPv6 checksum of a frame whose message follows the IPv6 header.
inline Bytes& with_icmp6_checksum(Bytes& f) {
  uint8_t* ip = f.data() + 14;
  const size_t len = size_t(ip[4]) << 8 | ip[5];
  ip[42] = ip[43] = 0;
  const uint16_t c = net::icmp6_checksum(ip, ip + 40, len);
  std::memcpy(ip + 42, &c, 2);
  return f;
}

inline uint16_t sport_of(const Bytes& f) {
  const size_t at = sizeof(net::EthHdr) + ip_of(f).ihl_bytes();
  return uint16_t(f[at] << 8 | f[at + 1]);
}
inline uint16_t dport_of(const Bytes& f) {
  const size_t at = sizeof(net::EthHdr) + ip_of(f).ihl_bytes();
  return uint16_t(f[at + 2] << 8 | f[at + 3]);
}

}  // namespace hafw::test
