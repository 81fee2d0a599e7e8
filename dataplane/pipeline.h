// The worker's per-packet pipeline: Ethernet, ARP, IPv4, ICMP echo and
// forwarding, without DPDK.
//
// The DPDK glue calls process() for every received frame and acts on the
// exit: transmit on out_iface (Forward), transmit back on the receiving
// interface (Reply), enqueue to the control thread's ring (ToControl), or free
// and count by reason (Drop). process() never allocates, throws, logs or
// makes a system call; it only reads the View and rewrites the frame in place.
// Stages and their rules: docs/dataplane.md.
#pragma once

#include <array>
#include <cstdint>

#include "dataplane/view.h"

namespace hafw::dp {

enum class Exit : uint8_t { Forward, Reply, ToControl, Drop };

// Why a frame was dropped; one counter each, so operators debug from counters.
enum class DropReason : uint8_t {
  Runt,              // shorter than an Ethernet header
  NotForUs,          // unicast to another MAC, link-layer broadcast of a transit packet, ARP not for us
  UnknownEtherType,  // not IPv4 or ARP (IPv6 and 802.1Q are not handled yet)
  BadArp,            // not Ethernet/IPv4 ARP, truncated, or a broadcast/multicast sender MAC
  BadIpHeader,       // version, IHL or total length inconsistent with the frame
  BadIpChecksum,
  IpFragment,        // a fragment addressed to this node (no reassembly); transit fragments are forwarded
  TtlExceeded,       // no ICMP time-exceeded is generated yet
  NoRoute,
  LocalUnsupported,  // for this node but nothing here handles it (TCP/UDP, broadcast, IP options)
  VipNotOwned,       // for a VIP (IP or virtual MAC) this node is BACKUP for
  Martian,           // source is ours (looped back) or impossible (multicast, loopback, 0/8, class E)
  BadIcmp,           // truncated or bad checksum
  Count,
};
const char* drop_reason_name(DropReason r);

// Why a frame went to the control thread.
enum class PuntReason : uint8_t {
  None,
  Carp,     // IP protocol 112 to 224.0.0.18 or to this node
  Pfsync,   // IP protocol 240 to 224.0.0.240 or to this node
  Arp,      // ARP the control thread learns neighbours from
  Resolve,  // no neighbour for nexthop on out_iface: TTL already decremented, eth src set
  Count,
};
const char* punt_reason_name(PuntReason r);

struct Result {
  Exit exit = Exit::Drop;
  uint8_t out_iface = 0;            // Forward: where to send; Reply: the receiving iface; Resolve: the route's iface
  DropReason drop = DropReason::Count;  // Drop only
  uint32_t nexthop = 0;             // Resolve only: host-order address to ARP for
  PuntReason punt = PuntReason::None;   // ToControl only

  static constexpr Result dropped(DropReason r) { return Result{.exit = Exit::Drop, .drop = r}; }
  static constexpr Result to_control(PuntReason p, uint8_t iface, uint32_t nexthop = 0) {
    return Result{.exit = Exit::ToControl, .out_iface = iface, .nexthop = nexthop, .punt = p};
  }
  static constexpr Result reply(uint8_t iface) { return Result{.exit = Exit::Reply, .out_iface = iface}; }
  static constexpr Result forward(uint8_t iface) { return Result{.exit = Exit::Forward, .out_iface = iface}; }
};

// Process one frame received on iface `in`. May rewrite the frame in place
// (ARP reply, ICMP echo reply, TTL/MAC rewrite for forwarding). Every exit
// keeps `len` unchanged today; the reference stays so a stage may shrink a
// frame, never grow it past the received length.
Result process(const View& v, uint8_t in, uint8_t* frame, uint16_t& len);

}  // namespace hafw::dp
