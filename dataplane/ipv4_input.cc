// Stage ipv4_input: validate the header (RFC 1812 §5.2.2), refuse impossible
// sources, and split local delivery from transit.
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

bool impossible_destination(uint32_t a) {
  const uint8_t top = uint8_t(a >> 24);
  return top == 0 || top == 127 || (top >= 240 && a != 0xffffffff);
}

// Limited broadcast or the directed broadcast of one of our subnets. RFC 2644
// (BCP 34): routers must not forward directed broadcasts by default.
bool is_broadcast(const View& v, uint32_t dst) {
  if (dst == 0xffffffff) return true;
  for (const auto& i : v.ifaces)
    if (i.addr != 0 && i.plen <= 30 && dst == (i.addr | ~net::v4_mask(i.plen))) return true;
  return false;
}

}  // namespace

Result ipv4_input(Packet& p) {
  const size_t avail = p.len - sizeof(net::EthHdr);
  if (avail < sizeof(net::Ipv4Hdr)) return Result::dropped(DropReason::BadIpHeader);
  net::Ipv4Hdr* ip = ipv4_of(p.frame);
  const size_t ihl = ip->ihl_bytes();
  const size_t total = net::be16(ip->total_len);
  // The frame may carry Ethernet padding past total_len; it may not be shorter.
  if ((ip->ver_ihl >> 4) != 4 || ihl < sizeof(net::Ipv4Hdr) || total < ihl || total > avail)
    return Result::dropped(DropReason::BadIpHeader);
  if (net::inet_checksum(std::span<const uint8_t>(p.frame + sizeof(net::EthHdr), ihl)) != 0)
    return Result::dropped(DropReason::BadIpChecksum);

  const uint32_t src = net::be32(ip->src);
  const uint32_t dst = net::be32(ip->dst);
  // Nobody else may use our addresses; seeing one means a loop or spoofing.
  if (impossible_source(src) || p.v.is_node_addr(src) || p.v.owned_vip(src))
    return Result::dropped(DropReason::Martian);

  if (is_multicast(dst)) {
    if (ip->proto == net::kProtoCarp && dst == kCarpGroup) return ipv4_local(p, ip);
    if (ip->proto == net::kProtoPfsync && dst == kPfsyncGroup) return ipv4_local(p, ip);
    return Result::dropped(DropReason::LocalUnsupported);  // no multicast routing
  }
  if (is_broadcast(p.v, dst)) return Result::dropped(DropReason::LocalUnsupported);
  // Weak host model, as FreeBSD/pfSense: any node address on any interface,
  // and any VIP we are MASTER for, is local.
  if (p.v.is_node_addr(dst) || p.v.owned_vip(dst)) return ipv4_local(p, ip);
  if (p.v.is_configured_vip(dst)) return Result::dropped(DropReason::VipNotOwned);
  if (impossible_destination(dst)) return Result::dropped(DropReason::Martian);
  // RFC 1812 §5.3.4: a packet received as a link-layer broadcast or multicast
  // but not addressed to us is not forwarded.
  if (!p.l2_unicast) return Result::dropped(DropReason::NotForUs);
  return ipv4_forward(p, ip);
}

}  // namespace hafw::dp::stage
