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

}  // namespace hafw::carp
