#include "carp/announce.h"

#include <cstring>

namespace hafw::carp {

Frame gratuitous_arp(const net::IpAddr& vip, const net::Mac& vmac) {
  Frame f(kEthMinFrame, 0);
  net::EthHdr eth{.dst = net::Mac::broadcast(), .src = vmac, .type = net::be16(net::kEtherTypeArp)};
  uint32_t addr;
  std::memcpy(&addr, vip.b.data(), 4);
  net::ArpHdr arp{
      .htype = net::be16(1),
      .ptype = net::be16(net::kEtherTypeIpv4),
      .hlen = 6,
      .plen = 4,
      .op = net::be16(net::kArpRequest),
      .sha = vmac,
      .spa = addr,
      .tha = net::Mac{{0, 0, 0, 0, 0, 0}},  // RFC 5227: ignored in an announcement, sent as zero
      .tpa = addr,
  };
  std::memcpy(f.data(), &eth, sizeof eth);
  std::memcpy(f.data() + sizeof eth, &arp, sizeof arp);
  return f;
}

}  // namespace hafw::carp
