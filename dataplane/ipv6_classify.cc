// Stage ipv6_classify: local delivery or transit, for IPv6 (ipv4_classify's
// twin: it runs after the state lookup found no state).
#include "dataplane/stages.h"

namespace hafw::dp::stage {

namespace {

// Multicast this node listens to on the receiving interface: all nodes, the
// solicited-node groups of its addresses and of the VIPs configured there
// (where Neighbor Solicitations for them arrive: ipv6_local answers for a
// VIP only while MASTER), and CARP's ff02::12 for CARP. Nothing else: there
// is no multicast routing, and a router's other groups (all routers, MLD)
// serve nothing here.
bool listens(const View& v, const IfaceView& ifc, uint8_t in, const uint8_t* group, uint8_t proto) {
  if (!ifc.has6()) return false;
  return std::memcmp(group, net::kAllNodes.data(), 16) == 0 || net::is_solicited_node_of(group, ifc.addr6.data()) ||
         net::is_solicited_node_of(group, ifc.ll6.data()) ||
         (proto == net::kProtoCarp && std::memcmp(group, kCarpGroup6.data(), 16) == 0) ||
         v.topo->configured_vips.has_solicited_node6(in, group);
}

void classify(const View& v, PacketMeta& p) {
  const uint8_t* ip = p.data + p.l3;
  const uint8_t* src = ip + 8;
  const uint8_t* dst = ip + 24;
  const IfaceView& ifc = v.topo->ifaces[p.in];
  if (net::is_multicast6(dst)) {
    if (listens(v, ifc, p.in, dst, p.proto)) {
      p.next = Next::Ipv6Local;
      return;
    }
    return p.to_drop(DropReason::LocalUnsupported);
  }
  // Weak host model as for IPv4: any node address and any VIP this node is
  // MASTER for is local, but a link-local address only on its own link.
  if (ifc.is_addr6(dst) || (!net::is_link_local6(dst) && (v.topo->is_node_addr6(dst) || v.owned->find6(dst)))) {
    p.next = Next::Ipv6Local;
    return;
  }
  if (v.topo->configured_vips.find6(dst)) return p.to_drop(DropReason::VipNotOwned);
  // The unspecified source is a host probing for its address (duplicate
  // address detection), which only ND to this node may carry. Link-local
  // addresses never leave their link (RFC 4291 §2.5.6). Unspecified,
  // loopback and IPv4-mapped destinations are nobody's.
  if (net::is_unspecified6(src) || net::is_link_local6(src) || net::is_link_local6(dst) ||
      net::is_unspecified6(dst) || net::is_loopback6(dst) || net::is_v4_mapped6(dst))
    return p.to_drop(DropReason::Martian);
  if (!p.has(PacketFlag::L2Unicast)) return p.to_drop(DropReason::NotForUs);
  p.next = Next::Ipv6Route;
}

}  // namespace

void ipv6_classify(WorkerCtx& ctx, Burst& b) {
  each(b, Next::Ipv6Classify, [&](PacketMeta& p) { classify(ctx.view, p); });
}

}  // namespace hafw::dp::stage
