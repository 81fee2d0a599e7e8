// Address translation on a packet in place: the rewrites of outbound NAT and
// port forwards, ICMP errors about a translated flow, and how outbound NAT
// picks its ports. Checksums are updated incrementally (RFC 1624): one
// adjustment per changed 16-bit word, never a sum over the payload.
//
// Family-generic: an address is the 16 bytes of net::FlowKey (IPv4 in the
// first 4); the IP layout (where the addresses sit, whether the header has a
// checksum) comes from the packet's family, so IPv6 needs no second copy.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "dataplane/packet.h"
#include "dataplane/state_table.h"

namespace hafw::dp::nat {

// An endpoint: 16 address bytes (as in FlowKey) and a port in network order.
// For ICMP queries the "port" is the query id.
struct Endpoint {
  const uint8_t* addr;
  uint16_t port;
};

// Rewrite the packet's source or destination endpoint (address in the IP
// header, port in the TCP/UDP header or the ICMP query id) and fix the IP
// header checksum and the transport checksum. The packet must not be a
// fragment (the stages drop fragments before NAT).
void set_src(PacketMeta& p, Endpoint e);
void set_dst(PacketMeta& p, Endpoint e);

// The endpoint a state rewrites on a packet of direction `dir`, and which
// side of the packet it replaces (true: the source).
//   outbound NAT (Src): dir 0 leaves with the VIP and the allocated port as
//     its source; dir 1 (the reply) goes back to the initiator's address.
//   port forward (Dst): dir 0 goes to the target; dir 1 leaves from the VIP
//     and the forwarded port.
struct Rewrite {
  bool active = false;
  bool source = false;
  Endpoint to{nullptr, 0};
};
Rewrite rewrite_for(const StateTable& t, const State& s, uint8_t dir);

// Apply a state's translation to a packet of direction `dir` (a normal
// packet, not an ICMP error, of the state's family and protocol: one that
// matched a key of s). Returns whether the state translates (the packet is
// then flagged Translated). Inline: every established packet of a NAT'd flow
// comes here, and TCP and UDP over IPv4 take the short path below.
inline bool apply(PacketMeta& p, const StateTable& t, const State& s, uint8_t dir);

// An ICMP error (PacketFlag::IcmpError) matched state s in direction `dir`:
// the outer header gets the translation a packet of that direction gets, and
// the quoted packet inside — one of ours going the other way — gets the
// mirror image, so the host it reaches recognises its own connection (RFC
// 5508 §4.1 for NAT, what traceroute and path MTU discovery need). Every
// changed word of the quote is folded into the ICMP checksum, and the
// quoted IP header's and transport checksums are fixed where the quote holds
// them. Returns whether anything changed.
bool apply_icmp_error(PacketMeta& p, const StateTable& t, const State& s, uint8_t dir);

// Undo a translation before an ICMP error quotes the packet (a packet whose
// TTL ran out after NAT rewrote it): the quote must show the packet as its
// sender sent it. `key` holds the header as it arrived.
void restore(PacketMeta& p);

// The n-th port candidate outbound NAT tries for a new flow (host order).
// A keyed hash of the flow's key picks where to start, so ports are not
// predictable from outside and two flows rarely try the same one; worker w of
// W only hands out ports p with (p - lo) % W == w, so two workers never race
// for a port. Deterministic for a given seed (tests, golden pcaps).
uint16_t port_candidate(const NatPorts& np, const net::FlowKey& k, uint16_t lo, uint16_t hi, unsigned n);

// How many candidates a new flow tries before it is dropped
// (nat_ports_exhausted): with a random start, 64 tries find a free port with
// a probability of 99.9% while 90% of the ports to one server port are taken.
constexpr unsigned kPortAttempts = 64;

namespace detail {

using net::load16;
using net::load32;
using net::store16;
// Ones' complement addition of 32-bit words (the carry goes around).
inline uint32_t add1c(uint32_t a, uint32_t b) {
  const uint32_t s = a + b;
  return s + (s < a);
}
// A 32-bit ones' complement sum folded to 16 bits: the high half of
// s + rotl(s, 16) is hi + lo plus the carry out of lo + hi, which is the
// end-around carry.
inline uint16_t fold16(uint32_t s) { return uint16_t((s + std::rotl(s, 16)) >> 16); }

// set_src/set_dst: the generic rewrite, either family, any protocol.
void set_endpoint(PacketMeta& p, bool src, Endpoint e);

// apply() for TCP and UDP over IPv4, which is nearly every translated
// packet: the same rewrite as the generic one (one endpoint, the IPv4 header
// checksum, the transport checksum, RFC 1624), without its switch over the
// protocol and without a jump on what changed. A field that stays adds 0
// rather than ~old + new, so it changes no checksum (as in the generic
// rewrite, where it adds nothing: adding ~x + x, a ones' complement -0,
// would turn a checksum of 0xffff into 0), and the stores of unchanged
// fields write what is already there. The sums are grouped differently
// from the generic path's; they give the same bits, since a ones'
// complement sum is unique but for the sign of zero and an end-around sum
// is 0 only when every addend is (tests/unit/dataplane/nat_test.cc compares
// the two paths on random packets). `dst`: 0 rewrites the source (address
// and port), 1 the destination. `to_addr` in network order as loaded,
// `to_port` network order. Returns false, having changed nothing, for other
// protocols and for frames with fewer than 18 bytes from the transport
// header on (room for TCP's checksum, and for UDP's 8-byte header; a minimum
// Ethernet frame has 26): the generic path handles those as before.
inline bool rewrite_v4_ports(PacketMeta& p, uint8_t proto, unsigned dst, uint32_t to_addr, uint16_t to_port) {
  const bool tcp = proto == net::kProtoTcp;
  if (!tcp && proto != net::kProtoUdp) return false;
  const unsigned l4 = p.l4;
  if (p.len < l4 + 18u) return false;
  uint8_t* const ip = p.data + p.l3;
  uint8_t* const a = ip + 12 + 4 * dst;
  uint8_t* const port = p.data + l4 + 2 * dst;
  uint8_t* const csum = p.data + l4 + (tcp ? 16 : 6);
  const uint32_t from_addr = load32(a);
  const uint16_t from_port = load16(port);
  const uint32_t d_addr = from_addr != to_addr ? add1c(~from_addr, to_addr) : 0;
  const uint32_t d_port = from_port != to_port ? uint32_t(uint16_t(~from_port)) + to_port : 0;
  store16(ip + 10, uint16_t(~fold16(add1c(uint16_t(~load16(ip + 10)), d_addr))));
  const uint16_t c = load16(csum);
  const uint16_t after = uint16_t(~fold16(add1c(add1c(uint16_t(~c), d_addr), d_port)));
  // UDP: 0 is "no checksum" (RFC 768) and stays 0; a sum that comes out as
  // 0 is sent as all ones.
  store16(csum, tcp ? after : c == 0 ? 0 : after == 0 ? 0xffff : after);
  std::memcpy(a, &to_addr, 4);
  store16(port, to_port);
  return true;
}

}  // namespace detail

inline bool apply(PacketMeta& p, const StateTable& t, const State& s, uint8_t dir) {
  const uint8_t flags = s.flags.load(std::memory_order_relaxed);
  const unsigned side = (flags & sflag::NatMask) >> 1;
  if (side != unsigned(NatSide::Src) && side != unsigned(NatSide::Dst)) return false;
  // rewrite_for() without the jumps (a burst mixes directions). Outbound
  // NAT (Src) translates key[0]'s source, a port forward (Dst) its
  // destination. Dir 0 gets the translated endpoint (the pool address and
  // nat_port), dir 1 gets back the endpoint of key[0] it replaced, on the
  // other side of the packet: dir 0 of outbound NAT and dir 1 of a port
  // forward rewrite the packet's source, the other two its destination.
  const unsigned fwd = side == unsigned(NatSide::Dst);
  const unsigned dst = fwd ^ (dir & 1u);
  const auto* key0 = reinterpret_cast<const uint8_t*>(&s);
  static_assert(offsetof(State, dst) == offsetof(State, src) + 16 && offsetof(State, dport) == offsetof(State, sport) + 2);
  const uint8_t* addr = dir == 0 ? t.pool_addr(s.nat_addr).data() : key0 + offsetof(State, src) + 16 * fwd;
  const uint16_t port = dir == 0 ? s.nat_port : detail::load16(key0 + offsetof(State, sport) + 2 * fwd);
  // The packet matched a key of s, so it has the state's family and
  // protocol (an ICMP error, whose header says ICMP for a quoted flow of
  // another protocol, goes to apply_icmp_error instead).
  if ((flags & sflag::V6) || !detail::rewrite_v4_ports(p, s.proto, dst, detail::load32(addr), port))
    detail::set_endpoint(p, dst == 0, {addr, port});
  p.set(PacketFlag::Translated);
  return true;
}

}  // namespace hafw::dp::nat
