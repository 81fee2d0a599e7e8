// Stage icmp_error: answer a packet this node cannot forward with the ICMP
// error that says why (RFC 792, RFC 1812 §4.3.2), built in place in the
// packet's own buffer and sent back out of the interface it came in on.
//
// The error quotes the offending IP header and the first 8 bytes of its
// payload (RFC 792's minimum: enough for the sender, and for NAT later, to
// find the connection). It comes from this node's address on the receiving
// interface. Nothing is sent about an ICMP error or a non-first fragment
// (RFC 1812 §4.3.2.7), and at most 200 a second per worker leave (BSD's
// icmplim); otherwise the packet is dropped with its reason as before.
#include "dataplane/stages.h"

#include <algorithm>
#include <span>

#include "dataplane/nat.h"

namespace hafw::dp::stage {

namespace {

constexpr uint8_t kDefaultTtl = 64;
constexpr size_t kQuotePayload = 8;  // RFC 792: the IP header and the first 64 bits of data

bool eligible(const PacketMeta& p, const net::Ipv4Hdr& ip, const IfaceView& ifc) {
  if (ifc.addr == 0) return false;                          // no address to send it from
  if ((net::be16(ip.frag) & 0x1fff) != 0) return false;    // not the first fragment
  if (ip.proto == net::kProtoIcmp) {
    const size_t payload = net::be16(ip.total_len) - ip.ihl_bytes();
    if (payload < 1 || net::is_icmp_error(p.data[p.l4])) return false;
  }
  return true;
}

void answer(WorkerCtx& ctx, const IfaceView& ifc, PacketMeta& p) {
  // The sender must recognise its own packet in the quote: undo what NAT
  // did to it before its TTL ran out here.
  if (eligible(p, *ipv4_of(p), ifc)) nat::restore(p);
  const net::Ipv4Hdr orig = *ipv4_of(p);
  const size_t ihl = orig.ihl_bytes();
  const size_t quote = ihl + std::min<size_t>(kQuotePayload, net::be16(orig.total_len) - ihl);
  const size_t icmp_len = sizeof(net::IcmpHdr) + quote;
  const size_t ip_len = sizeof(net::Ipv4Hdr) + icmp_len;
  const size_t frame_len = p.l3 + ip_len;
  WorkerCounters& c = *ctx.counters;
  if (!eligible(p, orig, ifc) || frame_len > p.room) {
    c.add(IcmpCounter::NotEligible);
    return p.to_drop(p.drop);
  }
  if (!ctx.icmp_limit.take(ctx.now)) {
    c.add(IcmpCounter::RateLimited);
    return p.to_drop(p.drop);
  }

  // Quote first (the regions overlap: move), then the headers in front of it.
  uint8_t* ip_at = p.data + p.l3;
  uint8_t* icmp_at = ip_at + sizeof(net::Ipv4Hdr);
  std::memmove(icmp_at + sizeof(net::IcmpHdr), ip_at, quote);

  net::IcmpHdr icmp{.type = p.icmp_type, .code = p.icmp_code, .csum = 0, .id = 0, .seq = 0};
  std::memcpy(icmp_at, &icmp, sizeof icmp);
  icmp.csum = net::inet_checksum(std::span<const uint8_t>(icmp_at, icmp_len));
  std::memcpy(icmp_at + 2, &icmp.csum, 2);

  const net::Ipv4Hdr hdr{.ver_ihl = 0x45,
                         .tos = 0xc0,  // RFC 1812 §4.3.2.5: internetwork control precedence
                         .total_len = net::be16(uint16_t(ip_len)),
                         .id = 0,
                         .frag = 0,
                         .ttl = kDefaultTtl,
                         .proto = net::kProtoIcmp,
                         .csum = 0,
                         .src = net::be32(ifc.addr),
                         .dst = orig.src};
  std::memcpy(ip_at, &hdr, sizeof hdr);
  const uint16_t csum = net::ipv4_header_checksum(ip_at, sizeof hdr);
  std::memcpy(ip_at + 10, &csum, 2);

  // Back to the hop it came from.
  net::EthHdr* eth = eth_of(p);
  eth->dst = eth->src;
  eth->src = ifc.mac;
  p.len = uint16_t(std::max<size_t>(frame_len, net::kEthMinFrame));
  if (frame_len < p.len) std::memset(p.data + frame_len, 0, p.len - frame_len);
  c.add(p.icmp_type == net::kIcmpTimeExceeded ? IcmpCounter::TimeExceeded : IcmpCounter::Unreachable);
  p.to_tx(p.in);
}

// ICMPv6 (RFC 4443): the error quotes as much of the packet as fits in the
// IPv6 minimum MTU (§2.4(c)) and the buffer, from this node's address6 on
// the receiving interface (its link-local address to a link-local
// sender), never about an ICMPv6 error or a redirect (§2.4(e)). Packet too
// big carries the egress MTU (§3.2). The same limiter as ICMP.
constexpr size_t kIcmp6Hdr = 8;

bool eligible6(const PacketMeta& p, const IfaceView& ifc) {
  if (!ifc.has6()) return false;
  if (p.proto == net::kProtoIcmpv6) {
    const uint8_t type = p.data[p.l4];
    if (l4_len(p) < 1 || net::is_icmp6_error(type) || type == net::kNdRedirect) return false;
  }
  return true;
}

void answer6(WorkerCtx& ctx, const IfaceView& ifc, PacketMeta& p) {
  WorkerCounters& c = *ctx.counters;
  const size_t orig_len = ip_bytes(p);
  const size_t head = sizeof(net::Ipv6Hdr) + kIcmp6Hdr;
  if (!eligible6(p, ifc) || p.room < p.l3 + head + sizeof(net::Ipv6Hdr)) {
    c.add(IcmpCounter::NotEligible);
    return p.to_drop(p.drop);
  }
  if (!ctx.icmp_limit.take(ctx.now)) {
    c.add(IcmpCounter::RateLimited);
    return p.to_drop(p.drop);
  }
  const size_t quote = std::min({orig_len, net::kIpv6MinMtu - head, size_t(p.room) - p.l3 - head});
  uint8_t* ip_at = p.data + p.l3;
  uint8_t* icmp_at = ip_at + sizeof(net::Ipv6Hdr);
  net::Addr6 to;
  std::memcpy(to.data(), ip_at + 8, 16);
  std::memmove(icmp_at + kIcmp6Hdr, ip_at, quote);

  const uint32_t word = p.icmp_type == net::kIcmp6PacketTooBig ? ctx.view.topo->ifaces[p.out].mtu : 0;
  icmp_at[0] = p.icmp_type;
  icmp_at[1] = p.icmp_code;
  std::memset(icmp_at + 2, 0, 2);
  const uint32_t word_be = net::be32(word);
  std::memcpy(icmp_at + 4, &word_be, 4);

  net::Ipv6Hdr h{};
  h.ver_tc_flow = net::be32(uint32_t(6) << 28);
  h.payload_len = net::be16(uint16_t(kIcmp6Hdr + quote));
  h.next = net::kProtoIcmpv6;
  h.hop_limit = kDefaultTtl;
  std::memcpy(h.src, net::is_link_local6(to.data()) ? ifc.ll6.data() : ifc.addr6.data(), 16);
  std::memcpy(h.dst, to.data(), 16);
  std::memcpy(ip_at, &h, sizeof h);
  const uint16_t csum = net::icmp6_checksum(ip_at, icmp_at, kIcmp6Hdr + quote);
  std::memcpy(icmp_at + 2, &csum, 2);

  net::EthHdr* eth = eth_of(p);
  eth->dst = eth->src;
  eth->src = ifc.mac;
  p.len = uint16_t(p.l3 + sizeof(net::Ipv6Hdr) + kIcmp6Hdr + quote);
  c.add(p.icmp_type == net::kIcmp6TimeExceeded  ? IcmpCounter::TimeExceeded
        : p.icmp_type == net::kIcmp6PacketTooBig ? IcmpCounter::PacketTooBig
                                                 : IcmpCounter::Unreachable);
  p.to_tx(p.in);
}

}  // namespace

void icmp_error(WorkerCtx& ctx, Burst& b) {
  each(b, Next::IcmpError, [&](PacketMeta& p) {
    if (p.has(PacketFlag::V6)) answer6(ctx, in_iface(ctx, p), p);
    else answer(ctx, in_iface(ctx, p), p);
  });
}

}  // namespace hafw::dp::stage
