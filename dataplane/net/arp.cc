#include "dataplane/net/arp.h"

#include <cstring>

namespace hafw::net {

void write_arp(uint8_t* out, const ArpFrame& f) {
  const EthHdr eth{.dst = f.eth_dst, .src = f.eth_src, .type = be16(kEtherTypeArp)};
  const ArpHdr arp{.htype = be16(1),  // Ethernet
                   .ptype = be16(kEtherTypeIpv4),
                   .hlen = 6,
                   .plen = 4,
                   .op = be16(f.op),
                   .sha = f.sha,
                   .spa = be32(f.spa),
                   .tha = f.tha,
                   .tpa = be32(f.tpa)};
  std::memcpy(out, &eth, sizeof eth);
  std::memcpy(out + sizeof eth, &arp, sizeof arp);
}

std::vector<uint8_t> arp_frame(const ArpFrame& f) {
  std::vector<uint8_t> frame(kEthMinFrame, 0);
  write_arp(frame.data(), f);
  return frame;
}

}  // namespace hafw::net
