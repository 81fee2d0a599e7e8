// Announcements a new master sends so that hosts and switches move to it.
#pragma once

#include "carp/types.h"
#include "dataplane/net/net.h"

namespace hafw::carp {

// Gratuitous ARP request for an IPv4 VIP (RFC 5227 §3 "ARP Announcement"):
// sender = target = VIP, sender MAC = the virtual MAC, from the virtual MAC to
// broadcast. Hosts update their cache entry for the VIP and switches learn the
// virtual MAC on the new master's port. A request rather than a reply because
// some hosts only update their cache from requests (OpenBSD arprequest()).
Frame gratuitous_arp(const net::IpAddr& vip, const net::Mac& vmac);

// Unsolicited Neighbor Advertisement for an IPv6 VIP (RFC 4861 §7.2.6,
// OpenBSD carp_send_na): from the virtual MAC to ff02::1
// (33:33:00:00:00:01), source = target = the VIP, Override set (hosts
// replace the cached MAC), Router set (the node forwards: OpenBSD sets it
// when ip6_forwarding is on), Solicited clear, the virtual MAC as the target
// link-layer address, hop limit 255.
Frame unsolicited_na(const net::IpAddr& vip, const net::Mac& vmac);

}  // namespace hafw::carp
