// Stage dnat: port forwards, for packets that match no state. A new TCP or
// UDP flow arriving on a port forward's interface for its VIP and port is
// sent to the forward's target before it is classified and routed, so it is
// transit traffic and the rules see the internal target (as in pfSense); the
// state it creates remembers the translation for the rest of the flow.
#include "dataplane/stages.h"

#include "dataplane/nat.h"

namespace hafw::dp::stage {

namespace {

void forward(const View& v, PacketMeta& p) {
  p.next = Next::Ipv4Classify;
  if (p.has(PacketFlag::IcmpError)) return;
  const net::Ipv4Hdr* ip = ipv4_of(p);
  if (ip->proto != net::kProtoTcp && ip->proto != net::kProtoUdp) return;
  uint16_t dport;
  std::memcpy(&dport, l4_of(p) + 2, 2);
  for (const PortForwardView& f : v.policy->forwards) {
    if (f.iface != p.in || f.proto != ip->proto || f.port != dport || f.destination.af != p.key.af ||
        std::memcmp(f.destination.b.data(), &ip->dst, 4) != 0)
      continue;
    // Only the VIP's master forwards: a BACKUP also receives frames for the
    // VIP sent to its own MAC, and ipv4_classify counts those (vip_not_owned).
    if (!v.owned->find(net::be32(ip->dst))) return;
    nat::set_dst(p, {f.target.b.data(), f.target_port});
    p.nat = NatDelta{.side = NatSide::Dst, .addr = f.target_ref, .port = f.target_port};
    p.set(PacketFlag::Translated);
    return;
  }
}

}  // namespace

void dnat(WorkerCtx& ctx, Burst& b) {
  each(b, Next::Dnat, [&](PacketMeta& p) { forward(ctx.view, p); });
}

}  // namespace hafw::dp::stage
