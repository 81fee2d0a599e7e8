// Stage ipv4_local: packets addressed to this node. CARP and pfsync go to the
// control thread, ICMP to icmp_local, nothing else is served on the data
// ports (the control socket is a Unix socket).
#include "dataplane/stages.h"

namespace hafw::dp::stage {

namespace {

void local(PacketMeta& p) {
  const net::Ipv4Hdr* ip = ipv4_of(p);  // not a fragment: ipv4_input dropped those

  switch (ip->proto) {
    case net::kProtoCarp:
      return p.to_control(PuntReason::Carp);
    case net::kProtoPfsync:
      return p.to_control(PuntReason::Pfsync);
    case net::kProtoIcmp:
      // Echoing options back correctly (RFC 1122 §3.2.2.6: reverse source
      // routes, update timestamps) is more than a ping responder is worth.
      if (ip->ihl_bytes() != sizeof(net::Ipv4Hdr)) return p.to_drop(DropReason::LocalUnsupported);
      p.next = Next::IcmpLocal;
      return;
    default:
      return p.to_drop(DropReason::LocalUnsupported);
  }
}

}  // namespace

void ipv4_local(WorkerCtx&, Burst& b) { each(b, Next::Ipv4Local, local); }

}  // namespace hafw::dp::stage
