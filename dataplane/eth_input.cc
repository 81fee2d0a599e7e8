// Stage eth_input: accept the frames this node must see, dispatch by EtherType.
//
// The ports are in promiscuous mode in practice (af_packet on a bridge sees
// every frame of the segment), so the destination MAC filter is ours to do.
#include "dataplane/stages.h"

namespace hafw::dp::stage {

namespace {

void input(const View& v, PacketMeta& p) {
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
  switch (net::be16(eth->type)) {
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
  each(b, Next::EthInput, [&](PacketMeta& p) { input(ctx.view, p); });
}

}  // namespace hafw::dp::stage
