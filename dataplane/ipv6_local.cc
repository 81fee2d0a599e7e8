// Stage ipv6_local: ICMPv6 and CARP addressed to this node. CARP (next
// header 112, to ff02::12 or a node address) goes to the control thread, as
// ipv4_local sends IPv4's. Neighbor Solicitations for its addresses, and for
// the VIPs it is MASTER for, are answered in place with an advertisement
// (RFC 4861 §7.2.4), as arp_input answers ARP; one for a VIP the peer owns
// is counted (vip_not_owned) and not answered. Advertisements and other
// hosts' solicitations go to the control thread, which learns neighbours
// from them; echo requests get their reply in place (RFC 4443 §4.2). Nothing
// else is served: no router advertisements (hosts are configured), no MLD.
#include "dataplane/stages.h"

namespace hafw::dp::stage {

namespace {

constexpr uint8_t kDefaultHopLimit = 64;

// RFC 4861 §7.1.1 and §7.1.2: what makes an NS or NA valid. Returns the
// link-layer address option of `want` type, if present (null otherwise),
// through `lla`.
bool nd_valid(const uint8_t* ip, const uint8_t* m, size_t len, uint8_t want, const uint8_t*& lla) {
  lla = nullptr;
  if (ip[7] != net::kNdHopLimit || m[1] != 0 || len < 24 || net::is_multicast6(m + 8)) return false;
  for (size_t o = 24; o < len;) {
    if (len - o < 2 || m[o + 1] == 0) return false;  // an option of length 0 is invalid
    const size_t olen = size_t(m[o + 1]) * 8;
    if (olen > len - o) return false;
    if (m[o] == want && olen >= 8) lla = m + o + 2;
    o += olen;
  }
  return true;
}

void solicitation(const View& v, const IfaceView& ifc, PacketMeta& p, const uint8_t* ip, const uint8_t* m,
                  size_t len) {
  const uint8_t* slla;
  if (!nd_valid(ip, m, len, net::kNdOptSourceLla, slla)) return p.to_drop(DropReason::BadNd);
  const uint8_t* src = ip + 8;
  const bool dad = net::is_unspecified6(src);
  // A probe for an address (unspecified source) goes to the solicited-node
  // group and carries no link-layer address (RFC 4861 §7.1.1).
  if (dad && (!net::is_solicited_node_of(ip + 24, m + 8) || slla)) return p.to_drop(DropReason::BadNd);
  const uint8_t* target = m + 8;
  // Our address answers with the interface MAC; a VIP we are MASTER for
  // with its virtual MAC (as arp_input answers ARP for it), so hosts cache
  // the MAC that moves with the VIP. OpenBSD answers for a carp address
  // only while MASTER (carp_iamatch6), with the same flags as for its own.
  net::Mac answer_as = ifc.mac;
  if (!ifc.is_addr6(target)) {
    if (const VipView6* vip = v.owned->find6_on(p.in, target)) {
      answer_as = vip->vmac;
    } else if (v.topo->configured_vips.find6_on(p.in, target)) {
      // The peer is MASTER: it answers; a second answer would be split brain.
      return p.to_drop(DropReason::VipNotOwned);
    } else {
      // Another host asked about a neighbour: its own address and MAC keep
      // an entry we have fresh (the control thread only updates).
      if (!dad && slla) return p.to_control(PuntReason::Nd);
      return p.to_drop(DropReason::NotForUs);
    }
  }
  if (p.room < net::kNdFrameLen) return p.to_drop(DropReason::BadNd);
  net::Mac to;
  if (dad) {
    to = net::multicast_mac(net::kAllNodes.data());
  } else if (slla) {
    std::memcpy(to.b.data(), slla, 6);
  } else {
    to = eth_of(p)->src;
  }
  if (to.is_multicast() && !dad) return p.to_drop(DropReason::BadNd);
  net::NdFrame na{.eth_dst = to,
                  .eth_src = answer_as,
                  .src = {},
                  .dst = dad ? net::kAllNodes : net::Addr6{},
                  .type = net::kNdNeighborAdvert,
                  // A router says so; a reply to a probe for our address
                  // defends it and is not solicited (RFC 4861 §7.2.4).
                  .flags = uint8_t(net::kNaRouter | net::kNaOverride | (dad ? 0 : net::kNaSolicited)),
                  .target = {},
                  .lla = answer_as};
  std::memcpy(na.src.data(), target, 16);
  std::memcpy(na.target.data(), target, 16);
  if (!dad) std::memcpy(na.dst.data(), src, 16);
  net::write_nd(p.data, na);
  p.len = uint16_t(net::kNdFrameLen);
  p.to_tx(p.in);
}

void advertisement(PacketMeta& p, const uint8_t* ip, const uint8_t* m, size_t len) {
  const uint8_t* tlla;
  if (!nd_valid(ip, m, len, net::kNdOptTargetLla, tlla)) return p.to_drop(DropReason::BadNd);
  // A solicited advertisement is unicast (RFC 4861 §7.1.2).
  if (net::is_multicast6(ip + 24) && (m[4] & net::kNaSolicited)) return p.to_drop(DropReason::BadNd);
  p.to_control(PuntReason::Nd);
}

void echo(const View& v, const IfaceView& ifc, PacketMeta& p, uint8_t* ip, uint8_t* m) {
  if (m[1] != 0 || net::is_multicast6(ip + 24)) return p.to_drop(DropReason::LocalUnsupported);
  // Type 128 -> 129; id, sequence and data unchanged. The pseudo header's
  // sum does not change when source and destination swap.
  const uint16_t old_word = net::load16(m);
  m[0] = net::kIcmp6EchoReply;
  uint16_t csum;
  std::memcpy(&csum, m + 2, 2);
  csum = net::checksum_adjust(csum, old_word, net::load16(m));
  std::memcpy(m + 2, &csum, 2);
  uint8_t asked[16];
  std::memcpy(asked, ip + 24, 16);
  std::memmove(ip + 24, ip + 8, 16);
  std::memcpy(ip + 8, asked, 16);
  ip[7] = kDefaultHopLimit;
  net::EthHdr* eth = eth_of(p);
  const net::Mac to = eth->src;
  // A VIP answers from its virtual MAC (icmp_local does the same for IPv4),
  // so the host's neighbour entry never changes across a failover.
  const VipView6* vip = v.owned->find6_on(p.in, ip + 8);
  eth->src = vip ? vip->vmac : ifc.mac;
  eth->dst = to;
  p.to_tx(p.in);
}

void local(const View& v, PacketMeta& p) {
  // CARP to ff02::12 or to one of our addresses (unicast CARP): the control
  // thread's election, on the CARP punt ring drained first.
  if (p.proto == net::kProtoCarp) return p.to_control(PuntReason::Carp);
  if (p.proto != net::kProtoIcmpv6) return p.to_drop(DropReason::LocalUnsupported);
  uint8_t* ip = p.data + p.l3;
  uint8_t* m = p.data + p.l4;
  const size_t len = l4_len(p);
  const uint8_t type = m[0];
  const bool nd = type == net::kNdNeighborSolicit || type == net::kNdNeighborAdvert;
  // RFC 4443 §2.4: a message with a bad checksum is discarded; checking
  // also keeps us from laundering a corrupted request into a valid reply.
  if (net::icmp6_checksum(ip, m, len) != 0) return p.to_drop(nd ? DropReason::BadNd : DropReason::BadIcmp);
  // ND and the echo reply are built for a header followed by the message.
  if (p.l4 != p.l3 + sizeof(net::Ipv6Hdr)) return p.to_drop(DropReason::LocalUnsupported);
  const IfaceView& ifc = v.topo->ifaces[p.in];
  switch (type) {
    case net::kNdNeighborSolicit:
      return solicitation(v, ifc, p, ip, m, len);
    case net::kNdNeighborAdvert:
      return advertisement(p, ip, m, len);
    case net::kIcmp6EchoRequest:
      return echo(v, ifc, p, ip, m);
    default:
      return p.to_drop(DropReason::LocalUnsupported);
  }
}

}  // namespace

void ipv6_local(WorkerCtx& ctx, Burst& b) {
  each(b, Next::Ipv6Local, [&](PacketMeta& p) { local(ctx.view, p); });
}

}  // namespace hafw::dp::stage
