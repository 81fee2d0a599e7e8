// Stage arp_input: answer ARP for the node's addresses and owned VIPs, hand
// the rest of the segment's ARP to the control thread for neighbour learning.
#include "dataplane/stages.h"

namespace hafw::dp::stage {

namespace {

// Turn the request in place into the reply RFC 826 describes: swap sender
// and target, put our hardware address in as sender, send it back to the
// requester's hardware address.
Result reply(Packet& p, net::ArpHdr* arp, const net::Mac& our_mac) {
  net::EthHdr* eth = eth_of(p.frame);
  const uint32_t asked = arp->tpa;
  arp->op = net::be16(net::kArpReply);
  arp->tha = arp->sha;
  arp->tpa = arp->spa;
  arp->sha = our_mac;
  arp->spa = asked;
  eth->dst = arp->tha;
  eth->src = our_mac;
  return Result::reply(p.in);
}

}  // namespace

Result arp_input(Packet& p) {
  if (p.len < sizeof(net::EthHdr) + sizeof(net::ArpHdr)) return Result::dropped(DropReason::BadArp);
  net::ArpHdr* arp = arp_of(p.frame);
  const uint16_t op = net::be16(arp->op);
  if (net::be16(arp->htype) != 1 || net::be16(arp->ptype) != net::kEtherTypeIpv4 || arp->hlen != 6 ||
      arp->plen != 4 || (op != net::kArpRequest && op != net::kArpReply))
    return Result::dropped(DropReason::BadArp);
  // OpenBSD in_arpinput refuses a broadcast sender address ("ether address is
  // broadcast"); a multicast one is as bogus and would poison the table.
  if (arp->sha.is_multicast()) return Result::dropped(DropReason::BadArp);

  const uint32_t spa = net::be32(arp->spa);
  const uint32_t tpa = net::be32(arp->tpa);

  // Our own gratuitous ARPs and replies looped back (sender MAC ours).
  if (arp->sha == p.iface.mac || p.v.owns_vmac(p.in, arp->sha)) return Result::dropped(DropReason::Martian);
  // Someone else claims one of our addresses: a duplicate node address or the
  // peer answering for a VIP we hold. Never answer; the control thread sees it.
  if (spa != 0 && (spa == p.iface.addr || p.v.owned_vip_on(p.in, spa)))
    return Result::to_control(PuntReason::Arp, p.in);

  if (op == net::kArpRequest && tpa != 0) {
    if (tpa == p.iface.addr) return reply(p, arp, p.iface.mac);
    // DESIGN: "The master answers ARP for the VIP" with the virtual MAC, so
    // hosts keep one MAC for the VIP across failovers.
    if (const VipView* vip = p.v.owned_vip_on(p.in, tpa)) return reply(p, arp, vip->vmac);
    // "The backup ... never answers for it."
    if (p.v.is_configured_vip(tpa)) return Result::dropped(DropReason::VipNotOwned);
  }

  // Replies, gratuitous ARPs and other hosts' requests from our subnet keep
  // the neighbour table fresh (RFC 826: update the sender's entry if present).
  if (p.iface.addr != 0 && spa != 0 && net::v4_in(spa, p.iface.addr, p.iface.plen))
    return Result::to_control(PuntReason::Arp, p.in);
  return Result::dropped(DropReason::NotForUs);
}

}  // namespace hafw::dp::stage
