// Address translation on a packet in place: the rewrites of outbound NAT and
// port forwards, ICMP errors about a translated flow, and how outbound NAT
// picks its ports. Checksums are updated incrementally (RFC 1624): one
// adjustment per changed 16-bit word, never a sum over the payload.
//
// Family-generic: an address is the 16 bytes of net::FlowKey (IPv4 in the
// first 4); the IP layout (where the addresses sit, whether the header has a
// checksum) comes from the packet's family, so IPv6 needs no second copy.
#pragma once

#include <cstdint>

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
// packet, not an ICMP error). Returns whether anything changed.
bool apply(PacketMeta& p, const StateTable& t, const State& s, uint8_t dir);

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

}  // namespace hafw::dp::nat
