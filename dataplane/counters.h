// The dataplane's counters, defined once. Each family is an enum and its
// table of names and meanings right below it; the worker counters, the
// totals, the `stats` JSON and docs/counters.md all follow from these tables.
// Adding a drop reason is one enum value and one row here, then the stage
// that uses it (and its line in docs/counters.md, which a test checks).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "dataplane/net/named.h"

namespace hafw::dp {

// Why a frame was dropped; operators debug from these.
enum class DropReason : uint8_t {
  Runt,
  NotForUs,
  UnknownEtherType,
  BadArp,
  BadIpHeader,
  BadIpChecksum,
  TtlExceeded,
  NoRoute,
  LocalUnsupported,
  VipNotOwned,
  Martian,
  BadIcmp,
  BadL4Header,
  DefaultBlock,
  RuleBlock,
  TcpNotSyn,
  TcpBadFlags,
  TcpOutOfWindow,
  StateTableFull,
  StateConflict,
  NatPortsExhausted,
  NatUntranslatable,
  NotSync,
  // Fragments of both families (docs/dataplane.md, "Fragments"): refused before reassembly ...
  FragTiny,
  FragOversize,
  FragMalformed,
  // ... and dropped by the reassembly table, every fragment it held counted.
  FragOverlap,
  FragTooMany,
  FragTimeout,
  FragTableFull,
  FragNoBuffer,
  FragHandoverFull,
  Ipv6ExtHeader,
  BadNd,
  TooBig,
  Count,
};

inline constexpr std::array<net::Named<DropReason>, size_t(DropReason::Count)> kDropReasons{{
    {DropReason::Runt, "runt", "shorter than an Ethernet header"},
    {DropReason::NotForUs, "not_for_us",
     "unicast to another MAC, a link-layer broadcast of a transit packet, or ARP not for us"},
    {DropReason::UnknownEtherType, "unknown_ethertype", "not IPv4, IPv6 or ARP (802.1Q is not handled yet)"},
    {DropReason::BadArp, "bad_arp", "not Ethernet/IPv4 ARP, truncated, or a broadcast/multicast sender MAC"},
    {DropReason::BadIpHeader, "bad_ip_header",
     "IPv4 version, IHL or total length, or IPv6 version or payload length, inconsistent with the frame"},
    {DropReason::BadIpChecksum, "bad_ip_checksum", "IPv4 header checksum wrong"},
    {DropReason::TtlExceeded, "ttl_exceeded",
     "TTL 0 or 1 on a packet to forward, and no ICMP time exceeded went back (see dataplane.icmp)"},
    {DropReason::NoRoute, "no_route",
     "no connected or static route to the destination, and no ICMP unreachable went back (see dataplane.icmp)"},
    {DropReason::LocalUnsupported, "local_unsupported",
     "for this node but nothing here serves it (TCP/UDP, broadcast, IP options, multicast)"},
    {DropReason::VipNotOwned, "vip_not_owned", "for a VIP (address or virtual MAC) this node is BACKUP for"},
    {DropReason::Martian, "martian",
     "source is ours (looped back) or impossible (multicast, loopback, 0/8, class E)"},
    {DropReason::BadIcmp, "bad_icmp", "ICMP shorter than its 8-byte header, or to this node with a bad checksum"},
    {DropReason::BadL4Header, "bad_l4_header",
     "TCP, UDP or ICMP header truncated or inconsistent (TCP data offset, UDP length, an ICMP error's quote)"},
    {DropReason::DefaultBlock, "default_block",
     "no rule passed a packet without a state (inbound default block, or none of an interface's out rules)"},
    {DropReason::RuleBlock, "rule_block", "a block rule matched (which one: the rules section of stats)"},
    {DropReason::TcpNotSyn, "tcp_not_syn",
     "TCP without a state that is not a connection's first SYN (pf's flags S/SA): a connection older than this "
     "node's table, or a scan"},
    {DropReason::TcpBadFlags, "tcp_bad_flags", "TCP with an impossible flag combination (SYN+RST, SYN+FIN, none)"},
    {DropReason::TcpOutOfWindow, "tcp_out_of_window",
     "TCP segment or RST outside its state's sequence window (pf's bad state)"},
    {DropReason::StateTableFull, "state_table_full",
     "a new flow passed the rules but the state table is full (dataplane.max_states); established flows go on"},
    {DropReason::StateConflict, "state_conflict", "a new flow whose reply would match another connection's state"},
    {DropReason::NatPortsExhausted, "nat_ports_exhausted",
     "outbound NAT found no free port for a new flow to the same server port"},
    {DropReason::NatUntranslatable, "nat_untranslatable",
     "an ICMP message NAT would have to translate but no state could carry (neither a query nor about a known flow)"},
    {DropReason::NotSync, "not_sync",
     "arrived on the sync interface but is not a state sync frame: the sync link carries state sync only"},
    {DropReason::FragTiny, "frag_tiny",
     "a first fragment too short to hold its whole transport header (IPv6: and every extension header before it, RFC "
     "7112), or an IPv4 TCP fragment at offset 8 (RFC 1858, RFC 3128)"},
    {DropReason::FragOversize, "frag_oversize", "a fragment that would end past 65,535 bytes (IPv4: of packet; IPv6: of payload)"},
    {DropReason::FragMalformed, "frag_malformed",
     "a fragment with no payload, or not the last and its payload not a multiple of 8 bytes; an IPv6 packet with a "
     "second fragment header"},
    {DropReason::FragOverlap, "frag_overlap",
     "fragments of a packet that overlap or repeat: every fragment the table held for it is dropped"},
    {DropReason::FragTooMany, "frag_too_many",
     "fragments of a packet cut into more than 8 (the reassembly's limit): every fragment held for it is dropped"},
    {DropReason::FragTimeout, "frag_timeout",
     "fragments of a packet that did not complete within dataplane.fragments.timeout_ms"},
    {DropReason::FragTableFull, "frag_table_full",
     "a fragment of a new packet while the worker's reassembly table is full (dataplane.fragments.max_packets)"},
    {DropReason::FragNoBuffer, "frag_no_buffer",
     "a reassembled packet with no buffer to hold it whole, or to cut it again for the egress MTU"},
    {DropReason::FragHandoverFull, "frag_handover_full",
     "a fragment for a packet another worker reassembles, while that worker's fragment ring was full"},
    {DropReason::Ipv6ExtHeader, "ipv6_ext_header",
     "IPv6 extension headers truncated, more than 8 of them or past the first 200 bytes, hop-by-hop options not "
     "first, or a type 0 routing header (RFC 5095)"},
    {DropReason::BadNd, "bad_nd",
     "Neighbor Discovery that fails RFC 4861's checks (hop limit not 255, code not 0, too short, a multicast "
     "target, bad options) or an ICMPv6 message to this node with a bad checksum"},
    {DropReason::TooBig, "too_big",
     "an IPv6 packet longer than the egress interface's MTU, and no ICMPv6 packet too big went back (see "
     "dataplane.icmp); a reassembled one longer than the port's own MTU"},
}};
static_assert(net::in_enum_order(kDropReasons), "kDropReasons must list every DropReason in order");

// Why a frame went to the control thread.
enum class PuntReason : uint8_t {
  Carp,
  Pfsync,
  Arp,
  Resolve,
  Nd,
  Count,
};

inline constexpr std::array<net::Named<PuntReason>, size_t(PuntReason::Count)> kPuntReasons{{
    {PuntReason::Carp, "carp", "CARP advertisement (IP protocol 112) to 224.0.0.18, ff02::12 or to this node"},
    {PuntReason::Pfsync, "pfsync", "state sync frame (IP protocol 240) to 224.0.0.240 or to this node"},
    {PuntReason::Arp, "arp", "ARP the control thread learns neighbours from"},
    {PuntReason::Resolve, "resolve",
     "no neighbour entry for the next hop: held while the control thread ARPs or sends a Neighbor Solicitation"},
    {PuntReason::Nd, "nd",
     "Neighbor Discovery the control thread learns IPv6 neighbours from (advertisements, other hosts' "
     "solicitations)"},
}};
static_assert(net::in_enum_order(kPuntReasons), "kPuntReasons must list every PuntReason in order");

// Frames moved by the worker's I/O (not by the pipeline).
enum class IoCounter : uint8_t {
  Rx,
  Tx,
  TxFull,
  ToControl,
  ControlRingFull,
  Unsupported,
  FragmentsIn,
  Reassembled,
  Fragmented,
  FragmentsOut,
  FragmentsHandedOver,
  Count,
};

inline constexpr std::array<net::Named<IoCounter>, size_t(IoCounter::Count)> kIoCounters{{
    {IoCounter::Rx, "rx", "frames received by the workers"},
    {IoCounter::Tx, "tx", "frames transmitted by the workers (forwarded, answered, or sent for the control thread)"},
    {IoCounter::TxFull, "tx_full", "frames dropped because the port's TX queue was full"},
    {IoCounter::ToControl, "to_control", "frames handed to the control thread"},
    {IoCounter::ControlRingFull, "control_ring_full", "frames for the control thread dropped: its ring was full"},
    {IoCounter::Unsupported, "unsupported", "multi-segment frames (scatter RX is not enabled)"},
    {IoCounter::FragmentsIn, "fragments_in", "IPv4 and IPv6 fragments taken into a worker's reassembly table"},
    {IoCounter::Reassembled, "reassembled", "packets reassembled from them, then filtered and forwarded whole"},
    {IoCounter::Fragmented, "fragmented",
     "reassembled IPv4 packets longer than the egress port's MTU, cut again (IPv6 ones are answered with packet too "
     "big)"},
    {IoCounter::FragmentsOut, "fragments_out", "fragments those were cut into (counted in tx too)"},
    {IoCounter::FragmentsHandedOver, "fragments_handed_over",
     "fragments received by one worker and passed to the worker that reassembles their packet (several workers)"},
}};
static_assert(net::in_enum_order(kIoCounters), "kIoCounters must list every IoCounter in order");

inline const char* name(DropReason r) { return net::name_of(kDropReasons, r); }
inline const char* name(PuntReason r) { return net::name_of(kPuntReasons, r); }
inline const char* name(IoCounter c) { return net::name_of(kIoCounters, c); }

// ICMP errors the node generates in place of a packet it cannot forward.
enum class IcmpCounter : uint8_t {
  TimeExceeded,
  Unreachable,
  PacketTooBig,
  RateLimited,
  NotEligible,
  Count,
};

inline constexpr std::array<net::Named<IcmpCounter>, size_t(IcmpCounter::Count)> kIcmpCounters{{
    {IcmpCounter::TimeExceeded, "time_exceeded_sent",
     "ICMP or ICMPv6 time exceeded sent for a packet whose TTL or hop limit ran out here"},
    {IcmpCounter::Unreachable, "unreachable_sent",
     "ICMP or ICMPv6 destination unreachable sent for a packet with no route"},
    {IcmpCounter::PacketTooBig, "packet_too_big_sent",
     "ICMPv6 packet too big sent for an IPv6 packet longer than the egress MTU"},
    {IcmpCounter::RateLimited, "rate_limited", "ICMP errors not sent: over the rate limit (200 per second per worker)"},
    {IcmpCounter::NotEligible, "not_eligible",
     "ICMP errors not sent by rule (RFC 1812, RFC 4443): about an ICMP error, a non-first fragment, or no source "
     "address"},
}};
static_assert(net::in_enum_order(kIcmpCounters), "kIcmpCounters must list every IcmpCounter in order");

inline const char* name(IcmpCounter c) { return net::name_of(kIcmpCounters, c); }

// What the workers did with the state table.
enum class StateCounter : uint8_t {
  Created,
  Raced,
  Reopened,
  IcmpErrorMatched,
  SyncEventDropped,
  Count,
};

inline constexpr std::array<net::Named<StateCounter>, size_t(StateCounter::Count)> kStateCounters{{
    {StateCounter::Created, "created", "states created by a pass rule with keep_state"},
    {StateCounter::Raced, "raced",
     "new flows another worker had just created a state for: they used that state"},
    {StateCounter::Reopened, "reopened", "closed TCP states a new SYN replaced (the port pair reused)"},
    {StateCounter::IcmpErrorMatched, "icmp_error_matched",
     "ICMP errors passed because they quote a packet of a known state"},
    {StateCounter::SyncEventDropped, "sync_event_dropped",
     "state events lost because the sync ring was full: the peer learns the state from the next update or its "
     "request"},
}};
static_assert(net::in_enum_order(kStateCounters), "kStateCounters must list every StateCounter in order");

inline const char* name(StateCounter c) { return net::name_of(kStateCounters, c); }

// Address translation.
enum class NatCounter : uint8_t {
  Outbound,
  Forwarded,
  PortRetries,
  IcmpTranslated,
  Count,
};

inline constexpr std::array<net::Named<NatCounter>, size_t(NatCounter::Count)> kNatCounters{{
    {NatCounter::Outbound, "outbound", "new flows whose source outbound NAT translated to a VIP"},
    {NatCounter::Forwarded, "forwarded", "new flows a port forward sent to its internal target"},
    {NatCounter::PortRetries, "port_retries", "NAT port candidates skipped because a state already used them"},
    {NatCounter::IcmpTranslated, "icmp_translated",
     "ICMP errors about a translated flow, rewritten with the quoted packet (traceroute, path MTU discovery)"},
}};
static_assert(net::in_enum_order(kNatCounters), "kNatCounters must list every NatCounter in order");

inline const char* name(NatCounter c) { return net::name_of(kNatCounters, c); }

// CARP as the workers see it. The control thread reads these with the
// link poll and reports (carp.status, the event log): the worker only counts.
enum class CarpCounter : uint8_t {
  VmacFromOther,
  Count,
};

inline constexpr std::array<net::Named<CarpCounter>, size_t(CarpCounter::Count)> kCarpCounters{{
    {CarpCounter::VmacFromOther, "vmac_from_other",
     "frames from the virtual MAC of a VHID this node is MASTER of that this node cannot have sent: another "
     "station uses it (the peer is MASTER too, another cluster has the VHID, or a host has that MAC)"},
}};
static_assert(net::in_enum_order(kCarpCounters), "kCarpCounters must list every CarpCounter in order");

inline const char* name(CarpCounter c) { return net::name_of(kCarpCounters, c); }

// Plain totals, as the control thread reads them.
struct Counters {
  std::array<uint64_t, size_t(IoCounter::Count)> io{};
  std::array<uint64_t, size_t(DropReason::Count)> drops{};
  std::array<uint64_t, size_t(PuntReason::Count)> punts{};
  std::array<uint64_t, size_t(IcmpCounter::Count)> icmp{};
  std::array<uint64_t, size_t(StateCounter::Count)> states{};
  std::array<uint64_t, size_t(NatCounter::Count)> nat{};
  std::array<uint64_t, size_t(CarpCounter::Count)> carp{};
  // CarpCounter::VmacFromOther by VHID (the last byte of the MAC).
  std::array<uint64_t, 256> vmac_from_other{};

