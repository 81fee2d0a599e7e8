#include "carp/announce.h"

#include "dataplane/net/arp.h"
#include "dataplane/net/ipv6.h"

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

Frame unsolicited_na(const net::IpAddr& vip, const net::Mac& vmac) {
  return net::nd_frame(net::NdFrame{.eth_dst = net::multicast_mac(net::kAllNodes.data()),
                                    .eth_src = vmac,
                                    .src = vip.b,
                                    .dst = net::kAllNodes,
                                    .type = net::kNdNeighborAdvert,
                                    .flags = uint8_t(net::kNaRouter | net::kNaOverride),
                                    .target = vip.b,
                                    .lla = vmac});
}

}  // namespace hafw::carp
