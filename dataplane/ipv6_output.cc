// Stage ipv6_output: decrement the hop limit (IPv6 has no header checksum)
// and address the frame to the next hop, whose MAC Neighbor Discovery found.
#include "dataplane/stages.h"

namespace hafw::dp::stage {

namespace {

void output(const View& v, PacketMeta& p) {
  net::Ipv6Hdr* ip = ipv6_of(p);
  const IfaceView& out = v.topo->ifaces[p.out];
  --ip->hop_limit;
  const RouteView6& r = v.topo->routes6()[p.nexthop - 1];
  const uint8_t* hop = net::is_unspecified6(r.gateway.data()) ? ip->dst : r.gateway.data();
  // The control thread solicits the next hop it misses, holds the packet
  // and sends it once the neighbour advertises.
  send_to_neighbor(out, v.neighbors->find6(p.out, hop), p);
}

}  // namespace

void ipv6_output(WorkerCtx& ctx, Burst& b) {
  each(b, Next::Ipv6Output, [&](PacketMeta& p) { output(ctx.view, p); });
}

}  // namespace hafw::dp::stage
