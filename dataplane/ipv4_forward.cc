// Stage ipv4_forward: route, decrement TTL, rewrite MACs (RFC 1812 §5.3).
// Fragments are forwarded as they are: a router needs no reassembly.
#include "dataplane/stages.h"

namespace hafw::dp::stage {

Result ipv4_forward(Packet& p, net::Ipv4Hdr* ip) {
  // RFC 1812 §5.3.1: a packet arriving with TTL 0 or 1 must not be forwarded.
  if (ip->ttl <= 1) return Result::dropped(DropReason::TtlExceeded);
  const uint32_t dst = net::be32(ip->dst);
  const RouteView* r = p.v.route(dst);
  if (!r) return Result::dropped(DropReason::NoRoute);
  const IfaceView* out = p.v.iface(r->iface);
  if (!out) return Result::dropped(DropReason::NoRoute);  // a route to a port this view lacks
  const uint32_t nexthop = r->gateway != 0 ? r->gateway : dst;

  // RFC 1624: update the checksum for the one changed word instead of
  // summing the header again.
  const uint16_t old_word = word_at(&ip->ttl);  // TTL and protocol share a word
  --ip->ttl;
  ip->csum = net::checksum_adjust(ip->csum, old_word, word_at(&ip->ttl));

  net::EthHdr* eth = eth_of(p.frame);
  eth->src = out->mac;
  const net::Mac* mac = p.v.neighbors.find(r->iface, nexthop);
  // The control thread ARPs for the next hop, holds the packet and sends it
  // once the neighbour answers; the frame is ready but for eth dst.
  if (!mac) return Result::to_control(PuntReason::Resolve, r->iface, nexthop);
  eth->dst = *mac;
  return Result::forward(r->iface);
}

}  // namespace hafw::dp::stage
