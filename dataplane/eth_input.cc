// Stage eth_input: accept the frames this node must see, dispatch by EtherType.
//
// The ports are in promiscuous mode in practice (af_packet on a bridge sees
// every frame of the segment), so the destination MAC filter is ours to do.
#include "dataplane/stages.h"

namespace hafw::dp::stage {

Result eth_input(Packet& p) {
  if (p.len < sizeof(net::EthHdr)) return Result::dropped(DropReason::Runt);
  const net::EthHdr* eth = eth_of(p.frame);

  // Our own transmissions can come back: every DPDK af_packet queue is its own
  // socket and sees what the other queues send. A frame from our own MAC, or a
  // multicast source (invalid on Ethernet), is never a neighbour's.
  if (eth->src == p.iface.mac || eth->src.is_multicast()) return Result::dropped(DropReason::Martian);

  if (eth->dst.is_multicast()) {  // includes broadcast
    p.l2_unicast = false;
  } else if (eth->dst == p.iface.mac || p.v.owns_vmac(p.in, eth->dst)) {
    // The MASTER receives what is sent to the virtual MAC (DESIGN: "forwards
    // traffic sent to the virtual MAC").
    p.l2_unicast = true;
  } else if (p.v.is_configured_vmac(p.in, eth->dst)) {
    // "The backup forwards nothing for the VIP": the switch still floods the
    // virtual MAC to us until it learns the master's port.
    return Result::dropped(DropReason::VipNotOwned);
  } else {
    return Result::dropped(DropReason::NotForUs);
  }

  switch (net::be16(eth->type)) {
    case net::kEtherTypeArp:
      return arp_input(p);
    case net::kEtherTypeIpv4:
      return ipv4_input(p);
    default:  // IPv6, 802.1Q and the rest: not handled yet, counted.
      return Result::dropped(DropReason::UnknownEtherType);
  }
}

}  // namespace hafw::dp::stage
