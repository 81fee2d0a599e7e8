// Internal: the pipeline's stages, one per file, each run over a whole burst
// on the packets whose `next` names it (dataplane/packet.h).
//
//   eth_input ─┬─ arp_input ──────────────────────────────────────────────── Tx | Control | Drop
//              └─ ipv4_input ── state_lookup ─┬─────────── ipv4_classify ─┬─ ipv4_local ── icmp_local
//                                 (hit: track, └─ dnat ──┘  (miss)        └─ ipv4_route ─┬─ (hit) ───────────┬─ ipv4_output
//                                  count, NAT)                                            ├─ filter ── state_create ┘
//                                                                                         └─ icmp_error (TTL expired, no route)
//
// Only pipeline.cc and the stage files include this.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include "dataplane/net/ipv6.h"
#include "dataplane/net/net.h"
#include "dataplane/packet.h"
#include "dataplane/track.h"

namespace hafw::dp::stage {

void eth_input(WorkerCtx& ctx, Burst& b);
void arp_input(WorkerCtx& ctx, Burst& b);
void ipv4_input(WorkerCtx& ctx, Burst& b);
void ipv6_input(WorkerCtx& ctx, Burst& b);
void state_lookup(WorkerCtx& ctx, Burst& b);
void dnat(WorkerCtx& ctx, Burst& b);
void ipv4_classify(WorkerCtx& ctx, Burst& b);
void ipv6_classify(WorkerCtx& ctx, Burst& b);
void ipv4_local(WorkerCtx& ctx, Burst& b);
void ipv6_local(WorkerCtx& ctx, Burst& b);
void icmp_local(WorkerCtx& ctx, Burst& b);
void ipv4_route(WorkerCtx& ctx, Burst& b);
void ipv6_route(WorkerCtx& ctx, Burst& b);
void filter(WorkerCtx& ctx, Burst& b);
void state_create(WorkerCtx& ctx, Burst& b);
void ipv4_output(WorkerCtx& ctx, Burst& b);
void ipv6_output(WorkerCtx& ctx, Burst& b);
void icmp_error(WorkerCtx& ctx, Burst& b);

constexpr uint32_t bit(Next n) { return 1u << unsigned(n); }

// Runs fn(packet) for every packet of the burst waiting at stage `at`, and
// records where every packet waits afterwards (Burst::waiting).
template <class F>
inline void each(Burst& b, Next at, F&& fn) {
  if (!(b.waiting & bit(at))) return;
  uint32_t waiting = 0;
  const uint16_t n = b.n;  // in a register: fn's stores may alias the burst
  for (uint16_t i = 0; i < n; ++i) {
    PacketMeta& p = b.pkt[i];
    if (p.next == at) fn(p);
    waiting |= bit(p.next);
  }
  b.waiting = waiting;
}

// Header overlays. Wire headers are packed (alignment 1), so any offset into
// the frame is a valid address for them.
inline net::EthHdr* eth_of(const PacketMeta& p) { return reinterpret_cast<net::EthHdr*>(p.data); }
inline net::ArpHdr* arp_of(const PacketMeta& p) { return reinterpret_cast<net::ArpHdr*>(p.data + p.l3); }
inline net::Ipv4Hdr* ipv4_of(const PacketMeta& p) { return reinterpret_cast<net::Ipv4Hdr*>(p.data + p.l3); }

// The receiving interface; eth_input has checked that it exists.
inline const IfaceView& in_iface(const WorkerCtx& ctx, const PacketMeta& p) { return ctx.view.topo->ifaces[p.in]; }

inline net::Ipv6Hdr* ipv6_of(const PacketMeta& p) { return reinterpret_cast<net::Ipv6Hdr*>(p.data + p.l3); }

// The IP packet's length (IPv4 total length, IPv6 header and payload): what
// state and rule counters count as a packet's bytes.
inline uint16_t ip_bytes(const PacketMeta& p) {
  if (p.has(PacketFlag::V6)) return uint16_t(sizeof(net::Ipv6Hdr) + net::be16(ipv6_of(p)->payload_len));
  return net::be16(ipv4_of(p)->total_len);
}

// Where the family-generic stages send a packet on: its family's stage.
inline Next classify_of(const PacketMeta& p) { return p.has(PacketFlag::V6) ? Next::Ipv6Classify : Next::Ipv4Classify; }
inline Next route_of(const PacketMeta& p) { return p.has(PacketFlag::V6) ? Next::Ipv6Route : Next::Ipv4Route; }
inline Next output_of(const PacketMeta& p) { return p.has(PacketFlag::V6) ? Next::Ipv6Output : Next::Ipv4Output; }

// The transport header checks both input stages make before a packet may
// match a state or a rule (TCP data offset and flags, UDP length), and its
// ports as they lie in the header (sport, dport: one word, as in FlowKey).
// Count: it passes. Inline: every packet of either family comes here.
inline DropReason check_ports(uint8_t proto, const uint8_t* l4, size_t l4_len, uint32_t& ports);

// A fragment's checks both input stages make before the reassembly table
// holds it (docs/dataplane.md, "Fragments"). `head` is what counts toward
// the 65,535-byte limit before the fragmentable part (IPv4's header, IPv6's
// unfragmentable extension headers: RFC 8200 §4.5), `offset` and `payload`
// the fragment's place and bytes. Count: it may go to reassembly.
inline DropReason check_fragment_bounds(size_t head, size_t offset, size_t payload, bool more) {
  // Only the last fragment may end off an 8-byte boundary.
  if (payload == 0 || (more && payload % 8 != 0)) return DropReason::FragMalformed;
  // The ping of death: a packet that would end past the largest one.
  if (head + offset + payload > 65535) return DropReason::FragOversize;
  return DropReason::Count;
}

// Whether a first fragment holds the whole transport header a firewall
// reads (`avail` bytes at l4), so no later fragment can rewrite what the
// rules saw (RFC 1858 §3; for IPv6 the whole header chain, RFC 7112): TCP's
// 20 bytes and options, UDP's, ICMP's and ICMPv6's 8.
inline bool transport_header_whole(uint8_t proto, const uint8_t* l4, size_t avail) {
  size_t need = 0;
  if (proto == net::kProtoTcp) need = avail >= 13 ? std::max<size_t>(20, size_t(l4[12] >> 4) * 4) : 20;
  else if (proto == net::kProtoUdp || proto == net::kProtoIcmp || proto == net::kProtoIcmpv6) need = 8;
  return avail >= need;
}


// The transport header and the bytes the IP total length leaves for it.
inline const uint8_t* l4_of(const PacketMeta& p) { return p.data + p.l4; }
inline size_t l4_len(const PacketMeta& p) { return size_t(ip_bytes(p)) - (p.l4 - p.l3); }

// A packet's address as the 16 bytes of a FlowKey (IPv4 in the first 4).
inline std::array<uint8_t, 16> addr16(const uint8_t* ip4) {
  std::array<uint8_t, 16> a{};
  std::memcpy(a.data(), ip4, 4);
  return a;
}


// The last step of both output stages: the frame leaves from `out`'s MAC to
// the next hop's, or waits at the control thread, ready but for eth dst,
// until the neighbour is resolved (ARP or Neighbor Discovery).
inline void send_to_neighbor(const IfaceView& out, const net::Mac* mac, PacketMeta& p) {
  net::EthHdr* eth = eth_of(p);
  eth->src = out.mac;
  if (!mac) return p.to_control(PuntReason::Resolve);
  eth->dst = *mac;
  p.to_tx(p.out);
}

// State sync: hand an event to the worker's ring (ctx.events, which the
// caller checked). A full ring loses it, counted; the packet goes on.
inline void report(WorkerCtx& ctx, StateIndex s, uint64_t id, uint8_t creator, StateEventKind kind) {
  if (!ctx.events->try_push(StateEvent{.id = id, .state = s, .kind = kind, .creator = creator, .reserved = 0}))
    ctx.counters->add(StateCounter::SyncEventDropped);
}

// 224.0.0.18, CARP's group (and VRRP's); 224.0.0.240, pfsync's default group.
constexpr uint32_t kCarpGroup = 0xe0000012;
constexpr uint32_t kPfsyncGroup = 0xe00000f0;
// ff02::12, CARP's IPv6 group.
constexpr net::Addr6 kCarpGroup6{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12};

constexpr bool is_multicast(uint32_t a) { return (a >> 28) == 0xe; }

inline DropReason check_ports(uint8_t proto, const uint8_t* l4, size_t l4_len, uint32_t& ports) {
  switch (proto) {
    case net::kProtoTcp: {
      const size_t doff = l4_len >= 20 ? size_t(l4[12] >> 4) * 4 : 0;
      if (doff < 20 || doff > l4_len) return DropReason::BadL4Header;
      // Impossible flags are dropped whether or not a state matches.
      if (!tcp_flags_valid(l4[13])) return DropReason::TcpBadFlags;
      std::memcpy(&ports, l4, 4);
      return DropReason::Count;
    }
    case net::kProtoUdp: {
      if (l4_len < 8) return DropReason::BadL4Header;
      const size_t ulen = size_t(l4[4]) << 8 | l4[5];
      if (ulen < 8 || ulen > l4_len) return DropReason::BadL4Header;
      std::memcpy(&ports, l4, 4);
      return DropReason::Count;
    }
    default:
      return DropReason::Count;
  }
}

}  // namespace hafw::dp::stage
