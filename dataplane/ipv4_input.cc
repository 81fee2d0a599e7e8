// Stage ipv4_input: validate the header (RFC 1812 §5.2.2), refuse impossible
// sources, and record where the transport header starts and which flow the
// packet belongs to.
#include "dataplane/stages.h"

#include <span>

namespace hafw::dp::stage {

namespace {

// RFC 1812 §5.3.7 and §4.2.2.11: addresses that must never appear as a source
// on the wire. 0.0.0.0 is allowed only for a host learning its address (DHCP),
// which a router neither forwards nor serves here.
bool impossible_source(uint32_t a) {
  const uint8_t top = uint8_t(a >> 24);
  return top == 0 || top == 127 || top >= 224;  // this-net, loopback, multicast, class E, broadcast
}

// The flow key: addresses, protocol, and the ports of TCP/UDP (the ICMP echo
// identifier stands in for a port, as pf does). A non-first fragment has no
// transport header; its ports stay zero.
void flow_key(PacketMeta& p, const net::Ipv4Hdr& ip, size_t l4_len) {
  net::FlowKey& k = p.key;
  k = net::FlowKey{};
  k.af = net::Family::V4;
  k.proto = ip.proto;
  std::memcpy(k.src.data(), &ip.src, 4);
  std::memcpy(k.dst.data(), &ip.dst, 4);
  if ((net::be16(ip.frag) & 0x1fff) != 0) return;
  const uint8_t* l4 = p.data + p.l4;
  if ((ip.proto == net::kProtoTcp || ip.proto == net::kProtoUdp) && l4_len >= 4) {
    std::memcpy(&k.sport, l4, 2);
    std::memcpy(&k.dport, l4 + 2, 2);
  } else if (ip.proto == net::kProtoIcmp && l4_len >= sizeof(net::IcmpHdr) &&
             (l4[0] == net::kIcmpEchoRequest || l4[0] == net::kIcmpEchoReply)) {
    std::memcpy(&k.sport, l4 + 4, 2);
  }
}

void input(const View& v, PacketMeta& p) {
  const size_t avail = p.len - p.l3;
  if (avail < sizeof(net::Ipv4Hdr)) return p.to_drop(DropReason::BadIpHeader);
  const net::Ipv4Hdr* ip = ipv4_of(p);
  const size_t ihl = ip->ihl_bytes();
  const size_t total = net::be16(ip->total_len);
  // The frame may carry Ethernet padding past total_len; it may not be shorter.
  if ((ip->ver_ihl >> 4) != 4 || ihl < sizeof(net::Ipv4Hdr) || total < ihl || total > avail)
    return p.to_drop(DropReason::BadIpHeader);
  if (net::ipv4_header_checksum(p.data + p.l3, ihl) != 0)
    return p.to_drop(DropReason::BadIpChecksum);

  const uint32_t src = net::be32(ip->src);
  // Nobody else may use our addresses; seeing one means a loop or spoofing.
  if (impossible_source(src) || v.topo->is_node_addr(src) || v.owned->find(src))
    return p.to_drop(DropReason::Martian);

  p.l4 = uint8_t(p.l3 + ihl);
  flow_key(p, *ip, total - ihl);
  p.next = Next::Ipv4Classify;
}

}  // namespace

void ipv4_input(WorkerCtx& ctx, Burst& b) {
  each(b, Next::Ipv4Input, [&](PacketMeta& p) { input(ctx.view, p); });
}

}  // namespace hafw::dp::stage
