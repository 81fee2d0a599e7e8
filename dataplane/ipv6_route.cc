// Stage ipv6_route: the outgoing interface and next hop by longest-prefix
// match over the connected prefixes (address6) and static routes, as
// ipv4_route. It decides only; ipv6_output rewrites the frame. A router does
// not fragment IPv6 (RFC 8200 §5): a packet longer than the egress MTU is
// answered with packet too big, which path MTU discovery needs. A packet
// hafw reassembled is cut again at the sender's own fragment size, so only
// a fragment that was itself too big is answered so.
#include "dataplane/stages.h"

namespace hafw::dp::stage {

namespace {

void route(const Topology& t, PacketMeta& p) {
  const net::Ipv6Hdr* ip = ipv6_of(p);
  // RFC 8200 §3 and RFC 4443 §3.3: hop limit exceeded in transit.
  if (ip->hop_limit <= 1) return p.to_icmp_error(DropReason::TtlExceeded, net::kIcmp6TimeExceeded, 0);
  const RouteView6* r = t.route6(ip->dst);
  // RFC 4443 §3.1: code 0, no route to destination.
  if (!r || !t.iface(r->iface)) return p.to_icmp_error(DropReason::NoRoute, net::kIcmp6Unreachable, 0);
  p.out = r->iface;
  // A reassembled packet leaves as fragments again, each at most the size
  // of the largest it came in (the glue's fragment6): those must fit.
  const uint32_t bytes = p.has(PacketFlag::Reassembled) && p.frag_size ? p.frag_size : ip_bytes(p);
  if (bytes > t.ifaces[r->iface].mtu) return p.to_icmp_error(DropReason::TooBig, net::kIcmp6PacketTooBig, 0);
  p.nexthop = uint32_t(r - t.routes6().data()) + 1;
  p.next = p.state != kNoState ? Next::Ipv6Output : Next::Filter;
}

}  // namespace

void ipv6_route(WorkerCtx& ctx, Burst& b) {
  each(b, Next::Ipv6Route, [&](PacketMeta& p) { route(*ctx.view.topo, p); });
}

}  // namespace hafw::dp::stage
