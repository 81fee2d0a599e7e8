// Stage arp_input: answer ARP for the node's addresses and owned VIPs, hand
// the rest of the segment's ARP to the control thread for neighbour learning.
#include "dataplane/stages.h"

#include "dataplane/net/arp.h"

namespace hafw::dp::stage {

namespace {

// Turn the request in place into the reply RFC 826 describes: our hardware
// address as sender, the requester as target, sent to the requester.
void reply(PacketMeta& p, const net::ArpHdr& req, uint32_t asked, const net::Mac& our_mac) {
  net::write_arp(p.data, net::ArpFrame{.eth_dst = req.sha,
                                       .eth_src = our_mac,
                                       .op = net::kArpReply,
                                       .sha = our_mac,
                                       .spa = asked,
                                       .tha = req.sha,
                                       .tpa = net::be32(req.spa)});
  p.to_tx(p.in);
}

void input(const View& v, const IfaceView& ifc, PacketMeta& p) {
  if (p.len < p.l3 + sizeof(net::ArpHdr)) return p.to_drop(DropReason::BadArp);
  const net::ArpHdr arp = *arp_of(p);
  const uint16_t op = net::be16(arp.op);
  if (net::be16(arp.htype) != 1 || net::be16(arp.ptype) != net::kEtherTypeIpv4 || arp.hlen != 6 ||
      arp.plen != 4 || (op != net::kArpRequest && op != net::kArpReply))
    return p.to_drop(DropReason::BadArp);
  // OpenBSD in_arpinput refuses a broadcast sender address ("ether address is
  // broadcast"); a multicast one is as bogus and would poison the table.
  if (arp.sha.is_multicast()) return p.to_drop(DropReason::BadArp);

  const uint32_t spa = net::be32(arp.spa);
  const uint32_t tpa = net::be32(arp.tpa);

  // Our own gratuitous ARPs and replies looped back (sender MAC ours).
  if (arp.sha == ifc.mac || v.owned->has_vmac(p.in, arp.sha)) return p.to_drop(DropReason::Martian);
  // Someone else claims one of our addresses: a duplicate node address or the
  // peer answering for a VIP we hold. Never answer; the control thread sees it.
  if (spa != 0 && (spa == ifc.addr || v.owned->find_on(p.in, spa))) return p.to_control(PuntReason::Arp);

  if (op == net::kArpRequest && tpa != 0) {
    if (tpa == ifc.addr) return reply(p, arp, tpa, ifc.mac);
    // The master answers ARP for the VIP with the virtual MAC, so hosts keep
    // one MAC for the VIP across failovers.
    if (const VipView* vip = v.owned->find_on(p.in, tpa)) return reply(p, arp, tpa, vip->vmac);
    // The backup never answers for it.
    if (v.topo->configured_vips.find(tpa)) return p.to_drop(DropReason::VipNotOwned);
  }

  // Replies, gratuitous ARPs and other hosts' requests from our subnet keep
  // the neighbour table fresh (RFC 826: update the sender's entry if present).
  if (ifc.addr != 0 && spa != 0 && net::v4_in(spa, ifc.addr, ifc.plen)) return p.to_control(PuntReason::Arp);
  p.to_drop(DropReason::NotForUs);
}

}  // namespace

void arp_input(WorkerCtx& ctx, Burst& b) {
  each(b, Next::ArpInput, [&](PacketMeta& p) { input(ctx.view, in_iface(ctx, p), p); });
}

}  // namespace hafw::dp::stage
