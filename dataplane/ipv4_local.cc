// Stage ipv4_local: packets addressed to this node. CARP and pfsync go to the
// control thread, ICMP echo is answered here, nothing else is served on the
// data ports (the control socket is a Unix socket).
#include "dataplane/stages.h"

namespace hafw::dp::stage {

Result ipv4_local(Packet& p, net::Ipv4Hdr* ip) {
  // No reassembly: CARP adverts (56 bytes) and pfsync frames (sized to the
  // MTU by the sender) never fragment, and ICMP echo needs the whole datagram.
  const uint16_t frag = net::be16(ip->frag);
  if ((frag & 0x3fff) != 0) return Result::dropped(DropReason::IpFragment);  // MF set or offset != 0

  switch (ip->proto) {
    case net::kProtoCarp:
      return Result::to_control(PuntReason::Carp, p.in);
    case net::kProtoPfsync:
      return Result::to_control(PuntReason::Pfsync, p.in);
    case net::kProtoIcmp:
      // Echoing options back correctly (RFC 1122 §3.2.2.6: reverse source
      // routes, update timestamps) is more than a ping responder is worth.
      if (ip->ihl_bytes() != sizeof(net::Ipv4Hdr)) return Result::dropped(DropReason::LocalUnsupported);
      return icmp_input(p, ip);
    default:
      return Result::dropped(DropReason::LocalUnsupported);
  }
}

}  // namespace hafw::dp::stage
