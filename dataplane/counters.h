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
  IpFragment,
  TtlExceeded,
  NoRoute,
  LocalUnsupported,
  VipNotOwned,
  Martian,
  BadIcmp,
  Count,
};

inline constexpr std::array<net::Named<DropReason>, size_t(DropReason::Count)> kDropReasons{{
    {DropReason::Runt, "runt", "shorter than an Ethernet header"},
    {DropReason::NotForUs, "not_for_us",
     "unicast to another MAC, a link-layer broadcast of a transit packet, or ARP not for us"},
    {DropReason::UnknownEtherType, "unknown_ethertype", "not IPv4 or ARP (IPv6 and 802.1Q are not handled yet)"},
    {DropReason::BadArp, "bad_arp", "not Ethernet/IPv4 ARP, truncated, or a broadcast/multicast sender MAC"},
    {DropReason::BadIpHeader, "bad_ip_header", "IPv4 version, IHL or total length inconsistent with the frame"},
    {DropReason::BadIpChecksum, "bad_ip_checksum", "IPv4 header checksum wrong"},
    {DropReason::IpFragment, "ip_fragment",
     "a fragment addressed to this node (no reassembly yet); transit fragments are forwarded"},
    {DropReason::TtlExceeded, "ttl_exceeded",
     "TTL 0 or 1 on a packet to forward, and no ICMP time exceeded went back (see dataplane.icmp)"},
    {DropReason::NoRoute, "no_route",
     "no connected or static route to the destination, and no ICMP unreachable went back (see dataplane.icmp)"},
    {DropReason::LocalUnsupported, "local_unsupported",
     "for this node but nothing here serves it (TCP/UDP, broadcast, IP options, multicast)"},
    {DropReason::VipNotOwned, "vip_not_owned", "for a VIP (address or virtual MAC) this node is BACKUP for"},
    {DropReason::Martian, "martian",
     "source is ours (looped back) or impossible (multicast, loopback, 0/8, class E)"},
    {DropReason::BadIcmp, "bad_icmp", "ICMP to this node truncated or with a bad checksum"},
}};
static_assert(net::in_enum_order(kDropReasons), "kDropReasons must list every DropReason in order");

// Why a frame went to the control thread.
enum class PuntReason : uint8_t {
  Carp,
  Pfsync,
  Arp,
  Resolve,
  Count,
};

inline constexpr std::array<net::Named<PuntReason>, size_t(PuntReason::Count)> kPuntReasons{{
    {PuntReason::Carp, "carp", "CARP advertisement (IP protocol 112) to 224.0.0.18 or to this node"},
    {PuntReason::Pfsync, "pfsync", "state sync frame (IP protocol 240) to 224.0.0.240 or to this node"},
    {PuntReason::Arp, "arp", "ARP the control thread learns neighbours from"},
    {PuntReason::Resolve, "resolve", "no neighbour entry for the next hop: held while the control thread ARPs"},
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
  Count,
};

inline constexpr std::array<net::Named<IoCounter>, size_t(IoCounter::Count)> kIoCounters{{
    {IoCounter::Rx, "rx", "frames received by the workers"},
    {IoCounter::Tx, "tx", "frames transmitted by the workers (forwarded, answered, or sent for the control thread)"},
    {IoCounter::TxFull, "tx_full", "frames dropped because the port's TX queue was full"},
    {IoCounter::ToControl, "to_control", "frames handed to the control thread"},
    {IoCounter::ControlRingFull, "control_ring_full", "frames for the control thread dropped: its ring was full"},
    {IoCounter::Unsupported, "unsupported", "multi-segment frames (scatter RX is not enabled)"},
}};
static_assert(net::in_enum_order(kIoCounters), "kIoCounters must list every IoCounter in order");

inline const char* name(DropReason r) { return net::name_of(kDropReasons, r); }
inline const char* name(PuntReason r) { return net::name_of(kPuntReasons, r); }
inline const char* name(IoCounter c) { return net::name_of(kIoCounters, c); }

// ICMP errors the node generates in place of a packet it cannot forward.
enum class IcmpCounter : uint8_t {
  TimeExceeded,
  Unreachable,
  RateLimited,
  NotEligible,
  Count,
};

inline constexpr std::array<net::Named<IcmpCounter>, size_t(IcmpCounter::Count)> kIcmpCounters{{
    {IcmpCounter::TimeExceeded, "time_exceeded_sent", "ICMP time exceeded sent for a packet whose TTL ran out here"},
    {IcmpCounter::Unreachable, "unreachable_sent", "ICMP destination unreachable sent for a packet with no route"},
    {IcmpCounter::RateLimited, "rate_limited", "ICMP errors not sent: over the rate limit (200 per second per worker)"},
    {IcmpCounter::NotEligible, "not_eligible",
     "ICMP errors not sent by rule (RFC 1812): about an ICMP error, a non-first fragment, or no source address"},
}};
static_assert(net::in_enum_order(kIcmpCounters), "kIcmpCounters must list every IcmpCounter in order");

inline const char* name(IcmpCounter c) { return net::name_of(kIcmpCounters, c); }

// Plain totals, as the control thread reads them.
struct Counters {
  std::array<uint64_t, size_t(IoCounter::Count)> io{};
  std::array<uint64_t, size_t(DropReason::Count)> drops{};
  std::array<uint64_t, size_t(PuntReason::Count)> punts{};
  std::array<uint64_t, size_t(IcmpCounter::Count)> icmp{};

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
};

}  // namespace hafw::dp
