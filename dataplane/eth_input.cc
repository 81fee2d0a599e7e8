// Stage eth_input: accept the frames this node must see, dispatch by EtherType.
//
// The ports are in promiscuous mode in practice (af_packet on a bridge sees
// every frame of the segment), so the destination MAC filter is ours to do.
#include "dataplane/stages.h"

namespace hafw::dp::stage {

namespace {

// 00:00:5e:00:01:xx, a CARP/VRRP virtual MAC (the VHID in the last byte).
bool is_vmac(const net::Mac& m) { return m.b[0] == 0 && m.b[1] == 0 && m.b[2] == 0x5e && m.b[3] == 0 && m.b[4] == 1; }

// Whether a frame from one of our virtual MACs may be our own come back (an
// af_packet queue sees what the others send): what this node sends from a
// virtual MAC is CARP adverts (IPv4 from the interface address, IPv6 from its
// link-local address), gratuitous ARP and ARP replies (sender a VIP of
// ours), and echo replies and Neighbor Advertisements (from a VIP of ours).
// Anything else another station sent. Only the fields at their fixed offsets
// are read; the later stages validate the headers.
bool maybe_ours(const View& v, const IfaceView& ifc, const PacketMeta& p, uint16_t type) {
  constexpr size_t kEth = sizeof(net::EthHdr);
  uint32_t src;
  if (type == net::kEtherTypeArp && p.len >= kEth + sizeof(net::ArpHdr))
    src = net::be32(reinterpret_cast<const net::ArpHdr*>(p.data + kEth)->spa);
  else if (type == net::kEtherTypeIpv4 && p.len >= kEth + sizeof(net::Ipv4Hdr))
    src = net::be32(reinterpret_cast<const net::Ipv4Hdr*>(p.data + kEth)->src);
  else if (type == net::kEtherTypeIpv6 && p.len >= kEth + sizeof(net::Ipv6Hdr))
    return ifc.is_addr6(p.data + kEth + 8) || v.owned->find6_on(p.in, p.data + kEth + 8) != nullptr;
  else
    return false;
  return src == ifc.addr || v.owned->find_on(p.in, src) != nullptr;
}

void input(WorkerCtx& ctx, PacketMeta& p) {
  const View& v = ctx.view;
  const IfaceView* ifc = v.topo->iface(p.in);
  // A frame from a port the topology does not know (a snapshot built for
  // fewer ports than the glue polls) cannot be ours.
  if (!ifc) return p.to_drop(DropReason::NotForUs);
  if (p.len < sizeof(net::EthHdr)) return p.to_drop(DropReason::Runt);
  const net::EthHdr* eth = eth_of(p);

  // Our own transmissions can come back: every DPDK af_packet queue is its own
  // socket and sees what the other queues send. A frame from our own MAC, or a
  // multicast source (invalid on Ethernet), is never a neighbour's.
  if (eth->src == ifc->mac || eth->src.is_multicast()) return p.to_drop(DropReason::Martian);

  // Our virtual MAC from another station (whatever the frame's destination:
  // the port is promiscuous): counted for the control thread to report, and
  // otherwise handled as any frame (it may be the peer's advert, which the
  // election must hear). One compare for every other frame.
  const uint16_t type = net::be16(eth->type);
  if (is_vmac(eth->src) && v.owned->has_vmac(p.in, eth->src) && !maybe_ours(v, *ifc, p, type))
    ctx.counters->add_vmac_from_other(eth->src.b[5]);

  if (eth->dst.is_multicast()) {  // includes broadcast
  } else if (eth->dst == ifc->mac || v.owned->has_vmac(p.in, eth->dst)) {
    // The MASTER receives what is sent to the virtual MAC.
    p.set(PacketFlag::L2Unicast);
  } else if (v.topo->configured_vips.has_vmac(p.in, eth->dst)) {
    // "The backup forwards nothing for the VIP": the switch still floods the
    // virtual MAC to us until it learns the master's port.
    return p.to_drop(DropReason::VipNotOwned);
  } else {
    return p.to_drop(DropReason::NotForUs);
  }

  p.l3 = sizeof(net::EthHdr);
  switch (type) {
    case net::kEtherTypeArp:
      p.next = Next::ArpInput;
      return;
    case net::kEtherTypeIpv4:
      p.next = Next::Ipv4Input;
      return;
    case net::kEtherTypeIpv6:
      p.next = Next::Ipv6Input;
      return;
    default:  // 802.1Q and the rest: not handled yet, counted.
      return p.to_drop(DropReason::UnknownEtherType);
  }
}

}  // namespace

void eth_input(WorkerCtx& ctx, Burst& b) {
  each(b, Next::EthInput, [&](PacketMeta& p) { input(ctx, p); });
}

}  // namespace hafw::dp::stage