  uint64_t& operator[](IoCounter c) { return io[size_t(c)]; }
  uint64_t operator[](IoCounter c) const { return io[size_t(c)]; }
  Counters& operator+=(const Counters& o);
};

// One worker's counters. Only that worker writes them, so an increment is a
// relaxed load and store (no locked instruction per packet); the control
// thread reads them with relaxed loads. One cache line apart from the next
// worker's (alignas) so workers never share a line.
class alignas(64) WorkerCounters {
 public:
  void add(IoCounter c, uint64_t n = 1) { bump(io_[size_t(c)], n); }
  void add(DropReason r, uint64_t n = 1) { bump(drops_[size_t(r)], n); }
  void add(PuntReason r, uint64_t n = 1) { bump(punts_[size_t(r)], n); }
  void add(IcmpCounter c, uint64_t n = 1) { bump(icmp_[size_t(c)], n); }
  void add(StateCounter c, uint64_t n = 1) { bump(states_[size_t(c)], n); }
  void add(NatCounter c, uint64_t n = 1) { bump(nat_[size_t(c)], n); }
  // A frame from VHID `vhid`'s virtual MAC that another station sent.
  void add_vmac_from_other(uint8_t vhid) {
    bump(carp_[size_t(CarpCounter::VmacFromOther)], 1);
    bump(vmac_from_other_[vhid], 1);
  }
  Counters read() const;

 private:
  using Cell = std::atomic<uint64_t>;
  static void bump(Cell& c, uint64_t n) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::array<Cell, size_t(IoCounter::Count)> io_{};
  std::array<Cell, size_t(DropReason::Count)> drops_{};
  std::array<Cell, size_t(PuntReason::Count)> punts_{};
  std::array<Cell, size_t(IcmpCounter::Count)> icmp_{};
  std::array<Cell, size_t(StateCounter::Count)> states_{};
  std::array<Cell, size_t(NatCounter::Count)> nat_{};
  std::array<Cell, size_t(CarpCounter::Count)> carp_{};
  std::array<Cell, 256> vmac_from_other_{};
};

}  // namespace hafw::dp
