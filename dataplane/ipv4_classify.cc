// Stage ipv4_classify: local delivery or transit. It runs after the state
// lookup and destination NAT will have run, so that a packet whose
// destination NAT rewrote a VIP to an inside host is transit, not local.
#include "dataplane/stages.h"

namespace hafw::dp::stage {

namespace {

bool impossible_destination(uint32_t a) {
  const uint8_t top = uint8_t(a >> 24);
  return top == 0 || top == 127 || (top >= 240 && a != 0xffffffff);
}

// Limited broadcast or the directed broadcast of one of our subnets. RFC 2644
// (BCP 34): routers must not forward directed broadcasts by default.
bool is_broadcast(const Topology& t, uint32_t dst) {
  if (dst == 0xffffffff) return true;
  for (const auto& i : t.ifaces)
    if (i.addr != 0 && i.plen <= 30 && dst == (i.addr | ~net::v4_mask(i.plen))) return true;
  return false;
}

void classify(const View& v, PacketMeta& p) {
  const net::Ipv4Hdr* ip = ipv4_of(p);
  const uint32_t dst = net::be32(ip->dst);
  if (is_multicast(dst)) {
    if ((ip->proto == net::kProtoCarp && dst == kCarpGroup) ||
        (ip->proto == net::kProtoPfsync && dst == kPfsyncGroup)) {
      p.next = Next::Ipv4Local;
      return;
    }
    return p.to_drop(DropReason::LocalUnsupported);  // no multicast routing
  }
  if (is_broadcast(*v.topo, dst)) return p.to_drop(DropReason::LocalUnsupported);
  // Weak host model, as FreeBSD/pfSense: any node address on any interface,
  // and any VIP we are MASTER for, is local.
  if (v.topo->is_node_addr(dst) || v.owned->find(dst)) {
    p.next = Next::Ipv4Local;
    return;
  }
  if (v.topo->configured_vips.find(dst)) return p.to_drop(DropReason::VipNotOwned);
  if (impossible_destination(dst)) return p.to_drop(DropReason::Martian);
  // RFC 1812 §5.3.4: a packet received as a link-layer broadcast or multicast
  // but not addressed to us is not forwarded.
  if (!p.has(PacketFlag::L2Unicast)) return p.to_drop(DropReason::NotForUs);
  p.next = Next::Ipv4Route;
}

}  // namespace

void ipv4_classify(WorkerCtx& ctx, Burst& b) {
  each(b, Next::Ipv4Classify, [&](PacketMeta& p) { classify(ctx.view, p); });
}

}  // namespace hafw::dp::stage
