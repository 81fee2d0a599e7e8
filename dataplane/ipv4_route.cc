// Stage ipv4_route: choose the outgoing interface and next hop by
// longest-prefix match (RFC 1812 §5.2.4). It decides only; ipv4_output
// rewrites the frame, so that the filter and source NAT, which run between
// the two for a packet without a state, see the packet as it arrived along
// with where it will go. A packet on a state goes straight to output.
#include "dataplane/stages.h"

namespace hafw::dp::stage {

namespace {

void route(const Topology& t, PacketMeta& p) {
  const net::Ipv4Hdr* ip = ipv4_of(p);
  // RFC 1812 §5.3.1: a packet arriving with TTL 0 or 1 must not be forwarded;
  // the sender hears why (time exceeded in transit), which traceroute uses.
  if (ip->ttl <= 1) return p.to_icmp_error(DropReason::TtlExceeded, net::kIcmpTimeExceeded, 0);
  const uint32_t dst = net::be32(ip->dst);
  const RouteView* r = t.route(dst);
  // RFC 1812 §5.2.7.1: network unreachable.
  if (!r || !t.iface(r->iface)) return p.to_icmp_error(DropReason::NoRoute, net::kIcmpUnreachable, 0);
  p.out = r->iface;
  p.nexthop = r->gateway != 0 ? r->gateway : dst;
  p.next = p.state != kNoState ? Next::Ipv4Output : Next::Filter;
}

}  // namespace

void ipv4_route(WorkerCtx& ctx, Burst& b) {
  each(b, Next::Ipv4Route, [&](PacketMeta& p) { route(*ctx.view.topo, p); });
}

}  // namespace hafw::dp::stage
