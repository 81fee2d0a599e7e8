#include "carp/announce.h"

#include "dataplane/net/arp.h"

namespace hafw::carp {

Frame gratuitous_arp(const net::IpAddr& vip, const net::Mac& vmac) {
  // RFC 5227: the target hardware address is ignored in an announcement and
  // sent as zero.
  return net::arp_frame(net::ArpFrame{.eth_dst = net::Mac::broadcast(),
                                      .eth_src = vmac,
                                      .op = net::kArpRequest,
                                      .sha = vmac,
                                      .spa = vip.v4(),
                                      .tha = net::Mac{},
                                      .tpa = vip.v4()});
}

}  // namespace hafw::carp
